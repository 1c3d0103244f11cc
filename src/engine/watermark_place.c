/* watermark_place.c — the placement rules of a watermark (watermark_place.h): percent sizes
 * and offsets turned into an even pixel rectangle anchored at one corner of the frame. */
#include "engine/watermark_place.h"

#include <stdbool.h>
#include <stdint.h>

static int clamp_pct(int v)
{
    return v < 0 ? 0 : v > 100 ? 100 : v;
}

/* Rounded to the nearest even number. */
static int even(int64_t num, int64_t den)
{
    if (den <= 0)
        return 0;
    int64_t v = (num + den / 2) / den;
    return (int)((v + 1) & ~(int64_t)1);
}

static void mark_size(int fw, int fh, int iw, int ih, int wp, int hp, int *w, int *h)
{
    if (wp > 0 && hp > 0) {
        *w = even((int64_t)fw * wp, 100);
        *h = even((int64_t)fh * hp, 100);
    } else if (wp > 0) {
        *w = even((int64_t)fw * wp, 100);
        *h = even((int64_t)*w * ih, iw);
    } else if (hp > 0) {
        *h = even((int64_t)fh * hp, 100);
        *w = even((int64_t)*h * iw, ih);
    } else {
        *w = even(iw, 1);
        *h = even(ih, 1);
    }
}

mark_rect mark_place(int frame_w, int frame_h, int img_w, int img_h, int x_pct, int y_pct,
                     int w_pct, int h_pct, int location)
{
    mark_rect r = {0, 0, 0, 0};
    if (frame_w <= 0 || frame_h <= 0 || img_w <= 0 || img_h <= 0)
        return r;
    mark_size(frame_w, frame_h, img_w, img_h, clamp_pct(w_pct), clamp_pct(h_pct), &r.w, &r.h);
    int dx = even((int64_t)frame_w * clamp_pct(x_pct), 100);
    int dy = even((int64_t)frame_h * clamp_pct(y_pct), 100);
    bool right = location == MARK_TOP_RIGHT || location == MARK_BOTTOM_RIGHT;
    bool bottom = location == MARK_BOTTOM_RIGHT || location == MARK_BOTTOM_LEFT;
    r.x = right ? (frame_w & ~1) - r.w - dx : dx;
    r.y = bottom ? (frame_h & ~1) - r.h - dy : dy;
    return r;
}
