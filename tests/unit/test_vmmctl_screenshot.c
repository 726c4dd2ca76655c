/* vmmctl screenshot: every guest pixel format comes out as the right R, G, B
 * bytes, the PNG reads back as exactly those bytes, and a frame taken from a
 * (fake) guest worker lands in the file, with one clear line for each way it
 * can fail; a watched screen shows what the guest draws after it was opened. */
#include <check.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_display.h"
#include "memfile.h"
#include "scanout.h"
#include "screenshot.h"
#include "unit.h"

#define W 7
#define H 5
#define STRIDE (W * 4 + 12) /* rows padded, as a guest resource may be */
#define OBJECT (SCANOUT_SHM_HEADER_SIZE + STRIDE * H)

static char dir[64], out[128];
static char err[256];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-shot-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(out, sizeof(out), "%s/shot.png", dir);
    err[0] = '\0';
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- pixel conversion ---------------------------------------------------------- */

struct format_case {
    uint32_t format;
    uint8_t bytes[4]; /* one pixel of R 0x11, G 0x22, B 0x33, 0x44 alpha or padding */
};

static const struct format_case format_cases[] = {
    {SCANOUT_FORMAT_B8G8R8A8, {0x33, 0x22, 0x11, 0x44}},
    {SCANOUT_FORMAT_B8G8R8X8, {0x33, 0x22, 0x11, 0x44}},
    {SCANOUT_FORMAT_A8R8G8B8, {0x44, 0x11, 0x22, 0x33}},
    {SCANOUT_FORMAT_X8R8G8B8, {0x44, 0x11, 0x22, 0x33}},
    {SCANOUT_FORMAT_R8G8B8A8, {0x11, 0x22, 0x33, 0x44}},
    {SCANOUT_FORMAT_X8B8G8R8, {0x44, 0x33, 0x22, 0x11}},
    {SCANOUT_FORMAT_A8B8G8R8, {0x44, 0x33, 0x22, 0x11}},
    {SCANOUT_FORMAT_R8G8B8X8, {0x11, 0x22, 0x33, 0x44}},
};

START_TEST(test_converts_every_format)
{
    const struct format_case *c = &format_cases[_i];
    /* Two pixels, the second with every channel one higher. */
    uint8_t row[8];
    memcpy(row, c->bytes, 4);
    for (int i = 0; i < 4; i++)
        row[4 + i] = (uint8_t)(c->bytes[i] + 1);
    uint8_t rgb[7];
    memset(rgb, 0xee, sizeof(rgb));
    ck_assert(screenshot_convert_row(c->format, row, 2, rgb));
    const uint8_t want[7] = {0x11, 0x22, 0x33, 0x12, 0x23, 0x34, 0xee};
    ck_assert_mem_eq(rgb, want, sizeof(want));
}
END_TEST

START_TEST(test_unknown_format_refused)
{
    uint8_t row[4] = {1, 2, 3, 4}, rgb[3] = {9, 9, 9};
    static const uint32_t bad[] = {0, 5, 66, 69, 120, 122, 133, 135, 0xffffffffu};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert(!screenshot_convert_row(bad[i], row, 1, rgb));
    ck_assert_uint_eq(rgb[0], 9);
}
END_TEST

/* ---- PNG ---------------------------------------------------------------------- */

/* Reads path back as 8-bit RGB; asserts its size. The caller frees. */
static uint8_t *read_png(const char *path, uint32_t width, uint32_t height)
{
    png_image image;
    memset(&image, 0, sizeof(image));
    image.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&image, path), "%s", image.message);
    ck_assert_uint_eq(image.width, width);
    ck_assert_uint_eq(image.height, height);
    /* Written as plain RGB: no alpha, no palette. */
    ck_assert_uint_eq(image.format, PNG_FORMAT_RGB);
    image.format = PNG_FORMAT_RGB;
    uint8_t *pixels = malloc(PNG_IMAGE_SIZE(image));
    ck_assert_ptr_nonnull(pixels);
    ck_assert_msg(png_image_finish_read(&image, NULL, pixels, 0, NULL), "%s", image.message);
    return pixels;
}

static uint8_t pattern(uint32_t x, uint32_t y, unsigned channel)
{
    return (uint8_t)(x * 31 + y * 17 + channel * 85);
}

START_TEST(test_png_reads_back)
{
    uint8_t rgb[W * H * 3];
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++)
            for (unsigned c = 0; c < 3; c++)
                rgb[(y * W + x) * 3 + c] = pattern(x, y, c);
    ck_assert_int_eq(screenshot_write_png(out, rgb, W, H, err, sizeof(err)), 0);
    uint8_t *back = read_png(out, W, H);
    ck_assert_mem_eq(back, rgb, sizeof(rgb));
    free(back);
}
END_TEST

START_TEST(test_png_write_failure_says_so)
{
    uint8_t rgb[3] = {0};
    char path[160];
    snprintf(path, sizeof(path), "%s/no/such/dir/x.png", dir);
    ck_assert_int_eq(screenshot_write_png(path, rgb, 1, 1, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "cannot write") && strstr(err, path), "%s", err);
    ck_assert_int_eq(screenshot_write_png(out, rgb, 0, 1, err, sizeof(err)), -1);
}
END_TEST

/* ---- from a guest worker -------------------------------------------------------- */

/* A scanout object as the worker lays it out, pixel (x, y) in X8R8G8B8 with
 * the pattern's colours and garbage in the padding byte and past each row. */
static int make_object(uint32_t magic)
{
    int fd = memfile_create("test-shot", OBJECT);
    ck_assert_int_ge(fd, 0);
    struct scanout_shm_header h = {
        .magic = magic, .version = SCANOUT_SHM_VERSION, .header_size = SCANOUT_SHM_HEADER_SIZE,
        .format = SCANOUT_FORMAT_X8R8G8B8, .width = W, .height = H, .stride = STRIDE,
        .sequence = 1, .size = OBJECT};
    ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
    uint8_t row[STRIDE];
    for (uint32_t y = 0; y < H; y++) {
        memset(row, 0xa5, sizeof(row));
        for (uint32_t x = 0; x < W; x++) {
            row[x * 4 + 1] = pattern(x, y, 0);
            row[x * 4 + 2] = pattern(x, y, 1);
            row[x * 4 + 3] = pattern(x, y, 2);
        }
        off_t at = SCANOUT_SHM_HEADER_SIZE + (off_t)y * STRIDE;
        ck_assert_int_eq(pwrite(fd, row, STRIDE, at), STRIDE);
    }
    return fd;
}

static void announce_scanout(struct fake_display *d, uint32_t magic)
{
    memset(d, 0, sizeof(*d));
    d->announce = true;
    d->info = (Ignition__ScanoutInfo)IGNITION__SCANOUT_INFO__INIT;
    d->info.enabled = true;
    d->info.width = W;
    d->info.height = H;
    d->info.stride = STRIDE;
    d->info.format = SCANOUT_FORMAT_X8R8G8B8;
    d->info.generation = 1;
    d->info.data_offset = SCANOUT_SHM_HEADER_SIZE;
    d->info.object_size = OBJECT;
    d->fd = make_object(magic);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

START_TEST(test_frame_from_worker_written)
{
    static struct fake_display d;
    announce_scanout(&d, SCANOUT_SHM_MAGIC);
    fake_display_start(&d);
    int rc = screenshot_png(d.path, 0, out, err, sizeof(err));
    fake_display_finish(&d);
    close(d.fd);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(d.client_name, "vmmctl");
    uint8_t *back = read_png(out, W, H);
    for (uint32_t y = 0; y < H; y++)
        for (uint32_t x = 0; x < W; x++)
            for (unsigned c = 0; c < 3; c++)
                ck_assert_uint_eq(back[(y * W + x) * 3 + c], pattern(x, y, c));
    free(back);
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", out);
    ck_assert(!exists(tmp));
}
END_TEST

START_TEST(test_no_display)
{
    ck_assert_int_eq(screenshot_png("", 0, out, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "guest has no display (started with --no-gui)");
    ck_assert_int_eq(screenshot_png(NULL, 0, out, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "guest has no display (started with --no-gui)");
    ck_assert(!exists(out));
}
END_TEST

START_TEST(test_disabled_scanout)
{
    static struct fake_display d;
    announce_scanout(&d, SCANOUT_SHM_MAGIC);
    d.info.enabled = false;
    fake_display_start(&d);
    int rc = screenshot_png(d.path, 0, out, err, sizeof(err));
    fake_display_finish(&d);
    close(d.fd);
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(err, "scanout 0 is disabled (the guest switched it off)");
    ck_assert(!exists(out));
}
END_TEST

START_TEST(test_bad_header_refused)
{
    static struct fake_display d;
    announce_scanout(&d, 0x12345678);
    fake_display_start(&d);
    int rc = screenshot_png(d.path, 0, out, err, sizeof(err));
    fake_display_finish(&d);
    close(d.fd);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err, "scanout 0 cannot be read: header magic"), "%s", err);
    ck_assert(!exists(out));
}
END_TEST

START_TEST(test_unwritable_output)
{
    static struct fake_display d;
    announce_scanout(&d, SCANOUT_SHM_MAGIC);
    fake_display_start(&d);
    char path[160];
    snprintf(path, sizeof(path), "%s/missing/shot.png", dir);
    int rc = screenshot_png(d.path, 0, path, err, sizeof(err));
    fake_display_finish(&d);
    close(d.fd);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err, "cannot write") && strstr(err, "missing/shot.png.tmp"), "%s", err);
}
END_TEST

START_TEST(test_worker_error_reported)
{
    static struct fake_display d;
    memset(&d, 0, sizeof(d));
    d.error_after_hello = "too many viewers\x1b[2J";
    fake_display_start(&d);
    int rc = screenshot_png(d.path, 0, out, err, sizeof(err));
    fake_display_finish(&d);
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(err, "the guest's display says: too many viewers");
}
END_TEST

/* The watch keeps the scanout mapped: a pixel the guest writes afterwards is
 * in the next look, with no new connection. */
START_TEST(test_watch_sees_later_frames)
{
    static struct fake_display d;
    announce_scanout(&d, SCANOUT_SHM_MAGIC);
    fake_display_start(&d);
    struct screen_watch w;
    ck_assert_msg(screen_watch_open(&w, d.path, 0, err, sizeof(err)) == 0, "%s", err);
    uint32_t width = 0, height = 0;
    uint8_t *first = screen_watch_rgb(&w, &width, &height);
    ck_assert_ptr_nonnull(first);
    ck_assert_uint_eq(width, W);
    ck_assert_uint_eq(height, H);
    ck_assert_uint_eq(first[(2 * W + 3) * 3], pattern(3, 2, 0));
    uint8_t red[4] = {0, 0xff, 0x12, 0}; /* X, R, G, B, as make_object lays them */
    ck_assert_int_eq(pwrite(d.fd, red, 4, SCANOUT_SHM_HEADER_SIZE + 2 * STRIDE + 3 * 4), 4);
    ck_assert_msg(screen_watch_pump(&w, 10, err, sizeof(err)) == 0, "%s", err);
    uint8_t *second = screen_watch_rgb(&w, &width, &height);
    ck_assert_ptr_nonnull(second);
    const uint8_t *px = second + (2 * W + 3) * 3;
    ck_assert_uint_eq(px[0], 0xff);
    ck_assert_uint_eq(px[1], 0x12);
    ck_assert_uint_eq(px[2], 0x00);
    ck_assert_mem_eq(second, first, (2 * W + 3) * 3); /* the rest as before */
    free(first);
    free(second);
    screen_watch_close(&w);
    fake_display_finish(&d);
    close(d.fd);
}
END_TEST

START_TEST(test_nothing_listening)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/gone.display", dir);
    ck_assert_int_eq(screenshot_png(path, 0, out, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "cannot reach the guest's display"), "%s", err);
}
END_TEST

static Suite *screenshot_suite(void)
{
    Suite *s = suite_create("vmmctl_screenshot");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_converts_every_format, 0,
                        (int)(sizeof(format_cases) / sizeof(format_cases[0])));
    tcase_add_test(tc, test_unknown_format_refused);
    tcase_add_test(tc, test_png_reads_back);
    tcase_add_test(tc, test_png_write_failure_says_so);
    tcase_add_test(tc, test_frame_from_worker_written);
    tcase_add_test(tc, test_no_display);
    tcase_add_test(tc, test_disabled_scanout);
    tcase_add_test(tc, test_bad_header_refused);
    tcase_add_test(tc, test_unwritable_output);
    tcase_add_test(tc, test_worker_error_reported);
    tcase_add_test(tc, test_nothing_listening);
    tcase_add_test(tc, test_watch_sees_later_frames);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(screenshot_suite());
}
