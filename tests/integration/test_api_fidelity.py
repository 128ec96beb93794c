"""The REST API as AI Platform's `ml` v1 says it behaves
(docs/interfaces.md): gcloud's filter language on projects.jobs.list,
projects.jobs.patch of labels with updateMask and etag, 501 for methods
hpt does not have, and trials[].state in the job-state enum with hpt's own
state beside it."""
import urllib.parse
import urllib.request

import pytest

from hpt_harness import PYTHON, SYNTHETIC, ApiError, Cluster, synthetic_job

JOBS = "/v1/projects/default/jobs"


def queued(job_id, labels=None):
    body = {"jobId": job_id, "trainingInput": {"command": [PYTHON, str(SYNTHETIC)]}}
    if labels:
        body["labels"] = labels
    return body


@pytest.fixture
def lonely(tmp_path):
    """A master with no agent: every job stays QUEUED."""
    c = Cluster(tmp_path)
    c.start_master()
    yield c
    c.stop()


def listed(cluster, expression):
    answer = cluster.get(f"{JOBS}?{urllib.parse.urlencode({'filter': expression})}")
    return sorted(job["jobId"] for job in answer.get("jobs", []))


def refused(cluster, method, path, body=None):
    with pytest.raises(ApiError) as raised:
        cluster.request(method, path, body)
    return raised.value.status, raised.value.body["error"]


def test_filter_language(lonely):
    lonely.request("POST", JOBS, queued("census_1", {"team": "ads"}))
    lonely.request("POST", JOBS, queued("census_2", {"team": "nlp"}))
    lonely.request("POST", JOBS, queued("rnn_1", {"team": "nlp"}))
    lonely.request("POST", f"{JOBS}/rnn_1:cancel", {})
    # The examples of the ml v1 document.
    assert listed(lonely, "jobId:census*") == ["census_1", "census_2"]
    assert listed(lonely, "jobId:rnn* AND state:CANCELLED") == ["rnn_1"]
    assert listed(lonely, "jobId:rnn* AND state:FAILED") == []
    # Labels, OR with parentheses, NOT, !=, the older = form.
    assert listed(lonely, "labels.team=nlp") == ["census_2", "rnn_1"]
    assert listed(lonely, "(labels.team:ads OR state:CANCELLED)") == ["census_1", "rnn_1"]
    assert listed(lonely, "NOT labels.team=nlp") == ["census_1"]
    assert listed(lonely, "labels.team!=ads AND state=QUEUED") == ["census_2"]
    # Times compare as times.
    assert listed(lonely, "createTime>2000-01-01T00:00:00Z") == ["census_1", "census_2", "rnn_1"]
    assert listed(lonely, "createTime<2000-01-01") == []
    # Mistakes are 400 naming the place, not an empty list.
    for expression, says in (("state:RUNING", "'RUNING' is not a value of state"),
                             ("colour=red", "unknown field 'colour'"),
                             ("jobId:a AND jobId:b OR jobId:c", "parentheses are required"),
                             ("(jobId:a", "expected ')'")):
        status, error = refused(lonely, "GET",
                                f"{JOBS}?{urllib.parse.urlencode({'filter': expression})}")
        assert status == 400 and error["status"] == "INVALID_ARGUMENT", error
        assert says in error["message"] and "column" in error["message"], error


def test_patch_labels_with_etag(lonely):
    job = lonely.request("POST", JOBS, queued("tagged", {"team": "ads"}))
    etag = job["etag"]
    patched = lonely.request("PATCH", f"{JOBS}/tagged?updateMask=labels,etag",
                             {"labels": {"owner": "google", "color": "blue"}, "etag": etag})
    assert patched["labels"] == {"color": "blue", "owner": "google"}
    assert patched["etag"] != etag
    assert lonely.job("tagged")["labels"] == {"color": "blue", "owner": "google"}
    # The stale etag is refused and changes nothing.
    status, error = refused(lonely, "PATCH", f"{JOBS}/tagged?updateMask=labels,etag",
                            {"labels": {"team": "x"}, "etag": etag})
    assert (status, error["status"]) == (409, "ABORTED"), error
    assert lonely.job("tagged")["labels"] == {"color": "blue", "owner": "google"}
    # Without etag in the mask the patch applies whatever the etag; the
    # whole Job the client read may be sent back; no labels clears them.
    whole = lonely.job("tagged")
    whole["labels"] = {"team": "ml"}
    assert lonely.request("PATCH", f"{JOBS}/tagged?updateMask=labels", whole)["labels"] == \
        {"team": "ml"}
    assert "labels" not in lonely.request("PATCH", f"{JOBS}/tagged?updateMask=labels", {})
    # Only labels can change; bad labels name the field.
    for query, body, says in (
            ("updateMask=trainingInput", {}, "cannot be updated"),
            ("", {"labels": {}}, "updateMask must name labels"),
            ("updateMask=labels,etag", {"labels": {}}, "must carry the etag"),
            ("updateMask=labels", {"labels": {"Bad Key": "v"}}, "label keys"),
            ("updateMask=labels", {"labelz": {}}, "labelz")):
        status, error = refused(lonely, "PATCH", f"{JOBS}/tagged?{query}", body)
        assert (status, error["status"]) == (400, "INVALID_ARGUMENT"), (query, error)
        assert says in str(error), (query, error)
    # It survives a restart: stored before it was answered.
    lonely.request("PATCH", f"{JOBS}/tagged?updateMask=labels", {"labels": {"kept": "yes"}})
    lonely.stop()
    lonely.start_master()
    assert lonely.job("tagged")["labels"] == {"kept": "yes"}
    assert listed(lonely, "labels.kept:yes") == ["tagged"]


def test_unimplemented_methods_are_501(lonely):
    lonely.request("POST", JOBS, queued("j1"))
    for method, path in (("PUT", f"{JOBS}/j1"), ("DELETE", f"{JOBS}/j1"),
                         ("DELETE", JOBS), ("PATCH", JOBS)):
        status, error = refused(lonely, method, path, {} if method != "DELETE" else None)
        assert (status, error["status"]) == (501, "UNIMPLEMENTED"), (method, path, error)
    # A PATCH, like a POST, must be JSON (a page's form cannot send it).
    req = urllib.request.Request(f"{lonely.url}{JOBS}/j1?updateMask=labels", data=b"labels=x",
                                 method="PATCH", headers={"Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(req, timeout=10)
    assert raised.value.code == 400


def test_trial_states_use_the_job_state_enum(tmp_path):
    c = Cluster(tmp_path)
    c.start_master()
    c.start_agent("a1", cpus=1)
    try:
        c.submit("states", synthetic_job(max_trials=3, parallel=1,
                                         extra_args=["--steps=20", "--sleep=0.05"]))
        seen = set()
        while True:
            job = c.job("states")
            for trial in job["trainingOutput"].get("trials", []):
                seen.add((trial["state"], trial["hptState"]))
            if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
        enum = {"QUEUED", "PREPARING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING",
                "CANCELLED"}
        assert {state for state, _ in seen} <= enum, seen
        assert ("SUCCEEDED", "SUCCEEDED") in seen
        mapping = {"PENDING": "QUEUED", "PROVISIONING": "PREPARING", "RUNNING": "RUNNING",
                   "STOPPING": "RUNNING", "SUCCEEDED": "SUCCEEDED"}
        assert all(mapping[own] == state for state, own in seen), seen
    finally:
        c.stop()
