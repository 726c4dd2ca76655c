/* libFuzzer harness: the virtio-mmio register interface (with virtio-rng behind
 * it) driven by arbitrary guest register accesses. The input is guest RAM
 * followed by a list of accesses: offset (2 bytes), size code, write flag and a
 * 32-bit value each. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio_rng.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x8000u
#define ACCESS_SIZE 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram_bytes[RAM_SIZE];
    size_t ram_len = size < RAM_SIZE ? size : RAM_SIZE;
    memset(ram_bytes, 0, sizeof(ram_bytes));
    memcpy(ram_bytes, data, ram_len);
    struct guest_ram ram = {.gpa = RAM_GPA, .size = RAM_SIZE, .host = ram_bytes};
    struct device *dev =
        virtio_rng_create(0x0a000000, (struct irq_line){.set = no_irq, .intid = 48}, &ram);
    if (!dev)
        return 0;
    static const unsigned sizes[4] = {1, 2, 4, 8};
    for (size_t at = ram_len; at + ACCESS_SIZE <= size; at += ACCESS_SIZE) {
        const uint8_t *a = data + at;
        uint64_t offset = (uint64_t)(a[0] | a[1] << 8) % 0x200;
        unsigned width = sizes[a[2] & 3];
        uint32_t value = (uint32_t)a[4] | (uint32_t)a[5] << 8 | (uint32_t)a[6] << 16 |
                         (uint32_t)a[7] << 24;
        /* Queue addresses are steered into (or just around) RAM so that the
         * interesting paths are reached. */
        if (offset >= 0x80 && offset < 0xa8 && !(offset & 4))
            value = (uint32_t)RAM_GPA + (value % (RAM_SIZE + 0x100));
        if (a[3] & 1)
            dev->ops->write(dev, offset, width, value);
        else
            (void)dev->ops->read(dev, offset, width);
    }
    dev->ops->destroy(dev);
    return 0;
}
