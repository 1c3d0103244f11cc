/* ingest_meter.h — a relay's source bitrate over 5 s windows against its account's
 * max_ingest_kbps: a source that sends more is cut off like a failed one. Pure, no clock. */
#ifndef FERRY_ENGINE_INGEST_METER_H
#define FERRY_ENGINE_INGEST_METER_H

#include <stdbool.h>
#include <stdint.h>

#define INGEST_WINDOW_US 5000000 /* long enough that a GOP burst at connect passes */

typedef struct ingest_meter {
    int64_t max_kbps; /* 0 = no limit */
    int64_t window_start_us;
    int64_t window_bytes;
} ingest_meter;

void ingest_meter_init(ingest_meter *m, int64_t max_kbps);
/* Counts bytes read at now_us. When a window closes over the limit: true, with the
 * window's rate in *kbps (the next window starts afresh either way). */
bool ingest_meter_add(ingest_meter *m, int64_t bytes, int64_t now_us, int64_t *kbps);
/* A new source: the next bytes open a new window. */
void ingest_meter_reset(ingest_meter *m);

#endif
