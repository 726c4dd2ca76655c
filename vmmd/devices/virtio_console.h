/* virtio console (virtio 1.2 §5.3), one port: the guest's /dev/hvc0. Its host
 * end is a file descriptor (vmmd run gives it a pseudo-terminal). */
#ifndef IGNITION_VIRTIO_CONSOLE_H
#define IGNITION_VIRTIO_CONSOLE_H

#include <stddef.h>

#include "virtio_mmio.h"

/* host_fd receives what the guest writes; it is not closed by the device. */
struct device *virtio_console_create(uint64_t base, struct irq_line irq,
                                     const struct guest_ram *ram, int host_fd);

/* Host input for the guest (any thread). Returns how many bytes were taken; the
 * rest waits until the guest offers more receive buffers. */
size_t virtio_console_input(struct device *dev, const uint8_t *data, size_t len);

#endif
