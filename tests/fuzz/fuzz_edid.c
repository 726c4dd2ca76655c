/* libFuzzer harness: EDID blocks for any display size a guest or viewer can
 * ask for (WindowSize reaches edid_generate through virtio-gpu).
 *
 * Input: width (2 bytes), height (2), serial (4), little-endian; repeated, so
 * one input tries several sizes. Each size either is refused (outside
 * EDID_MIN_ACTIVE..EDID_MAX_ACTIVE, out untouched) or gives a block that a
 * guest's parser accepts: the fixed header, a checksum summing to 0, EDID 1.4,
 * and a first detailed timing whose active size is the one asked for, whose
 * blanking is not empty and whose pixel clock matches its timings' rate. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/edid.h"

#define RECORD 8
#define DTD 54 /* the first detailed timing descriptor */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_timing(uint32_t w, uint32_t h, const struct edid_timing *t)
{
    if (t->hactive != w || t->vactive != h || !t->hsync || !t->vsync)
        abort();
    uint64_t htotal = (uint64_t)t->hactive + t->hfront + t->hsync + t->hback;
    uint64_t vtotal = (uint64_t)t->vactive + t->vfront + t->vsync + t->vback;
    if (t->refresh_hz == 0 || t->refresh_hz > 60 || t->pixel_clock_10khz == 0 ||
        t->pixel_clock_10khz > 0xffff)
        abort();
    /* The stated clock runs the timings at about the stated rate (10 kHz steps). */
    uint64_t clock = (uint64_t)t->pixel_clock_10khz * 10000u;
    uint64_t wanted = htotal * vtotal * t->refresh_hz;
    if (clock + htotal * vtotal * 2 < wanted || clock > wanted + htotal * vtotal * 2 + 10000)
        abort();
}

static void check_block(uint32_t w, uint32_t h, uint32_t serial, const uint8_t *b)
{
    static const uint8_t header[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
    uint8_t sum = 0;
    for (unsigned i = 0; i < EDID_BLOCK_SIZE; i++)
        sum = (uint8_t)(sum + b[i]);
    if (memcmp(b, header, 8) || sum || b[18] != 1 || b[19] != 4 || b[126] != 0)
        abort();
    if ((uint32_t)(b[12] | b[13] << 8 | b[14] << 16 | (uint32_t)b[15] << 24) != serial)
        abort();
    const uint8_t *d = b + DTD;
    uint32_t hactive = d[2] | (uint32_t)(d[4] >> 4) << 8;
    uint32_t vactive = d[5] | (uint32_t)(d[7] >> 4) << 8;
    uint32_t hblank = d[3] | (uint32_t)(d[4] & 0xf) << 8;
    uint32_t vblank = d[6] | (uint32_t)(d[7] & 0xf) << 8;
    if ((d[0] | d[1] << 8) == 0 || hactive != w || vactive != h || !hblank || !vblank)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (; size >= RECORD; data += RECORD, size -= RECORD) {
        uint32_t w = data[0] | (uint32_t)data[1] << 8, h = data[2] | (uint32_t)data[3] << 8;
        uint32_t serial = data[4] | data[5] << 8 | data[6] << 16 | (uint32_t)data[7] << 24;
        bool fits = w >= EDID_MIN_ACTIVE && w <= EDID_MAX_ACTIVE && h >= EDID_MIN_ACTIVE &&
                    h <= EDID_MAX_ACTIVE;
        struct edid_timing t;
        if (edid_timing_for(w, h, &t) != fits)
            abort();
        if (fits)
            check_timing(w, h, &t);
        uint8_t block[EDID_BLOCK_SIZE];
        memset(block, 0xa5, sizeof(block));
        bool made = edid_generate(w, h, serial, block);
        if (made != fits)
            abort();
        if (made)
            check_block(w, h, serial, block);
        else
            for (unsigned i = 0; i < EDID_BLOCK_SIZE; i++)
                if (block[i] != 0xa5)
                    abort(); /* a refusal leaves out untouched */
    }
    return 0;
}
