/* libFuzzer harness: a virtio device's saved state (the transport's message,
 * proto/devices/virtio_mmio.proto, with the device's own inside) over arbitrary
 * bytes, through the device table's load as a restore does; then the restored
 * device at work on rings in guest RAM.
 *
 * The input is one byte choosing the device (% 5: virtio-rng, virtio-console,
 * virtio-input keyboard, tablet, virtio-gpu), two bytes of the state's length
 * (little-endian), the state's bytes, then guest RAM from its start. The seeds
 * are states saved after a driver brought each device up with rings at the
 * start of RAM and served a few requests (as in
 * tests/unit/test_virtio_mmio_state.c), followed by that RAM, and the virtio
 * devices of real snapshots (make_seeds_device_state).
 *
 * A state the device takes must save again as a state it takes, and that
 * second save must not change when loaded once more. Whatever is taken, every
 * queue is notified and the host sends input: all of it must stay inside
 * guest RAM and end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "devices/evdev.h"
#include "devices/virtio_console.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio_state.h"
#include "devices/virtio_rng.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x2000u
#define QUEUE_NOTIFY 0x050

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum kind { RNG, CONSOLE, KEYBOARD, TABLET, GPU, NUM_KINDS };

static void no_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
}

static struct device *create(enum kind kind, const struct guest_ram *ram)
{
    struct irq_line irq = {.set = no_irq};
    switch (kind) {
    case RNG: return virtio_rng_create(0x0a000000, irq, ram);
    case CONSOLE: return virtio_console_create(0x0a000000, irq, ram, -1); /* output dropped */
    case KEYBOARD: return virtio_input_create(0x0a000000, irq, ram, VIRTIO_INPUT_KEYBOARD, "f");
    case TABLET: return virtio_input_create(0x0a000000, irq, ram, VIRTIO_INPUT_TABLET, "f");
    default: return virtio_gpu_create(0x0a000000, irq, ram, NULL);
    }
}

/* Loads from a save of dev into a fresh device: taken, and saved the same. */
static void check_save_reloads(enum kind kind, const struct guest_ram *ram, struct device *dev)
{
    struct device_state_bytes first, second;
    char err[256];
    if (dev->ops->save(dev, &first) != 0)
        abort();
    struct device *copy = create(kind, ram);
    if (!copy || copy->ops->load(copy, first.data, first.len, err, sizeof(err)) != 0 ||
        copy->ops->save(copy, &second) != 0 || first.len != second.len ||
        memcmp(first.data, second.data, first.len) != 0)
        abort();
    device_state_bytes_free(&first);
    device_state_bytes_free(&second);
    copy->ops->destroy(copy);
}

static void work(enum kind kind, struct device *dev)
{
    for (unsigned q = 0; q < 2; q++)
        dev->ops->write(dev, QUEUE_NOTIFY, 4, q);
    if (kind == CONSOLE)
        (void)virtio_console_input(dev, (const uint8_t *)"input", 5);
    if (kind == KEYBOARD)
        (void)virtio_input_key(dev, EVDEV_KEY_A, true);
    if (kind == TABLET)
        (void)virtio_input_tablet_move(dev, 100, 200);
    if (kind == KEYBOARD || kind == TABLET)
        (void)virtio_input_has_room(dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram_bytes[RAM_SIZE];
    if (size < 3)
        return 0;
    enum kind kind = (enum kind)(data[0] % NUM_KINDS);
    size_t state_len = data[1] | (size_t)data[2] << 8;
    data += 3, size -= 3;
    if (state_len > size)
        state_len = size;
    /* A copy of exactly the state's length, so that ASan sees any read past it. */
    uint8_t *state = malloc(state_len ? state_len : 1);
    if (!state)
        abort();
    memcpy(state, data, state_len);
    data += state_len, size -= state_len;
    memset(ram_bytes, 0, sizeof(ram_bytes));
    memcpy(ram_bytes, data, size < RAM_SIZE ? size : RAM_SIZE);

    struct guest_ram ram = {.gpa = RAM_GPA, .size = RAM_SIZE, .host = ram_bytes};
    struct device *dev = create(kind, &ram);
    if (!dev)
        abort();
    char err[256];
    if (dev->ops->load(dev, state, state_len, err, sizeof(err)) == 0)
        check_save_reloads(kind, &ram, dev);
    free(state);
    work(kind, dev);
    dev->ops->destroy(dev);
    return 0;
}
