/* engine_metrics.h — the engine's node-wide counters (inside the engine only): what the
 * workers read and push, reconnects, failovers, drops, workers alive and those re-encoding
 * (watermarks), for /metrics. */
#ifndef FERRY_ENGINE_METRICS_H
#define FERRY_ENGINE_METRICS_H

#include <stdint.h>

typedef enum { ENGINE_SIDE_SOURCE = 0, ENGINE_SIDE_DESTINATION = 1 } engine_side;

/* Registers the engine's collector (engine_init calls it; more calls do nothing). */
void engine_metrics_register(void);
void engine_metrics_packet_in(int bytes);
void engine_metrics_packet_out(int bytes);
void engine_metrics_reconnect(engine_side side);
void engine_metrics_failover(void);
void engine_metrics_dropped(int packets);
void engine_metrics_worker(int delta); /* +1 when a worker starts, -1 when it ends */
/* +1 when a relay starts re-encoding its video (watermarks), -1 when it copies again or ends */
void engine_metrics_transcoding(int delta);

#endif
