/* sign_util.h — helpers both cloud dialects' signature checks share: hex, SHA-256, HMAC,
 * constant-time compare, header lookup and the fields of an "Authorization" value. */
#ifndef FERRY_API_SIGN_UTIL_H
#define FERRY_API_SIGN_UTIL_H

#include <stdbool.h>
#include <stddef.h>

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

/* Parsing "SCHEME Credential=...,SignedHeaders=...,Signature=HEX": */
/* The text after scheme, a space and any more spaces (leading spaces allowed), or NULL. */
const char *sign_after_scheme(const char *value, const char *scheme);
/* Copies the text after prefix up to stop (or the end) into out and moves *p to stop;
 * -1 if absent, empty or too long. */
int sign_take_field(const char **p, const char *prefix, char stop, char *out, size_t len);
/* Steps *p over the separator at *p and the spaces after it. */
void sign_next_field(const char **p);
/* Takes "Signature=HEX" (trailing spaces dropped); -1 unless HEX is 64 lowercase hex digits. */
int sign_take_signature(const char **p, char out[65]);

#endif
