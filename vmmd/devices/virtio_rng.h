/* virtio entropy device (virtio 1.2 §5.4), fed from the host's CSPRNG. */
#ifndef IGNITION_VIRTIO_RNG_H
#define IGNITION_VIRTIO_RNG_H

#include "virtio_mmio.h"

struct device *virtio_rng_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram);

#endif
