"""The agent's send window (PROTOCOL.md 6.3, flow control), seen from a
fake master: a real hptagent talks to a ROUTER socket of this test, which
registers it, launches a task that prints many separately flushed lines,
and acknowledges nothing for a while. The agent must keep at most 256
events in flight, in seq order, and send the rest as ACKs arrive, so a
master that falls behind never makes it overrun the socket."""
import subprocess
import time

import pytest

from fake_master import WireMaster
from hpt_harness import BIN, PYTHON

WINDOW = 256
LINES = 2000


def recv_all(master, seconds):
    """Every message that arrives within seconds: (type, body) pairs."""
    out = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        got = master.recv(0.05)
        if got:
            out.append(got[1:])
    return out


def events_of(messages):
    return [(k, b) for k, b in messages if "seq" in b and k != "HEARTBEAT"]


def test_at_most_a_window_of_events_in_flight(tmp_path):
    pytest.importorskip("zmq")
    master = WireMaster()
    agent = subprocess.Popen(
        [str(BIN / "hptagent"), "--master", master.endpoint, "--name", "w",
         "--workdir", str(tmp_path / "agent"), "--cpus", "1", "--memory-gb", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        master.expect("HELLO")
        master.welcome()
        send = master.send
        script = (f"import sys, time\nfor i in range({LINES}):\n"
                  f"    print('line', i, flush=True)\n    time.sleep(0.002)\n")
        send("LAUNCH", {"taskId": "j/1/master/0", "trialId": "1",
                        "argv": [PYTHON, "-c", script], "metricTag": "loss"})
        # Acknowledge nothing while the task runs: the agent must stop at
        # the window.
        # Each flushed line is read and sent on its own (the trainer waits
        # between lines), so there are far more events than the window;
        # once the window is full, wait a while longer for any excess.
        events = []
        deadline = time.time() + 20
        while len(events) < WINDOW and time.time() < deadline:
            events += events_of(recv_all(master, 0.2))
        events += events_of(recv_all(master, 1.5))
        seqs = [b["seq"] for _, b in events]
        assert len(seqs) == WINDOW, f"{len(seqs)} events in flight without an ACK"
        assert seqs == list(range(1, WINDOW + 1))
        # Acknowledge as they come: the rest follows in order, to the exit.
        text = "".join(b["data"] for k, b in events if k == "LOGS")
        last = seqs[-1]
        exited = False
        deadline = time.time() + 60
        while not exited and time.time() < deadline:
            send("ACK", {"seq": last})
            for kind_, body in events_of(recv_all(master, 0.3)):
                assert body["seq"] == last + 1, f"seq {body['seq']} after {last}"
                last = body["seq"]
                if kind_ == "LOGS":
                    text += body["data"]
                exited = exited or kind_ == "TASK_EXITED"
        assert exited, "no TASK_EXITED"
        assert text == "".join(f"line {i}\n" for i in range(LINES))
    finally:
        agent.terminate()
        agent.wait(10)
        master.close()
