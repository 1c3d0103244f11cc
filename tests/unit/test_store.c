/* test_store.c — the store against a throw-away data directory (SQLite) and, when
 * FERRY_TEST_PG names a database URL, the same cases against PostgreSQL: round trips of every
 * field, typed errors, history, paging and filters, reopening, migrations, crash safety, and
 * each backend's own (WAL mode; a lost PostgreSQL connection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "common/timeutil.h"
#include "store/store.h"
#include "store/store_internal.h"

typedef struct fixture {
    char root[256];  /* mkdtemp directory, removed at teardown */
    char data[300];  /* root/a/b: store_open must create the missing levels */
    const char *url; /* the PostgreSQL database, or NULL: SQLite in data */
    store *st;
} fixture;

/* The database of the PostgreSQL cases (FERRY_TEST_PG), NULL when they do not run. */
static const char *pg_url;

/* Where the fixture's store lives: the URL or the data directory. */
static const char *where(const fixture *fx)
{
    return fx->url ? fx->url : fx->data;
}

/* Runs sql on a connection of the test's own; fails the test on an error. */
static void pg_exec_sql(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) != CONNECTION_OK)
        fail_msg("connect %s: %s", url, PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

/* The first column of sql's first row, on the fixture's database. */
static int64_t db_value(const fixture *fx, const char *sql)
{
    if (fx->url) {
        PGconn *c = PQconnectdb(fx->url);
        assert_int_equal(PQstatus(c), CONNECTION_OK);
        PGresult *r = PQexec(c, sql);
        assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
        assert_true(PQntuples(r) > 0);
        int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        PQfinish(c);
        return v;
    }
    char path[400];
    snprintf(path, sizeof(path), "%s/ferry.db", fx->data);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* Runs a statement that returns no row on the fixture's database. */
static void db_exec(const fixture *fx, const char *sql)
{
    if (fx->url) {
        pg_exec_sql(fx->url, sql);
        return;
    }
    char path[400];
    snprintf(path, sizeof(path), "%s/ferry.db", fx->data);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Every table of the schema, for a PostgreSQL case to start from an empty database. */
#define PG_DROP_ALL                                                                                \
    "DROP TABLE IF EXISTS api_rate, task_lease, nodes, task_checkpoint, task_history, outbox, "    \
    "audit, "                                                                                      \
    "tasks, "                                                                                      \
    "schema_version"

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    const char *tmp = getenv("TMPDIR");
    snprintf(fx->root, sizeof(fx->root), "%s/ferry-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->root))
        return -1;
    snprintf(fx->data, sizeof(fx->data), "%s/a/b", fx->root);
    fx->url = pg_url;
    if (fx->url)
        pg_exec_sql(fx->url, PG_DROP_ALL);
    ferr err = {0};
    if (store_open(where(fx), &fx->st, &err) != FERR_OK) {
        fprintf(stderr, "store_open: %s\n", err.msg);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    store_close(fx->st);
    nftw(fx->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static void reopen(fixture *fx)
{
    ferr err = {0};
    store_close(fx->st);
    fx->st = NULL;
    assert_int_equal(store_open(where(fx), &fx->st, &err), FERR_OK);
}

/* --- building tasks --- */

static void set_str(char **field, const char *v)
{
    assert_int_equal(task_str_set(field, v), 0);
}

/* A minimal task: id, account, one live source, a destination. */
static void make_task(task *t, const char *id, const char *account, int64_t updated_ms)
{
    memset(t, 0, sizeof(*t));
    task_spec_init(&t->spec);
    snprintf(t->id, sizeof(t->id), "%s", id);
    snprintf(t->account, sizeof(t->account), "%s", account);
    t->dialect = TASK_DIALECT_NATIVE;
    set_str(&t->spec.name, id);
    t->spec.n_sources = 1;
    set_str(&t->spec.source_urls[0], "rtmp://src.example/live/in");
    char dst[128];
    snprintf(dst, sizeof(dst), "rtmp://push.example/live/%s", id);
    set_str(&t->spec.dst_url, dst);
    t->spec.start_ms = 1700000000000;
    t->spec.end_ms = 1700003600000;
    t->state = TASK_IDLE;
    set_str(&t->reason, "Created");
    set_str(&t->last_error, "");
    t->created_ms = 1690000000000;
    t->updated_ms = updated_ms;
}

/* Every spec field away from its default, three sources and a watermark. */
static void make_full_task(task *t)
{
    make_task(t, "full-task_1", "acct-full", 1700000000123);
    task_spec *s = &t->spec;
    t->dialect = TASK_DIALECT_TENCENT;
    set_str(&s->name, "Full \"quoted\" name, ünïcode");
    s->source_kind = TASK_SOURCE_FILES;
    set_str(&s->source_protocol, "http");
    s->n_sources = 3;
    set_str(&s->source_urls[0], "https://media.example/a.mp4");
    set_str(&s->source_urls[1], "https://media.example/b.flv");
    set_str(&s->source_urls[2], "https://media.example/c/index.m3u8");
    set_str(&s->dst_url, "rtmp://push.example/live/full?txSecret=abc&txTime=64");
    set_str(&s->backup_dst_url, "rtmps://backup.example/live/full");
    s->backup_source_kind = TASK_SOURCE_LIVE;
    set_str(&s->backup_source_url, "rtmp://backup-src.example/live/b");
    set_str(&s->pad_url, "https://media.example/pad.mp4");
    s->start_ms = 1700000000000;
    s->end_ms = 1700086400000;
    s->loop_count = 5;
    s->file_index = 2;
    s->offset_s = 37;
    s->retry_count = 4;
    s->retry_interval_s = 9;
    set_str(&s->callback_url, "https://hooks.example/ferry?x=1");
    s->callback_events = TASK_EV_TASK_START | TASK_EV_TASK_EXIT | TASK_EV_ALARM;
    s->paused = true;
    set_str(&s->comment, "a comment with\nnewline");
    set_str(&s->created_by, "alice");
    set_str(&s->updated_by, "bob");
    set_str(&s->region, "ap-guangzhou");
    set_str(&s->vod_refresh_type, "ContinueBreakPoint");
    s->vod_local_mode = 1;
    s->n_watermarks = 1;
    set_str(&s->watermarks[0].picture_url, "https://media.example/logo.png");
    s->watermarks[0].x = 3;
    s->watermarks[0].y = 4;
    s->watermarks[0].width = 10;
    s->watermarks[0].height = 12;
    s->watermarks[0].location = 2;
    set_str(&s->dialect_extra, "{\"SourceType\":\"PullVodPushLive\"}");
    t->state = TASK_RECOVERING;
    set_str(&t->reason, "PullStreamFailed");
    set_str(&t->last_error, "pull https://media.example/a.mp4: connect: Connection refused");
    t->created_ms = 1699999999000;
    t->started_ms = 1700000000001;
    t->exit_ms = 0;
}

static task_history_entry hist(int64_t at, task_state from, task_state to, const char *reason,
                               const char *detail)
{
    task_history_entry h = {.at_ms = at, .from = from, .to = to};
    snprintf(h.reason, sizeof(h.reason), "%s", reason);
    snprintf(h.detail, sizeof(h.detail), "%s", detail);
    return h;
}

static void insert_ok(store *st, const task *t, const task_history_entry *h)
{
    ferr err = {0};
    int rc = store_task_insert(st, t, h, &err);
    if (rc != FERR_OK)
        fail_msg("insert %s: %s", t->id, err.msg);
}

/* Inserts a minimal task and frees it. */
static void add_task(store *st, const char *id, const char *account, int64_t updated_ms)
{
    task t;
    make_task(&t, id, account, updated_ms);
    insert_ok(st, &t, NULL);
    task_free(&t);
}

/* --- comparisons --- */

static void assert_spec_equal(const task_spec *a, const task_spec *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->source_kind, b->source_kind);
    assert_string_equal(a->source_protocol, b->source_protocol);
    assert_int_equal(a->n_sources, b->n_sources);
    for (int i = 0; i < a->n_sources; i++)
        assert_string_equal(a->source_urls[i], b->source_urls[i]);
    assert_string_equal(a->dst_url, b->dst_url);
    assert_string_equal(a->backup_dst_url, b->backup_dst_url);
    assert_int_equal(a->backup_source_kind, b->backup_source_kind);
    assert_string_equal(a->backup_source_url, b->backup_source_url);
    assert_string_equal(a->pad_url, b->pad_url);
    assert_int_equal(a->start_ms, b->start_ms);
    assert_int_equal(a->end_ms, b->end_ms);
    assert_int_equal(a->loop_count, b->loop_count);
    assert_int_equal(a->file_index, b->file_index);
    assert_int_equal(a->offset_s, b->offset_s);
    assert_int_equal(a->retry_count, b->retry_count);
    assert_int_equal(a->retry_interval_s, b->retry_interval_s);
    assert_string_equal(a->callback_url, b->callback_url);
    assert_int_equal(a->callback_events, b->callback_events);
    assert_int_equal(a->paused, b->paused);
    assert_string_equal(a->comment, b->comment);
    assert_string_equal(a->created_by, b->created_by);
    assert_string_equal(a->updated_by, b->updated_by);
    assert_string_equal(a->region, b->region);
    assert_string_equal(a->vod_refresh_type, b->vod_refresh_type);
    assert_int_equal(a->vod_local_mode, b->vod_local_mode);
    assert_int_equal(a->n_watermarks, b->n_watermarks);
    for (int i = 0; i < a->n_watermarks; i++) {
        const task_watermark *x = &a->watermarks[i], *y = &b->watermarks[i];
        assert_string_equal(x->picture_url, y->picture_url);
        assert_int_equal(x->x, y->x);
        assert_int_equal(x->y, y->y);
        assert_int_equal(x->width, y->width);
        assert_int_equal(x->height, y->height);
        assert_int_equal(x->location, y->location);
    }
    assert_string_equal(a->dialect_extra, b->dialect_extra);
}

static void assert_task_equal(const task *a, const task *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->account, b->account);
    assert_int_equal(a->dialect, b->dialect);
    assert_int_equal(a->state, b->state);
    assert_string_equal(a->reason, b->reason);
    assert_string_equal(a->last_error, b->last_error);
    assert_int_equal(a->created_ms, b->created_ms);
    assert_int_equal(a->updated_ms, b->updated_ms);
    assert_int_equal(a->started_ms, b->started_ms);
    assert_int_equal(a->exit_ms, b->exit_ms);
    assert_spec_equal(&a->spec, &b->spec);
}

static void assert_hist_equal(const task_history_entry *a, const task_history_entry *b)
{
    assert_int_equal(a->at_ms, b->at_ms);
    assert_int_equal(a->from, b->from);
    assert_int_equal(a->to, b->to);
    assert_string_equal(a->reason, b->reason);
    assert_string_equal(a->detail, b->detail);
}

/* Lists the account with the filter and checks the ids, in order, and the total. */
static void expect_list(store *st, const char *account, const task_filter *f, int offset, int limit,
                        int total, const char *const *ids, int n)
{
    task *list = NULL;
    int got = -1, tot = -1;
    ferr err = {0};
    assert_int_equal(store_task_list(st, account, f, offset, limit, &list, &got, &tot, &err),
                     FERR_OK);
    assert_int_equal(tot, total);
    assert_int_equal(got, n);
    for (int i = 0; i < n; i++) {
        assert_string_equal(list[i].id, ids[i]);
        assert_string_equal(list[i].account, account);
    }
    task_list_free(list, got);
}

/* --- tests --- */

static void test_open_creates_wal_db(void **state)
{
    fixture *fx = *state;
    char path[400];
    snprintf(path, sizeof(path), "%s/ferry.db", fx->data);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600); /* push URLs carry secrets */
    assert_true(store_schema_version(fx->st) > 0);
    assert_int_equal(store_schema_version(fx->st), store_schema_latest());

    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void test_open_errors(void **state)
{
    fixture *fx = *state;
    char file[400];
    snprintf(file, sizeof(file), "%s/plain-file", fx->root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    store *st = (store *)1;
    ferr err = {0};
    assert_int_equal(store_open(file, &st, &err), FERR_INTERNAL);
    assert_null(st);
    assert_int_equal(err.code, FERR_INTERNAL);
    assert_non_null(strstr(err.msg, "plain-file"));
    assert_int_equal(store_open("", &st, &err), FERR_INVALID);
}

static void test_round_trip(void **state)
{
    fixture *fx = *state;
    task t, got;
    make_full_task(&t);
    insert_ok(fx->st, &t, NULL);
    ferr err = {0};
    assert_int_equal(store_task_get(fx->st, t.id, &got, &err), FERR_OK);
    assert_task_equal(&got, &t);
    task_free(&got);

    assert_int_equal(store_task_get(fx->st, "no-such-task", &got, &err), FERR_NOT_FOUND);
    assert_int_equal(err.code, FERR_NOT_FOUND);
    task_free(&t);
}

static void test_duplicate_insert(void **state)
{
    fixture *fx = *state;
    task t;
    make_task(&t, "dup", "acct", 1000);
    task_history_entry h = hist(1000, TASK_IDLE, TASK_IDLE, "Created", "");
    insert_ok(fx->st, &t, &h);

    set_str(&t.spec.name, "second");
    ferr err = {0};
    assert_int_equal(store_task_insert(fx->st, &t, &h, &err), FERR_EXISTS);
    assert_int_equal(err.code, FERR_EXISTS);

    /* The failed insert left neither its row nor its history line. */
    task got;
    assert_int_equal(store_task_get(fx->st, "dup", &got, &err), FERR_OK);
    assert_string_equal(got.spec.name, "dup");
    task_free(&got);
    task_history_entry *hl = NULL;
    int n = -1;
    assert_int_equal(store_history_list(fx->st, "dup", &hl, &n, &err), FERR_OK);
    assert_int_equal(n, 1);
    free(hl);
    task_free(&t);
}

static void test_update_and_history(void **state)
{
    fixture *fx = *state;
    task t, got;
    make_task(&t, "upd", "acct", 1000);
    task_history_entry h[3] = {
        hist(1000, TASK_IDLE, TASK_IDLE, "Created", ""),
        hist(2000, TASK_IDLE, TASK_RUNNING, "StartTime", "pulling rtmp://src"),
        hist(2500, TASK_RUNNING, TASK_RUNNING, "FileStart", "file 2 of 3"),
    };
    insert_ok(fx->st, &t, &h[0]);

    t.state = TASK_RUNNING;
    set_str(&t.reason, "StartTime");
    set_str(&t.last_error, "push: timeout");
    set_str(&t.spec.name, "renamed");
    set_str(&t.spec.dst_url, "rtmp://other.example/live/x");
    t.updated_ms = t.started_ms = 2000;
    ferr err = {0};
    assert_int_equal(store_task_update(fx->st, &t, &h[1], &err), FERR_OK);
    assert_int_equal(store_history_add(fx->st, "upd", &h[2], &err), FERR_OK);

    assert_int_equal(store_task_get(fx->st, "upd", &got, &err), FERR_OK);
    assert_task_equal(&got, &t);
    task_free(&got);

    /* The copied name and destination columns follow the spec. */
    task_filter f = {.name_like = "renamed", .dst_like = "other.example", .dialect = -1};
    const char *ids[] = {"upd"};
    expect_list(fx->st, "acct", &f, 0, 10, 1, ids, 1);

    task_history_entry *hl = NULL;
    int n = -1;
    assert_int_equal(store_history_list(fx->st, "upd", &hl, &n, &err), FERR_OK);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++)
        assert_hist_equal(&hl[i], &h[i]);
    free(hl);
    task_free(&t);
}

static void test_update_missing(void **state)
{
    fixture *fx = *state;
    task t;
    make_task(&t, "ghost", "acct", 1000);
    task_history_entry h = hist(1, TASK_IDLE, TASK_RUNNING, "StartTime", "");
    ferr err = {0};
    assert_int_equal(store_task_update(fx->st, &t, &h, &err), FERR_NOT_FOUND);
    assert_int_equal(store_history_add(fx->st, "ghost", &h, &err), FERR_NOT_FOUND);
    assert_int_equal(store_task_delete(fx->st, "ghost", &err), FERR_NOT_FOUND);
    task_history_entry *hl = NULL;
    int n = -1;
    assert_int_equal(store_history_list(fx->st, "ghost", &hl, &n, &err), FERR_OK);
    assert_int_equal(n, 0);
    free(hl);
    task_free(&t);
}

/* Account, dialect and created_ms belong to the insert; an update does not move them. */
static void test_update_keeps_identity(void **state)
{
    fixture *fx = *state;
    task t, got;
    make_task(&t, "ident", "owner", 1000);
    insert_ok(fx->st, &t, NULL);
    snprintf(t.account, sizeof(t.account), "thief");
    t.dialect = TASK_DIALECT_ALIBABA;
    t.created_ms = 5;
    ferr err = {0};
    assert_int_equal(store_task_update(fx->st, &t, NULL, &err), FERR_OK);
    assert_int_equal(store_task_get(fx->st, "ident", &got, &err), FERR_OK);
    assert_string_equal(got.account, "owner");
    assert_int_equal(got.dialect, TASK_DIALECT_NATIVE);
    assert_int_equal(got.created_ms, 1690000000000);
    task_free(&got);
    task_free(&t);
}

static void test_list_paging_and_order(void **state)
{
    fixture *fx = *state;
    /* Equal updated_ms values are ordered by id. */
    add_task(fx->st, "t1", "A", 100);
    add_task(fx->st, "t2", "A", 500);
    add_task(fx->st, "t3", "A", 300);
    add_task(fx->st, "t5", "A", 300);
    add_task(fx->st, "t4", "A", 300);
    add_task(fx->st, "t6", "A", 900);
    add_task(fx->st, "t7", "A", 50);
    add_task(fx->st, "b1", "B", 1000);
    add_task(fx->st, "b2", "B", 2000);
    const char *order[] = {"t6", "t2", "t3", "t4", "t5", "t1", "t7"};
    expect_list(fx->st, "A", NULL, 0, 3, 7, order, 3);
    expect_list(fx->st, "A", NULL, 3, 3, 7, order + 3, 3);
    expect_list(fx->st, "A", NULL, 6, 3, 7, order + 6, 1);
    expect_list(fx->st, "A", NULL, 10, 3, 7, NULL, 0);
    expect_list(fx->st, "A", NULL, 0, -1, 7, order, 7);
    expect_list(fx->st, "A", NULL, 0, 0, 7, NULL, 0);

    /* Accounts do not see each other's tasks. */
    const char *b[] = {"b2", "b1"};
    expect_list(fx->st, "B", NULL, 0, 10, 2, b, 2);
    expect_list(fx->st, "nobody", NULL, 0, 10, 0, NULL, 0);
    assert_int_equal(store_task_count(fx->st, "A"), 7);
    assert_int_equal(store_task_count(fx->st, "B"), 2);
    assert_int_equal(store_task_count(fx->st, NULL), 9);

    task *all = NULL;
    int n = 0;
    ferr err = {0};
    assert_int_equal(store_task_all(fx->st, &all, &n, &err), FERR_OK);
    assert_int_equal(n, 9);
    task_list_free(all, n);
}

static void test_list_filters(void **state)
{
    fixture *fx = *state;
    task t;
    make_task(&t, "promo-1", "A", 10);
    set_str(&t.spec.name, "Save 50%_off now");
    insert_ok(fx->st, &t, NULL);
    task_free(&t);
    make_task(&t, "promo-2", "A", 20);
    set_str(&t.spec.name, "Save 50xxoff now");
    t.dialect = TASK_DIALECT_ALIBABA;
    insert_ok(fx->st, &t, NULL);
    task_free(&t);
    make_task(&t, "promo_3", "A", 30);
    set_str(&t.spec.name, "back\\slash");
    t.dialect = TASK_DIALECT_ALIBABA;
    insert_ok(fx->st, &t, NULL);
    task_free(&t);
    add_task(fx->st, "other-promo", "B", 40);

    /* % and _ in a filter are literal characters, not wildcards. */
    task_filter f = {.name_like = "50%_", .dialect = -1};
    const char *p1[] = {"promo-1"};
    expect_list(fx->st, "A", &f, 0, 10, 1, p1, 1);
    f = (task_filter){.id_like = "o_", .dialect = -1};
    const char *p3[] = {"promo_3"};
    expect_list(fx->st, "A", &f, 0, 10, 1, p3, 1);
    f = (task_filter){.name_like = "\\", .dialect = -1};
    expect_list(fx->st, "A", &f, 0, 10, 1, p3, 1);

    f = (task_filter){.id_like = "promo", .dialect = -1};
    const char *all[] = {"promo_3", "promo-2", "promo-1"};
    expect_list(fx->st, "A", &f, 0, 10, 3, all, 3);
    expect_list(fx->st, "A", &f, 1, 1, 3, all + 1, 1);
    f = (task_filter){.dst_like = "live/promo-2", .dialect = -1};
    const char *p2[] = {"promo-2"};
    expect_list(fx->st, "A", &f, 0, 10, 1, p2, 1);
    f = (task_filter){.id_exact = "promo-1", .dialect = -1};
    expect_list(fx->st, "A", &f, 0, 10, 1, p1, 1);
    f = (task_filter){.id_exact = "promo", .dialect = -1};
    expect_list(fx->st, "A", &f, 0, 10, 0, NULL, 0);
    f = (task_filter){.dialect = TASK_DIALECT_ALIBABA};
    expect_list(fx->st, "A", &f, 0, 10, 2, all, 2);
    f = (task_filter){.name_like = "Save", .dialect = TASK_DIALECT_ALIBABA};
    expect_list(fx->st, "A", &f, 0, 10, 1, p2, 1);
    /* Empty strings filter nothing; another account's match stays invisible. */
    f = (task_filter){
        .id_like = "", .name_like = "", .dst_like = "", .id_exact = "", .dialect = -1};
    expect_list(fx->st, "A", &f, 0, 10, 3, all, 3);
    f = (task_filter){.id_exact = "other-promo", .dialect = -1};
    expect_list(fx->st, "A", &f, 0, 10, 0, NULL, 0);
}

static void test_delete(void **state)
{
    fixture *fx = *state;
    task t, got;
    make_task(&t, "del", "acct", 1000);
    task_history_entry h = hist(1000, TASK_IDLE, TASK_IDLE, "Created", "");
    insert_ok(fx->st, &t, &h);
    add_task(fx->st, "keep", "acct", 1000);
    ferr err = {0};
    assert_int_equal(store_task_delete(fx->st, "del", &err), FERR_OK);
    assert_int_equal(store_task_get(fx->st, "del", &got, &err), FERR_NOT_FOUND);
    assert_int_equal(store_task_delete(fx->st, "del", &err), FERR_NOT_FOUND);
    assert_int_equal(store_task_count(fx->st, "acct"), 1);

    /* The history went with the task: a new task of the same id starts clean. */
    insert_ok(fx->st, &t, NULL);
    task_history_entry *hl = NULL;
    int n = -1;
    assert_int_equal(store_history_list(fx->st, "del", &hl, &n, &err), FERR_OK);
    assert_int_equal(n, 0);
    free(hl);
    task_free(&t);
}

static void test_checkpoint(void **state)
{
    fixture *fx = *state;
    ferr err = {0};
    task_checkpoint cp;
    add_task(fx->st, "pl", "acct", 1000);
    assert_int_equal(store_checkpoint_get(fx->st, "pl", &cp, &err), FERR_NOT_FOUND);

    /* Saved with its history line, replaced by the next one. */
    task_history_entry h = hist(2000, TASK_RUNNING, TASK_RUNNING, "FileStart", "a");
    task_checkpoint a = {.file_index = 0, .loops_done = 0, .url = "http://h/a.mp4", .at_ms = 2000};
    assert_int_equal(store_history_add_cp(fx->st, "pl", &h, NULL, &a, &err), FERR_OK);
    task_checkpoint c = {.file_index = 2, .loops_done = 1, .url = "http://h/c.mp4", .at_ms = 3000};
    assert_int_equal(store_history_add_cp(fx->st, "pl", &h, NULL, &c, &err), FERR_OK);
    assert_int_equal(store_checkpoint_get(fx->st, "pl", &cp, &err), FERR_OK);
    assert_int_equal(cp.file_index, 2);
    assert_int_equal(cp.loops_done, 1);
    assert_string_equal(cp.url, "http://h/c.mp4");
    assert_int_equal(cp.at_ms, 3000);
    assert_int_equal(cp.offset_ms, 0);

    /* The offset moves while the checkpoint is at that entry and loop, not after. */
    task_checkpoint at = {.file_index = 2, .loops_done = 1, .offset_ms = 4500};
    assert_int_equal(store_checkpoint_offset(fx->st, "pl", &at, &err), FERR_OK);
    assert_int_equal(store_checkpoint_get(fx->st, "pl", &cp, &err), FERR_OK);
    assert_int_equal(cp.offset_ms, 4500);
    task_checkpoint stale = {.file_index = 1, .loops_done = 1, .offset_ms = 9000};
    assert_int_equal(store_checkpoint_offset(fx->st, "pl", &stale, &err), FERR_OK);
    assert_int_equal(store_checkpoint_get(fx->st, "pl", &cp, &err), FERR_OK);
    assert_int_equal(cp.offset_ms, 4500);
    /* a task without a checkpoint (a live one) is left alone */
    add_task(fx->st, "live", "acct", 1000);
    assert_int_equal(store_checkpoint_offset(fx->st, "live", &at, &err), FERR_OK);
    assert_int_equal(store_checkpoint_get(fx->st, "live", &cp, &err), FERR_NOT_FOUND);
    /* the next FileStart starts its entry at 0 */
    assert_int_equal(store_history_add_cp(fx->st, "pl", &h, NULL, &a, &err), FERR_OK);
    assert_int_equal(store_checkpoint_get(fx->st, "pl", &cp, &err), FERR_OK);
    assert_int_equal(cp.offset_ms, 0);

    /* No task, no checkpoint (and no history line: the transaction is whole). */
    assert_int_equal(store_history_add_cp(fx->st, "nope", &h, NULL, &c, &err), FERR_NOT_FOUND);

    /* It goes with its task. */
    assert_int_equal(store_task_delete(fx->st, "pl", &err), FERR_OK);
    add_task(fx->st, "pl", "acct", 4000);
    assert_int_equal(store_checkpoint_get(fx->st, "pl", &cp, &err), FERR_NOT_FOUND);
}

static void test_history_order(void **state)
{
    fixture *fx = *state;
    add_task(fx->st, "h", "acct", 1);
    add_task(fx->st, "h-other", "acct", 1);
    ferr err = {0};
    enum { N = 40 };
    task_history_entry h[N];
    for (int i = 0; i < N; i++) {
        char detail[32];
        snprintf(detail, sizeof(detail), "line %d", i);
        /* Equal and even decreasing times: the order is the order of insertion. */
        h[i] = hist(5000 - (i / 3), (task_state)(i % 6), (task_state)((i + 1) % 6), "Note", detail);
        assert_int_equal(store_history_add(fx->st, "h", &h[i], &err), FERR_OK);
        task_history_entry o = hist(1, TASK_IDLE, TASK_IDLE, "Other", "");
        assert_int_equal(store_history_add(fx->st, "h-other", &o, &err), FERR_OK);
    }
    task_history_entry *hl = NULL;
    int n = -1;
    assert_int_equal(store_history_list(fx->st, "h", &hl, &n, &err), FERR_OK);
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++)
        assert_hist_equal(&hl[i], &h[i]);
    free(hl);
}

static void test_history_bounded_per_task(void **state)
{
    fixture *fx = *state;
    add_task(fx->st, "busy", "acct", 1);
    add_task(fx->st, "calm", "acct", 1);
    ferr err = {0};
    task_history_entry calm = hist(1, TASK_IDLE, TASK_IDLE, "Note", "calm");
    assert_int_equal(store_history_add(fx->st, "calm", &calm, &err), FERR_OK);
    for (int i = 0; i < STORE_HISTORY_MAX + 50; i++) {
        char detail[32];
        snprintf(detail, sizeof(detail), "line %d", i);
        task_history_entry h = hist(1000 + i, TASK_RUNNING, TASK_RECOVERING, "Flap", detail);
        assert_int_equal(store_history_add(fx->st, "busy", &h, &err), FERR_OK);
    }
    task_history_entry *hl = NULL;
    int n = -1;
    assert_int_equal(store_history_list(fx->st, "busy", &hl, &n, &err), FERR_OK);
    assert_int_equal(n, STORE_HISTORY_MAX);       /* the newest ones, in order */
    assert_string_equal(hl[0].detail, "line 50"); /* add_task's own line went first */
    assert_string_equal(hl[n - 1].detail, "line 1049");
    free(hl);
    assert_int_equal(store_history_list(fx->st, "calm", &hl, &n, &err), FERR_OK);
    assert_true(n >= 1); /* the other task keeps its own */
    assert_string_equal(hl[n - 1].detail, "calm");
    free(hl);
}

static task_audit_line audit_line(const char *account, const char *task_id, const char *action,
                                  int64_t at)
{
    task_audit_line a = {.at_ms = at};
    snprintf(a.account, sizeof(a.account), "%s", account);
    snprintf(a.dialect, sizeof(a.dialect), "native");
    snprintf(a.address, sizeof(a.address), "127.0.0.1");
    snprintf(a.action, sizeof(a.action), "%s", action);
    snprintf(a.task_id, sizeof(a.task_id), "%s", task_id);
    snprintf(a.fields, sizeof(a.fields), "name,destination");
    return a;
}

/* The trail is per account, newest first, narrowed by task, paged, and capped per account
 * (one account's changes never push out another's). */
static void test_audit_trail(void **state)
{
    fixture *fx = *state;
    ferr err = {0};
    task_audit_line other = audit_line("other", "t9", "create", 1);
    assert_int_equal(store_audit_add(fx->st, &other, &err), FERR_OK);
    for (int i = 0; i < STORE_AUDIT_MAX + 20; i++) {
        task_audit_line a =
            audit_line("acct", i % 2 ? "t1" : "t2", i ? "modify" : "create", 100 + i);
        assert_int_equal(store_audit_add(fx->st, &a, &err), FERR_OK);
    }
    task_audit_line *l = NULL;
    int n = -1, total = -1;
    assert_int_equal(store_audit_list(fx->st, "acct", NULL, 0, 5, &l, &n, &total, &err), FERR_OK);
    assert_int_equal(total, STORE_AUDIT_MAX);
    assert_int_equal(n, 5);
    assert_int_equal(l[0].at_ms, 100 + STORE_AUDIT_MAX + 19); /* newest first */
    assert_true(l[0].seq > l[1].seq);
    assert_string_equal(l[0].fields, "name,destination");
    free(l);
    assert_int_equal(store_audit_list(fx->st, "acct", "t1", 2, 3, &l, &n, &total, &err), FERR_OK);
    assert_int_equal(total, STORE_AUDIT_MAX / 2);
    assert_int_equal(n, 3);
    for (int i = 0; i < n; i++)
        assert_string_equal(l[i].task_id, "t1");
    free(l);
    assert_int_equal(store_audit_list(fx->st, "other", "", 0, 10, &l, &n, &total, &err), FERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].action, "create");
    free(l);
}

static void test_reopen_keeps_data(void **state)
{
    fixture *fx = *state;
    task t, got;
    make_full_task(&t);
    task_history_entry h[2] = {
        hist(1, TASK_IDLE, TASK_IDLE, "Created", ""),
        hist(2, TASK_IDLE, TASK_RUNNING, "StartTime", "x"),
    };
    insert_ok(fx->st, &t, &h[0]);
    ferr err = {0};
    assert_int_equal(store_history_add(fx->st, t.id, &h[1], &err), FERR_OK);
    int version = store_schema_version(fx->st);

    const char *stamp = "SELECT COUNT(*) * 1000003 + SUM(applied_ms % 1000003) FROM schema_version";
    int64_t before = db_value(fx, stamp);

    reopen(fx);
    assert_int_equal(store_schema_version(fx->st), version);
    /* No migration ran again: the schema_version rows are the same ones. */
    assert_int_equal(db_value(fx, "SELECT COUNT(*) FROM schema_version"), version);
    assert_int_equal(db_value(fx, stamp), before);

    assert_int_equal(store_task_get(fx->st, t.id, &got, &err), FERR_OK);
    assert_task_equal(&got, &t);
    task_free(&got);
    task_history_entry *hl = NULL;
    int n = -1;
    assert_int_equal(store_history_list(fx->st, t.id, &hl, &n, &err), FERR_OK);
    assert_int_equal(n, 2);
    assert_hist_equal(&hl[0], &h[0]);
    assert_hist_equal(&hl[1], &h[1]);
    free(hl);
    task_free(&t);
}

/* A database written by a newer ferryd is refused rather than misread. */
static void test_newer_schema_refused(void **state)
{
    fixture *fx = *state;
    store_close(fx->st);
    fx->st = NULL;
    db_exec(fx, "INSERT INTO schema_version(version, name, applied_ms) VALUES (999, 'future', 0)");
    ferr err = {0};
    store *st = NULL;
    assert_int_equal(store_open(where(fx), &st, &err), FERR_INTERNAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "999"));
    db_exec(fx, "DELETE FROM schema_version WHERE version = 999");
    reopen(fx);
}

/* An insert acknowledged to the caller survives the process being killed at once. */
static void test_survives_kill9(void **state)
{
    fixture *fx = *state;
    /* Connections must not cross a fork: the child opens its own. */
    store_close(fx->st);
    fx->st = NULL;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        store *st = NULL;
        task t;
        make_task(&t, "acked", "acct", 77);
        if (store_open(where(fx), &st, NULL) != FERR_OK || store_task_insert(st, &t, NULL, NULL))
            _exit(1);
        if (write(fds[1], "k", 1) != 1)
            _exit(1);
        pause(); /* killed here, with the connection still open */
        _exit(0);
    }
    close(fds[1]);
    char c = 0;
    assert_int_equal(read(fds[0], &c, 1), 1);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    assert_true(WIFSIGNALED(status));
    reopen(fx);
    task got;
    ferr err = {0};
    assert_int_equal(store_task_get(fx->st, "acked", &got, &err), FERR_OK);
    assert_int_equal(got.updated_ms, 77);
    task_free(&got);
}

typedef struct writer_arg {
    store *st;
    int no;
    int failures;
} writer_arg;

static void *writer(void *p)
{
    writer_arg *a = p;
    for (int i = 0; i < 25; i++) {
        char id[32], account[16];
        snprintf(id, sizeof(id), "w%d-%d", a->no, i);
        snprintf(account, sizeof(account), "acct%d", a->no % 2);
        task t;
        make_task(&t, id, account, i);
        task_history_entry h = hist(i, TASK_IDLE, TASK_RUNNING, "StartTime", "");
        ferr err = {0};
        a->failures += store_task_insert(a->st, &t, NULL, &err) != FERR_OK;
        t.state = TASK_RUNNING;
        a->failures += store_task_update(a->st, &t, &h, &err) != FERR_OK;
        task *list = NULL;
        int n = 0, total = 0;
        a->failures += store_task_list(a->st, account, NULL, 0, 5, &list, &n, &total, &err);
        task_list_free(list, n);
        task_free(&t);
    }
    return NULL;
}

static void test_threads(void **state)
{
    fixture *fx = *state;
    enum { THREADS = 8 };
    pthread_t th[THREADS];
    writer_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (writer_arg){.st = fx->st, .no = i};
        assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    assert_int_equal(store_task_count(fx->st, NULL), THREADS * 25);
    assert_int_equal(store_task_count(fx->st, "acct0"), THREADS * 25 / 2);
}

/* One outbox event of task tid, due at next_ms, added with a history line. */
static void add_event(store *st, const char *tid, int64_t next_ms)
{
    store_event ev = {.dialect = 0, .created_ms = next_ms, .next_ms = next_ms};
    snprintf(ev.id, sizeof(ev.id), "ev-%s-%lld", tid, (long long)next_ms);
    snprintf(ev.task_id, sizeof(ev.task_id), "%s", tid);
    snprintf(ev.account, sizeof(ev.account), "acct");
    snprintf(ev.type, sizeof(ev.type), "config_reset");
    ev.url = "http://127.0.0.1:9/hook";
    ev.body = "{}";
    task_history_entry h = {.at_ms = next_ms};
    ferr err = {0};
    assert_int_equal(store_history_add_ev(st, tid, &h, &ev, &err), FERR_OK);
}

/* Heads page on from a (next_ms, seq) cursor; dead rows leave the heads and are purged
 * once they died before the cut-off, live ones never. */
static void test_outbox_paging_and_purge(void **state)
{
    fixture *fx = *state;
    const char *ids[] = {"ob-a", "ob-b", "ob-c"};
    for (int i = 0; i < 3; i++) {
        task t;
        make_task(&t, ids[i], "acct", 1000);
        insert_ok(fx->st, &t, NULL);
        task_free(&t);
        add_event(fx->st, ids[i], 100 + i);
    }
    add_event(fx->st, "ob-a", 500); /* a's second event: not a head */
    store_event *page = NULL;
    ferr err = {0};
    assert_int_equal(store_outbox_heads(fx->st, 2, INT64_MIN, 0, &page, &err), FERR_OK);
    assert_non_null(page);
    assert_non_null(page->next);
    assert_null(page->next->next);
    assert_string_equal(page->next->task_id, "ob-b");
    int64_t after_ms = page->next->next_ms, after_seq = page->next->seq, dead_seq = page->seq;
    store_event_free(page);
    assert_int_equal(store_outbox_heads(fx->st, 2, after_ms, after_seq, &page, &err), FERR_OK);
    assert_non_null(page);
    assert_string_equal(page->task_id, "ob-c");
    assert_null(page->next);
    store_event_free(page);

    assert_int_equal(store_outbox_retry(fx->st, dead_seq, 3, 1000, true, "HTTP 500", &err),
                     FERR_OK);
    int pending = -1, dead = -1, removed = -1;
    assert_int_equal(store_outbox_counts(fx->st, &pending, &dead, &err), FERR_OK);
    assert_int_equal(pending, 3);
    assert_int_equal(dead, 1);
    assert_int_equal(store_outbox_purge(fx->st, 1000, &removed, &err), FERR_OK);
    assert_int_equal(removed, 0); /* died at 1000: not before the cut-off */
    assert_int_equal(store_outbox_purge(fx->st, 1001, &removed, &err), FERR_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(store_outbox_counts(fx->st, &pending, &dead, &err), FERR_OK);
    assert_int_equal(pending, 3);
    assert_int_equal(dead, 0);
}

/* A task's outbox events, newest first, pending and dead, of its own account only, bounded
 * by the limit; a delivered event is gone from the list. */
static void test_outbox_list_task(void **state)
{
    fixture *fx = *state;
    task t;
    make_task(&t, "cb-a", "acct", 1000);
    insert_ok(fx->st, &t, NULL);
    task_free(&t);
    for (int i = 0; i < 3; i++)
        add_event(fx->st, "cb-a", 100 + i);
    store_event *heads = NULL;
    ferr err = {0};
    assert_int_equal(store_outbox_heads(fx->st, 10, INT64_MIN, 0, &heads, &err), FERR_OK);
    assert_non_null(heads);
    int64_t first = heads->seq;
    store_event_free(heads);
    assert_int_equal(store_outbox_retry(fx->st, first, 5, 2000, true, "HTTP 500", &err), FERR_OK);

    task_callback_line *l = NULL;
    int n = -1;
    assert_int_equal(store_outbox_list_task(fx->st, "acct", "cb-a", 10, &l, &n, &err), FERR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(l[0].id, "ev-cb-a-102"); /* newest first */
    assert_false(l[0].dead);
    assert_int_equal(l[0].next_ms, 102);
    assert_string_equal(l[0].type, "config_reset");
    assert_string_equal(l[2].id, "ev-cb-a-100");
    assert_true(l[2].dead);
    assert_int_equal(l[2].attempts, 5);
    assert_int_equal(l[2].next_ms, 2000);
    assert_string_equal(l[2].last_error, "HTTP 500");
    free(l);

    assert_int_equal(store_outbox_list_task(fx->st, "acct", "cb-a", 2, &l, &n, &err), FERR_OK);
    assert_int_equal(n, 2);
    free(l);
    assert_int_equal(store_outbox_list_task(fx->st, "other", "cb-a", 10, &l, &n, &err), FERR_OK);
    assert_int_equal(n, 0);
    free(l);

    /* the second event is the head now that the first is dead: deliver it */
    assert_int_equal(store_outbox_heads(fx->st, 10, INT64_MIN, 0, &heads, &err), FERR_OK);
    assert_non_null(heads);
    assert_string_equal(heads->id, "ev-cb-a-101");
    assert_int_equal(store_outbox_done(fx->st, heads->seq, &err), FERR_OK);
    store_event_free(heads);
    assert_int_equal(store_outbox_list_task(fx->st, "acct", "cb-a", 10, &l, &n, &err), FERR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(l[0].id, "ev-cb-a-102");
    assert_string_equal(l[1].id, "ev-cb-a-100");
    free(l);
}

/* Bytes that are not UTF-8 (a peer's error message, a file's name) never cost a task its
 * history line or its error: SQLite keeps them, PostgreSQL (which refuses them in text)
 * gets '?' for each byte that starts no valid sequence. */
static void test_bytes_not_utf8(void **state)
{
    fixture *fx = *state;
    task t, got;
    make_task(&t, "bytes", "acct", 1);
    insert_ok(fx->st, &t, NULL);
    const char *raw = "read: \xff\xfe from caf\xc3\xa9 \xe2\x82";
    const char *shown = fx->url ? "read: ?? from caf\xc3\xa9 ??" : raw;
    set_str(&t.last_error, raw);
    task_history_entry h = hist(2, TASK_RUNNING, TASK_RECOVERING, "PullStreamFailed", raw);
    ferr err = {0};
    assert_int_equal(store_task_update(fx->st, &t, &h, &err), FERR_OK);
    assert_int_equal(store_task_get(fx->st, "bytes", &got, &err), FERR_OK);
    assert_string_equal(got.last_error, shown);
    task_free(&got);
    task_history_entry *hl = NULL;
    int n = -1;
    assert_int_equal(store_history_list(fx->st, "bytes", &hl, &n, &err), FERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(hl[0].detail, shown);
    free(hl);
    task_free(&t);
}

/* --- PostgreSQL's own cases --- */

/* A fresh database gets every step, each recorded once, and all the tables. */
static void test_pg_open_migrates(void **state)
{
    fixture *fx = *state;
    assert_int_equal(store_schema_version(fx->st), store_schema_latest());
    assert_string_equal(store_backend_name(fx->st), "postgresql");
    assert_int_equal(db_value(fx, "SELECT COUNT(*) FROM schema_version"), store_schema_latest());
    assert_int_equal(db_value(fx, "SELECT COUNT(*) FROM information_schema.tables WHERE "
                                  "table_schema = current_schema() AND table_name IN ('tasks', "
                                  "'task_history', 'outbox', 'task_checkpoint', 'audit')"),
                     5);
}

/* A server that is not there, or a URL libpq cannot read: a clear error, no store, and
 * never the password in the message. */
static void test_pg_open_errors(void **state)
{
    (void)state;
    store *st = (store *)1;
    ferr err = {0};
    assert_int_equal(store_open("postgresql://ferry:s3cret@127.0.0.1:1/ferry", &st, &err),
                     FERR_INTERNAL);
    assert_null(st);
    assert_non_null(strstr(err.msg, "cannot connect to PostgreSQL at ferry@127.0.0.1:1/ferry"));
    assert_null(strstr(err.msg, "s3cret"));
    st = (store *)1;
    assert_int_equal(store_open("postgresql://127.0.0.1/ferry?no_such_option=1", &st, &err),
                     FERR_INVALID);
    assert_null(st);
    assert_non_null(strstr(err.msg, "bad PostgreSQL URL"));
    assert_true(store_is_url("postgres://h/db"));
    assert_false(store_is_url("/var/lib/ferry"));
}

/* Ends every connection of the store's (application_name ferryd) and waits until they are
 * gone, as a restarted server or a dropped network would. */
static void drop_store_connections(const fixture *fx)
{
    pg_exec_sql(fx->url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                         "application_name = 'ferryd' AND pid <> pg_backend_pid()");
    for (int i = 0; i < 100; i++) {
        if (db_value(fx, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = "
                         "'ferryd'") == 0)
            return;
        usleep(20000);
    }
    fail_msg("the store's connection is still there");
}

/* The embedded store is one node: it is not shared and has no leases to give. */
static void test_sqlite_single_node(void **state)
{
    fixture *fx = *state;
    ferr err = {0};
    store_lease *l = NULL;
    int n = -1;
    assert_false(store_is_shared(fx->st));
    assert_int_equal(store_lease_renew(fx->st, "n1", 5000, &l, &n, &err), FERR_UNAVAILABLE);
    assert_null(l);
    assert_int_equal(n, 0);
    assert_int_equal(store_signal(fx->st, "x", &err), FERR_UNAVAILABLE);
    int64_t count = -1;
    assert_int_equal(store_rate_count(fx->st, "a\nb", &count, &err), FERR_UNAVAILABLE);
    assert_int_equal(count, 0);
}

static int claim(fixture *fx, const char *node, const char *labels, int max, store_lease **l)
{
    ferr err = {0};
    int n = -1;
    assert_int_equal(store_lease_claim(fx->st, node, labels, 5000, 0, max, l, &n, &err), FERR_OK);
    return n;
}

/* Leases: a task goes to one node at a time; its epoch grows with every claim; a state
 * write carrying a stale epoch (or made on a row changed since it was read) is refused;
 * renewal keeps only unexpired leases; a region goes to a node labelled with it. */
static void test_pg_leases(void **state)
{
    fixture *fx = *state;
    ferr err = {0};
    task t;
    make_task(&t, "leased", "acct", 1000);
    assert_int_equal(store_task_insert(fx->st, &t, NULL, &err), FERR_OK);
    task_free(&t);
    make_task(&t, "regional", "acct", 1000);
    set_str(&t.spec.region, "cn-x");
    assert_int_equal(store_task_insert(fx->st, &t, NULL, &err), FERR_OK);
    task_free(&t);
    assert_true(store_is_shared(fx->st));
    store_claimable *g = NULL;
    int ng = 0;
    assert_int_equal(store_lease_claimable(fx->st, 0, &g, &ng, &err), FERR_OK);
    assert_int_equal(ng, 2);
    free(g);

    store_lease *l = NULL;
    assert_int_equal(claim(fx, "n1", "", 10, &l), 1); /* not the region's task */
    assert_string_equal(l[0].task_id, "leased");
    assert_int_equal(l[0].epoch, 1);
    free(l);
    assert_int_equal(claim(fx, "n2", "cn-y,cn-x", 10, &l), 1);
    assert_string_equal(l[0].task_id, "regional");
    free(l);
    assert_int_equal(claim(fx, "n2", "cn-x", 10, &l), 0); /* both are held */
    free(l);

    /* the holder's write with its epoch applies; with another epoch it is refused */
    assert_int_equal(store_task_get(fx->st, "leased", &t, &err), FERR_OK);
    t.lease_epoch = 1;
    t.fence_updated_ms = t.updated_ms;
    t.state = TASK_RUNNING;
    t.updated_ms = 2000;
    assert_int_equal(store_task_update(fx->st, &t, NULL, &err), FERR_OK);
    t.fence_updated_ms = 2000;
    t.lease_epoch = 2;
    t.state = TASK_OFFLINE;
    assert_int_equal(store_task_update(fx->st, &t, NULL, &err), FERR_STATE);
    /* the right epoch on a row changed since it was read is refused too */
    t.lease_epoch = 1;
    t.fence_updated_ms = 1000;
    assert_int_equal(store_task_update(fx->st, &t, NULL, &err), FERR_STATE);
    task_free(&t);
    assert_int_equal(db_value(fx, "SELECT state FROM tasks WHERE id = 'leased'"), TASK_RUNNING);

    /* renewal keeps a node's own leases; an expired one is another's to claim (epoch 2) */
    int n = -1;
    assert_int_equal(store_lease_renew(fx->st, "n1", 5000, &l, &n, &err), FERR_OK);
    assert_int_equal(n, 1);
    free(l);
    assert_int_equal(store_lease_renew(fx->st, "n1", -1, &l, &n, &err), FERR_OK); /* expire */
    free(l);
    assert_int_equal(store_lease_renew(fx->st, "n1", 5000, &l, &n, &err), FERR_OK);
    assert_int_equal(n, 0);
    free(l);
    assert_int_equal(claim(fx, "n3", "", 10, &l), 1);
    assert_string_equal(l[0].task_id, "leased");
    assert_int_equal(l[0].epoch, 2);
    free(l);

    /* nodes: heartbeat and listing, with the leases each holds */
    store_node me = {.running = 3, .started_ms = 5};
    snprintf(me.id, sizeof(me.id), "n3");
    snprintf(me.labels, sizeof(me.labels), "a,b");
    snprintf(me.state, sizeof(me.state), "live");
    assert_int_equal(store_node_beat(fx->st, &me, &err), FERR_OK);
    store_node *nodes = NULL;
    assert_int_equal(store_node_list(fx->st, 5000, &nodes, &n, &err), FERR_OK);
    assert_int_equal(n, 1);
    assert_string_equal(nodes[0].id, "n3");
    assert_string_equal(nodes[0].labels, "a,b");
    assert_string_equal(nodes[0].state, "live");
    assert_int_equal(nodes[0].running, 3);
    assert_int_equal(nodes[0].leases, 1);
    assert_false(nodes[0].draining);
    free(nodes);

    /* drain: the flag is set on a known node only, and its heartbeat reads it back */
    assert_int_equal(store_node_drain(fx->st, "n3", true, &err), FERR_OK);
    assert_int_equal(store_node_drain(fx->st, "nobody", true, &err), FERR_NOT_FOUND);
    assert_int_equal(store_node_beat(fx->st, &me, &err), FERR_OK);
    assert_true(me.draining);
    assert_int_equal(store_node_list(fx->st, 5000, &nodes, &n, &err), FERR_OK);
    assert_true(nodes[0].draining);
    free(nodes);
    /* a hand-off at a stale epoch changes nothing; at the lease's own epoch the lease goes
     * at once, and the next claim takes epoch + 1 */
    assert_int_equal(store_lease_hand_off(fx->st, "leased", "n3", 1, &err), FERR_OK);
    assert_int_equal(claim(fx, "n1", "", 10, &l), 0);
    free(l);
    assert_int_equal(store_lease_hand_off(fx->st, "leased", "n3", 2, &err), FERR_OK);
    assert_int_equal(claim(fx, "n1", "", 10, &l), 1);
    assert_string_equal(l[0].task_id, "leased");
    assert_int_equal(l[0].epoch, 3);
    free(l);
    assert_int_equal(store_node_drain(fx->st, "n3", false, &err), FERR_OK);
    assert_int_equal(store_node_beat(fx->st, &me, &err), FERR_OK);
    assert_false(me.draining);
    /* a clean stop gives the leases up */
    assert_int_equal(store_lease_release(fx->st, "n1", &err), FERR_OK);
    assert_int_equal(db_value(fx, "SELECT COUNT(*) FROM task_lease WHERE node_id = 'n1'"), 0);
}

/* Connections the server ended (a restart, a failover) reconnect before the next call
 * uses them, and what was committed before is all there. */
static void test_pg_reconnects(void **state)
{
    fixture *fx = *state;
    add_task(fx->st, "before", "acct", 1);
    drop_store_connections(fx);
    /* a connection the server ended while it was idle is seen as such before a call uses
     * it: the call reconnects and goes through */
    task t, got;
    make_task(&t, "during", "acct", 2);
    ferr err = {0};
    insert_ok(fx->st, &t, NULL);
    assert_int_equal(store_task_get(fx->st, "before", &got, &err), FERR_OK);
    task_free(&got);
    assert_int_equal(store_task_count(fx->st, "acct"), 2);
    drop_store_connections(fx);
    assert_int_equal(store_task_count(fx->st, "acct"), 2);
    task_free(&t);
}

/* The columns of each table, "table.column" sorted and joined by spaces. */
static void sqlite_columns(const char *path, char *out, size_t len)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(c, ' ') FROM (SELECT m.name || '.' "
                                        "|| p.name AS c FROM sqlite_master m, "
                                        "pragma_table_info(m.name) p WHERE m.type = 'table' AND "
                                        "m.name NOT LIKE 'sqlite_%' ORDER BY c)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(out, len, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void pg_columns(const char *url, char *out, size_t len)
{
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    PGresult *r = PQexec(c, "SELECT string_agg(x, ' ' ORDER BY x COLLATE \"C\") FROM (SELECT "
                            "table_name || '.' || column_name AS x FROM "
                            "information_schema.columns WHERE table_schema = current_schema()) "
                            "s");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, len, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
}

/* The same schema on both backends: every table with the same columns, and the same
 * migration steps under the same numbers and names. */
static void test_pg_schema_matches_sqlite(void **state)
{
    fixture *fx = *state;
    char dir[300], path[340], lite[2048], pgs[2048];
    snprintf(dir, sizeof(dir), "%s/sqlite", fx->root);
    store *st = NULL;
    ferr err = {0};
    assert_int_equal(store_open(dir, &st, &err), FERR_OK);
    store_close(st);
    snprintf(path, sizeof(path), "%s/ferry.db", dir);
    sqlite_columns(path, lite, sizeof(lite));
    pg_columns(fx->url, pgs, sizeof(pgs));
    assert_true(strlen(lite) > 100);
    assert_string_equal(pgs, lite);

    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(version || ':' || name, ',') FROM "
                                        "(SELECT * FROM schema_version ORDER BY version)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(lite, sizeof(lite), "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    PGconn *c = PQconnectdb(fx->url);
    PGresult *r = PQexec(c, "SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                            "FROM schema_version");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), lite);
    PQclear(r);
    PQfinish(c);
}

typedef struct opener_arg {
    const char *url;
    store *st;
    int rc;
    char msg[384];
} opener_arg;

static void *opener(void *p)
{
    opener_arg *a = p;
    ferr err = {0};
    a->rc = store_open(a->url, &a->st, &err);
    snprintf(a->msg, sizeof(a->msg), "%s", err.msg);
    return NULL;
}

/* Nodes that start together on an empty database: each step is applied once. */
static void test_pg_concurrent_migration(void **state)
{
    fixture *fx = *state;
    store_close(fx->st);
    fx->st = NULL;
    pg_exec_sql(fx->url, PG_DROP_ALL);
    enum { NODES = 4 };
    pthread_t th[NODES];
    opener_arg args[NODES];
    for (int i = 0; i < NODES; i++) {
        args[i] = (opener_arg){.url = fx->url};
        assert_int_equal(pthread_create(&th[i], NULL, opener, &args[i]), 0);
    }
    for (int i = 0; i < NODES; i++) {
        pthread_join(th[i], NULL);
        if (args[i].rc != FERR_OK)
            fail_msg("node %d: %s", i, args[i].msg);
        assert_int_equal(store_schema_version(args[i].st), store_schema_latest());
        store_close(args[i].st);
    }
    assert_int_equal(db_value(fx, "SELECT COUNT(*) FROM schema_version"), store_schema_latest());
    reopen(fx);
}

static void *reader(void *p)
{
    store *st = p;
    for (int i = 0; i < 200; i++)
        if (store_task_count(st, "acct") != 1)
            return p;
    return NULL;
}

/* Calls from several threads run on the pool's connections at once: more than one of them
 * is opened, never more than the pool and the session connection. */
static void test_pg_pool(void **state)
{
    fixture *fx = *state;
    add_task(fx->st, "pooled", "acct", 1);
    enum { THREADS = 6 };
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, fx->st), 0);
    for (int i = 0; i < THREADS; i++) {
        void *failed = NULL;
        pthread_join(th[i], &failed);
        assert_null(failed);
    }
    int64_t n = db_value(fx, "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = "
                             "'ferryd' AND datname = current_database()");
    assert_true(n >= 2 && n <= STORE_CONNECTIONS_DEFAULT + 1);
}

/* The shared request counters: one per key and second of the database's clock, counted
 * up by every call; seconds past are pruned. */
static void test_pg_rate_counters(void **state)
{
    fixture *fx = *state;
    ferr err = {0};
    int64_t n = 0;
    pg_exec_sql(fx->url, "INSERT INTO api_rate(key, second, n) VALUES ('old', 1, 5)");
    /* a fresh second, so that the three counts fall in the same one */
    while (time_now_ms() % 1000 > 800)
        usleep(10000);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(store_rate_count(fx->st, "acct\nAction", &n, &err), FERR_OK);
        assert_int_equal(n, i);
    }
    assert_int_equal(store_rate_count(fx->st, "acct\nOther", &n, &err), FERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_rate_prune(fx->st, &err), FERR_OK);
    assert_int_equal(db_value(fx, "SELECT COUNT(*) FROM api_rate WHERE key = 'old'"), 0);
    assert_int_equal(db_value(fx, "SELECT COUNT(*) FROM api_rate"), 2);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* The cases every backend passes. */
#define COMMON_CASES(X)                                                                            \
    X(test_round_trip), X(test_duplicate_insert), X(test_update_and_history),                      \
        X(test_update_missing), X(test_update_keeps_identity), X(test_list_paging_and_order),      \
        X(test_list_filters), X(test_delete), X(test_checkpoint),                                  \
        X(test_history_bounded_per_task), X(test_audit_trail), X(test_history_order),              \
        X(test_reopen_keeps_data), X(test_newer_schema_refused), X(test_survives_kill9),           \
        X(test_threads), X(test_outbox_paging_and_purge), X(test_outbox_list_task),                \
        X(test_bytes_not_utf8)

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        T(test_open_creates_wal_db),
        T(test_open_errors),
        T(test_sqlite_single_node),
        COMMON_CASES(T),
    };
    int failed = cmocka_run_group_tests_name("store on SQLite", sqlite_tests, NULL, NULL);
    pg_url = getenv("FERRY_TEST_PG");
    if (!pg_url || !*pg_url) {
        printf("FERRY_TEST_PG is not set: the PostgreSQL cases did not run "
               "(scripts/test.sh starts a server for them)\n");
        return failed;
    }
    /* clang-format off */
    const struct CMUnitTest pg_tests[] = {
        T(test_pg_open_migrates),
        T(test_pg_open_errors),
        T(test_pg_reconnects),
        T(test_pg_concurrent_migration),
        T(test_pg_schema_matches_sqlite),
        T(test_pg_leases),
        T(test_pg_pool),
        T(test_pg_rate_counters),
        COMMON_CASES(T),
    };
    /* clang-format on */
    return failed + cmocka_run_group_tests_name("store on PostgreSQL", pg_tests, NULL, NULL);
}
