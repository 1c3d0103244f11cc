"""test_audit.py — the audit trail through the native API against a real ferryd: every
create, change and delete leaves a line with the account, the API, the caller's address,
the request id and the fields changed; it is scoped to the account, paged, and it stays
when its task is deleted and when ferryd restarts."""

import re

from harness import idle_task


def trail(api, tid=None, **query):
    path = "/v1/audit?" + "&".join(["%s=%s" % kv for kv in query.items()] +
                                   (["task_id=" + tid] if tid else []))
    st, doc = api.get(path)
    assert st == 200, doc
    return doc


def test_every_change_leaves_an_audit_line(api, bob, ferryd):
    tid = api.create_task(**idle_task(name="audited"))["id"]
    st, _ = api.patch("/v1/tasks/" + tid, {"name": "renamed", "retry_count": 3})
    assert st == 200
    assert api.post("/v1/tasks/%s/pause" % tid)[0] == 200
    assert api.post("/v1/tasks/%s/resume" % tid)[0] == 200
    st, _ = api.patch("/v1/tasks/" + tid, {"name": "renamed"})  # changes nothing
    assert st == 200
    assert api.delete("/v1/tasks/" + tid)[0] in (200, 204)

    lines = trail(api, tid)["audit"]
    assert [a["action"] for a in lines] == ["delete", "modify", "resume", "pause", "modify",
                                            "create"], lines
    for a in lines:
        assert (a["account"], a["api"], a["address"], a["task_id"]) == (
            "alice", "native", "127.0.0.1", tid), a
        assert re.fullmatch(r"[0-9a-f]{16}", a["request_id"]), a
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", a["at"]), a
    assert lines[1]["fields"] == [], lines[1]
    assert lines[2]["fields"] == ["paused"] and lines[3]["fields"] == ["paused"]
    assert sorted(lines[4]["fields"]) == ["name", "retry_count"], lines[4]
    assert {"name", "source_type", "source_urls", "destination", "start_time",
            "end_time"} <= set(lines[5]["fields"]), lines[5]
    assert [a["seq"] for a in lines] == sorted((a["seq"] for a in lines), reverse=True)

    # another account sees none of it, and a refused change leaves no line
    assert trail(bob)["total"] == 0
    st, _ = bob.delete("/v1/tasks/" + tid)
    assert st == 404
    st, _ = api.post("/v1/tasks", dict(idle_task(), destination="file:///etc/passwd"))
    assert st == 400
    assert trail(api)["total"] == 6

    # paged, and kept across a restart of ferryd
    ferryd.restart()
    page = trail(api, page=2, page_size=4)
    assert page["total"] == 6 and [a["action"] for a in page["audit"]] == ["modify", "create"]


def test_audit_query_errors_name_the_parameter(api):
    for query, field in (("page=0", "page"), ("page_size=1000", "page_size"),
                         ("task_id=" + "x" * 300, "task_id")):
        st, doc = api.get("/v1/audit?" + query)
        assert st == 400 and doc["error"]["field"] == field, (query, doc)
