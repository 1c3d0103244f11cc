/* ctl_cmd.h — ferryctl's commands, each a function of the parsed command line that
 * returns an exit code (ctl.h): listing and watching, changing, history and events. */
#ifndef FERRY_CTL_CMD_H
#define FERRY_CTL_CMD_H

#include "ctl/ctl.h"

/* ctl_cmd_list.c */
int cmd_ls(ctl_args *a);
/* Ctrl-C (and SIGTERM) end a loop of watch or events --follow instead of the program. */
void ctl_catch_interrupt(void);
/* Sleeps seconds; false when interrupted. */
bool ctl_pause(int seconds);
int cmd_get(ctl_args *a);
int cmd_watch(ctl_args *a);
int cmd_nodes(ctl_args *a);
int cmd_node(ctl_args *a);

/* ctl_cmd_change.c */
int cmd_create(ctl_args *a);
int cmd_edit(ctl_args *a);
int cmd_pause(ctl_args *a);
int cmd_resume(ctl_args *a);
int cmd_restart(ctl_args *a);
int cmd_stop(ctl_args *a);
int cmd_rm(ctl_args *a);

/* ctl_cmd_history.c */
int cmd_history(ctl_args *a);
int cmd_events(ctl_args *a);
int cmd_audit(ctl_args *a);

#endif
