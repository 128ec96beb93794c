"""The web console in a real browser (docs/console.md): Debian's headless
Chromium driven by Selenium against a real master and agent, with users
(so the sign-in form is on). One browser and one cluster for the module,
its tests run in file order on the same browser (signed in by the first):
 - sign-in with a token; the jobs page lists the jobs;
 - the job page's trials table has one row per trial with the objectives
   the API gives; a filter on a metric and on a parameter narrows it;
   brushing a parallel-coordinates axis (a real mouse drag) narrows it;
 - a trial that ends while the job page is open appears without reload;
 - the trial page shows the trial's log tail;
 - a viewer sees no env values and no cancel or drain buttons;
 - the browser's console logged no error on any page.
Screenshots go to HPT_SCREENSHOT_DIR (default: the test's tmp directory);
docs/console/*.png are copies from a run of this test."""
import json
import os
import pathlib
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from hpt_harness import BIN, Cluster, synthetic_job, wait_for

SECRET = "console-secret-value-77"
PARAMS = [
    {"parameterName": "lr", "type": "DOUBLE", "minValue": 0.0001, "maxValue": 1,
     "scaleType": "UNIT_LOG_SCALE"},
    {"parameterName": "opt", "type": "CATEGORICAL", "categoricalValues": ["adam", "sgd", "rmsprop"]},
    {"parameterName": "layers", "type": "INTEGER", "minValue": 1, "maxValue": 8},
]


def add_user(cluster, name, role):
    out = subprocess.run([str(BIN / "hptmaster"), "users", "add", name, "--role", role,
                          "--cluster", str(cluster.config)], check=True, capture_output=True,
                         text=True).stdout
    return out.strip().splitlines()[-1]


def call(cluster, method, path, token, body=None):
    req = urllib.request.Request(f"{cluster.url}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=15) as resp:
        return json.loads(resp.read().decode())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    cluster = Cluster(tmp)
    cluster.start_master()
    cluster.start_agent("gpu-host-1", cpus=4)
    cluster.tokens = {role: add_user(cluster, name, role)
                      for name, role in (("root", "admin"), ("alice", "user"), ("vic", "viewer"))}
    alice = cluster.tokens["user"]
    spec = synthetic_job(max_trials=9, parallel=3, params=PARAMS,
                         extra_args=["--steps=8", "--target=lr:0.01,layers:4"],
                         enableTrialEarlyStopping=True, goal="MAXIMIZE",
                         hyperparameterMetricTag="accuracy")
    spec["env"] = {"DB_PASSWORD": SECRET}
    call(cluster, "POST", "/v1/projects/default/jobs", alice,
         {"jobId": "sweep", "trainingInput": spec, "labels": {"team": "vision"}})
    wait_for(lambda: call(cluster, "GET", "/v1/projects/default/jobs/sweep", alice)["state"]
             == "SUCCEEDED", timeout=90, interval=0.2, what="job sweep done")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--lang=en-US"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    driver.shots = pathlib.Path(os.environ.get("HPT_SCREENSHOT_DIR")
                                or tmp_path_factory.mktemp("screenshots"))
    driver.shots.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def until(driver, predicate, what, timeout=20):
    """predicate(driver) once truthy (an element the page redrew meanwhile
    counts as not yet); the page's banner and log in the failure."""
    def attempt():
        try:
            return predicate(driver)
        except StaleElementReferenceException:  # the live page redrew it
            return None
    try:
        return wait_for(attempt, timeout=timeout, interval=0.1, what=what)
    except AssertionError:
        banner = driver.find_elements(By.ID, "banner")
        raise AssertionError(f"{what}: banner {[b.text for b in banner]}; "
                             f"log {driver.get_log('browser')}") from None


def shown(driver, css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found and found[0].is_displayed() else None


def no_console_errors(driver, expected=()):
    """No error in the browser's console since the last call: script
    errors, CSP refusals, failed loads; expected: (URL part, status) of
    requests the test made fail on purpose (Chrome logs each as an error)."""
    def planned(entry):
        return entry["source"] == "network" and any(
            url in entry["message"] and f"status of {status}" in entry["message"]
            for url, status in expected)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and not planned(e)]
    assert not errors, errors


def sign_in(driver, site, token):
    driver.delete_all_cookies()
    driver.get(f"{site.url}/")
    field = until(driver, lambda d: shown(d, "#token"), "the sign-in form")
    field.send_keys(token)
    driver.find_element(By.ID, "signin-submit").click()
    until(driver, lambda d: shown(d, "#jobs-table"), "the jobs page after sign-in")


def table_rows(driver):
    """{trial id: {column key: cell}} of the trials table: a number's
    exact value (its title), else the text shown."""
    keys = [th.get_attribute("data-key")
            for th in driver.find_elements(By.CSS_SELECTOR, "#trials-table thead th")]
    rows = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, "#trials-table tbody tr"):
        cells = [td.get_attribute("title") or td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        rows[int(tr.get_attribute("data-trial"))] = dict(zip(keys, cells))
    return rows


def open_job(driver, site, job):
    driver.get(f"{site.url}/#/jobs/{job}")
    until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#trials-table tbody tr")),
          f"the trials table of {job}")


def set_filter(driver, key, **bounds):
    Select(driver.find_element(By.ID, "filter-add")).select_by_value(key)
    chip = until(driver, lambda d: shown(d, f'.filter[data-key="{key}"]'), f"filter on {key}")
    for name, value in bounds.items():
        field = chip.find_element(By.CSS_SELECTOR, f"input.{name}")
        field.clear()
        field.send_keys(str(value), Keys.TAB)
        chip = until(driver, lambda d: shown(d, f'.filter[data-key="{key}"]'), f"filter on {key}")


def test_sign_in_and_jobs_page(site, browser):
    browser.get(f"{site.url}/")
    until(browser, lambda d: shown(d, "#signin"), "the sign-in form")
    browser.find_element(By.ID, "token").send_keys("hpt_not-a-real-token")
    browser.find_element(By.ID, "signin-submit").click()
    until(browser, lambda d: d.find_element(By.ID, "signin-error").text, "a refused sign-in")
    assert not shown(browser, "#jobs-table")
    sign_in(browser, site, site.tokens["user"])
    session = [c for c in browser.get_cookies() if c["name"].startswith("hpt")]
    assert session and all(c["httpOnly"] for c in session), browser.get_cookies()
    assert "alice (user)" in browser.find_element(By.ID, "who").text
    row = until(browser, lambda d: shown(d, '#jobs-table tr[data-job="sweep"]'), "job sweep listed")
    assert "SUCCEEDED" in row.text and "9 / 9" in row.text and "team=vision" in row.text
    assert "alice" in row.text
    browser.save_screenshot(str(browser.shots / "jobs.png"))
    # The filter is the API's language: a match, a miss, a bad one.
    field = browser.find_element(By.ID, "jobs-filter")
    field.clear()
    field.send_keys("state=RUNNING", Keys.ENTER)
    until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, '#jobs-table tr[data-job]'),
          "filter state=RUNNING hides sweep")
    field = browser.find_element(By.ID, "jobs-filter")
    field.clear()
    field.send_keys("labels.team=vision", Keys.ENTER)
    until(browser, lambda d: shown(d, '#jobs-table tr[data-job="sweep"]'), "filter on a label")
    field = browser.find_element(By.ID, "jobs-filter")
    field.clear()
    field.send_keys("nosuchfield=1", Keys.ENTER)
    until(browser, lambda d: d.find_element(By.ID, "jobs-filter-error").text, "a bad filter's error")
    no_console_errors(browser, expected=[("/v1/auth/session", 400), ("/v1/auth/session", 401),
                                         ("/jobs?", 400)])


def test_job_page_table_filters_and_brush(site, browser):
    job = call(site, "GET", "/v1/projects/default/jobs/sweep", site.tokens["user"])
    trials = {int(t["trialId"]): t for t in job["trainingOutput"]["trials"]}
    open_job(browser, site, "sweep")
    rows = until(browser, lambda d: (lambda r: r if len(r) == len(trials) else None)(table_rows(d)),
                 "one row per trial")
    for tid, trial in trials.items():
        want = trial["finalMetric"]["objectiveValue"]
        assert float(rows[tid]["objective"]) == pytest.approx(want, rel=1e-12), (tid, rows[tid])
        assert rows[tid]["param:opt"] == trial["hyperparameters"]["opt"]
    # Sorting on the objective puts the best first (MAXIMIZE: descending).
    header = browser.find_element(By.CSS_SELECTOR, '#trials-table th[data-key="objective"]')
    header.click()
    browser.find_element(By.CSS_SELECTOR, '#trials-table th[data-key="objective"]').click()
    first = browser.find_element(By.CSS_SELECTOR, "#trials-table tbody tr").get_attribute("data-trial")
    assert int(first) == int(job["trainingOutput"]["hptBestTrial"]["trialId"])
    browser.save_screenshot(str(browser.shots / "job.png"))

    # A metric filter: objective at least the median.
    values = sorted(t["finalMetric"]["objectiveValue"] for t in trials.values())
    cut = values[len(values) // 2]
    set_filter(browser, "objective", min=repr(cut))
    want = {tid for tid, t in trials.items() if t["finalMetric"]["objectiveValue"] >= cut}
    until(browser, lambda d: set(table_rows(d)) == want, f"objective filter keeps {want}")
    # The table's filter shows on the parallel coordinates' objective axis.
    shown_on_axis = browser.execute_script(
        "const c = echarts.getInstanceByDom(document.getElementById('chart-parallel'));"
        "const axis = c.getModel().findComponents({mainType: 'parallelAxis',"
        "  query: {parallelAxisId: 'axis:objective'}})[0];"
        "return axis.activeIntervals;")
    assert len(shown_on_axis) == 1 and shown_on_axis[0][0] == pytest.approx(cut), shown_on_axis
    # And a parameter filter on top: the categorical keeps one value.
    Select(browser.find_element(By.ID, "filter-add")).select_by_value("param:opt")
    chip = until(browser, lambda d: shown(d, '.filter[data-key="param:opt"]'), "opt filter")
    for value in ("sgd", "rmsprop"):  # each click redraws the filter
        browser.find_element(By.CSS_SELECTOR, f'.filter[data-key="param:opt"] input[value="{value}"]').click()
    want2 = {tid for tid in want if trials[tid]["hyperparameters"]["opt"] == "adam"}
    until(browser, lambda d: set(table_rows(d)) == want2, f"objective and opt filters keep {want2}")
    browser.find_element(By.ID, "filter-clear").click()
    until(browser, lambda d: len(table_rows(d)) == len(trials), "clearing the filters")

    # Brush the parallel coordinates' layers axis (a real drag) over 1..3.
    canvas = browser.find_element(By.CSS_SELECTOR, "#chart-parallel canvas")
    point = lambda v: browser.execute_script(  # noqa: E731
        "const c = echarts.getInstanceByDom(document.getElementById('chart-parallel'));"
        "const ps = c.getModel().getComponent('parallel').coordinateSystem;"
        "return ps.dataToPoint(arguments[0], 'dim2');", v)
    (x0, y0), (_, y1) = point(3.4), point(0.6)
    width, height = canvas.size["width"], canvas.size["height"]
    ActionChains(browser).move_to_element_with_offset(canvas, x0 - width / 2, y0 - height / 2) \
        .click_and_hold().move_by_offset(0, (y1 - y0) / 2).move_by_offset(0, (y1 - y0) / 2) \
        .release().perform()
    want3 = {tid for tid, t in trials.items() if 1 <= float(t["hyperparameters"]["layers"]) <= 3}
    until(browser, lambda d: set(table_rows(d)) == want3, f"the brush on layers keeps {want3}")
    chip = shown(browser, '.filter[data-key="param:layers"]')
    assert chip, "the brush shows as the table's filter"
    browser.save_screenshot(str(browser.shots / "job-brushed.png"))
    # The history, curves, importance and slice charts drew something.
    for name in ("history", "curves", "importance", "slice"):
        series = browser.execute_script(
            "const c = echarts.getInstanceByDom(document.getElementById(arguments[0]));"
            "return c.getOption().series.map(s => (s.data || []).length);", f"chart-{name}")
        assert sum(series) > 0, (name, series)
    no_console_errors(browser)


def test_trial_page_shows_log_tail(site, browser):
    job = call(site, "GET", "/v1/projects/default/jobs/sweep", site.tokens["user"])
    best = job["trainingOutput"]["hptBestTrial"]["trialId"]
    browser.find_element(By.ID, "filter-clear").click()
    until(browser, lambda d: shown(d, f'#trials-table tr[data-trial="{best}"] a'), "the best trial's row") \
        .click()
    log = until(browser, lambda d: shown(d, "#trial-log"), "the trial page")
    until(browser, lambda d: "step 8" in d.find_element(By.ID, "trial-log").text, "the log tail")
    assert "accuracy" in browser.find_element(By.ID, "trial-finals").text
    assert "gpu-host-1" in browser.find_element(By.ID, "trial-tasks").text
    assert log.is_displayed()
    browser.execute_script("document.getElementById('trial-cluster').scrollIntoView()")
    browser.save_screenshot(str(browser.shots / "trial.png"))
    no_console_errors(browser)


def test_live_trial_appears_without_reload(site, browser):
    alice = site.tokens["user"]
    spec = synthetic_job(max_trials=2, parallel=1, extra_args=["--steps=6", "--sleep=0.4"])
    call(site, "POST", "/v1/projects/default/jobs", alice, {"jobId": "live", "trainingInput": spec})
    wait_for(lambda: call(site, "GET", "/v1/projects/default/jobs/live", alice)
             ["trainingOutput"].get("trials"), timeout=30, what="the live job's first trial")
    open_job(browser, site, "live")
    marker = browser.execute_script("window.hptNoReload = 1; return window.hptNoReload;")
    assert marker == 1
    until(browser, lambda d: (lambda r: r.get(1, {}).get("state") == "SUCCEEDED")(table_rows(d)),
          "trial 1 ends on the open page", timeout=40)
    until(browser, lambda d: (lambda r: r.get(2, {}).get("state") == "SUCCEEDED")(table_rows(d)),
          "trial 2 appears and ends on the open page", timeout=40)
    assert browser.execute_script("return window.hptNoReload;") == 1, "the page was reloaded"
    no_console_errors(browser)


def test_viewer_sees_no_env_values_and_no_buttons(site, browser):
    admin, alice = site.tokens["admin"], site.tokens["user"]
    spec = synthetic_job(max_trials=1, parallel=1, extra_args=["--steps=300", "--sleep=0.1"])
    spec["env"] = {"DB_PASSWORD": SECRET}
    call(site, "POST", "/v1/projects/default/jobs", alice, {"jobId": "long", "trainingInput": spec})
    sign_in(browser, site, admin)
    open_job(browser, site, "long")
    until(browser, lambda d: shown(d, "#job-cancel"), "an admin's cancel button on a running job")
    browser.get(f"{site.url}/#/nodes")
    row = until(browser, lambda d: shown(d, '#nodes-table tr[data-node="gpu-host-1"]'), "nodes page")
    assert row.find_elements(By.CSS_SELECTOR, 'button[data-action="drain"]'), "admin sees drain"
    browser.save_screenshot(str(browser.shots / "nodes.png"))
    open_job(browser, site, "sweep")
    browser.find_element(By.CSS_SELECTOR, "#job-summary details summary").click()
    assert SECRET in browser.find_element(By.ID, "job-config").text, "an admin sees env values"

    browser.find_element(By.ID, "sign-out").click()
    until(browser, lambda d: shown(d, "#signin"), "signed out")
    sign_in(browser, site, site.tokens["viewer"])
    assert "vic (viewer)" in browser.find_element(By.ID, "who").text
    open_job(browser, site, "sweep")
    assert SECRET not in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "#job-summary details summary").click()
    assert "DB_PASSWORD (value hidden)" in browser.find_element(By.ID, "job-config").text
    open_job(browser, site, "long")
    assert "RUNNING" in browser.find_element(By.ID, "job-summary").text
    assert not browser.find_elements(By.ID, "job-cancel"), "a viewer's cancel would be 403"
    assert SECRET not in browser.page_source
    browser.get(f"{site.url}/#/nodes")
    row = until(browser, lambda d: shown(d, '#nodes-table tr[data-node="gpu-host-1"]'), "nodes page")
    assert not browser.find_elements(By.CSS_SELECTOR, "#nodes-table button")
    no_console_errors(browser)
    call(site, "POST", "/v1/projects/default/jobs/long:cancel", alice, {})


def raw(site, method, path, headers=None, body=None):
    """(status, headers, parsed body) of one request with exactly these headers."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{site.url}{path}", data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            text = resp.read().decode()
            return resp.status, resp.headers, json.loads(text) if text.startswith("{") else text
    except urllib.error.HTTPError as err:
        text = err.read().decode()
        return err.code, err.headers, json.loads(text) if text.startswith("{") else text


def test_session_cookie_csrf_and_etag(site):
    """The server side the console relies on, without a browser: the
    session cookie's flags, a cookie-made change only from the master's
    own origin, sign-out, and the Job's ETag with 304."""
    json_type = {"Content-Type": "application/json"}
    status, headers, body = raw(site, "POST", "/v1/auth/session", json_type,
                                {"token": site.tokens["user"]})
    assert status == 200 and body["name"] == "alice", body
    cookie_line = headers["Set-Cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/"):
        assert flag in cookie_line, cookie_line
    assert "Secure" not in cookie_line  # plain HTTP here; test_tls has HTTPS
    cookie = {"Cookie": cookie_line.split(";")[0]}
    assert raw(site, "GET", "/v1/auth/session", cookie)[2] == {
        "name": "alice", "role": "user", "session": True}
    assert raw(site, "GET", "/v1/auth/session")[2]["signInRequired"] is True
    # A change with the cookie: refused from another origin or none, and
    # let through (to the job's own answer) from the master's own.
    cancel = "/v1/projects/default/jobs/sweep:cancel"
    own = f"http://127.0.0.1:{site.api_port}"
    for origin in ({"Origin": "http://evil.example"}, {}):
        status, _, body = raw(site, "POST", cancel, {**json_type, **cookie, **origin}, {})
        assert status == 403, (origin, body)
    status, _, body = raw(site, "POST", cancel, {**json_type, **cookie, "Origin": own}, {})
    assert status == 400 and body["error"]["status"] == "FAILED_PRECONDITION", body
    # The Job's ETag: 304 while unchanged, 200 with a new one after a change.
    path = "/v1/projects/default/jobs/sweep"
    status, headers, job = raw(site, "GET", path, cookie)
    etag = headers["ETag"]
    assert status == 200 and etag
    assert raw(site, "GET", path, {**cookie, "If-None-Match": etag})[0] == 304
    patch = {"labels": {"team": "vision", "seen": "yes"}}
    assert raw(site, "PATCH", f"{path}?updateMask=labels",
               {**json_type, **cookie, "Origin": own}, patch)[0] == 200
    status, headers, _ = raw(site, "GET", path, {**cookie, "If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
    # Signing out ends the session; the token still works.
    assert raw(site, "DELETE", "/v1/auth/session", {**cookie, "Origin": own})[0] == 200
    assert raw(site, "GET", path, cookie)[0] == 401
    assert raw(site, "GET", path, {"Authorization": f"Bearer {site.tokens['user']}"})[0] == 200
