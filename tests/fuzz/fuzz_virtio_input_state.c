/* libFuzzer harness: a virtio-input device's own saved state (its message,
 * proto/devices/virtio_input.proto) over arbitrary bytes, inside an idle
 * transport's state (device_state_harness.h). The first byte chooses the kind
 * (even: keyboard, odd: tablet). A state that loads saves into bytes that load
 * the same, and the device then takes host input and reads its config as
 * restored. The seeds are the input devices of real snapshots and states with
 * sequences waiting (make_seeds_device_state). */
#include <stdint.h>
#include <stdlib.h>

#include "device_state_harness.h"
#include "devices/evdev.h"
#include "devices/virtio.h"
#include "devices/virtio_input.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x1000u
#define CONFIG 0x100

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct device *create(const struct guest_ram *ram, unsigned tablet)
{
    return virtio_input_create(0x0a000000, (struct irq_line){0}, ram,
                               tablet ? VIRTIO_INPUT_TABLET : VIRTIO_INPUT_KEYBOARD, "fuzz");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram_bytes[RAM_SIZE];
    if (size < 1)
        return 0;
    unsigned tablet = data[0] & 1;
    struct guest_ram ram = {.gpa = RAM_GPA, .size = RAM_SIZE, .host = ram_bytes};
    struct device *dev = create(&ram, tablet);
    if (!dev)
        abort();
    if (load_device_part(dev, VIRTIO_ID_INPUT, data + 1, size - 1) == 0) {
        check_save_reloads(create, &ram, tablet, dev);
        for (unsigned i = 0; i < VIRTIO_INPUT_CFG_BYTES; i++)
            (void)dev->ops->read(dev, CONFIG + i, 1);
        (void)virtio_input_leds(dev);
        while (virtio_input_has_room(dev))
            if ((tablet ? virtio_input_tablet_move(dev, 1, 2)
                        : virtio_input_key(dev, EVDEV_KEY_A, true)) != 0)
                abort();
    }
    dev->ops->destroy(dev);
    return 0;
}
