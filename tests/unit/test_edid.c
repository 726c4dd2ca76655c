/* EDID base blocks as a guest's DRM parser reads them: header, version,
 * checksum, vendor, the preferred detailed timing (decoded back to the mode and
 * its refresh rate), the name and range descriptors, and the sizes a block
 * cannot describe. */
#include <check.h>
#include <string.h>

#include "devices/edid.h"
#include "unit.h"

static uint8_t block[EDID_BLOCK_SIZE];

/* What a parser recovers from the 18-byte detailed timing at offset 54. */
struct decoded_timing {
    uint32_t clock_10khz, hactive, hblank, vactive, vblank, hfront, hsync, vfront, vsync;
    uint8_t flags;
};

static struct decoded_timing decode_preferred(const uint8_t *b)
{
    const uint8_t *d = b + 54;
    return (struct decoded_timing){
        .clock_10khz = (uint32_t)(d[0] | d[1] << 8),
        .hactive = (uint32_t)(d[2] | (d[4] >> 4) << 8),
        .hblank = (uint32_t)(d[3] | (d[4] & 0xf) << 8),
        .vactive = (uint32_t)(d[5] | (d[7] >> 4) << 8),
        .vblank = (uint32_t)(d[6] | (d[7] & 0xf) << 8),
        .hfront = (uint32_t)(d[8] | (d[11] >> 6) << 8),
        .hsync = (uint32_t)(d[9] | ((d[11] >> 4) & 3) << 8),
        .vfront = (uint32_t)((d[10] >> 4) | ((d[11] >> 2) & 3) << 4),
        .vsync = (uint32_t)((d[10] & 0xf) | (d[11] & 3) << 4),
        .flags = d[17],
    };
}

/* Refresh in millihertz, as the clock and totals give it. */
static uint64_t refresh_mhz(const struct decoded_timing *t)
{
    uint64_t total = (uint64_t)(t->hactive + t->hblank) * (t->vactive + t->vblank);
    return (uint64_t)t->clock_10khz * 10000u * 1000u / total;
}

static unsigned byte_sum(const uint8_t *b)
{
    unsigned sum = 0;
    for (int i = 0; i < EDID_BLOCK_SIZE; i++)
        sum += b[i];
    return sum;
}

START_TEST(test_header_version_checksum)
{
    ck_assert(edid_generate(1280, 800, 1, block));
    static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    ck_assert_mem_eq(block, header, 8);
    ck_assert_uint_eq(block[18], 1);
    ck_assert_uint_eq(block[19], 4);
    ck_assert_uint_eq(block[20] & 0x80, 0x80); /* digital input */
    ck_assert_uint_eq(block[126], 0);          /* no extensions */
    ck_assert_uint_eq(byte_sum(block) % 256, 0);
}
END_TEST

START_TEST(test_vendor_serial_and_size)
{
    ck_assert(edid_generate(1280, 800, 0x01020304, block));
    unsigned id = (unsigned)(block[8] << 8 | block[9]);
    char vendor[4] = {(char)('A' - 1 + (id >> 10 & 31)), (char)('A' - 1 + (id >> 5 & 31)),
                      (char)('A' - 1 + (id & 31)), 0};
    ck_assert_str_eq(vendor, "IGN");
    ck_assert_uint_eq(block[8] & 0x80, 0); /* the reserved top bit */
    static const uint8_t serial[4] = {0x04, 0x03, 0x02, 0x01};
    ck_assert_mem_eq(block + 12, serial, 4);
    /* 1280x800 at 96 dpi is 339 mm x 212 mm. */
    ck_assert_uint_eq(block[21], 34);
    ck_assert_uint_eq(block[22], 21);
    ck_assert_uint_eq(block[54 + 12], 339 & 0xff);
    ck_assert_uint_eq(block[54 + 13], 212);
    ck_assert_uint_eq(block[54 + 14], (339 >> 8) << 4);
}
END_TEST

/* CVT reduced blanking for 1280x800 is the well-known 71 MHz mode (we keep
 * 10 kHz precision instead of CVT's 250 kHz steps). */
START_TEST(test_preferred_timing_1280x800)
{
    ck_assert(edid_generate(1280, 800, 1, block));
    struct decoded_timing t = decode_preferred(block);
    ck_assert_uint_eq(t.clock_10khz, 7110);
    ck_assert_uint_eq(t.hactive, 1280);
    ck_assert_uint_eq(t.hblank, 160);
    ck_assert_uint_eq(t.hfront, 48);
    ck_assert_uint_eq(t.hsync, 32);
    ck_assert_uint_eq(t.vactive, 800);
    ck_assert_uint_eq(t.vblank, 23);
    ck_assert_uint_eq(t.vfront, 3);
    ck_assert_uint_eq(t.vsync, 6); /* 16:10 */
    ck_assert_uint_eq(t.flags, 0x1a); /* digital separate, +hsync, -vsync */
    uint64_t mhz = refresh_mhz(&t);
    ck_assert(mhz >= 59900 && mhz <= 60000);
}
END_TEST

/* Every size from 64 to 4095 gets a block whose preferred timing is exactly
 * that size, a clock a descriptor holds, sane blanking and a valid checksum. */
START_TEST(test_preferred_timing_is_the_mode)
{
    static const uint32_t sizes[] = {64, 65, 200, 480, 600, 768, 800, 1080, 1366, 2160, 4095};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
            uint32_t w = sizes[i], h = sizes[j];
            ck_assert(edid_generate(w, h, 1, block));
            ck_assert_uint_eq(byte_sum(block) % 256, 0);
            struct decoded_timing t = decode_preferred(block);
            ck_assert_uint_eq(t.hactive, w);
            ck_assert_uint_eq(t.vactive, h);
            ck_assert_uint_ge(t.clock_10khz, 1000); /* parsers refuse less than 10 MHz */
            ck_assert(t.hsync > 0 && t.vsync > 0);
            ck_assert_uint_gt(t.hblank, t.hfront + t.hsync);  /* a back porch */
            ck_assert_uint_ge(t.vblank, t.vfront + t.vsync + 6);
            uint64_t mhz = refresh_mhz(&t);
            ck_assert_msg(mhz >= 30000 && mhz <= 60000, "%ux%u refreshes at %llu mHz", w, h,
                          (unsigned long long)mhz);
            if ((uint64_t)w * h <= 2560u * 1600u)
                ck_assert_msg(mhz >= 59000, "%ux%u refreshes at %llu mHz", w, h,
                              (unsigned long long)mhz);
        }
    }
}
END_TEST

/* 4095x4095 needs more than 655.35 MHz at 60 Hz: the rate comes down instead. */
START_TEST(test_large_mode_lowers_refresh)
{
    struct edid_timing t;
    ck_assert(edid_timing_for(4095, 4095, &t));
    ck_assert_uint_lt(t.refresh_hz, 60);
    ck_assert_uint_le(t.pixel_clock_10khz, 0xffff);
    ck_assert(edid_generate(4095, 4095, 1, block));
    struct decoded_timing d = decode_preferred(block);
    ck_assert_uint_eq(d.clock_10khz, t.pixel_clock_10khz);
    uint64_t mhz = refresh_mhz(&d);
    ck_assert(mhz <= (uint64_t)t.refresh_hz * 1000 && mhz > (uint64_t)(t.refresh_hz - 1) * 1000);
}
END_TEST

static const uint8_t *find_descriptor(const uint8_t *b, uint8_t tag)
{
    for (int at = 72; at < 126; at += 18)
        if (b[at] == 0 && b[at + 1] == 0 && b[at + 2] == 0 && b[at + 3] == tag)
            return b + at;
    return NULL;
}

START_TEST(test_name_and_range_descriptors)
{
    ck_assert(edid_generate(1920, 1080, 1, block));
    const uint8_t *name = find_descriptor(block, 0xfc);
    ck_assert_ptr_nonnull(name);
    ck_assert_mem_eq(name + 5, "ignition\n    ", 13);
    const uint8_t *range = find_descriptor(block, 0xfd);
    ck_assert_ptr_nonnull(range);
    struct decoded_timing t = decode_preferred(block);
    uint64_t line_hz = (uint64_t)t.clock_10khz * 10000u / (t.hactive + t.hblank);
    ck_assert_uint_le(range[5], 60);
    ck_assert_uint_ge(range[6], 60);
    ck_assert_uint_le(range[7] * 1000u, line_hz);
    ck_assert_uint_ge(range[8] * 1000u, line_hz);
    ck_assert_uint_ge(range[9] * 10000000ull, (uint64_t)t.clock_10khz * 10000u);
    ck_assert_ptr_nonnull(find_descriptor(block, 0x10)); /* the unused fourth */
}
END_TEST

START_TEST(test_sizes_a_block_cannot_hold)
{
    static const uint32_t bad[][2] = {{0, 800}, {1280, 0}, {63, 800}, {1280, 63},
                                      {4096, 800}, {1280, 4096}, {16384, 16384}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(block, 0xa5, sizeof(block));
        ck_assert(!edid_generate(bad[i][0], bad[i][1], 1, block));
        for (int k = 0; k < EDID_BLOCK_SIZE; k++)
            ck_assert_uint_eq(block[k], 0xa5); /* untouched */
    }
}
END_TEST

static Suite *edid_suite(void)
{
    Suite *s = suite_create("edid");
    TCase *tc = tcase_create("edid");
    tcase_add_test(tc, test_header_version_checksum);
    tcase_add_test(tc, test_vendor_serial_and_size);
    tcase_add_test(tc, test_preferred_timing_1280x800);
    tcase_add_test(tc, test_preferred_timing_is_the_mode);
    tcase_add_test(tc, test_large_mode_lowers_refresh);
    tcase_add_test(tc, test_name_and_range_descriptors);
    tcase_add_test(tc, test_sizes_a_block_cannot_hold);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(edid_suite());
}
