/* The saved state of one virtio device: its virtio-mmio transport (registers
 * and queue positions) and, for the devices that keep any, their own part as
 * the device encodes it (struct virtio_device_ops save/load). The device table
 * carries it as one message (proto/devices/virtio_mmio.proto); loading checks
 * every field (it comes from a file).
 *
 * What is deliberately not here:
 * - The rings and buffers: they live in guest RAM, restored with it. Loading
 *   maps the rings again (virtq_init) without reading them.
 * - The interrupt line: it is edge-triggered, and a pending edge belongs to
 *   the interrupt controller's state. InterruptStatus is here.
 * - QueueNumMax, the offered features, the config space of virtio-blk (from
 *   its disk) and of virtio-gpu: derived from the device as created. */
#ifndef IGNITION_VIRTIO_MMIO_STATE_H
#define IGNITION_VIRTIO_MMIO_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "virtio_mmio.h"

/* One queue as the driver set it up, and where the device has got to in it.
 * A queue that is not ready keeps only what the driver wrote (num and the
 * three addresses); its positions are 0, as enabling it starts them anew. */
struct virtio_mmio_queue_state {
    uint32_t num;  /* QueueNum */
    uint8_t ready; /* 0 or 1 (bytes from a file are no bool) */
    uint64_t desc, driver, device;
    uint16_t last_avail; /* next available entry the device takes */
    uint16_t used_idx;   /* the used index it has published */
    uint8_t event_idx;   /* 0 or 1: VIRTIO_F_EVENT_IDX as negotiated when it was enabled */
};

struct virtio_mmio_state {
    uint32_t device_id; /* §5: must match the device it is loaded into */
    uint32_t status;
    uint64_t driver_features;
    uint32_t device_features_sel, driver_features_sel;
    uint32_t queue_sel;
    uint32_t interrupt_status;
    uint32_t config_generation;
    /* Queues past the device's number stay zero. */
    struct virtio_mmio_queue_state queues[VIRTIO_MMIO_MAX_QUEUES];
    /* The device's own part (last, so the fields before it compare bytewise):
     * empty for the devices that keep nothing beyond their queues, virtio-blk
     * (completes every request it takes before a save, see virtio_blk.h),
     * virtio-console (output goes out synchronously; input it cannot take
     * stays with its sender) and virtio-rng. Owned by the state. */
    struct device_state_bytes device;
};

/* Frees the device part (safe on a zeroed state, and twice). */
void virtio_mmio_state_free(struct virtio_mmio_state *state);

/* The state as its message. encode refuses (-EINVAL) nothing it can hold;
 * decode what does not decode or does not fit the structure (-EINVAL, reason
 * in err, what names the device); the values are virtio_mmio_load's to check.
 * A decoded state owns a copy of the device's bytes. */
int virtio_mmio_state_encode(const struct virtio_mmio_state *in, struct device_state_bytes *out);
int virtio_mmio_state_decode(const uint8_t *state, size_t len, struct virtio_mmio_state *out,
                             const char *what, char *err, size_t err_len);

#endif
