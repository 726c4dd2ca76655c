/* libFuzzer harness: virtio-blk's request parser against arbitrary chains over
 * a small writable disk (a copy-on-write overlay in a temporary directory).
 * The input starts with a segment count n (1..16), then n segment headers of
 * 3 bytes (length (2), flags: bit 0 device-writable), then the bytes that fill
 * the segments in order. Readable segments come first, as the walker ensures. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio_blk.h"

#define DISK_BYTES (256u * 1024u)
#define MAX_SEGMENTS 16
#define SEGMENT_HEADER 3
#define ARENA 65536u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/ignition-fuzz-blk-XXXXXX";

static void remove_scratch(void)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/disk0.cow", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/base.img", dir);
    unlink(path);
    rmdir(dir);
}

static struct disk *open_scratch_disk(void)
{
    if (!mkdtemp(dir))
        abort();
    atexit(remove_scratch);
    char base[64];
    snprintf(base, sizeof(base), "%s/base.img", dir);
    FILE *f = fopen(base, "wb");
    if (!f || ftruncate(fileno(f), DISK_BYTES) != 0)
        abort();
    fclose(f);
    struct disk_spec spec = {.path = base, .cow = DISK_COW_OVERLAY, .serial = "fuzz"};
    char err[512];
    struct disk *d = disk_open(&spec, dir, 0, err, sizeof(err));
    if (!d) {
        fprintf(stderr, "fuzz_virtio_blk: %s\n", err);
        abort();
    }
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct disk *disk;
    static uint8_t arena[ARENA];
    static struct virtq_chain chain;
    if (!disk)
        disk = open_scratch_disk();
    if (size < 1)
        return 0;
    unsigned n = data[0] % MAX_SEGMENTS + 1;
    if (1 + (size_t)n * SEGMENT_HEADER > size)
        return 0;
    const uint8_t *fill = data + 1 + n * SEGMENT_HEADER;
    size_t fill_len = size - 1 - n * SEGMENT_HEADER, used = 0;
    memset(&chain, 0, sizeof(chain));
    memset(arena, 0, sizeof(arena));
    bool writable_seen = false;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *h = data + 1 + i * SEGMENT_HEADER;
        uint32_t len = (uint32_t)(h[0] | h[1] << 8) % 8192;
        bool writable = (h[2] & 1) || writable_seen;
        if (used + len > ARENA)
            break;
        uint8_t *host = arena + used;
        size_t copy = fill_len < len ? fill_len : len;
        memcpy(host, fill, copy);
        fill += copy, fill_len -= copy;
        chain.segments[chain.num_segments++] =
            (struct virtq_segment){.host = host, .len = len, .device_writable = writable};
        if (writable)
            chain.writable_len += len;
        else
            chain.readable_len += len;
        writable_seen = writable;
        used += len;
    }
    (void)virtio_blk_handle(disk, &chain);
    return 0;
}
