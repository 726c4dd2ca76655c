/* The virtio-mmio transport, version 2 (virtio 1.2 §4.2), shared by every virtio
 * device. A device supplies one ops table; the transport does feature
 * negotiation, queue setup, notifications, interrupts, config space and reset. */
#ifndef IGNITION_VIRTIO_MMIO_H
#define IGNITION_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "virtqueue.h"

#define VIRTIO_MMIO_SIZE 0x200
#define VIRTIO_MMIO_MAX_QUEUES 8

struct virtio_mmio;
struct virtio_mmio_state; /* virtio_mmio_state.h */

struct virtio_device_ops {
    const char *name;
    uint32_t device_id;       /* §5 */
    uint64_t features;        /* device-specific bits; VERSION_1 etc. are added */
    unsigned num_queues;
    uint16_t queue_max;       /* QueueNumMax */
    size_t config_size;
    /* Config space bytes [offset, offset + len), already bounds-checked. */
    void (*config_read)(void *dev, size_t offset, uint8_t *out, size_t len);
    void (*config_write)(void *dev, size_t offset, const uint8_t *in, size_t len);
    /* The driver notified queue q (ready, in range); called with the transport
     * locked. */
    void (*notify)(void *dev, struct virtio_mmio *t, unsigned q);
    void (*reset)(void *dev);
    /* Queue q is being reset or switched off (transport locked): work taken
     * from it must not complete into whatever rings come next. Optional. */
    void (*queue_stop)(void *dev, unsigned q);
    void (*destroy)(void *dev);
    /* Snapshots; each optional. quiesce (transport unlocked, vCPUs stopped)
     * waits until work taken from the queues is complete, so their positions
     * are final. save and load (transport locked) carry the device's own state
     * beyond its queues, as its own protobuf message (device.h says how): the
     * transport keeps the bytes inside its own state. load runs before the
     * transport's registers and queues are put back (they are checked by
     * then): it decodes and checks every field, applies nothing unless all of
     * it is valid, and returns 0, -EINVAL with the reason in err, or -ENOMEM;
     * on failure the transport resets the device. A device without load keeps
     * nothing beyond its queues (a snapshot that says otherwise is refused);
     * it may still have a save that leaves out empty, to refuse a save while
     * it has work in flight (-EBUSY). */
    void (*quiesce)(void *dev);
    int (*save)(void *dev, struct device_state_bytes *out);
    int (*load)(void *dev, const uint8_t *state, size_t len, char *err, size_t err_len);
};

/* Creates the transport for a device; it owns dev from then on. */
struct device *virtio_mmio_create(uint64_t base, struct irq_line irq,
                                  const struct virtio_device_ops *ops, void *dev,
                                  const struct guest_ram *ram);

/* Device work that does not start from a notification (host input arriving on
 * another thread) holds the transport lock while it touches queues. */
void virtio_mmio_lock(struct virtio_mmio *t);
void virtio_mmio_unlock(struct virtio_mmio *t);
struct virtio_mmio *virtio_mmio_of(struct device *dev);
void *virtio_mmio_device_state(struct virtio_mmio *t);

/* The features the driver accepted (meaningful once FEATURES_OK is set). */
uint64_t virtio_mmio_driver_features(struct virtio_mmio *t);
/* For device code (transport locked): the ready queue q, or NULL. */
struct virtq *virtio_mmio_queue(struct virtio_mmio *t, unsigned q);
/* After pushing used entries on queue q (used index was old_used before them):
 * raises the used-buffer interrupt if the driver wants one; true if it did. */
bool virtio_mmio_used(struct virtio_mmio *t, unsigned q, uint16_t old_used);
/* After pushing used entries on queue q when an interrupt was just raised for
 * another queue of the device (one interrupt covers every queue): none of its
 * own, and nothing for virtio_mmio_recheck_notifications to catch up on. */
void virtio_mmio_used_covered(struct virtio_mmio *t, unsigned q);
/* The device changed its config space (e.g. new display modes): bumps
 * ConfigGeneration and raises the configuration-change interrupt. Recursive
 * lock: callable with or without the transport locked. */
void virtio_mmio_config_changed(struct virtio_mmio *t);
/* The device found a broken request: DEVICE_NEEDS_RESET and a config interrupt. */
void virtio_mmio_needs_reset(struct virtio_mmio *t);

/* Snapshot of the transport and the device's own part (virtio_mmio_state.h),
 * taken with the vCPUs stopped: out is overwritten whole, and owns the
 * device's bytes (virtio_mmio_state_free). Returns 0 or a device's -errno.
 * The device table's save is this, encoded. */
int virtio_mmio_save(struct device *dev, struct virtio_mmio_state *out);

/* Into a freshly created device whose guest RAM already holds the rings,
 * before the guest runs. Everything in `in` is checked; -EINVAL (reason in
 * err) leaves the device reset. The transport raises no interrupt and reads no
 * guest memory (a device's own load may: virtio-gpu reads its pixels back).
 * The device table's load is this, decoded. */
int virtio_mmio_load(struct device *dev, const struct virtio_mmio_state *in, char *err,
                     size_t err_len);

#endif
