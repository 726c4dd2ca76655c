/* libFuzzer harness: a copy-on-write disk layer (built as disk_layer.h says)
 * and then the guest's I/O on it, checked against a model of what the disk
 * must read back. After the layer's description, operations of 7 bytes each:
 *   u8 kind   % 5: read, write, write zeroes, flush, close and reopen
 *   u32 offset % (base size + 8 KiB): some land past the end
 *   u16 length % 12289
 * Out-of-range operations must fail with -EINVAL; in-range reads must return
 * the model's bytes unless the layer file was cut short or an I/O failed. */
#include <errno.h>

#include "disk_layer.h"
#include "fds.h"

#define MAX_OPS 64
#define MAX_LEN (3u * OVERLAY_BLOCK_SIZE + 1u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct layer_scratch scratch;
static uint8_t model[LAYER_MAX_BASE];
static uint8_t buf[MAX_LEN];

static void remove_scratch(void)
{
    layer_scratch_remove(&scratch);
}

/* What the disk reads as right after opening: a block marked present reads
 * from the layer's data region, which a good layer file holds as holes. */
static void model_reset(const struct layer_built *built)
{
    for (uint64_t i = 0; i < built->base_size; i++) {
        uint64_t block = i / OVERLAY_BLOCK_SIZE;
        bool present = built->bitmap_fill & (1u << (block % 8));
        model[i] = present ? 0 : scratch.base_bytes[i];
    }
}

struct io_state {
    struct disk *disk;
    uint64_t size;
    bool model_valid;
};

static void expect_range_error(int rc, bool in_range)
{
    if (!in_range && rc != -EINVAL)
        abort();
}

static void run_op(struct io_state *s, unsigned kind, uint64_t offset, size_t len)
{
    bool in_range = offset <= s->size && len <= s->size - offset;
    int rc = 0;
    switch (kind % 5) {
    case 0:
        rc = disk_read(s->disk, offset, buf, len);
        if (rc == 0 && s->model_valid && memcmp(buf, model + offset, len) != 0)
            abort(); /* the disk did not read back what was written */
        break;
    case 1:
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)(kind + i * 31);
        rc = disk_write(s->disk, offset, buf, len);
        if (rc == 0)
            memcpy(model + offset, buf, len);
        break;
    case 2:
        rc = disk_write_zeroes(s->disk, offset, len, kind & 8);
        if (rc == 0)
            memset(model + offset, 0, len);
        break;
    case 3:
        rc = disk_flush(s->disk);
        in_range = true;
        break;
    default:
        disk_close(s->disk);
        s->disk = layer_open_disk(&scratch);
        if (!s->disk)
            abort(); /* a layer it wrote itself must open again */
        return;
    }
    expect_range_error(rc, in_range);
    if (rc < 0 && in_range)
        s->model_valid = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!scratch.dir[0]) {
        layer_scratch_init(&scratch, "layer-io");
        atexit(remove_scratch);
    }
    int fds_before = open_fd_count();
    struct layer_input in = {data, size};
    struct layer_built built = layer_build(&scratch, &in);
    struct io_state s = {.disk = layer_open_disk(&scratch), .size = built.base_size,
                         .model_valid = !built.cut};
    if (!s.disk)
        return 0;
    model_reset(&built);
    for (unsigned i = 0; i < MAX_OPS && in.left > 0; i++) {
        unsigned kind = (unsigned)layer_take(&in, 1);
        uint64_t offset = layer_take(&in, 4) % (s.size + 2 * OVERLAY_BLOCK_SIZE);
        size_t len = (size_t)(layer_take(&in, 2) % MAX_LEN);
        run_op(&s, kind, offset, len);
    }
    disk_close(s.disk);
    if (open_fd_count() != fds_before)
        abort();
    return 0;
}
