/* The interrupt controller as an entry of the machine's device table. Its
 * registers are the backend's to serve (emu's userspace GICv3; the kernel's on
 * kvm and hvf), and the device tree describes it apart, so this entry has no
 * MMIO window and no node: only the snapshot state, carried through the
 * backend's save_irqchip and load_irqchip in the GICv3's own message
 * (devices/gicv3.h). */
#include "hv/irqchip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "devices/gicv3.h"
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
    struct gicv3_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int rc = c->hv->save_irqchip(c->vm, st);
    if (rc == 0)
        rc = gicv3_state_encode(st, out);
    free(st);
    return rc;
}

static int irqchip_load(struct device *dev, const uint8_t *state, size_t len, char *err,
                        size_t err_len)
{
    struct irqchip *c = to_irqchip(dev);
    struct gicv3_state *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    int rc = gicv3_state_decode(state, len, st, err, err_len);
    if (rc == 0 && (rc = c->hv->load_irqchip(c->vm, st)) == -EINVAL)
        snprintf(err, err_len, "the interrupt controller's state has another number of "
                 "interrupts, or values no register write could produce");
    free(st);
    return rc;
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
