/* For the virtio harnesses: a driver that sets a device's queues up over its
 * MMIO registers in a small guest RAM whose rings and buffers come from the
 * fuzzer, and the check that the device wrote nothing in guest RAM but the
 * used rings and the buffers the guest marked device-writable. */
#ifndef IGNITION_FUZZ_GUEST_DRIVER_H
#define IGNITION_FUZZ_GUEST_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "devices/virtio.h"
#include "devices/virtio_mmio.h"

#define GUEST_RAM_GPA 0x40000000ull
#define GUEST_RAM_SIZE 0x2000u
#define GUEST_QSIZE 16
/* Queue q's rings: descriptors, then the available and used rings. */
#define GUEST_DESC(q) (0x400u * (q))
#define GUEST_AVAIL(q) (GUEST_DESC(q) + 0x100u)
#define GUEST_USED(q) (GUEST_DESC(q) + 0x140u)
#define GUEST_USED_BYTES (4u + 8u * GUEST_QSIZE + 2u)

enum { GD_DRV_FEATURES = 0x020, GD_DRV_FEATURES_SEL = 0x024, GD_QUEUE_SEL = 0x030,
       GD_QUEUE_NUM = 0x038, GD_QUEUE_READY = 0x044, GD_QUEUE_NOTIFY = 0x050,
       GD_STATUS = 0x070, GD_DESC_LOW = 0x080, GD_DRIVER_LOW = 0x090, GD_DEVICE_LOW = 0x0a0 };

static inline void gd_no_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
}

/* Features (VERSION_1, with EVENT_IDX and INDIRECT_DESC as asked), then each
 * queue at its fixed place, then DRIVER_OK. */
static inline void gd_init(struct device *dev, unsigned queues, bool event_idx, bool indirect)
{
    uint64_t features = 1ull << VIRTIO_F_VERSION_1 |
                        (event_idx ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
                        (indirect ? 1ull << VIRTIO_F_INDIRECT_DESC : 0);
    uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    dev->ops->write(dev, GD_STATUS, 4, status);
    for (unsigned sel = 0; sel < 2; sel++) {
        dev->ops->write(dev, GD_DRV_FEATURES_SEL, 4, sel);
        dev->ops->write(dev, GD_DRV_FEATURES, 4, (uint32_t)(features >> (32 * sel)));
    }
    status |= VIRTIO_STATUS_FEATURES_OK;
    dev->ops->write(dev, GD_STATUS, 4, status);
    for (unsigned q = 0; q < queues; q++) {
        dev->ops->write(dev, GD_QUEUE_SEL, 4, q);
        dev->ops->write(dev, GD_QUEUE_NUM, 4, GUEST_QSIZE);
        dev->ops->write(dev, GD_DESC_LOW, 4, (uint32_t)GUEST_RAM_GPA + GUEST_DESC(q));
        dev->ops->write(dev, GD_DRIVER_LOW, 4, (uint32_t)GUEST_RAM_GPA + GUEST_AVAIL(q));
        dev->ops->write(dev, GD_DEVICE_LOW, 4, (uint32_t)GUEST_RAM_GPA + GUEST_USED(q));
        dev->ops->write(dev, GD_QUEUE_READY, 4, 1);
    }
    dev->ops->write(dev, GD_STATUS, 4, status | VIRTIO_STATUS_DRIVER_OK);
}

/* The used rings are the device's: a driver hands them over zeroed. */
static inline void gd_clear_used(uint8_t *ram, unsigned queues)
{
    for (unsigned q = 0; q < queues; q++)
        memset(ram + GUEST_USED(q), 0, GUEST_USED_BYTES);
}

static inline void gd_mark(uint8_t *allowed, uint64_t gpa, uint64_t len)
{
    if (gpa < GUEST_RAM_GPA || gpa >= GUEST_RAM_GPA + GUEST_RAM_SIZE)
        return;
    uint64_t from = gpa - GUEST_RAM_GPA;
    uint64_t to = len > GUEST_RAM_SIZE - from ? GUEST_RAM_SIZE : from + len;
    memset(allowed + from, 1, (size_t)(to - from));
}

/* What the device may write: queue q's used ring and every buffer its
 * descriptors (and the indirect tables they point at) mark device-writable. */
static inline void gd_writable(const uint8_t *ram, unsigned q, uint8_t *allowed)
{
    gd_mark(allowed, GUEST_RAM_GPA + GUEST_USED(q), GUEST_USED_BYTES);
    for (unsigned i = 0; i < GUEST_QSIZE; i++) {
        const uint8_t *d = ram + GUEST_DESC(q) + 16u * i;
        uint64_t addr = le64(d);
        uint32_t len = le32(d + 8);
        uint16_t flags = le16(d + 12);
        if (flags & VIRTQ_DESC_F_WRITE)
            gd_mark(allowed, addr, len);
        if (!(flags & VIRTQ_DESC_F_INDIRECT) || addr < GUEST_RAM_GPA ||
            addr >= GUEST_RAM_GPA + GUEST_RAM_SIZE)
            continue;
        for (uint64_t at = addr - GUEST_RAM_GPA; at + 16 <= GUEST_RAM_SIZE && at < addr -
             GUEST_RAM_GPA + len; at += 16)
            if (le16(ram + at + 12) & VIRTQ_DESC_F_WRITE)
                gd_mark(allowed, le64(ram + at), le32(ram + at + 8));
    }
}

/* Aborts when a byte of ram differs from before where the device had no
 * business writing. */
static inline void gd_check_writes(const uint8_t *before, const uint8_t *after,
                                   const uint8_t *allowed)
{
    for (unsigned i = 0; i < GUEST_RAM_SIZE; i++)
        if (before[i] != after[i] && !allowed[i])
            abort();
}

static inline bool gd_any_allowed(const uint8_t *allowed, unsigned at, unsigned len)
{
    for (unsigned i = at; i < at + len && i < GUEST_RAM_SIZE; i++)
        if (allowed[i])
            return true;
    return false;
}

/* The used ring of queue q: its index moved by at most the buffers the guest
 * made available, and each element names a descriptor of the ring. Bytes the
 * guest itself handed to the device as a writable buffer (allowed, from
 * gd_writable) are the guest's own mistake: a ring laid over such a buffer
 * holds whatever the device wrote there last, so those are not judged. */
static inline void gd_check_used(const uint8_t *ram, unsigned q, uint16_t used_before,
                                 const uint8_t *allowed)
{
    uint16_t used = le16(ram + GUEST_USED(q) + 2);
    uint16_t moved = (uint16_t)(used - used_before);
    if (moved > GUEST_QSIZE)
        abort();
    if (!gd_any_allowed(allowed, GUEST_AVAIL(q) + 2, 2)) {
        uint16_t avail = le16(ram + GUEST_AVAIL(q) + 2);
        if (moved > (uint16_t)(avail - used_before) + GUEST_QSIZE)
            abort();
    }
    for (uint16_t k = 0; k < moved; k++) {
        unsigned at = GUEST_USED(q) + 4 + 8u * ((uint16_t)(used_before + k) % GUEST_QSIZE);
        if (!gd_any_allowed(allowed, at, 4) && le32(ram + at) >= GUEST_QSIZE)
            abort();
    }
}

#endif
