"""test_alibaba_api.py — the Alibaba Cloud ApsaraVideo Live dialect (2016-11-01) through the
official Node clients, unchanged: @alicloud/pop-core (RPC v1, GET and POST) and
@alicloud/openapi-core (ACS3-HMAC-SHA256, and RPC v1 with signatureAlgorithm v2). Every
action, SourceUrls both ways, the exact JSON types of the replies, the exact Code and HTTP
status of bad input and bad signatures, nonce replay, clock skew, throttling, account
isolation, DstUrl uniqueness, fuzzy search with paging, quota, regions and vod media ids."""

import time
import uuid

import pytest

from alisdk import AliClient, ensure_installed
from conftest import ACCOUNTS, ALICE_ALI, ALICE_TC, BOB_ALI, FERRYD_SETTINGS
from harness import Ferryd, iso, tail
from tcsdk import TcClient
from tcsdk import ensure_installed as tc_installed

# Every way the official clients put a call on the wire.
CLIENTS = {
    "pop-GET": dict(sdk="pop"),
    "pop-POST": dict(sdk="pop", method="POST"),
    "openapi-ACS3": dict(sdk="openapi"),
    "openapi-ACS3-POST": dict(sdk="openapi", method="POST"),
    "openapi-RPCv1": dict(sdk="openapi", signatureAlgorithm="v2"),
}


@pytest.fixture(scope="session")
def sdk_installed():
    ensure_installed()


@pytest.fixture(params=sorted(CLIENTS))
def ali(request, ferryd, sdk_installed):
    """alice through one of the clients and signing modes."""
    return AliClient(ferryd.port, *ALICE_ALI, **CLIENTS[request.param])


@pytest.fixture
def acs3(ferryd, sdk_installed):
    """alice through openapi-core with ACS3: its errors carry the HTTP status."""
    return AliClient(ferryd.port, *ALICE_ALI, sdk="openapi")


def later(hours=1, length=600):
    start = int(time.time()) + hours * 3600
    return iso(start), iso(start + length)


def idle_create(**extra):
    """CreateLivePullToPush parameters of a live task that starts in an hour."""
    start, end = later()
    p = {"Region": "cn-shanghai", "SourceType": "live",
         "SourceUrls": ["rtmp://127.0.0.1:9/src/none"],
         "DstUrl": "rtmp://127.0.0.1:9/dst/%s" % uuid.uuid4().hex[:12],
         "StartTime": start, "EndTime": end}
    p.update(extra)
    return {k: v for k, v in p.items() if v is not None}


def create(client, **extra):
    return client.ok("CreateLivePullToPush", idle_create(**extra))["TaskId"]


def describe(client, tid):
    return client.ok("DescribeLivePullToPush", {"Region": "cn-shanghai", "TaskId": tid})


STATE_TYPES = [("TaskId", str), ("TaskStatus", int), ("TaskInvalidReason", str),
               ("TaskExitReason", str), ("TaskExitTime", int), ("CurrentFileIndex", int),
               ("CurrentOffset", int), ("TaskInfo", dict)]
INFO_TYPES = [("TaskId", str), ("TaskName", str), ("SourceType", str), ("SourceProtocol", str),
              ("SourceUrls", list), ("DstUrl", str), ("StartTime", str), ("EndTime", str),
              ("FileIndex", int), ("Offset", int), ("RepeatNumber", int), ("RetryCount", int),
              ("RetryInterval", int), ("CallbackURL", str), ("AuthKey", str), ("ReqAuth", str),
              ("NotifyItemSwitch", str)]


def check_types(obj, types):
    assert list(obj) == [n for n, _ in types], "fields or their order differ: %s" % list(obj)
    for name, t in types:
        assert isinstance(obj[name], t) and not isinstance(obj[name], bool), (name, obj[name])


def check_state(state):
    check_types(state, STATE_TYPES)
    check_types(state["TaskInfo"], INFO_TYPES)
    assert all(isinstance(u, str) for u in state["TaskInfo"]["SourceUrls"])


# ---------------------------------------------------------------- every action


@pytest.mark.parametrize("urls_as", ["json", "array"])
def test_every_action(ali, urls_as):
    client = ali.with_(sourceUrls=urls_as)
    name = "d\u00e9mo \u6d4b\u8bd5 *~!'() + %s" % uuid.uuid4().hex[:6]
    urls = ["http://127.0.0.1:9/a.mp4", "http://127.0.0.1:9/b.flv?x=1&y=2"]
    r = client.ok("CreateLivePullToPush", idle_create(
        SourceType="url", SourceUrls=urls, TaskName=name, RepeatNumber=2, FileIndex=1,
        Offset=5, RetryCount=4, RetryInterval=90, CallbackUrl="http://127.0.0.1:9/hook",
        AuthKey="ak", ReqAuth="ra", NotifyItemSwitch="on", SourceProtocol="http-flv"))
    assert list(r) == ["RequestId", "TaskId", "RetCode", "Description"], r
    assert (r["RetCode"], r["Description"]) == (0, "OK")
    tid = r["TaskId"]
    q = {"Region": "cn-shanghai", "TaskId": tid}
    new_end = iso(int(time.time()) + 7200)
    results, _ = client.run([
        ("DescribeLivePullToPush", q),
        ("DescribeLivePullToPushList", {"Region": "cn-shanghai", "TaskName": name[-6:]}),
        ("UpdateLivePullToPush", dict(q, SourceUrls=[urls[1]], RepeatNumber=-1, FileIndex=0,
                                      Offset=3, EndTime=new_end, CallbackUrl="http://h/2",
                                      AuthKey="ak2")),
        ("DescribeLivePullToPush", q),
        ("StopLivePullToPush", q),
        ("RestartLivePullToPush", q),
        ("DescribeLivePullToPush", q),
        ("DeleteLivePullToPush", q),
        ("DescribeLivePullToPush", q),
        ("DeleteLivePullToPush", q),
        ("DescribeLivePullToPush", q),
    ])
    for i, res in enumerate(results[:10]):
        assert res["ok"], (i, res)
    d = results[0]["response"]
    assert list(d)[:3] == ["RequestId", "RetCode", "Description"], d
    state = {k: v for k, v in d.items() if k not in ("RequestId", "RetCode", "Description")}
    check_state(state)
    info = state["TaskInfo"]
    assert (state["TaskId"], state["TaskStatus"], state["CurrentFileIndex"]) == (tid, 0, 1)
    assert (info["TaskName"], info["SourceType"], info["SourceUrls"]) == (name, "url", urls)
    assert (info["RepeatNumber"], info["FileIndex"], info["Offset"]) == (2, 1, 5)
    assert (info["RetryCount"], info["RetryInterval"]) == (4, 90)
    assert info["CallbackURL"] == "http://127.0.0.1:9/hook"
    assert (info["AuthKey"], info["ReqAuth"], info["NotifyItemSwitch"]) == ("ak", "ra", "on")
    lst = results[1]["response"]
    assert list(lst) == ["RequestId", "PageNumber", "PageSize", "Total", "TaskList"], lst
    assert (lst["Total"], lst["PageNumber"], lst["PageSize"]) == (1, 1, 10)
    check_state(lst["TaskList"][0])
    assert list(results[2]["response"]) == ["RequestId", "RetCode", "Description"]
    info = results[3]["response"]["TaskInfo"]
    assert (info["SourceUrls"], info["RepeatNumber"], info["FileIndex"]) == ([urls[1]], -1, 0)
    assert (info["Offset"], info["EndTime"], info["CallbackURL"]) == (3, new_end, "http://h/2")
    assert info["AuthKey"] == "ak2" and info["TaskName"] == name
    for i in (4, 5):  # Stop and Restart of a task before its StartTime change nothing
        assert list(results[i]["response"]) == ["RequestId", "TaskId"]
        assert results[i]["response"]["TaskId"] == tid
    assert results[6]["response"]["TaskStatus"] == 0
    gone = results[8]["response"]  # Delete: exited, TriggerByUser, still readable
    assert (gone["TaskStatus"], gone["TaskExitReason"]) == (-1, "TriggerByUser"), gone
    assert abs(gone["TaskExitTime"] - time.time()) < 30
    assert not results[10]["ok"] and results[10]["code"] == "InvalidTaskId.NotFound"


def test_describe_list_fuzzy_and_paging(acs3):
    tag = uuid.uuid4().hex[:8]
    ids = [create(acs3, TaskName="alpha-%s-%d" % (tag, i),
                  DstUrl="rtmp://127.0.0.1:9/fz%s/a%d" % (tag, i)) for i in range(3)]
    ids += [create(acs3, TaskName="beta-%s-%d" % (tag, i),
                   DstUrl="rtmp://127.0.0.1:9/fz%s/b%d" % (tag, i)) for i in range(2)]
    base = {"Region": "cn-shanghai"}
    results, _ = acs3.run([
        ("DescribeLivePullToPushList", dict(base, TaskName="alpha-" + tag)),
        ("DescribeLivePullToPushList", dict(base, TaskName=tag, PageSize=2, PageNumber=3)),
        ("DescribeLivePullToPushList", dict(base, TaskId=ids[3][4:20])),
        ("DescribeLivePullToPushList", dict(base, DstUrl="fz%s/b" % tag)),
        ("DescribeLivePullToPushList", dict(base, TaskName=tag, DstUrl="/a1")),
        ("DescribeLivePullToPushList", dict(base, PageSize=100)),
        ("DescribeLivePullToPushList", dict(base, TaskName="no-such-" + tag)),
    ])
    r = [x["response"] for x in results]
    assert r[0]["Total"] == 3 and [t["TaskId"] for t in r[0]["TaskList"]] == ids[2::-1]
    assert (r[1]["Total"], r[1]["PageNumber"], r[1]["PageSize"]) == (5, 3, 2)
    assert [t["TaskId"] for t in r[1]["TaskList"]] == [ids[0]]  # newest first
    assert [t["TaskId"] for t in r[2]["TaskList"]] == [ids[3]]
    assert sorted(t["TaskId"] for t in r[3]["TaskList"]) == sorted(ids[3:])
    assert [t["TaskId"] for t in r[4]["TaskList"]] == [ids[1]]
    assert r[5]["Total"] == 5 and len(r[5]["TaskList"]) == 5
    assert (r[6]["Total"], r[6]["TaskList"]) == (0, [])


def test_dst_url_unique_per_account(acs3, ferryd):
    dst = "rtmp://127.0.0.1:9/dst/unique-%s" % uuid.uuid4().hex[:6]
    tid = create(acs3, DstUrl=dst)
    r = acs3.error("CreateLivePullToPush", idle_create(DstUrl=dst))
    assert (r["code"], r["statusCode"]) == ("CodeConfigAlreadyExists", 400), r
    assert tid in r["data"]["Message"]
    create(acs3, DstUrl=dst + "?other=1")  # a different URL
    bob = AliClient(ferryd.port, *BOB_ALI, sdk="openapi")
    create(bob, DstUrl=dst)  # another account's tasks do not collide
    acs3.ok("DeleteLivePullToPush", {"Region": "cn-shanghai", "TaskId": tid})
    create(acs3, DstUrl=dst)  # an exited task frees its DstUrl


# ---------------------------------------------------------------- bad input

def bad_window():
    now = int(time.time())
    return [
        ({"StartTime": iso(now + 600), "EndTime": iso(now + 600)}, "EndTime"),
        ({"StartTime": iso(now - 7200), "EndTime": iso(now - 60)}, "EndTime"),
        ({"StartTime": iso(now + 60), "EndTime": iso(now + 60 + 8 * 86400)}, "EndTime"),
    ]


def test_create_errors_exact_code_and_status(acs3):
    ill = "InvalidParam.CodeIllegalDuration"
    cases = [(idle_create(DstUrl=None), "MissingParameter", "DstUrl"),
             (idle_create(SourceUrls=None), "MissingParameter", "SourceUrls"),
             (idle_create(Region=None), "MissingParameter", "Region"),
             (idle_create(SourceType="file"), "InvalidParameter", "SourceType"),
             (idle_create(DstUrl="http://127.0.0.1:9/x"), "InvalidParameter", "DstUrl"),
             (idle_create(DstUrl="rtmp://h/" + "x" * 2000), "InvalidParameter", "DstUrl"),
             (idle_create(StartTime="2030-01-01 00:00:00"), "InvalidParameter", "StartTime"),
             (idle_create(SourceUrls=["rtmp://h/a/b", "rtmp://h/a/c"]), "InvalidParameter",
              "SourceUrls"),
             (idle_create(SourceType="url", SourceUrls=["http://h/%d.mp4" % i
                                                        for i in range(31)]),
              "InvalidParameter", "SourceUrls"),
             (idle_create(SourceUrls=["ftp://h/a"]), "InvalidParameter", "SourceUrls"),
             (idle_create(RetryInterval=301), "InvalidParameter", "RetryInterval"),
             (idle_create(RetryCount=-1), "InvalidParameter", "RetryCount"),
             (idle_create(RepeatNumber=-2), "InvalidParameter", "RepeatNumber"),
             (idle_create(RepeatNumber="x"), "InvalidParameter", "RepeatNumber"),
             (idle_create(SourceType="url", SourceUrls=["http://h/a.mp4"], FileIndex=1),
              "InvalidParameter", "FileIndex"),
             (idle_create(Offset=-1), "InvalidParameter", "Offset"),
             (idle_create(Region="cn-hangzhou"), "InvalidParameter", "Region"),
             (idle_create(SourceProtocol="srt"), "InvalidParameter", "SourceProtocol"),
             (idle_create(CallbackUrl="ftp://h/x"), "InvalidParameter", "callback"),
             (idle_create(SourceType="vod", SourceUrls=["media-1"]), "InvalidParameter",
              "vod media map")]
    cases += [(idle_create(**w), ill, m) for w, m in bad_window()]
    results, _ = acs3.run([("CreateLivePullToPush", p) for p, _, _ in cases])
    for (p, code, words), r in zip(cases, results):
        assert not r["ok"], (p, r)
        assert (r["code"], r["statusCode"]) == (code, 400), (p, r)
        assert words.lower() in r["data"]["Message"].lower(), (words, r["data"])
        assert list(r["data"]) == ["RequestId", "HostId", "Code", "Message", "Recommend"]
        assert r["requestId"] == r["data"]["RequestId"]
    assert acs3.ok("DescribeLivePullToPushList", {"Region": "cn-shanghai"})["Total"] == 0


def test_other_action_errors(acs3, ali):
    tid = create(acs3)
    base = {"Region": "cn-shanghai"}
    cases = [("DescribeLivePullToPush", base, "MissingParameter", 400),
             ("DescribeLivePullToPush", {"TaskId": tid}, "MissingParameter", 400),
             ("DescribeLivePullToPush", dict(base, TaskId="no-such-task"),
              "InvalidTaskId.NotFound", 404),
             ("UpdateLivePullToPush", dict(base, TaskId="x"), "InvalidTaskId.NotFound", 404),
             ("StopLivePullToPush", dict(base, TaskId="x"), "InvalidTaskId.NotFound", 404),
             ("RestartLivePullToPush", dict(base, TaskId="x"), "InvalidTaskId.NotFound", 404),
             ("DeleteLivePullToPush", dict(base, TaskId="x"), "InvalidTaskId.NotFound", 404),
             ("UpdateLivePullToPush", dict(base, TaskId=tid, EndTime=iso(time.time() - 5)),
              "InvalidParam.CodeIllegalDuration", 400),
             ("UpdateLivePullToPush", dict(base, TaskId=tid, RetryInterval=0),
              "InvalidParameter", 400),
             ("DescribeLivePullToPushList", dict(base, PageSize=101), "InvalidParameter", 400),
             ("DescribeLivePullToPushList", dict(base, PageNumber=0), "InvalidParameter", 400),
             ("DescribeLivePullToPushList", {}, "MissingParameter", 400),
             ("CreateLivePullToPushTask", base, "InvalidApi.NotFound", 404)]
    results, _ = acs3.run([(a, p) for a, p, _, _ in cases])
    for (a, p, code, status), r in zip(cases, results):
        assert (r["ok"], r["code"], r["statusCode"]) == (False, code, status), (a, p, r)
    # every client reads the same Code, whatever its signing and method
    r = ali.error("DescribeLivePullToPush", dict(base, TaskId="no-such-task"))
    assert r["code"] == "InvalidTaskId.NotFound", r
    assert r["data"]["Code"] == "InvalidTaskId.NotFound"


def test_version_and_format(ferryd, sdk_installed):
    r = AliClient(ferryd.port, *ALICE_ALI, sdk="openapi", version="2099-01-01").error(
        "DescribeLivePullToPushList", {"Region": "cn-shanghai"})
    assert (r["code"], r["statusCode"]) == ("NoSuchVersion", 400), r
    pop = AliClient(ferryd.port, *ALICE_ALI, sdk="pop")
    r = pop.error("DescribeLivePullToPushList", {"Region": "cn-shanghai", "Format": "XML"})
    assert r["code"] == "InvalidParameter.Format", r
    assert pop.ok("DescribeLivePullToPushList", {"Region": "cn-shanghai", "Format": "json"})


# ---------------------------------------------------------------- authentication


@pytest.mark.parametrize("sdk", [dict(sdk="pop"), dict(sdk="openapi"),
                                 dict(sdk="openapi", signatureAlgorithm="v2")],
                         ids=["pop", "acs3", "rpcv1"])
def test_signature_errors(ferryd, sdk_installed, sdk):
    q = ("DescribeLivePullToPushList", {"Region": "cn-shanghai"})
    good = AliClient(ferryd.port, *ALICE_ALI, **sdk)
    cases = [(good.with_(keySecret=ALICE_ALI[1] + "x"), "SignatureDoesNotMatch", 400),
             (good.with_(keyId="LTAInobody"), "InvalidAccessKeyId.NotFound", 404),
             (good.with_(skewSeconds=16 * 60), "InvalidTimeStamp.Expired", 400),
             (good.with_(skewSeconds=-16 * 60), "InvalidTimeStamp.Expired", 400),
             (good.with_(keyId=BOB_ALI[0]), "SignatureDoesNotMatch", 400)]
    for client, code, status in cases:
        r = client.error(*q)
        assert r["code"] == code, (client, r)
        if sdk["sdk"] == "openapi":
            assert r["statusCode"] == status, (client, r)
    assert good.with_(skewSeconds=14 * 60).ok(*q)["Total"] == 0
    # a replayed nonce: the same SignatureNonce twice within the window
    nonce = uuid.uuid4().hex
    results, _ = good.with_(fixedNonce=nonce).run([q, q])
    assert results[0]["ok"], results[0]
    assert results[1]["code"] == "SignatureNonceUsed", results[1]
    # the nonce is per AccessKey: bob may use the same one
    assert AliClient(ferryd.port, *BOB_ALI, fixedNonce=nonce, **sdk).ok(*q)["Total"] == 0


def test_unsigned_requests(ferryd):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", ferryd.port, timeout=10)
    conn.request("GET", "/?Action=DescribeLivePullToPushList&Region=cn-shanghai",
                 headers={"x-acs-action": "DescribeLivePullToPushList",
                          "x-acs-version": "2016-11-01"})
    resp = conn.getresponse()
    body = resp.read().decode()
    assert resp.status == 400 and '"Code":"IncompleteSignature"' in body, body
    assert resp.getheader("x-acs-request-id") and "application/json" in resp.getheader(
        "Content-Type")
    conn.request("PUT", "/", headers={"x-acs-action": "DescribeLivePullToPushList"})
    resp = conn.getresponse()
    body = resp.read().decode()
    assert resp.status == 400 and '"Code":"UnsupportedHTTPMethod"' in body, body


def test_throttling(ferryd, sdk_installed):
    """bob has the default 10 requests per second per AccessKey and action."""
    bob = AliClient(ferryd.port, *BOB_ALI, sdk="openapi")
    q = ("DescribeLivePullToPushList", {"Region": "cn-shanghai"})
    results, _ = bob.run([q] * 25, parallel=True)
    denied = [r for r in results if not r["ok"]]
    assert 5 <= len(denied) <= 15, results
    for r in denied:
        assert (r["code"], r["statusCode"], r["name"]) == \
            ("Throttling.User", 400, "ThrottlingError"), r
    results, _ = bob.with_(sdk="pop").run([q] * 25, parallel=True)
    assert any(r.get("code") == "Throttling.User" for r in results), results
    time.sleep(1.2)
    assert bob.ok(*q)["Total"] == 0
    # alice is not slowed by bob
    alice = AliClient(ferryd.port, *ALICE_ALI, sdk="openapi")
    results, _ = alice.run([q] * 10, parallel=True)
    assert all(r["ok"] for r in results), results


# ---------------------------------------------------------------- accounts and dialects


def test_account_isolation(acs3, ferryd):
    tid = create(acs3)
    bob = AliClient(ferryd.port, *BOB_ALI, sdk="openapi")
    q = {"Region": "cn-shanghai", "TaskId": tid}
    for action in ("DescribeLivePullToPush", "UpdateLivePullToPush", "StopLivePullToPush",
                   "RestartLivePullToPush", "DeleteLivePullToPush"):
        r = bob.error(action, dict(q, RepeatNumber=1))
        assert (r["code"], r["statusCode"]) == ("InvalidTaskId.NotFound", 404), r
    assert bob.ok("DescribeLivePullToPushList", {"Region": "cn-shanghai"})["Total"] == 0
    assert describe(acs3, tid)["TaskStatus"] == 0


def test_a_tencent_task_is_visible_in_alibaba_shape(acs3, ferryd):
    tc_installed()
    tc = TcClient(ferryd.port, *ALICE_TC, sdk="v4")
    start, end = later()
    tid = tc.ok("CreateLivePullStreamTask", {
        "SourceType": "PullVodPushLive", "SourceUrls": ["http://127.0.0.1:9/a.mp4"],
        "DomainName": "127.0.0.1:9", "AppName": "dst", "StreamName": "tc",
        "StartTime": start, "EndTime": end, "Operator": "t", "VodLoopTimes": "3"})["TaskId"]
    d = describe(acs3, tid)
    info = d["TaskInfo"]
    assert (d["TaskStatus"], info["SourceType"], info["DstUrl"]) == \
        (0, "url", "rtmp://127.0.0.1:9/dst/tc"), d
    assert (info["StartTime"], info["EndTime"], info["RepeatNumber"]) == (start, end, 2)
    # and the DstUrl it pushes to is taken for the account
    r = acs3.error("CreateLivePullToPush", idle_create(DstUrl="rtmp://127.0.0.1:9/dst/tc"))
    assert r["code"] == "CodeConfigAlreadyExists", r


# ---------------------------------------------------------------- config-driven rules


def test_quota_regions_and_vod_media(tmp_path, sdk_installed):
    media = tmp_path / "media.map"
    media.write_text("# id url\nvid-1 http://127.0.0.1:9/one.mp4\n"
                     "vid-2   http://127.0.0.1:9/two.mp4?sig=a%20b\n")
    settings = dict(FERRYD_SETTINGS, vod_media_map=str(media), ali_regions="cn-shanghai,"
                    "ap-southeast-1")
    accounts = {"carol": dict(ACCOUNTS["alice"], task_quota=2)}
    d = Ferryd(str(tmp_path / "cfg"), accounts, settings).start()
    try:
        carol = AliClient(d.port, *ALICE_ALI, sdk="openapi")
        tid = create(carol, SourceType="vod", SourceUrls=["vid-2", "vid-1"], FileIndex=1)
        info = describe(carol, tid)["TaskInfo"]
        assert (info["SourceType"], info["SourceUrls"]) == ("vod", ["vid-2", "vid-1"]), info
        r = carol.error("UpdateLivePullToPush", {"Region": "cn-shanghai", "TaskId": tid,
                                                 "SourceUrls": ["vid-3"]})
        assert r["code"] == "InvalidParameter" and "vid-3" in r["data"]["Message"], r
        carol.ok("UpdateLivePullToPush", {"Region": "ap-southeast-1", "TaskId": tid,
                                          "SourceUrls": ["vid-1"]})
        assert describe(carol, tid)["TaskInfo"]["SourceUrls"] == ["vid-1"]
        r = carol.error("CreateLivePullToPush", idle_create(Region="cn-beijing"))
        assert (r["code"], r["statusCode"]) == ("InvalidParameter", 400), r
        assert "ali_regions" in r["data"]["Message"], r
        create(carol, Region="ap-southeast-1")
        r = carol.error("CreateLivePullToPush", idle_create())
        assert (r["code"], r["statusCode"]) == ("CodeNotEnoughResource", 400), r
    finally:
        rc, _ = d.terminate()
    assert rc == 0, tail(d.stderr_path)
    assert not d.sanitizer_reports(), d.sanitizer_reports()
