/* ctl_conf.h — where ferryctl finds ferryd and its token: flags, then the environment,
 * then ferryd's own config file and data dir (the token file ferryd writes). */
#ifndef FERRY_CTL_CONF_H
#define FERRY_CTL_CONF_H

#include <stddef.h>

#include "ctl/ctl.h"

#define CTL_URL_MAX 512
#define CTL_TOKEN_MAX 256

typedef struct ctl_target {
    char base[CTL_URL_MAX];            /* http://host:port, no trailing slash */
    char token[CTL_TOKEN_MAX];         /* "" when none was found */
    char token_from[CTL_URL_MAX + 32]; /* where the token came from, or where it was looked for */
} ctl_target;

/* Resolves the address and the token of a (order in ctl_help_main). Returns CTL_OK, or
 * CTL_USAGE / CTL_UNAUTHORIZED after printing why. */
int ctl_target_resolve(const ctl_args *a, ctl_target *t);

#endif
