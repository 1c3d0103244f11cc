"""test_cluster.py — three ferryd nodes sharing one PostgreSQL store, relaying from and to a
real nginx-rtmp: /v1/nodes lists them; a task created through one node runs on whichever
node claims it and a stop through another node reaches it; a node killed with -9 has all
its tasks running on the other nodes within 5 s of its leases' expiry (10 tasks here, not
the 30 of the issue, to keep the run short on a small machine), playlists going on at their
checkpoint (their entry and the offset saved at the last lease tick); a drained node hands
its six tasks to the others with a short gap at each destination and takes none after; a
drain on a single node is refused, and so is one by a tenant's account; a node frozen
(SIGSTOP) past its lease sends nothing more when it resumes, and no destination ever has
two publishers. The leases are the defaults (5 s, renewed every second, skew bound 1 s).
The shared callback outbox sends each event once, in order, whichever node made it. A
cloud API's request limit holds for the cluster as a whole. test_cluster_spread.py has
1,000 tasks and a node killed while running 30 relays. The database comes from
$FERRY_TEST_PG, as in test_pg_store.py."""

import hashlib
import hmac
import http.client
import http.server
import json
import os
import signal
import threading
import time

import pytest

from conftest import ACCOUNTS, ALICE_TC, ALICE_TOKEN, BOB_TOKEN, FERRYD_SETTINGS
from harness import (Api, Ferryd, Viewer, files_task, idle_task, largest_wall_gap, live_task,
                     tail, wait_until, whole_seconds_from_now)
from media import FileServer, make_clip
from pg import psql
from test_ferryctl import Ctl

LEASE_S = 5.0  # lease_time_ms's default
NODES = ("node-1", "node-2", "node-3")


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("cluster-media"))
    for name in ("a", "b", "c"):
        make_clip(os.path.join(d, name + ".mp4"), "320x240", 2)
    # long enough that a playlist is still in it after a move (kill: about 7 s)
    make_clip(os.path.join(d, "long.mp4"), "320x240", 40)
    return d


@pytest.fixture
def files(media):
    server = FileServer(media)
    yield server
    server.stop()


@pytest.fixture
def cluster(tmp_path, pg_url, request):
    """Three nodes on one database: a list of (Ferryd, Api as alice). A test's
    ferryd_settings marker adds to every node's config."""
    mark = request.node.get_closest_marker("ferryd_settings")
    nodes = []
    for i, name in enumerate(NODES):
        settings = dict(FERRYD_SETTINGS, store=pg_url, node_id=name,
                        node_labels="zone-%d,any" % (i + 1), callback_allow="127.0.0.1/32",
                        **(mark.kwargs if mark else {}))
        d = Ferryd(str(tmp_path / name), ACCOUNTS, settings)
        nodes.append((d.start(), Api(d.port, ALICE_TOKEN)))
    yield nodes
    problems = []
    for d, _ in nodes:
        if d.running():
            try:
                os.kill(d.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            rc, _ = d.terminate()
            if rc != 0:
                problems.append("%s did not exit 0 on SIGTERM (%s)" % (d.dir, rc))
        problems += ["sanitizer report:\n" + r for r in d.sanitizer_reports()]
    failed = getattr(request.node, "rep_call", None)
    if problems or (failed is not None and failed.failed):
        for d, _ in nodes:
            for p in d.stderr_paths:
                print("---- %s %s\n%s" % (d.dir, os.path.basename(p), tail(p, 60)))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def owner(cluster, tid, skip=()):
    """The index of the node whose relay for tid is active, or None."""
    for i, (d, api) in enumerate(cluster):
        if i in skip or not d.running():
            continue
        if api.task(tid).get("progress", {}).get("active"):
            return i
    return None


def lease_rows(pg_url):
    """task id -> (node id, expiry in Unix s, epoch), from the store."""
    return {r[0]: (r[1], int(r[2]) / 1000.0, int(r[3]))
            for r in psql(pg_url, "SELECT task_id, node_id, expires_ms, epoch FROM task_lease")}


def checkpoint_rows(pg_url):
    """task id -> (file index, loops done, offset ms), from the store."""
    return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in psql(
        pg_url, "SELECT task_id, file_index, loops_done, offset_ms FROM task_checkpoint")}


def assert_resumed_at(cluster, tid, checkpoint):
    """The playlist tid went on at checkpoint (file, loops, offset ms) on its new node: its
    ResumedAt note names them, and its position is at least that far into that file."""
    file_index, loops, offset_ms = checkpoint
    assert offset_ms >= 1000, checkpoint
    want = "at file %d, %d s in (%d loop(s) played)" % (file_index, offset_ms // 1000, loops)
    at = owner(cluster, tid)
    assert at is not None, tid
    api = cluster[at][1]
    said = [h["detail"] for h in api.history(tid, "ResumedAt")]
    assert any(want in s for s in said), (want, api.history(tid))
    p = api.task(tid)["progress"]
    assert p["file_index"] == file_index and p["offset_ms"] >= offset_ms // 1000 * 1000, \
        (checkpoint, p)


class PublisherWatch:
    """Polls nginx's /stat in a thread: the most publishers any stream had at once, and
    the bytes each stream's publishers had sent, per publisher client id, at every look."""

    def __init__(self, nginx):
        self.nginx = nginx
        self.most = 0
        self.seen = []  # (time, stream name, client id, bytes_in)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                stat = self.nginx.stat()
            except OSError:
                continue
            now = time.time()
            for app in stat.iter("application"):
                if app.findtext("name") != "dst":
                    continue
                for s in app.iter("stream"):
                    pubs = [c.findtext("id") for c in s.findall("client")
                            if c.find("publishing") is not None]
                    self.most = max(self.most, len(pubs))
                    if pubs:
                        self.seen.append((now, s.findtext("name"), pubs[0],
                                          int(s.findtext("bytes_in") or 0)))
            time.sleep(0.05)

    def stop(self):
        self.stopping = True
        self.thread.join(5)


def test_nodes_and_any_node_answers_for_every_task(cluster, nginx, publisher, pg_url):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    # /v1/nodes on every node: the three nodes, their labels, live, heartbeats within a lease
    for d, api in cluster:
        st, doc = api.get("/v1/nodes")
        assert st == 200, (st, doc)
        got = {n["id"]: n for n in doc["nodes"]}
        assert sorted(got) == list(NODES), doc
        for i, name in enumerate(NODES):
            n = got[name]
            assert n["state"] == "live", n
            assert n["labels"] == ["zone-%d" % (i + 1), "any"], n
            assert n["last_heartbeat"] and n["started"], n
            assert n["max_running_tasks"] == 1000 and n["running"] >= 0, n
    # ferryctl nodes shows the same, as a table
    rows = [r.split() for r in Ctl(cluster[2][0].port).ok("nodes").splitlines()]
    assert rows[0][:2] == ["NODE", "STATE"], rows
    assert [(r[0], r[1], r[-1]) for r in rows[1:]] == [
        (name, "live", "zone-%d,any" % (i + 1)) for i, name in enumerate(NODES)], rows
    # three tasks created through node 2: placement spreads them, so some run elsewhere
    start = whole_seconds_from_now(1)
    api2 = cluster[1][1]
    tids = [api2.create_task(**live_task(nginx, start, start + 600, dst="n%d" % i))["id"]
            for i in range(3)]
    for i, tid in enumerate(tids):
        wait_until(lambda t=tid: owner(cluster, t) is not None, 15, 0.1,
                   what="task %s running on a node" % tid)
        nginx.wait_published("dst", "n%d" % i)
    where = {tid: owner(cluster, tid) for tid in tids}
    assert sorted(where.values()) == [0, 1, 2], "not spread over the nodes: %s" % where
    # every node answers for every task, and /v1/nodes counts each node's relays
    for _, api in cluster:
        for tid in tids:
            assert api.task(tid)["state"] == "running"
    wait_until(lambda: all(n["running"] == 1 and n["tasks"] == 1
                           for n in cluster[0][1].get("/v1/nodes")[1]["nodes"]), 5, 0.2,
               what="/v1/nodes shows one relay on each node")
    # a stop through node 3 of a task running on another node reaches that node
    victim = next(t for t in tids if where[t] != 2)
    vi = tids.index(victim)
    st, doc = cluster[2][1].post("/v1/tasks/%s/stop" % victim)
    assert st == 200, (st, doc)
    nginx.wait_published("dst", "n%d" % vi, published=False, timeout=5)
    for _, api in cluster:
        assert api.task(victim)["state"] == "offline"
    assert owner(cluster, victim) is None
    # a modify through a third node reaches the owner too: a restart runs it again there
    other = next(i for i in range(3) if i not in (where[victim], 2))
    st, doc = cluster[other][1].post("/v1/tasks/%s/restart" % victim)
    assert st == 200, (st, doc)
    nginx.wait_published("dst", "n%d" % vi, timeout=15)
    assert cluster[2][1].task(victim)["state"] in ("running", "idle", "recovering")


def test_killed_node_tasks_run_elsewhere_within_seconds(cluster, nginx, publisher, files,
                                                       pg_url, metric):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    tids, playlists = [], []
    for i in range(10):
        api = cluster[i % 3][1]
        if i < 3:
            body = files_task(nginx, [files.url(n + ".mp4") for n in ("a", "long", "c")],
                              loop_count=-1, destination=nginx.url("dst", "k%d" % i),
                              vod_refresh_type="ContinueBreakPoint")
            playlists.append(len(tids))
        else:
            body = live_task(nginx, start, start + 600, dst="k%d" % i)
        tids.append(api.create_task(**body)["id"])
    for i in range(10):
        nginx.wait_published("dst", "k%d" % i, timeout=20)
    leases = lease_rows(pg_url)
    assert sorted(leases) == sorted(tids), leases
    # the victim: the node of the first playlist (so a playlist moves with it)
    victim_id = leases[tids[playlists[0]]][0]
    victim = NODES.index(victim_id)
    moved = [t for t in tids if leases[t][0] == victim_id]
    moved_playlists = [t for t in moved if tids.index(t) in playlists]
    # let each moving playlist get 3 s into its second file, so its checkpoint (entry and
    # offset, saved each lease tick) means something
    wait_until(lambda: all(int(r[0]) == 1 and int(r[1]) >= 3000 for r in psql(
        pg_url, "SELECT file_index, offset_ms FROM task_checkpoint WHERE task_id IN (%s)"
        % ",".join("'%s'" % t for t in moved_playlists))), 20, 0.2,
        what="moving playlists 3 s into their second file")
    cluster[victim][0].kill9()
    killed = time.time()
    expiry = max(e for n, e, _ in lease_rows(pg_url).values() if n == victim_id)
    checkpoints = checkpoint_rows(pg_url)
    survivors = [i for i in range(3) if i != victim]

    def moved_and_running():
        rows = lease_rows(pg_url)
        for t in moved:
            if rows[t][0] == victim_id or owner(cluster, t, skip=(victim,)) is None:
                return False
            if not nginx.is_published("dst", "k%d" % tids.index(t)):
                return False
        return True

    wait_until(moved_and_running, 20, 0.1, what="the dead node's tasks running elsewhere")
    done = time.time()
    metric("tasks moved", len(moved))
    metric("lease expiry after the kill (s)", round(expiry - killed, 2))
    metric("all running again after lease expiry (s)", round(done - expiry, 2))
    assert done - expiry <= 5.0, "took %.2f s after the lease expired" % (done - expiry)
    # no task lost: all ten relay, each on a live node, in the state running
    api = cluster[survivors[0]][1]
    for i, t in enumerate(tids):
        nginx.wait_published("dst", "k%d" % i, timeout=10)
        api.wait_state(t, ("running",), 10)
    # playlists go on at the entry they were playing and the offset saved last (their
    # checkpoint), not at the start of the entry: the history says so and the position the
    # API reports is past it
    for t in moved_playlists:
        assert_resumed_at(cluster, t, checkpoints[t])
    # the survivors see the dead node as gone once its heartbeat is a lease old
    wait_until(lambda: {n["id"]: n["state"] for n in api.get("/v1/nodes")[1]["nodes"]}
               [victim_id] == "gone", 10, 0.2, what="%s shown gone" % victim_id)


def test_frozen_node_stops_without_pushing_after_its_lease(cluster, nginx, publisher, pg_url,
                                                          metric):
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    tids = [cluster[i % 3][1].create_task(**live_task(nginx, start, start + 600,
                                                      dst="f%d" % i))["id"]
            for i in range(6)]
    for i in range(6):
        nginx.wait_published("dst", "f%d" % i, timeout=20)
    watch = PublisherWatch(nginx)
    try:
        leases = lease_rows(pg_url)
        victim_id = leases[tids[0]][0]
        victim = NODES.index(victim_id)
        frozen = [t for t in tids if leases[t][0] == victim_id]
        streams = {"f%d" % tids.index(t): nginx.publisher_client("dst", "f%d" % tids.index(t))[0]
                   for t in frozen}
        os.kill(cluster[victim][0].proc.pid, signal.SIGSTOP)
        stopped = time.time()
        expiry = max(e for n, e, _ in lease_rows(pg_url).values() if n == victim_id)
        # the others claim its tasks after the lease (and the skew bound) ran out
        wait_until(lambda: all(lease_rows(pg_url)[t][0] != victim_id for t in frozen),
                   LEASE_S + 8, 0.1, what="the frozen node's tasks claimed")
        claimed = time.time()
        assert claimed >= expiry, "claimed %.2f s before the lease expired" % (expiry - claimed)
        time.sleep(1.0)  # what the kernel had buffered for the frozen node has arrived
        before = {s: nginx.bytes_in("dst", s) for s in streams}
        resumed = time.time()
        os.kill(cluster[victim][0].proc.pid, signal.SIGCONT)
        # its relays stop, and the new owners take the destinations over
        for s, old in streams.items():
            wait_until(lambda s=s, old=old: (nginx.publisher_client("dst", s) or (old,))[0]
                       != old, 15, 0.05, what="%s published by its new owner" % s)
        taken = time.time()
    finally:
        watch.stop()
    metric("frozen for (s)", round(resumed - stopped, 2))
    metric("destinations taken over after SIGCONT (s)", round(taken - resumed, 2))
    # never two publishers on one destination
    assert watch.most <= 1, "a destination had %d publishers at once" % watch.most
    # not one more byte from the frozen node once it resumed (without the engine's fence its
    # workers send hundreds of kB in the moment before the lease thread halts them)
    for when, name, client, sent in watch.seen:
        if name in streams and client == streams[name] and when >= resumed:
            assert sent == before[name], \
                "%s: the frozen node sent %d bytes after its lease" % (name, sent - before[name])
    for t in frozen:
        assert owner(cluster, t) not in (None, victim), t
    err = open(cluster[victim][0].stderr_path, errors="replace").read()
    assert "lease" in err and "lost" in err, tail(cluster[victim][0].stderr_path, 40)
    # the resumed node is a live node again and answers for every task
    st, doc = cluster[victim][1].get("/v1/nodes")
    assert st == 200 and len(doc["nodes"]) == 3, doc
    for t in tids:
        assert cluster[victim][1].task(t)["state"] in ("running", "recovering"), t


class SlowReceiver:
    """Records each POST's JSON body, answering only after `delay` s: an event stays in the
    outbox, in flight, across lease ticks, when a second node could pick it up too."""

    def __init__(self, delay):
        self.calls = []
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rec.calls.append(json.loads(body))
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/c" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_each_callback_event_sent_once_in_order(cluster):
    """Events made on all three nodes go out of the shared outbox once each, in order, even
    when the receiver takes longer to answer than a lease tick."""
    receiver = SlowReceiver(1.5)
    try:
        tid = cluster[0][1].create_task(**idle_task(callback_url=receiver.url))["id"]
        for i in range(4):
            st, doc = cluster[i % 3][1].patch("/v1/tasks/" + tid, {"comment": "c%d" % i})
            assert st == 200, doc
        wait_until(lambda: len(receiver.calls) >= 4, 20, 0.1, what="four config_reset events")
        time.sleep(2.5)  # a second sender would have sent the last one again by now
        got = list(receiver.calls)
    finally:
        receiver.stop()
    ids = [c["id"] for c in got]
    assert len(ids) == 4 and len(set(ids)) == 4, "events sent more than once: %s" % ids
    assert [c["type"] for c in got] == ["config_reset"] * 4, got
    times = [c["at_ms"] for c in got]
    assert times == sorted(times), "events out of order: %s" % times


def test_region_runs_only_on_nodes_with_its_label(cluster, nginx, publisher, pg_url):
    """A task with a region is run by a node labelled with it, whoever takes the create;
    one whose region no node serves waits unclaimed."""
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    tids = [cluster[i][1].create_task(**live_task(nginx, start, start + 600, dst="r%d" % i,
                                                  region="zone-2"))["id"]
            for i in range(3)]
    assert cluster[0][1].task(tids[0]).get("region") == "zone-2"
    nowhere = cluster[0][1].create_task(**live_task(nginx, start, start + 600, dst="r9",
                                                    region="zone-9"))["id"]
    for i in range(3):
        nginx.wait_published("dst", "r%d" % i, timeout=20)
    for t in tids:
        wait_until(lambda t=t: owner(cluster, t) == 1, 5, 0.1, what="%s on node-2" % t)
    time.sleep(4)  # a few ticks past the stall rule: nobody may take the zone-9 task
    assert nowhere not in lease_rows(pg_url)
    assert owner(cluster, nowhere) is None and not nginx.is_published("dst", "r9")
    assert cluster[2][1].task(nowhere)["state"] == "idle"
    # node-2 drains, but no other node serves zone-2: its tasks stay there, running, in
    # the same destination sessions and under the same leases; they are not handed to
    # nowhere
    leases = lease_rows(pg_url)
    clients = {i: nginx.publisher_client("dst", "r%d" % i)[0] for i in range(3)}
    assert cluster[0][1].post("/v1/nodes/node-2/drain")[0] == 200
    time.sleep(4)  # a few drain ticks
    for i, t in enumerate(tids):
        assert owner(cluster, t) == 1, t
        assert lease_rows(pg_url)[t][::2] == leases[t][::2], (t, leases[t])
        assert nginx.publisher_client("dst", "r%d" % i)[0] == clients[i], t
    assert cluster[0][1].post("/v1/nodes/node-2/undrain")[0] == 200


def test_lost_store_connections_keep_relays_and_leases(cluster, nginx, publisher, pg_url):
    """The database ends every connection of the nodes (a failover, a network cut): each
    node reconnects within its lease, its relays go on in the same sessions and its leases
    stay its own (same epochs)."""
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    start = whole_seconds_from_now(1)
    tids = [cluster[i][1].create_task(**live_task(nginx, start, start + 600, dst="l%d" % i))["id"]
            for i in range(3)]
    for i in range(3):
        nginx.wait_published("dst", "l%d" % i, timeout=20)
    clients = {i: nginx.publisher_client("dst", "l%d" % i)[0] for i in range(3)}
    before = lease_rows(pg_url)
    db = pg_url.rsplit("/", 1)[1]
    for _ in range(2):
        ended = psql(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                             "datname = '%s' AND application_name LIKE 'ferryd%%'" % db)
        assert len(ended) >= 6, ended  # two connections per node
        time.sleep(2.5)
    after = lease_rows(pg_url)
    for t in tids:
        assert after[t][0] == before[t][0] and after[t][2] == before[t][2], (before, after)
        assert after[t][1] > before[t][1], "lease of %s not renewed since" % t
    for i in range(3):
        assert nginx.publisher_client("dst", "l%d" % i)[0] == clients[i], "l%d published anew" % i
        assert nginx.publish_count("dst", "l%d" % i) == 1
    states = {n["id"]: n["state"] for n in cluster[0][1].get("/v1/nodes")[1]["nodes"]}
    assert set(states.values()) == {"live"}, states


# The bound on a destination's output gap during a drain, as a viewer sees it (the time
# between the last video packet from the old node and the first from the new one): about
# one GOP (1 s in the test streams) plus a second for the new node to connect, publish and
# get its first keyframe through on a loaded 2-core machine.
DRAIN_GAP_S = 2.0
# a playlist's new owner also opens and seeks its file over HTTP first
DRAIN_GAP_PLAYLIST_S = 3.0


def nodes_by_id(api):
    return {n["id"]: n for n in api.get("/v1/nodes")[1]["nodes"]}


def test_drain_moves_every_task_and_takes_none(cluster, nginx, publisher, files, pg_url,
                                               tmp_path, metric):
    """Six tasks (four live, two playlists) all on node-1; `ferryctl node drain node-1`:
    each ends on node-2 or node-3 within seconds, the lease passing with epoch + 1; each
    destination's viewer sees a gap below DRAIN_GAP_S; playlists go on at their checkpoint;
    never two publishers; node-1 holds nothing and takes no new task."""
    publisher("cam")
    wait_until(lambda: nginx.is_published("src", "cam"), 15, 0.1, what="src/cam published")
    api1 = cluster[0][1]
    ctl = Ctl(cluster[0][0].port)
    # node-2 and node-3 drain first, so every task lands on node-1
    for name in ("node-2", "node-3"):
        st, doc = api1.post("/v1/nodes/%s/drain" % name)
        assert st == 200 and doc == {"id": name, "draining": True}, (st, doc)
    got = nodes_by_id(api1)
    assert [got[n]["draining"] for n in NODES] == [False, True, True], got
    # a tenant's account may not drain a node: 403, and nothing changes
    for path in ("/v1/nodes/node-1/drain", "/v1/nodes/node-2/undrain"):
        st, doc = api1.as_(BOB_TOKEN).post(path)
        assert st == 403 and doc["error"]["code"] == "forbidden", (st, doc)
        assert "operator" in doc["error"]["message"], doc
    assert Ctl(cluster[0][0].port, BOB_TOKEN).run("node", "drain", "node-1").returncode != 0
    # nor list the nodes: they are the installation's, not a tenant's
    st, doc = api1.as_(BOB_TOKEN).get("/v1/nodes")
    assert st == 403 and doc["error"]["code"] == "forbidden", (st, doc)
    assert "operator" in doc["error"]["message"] and "nodes" not in doc, doc
    assert Ctl(cluster[0][0].port, BOB_TOKEN).run("nodes").returncode != 0
    assert [nodes_by_id(api1)[n]["draining"] for n in NODES] == [False, True, True]
    st, doc = api1.post("/v1/nodes/nobody/drain")  # an unknown node: 404, nothing changes
    assert st == 404 and "nobody" in json.dumps(doc), (st, doc)
    assert ctl.run("node", "drain", "nobody").returncode != 0
    assert nodes_by_id(api1).keys() == set(NODES)
    rows = {r.split()[0]: r.split() for r in ctl.ok("nodes").splitlines()}
    assert rows["NODE"][:3] == ["NODE", "STATE", "DRAINING"], rows
    assert [rows[n][2] for n in NODES] == ["no", "yes", "yes"], rows
    start = whole_seconds_from_now(1)
    tids = []
    for i in range(6):
        if i < 4:
            body = live_task(nginx, start, start + 600, dst="d%d" % i)
        else:
            body = files_task(nginx, [files.url("long.mp4"), files.url("a.mp4")], loop_count=-1,
                              destination=nginx.url("dst", "d%d" % i))
        tids.append(cluster[i % 3][1].create_task(**body)["id"])
    for i in range(6):
        nginx.wait_published("dst", "d%d" % i, timeout=20)
    before = lease_rows(pg_url)
    assert {before[t][0] for t in tids} == {"node-1"}, before
    # node-1 drained too: no other node takes tasks, so they stay and run where they are
    clients = {i: nginx.publisher_client("dst", "d%d" % i)[0] for i in range(6)}
    assert api1.post("/v1/nodes/node-1/drain")[0] == 200
    time.sleep(3)
    held = lease_rows(pg_url)
    assert all(held[t][0] == "node-1" and held[t][2] == before[t][2] for t in tids), held
    assert {i: nginx.publisher_client("dst", "d%d" % i)[0] for i in range(6)} == clients
    assert "no other live node takes tasks" in open(cluster[0][0].stderr_path,
                                                     errors="replace").read()
    assert api1.post("/v1/nodes/node-1/undrain")[0] == 200
    for name in ("node-2", "node-3"):
        assert "takes tasks again" in ctl.ok("node", "undrain", name)
    wait_until(lambda: not any(n["draining"] for n in nodes_by_id(api1).values()), 5, 0.1,
               what="no node draining")
    # the playlists 3 s into their first file, and a viewer on every destination
    playlists = tids[4:]
    wait_until(lambda: all(checkpoint_rows(pg_url).get(t, (0, 0, 0))[2] >= 3000
                           for t in playlists), 20, 0.2, what="playlists 3 s into their file")
    viewers = [Viewer(nginx.url("dst", "d%d" % i), str(tmp_path / ("viewer-d%d.log" % i))).start()
               for i in range(6)]
    watch = PublisherWatch(nginx)
    try:
        wait_until(lambda: all(v.count("video") > 30 for v in viewers), 15, 0.1,
                   what="every viewer playing")
        old = {i: nginx.publisher_client("dst", "d%d" % i)[0] for i in range(6)}
        out = ctl.ok("node", "drain", "node-1")
        drained = time.time()
        assert "drains" in out, out

        def moved():
            rows = lease_rows(pg_url)
            return all(rows[t][0] != "node-1" and rows[t][1] > time.time() and
                       (nginx.publisher_client("dst", "d%d" % i) or (old[i],))[0] != old[i]
                       for i, t in enumerate(tids))

        wait_until(moved, 20, 0.05, what="every task published by its new node")
        done = time.time()
        time.sleep(2.0)  # the viewers see the new publishers' packets for a while
    finally:
        watch.stop()
        for v in viewers:
            v.stop()
    metric("tasks drained", len(tids))
    metric("drain: all tasks published by their new nodes after (s)", round(done - drained, 2))
    after = lease_rows(pg_url)
    for t in tids:
        assert after[t][0] in ("node-2", "node-3"), after[t]
        assert after[t][2] == before[t][2] + 1, "epoch of %s: %s -> %s" % (t, before[t], after[t])
    # each destination's gap as its viewer saw it
    gaps = []
    for i, v in enumerate(viewers):
        packets = [p for p in v.snapshot() if p["t"] >= drained - 1.0]
        gap, _ = largest_wall_gap(packets, "video")
        gaps.append(round(gap, 2))
        assert any(p["t"] > done for p in packets if p["type"] == "video"), \
            "viewer of d%d saw nothing from the new node" % i
    metric("drain: viewer gap per destination (s)", gaps)
    metric("drain: largest live gap (s)", max(gaps[:4]))
    metric("drain: largest playlist gap (s)", max(gaps[4:]))
    assert max(gaps[:4]) < DRAIN_GAP_S, gaps
    assert max(gaps[4:]) < DRAIN_GAP_PLAYLIST_S, gaps
    # never two publishers, and nginx never refused one
    assert watch.most <= 1, "a destination had %d publishers at once" % watch.most
    assert "already publishing" not in open(nginx.error_log, errors="replace").read()
    # the playlists went on at their checkpoint, which the old node saved at the hand-off
    checkpoints = checkpoint_rows(pg_url)
    for t in playlists:
        history = cluster[1][1].history(t, "ResumedAt")
        assert history, cluster[1][1].history(t)
        said = history[-1]["detail"]
        secs = int(said.split(",")[1].split()[0])
        assert secs >= 3, said
        assert checkpoints[t][0] == 0 and checkpoints[t][2] >= secs * 1000, (checkpoints[t], said)
    # node-1 holds nothing and runs nothing; a new task goes elsewhere
    wait_until(lambda: nodes_by_id(api1)["node-1"]["running"] == 0, 5, 0.2,
               what="node-1 runs no relay")
    n1 = nodes_by_id(api1)["node-1"]
    assert n1["draining"] and n1["tasks"] == 0 and n1["state"] == "live", n1
    late = [cluster[i][1].create_task(**live_task(nginx, start, start + 600, dst="e%d" % i))["id"]
            for i in range(3)]
    for i in range(3):
        nginx.wait_published("dst", "e%d" % i, timeout=20)
    time.sleep(3)  # past the stall rule: a node that takes an unclaimed task anyway
    rows = lease_rows(pg_url)
    assert all(rows[t][0] != "node-1" for t in tids + late), rows
    assert owner(cluster, late[0]) in (1, 2)


def test_drain_on_a_single_node_is_refused(tmp_path):
    """The embedded store is one node: a drain has nowhere to move tasks and says so."""
    d = Ferryd(str(tmp_path / "single"), ACCOUNTS, dict(FERRYD_SETTINGS, node_id="solo")).start()
    try:
        api = Api(d.port, ALICE_TOKEN)
        st, doc = api.post("/v1/nodes/solo/drain")
        assert st == 409, (st, doc)
        assert "single node" in json.dumps(doc) and "cluster" in json.dumps(doc), doc
        assert api.get("/v1/nodes")[1]["nodes"][0]["draining"] is False
        r = Ctl(d.port).run("node", "drain", "solo")
        assert r.returncode != 0 and "single node" in r.stderr, (r.returncode, r.stderr)
        r = Ctl(d.port).run("node", "drain")
        assert r.returncode != 0 and "drain or undrain" in r.stderr, r.stderr
    finally:
        d.terminate()


def tc3_call(port, action, params, secret_id, secret_key):
    """One Tencent Cloud API 3.0 call signed with TC3-HMAC-SHA256 (content-type, host and
    x-tc-action signed); returns the Response object."""
    body = json.dumps(params).encode()
    host = "127.0.0.1:%d" % port
    ts = int(time.time())
    date = time.strftime("%Y-%m-%d", time.gmtime(ts))
    signed = "content-type;host;x-tc-action"
    canonical = "POST\n/\n\ncontent-type:application/json\nhost:%s\nx-tc-action:%s\n\n%s\n%s" % (
        host, action.lower(), signed, hashlib.sha256(body).hexdigest())
    scope = "%s/live/tc3_request" % date
    sts = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (ts, scope, hashlib.sha256(canonical.encode()).hexdigest())
    key = ("TC3" + secret_key).encode()
    for part in (date, "live", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/", body, {
            "Content-Type": "application/json", "Host": host, "X-TC-Action": action,
            "X-TC-Version": "2018-08-01", "X-TC-Timestamp": str(ts),
            "Authorization": "TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                             % (secret_id, scope, signed, sig)})
        resp = conn.getresponse()
        assert resp.status == 200, resp.status
        return json.loads(resp.read())["Response"]
    finally:
        conn.close()


def test_cloud_request_limit_holds_across_the_cluster(cluster, metric):
    """Tencent Status calls (20 per second per account by default) sent round-robin to the
    three nodes at about 90 per second for 3 s: over the whole cluster at most 20 go ahead
    in each second of the database's clock, so at most 20 x (whole seconds of the run + 1)
    in all (the run's seconds and the database's need not begin together); every other
    call gets Tencent's own RequestLimitExceeded. Without the shared count each node would
    admit its own 20 per second, 60 in all."""
    limit, seconds, per_second = 20, 3.0, 90
    results = []
    lock = threading.Lock()

    def worker(k):
        for i in range(k, int(seconds * per_second), 3):
            due = t0 + i / per_second
            time.sleep(max(0.0, due - time.time()))
            d, _ = cluster[i % 3]
            r = tc3_call(d.port, "DescribeLivePullStreamTaskStatus", {"TaskId": "none"},
                         *ALICE_TC)
            with lock:
                results.append((i % 3, r.get("Error", {}).get("Code")))

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    took = time.time() - t0
    codes = [c for _, c in results]
    served = codes.count("InvalidParameter.TaskNotExist")
    limited = codes.count("RequestLimitExceeded")
    metric("Status calls over 3 nodes: sent / served / limited / s",
           "%d / %d / %d / %.2f" % (len(codes), served, limited, took))
    assert len(codes) == int(seconds * per_second) and served + limited == len(codes), \
        set(codes)
    windows = int(took) + 2 if took > int(took) else int(took) + 1
    assert served <= limit * windows, "%d calls admitted in %.2f s: limit %d/s over %d s" % (
        served, took, limit, windows)
    assert served >= limit * (int(took) - 1), "only %d served in %.2f s" % (served, took)
    assert {n for n, c in results if c == "InvalidParameter.TaskNotExist"} == {0, 1, 2}
