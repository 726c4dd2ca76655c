/* What the viewer accepts of a scanout before it reads a pixel: the
 * ScanoutInfo geometry, the shared header, the object's real size, and the
 * SDL format whose bytes match each virtio-gpu format. */
#include <check.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "formats.h"
#include "scanout_map.h"
#include "unit.h"

#define W 64
#define H 32
#define STRIDE (W * 4)
#define OBJECT (SCANOUT_SHM_HEADER_SIZE + STRIDE * H)

static Ignition__ScanoutInfo good_info(void)
{
    Ignition__ScanoutInfo info = IGNITION__SCANOUT_INFO__INIT;
    info.enabled = true;
    info.width = W;
    info.height = H;
    info.stride = STRIDE;
    info.format = SCANOUT_FORMAT_B8G8R8X8;
    info.generation = 3;
    info.data_offset = SCANOUT_SHM_HEADER_SIZE;
    info.object_size = OBJECT;
    return info;
}

/* A shared object laid out as the worker makes it, pixel (x, y) = y << 8 | x. */
static int make_object(size_t size, uint32_t magic)
{
    int fd = memfd_create("test-scanout", 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
    struct scanout_shm_header h = {
        .magic = magic, .version = SCANOUT_SHM_VERSION, .header_size = SCANOUT_SHM_HEADER_SIZE,
        .format = SCANOUT_FORMAT_B8G8R8X8, .width = W, .height = H, .stride = STRIDE,
        .size = OBJECT};
    ck_assert_int_eq(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
    for (uint32_t y = 0; y < H && size >= OBJECT; y++)
        for (uint32_t x = 0; x < W; x++) {
            uint32_t v = y << 8 | x;
            off_t at = SCANOUT_SHM_HEADER_SIZE + (off_t)y * STRIDE + (off_t)x * 4;
            ck_assert_int_eq(pwrite(fd, &v, 4, at), 4);
        }
    return fd;
}

static void assert_refused(Ignition__ScanoutInfo info)
{
    char why[128] = "";
    ck_assert(!mapping_info_valid(&info, why, sizeof(why)));
    ck_assert_msg(why[0], "refused without saying why");
}

START_TEST(test_maps_and_finds_pixels)
{
    int fd = make_object(OBJECT, SCANOUT_SHM_MAGIC);
    Ignition__ScanoutInfo info = good_info();
    struct mapping m;
    char why[128];
    ck_assert_msg(mapping_open(&m, &info, fd, why, sizeof(why)) == 0, "%s", why);
    uint32_t v;
    memcpy(&v, mapping_pixel(&m, 5, 7), 4);
    ck_assert_uint_eq(v, 7u << 8 | 5);
    memcpy(&v, mapping_pixel(&m, W - 1, H - 1), 4);
    ck_assert_uint_eq(v, (H - 1u) << 8 | (W - 1));
    ck_assert_uint_eq(m.generation, 3);
    mapping_close(&m);
    ck_assert_ptr_null(m.base);
    close(fd);
}
END_TEST

START_TEST(test_bad_magic_refused)
{
    int fd = make_object(OBJECT, 0x12345678);
    Ignition__ScanoutInfo info = good_info();
    struct mapping m;
    char why[128];
    ck_assert_int_eq(mapping_open(&m, &info, fd, why, sizeof(why)), -1);
    ck_assert_ptr_null(m.base);
    close(fd);
}
END_TEST

START_TEST(test_header_disagreeing_refused)
{
    int fd = make_object(OBJECT, SCANOUT_SHM_MAGIC);
    Ignition__ScanoutInfo info = good_info();
    info.format = SCANOUT_FORMAT_R8G8B8X8; /* known, but not what the header says */
    struct mapping m;
    char why[128];
    ck_assert_int_eq(mapping_open(&m, &info, fd, why, sizeof(why)), -1);
    close(fd);
}
END_TEST

START_TEST(test_object_shorter_than_announced_refused)
{
    /* Mapping past the end would fault on the first read of the last rows. */
    int fd = make_object(SCANOUT_SHM_HEADER_SIZE + STRIDE, SCANOUT_SHM_MAGIC);
    Ignition__ScanoutInfo info = good_info();
    struct mapping m;
    char why[128];
    ck_assert_int_eq(mapping_open(&m, &info, fd, why, sizeof(why)), -1);
    ck_assert_ptr_null(m.base);
    close(fd);
}
END_TEST

START_TEST(test_geometry_checks)
{
    Ignition__ScanoutInfo info = good_info();
    char why[128];
    ck_assert(mapping_info_valid(&info, why, sizeof(why)));
    info = good_info(), info.width = 0, assert_refused(info);
    info = good_info(), info.height = MAPPING_MAX_DIMENSION + 1, assert_refused(info);
    info = good_info(), info.format = 999, assert_refused(info);
    info = good_info(), info.stride = W * 4 - 1, assert_refused(info);
    info = good_info(), info.data_offset = 0, assert_refused(info);
    info = good_info(), info.data_offset = OBJECT + 4096, assert_refused(info);
    info = good_info(), info.object_size = OBJECT - 1, assert_refused(info);
    info = good_info(), info.object_size = 1ull << 62, info.data_offset = 1ull << 62,
    assert_refused(info);
    /* Large values whose sum would wrap if computed in 32 bits. */
    info = good_info();
    info.width = MAPPING_MAX_DIMENSION;
    info.height = MAPPING_MAX_DIMENSION;
    info.stride = UINT32_MAX;
    info.object_size = MAPPING_MAX_OBJECT;
    assert_refused(info);
}
END_TEST

/* The bytes (in memory order) of one pixel read back through SDL's masks. */
static void assert_bytes_mean(uint32_t virtio, const uint8_t bytes[4], uint8_t r, uint8_t g,
                              uint8_t b)
{
    Uint32 format = sdl_format_for_virtio(virtio);
    ck_assert_uint_ne(format, SDL_PIXELFORMAT_UNKNOWN);
    int bpp;
    Uint32 rm, gm, bm, am;
    ck_assert(SDL_PixelFormatEnumToMasks(format, &bpp, &rm, &gm, &bm, &am));
    ck_assert_int_eq(bpp, 32);
    Uint32 v;
    memcpy(&v, bytes, 4);
    ck_assert_uint_eq((v & rm) >> __builtin_ctz(rm), r);
    ck_assert_uint_eq((v & gm) >> __builtin_ctz(gm), g);
    ck_assert_uint_eq((v & bm) >> __builtin_ctz(bm), b);
}

START_TEST(test_formats_match_memory_order)
{
    /* R = 0x11, G = 0x22, B = 0x33, and 0x44 the alpha or padding byte. */
    assert_bytes_mean(SCANOUT_FORMAT_B8G8R8X8, (const uint8_t[]){0x33, 0x22, 0x11, 0x44}, 0x11,
                      0x22, 0x33);
    assert_bytes_mean(SCANOUT_FORMAT_B8G8R8A8, (const uint8_t[]){0x33, 0x22, 0x11, 0x44}, 0x11,
                      0x22, 0x33);
    assert_bytes_mean(SCANOUT_FORMAT_X8R8G8B8, (const uint8_t[]){0x44, 0x11, 0x22, 0x33}, 0x11,
                      0x22, 0x33);
    assert_bytes_mean(SCANOUT_FORMAT_A8R8G8B8, (const uint8_t[]){0x44, 0x11, 0x22, 0x33}, 0x11,
                      0x22, 0x33);
    assert_bytes_mean(SCANOUT_FORMAT_R8G8B8X8, (const uint8_t[]){0x11, 0x22, 0x33, 0x44}, 0x11,
                      0x22, 0x33);
    assert_bytes_mean(SCANOUT_FORMAT_R8G8B8A8, (const uint8_t[]){0x11, 0x22, 0x33, 0x44}, 0x11,
                      0x22, 0x33);
    assert_bytes_mean(SCANOUT_FORMAT_X8B8G8R8, (const uint8_t[]){0x44, 0x33, 0x22, 0x11}, 0x11,
                      0x22, 0x33);
    assert_bytes_mean(SCANOUT_FORMAT_A8B8G8R8, (const uint8_t[]){0x44, 0x33, 0x22, 0x11}, 0x11,
                      0x22, 0x33);
    ck_assert_uint_eq(sdl_format_for_virtio(0), SDL_PIXELFORMAT_UNKNOWN);
    ck_assert(virtio_format_has_alpha(SCANOUT_FORMAT_A8B8G8R8));
    ck_assert(!virtio_format_has_alpha(SCANOUT_FORMAT_B8G8R8X8));
}
END_TEST

/* The formats the shared mapping accepts are exactly those the window can show. */
START_TEST(test_known_formats_are_the_viewers)
{
    unsigned known = 0;
    for (uint32_t f = 0; f < 256; f++) {
        ck_assert_msg(scanout_format_known(f) == (sdl_format_for_virtio(f) != 0), "format %u", f);
        known += scanout_format_known(f);
    }
    ck_assert_uint_eq(known, 8);
    ck_assert(!scanout_format_known(0xffffffffu));
}
END_TEST

static Suite *mapping_suite(void)
{
    Suite *s = suite_create("viewer_mapping");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_maps_and_finds_pixels);
    tcase_add_test(tc, test_bad_magic_refused);
    tcase_add_test(tc, test_header_disagreeing_refused);
    tcase_add_test(tc, test_object_shorter_than_announced_refused);
    tcase_add_test(tc, test_geometry_checks);
    tcase_add_test(tc, test_formats_match_memory_order);
    tcase_add_test(tc, test_known_formats_are_the_viewers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(mapping_suite());
}
