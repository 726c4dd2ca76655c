/* virtio-blk (virtio 1.2 §5.2) over a disk image (disk.h). Requests run on the
 * device's own I/O thread, so a slow host disk never stalls the vCPU. */
#ifndef IGNITION_VIRTIO_BLK_H
#define IGNITION_VIRTIO_BLK_H

#include "device.h"
#include "storage/disk.h"
#include "virtqueue.h"

/* Snapshots (virtio_mmio_save): the device keeps nothing beyond its transport
 * and queue. Saving first waits for the I/O thread to complete every request
 * it has taken, so none is in flight in a snapshot; the disk's own state is
 * captured with the disk. */

/* The device owns disk from then on (also when creation fails). */
struct device *virtio_blk_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram,
                                 struct disk *disk);

/* One request, as the I/O thread runs it: reads the header and data from the
 * chain, performs it on disk, writes the status byte. Returns the bytes
 * written into the chain, or -1 when the chain has no room for a status. */
int virtio_blk_handle(struct disk *disk, const struct virtq_chain *chain);

#endif
