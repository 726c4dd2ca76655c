/* libFuzzer harness: virtio-rng serving the request queue of a guest whose
 * rings and buffers the fuzzer writes.
 *
 * Input: flags (bit 0: EVENT_IDX, bit 1: INDIRECT_DESC negotiated), the number
 * of notifications (% 4 + 1), then guest RAM from its start: queue 0's
 * descriptors at GUEST_DESC(0), its available ring at GUEST_AVAIL(0), buffers
 * anywhere (guest_driver.h).
 *
 * Checked after each notification: the used index moved by no more than the
 * ring holds and names descriptors of the ring; the device wrote nothing but
 * the used ring and device-writable buffers (the entropy goes only where the
 * guest asked for it). ASan watches every access stay inside guest RAM. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio_rng.h"
#include "guest_driver.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_quiet(true); /* a malformed request is warned of each time */
    static uint8_t ram_bytes[GUEST_RAM_SIZE], before[GUEST_RAM_SIZE], allowed[GUEST_RAM_SIZE];
    if (size < 2)
        return 0;
    memset(ram_bytes, 0, sizeof(ram_bytes));
    memcpy(ram_bytes, data + 2, size - 2 < GUEST_RAM_SIZE ? size - 2 : GUEST_RAM_SIZE);
    gd_clear_used(ram_bytes, 1);
    struct guest_ram ram = {.gpa = GUEST_RAM_GPA, .size = GUEST_RAM_SIZE, .host = ram_bytes};
    struct device *dev =
        virtio_rng_create(0x0a000000, (struct irq_line){.set = gd_no_irq}, &ram);
    if (!dev)
        abort();
    gd_init(dev, 1, data[0] & 1, data[0] & 2);
    unsigned notifies = data[1] % 4 + 1;
    for (unsigned n = 0; n < notifies; n++) {
        memcpy(before, ram_bytes, sizeof(before));
        memset(allowed, 0, sizeof(allowed));
        gd_writable(ram_bytes, 0, allowed);
        uint16_t used_before = le16(ram_bytes + GUEST_USED(0) + 2);
        dev->ops->write(dev, GD_QUEUE_NOTIFY, 4, 0);
        gd_check_writes(before, ram_bytes, allowed);
        gd_check_used(ram_bytes, 0, used_before, allowed);
    }
    dev->ops->destroy(dev);
    return 0;
}
