/* A device model describes itself once: its MMIO window, its interrupt line,
 * its device-tree node and its register behaviour come from one table, so the
 * machine enumerates devices without knowing any of them. */
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

struct device_ops {
    const char *name;
    /* Register access at offset within the window; size is 1, 2, 4 or 8. */
    uint64_t (*read)(struct device *dev, uint64_t offset, unsigned size);
    void (*write)(struct device *dev, uint64_t offset, unsigned size, uint64_t value);
    /* Adds this device's node (libfdt sequential-write); returns 0 or a libfdt error. */
    int (*fdt_node)(struct device *dev, void *fdt, const struct fdt_phandles *phandles);
    void (*destroy)(struct device *dev);
    /* Optional: host memory (page aligned, the window's size) that holds what
     * the window reads, for a device the guest reads with any load its memcpy
     * picks. A backend that decodes only single loads and stores (kvm, hvf)
     * maps it read-only into the guest; writes still reach write(). */
    void *(*guest_memory)(struct device *dev);
};

struct device {
    const struct device_ops *ops;
    uint64_t base, size;
    struct irq_line irq;
};

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
