/* store_schema.c — the store's versioned schema: an ordered list of migration steps, each
 * applied once, in its own transaction, and recorded as a row of the schema_version table. */
#include "store/store_internal.h"

#include <stdio.h>

#include "common/log.h"
#include "common/timeutil.h"

typedef struct migration {
    const char *name; /* what the step does, kept in schema_version for operators */
    const char *sql;  /* one or more statements; never edited once released */
} migration;

/* Append new steps at the end; step i brings the schema to version i + 1. */
static const migration migrations[] = {
    {"tasks and task_history",
     "CREATE TABLE tasks ("
     " id TEXT PRIMARY KEY NOT NULL,"
     " account TEXT NOT NULL,"
     " dialect INTEGER NOT NULL,"
     " name TEXT NOT NULL DEFAULT '',"
     " dst_url TEXT NOT NULL DEFAULT '',"
     " state INTEGER NOT NULL,"
     " reason TEXT NOT NULL DEFAULT '',"
     " last_error TEXT NOT NULL DEFAULT '',"
     " spec TEXT NOT NULL,"
     " created_ms INTEGER NOT NULL,"
     " updated_ms INTEGER NOT NULL,"
     " started_ms INTEGER NOT NULL DEFAULT 0,"
     " exit_ms INTEGER NOT NULL DEFAULT 0);"
     /* id at the end lets the list's tie-break come from the index too. */
     "CREATE INDEX tasks_account_updated ON tasks(account, updated_ms DESC, id);"
     "CREATE INDEX tasks_dst_url ON tasks(dst_url);"
     "CREATE TABLE task_history ("
     " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
     " task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
     " at_ms INTEGER NOT NULL,"
     " from_state INTEGER NOT NULL,"
     " to_state INTEGER NOT NULL,"
     " reason TEXT NOT NULL DEFAULT '',"
     " detail TEXT NOT NULL DEFAULT '');"
     "CREATE INDEX task_history_task ON task_history(task_id, seq);"},
    /* No foreign key to tasks: a task's last events outlive its deletion. */
    {"callback event outbox", "CREATE TABLE outbox ("
                              " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                              " event_id TEXT NOT NULL UNIQUE,"
                              " task_id TEXT NOT NULL,"
                              " account TEXT NOT NULL,"
                              " dialect INTEGER NOT NULL,"
                              " type TEXT NOT NULL,"
                              " url TEXT NOT NULL,"
                              " body TEXT NOT NULL,"
                              " created_ms INTEGER NOT NULL,"
                              " attempts INTEGER NOT NULL DEFAULT 0,"
                              " next_ms INTEGER NOT NULL,"
                              " dead INTEGER NOT NULL DEFAULT 0,"
                              " last_error TEXT NOT NULL DEFAULT '');"
                              "CREATE INDEX outbox_live ON outbox(dead, task_id, seq);"},
    /* Where a playlist was: written with each FileStart, read when ferryd resumes it. */
    {"playlist checkpoints",
     "CREATE TABLE task_checkpoint ("
     " task_id TEXT PRIMARY KEY NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
     " file_index INTEGER NOT NULL,"
     " loops_done INTEGER NOT NULL,"
     " url TEXT NOT NULL,"
     " at_ms INTEGER NOT NULL);"},
    /* Who changed what (store_audit.c); no foreign key: the trail outlives the task. */
    {"audit trail", "CREATE TABLE audit ("
                    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                    " at_ms INTEGER NOT NULL,"
                    " account TEXT NOT NULL,"
                    " dialect TEXT NOT NULL,"
                    " address TEXT NOT NULL,"
                    " request_id TEXT NOT NULL,"
                    " action TEXT NOT NULL,"
                    " task_id TEXT NOT NULL,"
                    " fields TEXT NOT NULL);"
                    "CREATE INDEX audit_account ON audit(account, seq);"
                    "CREATE INDEX audit_task ON audit(account, task_id, seq);"},
    /* The cluster's nodes and task leases (store_pg_cluster.c). The embedded store is one
     * node that holds every task and never reads them: the step keeps both schemas in
     * step, number for number. */
    {"cluster nodes and task leases",
     "CREATE TABLE nodes ("
     " id TEXT PRIMARY KEY NOT NULL,"
     " labels TEXT NOT NULL DEFAULT '',"
     " running INTEGER NOT NULL DEFAULT 0,"
     " bitrate_kbps INTEGER NOT NULL DEFAULT 0,"
     " max_running INTEGER NOT NULL DEFAULT 0,"
     " state TEXT NOT NULL DEFAULT 'live',"
     " started_ms INTEGER NOT NULL,"
     " heartbeat_ms INTEGER NOT NULL);"
     "CREATE TABLE task_lease ("
     " task_id TEXT PRIMARY KEY NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,"
     " node_id TEXT NOT NULL,"
     " expires_ms INTEGER NOT NULL,"
     " epoch INTEGER NOT NULL);"
     "CREATE INDEX task_lease_node ON task_lease(node_id);"},
    /* Drain (a node hands its tasks over) and a playlist's offset in its entry, so a task
     * that moves goes on where it was. */
    {"node drain flag and checkpoint offset",
     "ALTER TABLE nodes ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE task_checkpoint ADD COLUMN offset_ms INTEGER NOT NULL DEFAULT 0;"},
    /* The cloud APIs' request counters a cluster shares (store_pg_cluster.c); the embedded
     * store's single node counts in memory and never reads it. */
    {"cluster request counters", "CREATE TABLE api_rate ("
                                 " key TEXT NOT NULL,"
                                 " second INTEGER NOT NULL,"
                                 " n INTEGER NOT NULL,"
                                 " PRIMARY KEY (key, second));"},
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_schema_latest(void)
{
    return N_MIGRATIONS;
}

static int exec_sql(sqlite3 *db, const char *sql, const char *what, ferr *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return FERR_OK;
    ferr_set(err, FERR_INTERNAL, "", "store: %s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return FERR_INTERNAL;
}

static int read_version(sqlite3 *db, int *version, ferr *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version", -1, &st,
                                NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        return FERR_OK;
    }
    ferr_set(err, FERR_INTERNAL, "", "store: read schema version: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return FERR_INTERNAL;
}

static int record_step(sqlite3 *db, int version, ferr *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "INSERT INTO schema_version(version, name, applied_ms) VALUES (?, ?, ?)", -1, &st,
        NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(st, 1, version);
        sqlite3_bind_text(st, 2, migrations[version - 1].name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, time_now_ms());
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return FERR_OK;
    }
    ferr_set(err, FERR_INTERNAL, "", "store: record schema version %d: %s", version,
             sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return FERR_INTERNAL;
}

/* Applies step `version` unless another process got there first (the level is read again
 * under the write lock). The step's DDL and its schema_version row commit together. */
static int apply_step(sqlite3 *db, int version, ferr *err)
{
    char what[96];
    int now = 0;
    if (exec_sql(db, "BEGIN IMMEDIATE", "begin migration", err) != FERR_OK)
        return FERR_INTERNAL;
    int rc = read_version(db, &now, err);
    if (rc == FERR_OK && now < version) {
        snprintf(what, sizeof(what), "migration %d (%s)", version, migrations[version - 1].name);
        rc = exec_sql(db, migrations[version - 1].sql, what, err);
        if (rc == FERR_OK)
            rc = record_step(db, version, err);
    }
    if (rc == FERR_OK)
        rc = exec_sql(db, "COMMIT", "commit migration", err);
    if (rc != FERR_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    if (now < version)
        log_info("store: applied schema migration %d (%s)", version, migrations[version - 1].name);
    return FERR_OK;
}

int store_schema_migrate(sqlite3 *db, int *version, ferr *err)
{
    int rc = exec_sql(db,
                      "CREATE TABLE IF NOT EXISTS schema_version ("
                      " version INTEGER PRIMARY KEY NOT NULL,"
                      " name TEXT NOT NULL,"
                      " applied_ms INTEGER NOT NULL)",
                      "create schema_version", err);
    int level = 0;
    if (rc == FERR_OK)
        rc = read_version(db, &level, err);
    if (rc != FERR_OK)
        return rc;
    if (level > N_MIGRATIONS)
        return ferr_set(err, FERR_INTERNAL, "",
                        "store: database schema version %d is newer than this ferryd (%d)", level,
                        N_MIGRATIONS);
    for (int v = level + 1; v <= N_MIGRATIONS; v++) {
        rc = apply_step(db, v, err);
        if (rc != FERR_OK)
            return rc;
    }
    *version = N_MIGRATIONS;
    return FERR_OK;
}
