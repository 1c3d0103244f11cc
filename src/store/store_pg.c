/* store_pg.c — the PostgreSQL backend's pool of connections: opened from a postgresql://
 * URL, migrated, taken by one call at a time, re-established after a loss, the statements
 * and transactions every call runs through, and the backend's descriptor. */
#include "store/store_pg.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"

static bool pg_claims(const char *where)
{
    return strncmp(where, "postgresql://", 13) == 0 || strncmp(where, "postgres://", 11) == 0;
}

void arg_int(pg_args *a, int64_t v)
{
    snprintf(a->num[a->n], sizeof(a->num[a->n]), "%" PRId64, v);
    a->v[a->n] = a->num[a->n];
    a->n++;
}

int64_t col_int(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* A libpq message on one line: its newlines become "; ", the trailing one goes. */
static void one_line(char *dst, size_t len, const char *msg)
{
    size_t w = 0;
    for (const char *c = msg ? msg : ""; *c && w + 3 < len; c++) {
        if (*c == '\t') {
            continue;
        } else if (*c != '\n') {
            dst[w++] = *c;
        } else if (c[1]) {
            dst[w++] = ';';
            dst[w++] = ' ';
        }
    }
    dst[w] = '\0';
}

/* --- connecting --- */

/* user@host:port/db from the URL, without its password, for messages and logs. */
static int describe_url(pg_store *p, ferr *err)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(p->url, &why);
    if (!opts) {
        char msg[256];
        one_line(msg, sizeof(msg), why ? why : "out of memory");
        PQfreemem(why);
        return ferr_set(err, FERR_INVALID, "store", "store: bad PostgreSQL URL: %s", msg);
    }
    const char *user = "", *host = "localhost", *port = "5432", *db = "";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
    }
    snprintf(p->where, sizeof(p->where), "%s%s%s:%s/%s", user, *user ? "@" : "", host, port, db);
    PQconninfoFree(opts);
    return FERR_OK;
}

/* The server's notices ("relation already exists, skipping") are not ferry's to print. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The slot the calling thread holds; a thread holds at most one at a time. */
static __thread pg_conn *held;

pg_conn *pgc(store *st)
{
    (void)st;
    return held;
}

/* Connects c anew. Defaults that the URL may override: a bounded connect, and keepalives
 * that notice a dead server or network in about half a minute instead of hours. */
static int connect_db(pg_store *p, pg_conn *c, ferr *err)
{
    static const char *const keys[] = {"connect_timeout",
                                       "keepalives_idle",
                                       "keepalives_interval",
                                       "keepalives_count",
                                       "tcp_user_timeout",
                                       "application_name",
                                       "dbname",
                                       NULL};
    const char *vals[] = {"5", "10", "5", "3", "20000", "ferryd", p->url, NULL};
    if (c->conn)
        PQfinish(c->conn);
    c->listening = false;
    c->outbox_sender = false;
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(c->conn, quiet_notice, NULL);
        return FERR_OK;
    }
    char msg[300];
    one_line(msg, sizeof(msg), c->conn ? PQerrorMessage(c->conn) : "out of memory");
    PQfinish(c->conn);
    c->conn = NULL;
    return ferr_set(err, FERR_INTERNAL, "", "store: cannot connect to PostgreSQL at %s: %s",
                    p->where, msg);
}

/* True when c is connected, outside a transaction, and the server has not closed it while
 * it was idle (a restart sends a last message and closes: reading it marks c broken, so
 * the call reconnects instead of failing its first statement). */
static bool conn_usable(pg_conn *c)
{
    if (!c->conn || PQstatus(c->conn) != CONNECTION_OK ||
        PQtransactionStatus(c->conn) != PQTRANS_IDLE)
        return false;
    /* the server's last words, then the end of the stream: a read or two */
    for (int reads = 0; reads < 4; reads++) {
        struct pollfd fd = {.fd = PQsocket(c->conn), .events = POLLIN};
        if (poll(&fd, 1, 0) <= 0)
            return true;
        if (!PQconsumeInput(c->conn) || PQstatus(c->conn) != CONNECTION_OK)
            return false;
    }
    return true;
}

static int ready(pg_store *p, pg_conn *c, ferr *err)
{
    if (conn_usable(c))
        return FERR_OK;
    bool was = c->conn != NULL;
    int rc = connect_db(p, c, err);
    if (rc == FERR_OK && was)
        log_info("store: reconnected to PostgreSQL at %s", p->where);
    return rc;
}

/* A free slot for a call: a connected one first, then one yet to connect; -1 if none. */
static int free_slot(const pg_store *p)
{
    int first = p->size > 0 ? 1 : 0, unconnected = -1;
    for (int i = first; i <= p->size; i++) {
        if (p->slots[i].busy)
            continue;
        if (p->slots[i].opened)
            return i;
        if (unconnected < 0)
            unconnected = i;
    }
    return unconnected;
}

static int enter_slot(store *st, bool session, ferr *err)
{
    pg_store *p = pg(st);
    int i;
    pthread_mutex_lock(&p->mu);
    while ((i = session ? (p->slots[0].busy ? -1 : 0) : free_slot(p)) < 0)
        pthread_cond_wait(&p->freed, &p->mu);
    p->slots[i].busy = true;
    pthread_mutex_unlock(&p->mu);
    held = &p->slots[i];
    int rc = ready(p, held, err);
    if (rc != FERR_OK)
        pg_leave(st);
    return rc;
}

int pg_enter(store *st, ferr *err)
{
    return enter_slot(st, false, err);
}

int pg_enter_session(store *st, ferr *err)
{
    return enter_slot(st, true, err);
}

void pg_leave(store *st)
{
    pg_store *p = pg(st);
    pthread_mutex_lock(&p->mu);
    held->busy = false;
    held->opened = held->conn != NULL;
    held = NULL;
    pthread_cond_broadcast(&p->freed);
    pthread_mutex_unlock(&p->mu);
}

/* --- statements --- */

/* Length of the valid UTF-8 sequence at s (no overlong forms, surrogates or code points
 * past U+10FFFF), or 0. Stops at the first bad byte, so never reads past a '\0'. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0], cp, min;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    return cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ? 0 : n;
}

/* NULL when v is UTF-8 text; else a copy with '?' for every byte that starts no valid
 * sequence. PostgreSQL refuses other bytes in text, and a peer's error message or a
 * file's name must not cost a task its history line (SQLite keeps the bytes as they are). */
static char *utf8_repair(const char *v)
{
    const unsigned char *u = (const unsigned char *)v;
    size_t i = 0, n;
    while (u[i] && (n = utf8_seq(u + i)) != 0)
        i += n;
    if (!u[i])
        return NULL;
    char *copy = strdup(v);
    for (i = 0; copy && u[i]; i += n) {
        n = utf8_seq(u + i);
        if (n == 0) {
            copy[i] = '?';
            n = 1;
        }
    }
    return copy;
}

PGresult *pg_query(store *st, const char *sql, const pg_args *a, const char *what, const char *id,
                   ferr *err)
{
    pg_conn *p = pgc(st);
    p->sqlstate[0] = '\0';
    p->changes = 0;
    int n = a ? a->n : 0;
    const char *vals[PG_ARGS_MAX] = {0};
    char *repaired[PG_ARGS_MAX];
    for (int i = 0; i < n; i++) {
        repaired[i] = a->v[i] ? utf8_repair(a->v[i]) : NULL;
        vals[i] = repaired[i] ? repaired[i] : a->v[i];
    }
    PGresult *r = PQexecParams(p->conn, sql, n, NULL, n ? vals : NULL, NULL, NULL, 0);
    for (int i = 0; i < n; i++)
        free(repaired[i]);
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
        p->changes = strtol(PQcmdTuples(r), NULL, 10);
        return r;
    }
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(p->sqlstate, sizeof(p->sqlstate), "%s", state ? state : "");
    char msg[300];
    one_line(msg, sizeof(msg), r ? PQresultErrorMessage(r) : PQerrorMessage(p->conn));
    if (!*msg)
        one_line(msg, sizeof(msg), PQerrorMessage(p->conn));
    ferr_set(err, FERR_INTERNAL, "", "store: %s%s%s: %s", what, id ? " " : "", id ? id : "", msg);
    PQclear(r);
    return NULL;
}

int pg_run(store *st, const char *sql, const pg_args *a, const char *what, const char *id,
           ferr *err)
{
    PGresult *r = pg_query(st, sql, a, what, id, err);
    PQclear(r);
    return r ? FERR_OK : FERR_INTERNAL;
}

int pg_select(store *st, const char *sql, const pg_args *a, const char *what, const char *id,
              size_t size, pg_row_fn read, void **out, int *n, ferr *err)
{
    *out = NULL;
    *n = 0;
    int rc = pg_enter(st, err);
    if (rc != FERR_OK)
        return rc;
    PGresult *r = pg_query(st, sql, a, what, id, err);
    int rows = r ? PQntuples(r) : 0;
    if (!r)
        rc = FERR_INTERNAL;
    else if (rows && !(*out = calloc((size_t)rows, size)))
        rc = ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    for (int i = 0; rc == FERR_OK && i < rows; i++)
        read(r, i, (char *)*out + (size_t)i * size);
    if (rc == FERR_OK)
        *n = rows;
    PQclear(r);
    pg_leave(st);
    return rc;
}

/* --- transactions (the caller holds the lock) --- */

int pg_tx_begin(store *st, ferr *err)
{
    pgc(st)->tx_t0_us = time_mono_us();
    return pg_run(st, "BEGIN", NULL, "begin", NULL, err);
}

int pg_tx_end(store *st, int rc, ferr *err)
{
    if (rc == FERR_OK)
        rc = pg_run(st, "COMMIT", NULL, "commit", NULL, err);
    if (rc != FERR_OK && PQtransactionStatus(pgc(st)->conn) != PQTRANS_IDLE)
        pg_run(st, "ROLLBACK", NULL, "rollback", NULL, NULL);
    store_observe_tx_us(time_mono_us() - pgc(st)->tx_t0_us);
    return rc;
}

/* --- opening --- */

static void pg_close(store *st)
{
    pg_store *p = pg(st);
    for (int i = 0; p->slots && i <= p->size; i++)
        PQfinish(p->slots[i].conn);
    free(p->slots);
    free(p->url);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Connects the session slot and brings the schema up to date on it. */
static int first_connection(store *st, ferr *err)
{
    int rc = pg_enter_session(st, err);
    if (rc != FERR_OK)
        return rc;
    rc = pg_schema_migrate(st, &st->version, err);
    if (rc == FERR_OK)
        log_info("store: opened PostgreSQL at %s (schema %d, server %d, %d connections)",
                 pg(st)->where, st->version, PQserverVersion(pgc(st)->conn), pg(st)->size + 1);
    pg_leave(st);
    return rc;
}

static int pg_open(const char *url, int connections, store **out, ferr *err)
{
    *out = NULL;
    pg_store *p = calloc(1, sizeof(*p));
    int size = connections > 1 ? connections : 0;
    if (!p || !(p->url = strdup(url)) ||
        !(p->slots = calloc((size_t)size + 1, sizeof(*p->slots)))) {
        if (p)
            free(p->url);
        free(p);
        return ferr_set(err, FERR_INTERNAL, "", "store: out of memory");
    }
    p->size = size;
    store *st = &p->base;
    st->be = &store_pg_backend;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->freed, NULL);
    int rc = describe_url(p, err);
    if (rc == FERR_OK)
        rc = first_connection(st, err);
    if (rc != FERR_OK) {
        pg_close(st);
        return rc;
    }
    *out = st;
    return FERR_OK;
}

const store_backend store_pg_backend = {
    .name = "postgresql",
    .claims = pg_claims,
    .open = pg_open,
    .close = pg_close,
    .task_insert = pg_task_insert,
    .task_update = pg_task_update,
    .task_delete = pg_task_delete,
    .task_get = pg_task_get,
    .task_list = pg_task_list,
    .task_all = pg_task_all,
    .task_count = pg_task_count,
    .task_count_states = pg_task_count_states,
    .history_add = pg_history_add,
    .history_list = pg_history_list,
    .checkpoint_get = pg_checkpoint_get,
    .checkpoint_offset = pg_checkpoint_offset,
    .audit_add = pg_audit_add,
    .audit_list = pg_audit_list,
    .outbox_heads = pg_outbox_heads,
    .outbox_done = pg_outbox_done,
    .outbox_retry = pg_outbox_retry,
    .outbox_counts = pg_outbox_counts,
    .outbox_list_task = pg_outbox_list_task,
    .outbox_purge = pg_outbox_purge,
    .node_beat = pg_node_beat,
    .node_drain = pg_node_drain,
    .lease_hand_off = pg_lease_hand_off,
    .node_list = pg_node_list,
    .lease_renew = pg_lease_renew,
    .lease_claimable = pg_lease_claimable,
    .lease_claim = pg_lease_claim,
    .lease_release = pg_lease_release,
    .signal = pg_signal,
    .signal_wait = pg_signal_wait,
    .rate_count = pg_rate_count,
    .rate_prune = pg_rate_prune,
};
