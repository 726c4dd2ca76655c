/* A device model describes itself once: its MMIO window, its interrupt line,
 * its device-tree node, its register behaviour and its snapshot state come from
 * one table, so the machine enumerates devices without knowing any of them.
 *
 * How a device keeps its state in a snapshot:
 *
 *  1. Its state is one protobuf message of its own, in proto/devices/NAME.proto
 *     (package ignition.devices), listed in proto/meson.build's device_protos.
 *     The message is the normative schema of the device's saved state.
 *  2. Its ops table has save and load. save encodes the device's state as that
 *     message (device_state_pack, device_state.h); load decodes it under an
 *     allocation budget (device_state_unpack), checks every field, and only
 *     then applies it: refused state leaves the device as it was created (or,
 *     for virtio devices, reset).
 *  3. Its kind (struct device's kind, or its ops' name) names it in the
 *     manifest, which keeps {kind, MMIO base, state bytes} per device and
 *     never looks inside the bytes (vmmd/storage/snapshot_manifest.c).
 *  4. machine.c saves by walking its device list from the last device to the
 *     first and restores from the first to the last; it names no device.
 *
 * A virtio device does the same through its struct virtio_device_ops
 * (virtio_mmio.h): the transport's state (proto/devices/virtio_mmio.proto)
 * carries the device's own bytes. A new device adds its own .c/.h file (and
 * its line in vmmd/meson.build), its .proto (and its name in proto/meson.build),
 * the line in machine.c that creates it, its unit tests and a fuzz harness of
 * its state; nothing in the manifest or in machine.c's snapshot code changes. */
#ifndef IGNITION_DEVICE_H
#define IGNITION_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An interrupt output wired to the interrupt controller. */
struct irq_line {
    void (*set)(void *opaque, unsigned intid, bool level);
    void *opaque;
    unsigned intid; /* GIC INTID: SPI n is 32 + n */
};

static inline void irq_line_set(const struct irq_line *line, bool level)
{
    if (line->set)
        line->set(line->opaque, line->intid, level);
}

/* Phandles of the nodes that device nodes refer to. */
struct fdt_phandles {
    uint32_t gic;
    uint32_t apb_pclk;
};

struct device;

/* A device's saved state: its own protobuf message, encoded (malloc'd). */
struct device_state_bytes {
    uint8_t *data;
    size_t len;
};

struct device_ops {
    const char *name;
    /* Register access at offset within the window; size is 1, 2, 4 or 8. */
    uint64_t (*read)(struct device *dev, uint64_t offset, unsigned size);
    void (*write)(struct device *dev, uint64_t offset, unsigned size, uint64_t value);
    /* Adds this device's node (libfdt sequential-write); returns 0 or a libfdt
     * error. read, write and fdt_node may be NULL for a device whose window is
     * empty (size 0): the interrupt controller, which the backend serves. */
    int (*fdt_node)(struct device *dev, void *fdt, const struct fdt_phandles *phandles);
    void (*destroy)(struct device *dev);
    /* Snapshots (both or neither; a device without them keeps no state). save
     * runs with the vCPUs stopped and fills out with newly allocated bytes:
     * 0, or -errno (-ENOMEM). load runs on a device just created, before the
     * guest runs: it decodes state, checks every field and applies nothing
     * unless all of it is valid. 0; -EINVAL with the reason in err; -ENOMEM. */
    int (*save)(struct device *dev, struct device_state_bytes *out);
    int (*load)(struct device *dev, const uint8_t *state, size_t len, char *err,
                size_t err_len);
    /* Optional: host memory (page aligned, the window's size) that holds what
     * the window reads, for a device the guest reads with any load its memcpy
     * picks. A backend that decodes only single loads and stores (kvm, hvf)
     * maps it read-only into the guest; writes still reach write(). */
    void *(*guest_memory)(struct device *dev);
    /* Optional: on the vCPU thread, on a backend whose guest barriers are not
     * host barriers (hv_io.recheck_notifications, which says when): catches a
     * notification a device thread and the driver missed between them
     * (virtio-mmio; virtqueue.h says how). */
    void (*recheck_notifications)(struct device *dev);
};

struct device {
    const struct device_ops *ops;
    /* What the snapshot's manifest calls this device; NULL: ops->name. (The
     * virtio-mmio transport sets its device's name: "virtio-blk", ...) */
    const char *kind;
    uint64_t base, size;
    struct irq_line irq;
};

static inline const char *device_kind(const struct device *dev)
{
    return dev->kind ? dev->kind : dev->ops->name;
}

/* Writes the interrupts property of a device with one level/edge SPI. */
int device_fdt_spi(void *fdt, unsigned intid, bool edge);
/* Begins a node named "<name>@<base in hex>" with its reg property. */
int device_fdt_begin(void *fdt, const char *name, uint64_t base, uint64_t size);
/* The whole node of an Arm PrimeCell (AMBA) device: "<name>@base", compatible
 * "arm,<name>" + "arm,primecell", its level SPI, and one clock per name in
 * clock_names (NUL-separated, clock_names_len bytes), all fed by the APB clock. */
int device_fdt_primecell(void *fdt, const struct device *dev, const char *name,
                         const struct fdt_phandles *phandles, const char *clock_names,
                         size_t clock_names_len);

#endif
