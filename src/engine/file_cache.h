/* file_cache.h — VodLocalMode: playlist files downloaded once into a bounded local cache
 * (least recently used evicted) and played from disk; a partial download is never played. */
#ifndef FERRY_ENGINE_FILE_CACHE_H
#define FERRY_ENGINE_FILE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct file_cache_conf {
    const char *dir;     /* the cache directory, created on demand */
    int64_t max_bytes;   /* total size the cache keeps after a download */
    int64_t file_max;    /* one download larger than this is refused (download_max_mb) */
    const char *allow;   /* special addresses a download may reach (addr_policy.h), CIDRs */
    const char *account; /* whose copy: accounts never share one (their policies differ) */
} file_cache_conf;

/* Returns true when the download should end (the worker stops). */
typedef bool (*file_cache_cancel_fn)(void *ctx);

/* Whether url names a single file the cache can hold (an HLS playlist is not one). */
bool file_cache_accepts(const char *url);
/* Fills path with a complete local copy of url: cached before (then marked recently used)
 * or downloaded now (to a temporary name; when complete, the least recently used files are
 * evicted until it fits in max_bytes, then it is renamed into place). Returns 0, -1 with
 * err saying why (the caller then streams the URL), or FILE_CACHE_TOO_BIG when the file is
 * larger than file_max (err names the limit; the file must not be played at all). */
#define FILE_CACHE_TOO_BIG (-2)
int file_cache_get(const file_cache_conf *conf, const char *url, file_cache_cancel_fn cancel,
                   void *cancel_ctx, char *path, size_t pathlen, char *err, size_t errlen);

#endif
