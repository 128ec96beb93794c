"""What a hostile job or trainer could do to an agent's host, and what
stops it (docs/security.md, "Tasks"):

- a workingDir that could never stay beneath the agent's --workdir is
  refused at submission (it used to pass and fail every trial at launch);
"""
import pytest

from hpt_harness import ApiError, Cluster, synthetic_job


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("isolation"))
    c.start_master()
    c.start_agent("a1", cpus=2)
    yield c
    c.stop()


@pytest.mark.parametrize("working_dir, why", [
    ("/etc", "must be a relative path"),
    ("jobs/../../..", "must not contain a '..' component"),
    ("a\tb", "must not contain control characters"),
    ("d" * 1025, "longer than 1024 bytes"),
])
def test_working_dir_refused_at_submission(cluster, working_dir, why):
    spec = synthetic_job(max_trials=1, parallel=1)
    spec["workingDir"] = working_dir
    with pytest.raises(ApiError) as refused:
        cluster.submit("wd", spec)
    assert refused.value.status == 400, refused.value.body
    violations = refused.value.body["error"]["details"][0]["fieldViolations"]
    assert [v["field"] for v in violations] == ["/trainingInput/workingDir"], violations
    assert why in violations[0]["description"], violations
