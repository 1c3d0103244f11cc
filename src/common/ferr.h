/* ferr.h — ferry's typed errors: one negative code per kind of failure plus a message.
 * Every part returns these; each API dialect maps a code to its own error exactly once. */
#ifndef FERRY_FERR_H
#define FERRY_FERR_H

typedef enum {
    FERR_OK = 0,
    FERR_INVALID = -1,        /* a parameter has a bad value (generic) */
    FERR_MISSING = -2,        /* a required parameter is absent */
    FERR_TASK_TIME = -3,      /* StartTime/EndTime window rules */
    FERR_SOURCE_URL = -4,     /* source URL list or scheme */
    FERR_DST_URL = -5,        /* destination URL */
    FERR_BACKUP_DST_URL = -6, /* second destination */
    FERR_CALLBACK_URL = -7,   /* callback URL */
    FERR_WATERMARK = -8,      /* watermark list */
    FERR_NOT_FOUND = -9,      /* no such task for this account */
    FERR_EXISTS = -10,        /* id or destination already taken */
    FERR_QUOTA = -11,         /* the account's task quota is used up */
    FERR_STATE = -12,         /* not allowed in the task's current state */
    FERR_TOO_LARGE = -13,     /* request body over the limit */
    FERR_MALFORMED = -14,     /* unparsable request (JSON syntax) */
    FERR_UNAUTHORIZED = -15,  /* missing or wrong credentials */
    FERR_INTERNAL = -16,      /* store or system failure */
    FERR_UNAVAILABLE = -17,   /* capacity exhausted */
    FERR_THROTTLED = -18,     /* too many requests (or failed ones) from this caller */
    FERR_FORBIDDEN = -19,     /* the caller's account may not do this (an operator's action) */
} ferr_code;

typedef struct ferr {
    int code;       /* ferr_code */
    char field[64]; /* the offending parameter in the model's terms, "" when none */
    char msg[384];  /* human-readable, complete sentence */
} ferr;

/* Fills err (if not NULL) and returns code, so callers can `return ferr_set(...)`. */
int ferr_set(ferr *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void ferr_clear(ferr *err);
/* Stable snake_case name of a code ("invalid_argument", "not_found", ...). */
const char *ferr_name(int code);

#endif
