/* ali_params.c — reading Alibaba parameters out of the decoded query and form: integers,
 * SourceUrls in its three wire forms, Regions, and vod media ids through the config's map. */
#include "api/ali.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEDIA_LINE_MAX 4096

int ali_int_param(const form_params *p, const char *name, long long min, long long max,
                  long long *out, ferr *err)
{
    const char *s = form_get(p, name);
    if (!s)
        return 1;
    size_t n = strlen(s), digits = strspn(s + (s[0] == '-'), "0123456789");
    long long v = 0;
    if (digits > 0 && digits <= 18 && digits + (s[0] == '-') == n)
        v = strtoll(s, NULL, 10);
    if (digits == 0 || digits > 18 || digits + (s[0] == '-') != n || v < min || v > max)
        return ferr_set(err, FERR_INVALID, name, "%s must be an integer from %lld to %lld.", name,
                        min, max);
    *out = v;
    return 0;
}

/* ---------- SourceUrls ---------- */

/* SourceUrls.1 .. SourceUrls.N, 1-based and without gaps; NULL when there is none. */
static int indexed_urls(const form_params *p, json_t **out, ferr *err)
{
    const char *prefix = "SourceUrls.";
    size_t plen = strlen(prefix);
    int count = 0;
    for (int i = 0; i < p->n; i++)
        if (strncmp(p->v[i].key, prefix, plen) == 0)
            count++;
    if (count == 0)
        return 0;
    json_t *a = json_array();
    char name[32];
    for (int i = 1; a && i <= count && i <= TASK_MAX_SOURCES + 1; i++) {
        snprintf(name, sizeof(name), "SourceUrls.%d", i);
        const char *v = form_get(p, name);
        json_t *s = v ? json_string(v) : NULL;
        if (!s) {
            json_decref(a);
            return ferr_set(err, FERR_INVALID, "SourceUrls",
                            "SourceUrls.N are UTF-8 URLs numbered from SourceUrls.1 without gaps.");
        }
        json_array_append_new(a, s);
    }
    *out = a;
    return a ? 0 : ferr_set(err, FERR_INTERNAL, "", "The server ran out of memory.");
}

/* A JSON array of strings, or one plain URL. */
static int string_urls(const char *v, json_t **out, ferr *err)
{
    const char *t = v + strspn(v, " \t\r\n");
    if (*t != '[') {
        *out = json_pack("[s]", v);
        return *out ? 0 : ferr_set(err, FERR_INVALID, "SourceUrls", "SourceUrls is not UTF-8.");
    }
    json_t *a = json_loads(v, 0, NULL);
    size_t i;
    json_t *e;
    bool ok = json_is_array(a);
    json_array_foreach(a, i, e) ok = ok && json_is_string(e);
    if (!ok) {
        json_decref(a);
        return ferr_set(err, FERR_INVALID, "SourceUrls",
                        "SourceUrls must be a JSON array of URL strings, like [\"rtmp://...\"].");
    }
    *out = a;
    return 0;
}

int ali_source_urls(const form_params *p, json_t **out, ferr *err)
{
    *out = NULL;
    json_t *a = NULL;
    const char *v = form_get(p, "SourceUrls");
    int rc = indexed_urls(p, &a, err);
    if (rc == 0 && a && v) {
        json_decref(a);
        return ferr_set(err, FERR_INVALID, "SourceUrls",
                        "Give SourceUrls either as one JSON array or as SourceUrls.N, not both.");
    }
    if (rc == 0 && v)
        rc = string_urls(v, &a, err);
    if (rc != 0)
        return rc;
    if (a && (json_array_size(a) == 0 || json_array_size(a) > TASK_MAX_SOURCES)) {
        json_decref(a);
        return ferr_set(err, FERR_INVALID, "SourceUrls", "SourceUrls holds 1 to %d entries.",
                        TASK_MAX_SOURCES);
    }
    *out = a;
    return 0;
}

/* ---------- Regions ---------- */

bool ali_region_served(const config *cfg, const char *region)
{
    size_t n = strlen(region);
    for (const char *p = cfg->ali_regions; n && *p;) {
        p += strspn(p, " ,");
        size_t len = strcspn(p, " ,");
        if (len == n && strncmp(p, region, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* ---------- vod media ids ---------- */

/* The URL of a media id in the map file (heap), or NULL. */
static char *media_url(FILE *f, const char *id)
{
    char line[MEDIA_LINE_MAX];
    rewind(f);
    while (fgets(line, sizeof(line), f)) {
        char *s = line + strspn(line, " \t");
        if (*s == '#' || *s == '\n' || *s == '\0')
            continue;
        size_t k = strcspn(s, " \t\r\n");
        char *u = s + k + strspn(s + k, " \t");
        u[strcspn(u, " \t\r\n")] = '\0';
        if (k == strlen(id) && strncmp(s, id, k) == 0 && *u)
            return strdup(u);
    }
    return NULL;
}

int ali_resolve_media(const config *cfg, const json_t *ids, json_t **urls, ferr *err)
{
    FILE *f = cfg->vod_media_map[0] ? fopen(cfg->vod_media_map, "r") : NULL;
    if (!f)
        return ferr_set(err, FERR_INVALID, "SourceUrls",
                        "SourceType vod takes media ids, and this server has no vod media map "
                        "(config vod_media_map).");
    json_t *out = json_array();
    size_t i;
    json_t *id;
    int rc = out ? 0 : ferr_set(err, FERR_INTERNAL, "", "The server ran out of memory.");
    json_array_foreach(ids, i, id)
    {
        char *url = rc == 0 ? media_url(f, json_string_value(id)) : NULL;
        if (rc == 0 && !url)
            rc = ferr_set(err, FERR_INVALID, "SourceUrls",
                          "The media id `%.64s` is not in the vod media map.",
                          json_string_value(id));
        if (url)
            json_array_append_new(out, json_string(url));
        free(url);
    }
    fclose(f);
    if (rc != 0) {
        json_decref(out);
        return rc;
    }
    *urls = out;
    return 0;
}
