"""The REST API for many users (docs/security.md): tokens, roles, ownership,
redacted secrets, browser protections and the audit trail, on a real
master with real agents.

The role x route matrix: every route, for every kind of caller — no token,
a malformed header, an unknown token, a revoked token, a viewer, a user
that owns the job, another user, an admin — has one expected status;
refusals are 401 UNAUTHENTICATED or 403 PERMISSION_DENIED in Google's
error shape. Also: a job's env values are shown to its owner and admins
only; a page on another site (text/plain POST, a foreign Origin, a
rebinding Host) changes nothing; tokens are stored and logged only as
hashes; every change, refused or not, is in the audit trail. The site
runs over HTTPS, as a shared master does."""
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from hpt_harness import BIN, Cluster, synthetic_job, wait_for

SECRET = "s3cr3t-value-4242"


def call(cluster, method, path, body=None, token=None, headers=None):
    """(status, parsed body) of one request, with a bearer token if any."""
    data = None if body is None else json.dumps(body).encode()
    head = {"Content-Type": "application/json"}
    if token:
        head["Authorization"] = f"Bearer {token}"
    head.update(headers or {})
    req = urllib.request.Request(f"{cluster.url}{path}", data=data, method=method, headers=head)
    try:
        with urllib.request.urlopen(req, timeout=15, context=cluster.ssl_context) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text.startswith("{") else text
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        return err.code, json.loads(text) if text.startswith("{") else text


def add_user(cluster, name, role):
    out = subprocess.run([str(BIN / "hptmaster"), "users", "add", name, "--role", role,
                          "--cluster", str(cluster.config)], check=True, capture_output=True,
                         text=True).stdout
    return out.strip().splitlines()[-1]


@pytest.fixture
def site(tmp_path):
    """A master over HTTPS (a CA and certificate from certgen) with users
    of every role, an agent, and alice's job running."""
    subprocess.run([str(BIN / "hptmaster"), "certgen", "--host", "127.0.0.1", "--host",
                    "localhost", str(tmp_path / "tls")], check=True, capture_output=True)
    cluster = Cluster(tmp_path, tls=tmp_path / "tls")
    cluster.start_master()
    cluster.start_agent("a1", cpus=2)
    tokens = {role: add_user(cluster, name, role_kind)
              for role, name, role_kind in (("admin", "root", "admin"), ("alice", "alice", "user"),
                                            ("bob", "bob", "user"), ("viewer", "vic", "viewer"),
                                            ("revoked", "old", "user"))}
    subprocess.run([str(BIN / "hptmaster"), "users", "revoke", "old", "--cluster",
                    str(cluster.config)], check=True, capture_output=True)
    spec = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=200", "--sleep=0.1"])
    spec["env"] = {"DB_PASSWORD": SECRET}
    status, job = call(cluster, "POST", "/v1/projects/p/jobs", dict(jobId="alices", trainingInput=spec),
                       tokens["alice"])
    assert status == 200, job
    cluster.tokens = tokens
    yield cluster
    cluster.stop()


CALLERS = ["none", "malformed", "unknown", "revoked", "viewer", "alice", "bob", "admin"]


def token_of(site, caller):
    return {"none": None, "malformed": None, "unknown": "hpt_" + "x" * 43}.get(
        caller, site.tokens.get(caller))


# route -> expected status per caller (same order as CALLERS).
READ = [401, 401, 401, 401, 200, 200, 200, 200]
MATRIX = [
    ("GET", "/v1/projects/p/jobs", None, READ),
    ("GET", "/v1/projects/p/jobs/alices", None, READ),
    ("GET", "/v1/projects/p/jobs/alices/logs", None, READ),
    ("GET", "/v1/nodes", None, READ),
    ("GET", "/v1/nodes/a1", None, READ),
    ("GET", "/metrics", None, READ),
    ("GET", "/v1/auth/whoami", None, READ),
    ("GET", "/v1/users", None, [401, 401, 401, 401, 403, 403, 403, 200]),
    ("GET", "/v1/audit", None, [401, 401, 401, 401, 403, 403, 403, 200]),
    ("POST", "/v1/projects/p/jobs", "new", [401, 401, 401, 401, 403, 200, 200, 200]),
    ("POST", "/v1/nodes/a1:drain", {}, [401, 401, 401, 401, 403, 403, 403, 200]),
    ("POST", "/v1/nodes/a1:undrain", {}, [401, 401, 401, 401, 403, 403, 403, 200]),
    ("DELETE", "/v1/nodes/a1", None, [401, 401, 401, 401, 403, 403, 403, 400]),
    ("POST", "/v1/users", {"name": "carol", "role": "viewer"},
     [401, 401, 401, 401, 403, 403, 403, 200]),
    # Last: cancelling alice's job, which only alice and admins may do.
    ("POST", "/v1/projects/p/jobs/alices:cancel", {}, [401, 401, 401, 401, 403, 200, 403, 200]),
]


def test_role_route_matrix(site):
    problems = []
    for method, path, body, expected in MATRIX:
        for caller, want in zip(CALLERS, expected):
            if path.endswith(":cancel") and caller == "admin":
                continue  # alice already cancelled it; admin's right is checked below
            payload = body
            if body == "new":
                payload = {"jobId": f"j_{caller}_{method.lower()}",
                           "trainingInput": synthetic_job(max_trials=1, parallel=1)}
            headers = {"Authorization": "Basic eDp5"} if caller == "malformed" else None
            status, answer = call(site, method, path, payload, token_of(site, caller), headers)
            if status != want:
                problems.append(f"{method} {path} as {caller}: {status}, want {want}: {answer}")
            elif status in (401, 403):
                name = "UNAUTHENTICATED" if status == 401 else "PERMISSION_DENIED"
                if answer["error"]["status"] != name:
                    problems.append(f"{method} {path} as {caller}: {answer}")
    assert not problems, "\n".join(problems)
    # An admin may cancel anyone's job.
    call(site, "POST", "/v1/projects/p/jobs", {"jobId": "bobs", "trainingInput": synthetic_job(
        max_trials=1, parallel=1, extra_args=["--steps=50", "--sleep=0.1"])}, site.tokens["bob"])
    status, _ = call(site, "POST", "/v1/projects/p/jobs/bobs:cancel", {}, site.tokens["admin"])
    assert status == 200


def test_whoami_and_ownership(site):
    status, me = call(site, "GET", "/v1/auth/whoami", token=site.tokens["alice"])
    assert (status, me) == (200, {"name": "alice", "role": "user"})
    _, job = call(site, "GET", "/v1/projects/p/jobs/alices", token=site.tokens["viewer"])
    assert job["createdBy"] == "alice"


def test_env_values_only_for_owner_and_admins(site):
    # Twice, alternating: the master caches a rendered Job, and a text
    # cached for one caller must never be served to another kind.
    callers = (("alice", True), ("bob", False), ("admin", True), ("viewer", False))
    for caller, sees in callers + callers[::-1]:
        _, job = call(site, "GET", "/v1/projects/p/jobs/alices", token=site.tokens[caller])
        value = job["trainingInput"]["env"]["DB_PASSWORD"]
        assert value == (SECRET if sees else "<redacted>"), (caller, value)
        _, jobs = call(site, "GET", "/v1/projects/p/jobs", token=site.tokens[caller])
        listed = [j for j in jobs["jobs"] if j["jobId"] == "alices"][0]
        assert (SECRET in json.dumps(listed)) == sees, caller


def test_browser_attacks_change_nothing(site):
    token = site.tokens["admin"]
    attacks = [
        ({"Content-Type": "text/plain"}, 400),
        ({"Origin": "http://evil.example"}, 403),
        ({"Host": "rebind.evil.example"}, 403),
    ]
    for headers, want in attacks:
        status, answer = call(site, "POST", "/v1/projects/p/jobs/alices:cancel", {}, token, headers)
        assert status == want, (headers, status, answer)
    # A token in the query string is not a credential.
    status, _ = call(site, "GET", f"/v1/projects/p/jobs?access_token={token}")
    assert status == 401
    assert call(site, "GET", "/v1/projects/p/jobs/alices", token=token)[1]["state"] in (
        "QUEUED", "PREPARING", "RUNNING")
    # Same-site requests are fine.
    status, _ = call(site, "GET", "/v1/nodes", token=token,
                     headers={"Origin": site.url})
    assert status == 200


def test_tokens_stored_only_as_hashes(site):
    call(site, "GET", "/v1/nodes", token=site.tokens["alice"])
    raw = b"".join(p.read_bytes() for p in site.state.glob("hpt.db*"))
    logs = b"".join(p.read_bytes() for p in site.tmp.glob("*.log"))
    for token in site.tokens.values():
        assert token.encode() not in raw
        assert token.encode() not in logs


def test_audit_trail(site):
    call(site, "POST", "/v1/nodes/a1:drain", {"reason": "fan"}, site.tokens["admin"])
    call(site, "POST", "/v1/nodes/a1:undrain", {}, site.tokens["bob"])
    status, audit = call(site, "GET", "/v1/audit?pageSize=1000", token=site.tokens["admin"])
    assert status == 200
    seen = {(e["user"], e["route"], e["target"], e["status"]) for e in audit["entries"]}
    assert ("alice", "/v1/projects/p/jobs", None, 200) in seen, seen
    assert ("root", "/v1/nodes/a1:drain", "a1", 200) in seen, seen
    assert ("bob", "/v1/nodes/a1:undrain", "a1", 403) in seen, seen
    log = (site.tmp / "master.log").read_text()
    assert "refused POST /v1/nodes/a1:undrain from bob" in log


def test_users_over_the_api(site):
    admin = site.tokens["admin"]
    status, made = call(site, "POST", "/v1/users", {"name": "dave", "role": "user"}, admin)
    assert status == 200 and made["token"].startswith("hpt_"), made
    assert call(site, "GET", "/v1/auth/whoami", token=made["token"])[1]["name"] == "dave"
    # Adding a user that exists replaces nobody's token.
    status, error = call(site, "POST", "/v1/users", {"name": "dave", "role": "admin"}, admin)
    assert status == 409 and ":token" in error["error"]["message"], error
    assert call(site, "GET", "/v1/auth/whoami", token=made["token"])[1] == \
        {"name": "dave", "role": "user"}
    status, again = call(site, "POST", "/v1/users/dave:token", {}, admin)
    assert status == 200 and again["token"] != made["token"]
    assert call(site, "GET", "/v1/nodes", token=made["token"])[0] == 401
    assert call(site, "POST", "/v1/users/dave:revoke", {}, admin)[0] == 200
    assert call(site, "GET", "/v1/nodes", token=again["token"])[0] == 401
    status, users = call(site, "GET", "/v1/users", token=admin)
    assert "token_hash" not in json.dumps(users)
    names = {u["name"]: u for u in users["users"]}
    assert names["dave"]["revoked"] is True and names["alice"]["role"] == "user"


def test_no_users_means_loopback_admin(tmp_path):
    cluster = Cluster(tmp_path)
    cluster.start_master()
    try:
        status, me = call(cluster, "GET", "/v1/auth/whoami")
        assert (status, me) == (200, {"name": "loopback", "role": "admin"})
    finally:
        cluster.stop()


def test_unix_socket_is_admin(site):
    """The API's Unix socket (STATEDIR/api.sock, 0660) is for the
    operator's tools on the master's host: trusted as an admin."""
    import http.client
    import os
    import socket
    import stat

    path = site.state / "api.sock"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(path))

    conn = UnixConnection("localhost")
    conn.request("GET", "/v1/auth/whoami")
    answer = conn.getresponse()
    assert answer.status == 200
    assert json.loads(answer.read()) == {"name": "socket", "role": "admin"}
