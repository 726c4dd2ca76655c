/* A running machine's state, as a snapshot keeps it: the vCPU (with its
 * generic timer), the interrupt controller, the UART, the RTC, and every
 * virtio device (transport and device parts, in slot order). Guest RAM is
 * not here: it is the snapshot's memory file. Plain data; the manifest
 * (protobuf) carries it to disk and back. */
#ifndef IGNITION_MACHINE_SNAPSHOT_H
#define IGNITION_MACHINE_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/gicv3.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_mmio_state.h"
#include "devices/vmgenid.h"
#include "hv/hv.h"

/* Virtio slots a machine may have: 16 disks, rng, console, gpu, keyboard, tablet, net. */
#define MACHINE_SNAPSHOT_MAX_VIRTIO 24

struct machine_snapshot_virtio {
    uint64_t base; /* the slot's MMIO base: MACHINE_VIRTIO_BASE + 0x200 * slot */
    struct virtio_mmio_state transport; /* with its device part (device_id tags it) */
};

struct machine_snapshot {
    struct hv_vcpu_state vcpu;
    struct gicv3_state gic;
    struct pl011_state uart;
    struct pl031_state rtc;
    /* The generation id, absent (false) from snapshots made before the device. */
    bool has_genid;
    struct vmgenid_state genid;
    unsigned num_virtio;
    struct machine_snapshot_virtio virtio[MACHINE_SNAPSHOT_MAX_VIRTIO];
    /* The virtio-gpu's own state (variable-sized: resources and their
     * backing lists), when the machine has one. Free with virtio_gpu_state_free. */
    bool has_gpu;
    struct virtio_gpu_state gpu;
};

#endif
