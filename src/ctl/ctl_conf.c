/* ctl_conf.c — resolves ferryd's address and the API token for ferryctl: flag, then
 * environment, then ferryd's config file (listen, data_dir), then ferryd's defaults. */
#include "ctl/ctl_conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

/* The first of the given values that is set and not empty. */
static const char *first_set(const char *flag, const char *env_name, const char *fallback)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv(env_name);
    if (env && *env)
        return env;
    return fallback;
}

/* ferryd's config when --config or $FERRY_CONFIG names one, else its defaults. */
static int load_config(const ctl_args *a, config *cfg)
{
    config_defaults(cfg);
    const char *path = first_set(a->config, "FERRY_CONFIG", NULL);
    if (!path)
        return CTL_OK;
    char err[512];
    if (config_load_file(cfg, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "ferryctl: config: %s\n", err);
        return CTL_USAGE;
    }
    return CTL_OK;
}

/* A listen address of every interface is reached through loopback. */
static void base_url(const char *addr, char *out, size_t len)
{
    const char *scheme = strstr(addr, "://") ? "" : "http://";
    if (strncmp(addr, "0.0.0.0:", 8) == 0)
        snprintf(out, len, "http://127.0.0.1:%s", addr + 8);
    else if (strncmp(addr, "[::]:", 5) == 0)
        snprintf(out, len, "http://[::1]:%s", addr + 5);
    else
        snprintf(out, len, "%s%s", scheme, addr);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
}

/* Reads the first line of the token file (without its line end) into t->token. */
static int read_token_file(const char *path, ctl_target *t)
{
    snprintf(t->token_from, sizeof(t->token_from), "token file %s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ferryctl: token: no token given (--token, FERRY_TOKEN) and %s: %s\n", path,
                strerror(errno));
        return CTL_UNAUTHORIZED;
    }
    char *ok = fgets(t->token, sizeof(t->token), f);
    fclose(f);
    if (ok)
        t->token[strcspn(t->token, "\r\n")] = '\0';
    if (!ok || !t->token[0]) {
        fprintf(stderr, "ferryctl: token: the token file %s is empty\n", path);
        return CTL_UNAUTHORIZED;
    }
    return CTL_OK;
}

static int resolve_token(const ctl_args *a, const config *cfg, ctl_target *t)
{
    const char *token = first_set(a->token, "FERRY_TOKEN", NULL);
    if (token) {
        snprintf(t->token_from, sizeof(t->token_from), "%s",
                 a->token && *a->token ? "--token" : "FERRY_TOKEN");
        if (strlen(token) >= sizeof(t->token)) {
            fprintf(stderr, "ferryctl: token: longer than %zu characters\n", sizeof(t->token) - 1);
            return CTL_USAGE;
        }
        snprintf(t->token, sizeof(t->token), "%s", token);
        return CTL_OK;
    }
    const char *dir = first_set(a->data_dir, "FERRY_DATA_DIR", cfg->data_dir);
    char path[CONFIG_STR_MAX + 16];
    snprintf(path, sizeof(path), "%s/token", dir);
    return read_token_file(path, t);
}

int ctl_target_resolve(const ctl_args *a, ctl_target *t)
{
    static config cfg; /* large; one per run */
    memset(t, 0, sizeof(*t));
    int rc = load_config(a, &cfg);
    if (rc != CTL_OK)
        return rc;
    base_url(first_set(a->addr, "FERRY_ADDR", cfg.listen), t->base, sizeof(t->base));
    return resolve_token(a, &cfg, t);
}
