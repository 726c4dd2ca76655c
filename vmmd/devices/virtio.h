/* Virtio constants, written from the specification (Virtual I/O Device
 * (VIRTIO) Version 1.2, OASIS), each with its section. tests/unit/test_virtqueue.c
 * checks them against Linux's <linux/virtio_*.h> where those exist. */
#ifndef IGNITION_VIRTIO_H
#define IGNITION_VIRTIO_H

/* §2.1 Device Status Field */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

/* §6 Reserved Feature Bits */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35

/* §2.7.5 The Virtqueue Descriptor Table */
#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_DESC_SIZE 16u

/* §2.7.6 The Virtqueue Available Ring, §2.7.8 The Virtqueue Used Ring */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY 1u

/* §2.7 Split Virtqueues: "Queue Size ... maximum ... is 32768" */
#define VIRTQ_MAX_SIZE 32768u

/* §2.7 alignment of the three parts of a split virtqueue */
#define VIRTQ_DESC_ALIGN 16u
#define VIRTQ_AVAIL_ALIGN 2u
#define VIRTQ_USED_ALIGN 4u

#endif
