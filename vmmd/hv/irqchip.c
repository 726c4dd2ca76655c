/* The interrupt controller as an entry of the machine's device table. Its
 * registers are the backend's to serve (emu's userspace GICv3; the kernel's on
 * kvm and hvf), and the device tree describes it apart, so this entry has no
 * MMIO window and no node: only the snapshot state, carried through the
 * backend's save_irqchip and load_irqchip in the backend's own message (emu:
 * devices/gicv3.h's; kvm: the vGIC's registers). */
#include "hv/irqchip.h"

#include <stdlib.h>

#include "util.h"

struct irqchip {
    struct device dev;
    const struct hv_ops *hv;
    struct hv_vm *vm;
};

static struct irqchip *to_irqchip(struct device *dev)
{
    return container_of(dev, struct irqchip, dev);
}

static int irqchip_save(struct device *dev, struct device_state_bytes *out)
{
    struct irqchip *c = to_irqchip(dev);
    return c->hv->save_irqchip(c->vm, out);
}

static int irqchip_load(struct device *dev, const uint8_t *state, size_t len, char *err,
                        size_t err_len)
{
    struct irqchip *c = to_irqchip(dev);
    return c->hv->load_irqchip(c->vm, state, len, err, err_len);
}

static void irqchip_destroy(struct device *dev)
{
    free(to_irqchip(dev));
}

static const struct device_ops irqchip_ops = {
    .name = "gicv3",
    .destroy = irqchip_destroy,
    .save = irqchip_save,
    .load = irqchip_load,
};

struct device *hv_irqchip_create(const struct hv_ops *hv, struct hv_vm *vm, uint64_t dist_base)
{
    struct irqchip *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->dev = (struct device){.ops = &irqchip_ops, .base = dist_base, .size = 0};
    c->hv = hv;
    c->vm = vm;
    return &c->dev;
}
