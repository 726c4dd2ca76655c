/* The backend's interrupt controller in the machine's device table, for its
 * snapshot state (see irqchip.c). */
#ifndef IGNITION_IRQCHIP_H
#define IGNITION_IRQCHIP_H

#include <stdint.h>

#include "devices/device.h"
#include "hv/hv.h"

/* An entry of kind "gicv3" at the distributor's base, with an empty window
 * (never dispatched MMIO) and no device-tree node. */
struct device *hv_irqchip_create(const struct hv_ops *hv, struct hv_vm *vm, uint64_t dist_base);

#endif
