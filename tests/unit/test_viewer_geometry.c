/* The viewer's arithmetic: where the scanout goes in the window (letterbox,
 * HiDPI), which guest pixel a window point is over, how damage is clipped and
 * what mode a resized window asks for. */
#include <check.h>
#include <stdint.h>

#include "geometry.h"
#include "unit.h"

static void assert_rect(struct view_rect r, int x, int y, int w, int h)
{
    ck_assert_msg(r.x == x && r.y == y && r.w == w && r.h == h,
                  "got %d,%d %dx%d, expected %d,%d %dx%d", r.x, r.y, r.w, r.h, x, y, w, h);
}

START_TEST(test_letterbox_exact_fit)
{
    struct view_rect r = letterbox(1280, 800, 1280, 800);
    assert_rect(r, 0, 0, 1280, 800);
    ck_assert(letterbox_is_integer_scale(r, 1280, 800));
}
END_TEST

START_TEST(test_letterbox_bars_left_and_right)
{
    /* A 4:3 image in a 16:9 drawable: full height, centred. */
    assert_rect(letterbox(1920, 1080, 1024, 768), 240, 0, 1440, 1080);
    ck_assert(!letterbox_is_integer_scale(letterbox(1920, 1080, 1024, 768), 1024, 768));
}
END_TEST

START_TEST(test_letterbox_bars_top_and_bottom)
{
    assert_rect(letterbox(1000, 1000, 1280, 800), 0, 187, 1000, 625);
}
END_TEST

START_TEST(test_letterbox_hidpi_double)
{
    struct view_rect r = letterbox(2560, 1600, 1280, 800);
    assert_rect(r, 0, 0, 2560, 1600);
    ck_assert(letterbox_is_integer_scale(r, 1280, 800));
}
END_TEST

START_TEST(test_letterbox_empty)
{
    assert_rect(letterbox(0, 800, 1280, 800), 0, 0, 0, 0);
    assert_rect(letterbox(1280, 800, 0, 800), 0, 0, 0, 0);
    /* A sliver of a window still gets a pixel, never a zero-sized copy. */
    assert_rect(letterbox(1, 1000, 16384, 1), 0, 499, 1, 1);
}
END_TEST

START_TEST(test_pointer_one_to_one)
{
    uint32_t x, y;
    ck_assert(window_to_scanout(17, 33, 1280, 800, 1280, 800, 1280, 800, &x, &y));
    ck_assert_uint_eq(x, 17);
    ck_assert_uint_eq(y, 33);
}
END_TEST

START_TEST(test_pointer_hidpi)
{
    /* Window points are half the drawable's pixels; the image fills the
     * drawable at 1:1, so point (100, 50) is pixel (200, 100). */
    uint32_t x, y;
    ck_assert(window_to_scanout(100, 50, 1280, 800, 2560, 1600, 2560, 1600, &x, &y));
    ck_assert_uint_eq(x, 200);
    ck_assert_uint_eq(y, 100);
}
END_TEST

START_TEST(test_pointer_letterboxed_and_clamped)
{
    uint32_t x, y;
    /* 1024x768 shown at 1440x1080 from x = 240. */
    ck_assert(window_to_scanout(240 + 720, 540, 1920, 1080, 1920, 1080, 1024, 768, &x, &y));
    ck_assert_uint_eq(x, 512);
    ck_assert_uint_eq(y, 384);
    ck_assert(window_to_scanout(10, 2000, 1920, 1080, 1920, 1080, 1024, 768, &x, &y));
    ck_assert_uint_eq(x, 0);
    ck_assert_uint_eq(y, 767);
    ck_assert(window_to_scanout(1919, -5, 1920, 1080, 1920, 1080, 1024, 768, &x, &y));
    ck_assert_uint_eq(x, 1023);
    ck_assert_uint_eq(y, 0);
}
END_TEST

START_TEST(test_pointer_without_image)
{
    uint32_t x = 7, y = 7;
    ck_assert(!window_to_scanout(1, 1, 100, 100, 100, 100, 0, 0, &x, &y));
    ck_assert(!window_to_scanout(1, 1, 0, 100, 100, 100, 10, 10, &x, &y));
    ck_assert_uint_eq(x, 7);
}
END_TEST

START_TEST(test_damage_clipped)
{
    struct view_rect r;
    ck_assert(clip_damage(10, 20, 30, 40, 1280, 800, &r));
    assert_rect(r, 10, 20, 30, 40);
    ck_assert(clip_damage(1270, 790, 100, 100, 1280, 800, &r));
    assert_rect(r, 1270, 790, 10, 10);
    /* Sizes near 2^32 must not wrap around to something small. */
    ck_assert(clip_damage(5, 5, UINT32_MAX, UINT32_MAX, 1280, 800, &r));
    assert_rect(r, 5, 5, 1275, 795);
}
END_TEST

START_TEST(test_damage_outside_refused)
{
    struct view_rect r;
    ck_assert(!clip_damage(1280, 0, 1, 1, 1280, 800, &r));
    ck_assert(!clip_damage(0, 800, 1, 1, 1280, 800, &r));
    ck_assert(!clip_damage(0, 0, 0, 1, 1280, 800, &r));
    ck_assert(!clip_damage(UINT32_MAX, UINT32_MAX, 2, 2, 1280, 800, &r));
}
END_TEST

START_TEST(test_guest_size)
{
    uint32_t w, h;
    ck_assert(guest_size_for(1000, 600, 1, &w, &h));
    ck_assert_uint_eq(w, 1000);
    ck_assert_uint_eq(h, 600);
    ck_assert(guest_size_for(2560, 1600, 2, &w, &h));
    ck_assert_uint_eq(w, 1280);
    ck_assert_uint_eq(h, 800);
    ck_assert(!guest_size_for(1, 600, 2, &w, &h));
    ck_assert(!guest_size_for(0, 0, 1, &w, &h));
}
END_TEST

static Suite *geometry_suite(void)
{
    Suite *s = suite_create("viewer_geometry");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_letterbox_exact_fit);
    tcase_add_test(tc, test_letterbox_bars_left_and_right);
    tcase_add_test(tc, test_letterbox_bars_top_and_bottom);
    tcase_add_test(tc, test_letterbox_hidpi_double);
    tcase_add_test(tc, test_letterbox_empty);
    tcase_add_test(tc, test_pointer_one_to_one);
    tcase_add_test(tc, test_pointer_hidpi);
    tcase_add_test(tc, test_pointer_letterboxed_and_clamped);
    tcase_add_test(tc, test_pointer_without_image);
    tcase_add_test(tc, test_damage_clipped);
    tcase_add_test(tc, test_damage_outside_refused);
    tcase_add_test(tc, test_guest_size);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(geometry_suite());
}
