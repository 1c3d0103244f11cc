/* playlist.h — the arithmetic of a file playlist: which entry and loop come next, where the
 * first loop starts, when the loops are done and when every entry has failed. Pure, no I/O. */
#ifndef FERRY_ENGINE_PLAYLIST_H
#define FERRY_ENGINE_PLAYLIST_H

#include <stdbool.h>
#include <stdint.h>

typedef struct playlist {
    int n;                   /* entries, >= 1 */
    int loop_count;          /* total plays of the list: -1 = until stopped, >= 1 */
    int index;               /* the current entry, 0-based */
    int loops_done;          /* complete plays of the list */
    bool started;            /* the current entry is not the first loop's start entry */
    int64_t start_offset_ms; /* where the first loop's start entry begins */
    int failures_in_row;     /* entries that failed since the last one that played */
    bool any_played;         /* some entry has played since playlist_init */
    bool done;               /* the loops are done: nothing comes next */
} playlist;

/* file_index outside 0..n-1 becomes 0; loop_count 0 or below -1 means once; offset_s < 0 is 0. */
void playlist_init(playlist *p, int n, int loop_count, int file_index, int offset_s);
/* Where the current entry starts playing: the offset on the first loop's start entry, else 0. */
int64_t playlist_offset_ms(const playlist *p);
/* The entry after the current one, or -1 when the loops end with the current one. */
int playlist_peek_next(const playlist *p);
/* The current entry ended: played (true) or failed (false). Moves on to the next entry;
 * returns false when the loops are done (p->done). */
bool playlist_advance(playlist *p, bool played);
/* A whole pass of the list has failed without one entry playing, or the loops ended
 * without any entry playing: the task cannot go on. */
bool playlist_all_failed(const playlist *p);

#endif
