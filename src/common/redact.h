/* redact.h — how a URL is shown in logs, error chains, history lines and alarms: stream
 * keys, query values and user info masked (docs/security.md, "Secrets"). */
#ifndef FERRY_REDACT_H
#define FERRY_REDACT_H

#include <stddef.h>

/* What stands for a hidden secret. A masked stream key of 8 or more characters keeps its
 * first 2 ("ab***"), so an operator can tell streams apart; a shorter one is only the mark. */
#define REDACT_MARK "***"
/* Room for the redacted form of any task URL (at most 2000 characters). */
#define REDACT_URL_MAX 2100

/* Writes url as it may be shown into out (always terminated, cut to len):
 *   - user info "user:pass@" becomes "***@";
 *   - RTMP(S/T/E) and SRT: the last path element, the stream key, is masked;
 *   - the query: every value is masked, names stay ("?token=***&expire=***"); an SRT
 *     streamid and passphrase are query values, so they are masked too;
 *   - a fragment without a query becomes "#***".
 * Scheme, host, port and the rest of the path stay. Text without "://" is copied as it is.
 * Redacting a redacted URL changes nothing. Returns out. */
const char *url_redact(const char *url, char *out, size_t len);

/* Copies text (a log line, an error chain) into out with every URL inside it redacted as
 * url_redact does. A URL runs from its scheme to whitespace or a quote; trailing ".,;:)]}"
 * are left outside. Returns out. */
const char *text_redact(const char *text, char *out, size_t len);

/* url_redact into a buffer that lives until the end of the enclosing block: for a format
 * argument, as in tlog_info(id, "pushing to %s", REDACT_URL(dst)). */
#define REDACT_URL(url) url_redact((url), (char[REDACT_URL_MAX]){0}, REDACT_URL_MAX)

#endif
