/* ctl_opts.c — ferryctl's command line: one table of options (which commands take each,
 * and for task fields the JSON field it sets), the parser and the --help texts. */
#include "ctl/ctl_opts.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "ctl/ctl_cmd.h"

static const ctl_command commands[] = {
    {"ls", CMD_LS, "", "list the tasks as a table", cmd_ls},
    {"get", CMD_GET, "ID", "show one task with its progress", cmd_get},
    {"create", CMD_CREATE, "", "create a task from flags and/or a JSON file; prints its id",
     cmd_create},
    {"edit", CMD_EDIT, "ID", "change fields of a task (PATCH)", cmd_edit},
    {"pause", CMD_PAUSE, "ID...", "pause tasks", cmd_pause},
    {"resume", CMD_RESUME, "ID...", "resume paused tasks", cmd_resume},
    {"restart", CMD_RESTART, "ID...", "restart the relay of tasks (a new publish)", cmd_restart},
    {"stop", CMD_STOP, "ID...", "stop tasks now (they go offline)", cmd_stop},
    {"rm", CMD_RM, "ID...", "stop and delete tasks", cmd_rm},
    {"history", CMD_HISTORY, "ID", "a task's state changes and notes, oldest first", cmd_history},
    {"events", CMD_EVENTS, "ID",
     "a task's history as an event stream (--follow for new ones as they come)", cmd_events},
    {"watch", CMD_WATCH, "", "refresh the ls table every --interval seconds", cmd_watch},
    {"audit", CMD_AUDIT, "[ID]",
     "who created, changed or deleted tasks (of one task with ID), newest first", cmd_audit},
    {"nodes", CMD_NODES, "", "the cluster's nodes: labels, state, load, last heartbeat", cmd_nodes},
    {"node", CMD_NODE, "drain|undrain NODE",
     "drain a node (its tasks move to the others, it takes none) or let it take tasks again",
     cmd_node},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* What an option does: a setting of ctl_args, or a task field of the body. */
typedef enum {
    O_ADDR,
    O_TOKEN,
    O_DATA_DIR,
    O_CONFIG,
    O_JSON,
    O_SHOW_KEYS,
    O_HELP,
    O_FILTER,
    O_INTERVAL,
    O_COUNT,
    O_FOLLOW,
    O_FILE,
    F_STR,  /* a string field */
    F_INT,  /* an integer field */
    F_TIME, /* a time field: ISO, "now" or "+N[smhd]" */
    F_LIST, /* an array field, one element per use of the flag */
    F_CSV,  /* an array field from a comma-separated list */
    F_TRUE, /* a boolean field set to true */
} opt_kind;

typedef struct ctl_option {
    const char *name;
    char short_name;
    const char *arg; /* NULL: takes no argument */
    opt_kind kind;
    unsigned cmds;
    const char *field; /* F_*: the task field */
    const char *help;
} ctl_option;

#define BODY (CMD_CREATE | CMD_EDIT)
#define LISTING (CMD_LS | CMD_WATCH)

static const ctl_option options[] = {
    {"addr", 'a', "HOST:PORT", O_ADDR, CMD_ALL, NULL, "ferryd's API address or URL"},
    {"token", 0, "TOKEN", O_TOKEN, CMD_ALL, NULL, "the API token"},
    {"data-dir", 0, "DIR", O_DATA_DIR, CMD_ALL, NULL, "ferryd's data dir (for its token file)"},
    {"config", 0, "FILE", O_CONFIG, CMD_ALL, NULL,
     "ferryd's config file (for listen and data_dir)"},
    {"json", 0, NULL, O_JSON, CMD_ALL, NULL, "print the API's JSON instead of a table"},
    {"show-keys", 0, NULL, O_SHOW_KEYS, CMD_ALL, NULL,
     "show URLs whole (default: stream keys masked)"},
    {"help", 'h', NULL, O_HELP, CMD_ALL, NULL, "show this help"},
    {"filter", 'q', "TEXT", O_FILTER, LISTING, NULL,
     "only tasks whose id, name or destination contains TEXT"},
    {"interval", 0, "SECONDS", O_INTERVAL, CMD_WATCH | CMD_EVENTS, NULL,
     "seconds between refreshes (default 2)"},
    {"count", 0, "N", O_COUNT, CMD_WATCH | CMD_EVENTS, NULL,
     "stop after N refreshes (default: until Ctrl-C)"},
    {"follow", 0, NULL, O_FOLLOW, CMD_EVENTS, NULL, "keep polling and print new events"},
    {"file", 'f', "FILE", O_FILE, BODY, NULL,
     "a JSON task body (- reads stdin); flags override its fields"},
    {"id", 0, "ID", F_STR, CMD_CREATE, "id", "the task's id (default: a random UUID)"},
    {"name", 0, "NAME", F_STR, BODY, "name", "name"},
    {"type", 0, "TYPE", F_STR, BODY, "source_type", "source_type: live, files or picture"},
    {"source", 0, "URL", F_LIST, BODY, "source_urls",
     "a source URL; repeat for a playlist (source_urls)"},
    {"protocol", 0, "NAME", F_STR, BODY, "source_protocol", "source_protocol hint"},
    {"dest", 0, "URL", F_STR, BODY, "destination", "destination (rtmp:// or rtmps://)"},
    {"backup-dest", 0, "URL", F_STR, BODY, "backup_destination", "backup_destination"},
    {"backup-source", 0, "URL", F_STR, BODY, "backup_source_url", "backup_source_url"},
    {"backup-source-type", 0, "TYPE", F_STR, BODY, "backup_source_type",
     "backup_source_type: live or files"},
    {"pad", 0, "URL", F_STR, BODY, "pad_url", "pad_url"},
    {"start", 0, "TIME", F_TIME, BODY, "start_time",
     "start_time: YYYY-MM-DDThh:mm:ssZ, now, or +N[smhd] from now"},
    {"end", 0, "TIME", F_TIME, BODY, "end_time", "end_time, as --start"},
    {"loop", 0, "N", F_INT, BODY, "loop_count", "loop_count (-1: until end_time)"},
    {"file-index", 0, "N", F_INT, BODY, "file_index", "file_index"},
    {"offset", 0, "SECONDS", F_INT, BODY, "offset", "offset into the start file"},
    {"retry-count", 0, "N", F_INT, BODY, "retry_count", "retry_count"},
    {"retry-interval", 0, "SECONDS", F_INT, BODY, "retry_interval", "retry_interval"},
    {"callback", 0, "URL", F_STR, BODY, "callback_url", "callback_url"},
    {"events", 0, "LIST", F_CSV, BODY, "callback_events",
     "callback_events, comma-separated (\"\" for all)"},
    {"comment", 0, "TEXT", F_STR, BODY, "comment", "comment"},
    {"region", 0, "TEXT", F_STR, BODY, "region", "region"},
    {"paused", 0, NULL, F_TRUE, CMD_CREATE, "paused", "create the task paused"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))
#define OPT_VAL(i) (256 + (int)(i))

const ctl_command *ctl_command_find(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* ---------- values ---------- */

static int usage_error(const ctl_args *a, const char *field, const char *fmt, const char *arg)
{
    fprintf(stderr, "ferryctl: %s: ", field ? field : a->prog_cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see ferryctl %s --help)\n", a->prog_cmd);
    return CTL_USAGE;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno == ERANGE || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* "now" and "+N[smhd]" become an ISO time; anything else goes to the API as it is, which
 * checks it and names the field when it is wrong. */
static int time_value(const char *s, char out[32])
{
    int64_t at = time_now_ms();
    if (s[0] == '+') {
        size_t n = strlen(s);
        char unit = n > 1 ? s[n - 1] : 0;
        long mul = unit == 's'   ? 1
                   : unit == 'm' ? 60
                   : unit == 'h' ? 3600
                   : unit == 'd' ? 86400
                                 : 0;
        char num[24];
        long v;
        if (!mul || n - 2 >= sizeof(num))
            return -1;
        memcpy(num, s + 1, n - 2);
        num[n - 2] = '\0';
        if (parse_long(num, 0, 366L * 86400, &v) != 0)
            return -1;
        at += (int64_t)v * mul * 1000;
    } else if (strcmp(s, "now") != 0) {
        snprintf(out, 32, "%s", s);
        return 0;
    }
    time_format_iso(at, out, 32);
    return 0;
}

static json_t *csv_array(const char *s)
{
    json_t *arr = json_array();
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n > 0)
            json_array_append_new(arr, json_stringn(s, n));
        s += n + (s[n] == ',');
    }
    return arr;
}

/* Sets the task field of option o from its argument. */
static int set_field(ctl_args *a, const ctl_option *o, const char *arg)
{
    json_t *v = NULL;
    long n;
    char iso[32];
    switch (o->kind) {
    case F_STR:
        v = json_string(arg);
        break;
    case F_INT:
        if (parse_long(arg, -2147483647L - 1, 2147483647L, &n) != 0)
            return usage_error(a, o->field, "'%s' is not an integer", arg);
        v = json_integer(n);
        break;
    case F_TIME:
        if (time_value(arg, iso) != 0)
            return usage_error(a, o->field, "'%s' is not a time (ISO, now, +N[smhd])", arg);
        v = json_string(iso);
        break;
    case F_LIST: {
        json_t *arr = json_object_get(a->fields, o->field);
        if (!arr) {
            arr = json_array();
            json_object_set_new(a->fields, o->field, arr);
        }
        return json_array_append_new(arr, json_string(arg)) ? CTL_USAGE : CTL_OK;
    }
    case F_CSV:
        v = csv_array(arg);
        break;
    default:
        v = json_true();
        break;
    }
    if (!v)
        return usage_error(a, o->field, "'%s' is not valid UTF-8", arg);
    json_object_set_new(a->fields, o->field, v);
    return CTL_OK;
}

static int set_count(ctl_args *a, const char *name, const char *arg, long min, int *out)
{
    long v;
    if (parse_long(arg, min, 1000000, &v) != 0)
        return usage_error(a, name, "'%s' is not a whole number in range", arg);
    *out = (int)v;
    return CTL_OK;
}

static int apply(ctl_args *a, const ctl_option *o, const char *arg)
{
    switch (o->kind) {
    case O_ADDR:
        a->addr = arg;
        return CTL_OK;
    case O_TOKEN:
        a->token = arg;
        return CTL_OK;
    case O_DATA_DIR:
        a->data_dir = arg;
        return CTL_OK;
    case O_CONFIG:
        a->config = arg;
        return CTL_OK;
    case O_JSON:
        a->json = true;
        return CTL_OK;
    case O_SHOW_KEYS:
        a->show_keys = true;
        return CTL_OK;
    case O_HELP:
        a->help = true;
        return CTL_OK;
    case O_FILTER:
        a->filter = arg;
        return CTL_OK;
    case O_INTERVAL:
        return set_count(a, "interval", arg, 1, &a->interval_s);
    case O_COUNT:
        return set_count(a, "count", arg, 1, &a->count);
    case O_FOLLOW:
        a->follow = true;
        return CTL_OK;
    case O_FILE:
        a->file = arg;
        return CTL_OK;
    default:
        return set_field(a, o, arg);
    }
}

/* ---------- parsing ---------- */

static const ctl_option *option_of(int val)
{
    if (val == 'a' || val == 'h' || val == 'f' || val == 'q')
        for (size_t i = 0; i < N_OPTIONS; i++)
            if (options[i].short_name == val)
                return &options[i];
    if (val >= OPT_VAL(0) && val < OPT_VAL(N_OPTIONS))
        return &options[val - OPT_VAL(0)];
    return NULL;
}

/* Whether arg is an option whose value is the next argument ("--addr X", "-a X"). */
static bool value_follows(const char *arg)
{
    bool is_long = arg[1] == '-';
    if (arg[0] != '-' || arg[1] == '\0' || (is_long && strchr(arg, '=')) ||
        (!is_long && arg[2] != '\0'))
        return false;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        bool same =
            is_long ? strcmp(arg + 2, options[i].name) == 0 : options[i].short_name == arg[1];
        if (same)
            return options[i].arg != NULL;
    }
    return false;
}

int ctl_command_index(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return i + 1 < argc ? i + 1 : -1;
        if (argv[i][0] != '-')
            return i;
        if (value_follows(argv[i]))
            i++;
    }
    return -1;
}

/* Parses with getopt_long over the whole table; an option of another command is refused. */
static int parse_options(const ctl_command *c, int argc, char **argv, ctl_args *a)
{
    struct option lopts[N_OPTIONS + 1];
    for (size_t i = 0; i < N_OPTIONS; i++)
        lopts[i] = (struct option){options[i].name, options[i].arg ? required_argument : 0, NULL,
                                   OPT_VAL(i)};
    lopts[N_OPTIONS] = (struct option){0};
    opterr = 0;
    optind = 1;
    int v;
    while ((v = getopt_long(argc, argv, ":a:hf:q:", lopts, NULL)) != -1) {
        const ctl_option *o = option_of(v);
        if (v == '?' || v == ':' || !o) {
            const char *bad = argv[optind - 1];
            return usage_error(a, c->name, v == ':' ? "%s needs an argument" : "unknown option %s",
                               bad);
        }
        if (!(o->cmds & c->bit))
            return usage_error(a, c->name, "--%s is not an option of this command", o->name);
        int rc = apply(a, o, optarg);
        if (rc != CTL_OK)
            return rc;
    }
    a->argc = argc - optind;
    a->argv = argv + optind;
    return CTL_OK;
}

int ctl_parse(const ctl_command *c, int argc, char **argv, ctl_args *a)
{
    a->prog_cmd = c->name;
    a->cmd = c->bit;
    a->interval_s = 2;
    a->fields = json_object();
    return parse_options(c, argc, argv, a);
}

void ctl_args_free(ctl_args *a)
{
    json_decref(a->fields);
    a->fields = NULL;
}

/* ---------- help ---------- */

static void print_option(const ctl_option *o, FILE *out)
{
    char flag[64];
    if (o->short_name)
        snprintf(flag, sizeof(flag), "-%c, --%s%s%s", o->short_name, o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
    else
        snprintf(flag, sizeof(flag), "    --%s%s%s", o->name, o->arg ? " " : "",
                 o->arg ? o->arg : "");
    fprintf(out, "  %-30s %s\n", flag, o->help);
}

static const char exit_codes[] =
    "exit codes:\n"
    "  0  done\n"
    "  1  the API refused the request (a bad field, a conflict, ...; 4xx)\n"
    "  2  usage error: bad command line or unreadable input file\n"
    "  3  cannot reach ferryd\n"
    "  4  no such task (404)\n"
    "  5  ferryd failed (5xx) or its answer is not the API's\n"
    "  6  no token, or the token was refused (401)\n"
    "Errors go to stderr as 'ferryctl: <field>: <message>'.\n";

void ctl_help_main(FILE *out)
{
    fprintf(out, "usage: ferryctl [options] COMMAND [options] [args]\n\n"
                 "A command-line client of ferryd's native API (/v1).\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        char use[32];
        snprintf(use, sizeof(use), "%s %s", commands[i].name, commands[i].args);
        fprintf(out, "  %-16s %s\n", use, commands[i].summary);
    }
    fprintf(out, "\noptions of every command:\n");
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].cmds == CMD_ALL)
            print_option(&options[i], out);
    fprintf(out,
            "\naddress: --addr, else $FERRY_ADDR, else `listen` of --config/$FERRY_CONFIG, else\n"
            "127.0.0.1:8480. token: --token, else $FERRY_TOKEN, else the file DATA_DIR/token\n"
            "that ferryd writes when no account is configured; DATA_DIR is --data-dir, else\n"
            "$FERRY_DATA_DIR, else `data_dir` of the config file, else ./var.\n\n%s"
            "\n'ferryctl COMMAND --help' shows a command's options.\n",
            exit_codes);
}

void ctl_help_command(const ctl_command *c, FILE *out)
{
    fprintf(out, "usage: ferryctl %s [options]%s%s\n\n%s\n\noptions:\n", c->name,
            *c->args ? " " : "", c->args, c->summary);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].cmds != CMD_ALL && (options[i].cmds & c->bit))
            print_option(&options[i], out);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].cmds == CMD_ALL)
            print_option(&options[i], out);
    fprintf(out, "\n%s", exit_codes);
}
