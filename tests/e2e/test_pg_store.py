"""test_pg_store.py — ferryd on a PostgreSQL store (store = postgresql://...): a task
created through the native API runs against nginx-rtmp, is a row in PostgreSQL (and no
SQLite file appears), and is still there and running again after a clean stop and after
kill -9; a dropped database connection fails at most the calls in flight, cleanly, and the
next ones reconnect; a store that cannot be reached or named stops ferryd with a clear
message. The database comes from $FERRY_TEST_PG (scripts/test.sh starts a server and sets
it); each test gets a database of its own on that server."""

import os
import time
from urllib.parse import urlsplit

import pytest

from harness import Ferryd, idle_task, live_task, probe, tail, wait_until, whole_seconds_from_now
from pg import PG_URL, psql


@pytest.fixture
def ferryd_settings(ferryd_settings, pg_url):
    """The ferryd fixture's config with the store on this test's database."""
    return dict(ferryd_settings, store=pg_url)


def task_rows(url):
    return {row[0]: row[1] for row in psql(url, "SELECT id, state FROM tasks")}


def assert_relaying(api, nginx, tid, metric, label):
    t0 = time.time()
    api.wait_state(tid, ("running",), 15)
    wait_until(lambda: nginx.is_published("dst", "out"), 15, 0.05,
               what="dst/out published (%s)" % label)
    metric(label + ": destination published after (s)", time.time() - t0)
    _, packets = probe(nginx.url("dst", "out"), 2, timeout=15)
    video = [p for p in packets if p["codec_type"] == "video"]
    assert len(video) >= 30, "%s: only %d video packets in 2 s" % (label, len(video))


def test_task_on_postgresql_runs_and_survives_restarts(ferryd, api, nginx, publisher, pg_url,
                                                      metric):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    task = api.create_task(**live_task(nginx, start, start + 300))
    tid = task["id"]
    assert_relaying(api, nginx, tid, metric, "first start")
    # the task lives in PostgreSQL, and the embedded store was never created
    assert tid in task_rows(pg_url), "task %s is not a row of the PostgreSQL store" % tid
    assert not os.path.exists(os.path.join(ferryd.data_dir, "ferry.db")), \
        "ferryd created a SQLite store although store = postgresql://..."
    versions = psql(pg_url, "SELECT COUNT(*), MAX(version) FROM schema_version")[0]
    assert versions[0] == versions[1] and int(versions[0]) >= 4, versions

    rc, took = ferryd.terminate()
    assert rc == 0, "ferryd exited %s on SIGTERM" % rc
    wait_until(lambda: not nginx.is_published("dst", "out"), 5, 0.05,
               what="destination released after SIGTERM")
    ferryd.start()
    got = api.task(tid)
    for k in ("name", "source_urls", "destination", "start_time", "end_time"):
        assert got[k] == task[k], k
    assert_relaying(api, nginx, tid, metric, "after SIGTERM")
    assert api.history(tid, "ResumedAt") or any(
        "resum" in (h.get("detail", "") + h.get("reason", "")).lower()
        for h in api.history(tid)), api.history(tid)

    ferryd.kill9()
    ferryd.start()
    assert api.task(tid)["destination"] == task["destination"]
    assert_relaying(api, nginx, tid, metric, "after kill -9")
    assert api.total() == 1


def test_dropped_connection_reconnects(ferryd, api, pg_url):
    """The database ends ferryd's connections (a restart, a failover, a network cut): calls
    in flight fail with a clean 5xx error, nothing is half-written, later calls reconnect."""
    created = [api.create_task(**idle_task(name="kept-%d" % i))["id"] for i in range(3)]
    db = urlsplit(pg_url).path.lstrip("/")
    for _ in range(3):
        ended = [r[0] for r in psql(PG_URL, "SELECT pid, pg_terminate_backend(pid) FROM "
                                            "pg_stat_activity WHERE datname = '%s' AND "
                                            "application_name = 'ferryd'" % db)]
        # the session connection and the pool's connections used so far
        assert 1 <= len(ended) <= 5, "ferryd should hold 1 to 5 connections, not %s" % ended
        wait_until(lambda: not psql(PG_URL, "SELECT 1 FROM pg_stat_activity WHERE pid IN (%s)"
                                            % ",".join(ended)), 10, 0.05,
                   what="ferryd's connections ended")
        statuses = []
        for i in range(4):
            st, doc = api.get("/v1/tasks?page=1&page_size=50")
            statuses.append(st)
            if st != 200:
                assert st >= 500 and isinstance(doc, dict) and "error" in doc, (st, doc)
        assert statuses[-1] == 200 and statuses.count(200) >= 3, statuses
        st, doc = api.get("/v1/tasks?page=1&page_size=50")
        assert st == 200 and sorted(t["id"] for t in doc["tasks"]) == sorted(created), doc
    fresh = api.create_task(**idle_task(name="after"))
    assert fresh["id"] in task_rows(pg_url)
    assert ferryd.running()


@pytest.mark.parametrize("store, exit_code, says", [
    ("postgresql://ferry:s3cret@127.0.0.1:1/ferry", 1,
     "cannot connect to PostgreSQL at ferry@127.0.0.1:1/ferry"),
    ("mysql://ferry@127.0.0.1/ferry", 2, "bad value"),
])
def test_unusable_store_stops_ferryd_clearly(tmp_path, store, exit_code, says):
    d = Ferryd(str(tmp_path / "ferryd"), {"alice": "alice-token-0123456789"}, {"store": store})
    with pytest.raises(RuntimeError):
        d.start(ready_timeout=10)
    assert d.proc.wait(10) == exit_code
    err = tail(d.stderr_path, 20)
    assert says in err, err
    assert "s3cret" not in err, "the store's password is in ferryd's output:\n" + err
