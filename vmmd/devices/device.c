#include "device.h"

#include <libfdt.h>
#include <stdio.h>
#include <string.h>

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

int device_fdt_primecell(void *fdt, const struct device *dev, const char *name,
                         const struct fdt_phandles *phandles, const char *clock_names,
                         size_t clock_names_len)
{
    static const char primecell[] = "arm,primecell";
    char compatible[64];
    int n = snprintf(compatible, sizeof(compatible), "arm,%s", name);
    if (n < 0 || (size_t)n + 1 + sizeof(primecell) > sizeof(compatible))
        return -FDT_ERR_BADVALUE;
    memcpy(compatible + n + 1, primecell, sizeof(primecell));
    fdt32_t clocks[4];
    unsigned nclocks = 0;
    for (size_t i = 0; i < clock_names_len && nclocks < 4; i += strlen(clock_names + i) + 1)
        clocks[nclocks++] = cpu_to_fdt32(phandles->apb_pclk);
    int err = device_fdt_begin(fdt, name, dev->base, dev->size);
    if (!err)
        err = fdt_property(fdt, "compatible", compatible, n + 1 + (int)sizeof(primecell));
    if (!err)
        err = device_fdt_spi(fdt, dev->irq.intid, false);
    if (!err)
        err = fdt_property(fdt, "clocks", clocks, (int)(nclocks * sizeof(fdt32_t)));
    if (!err)
        err = fdt_property(fdt, "clock-names", clock_names, (int)clock_names_len);
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}
