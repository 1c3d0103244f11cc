/* notify_policy.c — the rules of delivery as pure functions: the retry schedule, which
 * and the HMAC-SHA256 signature of native payloads (addresses: common/addr_policy.h). */
#include "notify/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

int64_t notify_retry_at(const config *cfg, int attempts, int64_t now_ms, bool *dead)
{
    *dead = attempts > cfg->callback_retry_count;
    return now_ms + (int64_t)cfg->callback_retry_interval_s * 1000;
}

/* ---------- signatures ---------- */

void notify_sign(const char *secret, const char *body, size_t len, char out[72])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, mac, &n);
    int w = snprintf(out, 72, "sha256=");
    for (unsigned i = 0; i < n && w + 2 < 72; i++)
        w += snprintf(out + w, 72 - (size_t)w, "%02x", mac[i]);
}
