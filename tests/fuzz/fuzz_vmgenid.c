/* libFuzzer harness: the generation id device as a guest and a restore drive
 * it: MMIO reads and writes of any width at any offset of its window (and
 * past it), new generations, and state saved and loaded from bytes a
 * snapshot file gives.
 *
 * Input: records of 11 bytes: op (% 4: read, write, new generation, load
 * state), an offset (2 bytes), a width selector (1, 2, 4 or 8), a value (8
 * bytes, for writes; its first bytes, for loads, become the state's id, the
 * rest of the id coming from the next record's bytes).
 *
 * Checked: every read returns the id's bytes as little-endian memory would
 * (zeros past the id and for the window's rest), guest writes change nothing,
 * a new generation changes the id (the random source here never repeats) and
 * raises the interrupt line with a rising edge, and save gives what was
 * loaded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmgenid.h"

#define RECORD 11
#define WINDOW_BEYOND 0x40 /* accesses reach a little past the window */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t counter;
static unsigned rising_edges;
static bool line_level;

static void counting_random(void *buf, size_t len)
{
    /* Distinct every call: a fresh id must differ from the one before. */
    uint8_t *p = buf;
    counter++;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(counter >> (8 * (i % 8)) ^ i * 0x3b);
}

static void on_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid;
    if (level && !line_level)
        rising_edges++;
    line_level = level;
}

static uint64_t expected_read(const uint8_t id[VMGENID_ID_LEN], uint64_t off, unsigned width)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < width; i++) {
        uint64_t at = off + i;
        uint8_t b = at < VMGENID_ID_LEN ? id[at] : 0;
        v |= (uint64_t)b << (8 * i);
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned widths[4] = {1, 2, 4, 8};
    counter = 0;
    rising_edges = 0;
    line_level = false;
    struct device *dev =
        vmgenid_create(0x09020000, (struct irq_line){.set = on_irq, .intid = 40}, counting_random);
    if (!dev)
        abort();
    struct vmgenid_state now;
    vmgenid_save(dev, &now);
    for (; size >= RECORD; data += RECORD, size -= RECORD) {
        uint64_t off = (uint64_t)(data[1] | data[2] << 8) % (VMGENID_SIZE + WINDOW_BEYOND);
        unsigned width = widths[data[3] % 4];
        uint64_t value;
        memcpy(&value, data + 3, sizeof(value));
        switch (data[0] % 4) {
        case 0:
            if (dev->ops->read(dev, off, width) != expected_read(now.id, off, width))
                abort();
            break;
        case 1: {
            dev->ops->write(dev, off, width, value);
            struct vmgenid_state after;
            vmgenid_save(dev, &after);
            if (memcmp(&after, &now, sizeof(now)))
                abort(); /* the id is the host's: guest writes change nothing */
            break;
        }
        case 2: {
            unsigned edges = rising_edges;
            vmgenid_new_generation(dev);
            struct vmgenid_state after;
            vmgenid_save(dev, &after);
            if (!memcmp(after.id, now.id, VMGENID_ID_LEN) || rising_edges != edges + 1)
                abort();
            now = after;
            break;
        }
        default: {
            struct vmgenid_state in;
            for (unsigned i = 0; i < VMGENID_ID_LEN; i++)
                in.id[i] = data[(3 + i) % RECORD] ^ (uint8_t)i;
            if (vmgenid_load(dev, &in) != 0)
                abort();
            vmgenid_save(dev, &now);
            if (memcmp(now.id, in.id, VMGENID_ID_LEN))
                abort();
            break;
        }
        }
    }
    dev->ops->destroy(dev);
    return 0;
}
