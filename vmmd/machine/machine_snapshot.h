/* A running machine's state, as a snapshot keeps it: every vCPU (with its
 * generic timer) and every device's own state, in the order of the machine's
 * device table. Guest RAM is not here: it is the snapshot's memory file. The
 * machine knows no device's state: each entry is the bytes the device's save
 * gave (its own message, vmmd/devices/device.h), which only its load reads.
 * The manifest (protobuf) carries it to disk and back. */
#ifndef IGNITION_MACHINE_SNAPSHOT_H
#define IGNITION_MACHINE_SNAPSHOT_H

#include <stdint.h>

#include "devices/device.h"
#include "hv/hv.h"

/* vCPUs a machine has at most (and so a snapshot). */
#define MACHINE_MAX_CPUS 64
#define MACHINE_MAX_CPUS_TEXT "64"
/* Devices a snapshot holds at most (the machine's device table). */
#define MACHINE_SNAPSHOT_MAX_DEVICES 32
/* A device kind's length at most ("virtio-input-keyboard", ...). */
#define MACHINE_DEVICE_KIND_MAX 31

struct machine_device_state {
    char kind[MACHINE_DEVICE_KIND_MAX + 1]; /* device_kind(): which model */
    uint64_t base;                          /* its MMIO base: which one */
    struct device_state_bytes state;        /* owned */
};

struct machine_snapshot {
    unsigned num_vcpus; /* 1 .. MACHINE_MAX_CPUS */
    struct hv_vcpu_state vcpus[MACHINE_MAX_CPUS];
    unsigned num_devices;
    struct machine_device_state devices[MACHINE_SNAPSHOT_MAX_DEVICES];
};

#endif
