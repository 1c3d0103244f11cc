/* ctl.h — what every part of ferryctl shares: the exit codes scripts rely on, the commands
 * as bits, and the parsed command line (ctl_args). */
#ifndef FERRY_CTL_H
#define FERRY_CTL_H

#include <stdbool.h>

#include <jansson.h>

/* Exit codes: fixed, documented in `ferryctl --help` and docs/ferryctl.md. */
enum {
    CTL_OK = 0,           /* done */
    CTL_REFUSED = 1,      /* the API refused the request (4xx other than 401 and 404) */
    CTL_USAGE = 2,        /* bad command line or input file */
    CTL_UNREACHABLE = 3,  /* ferryd could not be reached */
    CTL_NOT_FOUND = 4,    /* no such task (404) */
    CTL_SERVER = 5,       /* ferryd failed (5xx) or answered something that is not the API */
    CTL_UNAUTHORIZED = 6, /* no token, or the token was refused (401) */
};

/* The commands, as bits: an option lists the commands that take it. */
enum {
    CMD_LS = 1u << 0,
    CMD_GET = 1u << 1,
    CMD_CREATE = 1u << 2,
    CMD_EDIT = 1u << 3,
    CMD_PAUSE = 1u << 4,
    CMD_RESUME = 1u << 5,
    CMD_RESTART = 1u << 6,
    CMD_STOP = 1u << 7,
    CMD_RM = 1u << 8,
    CMD_HISTORY = 1u << 9,
    CMD_EVENTS = 1u << 10,
    CMD_WATCH = 1u << 11,
    CMD_AUDIT = 1u << 12,
    CMD_NODES = 1u << 13,
    CMD_NODE = 1u << 14,
    CMD_ALL = (1u << 15) - 1,
};

/* The command line after parsing. */
typedef struct ctl_args {
    const char *prog_cmd; /* the command's name */
    unsigned cmd;         /* its bit */
    /* where and who */
    const char *addr, *token, *data_dir, *config;
    /* output */
    bool json, show_keys, help;
    /* ls, watch, events */
    const char *filter;
    int interval_s; /* watch, events --follow */
    int count;      /* watch, events --follow: refreshes; 0 = until Ctrl-C */
    bool follow;
    /* create, edit: the body the flags build, and -f FILE */
    json_t *fields;
    const char *file;
    /* positional arguments after the command */
    int argc;
    char **argv;
} ctl_args;

#endif
