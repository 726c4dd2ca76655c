/* libFuzzer harness: a copy-on-write disk layer's header, structure-aware
 * (layout in disk_layer.h: a consistent header over a real base, then edits of
 * chosen fields, the checksum made good unless asked not to). The layer is
 * opened as a guest worker opens it and as `vmmd disk export` does (its base
 * found through the header); whatever opens is read end to end and written at
 * its far end, where a layer smaller than its base would be overrun. */
#include <errno.h>

#include "disk_layer.h"
#include "fds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct layer_scratch scratch;
static char out_path[128];

static void remove_scratch(void)
{
    unlink(out_path);
    layer_scratch_remove(&scratch);
}

/* Reads the whole disk a block at a time and writes a byte near its end. */
static void use_disk(struct disk *d, uint64_t base_size)
{
    static uint8_t buf[OVERLAY_BLOCK_SIZE];
    for (uint64_t at = 0; at < base_size; at += sizeof(buf)) {
        size_t n = base_size - at < sizeof(buf) ? (size_t)(base_size - at) : sizeof(buf);
        if (disk_read(d, at, buf, n) < 0)
            break;
    }
    disk_write(d, base_size - 1, "x", 1);
    if (disk_read(d, base_size, buf, 1) != -EINVAL)
        abort(); /* past the end must be refused */
    disk_flush(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!scratch.dir[0]) {
        layer_scratch_init(&scratch, "layer");
        snprintf(out_path, sizeof(out_path), "%s/out.raw", scratch.dir);
        atexit(remove_scratch);
    }
    int fds_before = open_fd_count();
    struct layer_input in = {data, size};
    struct layer_built built = layer_build(&scratch, &in);
    struct disk *d = layer_open_disk(&scratch);
    if (d) {
        use_disk(d, built.base_size);
        disk_close(d);
    }
    char err[512];
    disk_export(scratch.layer, out_path, err, sizeof(err));
    if (open_fd_count() != fds_before)
        abort();
    return 0;
}
