"""test_ferryctl.py — ferryctl, the command-line client, run as a user runs it against a real
ferryd, a real nginx-rtmp and an ffmpeg publisher: a live task created with flags goes
running while frames reach the destination, and is edited, paused, resumed, restarted,
listed, watched and removed; bodies from JSON files; errors that name the field and exit
with the documented codes; the token taken from flags, the environment and the data dir."""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import ALICE_TOKEN, FERRYD_SETTINGS
from harness import (SANITIZER_MARKERS, Api, Ferryd, default_binary, idle_task, iso,
                     redact_url, wait_value, whole_seconds_from_now)
from media import FileServer, make_clip

# The exit codes of `ferryctl --help` and docs/ferryctl.md.
OK, REFUSED, USAGE, UNREACHABLE, NOT_FOUND, SERVER, UNAUTHORIZED = range(7)
KEY = "streamkey0123"  # the destination's stream key; ls must not show it


def ferryctl_binary():
    """ferryctl from the same build dir as the ferryd under test."""
    return os.path.join(os.path.dirname(default_binary()), "ferryctl")


class Ctl:
    """Runs ferryctl against one ferryd: the address and token as flags unless a test asks
    for none; no FERRY_* variables from the caller's environment get in the way."""

    def __init__(self, port, token=ALICE_TOKEN):
        self.port = port
        self.token = token

    def run(self, *args, token="__default__", addr=True, env=None, cwd=None, stdin=None):
        token = self.token if token == "__default__" else token
        e = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        e.update(env or {})
        cmd = [ferryctl_binary(), *args]
        if addr:
            cmd += ["--addr", "127.0.0.1:%d" % self.port]
        if token:
            cmd += ["--token", token]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=e, cwd=cwd,
                           input=stdin)
        assert not any(m in r.stderr for m in SANITIZER_MARKERS), r.stderr
        return r

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == OK, "ferryctl %s: exit %d\n%s" % (args, r.returncode, r.stderr)
        return r.stdout

    def json(self, *args, **kw):
        return json.loads(self.ok(*args, "--json", **kw))

    def task(self, tid):
        return self.json("get", tid)


@pytest.fixture
def ctl(ferryd):
    assert os.path.exists(ferryctl_binary()), "ferryctl not built beside ferryd"
    return Ctl(ferryd.port)


def table_row(out, tid):
    """The cells of the ls table's row of tid (cells are separated by 2+ spaces)."""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATE", "SOURCE", "DESTINATION", "UPTIME",
                                "BITRATE", "FILE"], out
    for line in lines[1:]:
        if line.split()[0] == tid:
            return [c for c in line.split("  ") if c.strip()]
    raise AssertionError("no row %s in:\n%s" % (tid, out))


def wait_running(ctl, nginx, tid, timeout=20):
    """Until ls --json shows tid running with frames pushed and nginx takes them."""
    def listed():
        return next(t for t in ctl.json("ls")["tasks"] if t["id"] == tid)
    t = wait_value(listed, lambda t: t["state"] == "running" and t["progress"]["frames"] > 0,
                   timeout, what="%s running" % tid)
    before = nginx.bytes_in("dst", KEY)
    wait_value(lambda: nginx.bytes_in("dst", KEY), lambda b: b > before, 10,
               what="frames arriving at dst/%s" % KEY)
    return t


def test_live_task_through_ferryctl(ctl, api, nginx, publisher):
    publisher("cam")
    nginx.wait_published("src", "cam")
    dest = nginx.url("dst", KEY)
    out = ctl.ok("create", "--id", "cam-1", "--name", "lobby camera", "--source",
                 nginx.url("src", "cam"), "--dest", dest, "--start", "now", "--end", "+10m",
                 "--retry-count", "10", "--retry-interval", "1")
    assert out == "cam-1\n"

    t = wait_running(ctl, nginx, "cam-1")
    assert t["destination"] == dest and t["progress"]["active"]
    listed = ctl.ok("ls")
    row = table_row(listed, "cam-1")
    assert row[1:3] == ["lobby camera", "running"], row
    assert row[4] == redact_url(dest) and KEY not in listed
    assert row[5] != "-" and row[6].endswith(("kb/s", "Mb/s")) and row[7] == "main", row
    assert dest in ctl.ok("ls", "--show-keys")
    page = ctl.json("ls")
    assert page["total"] == 1 and page["tasks"][0]["id"] == "cam-1"

    t = ctl.json("edit", "cam-1", "--name", "renamed", "--comment", "edited by ferryctl")
    assert (t["name"], t["comment"]) == ("renamed", "edited by ferryctl")
    assert "renamed" in ctl.ok("get", "cam-1")

    assert ctl.ok("pause", "cam-1") == "cam-1 paused\n"
    assert ctl.task("cam-1")["state"] == "paused"
    nginx.wait_published("dst", KEY, published=False)
    assert ctl.ok("resume", "cam-1").startswith("cam-1 ")
    wait_running(ctl, nginx, "cam-1")
    assert ctl.ok("restart", "cam-1").startswith("cam-1 ")
    wait_running(ctl, nginx, "cam-1")

    history = ctl.ok("history", "cam-1")
    for reason in ("Created", "Modified", "Paused", "Resumed", "Running"):
        assert reason in history, history
    assert [h["reason"] for h in ctl.json("history", "cam-1")["history"]] == \
        [h["reason"] for h in api.history("cam-1")]
    events = [json.loads(line) for line in ctl.ok("events", "cam-1", "--json").splitlines()]
    assert events and all(e["task_id"] == "cam-1" for e in events)
    assert "cam-1  running -> paused  Paused" in ctl.ok("events", "cam-1")
    followed = ctl.ok("events", "cam-1", "--follow", "--count", "2", "--interval", "1")
    assert followed.count("  Created") == 1, followed  # each line once

    watched = ctl.ok("watch", "--count", "2", "--interval", "1")
    assert watched.count("ID  ") == 2 and watched.count("cam-1") == 2, watched
    docs = [json.loads(line) for line in
            ctl.ok("watch", "--count", "2", "--interval", "1", "--json").splitlines()]
    assert len(docs) == 2 and all(d["tasks"][0]["id"] == "cam-1" for d in docs)

    assert ctl.ok("rm", "cam-1") == "cam-1 deleted\n"
    assert ctl.json("ls")["total"] == 0
    r = ctl.run("get", "cam-1")
    assert r.returncode == NOT_FOUND and "id" in r.stderr


def test_playlist_shows_the_current_file(ctl, nginx, tmp_path):
    media = str(tmp_path / "media")
    os.makedirs(media)
    for name in ("a.mp4", "b.mp4"):
        make_clip(os.path.join(media, name), "320x240", 2)
    files = FileServer(media)
    try:
        tid = ctl.ok("create", "--type", "files", "--source", files.url("a.mp4"), "--source",
                     files.url("b.mp4"), "--dest", nginx.url("dst", KEY), "--start", "now",
                     "--end", "+10m", "--retry-count", "1", "--retry-interval", "1").strip()
        seen = set()

        def current_file():
            row = table_row(ctl.ok("ls"), tid)
            seen.add(row[7])
            return row
        row = wait_value(current_file, lambda r: "2/2 b.mp4" in seen and "1/2 a.mp4" in seen,
                         30, what="both files in the FILE column")
        assert row[3] == files.url("a.mp4") + " (+1)", row
        assert "current file" in ctl.ok("get", tid)
    finally:
        files.stop()


def test_watch_ends_on_ctrl_c(ctl):
    cmd = [ferryctl_binary(), "watch", "--interval", "1", "--addr", "127.0.0.1:%d" % ctl.port,
           "--token", ctl.token]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    assert p.returncode == OK and out.count("ID  ") >= 1, (p.returncode, out, err)


def test_list_pages_filter_and_stop(ctl, api):
    for i in range(105):  # more than one page of the API (100)
        api.create_task(**idle_task(id="t%03d" % i, name="batch" if i % 2 else "other"))
    page = ctl.json("ls")
    assert page["total"] == 105 and len({t["id"] for t in page["tasks"]}) == 105
    assert all("progress" in t for t in page["tasks"])
    assert len(ctl.json("ls", "-q", "batch")["tasks"]) == 52
    assert ctl.ok("stop", "t000", "t001") == "t000 offline\nt001 offline\n"
    assert [json.loads(line)["state"] for line in
            ctl.ok("stop", "t002", "--json").splitlines()] == ["offline"]


def test_create_from_json_file(ctl, api, tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps(idle_task(id="from-file", comment="a file")))
    assert ctl.ok("create", "-f", str(path)) == "from-file\n"
    t = api.task("from-file")
    assert (t["name"], t["comment"], t["state"]) == ("later", "a file", "idle")

    body = json.dumps(idle_task(id="from-stdin"))
    t = ctl.json("create", "-f", "-", "--name", "flag wins", "--loop", "2", stdin=body)
    assert (t["id"], t["name"], t["loop_count"]) == ("from-stdin", "flag wins", 2)

    patch = tmp_path / "patch.json"
    patch.write_text('{"comment": "patched", "retry_count": 5}')
    ctl.ok("edit", "from-stdin", "-f", str(patch))
    t = api.task("from-stdin")
    assert (t["comment"], t["retry_count"], t["name"]) == ("patched", 5, "flag wins")
    assert ctl.ok("rm", "from-file", "from-stdin").splitlines() == \
        ["from-file deleted", "from-stdin deleted"]

    # the audit trail shows each change, newest first, with the fields it touched
    rows = [r.split() for r in ctl.ok("audit", "from-stdin").splitlines()]
    assert rows[0][:5] == ["AT", "API", "ADDRESS", "ACTION", "TASK"], rows
    assert [(r[1], r[2], r[3], r[4]) for r in rows[1:]] == [
        ("native", "127.0.0.1", "delete", "from-stdin"),
        ("native", "127.0.0.1", "modify", "from-stdin"),
        ("native", "127.0.0.1", "create", "from-stdin")], rows
    assert sorted(rows[2][5].split(",")) == ["comment", "retry_count"], rows
    lines = ctl.json("audit")["audit"]
    assert {a["task_id"] for a in lines} == {"from-file", "from-stdin"}
    assert ctl.run("audit", "a", "b").returncode == USAGE


def test_bad_input_names_the_field_and_creates_nothing(ctl, api, tmp_path):
    start = whole_seconds_from_now(3600)
    common = ["--start", iso(start), "--end", iso(start + 600)]
    r = ctl.run("create", "--dest", "rtmp://127.0.0.1:9/dst/x", *common)
    assert r.returncode == REFUSED and r.stderr.startswith("ferryctl: source_urls: "), r.stderr
    r = ctl.run("create", "--source", "rtmp://127.0.0.1:9/src/x", "--dest", "http://h/x",
                *common)
    assert r.returncode == REFUSED and r.stderr.startswith("ferryctl: destination: "), r.stderr
    r = ctl.run("create", "--source", "rtmp://127.0.0.1:9/src/x", "--dest",
                "rtmp://127.0.0.1:9/dst/x", "--start", iso(start), "--end", iso(start - 60))
    assert r.returncode == REFUSED and r.stderr.startswith("ferryctl: end_time: "), r.stderr
    r = ctl.run("create", "--loop", "twice")
    assert r.returncode == USAGE and r.stderr.startswith("ferryctl: loop_count: "), r.stderr
    r = ctl.run("create", "--start", "+3x")
    assert r.returncode == USAGE and "start_time" in r.stderr, r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": ')
    r = ctl.run("create", "-f", str(bad))
    assert r.returncode == USAGE and r.stderr.startswith("ferryctl: file: "), r.stderr
    assert api.total() == 0

    for args in (["frobnicate"], ["ls", "--dest", "x"], ["get"], ["edit", "x"], ["rm"],
                 ["watch", "--count", "0"]):
        r = ctl.run(*args)
        assert r.returncode == USAGE and r.stderr.startswith("ferryctl: "), (args, r.stderr)

    ctl.ok("create", "-f", "-", stdin=json.dumps(idle_task(id="dup")))
    r = ctl.run("create", "-f", "-", stdin=json.dumps(idle_task(id="dup")))
    assert r.returncode == REFUSED and "already_exists" in r.stderr, r.stderr
    r = ctl.run("rm", "nope", "dup")  # every id is tried; the first failure's code
    assert r.returncode == NOT_FOUND and r.stdout == "dup deleted\n", (r.stdout, r.stderr)
    assert api.total() == 0


def test_wrong_token_and_ferryd_down(ctl, ferryd):
    # options may come before the command too
    r = ctl.run("--json", "-a", "127.0.0.1:%d" % ctl.port, "--token", ALICE_TOKEN, "ls",
                addr=False, token=None)
    assert r.returncode == OK and json.loads(r.stdout)["total"] == 0, r.stderr
    r = ctl.run("ls", token="not-the-token")
    assert r.returncode == UNAUTHORIZED and r.stderr.startswith("ferryctl: token: "), r.stderr
    r = ctl.run("get", "missing")
    assert r.returncode == NOT_FOUND and r.stderr.startswith("ferryctl: id: "), r.stderr
    ferryd.terminate()
    r = ctl.run("ls")
    assert r.returncode == UNREACHABLE and "cannot reach ferryd" in r.stderr, r.stderr
    r = ctl.run("watch", "--count", "1")
    assert r.returncode == UNREACHABLE, r.stderr


def test_address_and_token_from_env(ctl, api):
    ctl.ok("create", "-f", "-", stdin=json.dumps(idle_task(id="env-task")))
    env = {"FERRY_ADDR": "127.0.0.1:%d" % ctl.port, "FERRY_TOKEN": ALICE_TOKEN}
    out = ctl.ok("ls", addr=False, token=None, env=env)
    assert table_row(out, "env-task")[2] == "idle"
    r = ctl.run("ls", addr=False, token=None, env=dict(env, FERRY_TOKEN="wrong"))
    assert r.returncode == UNAUTHORIZED
    # the flag goes before the environment
    ctl.ok("ls", token=ALICE_TOKEN, addr=False, env=dict(env, FERRY_TOKEN="wrong"))


def test_token_from_the_data_dir(tmp_path):
    """A ferryd without accounts writes DATA_DIR/token; ferryctl reads it from --data-dir,
    FERRY_DATA_DIR, the config's data_dir and the default ./var."""
    d = Ferryd(str(tmp_path / "solo"), {}, FERRYD_SETTINGS)
    d.start()
    try:
        token_file = os.path.join(d.data_dir, "token")
        assert os.path.exists(token_file)
        ctl = Ctl(d.port, token=None)
        assert ctl.json("ls", "--data-dir", d.data_dir)["total"] == 0
        assert ctl.json("ls", env={"FERRY_DATA_DIR": d.data_dir})["total"] == 0
        conf = tmp_path / "ctl.conf"
        conf.write_text("listen = 127.0.0.1:%d\ndata_dir = %s\n" % (d.port, d.data_dir))
        assert ctl.json("ls", "--config", str(conf), addr=False)["total"] == 0
        cwd = tmp_path / "cwd"
        os.makedirs(cwd / "var")
        shutil.copy(token_file, cwd / "var" / "token")
        tid = ctl.ok("create", "-f", "-", cwd=str(cwd), stdin=json.dumps(idle_task())).strip()
        assert Api(d.port, open(token_file).read().strip()).task(tid)["state"] == "idle"
        r = ctl.run("ls", cwd=str(tmp_path))  # no ./var/token there, no flag, no env
        assert r.returncode == UNAUTHORIZED and r.stderr.startswith("ferryctl: token: ")
    finally:
        rc, _ = d.terminate()
    assert rc == 0 and not d.sanitizer_reports()


def test_help_of_every_command():
    main = subprocess.run([ferryctl_binary(), "--help"], capture_output=True, text=True)
    assert main.returncode == OK and "exit codes:" in main.stdout
    for code in range(7):
        assert "\n  %d  " % code in main.stdout
    cmds = ["ls", "get", "create", "edit", "pause", "resume", "restart", "stop", "rm",
            "history", "events", "watch", "audit", "nodes", "node"]
    for cmd in cmds:
        assert "\n  %s " % cmd in main.stdout
        r = subprocess.run([ferryctl_binary(), cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == OK and r.stdout.startswith("usage: ferryctl %s " % cmd), r.stdout
        assert "--json" in r.stdout and "exit codes:" in r.stdout
    r = subprocess.run([ferryctl_binary()], capture_output=True, text=True)
    assert r.returncode == USAGE
