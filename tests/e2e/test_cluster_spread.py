"""test_cluster_spread.py — 1,000 tasks over three ferryd nodes on one PostgreSQL: 90 live
relays from a real nginx-rtmp and 910 scheduled for later. Placement spreads every kind
within ±10 % over the nodes; a node killed with -9 while it runs about 30 of the relays has
every one of its tasks (relays and scheduled) held by the two others within 5 s of its
leases' expiry, its relays published again, the survivors within ±10 % of each other, and
no task lost. The database comes from $FERRY_TEST_PG, as in test_cluster.py."""

import concurrent.futures
import time

import pytest

from harness import idle_task, live_task, wait_until, whole_seconds_from_now
from test_cluster import NODES, cluster, lease_rows  # noqa: F401 (cluster is a fixture)

LIVE = 90
TOTAL = 1000


def spread_ok(counts, total, nodes):
    """Whether every node's count lies within ±10 % of an even share."""
    share = total / float(nodes)
    return len(counts) == nodes and all(abs(c - share) <= 0.1 * share for c in counts)


def published_dst(nginx):
    """The names of the dst application's streams that have a publisher, from one /stat."""
    names = set()
    for app in nginx.stat().iter("application"):
        if app.findtext("name") != "dst":
            continue
        for s in app.iter("stream"):
            if any(c.find("publishing") is not None for c in s.findall("client")):
                names.add(s.findtext("name"))
    return names


def create_all(cluster, bodies):
    """Creates every body through the nodes in turn, eight at a time; the ids in order."""
    def one(i):
        return cluster[i % 3][1].create_task(**bodies[i])["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(len(bodies))))


def per_node(leases, tids):
    """node id -> how many of tids it holds."""
    counts = {n: 0 for n in NODES}
    for t in tids:
        counts[leases[t][0]] += 1
    return counts


@pytest.mark.ferryd_settings(task_quota=TOTAL)
def test_thousand_tasks_spread_and_a_killed_node_moves_them_all(cluster, nginx, publisher,
                                                                pg_url, metric):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(2)
    bodies = [live_task(nginx, start, start + 900, dst="s%d" % i) for i in range(LIVE)]
    bodies += [idle_task(name="later %d" % i) for i in range(TOTAL - LIVE)]
    t0 = time.monotonic()
    tids = create_all(cluster, bodies)
    metric("1,000 creates through 3 nodes (s)", round(time.monotonic() - t0, 2))
    live = tids[:LIVE]
    streams = {t: "s%d" % i for i, t in enumerate(live)}
    wait_until(lambda: len(lease_rows(pg_url)) == TOTAL, 30, 0.2, what="every task leased")
    wait_until(lambda: len(published_dst(nginx) & set(streams.values())) == LIVE, 60, 0.2,
               what="all %d relays published" % LIVE)
    leases = lease_rows(pg_url)
    every, relays = per_node(leases, tids), per_node(leases, live)
    metric("tasks per node", sorted(every.values()))
    metric("relays per node", sorted(relays.values()))
    assert spread_ok(list(every.values()), TOTAL, 3), every
    assert spread_ok(list(relays.values()), LIVE, 3), relays

    victim_id = max(relays, key=relays.get)
    victim = NODES.index(victim_id)
    moved = [t for t in tids if leases[t][0] == victim_id]
    moved_live = [t for t in moved if t in streams]
    cluster[victim][0].kill9()
    expiry = max(e for n, e, _ in lease_rows(pg_url).values() if n == victim_id)

    def all_moved():
        rows = lease_rows(pg_url)
        if any(rows.get(t, (victim_id,))[0] == victim_id for t in moved):
            return False
        return {streams[t] for t in moved_live} <= published_dst(nginx)

    wait_until(all_moved, 40, 0.1, what="the dead node's tasks held and relayed elsewhere")
    done = time.time()
    metric("relays on the killed node", len(moved_live))
    metric("tasks moved", len(moved))
    metric("all held and published again after lease expiry (s)", round(done - expiry, 2))
    assert done - expiry <= 5.0, "took %.2f s after the lease expired" % (done - expiry)
    # no task lost: every one is held by a survivor, the survivors evenly, relays running
    leases = lease_rows(pg_url)
    assert sorted(leases) == sorted(tids)
    survivors = [n for n in NODES if n != victim_id]
    after = per_node(leases, tids)
    assert after[victim_id] == 0 and spread_ok([after[n] for n in survivors], TOTAL, 2), after
    assert published_dst(nginx) >= set(streams.values())
    api = cluster[(victim + 1) % 3][1]
    for t in moved_live:
        api.wait_state(t, ("running",), 15)
