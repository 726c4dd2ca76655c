#include "device.h"

#include <libfdt.h>
#include <stdio.h>

#define GIC_FDT_SPI 0
#define GIC_FDT_EDGE_RISING 1
#define GIC_FDT_LEVEL_HIGH 4

int device_fdt_spi(void *fdt, unsigned intid, bool edge)
{
    fdt32_t cells[3] = {
        cpu_to_fdt32(GIC_FDT_SPI),
        cpu_to_fdt32(intid - 32),
        cpu_to_fdt32(edge ? GIC_FDT_EDGE_RISING : GIC_FDT_LEVEL_HIGH),
    };
    return fdt_property(fdt, "interrupts", cells, sizeof(cells));
}

int device_fdt_begin(void *fdt, const char *name, uint64_t base, uint64_t size)
{
    char node[64];
    snprintf(node, sizeof(node), "%s@%llx", name, (unsigned long long)base);
    int err = fdt_begin_node(fdt, node);
    if (err)
        return err;
    fdt64_t reg[2] = {cpu_to_fdt64(base), cpu_to_fdt64(size)};
    return fdt_property(fdt, "reg", reg, sizeof(reg));
}
