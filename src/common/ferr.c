/* ferr.c — the message table of ferry's typed errors and the helper that fills one.
 * Names here are the native API's stable error codes. */
#include "common/ferr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
} names[] = {
    {FERR_OK, "ok"},
    {FERR_INVALID, "invalid_argument"},
    {FERR_MISSING, "missing_argument"},
    {FERR_TASK_TIME, "invalid_task_time"},
    {FERR_SOURCE_URL, "invalid_source_url"},
    {FERR_DST_URL, "invalid_destination_url"},
    {FERR_BACKUP_DST_URL, "invalid_backup_destination_url"},
    {FERR_CALLBACK_URL, "invalid_callback_url"},
    {FERR_WATERMARK, "invalid_watermark"},
    {FERR_NOT_FOUND, "not_found"},
    {FERR_EXISTS, "already_exists"},
    {FERR_QUOTA, "quota_exceeded"},
    {FERR_STATE, "invalid_state"},
    {FERR_TOO_LARGE, "payload_too_large"},
    {FERR_MALFORMED, "malformed_request"},
    {FERR_UNAUTHORIZED, "unauthorized"},
    {FERR_INTERNAL, "internal"},
    {FERR_UNAVAILABLE, "unavailable"},
    {FERR_THROTTLED, "rate_limited"},
    {FERR_FORBIDDEN, "forbidden"},
};

int ferr_set(ferr *err, int code, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return code;
}

void ferr_clear(ferr *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

const char *ferr_name(int code)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].code == code)
            return names[i].name;
    return "internal";
}
