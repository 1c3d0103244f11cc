/* file_cache.c — the VodLocalMode download cache: names from a hash of account and URL,
 * libcurl downloads to NAME.part.N renamed when complete, mtime as the LRU clock, eviction by size.
 */
#include "engine/file_cache.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/addr_policy.h"

#define STALE_PART_S 3600    /* a .part file this old was left by a crash */
#define CONNECT_TIMEOUT_S 10 /* download connect timeout */
#define LOW_SPEED_BYTES 1024 /* slower than this ... */
#define LOW_SPEED_S 15       /* ... for this long ends the download */

static pthread_mutex_t evict_lock = PTHREAD_MUTEX_INITIALIZER; /* evict + rename, one at a time */
static atomic_uint part_serial;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---------- names ---------- */

/* The cache name of account's copy of url: 128 bits of SHA-256 over both, in hex. Another
 * account's copy of the same URL has another name, so a download one account's policy let
 * through never serves an account whose policy refuses it. */
static void cache_key(const char *account, const char *url, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(ctx, account, strlen(account) + 1) && /* the NUL separates */
              EVP_DigestUpdate(ctx, url, strlen(url)) && EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    if (!ok)
        memset(md, 0, sizeof(md));
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The URL path's extension (".mp4"), without query or fragment; "" when none fits. */
static void url_extension(const char *url, char *ext, size_t len)
{
    size_t end = strcspn(url, "?#");
    const char *dot = NULL;
    for (size_t i = 0; i < end; i++) {
        if (url[i] == '/')
            dot = NULL;
        else if (url[i] == '.')
            dot = url + i;
    }
    size_t n = dot ? (size_t)(url + end - dot) : 0;
    if (n < 2 || n > 6 || n >= len)
        n = 0;
    memcpy(ext, dot ? dot : "", n);
    ext[n] = '\0';
}

bool file_cache_accepts(const char *url)
{
    char ext[8];
    url_extension(url, ext, sizeof(ext));
    return strcasecmp(ext, ".m3u8") != 0 && strcasecmp(ext, ".m3u") != 0;
}

static int mkdir_p(const char *dir)
{
    char buf[1024];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---------- eviction ---------- */

typedef struct cache_entry {
    char name[256];
    int64_t size;
    int64_t used_ns; /* mtime: downloads and hits a few ms apart must not tie */
} cache_entry;

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The oldest complete file other than keep; removes stale .part files on the way. */
static bool cache_scan(const char *dir, const char *keep, int64_t *total, cache_entry *oldest)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    *total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[1300];
        struct stat st;
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(oldest->name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (strstr(e->d_name, ".part.")) {
            if (time(NULL) - st.st_mtime > STALE_PART_S)
                unlink(path);
            continue;
        }
        *total += st.st_size;
        if (strcmp(e->d_name, keep) != 0 && (!found || mtime_ns(&st) < oldest->used_ns)) {
            snprintf(oldest->name, sizeof(oldest->name), "%s", e->d_name);
            oldest->size = st.st_size;
            oldest->used_ns = mtime_ns(&st);
            found = true;
        }
    }
    closedir(d);
    return found;
}

/* Under evict_lock: removes the least recently used files until reserve more bytes fit,
 * never keep itself. A file a worker has open stays readable until it closes it. */
static void cache_evict(const file_cache_conf *conf, const char *keep, int64_t reserve)
{
    int64_t total;
    cache_entry old;
    while (cache_scan(conf->dir, keep, &total, &old) && total + reserve > conf->max_bytes) {
        char path[1300];
        snprintf(path, sizeof(path), "%s/%s", conf->dir, old.name);
        if (unlink(path) != 0)
            break;
    }
}

/* ---------- download ---------- */

typedef struct download {
    const char *allow;
    char refused[160]; /* why a connect was refused, "" when none was */
    FILE *f;
    int64_t written, max_bytes, file_max;
    file_cache_cancel_fn cancel;
    void *cancel_ctx;
    bool too_big, over_file_max;
} download;

static size_t download_write(char *data, size_t size, size_t n, void *opaque)
{
    download *dl = opaque;
    size_t len = size * n;
    if (dl->file_max > 0 && dl->written + (int64_t)len > dl->file_max) {
        dl->over_file_max = true;
        return 0;
    }
    if (dl->written + (int64_t)len > dl->max_bytes) {
        dl->too_big = true;
        return 0;
    }
    dl->written += (int64_t)len;
    return fwrite(data, 1, len, dl->f);
}

static int download_progress(void *opaque, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                             curl_off_t un)
{
    download *dl = opaque;
    return dl->cancel && dl->cancel(dl->cancel_ctx) ? 1 : 0;
}

/* Every connect of a download, redirects too, goes to an address the policy allows: the
 * one libcurl resolved and is about to use. */
static curl_socket_t download_socket(void *opaque, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    download *dl = opaque;
    if (!addr_sockaddr_allowed(&a->addr, dl->allow, "source_allow", dl->refused,
                               sizeof(dl->refused)))
        return CURL_SOCKET_BAD;
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static void download_setup(CURL *c, const char *url, download *dl, char *curl_err)
{
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, download_socket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, dl);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* no proxy from the environment: it would be
                                                the address checked */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"); /* never file: or others */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_BYTES);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)LOW_SPEED_S);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, download_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, dl);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, download_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, dl);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    if (dl->file_max > 0) /* a declared Content-Length over it ends the download unread */
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)dl->file_max);
}

/* Downloads url into tmp; 0 or -1 with err. */
static int download_to(const char *url, const char *tmp, download *dl, char *err, size_t errlen)
{
    dl->f = fopen(tmp, "wb");
    if (!dl->f) {
        snprintf(err, errlen, "cache: create %s: %s", tmp, strerror(errno));
        return -1;
    }
    pthread_once(&curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    char curl_err[CURL_ERROR_SIZE] = "";
    CURLcode rc = CURLE_FAILED_INIT;
    if (c) {
        download_setup(c, url, dl, curl_err);
        rc = curl_easy_perform(c);
        curl_easy_cleanup(c);
    }
    bool closed = fclose(dl->f) == 0;
    if (rc == CURLE_OK && closed)
        return 0;
    unlink(tmp);
    if (dl->over_file_max || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(err, errlen, "cache: download: the file is larger than %lld MiB (download_max_mb)",
                 (long long)(dl->file_max >> 20));
        return FILE_CACHE_TOO_BIG;
    }
    if (dl->refused[0])
        snprintf(err, errlen, "cache: download: %s", dl->refused);
    else if (dl->too_big)
        snprintf(err, errlen, "cache: the file is larger than the cache (%lld bytes)",
                 (long long)dl->max_bytes);
    else
        snprintf(err, errlen, "cache: download: %s",
                 curl_err[0]      ? curl_err
                 : rc != CURLE_OK ? curl_easy_strerror(rc)
                                  : "write failed");
    return -1;
}

int file_cache_get(const file_cache_conf *conf, const char *url, file_cache_cancel_fn cancel,
                   void *cancel_ctx, char *path, size_t pathlen, char *err, size_t errlen)
{
    char ext[8], key[33], name[64];
    url_extension(url, ext, sizeof(ext));
    cache_key(conf->account ? conf->account : "", url, key);
    snprintf(name, sizeof(name), "%s%s", key, ext);
    if (snprintf(path, pathlen, "%s/%s", conf->dir, name) >= (int)pathlen) {
        snprintf(err, errlen, "cache: the path is too long");
        return -1;
    }
    if (access(path, R_OK) == 0) {
        utimensat(AT_FDCWD, path, NULL, 0); /* the LRU clock */
        return 0;
    }
    if (mkdir_p(conf->dir) != 0) {
        snprintf(err, errlen, "cache: mkdir %s: %s", conf->dir, strerror(errno));
        return -1;
    }
    char tmp[1300];
    snprintf(tmp, sizeof(tmp), "%s.part.%d.%u", path, (int)getpid(),
             atomic_fetch_add(&part_serial, 1));
    download dl = {.max_bytes = conf->max_bytes,
                   .file_max = conf->file_max,
                   .cancel = cancel,
                   .cancel_ctx = cancel_ctx,
                   .allow = conf->allow};
    int got = download_to(url, tmp, &dl, err, errlen);
    if (got != 0)
        return got;
    /* room first, then the rename, in one step: the complete files never pass the bound */
    pthread_mutex_lock(&evict_lock);
    cache_evict(conf, name, dl.written);
    int rc = rename(tmp, path);
    pthread_mutex_unlock(&evict_lock);
    if (rc != 0) {
        snprintf(err, errlen, "cache: rename: %s", strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
