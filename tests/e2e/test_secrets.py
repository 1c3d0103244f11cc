"""test_secrets.py — secrets stay secret: stream keys, query tokens, an SRT streamid and
passphrase, signed file URLs and callback tokens never show in ferryd's log, in last_error,
in history lines or in /v1/stats (only their redacted form does), while the task's own
account still reads its URLs in full; the token file and data dir are owner-only."""

import json
import os
import stat
import uuid

import pytest

from conftest import ACCOUNTS, ALICE_TC, ALICE_TOKEN, BOB_TOKEN, FERRYD_SETTINGS
from harness import (Api, Ferryd, files_task, free_port, live_task, redact_url, wait_until,
                     whole_seconds_from_now)
from media import FileServer, make_clip


def secret(tag):
    """A unique string of 8+ characters: its redacted form keeps only its first 2."""
    return "%s%s" % (tag, uuid.uuid4().hex[:14])


def everything_shown(api, ferryd, tids):
    """What an operator or another reader sees besides the task's own fields: last_error
    (task and progress), history lines and /v1/stats, as one text."""
    parts = []
    for tid in tids:
        t = api.task(tid)
        parts.append(t.get("last_error") or "")
        parts.append((t.get("progress") or {}).get("last_error") or "")
        parts.append(json.dumps(api.history(tid)))
    st, stats = api.get("/v1/stats")
    assert st == 200, stats
    parts.append(json.dumps(stats))
    return "\n".join(parts)


def log_text(ferryd):
    return "\n".join(open(p, errors="replace").read() for p in ferryd.stderr_paths)


@pytest.mark.ferryd_settings(log_level="debug", preroll=0, callback_allow="127.0.0.1/32",
                             callback_retry_interval=1, callback_timeout=2)
def test_secrets_are_redacted_in_logs_errors_history_and_stats(api, bob, ferryd, nginx,
                                                                 publisher, tmp_path):
    keys = {name: secret(name[:2]) for name in (
        "live-src", "live-tok", "live-dst", "live-dsttok", "cb-tok", "dead-src", "dead-tok",
        "srt-sid", "srt-pass", "dead-dst", "file-sig", "gone-sig", "file-dst")}
    closed = free_port()  # nothing listens there: every connect is refused

    # a relay that runs, then loses its source: connected lines, then an error chain
    pub = publisher(keys["live-src"])
    nginx.wait_published("src", keys["live-src"])
    start = whole_seconds_from_now(1)
    live_src = nginx.url("src", keys["live-src"]) + "?token=" + keys["live-tok"]
    live_dst = nginx.url("dst", keys["live-dst"]) + "?txSecret=" + keys["live-dsttok"]
    hook = "http://127.0.0.1:%d/hook?token=%s" % (closed, keys["cb-tok"])
    live = api.create_task(**live_task(nginx, start, start + 300, source_urls=[live_src],
                                       destination=live_dst, callback_url=hook))["id"]
    # a relay whose source and SRT backup are both unreachable: retries, then offline
    dead_src = "rtmp://127.0.0.1:%d/live/%s?token=%s" % (closed, keys["dead-src"],
                                                         keys["dead-tok"])
    srt = "srt://127.0.0.1:%d?streamid=%s&passphrase=%s" % (closed, keys["srt-sid"],
                                                            keys["srt-pass"])
    dead = api.create_task(**live_task(nginx, start, start + 300, source_urls=[dead_src],
                                       backup_source_url=srt, retry_count=1,
                                       destination=nginx.url("dst", keys["dead-dst"])))["id"]
    # a playlist of signed file URLs, one of them missing: FileStart and an alarm
    media = str(tmp_path / "media")
    os.makedirs(media)
    make_clip(os.path.join(media, "a.mp4"), "320x240", 2)
    server = FileServer(media)
    try:
        urls = [server.url("a.mp4") + "?sign=" + keys["file-sig"],
                server.url("gone.mp4") + "?sign=" + keys["gone-sig"]]
        files = api.create_task(**files_task(nginx, urls, loop_count=1,
                                             destination=nginx.url("dst", keys["file-dst"])))
        files = files["id"]

        api.wait_state(live, ("running",), 20)
        pub.kill()
        api.wait_state(live, ("recovering",), 20)
        api.wait_state(dead, ("offline",), 60)
        wait_until(lambda: api.history(files, "PullFileFailed"), 30,
                   what="the missing file's alarm")
        wait_until(lambda: api.history(files, "FileStart"), 30, what="the clip's FileStart")
        # the callback receiver is down: its failed tries are logged too
        wait_until(lambda: "callback" in log_text(ferryd), 15, what="a callback try in the log")

        # the task's own account reads its URLs in full; nobody else reads them at all
        t = api.task(live)
        assert t["source_urls"] == [live_src] and t["destination"] == live_dst, t
        assert t["callback_url"] == hook, t
        assert api.task(dead)["backup_source_url"] == srt
        assert api.task(files)["source_urls"] == urls
        assert bob.get("/v1/tasks/" + live)[0] == 404

        shown = everything_shown(api, ferryd, (live, dead, files))
    finally:
        server.stop()
    rc, _ = ferryd.terminate()
    assert rc == 0
    logs = log_text(ferryd)

    # the errors and lines are there, naming the URLs in their redacted form
    assert ("pull %s: " % redact_url(live_src)) in shown, shown
    assert redact_url(dead_src) in shown or redact_url(srt) in shown, shown
    assert redact_url(urls[0]) in shown and redact_url(urls[1]) in shown, shown
    assert redact_url(live_dst) in logs, "no 'output connected' line for the destination"
    assert "created by account alice: %s -> %s" % (redact_url(live_src),
                                                   redact_url(live_dst)) in logs

    # and no secret anywhere: stream keys, tokens, SRT ids, signatures, account secrets
    account_secrets = [ALICE_TOKEN, BOB_TOKEN, ALICE_TC[1], ACCOUNTS["bob"]["tc_secret_key"],
                       ACCOUNTS["alice"]["ali_access_key_secret"],
                       ACCOUNTS["bob"]["ali_access_key_secret"]]
    for name, value in list(keys.items()) + [("account", s) for s in account_secrets]:
        assert value not in shown, "%s (%s) shows in last_error, history or stats:\n%s" % (
            name, value, [line for line in shown.splitlines() if value in line][:5])
        assert value not in logs, "%s (%s) shows in ferryd's log:\n%s" % (
            name, value, "\n".join(line for line in logs.splitlines() if value in line)[:2000])


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_token_file_and_data_dir_are_owner_only(tmp_path):
    """With no account configured ferryd makes the default account's token file: the data
    dir it creates is 0700, the token file and the store 0600; a token file someone made
    0644 is set back to 0600 with a warning, and its token still works."""
    d = Ferryd(str(tmp_path / "ferryd"), {}, FERRYD_SETTINGS)
    os.rmdir(d.data_dir)
    d.data_dir = str(tmp_path / "ferryd" / "fresh" / "data")
    d.start()
    try:
        token_path = os.path.join(d.data_dir, "token")
        assert mode(d.data_dir) == 0o700, oct(mode(d.data_dir))
        assert mode(token_path) == 0o600, oct(mode(token_path))
        assert mode(os.path.join(d.data_dir, "ferry.db")) == 0o600
        d.terminate()

        os.chmod(token_path, 0o644)
        d.start()
        assert mode(token_path) == 0o600, oct(mode(token_path))
        text = open(d.stderr_path).read()
        assert "token file %s was open to group/others (mode 644): now 600" % token_path in text
        token = open(token_path).read().strip()
        assert Api(d.port, token).get("/v1/tasks")[0] == 200
        assert token not in text
    finally:
        if d.running():
            d.terminate()


def test_config_readable_by_others_is_warned(ferryd):
    """The config holds account tokens and keys: ferryd warns when group/others can read it."""
    warning = "config %s holds account secrets and is readable by group/others" % ferryd.config
    assert mode(ferryd.config) == 0o600
    assert warning not in open(ferryd.stderr_path).read()
    os.chmod(ferryd.config, 0o644)
    ferryd.restart()
    assert warning + " (mode 644): chmod 600 it" in open(ferryd.stderr_path).read()
    assert Api(ferryd.port, ALICE_TOKEN).get("/v1/tasks")[0] == 200
