/* libFuzzer harness: a virtio-gpu's own saved state (its message,
 * proto/devices/virtio_gpu.proto) over arbitrary bytes, inside an idle
 * transport's state (device_state_harness.h), over 1 MiB of guest RAM whose
 * bytes the resources' pixels are read back from. A state that loads saves
 * into bytes that load the same, and the device then takes a new mode. The
 * seeds are the gpus of real snapshots and a resource backed inside the
 * harness's RAM (make_seeds_device_state). */
#include <stdint.h>
#include <stdlib.h>

#include "device_state_harness.h"
#include "devices/virtio.h"
#include "devices/virtio_gpu.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct device *create(const struct guest_ram *ram, unsigned variant)
{
    (void)variant;
    /* One scanout, as the machines of real snapshots have by default. */
    struct virtio_gpu_options options = {.num_scanouts = 1, .max_host_bytes = 16u << 20};
    return virtio_gpu_create(0x0a000000, (struct irq_line){0}, ram, &options);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram_bytes[RAM_SIZE];
    struct guest_ram ram = {.gpa = RAM_GPA, .size = RAM_SIZE, .host = ram_bytes};
    struct device *dev = create(&ram, 0);
    if (!dev)
        abort();
    if (load_device_part(dev, VIRTIO_ID_GPU, data, size) == 0) {
        check_save_reloads(create, &ram, 0, dev);
        (void)virtio_gpu_request_mode(dev, 0, 800, 600);
    }
    dev->ops->destroy(dev);
    return 0;
}
