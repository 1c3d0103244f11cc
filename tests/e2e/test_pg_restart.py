"""test_pg_restart.py — PostgreSQL restarted under a cluster's load (issue 13): three ferryd
nodes on a server of the test's own, relaying from and to a real nginx-rtmp. Down for less
than a lease (fast shutdown, started again about 2 s after the stop began): the relays go on in the same
sessions and keep sending frames, the nodes reconnect and keep their leases, and every
write the API acknowledged just before the stop is there after it. Down for longer than a
lease: the relays stop (the fence), a node admits only its share of a cloud API's request
limit, and once the server is back the tasks run again."""

import time

import pytest

from harness import idle_task, live_task, wait_until, whole_seconds_from_now
from pg import PrivateServer, psql, unavailable
from conftest import ALICE_TC
from test_cluster import NODES, cluster, lease_rows, owner, tc3_call  # noqa: F401 (fixture)

LEASE_S = 5.0  # lease_time_ms's default
SKEW_S = 1.0  # lease_skew_ms's default
# From the stop's start to the start's: the relays run lease - skew past the last renewal,
# which may be a renewal period (1 s) before the stop, and the start itself takes a while.
DOWN_S = 1.8


@pytest.fixture
def server():
    why = unavailable()
    if why:
        pytest.skip(why)
    s = PrivateServer()
    yield s
    s.close()


@pytest.fixture
def pg_url(server):
    """The cluster fixture's database: the private server's, which the test restarts."""
    return server.url


def start_relays(cluster, nginx, publisher, prefix, n=3):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    tids = [cluster[i % 3][1].create_task(**live_task(nginx, start, start + 600,
                                                      dst="%s%d" % (prefix, i)))["id"]
            for i in range(n)]
    for i in range(n):
        nginx.wait_published("dst", "%s%d" % (prefix, i), timeout=20)
    return tids


def first_answer(api, tid):
    """Seconds the first GET through api after the restart took; it must succeed (the node
    sees its pooled connections were closed, and reconnects before using them)."""
    t0 = time.time()
    st, doc = api.get("/v1/tasks/" + tid)
    assert st == 200, (st, doc)
    return time.time() - t0


def test_short_outage_keeps_relays_and_loses_no_acknowledged_write(cluster, nginx, publisher,
                                                                   server, metric):
    tids = start_relays(cluster, nginx, publisher, "s")
    streams = ["s%d" % i for i in range(len(tids))]
    clients = {s: nginx.publisher_client("dst", s)[0] for s in streams}
    epochs = {t: e for t, (_, _, e) in lease_rows(server.url).items()}
    # writes acknowledged through every node just before the stop: new tasks, and a
    # modification of each running one
    made = [cluster[i % 3][1].create_task(**idle_task(comment="made-%d" % i))["id"]
            for i in range(6)]
    for i, t in enumerate(tids):
        st, doc = cluster[(i + 1) % 3][1].patch("/v1/tasks/" + t, {"comment": "edited-%d" % i})
        assert st == 200, (st, doc)
    stopping = time.time()
    server.stop()
    sent = {s: nginx.bytes_in("dst", s) for s in streams}
    time.sleep(max(0.5, stopping + DOWN_S - time.time()))
    # down, yet every relay still pushes frames to its destination in the same session
    for s in streams:
        assert nginx.publisher_client("dst", s)[0] == clients[s], s
        assert nginx.bytes_in("dst", s) > sent[s], "%s got nothing while the store was down" % s
    resumed = server.resume()
    metric("store down, from the stop's start to ready again (s)", round(resumed - stopping, 2))
    # every node answers again at once, without an error, and sees every acknowledged write
    metric("first API answer after the restart, slowest node (s)",
           round(max(first_answer(api, tids[0]) for _, api in cluster), 3))
    for _, api in cluster:
        for i, t in enumerate(made):
            assert api.task(t)["comment"] == "made-%d" % i, t
        for i, t in enumerate(tids):
            assert api.task(t)["comment"] == "edited-%d" % i, t
    # the nodes renew again: the same leases (no new epoch), the same sessions going on
    time.sleep(LEASE_S)
    rows = lease_rows(server.url)
    for t in tids:
        assert rows[t][2] == epochs[t], "task %s was claimed again: %s" % (t, rows[t])
        assert rows[t][1] > time.time() + LEASE_S - 2.0, "lease of %s not renewed" % t
    for s in streams:
        assert nginx.publisher_client("dst", s)[0] == clients[s], "%s was published anew" % s
    for t in tids:
        assert cluster[0][1].task(t)["state"] == "running", t
    # and a change through any node reaches its owner again (LISTEN was set up anew)
    st, doc = cluster[2][1].post("/v1/tasks/%s/stop" % tids[0])
    assert st == 200, (st, doc)
    nginx.wait_published("dst", streams[0], published=False, timeout=5)


def test_long_outage_stops_relays_then_runs_them_again(cluster, nginx, publisher, server,
                                                       metric):
    tids = start_relays(cluster, nginx, publisher, "g")
    streams = ["g%d" % i for i in range(len(tids))]
    stopped = server.stop()
    # the fence: no node pushes past lease - skew after its last renewal
    for s in streams:
        nginx.wait_published("dst", s, published=False, timeout=LEASE_S + 2)
    fenced = time.time()
    assert fenced - stopped <= LEASE_S - SKEW_S + 1.0, fenced - stopped
    # the cloud APIs' limits without the shared count: a node admits its share of the
    # 20/s of Status calls, 20 / 3 live nodes = 6 (a full bucket, and what it refills
    # while the burst lasts); the others get Tencent's RequestLimitExceeded
    t0 = time.time()
    codes = [tc3_call(cluster[0][0].port, "DescribeLivePullStreamTaskStatus",
                      {"TaskId": "none"}, *ALICE_TC).get("Error", {}).get("Code")
             for _ in range(30)]
    admitted = len(codes) - codes.count("RequestLimitExceeded")
    metric("30 Status calls to one node, store down: admitted / s",
           "%d / %.2f" % (admitted, time.time() - t0))
    assert 1 <= admitted <= 6 + 6 * (time.time() - t0) + 1, codes
    time.sleep(max(0.0, stopped + LEASE_S + SKEW_S + 1.0 - time.time()))
    resumed = server.resume()
    for s in streams:
        nginx.wait_published("dst", s, timeout=LEASE_S + 10)
    back = time.time()
    metric("relays stopped after the store went down (s)", round(fenced - stopped, 2))
    metric("store down (s)", round(resumed - stopped, 2))
    metric("all relays running after the store was back (s)", round(back - resumed, 2))
    for t in tids:
        wait_until(lambda t=t: owner(cluster, t) is not None, 10, 0.1, what="%s running" % t)
        cluster[1][1].wait_state(t, ("running",), 10)
    assert sorted(psql(server.url, "SELECT COUNT(*) FROM tasks")) == [["3"]]
