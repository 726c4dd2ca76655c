/* Arm PrimeCell UART (PL011), the guest's serial console (ttyAMA0). */
#ifndef IGNITION_PL011_H
#define IGNITION_PL011_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"

#define PL011_SIZE 0x1000
#define PL011_RX_BUFFER 4096 /* host input waiting for the guest */

/* Where transmitted bytes go (called on the vCPU thread). */
typedef void (*pl011_output_fn)(void *opaque, const uint8_t *data, size_t len);

struct device *pl011_create(uint64_t base, struct irq_line irq, pl011_output_fn output,
                            void *output_opaque);
/* Queues host input for the guest; thread-safe. Returns how many bytes fit; the
 * caller keeps the rest and offers it again later. */
size_t pl011_receive(struct device *dev, const uint8_t *data, size_t len);

#endif
