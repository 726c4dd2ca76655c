/* libFuzzer harness: the virtio-mmio register interface (with virtio-rng behind
 * it) driven by arbitrary guest register accesses. The input starts with a count
 * n, then n accesses of 8 bytes (offset (2), size code, write flag, 32-bit
 * value), then guest RAM. */
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
    if (size < 1)
        return 0;
    size_t accesses = data[0];
    if (1 + accesses * ACCESS_SIZE > size)
        accesses = (size - 1) / ACCESS_SIZE;
    const uint8_t *access = data + 1;
    const uint8_t *ram_data = access + accesses * ACCESS_SIZE;
    size_t ram_len = (size_t)(data + size - ram_data);
    memset(ram_bytes, 0, sizeof(ram_bytes));
    memcpy(ram_bytes, ram_data, ram_len < RAM_SIZE ? ram_len : RAM_SIZE);
    struct guest_ram ram = {.gpa = RAM_GPA, .size = RAM_SIZE, .host = ram_bytes};
    struct device *dev =
        virtio_rng_create(0x0a000000, (struct irq_line){.set = no_irq, .intid = 48}, &ram);
    if (!dev)
        return 0;
    static const unsigned sizes[4] = {1, 2, 4, 8};
    for (size_t i = 0; i < accesses; i++) {
        const uint8_t *a = access + i * ACCESS_SIZE;
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
