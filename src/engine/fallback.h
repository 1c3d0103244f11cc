/* fallback.h — which source a live task plays: the main one, its backup (live or a file) or
 * the pad file, and when the main one is checked again. Pure decisions, no I/O. */
#ifndef FERRY_ENGINE_FALLBACK_H
#define FERRY_ENGINE_FALLBACK_H

#include <stdbool.h>
#include <stdint.h>

/* In the order they are tried: the main source, then the alternates. */
typedef enum { FB_MAIN = 0, FB_BACKUP = 1, FB_PAD = 2, FB_SLOTS = 3 } fb_slot;

typedef struct fallback {
    bool have[FB_SLOTS];    /* configured (the main one always is) */
    bool is_file[FB_SLOTS]; /* played through at real-time pace, then played again */
    fb_slot cur;            /* playing, or the one to open next */
    int64_t recheck_ms;     /* on an alternate: how often the main source is tried */
    int64_t next_check_ms;  /* monotonic time of the next try; 0 = not on an alternate */
    int64_t last_check_ms;  /* when the latest try started */
    int64_t main_back_ms;   /* when the main source last came back after a try */
    int main_flaps;         /* times in a row it failed again soon after coming back */
} fallback;

/* The main source that fails again within this long of coming back is flapping: its next
 * tries come less often (the interval doubles each time, up to 32 times). */
#define FALLBACK_STABLE_MS 30000

/* The alternates the task has; recheck_ms below 1000 is 1000. */
void fallback_init(fallback *f, bool backup, bool backup_is_file, bool pad, int64_t recheck_ms);
/* The alternates changed (a live modification): keeps the current slot when it still
 * exists, else goes back to the main source (the result is true: reopen it). */
bool fallback_configure(fallback *f, bool backup, bool backup_is_file, bool pad);
bool fallback_on_alternate(const fallback *f);
bool fallback_has_alternates(const fallback *f);
/* The current source failed to open or to read: true with cur set to the next alternate to
 * open now; false when none is left (cur is back to the main source: a failure episode). */
bool fallback_failed(fallback *f, int64_t now_ms);
/* The current source opened. On an alternate the main source is first tried recheck_ms
 * later. */
void fallback_opened(fallback *f, int64_t now_ms);
/* On an alternate: whether the main source should be tried now. pass_ended: a file
 * alternate has just played through (the main source is tried after each pass too). */
bool fallback_check_due(const fallback *f, int64_t now_ms, bool pass_ended);
/* A try of the main source starts now (tries after a pass come at most once a second). */
void fallback_check_started(fallback *f, int64_t now_ms);
/* The try found the main source not back: the next one comes recheck_ms later. */
void fallback_check_failed(fallback *f, int64_t now_ms);
/* The main source is back and plays again. */
void fallback_main_back(fallback *f);
/* The same, found back by a try at now_ms (a failure soon after is a flap). */
void fallback_main_returned(fallback *f, int64_t now_ms);
/* How long after a failure of the main source it is first tried again. */
int64_t fallback_recheck_wait_ms(const fallback *f);
const char *fallback_slot_name(fb_slot s);

#endif
