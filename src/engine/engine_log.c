/* engine_log.c — FFmpeg's log routed to ferry's (each line names the worker's task), the
 * thread's first FFmpeg error line and AVERROR texts: the words of a task's error chain. */
#include "engine/engine_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/log.h>

#include "common/log.h"

static _Thread_local const char *log_task_id;
static _Thread_local int log_print_prefix = 1;

void engine_log_bind_task(const char *task_id)
{
    log_task_id = task_id;
}

const char *engine_log_task(void)
{
    return log_task_id;
}

static log_level engine_log_level_of(int av_level)
{
    if (av_level <= AV_LOG_FATAL)
        return LOG_WARN;
    return av_level <= AV_LOG_ERROR ? LOG_INFO : LOG_DEBUG;
}

/* The first FFmpeg error line on this thread since the last clear, without its
 * "[tcp @ 0x..]" prefix: the root cause often says more than the error code
 * ("Failed to resolve hostname ..."). */
static _Thread_local char last_av_error[256];

void engine_av_error_clear(void)
{
    last_av_error[0] = '\0';
}

const char *engine_av_error_last(void)
{
    return last_av_error;
}

void engine_av_error_set(const char *line)
{
    text_redact(line, last_av_error, sizeof(last_av_error));
}

static void strip_newlines(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

void engine_av_log(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > av_log_get_level())
        return;
    if (level <= AV_LOG_ERROR && !last_av_error[0]) {
        va_list copy;
        va_copy(copy, vl);
        int no_prefix = 0;
        char raw[1024];
        av_log_format_line2(avcl, level, fmt, copy, raw, sizeof(raw), &no_prefix);
        va_end(copy);
        strip_newlines(raw);
        text_redact(raw, last_av_error, sizeof(last_av_error)); /* it joins error chains */
    }
    if (!log_enabled(engine_log_level_of(level)))
        return;
    char line[1024];
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof(line), &log_print_prefix);
    strip_newlines(line);
    if (line[0])
        log_write(engine_log_level_of(level), log_task_id, "ffmpeg: %s", line);
}

const char *engine_averror(int averror, char *buf, size_t len)
{
    if (av_strerror(averror, buf, len) < 0)
        snprintf(buf, len, "error %d", averror);
    return buf;
}
