/* libFuzzer harness: the snapshot manifest's body decoder
 * (snapshot_manifest_decode) over arbitrary bytes. What it accepts must lie
 * within the C structures' bounds, and encode again into a body that decodes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/snapshot_manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct machine_snapshot state, again;
static struct snapshot_machine_config config, config_again;

/* Reads every backing entry the decoder allocated, so that ASan sees any that
 * lies outside its allocation. */
static void touch_gpu(const struct virtio_gpu_state *g)
{
    volatile uint64_t sink = 0;
    if (g->num_scanouts > DISPLAY_MAX_SCANOUTS || g->num_resources > VIRTIO_GPU_MAX_RESOURCES)
        abort();
    for (size_t i = 0; i < g->num_resources; i++)
        for (uint32_t e = 0; e < g->resources[i].num_backing; e++)
            sink ^= g->resources[i].backing[e].gpa + g->resources[i].backing[e].len;
    (void)sink;
}

static void check_bounds(void)
{
    if (state.num_virtio > MACHINE_SNAPSHOT_MAX_VIRTIO || config.num_disks > SNAPSHOT_MAX_DISKS ||
        state.uart.rx_count > PL011_RX_BUFFER || state.gic.active_depth > GIC_MAX_NESTED ||
        state.gic.num_spis > GIC_MAX_IRQS - GIC_NUM_PRIVATE)
        abort();
    if (state.has_gpu)
        touch_gpu(&state.gpu);
}

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
        free(out);
        snapshot_manifest_free(&again);
        snapshot_manifest_free(&state);
    }
    free(body);
    return 0;
}
