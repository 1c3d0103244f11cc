/* watermark_place.h — where a watermark goes on a frame: Tencent's percent offsets, percent
 * sizes (one of them alone keeps the image's shape) and anchor corner, in whole pixels. */
#ifndef FERRY_ENGINE_WATERMARK_PLACE_H
#define FERRY_ENGINE_WATERMARK_PLACE_H

/* Anchor corners (spec: Location). */
enum {
    MARK_TOP_LEFT = 0,
    MARK_TOP_RIGHT = 1,
    MARK_BOTTOM_RIGHT = 2,
    MARK_BOTTOM_LEFT = 3,
};

/* A mark's rectangle on the frame. x/y may put part of it outside the frame: the blend clips.
 * Sides and offsets are even (YUV 4:2:0 chroma covers 2x2 pixels). w or h is 0 when the
 * mark is too small to draw. */
typedef struct mark_rect {
    int x, y, w, h;
} mark_rect;

/* frame_w x frame_h: the video; img_w x img_h: the picture; x_pct, y_pct: the offset from
 * the anchor corner; w_pct, h_pct: percent of the frame's sides, 0 = from the other side's
 * scale (both 0 = the picture's own size); location: MARK_*. Out-of-range values are
 * clamped (validation refuses them before they get here). */
mark_rect mark_place(int frame_w, int frame_h, int img_w, int img_h, int x_pct, int y_pct,
                     int w_pct, int h_pct, int location);

#endif
