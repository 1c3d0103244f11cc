/* log.h — leveled logging for every part of ferryd.
 * Task lines always name the task id (tlog_*); lines go to stderr with a UTC timestamp. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

typedef enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 } log_level;

void log_set_level(log_level level);
/* Parses "error", "warn", "info", "debug"; returns 0 or -1 when unknown. */
int log_parse_level(const char *name, log_level *out);
int log_enabled(log_level level);

void log_write(log_level level, const char *task_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_write(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, NULL, __VA_ARGS__)

/* Task lines: the first argument is the task id, printed as "task=<id>". */
#define tlog_error(id, ...) log_write(LOG_ERROR, (id), __VA_ARGS__)
#define tlog_warn(id, ...) log_write(LOG_WARN, (id), __VA_ARGS__)
#define tlog_info(id, ...) log_write(LOG_INFO, (id), __VA_ARGS__)
#define tlog_debug(id, ...) log_write(LOG_DEBUG, (id), __VA_ARGS__)

#endif
