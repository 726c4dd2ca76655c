/* libFuzzer harness: virtio-console (hvc0) between a guest whose rings and
 * buffers the fuzzer writes and a host that reads the guest's output from a
 * pipe and types input the fuzzer gives.
 *
 * Input: flags (bit 0: EVENT_IDX, bit 1: INDIRECT_DESC), the number of rounds
 * (% 4 + 1), the length L of host input (2 bytes), L bytes of it, then guest
 * RAM from its start: the receive queue (0) at GUEST_DESC(0), the transmit
 * queue (1) at GUEST_DESC(1), buffers anywhere (guest_driver.h).
 *
 * Each round notifies the transmit queue, then offers the host input and
 * notifies the receive queue. Checked: the device wrote nothing in guest RAM
 * but the used rings and device-writable buffers; used indices move sanely;
 * input taken is never more than offered; what reaches the host is no more
 * than the guest's readable buffers hold. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio_console.h"
#include "guest_driver.h"
#include "log.h"

#define HEADER 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bytes the transmit queue's readable descriptors can hold, over-counted: a
 * bound on what one notification may send to the host. */
static uint64_t readable_bytes(const uint8_t *ram)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < GUEST_QSIZE; i++) {
        const uint8_t *d = ram + GUEST_DESC(1) + 16u * i;
        uint16_t flags = le16(d + 12);
        if (flags & VIRTQ_DESC_F_INDIRECT) {
            total += GUEST_RAM_SIZE; /* an indirect table: at most all of RAM per chain */
            continue;
        }
        if (!(flags & VIRTQ_DESC_F_WRITE))
            total += le32(d + 8);
    }
    return total * GUEST_QSIZE; /* chains may share descriptors */
}

static size_t drain(int fd)
{
    static uint8_t sink[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, sink, sizeof(sink))) > 0)
        total += (size_t)n;
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_quiet(true); /* a malformed request is warned of each time */
    static uint8_t ram_bytes[GUEST_RAM_SIZE], before[GUEST_RAM_SIZE], allowed[GUEST_RAM_SIZE];
    if (size < HEADER)
        return 0;
    size_t input_len = (size_t)(data[2] | data[3] << 8);
    if (size - HEADER < input_len)
        input_len = size - HEADER;
    const uint8_t *input = data + HEADER;
    const uint8_t *rest = input + input_len;
    size_t rest_len = size - HEADER - input_len;
    memset(ram_bytes, 0, sizeof(ram_bytes));
    memcpy(ram_bytes, rest, rest_len < GUEST_RAM_SIZE ? rest_len : GUEST_RAM_SIZE);

    int host[2];
    if (pipe(host) < 0)
        abort();
    fcntl(host[0], F_SETFL, O_NONBLOCK);
    fcntl(host[1], F_SETFL, O_NONBLOCK); /* as the worker's: the guest never waits */
    gd_clear_used(ram_bytes, 2);
    struct guest_ram ram = {.gpa = GUEST_RAM_GPA, .size = GUEST_RAM_SIZE, .host = ram_bytes};
    struct device *dev =
        virtio_console_create(0x0a000000, (struct irq_line){.set = gd_no_irq}, &ram, host[1]);
    if (!dev)
        abort();
    gd_init(dev, 2, data[0] & 1, data[0] & 2);
    size_t offered = 0;
    unsigned rounds = data[1] % 4 + 1;
    for (unsigned r = 0; r < rounds; r++) {
        memcpy(before, ram_bytes, sizeof(before));
        memset(allowed, 0, sizeof(allowed));
        gd_writable(ram_bytes, 0, allowed);
        gd_writable(ram_bytes, 1, allowed);
        uint16_t used0 = le16(ram_bytes + GUEST_USED(0) + 2);
        uint16_t used1 = le16(ram_bytes + GUEST_USED(1) + 2);
        uint64_t may_send = readable_bytes(ram_bytes);

        dev->ops->write(dev, GD_QUEUE_NOTIFY, 4, 1);
        if (drain(host[0]) > may_send)
            abort();
        size_t taken = virtio_console_input(dev, input + offered, input_len - offered);
        if (taken > input_len - offered)
            abort();
        offered += taken;
        dev->ops->write(dev, GD_QUEUE_NOTIFY, 4, 0);

        gd_check_writes(before, ram_bytes, allowed);
        gd_check_used(ram_bytes, 0, used0, allowed);
        gd_check_used(ram_bytes, 1, used1, allowed);
    }
    dev->ops->destroy(dev);
    close(host[0]);
    close(host[1]);
    return 0;
}
