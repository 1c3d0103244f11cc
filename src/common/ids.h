/* ids.h — identifiers: random task ids (UUID v4 text) and request ids.
 * Randomness comes from OpenSSL's CSPRNG. */
#ifndef FERRY_IDS_H
#define FERRY_IDS_H

#include <stddef.h>

#define ID_UUID_LEN 37 /* 36 characters and the NUL */

/* Writes a lowercase UUID v4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"). */
void id_uuid(char out[ID_UUID_LEN]);
/* Writes n random bytes as 2n lowercase hex characters plus NUL (out has 2n+1 bytes). */
void id_random_hex(char *out, size_t n);
/* True when s is a valid task id: 1..55 characters of letters, digits, '_' and '-'. */
int id_is_valid_task_id(const char *s);

/* Task ids are unique per account. Stored ids are unique on the node, so a chosen id that
 * another account already holds is stored under an alias: the id, '.', and 7 hex digits of
 * the account's name (63 characters at most). An API shows only the part before the '.'. */
#define ID_TASK_STORED_MAX 64
void id_task_alias(const char *account, const char *id, char out[ID_TASK_STORED_MAX]);
/* The id an account sees of a stored id: out = stored up to any '.'. */
void id_task_public(const char *stored, char out[ID_TASK_STORED_MAX]);

#endif
