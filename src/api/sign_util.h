/* sign_util.h — helpers both cloud dialects' signature checks share: hex, SHA-256, HMAC,
 * constant-time compare, header lookup and the fields of an "Authorization" value. */
#ifndef FERRY_API_SIGN_UTIL_H
#define FERRY_API_SIGN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "api/api_internal.h"

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void sign_hex_encode(const unsigned char *in, size_t n, char *out);
/* Lowercase hex SHA-256 of data. */
void sign_sha256_hex(const void *data, size_t len, char out[65]);
/* HMAC(md, key, msg) into out; its length, or 0 on failure. */
unsigned sign_hmac(const EVP_MD *md, const void *key, size_t klen, const char *msg,
                   unsigned char out[EVP_MAX_MD_SIZE]);
/* Equal lengths and equal bytes, compared in constant time. */
bool sign_same_secret(const char *a, const char *b);
/* The value of header name (case-insensitive; "" for a NULL value), or NULL. */
const char *sign_find_header(const api_kv *h, int n, const char *name);
/* True when the ';'-separated list names name. */
bool sign_lists_header(const char *list, const char *name);

/* Parses "SCHEME Credential=C, SignedHeaders=H, Signature=HEX" (leading spaces, spaces
 * after each comma and after HEX allowed) into cred, headers and signature: 0, or -1 unless
 * every field is there, non-empty and fits, and HEX is 64 lowercase hex digits. */
int sign_parse_authorization(const char *value, const char *scheme, char *cred, size_t clen,
                             char *headers, size_t hlen, char signature[65]);

/* sign_nonce.c: records (key_id, nonce) seen at monotonic second now_s; false when it was
 * already seen in the last 2 * ALI_MAX_SKEW_S seconds (a replay). Bounded memory;
 * thread-safe. Both dialects use it: Alibaba's SignatureNonce, Tencent's legacy Nonce and
 * the action a TC3 signature was first used for. */
bool sign_nonce_fresh(const char *key_id, const char *nonce, int64_t now_s);
void sign_nonce_reset(void); /* forgets every nonce (tests) */

#endif
