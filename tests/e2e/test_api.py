"""test_api.py — the native REST API as a client sees it: bad input gets a clear JSON
error and changes nothing, accounts are isolated, lists page, PATCH and DELETE work."""

import json
import time

import pytest

from harness import Api, idle_task, iso, whole_seconds_from_now


def error_of(status, doc):
    """The error object of a response; fails clearly when the envelope is missing."""
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), (
        "HTTP %s without an error envelope: %r" % (status, doc))
    err = doc["error"]
    assert err.get("code") and err.get("message"), "error without code/message: %r" % err
    return err


@pytest.fixture
def baseline(api):
    """One existing task, so "nothing changed" is checked against a non-empty store."""
    task = api.create_task(**idle_task(name="baseline"))
    return task, api.total()


def assert_unchanged(api, baseline):
    task, total = baseline
    assert api.total() == total, "a rejected request changed the task count"
    again = api.task(task["id"])
    assert again["updated_at"] == task["updated_at"] and again["name"] == task["name"]


# ------------------------------------------------------------ creating and reading


def test_create_returns_the_task(api):
    body = idle_task(name="cam-1", comment="hello")
    st, doc = api.post("/v1/tasks", body)
    assert st == 201, doc
    assert doc["id"]
    for k in ("name", "source_type", "source_urls", "destination", "start_time", "end_time",
              "retry_count", "retry_interval", "comment"):
        assert doc[k] == body[k], "field %s: sent %r, got %r" % (k, body[k], doc[k])
    assert doc["state"] == "idle"
    st, got = api.get("/v1/tasks/" + doc["id"])
    assert st == 200 and got["id"] == doc["id"] and got["destination"] == body["destination"]


# ------------------------------------------------------------ bad input


def test_malformed_json_is_rejected(api, baseline):
    st, doc = api.post("/v1/tasks", '{"source_type": "live", "source_urls": [')
    assert st == 400, doc
    assert error_of(st, doc)["code"] == "malformed_request"
    assert_unchanged(api, baseline)


@pytest.mark.parametrize("field", ["destination", "source_urls", "start_time"])
def test_missing_field_is_named(api, baseline, field):
    body = idle_task()
    del body[field]
    st, doc = api.post("/v1/tasks", body)
    assert st == 400, doc
    err = error_of(st, doc)
    assert err["code"] == "missing_argument", err
    assert err.get("field") == field, "error does not name %s: %r" % (field, err)
    assert_unchanged(api, baseline)


def test_end_before_start_is_rejected(api, baseline):
    start = whole_seconds_from_now(3600)
    st, doc = api.post("/v1/tasks", idle_task(start_time=iso(start), end_time=iso(start - 60)))
    assert st == 400, doc
    assert error_of(st, doc)["code"] == "invalid_task_time"
    assert_unchanged(api, baseline)


def test_non_rtmp_destination_is_rejected(api, baseline):
    st, doc = api.post("/v1/tasks", idle_task(destination="http://127.0.0.1:9/live/out"))
    assert st == 400, doc
    err = error_of(st, doc)
    assert err["code"] == "invalid_destination_url", err
    assert_unchanged(api, baseline)


def test_oversized_body_is_rejected(api, baseline):
    body = json.dumps(idle_task(comment="x" * (1536 * 1024)))
    st, doc = api.post("/v1/tasks", body)
    assert st == 413, doc
    assert error_of(st, doc)["code"] == "payload_too_large"
    assert_unchanged(api, baseline)


def test_unknown_task_is_not_found(api):
    for method in ("GET", "PATCH", "DELETE"):
        st, doc = api.call(method, "/v1/tasks/no-such-task",
                           {"comment": "x"} if method == "PATCH" else None)
        assert st == 404, (method, doc)
        assert error_of(st, doc)["code"] == "not_found"


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_missing_or_bad_token_is_unauthorized(api, baseline, token):
    anon = Api(api.port, token)
    for method, path, body in (("GET", "/v1/tasks", None),
                               ("GET", "/v1/tasks/" + baseline[0]["id"], None),
                               ("POST", "/v1/tasks", idle_task()),
                               ("DELETE", "/v1/tasks/" + baseline[0]["id"], None)):
        st, doc = anon.call(method, path, body)
        assert st == 401, (method, path, doc)
        assert error_of(st, doc)["code"] == "unauthorized"
    assert_unchanged(api, baseline)


# ------------------------------------------------------------ accounts


def test_accounts_are_isolated(api, bob):
    task = api.create_task(**idle_task(name="alice's"))
    tid = task["id"]
    st, doc = bob.get("/v1/tasks/" + tid)
    assert st == 404, "bob can read alice's task: %r" % doc
    st, doc = bob.patch("/v1/tasks/" + tid, {"comment": "bob was here"})
    assert st == 404, "bob can modify alice's task: %r" % doc
    st, doc = bob.delete("/v1/tasks/" + tid)
    assert st == 404, "bob can delete alice's task: %r" % doc
    st, doc = bob.get("/v1/tasks?page=1&page_size=100")
    assert st == 200, doc
    assert doc["total"] == 0 and doc["tasks"] == [], "bob's list shows alice's tasks: %r" % doc
    kept = api.task(tid)
    assert kept.get("comment") == task.get("comment") and kept["updated_at"] == task["updated_at"]
    # and the other way round
    bobs = bob.create_task(**idle_task(name="bob's"))
    st, doc = api.get("/v1/tasks/" + bobs["id"])
    assert st == 404, doc
    assert api.total() == 1 and bob.total() == 1


# ------------------------------------------------------------ listing, modifying, deleting


def test_list_pages_newest_updated_first(api):
    ids = []
    for i in range(25):
        if i == 24:
            time.sleep(0.02)  # the last one is strictly the newest
        ids.append(api.create_task(**idle_task(name="t%02d" % i))["id"])
    pages = []
    for page in (1, 2, 3, 4):
        st, doc = api.get("/v1/tasks?page=%d&page_size=10" % page)
        assert st == 200, doc
        assert doc["total"] == 25 and doc["page"] == page and doc["page_size"] == 10, doc
        pages.append([t["id"] for t in doc["tasks"]])
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    listed = pages[0] + pages[1] + pages[2]
    assert sorted(listed) == sorted(ids), "pages lose or repeat tasks"
    assert listed[0] == ids[-1], "newest task is not first"
    # updating the oldest moves it to the front
    time.sleep(0.02)
    st, doc = api.patch("/v1/tasks/" + ids[0], {"comment": "touched"})
    assert st == 200, doc
    st, doc = api.get("/v1/tasks?page=1&page_size=10")
    assert st == 200 and doc["tasks"][0]["id"] == ids[0], "updated task is not first"


def test_patch_changes_a_field(api):
    task = api.create_task(**idle_task(name="before", comment="one"))
    time.sleep(1.05)  # updated_at has whole seconds
    new_end = iso(int(time.time()) + 7200 + 600)
    st, doc = api.patch("/v1/tasks/" + task["id"], {"name": "after", "end_time": new_end})
    assert st == 200, doc
    got = api.task(task["id"])
    assert got["name"] == "after" and got["end_time"] == new_end
    assert got["comment"] == "one" and got["destination"] == task["destination"]
    assert got["start_time"] == task["start_time"]
    assert got["updated_at"] != task["updated_at"]


def test_patch_with_bad_value_changes_nothing(api, baseline):
    task = baseline[0]
    st, doc = api.patch("/v1/tasks/" + task["id"], {"destination": "http://example.invalid/x"})
    assert st == 400, doc
    assert error_of(st, doc)["code"] == "invalid_destination_url"
    assert api.task(task["id"])["destination"] == task["destination"]
    assert_unchanged(api, baseline)


def test_delete_then_not_found(api):
    task = api.create_task(**idle_task())
    total = api.total()
    st, doc = api.delete("/v1/tasks/" + task["id"])
    assert st == 204, doc
    st, doc = api.get("/v1/tasks/" + task["id"])
    assert st == 404, doc
    assert api.total() == total - 1
    st, doc = api.delete("/v1/tasks/" + task["id"])
    assert st == 404, doc
