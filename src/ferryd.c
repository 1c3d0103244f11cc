/* ferryd.c — the daemon's entry point: flags and config, the default account, wiring of
 * store, task service and API, and a clean stop on SIGTERM/SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "common/config.h"
#include "common/ids.h"
#include "common/log.h"
#include "notify/notify.h"
#include "store/store.h"
#include "task/task.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: ferryd [--listen HOST:PORT] [--data-dir DIR] [--config FILE]\n"
                 "              [--log-level LEVEL] [--help]\n\n"
                 "ferry's relay daemon: runs scheduled pull-to-push relay tasks and serves the\n"
                 "native, Tencent-compatible and Alibaba-compatible APIs.\n\n"
                 "  --listen HOST:PORT  API address (default 127.0.0.1:8480)\n"
                 "  --data-dir DIR      where the embedded store lives (default ./var)\n"
                 "  --config FILE       key = value file; see docs/ferry.conf.example\n"
                 "  --log-level LEVEL   error, warn, info or debug (default info)\n\n"
                 "Config keys and their defaults:\n");
    config_print_keys(out);
}

/* Owner-only: the data dir holds every task's URLs with their stream keys, the token file
 * a credential (docs/security.md, "Secrets"). */
#define DATA_DIR_MODE 0700
#define SECRET_FILE_MODE 0600

/* Creates dir and its missing parents; dir itself owner-only. */
static int mkdir_p(const char *dir)
{
    char path[CONFIG_STR_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(path, DATA_DIR_MODE) == 0 || errno == EEXIST ? 0 : -1;
}

/* A data dir made by someone else may be open to others: say so (it is left as it is). */
static void warn_open_data_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 && (st.st_mode & 077))
        log_warn("data dir %s is open to group/others (mode %03o) and holds every task's URLs "
                 "with their stream keys: chmod 700 it",
                 dir, (unsigned)(st.st_mode & 0777));
}

/* The config file names accounts with their secrets: readable by others, it gives them away. */
static void warn_open_config(const char *file, const config *c)
{
    struct stat st;
    if (file && config_holds_secrets(c) && stat(file, &st) == 0 &&
        (st.st_mode & (S_IRGRP | S_IROTH)))
        log_warn("config %s holds account secrets and is readable by group/others (mode %03o): "
                 "chmod 600 it",
                 file, (unsigned)(st.st_mode & 0777));
}

/* Reads the token of an existing token file into out; a file open to group/others is made
 * 0600 first, with a warning. Returns 0, or -1 when there is no usable token. */
static int read_token_file(const char *path, char *out)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & 077)) {
        if (fchmod(fd, SECRET_FILE_MODE) == 0)
            log_warn("token file %s was open to group/others (mode %03o): now %03o", path,
                     (unsigned)(st.st_mode & 0777), SECRET_FILE_MODE);
        else
            log_warn("token file %s is open to group/others (mode %03o) and cannot be "
                     "changed: %s",
                     path, (unsigned)(st.st_mode & 0777), strerror(errno));
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return -1;
    }
    int ok = fscanf(f, "%255s", out) == 1;
    fclose(f);
    return ok ? 0 : -1;
}

static int write_token_file(const char *path, const char *token)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, SECRET_FILE_MODE);
    if (fd < 0 || fchmod(fd, SECRET_FILE_MODE) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        return -1;
    }
    int bad = fprintf(f, "%s\n", token) < 0;
    return fclose(f) != 0 || bad ? -1 : 0;
}

/* With no account configured, ferryd serves one account "default" whose token is kept in
 * DATA_DIR/token (made on first start, mode 0600); it is the installation's own, so it is
 * also its operator. */
static int ensure_default_account(config *c)
{
    if (c->n_accounts > 0)
        return 0;
    config_account *a = &c->accounts[c->n_accounts++];
    memset(a, 0, sizeof(*a));
    snprintf(a->name, sizeof(a->name), "default");
    a->is_operator = true;
    char path[CONFIG_STR_MAX + 16];
    snprintf(path, sizeof(path), "%s/token", c->data_dir);
    if (read_token_file(path, a->token) == 0)
        return 0;
    id_random_hex(a->token, 24);
    if (write_token_file(path, a->token) != 0) {
        log_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    log_info("created account 'default'; its API token is in %s", path);
    return 0;
}

/* Fills c from the config file and the flags; *file is the config file's path or NULL. */
static int parse_args(int argc, char **argv, config *c, const char **config_file)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'}, {"data-dir", required_argument, 0, 'd'},
        {"config", required_argument, 0, 'c'}, {"log-level", required_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0},
    };
    const char *cli[4] = {0}; /* listen, data_dir, log_level applied over the file */
    const char *file = NULL;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 'l':
            cli[0] = optarg;
            break;
        case 'd':
            cli[1] = optarg;
            break;
        case 'v':
            cli[2] = optarg;
            break;
        case 'c':
            file = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ferryd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    char err[512];
    *config_file = file;
    if (file && config_load_file(c, file, err, sizeof(err)) != 0) {
        fprintf(stderr, "ferryd: %s\n", err);
        return -1;
    }
    const char *keys[] = {"listen", "data_dir", "log_level"};
    for (int i = 0; i < 3; i++)
        if (cli[i] && config_set(c, keys[i], cli[i], err, sizeof(err)) != 0) {
            fprintf(stderr, "ferryd: %s\n", err);
            return -1;
        }
    return 0;
}

static int wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

static int run(config *c)
{
    ferr err;
    store *st = NULL;
    /* The store's messages name a server as user@host:port/db, never with a password. */
    if (store_open_pool(config_store_location(c), c->store_connections, &st, &err) != 0) {
        log_error("cannot open the store: %s", err.msg);
        return 1;
    }
    /* The formats are known before the first task changes; the notifier delivers what
     * an earlier run left in the outbox and whatever the task service adds. */
    api_register_callback_formats();
    if (notify_start(c, st) != 0) {
        log_error("cannot start the notifier");
        store_close(st);
        return 1;
    }
    if (task_service_start(c, st) != 0) {
        log_error("cannot start the task service");
        notify_stop();
        store_close(st);
        return 1;
    }
    char why[512];
    if (api_start(c, why, sizeof(why)) != 0) {
        log_error("cannot start the API on %s: %s", c->listen, why);
        task_service_stop();
        notify_stop();
        store_close(st);
        return 1;
    }
    api_set_ready(1);
    log_info("ferryd ready: API on http://%s, store: %s", c->listen,
             store_is_url(config_store_location(c)) ? "PostgreSQL" : c->data_dir);
    int sig = wait_for_signal();
    log_info("signal %d: stopping", sig);
    api_set_ready(0);
    api_stop();
    task_service_stop();
    notify_stop();
    store_close(st);
    log_info("ferryd stopped");
    return 0;
}

int main(int argc, char **argv)
{
    static config cfg;
    config_defaults(&cfg);
    const char *config_file = NULL;
    if (parse_args(argc, argv, &cfg, &config_file) != 0)
        return 2;
    log_level level;
    if (log_parse_level(cfg.log_level, &level) != 0) {
        fprintf(stderr, "ferryd: unknown log level '%s'\n", cfg.log_level);
        return 2;
    }
    log_set_level(level);
    /* Block the stop signals in every thread; main waits for them with sigwait. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    warn_open_config(config_file, &cfg);
    if (mkdir_p(cfg.data_dir) != 0) {
        log_error("cannot create data dir %s: %s", cfg.data_dir, strerror(errno));
        return 1;
    }
    warn_open_data_dir(cfg.data_dir);
    umask(077); /* what ferryd creates from here on (store, cache, token) is owner-only */
    if (ensure_default_account(&cfg) != 0)
        return 1;
    return run(&cfg);
}
