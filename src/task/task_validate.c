/* task_validate.c — the rules a task spec must meet, each failure a typed error naming the
 * field. Limits that operators tune (window, retries) come from the config. */
#include "task/task_model.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "common/addr_policy.h"

static bool has_scheme(const char *url, const char *const *schemes)
{
    for (; *schemes; schemes++) {
        size_t n = strlen(*schemes);
        if (strncasecmp(url, *schemes, n) == 0 && strncmp(url + n, "://", 3) == 0)
            return true;
    }
    return false;
}

/* scheme://host... with a non-empty host and no spaces or control characters. */
static bool url_well_formed(const char *url)
{
    size_t n = url ? strlen(url) : 0;
    if (n == 0 || n > TASK_URL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
            return false;
    const char *host = strstr(url, "://");
    return host && host[3] != '\0' && host[3] != '/' && host[3] != ':' && host[3] != '?';
}

bool task_url_is_push(const char *url)
{
    static const char *const push[] = {"rtmp", "rtmps", NULL};
    return url_well_formed(url) && has_scheme(url, push);
}

/* An SRT caller only: mode=listener or rendezvous would make ferryd bind a port. */
static bool srt_is_caller(const char *url)
{
    static const char *const srt[] = {"srt", NULL};
    const char *q = strchr(url, '?');
    if (!has_scheme(url, srt) || !q)
        return true;
    for (const char *p = q + 1; *p; p += strcspn(p, "&"), p += *p == '&') {
        if (strncasecmp(p, "mode=", 5) == 0 && strncasecmp(p + 5, "caller", 6) != 0)
            return false;
    }
    return true;
}

bool task_url_is_source(const char *url, task_source_kind kind)
{
    static const char *const live[] = {"rtmp", "rtmps", "srt", "http", "https", "rtsp", NULL};
    static const char *const files[] = {"http", "https", NULL};
    return url_well_formed(url) && has_scheme(url, kind == TASK_SOURCE_LIVE ? live : files) &&
           srt_is_caller(url);
}

static int check_sources(const task_spec *s, ferr *err)
{
    int max = s->source_kind == TASK_SOURCE_FILES ? TASK_MAX_SOURCES : 1;
    if (s->n_sources == 0)
        return ferr_set(err, FERR_MISSING, "source_urls", "source_urls is required");
    if (s->n_sources > max)
        return ferr_set(err, FERR_SOURCE_URL, "source_urls",
                        "a %s task takes at most %d source URL%s",
                        task_source_kind_name(s->source_kind), max, max > 1 ? "s" : "");
    for (int i = 0; i < s->n_sources; i++)
        if (!task_url_is_source(s->source_urls[i], s->source_kind))
            return ferr_set(err, FERR_SOURCE_URL, "source_urls",
                            "source_urls[%d] is not a valid %s source URL (%s)", i,
                            task_source_kind_name(s->source_kind),
                            s->source_kind == TASK_SOURCE_LIVE ? "rtmp, rtmps, srt, http(s) or rtsp"
                                                               : "http or https");
    if (s->backup_source_url[0] && !task_url_is_source(s->backup_source_url, s->backup_source_kind))
        return ferr_set(err, FERR_SOURCE_URL, "backup_source_url",
                        "backup_source_url is not a valid source URL");
    if (s->pad_url && s->pad_url[0] && !task_url_is_source(s->pad_url, TASK_SOURCE_FILES))
        return ferr_set(err, FERR_SOURCE_URL, "pad_url",
                        "pad_url must be an http:// or https:// file URL");
    return 0;
}

static int check_destinations(const task_spec *s, ferr *err)
{
    if (!s->dst_url[0])
        return ferr_set(err, FERR_MISSING, "destination", "destination is required");
    if (!task_url_is_push(s->dst_url))
        return ferr_set(err, FERR_DST_URL, "destination",
                        "destination must be an rtmp:// or rtmps:// URL of at most %d characters",
                        TASK_URL_MAX);
    if (s->backup_dst_url[0] && !task_url_is_push(s->backup_dst_url))
        return ferr_set(err, FERR_BACKUP_DST_URL, "backup_destination",
                        "backup_destination must be an rtmp:// or rtmps:// URL");
    if (s->backup_dst_url[0] && strcmp(s->backup_dst_url, s->dst_url) == 0)
        return ferr_set(err, FERR_BACKUP_DST_URL, "backup_destination",
                        "backup_destination must differ from destination");
    return 0;
}

static int check_window(const task_spec *s, const config *cfg, int64_t now_ms, bool is_create,
                        ferr *err)
{
    if (!s->start_ms)
        return ferr_set(err, FERR_MISSING, "start_time", "start_time is required");
    if (!s->end_ms)
        return ferr_set(err, FERR_MISSING, "end_time", "end_time is required");
    if (s->end_ms <= s->start_ms)
        return ferr_set(err, FERR_TASK_TIME, "end_time", "end_time must be after start_time");
    if (is_create && s->end_ms <= now_ms)
        return ferr_set(err, FERR_TASK_TIME, "end_time", "end_time must be in the future");
    if (s->end_ms - s->start_ms > (int64_t)cfg->task_window_max_s * 1000)
        return ferr_set(err, FERR_TASK_TIME, "end_time",
                        "the task window may span at most %d seconds", cfg->task_window_max_s);
    return 0;
}

static int check_playback(const task_spec *s, ferr *err)
{
    if (s->loop_count == 0 || s->loop_count < -1)
        return ferr_set(err, FERR_INVALID, "loop_count",
                        "loop_count must be -1 (until end_time) or a play count >= 1");
    if (s->file_index < 0 || s->file_index >= (s->n_sources ? s->n_sources : 1))
        return ferr_set(err, FERR_INVALID, "file_index",
                        "file_index must name one of the source URLs (0-based)");
    if (s->offset_s < 0)
        return ferr_set(err, FERR_INVALID, "offset", "offset must be >= 0 seconds");
    if (s->vod_refresh_type[0] && strcmp(s->vod_refresh_type, "ImmediateNewSource") != 0 &&
        strcmp(s->vod_refresh_type, "ContinueBreakPoint") != 0)
        return ferr_set(err, FERR_INVALID, "vod_refresh_type",
                        "vod_refresh_type must be ImmediateNewSource or ContinueBreakPoint");
    if (s->vod_local_mode != 0 && s->vod_local_mode != 1)
        return ferr_set(err, FERR_INVALID, "vod_local_mode", "vod_local_mode must be 0 or 1");
    return 0;
}

static int check_retries(const task_spec *s, const config *cfg, ferr *err)
{
    if (s->retry_count < 0 || s->retry_count > cfg->retry_count_max)
        return ferr_set(err, FERR_INVALID, "retry_count", "retry_count must be 0..%d",
                        cfg->retry_count_max);
    if (s->retry_interval_s < cfg->retry_interval_min_s ||
        s->retry_interval_s > cfg->retry_interval_max_s)
        return ferr_set(err, FERR_INVALID, "retry_interval", "retry_interval must be %d..%d s",
                        cfg->retry_interval_min_s, cfg->retry_interval_max_s);
    return 0;
}

static int check_watermark(const task_watermark *w, int i, ferr *err)
{
    static const char *const http[] = {"http", "https", NULL};
    if (!url_well_formed(w->picture_url) || !has_scheme(w->picture_url, http) ||
        strpbrk(w->picture_url, ";(){}$>`#\"'|"))
        return ferr_set(err, FERR_WATERMARK, "watermarks",
                        "watermarks[%d].picture_url must be an http(s) URL without ;(){}$>`#\"'|",
                        i);
    if (w->x < 0 || w->x > 100 || w->y < 0 || w->y > 100 || w->width < 0 || w->width > 100 ||
        w->height < 0 || w->height > 100 || w->location < 0 || w->location > 3)
        return ferr_set(err, FERR_WATERMARK, "watermarks",
                        "watermarks[%d]: x, y, width, height are percents 0..100 and location "
                        "is 0..3",
                        i);
    return 0;
}

/* Free-text fields have bounds too: every task, and every history line of it, is stored on
 * the disk that all accounts share. */
static int check_sizes(const task_spec *s, ferr *err)
{
    static const struct {
        const char *field;
        size_t off, max;
    } bounds[] = {
        {"region", offsetof(task_spec, region), 64},
        {"created_by", offsetof(task_spec, created_by), 255},
        {"updated_by", offsetof(task_spec, updated_by), 255},
        {"source_protocol", offsetof(task_spec, source_protocol), 32},
        {"vod_refresh_type", offsetof(task_spec, vod_refresh_type), 32},
        {"dialect_extra", offsetof(task_spec, dialect_extra), 16384},
    };
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        const char *v = *(char *const *)((const char *)s + bounds[i].off);
        if (v && strlen(v) > bounds[i].max)
            return ferr_set(err, FERR_INVALID, bounds[i].field, "%s is limited to %zu bytes",
                            bounds[i].field, bounds[i].max);
    }
    return 0;
}

static int check_misc(const task_spec *s, ferr *err)
{
    static const char *const http[] = {"http", "https", NULL};
    if (s->callback_url[0] &&
        !(url_well_formed(s->callback_url) && has_scheme(s->callback_url, http)))
        return ferr_set(err, FERR_CALLBACK_URL, "callback_url",
                        "callback_url must be an http:// or https:// URL");
    if (strlen(s->comment) > TASK_COMMENT_MAX)
        return ferr_set(err, FERR_INVALID, "comment", "comment is limited to %d bytes",
                        TASK_COMMENT_MAX);
    if (strlen(s->name) > 255)
        return ferr_set(err, FERR_INVALID, "name", "name is limited to 255 bytes");
    for (int i = 0; i < s->n_watermarks; i++)
        if (check_watermark(&s->watermarks[i], i, err))
            return err ? err->code : FERR_WATERMARK;
    return 0;
}

int task_validate(const task_spec *s, const config *cfg, int64_t now_ms, bool is_create, ferr *err)
{
    int rc;
    if ((rc = check_sources(s, err)) || (rc = check_destinations(s, err)) ||
        (rc = check_window(s, cfg, now_ms, is_create, err)) || (rc = check_playback(s, err)) ||
        (rc = check_retries(s, cfg, err)) || (rc = check_misc(s, err)) ||
        (rc = check_sizes(s, err)))
        return rc;
    return FERR_OK;
}

/* One URL against the direction's list; 0 or the error. */
static int check_address(const char *url, const char *allow, const char *key, int code,
                         const char *field, ferr *err)
{
    char host[256], why[200];
    int port;
    if (!url || !url[0] || !addr_url_host(url, host, sizeof(host), &port))
        return 0;
    if (addr_literal_checked(host, allow, key, why, sizeof(why)) >= 0)
        return 0;
    return ferr_set(err, code, field, "%s: %s", field, why);
}

int task_validate_addresses(const task_spec *s, const config *cfg, const char *account, ferr *err)
{
    char src[2 * CONFIG_STR_MAX], dst[2 * CONFIG_STR_MAX];
    config_allow_list(cfg, account, ADDR_SOURCE, src, sizeof(src));
    config_allow_list(cfg, account, ADDR_DESTINATION, dst, sizeof(dst));
    int rc = 0;
    for (int i = 0; i < s->n_sources && !rc; i++)
        rc = check_address(s->source_urls[i], src, "source_allow", FERR_SOURCE_URL, "source_urls",
                           err);
    if (!rc)
        rc = check_address(s->backup_source_url, src, "source_allow", FERR_SOURCE_URL,
                           "backup_source_url", err);
    if (!rc)
        rc = check_address(s->pad_url, src, "source_allow", FERR_SOURCE_URL, "pad_url", err);
    for (int i = 0; i < s->n_watermarks && !rc; i++)
        rc = check_address(s->watermarks[i].picture_url, src, "source_allow", FERR_WATERMARK,
                           "watermarks", err);
    if (!rc)
        rc = check_address(s->dst_url, dst, "destination_allow", FERR_DST_URL, "destination", err);
    if (!rc)
        rc = check_address(s->backup_dst_url, dst, "destination_allow", FERR_BACKUP_DST_URL,
                           "backup_destination", err);
    return rc; /* callbacks: refused at delivery, with the reason in the task's history */
}
