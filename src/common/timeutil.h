/* timeutil.h — clocks and the one time format every API uses (YYYY-MM-DDThh:mm:ssZ).
 * Wall time is Unix milliseconds (int64); monotonic time is for timeouts and pacing. */
#ifndef FERRY_TIMEUTIL_H
#define FERRY_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);  /* wall clock, Unix ms */
int64_t time_mono_ms(void); /* CLOCK_MONOTONIC, ms */
int64_t time_mono_us(void); /* CLOCK_MONOTONIC, us */

/* Strict "YYYY-MM-DDThh:mm:ssZ" (UTC) to Unix ms; returns 0 or -1 when malformed. */
int time_parse_iso(const char *s, int64_t *out_ms);
/* Unix ms to "YYYY-MM-DDThh:mm:ssZ"; buf needs 21 bytes. Returns buf. */
char *time_format_iso(int64_t ms, char *buf, size_t len);

#endif
