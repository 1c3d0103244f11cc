/* ctl_opts.h — ferryctl's command line: the table of commands and options, parsing into
 * ctl_args (task fields given as flags become a JSON body), and the --help texts. */
#ifndef FERRY_CTL_OPTS_H
#define FERRY_CTL_OPTS_H

#include <stdio.h>

#include "ctl/ctl.h"

/* One command: its name, its bit, what it takes and what it does. */
typedef struct ctl_command {
    const char *name;
    unsigned bit;
    const char *args; /* positional arguments, for the usage line */
    const char *summary;
    int (*run)(ctl_args *a);
} ctl_command;

/* The command named name, or NULL. */
const ctl_command *ctl_command_find(const char *name);

/* Where the command's name is in the program's argv: the first argument that is neither
 * an option nor an option's value, so options may come before it too; -1 when none. */
int ctl_command_index(int argc, char **argv);

/* Parses argv (argv[0] is the command's name) into a; returns CTL_OK or CTL_USAGE after
 * printing why on stderr. a->fields is set (possibly empty); ctl_args_free releases it. */
int ctl_parse(const ctl_command *c, int argc, char **argv, ctl_args *a);
void ctl_args_free(ctl_args *a);

/* The program's help (commands, address and token order, exit codes). */
void ctl_help_main(FILE *out);
/* One command's help: usage line, summary and the options it takes. */
void ctl_help_command(const ctl_command *c, FILE *out);

#endif
