/* ferryctl.c — ferryctl's entry point: finds the command, parses its command line,
 * answers --help and runs it; the exit code is the command's (ctl.h). */
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_opts.h"

static int main_help(int argc, char **argv)
{
    const ctl_command *c = argc > 2 ? ctl_command_find(argv[2]) : NULL;
    if (argc > 2 && !c) {
        fprintf(stderr, "ferryctl: help: no command '%s'\n", argv[2]);
        return CTL_USAGE;
    }
    if (c)
        ctl_help_command(c, stdout);
    else
        ctl_help_main(stdout);
    return CTL_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        ctl_help_main(stderr);
        return CTL_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return main_help(argc, argv);
    const ctl_command *c = ctl_command_find(name);
    if (!c) {
        fprintf(stderr, "ferryctl: no command '%s' (see ferryctl --help)\n", name);
        return CTL_USAGE;
    }
    ctl_args a = {0};
    int rc = ctl_parse(c, argc - 1, argv + 1, &a);
    if (rc == CTL_OK && a.help)
        ctl_help_command(c, stdout);
    else if (rc == CTL_OK)
        rc = c->run(&a);
    ctl_args_free(&a);
    return rc;
}
