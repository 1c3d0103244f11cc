"""test_alibaba_relay.py — relays driven only through Alibaba Cloud's official clients, as
a viewer sees them: a create pushes the live source to its DstUrl (checked with ffprobe),
Update follows the rules of the running state, Stop takes it offline (TriggerByUser) and
the push stops, Restart brings it back, EndTime ends it as exited (OverEndTime), Delete
ends it as exited (TriggerByUser), and a dead source goes offline after its retries."""

import os
import threading
import time

import pytest

from alisdk import AliClient, ensure_installed
from conftest import ALICE_ALI
from harness import iso, probe, wait_until, wait_value
from media import FileServer, make_clip


@pytest.fixture(scope="session")
def sdk_installed():
    ensure_installed()



def live_params(nginx, stream="out", **extra):
    now = int(time.time())
    p = {"Region": "cn-shanghai", "SourceType": "live", "SourceProtocol": "rtmp",
         "SourceUrls": [nginx.url("src", "cam")], "DstUrl": nginx.url("dst", stream),
         "StartTime": iso(now - 1), "EndTime": iso(now + 600), "TaskName": "relay"}
    p.update(extra)
    return p


def state(client, tid):
    return client.ok("DescribeLivePullToPush", {"Region": "cn-shanghai", "TaskId": tid})


def wait_status(client, tid, want, timeout=15):
    return wait_value(lambda: state(client, tid), lambda s: s["TaskStatus"] == want, timeout,
                      what="TaskStatus %s" % want)


def started_source(nginx, publisher):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")


@pytest.mark.parametrize("sdk", [dict(sdk="openapi"), dict(sdk="pop")], ids=["acs3", "pop"])
def test_relay_lifecycle(ferryd, nginx, publisher, sdk_installed, metric, sdk):
    ali = AliClient(ferryd.port, *ALICE_ALI, **sdk)
    started_source(nginx, publisher)
    t0 = time.time()
    tid = ali.ok("CreateLivePullToPush", live_params(nginx))["TaskId"]
    metric("create -> destination published (s)", nginx.wait_published("dst", "out") - t0)
    s = wait_status(ali, tid, 1)
    assert (s["TaskInvalidReason"], s["TaskExitReason"], s["CurrentFileIndex"]) == ("", "", 0)
    streams, packets = probe(nginx.url("dst", "out"), 2, timeout=15)
    codecs = {x.get("codec_type"): x.get("codec_name") for x in streams}
    assert codecs == {"video": "h264", "audio": "aac"}, streams
    assert sum(1 for p in packets if p["codec_type"] == "video") >= 30, "too few video packets"

    # running: SourceUrls may not change; CallbackUrl may, without touching the push
    q = {"Region": "cn-shanghai", "TaskId": tid}
    r = ali.error("UpdateLivePullToPush", dict(q, SourceUrls=[nginx.url("src", "other")]))
    assert r["code"] == "InvalidParameter" and "running" in r["data"]["Message"], r
    before = nginx.publish_count("dst", "out")
    ali.ok("UpdateLivePullToPush", dict(q, CallbackUrl="http://127.0.0.1:9/hook"))
    time.sleep(1)
    assert nginx.is_published("dst", "out") and nginx.publish_count("dst", "out") == before
    assert state(ali, tid)["TaskInfo"]["CallbackURL"] == "http://127.0.0.1:9/hook"

    # Stop: offline, TriggerByUser, and the push stops
    t0 = time.time()
    assert ali.ok("StopLivePullToPush", q)["TaskId"] == tid
    metric("stop -> destination gone (s)", nginx.wait_published("dst", "out", False, 10) - t0)
    s = state(ali, tid)
    assert (s["TaskStatus"], s["TaskInvalidReason"]) == (3, "TriggerByUser"), s
    # stopped: everything but Region may change; it applies on restart
    ali.ok("UpdateLivePullToPush", dict(q, RetryCount=2, Offset=0))
    time.sleep(1)
    assert not nginx.is_published("dst", "out"), "an update of a stopped task pushed"

    # Restart: runs again with the latest configuration
    before = nginx.publish_count("dst", "out")
    t0 = time.time()
    assert ali.ok("RestartLivePullToPush", q)["TaskId"] == tid
    metric("restart -> republished (s)", nginx.wait_published("dst", "out") - t0)
    s = wait_status(ali, tid, 1)
    assert s["TaskInfo"]["RetryCount"] == 2 and s["TaskInvalidReason"] == ""
    # Restart of a running task interrupts the push and publishes again
    before = nginx.publish_count("dst", "out")
    ali.ok("RestartLivePullToPush", q)
    wait_until(lambda: nginx.publish_count("dst", "out") > before and
               nginx.is_published("dst", "out"), 15, 0.05, what="republished after restart")

    # Delete: the push stops; the task reads as exited, TriggerByUser
    t0 = time.time()
    ali.ok("DeleteLivePullToPush", q)
    metric("delete -> destination gone (s)", nginx.wait_published("dst", "out", False, 10) - t0)
    s = state(ali, tid)
    assert (s["TaskStatus"], s["TaskExitReason"]) == (-1, "TriggerByUser"), s
    r = ali.error("RestartLivePullToPush", q)
    assert r["code"] == "InvalidParameter", r


def test_end_time_exits(ferryd, nginx, publisher, sdk_installed, metric):
    ali = AliClient(ferryd.port, *ALICE_ALI, sdk="openapi")
    started_source(nginx, publisher)
    end = int(time.time()) + 4
    tid = ali.ok("CreateLivePullToPush", live_params(
        nginx, stream="short", EndTime=iso(end)))["TaskId"]
    nginx.wait_published("dst", "short")
    gone = nginx.wait_published("dst", "short", False, end - time.time() + 5)
    metric("destination gone after EndTime (s)", gone - end)
    assert gone - end < 1.5, "the relay ran %.1fs past EndTime" % (gone - end)
    s = wait_status(ali, tid, -1, 5)
    assert (s["TaskExitReason"], s["TaskInvalidReason"]) == ("OverEndTime", ""), s
    assert abs(s["TaskExitTime"] - end) <= 2, s
    r = ali.error("UpdateLivePullToPush", {"Region": "cn-shanghai", "TaskId": tid,
                                           "EndTime": iso(time.time() + 600)})
    assert r["code"] == "InvalidParameter" and "exited" in r["data"]["Message"], r
    # the DstUrl is free again
    assert ali.ok("CreateLivePullToPush", live_params(nginx, stream="short"))["TaskId"]


def test_dead_source_goes_offline_after_its_retries(ferryd, nginx, sdk_installed):
    ali = AliClient(ferryd.port, *ALICE_ALI, sdk="pop", method="POST", sourceUrls="array")
    tid = ali.ok("CreateLivePullToPush", live_params(
        nginx, stream="dead", SourceUrls=[nginx.url("src", "nobody")], RetryCount=1,
        RetryInterval=1))["TaskId"]
    s = wait_status(ali, tid, 3, 30)
    assert s["TaskInvalidReason"] == "PullStreamFailed", s
    assert not nginx.is_published("dst", "dead")
    # a stopped task takes new sources; Restart tries them
    q = {"Region": "cn-shanghai", "TaskId": tid}
    ali.ok("UpdateLivePullToPush", dict(q, SourceUrls=[nginx.url("src", "still-nobody")],
                                        RetryCount=5, RetryInterval=60))
    ali.ok("RestartLivePullToPush", q)
    s = wait_status(ali, tid, 2, 15)
    assert s["TaskInfo"]["SourceUrls"] == [nginx.url("src", "still-nobody")], s
    # recovering counts as running: only CallbackUrl, RepeatNumber and EndTime may change
    r = ali.error("UpdateLivePullToPush", dict(q, RetryCount=1))
    assert r["code"] == "InvalidParameter", r
    assert ali.ok("StopLivePullToPush", q)["TaskId"] == tid
    s = state(ali, tid)
    assert (s["TaskStatus"], s["TaskInvalidReason"]) == (3, "TriggerByUser"), s


# ---------------------------------------------------------------- SourceType url: playlists

CLIP_SECONDS = 2


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """a.mp4, b.mp4 and c.flv of CLIP_SECONDS each, served over HTTP on loopback."""
    d = str(tmp_path_factory.mktemp("ali-media"))
    for name, size in (("a.mp4", "640x360"), ("b.mp4", "320x240"), ("c.flv", "640x360")):
        make_clip(os.path.join(d, name), size, CLIP_SECONDS)

    srv = FileServer(d)
    yield [srv.url(n) for n in ("a.mp4", "b.mp4", "c.flv")]
    srv.stop()


def url_params(nginx, urls, stream, **extra):
    now = int(time.time())
    p = {"Region": "cn-shanghai", "SourceType": "url", "SourceUrls": urls,
         "DstUrl": nginx.url("dst", stream), "StartTime": iso(now - 1),
         "EndTime": iso(now + 600), "TaskName": "playlist", "RetryCount": 1}
    p.update(extra)
    return p


def file_starts(api, tid):
    st, doc = api.get("/v1/tasks/%s/history" % tid)
    assert st == 200, (st, doc)
    return [h["detail"] for h in doc["history"] if h.get("reason") == "FileStart"]


def test_url_playlist_plays_twice_and_exits(ferryd, nginx, api, clips, sdk_installed,
                                            metric):
    ali = AliClient(ferryd.port, *ALICE_ALI, sdk="openapi")
    t0 = time.time()
    tid = ali.ok("CreateLivePullToPush", url_params(nginx, clips, "pl", RepeatNumber=1))["TaskId"]
    metric("url create -> destination published (s)", nginx.wait_published("dst", "pl") - t0)
    probed = {}
    prober = threading.Thread(target=lambda: probed.update(
        zip(("streams", "packets"), probe(nginx.url("dst", "pl"), 2, timeout=12))))
    prober.start()

    # the position moves while the files play
    samples = []
    deadline = time.time() + 2 * 3 * CLIP_SECONDS + 20
    while time.time() < deadline:
        s = state(ali, tid)
        samples.append((s["TaskStatus"], s["CurrentFileIndex"], s["CurrentOffset"]))
        if s["TaskStatus"] == -1:
            break
        time.sleep(0.1)
    prober.join()
    metric("url playlist 2 x 3 files played in (s)", time.time() - t0)
    print("Describe samples (TaskStatus, CurrentFileIndex, CurrentOffset):", samples)
    running = [x for x in samples if x[0] == 1]
    assert {i for _, i, _ in running} >= {0, 1, 2}, samples
    assert any(o >= 1 for _, _, o in running), "CurrentOffset never moved: %s" % samples
    indices = [i for _, i, _ in running]
    assert any(b < a for a, b in zip(indices, indices[1:])), \
        "the second play never started over at file 0: %s" % samples

    codecs = {x.get("codec_type"): x.get("codec_name") for x in probed.get("streams", [])}
    assert codecs == {"video": "h264", "audio": "aac"}, probed.get("streams")

    s = state(ali, tid)
    assert s["TaskStatus"] == -1, s
    assert (s["TaskExitReason"], s["TaskInvalidReason"]) == ("PlaylistFinished", ""), s
    assert abs(s["TaskExitTime"] - time.time()) < 15, s
    assert s["TaskInfo"]["RepeatNumber"] == 1 and s["TaskInfo"]["SourceUrls"] == clips, s
    assert file_starts(api, tid) == clips * 2
    nginx.wait_published("dst", "pl", False, 5)
    assert nginx.publish_count("dst", "pl") == 1, "more than one destination session"


def test_url_playlist_starts_at_file_index_and_offset(ferryd, nginx, api, clips,
                                                      sdk_installed):
    ali = AliClient(ferryd.port, *ALICE_ALI, sdk="pop", method="POST", sourceUrls="array")
    tid = ali.ok("CreateLivePullToPush", url_params(
        nginx, clips, "from1", FileIndex=1, Offset=1))["TaskId"]
    s = state(ali, tid)
    assert (s["TaskInfo"]["FileIndex"], s["TaskInfo"]["Offset"]) == (1, 1), s
    nginx.wait_published("dst", "from1")
    s = wait_status(ali, tid, -1, 3 * CLIP_SECONDS + 15)
    assert s["TaskExitReason"] == "PlaylistFinished", s
    assert file_starts(api, tid) == clips[1:]
