/* libFuzzer harness: the snapshot manifest's body decoder
 * (snapshot_manifest_decode) over arbitrary bytes. What it accepts must lie
 * within the C structures' bounds, and encode again into a body that decodes
 * to the same devices. The devices' own bytes are opaque here: each device's
 * state harness (fuzz_*_state) fuzzes its decoder and load. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/snapshot_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct machine_snapshot state, again;
static struct snapshot_machine_config config, config_again;

/* Reads every byte of every device's state, so that ASan sees any that lies
 * outside its allocation. */
static void check_bounds(void)
{
    volatile uint8_t sink = 0;
    if (state.num_devices > MACHINE_SNAPSHOT_MAX_DEVICES || config.num_disks > SNAPSHOT_MAX_DISKS)
        abort();
    for (unsigned i = 0; i < state.num_devices; i++) {
        const struct machine_device_state *d = &state.devices[i];
        if (strnlen(d->kind, sizeof(d->kind)) == sizeof(d->kind) || !d->kind[0])
            abort();
        for (size_t b = 0; b < d->state.len; b++)
            sink ^= d->state.data[b];
    }
    (void)sink;
}

static void check_same_devices(void)
{
    if (again.num_devices != state.num_devices)
        abort();
    for (unsigned i = 0; i < state.num_devices; i++) {
        const struct machine_device_state *a = &state.devices[i], *b = &again.devices[i];
        if (strcmp(a->kind, b->kind) != 0 || a->base != b->base || a->state.len != b->state.len ||
            (a->state.len && memcmp(a->state.data, b->state.data, a->state.len) != 0))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct machine_snapshot state, again;
static struct snapshot_machine_config config, config_again;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly the input's length, so that ASan sees any read past it. */
    uint8_t *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    char err[256];
    if (snapshot_manifest_decode(body, size, &config, &state, err, sizeof(err)) == 0) {
        check_bounds();
        uint8_t *out;
        size_t len;
        if (snapshot_manifest_encode(&config, &state, &out, &len, err, sizeof(err)) != 0)
            abort();
        if (snapshot_manifest_decode(out, len, &config_again, &again, err, sizeof(err)) != 0)
            abort();
        check_same_devices();
        free(out);
        snapshot_manifest_free(&again);
        snapshot_manifest_free(&state);
    }
    free(body);
    return 0;
}
