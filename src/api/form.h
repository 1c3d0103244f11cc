/* form.h — name=value pairs of application/x-www-form-urlencoded text (query strings and
 * form bodies), decoded; shared by the cloud dialects. Pure functions, no I/O. */
#ifndef FERRY_API_FORM_H
#define FERRY_API_FORM_H

#include <stddef.h>

/* One decoded name=value pair; both heap-owned. */
typedef struct form_param {
    char *key;
    char *value;
} form_param;

/* The pairs in arrival order. A zeroed struct is an empty list. */
typedef struct form_params {
    int n, cap;
    form_param *v;
} form_params;

/* Appends the pairs of text: '+' is a space, %XX a byte. Returns 0, or -1 with a reason in
 * why (bad escape, NUL byte, empty name, too many pairs, a name given twice, out of memory). */
int form_decode(form_params *out, const char *text, size_t len, char *why, size_t whylen);
void form_free(form_params *p);
/* The value of name (compared exactly), or NULL. */
const char *form_get(const form_params *p, const char *name);

#endif
