/* ctl_view.c — ferryctl's text output: the ls table (id, name, state, source, destination,
 * uptime, bitrate, current file), a task's page and history lines. */
#include "ctl/ctl_view.h"

#include <stdlib.h>
#include <string.h>

#include "common/redact.h"
#include "common/timeutil.h"

#define N_COLS 8
#define CELL_MAX 256

static const char *const col_names[N_COLS] = {
    "ID", "NAME", "STATE", "SOURCE", "DESTINATION", "UPTIME", "BITRATE", "FILE",
};
/* Widest a column gets; a longer cell ends in "...". */
static const int col_max[N_COLS] = {40, 24, 10, 56, 56, 10, 12, 40};

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* A URL as it may be shown: masked unless show_keys. */
static const char *shown_url(const char *url, bool show_keys, char *buf, size_t len)
{
    if (show_keys) {
        snprintf(buf, len, "%s", url);
        return buf;
    }
    return url_redact(url, buf, len);
}

/* "3d04h", "2h05m", "4m09s", "12s". */
static void format_duration(int64_t s, char *buf, size_t len)
{
    if (s >= 86400)
        snprintf(buf, len, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
    else if (s >= 3600)
        snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(buf, len, "%llds", (long long)s);
}

/* Time since started_at while the task is live (running or recovering), else "-". */
static void uptime_cell(const json_t *t, int64_t now_ms, char *buf, size_t len)
{
    const char *state = str(t, "state");
    int64_t at;
    snprintf(buf, len, "-");
    if (strcmp(state, "running") != 0 && strcmp(state, "recovering") != 0)
        return;
    if (time_parse_iso(str(t, "started_at"), &at) != 0)
        return;
    format_duration(now_ms > at ? (now_ms - at) / 1000 : 0, buf, len);
}

static void bitrate_cell(const json_t *progress, char *buf, size_t len)
{
    double kbps = json_number_value(json_object_get(progress, "bitrate_kbps"));
    if (!json_is_true(json_object_get(progress, "active")))
        snprintf(buf, len, "-");
    else if (kbps >= 1000)
        snprintf(buf, len, "%.1f Mb/s", kbps / 1000);
    else
        snprintf(buf, len, "%.0f kb/s", kbps);
}

/* The last path element of a URL, without its query. */
static void file_name(const char *url, char *buf, size_t len)
{
    size_t end = strcspn(url, "?#");
    const char *start = url;
    for (const char *p = url; p < url + end; p++)
        if (*p == '/')
            start = p + 1;
    snprintf(buf, len, "%.*s", (int)(url + end - start), start);
}

/* Playlists: "2/3 b.mp4" (entry, count, name); live tasks: the source playing (main,
 * backup, pad); "-" when no worker runs. */
static void file_cell(const json_t *t, const json_t *progress, char *buf, size_t len)
{
    snprintf(buf, len, "-");
    if (!json_is_true(json_object_get(progress, "active")))
        return;
    if (strcmp(str(t, "source_type"), "files") != 0) {
        const char *role = str(progress, "source_role");
        snprintf(buf, len, "%s", *role ? role : "-");
        return;
    }
    char name[160];
    file_name(str(progress, "source_url"), name, sizeof(name));
    long long idx = json_integer_value(json_object_get(progress, "file_index"));
    size_t n = json_array_size(json_object_get(t, "source_urls"));
    snprintf(buf, len, "%lld/%zu %s", idx + 1, n, name);
}

/* Cuts a cell to max bytes ending in "...", never inside a UTF-8 sequence. */
static void clip(char *cell, int max)
{
    if ((int)strlen(cell) <= max)
        return;
    int cut = max - 3;
    while (cut > 0 && ((unsigned char)cell[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(cell + cut, "...", 4);
}

/* Copies src into a cell of len bytes, clipped to fit. */
static void cell_copy(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n < len) {
        memcpy(dst, src, n + 1);
        return;
    }
    memcpy(dst, src, len - 1);
    dst[len - 1] = '\0';
    clip(dst, (int)len - 1);
}

/* The first source URL, and how many more there are. */
static void source_cell(const json_t *t, bool show_keys, char *buf, size_t len)
{
    const json_t *urls = json_object_get(t, "source_urls");
    char url[REDACT_URL_MAX];
    shown_url(json_string_value(json_array_get(urls, 0)) ?: "", show_keys, url, sizeof(url));
    clip(url, 160);
    if (json_array_size(urls) > 1)
        snprintf(buf, len, "%.160s (+%zu)", url, json_array_size(urls) - 1);
    else
        cell_copy(buf, len, url);
}

static void fill_row(const json_t *t, bool show_keys, int64_t now_ms, char row[N_COLS][CELL_MAX])
{
    const json_t *p = json_object_get(t, "progress");
    char url[REDACT_URL_MAX];
    cell_copy(row[0], CELL_MAX, str(t, "id"));
    cell_copy(row[1], CELL_MAX, *str(t, "name") ? str(t, "name") : "-");
    cell_copy(row[2], CELL_MAX, str(t, "state"));
    source_cell(t, show_keys, row[3], CELL_MAX);
    cell_copy(row[4], CELL_MAX, shown_url(str(t, "destination"), show_keys, url, sizeof(url)));
    uptime_cell(t, now_ms, row[5], CELL_MAX);
    bitrate_cell(p, row[6], CELL_MAX);
    file_cell(t, p, row[7], CELL_MAX);
    for (int c = 0; c < N_COLS; c++)
        clip(row[c], col_max[c]);
}

static void print_row(FILE *out, char *const cells[N_COLS], const int width[N_COLS])
{
    for (int c = 0; c < N_COLS; c++) {
        if (c == N_COLS - 1)
            fprintf(out, "%s\n", cells[c]);
        else
            fprintf(out, "%-*s  ", width[c], cells[c]);
    }
}

void view_table(FILE *out, const json_t *tasks, bool show_keys, int64_t now_ms)
{
    size_t n = json_array_size(tasks);
    char(*rows)[N_COLS][CELL_MAX] = calloc(n ? n : 1, sizeof(*rows));
    int width[N_COLS];
    if (!rows)
        return;
    for (int c = 0; c < N_COLS; c++)
        width[c] = (int)strlen(col_names[c]);
    for (size_t i = 0; i < n; i++) {
        fill_row(json_array_get(tasks, i), show_keys, now_ms, rows[i]);
        for (int c = 0; c < N_COLS; c++)
            if ((int)strlen(rows[i][c]) > width[c])
                width[c] = (int)strlen(rows[i][c]);
    }
    print_row(out, (char *const *)col_names, width);
    for (size_t i = 0; i < n; i++) {
        char *cells[N_COLS];
        for (int c = 0; c < N_COLS; c++)
            cells[c] = rows[i][c];
        print_row(out, cells, width);
    }
    free(rows);
}

/* ---------- one task ---------- */

static void line(FILE *out, const char *label, const char *value)
{
    if (value && *value)
        fprintf(out, "%-20s %s\n", label, value);
}

static void url_line(FILE *out, const char *label, const char *url, bool show_keys)
{
    char buf[REDACT_URL_MAX];
    if (*url)
        line(out, label, shown_url(url, show_keys, buf, sizeof(buf)));
}

static void progress_lines(FILE *out, const json_t *t, const json_t *p, bool show_keys)
{
    char buf[CELL_MAX];
    if (!json_is_true(json_object_get(p, "active")))
        return;
    bitrate_cell(p, buf, sizeof(buf));
    line(out, "bitrate", buf);
    snprintf(buf, sizeof(buf), "%.1f", json_number_value(json_object_get(p, "fps")));
    line(out, "fps", buf);
    snprintf(buf, sizeof(buf), "%lld frames, %lld packets, %lld bytes",
             json_integer_value(json_object_get(p, "frames")),
             json_integer_value(json_object_get(p, "packets")),
             json_integer_value(json_object_get(p, "bytes")));
    line(out, "pushed", buf);
    url_line(out, "playing", str(p, "source_url"), show_keys);
    file_cell(t, p, buf, sizeof(buf));
    line(out, strcmp(str(t, "source_type"), "files") == 0 ? "current file" : "source role", buf);
    line(out, "last packet", str(p, "last_packet_at"));
}

void view_task(FILE *out, const json_t *t, bool show_keys, int64_t now_ms)
{
    char buf[CELL_MAX];
    const json_t *urls = json_object_get(t, "source_urls");
    line(out, "id", str(t, "id"));
    line(out, "name", str(t, "name"));
    snprintf(buf, sizeof(buf), "%s (%s)", str(t, "state"), str(t, "reason"));
    line(out, "state", buf);
    line(out, "source type", str(t, "source_type"));
    for (size_t i = 0; i < json_array_size(urls); i++)
        url_line(out, i ? "" : "source", json_string_value(json_array_get(urls, i)), show_keys);
    url_line(out, "destination", str(t, "destination"), show_keys);
    url_line(out, "backup destination", str(t, "backup_destination"), show_keys);
    url_line(out, "backup source", str(t, "backup_source_url"), show_keys);
    url_line(out, "pad", str(t, "pad_url"), show_keys);
    snprintf(buf, sizeof(buf), "%s .. %s", str(t, "start_time"), str(t, "end_time"));
    line(out, "window", buf);
    uptime_cell(t, now_ms, buf, sizeof(buf));
    line(out, "uptime", strcmp(buf, "-") ? buf : NULL);
    line(out, "started at", str(t, "started_at"));
    line(out, "exited at", str(t, "exited_at"));
    line(out, "last error", str(t, "last_error"));
    url_line(out, "callback", str(t, "callback_url"), show_keys);
    line(out, "comment", str(t, "comment"));
    line(out, "updated at", str(t, "updated_at"));
    progress_lines(out, t, json_object_get(t, "progress"), show_keys);
}

/* ---------- history ---------- */

void view_history(FILE *out, const json_t *entries, const char *id)
{
    if (!id)
        fprintf(out, "%-20s  %-10s  %-10s  %-18s  %s\n", "AT", "FROM", "TO", "REASON", "DETAIL");
    for (size_t i = 0; i < json_array_size(entries); i++) {
        const json_t *h = json_array_get(entries, i);
        if (id)
            fprintf(out, "%s  %s  %s -> %s  %s  %s\n", str(h, "at"), id, str(h, "from"),
                    str(h, "to"), str(h, "reason"), str(h, "detail"));
        else
            fprintf(out, "%-20s  %-10s  %-10s  %-18s  %s\n", str(h, "at"), str(h, "from"),
                    str(h, "to"), str(h, "reason"), str(h, "detail"));
    }
}

/* ---------- audit ---------- */

void view_audit(FILE *out, const json_t *lines)
{
    fprintf(out, "%-24s  %-7s  %-15s  %-8s  %-36s  %s\n", "AT", "API", "ADDRESS", "ACTION", "TASK",
            "FIELDS");
    for (size_t i = 0; i < json_array_size(lines); i++) {
        const json_t *l = json_array_get(lines, i), *fields = json_object_get(l, "fields");
        fprintf(out, "%-24s  %-7s  %-15s  %-8s  %-36s  ", str(l, "at"), str(l, "api"),
                str(l, "address"), str(l, "action"), str(l, "task_id"));
        for (size_t k = 0; k < json_array_size(fields); k++)
            fprintf(out, "%s%s", k ? "," : "", json_string_value(json_array_get(fields, k)));
        fputc('\n', out);
    }
}

void view_nodes(FILE *out, const json_t *nodes)
{
    fprintf(out, "%-20s  %-7s  %-8s  %7s  %5s  %-24s  %s\n", "NODE", "STATE", "DRAINING", "RUNNING",
            "TASKS", "HEARTBEAT", "LABELS");
    for (size_t i = 0; i < json_array_size(nodes); i++) {
        const json_t *n = json_array_get(nodes, i), *labels = json_object_get(n, "labels");
        fprintf(out, "%-20s  %-7s  %-8s  %7lld  %5lld  %-24s  ", str(n, "id"), str(n, "state"),
                json_is_true(json_object_get(n, "draining")) ? "yes" : "no",
                json_integer_value(json_object_get(n, "running")),
                json_integer_value(json_object_get(n, "tasks")), str(n, "last_heartbeat"));
        for (size_t k = 0; k < json_array_size(labels); k++)
            fprintf(out, "%s%s", k ? "," : "", json_string_value(json_array_get(labels, k)));
        fputc('\n', out);
    }
}

void view_json(FILE *out, const json_t *doc, bool compact)
{
    json_dumpf(doc, out, compact ? JSON_COMPACT : JSON_INDENT(2));
    fputc('\n', out);
}
