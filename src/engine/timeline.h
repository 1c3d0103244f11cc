/* timeline.h — the output clock of one task: maps source timestamps to one continuous,
 * per-track monotonic output timeline across reconnects and in-stream jumps. Pure arithmetic. */
#ifndef FERRY_ENGINE_TIMELINE_H
#define FERRY_ENGINE_TIMELINE_H

#include <stdbool.h>
#include <stdint.h>

/* Tracks are small indices chosen by the caller (the engine uses 0 = video, 1 = audio). */
#define TIMELINE_MAX_TRACKS 4
/* "No timestamp" for pts_us; the timeline then uses the DTS. */
#define TIMELINE_NO_TS INT64_MIN
/* An in-track DTS step backwards by more than this is a discontinuity; a smaller one (or
 * an equal DTS) is jitter and the packet is bumped to last output DTS + one tick. */
#define TIMELINE_BACKWARD_SLACK_US 100000
/* A DTS step forward by more than the wall-clock gap plus this is a discontinuity. It is
 * also how far a track may sit from the epoch's first packet before it is dropped. */
#define TIMELINE_JUMP_SLACK_US 1000000
/* Upper bound of a packet duration guessed from DTS steps (live packets carry none). */
#define TIMELINE_MAX_GUESSED_DUR_US 500000

typedef enum { TIMELINE_PASS = 0, TIMELINE_DROP = 1 } timeline_verdict;

/* One source packet, all times in microseconds (AV_TIME_BASE_Q). */
typedef struct timeline_pkt {
    int track;
    bool is_video;
    bool is_key;
    int64_t dts_us;
    int64_t pts_us; /* TIMELINE_NO_TS when unknown */
    int64_t dur_us; /* 0 when unknown: guessed from the track's DTS steps */
    int64_t now_us; /* monotonic wall clock when the packet was read */
} timeline_pkt;

typedef struct timeline_track {
    bool seen;            /* has passed a packet since timeline_init */
    bool in_epoch;        /* has passed a packet since the last discontinuity */
    int64_t last_in_dts;  /* input DTS of the last passed packet */
    int64_t last_out_dts; /* output DTS of the last passed packet */
    int64_t last_dur;     /* its duration (given or guessed) */
    int64_t out_end;      /* max over passed packets of output PTS + duration */
    int64_t last_wall;    /* now_us of the last passed packet */
    int64_t skew_us;      /* added to the epoch's offset: this track alone jumped */
    int64_t jump_us;      /* how far its input clock moved at that jump */
} timeline_track;

typedef struct timeline {
    timeline_track tracks[TIMELINE_MAX_TRACKS];
    int64_t tick_us;      /* output resolution: the smallest DTS step that survives muxing */
    bool has_video;       /* wait for a video keyframe before opening an epoch */
    bool epoch_open;      /* the offset of the current epoch is known */
    int64_t offset_us;    /* output = input + offset inside the epoch */
    int64_t epoch_out_us; /* output DTS of the epoch's first packet */
    int64_t epoch_in_us;  /* its input DTS */
    int64_t epoch_wall;   /* its now_us */
    int discontinuities;  /* timeline_discontinuity calls plus detected jumps */
    int jumps;            /* in-stream jumps detected by timeline_map */
} timeline;

/* tick_us: the output time base in microseconds (1000 for FLV's milliseconds).
 * has_video: the source carries video, so every epoch starts on a video keyframe. */
void timeline_init(timeline *tl, int64_t tick_us, bool has_video);
/* The source changed shape (after a reconnect): whether to wait for video keyframes. */
void timeline_set_has_video(timeline *tl, bool has_video);
/* The source restarted: the next epoch continues from timeline_next_dts(). */
void timeline_discontinuity(timeline *tl);
/* Max over tracks of last output DTS + duration (0 at first). */
int64_t timeline_next_dts(const timeline *tl);
/* Where the next epoch's first frame is presented: max over tracks of output PTS + duration
 * (0 at first). Rebasing on presentation time keeps B-frame sources gap-free: the new
 * keyframe is shown right after the last frame shown, and its DTS keeps the decoder delay. */
int64_t timeline_next_pts(const timeline *tl);
/* Maps one packet. PASS fills out_dts_us/out_pts_us (pts >= dts, per-track DTS strictly
 * increasing by at least one tick); DROP means the packet must not be written. */
timeline_verdict timeline_map(timeline *tl, const timeline_pkt *p, int64_t *out_dts_us,
                              int64_t *out_pts_us);

#endif
