/* notify_deliver.c — the notifier thread: libcurl multi over the outbox. Only the oldest
 * live event of a task is in flight; 2xx removes it, anything else schedules a retry. */
#include "notify/notify.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "common/addr_policy.h"
#include "common/log.h"
#include "common/redact.h"
#include "common/timeutil.h"

#define IDLE_WAIT_MS 5000 /* look at the outbox at least this often */
#define HEADS_PAGE 64     /* outbox heads read at once */
#define HOST_KEY_MAX 300  /* "host:port" */

typedef struct flight {
    store_event *ev; /* owned; the body is the POST data */
    CURL *easy;
    struct curl_slist *headers;
    char host[HOST_KEY_MAX]; /* host:port, the unit of callback_per_host */
    char refused[160]; /* why the socket was refused, "" when it was not */
    char errbuf[CURL_ERROR_SIZE];
    struct flight *next;
} flight;

static struct {
    const config *cfg;
    store *st;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_bool kicked; /* events were committed since the outbox was last read */
    pthread_mutex_t mu; /* guards multi's existence (for kick) and stats */
    CURLM *multi;
    flight *flights;
    int n_flights;
    int64_t next_purge_ms; /* when dead events are looked at again */
    notify_stats stats;
} nt = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void count(long *field)
{
    pthread_mutex_lock(&nt.mu);
    (*field)++;
    pthread_mutex_unlock(&nt.mu);
}

/* ---------- one transfer ---------- */

static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    flight *f = clientp;
    char allow[2 * CONFIG_STR_MAX];
    config_allow_list(nt.cfg, f->ev->account, ADDR_CALLBACK, allow, sizeof(allow));
    if (!addr_sockaddr_allowed(&a->addr, allow, "callback_allow", f->refused,
                               sizeof(f->refused)))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* "host:port" of url (the scheme's port when it has none): receivers on one address but
 * different ports are different hosts for callback_per_host. */
static void host_key(const char *url, char *out, size_t len)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    out[0] = '\0';
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        snprintf(out, len, "%s:%s", host, port);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static struct curl_slist *make_headers(const store_event *ev)
{
    char line[160];
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    snprintf(line, sizeof(line), "X-Ferry-Event-Id: %s", ev->id);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "X-Ferry-Event: %s", ev->type);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof(line), "X-Ferry-Attempt: %d", ev->attempts + 1);
    h = curl_slist_append(h, line);
    const config_account *a = config_find_account(nt.cfg, ev->account);
    if (ev->dialect == TASK_DIALECT_NATIVE && a && a->callback_secret[0]) {
        char sig[72];
        notify_sign(a->callback_secret, ev->body, strlen(ev->body), sig);
        snprintf(line, sizeof(line), "X-Ferry-Signature: %s", sig);
        h = curl_slist_append(h, line);
    }
    return h;
}

static void setup_easy(flight *f)
{
    CURL *e = f->easy;
    long timeout_ms = (long)nt.cfg->callback_timeout_s * 1000;
    curl_easy_setopt(e, CURLOPT_URL, f->ev->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, f->ev->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(f->ev->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, f->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ferry-callback/1");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no proxy from the environment */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, f);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
}

static void flight_free(flight *f)
{
    if (f->easy) {
        curl_multi_remove_handle(nt.multi, f->easy);
        curl_easy_cleanup(f->easy);
    }
    curl_slist_free_all(f->headers);
    store_event_free(f->ev);
    free(f);
}

/* Starts the delivery of ev (taking it). */
static void launch(store_event *ev)
{
    flight *f = calloc(1, sizeof(*f));
    if (!f) {
        store_event_free(ev);
        return;
    }
    ev->next = NULL;
    f->ev = ev;
    host_key(ev->url, f->host, sizeof(f->host));
    f->easy = curl_easy_init();
    f->headers = make_headers(ev);
    if (!f->easy || !f->headers) {
        flight_free(f);
        return;
    }
    setup_easy(f);
    if (curl_multi_add_handle(nt.multi, f->easy) != CURLM_OK) {
        flight_free(f);
        return;
    }
    f->next = nt.flights;
    nt.flights = f;
    pthread_mutex_lock(&nt.mu);
    nt.n_flights++;
    pthread_mutex_unlock(&nt.mu);
}

/* ---------- choosing what to send ---------- */

/* Whether ev is in flight; counts the flights to host and those of ev's account. */
static bool in_flight(const store_event *ev, const char *host, int *same_host, int *same_account)
{
    *same_host = *same_account = 0;
    for (flight *f = nt.flights; f; f = f->next) {
        if (f->ev->seq == ev->seq)
            return true;
        *same_host += strcmp(f->host, host) == 0;
        *same_account += strcmp(f->ev->account, ev->account) == 0;
    }
    return false;
}

/* callback_per_account: one account's receivers that never answer hold at most this many
 * of the callback_concurrency slots, so other accounts' callbacks still go out. */
static bool over_limits(int same_host, int same_account)
{
    return nt.n_flights >= nt.cfg->callback_concurrency ||
           same_host >= nt.cfg->callback_per_host ||
           (nt.cfg->callback_per_account > 0 && same_account >= nt.cfg->callback_per_account);
}

/* Starts ev (taking it) when it is due, not in flight and within the limits, else frees
 * it; lowers *wait to the time until ev is due when it is not yet. */
static void consider(store_event *ev, int64_t now, int64_t *wait)
{
    char host[HOST_KEY_MAX];
    int same_host, same_account;
    host_key(ev->url, host, sizeof(host));
    bool busy = in_flight(ev, host, &same_host, &same_account);
    if (!busy && ev->next_ms > now && ev->next_ms - now < *wait)
        *wait = ev->next_ms - now;
    if (busy || ev->next_ms > now || over_limits(same_host, same_account))
        store_event_free(ev);
    else
        launch(ev);
}

/* Starts every due head that fits the limits; returns ms until the next one is due. Pages
 * on past heads that are in flight or wait for their host, so however many tasks a stuck
 * receiver holds, the due heads of other receivers are reached. */
static int64_t fill(void)
{
    int64_t now = time_now_ms(), wait = IDLE_WAIT_MS, after_ms = INT64_MIN, after_seq = 0;
    bool more = true;
    while (more && nt.n_flights < nt.cfg->callback_concurrency) {
        store_event *heads = NULL, *next;
        if (store_outbox_heads(nt.st, HEADS_PAGE, after_ms, after_seq, &heads, NULL) != 0)
            return 1000;
        int n = 0;
        for (store_event *ev = heads; ev; ev = next, n++) {
            next = ev->next;
            ev->next = NULL;
            after_ms = ev->next_ms;
            after_seq = ev->seq;
            more = ev->next_ms <= now; /* heads come soonest first: the rest wait too */
            consider(ev, now, &wait);
        }
        more = more && n == HEADS_PAGE;
    }
    return wait;
}

/* ---------- outcomes ---------- */

static void record_dead(const store_event *ev, const char *why)
{
    count(&nt.stats.dead);
    tlog_warn(ev->task_id, "callback %s %s undelivered after %d tries, kept as dead: %s", ev->type,
              ev->id, ev->attempts, why);
    task t;
    if (store_task_get(nt.st, ev->task_id, &t, NULL) != 0)
        return;
    task_history_entry h = {.at_ms = time_now_ms(), .from = t.state, .to = t.state};
    snprintf(h.reason, sizeof(h.reason), "CallbackFailed");
    snprintf(h.detail, sizeof(h.detail), "%s %s undelivered after %d tries: %s", ev->type, ev->id,
             ev->attempts, why);
    store_history_add(nt.st, ev->task_id, &h, NULL);
    task_free(&t);
}

static void failed(flight *f, const char *why)
{
    store_event *ev = f->ev;
    bool dead;
    ev->attempts++;
    int64_t now = time_now_ms();
    int64_t at = notify_retry_at(nt.cfg, ev->attempts, now, &dead);
    count(&nt.stats.failed);
    /* a dead row's next_ms is when it died: callback_dead_retention counts from there */
    store_outbox_retry(nt.st, ev->seq, ev->attempts, dead ? now : at, dead, why, NULL);
    if (dead)
        record_dead(ev, why);
    else
        tlog_info(ev->task_id, "callback %s %s: try %d failed: %s", ev->type, ev->id, ev->attempts,
                  why);
}

static void finished(flight *f, CURLcode result)
{
    long status = 0;
    char why[CURL_ERROR_SIZE + 64];
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
    if (result == CURLE_OK && status >= 200 && status < 300) {
        count(&nt.stats.delivered);
        store_outbox_done(nt.st, f->ev->seq, NULL);
        tlog_debug(f->ev->task_id, "callback %s %s delivered", f->ev->type, f->ev->id);
        return;
    }
    if (f->refused[0])
        snprintf(why, sizeof(why), "%s", f->refused);
    else if (result != CURLE_OK)
        text_redact(f->errbuf[0] ? f->errbuf : curl_easy_strerror(result), why, sizeof(why));
    else
        snprintf(why, sizeof(why), "HTTP %ld", status);
    failed(f, why);
}

static void unlink_flight(flight *done)
{
    for (flight **p = &nt.flights; *p; p = &(*p)->next)
        if (*p == done) {
            *p = done->next;
            pthread_mutex_lock(&nt.mu);
            nt.n_flights--;
            pthread_mutex_unlock(&nt.mu);
            return;
        }
}

/* Handles finished transfers; returns how many there were. */
static int reap(void)
{
    CURLMsg *m;
    int left, n = 0;
    while ((m = curl_multi_info_read(nt.multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        flight *f = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        CURLcode result = m->data.result;
        finished(f, result);
        unlink_flight(f);
        flight_free(f);
        n++;
    }
    return n;
}

/* ---------- the thread ---------- */

/* Removes the dead events older than callback_dead_retention (0 keeps them); looks at
 * most every minute, and at least ten times per retention period. */
static void purge_dead(void)
{
    int64_t now = time_now_ms(), keep_ms = (int64_t)nt.cfg->callback_dead_retention_s * 1000;
    if (keep_ms <= 0 || now < nt.next_purge_ms)
        return;
    int64_t every = keep_ms / 10;
    nt.next_purge_ms = now + (every < 1000 ? 1000 : every > 60000 ? 60000 : every);
    int removed = 0;
    if (store_outbox_purge(nt.st, now - keep_ms, &removed, NULL) != 0 || removed == 0)
        return;
    pthread_mutex_lock(&nt.mu);
    nt.stats.purged += removed;
    pthread_mutex_unlock(&nt.mu);
    log_info("notify: removed %d dead callback events older than %d s", removed,
             nt.cfg->callback_dead_retention_s);
}

static void *notify_main(void *arg)
{
    (void)arg;
    int64_t due = 0; /* when the outbox must be read again at the latest */
    bool reaped = true;
    while (!atomic_load(&nt.stop)) {
        int64_t now = time_now_ms();
        purge_dead();
        if (atomic_exchange(&nt.kicked, false) || reaped || now >= due)
            due = now + fill();
        int running = 0;
        int64_t wait = due - time_now_ms();
        curl_multi_poll(nt.multi, NULL, 0, (int)(wait > 0 ? wait : 1), NULL);
        curl_multi_perform(nt.multi, &running);
        reaped = reap() > 0;
    }
    return NULL;
}

int notify_start(const config *cfg, store *st)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    nt.cfg = cfg;
    nt.st = st;
    nt.next_purge_ms = 0;
    atomic_store(&nt.stop, false);
    pthread_mutex_lock(&nt.mu);
    nt.multi = curl_multi_init();
    pthread_mutex_unlock(&nt.mu);
    if (!nt.multi)
        return -1;
    if (pthread_create(&nt.thread, NULL, notify_main, NULL) != 0)
        return -1;
    nt.started = true;
    return 0;
}

void notify_stop(void)
{
    if (!nt.started)
        return;
    atomic_store(&nt.stop, true);
    notify_kick();
    pthread_join(nt.thread, NULL);
    nt.started = false;
    while (nt.flights) {
        flight *f = nt.flights;
        nt.flights = f->next;
        flight_free(f);
    }
    nt.n_flights = 0;
    pthread_mutex_lock(&nt.mu);
    curl_multi_cleanup(nt.multi);
    nt.multi = NULL;
    pthread_mutex_unlock(&nt.mu);
}

void notify_kick(void)
{
    atomic_store(&nt.kicked, true);
    pthread_mutex_lock(&nt.mu);
    if (nt.multi)
        curl_multi_wakeup(nt.multi);
    pthread_mutex_unlock(&nt.mu);
}

void notify_get_stats(notify_stats *out)
{
    pthread_mutex_lock(&nt.mu);
    *out = nt.stats;
    out->in_flight = nt.n_flights;
    store *st = nt.st;
    pthread_mutex_unlock(&nt.mu);
    out->pending = out->dead_kept = 0;
    if (st)
        store_outbox_counts(st, &out->pending, &out->dead_kept, NULL);
}
