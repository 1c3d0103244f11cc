/* ingest_meter.c — a relay's source bitrate per 5 s window, and whether it went past the
 * account's max_ingest_kbps (ingest_meter.h). */
#include "engine/ingest_meter.h"

void ingest_meter_init(ingest_meter *m, int64_t max_kbps)
{
    m->max_kbps = max_kbps > 0 ? max_kbps : 0;
    ingest_meter_reset(m);
}

void ingest_meter_reset(ingest_meter *m)
{
    m->window_start_us = -1;
    m->window_bytes = 0;
}

bool ingest_meter_add(ingest_meter *m, int64_t bytes, int64_t now_us, int64_t *kbps)
{
    if (m->max_kbps == 0)
        return false;
    if (m->window_start_us < 0)
        m->window_start_us = now_us;
    m->window_bytes += bytes;
    int64_t span = now_us - m->window_start_us;
    if (span < INGEST_WINDOW_US)
        return false;
    int64_t rate = m->window_bytes * 8 * 1000 / span; /* bits per ms = kb/s */
    m->window_start_us = now_us;
    m->window_bytes = 0;
    if (rate <= m->max_kbps)
        return false;
    *kbps = rate;
    return true;
}
