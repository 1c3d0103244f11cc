"""test_tencent_relay.py — relays driven only through the official Tencent Cloud SDKs, as a
viewer sees them: a create pushes the live source to the destination (checked with
ffprobe), pause stops the push and enable brings it back, restart republishes, an earlier
EndTime ends the relay at once, and delete stops it; a Modify of a running playlist
(VodRefreshType) and a pad file (BackupVodUrl) act in the same destination session; a
picture (PullPicPushLive) becomes a live stream; and watermarks set, changed and cleared on a
running task (WatermarkList) show at the destination within 2 s, in one session."""

import os
import subprocess
import time

import pytest

from conftest import ALICE_TC
from frames import Frames, expected_rect, shows, wait_frame
from harness import dts_report, iso, probe, wait_until, wait_value
from media import FileServer, ffmpeg, make_clip
from tcsdk import TcClient, ensure_installed


@pytest.fixture(scope="session")
def sdk_installed():
    ensure_installed()



def run_status(client, tid):
    return client.ok("DescribeLivePullStreamTaskStatus", {"TaskId": tid})["TaskStatusInfo"]


def wait_run_status(client, tid, want, timeout=10):
    return wait_value(lambda: run_status(client, tid), lambda s: s["RunStatus"] == want,
                      timeout, what="RunStatus %s" % want)


def live_params(nginx, stream="out", **extra):
    now = int(time.time())
    p = {"SourceType": "PullLivePushLive", "SourceUrls": [nginx.url("src", "cam")],
         "DomainName": "127.0.0.1:%d" % nginx.rtmp_port, "AppName": "dst", "StreamName": stream,
         "StartTime": iso(now - 1), "EndTime": iso(now + 600), "Operator": "e2e"}
    p.update(extra)
    return p


def modify(client, tid, **fields):
    return client.ok("ModifyLivePullStreamTask", dict(fields, TaskId=tid, Operator="e2e"))


def test_relay_lifecycle_through_tc3(ferryd, nginx, publisher, sdk_installed, metric):
    tc = TcClient(ferryd.port, *ALICE_TC, sdk="v4")  # tencentcloud-sdk-nodejs, TC3
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")

    t0 = time.time()
    tid = tc.ok("CreateLivePullStreamTask", live_params(nginx, PushArgs="k=v"))["TaskId"]
    metric("create -> destination published (s)", nginx.wait_published("dst", "out") - t0)
    status = wait_run_status(tc, tid, "active")
    assert status["FileUrl"] == nginx.url("src", "cam"), status
    assert status["ReportTime"] and status["LoopedTimes"] == 0, status
    for k, t in (("FileUrl", str), ("LoopedTimes", int), ("OffsetTime", int),
                 ("ReportTime", str), ("RunStatus", str), ("FileDuration", int),
                 ("NextFileUrl", str)):
        assert isinstance(status[k], t), (k, status)
    info = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TaskInfos"][0]
    recent = info["RecentPullInfo"]
    assert recent["FileUrl"] == nginx.url("src", "cam") and recent["ReportTime"], recent
    assert info["Status"] == "enable" and info["ErrorInfo"] == "", info

    streams, packets = probe(nginx.url("dst", "out"), 2, timeout=15)
    codecs = {s.get("codec_type"): s.get("codec_name") for s in streams}
    assert codecs == {"video": "h264", "audio": "aac"}, streams
    assert sum(1 for p in packets if p["codec_type"] == "video") >= 30, "too few video packets"

    # pause: the push stops; enable: it comes back
    t0 = time.time()
    modify(tc, tid, Status="pause")
    metric("pause -> destination gone (s)", nginx.wait_published("dst", "out", False, 10) - t0)
    assert wait_run_status(tc, tid, "inactive")["FileUrl"] == ""
    info = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TaskInfos"][0]
    assert (info["Status"], info["UpdateBy"]) == ("pause", "e2e"), info
    before = nginx.publish_count("dst", "out")
    t0 = time.time()
    modify(tc, tid, Status="enable")
    metric("enable -> destination published (s)", nginx.wait_published("dst", "out") - t0)
    wait_run_status(tc, tid, "active")
    assert nginx.publish_count("dst", "out") == before + 1

    # restart: the push is interrupted and published again
    before = nginx.publish_count("dst", "out")
    t0 = time.time()
    tc.ok("RestartLivePullStreamTask", {"TaskId": tid, "Operator": "e2e"})
    wait_until(lambda: nginx.publish_count("dst", "out") > before and
               nginx.is_published("dst", "out"), 15, 0.05, what="republished after restart")
    metric("restart -> republished (s)", time.time() - t0)
    wait_run_status(tc, tid, "active")

    # delete: the relay stops and the task is gone
    t0 = time.time()
    tc.ok("DeleteLivePullStreamTask", {"TaskId": tid, "Operator": "e2e"})
    metric("delete -> destination gone (s)", nginx.wait_published("dst", "out", False, 10) - t0)
    r = tc.error("DescribeLivePullStreamTaskStatus", {"TaskId": tid})
    assert r["code"] == "InvalidParameter.TaskNotExist", r


def test_relay_through_intl_legacy_signature(ferryd, nginx, publisher, sdk_installed, metric):
    tc = TcClient(ferryd.port, *ALICE_TC, sdk="intl")  # intl-en SDK, HmacSHA256
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    t0 = time.time()
    tid = tc.ok("CreateLivePullStreamTask", live_params(
        nginx, DomainName="", AppName="", StreamName="",
        ToUrl=nginx.url("dst", "intl"), BackupToUrl=nginx.url("dst", "intl2")))["TaskId"]
    metric("create -> destination published (s)", nginx.wait_published("dst", "intl") - t0)
    nginx.wait_published("dst", "intl2")  # BackupToUrl: a second destination, pushed at once
    # the intl SDK has no method for the Status action; its generic request reaches it
    wait_run_status(tc, tid, "active")
    info = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TaskInfos"][0]
    assert info["RecentPullInfo"]["FileUrl"] == nginx.url("src", "cam"), info
    assert (info["DomainName"], info["AppName"], info["StreamName"]) == ("", "", "")
    tc.ok("DeleteLivePullStreamTask", {"TaskId": tid, "Operator": "e2e"})
    nginx.wait_published("dst", "intl", False, 10)
    nginx.wait_published("dst", "intl2", False, 10)


def test_an_earlier_end_time_ends_the_running_relay(ferryd, nginx, publisher, sdk_installed,
                                                    metric):
    tc = TcClient(ferryd.port, *ALICE_TC, sdk="v4")
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    tid = tc.ok("CreateLivePullStreamTask", live_params(nginx, StreamName="short"))["TaskId"]
    nginx.wait_published("dst", "short")
    before = nginx.publish_count("dst", "short")
    end = int(time.time()) + 3
    modify(tc, tid, EndTime=iso(end))
    time.sleep(1)
    assert nginx.is_published("dst", "short"), "changing EndTime interrupted the relay"
    assert nginx.publish_count("dst", "short") == before, "changing EndTime republished"
    gone = nginx.wait_published("dst", "short", False, end - time.time() + 5)
    metric("destination gone after the new EndTime (s)", gone - end)
    assert gone - end < 1.5, "the relay ran %.1fs past EndTime" % (gone - end)
    wait_run_status(tc, tid, "inactive", 5)
    # an expired task is kept (and counts against the quota)
    info = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TaskInfos"][0]
    assert info["EndTime"] == iso(end) and info["Status"] == "enable", info


@pytest.fixture
def clips(tmp_path):
    d = str(tmp_path / "clips")
    os.makedirs(d)
    for name in ("a", "b", "c"):
        make_clip(os.path.join(d, name + ".mp4"), "640x360", 3)
    server = FileServer(d)
    yield server
    server.stop()


def test_modify_continue_break_point_keeps_the_session(ferryd, nginx, clips, sdk_installed):
    tc = TcClient(ferryd.port, *ALICE_TC, sdk="v4")
    a, b, c = (clips.url(n + ".mp4") for n in "abc")
    tid = tc.ok("CreateLivePullStreamTask", live_params(
        nginx, SourceType="PullVodPushLive", SourceUrls=[a, b], StreamName="vod",
        VodLoopTimes=-1))["TaskId"]
    nginx.wait_published("dst", "vod")
    wait_until(lambda: run_status(tc, tid)["FileUrl"] == a, 10, 0.1, what="a.mp4 playing")
    modify(tc, tid, SourceUrls=[c], VodRefreshType="ContinueBreakPoint")
    wait_until(lambda: run_status(tc, tid)["NextFileUrl"] == c, 3, 0.05, what="c.mp4 next")
    assert run_status(tc, tid)["FileUrl"] == a, "the file playing was cut"
    wait_until(lambda: run_status(tc, tid)["FileUrl"] == c, 8, 0.05, what="c.mp4 playing")
    assert nginx.publish_count("dst", "vod") == 1, "the Modify republished the destination"
    info = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TaskInfos"][0]
    assert info["SourceUrls"] == [c] and info["VodRefreshType"] == "ContinueBreakPoint", info


def test_backup_vod_url_pads_while_the_source_is_down(ferryd, nginx, publisher, clips,
                                                      sdk_installed, metric):
    tc = TcClient(ferryd.port, *ALICE_TC, sdk="v4")
    cam = publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
    tid = tc.ok("CreateLivePullStreamTask", live_params(nginx, StreamName="pad"))["TaskId"]
    nginx.wait_published("dst", "pad")
    modify(tc, tid, BackupVodUrl=clips.url("b.mp4"))  # CN-only, Modify-only
    time.sleep(0.5)
    cam.kill()
    t0 = time.time()
    wait_until(lambda: run_status(tc, tid)["FileUrl"] == clips.url("b.mp4"), 10, 0.05,
               what="the pad playing")
    metric("source lost -> pad playing (s)", time.time() - t0)
    assert run_status(tc, tid)["RunStatus"] == "active"
    cam.start()
    wait_until(lambda: run_status(tc, tid)["FileUrl"] == nginx.url("src", "cam"), 15, 0.1,
               what="the source again")
    assert nginx.publish_count("dst", "pad") == 1, "the destination was published again"


def test_pull_pic_push_live(ferryd, nginx, tmp_path, sdk_installed, metric):
    """PullPicPushLive through the SDK: the picture becomes a live H.264 + AAC stream."""
    d = str(tmp_path / "pic")
    os.makedirs(d)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=480x270",
                    "-frames:v", "1", os.path.join(d, "card.png")], check=True, timeout=60)
    server = FileServer(d)
    try:
        tc = TcClient(ferryd.port, *ALICE_TC, sdk="v4")
        t0 = time.time()
        tid = tc.ok("CreateLivePullStreamTask", live_params(
            nginx, SourceType="PullPicPushLive", SourceUrls=[server.url("card.png")],
            StreamName="pic"))["TaskId"]
        metric("create -> destination published (s)", nginx.wait_published("dst", "pic") - t0)
        status = wait_run_status(tc, tid, "active")
        assert status["FileUrl"] == server.url("card.png"), status
        streams, packets = probe(nginx.url("dst", "pic"), 2, timeout=15)
        codecs = {s.get("codec_type"): s.get("codec_name") for s in streams}
        assert codecs == {"video": "h264", "audio": "aac"}, streams
        # a player joins at a keyframe (every 2 s): at least a second of the 2 s probed
        assert sum(1 for p in packets if p["codec_type"] == "video") >= 12
        info = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TaskInfos"][0]
        assert info["SourceType"] == "PullPicPushLive", info
    finally:
        server.stop()


MAGENTA, GREEN = (255, 0, 255), (0, 255, 0)


def tc_mark(url, x, y, width, location):
    return {"PictureUrl": url, "XPosition": x, "YPosition": y, "Width": width, "Height": 0,
            "Location": location}


def test_watermarks_set_changed_and_cleared_through_the_sdk(ferryd, nginx, publisher, viewer,
                                                            sdk_installed, tmp_path, metric):
    """ModifyLivePullStreamTask's WatermarkList on a running live task: set (a magenta logo
    top-right), changed (a green one bottom-left), refused when invalid (nothing changes),
    and cleared (the video is the source's own again); each visible in a frame grabbed from
    the destination within 2 s, with one destination session and monotonic DTS."""
    d = str(tmp_path / "logos")
    os.makedirs(d)
    ffmpeg("-f", "lavfi", "-i", "color=c=0xFF00FF:size=64x32", "-frames:v", "1",
           os.path.join(d, "magenta.png"))
    ffmpeg("-f", "lavfi", "-i", "color=c=0x00FF00:size=64x32", "-frames:v", "1",
           os.path.join(d, "green.jpg"))
    server = FileServer(d)
    tc = TcClient(ferryd.port, *ALICE_TC, sdk="v4")
    src = viewer("src", "cam")
    out = viewer("dst", "wm")
    publisher("cam")
    frames = None
    try:
        wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="the source")
        tid = tc.ok("CreateLivePullStreamTask", live_params(nginx, StreamName="wm"))["TaskId"]
        nginx.wait_published("dst", "wm")
        frames = Frames(nginx.url("dst", "wm"), str(tmp_path / "frames.log"))
        top_right, bottom_left = expected_rect(5, 10, 20, 1), expected_rect(2, 4, 15, 3)
        wait_frame(frames, 0, lambda f: not shows(f, top_right, MAGENTA), 20, "a plain frame")

        first = [tc_mark(server.url("magenta.png"), 5, 10, 20, 1)]
        t0 = time.time()
        modify(tc, tid, WatermarkList=first)
        took = wait_frame(frames, t0, lambda f: shows(f, top_right, MAGENTA), 10, "the logo")
        metric("set -> logo visible (s)", round(took, 2))
        assert took < 2.0, "setting took %.2f s" % took

        second = [tc_mark(server.url("green.jpg"), 2, 4, 15, 3)]
        t0 = time.time()
        modify(tc, tid, WatermarkList=second)
        took = wait_frame(frames, t0, lambda f: shows(f, bottom_left, GREEN) and
                          not shows(f, top_right, MAGENTA), 10, "the new logo")
        metric("change -> new logo visible (s)", round(took, 2))
        assert took < 2.0, "changing took %.2f s" % took

        bad = tc.error("ModifyLivePullStreamTask", {
            "TaskId": tid, "Operator": "e2e", "WatermarkList": second + second})
        assert bad["code"] == "InvalidParameter.InvalidWatermark", bad
        info = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TaskInfos"][0]
        assert info["WatermarkList"] == second, info
        t0 = time.time()
        time.sleep(1.0)
        assert shows(frames.since(t0), bottom_left, GREEN), "a refused Modify changed the logo"

        t0 = time.time()
        modify(tc, tid, WatermarkList=[])
        took = wait_frame(frames, t0, lambda f: not shows(f, bottom_left, GREEN) and
                          not shows(f, top_right, MAGENTA), 10, "no logo")
        metric("clear -> logo gone (s)", round(took, 2))
        assert took < 2.0, "clearing took %.2f s" % took
        info = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TaskInfos"][0]
        assert info["WatermarkList"] == [], info
        cleared = t0
        wait_until(lambda: sum(1 for p in out.snapshot() if p["type"] == "video" and
                               p["t"] > cleared + 2.0) >= 60, 15, what="2 s of copied video")
    finally:
        if frames:
            frames.stop()
        server.stop()
    # after the clear the destination carries the source's own packets again
    sizes = [p["size"] for p in src.snapshot() if p["type"] == "video"]
    copied = [p["size"] for p in out.snapshot() if p["type"] == "video" and
              p["t"] > cleared + 2.0][:60]
    assert any(sizes[i:i + len(copied)] == copied for i in range(len(sizes))), \
        "the video was not a copy of the source after the clear"
    assert nginx.publish_count("dst", "wm") == 1, "the destination was published again"
    report = dts_report(out.snapshot())
    for kind in ("video", "audio"):
        assert report[kind]["monotonic"], "%s DTS went backwards: %s" % (kind, report[kind])
    assert run_status(tc, tid)["RunStatus"] == "active"
