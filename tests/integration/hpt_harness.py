"""Test harness: real hptmaster and hptagent processes on loopback.

A Cluster starts a master with a cluster.yaml in a temporary directory
(free ports, state under the directory), any number of agents, and talks to
the REST API. Everything it starts runs in its own process group and is
killed at the end, so a failing test leaves nothing behind."""
import json
import os
import pathlib
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

SRC = pathlib.Path(os.environ.get("HPT_SOURCE_DIR", pathlib.Path(__file__).parents[2]))
BIN = pathlib.Path(os.environ.get("HPT_BIN_DIR", SRC / "build" / "bin"))
PYTHON = "/usr/bin/python3"
SYNTHETIC = SRC / "examples" / "synthetic" / "trainer" / "task.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


LOG_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} ", re.M)


def unstamped(text):
    """hpt jobs stream-logs output without each line's time (the part a
    test cannot know)."""
    return LOG_STAMP.sub("", text)


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Cluster:
    def __init__(self, tmp, extra_config="", heartbeat="0.2s", agent_timeout="2s",
                 machine_types=None, master_config="", tls=None):
        """extra_config is appended after machineTypes (e.g. a scaleTiers
        section); master_config is lines added under master: (indented by
        two spaces, e.g. "  agentLostPolicy: requeue"). tls is a directory
        made by `hptmaster certgen` with 127.0.0.1 among its hosts: the API
        then serves HTTPS with its server.pem and server.key, and requests
        (and hpt(), through HPT_CA_CERT) trust its ca.pem."""
        self.tmp = pathlib.Path(tmp)
        self.tls = pathlib.Path(tls) if tls else None
        self.api_port = free_port()
        self.ssl_context = (ssl.create_default_context(cafile=str(self.tls / "ca.pem"))
                            if tls else None)
        self.agents_port = free_port()
        self.agents_endpoint = f"tcp://127.0.0.1:{self.agents_port}"
        self.state = self.tmp / "state"
        types = machine_types or {"standard": {"cpus": 1, "memoryGb": 0.5}}
        lines = ["master:",
                 f"  agents: {self.agents_endpoint}",
                 f"  api: 127.0.0.1:{self.api_port}",
                 f"  stateDir: {self.state}",
                 f"  heartbeatInterval: {heartbeat}",
                 f"  agentTimeout: {agent_timeout}",
                 "  stopGracePeriod: 2s",
                 *[line for line in master_config.splitlines() if line.strip()],
                 *([f"  tls: {{cert: {self.tls / 'server.pem'}, key: {self.tls / 'server.key'}}}"]
                   if tls else []),
                 "machineTypes:"]
        for name, spec in types.items():
            lines.append(f"  {name}: {json.dumps(spec)}")
        self.config = self.tmp / "cluster.yaml"
        self.config.write_text("\n".join(lines) + "\n" + extra_config)
        self.master = None
        self.master_args = []  # added to hptmaster's command line
        self.agents = {}
        self.logs = []

    @property
    def url(self):
        """The API's base URL (from api_port, which a test may change)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.api_port}"

    # -- processes ---------------------------------------------------------
    def _spawn(self, argv, name, env=None, preexec_fn=None):
        log = open(self.tmp / f"{name}.log", "ab")
        self.logs.append(log)
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=self.tmp, preexec_fn=preexec_fn,
                                env=None if env is None else dict(os.environ, **env))

    def start_master(self, preexec_fn=None):
        """preexec_fn runs in the child before hptmaster (e.g. to set a
        resource limit)."""
        argv = [str(BIN / "hptmaster"), "--cluster", str(self.config), *self.master_args]
        # Tests that wrap _spawn (environment, systemd sockets) never pass it.
        self.master = (self._spawn(argv, "master", preexec_fn=preexec_fn) if preexec_fn
                       else self._spawn(argv, "master"))
        wait_for(self._api_up, what="master API")
        return self.master

    def _api_up(self):
        try:
            self.get("/v1/nodes")
            return True
        except (OSError, ApiError):
            if self.master.poll() is not None:
                raise AssertionError("master exited: " + (self.tmp / "master.log").read_text())
            return False

    def start_agent(self, name, cpus=4, memory_gb=4, extra=(), env=None, workdir=None):
        """env: variables added to the agent's own environment, which its
        tasks inherit (e.g. HPT_TEST_DUMP_DIR: a job may not set HPT_*).
        workdir: the agent's --workdir (default TMP/agent-NAME; tasks run
        as another user need one they can reach)."""
        workdir = workdir or self.tmp / f"agent-{name}"
        argv = [str(BIN / "hptagent"), "--master", self.agents_endpoint, "--name", name,
                "--workdir", str(workdir), "--cpus", str(cpus), "--memory-gb", str(memory_gb),
                *extra]
        proc = self._spawn(argv, f"agent-{name}", env)
        self.agents[name] = proc
        wait_for(lambda: self.node(name) and self.node(name)["state"] == "READY",
                 what=f"agent {name} READY")
        return proc

    def kill(self, proc, sig=signal.SIGKILL, group=True):
        if proc and proc.poll() is None:
            try:
                if group:
                    os.killpg(proc.pid, sig)
                else:
                    proc.send_signal(sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop(self):
        for proc in list(self.agents.values()):
            self.kill(proc, signal.SIGTERM)
        self.kill(self.master, signal.SIGTERM)
        for log in self.logs:
            log.close()

    # -- REST ----------------------------------------------------------------
    def request(self, method, path, body=None):
        data = None if body is None else (body if isinstance(body, bytes)
                                          else json.dumps(body).encode())
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15, context=self.ssl_context) as resp:
                text = resp.read().decode()
                return json.loads(text) if text.strip().startswith(("{", "[")) else text
        except urllib.error.HTTPError as err:
            text = err.read().decode()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = text
            raise ApiError(err.code, parsed) from None

    def get(self, path):
        return self.request("GET", path)

    def submit(self, job_id, training_input, project="default"):
        return self.request("POST", f"/v1/projects/{project}/jobs",
                            {"jobId": job_id, "trainingInput": training_input})

    def job(self, job_id, project="default"):
        return self.get(f"/v1/projects/{project}/jobs/{job_id}")

    def add_user(self, name, role):
        """Makes a user with `hptmaster users add`; returns its token (the
        last line it prints)."""
        out = subprocess.run([str(BIN / "hptmaster"), "users", "add", name, "--role", role,
                              "--cluster", str(self.config)], check=True, capture_output=True,
                             text=True, timeout=30).stdout
        return out.strip().splitlines()[-1]

    def node(self, name):
        try:
            return self.get(f"/v1/nodes/{name}")
        except ApiError:
            return None

    def wait_job(self, job_id, states=("SUCCEEDED", "FAILED", "CANCELLED"), timeout=120):
        return wait_for(lambda: (lambda j: j if j["state"] in states else None)(self.job(job_id)),
                        timeout=timeout, interval=0.1, what=f"job {job_id} in {states}")

    def hpt(self, *args, check=False, env=None):
        """Runs hpt against this master. Its settings come from here alone
        (none of the caller's HPT_* variables, no config file) unless env
        gives some: a value of None removes a variable."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("HPT_")}
        environment.update(HPT_MASTER=self.url, HPT_CONFIG=os.devnull)
        if self.tls:
            environment["HPT_CA_CERT"] = str(self.tls / "ca.pem")
        for name, value in (env or {}).items():
            if value is None:
                environment.pop(name, None)
            else:
                environment[name] = str(value)
        result = subprocess.run([str(BIN / "hpt"), *args], capture_output=True, text=True,
                                env=environment, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"hpt {args} failed: {result.stdout}{result.stderr}")
        return result


def read_dumps(directory):
    """The synthetic trainer's HPT_TEST_DUMP_DIR records (one per task
    process), each with its file name under "file", sorted by file name."""
    records = []
    for path in sorted(pathlib.Path(directory).glob("task-*.json")):
        record = json.loads(path.read_text())
        record["file"] = path.name
        records.append(record)
    return records


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# What a stand-in agent (a ZeroMQ DEALER of a test) says in its HELLO.
STAND_IN_HELLO = {"protocol": 2, "name": "stand-in", "version": "9.9.9",
                  "advertise": "127.0.0.1", "ports": [20000, 20100],
                  "resources": {"cpus": 2, "memoryGb": 2}, "tasks": [], "ackedSeq": 0,
                  "lastSeq": 0}


def stand_in_agent(context, endpoint, hello=STAND_IN_HELLO):
    """A DEALER on context, registered with the master at endpoint (its
    HELLO answered by WELCOME), to speak HPT/2 frames by hand."""
    import zmq
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 5000)
    dealer.connect(endpoint)
    dealer.send_multipart([b"HPT/2 HELLO", json.dumps(hello).encode()])
    signature, _ = dealer.recv_multipart()
    assert signature == b"HPT/2 WELCOME", signature
    return dealer


def synthetic_job(max_trials=4, parallel=2, extra_args=(), params=None, **hp):
    """A job running examples/synthetic/trainer/task.py."""
    spec = {
        "command": [PYTHON, str(SYNTHETIC), *extra_args],
        "hyperparameters": {
            "goal": "MINIMIZE",
            "hyperparameterMetricTag": "loss",
            "maxTrials": max_trials,
            "maxParallelTrials": parallel,
            "params": params or [
                {"parameterName": "x", "type": "DOUBLE", "minValue": -5, "maxValue": 5},
                {"parameterName": "y", "type": "INTEGER", "minValue": 0, "maxValue": 10},
            ],
            **hp,
        },
    }
    return spec
