"""Finished jobs leave the master's memory (master/hpt_core.c, "Memory";
docs/durability.md; issue 18).

The master keeps the trials of the four finished jobs it used last; the
others' trials are evicted and read back from the store when a request
needs them. What a list or /metrics shows of an evicted job stays in
memory. These tests run six finished jobs on a real master and agent and
check that:

- the gauge hpt_jobs_resident falls to four, while every job, trial,
  insight, list entry and trial count reads as it did before eviction;
- a job read back answers its old ETag with 304 (its version is kept);
- a restarted master loads finished jobs evicted, and reads them back
  the same (but for the etag, which a new process moves on)."""
import re
import signal
import urllib.error
import urllib.request

import pytest

from hpt_harness import Cluster, synthetic_job, wait_for

JOBS = [f"m{i}" for i in range(1, 7)]
RESIDENT = 4


def gauge(cluster, name, labels=""):
    text = cluster.get("/metrics")
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in /metrics"
    return float(match.group(1))


def job_status(cluster, job_id, etag=None):
    """The status and ETag of a GET of the job (with If-None-Match: etag)."""
    request = urllib.request.Request(f"{cluster.url}/v1/projects/default/jobs/{job_id}",
                                     headers={"If-None-Match": etag} if etag else {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.headers["ETag"]
    except urllib.error.HTTPError as err:
        return err.code, err.headers["ETag"]


def views(cluster, job_id):
    """What the API shows of a job: the Job without its etag, a trial,
    the console's insights, and its list entry."""
    base = f"/v1/projects/default/jobs/{job_id}"
    job = cluster.get(base)
    job.pop("etag")
    entry = [j for j in cluster.get("/v1/projects/default/jobs?pageSize=100")["jobs"]
             if j["jobId"] == job_id][0]
    entry.pop("etag")
    insights = cluster.get(base + "/insights")
    return {"job": job, "trial": cluster.get(base + "/trials/2"),
            "insights": insights, "entry": entry}


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    c.start_master()
    c.start_agent("a1", cpus=4)
    yield c
    c.stop()


def run_jobs(cluster, names):
    for name in names:
        cluster.submit(name, synthetic_job(max_trials=3, parallel=3))
    for name in names:
        assert cluster.wait_job(name, timeout=60)["state"] == "SUCCEEDED"


def test_finished_jobs_are_evicted_and_read_back(cluster):
    run_jobs(cluster, JOBS[:RESIDENT])
    before = {name: views(cluster, name) for name in JOBS[:RESIDENT]}
    _, etag = job_status(cluster, "m1")
    assert gauge(cluster, "hpt_jobs_resident") == RESIDENT
    run_jobs(cluster, JOBS[RESIDENT:])
    # The two used least recently (m1, m2: read above, but from the
    # answer cache, which reads no trials) leave memory at a heartbeat.
    wait_for(lambda: gauge(cluster, "hpt_jobs_resident") == RESIDENT,
             what="two finished jobs evicted")
    assert gauge(cluster, "hpt_trials", '{state="SUCCEEDED"}') == 3 * len(JOBS)
    assert gauge(cluster, "hpt_jobs", '{state="SUCCEEDED"}') == len(JOBS)
    # Read back on demand, they show what they showed.
    for name in JOBS[:RESIDENT]:
        assert views(cluster, name) == before[name], name
    assert job_status(cluster, "m1", etag) == (304, etag)
    # The readmitted are now the ones used last; others go instead.
    wait_for(lambda: gauge(cluster, "hpt_jobs_resident") == RESIDENT,
             what="evicted again down to four")


def test_a_restarted_master_loads_finished_jobs_evicted(cluster):
    run_jobs(cluster, JOBS[:2])
    before = {name: views(cluster, name) for name in JOBS[:2]}
    cluster.kill(cluster.master, signal.SIGTERM)
    cluster.master.wait(timeout=30)
    cluster.start_master()
    assert gauge(cluster, "hpt_jobs_resident") == 0
    assert gauge(cluster, "hpt_trials", '{state="SUCCEEDED"}') == 6
    for name in JOBS[:2]:
        assert views(cluster, name) == before[name], name
    assert gauge(cluster, "hpt_jobs_resident") == 2
