/* engine_metrics.c — the engine's node-wide counters and their collector: totals since
 * ferryd started, kept when relays end, so they never go backwards. */
#include "engine/engine_metrics.h"

#include "common/metrics.h"

static metrics_counter in_bytes, in_packets, out_bytes, out_packets;
static metrics_counter reconnects[2], failovers, dropped;
static metrics_gauge workers, transcoding;

void engine_metrics_packet_in(int bytes)
{
    metrics_counter_add(&in_packets, 1);
    metrics_counter_add(&in_bytes, bytes > 0 ? (uint64_t)bytes : 0);
}

void engine_metrics_packet_out(int bytes)
{
    metrics_counter_add(&out_packets, 1);
    metrics_counter_add(&out_bytes, bytes > 0 ? (uint64_t)bytes : 0);
}

void engine_metrics_reconnect(engine_side side)
{
    metrics_counter_add(&reconnects[side == ENGINE_SIDE_SOURCE ? 0 : 1], 1);
}

void engine_metrics_failover(void)
{
    metrics_counter_add(&failovers, 1);
}

void engine_metrics_dropped(int packets)
{
    if (packets > 0)
        metrics_counter_add(&dropped, (uint64_t)packets);
}

void engine_metrics_worker(int delta)
{
    metrics_gauge_add(&workers, delta);
}

void engine_metrics_transcoding(int delta)
{
    metrics_gauge_add(&transcoding, delta);
}

static void counter(metrics_buf *b, const char *name, const char *help, metrics_counter *c)
{
    metrics_family(b, name, "counter", help);
    metrics_sample_u64(b, name, NULL, 0, metrics_counter_get(c));
}

static void collect_traffic(metrics_buf *b)
{
    counter(b, "ferry_relay_received_bytes_total",
            "Bytes of media packets read from sources by every relay since start.", &in_bytes);
    counter(b, "ferry_relay_received_packets_total",
            "Media packets read from sources by every relay since start.", &in_packets);
    counter(b, "ferry_relay_sent_bytes_total",
            "Bytes of media packets destinations took (both outputs) since start.", &out_bytes);
    counter(b, "ferry_relay_sent_packets_total",
            "Media packets destinations took (both outputs) since start.", &out_packets);
}

static void collect_engine(metrics_buf *b)
{
    metrics_family(b, "ferry_relays_running", "gauge", "Relay workers running now.");
    int64_t n = metrics_gauge_get(&workers);
    metrics_sample(b, "ferry_relays_running", NULL, 0, (double)(n > 0 ? n : 0));
    metrics_family(b, "ferry_relays_transcoding", "gauge",
                   "Relays re-encoding their video now (watermarks); the others copy it.");
    n = metrics_gauge_get(&transcoding);
    metrics_sample(b, "ferry_relays_transcoding", NULL, 0, (double)(n > 0 ? n : 0));
    collect_traffic(b);
    const char *name = "ferry_relay_reconnects_total";
    metrics_family(b, name, "counter",
                   "Reconnect attempts after a failure, by the side that failed.");
    metrics_label src = {"side", "source"}, dst = {"side", "destination"};
    metrics_sample_u64(b, name, &src, 1, metrics_counter_get(&reconnects[0]));
    metrics_sample_u64(b, name, &dst, 1, metrics_counter_get(&reconnects[1]));
    counter(b, "ferry_relay_failovers_total",
            "Switches from a failed or silent source to the backup or the pad.", &failovers);
    counter(b, "ferry_relay_dropped_packets_total",
            "Packets dropped because a destination took less than real time or memory ran out.",
            &dropped);
}

void engine_metrics_register(void)
{
    metrics_register(collect_engine);
}
