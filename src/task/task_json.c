/* task_json.c — the model's JSON form: one field table drives both directions.
 * It is the storage form of a spec and the native API's task body. */
#include "task/task_model.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

typedef enum { F_STR, F_INT, F_BOOL, F_TIME, F_KIND, F_URLS, F_EVENTS, F_MARKS, F_RAW } field_type;

typedef struct {
    const char *name;
    field_type type;
    size_t offset;
} spec_field;

#define FIELD(n, t, m)                                                                             \
    {                                                                                              \
        n, t, offsetof(task_spec, m)                                                               \
    }

static const spec_field fields[] = {
    FIELD("name", F_STR, name),
    FIELD("source_type", F_KIND, source_kind),
    FIELD("source_protocol", F_STR, source_protocol),
    FIELD("source_urls", F_URLS, n_sources),
    FIELD("destination", F_STR, dst_url),
    FIELD("backup_destination", F_STR, backup_dst_url),
    FIELD("backup_source_type", F_KIND, backup_source_kind),
    FIELD("backup_source_url", F_STR, backup_source_url),
    FIELD("pad_url", F_STR, pad_url),
    FIELD("start_time", F_TIME, start_ms),
    FIELD("end_time", F_TIME, end_ms),
    FIELD("loop_count", F_INT, loop_count),
    FIELD("file_index", F_INT, file_index),
    FIELD("offset", F_INT, offset_s),
    FIELD("retry_count", F_INT, retry_count),
    FIELD("retry_interval", F_INT, retry_interval_s),
    FIELD("callback_url", F_STR, callback_url),
    FIELD("callback_events", F_EVENTS, callback_events),
    FIELD("paused", F_BOOL, paused),
    FIELD("comment", F_STR, comment),
    FIELD("created_by", F_STR, created_by),
    FIELD("updated_by", F_STR, updated_by),
    FIELD("region", F_STR, region),
    FIELD("vod_refresh_type", F_STR, vod_refresh_type),
    FIELD("vod_local_mode", F_INT, vod_local_mode),
    FIELD("watermarks", F_MARKS, n_watermarks),
    FIELD("dialect_extra", F_RAW, dialect_extra),
};

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

static const char *const event_names[] = {"task_start",  "task_exit",    "file_start",
                                          "file_finish", "config_reset", "alarm"};

/* ---------- spec -> JSON ---------- */

static json_t *events_json(unsigned bits)
{
    json_t *a = json_array();
    for (int i = 0; i < 6; i++)
        if (bits & (1u << i))
            json_array_append_new(a, json_string(event_names[i]));
    return a;
}

static json_t *marks_json(const task_spec *s)
{
    json_t *a = json_array();
    for (int i = 0; i < s->n_watermarks; i++) {
        const task_watermark *w = &s->watermarks[i];
        json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "picture_url",
                                           w->picture_url ? w->picture_url : "", "x", w->x, "y",
                                           w->y, "width", w->width, "height", w->height, "location",
                                           w->location));
    }
    return a;
}

static json_t *field_json(const task_spec *s, const spec_field *f)
{
    const char *p = (const char *)s + f->offset;
    char iso[32];
    switch (f->type) {
    case F_STR:
        return json_string(*(char *const *)p ? *(char *const *)p : "");
    case F_INT:
        return json_integer(*(const int *)p);
    case F_BOOL:
        return json_boolean(*(const bool *)p);
    case F_TIME:
        return *(const int64_t *)p ? json_string(time_format_iso(*(const int64_t *)p, iso, 32))
                                   : json_null();
    case F_KIND:
        return json_string(task_source_kind_name(*(const task_source_kind *)p));
    case F_URLS: {
        json_t *a = json_array();
        for (int i = 0; i < s->n_sources; i++)
            json_array_append_new(a, json_string(s->source_urls[i]));
        return a;
    }
    case F_EVENTS:
        return events_json(*(const unsigned *)p);
    case F_MARKS:
        return marks_json(s);
    case F_RAW: {
        json_t *v = json_loads(*(char *const *)p ? *(char *const *)p : "{}", 0, NULL);
        return v ? v : json_object();
    }
    }
    return json_null();
}

json_t *task_spec_json(const task_spec *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < N_FIELDS; i++)
        json_object_set_new(o, fields[i].name, field_json(s, &fields[i]));
    return o;
}

/* The JSON value of a field that tells nothing was set: null, "", [], {}, 0 or false. */
static bool json_blank(const json_t *v)
{
    return !v || json_is_null(v) || json_is_false(v) ||
           (json_is_string(v) && !*json_string_value(v)) ||
           (json_is_integer(v) && json_integer_value(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

static void append_name(char *out, size_t len, size_t *used, const char *name)
{
    int w = snprintf(out + *used, len - *used, "%s%s", *used ? "," : "", name);
    if (w > 0 && (size_t)w < len - *used)
        *used += (size_t)w;
}

void task_spec_changed_fields(const task_spec *a, const task_spec *b, char *out, size_t len)
{
    json_t *ja = a ? task_spec_json(a) : NULL, *jb = task_spec_json(b);
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_FIELDS; i++) {
        const char *name = fields[i].name;
        json_t *va = ja ? json_object_get(ja, name) : NULL, *vb = json_object_get(jb, name);
        bool changed = ja ? !json_equal(va, vb) : !json_blank(vb);
        if (changed && fields[i].type == F_RAW)
            name = "dialect_fields"; /* a cloud dialect's own fields, kept as they came */
        if (changed)
            append_name(out, len, &used, name);
    }
    json_decref(ja);
    json_decref(jb);
}

char *task_spec_to_json(const task_spec *s)
{
    json_t *o = task_spec_json(s);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

/* ---------- JSON -> spec ---------- */

static int bad_type(ferr *err, const char *name, const char *want)
{
    return ferr_set(err, FERR_INVALID, name, "%s must be %s", name, want);
}

static int apply_urls(task_spec *s, const json_t *v, const char *name, ferr *err)
{
    if (!json_is_array(v))
        return bad_type(err, name, "an array of strings");
    if (json_array_size(v) > TASK_MAX_SOURCES)
        return ferr_set(err, FERR_SOURCE_URL, name, "%s holds at most %d URLs", name,
                        TASK_MAX_SOURCES);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!json_is_string(json_array_get(v, i)))
            return bad_type(err, name, "an array of strings");
    for (int i = 0; i < s->n_sources; i++)
        free(s->source_urls[i]);
    s->n_sources = 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        s->source_urls[i] = NULL;
        task_str_set(&s->source_urls[i], json_string_value(json_array_get(v, i)));
        s->n_sources++;
    }
    return 0;
}

static int parse_event(const char *name, unsigned *bit)
{
    for (int i = 0; i < 6; i++)
        if (strcmp(name, event_names[i]) == 0) {
            *bit = 1u << i;
            return 0;
        }
    return -1;
}

static int apply_events(task_spec *s, const json_t *v, const char *name, ferr *err)
{
    if (!json_is_array(v))
        return bad_type(err, name, "an array of event names");
    unsigned bits = 0, bit;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *e = json_string_value(json_array_get(v, i));
        if (!e || parse_event(e, &bit) != 0)
            return ferr_set(err, FERR_INVALID, name, "%s: unknown event '%s'", name,
                            e ? e : "(not a string)");
        bits |= bit;
    }
    s->callback_events = bits;
    return 0;
}

static int mark_int(const json_t *o, const char *key, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

static int apply_mark(task_watermark *w, const json_t *o)
{
    const char *keys[] = {"picture_url", "x", "y", "width", "height", "location"};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        size_t i = 0;
        while (i < 6 && strcmp(k, keys[i]) != 0)
            i++;
        if (i == 6)
            return -1;
    }
    json_t *url = json_object_get(o, "picture_url");
    if (!json_is_string(url))
        return -1;
    task_str_set(&w->picture_url, json_string_value(url));
    if (mark_int(o, "x", &w->x) || mark_int(o, "y", &w->y) || mark_int(o, "width", &w->width) ||
        mark_int(o, "height", &w->height) || mark_int(o, "location", &w->location))
        return -1;
    return 0;
}

static int apply_marks(task_spec *s, const json_t *v, const char *name, ferr *err)
{
    if (!json_is_array(v) || json_array_size(v) > TASK_MAX_WATERMARKS)
        return ferr_set(err, FERR_WATERMARK, name, "%s must be an array of at most %d objects",
                        name, TASK_MAX_WATERMARKS);
    task_watermark marks[TASK_MAX_WATERMARKS];
    memset(marks, 0, sizeof(marks));
    size_t n = json_array_size(v);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *o = json_array_get(v, i);
        if (!json_is_object(o) || apply_mark(&marks[i], o) != 0)
            rc = ferr_set(err, FERR_WATERMARK, name,
                          "%s[%zu] needs picture_url (string) and integer x, y, width, height, "
                          "location, and nothing else",
                          name, i);
    }
    for (int i = 0; i < s->n_watermarks; i++)
        free(s->watermarks[i].picture_url);
    s->n_watermarks = 0;
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            free(marks[i].picture_url);
        return rc;
    }
    memcpy(s->watermarks, marks, sizeof(marks));
    s->n_watermarks = (int)n;
    return 0;
}

static int apply_scalar(task_spec *s, const spec_field *f, const json_t *v, ferr *err)
{
    char *p = (char *)s + f->offset;
    switch (f->type) {
    case F_STR:
        if (!json_is_string(v))
            return bad_type(err, f->name, "a string");
        return task_str_set((char **)p, json_string_value(v));
    case F_INT:
        if (!json_is_integer(v) || json_integer_value(v) < -2147483647LL ||
            json_integer_value(v) > 2147483647LL)
            return bad_type(err, f->name, "an integer");
        *(int *)p = (int)json_integer_value(v);
        return 0;
    case F_BOOL:
        if (!json_is_boolean(v))
            return bad_type(err, f->name, "true or false");
        *(bool *)p = json_is_true(v);
        return 0;
    case F_TIME:
        if (json_is_null(v)) {
            *(int64_t *)p = 0;
            return 0;
        }
        if (!json_is_string(v) || time_parse_iso(json_string_value(v), (int64_t *)p) != 0)
            return ferr_set(err, FERR_TASK_TIME, f->name,
                            "%s must be a UTC time like 2026-01-31T08:00:00Z", f->name);
        return 0;
    case F_KIND:
        if (!json_is_string(v) ||
            task_source_kind_parse(json_string_value(v), (task_source_kind *)p) != 0)
            return bad_type(err, f->name, "\"live\", \"files\" or \"picture\"");
        return 0;
    default:
        return 0;
    }
}

static int apply_field(task_spec *s, const spec_field *f, const json_t *v, ferr *err)
{
    switch (f->type) {
    case F_URLS:
        return apply_urls(s, v, f->name, err);
    case F_EVENTS:
        return apply_events(s, v, f->name, err);
    case F_MARKS:
        return apply_marks(s, v, f->name, err);
    case F_RAW: {
        if (!json_is_object(v))
            return bad_type(err, f->name, "an object");
        char *text = json_dumps(v, JSON_COMPACT);
        int rc = task_str_set(&s->dialect_extra, text);
        free(text);
        return rc;
    }
    default:
        return apply_scalar(s, f, v, err);
    }
}

static const spec_field *find_field(const char *name)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

int task_spec_apply_json(task_spec *s, const json_t *obj, ferr *err)
{
    if (!json_is_object(obj))
        return ferr_set(err, FERR_MALFORMED, "", "the task must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (!find_field(key))
            return ferr_set(err, FERR_INVALID, key, "unknown field '%s'", key);
    }
    json_object_foreach((json_t *)obj, key, v)
    {
        int rc = apply_field(s, find_field(key), v, err);
        if (rc != 0)
            return rc < 0 && err && err->code ? err->code
                                              : ferr_set(err, FERR_INTERNAL, key, "out of memory");
    }
    return 0;
}

int task_spec_from_json(task_spec *s, const char *text)
{
    task_spec_init(s);
    json_t *o = json_loads(text, 0, NULL);
    if (!o)
        return -1;
    ferr err;
    int rc = task_spec_apply_json(s, o, &err);
    json_decref(o);
    return rc == 0 ? 0 : -1;
}

/* ---------- the whole task ---------- */

static json_t *time_or_null(int64_t ms)
{
    char iso[32];
    return ms ? json_string(time_format_iso(ms, iso, sizeof(iso))) : json_null();
}

static json_t *progress_json(const task_progress *p)
{
    return json_pack(
        "{s:b, s:s, s:s, s:i, s:I, s:I, s:i, s:s, s:I, s:I, s:I, s:f, s:f, s:o, "
        "s:o, s:i, s:s}",
        "active", p->active, "source_url", p->source_url, "source_role", p->source_role,
        "file_index", p->file_index, "offset_ms", (json_int_t)p->offset_ms, "file_duration_ms",
        (json_int_t)p->file_duration_ms, "loops_done", p->loops_done, "next_url", p->next_url,
        "frames", (json_int_t)p->frames, "packets", (json_int_t)p->packets, "bytes",
        (json_int_t)p->bytes, "bitrate_kbps", p->bitrate_kbps, "fps", p->fps, "last_packet_at",
        time_or_null(p->last_packet_ms), "report_at", time_or_null(p->report_ms), "discontinuities",
        p->discontinuities, "last_error", p->last_error);
}

static const char *dialect_name(task_dialect d)
{
    return d == TASK_DIALECT_TENCENT ? "tencent" : d == TASK_DIALECT_ALIBABA ? "alibaba" : "native";
}

json_t *task_json(const task *t, const task_progress *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->id));
    json_t *spec = task_spec_json(&t->spec);
    json_object_update(o, spec);
    json_decref(spec);
    json_object_set_new(o, "api", json_string(dialect_name(t->dialect)));
    json_object_set_new(o, "state", json_string(task_state_name(t->state)));
    json_object_set_new(o, "reason", json_string(t->reason ? t->reason : ""));
    json_object_set_new(o, "last_error", json_string(t->last_error ? t->last_error : ""));
    json_object_set_new(o, "created_at", time_or_null(t->created_ms));
    json_object_set_new(o, "updated_at", time_or_null(t->updated_ms));
    json_object_set_new(o, "started_at", time_or_null(t->started_ms));
    json_object_set_new(o, "exited_at", time_or_null(t->exit_ms));
    if (p)
        json_object_set_new(o, "progress", progress_json(p));
    return o;
}

json_t *task_history_json(const task_history_entry *h, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *e = json_pack("{s:o, s:s, s:s, s:s, s:s}", "at", time_or_null(h[i].at_ms), "from",
                              task_state_name(h[i].from), "to", task_state_name(h[i].to), "reason",
                              h[i].reason, "detail", h[i].detail);
        json_array_append_new(a, e);
    }
    return a;
}

json_t *task_audit_json(const task_audit_line *l, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *names = json_array();
        for (const char *f = l[i].fields; *f;) {
            size_t len = strcspn(f, ",");
            json_array_append_new(names, json_stringn(f, len));
            f += len + (f[len] == ',');
        }
        json_array_append_new(a, json_pack("{s:I, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "seq",
                                           (json_int_t)l[i].seq, "at", time_or_null(l[i].at_ms),
                                           "account", l[i].account, "api", l[i].dialect, "address",
                                           l[i].address, "request_id", l[i].request_id, "action",
                                           l[i].action, "task_id", l[i].task_id, "fields", names));
    }
    return a;
}

json_t *task_callbacks_json(const task_callback_line *l, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        const task_callback_line *c = &l[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:o, s:i, s:o, s:s, s:s}", "id", c->id, "type", c->type,
                         "created_at", time_or_null(c->created_ms), "attempts", c->attempts,
                         c->dead ? "dead_at" : "next_try_at", time_or_null(c->next_ms), "state",
                         c->dead ? "dead" : "pending", "last_error", c->last_error));
    }
    return a;
}
