"""Google's own Python client for the `ml` v1 API (Debian's
python3-googleapi), built from the discovery document in
tests/data/discovery/ and pointed at a real hptmaster, drives
projects.jobs.{create,get,list,cancel,patch} and meets hpt's errors as its
HttpError (docs/interfaces.md, "Google's client").

Every answer the client receives is checked against the document's
schemas (check_response): each member must be declared with its type and,
for enums, one of its values; hpt's own members must start with `hpt` or
be one of EXTENSIONS, each documented where EXTENSIONS says. A trial state
outside the job-state enum, an int64 written as a number or an undeclared
member fails the test that received it. Errors must have Google's shape:
code, the google.rpc status name that goes with the HTTP code, message,
details with their @type, and field violations named by Google's field
paths."""
import base64
import json
import pathlib
import re
import tarfile
import time

import httplib2
import pytest
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from hpt_harness import SRC, Cluster

DOCUMENT = SRC / "tests" / "data" / "discovery" / "ml-v1-jobs.json"
PROJECT = "projects/default"
JOB_STATES = ("QUEUED", "PREPARING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLING",
              "CANCELLED")
ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")

# hpt's members of Google's resources whose names do not start with `hpt`,
# and the document that describes each. Anything else undeclared fails.
EXTENSIONS = {
    ("GoogleCloudMlV1__Job", "createdBy"): "docs/security.md",
    ("GoogleCloudMlV1__TrainingInput", "command"): "docs/job-config.md",
    ("GoogleCloudMlV1__TrainingInput", "env"): "docs/job-config.md",
    ("GoogleCloudMlV1__TrainingInput", "runAs"): "docs/job-config.md",
    ("GoogleCloudMlV1__TrainingInput", "workingDir"): "docs/job-config.md",
    ("GoogleCloudMlV1__TrainingInput", "metricCollector"): "docs/job-config.md",
    ("GoogleCloudMlV1__HyperparameterSpec", "earlyStopping"): "docs/job-config.md",
    ("GoogleCloudMlV1__HyperparameterOutput", "errorMessage"): "README.md",
}

# google.rpc.Code names and the HTTP status Google maps each to.
RPC_STATUS = {
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409,
    "ABORTED": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "UNKNOWN": 500,
    "INTERNAL": 500, "DATA_LOSS": 500, "UNIMPLEMENTED": 501, "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}

TRAINER = '''
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
time.sleep(float(args.get("sleep", "0")))
x = float(args["x"])
with open(os.environ["CLOUD_ML_HP_METRIC_FILE"], "w") as f:
    f.write(json.dumps({"timestamp": time.time(), "global_step": "1",
                        os.environ["CLOUD_ML_HP_METRIC_TAG"]: str(-(x - 1) ** 2)}) + "\\n")
'''

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
INT64 = re.compile(r"^-?\d+$")


# ---------------------------------------------------------------- the check

class Deviation(AssertionError):
    pass


def check_value(doc, value, spec, where, problems):
    """Appends to problems where value breaks spec (a discovery schema or
    property)."""
    if "$ref" in spec:
        check_object(doc, value, spec["$ref"], where, problems)
        return
    kind, fmt = spec.get("type"), spec.get("format")
    if kind == "string":
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string ({fmt or 'text'}), got {value!r}")
        elif fmt in ("int64", "uint64") and not INT64.match(value):
            problems.append(f"{where}: expected an int64 as a decimal string, got {value!r}")
        elif fmt == "google-datetime" and not RFC3339.match(value):
            problems.append(f"{where}: expected an RFC 3339 time, got {value!r}")
        elif fmt == "google-duration" and not DURATION.match(value):
            problems.append(f"{where}: expected a duration like '7200s', got {value!r}")
        elif fmt == "byte":
            try:
                base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
            except ValueError:
                problems.append(f"{where}: expected base64, got {value!r}")
        if "enum" in spec and value not in spec["enum"]:
            problems.append(f"{where}: {value!r} is not one of {spec['enum']}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: expected an integer, got {value!r}")
        elif fmt == "int32" and not -2**31 <= value < 2**31:
            problems.append(f"{where}: {value} is out of int32's range")
    elif kind == "number":
        if isinstance(value, bool) or not (isinstance(value, (int, float)) or
                                           value in ("NaN", "Infinity", "-Infinity")):
            problems.append(f"{where}: expected a number, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{where}: expected a boolean, got {value!r}")
    elif kind == "array":
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {value!r}")
        else:
            for i, item in enumerate(value):
                check_value(doc, item, spec["items"], f"{where}[{i}]", problems)
    elif kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object, got {value!r}")
        else:
            for key, item in value.items():
                check_value(doc, item, spec.get("additionalProperties", {"type": "any"}),
                            f"{where}.{key}", problems)
    elif kind != "any":
        problems.append(f"{where}: the document's type {kind!r} is not known to this check")


def check_object(doc, value, name, where, problems):
    schema = doc["schemas"][name]
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a {name} object, got {value!r}")
        return
    for key, item in value.items():
        if key in schema.get("properties", {}):
            check_value(doc, item, schema["properties"][key], f"{where}.{key}", problems)
        elif not key.startswith("hpt") and (name, key) not in EXTENSIONS:
            problems.append(f"{where}.{key}: not a member of {name} nor a documented extension")


def check_response(doc, method_id, body):
    """Raises Deviation unless body is the method's response schema."""
    problems = []
    check_object(doc, body, METHODS[method_id]["response"]["$ref"], method_id, problems)
    if problems:
        raise Deviation("\n".join(problems))


def check_error(err):
    """Raises Deviation unless err's body has Google's error shape."""
    try:
        error = json.loads(err.content)["error"]
    except (ValueError, KeyError, TypeError) as bad:
        raise Deviation(f"HTTP {err.resp.status}: not Google's error shape: {err.content!r}") \
            from bad
    problems = []
    if set(error) - {"code", "message", "status", "details"}:
        problems.append(f"unknown members {sorted(set(error))}")
    if error.get("code") != err.resp.status:
        problems.append(f"code {error.get('code')!r} is not the HTTP status {err.resp.status}")
    if RPC_STATUS.get(error.get("status")) != err.resp.status:
        problems.append(f"status {error.get('status')!r} does not go with {err.resp.status}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        problems.append(f"no message: {error!r}")
    for detail in error.get("details", []):
        if not isinstance(detail, dict) or not isinstance(detail.get("@type"), str):
            problems.append(f"a detail without @type: {detail!r}")
        elif detail["@type"] == "type.googleapis.com/google.rpc.BadRequest":
            for v in detail.get("fieldViolations", []):
                if not (isinstance(v.get("field"), str) and isinstance(v.get("description"), str)
                        and all(k in ("field", "description") or k.startswith("hpt")
                                for k in v)):
                    problems.append(f"a field violation out of shape: {v!r}")
    if problems:
        raise Deviation(f"HTTP {err.resp.status} {err.content!r}: " + "; ".join(problems))
    return error


# ---------------------------------------------------------------- the client

class CountingHttp(httplib2.Http):
    """Counts the answers the client gets, so a test can tell that every
    one of them was checked."""

    def __init__(self):
        super().__init__(timeout=20, proxy_info=None)
        self.answers = 0

    def request(self, *args, **kwargs):
        answer = super().request(*args, **kwargs)
        self.answers += 1
        return answer


class CheckedRequest(HttpRequest):
    """The client's request, whose answer (a resource or an HttpError) is
    checked against the document before the test sees it."""
    checked = 0

    def execute(self, http=None, num_retries=0):
        try:
            body = super().execute(http=http, num_retries=num_retries)
        except HttpError as err:
            check_error(err)
            CheckedRequest.checked += 1
            raise
        check_response(DOC, self.methodId, body)
        CheckedRequest.checked += 1
        return body


DOC = json.loads(DOCUMENT.read_text())
METHODS = {m["id"]: m for m in DOC["resources"]["projects"]["resources"]["jobs"]["methods"]
           .values()}


class Ml:
    """The client's projects.jobs resource (its methods are this object's),
    the trainer package and the counting http under it."""

    def __init__(self, jobs, package, http):
        self.jobs, self.package, self.http = jobs, package, http

    def __getattr__(self, name):
        return getattr(self.jobs, name)


@pytest.fixture(scope="module")
def ml(tmp_path_factory):
    """A master with one 2-CPU agent (no users: loopback needs no token),
    and the client built from the document with the master's URL as its
    root."""
    tmp = tmp_path_factory.mktemp("gclient")
    cluster = Cluster(tmp)
    cluster.start_master()
    cluster.start_agent("a1", cpus=2)
    http = CountingHttp()
    service = build_from_document(dict(DOC, rootUrl=cluster.url + "/"), http=http,
                                  requestBuilder=CheckedRequest)
    yield Ml(service.projects().jobs(), make_package(tmp), http)
    cluster.stop()


@pytest.fixture(autouse=True)
def every_answer_checked(request):
    """Each answer the client got in a test that uses it was checked."""
    if "ml" not in request.fixturenames:
        yield
        return
    ml = request.getfixturevalue("ml")
    before = (ml.http.answers, CheckedRequest.checked)
    yield
    answers, checked = ml.http.answers - before[0], CheckedRequest.checked - before[1]
    assert answers == checked > 0, (answers, checked)


def make_package(tmp):
    """A source distribution holding trainer/task.py, as gcloud builds it."""
    root = tmp / "pkg" / "trainer-0.1"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "task.py").write_text(TRAINER)
    archive = tmp / "trainer-0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="trainer-0.1")
    return archive


def tuning_job(ml, job_id, trials=2, parallel=1, module="trainer.task", args=(), labels=None):
    body = {"jobId": job_id, "trainingInput": {
        "scaleTier": "BASIC",
        "pythonModule": module,
        "packageUris": [f"file://{ml.package}"],
        "args": list(args),
        "hyperparameters": {
            "goal": "MAXIMIZE", "hyperparameterMetricTag": "score", "maxTrials": trials,
            "maxParallelTrials": parallel,
            "params": [{"parameterName": "x", "type": "DOUBLE", "minValue": 0, "maxValue": 2,
                        "scaleType": "UNIT_LINEAR_SCALE"}],
        },
    }}
    if labels:
        body["labels"] = labels
    return body


def get(ml, job_id):
    return ml.get(name=f"{PROJECT}/jobs/{job_id}").execute()


def wait(ml, job_id, states=ENDED, timeout=90):
    deadline = time.time() + timeout
    while True:
        job = get(ml, job_id)
        if job["state"] in states:
            return job
        assert time.time() < deadline, f"{job_id} still {job['state']}"
        time.sleep(0.1)


def refused(call):
    with pytest.raises(HttpError) as raised:
        call.execute()
    err = raised.value
    error = json.loads(err.content)["error"]
    assert error["message"] in str(err), "the client does not surface Google's message"
    return err.resp.status, error


def every_page(ml, **params):
    request = ml.list(parent=PROJECT, **params)
    pages = []
    while request is not None:
        page = request.execute()
        pages.append(page)
        request = ml.list_next(request, page)
    return [job["jobId"] for page in pages for job in page.get("jobs", [])], pages


# ---------------------------------------------------------------- the tests

def test_create_and_get_until_done(ml):
    created = ml.create(parent=PROJECT, body=tuning_job(ml, "census_1", trials=3)).execute()
    assert created["jobId"] == "census_1" and created["state"] in JOB_STATES
    assert created["etag"]
    job = wait(ml, "census_1")
    assert job["state"] == "SUCCEEDED", job
    out = job["trainingOutput"]
    assert out["isHyperparameterTuningJob"] and out["completedTrialCount"] == "3"
    assert out["hyperparameterMetricTag"] == "score"
    assert len(out["trials"]) == 3
    for trial in out["trials"]:
        assert trial["state"] == "SUCCEEDED"
        x = float(trial["hyperparameters"]["x"])
        assert trial["finalMetric"]["objectiveValue"] == pytest.approx(-(x - 1) ** 2)
        assert trial["finalMetric"]["trainingStep"] == "1"
    # Best first, as AI Platform orders them for a MAXIMIZE goal.
    values = [t["finalMetric"]["objectiveValue"] for t in out["trials"]]
    assert values == sorted(values, reverse=True)


def test_list_pages_and_the_documents_filters(ml):
    for job_id in ("census_2", "census_3", "rnn_1", "rnn_2"):
        module = "trainer.missing" if job_id == "rnn_1" else "trainer.task"
        ml.create(parent=PROJECT, body=tuning_job(ml, job_id, trials=1, module=module)).execute()
    assert wait(ml, "rnn_1")["state"] == "FAILED"
    assert wait(ml, "rnn_2")["state"] == "SUCCEEDED"
    everything, _ = every_page(ml)
    assert {"census_2", "census_3", "rnn_1", "rnn_2"} <= set(everything)
    # Pages of two, followed with the client's own list_next.
    paged, pages = every_page(ml, pageSize=2)
    assert paged == everything
    assert all(len(p["jobs"]) == 2 for p in pages[:-1]) and 1 <= len(pages[-1]["jobs"]) <= 2
    assert "nextPageToken" not in pages[-1] and len(pages) == (len(everything) + 1) // 2
    # The examples of the document's filter parameter.
    census, _ = every_page(ml, filter="jobId:census*", pageSize=1)
    assert census == [j for j in everything if j.startswith("census")]
    assert {"census_2", "census_3"} <= set(census)
    failed, _ = every_page(ml, filter="jobId:rnn* AND state:FAILED")
    assert failed == ["rnn_1"]
    # No match is an empty answer, as the document says.
    assert ml.list(parent=PROJECT, filter="jobId:nothing*").execute().get("jobs", []) == []


def test_cancel_a_running_job(ml):
    ml.create(parent=PROJECT,
              body=tuning_job(ml, "long_1", trials=2, parallel=2, args=["--sleep=120"])).execute()
    running = wait(ml, "long_1", states=("RUNNING",))
    assert any(t["state"] == "RUNNING" for t in running["trainingOutput"].get("trials", []))
    assert ml.cancel(name=f"{PROJECT}/jobs/long_1", body={}).execute() == {}
    job = wait(ml, "long_1")
    assert job["state"] == "CANCELLED", job
    assert all(t["state"] in ("CANCELLED", "SUCCEEDED", "FAILED")
               for t in job["trainingOutput"]["trials"]), job
    status, error = refused(ml.cancel(name=f"{PROJECT}/jobs/long_1", body={}))
    assert (status, error["status"]) == (400, "FAILED_PRECONDITION"), error


def test_patch_labels_with_etag(ml):
    ml.create(parent=PROJECT, body=tuning_job(ml, "tagged_1", labels={"team": "ads"})).execute()
    name = f"{PROJECT}/jobs/tagged_1"
    # A running job's etag moves with its trials: patch it once it ended,
    # so that only the patches below change it.
    read = wait(ml, "tagged_1")
    patched = ml.patch(name=name, updateMask="labels,etag",
                       body={"labels": {"owner": "google", "color": "blue"},
                             "etag": read["etag"]}).execute()
    assert patched["labels"] == {"owner": "google", "color": "blue"}
    assert patched["etag"] != read["etag"]
    # The etag read before the patch is stale now: 409 ABORTED, no change.
    status, error = refused(ml.patch(name=name, updateMask="labels,etag",
                                     body={"labels": {"team": "x"}, "etag": read["etag"]}))
    assert (status, error["status"]) == (409, "ABORTED"), error
    assert get(ml, "tagged_1")["labels"] == {"owner": "google", "color": "blue"}
    # Without etag in the mask the Job read may be sent back whole.
    whole = get(ml, "tagged_1")
    whole["labels"] = {"team": "ml"}
    assert ml.patch(name=name, updateMask="labels", body=whole).execute()["labels"] == \
        {"team": "ml"}


def test_errors_are_googles(ml):
    # A bad job: 400 with every problem as a field violation, named by
    # Google's field path, the JSON pointer beside it (hpt extension).
    bad = tuning_job(ml, "bad_1", labels={"Bad Key": "v"})
    bad["trainingInput"]["hyperparameters"]["params"][0]["maxValue"] = -1
    status, error = refused(ml.create(parent=PROJECT, body=bad))
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT"), error
    [detail] = error["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    violations = {v["field"]: v for v in detail["fieldViolations"]}
    assert set(violations) == {"training_input.hyperparameters.params[0].max_value",
                               "labels.`Bad Key`"}, violations
    max_value = violations["training_input.hyperparameters.params[0].max_value"]
    assert max_value["hptPointer"] == "/trainingInput/hyperparameters/params/0/maxValue"
    assert "greater than minValue" in max_value["description"]
    assert violations["labels.`Bad Key`"]["hptPointer"] == "/labels/Bad Key"
    # A missing job id is a violation too.
    anonymous = tuning_job(ml, "x")
    del anonymous["jobId"]
    status, error = refused(ml.create(parent=PROJECT, body=anonymous))
    assert [v["field"] for v in error["details"][0]["fieldViolations"]] == ["job_id"], error
    # No trainer (what `hpt validate` only notes: a gcloud config file may
    # leave it to the command line) is a violation at training_input.
    untrained = tuning_job(ml, "untrained_1")
    del untrained["trainingInput"]["pythonModule"], untrained["trainingInput"]["packageUris"]
    status, error = refused(ml.create(parent=PROJECT, body=untrained))
    [violation] = error["details"][0]["fieldViolations"]
    assert (status, violation["field"], violation["hptPointer"]) == \
        (400, "training_input", "/trainingInput"), error
    assert violation["description"].startswith("no trainer: set trainingInput.command"), error
    # Unknown job, taken id, bad page token.
    status, error = refused(ml.get(name=f"{PROJECT}/jobs/nope"))
    assert (status, error["status"]) == (404, "NOT_FOUND"), error
    ml.create(parent=PROJECT, body=tuning_job(ml, "dup_1")).execute()
    status, error = refused(ml.create(parent=PROJECT, body=tuning_job(ml, "dup_1")))
    assert (status, error["status"]) == (409, "ALREADY_EXISTS"), error
    status, error = refused(ml.list(parent=PROJECT, pageToken="not-a-token"))
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT") and "pageToken" in \
        error["message"], error
    # A method of the document that hpt does not have: 501.
    status, error = refused(ml.getIamPolicy(resource=f"{PROJECT}/jobs/dup_1"))
    assert (status, error["status"]) == (501, "UNIMPLEMENTED"), error
    wait(ml, "dup_1")


def test_the_check_catches_deviations():
    """check_response refuses what a drifting master could send."""
    trial = {"trialId": "1", "state": "PROVISIONING", "hptState": "PROVISIONING"}
    job = {"jobId": "j", "state": "RUNNING", "trainingOutput": {"trials": [trial]}}
    for broken, says in ((job, "'PROVISIONING' is not one of"),
                         ({"jobId": "j", "trainingOutput": {"completedTrialCount": 3}},
                          r"expected a string \(int64\)"),
                         ({"jobId": "j", "queueReason": "x"}, "nor a documented extension"),
                         ({"jobId": "j", "createTime": "yesterday"}, "RFC 3339")):
        with pytest.raises(Deviation, match=says):
            check_response(DOC, "ml.projects.jobs.get", broken)
    check_response(DOC, "ml.projects.jobs.get", {"jobId": "j", "hptQueueReason": "x"})


def test_extensions_are_documented():
    for (schema, member), where in EXTENSIONS.items():
        assert schema in DOC["schemas"]
        text = (SRC / where).read_text()
        assert re.search(rf"`[^`\n]*\b{member}\b[^`\n]*`", text), f"{member} is not in {where}"
