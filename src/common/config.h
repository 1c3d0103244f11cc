/* config.h — ferryd's configuration: one table of keys with their defaults (config.c),
 * a `key = value` file with [account NAME] sections, and command-line overrides. */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_ACCOUNTS 64
#define CONFIG_STR_MAX 256

/* Requests per second one account may send to each Tencent API action (token buckets of
 * one second's worth). Globally 0 = unlimited; in an account 0 = the global value. */
typedef struct config_tc_qps {
    int create, modify, del, describe, status, restart;
} config_tc_qps;

typedef struct config_account {
    char name[64];
    char token[CONFIG_STR_MAX];           /* bearer token of the native API */
    char tc_secret_id[CONFIG_STR_MAX];    /* Tencent SecretId */
    char tc_secret_key[CONFIG_STR_MAX];   /* Tencent SecretKey */
    char tc_app_id[64];                   /* Tencent AppId */
    char ali_key_id[CONFIG_STR_MAX];      /* Alibaba AccessKeyId */
    char ali_key_secret[CONFIG_STR_MAX];  /* Alibaba AccessKeySecret */
    int task_quota;                       /* max tasks; 0 = the global task_quota */
    int max_running_tasks;                /* relays it runs at once; 0 = only the node's */
    int picture_max_mb;                   /* largest picture it may use; 0 = the global one */
    int download_max_mb;                  /* largest VodLocalMode download; 0 = the global one */
    int playlist_max_kb;                  /* largest HLS playlist; 0 = the global one */
    int max_ingest_kbps;                  /* its relays' source bitrate; 0 = the global one */
    config_tc_qps tc_qps;                 /* Tencent per-action rates; 0 = the global one */
    int ali_qps;                          /* Alibaba rate of each action; 0 = the global one */
    bool is_operator;                     /* may act on the nodes (drain); tenants may not */
    char callback_secret[CONFIG_STR_MAX]; /* HMAC key of native callbacks; "" = unsigned */
    /* CIDRs of special addresses this account may reach too (added to the global lists) */
    char source_allow[CONFIG_STR_MAX];
    char destination_allow[CONFIG_STR_MAX];
    char callback_allow[CONFIG_STR_MAX];
} config_account;

typedef struct config {
    char listen[CONFIG_STR_MAX];   /* API address, HOST:PORT */
    char data_dir[CONFIG_STR_MAX]; /* where the embedded store (and the file cache) live */
    char store[CONFIG_STR_MAX];    /* "sqlite" (DATA_DIR/ferry.db) or a postgresql:// URL */
    char log_level[16];
    char node_id[64];         /* cluster: this node's name; "" = the host name */
    char node_labels[256];    /* cluster: a,b,c (regions it serves) */
    int lease_time_ms;        /* cluster: a lease's life past its renewal */
    int lease_renew_ms;       /* cluster: renewal period */
    int store_connections;    /* PostgreSQL: connections for the calls, besides the session one */
    int lease_skew_ms;        /* cluster: clock drift / pause margin on both sides */
    int http_threads;         /* libmicrohttpd thread pool size */
    int http_max_connections; /* open API connections at once, all clients */
    int http_connections_per_ip; /* ... from one address; 0 = no limit */
    int auth_failures_per_ip;    /* failed authentications per second per address; 0 = any */
    int max_body_bytes;          /* larger request bodies are refused */
    int task_quota;              /* default tasks per account */
    int task_window_max_s;       /* max EndTime - StartTime */
    int retry_count_default;
    int retry_count_max;
    int retry_interval_default_s;
    int retry_interval_min_s;
    int retry_interval_max_s;
    int stall_timeout_s;         /* no packet for this long = failure */
    int failover_timeout_s;      /* with a backup or pad: main source silence that switches */
    int main_recheck_interval_s; /* on a live backup: how often the main source is tried */
    int backup_standby;          /* 1: a live backup is kept connected while main plays */
    int connect_timeout_s;       /* source/destination connect timeout */
    int preroll_s;               /* connect sources this long before StartTime */
    int history_retention_s;     /* finished tasks kept this long */
    int max_running_tasks;       /* capacity of this node */
    config_tc_qps tc_qps;        /* Tencent per-action rates per account */
    int tc3_signed_action;       /* 1: TC3 requests must sign X-TC-Action */
    char push_engine[16];        /* rtmp:// pushes: "ferry" (event loops) or "ffmpeg" */
    char pull_engine[16];        /* rtmp:// sources: "ferry" (event loops) or "ffmpeg" */
    int engine_loops;            /* event loops for RTMP connections; 0 = one per core */
    int ali_qps;                 /* Alibaba requests/s per AccessKey and action; 0 = unlimited */
    char ali_regions[CONFIG_STR_MAX];       /* Alibaba Regions this deployment runs, a,b,c */
    char vod_media_map[CONFIG_STR_MAX];     /* file of "MEDIA_ID URL" lines; "" = none */
    char file_cache_dir[CONFIG_STR_MAX];    /* VodLocalMode downloads; "" = DATA_DIR/cache */
    int file_cache_max_mb;                  /* the cache's size limit, MiB */
    int picture_max_mb;                     /* largest picture a picture task fetches, MiB */
    int download_max_mb;                    /* largest VodLocalMode download, MiB */
    int playlist_max_kb;                    /* largest HLS playlist a source may send, KiB */
    int max_ingest_kbps;                    /* a relay's source bitrate limit, kb/s; 0 = none */
    char watermark_preset[CONFIG_STR_MAX];  /* libx264 preset of watermarked video */
    int watermark_bitrate_kbps;             /* its bit rate; 0 = the source's (else CRF 23) */
    int callback_retry_count;               /* retries after a callback's first try */
    int callback_retry_interval_s;          /* seconds between tries */
    int callback_timeout_s;                 /* no answer in this long = a failed try */
    int callback_concurrency;               /* callbacks in flight at once */
    int callback_per_host;                  /* of which to one host */
    int callback_per_account;               /* ... of one account; 0 = no limit */
    int callback_dead_retention_s;          /* dead events are removed after this long */
    char callback_allow[CONFIG_STR_MAX];    /* CIDRs of private targets allowed, a/n,b/n */
    char source_allow[CONFIG_STR_MAX];      /* ... of sources (pulls, files, pictures) */
    char destination_allow[CONFIG_STR_MAX]; /* ... of push destinations */
    /* /metrics: the bearer token every scrape must send; "" = loopback scrapes only */
    char metrics_token[CONFIG_STR_MAX];
    int n_accounts;
    config_account accounts[CONFIG_MAX_ACCOUNTS];
} config;

/* Fills every key with its default from the table; no accounts. */
void config_defaults(config *c);
/* Reads a config file over the current values. On error writes a message naming the
 * file and line into err and returns -1. */
int config_load_file(config *c, const char *path, char *err, size_t errlen);
/* Sets one key by name ("listen", "stall_timeout", ...). Returns 0, or -1 if unknown/bad. */
int config_set(config *c, const char *key, const char *value, char *err, size_t errlen);
/* Writes the key table (name, default, description) for --help. */
void config_print_keys(FILE *out);

const config_account *config_find_account_by_token(const config *c, const char *token);
/* Where the store is for store_open: data_dir for the embedded SQLite store, or the URL. */
const char *config_store_location(const config *c);
/* True when an account carries a token, a secret key or a callback secret, or the store's
 * URL a password. */
bool config_holds_secrets(const config *c);
const config_account *config_find_account(const config *c, const char *name);
int config_account_quota(const config *c, const config_account *a);
/* The source bitrate (kb/s over 5 s) a relay of account a may take, 0 = no limit. */
int64_t config_account_max_ingest_kbps(const config *c, const config_account *a);
/* The largest picture (bytes) a task of account a may fetch. */
int64_t config_account_picture_max_bytes(const config *c, const config_account *a);
/* The largest HLS playlist (bytes) a source of account a may send. */
int64_t config_account_playlist_max_bytes(const config *c, const config_account *a);
/* The largest file (bytes) a VodLocalMode download of account a may be. */
int64_t config_account_download_max_bytes(const config *c, const config_account *a);
/* Relays account a may run at once on this node, 0 = no limit but the node's. */
int config_account_max_running(const config *c, const config_account *a);

/* The CIDR allow list of direction d (addr_policy.h) for account (NULL = none): the global
 * list and the account's own, joined. */
void config_allow_list(const config *c, const char *account, int direction, char *out, size_t len);

#endif
