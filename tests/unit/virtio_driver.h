/* A virtio guest driver for unit tests: fake guest RAM, the virtio-mmio
 * registers a driver writes to bring a device up, and split queues whose rings
 * the test lays out and fills as Linux's driver would. */
#ifndef IGNITION_TEST_VIRTIO_DRIVER_H
#define IGNITION_TEST_VIRTIO_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/virtqueue.h"

/* virtio 1.2 §4.2.2 register offsets */
enum {
    VD_DEVICE_ID = 0x008, VD_DEV_FEATURES = 0x010, VD_DEV_FEATURES_SEL = 0x014,
    VD_DRV_FEATURES = 0x020, VD_DRV_FEATURES_SEL = 0x024, VD_QUEUE_SEL = 0x030,
    VD_QUEUE_NUM_MAX = 0x034, VD_QUEUE_NUM = 0x038, VD_QUEUE_READY = 0x044,
    VD_QUEUE_NOTIFY = 0x050, VD_INT_STATUS = 0x060, VD_INT_ACK = 0x064, VD_STATUS = 0x070,
    VD_DESC_LOW = 0x080, VD_DRIVER_LOW = 0x090, VD_DEVICE_LOW = 0x0a0,
    VD_CONFIG_GEN = 0x0fc, VD_CONFIG = 0x100,
};

#define VD_RAM_GPA 0x40000000ull

/* Guest RAM at VD_RAM_GPA, zeroed, and an interrupt line counting edges (from
 * any thread). */
struct vd_guest {
    uint8_t *mem;
    struct guest_ram ram;
    int edges;
};

void vd_guest_init(struct vd_guest *g, uint64_t ram_size);
void vd_guest_free(struct vd_guest *g);
struct irq_line vd_irq(struct vd_guest *g, unsigned intid);
int vd_edges(struct vd_guest *g);
uint8_t *vd_at(const struct vd_guest *g, uint64_t gpa);

uint32_t vd_read(struct device *dev, uint64_t off);
void vd_write(struct device *dev, uint64_t off, uint32_t value);
uint8_t vd_config_byte(struct device *dev, unsigned off);

/* One split queue as the driver sees it: where its rings are, the avail index
 * it has published and the used entries it has consumed. */
struct vd_queue {
    uint64_t desc, avail, used;
    uint16_t size, avail_idx, used_seen;
};

/* Lays out a queue of size entries from base: table, avail ring, used ring. */
struct vd_queue vd_queue_at(uint64_t base, uint16_t size);

/* ACKNOWLEDGE, DRIVER, the features, FEATURES_OK (not checked). */
void vd_negotiate(struct device *dev, uint64_t features);
void vd_enable_queue(struct device *dev, unsigned index, const struct vd_queue *q);
void vd_driver_ok(struct device *dev);

void vd_put_desc(const struct vd_guest *g, const struct vd_queue *q, unsigned i, uint64_t addr,
                 uint32_t len, uint16_t flags, uint16_t next);
/* Publishes chain head in the avail ring (no notification). */
void vd_offer(const struct vd_guest *g, struct vd_queue *q, uint16_t head);
/* The used_event field (EVENT_IDX): interrupt when the used index passes it. */
void vd_set_used_event(const struct vd_guest *g, const struct vd_queue *q, uint16_t value);
uint16_t vd_used_idx(const struct vd_guest *g, const struct vd_queue *q);
void vd_used_elem(const struct vd_guest *g, const struct vd_queue *q, uint16_t i, uint32_t *id,
                  uint32_t *len);
/* Waits up to two seconds for the used index to reach want (devices with
 * their own threads). */
bool vd_wait_used(const struct vd_guest *g, const struct vd_queue *q, uint16_t want);

#endif
