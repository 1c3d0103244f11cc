/* mark_fetch.h — the pictures of a relay's watermarks, fetched on a helper thread through the
 * picture source's guarded fetch, so the worker keeps relaying while they download. */
#ifndef FERRY_ENGINE_MARK_FETCH_H
#define FERRY_ENGINE_MARK_FETCH_H

#include <stdbool.h>

#include "engine/engine_internal.h"

typedef struct mark_fetch mark_fetch;

/* Starts fetching urls[0..n-1] (n <= TASK_MAX_WATERMARKS; NULL entries are skipped) with the
 * timeouts, address policy and byte budget of base (its url and interrupt are the fetch's
 * own); each picture has timeout_us. A stop of w ends it. NULL when no thread could start. */
mark_fetch *mark_fetch_start(char *const *urls, int n, const source_open_args *base,
                             const engine_worker *w, int64_t timeout_us, const char *task_id);
bool mark_fetch_done(const mark_fetch *f);
/* Waits for it and frees f: images[i] is the picture of urls[i], or NULL with errs[i] set. */
void mark_fetch_take(mark_fetch *f, AVFrame **images, char (*errs)[ENGINE_ERR_MAX]);
/* Ends the fetch at once and frees f and what it fetched. NULL is fine. */
void mark_fetch_drop(mark_fetch *f);

#endif
