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

/* ---- snapshot state ----------------------------------------------------------------- */

/* The registers as the guest reads them, and the received bytes it has not read.
 * Not saved, because it follows from these: UARTFR (the transmit FIFO is always
 * empty; RXFE is rx_count == 0), UARTDR (the oldest received byte), UARTMIS and
 * the interrupt line (ris & imsc). The output callback is the host's. */
struct pl011_state {
    uint32_t ibrd, fbrd, lcr_h, cr, ifls, imsc, dmacr, ilpr;
    /* UARTRIS: the receive and receive-timeout bits are set exactly when bytes
     * wait; the transmit bit until the guest clears it through UARTICR. */
    uint32_t ris;
    uint32_t rx_count;
    uint8_t rx[PL011_RX_BUFFER]; /* oldest first; zero from rx_count on */
};

/* Fills out (any thread). Always 0. */
int pl011_save(struct device *dev, struct pl011_state *out);

/* Replaces the registers and the received bytes with in, and sets the interrupt
 * line to match (meant for a UART just created, before the guest runs). in comes
 * from a file: on -EINVAL (a value no register write could produce, a count
 * beyond the buffer, interrupt bits that disagree with it) the UART is left
 * unchanged. */
int pl011_load(struct device *dev, const struct pl011_state *in);

/* The state as its message (proto/devices/pl011.proto), the bytes the device
 * table's save and load carry. encode refuses a count beyond the buffer;
 * decode what does not decode or does not fit the structure (-EINVAL, reason
 * in err). The values are load's to check. */
int pl011_state_encode(const struct pl011_state *in, struct device_state_bytes *out);
int pl011_state_decode(const uint8_t *state, size_t len, struct pl011_state *out, char *err,
                       size_t err_len);

#endif
