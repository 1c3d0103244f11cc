/* ferryctl.c — ferryctl's entry point: finds the command, parses its command line,
 * answers --help and runs it; the exit code is the command's (ctl.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_opts.h"

/* "ferryctl help [COMMAND]" */
static int main_help(const char *name)
{
    const ctl_command *c = name ? ctl_command_find(name) : NULL;
    if (name && !c) {
        fprintf(stderr, "ferryctl: help: no command '%s'\n", name);
        return CTL_USAGE;
    }
    if (c)
        ctl_help_command(c, stdout);
    else
        ctl_help_main(stdout);
    return CTL_OK;
}

static bool asks_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* Runs command c with the options found anywhere in argv; at is where its name was. */
static int run(const ctl_command *c, int argc, char **argv, int at)
{
    char *args[argc]; /* the command's name first, then every other argument */
    int n = 1;
    args[0] = argv[at];
    for (int i = 1; i < argc; i++)
        if (i != at && !(i == at - 1 && strcmp(argv[i], "--") == 0))
            args[n++] = argv[i];
    args[n] = NULL;
    ctl_args a = {0};
    int rc = ctl_parse(c, n, args, &a);
    if (rc == CTL_OK && a.help)
        ctl_help_command(c, stdout);
    else if (rc == CTL_OK)
        rc = c->run(&a);
    ctl_args_free(&a);
    return rc;
}

int main(int argc, char **argv)
{
    int at = ctl_command_index(argc, argv);
    if (at < 0) {
        bool help = asks_help(argc, argv);
        ctl_help_main(help ? stdout : stderr);
        return help ? CTL_OK : CTL_USAGE;
    }
    const char *name = argv[at];
    if (strcmp(name, "help") == 0)
        return main_help(at + 1 < argc ? argv[at + 1] : NULL);
    const ctl_command *c = ctl_command_find(name);
    if (!c) {
        fprintf(stderr, "ferryctl: no command '%s' (see ferryctl --help)\n", name);
        return CTL_USAGE;
    }
    return run(c, argc, argv, at);
}
