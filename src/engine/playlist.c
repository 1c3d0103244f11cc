/* playlist.c — the playlist cursor: entry and loop order, the first loop's start entry and
 * offset, loop counting and the "every entry failed" rule. See playlist.h. */
#include "engine/playlist.h"

#include <string.h>

void playlist_init(playlist *p, int n, int loop_count, int file_index, int offset_s)
{
    memset(p, 0, sizeof(*p));
    p->n = n > 0 ? n : 1;
    p->loop_count = loop_count == -1 || loop_count >= 1 ? loop_count : 1;
    p->index = file_index >= 0 && file_index < p->n ? file_index : 0;
    p->start_offset_ms = offset_s > 0 ? (int64_t)offset_s * 1000 : 0;
}

int64_t playlist_offset_ms(const playlist *p)
{
    return p->started ? 0 : p->start_offset_ms;
}

/* The loop the entry after the current one belongs to ends the list. */
static bool playlist_last_of_loops(const playlist *p)
{
    bool wraps = p->index + 1 >= p->n;
    return wraps && p->loop_count != -1 && p->loops_done + 1 >= p->loop_count;
}

int playlist_peek_next(const playlist *p)
{
    if (p->done || playlist_last_of_loops(p))
        return -1;
    return (p->index + 1) % p->n;
}

bool playlist_advance(playlist *p, bool played)
{
    if (p->done)
        return false;
    if (played) {
        p->failures_in_row = 0;
        p->any_played = true;
    } else {
        p->failures_in_row++;
    }
    p->started = true;
    if (playlist_last_of_loops(p)) {
        p->loops_done++;
        p->done = true;
        return false;
    }
    if (++p->index >= p->n) {
        p->index = 0;
        p->loops_done++;
    }
    return true;
}

bool playlist_all_failed(const playlist *p)
{
    return p->failures_in_row >= p->n || (p->done && !p->any_played);
}
