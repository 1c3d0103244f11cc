/* task_cluster.c — this node's part in a cluster sharing a PostgreSQL store: its heartbeat,
 * the leases of the tasks it runs (renewed, lost, claimed by placement) and the signals
 * that carry a change made on any node to the node that runs the task. */
#include "task/task_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "notify/notify.h"

#define HELD_BUCKETS 1024
/* Ticks with claimable tasks and no share to take before a node claims one anyway (nodes
 * that read the rows at other moments must not leave a task waiting for long). */
#define STALL_TICKS 3
/* After a renewal failed, the next try comes this soon (not a whole period later). */
#define RENEW_RETRY_US 200000

typedef struct held {
    char id[TASK_ID_MAX];
    int64_t epoch;
    bool kept;    /* seen in the last renewal */
    bool readopt; /* taking it up failed (the store did not answer): again at the next tick */
    bool leaving; /* being handed to another node (drain): no longer this node's to run */
    struct held *next;
} held;

static struct {
    bool on;
    const config *cfg;
    store *st;  /* the service's handle: signals */
    store *own; /* the thread's own connection: renewals, claims, listening */
    char node[64], labels[256];
    int64_t started_ms;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t mu; /* guards held */
    held *held[HELD_BUCKETS];
    int n_held;
    int64_t valid_until_us; /* mono: the leases are this node's until then (less the skew) */
    bool claim_now, resync, beat_now;
    bool draining; /* the node's row says so: its tasks go to other nodes, it takes none */
    int stalled;
    int drain_ticks;       /* drain ticks with tasks left here: warnings every 30 */
    atomic_int live_nodes; /* at the last tick that read them */
    int ticks;
    int failed; /* renewals failed in a row */
} cl = {.mu = PTHREAD_MUTEX_INITIALIZER, .live_nodes = 1};

/* ---------- the leases held (cl.mu) ---------- */

static unsigned bucket(const char *id)
{
    unsigned h = 2166136261u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % HELD_BUCKETS;
}

static held **find(const char *id)
{
    held **e = &cl.held[bucket(id)];
    while (*e && strcmp((*e)->id, id) != 0)
        e = &(*e)->next;
    return e;
}

bool cluster_holds(const char *id, int64_t *epoch)
{
    if (epoch)
        *epoch = 0;
    if (!cl.on)
        return true;
    pthread_mutex_lock(&cl.mu);
    held *e = *find(id);
    if (e && e->leaving)
        e = NULL;
    if (e && epoch)
        *epoch = e->epoch;
    pthread_mutex_unlock(&cl.mu);
    return e != NULL;
}

void cluster_adopt_later(const char *id)
{
    pthread_mutex_lock(&cl.mu);
    held *e = *find(id);
    if (e)
        e->readopt = true;
    pthread_mutex_unlock(&cl.mu);
}

/* Posts WORK_ADOPT again for every lease whose taking up failed. */
static void readopt(void)
{
    pthread_mutex_lock(&cl.mu);
    for (int b = 0; b < HELD_BUCKETS; b++)
        for (held *e = cl.held[b]; e; e = e->next)
            if (e->readopt) {
                e->readopt = false;
                runner_post(WORK_ADOPT, e->id);
            }
    pthread_mutex_unlock(&cl.mu);
}

/* Notes a lease as held (kept); true when it was not known before. */
static bool hold(const char *id, int64_t epoch)
{
    pthread_mutex_lock(&cl.mu);
    held **e = find(id);
    bool added = false;
    if (!*e && (*e = calloc(1, sizeof(**e))) != NULL) {
        snprintf((*e)->id, sizeof((*e)->id), "%s", id);
        cl.n_held++;
        added = true;
    }
    if (*e) {
        (*e)->epoch = epoch;
        (*e)->kept = true;
    }
    pthread_mutex_unlock(&cl.mu);
    return added;
}

/* Drops every lease not marked kept (all of them when all); their relays stop, nothing is
 * written: the task is the next owner's. Returns how many went. */
static int drop_unkept(bool all)
{
    int dropped = 0;
    pthread_mutex_lock(&cl.mu);
    for (int b = 0; b < HELD_BUCKETS; b++)
        for (held **e = &cl.held[b]; *e;) {
            if ((*e)->kept && !all) {
                (*e)->kept = false;
                e = &(*e)->next;
                continue;
            }
            held *gone = *e;
            *e = gone->next;
            runner_post(WORK_HALT, gone->id);
            if (!gone->leaving)
                tlog_warn(gone->id, "cluster: lease (epoch %lld) lost: the relay stops here",
                          (long long)gone->epoch);
            free(gone);
            cl.n_held--;
            dropped++;
        }
    pthread_mutex_unlock(&cl.mu);
    return dropped;
}

static void post_all(work_type type)
{
    pthread_mutex_lock(&cl.mu);
    for (int b = 0; b < HELD_BUCKETS; b++)
        for (held *e = cl.held[b]; e; e = e->next)
            runner_post(type, e->id);
    pthread_mutex_unlock(&cl.mu);
}

/* ---------- signals: a change on any node reaches the task's owner ---------- */

void cluster_tell(work_type type, const char *id)
{
    if (!cl.on)
        return;
    char payload[160];
    snprintf(payload, sizeof(payload), "%s %d %s", cl.node, (int)type, id);
    ferr err;
    if (store_signal(cl.st, payload, &err) != 0)
        tlog_warn(id, "cluster: cannot signal the change: %s (the owner resyncs)", err.msg);
}

static void on_signal(void *ctx, const char *payload)
{
    (void)ctx;
    char from[64], id[TASK_ID_MAX];
    int type;
    if (sscanf(payload, "%63s %d %63s", from, &type, id) != 3)
        return;
    if (type == WORK_DRAIN) {
        cl.beat_now = true;
        return;
    }
    bool ours = cluster_holds(id, NULL);
    if (ours && strcmp(from, cl.node) != 0) /* this node's own changes went to its runner */
        runner_post((work_type)type, id);
    else if (!ours)
        cl.claim_now = true; /* a new task, or one whose owner is gone */
}

/* ---------- one tick: renew, beat, claim ---------- */

/* False when the store did not answer (the thread tries again soon). */
static bool renew(void)
{
    store_lease *got = NULL;
    int n = 0;
    ferr err;
    int64_t t0 = time_mono_us();
    if (store_lease_renew(cl.own, cl.node, cl.cfg->lease_time_ms, &got, &n, &err) != 0) {
        if (cl.failed++ % 10 == 0)
            log_warn("cluster: cannot renew the leases of node %s: %s", cl.node, err.msg);
        cl.resync = true;
        if (time_mono_us() >= cl.valid_until_us && drop_unkept(true) > 0)
            log_error("cluster: node %s could not renew its leases in time: its relays stop",
                      cl.node);
        return false;
    }
    if (cl.failed)
        log_info("cluster: node %s renews its leases again after %d failed attempts", cl.node,
                 cl.failed);
    cl.failed = 0;
    cl.valid_until_us = t0 + (int64_t)(cl.cfg->lease_time_ms - cl.cfg->lease_skew_ms) * 1000;
    engine_set_fence(cl.valid_until_us);
    for (int i = 0; i < n; i++) /* a lease dropped when the fence passed and still ours */
        if (hold(got[i].task_id, got[i].epoch)) /* in the store: run it again */
            runner_post(WORK_ADOPT, got[i].task_id);
    free(got);
    drop_unkept(false);
    readopt();
    if (cl.resync) { /* signals may have been missed: every held task is decided again */
        cl.resync = false;
        post_all(WORK_SCHEDULE);
    }
    return true;
}

static void beat(const char *state)
{
    store_node me = {.running = runner_live(),
                     .max_running = cl.cfg->max_running_tasks,
                     .started_ms = cl.started_ms};
    snprintf(me.id, sizeof(me.id), "%s", cl.node);
    snprintf(me.labels, sizeof(me.labels), "%s", cl.labels);
    snprintf(me.state, sizeof(me.state), "%s", state);
    ferr err;
    if (store_node_beat(cl.own, &me, &err) != 0) {
        log_warn("cluster: heartbeat of node %s: %s", cl.node, err.msg);
        return;
    }
    if (me.draining != cl.draining)
        log_info("cluster: node %s %s", cl.node,
                 me.draining ? "drains: its tasks go to other nodes" : "takes tasks again");
    cl.draining = me.draining;
}

static bool lighter(const store_node *a, int la, const store_node *b, int lb)
{
    if (la != lb)
        return la < lb;
    if (a->running != b->running)
        return a->running < b->running;
    if (a->bitrate_kbps != b->bitrate_kbps)
        return a->bitrate_kbps < b->bitrate_kbps;
    return strcmp(a->id, b->id) < 0;
}

/* True when node n may run a task of region ("" = any node): a label of it names region,
 * and, with room, it runs fewer relays than its max_running_tasks (the task's share of its
 * relays counted in extra). */
static bool eligible(const store_node *n, int extra, const char *region, bool room)
{
    if (strcmp(n->state, "live") != 0 || n->draining ||
        (room && n->max_running > 0 && n->running + extra >= n->max_running))
        return false;
    size_t len = strlen(region);
    if (len == 0)
        return true;
    for (const char *l = n->labels; *l;) {
        size_t w = strcspn(l, ",");
        if (w == len && strncmp(l, region, len) == 0)
            return true;
        l += w + (l[w] == ',');
    }
    return false;
}

/* The split of one group of claimable tasks, added to loads; returns this node's part. */
static int fill(const store_node *nodes, int n, int *loads, int me, const store_claimable *g)
{
    int take = 0;
    for (int k = 0; k < g->count && k < 100000; k++) {
        int best = -1;
        /* a node with free relays first; when all are full, one still takes the task, which
         * then waits there for a slot (WaitingForSlot) as on a single node */
        for (int room = 1; room >= 0 && best < 0; room--)
            for (int i = 0; i < n; i++)
                if (eligible(&nodes[i], loads[i] - nodes[i].leases, g->region, room) &&
                    (best < 0 || lighter(&nodes[i], loads[i], &nodes[best], loads[best])))
                    best = i;
        if (best < 0) /* no live node serves the region: the tasks wait */
            break;
        loads[best]++;
        take += best == me;
    }
    return take;
}

/* How many of the claimable tasks this node takes now: each goes, in turn, to the live
 * node that may run it (its region among the node's labels; one with relays to spare
 * under its max_running_tasks before one without) and holds the fewest leases (then runs the fewest
 * relays, then has the lower bitrate, then id); tasks with a region are placed first. Every node
 * computes the same split from the same rows, so each takes its own part; rows read at different
 * moments leave some for the next tick. */
static int share(const store_node *nodes, int n, const store_claimable *groups, int n_groups)
{
    int loads[64], me = -1, take = 0;
    n = n < 64 ? n : 64;
    for (int i = 0; i < n; i++) {
        loads[i] = nodes[i].leases;
        if (strcmp(nodes[i].id, cl.node) == 0)
            me = i;
    }
    if (me < 0)
        return 0;
    for (int pass = 0; pass < 2; pass++)
        for (int g = 0; g < n_groups; g++)
            if ((groups[g].region[0] != '\0') == (pass == 0))
                take += fill(nodes, n, loads, me, &groups[g]);
    return take;
}

/* tick: a renewal's pass (the stall count goes by those), not one a signal started. */
static void claim(bool tick)
{
    store_node *nodes = NULL;
    store_claimable *groups = NULL;
    int n = 0, n_groups = 0;
    ferr err;
    if (store_lease_claimable(cl.own, cl.cfg->lease_skew_ms, &groups, &n_groups, &err) != 0 ||
        n_groups == 0 || store_node_list(cl.own, cl.cfg->lease_time_ms, &nodes, &n, &err) != 0) {
        free(groups);
        if (tick)
            cl.stalled = 0;
        return;
    }
    int take = share(nodes, n, groups, n_groups);
    free(nodes);
    free(groups);
    if (tick)
        cl.stalled = take > 0 ? 0 : cl.stalled + 1;
    if (take <= 0 && cl.stalled >= STALL_TICKS)
        take = 1;
    if (take <= 0)
        return;
    store_lease *got = NULL;
    int got_n = 0;
    if (store_lease_claim(cl.own, cl.node, cl.labels, cl.cfg->lease_time_ms, cl.cfg->lease_skew_ms,
                          take, &got, &got_n, &err) != 0) {
        log_warn("cluster: node %s cannot claim tasks: %s", cl.node, err.msg);
        return;
    }
    for (int i = 0; i < got_n; i++) {
        hold(got[i].task_id, got[i].epoch);
        tlog_info(got[i].task_id, "cluster: node %s claimed the task (lease epoch %lld)", cl.node,
                  (long long)got[i].epoch);
        runner_post(WORK_ADOPT, got[i].task_id);
    }
    free(got);
}

/* Each tick: the offsets of the playlists this node runs, so the node that takes one over
 * after a crash goes on at most a tick behind (the entry itself is saved at its start). */
static void save_offsets(void)
{
    char(*ids)[TASK_ID_MAX] = NULL;
    int n = 0;
    pthread_mutex_lock(&cl.mu);
    if (cl.n_held > 0 && (ids = calloc((size_t)cl.n_held, sizeof(*ids))) != NULL)
        for (int b = 0; b < HELD_BUCKETS; b++)
            for (held *e = cl.held[b]; e && n < cl.n_held; e = e->next)
                if (!e->leaving)
                    snprintf(ids[n++], TASK_ID_MAX, "%s", e->id);
    pthread_mutex_unlock(&cl.mu);
    for (int i = 0; i < n; i++)
        runner_save_offset(cl.own, ids[i]);
    free(ids);
}

/* ---------- drain: this node hands its tasks over ---------- */

/* True when a live node other than this one (among nodes) may run a task of region
 * ("" = any node). */
static bool other_takes(const store_node *nodes, int n, const char *region)
{
    for (int i = 0; i < n; i++)
        if (strcmp(nodes[i].id, cl.node) != 0 && eligible(&nodes[i], 0, region, false))
            return true;
    return false;
}

/* True when a task of this node may go elsewhere: some other live node serves its region.
 * A task whose region only this node serves stays here, running, through the drain. */
static bool can_leave(const store_node *nodes, int n, const char *id)
{
    task t;
    ferr err;
    if (store_task_get(cl.own, id, &t, &err) != 0)
        return false; /* unknown now: the next tick looks again */
    bool ok = other_takes(nodes, n, t.spec.region ? t.spec.region : "");
    if (!ok && cl.drain_ticks % 30 == 0)
        tlog_warn(id,
                  "cluster: node %s drains but no other live node serves region %s: the "
                  "task stays here",
                  cl.node, t.spec.region);
    task_free(&t);
    return ok;
}

/* The ids of the leases not yet leaving, copied out of cl.mu into *ids (malloc'd); their
 * number, 0 when there are none (or no memory: the next tick tries again). */
static int staying(char (**ids)[TASK_ID_MAX])
{
    int n = 0;
    pthread_mutex_lock(&cl.mu);
    *ids = cl.n_held > 0 ? malloc(sizeof(**ids) * (size_t)cl.n_held) : NULL;
    for (int b = 0; *ids && b < HELD_BUCKETS; b++)
        for (held *e = cl.held[b]; e && n < cl.n_held; e = e->next)
            if (!e->leaving)
                snprintf((*ids)[n++], TASK_ID_MAX, "%s", e->id);
    pthread_mutex_unlock(&cl.mu);
    return n;
}

/* Marks the lease of id leaving and posts its hand-off to the runner, unless it is gone or
 * already leaving. */
static void hand_off(const char *id)
{
    pthread_mutex_lock(&cl.mu);
    held *e = *find(id);
    bool go = e && !e->leaving;
    if (go)
        e->leaving = true;
    pthread_mutex_unlock(&cl.mu);
    if (go)
        runner_post(WORK_HAND_OFF, id);
}

/* Every lease not yet leaving goes to the runner to be handed over (WORK_HAND_OFF), when
 * another node is there to take it: one that serves the task's region, if it has one. */
static void hand_off_all(void)
{
    char(*ids)[TASK_ID_MAX] = NULL;
    int k = staying(&ids);
    store_node *nodes = NULL;
    int n = 0;
    ferr err;
    if (k > 0 && store_node_list(cl.own, cl.cfg->lease_time_ms, &nodes, &n, &err) == 0) {
        bool anyone = other_takes(nodes, n, "");
        for (int i = 0; anyone && i < k; i++)
            if (can_leave(nodes, n, ids[i]))
                hand_off(ids[i]);
        if (!anyone && cl.drain_ticks % 30 == 0) /* said again every 30 ticks */
            log_warn("cluster: node %s drains but no other live node takes tasks: its tasks "
                     "stay here",
                     cl.node);
        cl.drain_ticks++;
    }
    free(ids);
    free(nodes);
}

void cluster_handed_off(const char *id)
{
    int64_t epoch = 0;
    pthread_mutex_lock(&cl.mu);
    held *e = *find(id);
    if (e)
        epoch = e->epoch;
    pthread_mutex_unlock(&cl.mu);
    if (!e)
        return;
    ferr err;
    if (store_lease_hand_off(cl.st, id, cl.node, epoch, &err) != 0) {
        /* never lost: it runs here again, and the next tick tries the hand-off anew */
        tlog_warn(id, "cluster: cannot hand the task over: %s (it runs here again)", err.msg);
        pthread_mutex_lock(&cl.mu);
        if ((e = *find(id)) != NULL)
            e->leaving = false;
        pthread_mutex_unlock(&cl.mu);
        runner_post(WORK_ADOPT, id);
        return;
    }
    tlog_info(id, "cluster: node %s handed the task over (lease epoch %lld)", cl.node,
              (long long)epoch);
    cluster_tell(WORK_ADOPT, id); /* the other nodes claim it now */
}

/* A node's drain flag changed: every node reads its own row again now. */
void cluster_drain_changed(void)
{
    cluster_tell(WORK_DRAIN, "-");
}

/* Each tick: the live nodes (whose number shares a request limit out when the store is
 * away); every few ticks the request counters of seconds past go. */
static void housekeep(void)
{
    store_node *nodes = NULL;
    int n = 0, live = 0;
    ferr err;
    if (store_node_list(cl.own, cl.cfg->lease_time_ms, &nodes, &n, &err) == 0) {
        for (int i = 0; i < n; i++)
            live += strcmp(nodes[i].state, "live") == 0;
        atomic_store(&cl.live_nodes, live > 0 ? live : 1);
    }
    free(nodes);
    if (++cl.ticks % 5 == 0)
        store_rate_prune(cl.own, &err);
}

int task_rate_admit(const char *key, int rate, int *share)
{
    *share = rate;
    if (!cl.on)
        return 1;
    int64_t n = 0;
    ferr err;
    if (store_rate_count(cl.st, key, &n, &err) == 0)
        return n <= rate ? 1 : 0;
    int live = atomic_load(&cl.live_nodes);
    *share = live > 1 ? rate / live : rate;
    if (*share < 1)
        *share = 1;
    return -1;
}

static void *cluster_main(void *arg)
{
    (void)arg;
    int64_t next = time_mono_us();
    while (!atomic_load(&cl.stop)) {
        int64_t now = time_mono_us();
        if (now >= next || cl.claim_now || cl.beat_now) {
            bool full = now >= next;
            if (full && !renew()) {
                /* the store is away: try again soon, so that a server back within the
                 * lease finds the leases renewed before the fence */
                next = now + RENEW_RETRY_US;
                continue;
            }
            if (full) {
                next = now + (int64_t)cl.cfg->lease_renew_ms * 1000;
                save_offsets();
                housekeep();
                notify_kick(); /* another node's events may wait in the shared outbox */
            }
            if (full || cl.beat_now)
                beat("live");
            cl.beat_now = false;
            cl.claim_now = false;
            if (cl.draining)
                hand_off_all();
            else if (time_mono_us() < cl.valid_until_us)
                claim(full);
        }
        int wait_ms = (int)((next - time_mono_us()) / 1000);
        ferr err;
        if (wait_ms > 0 && store_signal_wait(cl.own, wait_ms, on_signal, NULL, &err) != 0) {
            cl.resync = true;
            usleep(100000);
        }
    }
    return NULL;
}

/* ---------- start and stop ---------- */

int cluster_start(const config *cfg, store *st)
{
    cl.on = store_is_shared(st);
    if (!cl.on)
        return 0;
    /* A lease must outlive a renewal period with the skew bound taken off both sides. */
    if (cfg->lease_renew_ms < 100 || cfg->lease_skew_ms < 0 ||
        cfg->lease_renew_ms >= cfg->lease_time_ms - 2 * cfg->lease_skew_ms) {
        log_error("cluster: lease_renew_ms (%d) must be at least 100 and below lease_time_ms "
                  "(%d) minus twice lease_skew_ms (%d)",
                  cfg->lease_renew_ms, cfg->lease_time_ms, cfg->lease_skew_ms);
        cl.on = false;
        return -1;
    }
    cl.cfg = cfg;
    cl.st = st;
    cl.started_ms = time_now_ms();
    if (cfg->node_id[0])
        snprintf(cl.node, sizeof(cl.node), "%s", cfg->node_id);
    else if (gethostname(cl.node, sizeof(cl.node) - 1) != 0)
        snprintf(cl.node, sizeof(cl.node), "node");
    size_t w = 0; /* the labels without blanks */
    for (const char *c = cfg->node_labels; *c && w + 1 < sizeof(cl.labels); c++)
        if (*c != ' ' && *c != '\t')
            cl.labels[w++] = *c;
    cl.labels[w] = '\0';
    engine_set_fence(time_mono_us()); /* nothing pushes before the first renewal */
    /* One connection of its own (LISTEN, leases), named apart from the service's. */
    const char *url = config_store_location(cfg);
    char own_url[CONFIG_STR_MAX + 48];
    snprintf(own_url, sizeof(own_url), "%s%sapplication_name=ferryd-cluster", url,
             strchr(url, '?') ? "&" : "?");
    ferr err;
    if (store_open_pool(own_url, 1, &cl.own, &err) != 0) {
        log_error("cluster: cannot open a second connection to the store: %s", err.msg);
        return -1;
    }
    beat("live");
    atomic_store(&cl.stop, false);
    if (pthread_create(&cl.thread, NULL, cluster_main, NULL) != 0)
        return -1;
    cl.started = true;
    log_info("cluster: node %s (labels '%s'): leases of %d ms renewed every %d ms, skew bound "
             "%d ms",
             cl.node, cl.labels, cfg->lease_time_ms, cfg->lease_renew_ms, cfg->lease_skew_ms);
    return 0;
}

void cluster_stop_renewing(void)
{
    if (!cl.started)
        return;
    atomic_store(&cl.stop, true);
    pthread_join(cl.thread, NULL);
    cl.started = false;
}

/* After the relays stopped: the leases go at once, so other nodes need not wait them out. */
void cluster_release(void)
{
    if (!cl.on || !cl.own)
        return;
    ferr err;
    if (store_lease_release(cl.own, cl.node, &err) != 0)
        log_warn("cluster: node %s could not release its leases: %s", cl.node, err.msg);
    pthread_mutex_lock(&cl.mu);
    for (int b = 0; b < HELD_BUCKETS; b++)
        while (cl.held[b]) {
            held *e = cl.held[b];
            cl.held[b] = e->next;
            free(e);
        }
    cl.n_held = 0;
    pthread_mutex_unlock(&cl.mu);
    store_close(cl.own);
    cl.own = NULL;
    cl.on = false;
}

bool cluster_on(void)
{
    return cl.on;
}

const char *cluster_node(void)
{
    return cl.node;
}

/* ---------- the nodes, for the API ---------- */

static void node_from(const store_node *s, task_node *d)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->id, sizeof(d->id), "%s", s->id);
    snprintf(d->labels, sizeof(d->labels), "%s", s->labels);
    snprintf(d->state, sizeof(d->state), "%s", s->state);
    d->running = s->running;
    d->bitrate_kbps = s->bitrate_kbps;
    d->max_running = s->max_running;
    d->tasks = s->leases;
    d->started_ms = s->started_ms;
    d->heartbeat_ms = s->heartbeat_ms;
    d->draining = s->draining;
}

/* A single node: itself, holding every task. */
static int single(task_node **out, int *n, ferr *err)
{
    task_node *me = calloc(1, sizeof(*me));
    if (!me)
        return ferr_set(err, FERR_INTERNAL, "", "out of memory");
    if (svc.cfg->node_id[0])
        snprintf(me->id, sizeof(me->id), "%s", svc.cfg->node_id);
    else if (gethostname(me->id, sizeof(me->id) - 1) != 0)
        snprintf(me->id, sizeof(me->id), "node");
    snprintf(me->labels, sizeof(me->labels), "%s", svc.cfg->node_labels);
    snprintf(me->state, sizeof(me->state), "live");
    me->running = runner_live();
    me->max_running = svc.cfg->max_running_tasks;
    int count = store_task_count(svc.st, NULL);
    me->tasks = count > 0 ? count : 0;
    me->heartbeat_ms = time_now_ms();
    *out = me;
    *n = 1;
    return 0;
}

int task_nodes(task_node **out, int *n, ferr *err)
{
    *out = NULL;
    *n = 0;
    if (!cl.on)
        return single(out, n, err);
    store_node *nodes = NULL;
    int count = 0;
    int rc = store_node_list(cl.st, cl.cfg->lease_time_ms, &nodes, &count, err);
    if (rc != 0)
        return rc;
    if (count && !(*out = calloc((size_t)count, sizeof(**out)))) {
        free(nodes);
        return ferr_set(err, FERR_INTERNAL, "", "out of memory");
    }
    for (int i = 0; i < count; i++)
        node_from(&nodes[i], &(*out)[i]);
    *n = count;
    free(nodes);
    return 0;
}

int task_node_drain(const char *node, bool on, ferr *err)
{
    if (!cl.on)
        return ferr_set(err, FERR_STATE, "node",
                        "This ferryd is a single node on its embedded store: there is no other "
                        "node to move tasks to. Drain needs a cluster (store = postgresql://...).");
    int rc = store_node_drain(cl.st, node, on, err);
    if (rc == 0)
        cluster_drain_changed();
    return rc;
}
