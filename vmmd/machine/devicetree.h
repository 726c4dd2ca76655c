/* The guest's device tree, built with libfdt from the machine's description. */
#ifndef IGNITION_DEVICETREE_H
#define IGNITION_DEVICETREE_H

#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"
#include "hv/hv.h"

#define FDT_MAX_SIZE 0x10000
#define FDT_RNG_SEED_SIZE 64

struct fdt_machine {
    uint64_t ram_base, ram_size;
    unsigned num_cpus; /* 0 means 1 */
    struct hv_gic_layout gic; /* redist_size per vCPU */
    struct device *const *devices;
    unsigned num_devices;
    const struct device *stdout_device; /* for /chosen/stdout-path */
    const char *bootargs;
    uint64_t initrd_start, initrd_end; /* end == start: none */
    uint8_t rng_seed[FDT_RNG_SEED_SIZE];
    uint64_t kaslr_seed;
};

/* Writes the device tree into buf. Returns 0 or a negative libfdt error. */
int fdt_build(const struct fdt_machine *m, void *buf, size_t size);

#endif
