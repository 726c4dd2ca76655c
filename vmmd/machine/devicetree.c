/* Device tree for the ignition arm64 machine. Bindings: Linux's
 * Documentation/devicetree/bindings (arm/psci, timer/arm,arch_timer,
 * interrupt-controller/arm,gic-v3, serial/pl011, rtc/pl031, chosen). */
#include "machine/devicetree.h"

#include <libfdt.h>
#include <stdio.h>

#include "devices/arch_timer.h"

#define PHANDLE_GIC 1
#define PHANDLE_APB_PCLK 2
#define GIC_FDT_PPI 1
#define GIC_FDT_LEVEL_HIGH 4
#define APB_PCLK_HZ 24000000

#define TRY(expr)                 \
    do {                          \
        int err_ = (expr);        \
        if (err_)                 \
            return err_;          \
    } while (0)

static int fdt_u64_pair(void *fdt, const char *name, uint64_t a, uint64_t b)
{
    fdt64_t cells[2] = {cpu_to_fdt64(a), cpu_to_fdt64(b)};
    return fdt_property(fdt, name, cells, sizeof(cells));
}

static int add_cpus(void *fdt)
{
    TRY(fdt_begin_node(fdt, "cpus"));
    TRY(fdt_property_u32(fdt, "#address-cells", 1));
    TRY(fdt_property_u32(fdt, "#size-cells", 0));
    TRY(fdt_begin_node(fdt, "cpu@0"));
    TRY(fdt_property_string(fdt, "device_type", "cpu"));
    TRY(fdt_property_string(fdt, "compatible", "arm,cortex-a57"));
    TRY(fdt_property_u32(fdt, "reg", 0));
    TRY(fdt_property_string(fdt, "enable-method", "psci"));
    TRY(fdt_end_node(fdt));
    return fdt_end_node(fdt);
}

static int add_psci(void *fdt)
{
    static const char compatible[] = "arm,psci-1.0\0arm,psci-0.2";
    TRY(fdt_begin_node(fdt, "psci"));
    TRY(fdt_property(fdt, "compatible", compatible, sizeof(compatible)));
    TRY(fdt_property_string(fdt, "method", "hvc"));
    return fdt_end_node(fdt);
}

static int add_memory(void *fdt, const struct fdt_machine *m)
{
    char name[32];
    snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)m->ram_base);
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_string(fdt, "device_type", "memory"));
    TRY(fdt_u64_pair(fdt, "reg", m->ram_base, m->ram_size));
    return fdt_end_node(fdt);
}

static int add_timer(void *fdt)
{
    static const unsigned ppis[] = {ARCH_TIMER_PPI_SEC_PHYS, ARCH_TIMER_PPI_PHYS,
                                    ARCH_TIMER_PPI_VIRT, ARCH_TIMER_PPI_HYP};
    fdt32_t cells[12];
    for (unsigned i = 0; i < 4; i++) {
        cells[3 * i] = cpu_to_fdt32(GIC_FDT_PPI);
        cells[3 * i + 1] = cpu_to_fdt32(ppis[i]);
        cells[3 * i + 2] = cpu_to_fdt32(GIC_FDT_LEVEL_HIGH);
    }
    TRY(fdt_begin_node(fdt, "timer"));
    TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
    TRY(fdt_property(fdt, "interrupts", cells, sizeof(cells)));
    TRY(fdt_property(fdt, "always-on", NULL, 0));
    return fdt_end_node(fdt);
}

static int add_gic(void *fdt, const struct hv_gic_layout *gic)
{
    char name[32];
    snprintf(name, sizeof(name), "intc@%llx", (unsigned long long)gic->dist_base);
    fdt64_t reg[4] = {cpu_to_fdt64(gic->dist_base), cpu_to_fdt64(gic->dist_size),
                      cpu_to_fdt64(gic->redist_base), cpu_to_fdt64(gic->redist_size)};
    TRY(fdt_begin_node(fdt, name));
    TRY(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
    TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
    TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
    TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
    TRY(fdt_property_u32(fdt, "#redistributor-regions", 1));
    TRY(fdt_property_u32(fdt, "phandle", PHANDLE_GIC));
    return fdt_end_node(fdt);
}

static int add_apb_pclk(void *fdt)
{
    TRY(fdt_begin_node(fdt, "apb-pclk"));
    TRY(fdt_property_string(fdt, "compatible", "fixed-clock"));
    TRY(fdt_property_u32(fdt, "#clock-cells", 0));
    TRY(fdt_property_u32(fdt, "clock-frequency", APB_PCLK_HZ));
    TRY(fdt_property_string(fdt, "clock-output-names", "clk24mhz"));
    TRY(fdt_property_u32(fdt, "phandle", PHANDLE_APB_PCLK));
    return fdt_end_node(fdt);
}

static int add_chosen(void *fdt, const struct fdt_machine *m)
{
    TRY(fdt_begin_node(fdt, "chosen"));
    TRY(fdt_property_string(fdt, "bootargs", m->bootargs ? m->bootargs : ""));
    if (m->stdout_device) {
        char path[64];
        snprintf(path, sizeof(path), "/%s@%llx", m->stdout_device->ops->name,
                 (unsigned long long)m->stdout_device->base);
        TRY(fdt_property_string(fdt, "stdout-path", path));
    }
    if (m->initrd_end > m->initrd_start) {
        TRY(fdt_property_u64(fdt, "linux,initrd-start", m->initrd_start));
        TRY(fdt_property_u64(fdt, "linux,initrd-end", m->initrd_end));
    }
    TRY(fdt_property(fdt, "rng-seed", m->rng_seed, sizeof(m->rng_seed)));
    TRY(fdt_property_u64(fdt, "kaslr-seed", m->kaslr_seed));
    return fdt_end_node(fdt);
}

int fdt_build(const struct fdt_machine *m, void *buf, size_t size)
{
    const struct fdt_phandles phandles = {.gic = PHANDLE_GIC, .apb_pclk = PHANDLE_APB_PCLK};
    TRY(fdt_create(buf, (int)size));
    TRY(fdt_finish_reservemap(buf));
    TRY(fdt_begin_node(buf, ""));
    TRY(fdt_property_string(buf, "compatible", "linux,dummy-virt"));
    TRY(fdt_property_string(buf, "model", "ignition"));
    TRY(fdt_property_u32(buf, "#address-cells", 2));
    TRY(fdt_property_u32(buf, "#size-cells", 2));
    TRY(fdt_property_u32(buf, "interrupt-parent", PHANDLE_GIC));
    TRY(add_psci(buf));
    TRY(add_memory(buf, m));
    TRY(add_cpus(buf));
    TRY(add_timer(buf));
    TRY(add_gic(buf, &m->gic));
    TRY(add_apb_pclk(buf));
    for (unsigned i = 0; i < m->num_devices; i++)
        if (m->devices[i]->ops->fdt_node) /* the interrupt controller's is add_gic's */
            TRY(m->devices[i]->ops->fdt_node(m->devices[i], buf, &phandles));
    TRY(add_chosen(buf, m));
    TRY(fdt_end_node(buf));
    return fdt_finish(buf);
}
