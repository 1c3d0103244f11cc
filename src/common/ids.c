/* ids.c — random identifiers for tasks and requests, and the task id syntax rule.
 * Both clouds' id alphabets fit in [A-Za-z0-9_-], at most 55 characters. */
#include "common/ids.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void random_bytes(unsigned char *b, size_t n)
{
    if (RAND_bytes(b, (int)n) != 1) {
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(b, 1, n, f) != n)
            memset(b, 0x5a, n);
        if (f)
            fclose(f);
    }
}

void id_uuid(char out[ID_UUID_LEN])
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, ID_UUID_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

void id_random_hex(char *out, size_t n)
{
    unsigned char b[64];
    if (n > sizeof(b))
        n = sizeof(b);
    random_bytes(b, n);
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    out[2 * n] = '\0';
}

void id_task_alias(const char *account, const char *id, char out[ID_TASK_STORED_MAX])
{
    uint32_t h = 2166136261u; /* FNV-1a: it only has to tell the node's accounts apart */
    for (const char *s = account; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    snprintf(out, ID_TASK_STORED_MAX, "%.55s.%07x", id, (unsigned)(h & 0xfffffff));
}

void id_task_public(const char *stored, char out[ID_TASK_STORED_MAX])
{
    snprintf(out, ID_TASK_STORED_MAX, "%.*s", (int)strcspn(stored, "."), stored);
}

int id_is_valid_task_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 55)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}
