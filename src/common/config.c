/* config.c — the table of every configuration key with its default and meaning, and the
 * parser for `key = value` files with [account NAME] sections. */
#include "common/config.h"

#include "common/addr_policy.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

typedef enum { KEY_STR, KEY_INT } key_type;

typedef struct {
    const char *name;
    key_type type;
    size_t offset;
    size_t size;
    const char *def;
    const char *help;
} config_key;

#define STR(name, field, def, help)                                                                \
    {                                                                                              \
        name, KEY_STR, offsetof(config, field), sizeof(((config *)0)->field), def, help            \
    }
#define INT(name, field, def, help)                                                                \
    {                                                                                              \
        name, KEY_INT, offsetof(config, field), 0, def, help                                       \
    }

/* The one place where defaults live. docs/ferry.conf.example documents the same keys. */
static const config_key keys[] = {
    STR("listen", listen, "127.0.0.1:8480", "API listen address HOST:PORT"),
    STR("data_dir", data_dir, "./var", "directory of the embedded store"),
    STR("store", store, "sqlite",
        "sqlite (DATA_DIR/ferry.db) or postgresql://USER@HOST:PORT/DB shared by the nodes"),
    INT("store_connections", store_connections, "4",
        "PostgreSQL store: connections the API calls share (plus one for signals and the "
        "callbacks' lock)"),
    STR("node_id", node_id, "",
        "cluster: this node's name (unique among the nodes); \"\" = the host name"),
    STR("node_labels", node_labels, "",
        "cluster: this node's labels a,b,c; a task with a region runs on a node labelled so"),
    INT("lease_time_ms", lease_time_ms, "5000",
        "cluster: a task lease lasts this long past its last renewal, ms"),
    INT("lease_renew_ms", lease_renew_ms, "1000", "cluster: leases are renewed this often, ms"),
    INT("lease_skew_ms", lease_skew_ms, "1000",
        "cluster: bound on clock drift and pauses: a node stops pushing this long before its "
        "lease ends, others claim it this long after"),
    STR("log_level", log_level, "info", "error, warn, info or debug"),
    INT("http_threads", http_threads, "4", "HTTP server threads"),
    INT("http_max_connections", http_max_connections, "4096", "open API connections at once"),
    INT("http_connections_per_ip", http_connections_per_ip, "64",
        "open API connections from one address; 0 = no limit"),
    INT("max_body_bytes", max_body_bytes, "1048576", "largest accepted request body"),
    INT("auth_failures_per_ip", auth_failures_per_ip, "10",
        "failed authentications per second from one address before it gets 429 (0 = no limit)"),
    INT("task_quota", task_quota, "200", "tasks per account unless the account says otherwise"),
    INT("task_window_max", task_window_max_s, "604800", "longest StartTime..EndTime span, s"),
    INT("retry_count_default", retry_count_default, "3", "RetryCount when a task gives none"),
    INT("retry_count_max", retry_count_max, "100", "largest accepted RetryCount"),
    INT("retry_interval_default", retry_interval_default_s, "60", "RetryInterval default, s"),
    INT("retry_interval_min", retry_interval_min_s, "60", "smallest accepted RetryInterval, s"),
    INT("retry_interval_max", retry_interval_max_s, "300", "largest accepted RetryInterval, s"),
    INT("stall_timeout", stall_timeout_s, "10", "no packet for this long counts as a failure, s"),
    INT("connect_timeout", connect_timeout_s, "10", "source and destination connect timeout, s"),
    INT("failover_timeout", failover_timeout_s, "3",
        "with a backup source or pad: main source silence that switches to it, s"),
    INT("backup_standby", backup_standby, "1",
        "1: a live backup source stays connected while the main one plays (instant failover)"),
    INT("main_recheck_interval", main_recheck_interval_s, "10",
        "while a live backup plays: how often the main source is tried, s"),
    INT("preroll", preroll_s, "3", "connect the source this long before start_time, s"),
    INT("history_retention", history_retention_s, "86400", "finished tasks stay queryable, s"),
    INT("max_running_tasks", max_running_tasks, "1000", "relays this node runs at once"),
    STR("push_engine", push_engine, "ferry",
        "rtmp:// pushes: ferry (event loops, no thread per output) or ffmpeg (a thread each)"),
    STR("pull_engine", pull_engine, "ferry",
        "rtmp:// sources: ferry (event loops) or ffmpeg (libavformat on the relay's thread)"),
    INT("engine_loops", engine_loops, "0", "event loops for RTMP connections; 0 = one per core"),
    INT("tc_qps_create", tc_qps.create, "50", "Tencent CreateLivePullStreamTask, requests/s"),
    INT("tc_qps_modify", tc_qps.modify, "20", "Tencent ModifyLivePullStreamTask, requests/s"),
    INT("tc_qps_delete", tc_qps.del, "50", "Tencent DeleteLivePullStreamTask, requests/s"),
    INT("tc3_signed_action", tc3_signed_action, "0",
        "1: Tencent TC3 requests must list x-tc-action in SignedHeaders"),
    INT("tc_qps_describe", tc_qps.describe, "30",
        "Tencent DescribeLivePullStreamTasks, requests/s"),
    INT("tc_qps_status", tc_qps.status, "20",
        "Tencent DescribeLivePullStreamTaskStatus, requests/s"),
    INT("tc_qps_restart", tc_qps.restart, "20", "Tencent RestartLivePullStreamTask, requests/s"),
    INT("ali_qps", ali_qps, "10", "Alibaba: requests/s per AccessKey to each action"),
    STR("ali_regions", ali_regions,
        "cn-shanghai,cn-beijing,cn-shenzhen,ap-southeast-1,ap-southeast-5",
        "Alibaba Regions whose tasks this deployment runs"),
    STR("vod_media_map", vod_media_map, "", "file of MEDIA_ID URL lines for Alibaba vod tasks"),
    STR("file_cache_dir", file_cache_dir, "",
        "VodLocalMode download cache; empty = DATA_DIR/cache"),
    INT("file_cache_max_mb", file_cache_max_mb, "2048", "VodLocalMode cache size limit, MiB"),
    INT("picture_max_mb", picture_max_mb, "16", "largest picture a picture task fetches, MiB"),
    INT("playlist_max_kb", playlist_max_kb, "8192",
        "largest HLS playlist a source may send, KiB; a larger one is a task error"),
    INT("download_max_mb", download_max_mb, "1024",
        "largest file a VodLocalMode download may be, MiB; a larger one is a task error"),
    INT("max_ingest_kbps", max_ingest_kbps, "200000",
        "a relay's source may send this much over 5 s, kb/s (0 = no limit)"),
    STR("watermark_preset", watermark_preset, "veryfast", "libx264 preset of watermarked video"),
    INT("watermark_bitrate_kbps", watermark_bitrate_kbps, "0",
        "watermarked video bit rate, kbit/s; 0 = the source's, else CRF 23"),
    INT("callback_retry_count", callback_retry_count, "12", "retries of a failed callback"),
    INT("callback_retry_interval", callback_retry_interval_s, "60", "between callback tries, s"),
    INT("callback_timeout", callback_timeout_s, "20", "a callback unanswered this long fails, s"),
    INT("callback_concurrency", callback_concurrency, "32", "callbacks in flight at once"),
    INT("callback_per_host", callback_per_host, "4", "callbacks in flight to one host:port"),
    INT("callback_per_account", callback_per_account, "8",
        "callbacks of one account in flight at once; 0 = no limit"),
    INT("callback_dead_retention", callback_dead_retention_s, "604800",
        "events whose retries ran out are removed after this long, s; 0 = kept"),
    STR("callback_allow", callback_allow, "",
        "private/loopback callback targets allowed, CIDRs: 10.0.0.0/8,::1/128"),
    STR("source_allow", source_allow, "",
        "private/loopback sources allowed (pulls, files, pictures), CIDRs"),
    STR("destination_allow", destination_allow, "",
        "private/loopback push destinations allowed, CIDRs"),
    STR("metrics_token", metrics_token, "",
        "bearer token /metrics asks of every scrape; empty = loopback scrapes only"),
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* An *_allow key holds CIDRs, each of which must parse. */
static bool allow_value_ok(const char *key, const char *value)
{
    size_t n = strlen(key);
    return n < 6 || strcmp(key + n - 6, "_allow") != 0 || addr_list_valid(value);
}

static bool is_pg_url(const char *v)
{
    return strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0;
}

/* The store is the embedded one or a PostgreSQL URL (libpq reads the rest at start). */
static bool store_value_ok(const char *key, const char *value)
{
    return strcmp(key, "store") != 0 || strcmp(value, "sqlite") == 0 ||
           (is_pg_url(value) && value[strcspn(value, ":") + 3] != '\0');
}

static int set_key(void *base, const config_key *k, const char *value)
{
    if (!allow_value_ok(k->name, value) || !store_value_ok(k->name, value))
        return -1;
    char *field = (char *)base + k->offset;
    if (k->type == KEY_STR) {
        if (strlen(value) >= k->size)
            return -1;
        strcpy(field, value);
        return 0;
    }
    char *end;
    long v = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || v < 0 || v > 1000000000L)
        return -1;
    *(int *)field = (int)v;
    return 0;
}

void config_defaults(config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < N_KEYS; i++)
        set_key(c, &keys[i], keys[i].def);
}

int config_set(config *c, const char *key, const char *value, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].name, key) != 0)
            continue;
        if (set_key(c, &keys[i], value) == 0)
            return 0;
        snprintf(err, errlen, "bad value '%s' for %s", value, key);
        return -1;
    }
    snprintf(err, errlen, "unknown key '%s'", key);
    return -1;
}

/* "operator = true|false": an account that may act on the cluster's nodes. */
static int set_account_flag(config_account *a, const char *key, const char *value)
{
    if (strcmp(key, "operator") != 0)
        return 1;
    if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
        return -1;
    a->is_operator = value[0] == 't';
    return 0;
}

static int set_account_key(config_account *a, const char *key, const char *value)
{
    int flag = set_account_flag(a, key, value);
    if (flag <= 0)
        return flag;
    struct {
        const char *name;
        char *dst;
        size_t size;
    } fields[] = {
        {"token", a->token, sizeof(a->token)},
        {"tc_secret_id", a->tc_secret_id, sizeof(a->tc_secret_id)},
        {"tc_secret_key", a->tc_secret_key, sizeof(a->tc_secret_key)},
        {"tc_app_id", a->tc_app_id, sizeof(a->tc_app_id)},
        {"ali_access_key_id", a->ali_key_id, sizeof(a->ali_key_id)},
        {"ali_access_key_secret", a->ali_key_secret, sizeof(a->ali_key_secret)},
        {"callback_secret", a->callback_secret, sizeof(a->callback_secret)},
        {"source_allow", a->source_allow, sizeof(a->source_allow)},
        {"destination_allow", a->destination_allow, sizeof(a->destination_allow)},
        {"callback_allow", a->callback_allow, sizeof(a->callback_allow)},
    };
    struct {
        const char *name;
        int *dst;
    } ints[] = {
        {"task_quota", &a->task_quota},
        {"max_running_tasks", &a->max_running_tasks},
        {"picture_max_mb", &a->picture_max_mb},
        {"download_max_mb", &a->download_max_mb},
        {"playlist_max_kb", &a->playlist_max_kb},
        {"max_ingest_kbps", &a->max_ingest_kbps},
        {"tc_qps_create", &a->tc_qps.create},
        {"tc_qps_modify", &a->tc_qps.modify},
        {"tc_qps_delete", &a->tc_qps.del},
        {"tc_qps_describe", &a->tc_qps.describe},
        {"tc_qps_status", &a->tc_qps.status},
        {"tc_qps_restart", &a->tc_qps.restart},
        {"ali_qps", &a->ali_qps},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        if (strcmp(ints[i].name, key) != 0)
            continue;
        char *end;
        long v = strtol(value, &end, 10);
        if (*value == '\0' || *end || v < 0 || v > 10000000)
            return -1;
        *ints[i].dst = (int)v;
        return 0;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].name, key) == 0) {
            if (strlen(value) >= fields[i].size || !allow_value_ok(key, value))
                return -1;
            strcpy(fields[i].dst, value);
            return 0;
        }
    }
    return -1;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int parse_section(config *c, char *line, config_account **acct)
{
    char name[64];
    if (sscanf(line, "[account %63[A-Za-z0-9_.-]]", name) != 1)
        return -1;
    if (config_find_account(c, name) || c->n_accounts >= CONFIG_MAX_ACCOUNTS)
        return -1;
    *acct = &c->accounts[c->n_accounts++];
    memset(*acct, 0, sizeof(**acct));
    snprintf((*acct)->name, sizeof((*acct)->name), "%s", name);
    return 0;
}

static int parse_line(config *c, char *line, config_account **acct, char *err, size_t errlen)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#' || *s == ';')
        return 0;
    if (*s == '[') {
        if (parse_section(c, s, acct) == 0)
            return 0;
        snprintf(err, errlen, "bad or duplicate section %s", s);
        return -1;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
        snprintf(err, errlen, "expected key = value");
        return -1;
    }
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    if (*acct) {
        if (set_account_key(*acct, key, value) == 0)
            return 0;
        snprintf(err, errlen, "unknown or bad account key '%s'", key);
        return -1;
    }
    return config_set(c, key, value, err, errlen);
}

int config_load_file(config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return -1;
    }
    char line[1024], why[512];
    config_account *acct = NULL;
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (parse_line(c, line, &acct, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

void config_print_keys(FILE *out)
{
    for (size_t i = 0; i < N_KEYS; i++)
        fprintf(out, "  %-24s %-16s %s\n", keys[i].name, keys[i].def, keys[i].help);
}

/* Every account's token is compared in full and in constant time, so the time taken tells
 * nothing about how much of a guess was right. */
const config_account *config_find_account_by_token(const config *c, const char *token)
{
    size_t len = strnlen(token, CONFIG_STR_MAX);
    if (len == 0 || len >= CONFIG_STR_MAX)
        return NULL;
    unsigned char given[CONFIG_STR_MAX] = {0}, want[CONFIG_STR_MAX];
    memcpy(given, token, len);
    const config_account *found = NULL;
    for (int i = 0; i < c->n_accounts; i++) {
        size_t n = strnlen(c->accounts[i].token, CONFIG_STR_MAX);
        memset(want, 0, sizeof(want));
        memcpy(want, c->accounts[i].token, n);
        if (CRYPTO_memcmp(given, want, sizeof(want)) == 0 && n > 0 && !found)
            found = &c->accounts[i];
    }
    OPENSSL_cleanse(given, sizeof(given));
    OPENSSL_cleanse(want, sizeof(want));
    return found;
}

const char *config_store_location(const config *c)
{
    return is_pg_url(c->store) ? c->store : c->data_dir;
}

/* A password in the URL's user part (user:password@) or among its parameters. */
static bool url_has_password(const char *url)
{
    if (!is_pg_url(url))
        return false;
    const char *auth = strstr(url, "://") + 3;
    size_t host_at = strcspn(auth, "/?");
    const char *at = memchr(auth, '@', host_at);
    return (at && memchr(auth, ':', (size_t)(at - auth))) || strstr(url, "password=");
}

bool config_holds_secrets(const config *c)
{
    if (c->metrics_token[0] || url_has_password(c->store))
        return true;
    for (int i = 0; i < c->n_accounts; i++) {
        const config_account *a = &c->accounts[i];
        if (a->token[0] || a->tc_secret_key[0] || a->ali_key_secret[0] || a->callback_secret[0])
            return true;
    }
    return false;
}

const config_account *config_find_account(const config *c, const char *name)
{
    for (int i = 0; i < c->n_accounts; i++)
        if (strcmp(c->accounts[i].name, name) == 0)
            return &c->accounts[i];
    return NULL;
}

int config_account_quota(const config *c, const config_account *a)
{
    return a && a->task_quota > 0 ? a->task_quota : c->task_quota;
}

int64_t config_account_max_ingest_kbps(const config *c, const config_account *a)
{
    return a && a->max_ingest_kbps > 0 ? a->max_ingest_kbps : c->max_ingest_kbps;
}

int64_t config_account_picture_max_bytes(const config *c, const config_account *a)
{
    int mb = a && a->picture_max_mb > 0 ? a->picture_max_mb : c->picture_max_mb;
    return (int64_t)mb << 20;
}

int64_t config_account_playlist_max_bytes(const config *c, const config_account *a)
{
    int kb = a && a->playlist_max_kb > 0 ? a->playlist_max_kb : c->playlist_max_kb;
    return (int64_t)kb << 10;
}

int64_t config_account_download_max_bytes(const config *c, const config_account *a)
{
    int mb = a && a->download_max_mb > 0 ? a->download_max_mb : c->download_max_mb;
    return (int64_t)mb << 20;
}

int config_account_max_running(const config *c, const config_account *a)
{
    (void)c;
    return a ? a->max_running_tasks : 0;
}

void config_allow_list(const config *c, const char *account, int direction, char *out, size_t len)
{
    const config_account *a = account ? config_find_account(c, account) : NULL;
    const char *global = direction == ADDR_SOURCE        ? c->source_allow
                         : direction == ADDR_DESTINATION ? c->destination_allow
                                                         : c->callback_allow;
    const char *own = !a                              ? ""
                      : direction == ADDR_SOURCE      ? a->source_allow
                      : direction == ADDR_DESTINATION ? a->destination_allow
                                                      : a->callback_allow;
    snprintf(out, len, "%s%s%s", global, global[0] && own[0] ? "," : "", own);
}
