"""`hpt` for many users (docs/security.md, "The REST API"): where its
settings come from, the token it sends, the users and audit commands, and
the errors that say what to do — against a real master with real users
(made with `hptmaster users add`), and a fake one where the exact request
matters.

- Settings: a flag wins over the environment, which wins over the config
  file (~/.config/hpt/config.yaml or $HPT_CONFIG), for the master, the
  project and the CA; the token comes from HPT_TOKEN or the file, never a
  flag. The file is read with hpt_schema: problems at their line. A token
  in a file others may read is refused with `chmod 600 FILE`.
- The token travels as `Authorization: Bearer` on every call, never in
  the URL, and is never printed by an error.
- whoami as each role; users add/list/token/revoke as an admin, 403 as a
  user; audit list with paging; the Unix socket is an admin.
- A 401 names the token's source; a refused connection names the URL's;
  stream-logs gives up on a dead master after a bounded wait.

The HTTPS case (token and caCert from the file) is in test_tls.py."""
import json
import os
import signal
import subprocess
import time

import pytest

from fake_master import FakeMaster, google_error
from hpt_harness import BIN, Cluster, free_port, synthetic_job


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A master with an admin, a user and a viewer, and an agent to drain."""
    cluster = Cluster(tmp_path_factory.mktemp("site"))
    cluster.start_master()
    cluster.start_agent("a1", cpus=1)
    cluster.tokens = {name: cluster.add_user(name, role)
                      for name, role in (("root", "admin"), ("alice", "user"), ("vic", "viewer"))}
    yield cluster
    cluster.stop()


def config_file(path, mode=0o600, **keys):
    """Writes a config file with keys (caCert etc. as given) in mode."""
    path.write_text("".join(f"{key}: {value}\n" for key, value in keys.items()))
    os.chmod(path, mode)
    return path


def whoami(cluster, *flags, **env):
    return cluster.hpt(*flags, "auth", "whoami", env=env)


# ---------------------------------------------------------------- settings

def test_flag_beats_environment_beats_file(site, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = config_file(tmp_path / "config.yaml", master=site.url, token=site.tokens["alice"],
                      project="fileproj")
    # The file alone: its master and its token.
    r = whoami(site, HPT_CONFIG=cfg, HPT_MASTER=None)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "name: alice\nrole: user\n"
    assert f"(from master: in {cfg})" in r.stderr and f"token from token: in {cfg}" in r.stderr
    # HPT_TOKEN beats the file's token.
    r = whoami(site, HPT_CONFIG=cfg, HPT_MASTER=None, HPT_TOKEN=site.tokens["vic"])
    assert r.stdout == "name: vic\nrole: viewer\n" and "token from HPT_TOKEN" in r.stderr
    # HPT_MASTER beats the file's master (a dead one here), --master beats both.
    r = whoami(site, HPT_CONFIG=cfg, HPT_MASTER=dead)
    assert r.returncode == 1 and f"{dead} came from HPT_MASTER" in r.stderr, r.stderr
    r = whoami(site, "--master", site.url, HPT_CONFIG=cfg, HPT_MASTER=dead)
    assert r.returncode == 0 and "(from --master)" in r.stderr, r.stderr
    r = site.hpt("auth", "whoami", "--master", dead, env={"HPT_CONFIG": cfg})
    assert r.returncode == 1 and f"{dead} came from --master" in r.stderr, r.stderr

    # The project: file < HPT_PROJECT < --project.
    admin = {"HPT_TOKEN": site.tokens["root"]}
    r = site.hpt("jobs", "submit", "training", "in_fileproj", "--config",
                 str(write_job(tmp_path)), env={"HPT_CONFIG": cfg, **admin})
    assert r.returncode == 0, r.stderr
    listed = site.hpt("jobs", "list", env={"HPT_CONFIG": cfg, **admin})
    assert "in_fileproj" in listed.stdout, listed.stdout + listed.stderr
    other = site.hpt("jobs", "list", env={"HPT_CONFIG": cfg, "HPT_PROJECT": "other", **admin})
    assert "in_fileproj" not in other.stdout and "Listed 0 items." in other.stderr
    flag = site.hpt("jobs", "list", "--project", "fileproj",
                    env={"HPT_CONFIG": cfg, "HPT_PROJECT": "other", **admin})
    assert "in_fileproj" in flag.stdout
    site.hpt("jobs", "cancel", "in_fileproj", env={"HPT_CONFIG": cfg, **admin})


def write_job(directory):
    path = directory / "job.yaml"  # JSON is YAML too
    path.write_text(json.dumps({"trainingInput": synthetic_job(max_trials=1, parallel=1)}))
    return path


def test_a_token_others_may_read_is_refused(site, tmp_path):
    cfg = config_file(tmp_path / "config.yaml", mode=0o644, token=site.tokens["alice"])
    r = whoami(site, HPT_CONFIG=cfg)
    assert r.returncode == 2 and r.stdout == ""
    assert f"chmod 600 {cfg}" in r.stderr and "0644" in r.stderr, r.stderr
    assert site.tokens["alice"] not in r.stderr
    # Group-readable is others too.
    os.chmod(cfg, 0o640)
    assert whoami(site, HPT_CONFIG=cfg).returncode == 2
    # HPT_TOKEN does not need the file's token: a warning, and it works.
    r = whoami(site, HPT_CONFIG=cfg, HPT_TOKEN=site.tokens["vic"])
    assert r.returncode == 0 and "name: vic" in r.stdout
    assert f"WARNING: {cfg} holds a token" in r.stderr and "chmod 600" in r.stderr
    os.chmod(cfg, 0o600)
    r = whoami(site, HPT_CONFIG=cfg)
    assert r.returncode == 0 and r.stdout == "name: alice\nrole: user\n", r.stderr
    # A file without a token may be readable by anyone.
    public = config_file(tmp_path / "public.yaml", mode=0o644, master=site.url)
    r = whoami(site, HPT_CONFIG=public, HPT_MASTER=None, HPT_TOKEN=site.tokens["root"])
    assert r.returncode == 0 and r.stderr.count("WARNING") == 0


def test_config_file_problems_are_located(site, tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"master: {site.url}\nmastr: x\nproject: p\ntoken: two words\n"
                   "caCert: [a]\nmaster2: ftp://x\n")
    os.chmod(cfg, 0o600)
    r = whoami(site, HPT_CONFIG=cfg)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert f"{cfg}:2:1: mastr: unknown field (did you mean 'master'?)" in lines, r.stderr
    assert any(line.startswith(f"{cfg}:4:8: token: not a token") for line in lines), r.stderr
    assert "two words" not in r.stderr  # a token, even a bad one, is never quoted
    assert any(line.startswith(f"{cfg}:5:9: caCert: expected a string") for line in lines)
    assert f"hpt: 4 problems in the config file {cfg}" in r.stderr
    cfg.write_text("master: ftp://head:7470\n")
    r = whoami(site, HPT_CONFIG=cfg)
    assert r.returncode == 2 and f"{cfg}:1:9: master: 'ftp://head:7470' is not a master URL" \
        in r.stderr
    # Help never needs the file; a missing $HPT_CONFIG is an error, an
    # empty or all-comment file sets nothing.
    assert site.hpt("users", "list", "--help", env={"HPT_CONFIG": cfg}).returncode == 0
    r = whoami(site, HPT_CONFIG=tmp_path / "missing.yaml")
    assert r.returncode == 2 and "missing.yaml (HPT_CONFIG): cannot open" in r.stderr
    cfg.write_text("# master: http://nowhere\n\n")
    assert whoami(site, HPT_CONFIG=cfg, HPT_TOKEN=site.tokens["vic"]).returncode == 0


def test_default_config_file_is_in_home(site, tmp_path):
    home = tmp_path / "home"
    (home / ".config" / "hpt").mkdir(parents=True)
    config_file(home / ".config" / "hpt" / "config.yaml", master=site.url,
                token=site.tokens["root"])
    r = whoami(site, HOME=home, HPT_CONFIG=None, HPT_MASTER=None)
    assert r.returncode == 0 and "name: root" in r.stdout, r.stderr


def test_token_is_a_bearer_header_never_in_the_url(tmp_path):
    master = FakeMaster()
    try:
        master.route("GET", "/v1/nodes", (200, {"nodes": []}))
        token = "hpt_" + "A" * 43
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
        env.update(HPT_CONFIG=os.devnull, HPT_MASTER=master.url, HPT_TOKEN=token)
        r = subprocess.run([str(BIN / "hpt"), "nodes", "list"], capture_output=True, text=True,
                           env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        [request] = master.made("GET", "/v1/nodes")
        assert request.headers["Authorization"] == f"Bearer {token}"
        assert token not in request.raw_path
        # A refusal names where the token came from, never the token.
        master.route("GET", "/v1/nodes", (401, google_error(401, "UNAUTHENTICATED", "nope")))
        r = subprocess.run([str(BIN / "hpt"), "nodes", "list"], capture_output=True, text=True,
                           env=env, timeout=30)
        assert r.returncode == 1 and "the master refused the token from HPT_TOKEN" in r.stderr
        assert token not in r.stderr
        # A token that would break its header is refused before any call.
        env["HPT_TOKEN"] = "hpt_x\r\nX-Evil: 1"
        r = subprocess.run([str(BIN / "hpt"), "nodes", "list"], capture_output=True, text=True,
                           env=env, timeout=30)
        assert r.returncode == 2 and "HPT_TOKEN is not a token" in r.stderr
        assert len(master.made()) == 2
    finally:
        master.close()


# ---------------------------------------------------------------- commands

@pytest.mark.parametrize("name,role", [("root", "admin"), ("alice", "user"), ("vic", "viewer")])
def test_whoami_as_each_role(site, name, role):
    r = whoami(site, HPT_TOKEN=site.tokens[name])
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"name: {name}\nrole: {role}\n"


def test_users_over_the_api(site):
    admin = {"HPT_TOKEN": site.tokens["root"]}
    r = site.hpt("users", "add", "dave", "--role", "user", env=admin)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[-1]
    assert first.startswith("hpt_") and r.stdout.startswith("user dave (user)")
    assert whoami(site, HPT_TOKEN=first).stdout == "name: dave\nrole: user\n"

    listed = site.hpt("users", "list", env=admin)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert listed.stdout.split()[:4] == ["NAME", "ROLE", "STATE", "CREATED"]
    assert rows["dave"][1:3] == ["user", "active"] and rows["root"][1] == "admin"
    assert rows["dave"][3].endswith("Z")  # a UTC time, not milliseconds

    r = site.hpt("users", "token", "dave", env=admin)
    second = r.stdout.splitlines()[-1]
    assert r.returncode == 0 and second.startswith("hpt_") and second != first
    assert whoami(site, HPT_TOKEN=first).returncode == 1  # the old one stopped working
    assert whoami(site, HPT_TOKEN=second).returncode == 0

    r = site.hpt("users", "revoke", "dave", env=admin)
    assert r.returncode == 0 and "Revoked user [dave]" in r.stderr
    refused = whoami(site, HPT_TOKEN=second)
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr
    rows = {line.split()[0]: line.split() for line in
            site.hpt("users", "list", env=admin).stdout.splitlines()[1:]}
    assert rows["dave"][2] == "revoked"

    # Usage errors never reach the master.
    assert site.hpt("users", "add", "erin", "--role", "boss", env=admin).returncode == 2
    assert site.hpt("users", "add", "erin", env=admin).returncode == 2
    assert site.hpt("users", "revoke", env=admin).returncode == 2


@pytest.mark.parametrize("args", [["users", "list"], ["users", "add", "mallory", "--role", "admin"],
                                  ["users", "token", "root"], ["users", "revoke", "root"],
                                  ["audit", "list"]])
def test_users_and_audit_are_for_admins(site, args):
    r = site.hpt(*args, env={"HPT_TOKEN": site.tokens["alice"]})
    assert r.returncode == 1 and r.stdout == ""
    assert "PERMISSION_DENIED: alice (user) may not do this: it takes the admin role" in r.stderr


def test_audit_list_shows_a_drain(site):
    admin = {"HPT_TOKEN": site.tokens["root"]}
    assert site.hpt("nodes", "drain", "a1", "--reason", "fan", env=admin).returncode == 0
    assert site.hpt("nodes", "undrain", "a1", env={"HPT_TOKEN": site.tokens["vic"]}).returncode == 1
    assert site.hpt("nodes", "undrain", "a1", env=admin).returncode == 0
    r = site.hpt("audit", "list", env=admin)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "TIME", "USER", "METHOD", "ROUTE", "TARGET", "STATUS"]
    rows = [line.split() for line in lines[1:]]
    assert ["root", "POST", "/v1/nodes/a1:drain", "a1", "200"] in [row[2:] for row in rows]
    # A refused call's target reads as an accepted one's: the name alone.
    assert ["vic", "POST", "/v1/nodes/a1:undrain", "a1", "403"] in [row[2:] for row in rows]
    ids = [int(row[0]) for row in rows]
    assert ids == sorted(ids) and len(ids) >= 3

    # --limit stops early and says how to go on; --after goes on.
    first = site.hpt("audit", "list", "--limit", "2", env=admin)
    assert [int(line.split()[0]) for line in first.stdout.splitlines()[1:]] == ids[:2]
    assert f"hpt audit list --after {ids[1]}" in first.stderr
    rest = site.hpt("audit", "list", "--after", str(ids[1]), env=admin)
    assert [int(line.split()[0]) for line in rest.stdout.splitlines()[1:]] == ids[2:]
    assert site.hpt("audit", "list", "--limit", "0", env=admin).returncode == 2


def test_audit_list_follows_next_across_pages():
    """Page after page until the trail ends or --limit is reached."""
    master = FakeMaster()
    trail = [{"id": i, "time": 1700000000000 + i, "user": "u", "method": "POST",
              "route": f"/v1/r{i}", "target": None, "status": 200} for i in range(1, 2501)]

    def page(request):
        after, size = int(request.query["after"]), int(request.query["pageSize"])
        entries = [e for e in trail if e["id"] > after][:min(size, 1000)]
        return 200, {"entries": entries, "next": entries[-1]["id"] if entries else after}

    master.route("GET", "/v1/audit", page)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
    env.update(HPT_CONFIG=os.devnull, HPT_MASTER=master.url)
    try:
        r = subprocess.run([str(BIN / "hpt"), "audit", "list"], capture_output=True, text=True,
                           env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        assert len(r.stdout.splitlines()) == 2501
        assert [q.query["after"] for q in master.made()] == ["0", "1000", "2000"]
        del master.requests[:]
        r = subprocess.run([str(BIN / "hpt"), "audit", "list", "--after", "5", "--limit", "1200"],
                           capture_output=True, text=True, env=env, timeout=30)
        rows = r.stdout.splitlines()[1:]
        assert len(rows) == 1200 and rows[0].split()[0] == "6" and rows[-1].split()[0] == "1205"
        assert [(q.query["after"], q.query["pageSize"]) for q in master.made()] == [
            ("5", "1000"), ("1005", "200")]
        assert "2023-11-14T22:13:20Z" in r.stdout
    finally:
        master.close()


def test_unix_socket_is_an_admin(site):
    """STATEDIR/api.sock: the operator's tools on the master's host, no
    token needed."""
    path = site.state / "api.sock"
    for url in (f"unix://{path}", f"unix:{path}"):
        r = site.hpt("--master", url, "auth", "whoami")
        assert r.returncode == 0, r.stderr
        assert r.stdout == "name: socket\nrole: admin\n"
    r = site.hpt("users", "list", env={"HPT_MASTER": f"unix://{path}"})
    assert r.returncode == 0 and "alice" in r.stdout, r.stderr
    r = site.hpt("nodes", "list", env={"HPT_MASTER": f"unix://{path}.missing"})
    assert r.returncode == 1
    assert f"unix://{path}.missing came from HPT_MASTER" in r.stderr
    assert "master.apiSocket" in r.stderr
    r = site.hpt("nodes", "list", env={"HPT_MASTER": "unix://host/x"})
    assert r.returncode == 1 and "names no socket" in r.stderr


# ---------------------------------------------------------------- errors

def test_401_says_where_to_put_a_token(site, tmp_path):
    r = whoami(site)
    assert r.returncode == 1
    assert "UNAUTHENTICATED" in r.stderr
    assert f"hpt sent no token: set HPT_TOKEN, or token: in {os.devnull}" in r.stderr
    cfg = config_file(tmp_path / "config.yaml", token="hpt_" + "x" * 43)
    r = whoami(site, HPT_CONFIG=cfg)
    assert r.returncode == 1
    assert f"the master refused the token from token: in {cfg}" in r.stderr, r.stderr
    assert "x" * 43 not in r.stderr


def test_connection_refused_names_hpt_master(site):
    dead = f"http://127.0.0.1:{free_port()}"
    r = site.hpt("jobs", "list", env={"HPT_MASTER": dead})
    assert r.returncode == 1
    assert r.stderr.startswith(f"ERROR: cannot reach the hpt master at {dead}: ")
    assert f"{dead} came from HPT_MASTER: it must be the address of the master's REST API " \
           "(master.api" in r.stderr
    assert "not its agents endpoint (master.agents)" in r.stderr
    # The agents endpoint itself: an answer that is not HTTP, the same advice.
    agents = f"http://127.0.0.1:{site.agents_port}"
    r = site.hpt("--master", agents, "nodes", "list")
    assert r.returncode == 1 and f"{agents} came from --master" in r.stderr
    # No setting at all: the default, and how to set one.
    r = site.hpt("nodes", "list", env={"HPT_MASTER": None})
    if r.returncode == 1:  # unless a master happens to listen on 7470
        assert "came from the default (no --master, HPT_MASTER or master: in" in r.stderr
    r = site.hpt("nodes", "list", env={"HPT_MASTER": "head.lab:7470"})
    assert r.returncode == 1 and "not a master URL" in r.stderr and "HPT_MASTER" in r.stderr


def test_stream_logs_gives_up_on_a_dead_master(tmp_path):
    cluster = Cluster(tmp_path)
    cluster.start_master()
    try:
        cluster.submit("waits", synthetic_job(max_trials=1, parallel=1))  # no agent: QUEUED
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
        env.update(HPT_CONFIG=os.devnull, HPT_MASTER=cluster.url)
        proc = subprocess.Popen([str(BIN / "hpt"), "jobs", "stream-logs", "waits"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        time.sleep(1.0)
        assert proc.poll() is None  # following a queued job
        cluster.kill(cluster.master, signal.SIGKILL)
        killed = time.monotonic()
        out, err = proc.communicate(timeout=90)
        waited = time.monotonic() - killed
        assert proc.returncode == 1
        assert 28 <= waited <= 45, waited
        assert err.count("WARNING: lost the hpt master") == 1, err
        assert f"ERROR: cannot reach the hpt master at {cluster.url}" in err
        assert f"{cluster.url} came from HPT_MASTER" in err
        assert "gave up after 30 s without an answer" in err
    finally:
        cluster.stop()


@pytest.mark.parametrize("command,flags", [
    (["auth", "whoami"], []),
    (["users", "list"], []),
    (["users", "add"], ["--role", "viewer|user|admin"]),
    (["users", "revoke"], []),
    (["users", "token"], []),
    (["audit", "list"], ["--after", "--limit"]),
])
def test_help_documents_the_new_commands(command, flags):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
    r = subprocess.run([str(BIN / "hpt"), *command, "--help"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 0
    assert " ".join(command) in r.stdout
    for text in flags + ["HPT_TOKEN", "config.yaml", "unix:///PATH", "chmod 600"]:
        assert text in r.stdout, text
    everything = subprocess.run([str(BIN / "hpt"), "--help"], capture_output=True, text=True,
                                env=env, timeout=30).stdout
    assert " ".join(command) in everything
