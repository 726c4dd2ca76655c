/* EDID 1.4 base block, written from VESA E-EDID Release A Rev. 2 (the field
 * layout) and VESA CVT 1.1 (the reduced-blanking timing formula). */
#include "edid.h"

#include <string.h>

#include "byteorder.h"

/* CVT reduced blanking: fixed horizontal blanking, at least 460 us of
 * vertical blanking, three lines of front porch, six of back porch. */
#define RB_H_FRONT 48u
#define RB_H_SYNC 32u
#define RB_H_BACK 80u
#define RB_V_FRONT 3u
#define RB_MIN_V_BACK 6u
#define RB_MIN_V_BLANK_US 460u
#define PREFERRED_REFRESH_HZ 60u
#define MAX_PIXEL_CLOCK_10KHZ 0xffffu /* 16 bits in a descriptor: 655.35 MHz */
/* Parsers (edid-decode among them) take a descriptor below 10 MHz for garbage. */
#define MIN_PIXEL_CLOCK_10KHZ 1000u

/* Physical size as if the panel had 96 pixels per inch, the density desktops
 * assume when they know nothing better. */
#define ASSUMED_DPI 96u
#define MAX_IMAGE_MM 4095u /* 12 bits in a descriptor */

#define DESCRIPTOR_SIZE 18
#define DESCRIPTOR_PREFERRED 54
#define DESCRIPTOR_NAME 72
#define DESCRIPTOR_RANGE 90
#define DESCRIPTOR_DUMMY 108
#define TAG_MONITOR_NAME 0xfc
#define TAG_RANGE_LIMITS 0xfd
#define TAG_DUMMY 0x10

static const char MONITOR_NAME[] = "ignition";
static const char MANUFACTURER[3] = {'I', 'G', 'N'};
#define PRODUCT_CODE 1u
#define MODEL_YEAR 2024u

/* CVT ties the sync width to the aspect ratio, so a monitor can guess it. */
static uint32_t cvt_vsync_lines(uint32_t width, uint32_t height)
{
    uint64_t w = width, h = height;
    if (w * 3 == h * 4)
        return 4;
    if (w * 9 == h * 16)
        return 5;
    if (w * 10 == h * 16)
        return 6;
    if (w * 4 == h * 5 || w * 9 == h * 15)
        return 7;
    return 10;
}

/* Vertical blanking long enough for RB_MIN_V_BLANK_US at this rate, and never
 * shorter than the porches and sync. CVT estimates the line period as
 * (1e6 / refresh - 460) / vactive us and blanks 460 us / period + 1 lines;
 * multiplied out, in integers: */
static void reduced_blanking(struct edid_timing *t, uint32_t refresh)
{
    uint64_t active_us_times_refresh = 1000000u - (uint64_t)RB_MIN_V_BLANK_US * refresh;
    uint64_t lines =
        (uint64_t)RB_MIN_V_BLANK_US * t->vactive * refresh / active_us_times_refresh + 1;
    uint64_t min_lines = RB_V_FRONT + t->vsync + RB_MIN_V_BACK;
    if (lines < min_lines)
        lines = min_lines;
    t->vfront = RB_V_FRONT;
    t->vback = (uint32_t)lines - RB_V_FRONT - t->vsync;
    uint64_t vtotal = t->vactive + lines;
    t->hback = RB_H_BACK;
    uint64_t htotal = t->hactive + RB_H_FRONT + RB_H_SYNC + t->hback;
    uint64_t min_htotal = ((uint64_t)MIN_PIXEL_CLOCK_10KHZ * 10000u + vtotal * refresh - 1) /
                          (vtotal * refresh);
    if (htotal < min_htotal) {
        /* A small mode: a longer back porch keeps the clock at 10 MHz (1945
         * pixels of blanking at 64x64, the most; 12 bits hold it). */
        t->hback += (uint32_t)(min_htotal - htotal);
        htotal = min_htotal;
    }
    t->pixel_clock_10khz = (uint32_t)(htotal * vtotal * refresh / 10000u);
    t->refresh_hz = refresh;
}

bool edid_timing_for(uint32_t width, uint32_t height, struct edid_timing *t)
{
    if (width < EDID_MIN_ACTIVE || height < EDID_MIN_ACTIVE || width > EDID_MAX_ACTIVE ||
        height > EDID_MAX_ACTIVE)
        return false;
    *t = (struct edid_timing){
        .hactive = width, .hfront = RB_H_FRONT, .hsync = RB_H_SYNC,
        .vactive = height, .vsync = cvt_vsync_lines(width, height),
    };
    /* The largest modes need more than 655.35 MHz at 60 Hz: lower the rate
     * until the clock fits (4095x4095 lands in the mid thirties). */
    for (uint32_t refresh = PREFERRED_REFRESH_HZ; refresh > 0; refresh--) {
        reduced_blanking(t, refresh);
        if (t->pixel_clock_10khz <= MAX_PIXEL_CLOCK_10KHZ)
            return true;
    }
    return false; /* unreachable: at 1 Hz every mode up to 4095x4095 fits */
}

/* ---- the block ------------------------------------------------------------------------ */

static uint32_t image_mm(uint32_t pixels)
{
    uint32_t mm = (uint32_t)(((uint64_t)pixels * 254 + ASSUMED_DPI * 5) / (ASSUMED_DPI * 10));
    return mm > MAX_IMAGE_MM ? MAX_IMAGE_MM : mm;
}

static uint8_t size_cm(uint32_t mm)
{
    uint32_t cm = (mm + 5) / 10;
    return (uint8_t)(cm < 1 ? 1 : cm > 255 ? 255 : cm);
}

/* Three letters, five bits each (A = 1), big-endian. */
static void put_manufacturer(uint8_t *p)
{
    unsigned id = 0;
    for (int i = 0; i < 3; i++)
        id = id << 5 | (unsigned)(MANUFACTURER[i] - 'A' + 1);
    p[0] = (uint8_t)(id >> 8);
    p[1] = (uint8_t)id;
}

/* sRGB primaries and D65 white as 10-bit binary fractions (value * 1024). */
static void put_chromaticity(uint8_t *p)
{
    static const uint16_t red_x = 655, red_y = 338, green_x = 307, green_y = 614,
                          blue_x = 154, blue_y = 61, white_x = 320, white_y = 337;
    p[0] = (uint8_t)((red_x & 3) << 6 | (red_y & 3) << 4 | (green_x & 3) << 2 | (green_y & 3));
    p[1] = (uint8_t)((blue_x & 3) << 6 | (blue_y & 3) << 4 | (white_x & 3) << 2 | (white_y & 3));
    const uint16_t high[8] = {red_x, red_y, green_x, green_y, blue_x, blue_y, white_x, white_y};
    for (int i = 0; i < 8; i++)
        p[2 + i] = (uint8_t)(high[i] >> 2);
}

static void put_detailed_timing(uint8_t *d, const struct edid_timing *t)
{
    uint32_t hblank = t->hfront + t->hsync + t->hback;
    uint32_t vblank = t->vfront + t->vsync + t->vback;
    uint32_t hmm = image_mm(t->hactive), vmm = image_mm(t->vactive);
    le_put(d, t->pixel_clock_10khz, 2);
    d[2] = (uint8_t)t->hactive;
    d[3] = (uint8_t)hblank;
    d[4] = (uint8_t)((t->hactive >> 8) << 4 | (hblank >> 8));
    d[5] = (uint8_t)t->vactive;
    d[6] = (uint8_t)vblank;
    d[7] = (uint8_t)((t->vactive >> 8) << 4 | (vblank >> 8));
    d[8] = (uint8_t)t->hfront;
    d[9] = (uint8_t)t->hsync;
    d[10] = (uint8_t)((t->vfront & 0xf) << 4 | (t->vsync & 0xf));
    d[11] = (uint8_t)((t->hfront >> 8) << 6 | (t->hsync >> 8) << 4 | (t->vfront >> 4) << 2 |
                      (t->vsync >> 4));
    d[12] = (uint8_t)hmm;
    d[13] = (uint8_t)vmm;
    d[14] = (uint8_t)((hmm >> 8) << 4 | (vmm >> 8));
    d[15] = d[16] = 0; /* no borders */
    /* Progressive, digital separate sync, +hsync -vsync as CVT-RB has it. */
    d[17] = 0x18 | 0x02;
}

/* Display descriptors share a 5-byte preamble: three zeros, tag, zero. */
static void put_descriptor_tag(uint8_t *d, uint8_t tag)
{
    memset(d, 0, DESCRIPTOR_SIZE);
    d[3] = tag;
}

/* Text fields end with a line feed and are padded with spaces. */
static void put_text(uint8_t *field, const char *text)
{
    size_t n = strlen(text);
    memset(field, ' ', 13);
    memcpy(field, text, n);
    field[n] = '\n';
}

static uint8_t clamp_u8(uint64_t v, uint8_t lo, uint8_t hi)
{
    return v < lo ? lo : v > hi ? hi : (uint8_t)v;
}

/* Ranges that comfortably hold the preferred mode; "range limits only"
 * (no formula) because the one mode we offer is the one to use. */
static void put_range_limits(uint8_t *d, const struct edid_timing *t)
{
    uint64_t htotal = t->hactive + t->hfront + t->hsync + t->hback;
    uint64_t pixel_hz = (uint64_t)t->pixel_clock_10khz * 10000u;
    uint64_t line_hz = pixel_hz / htotal;
    put_descriptor_tag(d, TAG_RANGE_LIMITS);
    d[5] = clamp_u8(t->refresh_hz, 1, 50);
    d[6] = clamp_u8(t->refresh_hz, 75, 255);
    d[7] = clamp_u8(line_hz / 1000, 1, 30);
    d[8] = clamp_u8((line_hz + 999) / 1000, 90, 255);
    d[9] = clamp_u8((pixel_hz + 9999999) / 10000000, 1, 255);
    d[10] = 0x01; /* range limits only */
    d[11] = '\n';
    memset(d + 12, ' ', 6);
}

static uint8_t checksum(const uint8_t *block)
{
    unsigned sum = 0;
    for (int i = 0; i < EDID_BLOCK_SIZE - 1; i++)
        sum += block[i];
    return (uint8_t)(256 - sum % 256);
}

bool edid_generate(uint32_t width, uint32_t height, uint32_t serial,
                   uint8_t out[EDID_BLOCK_SIZE])
{
    struct edid_timing t;
    if (!edid_timing_for(width, height, &t))
        return false;
    uint8_t *b = out;
    memset(b, 0, EDID_BLOCK_SIZE);
    static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    memcpy(b, header, sizeof(header));
    put_manufacturer(b + 8);
    le_put(b + 10, PRODUCT_CODE, 2);
    le_put(b + 12, serial, 4);
    b[16] = 0; /* week unspecified */
    b[17] = (uint8_t)(MODEL_YEAR - 1990);
    b[18] = 1; /* EDID version 1, revision 4 */
    b[19] = 4;
    b[20] = 0x80 | 0x20;  /* digital input, 8 bits per primary, interface undefined */
    b[21] = size_cm(image_mm(width));
    b[22] = size_cm(image_mm(height));
    b[23] = 120; /* gamma 2.2, stored as (gamma - 1) * 100 */
    /* RGB 4:4:4, sRGB is the default colour space, and the preferred timing
     * is the native mode; not continuous-frequency: offer this mode only. */
    b[24] = 0x04 | 0x02;
    put_chromaticity(b + 25);
    /* No established timings (35..37); the eight standard timings unused. */
    for (int i = 38; i < 54; i++)
        b[i] = 0x01;
    put_detailed_timing(b + DESCRIPTOR_PREFERRED, &t);
    put_descriptor_tag(b + DESCRIPTOR_NAME, TAG_MONITOR_NAME);
    put_text(b + DESCRIPTOR_NAME + 5, MONITOR_NAME);
    put_range_limits(b + DESCRIPTOR_RANGE, &t);
    put_descriptor_tag(b + DESCRIPTOR_DUMMY, TAG_DUMMY);
    b[126] = 0; /* no extension blocks */
    b[127] = checksum(b);
    return true;
}
