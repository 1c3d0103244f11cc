/* log.c — leveled logging to stderr, one line per call, safe across threads.
 * The level is process-wide and set once from the config at start. */
#include "common/log.h"
#include "common/redact.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static volatile log_level current_level = LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level level)
{
    current_level = level;
}

int log_parse_level(const char *name, log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_enabled(log_level level)
{
    return level <= current_level;
}

/* Appends text to line as a logfmt value in double quotes: a quote and a backslash are
 * escaped, line breaks and tabs become \n, \r, \t and other control bytes '?', so that an
 * event is always one line, whatever FFmpeg or a peer put in a message. */
static void quote_into(char *line, size_t len, size_t n, const char *text)
{
    if (n + 3 >= len)
        return;
    line[n++] = '"';
    for (; *text && n + 3 < len; text++) {
        unsigned char c = (unsigned char)*text;
        char esc = c == '"'    ? '"'
                   : c == '\\' ? '\\'
                   : c == '\n' ? 'n'
                   : c == '\r' ? 'r'
                   : c == '\t' ? 't'
                               : 0;
        if (esc) {
            line[n++] = '\\';
            line[n++] = esc;
        } else {
            line[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        }
    }
    line[n++] = '"';
    line[n] = '\0';
}

void log_write(log_level level, const char *task_id, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    /* logfmt: ts, level, task (when the line is about one) and msg, one event a line */
    int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[level]);
    if (task_id)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "task=%s ", task_id);
    char msg[2 * sizeof(line)], shown[sizeof(line)]; /* only the redacted text is cut */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Call sites show URLs through REDACT_URL; this catches any other (FFmpeg's, curl's). */
    const char *text = strstr(msg, "://") ? text_redact(msg, shown, sizeof(shown)) : msg;
    if (n + 4 < (int)sizeof(line)) {
        memcpy(line + n, "msg=", 4);
        quote_into(line, sizeof(line), (size_t)n + 4, text);
    }
    fprintf(stderr, "%s\n", line);
}
