"""HTTPS for the REST API (docs/security.md, "TLS").

- `hptmaster certgen` writes a CA and a server certificate that openssl
  reads back as made: the SANs asked for, CA:TRUE only on the CA, keys
  0600 and matching their certificates; it never overwrites a file.
- A master with master.tls serves HTTPS only (TLS 1.2 and 1.3), and says
  https:// on its ready line.
- `hpt` over https works with --ca-cert or HPT_CA_CERT, and runs a job to
  its end (stream-logs polls over one kept-alive TLS connection); without
  the CA, with another CA, against a certificate for another host, or in
  plain HTTP to the TLS port it fails and says what to change.
- A bad certificate or key stops the master at start, naming its field."""
import json
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from hpt_harness import BIN, Cluster, synthetic_job


def certgen(directory, *hosts):
    argv = [str(BIN / "hptmaster"), "certgen"]
    for host in hosts:
        argv += ["--host", host]
    return subprocess.run(argv + [str(directory)], capture_output=True, text=True, timeout=30)


def openssl(*args, check=True):
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                            timeout=30)
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def hpt(*args, master, ca_cert=None):
    """Runs hpt against master with exactly the CA given (none: the
    system's), whatever the caller's environment holds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
    env.update(HPT_MASTER=master, HPT_CONFIG=os.devnull)
    if ca_cert:
        env["HPT_CA_CERT"] = str(ca_cert)
    return subprocess.run([str(BIN / "hpt"), *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.fixture
def pki(tmp_path):
    directory = tmp_path / "pki"
    result = certgen(directory, "localhost", "127.0.0.1")
    assert result.returncode == 0, result.stderr
    return directory


@pytest.fixture
def tls_cluster(tmp_path, pki):
    cluster = Cluster(tmp_path, tls=pki)
    cluster.start_master()
    yield cluster
    cluster.stop()


def test_certgen_writes_a_ca_and_a_server_certificate(tmp_path):
    pki = tmp_path / "pki"
    result = certgen(pki, "hpt.lab.example", "127.0.0.1", "::1")
    assert result.returncode == 0, result.stderr
    assert f"{pki}/ca.pem" in result.stdout and "master.tls.cert" in result.stdout
    modes = {name: os.stat(pki / name).st_mode & 0o7777
             for name in ("ca.pem", "ca.key", "server.pem", "server.key")}
    assert modes == {"ca.pem": 0o644, "ca.key": 0o600, "server.pem": 0o644, "server.key": 0o600}

    server = openssl("x509", "-in", pki / "server.pem", "-noout", "-ext",
                     "subjectAltName,basicConstraints,keyUsage,extendedKeyUsage").stdout
    assert "DNS:hpt.lab.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" in server
    assert "CA:FALSE" in server and "Digital Signature" in server
    assert "TLS Web Server Authentication" in server
    ca = openssl("x509", "-in", pki / "ca.pem", "-noout", "-ext",
                 "basicConstraints,keyUsage").stdout
    assert "CA:TRUE, pathlen:0" in ca and "Certificate Sign" in ca

    verify = ["verify", "-CAfile", pki / "ca.pem"]
    assert "server.pem: OK" in openssl(*verify, pki / "server.pem").stdout
    openssl(*verify, "-verify_hostname", "hpt.lab.example", pki / "server.pem")
    openssl(*verify, "-verify_ip", "127.0.0.1", pki / "server.pem")
    assert openssl(*verify, "-verify_hostname", "other.example", pki / "server.pem",
                   check=False).returncode != 0
    # Each key is its certificate's.
    for name in ("ca", "server"):
        assert (openssl("pkey", "-in", pki / f"{name}.key", "-pubout").stdout
                == openssl("x509", "-in", pki / f"{name}.pem", "-noout", "-pubkey").stdout)

    before = {p.name: p.read_bytes() for p in pki.iterdir()}
    again = certgen(pki, "hpt.lab.example")
    assert again.returncode == 1
    assert "server.pem already exists; not overwritten" in again.stderr
    assert {p.name: p.read_bytes() for p in pki.iterdir()} == before

    bad = certgen(tmp_path / "bad", "https://hpt.lab.example:7470")
    assert bad.returncode == 2 and "neither an IP address nor a DNS name" in bad.stderr
    assert not (tmp_path / "bad").exists()
    usage = subprocess.run([str(BIN / "hptmaster"), "--help"], capture_output=True, text=True)
    assert "certgen --host NAME [--host NAME...] DIR" in usage.stdout


def test_certgen_renews_with_the_existing_ca(tmp_path, pki):
    ca = (pki / "ca.pem").read_bytes()
    (pki / "server.pem").rename(tmp_path / "old.pem")
    (pki / "server.key").rename(tmp_path / "old.key")
    result = certgen(pki, "localhost", "127.0.0.1", "hpt.lab.example")
    assert result.returncode == 0, result.stderr
    assert "signed with the existing CA" in result.stdout
    assert (pki / "ca.pem").read_bytes() == ca
    openssl("verify", "-CAfile", pki / "ca.pem", "-verify_hostname", "hpt.lab.example",
            pki / "server.pem")


def test_hpt_over_https_with_the_ca(tls_cluster, pki):
    log = (tls_cluster.tmp / "master.log").read_text()
    assert f"hptmaster ready api=https://127.0.0.1:{tls_cluster.api_port} " in log, log
    url = tls_cluster.url
    assert url.startswith("https://")
    tls_cluster.submit("queued_1", synthetic_job(max_trials=1, parallel=1))

    by_env = hpt("jobs", "list", master=url, ca_cert=pki / "ca.pem")
    assert by_env.returncode == 0, by_env.stderr
    assert "queued_1" in by_env.stdout
    by_flag = hpt("--ca-cert", str(pki / "ca.pem"), "jobs", "describe", "queued_1", master=url)
    assert by_flag.returncode == 0, by_flag.stderr
    assert "jobId: queued_1" in by_flag.stdout
    after = hpt("nodes", "list", "--ca-cert", str(pki / "ca.pem"), master=url)
    assert after.returncode == 0, after.stderr
    # The name in the certificate works as well as the address.
    by_name = hpt("jobs", "list", master=url.replace("127.0.0.1", "localhost"),
                  ca_cert=pki / "ca.pem")
    assert by_name.returncode == 0, by_name.stderr


def test_a_job_runs_to_its_end_over_https(tls_cluster, tmp_path):
    tls_cluster.start_agent("a1", cpus=2)
    config = tmp_path / "job.yaml"  # JSON is YAML too
    config.write_text(json.dumps({"trainingInput": synthetic_job(max_trials=2, parallel=2)}))
    result = tls_cluster.hpt("jobs", "submit", "training", "tls_job", "--config", str(config),
                             "--stream-logs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[trial 2 " in result.stdout, result.stdout
    assert tls_cluster.job("tls_job")["state"] == "SUCCEEDED"


def test_hpt_with_the_token_and_ca_from_its_config_file(tls_cluster, pki, tmp_path):
    """A TLS master with users, and an hpt whose master, token and CA all
    come from ~/.config/hpt/config.yaml (caCert relative to the file)."""
    token = tls_cluster.add_user("ops", "admin")
    config_dir = tmp_path / "home" / ".config" / "hpt"
    config_dir.mkdir(parents=True)
    (config_dir / "ca.pem").write_bytes((pki / "ca.pem").read_bytes())
    config = config_dir / "config.yaml"
    config.write_text(f"master: {tls_cluster.url}\ntoken: {token}\ncaCert: ca.pem\n")
    config.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
    env["HOME"] = str(tmp_path / "home")

    def run(*args, **extra):
        return subprocess.run([str(BIN / "hpt"), *map(str, args)], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path,
                              env=dict(env, **{k: str(v) for k, v in extra.items()}))

    me = run("auth", "whoami")
    assert me.returncode == 0, me.stderr
    assert me.stdout == "name: ops\nrole: admin\n"
    assert f"(from master: in {config})" in me.stderr
    listed = run("users", "list")
    assert listed.returncode == 0 and "ops" in listed.stdout, listed.stderr
    assert run("jobs", "list").returncode == 0
    # The CA: HPT_CA_CERT beats the file's caCert, --ca-cert beats HPT_CA_CERT.
    other = tmp_path / "other"
    assert certgen(other, "127.0.0.1").returncode == 0
    wrong = run("auth", "whoami", HPT_CA_CERT=other / "ca.pem")
    assert wrong.returncode == 1
    assert f"does not verify against the CA in {other / 'ca.pem'}" in wrong.stderr
    right = run("--ca-cert", pki / "ca.pem", "auth", "whoami", HPT_CA_CERT=other / "ca.pem")
    assert right.returncode == 0, right.stderr
    # Over TLS too a master with users wants the token.
    config.write_text(f"master: {tls_cluster.url}\ncaCert: ca.pem\n")
    anonymous = run("auth", "whoami")
    assert anonymous.returncode == 1 and "hpt sent no token" in anonymous.stderr


def test_hpt_without_the_ca_says_to_give_it(tls_cluster, tmp_path):
    url = tls_cluster.url
    result = hpt("jobs", "list", master=url)
    assert result.returncode == 1
    assert f"ERROR: (hpt.jobs.list) cannot verify the hpt master at {url}:" in result.stderr
    assert "not signed by a CA this client trusts" in result.stderr
    assert "give --ca-cert FILE (or HPT_CA_CERT)" in result.stderr

    other = tmp_path / "other"
    assert certgen(other, "127.0.0.1").returncode == 0
    wrong = hpt("jobs", "list", master=url, ca_cert=other / "ca.pem")
    assert wrong.returncode == 1
    assert f"does not verify against the CA in {other / 'ca.pem'}" in wrong.stderr

    missing = hpt("jobs", "list", master=url, ca_cert=tmp_path / "nope.pem")
    assert missing.returncode == 1
    assert f"cannot use the CA file {tmp_path / 'nope.pem'}" in missing.stderr


def test_plain_http_to_the_tls_port_fails(tls_cluster, pki):
    plain = tls_cluster.url.replace("https://", "http://")
    result = hpt("jobs", "list", master=plain, ca_cert=pki / "ca.pem")
    assert result.returncode == 1
    assert f"cannot reach the hpt master at {plain}" in result.stderr
    assert "use an https:// URL" in result.stderr
    # Not a byte of an HTTP answer, whoever asks.
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(plain + "/v1/nodes", timeout=5).read()


def test_tls_versions_offered(tls_cluster, pki):
    address = f"127.0.0.1:{tls_cluster.api_port}"
    for version in ("-tls1_2", "-tls1_3"):
        ok = subprocess.run(["openssl", "s_client", "-connect", address, version, "-CAfile",
                             str(pki / "ca.pem"), "-verify_return_error"],
                            input="", capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, (version, ok.stdout[-2000:], ok.stderr[-2000:])
    # TLS 1.1 is refused by the master (the client is told to allow it).
    old = subprocess.run(["openssl", "s_client", "-connect", address, "-tls1_1", "-cipher",
                          "DEFAULT@SECLEVEL=0"],
                         input="", capture_output=True, text=True, timeout=30)
    assert old.returncode != 0
    assert not re.search(r"Cipher is (?!\(NONE\))", old.stdout), old.stdout[-2000:]


def test_a_certificate_for_another_host_fails_verification(tmp_path):
    other = tmp_path / "other"
    assert certgen(other, "master.lab.example").returncode == 0
    cluster = Cluster(tmp_path, tls=other)
    # The harness itself must get in: it checks the chain, not the name.
    cluster.ssl_context.check_hostname = False
    cluster.start_master()
    try:
        url = cluster.url
        result = hpt("jobs", "list", master=url, ca_cert=other / "ca.pem")
        assert result.returncode == 1
        assert f"cannot verify the hpt master at {url}" in result.stderr
        assert "127.0.0.1" in result.stderr
        assert f"its certificate is not for the host in {url}" in result.stderr
        assert "hptmaster certgen --host NAME" in result.stderr
        # Python's verifier agrees.
        context = ssl.create_default_context(cafile=str(other / "ca.pem"))
        with pytest.raises(urllib.error.URLError) as raised:
            urllib.request.urlopen(url + "/v1/nodes", timeout=5, context=context)
        assert isinstance(raised.value.reason, ssl.SSLCertVerificationError)
    finally:
        cluster.stop()


def start_master_expecting_failure(cluster):
    return subprocess.run([str(BIN / "hptmaster"), "--cluster", str(cluster.config)],
                          capture_output=True, text=True, timeout=30, cwd=cluster.tmp)


def test_bad_tls_files_stop_the_master_naming_the_field(tmp_path, pki):
    other = tmp_path / "other"
    assert certgen(other, "localhost").returncode == 0
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "ca.pem").write_bytes((pki / "ca.pem").read_bytes())  # the harness reads it
    (mixed / "server.pem").write_bytes((pki / "server.pem").read_bytes())
    (mixed / "server.key").write_bytes((other / "server.key").read_bytes())
    (tmp_path / "m1").mkdir()
    result = start_master_expecting_failure(Cluster(tmp_path / "m1", tls=mixed))
    assert result.returncode == 1
    assert (f"hptmaster: master.tls.key: {mixed / 'server.key'} does not belong to the "
            f"certificate in {mixed / 'server.pem'} (master.tls.cert)") in result.stderr

    (mixed / "server.key").unlink()
    (tmp_path / "m2").mkdir()
    result = start_master_expecting_failure(Cluster(tmp_path / "m2", tls=mixed))
    assert result.returncode == 1
    assert f"master.tls.key: {mixed / 'server.key'}: cannot open" in result.stderr

    (mixed / "server.key").write_bytes((pki / "server.key").read_bytes())
    (mixed / "server.pem").write_bytes((pki / "ca.key").read_bytes())
    (tmp_path / "m3").mkdir()
    result = start_master_expecting_failure(Cluster(tmp_path / "m3", tls=mixed))
    assert result.returncode == 1
    assert "master.tls.cert:" in result.stderr and "no usable PEM certificate" in result.stderr

    (tmp_path / "m4").mkdir()
    half = Cluster(tmp_path / "m4", master_config=f"  tls: {{cert: {pki / 'server.pem'}}}")
    result = start_master_expecting_failure(half)
    assert result.returncode == 2
    assert re.search(r"cluster\.yaml:\d+:\d+: master\.tls\.key: required field is missing",
                     result.stderr), result.stderr


def test_the_tls_benchmark_runs(tmp_path):
    """`hpt-bench api-tls` (docs/targets.md), briefly: both masters come up,
    every request is answered, and it reports both schemes and the ratio."""
    result = subprocess.run([str(BIN / "hpt-bench"), "api-tls", "--requests", "40",
                             "--connections", "20", "--json"], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, TMPDIR=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["phase"], r["scheme"]) for r in rows] == [
        ("keep-alive", "http"), ("keep-alive", "https"), ("new conn", "http"),
        ("new conn", "https")]
    assert all(r["p50_us"] > 0 and r["p99_us"] >= r["p50_us"] for r in rows)
    assert list(tmp_path.iterdir()) == []  # a run that worked leaves nothing
