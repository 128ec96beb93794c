"""The chaos benchmark (tests/bench/chaos.py), short: one seed of each mode,
so the suite kills a master and agents at random moments on every run.

- master: 3 SIGKILLs of the master at the seed's moments, each followed by
  a restart on the same stateDir; the job must end SUCCEEDED with every
  trial run once and every point the trainer reported stored once.
- agent-fail and agent-requeue: one agent SIGKILLed while it runs a
  trial, restarted with the same name and workdir within agentTimeout
  (the first kill of a seed is a quick restart). Under `fail` its trials
  end FAILED naming the lost agent and the rest succeed; under `requeue`
  they run again and nothing fails.

chaos.py's docstring states the expected outcome in full; its verify()
does every check, from the trainer's own append-only record, the REST
API's allMetrics and the master's store. A failure prints each check that
failed (trial, task, processes, what differed) and the seed's directory
(daemon logs, trainer.log, state/hpt.db) under pytest's tmp_path.
About 30 s on 2 cores."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "bench"))
import chaos  # noqa: E402


@pytest.mark.parametrize("mode,kills", [("master", 3), ("agent-fail", 1), ("agent-requeue", 1)])
def test_chaos_short(tmp_path, mode, kills):
    result = chaos.run_seed(mode, seed=1, kills=kills, tmp=tmp_path, say=print)
    assert result.ok, result.report()
    # A run whose kills did not all happen tested less than it says.
    assert len(result.kills) == kills, result.report()
