"""test_tencent_api.py — the Tencent Cloud API 3.0 dialect through the official Node SDKs,
unchanged (tencentcloud-sdk-nodejs with TC3, tencentcloud-sdk-nodejs-intl-en with its
default HmacSHA256, and their other signing and HTTP modes): every action, the exact
field types of the replies, the exact error codes for bad input and bad signatures,
account isolation, throttling and the task quota."""

import base64
import datetime
import hashlib
import hmac
import http.client
import json
import time
import urllib.parse

import pytest

from conftest import ACCOUNTS, ALICE_TC, ALICE_TOKEN, BOB_TC, FERRYD_SETTINGS
from harness import Api, Ferryd, idle_task, iso, tail
from tcsdk import TcClient, ensure_installed

SDKS = ["v4", "intl"]


@pytest.fixture(scope="session")
def sdk_installed():
    ensure_installed()


@pytest.fixture(params=SDKS)
def tc(request, ferryd, sdk_installed):
    """alice through one of the two SDKs with its default signing."""
    return TcClient(ferryd.port, *ALICE_TC, sdk=request.param)


@pytest.fixture
def v4(ferryd, sdk_installed):
    return TcClient(ferryd.port, *ALICE_TC, sdk="v4")


@pytest.fixture
def bob_tc(ferryd, sdk_installed):
    return TcClient(ferryd.port, *BOB_TC, sdk="v4")


def later(hours=1, length=600):
    start = int(time.time()) + hours * 3600
    return iso(start), iso(start + length)


def idle_create(**extra):
    """CreateLivePullStreamTask parameters of a task that starts in an hour."""
    start, end = later()
    p = {"SourceType": "PullLivePushLive", "SourceUrls": ["rtmp://127.0.0.1:9/src/none"],
         "DomainName": "127.0.0.1:9", "AppName": "dst", "StreamName": "none",
         "StartTime": start, "EndTime": end, "Operator": "tester"}
    p.update(extra)
    return p


def create(client, **extra):
    return client.ok("CreateLivePullStreamTask", idle_create(**extra))["TaskId"]


def describe_one(client, tid):
    r = client.ok("DescribeLivePullStreamTasks", {"TaskId": tid})
    assert r["TotalNum"] == 1, r
    return r["TaskInfos"][0]


# Every field of PullStreamTaskInfo with its JSON type (spec/wire.md §5), in model order.
INFO_TYPES = [
    ("TaskId", str), ("SourceType", str), ("SourceUrls", list), ("DomainName", str),
    ("AppName", str), ("StreamName", str), ("PushArgs", str), ("StartTime", str),
    ("EndTime", str), ("Region", str), ("VodLoopTimes", int), ("VodRefreshType", str),
    ("CreateTime", str), ("UpdateTime", str), ("CreateBy", str), ("UpdateBy", str),
    ("CallbackUrl", str), ("CallbackEvents", list), ("CallbackInfo", str),
    ("ErrorInfo", str), ("Status", str), ("RecentPullInfo", (dict, type(None))),
    ("Comment", str), ("BackupSourceType", str), ("BackupSourceUrl", str),
    ("WatermarkList", list), ("VodLocalMode", int), ("RecordTemplateId", str),
    ("BackupToUrl", str), ("TranscodeTemplateName", str),
]


def check_info_types(info, sdk):
    names = [n for n, _ in INFO_TYPES]
    if sdk == "intl":  # the intl-en model has no TranscodeTemplateName and drops it
        names.remove("TranscodeTemplateName")
    assert list(info) == names, "fields or their order differ: %s" % list(info)
    for name, t in INFO_TYPES:
        if name in info:
            assert isinstance(info[name], t) and not isinstance(info[name], bool), (
                "%s is %r" % (name, info[name]))


def check_iso(s):
    assert time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"), s


# ---------------------------------------------------------------- create / describe


def test_create_then_describe_every_field(tc, api):
    start, end = later()
    params = idle_create(
        SourceType="PullVodPushLive",
        SourceUrls=["http://127.0.0.1:9/a.mp4", "http://127.0.0.1:9/b.flv?x=1&y=2"],
        PushArgs="bak=1&test=2", CallbackEvents=["TaskStart", "TaskExit", "PushStreamFailed"],
        VodLoopTimes="3", VodRefreshType="ImmediateNewSource",
        CallbackUrl="http://127.0.0.1:9/hook", ExtraCmd="ignore_region",
        Comment="d\u00e9mo \u6d4b\u8bd5 *~!'() +", FileIndex=2, OffsetTime=7,
        BackupSourceType="PullLivePushLive", BackupSourceUrl="rtmp://127.0.0.1:9/src/backup",
        WatermarkList=[{"PictureUrl": "http://127.0.0.1:9/w.png", "XPosition": 5,
                        "YPosition": 6, "Width": 10, "Height": 0, "Location": 1}],
        VodLocalMode=1, RecordTemplateId="rec-1", BackupToUrl="rtmp://127.0.0.1:9/dst/two",
        TranscodeTemplateName="tpl-1")
    r = tc.ok("CreateLivePullStreamTask", params)
    assert list(r) == ["TaskId", "RequestId"] and isinstance(r["TaskId"], str), r
    tid = r["TaskId"]

    got = tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})
    assert list(got) == ["TaskInfos", "PageNum", "PageSize", "TotalNum", "TotalPage",
                         "LimitTaskNum", "RequestId"], list(got)
    assert (got["PageNum"], got["PageSize"], got["TotalNum"], got["TotalPage"],
            got["LimitTaskNum"]) == (1, 10, 1, 1, 200), got
    info = got["TaskInfos"][0]
    check_info_types(info, tc.plan["sdk"])
    want = {"TaskId": tid, "SourceType": "PullVodPushLive",
            "SourceUrls": params["SourceUrls"], "DomainName": "127.0.0.1:9", "AppName": "dst",
            "StreamName": "none", "PushArgs": "bak=1&test=2", "StartTime": start,
            "EndTime": end, "Region": "ap-guangzhou", "VodLoopTimes": 3,
            "VodRefreshType": "ImmediateNewSource", "CreateBy": "tester", "UpdateBy": "",
            "CallbackUrl": "http://127.0.0.1:9/hook",
            "CallbackEvents": ["TaskStart", "TaskExit", "PushStreamFailed"],
            "CallbackInfo": "", "ErrorInfo": "", "Status": "enable",
            "Comment": params["Comment"], "BackupSourceType": "PullLivePushLive",
            "BackupSourceUrl": "rtmp://127.0.0.1:9/src/backup",
            "WatermarkList": params["WatermarkList"], "VodLocalMode": 1,
            "RecordTemplateId": "rec-1", "BackupToUrl": "rtmp://127.0.0.1:9/dst/two"}
    for k, v in want.items():
        assert info[k] == v, "%s: %r != %r" % (k, info[k], v)
    check_iso(info["CreateTime"])
    check_iso(info["UpdateTime"])
    # one task asked for: RecentPullInfo is filled (documented idle values)
    assert info["RecentPullInfo"] == {"FileUrl": "", "OffsetTime": 0, "ReportTime": "",
                                      "LoopedTimes": -1}, info["RecentPullInfo"]
    if tc.plan["sdk"] == "v4":
        assert info["TranscodeTemplateName"] == "tpl-1"

    # the model underneath, through the native API: 1-based FileIndex 2 is entry 1, and
    # VodLoopTimes 3 is three plays
    native = api.task(tid)
    assert native["api"] == "tencent"
    assert native["destination"] == "rtmp://127.0.0.1:9/dst/none?bak=1&test=2"
    assert (native["file_index"], native["offset"], native["loop_count"]) == (1, 7, 3)
    assert native["source_type"] == "files" and native["paused"] is False


def test_list_is_newest_update_first_and_paged(tc):
    ids = [create(tc, Comment="n%d" % i) for i in range(3)]
    time.sleep(0.01)
    tc.ok("ModifyLivePullStreamTask", {"TaskId": ids[0], "Operator": "o", "Comment": "touched"})
    r = tc.ok("DescribeLivePullStreamTasks", {})
    assert [t["TaskId"] for t in r["TaskInfos"]] == [ids[0], ids[2], ids[1]], r
    assert all(t["RecentPullInfo"] is None for t in r["TaskInfos"]), "RecentPullInfo on a list"
    check_info_types(r["TaskInfos"][0], tc.plan["sdk"])
    p1 = tc.ok("DescribeLivePullStreamTasks", {"PageNum": 1, "PageSize": 2})
    p2 = tc.ok("DescribeLivePullStreamTasks", {"PageNum": 2, "PageSize": 2})
    assert (p1["TotalNum"], p1["TotalPage"], len(p1["TaskInfos"])) == (3, 2, 2), p1
    assert (p2["PageNum"], len(p2["TaskInfos"])) == (2, 1), p2
    assert p2["TaskInfos"][0]["TaskId"] == ids[1]
    none = tc.ok("DescribeLivePullStreamTasks", {"TaskId": "no-such-task"})
    assert (none["TotalNum"], none["TotalPage"], none["TaskInfos"]) == (0, 0, []), none
    for bad in ({"PageSize": 21}, {"PageSize": 0}, {"PageNum": 0}):
        assert tc.error("DescribeLivePullStreamTasks", bad)["code"] == "InvalidParameter", bad


def test_modify_every_field(tc, api):
    tid = create(tc, SourceType="PullVodPushLive", SourceUrls=["http://127.0.0.1:9/a.mp4"],
                 BackupToUrl="rtmp://127.0.0.1:9/dst/two",
                 WatermarkList=[{"PictureUrl": "http://127.0.0.1:9/w.png", "XPosition": 1,
                                 "YPosition": 1, "Width": 1, "Height": 1, "Location": 0}])
    start, end = later(hours=2, length=1200)
    r = tc.ok("ModifyLivePullStreamTask", {
        "TaskId": tid, "Operator": "editor",
        "SourceUrls": ["http://127.0.0.1:9/c.mp4", "http://127.0.0.1:9/d.mp4"],
        "StartTime": start, "EndTime": end, "VodLoopTimes": 0,
        "VodRefreshType": "ContinueBreakPoint", "Status": "pause",
        "CallbackEvents": ["TaskExit"], "CallbackUrl": "https://127.0.0.1:9/cb",
        "FileIndex": 2, "OffsetTime": 3, "ToUrl": "rtmp://127.0.0.1:9/dst/moved?k=v",
        "Comment": "changed", "BackupSourceType": "PullVodPushLive",
        "BackupSourceUrl": "http://127.0.0.1:9/backup.mp4",
        "WatermarkList": [{"PictureUrl": "http://127.0.0.1:9/x.png", "XPosition": 2,
                           "YPosition": 3, "Width": 4, "Height": 5, "Location": 2}],
        "VodLocalMode": 1, "BackupToUrl": "", "BackupVodUrl": "http://127.0.0.1:9/pad.mp4"})
    assert list(r) == ["RequestId"], r
    info = describe_one(tc, tid)
    want = {"SourceUrls": ["http://127.0.0.1:9/c.mp4", "http://127.0.0.1:9/d.mp4"],
            "StartTime": start, "EndTime": end, "VodLoopTimes": 0,
            "VodRefreshType": "ContinueBreakPoint", "Status": "pause",
            "CallbackEvents": ["TaskExit"], "CallbackUrl": "https://127.0.0.1:9/cb",
            "DomainName": "", "AppName": "", "StreamName": "", "Comment": "changed",
            "BackupSourceType": "PullVodPushLive",
            "BackupSourceUrl": "http://127.0.0.1:9/backup.mp4", "VodLocalMode": 1,
            "BackupToUrl": "", "UpdateBy": "editor", "CreateBy": "tester",
            "WatermarkList": [{"PictureUrl": "http://127.0.0.1:9/x.png", "XPosition": 2,
                               "YPosition": 3, "Width": 4, "Height": 5, "Location": 2}]}
    for k, v in want.items():
        assert info[k] == v, "%s: %r != %r" % (k, info[k], v)
    native = api.task(tid)
    assert native["destination"] == "rtmp://127.0.0.1:9/dst/moved?k=v"
    assert native["pad_url"] == "http://127.0.0.1:9/pad.mp4"
    assert (native["file_index"], native["offset"], native["loop_count"]) == (1, 3, 1)
    assert native["paused"] is True
    api.wait_state(tid, "paused", 5)

    # an empty BackupSourceType removes the backup source; enable resumes
    tc.ok("ModifyLivePullStreamTask", {"TaskId": tid, "Operator": "editor",
                                       "BackupSourceType": "", "Status": "enable"})
    info = describe_one(tc, tid)
    assert (info["BackupSourceType"], info["BackupSourceUrl"], info["Status"]) == (
        "", "", "enable"), info
    if tc.plan["sdk"] == "v4":  # an empty array cannot be sent in the form encoding
        tc.ok("ModifyLivePullStreamTask", {"TaskId": tid, "Operator": "e", "WatermarkList": []})
        assert describe_one(tc, tid)["WatermarkList"] == []


def test_status_restart_delete_of_an_idle_task(tc):
    tid = create(tc)
    status = {"TaskId": tid}
    r = tc.ok("DescribeLivePullStreamTaskStatus", status)
    assert list(r) == ["TaskStatusInfo", "RequestId"], r
    assert r["TaskStatusInfo"] == {"FileUrl": "", "LoopedTimes": -1, "OffsetTime": 0,
                                   "ReportTime": "", "RunStatus": "inactive",
                                   "FileDuration": 0, "NextFileUrl": ""}, r
    assert list(tc.ok("RestartLivePullStreamTask", {"TaskId": tid, "Operator": "o"})) == [
        "RequestId"]
    assert list(tc.ok("DeleteLivePullStreamTask", {"TaskId": tid, "Operator": "o"})) == [
        "RequestId"]
    for action, params in (("DescribeLivePullStreamTaskStatus", status),
                           ("RestartLivePullStreamTask", {"TaskId": tid, "Operator": "o"}),
                           ("DeleteLivePullStreamTask", {"TaskId": tid, "Operator": "o"}),
                           ("ModifyLivePullStreamTask", {"TaskId": tid, "Operator": "o"})):
        assert tc.error(action, params)["code"] == "InvalidParameter.TaskNotExist", action
    assert tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TotalNum"] == 0


def test_specify_task_id_is_the_id_and_makes_create_idempotent(v4):
    tid = create(v4, SpecifyTaskId="my-relay-1")
    assert tid == "my-relay-1"
    assert create(v4, SpecifyTaskId="my-relay-1") == "my-relay-1", "a retried create"
    assert v4.ok("DescribeLivePullStreamTasks", {})["TotalNum"] == 1
    assert v4.ok("DescribeLivePullStreamTasks",
                 {"SpecifyTaskId": "my-relay-1"})["TaskInfos"][0]["TaskId"] == "my-relay-1"
    assert v4.error("CreateLivePullStreamTask", idle_create(SpecifyTaskId="bad id!"))[
        "code"] == "InvalidParameter"
    v4.ok("DeleteLivePullStreamTask", {"TaskId": "", "SpecifyTaskId": "my-relay-1",
                                       "Operator": "o"})
    assert v4.ok("DescribeLivePullStreamTasks", {})["TotalNum"] == 0


# ---------------------------------------------------------------- errors


def vod(**extra):
    p = {"SourceType": "PullVodPushLive",
         "SourceUrls": ["http://127.0.0.1:9/a.mp4", "http://127.0.0.1:9/b.mp4"]}
    p.update(extra)
    return idle_create(**p)


def now_iso(delta):
    return iso(int(time.time()) + delta)


MARK = {"PictureUrl": "http://127.0.0.1:9/w.png", "XPosition": 0, "YPosition": 0,
        "Width": 10, "Height": 10, "Location": 0}

CREATE_ERRORS = [
    ("bad SourceType", idle_create(SourceType="PullLive"), "InvalidParameter"),
    ("two live sources", idle_create(SourceUrls=["rtmp://a/b/c", "rtmp://a/b/d"]),
     "InvalidParameter.InvalidSourceUrl"),
    ("31 files", vod(SourceUrls=["http://127.0.0.1:9/%d.mp4" % i for i in range(31)]),
     "InvalidParameter.InvalidSourceUrl"),
    ("ftp source", idle_create(SourceUrls=["ftp://127.0.0.1/a"]),
     "InvalidParameter.InvalidSourceUrl"),
    ("rtmp file", vod(SourceUrls=["rtmp://127.0.0.1/a/b"]), "InvalidParameter.InvalidSourceUrl"),
    ("backup source", idle_create(BackupSourceUrl="ftp://x/y"),
     "InvalidParameter.InvalidSourceUrl"),
    ("time format", idle_create(StartTime="2030-01-01 00:00:00"),
     "InvalidParameter.InvalidTaskTime"),
    ("end before start", idle_create(StartTime=now_iso(7200), EndTime=now_iso(3600)),
     "InvalidParameter.InvalidTaskTime"),
    ("end in the past", idle_create(StartTime=now_iso(-7200), EndTime=now_iso(-3600)),
     "InvalidParameter.InvalidTaskTime"),
    ("8-day window", idle_create(StartTime=now_iso(60), EndTime=now_iso(60 + 8 * 86400)),
     "InvalidParameter.InvalidTaskTime"),
    ("no destination", idle_create(DomainName="", AppName="", StreamName=""),
     "InvalidParameter.InvalidToUrl"),
    ("stream with a slash", idle_create(StreamName="a/b"), "InvalidParameter.InvalidToUrl"),
    ("http ToUrl", idle_create(DomainName="", AppName="", StreamName="",
                               ToUrl="http://127.0.0.1/a/b"), "InvalidParameter.InvalidToUrl"),
    ("BackupToUrl", idle_create(BackupToUrl="srt://127.0.0.1:9"),
     "InvalidParameter.InvalidBackupToUrl"),
    ("CallbackUrl", idle_create(CallbackUrl="ftp://127.0.0.1/cb"),
     "InvalidParameter.InvalidCallbackUrl"),
    ("5 watermarks", idle_create(WatermarkList=[dict(MARK, XPosition=i) for i in range(5)]),
     "InvalidParameter.InvalidWatermark"),
    ("watermark URL", idle_create(WatermarkList=[dict(MARK, PictureUrl="http://a/b;c.png")]),
     "InvalidParameter.InvalidWatermark"),
    ("watermark place", idle_create(WatermarkList=[MARK, MARK]),
     "InvalidParameter.InvalidWatermark"),
    ("watermark Location", idle_create(WatermarkList=[dict(MARK, Location=4)]),
     "InvalidParameter.InvalidWatermark"),
    ("VodLoopTimes -2", vod(VodLoopTimes="-2"), "InvalidParameter"),
    ("VodLoopTimes text", vod(VodLoopTimes="many"), "InvalidParameter"),
    ("event name", idle_create(CallbackEvents=["TaskBegin"]), "InvalidParameter"),
    ("long Comment", idle_create(Comment="x" * 513), "InvalidParameter"),
    ("FileIndex", vod(FileIndex=3), "InvalidParameter"),
    ("OffsetTime", vod(OffsetTime=-1), "InvalidParameter"),
    ("VodLocalMode", vod(VodLocalMode=2), "InvalidParameter"),
    ("VodRefreshType", vod(VodRefreshType="Soon"), "InvalidParameter"),
    ("BackupSourceType", idle_create(BackupSourceType="PullPicPushLive"), "InvalidParameter"),
    ("no Operator", {k: v for k, v in idle_create().items() if k != "Operator"},
     "MissingParameter"),
    ("no StreamName", {k: v for k, v in idle_create().items() if k != "StreamName"},
     "MissingParameter"),
    ("unknown parameter", idle_create(Bogus="1"), "UnknownParameter"),
    ("unknown watermark field", idle_create(WatermarkList=[dict(MARK, Alpha=1)]),
     "UnknownParameter"),
]


def test_create_errors(tc, metric):
    results, ms = tc.run([("CreateLivePullStreamTask", p) for _, p, _ in CREATE_ERRORS])
    bad = []
    for (name, _, code), r in zip(CREATE_ERRORS, results):
        if r["ok"] or r["code"] != code:
            bad.append("%s: want %s, got %s" % (name, code, r))
        else:
            assert r["requestId"] and r["message"], r
    assert not bad, "\n".join(bad)
    assert tc.ok("DescribeLivePullStreamTasks", {})["TotalNum"] == 0
    metric("%d refused creates (ms each)" % len(results), ms / len(results))


def test_modify_errors(tc):
    tid = create(tc, SourceType="PullVodPushLive", SourceUrls=["http://127.0.0.1:9/a.mp4"])
    cases = [
        ({"Status": "stop"}, "InvalidParameter"),
        ({"StartTime": now_iso(-60)}, "InvalidParameter.InvalidTaskTime"),
        ({"EndTime": now_iso(-60)}, "InvalidParameter.InvalidTaskTime"),
        ({"EndTime": "tomorrow"}, "InvalidParameter.InvalidTaskTime"),
        ({"SourceUrls": ["ftp://x/y"]}, "InvalidParameter.InvalidSourceUrl"),
        ({"ToUrl": "rtsp://127.0.0.1/a"}, "InvalidParameter.InvalidToUrl"),
        ({"BackupToUrl": "http://127.0.0.1/a"}, "InvalidParameter.InvalidBackupToUrl"),
        ({"CallbackUrl": "x"}, "InvalidParameter.InvalidCallbackUrl"),
        ({"WatermarkList": [dict(MARK, PictureUrl="x")]}, "InvalidParameter.InvalidWatermark"),
        ({"FileIndex": 2}, "InvalidParameter"),
        ({"BackupVodUrl": "rtmp://127.0.0.1/a/b"}, "InvalidParameter.InvalidSourceUrl"),
        ({"DomainName": "x"}, "UnknownParameter"),
    ]
    results, _ = tc.run([("ModifyLivePullStreamTask", dict(p, TaskId=tid, Operator="o"))
                         for p, _ in cases])
    bad = ["%s: want %s, got %s" % (p, code, r) for (p, code), r in zip(cases, results)
           if r["ok"] or r["code"] != code]
    assert not bad, "\n".join(bad)
    assert tc.error("ModifyLivePullStreamTask", {"TaskId": tid})["code"] == "MissingParameter"
    info = describe_one(tc, tid)
    assert info["UpdateBy"] == "" and info["Status"] == "enable", "a refused modify changed it"


def test_action_version_and_parameter_errors(tc):
    assert tc.error("StartLivePullStreamTask", {})["code"] == "InvalidAction"
    assert tc.error("DescribeLivePullStreamTasks", {"Foo": "1"})["code"] == "UnknownParameter"
    assert tc.with_(version="2017-01-01").error("DescribeLivePullStreamTasks", {})[
        "code"] == "NoSuchVersion"
    assert tc.error("DescribeLivePullStreamTasks", {"PageNum": "x"})["code"] == \
        "InvalidParameter"


# ---------------------------------------------------------------- signatures

SIGNINGS = [
    ("v4-tc3", "v4", {}),
    ("v4-tc3-GET", "v4", {"reqMethod": "GET"}),
    ("v4-tc3-noregion", "v4", {"region": ""}),
    ("v4-HmacSHA256", "v4", {"signMethod": "HmacSHA256"}),
    ("v4-HmacSHA1-GET", "v4", {"signMethod": "HmacSHA1", "reqMethod": "GET"}),
    ("intl-HmacSHA256", "intl", {}),
    ("intl-HmacSHA256-GET", "intl", {"reqMethod": "GET"}),
    ("intl-HmacSHA1", "intl", {"signMethod": "HmacSHA1"}),
    ("intl-tc3", "intl", {"signMethod": "TC3-HMAC-SHA256"}),
    ("intl-tc3-GET", "intl", {"signMethod": "TC3-HMAC-SHA256", "reqMethod": "GET"}),
]


@pytest.mark.parametrize("sdk,opts", [s[1:] for s in SIGNINGS], ids=[s[0] for s in SIGNINGS])
def test_every_signing_mode(ferryd, sdk_installed, sdk, opts):
    good = TcClient(ferryd.port, *ALICE_TC, sdk=sdk, **opts)
    # a create carries arrays and an array of objects: flattened in GET and legacy modes
    tid = good.ok("CreateLivePullStreamTask", idle_create(
        SourceType="PullVodPushLive", SourceUrls=["http://127.0.0.1:9/a%20b.mp4",
                                                  "http://127.0.0.1:9/b.mp4?x=1&y=2"],
        WatermarkList=[MARK], CallbackEvents=["TaskStart"], Comment="caf\u00e9 + 50%"))["TaskId"]
    info = describe_one(good, tid)
    assert info["SourceUrls"] == ["http://127.0.0.1:9/a%20b.mp4",
                                  "http://127.0.0.1:9/b.mp4?x=1&y=2"]
    assert info["WatermarkList"] == [MARK] and info["Comment"] == "caf\u00e9 + 50%"
    assert info["Region"] == opts.get("region", "ap-guangzhou")
    cases = [(good.with_(secretKey="not-the-key"), "AuthFailure.SignatureFailure"),
             (good.with_(secretId="AKIDnobody"), "AuthFailure.SecretIdNotFound"),
             (good.with_(skewSeconds=400), "AuthFailure.SignatureExpire"),
             (good.with_(skewSeconds=-400), "AuthFailure.SignatureExpire")]
    for client, code in cases:
        r = client.error("DescribeLivePullStreamTasks", {})
        assert r["code"] == code, (client.plan, r)
        assert r["name"] == "TencentCloudSDKHttpException" and r["requestId"], r
        assert r["traceId"], "X-TC-TraceId is not echoed: %s" % r
    assert good.with_(skewSeconds=240).ok("DescribeLivePullStreamTasks", {})["TotalNum"] == 1


def raw(port, method, path, headers=None, body=b""):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        try:
            conn.request(method, path, body=body, headers=headers or {})
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def test_malformed_requests_get_tencent_errors(ferryd):
    port = ferryd.port
    tc3 = {"X-TC-Action": "DescribeLivePullStreamTasks", "X-TC-Version": "2018-08-01",
           "X-TC-Timestamp": str(int(time.time())), "Content-Type": "application/json"}
    cases = [
        ("POST", dict(tc3, Authorization="TC3-HMAC-SHA256 Credential=x"), b"{}",
         "AuthFailure.InvalidAuthorization"),
        ("POST", dict(tc3, Authorization="TC3-HMAC-SHA256 Credential=%s/2026-01-01/live/"
                      "tc3_request, SignedHeaders=host, Signature=%s" % (ALICE_TC[0], "0" * 64)),
         b"{}", "AuthFailure.InvalidAuthorization"),
        ("POST", tc3, b"{}", "AuthFailure.InvalidAuthorization"),
        ("GET", {}, None, None),  # not Tencent's: the native 404
        ("PUT", tc3, b"{}", "UnsupportedProtocol"),
        ("POST", {"Content-Type": "application/x-www-form-urlencoded"},
         b"Action=DescribeLivePullStreamTasks&SecretId=" + ALICE_TC[0].encode() +
         b"&Timestamp=1&Nonce=1&Signature=abc", "AuthFailure.SignatureExpire"),
        ("POST", dict(tc3, **{"Content-Length": "2000000"}), b"x" * 2000000,
         "RequestSizeLimitExceeded"),
    ]
    for method, headers, body, code in cases:
        status, doc = raw(port, method, "/", headers, body)
        if code is None:
            assert status == 404, doc
            continue
        assert status == 200, (code, status, doc)
        assert list(doc) == ["Response"] and list(doc["Response"]) == ["Error", "RequestId"], doc
        assert doc["Response"]["Error"]["Code"] == code, (headers, doc)


def d_api(d):
    """The native API of ferryd d as alice."""
    return Api(d.port, ALICE_TOKEN)


def tc3_request(port, action, body=b"", query="", method="POST", signed=("content-type", "host"),
                content_type="application/json; charset=utf-8", service="live"):
    """A hand-written TC3 client in the style of Tencent's signature demo: it signs the
    host with its port and whatever headers it is told to."""
    headers = tc3_headers(port, action, body, query, method, signed, content_type, service)
    status, doc = raw(port, method, "/" + ("?" + query if query else ""), headers, body)
    assert status == 200, doc
    return doc["Response"]


def tc3_headers(port, action, body, query, method, signed, content_type, service="live"):
    """The headers of a TC3-signed request, Authorization included."""
    ts = int(time.time())
    date = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d")
    headers = {"Host": "127.0.0.1:%d" % port, "Content-Type": content_type,
               "X-TC-Action": action, "X-TC-Version": "2018-08-01", "X-TC-Timestamp": str(ts)}
    canonical_headers = "".join("%s:%s\n" % (h, next(v for k, v in headers.items()
                                                     if k.lower() == h).strip().lower())
                                for h in signed)
    canonical = "\n".join([method, "/", query, canonical_headers, ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/tc3_request" % (date, service)
    sts = "\n".join(["TC3-HMAC-SHA256", str(ts), scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("TC3" + ALICE_TC[1]).encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = "TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, " \
        "Signature=%s" % (ALICE_TC[0], scope, ";".join(signed), sig)
    return headers


def test_hand_written_tc3_clients(ferryd):
    port = ferryd.port
    r = tc3_request(port, "DescribeLivePullStreamTasks", b'{"PageSize":5}',
                    signed=("content-type", "host", "x-tc-action"))
    assert "Error" not in r and r["PageSize"] == 5, r
    r = tc3_request(port, "DescribeLivePullStreamTasks", query="PageSize=6&PageNum=1",
                    method="GET", content_type="application/x-www-form-urlencoded")
    assert "Error" not in r and r["PageSize"] == 6, r
    for query, body, method, code in (
            ("PageSize=6", b"{}", "POST", "InvalidParameter"),  # a POST with a query
            ("PageSize=6&PageSize=7", b"", "GET", "InvalidParameter"),
            ("PageSize=%zz", b"", "GET", "InvalidParameter"),
            ("", b"{\"PageSize\":5", "POST", "InvalidParameter"),
            ("", b"[]", "POST", "InvalidParameter")):
        r = tc3_request(port, "DescribeLivePullStreamTasks", body, query, method,
                        content_type="application/json" if method == "POST" else
                        "application/x-www-form-urlencoded")
        assert r.get("Error", {}).get("Code") == code, (query, body, r)


def test_required_signed_action_stops_a_replay_as_another_action(tmp_path, api):
    """The Node SDKs sign only content-type and host, so X-TC-Action is outside the
    signature: a captured Restart could come back as a Delete. With tc3_signed_action = 1
    such requests are refused, and those that sign the action work."""
    d = Ferryd(str(tmp_path / "strict"), ACCOUNTS, dict(FERRYD_SETTINGS, tc3_signed_action=1))
    d.start()
    try:
        tid = d_api(d).create_task(**idle_task())["id"]
        body = json.dumps({"TaskId": tid, "Operator": "e2e"}).encode()
        loose = tc3_headers(d.port, "RestartLivePullStreamTask", body, "", "POST",
                            ("content-type", "host"), "application/json")
        status, doc = raw(d.port, "POST", "/", loose, body)
        assert doc["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure", doc
        signed = tc3_headers(d.port, "RestartLivePullStreamTask", body, "", "POST",
                             ("content-type", "host", "x-tc-action"), "application/json")
        status, doc = raw(d.port, "POST", "/", dict(signed), body)
        assert status == 200 and "Error" not in doc["Response"], doc
        signed["X-TC-Action"] = "DeleteLivePullStreamTask"  # the replay
        status, doc = raw(d.port, "POST", "/", signed, body)
        assert doc["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure", doc
        assert d_api(d).get("/v1/tasks/" + tid)[0] == 200, "the task was deleted by a replay"
    finally:
        d.terminate()


def test_a_legacy_signature_is_used_once(ferryd):
    """A legacy (HmacSHA256) request signs every parameter: sent twice, it is a replay."""
    params = {"Action": "DescribeLivePullStreamTasks", "Version": "2018-08-01",
              "SecretId": ALICE_TC[0], "Timestamp": str(int(time.time())), "Nonce": "4242",
              "SignatureMethod": "HmacSHA256", "Region": "ap-guangzhou"}
    host = "127.0.0.1:%d" % ferryd.port
    sts = "POST" + host + "/?" + "&".join("%s=%s" % kv for kv in sorted(params.items()))
    params["Signature"] = base64.b64encode(hmac.new(ALICE_TC[1].encode(), sts.encode(),
                                                    hashlib.sha256).digest()).decode()
    body = urllib.parse.urlencode(params).encode()
    headers = {"Host": host, "Content-Type": "application/x-www-form-urlencoded"}
    status, doc = raw(ferryd.port, "POST", "/", headers, body)
    assert "Error" not in doc["Response"], doc
    status, doc = raw(ferryd.port, "POST", "/", headers, body)
    assert doc["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure", doc


# ---------------------------------------------------------------- accounts


def test_accounts_are_isolated(tc, bob_tc, ferryd):
    tid = create(tc, SpecifyTaskId="alices-relay")
    r = bob_tc.ok("DescribeLivePullStreamTasks", {})
    assert r["TotalNum"] == 0 and r["TaskInfos"] == [], r
    assert bob_tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TotalNum"] == 0
    for action, params in (
            ("ModifyLivePullStreamTask", {"TaskId": tid, "Operator": "bob", "Status": "pause"}),
            ("RestartLivePullStreamTask", {"TaskId": tid, "Operator": "bob"}),
            ("DescribeLivePullStreamTaskStatus", {"TaskId": tid}),
            ("DeleteLivePullStreamTask", {"TaskId": tid, "Operator": "bob"})):
        assert bob_tc.error(action, params)["code"] == "InvalidParameter.TaskNotExist", action
    # ids are unique per account: bob may choose alice's id, and the answer is the one a
    # free id gets, so it tells him nothing of her tasks; neither task sees the other
    assert create(bob_tc, SpecifyTaskId=tid) == tid
    assert bob_tc.ok("DescribeLivePullStreamTasks", {"TaskId": tid})["TotalNum"] == 1
    bob_tc.ok("DeleteLivePullStreamTask", {"TaskId": tid, "Operator": "bob"})
    # bob's key pair is bob's own: alice's SecretId with bob's key does not sign
    assert tc.with_(secretKey=BOB_TC[1]).error("DescribeLivePullStreamTasks", {})[
        "code"] == "AuthFailure.SignatureFailure"
    info = describe_one(tc, tid)
    assert info["Status"] == "enable" and info["UpdateBy"] == "", info
    bobs = create(bob_tc)
    assert [t["TaskId"] for t in tc.ok("DescribeLivePullStreamTasks", {})["TaskInfos"]] == [tid]
    assert [t["TaskId"] for t in bob_tc.ok("DescribeLivePullStreamTasks", {})["TaskInfos"]] == [
        bobs]


def test_native_tasks_are_tencent_tasks_too(v4, api):
    """One task model: a task made through the native API keeps its own fields and is
    listed and deleted through the Tencent dialect as well."""
    st, doc = api.post("/v1/tasks", {
        "source_type": "live", "source_urls": ["rtmp://127.0.0.1:9/src/x"],
        "destination": "rtmp://127.0.0.1:9/dst/x", "start_time": now_iso(3600),
        "end_time": now_iso(7200)})
    assert st == 201, doc
    listed = v4.ok("DescribeLivePullStreamTasks", {})
    assert [t["TaskId"] for t in listed["TaskInfos"]] == [doc["id"]]
    v4.ok("DeleteLivePullStreamTask", {"TaskId": doc["id"], "Operator": "o"})
    assert api.get("/v1/tasks/" + doc["id"])[0] == 404


# ---------------------------------------------------------------- limits


def test_throttling_per_account_and_action(ferryd, sdk_installed, metric):
    alice = TcClient(ferryd.port, *ALICE_TC, sdk="v4")
    bob = TcClient(ferryd.port, *BOB_TC, sdk="v4")
    burst = [("DescribeLivePullStreamTaskStatus", {"TaskId": "none"})] * 45
    results, ms = alice.run(burst, parallel=True)
    codes = [r["code"] for r in results]
    served = codes.count("InvalidParameter.TaskNotExist")
    limited = codes.count("RequestLimitExceeded")
    metric("45 parallel Status calls: served / limited / ms", "%d / %d / %.0f" % (
        served, limited, ms))
    assert served + limited == 45, codes
    assert limited >= 1, "no call was throttled"
    # a 20/s bucket: 20 at once, then 20 more per second while the burst lasts
    assert 20 <= served <= 20 + 20 * ms / 1000.0 + 1, (served, ms)
    # other actions and other accounts have their own buckets
    assert alice.ok("DescribeLivePullStreamTasks", {})["TotalNum"] == 0
    assert bob.error("DescribeLivePullStreamTaskStatus", {"TaskId": "none"})["code"] == \
        "InvalidParameter.TaskNotExist"
    time.sleep(1.1)
    assert alice.error("DescribeLivePullStreamTaskStatus", {"TaskId": "none"})["code"] == \
        "InvalidParameter.TaskNotExist", "the bucket did not refill"


def test_task_quota(tmp_path, sdk_installed):
    accounts = {"carol": dict(ACCOUNTS["alice"], task_quota=2, tc_qps_create=100)}
    d = Ferryd(str(tmp_path / "quota"), accounts, FERRYD_SETTINGS).start()
    try:
        carol = TcClient(d.port, *ALICE_TC, sdk="v4")
        create(carol)
        create(carol)
        r = carol.error("CreateLivePullStreamTask", idle_create())
        assert r["code"] == "InvalidParameter.TaskNumMoreThanLimit", r
        assert carol.ok("DescribeLivePullStreamTasks", {})["LimitTaskNum"] == 2
    finally:
        rc, _ = d.terminate()
    assert rc == 0, tail(d.stderr_path)
    assert not d.sanitizer_reports(), d.sanitizer_reports()


def test_native_token_is_not_a_tencent_key(ferryd, sdk_installed):
    r = TcClient(ferryd.port, "alice", ALICE_TOKEN, sdk="v4").error(
        "DescribeLivePullStreamTasks", {})
    assert r["code"] == "AuthFailure.SecretIdNotFound", r


def test_tasks_of_other_apis_are_visible(tc, api):
    """One task model: a task made through the native API is listed, described and paused
    through the Tencent API, in Tencent's shape."""
    start, end = later()
    native = api.create_task(source_type="live", source_urls=["rtmp://127.0.0.1:9/src/x"],
                             destination="rtmp://127.0.0.1:9/dst/native", start_time=start,
                             end_time=end)
    info = describe_one(tc, native["id"])
    assert info["TaskId"] == native["id"]
    assert info["SourceType"] == "PullLivePushLive"
    assert info["SourceUrls"] == ["rtmp://127.0.0.1:9/src/x"]
    assert info["StartTime"] == start and info["Status"] == "enable"
    tc.ok("ModifyLivePullStreamTask", {"TaskId": native["id"], "Operator": "t", "Status": "pause"})
    assert api.task(native["id"])["paused"] is True


def test_the_audit_trail_names_the_tencent_api(v4, api, bob):
    """Create, Modify, Restart and Delete through the Tencent SDK each leave an audit line
    (api tencent, the caller's address, the native names of the fields changed), readable
    through the native API by the same account only, after the task is gone too."""
    tid = create(v4)
    v4.ok("ModifyLivePullStreamTask", {"TaskId": tid, "Operator": "editor", "Comment": "new"})
    v4.ok("RestartLivePullStreamTask", {"TaskId": tid, "Operator": "o"})
    v4.ok("DeleteLivePullStreamTask", {"TaskId": tid, "Operator": "o"})
    st, doc = api.get("/v1/audit?task_id=" + tid)
    assert st == 200, doc
    lines = doc["audit"]
    assert [a["action"] for a in lines] == ["delete", "restart", "modify", "create"], lines
    assert {(a["api"], a["address"], a["account"]) for a in lines} == {
        ("tencent", "127.0.0.1", "alice")}, lines
    assert set(lines[2]["fields"]) == {"comment", "updated_by"}, lines[2]
    assert "destination" in lines[3]["fields"] and "source_urls" in lines[3]["fields"]
    st, doc = bob.get("/v1/audit?task_id=" + tid)
    assert st == 200 and doc["audit"] == [] and doc["total"] == 0, doc
