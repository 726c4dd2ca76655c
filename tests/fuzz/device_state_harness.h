/* What the harnesses of a virtio device's own state share: the bytes go in as
 * the device part of an otherwise idle transport state, through the device
 * table's load as a restore does, and a state that loads must save into bytes
 * that load into a fresh device and save the same again. */
#ifndef IGNITION_FUZZ_DEVICE_STATE_HARNESS_H
#define IGNITION_FUZZ_DEVICE_STATE_HARNESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "devices/virtio_mmio_state.h"

typedef struct device *(*create_fn)(const struct guest_ram *ram, unsigned variant);

/* Loads data as device_id's own part into a device create makes; 0 if taken. */
static int load_device_part(struct device *dev, uint32_t device_id, const uint8_t *data,
                            size_t size)
{
    /* A copy of exactly the input's length, so that ASan sees any read past it. */
    struct virtio_mmio_state st = {.device_id = device_id};
    st.device.data = malloc(size ? size : 1);
    if (!st.device.data)
        abort();
    memcpy(st.device.data, data, size);
    st.device.len = size;
    struct device_state_bytes bytes;
    if (virtio_mmio_state_encode(&st, &bytes) != 0)
        abort();
    free(st.device.data);
    char err[256];
    int rc = dev->ops->load(dev, bytes.data, bytes.len, err, sizeof(err));
    device_state_bytes_free(&bytes);
    return rc;
}

static void check_save_reloads(create_fn create, const struct guest_ram *ram, unsigned variant,
                               struct device *dev)
{
    struct device_state_bytes first, second;
    char err[256];
    if (dev->ops->save(dev, &first) != 0)
        abort();
    struct device *copy = create(ram, variant);
    if (!copy || copy->ops->load(copy, first.data, first.len, err, sizeof(err)) != 0 ||
        copy->ops->save(copy, &second) != 0 || first.len != second.len ||
        memcmp(first.data, second.data, first.len) != 0)
        abort();
    device_state_bytes_free(&first);
    device_state_bytes_free(&second);
    copy->ops->destroy(copy);
}

#endif
