"""HPT/2 as a real hptagent speaks it, seen from a stand-in master
(fake_master.WireMaster, proto/PROTOCOL.md):

- the accelerators a LAUNCH gives a task (gpus, tpus) become the task's
  visibility variables, set by the agent, which refuses devices it does
  not have;
- HEARTBEATs say how many tasks run and the host's load; LOGS and
  TASK_EXITED carry no HPT/1 members; a STOP's reason is logged;
- the agent logs each master epoch and a master restart;
- a REJECT with retryMs is retried; one without, or from a master that
  speaks no version the agent does (another version's REJECT), ends the
  agent with exit status 1 and the master's reason."""
import os
import subprocess
import time

import pytest

from fake_master import WireMaster
from hpt_harness import BIN, PYTHON, SRC, wait_for

ENV_SCRIPT = ("import os\n"
              "for name in ('CUDA_VISIBLE_DEVICES', 'CUDA_DEVICE_ORDER', 'TPU_VISIBLE_CHIPS'):\n"
              "    print(name, repr(os.environ.get(name)))\n")
VISIBILITY = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TPU_VISIBLE_CHIPS")


@pytest.fixture
def master():
    pytest.importorskip("zmq")
    m = WireMaster()
    yield m
    m.close()


class Agent:
    """A real hptagent connected to the stand-in master, its output in a file."""

    def __init__(self, master, tmp_path, name, extra=()):
        self.log = tmp_path / f"{name}.log"
        # The agent's own environment must not hold what it is to set.
        env = {k: v for k, v in os.environ.items() if k not in VISIBILITY}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "hptagent"), "--master", master.endpoint, "--name", name,
                 "--workdir", str(tmp_path / name), "--cpus", "1", "--memory-gb", "1", *extra],
                stdout=out, stderr=subprocess.STDOUT, env=env)

    def output(self):
        return self.log.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def agents():
    started = []
    yield started
    for agent in started:
        agent.stop()


def run_task(master, task_id, argv, seen, **launch):
    """Launches a task and acknowledges its events until it exited: its
    TASK_EXITED body and stdout. Every event is appended to seen."""
    master.send("LAUNCH", {"taskId": task_id, "trialId": "1", "argv": argv,
                           "metricTag": "loss", **launch})
    stdout = ""
    deadline = time.time() + 20
    while time.time() < deadline:
        got = master.recv(0.5)
        if not got:
            continue
        seen.append(got)
        _, kind, body = got
        if "seq" in body and kind != "HEARTBEAT":
            master.send("ACK", {"seq": body["seq"]})
        if kind == "LOGS" and body["stream"] == "stdout" and body["taskId"] == task_id:
            stdout += body["data"]
        if kind == "TASK_EXITED" and body["taskId"] == task_id:
            return body, stdout
    raise AssertionError(f"task {task_id} did not exit")


def visible(stdout):
    """The visibility variables as the trainer printed them."""
    return dict(line.split(" ", 1) for line in stdout.splitlines())


def test_devices_heartbeats_logs_and_stops(master, agents, tmp_path):
    topology = SRC / "tests" / "data" / "topologies" / "gpu-host-v100-a.xml"
    agent = Agent(master, tmp_path, "gpu", ["--topology", str(topology)])
    agents.append(agent)
    master.expect("HELLO")
    master.welcome(epoch=3, heartbeat_ms=100)
    seen = []
    beat = master.expect("HEARTBEAT", seen=seen)
    assert beat["runningTasks"] == 0 and beat["load"] >= 0, beat

    exited, stdout = run_task(master, "j/1/master/0", [PYTHON, "-c", ENV_SCRIPT], seen,
                              gpus=[1, 3])
    assert exited["exitCode"] == 0, exited
    assert visible(stdout) == {"CUDA_VISIBLE_DEVICES": "'1,3'",
                               "CUDA_DEVICE_ORDER": "'PCI_BUS_ID'",
                               "TPU_VISIBLE_CHIPS": "None"}, stdout
    # A task given no GPU sees none, rather than every GPU of the host.
    _, stdout = run_task(master, "j/2/master/0", [PYTHON, "-c", ENV_SCRIPT], seen)
    assert visible(stdout) == {"CUDA_VISIBLE_DEVICES": "''", "CUDA_DEVICE_ORDER": "None",
                               "TPU_VISIBLE_CHIPS": "None"}, stdout
    # Devices the agent does not have: the task never starts.
    for task_id, devices, why in (("j/3/master/0", {"gpus": [7]}, "GPU 7 is not on this agent"),
                                  ("j/4/master/0", {"tpus": [0]},
                                   "TPU chip 0 is not on this agent")):
        exited, _ = run_task(master, task_id, [PYTHON, "-c", ENV_SCRIPT], seen, **devices)
        assert exited["exitCode"] == 127 and why in exited["reason"], exited
        assert not [b for _, k, b in seen if k == "TASK_STARTED" and b["taskId"] == task_id]

    # A STOP's reason is in the agent's log; HPT/1's members are gone.
    master.send("LAUNCH", {"taskId": "j/5/master/0", "trialId": "5", "metricTag": "loss",
                           "argv": [PYTHON, "-c", "import time; print('up', flush=True); "
                                    "time.sleep(60)"]})
    master.expect("TASK_STARTED", seen=seen)
    deadline = time.time() + 5
    while master.expect("HEARTBEAT", seen=seen)["runningTasks"] != 1:
        assert time.time() < deadline, "no HEARTBEAT with the task running"
    master.send("STOP", {"taskId": "j/5/master/0", "reason": "early stopping", "graceMs": 5000})
    exited = master.expect("TASK_EXITED", seen=seen)
    assert exited["signal"] == 15 and "stopped" not in exited, exited
    logs = [b for _, k, b in seen if k == "LOGS"]
    assert logs and not [b for b in logs if "offset" in b], logs
    output = agent.output()
    assert "stopping task j/5/master/0 (early stopping)" in output, output
    assert "resources found by xml" in output, output
    assert "registered with the master, epoch 3" in output, output


def test_a_tpu_task_sees_its_chips(master, agents, tmp_path):
    topology = SRC / "tests" / "data" / "topologies" / "tpu-host.xml"
    agents.append(Agent(master, tmp_path, "tpu", ["--topology", str(topology)]))
    master.expect("HELLO")
    master.welcome()
    _, stdout = run_task(master, "t/1/worker/0", [PYTHON, "-c", ENV_SCRIPT], [], tpus=[0])
    assert visible(stdout) == {"CUDA_VISIBLE_DEVICES": "''", "CUDA_DEVICE_ORDER": "None",
                               "TPU_VISIBLE_CHIPS": "'0'"}, stdout


def test_epochs_retries_and_a_final_reject(master, agents, tmp_path):
    agent = Agent(master, tmp_path, "a")
    agents.append(agent)
    master.expect("HELLO")
    # A REJECT with retryMs: the agent says HELLO again after it.
    master.send("REJECT", {"reason": "the master cannot write its store now; try again",
                           "retryMs": 300, "protocols": [2]})
    master.expect("HELLO", timeout=5)
    master.welcome(epoch=5)
    wait_for(lambda: "registered with the master, epoch 5" in agent.output(), timeout=5,
             what="the epoch in the agent's log")
    # The master lost track of it (it restarted): the agent registers again.
    master.send("ERROR", {"code": "NOT_REGISTERED", "reason": "not registered: send HELLO"})
    master.expect("HELLO", timeout=5)
    master.welcome(epoch=6)
    wait_for(lambda: "the master restarted (epoch 6, was 5)" in agent.output(), timeout=5,
             what="the restart in the agent's log")
    assert agent.proc.poll() is None
    # An HPT/1 master refuses this HPT/2 agent, in HPT/1: final.
    master.send("ERROR", {"code": "NOT_REGISTERED", "reason": "not registered: send HELLO"})
    master.expect("HELLO", timeout=5)
    master.send("REJECT", {"reason": "unsupported protocol version HPT/2 (this master speaks "
                           "HPT/1)", "protocols": [1]}, version=1)
    assert agent.proc.wait(10) == 1
    output = agent.output()
    assert ("hptagent: the master refused registration: unsupported protocol version HPT/2 "
            "(this master speaks HPT/1) (the master speaks HPT/1, this agent HPT/2)") in output, \
        output


def test_a_reject_without_retry_is_final(master, agents, tmp_path):
    agent = Agent(master, tmp_path, "b")
    agents.append(agent)
    master.expect("HELLO")
    master.send("REJECT", {"reason": "name b is not allowed here"})
    assert agent.proc.wait(10) == 1
    assert "the master refused registration: name b is not allowed here" in agent.output()


def test_an_ack_beyond_the_last_event_is_ignored(master, agents, tmp_path):
    """A master (or whoever reached the agent's socket) acknowledging a seq
    the agent never assigned: ignored and logged. It used to be written as
    the spool's mark, after which the agent's events all had seqs the codec
    cannot encode, even after a restart."""
    seq_max = 2 ** 53 - 1
    agent = Agent(master, tmp_path, "acks")
    agents.append(agent)
    master.expect("HELLO")
    master.welcome(heartbeat_ms=100)
    seen = []
    run_task(master, "a/1/master/0", [PYTHON, "-c", "print('one')"], seen)
    last = max(b["seq"] for _, k, b in seen if "seq" in b and k != "HEARTBEAT")
    master.send("ACK", {"seq": seq_max})
    master.send("HEARTBEAT", {"seq": seq_max})
    wait_for(lambda: f"ignored an acknowledgement of seq {seq_max}" in agent.output(),
             timeout=5, what="the ignored ACK in the agent's log")
    # The agent keeps working, its seqs going on from where they were.
    seen = []
    exited, stdout = run_task(master, "a/2/master/0", [PYTHON, "-c", "print('two')"], seen)
    assert exited["exitCode"] == 0 and stdout == "two\n", (exited, stdout)
    seqs = [b["seq"] for _, k, b in seen if "seq" in b and k != "HEARTBEAT"]
    assert min(seqs) == last + 1, (last, seqs)
    # And after a restart on the same workdir it still delivers events.
    agent.stop()
    agent = Agent(master, tmp_path, "acks")
    agents.append(agent)
    hello = master.expect("HELLO")
    assert hello["lastSeq"] == max(seqs) and hello["ackedSeq"] <= hello["lastSeq"], hello
    master.welcome(acked_seq=hello["ackedSeq"], heartbeat_ms=100)
    seen = []
    exited, stdout = run_task(master, "a/3/master/0", [PYTHON, "-c", "print('three')"], seen)
    assert exited["exitCode"] == 0 and stdout == "three\n", (exited, stdout)
    third = [b["seq"] for _, k, b in seen if b.get("taskId") == "a/3/master/0"]
    assert third and min(third) > max(seqs), (third, seqs)
