/* libFuzzer harness: the PL011's saved state (its message, proto/devices/
 * pl011.proto) over arbitrary bytes, through the device table's load as a
 * restore does. A state that loads must save back exactly as it decodes, and
 * the guest must then read every waiting byte, in order, and no more, while
 * more input arrives. The seeds are states of UARTs programmed as Linux
 * programs them and of real snapshots (make_seeds_device_state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "devices/pl011.h"

#define UARTDR 0x000
#define UARTFR 0x018
#define UARTMIS 0x040
#define UARTICR 0x044
#define FR_RXFE (1u << 4)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore_output(void *opaque, const uint8_t *bytes, size_t len)
{
    (void)opaque, (void)bytes, (void)len;
}

static void drain_and_check(struct device *uart, const struct pl011_state *in)
{
    for (uint32_t i = 0; i < in->rx_count; i++) {
        if (uart->ops->read(uart, UARTFR, 4) & FR_RXFE)
            abort();
        if (uart->ops->read(uart, UARTDR, 4) != in->rx[i])
            abort();
    }
    if (!(uart->ops->read(uart, UARTFR, 4) & FR_RXFE))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pl011_state in, out;
    char err[256];
    struct device *uart = pl011_create(0x09000000, (struct irq_line){0}, ignore_output, NULL);
    if (!uart)
        abort();
    if (uart->ops->load(uart, data, size, err, sizeof(err)) == 0) {
        struct device_state_bytes bytes;
        if (pl011_state_decode(data, size, &in, err, sizeof(err)) != 0 ||
            uart->ops->save(uart, &bytes) != 0 ||
            pl011_state_decode(bytes.data, bytes.len, &out, err, sizeof(err)) != 0 ||
            memcmp(&in, &out, sizeof(in)) != 0)
            abort();
        device_state_bytes_free(&bytes);
        (void)uart->ops->read(uart, UARTMIS, 4);
        uart->ops->write(uart, UARTDR, 4, 'x');
        uart->ops->write(uart, UARTICR, 4, 0x7ff);
        drain_and_check(uart, &in);
        if (pl011_receive(uart, (const uint8_t *)"ok", 2) != 2)
            abort();
    }
    uart->ops->destroy(uart);
    return 0;
}
