"""The REST lists page, a Job's GET is bounded, and reading a big job does
not stall the master (docs/interfaces.md, "Paging").

- GET /v1/projects/P/jobs and GET /v1/nodes answer pageSize items at most
  (default 20, capped at 1000) with a nextPageToken while more remain;
  filters apply before paging; a bad pageSize or pageToken is 400
  INVALID_ARGUMENT naming the parameter.
- A Job's trials show the last 1000 points of the objective in allMetrics
  and say hptMetricsTruncated when there were more; every point of every
  tag is paged from .../trials/T/metrics, and .../metrics:tags lists the
  tags.
- The Job's etag changes whenever the Job does, and one etag never comes
  with two different resources (the master caches the rendered Job per
  version).
- With a job of many points, clients reading it in a loop do not stop
  the master hearing its agents: the agent stays READY and /metrics shows
  short loop stalls. The bounds are ten times the targets of
  docs/targets.md; `hpt-bench api` prints the real figures.

Points are inserted straight into the store while the master is stopped,
as a flooding trainer would have left them, so the tests do not wait for
half a million points to travel."""
import base64
import json
import signal
import sqlite3
import statistics
import threading
import time
import urllib.parse

import pytest

from hpt_harness import PYTHON, SYNTHETIC, ApiError, Cluster, synthetic_job, wait_for


def queued_job():
    """A job that stays QUEUED on a master without agents."""
    return {"command": [PYTHON, str(SYNTHETIC)]}


def page_all(cluster, path, key, **params):
    """Every item of a paged list, following nextPageToken; also the pages."""
    items, pages, token = [], [], None
    while True:
        query = dict(params, **({"pageToken": token} if token else {}))
        answer = cluster.get(f"{path}?{urllib.parse.urlencode(query)}" if query else path)
        pages.append(answer)
        items += answer[key]
        token = answer.get("nextPageToken")
        if not token:
            return items, pages
        assert len(answer[key]) == int(params.get("pageSize") or 20)


def expect_400(cluster, path, word):
    with pytest.raises(ApiError) as raised:
        cluster.get(path)
    assert raised.value.status == 400, raised.value.body
    assert raised.value.body["error"]["status"] == "INVALID_ARGUMENT"
    assert word in raised.value.body["error"]["message"]


@pytest.fixture
def lonely(tmp_path):
    """A master with no agent: submitted jobs stay QUEUED."""
    c = Cluster(tmp_path)
    c.start_master()
    yield c
    c.stop()


def test_jobs_list_pages(lonely):
    for i in range(25):
        lonely.submit(f"{'a' if i % 2 else 'b'}{i:02d}", queued_job())
    lonely.submit("other", queued_job(), project="elsewhere")
    everything = lonely.get("/v1/projects/default/jobs?pageSize=1000")
    ids = [job["jobId"] for job in everything["jobs"]]
    assert ids == [f"{'a' if i % 2 else 'b'}{i:02d}" for i in range(25)]
    assert "nextPageToken" not in everything

    # Default: Google's 20, then the rest.
    first = lonely.get("/v1/projects/default/jobs")
    assert [job["jobId"] for job in first["jobs"]] == ids[:20]
    assert first["nextPageToken"]
    rest = lonely.get("/v1/projects/default/jobs?pageToken=" + first["nextPageToken"])
    assert [job["jobId"] for job in rest["jobs"]] == ids[20:]
    assert "nextPageToken" not in rest

    for size in (1, 3, 7, 25):
        jobs, pages = page_all(lonely, "/v1/projects/default/jobs", "jobs", pageSize=size)
        assert [job["jobId"] for job in jobs] == ids
        assert len(pages) == -(-25 // size)
    # 0 means the default; more than 1000 is capped, not refused.
    assert len(lonely.get("/v1/projects/default/jobs?pageSize=0")["jobs"]) == 20
    assert len(lonely.get("/v1/projects/default/jobs?pageSize=99999")["jobs"]) == 25

    # The filter applies before paging: full pages of matching jobs only.
    jobs, pages = page_all(lonely, "/v1/projects/default/jobs", "jobs", pageSize=4,
                           filter="jobId=a*")
    assert [job["jobId"] for job in jobs] == [i for i in ids if i.startswith("a")]
    assert [len(p["jobs"]) for p in pages] == [4, 4, 4]
    # Jobs submitted after a page was read come on a later page.
    token = lonely.get("/v1/projects/default/jobs?pageSize=24")["nextPageToken"]
    lonely.submit("late", queued_job())
    assert [j["jobId"] for j in lonely.get(
        "/v1/projects/default/jobs?pageToken=" + token)["jobs"]] == [ids[24], "late"]


def test_list_parameters_are_checked(lonely):
    lonely.submit("j1", queued_job())
    for bad in ("-1", "abc", "1.5", "%2B5"):
        expect_400(lonely, f"/v1/projects/default/jobs?pageSize={bad}", "pageSize")
        expect_400(lonely, f"/v1/nodes?pageSize={bad}", "pageSize")
    for bad in ("garbage", "%21%21", base64.urlsafe_b64encode(b'["nodes","x"]').decode()):
        expect_400(lonely, f"/v1/projects/default/jobs?pageToken={bad}", "pageToken")
    jobs_token = base64.urlsafe_b64encode(b'["jobs",1]').decode().rstrip("=")
    expect_400(lonely, f"/v1/nodes?pageToken={jobs_token}", "pageToken")


def test_nodes_list_pages(tmp_path):
    cluster = Cluster(tmp_path)
    try:
        cluster.start_master()
        for name in ("n3", "n1", "n2"):
            cluster.start_agent(name, cpus=1, memory_gb=1)
        first = cluster.get("/v1/nodes?pageSize=2")
        assert [n["name"] for n in first["nodes"]] == ["n1", "n2"]
        second = cluster.get("/v1/nodes?pageSize=2&pageToken=" + first["nextPageToken"])
        assert [n["name"] for n in second["nodes"]] == ["n3"]
        assert "nextPageToken" not in second
        assert "nextPageToken" not in cluster.get("/v1/nodes")
        nodes, _ = page_all(cluster, "/v1/nodes", "nodes", pageSize=1)
        assert [n["name"] for n in nodes] == ["n1", "n2", "n3"]
        # `hpt nodes list` follows the pages (with a page of one node).
        listed = cluster.hpt("nodes", "list", "--page-size", "1", check=True)
        assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["n1", "n2", "n3"]
    finally:
        cluster.stop()


def test_cli_jobs_list_follows_pages(lonely):
    for i in range(23):
        lonely.submit(f"c{i:02d}", queued_job())
    listed = lonely.hpt("jobs", "list", check=True)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == \
        [f"c{i:02d}" for i in range(23)]
    listed = lonely.hpt("jobs", "list", "--page-size", "5", "--filter", "jobId=c1*", check=True)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == \
        [f"c1{i}" for i in range(10)]
    listed = lonely.hpt("jobs", "list", "--limit", "3", check=True)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["c00", "c01", "c02"]


# ------------------------------------------------------------ big jobs

def insert_points(state_dir, job, trial, tag, steps, task=None, start=1):
    """Points of tag for a trial's master task, straight into the store."""
    task = task or f"{job}/{trial}/master/0"
    db = sqlite3.connect(str(state_dir / "hpt.db"))
    with db:
        db.executemany(
            "INSERT INTO metrics (job_id, trial_id, tag, step, time, value, task_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            ((job, trial, tag, step, 1.7e9 + step / 1000.0, 1.0 / step, task)
             for step in range(start, start + steps)))
    db.close()


def run_then_flood(cluster, job, trials, floods):
    """Runs job to its end, stops the master, inserts the floods
    ({trial: [(tag, steps, task)]}) and starts the master again."""
    cluster.submit(job, synthetic_job(max_trials=trials, parallel=2))
    assert cluster.wait_job(job)["state"] == "SUCCEEDED"
    cluster.kill(cluster.master, signal.SIGTERM)
    for trial, points in floods.items():
        for tag, steps, task in points:
            insert_points(cluster.state, job, trial, tag, steps, task)
    cluster.start_master()
    wait_for(lambda: (cluster.node("a1") or {}).get("state") == "READY", what="agent back")


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, heartbeat="0.2s", agent_timeout="2s")
    c.start_master()
    c.start_agent("a1", cpus=2, memory_gb=2)
    yield c
    c.stop()


def trial_of(job, trial_id):
    return next(t for t in job["trainingOutput"]["trials"] if t["trialId"] == str(trial_id))


def test_all_metrics_capped_and_every_point_paged(cluster):
    run_then_flood(cluster, "big", 2, {
        1: [("loss", 2500, None), ("aux", 300, None),
            # Another replica's points of the objective are not the curve.
            ("loss", 50, "big/1/worker/0")],
    })
    job = cluster.job("big")
    one = trial_of(job, 1)
    assert len(one["allMetrics"]) == 1000
    assert one["hptMetricsTruncated"] is True
    assert [p["trainingStep"] for p in one["allMetrics"]] == [str(s) for s in range(1501, 2501)]
    assert one["allMetrics"][-1]["objectiveValue"] == pytest.approx(1 / 2500)
    two = trial_of(job, 2)
    assert 1 <= len(two["allMetrics"]) < 1000
    assert "hptMetricsTruncated" not in two

    base = "/v1/projects/default/jobs/big/trials/1/metrics"
    assert cluster.get(base + ":tags") == {"tags": ["aux", "loss"]}
    loss, pages = page_all(cluster, base, "metrics", tag="loss", pageSize=700)
    # Every stored point of the tag, in (step, time) order, each task's.
    db = sqlite3.connect(str(cluster.state / "hpt.db"))
    stored = db.execute("SELECT step, task_id FROM metrics WHERE job_id = 'big' AND trial_id = 1"
                        " AND tag = 'loss' ORDER BY step, time, value, task_id").fetchall()
    db.close()
    assert [(int(p["trainingStep"]), p["taskId"]) for p in loss] == stored
    assert len(loss) == len(stored) >= 2550
    assert len(pages) == -(-len(stored) // 700)
    point = next(p for p in loss if p["trainingStep"] == "2500")
    assert point == {"tag": "loss", "trainingStep": "2500", "value": pytest.approx(1 / 2500),
                     "time": "2023-11-14T22:13:22.500Z", "taskId": "big/1/master/0"}
    everything, _ = page_all(cluster, base, "metrics", pageSize=1000)
    assert [p["tag"] for p in everything] == ["aux"] * 300 + ["loss"] * len(stored)
    assert len(cluster.get(base)["metrics"]) == 1000  # the default page

    # Tokens belong to their query; sizes and trials are checked.
    token = cluster.get(base + "?tag=loss&pageSize=10")["nextPageToken"]
    expect_400(cluster, f"{base}?tag=aux&pageToken={token}", "pageToken")
    expect_400(cluster, f"{base}?pageToken={token}", "pageToken")
    expect_400(cluster, f"/v1/projects/default/jobs/big/trials/2/metrics?tag=loss"
               f"&pageToken={token}", "pageToken")
    expect_400(cluster, f"{base}?pageSize=-5", "pageSize")
    for path in ("/v1/projects/default/jobs/big/trials/3/metrics",
                 "/v1/projects/default/jobs/big/trials/0/metrics",
                 "/v1/projects/default/jobs/big/trials/x/metrics",
                 "/v1/projects/default/jobs/big/trials/1/metrics:nope",
                 "/v1/projects/default/jobs/big/trials/1/metrics/more",
                 "/v1/projects/other/jobs/big/trials/1/metrics"):
        with pytest.raises(ApiError) as raised:
            cluster.get(path)
        assert raised.value.status == 404, path


def test_etag_follows_the_job(lonely, tmp_path):
    lonely.submit("e1", queued_job())
    first = lonely.job("e1")
    assert first["etag"] and base64.b64decode(first["etag"], validate=True)
    # Unchanged: the same etag and the same resource (served from cache).
    assert lonely.job("e1") == first
    listed = lonely.get("/v1/projects/default/jobs")["jobs"][0]
    assert listed["etag"] == first["etag"]
    lonely.request("POST", "/v1/projects/default/jobs/e1:cancel")
    cancelled = lonely.job("e1")
    assert cancelled["state"] == "CANCELLED" and cancelled["etag"] != first["etag"]
    # A restarted master never hands out an etag it gave other content.
    lonely.kill(lonely.master, signal.SIGTERM)
    lonely.start_master()
    assert lonely.job("e1")["etag"] not in (first["etag"], cancelled["etag"])


def test_one_etag_one_resource_while_a_job_runs(cluster):
    """Polled while points arrive: the etag changes with every new point,
    and never comes back with other content (no stale cache)."""
    cluster.submit("live", synthetic_job(max_trials=2, parallel=2,
                                         extra_args=("--steps=25", "--sleep=0.05")))
    seen = {}
    lengths = []
    deadline = time.monotonic() + 60
    while True:
        # A stale cache would show the running job forever.
        assert time.monotonic() < deadline, "the job never ended in its GET"
        job = cluster.job("live")
        text = json.dumps(job, sort_keys=True)
        assert seen.setdefault(job["etag"], text) == text
        lengths.append(sum(len(t["allMetrics"]) for t in job["trainingOutput"].get("trials", [])))
        if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.02)
    assert job["state"] == "SUCCEEDED"
    assert lengths[-1] == 50 and len(set(lengths)) > 2
    assert len(seen) > 2


def test_reading_a_big_job_does_not_stall_the_master(cluster):
    """The integration-sized `hpt-bench api`: 5 trials x 20 000 points, three
    clients reading the job for 5 s, agentTimeout 2 s: every GET answers with
    the capped series and the agent stays READY throughout."""
    run_then_flood(cluster, "flood", 5,
                   {t: [("loss", 20000, None)] for t in range(1, 6)})
    path = "/v1/projects/default/jobs/flood"
    times = []
    for _ in range(20):
        start = time.monotonic()
        job = cluster.get(path)
        times.append(time.monotonic() - start)
    assert all(len(t["allMetrics"]) == 1000 for t in job["trainingOutput"]["trials"])
    # Figures only: the target (100 ms) is hpt-bench api's, not a test's.
    print(f"GET of a 100k-point job: p50 {statistics.median(times) * 1000:.1f} ms, "
          f"max {max(times) * 1000:.1f} ms")

    stop = time.monotonic() + 5
    errors = []

    def reader():
        while time.monotonic() < stop:
            try:
                cluster.get(path)
            except Exception as error:  # noqa: BLE001 -- any failure fails the test
                errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    states = set()
    while time.monotonic() < stop:
        states.add(cluster.node("a1")["state"])
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    assert not errors
    assert states == {"READY"}
    metrics = cluster.get("/metrics")
    figures = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
               if line.startswith(("hpt_loop_busy_max_seconds", "hpt_agent_silence_max_seconds"))}
    print(f"loop busy max {figures['hpt_loop_busy_max_seconds'] * 1000:.1f} ms, agent silence"
          f" max {figures['hpt_agent_silence_max_seconds'] * 1000:.0f} ms")
    # The agent was never unheard for its agentTimeout (2 s), or it would
    # have been LOST above; the loop figure is printed, not judged.
    assert figures["hpt_agent_silence_max_seconds"] < 2.0
