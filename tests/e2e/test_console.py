"""test_console.py — the web console in headless Chromium (tests/console/driver.js, driven
through puppeteer-core) against a real ferryd, a real nginx-rtmp and an ffmpeg publisher:
sign-in (a bad token is refused with a clear error, the token stays out of localStorage
and cookies), a live task created from the page's form goes running and reaches nginx, is
paused from its page, whose history, callbacks and audit trail show, edited (a refused value
shown beside its field), resumed and deleted from the page; the security headers;
screenshots kept under tests/artifacts/console/."""

import json
import os
import subprocess
import threading
import urllib.request

import pytest

from conftest import ALICE_TOKEN
from harness import iso, whole_seconds_from_now

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CONSOLE_DIR = os.path.join(REPO, "tests", "console")
ARTIFACTS = os.path.join(REPO, "tests", "artifacts", "console")
CHROMIUM = "/usr/bin/chromium"
KEY = "consolekey0123456"  # the destination's stream key: masked until clicked
_install_lock = threading.Lock()


def ensure_packages():
    """npm ci in tests/console unless puppeteer-core is there; the lock file pins it."""
    with _install_lock:
        if os.path.isdir(os.path.join(CONSOLE_DIR, "node_modules", "puppeteer-core")):
            return
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONSOLE_DIR,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("npm ci in tests/console failed:\n" + r.stdout[-2000:] +
                               r.stderr[-4000:])


class Browser:
    """One driver.js process: a JSON command a line in, a JSON answer a line out."""

    def __init__(self, port, logpath):
        env = dict(os.environ, CONSOLE_BASE="http://127.0.0.1:%d" % port, CHROMIUM=CHROMIUM)
        self.log = open(logpath, "w")
        self.proc = subprocess.Popen(["node", os.path.join(CONSOLE_DIR, "driver.js")],
                                     cwd=CONSOLE_DIR, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)

    def do(self, op, **args):
        self.proc.stdin.write(json.dumps(dict(args, op=op)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "driver.js ended (see %s)" % self.log.name
        answer = json.loads(line)
        assert answer["ok"], "%s: %s" % (op, answer.get("error"))
        return answer

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def browser(ferryd, tmp_path):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail("chromium is missing: scripts/deps.sh test installs it")
    ensure_packages()
    b = Browser(ferryd.port, str(tmp_path / "driver.log"))
    yield b
    b.close()


def artifact(name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.join(ARTIFACTS, name)


def test_console_headers(ferryd):
    """The pages need no token and carry the security headers; /console redirects."""
    base = "http://127.0.0.1:%d" % ferryd.port
    r = urllib.request.urlopen(base + "/console/")
    h = r.headers
    assert r.status == 200 and h["Content-Type"].startswith("text/html")
    csp = h["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Cache-Control"] == "no-cache" and h["ETag"]
    js = urllib.request.urlopen(base + "/console/console.js")
    assert js.headers["Content-Type"].startswith("text/javascript")
    assert b"sessionStorage" in js.read()
    css = urllib.request.urlopen(base + "/console/console.css")
    assert css.headers["Content-Type"].startswith("text/css")
    req = urllib.request.Request(base + "/console/console.css",
                                 headers={"If-None-Match": css.headers["ETag"]})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 304
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(base + "/console/nothing.js")
    assert e.value.code == 404


def test_console_relay(ferryd, nginx, publisher, browser, api):
    publisher("cam")
    page = browser.do("open")
    assert page["status"] == 200 and page["url"].endswith("/console/")
    assert page["redirects"] == [301]
    assert "script-src 'self'" in page["headers"]["content-security-policy"]

    bad = browser.do("login", token="not-the-token")
    assert not bad["signed_in"]
    assert "does not know this token" in bad["error"]
    good = browser.do("login", token=ALICE_TOKEN)
    assert good["signed_in"], good
    st = browser.do("storage")
    assert ALICE_TOKEN not in json.dumps(st["local"]), st
    assert ALICE_TOKEN not in st["cookie"] and not st["cookies"], st
    assert ALICE_TOKEN in st["session"].values()  # this tab's session only

    start = whole_seconds_from_now(1)
    fields = {"id": "lobby-cam", "name": "lobby", "source_type": "live",
              "source_urls": nginx.url("src", "cam"),
              "destination": "ftp://127.0.0.1/dst/" + KEY,
              "start_time": iso(start), "end_time": iso(start + 600),
              "retry_count": "10", "retry_interval": "1",
              "callback_url": "http://127.0.0.1:9/hook"}  # nobody answers: events wait
    refused = browser.do("create", fields=fields)
    assert refused["id"] is None
    assert "destination" in refused["errors"], refused  # beside the field it names
    fields["destination"] = nginx.url("dst", KEY)
    made = browser.do("create", fields=fields)
    tid = made["id"]
    assert tid, made

    row = browser.do("wait_row", id=tid, state="running", timeout=30000)["cells"]
    nginx.wait_published("dst", KEY)
    assert KEY not in " ".join(row), row  # the key is masked in the list
    assert row[4] == "main", row  # source role
    shown = browser.do("reveal", id=tid)
    assert KEY not in shown["before"] and shown["after"].endswith(KEY), shown
    path = browser.do("screenshot", path=artifact("task-list.png"), hash="#/")["path"]
    print("console screenshot: %s" % path)
    readme_shot = os.environ.get("FERRY_CONSOLE_README_SHOT")
    if readme_shot:  # docs/console.png is made this way
        browser.do("screenshot", path=os.path.abspath(readme_shot), hash="#/", height=240)

    browser.do("action", id=tid, action="pause", state="paused")
    assert api.task(tid)["state"] == "paused"
    browser.do("wait_row", id=tid, state="paused")
    nginx.wait_published("dst", KEY, published=False)

    tp = browser.do("task_page", id=tid)
    reasons = [h[3] for h in tp["history"]]
    assert "Created" in reasons and "Paused" in reasons, tp["history"]
    actions = [a[1] for a in tp["audit"]]
    assert "create" in actions and "pause" in actions, tp["audit"]
    states = {c[3] for c in tp["callbacks"]}
    assert states & {"pending", "dead"}, tp["callbacks"]  # task_start waits in the outbox
    assert KEY not in tp["fields"]
    path = browser.do("screenshot", path=artifact("task-page.png"))["path"]
    print("console screenshot: %s" % path)

    bad_edit = browser.do("edit", id=tid, fields={"retry_interval": "soon"})
    assert not bad_edit["saved"] and "retry_interval" in bad_edit["errors"], bad_edit
    assert browser.do("edit", id=tid, fields={"name": "lobby west", "retry_interval": "2"})["saved"]
    t = api.task(tid)
    assert t["name"] == "lobby west" and t["retry_interval"] == 2 and t["paused"]
    browser.do("action", id=tid, action="resume", state="running")
    browser.do("remove", id=tid)
    status, _ = api.get("/v1/tasks/" + tid)
    assert status == 404

    out = browser.do("sign_out")
    assert out["session"] == []
    assert browser.do("problems")["problems"] == []


def test_callbacks_endpoint(ferryd, api, bob):
    """GET /v1/tasks/{id}/callbacks: the outbox events of the task, account-scoped."""
    start = whole_seconds_from_now(3600)
    t = api.create_task(name="cb", source_type="live",
                        source_urls=["rtmp://127.0.0.1:9/src/none"],
                        destination="rtmp://127.0.0.1:9/dst/none", start_time=iso(start),
                        end_time=iso(start + 600), callback_url="http://127.0.0.1:9/hook")
    api.post("/v1/tasks/%s/pause" % t["id"])  # a change that makes an event
    status, doc = api.get("/v1/tasks/%s/callbacks" % t["id"])
    assert status == 200 and isinstance(doc["callbacks"], list)
    for c in doc["callbacks"]:
        assert c["state"] in ("pending", "dead") and c["type"] and c["created_at"]
        assert ("next_try_at" if c["state"] == "pending" else "dead_at") in c
    status, doc = bob.get("/v1/tasks/%s/callbacks" % t["id"])
    assert status == 404 and doc["error"]["field"] == "id"
