/* test_watermark_place.c — unit tests of the watermark placement rules (watermark_place.h):
 * percent sizes, kept aspect, anchor corners, even pixels, degenerate inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "engine/watermark_place.h"

static void assert_rect(mark_rect r, int x, int y, int w, int h)
{
    assert_int_equal(r.x, x);
    assert_int_equal(r.y, y);
    assert_int_equal(r.w, w);
    assert_int_equal(r.h, h);
}

static void own_size_top_left(void **state)
{
    assert_rect(mark_place(1280, 720, 100, 50, 0, 0, 0, 0, MARK_TOP_LEFT), 0, 0, 100, 50);
    assert_rect(mark_place(1280, 720, 100, 50, 10, 10, 0, 0, MARK_TOP_LEFT), 128, 72, 100, 50);
}

static void both_percent(void **state)
{
    assert_rect(mark_place(1280, 720, 100, 50, 0, 0, 25, 10, MARK_TOP_LEFT), 0, 0, 320, 72);
}

static void width_keeps_aspect(void **state)
{
    /* 20% of 640 = 128 wide; 100x50 picture -> 64 high */
    assert_rect(mark_place(640, 360, 100, 50, 0, 0, 20, 0, MARK_TOP_LEFT), 0, 0, 128, 64);
}

static void height_keeps_aspect(void **state)
{
    /* 20% of 360 = 72 high; 100x50 picture -> 144 wide */
    assert_rect(mark_place(640, 360, 100, 50, 0, 0, 0, 20, MARK_TOP_LEFT), 0, 0, 144, 72);
}

static void corners(void **state)
{
    /* 64x32 mark, 5% offsets of 640x360: 32, 18 */
    assert_rect(mark_place(640, 360, 64, 32, 5, 5, 0, 0, MARK_TOP_LEFT), 32, 18, 64, 32);
    assert_rect(mark_place(640, 360, 64, 32, 5, 5, 0, 0, MARK_TOP_RIGHT), 544, 18, 64, 32);
    assert_rect(mark_place(640, 360, 64, 32, 5, 5, 0, 0, MARK_BOTTOM_RIGHT), 544, 310, 64, 32);
    assert_rect(mark_place(640, 360, 64, 32, 5, 5, 0, 0, MARK_BOTTOM_LEFT), 32, 310, 64, 32);
}

static void even_pixels(void **state)
{
    mark_rect r = mark_place(321, 241, 33, 17, 3, 7, 11, 0, MARK_BOTTOM_RIGHT);
    assert_int_equal(r.x % 2, 0);
    assert_int_equal(r.y % 2, 0);
    assert_int_equal(r.w % 2, 0);
    assert_int_equal(r.h % 2, 0);
}

static void rescaled_with_the_frame(void **state)
{
    mark_rect a = mark_place(640, 360, 100, 50, 10, 10, 20, 0, MARK_TOP_RIGHT);
    mark_rect b = mark_place(1280, 720, 100, 50, 10, 10, 20, 0, MARK_TOP_RIGHT);
    assert_int_equal(b.w, 2 * a.w);
    assert_int_equal(b.h, 2 * a.h);
    assert_int_equal(b.x, 2 * a.x);
    assert_int_equal(b.y, 2 * a.y);
}

static void degenerate(void **state)
{
    assert_rect(mark_place(0, 360, 100, 50, 0, 0, 0, 0, 0), 0, 0, 0, 0);
    assert_rect(mark_place(640, 360, 0, 50, 0, 0, 0, 0, 0), 0, 0, 0, 0);
    /* out-of-range percents are clamped: the whole frame at most */
    mark_rect r = mark_place(640, 360, 100, 50, -5, 200, 150, 150, MARK_TOP_LEFT);
    assert_rect(r, 0, 360, 640, 360);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(own_size_top_left),
        cmocka_unit_test(both_percent),
        cmocka_unit_test(width_keeps_aspect),
        cmocka_unit_test(height_keeps_aspect),
        cmocka_unit_test(corners),
        cmocka_unit_test(even_pixels),
        cmocka_unit_test(rescaled_with_the_frame),
        cmocka_unit_test(degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
