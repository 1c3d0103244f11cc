/* fallback.c — the main / backup / pad choice of a live task and the schedule of the main
 * source's re-checks. See fallback.h. */
#include "engine/fallback.h"

#include <string.h>

#define RECHECK_MIN_MS 1000

void fallback_init(fallback *f, bool backup, bool backup_is_file, bool pad, int64_t recheck_ms)
{
    memset(f, 0, sizeof(*f));
    f->have[FB_MAIN] = true;
    f->recheck_ms = recheck_ms < RECHECK_MIN_MS ? RECHECK_MIN_MS : recheck_ms;
    fallback_configure(f, backup, backup_is_file, pad);
}

bool fallback_configure(fallback *f, bool backup, bool backup_is_file, bool pad)
{
    f->have[FB_BACKUP] = backup;
    f->is_file[FB_BACKUP] = backup && backup_is_file;
    f->have[FB_PAD] = pad;
    f->is_file[FB_PAD] = pad;
    if (f->have[f->cur])
        return false;
    fallback_main_back(f);
    return true;
}

bool fallback_on_alternate(const fallback *f)
{
    return f->cur != FB_MAIN;
}

bool fallback_has_alternates(const fallback *f)
{
    return f->have[FB_BACKUP] || f->have[FB_PAD];
}

int64_t fallback_recheck_wait_ms(const fallback *f)
{
    int shift = f->main_flaps < 5 ? f->main_flaps : 5;
    return f->recheck_ms << shift;
}

/* The main source failed: a flap when it came back only a moment ago. */
static void fallback_main_failed(fallback *f, int64_t now_ms)
{
    bool soon = f->main_back_ms && now_ms - f->main_back_ms < FALLBACK_STABLE_MS;
    f->main_flaps = soon ? f->main_flaps + 1 : 0;
}

bool fallback_failed(fallback *f, int64_t now_ms)
{
    if (f->cur == FB_MAIN)
        fallback_main_failed(f, now_ms);
    for (int s = (int)f->cur + 1; s < FB_SLOTS; s++) {
        if (f->have[s]) {
            f->cur = (fb_slot)s;
            if (!f->next_check_ms)
                f->next_check_ms = now_ms + fallback_recheck_wait_ms(f);
            return true;
        }
    }
    fallback_main_back(f);
    return false;
}

void fallback_opened(fallback *f, int64_t now_ms)
{
    if (f->cur == FB_MAIN)
        f->next_check_ms = 0;
    else if (!f->next_check_ms)
        f->next_check_ms = now_ms + fallback_recheck_wait_ms(f);
}

bool fallback_check_due(const fallback *f, int64_t now_ms, bool pass_ended)
{
    if (f->cur == FB_MAIN)
        return false;
    bool pass_check = pass_ended && f->is_file[f->cur] &&
                      now_ms - f->last_check_ms >= RECHECK_MIN_MS;
    return pass_check || now_ms >= f->next_check_ms;
}

void fallback_check_started(fallback *f, int64_t now_ms)
{
    f->last_check_ms = now_ms;
}

void fallback_check_failed(fallback *f, int64_t now_ms)
{
    if (f->cur != FB_MAIN)
        f->next_check_ms = now_ms + fallback_recheck_wait_ms(f);
}

void fallback_main_back(fallback *f)
{
    f->cur = FB_MAIN;
    f->next_check_ms = 0;
}

void fallback_main_returned(fallback *f, int64_t now_ms)
{
    fallback_main_back(f);
    f->main_back_ms = now_ms;
}

const char *fallback_slot_name(fb_slot s)
{
    static const char *const names[FB_SLOTS] = {"main", "backup", "pad"};
    return (unsigned)s < FB_SLOTS ? names[s] : "?";
}
