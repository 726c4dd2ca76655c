/* For the disk-layer harnesses: builds a base image and a copy-on-write layer
 * (disk_overlay.h's format) over it from a fuzz input that describes the layer
 * rather than spelling its bytes, so that mutations change what matters: a
 * header that is consistent except for the fields the input edits, with its
 * checksum made good (or not, as the input says).
 *
 * Input layout (missing bytes read as zero):
 *   u16 base sectors      base size = 512 * (1 + n % 520), at most 260 KiB
 *   u8  flags             bit 0: version 1 (no checksum), else version 2
 *                         bit 1: leave the checksum as it was before the edits
 *                         bit 2: cut the layer file to u32 length (below)
 *   u8  bitmap fill       every bitmap byte (1 = the block is in the layer)
 *   u32 file length       with flag bit 2: the layer file's length
 *   u8  edit count        (% 9) edits follow, 10 bytes each:
 *       u8  field         which header field (% LAYER_FIELDS)
 *       u8  how           0 set to value, 1 add (int8)value, 2 the whole
 *                         geometry (disk size, bitmap, data offset) of a disk
 *                         of value % 2^20 bytes, 3 flip bit value % 64
 *       u64 value
 * Then what the harness reads next (the guest's I/O, for fuzz_disk_layer_io). */
#ifndef IGNITION_FUZZ_DISK_LAYER_H
#define IGNITION_FUZZ_DISK_LAYER_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "storage/disk.h"
#include "storage/disk_overlay.h"

#define LAYER_MAX_BASE (520u * 512u)
#define LAYER_EDIT_BYTES 10

struct layer_input {
    const uint8_t *p;
    size_t left;
};

static inline uint64_t layer_take(struct layer_input *in, unsigned bytes)
{
    uint8_t b[8] = {0};
    unsigned n = in->left < bytes ? (unsigned)in->left : bytes;
    memcpy(b, in->p, n);
    in->p += n, in->left -= n;
    return le_get(b, bytes);
}

struct layer_scratch {
    char dir[64], base[96], layer[96];
    uint64_t base_size;            /* of the base now on disk, 0 for none */
    uint8_t base_bytes[LAYER_MAX_BASE];
    uint8_t header[OVERLAY_HEADER_SIZE];
};

/* The header fields an edit can name, with their widths. */
static const struct { unsigned at, width; } layer_fields[] = {
    {OVERLAY_H_VERSION, 4}, {OVERLAY_H_BLOCK_SIZE, 4}, {OVERLAY_H_DISK_SIZE, 8},
    {OVERLAY_H_BITMAP_OFFSET, 8}, {OVERLAY_H_BITMAP_BYTES, 8}, {OVERLAY_H_DATA_OFFSET, 8},
    {OVERLAY_H_BASE_SIZE, 8}, {OVERLAY_H_BASE_MTIME_SEC, 8}, {OVERLAY_H_BASE_MTIME_NSEC, 8},
    {OVERLAY_H_BASE_PATH_LEN, 4}, {OVERLAY_H_HEADER_CRC, 4}, {OVERLAY_H_MAGIC, 8},
};
#define LAYER_FIELDS (sizeof(layer_fields) / sizeof(layer_fields[0]))

static inline void layer_scratch_remove(struct layer_scratch *s)
{
    unlink(s->layer);
    unlink(s->base);
    rmdir(s->dir);
}

static inline void layer_scratch_init(struct layer_scratch *s, const char *name)
{
    /* tmpfs where there is one: the layer code fsyncs, and a disk would make
     * each run wait for it. */
    struct stat shm;
    const char *tmp = stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(s->dir, sizeof(s->dir), "%s/ignition-fuzz-%s-XXXXXX", tmp, name);
    if (!mkdtemp(s->dir))
        abort();
    snprintf(s->base, sizeof(s->base), "%s/base.img", s->dir);
    snprintf(s->layer, sizeof(s->layer), "%s/disk0.cow", s->dir);
    /* A pattern, so that the base and the layer's holes read differently. */
    for (size_t i = 0; i < LAYER_MAX_BASE; i++)
        s->base_bytes[i] = (uint8_t)(i * 13 + 1);
}

static inline void write_whole(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len)
        abort();
    close(fd);
}

/* Where a disk of size bytes puts its bitmap and data (disk_overlay.c). */
static inline void layer_geometry(uint8_t *h, uint64_t size)
{
    uint64_t blocks = (size + OVERLAY_BLOCK_SIZE - 1) / OVERLAY_BLOCK_SIZE;
    uint64_t bitmap = (blocks + 7) / 8;
    uint64_t data = (OVERLAY_HEADER_SIZE + bitmap + OVERLAY_BLOCK_SIZE - 1) /
                    OVERLAY_BLOCK_SIZE * OVERLAY_BLOCK_SIZE;
    le_put(h + OVERLAY_H_DISK_SIZE, size, 8);
    le_put(h + OVERLAY_H_BITMAP_OFFSET, OVERLAY_HEADER_SIZE, 8);
    le_put(h + OVERLAY_H_BITMAP_BYTES, bitmap, 8);
    le_put(h + OVERLAY_H_DATA_OFFSET, data, 8);
}

static inline struct timespec layer_mtime(const struct stat *st)
{
#ifdef __APPLE__
    return st->st_mtimespec;
#else
    return st->st_mtim;
#endif
}

/* The header a layer over this base has. */
static inline void layer_good_header(struct layer_scratch *s, unsigned version)
{
    struct stat st;
    if (stat(s->base, &st) < 0)
        abort();
    struct timespec mtime = layer_mtime(&st);
    uint8_t *h = s->header;
    memset(h, 0, OVERLAY_HEADER_SIZE);
    memcpy(h + OVERLAY_H_MAGIC, "IGNTCOW1", 8);
    le_put(h + OVERLAY_H_VERSION, version, 4);
    le_put(h + OVERLAY_H_BLOCK_SIZE, OVERLAY_BLOCK_SIZE, 4);
    layer_geometry(h, (uint64_t)st.st_size);
    le_put(h + OVERLAY_H_BASE_SIZE, (uint64_t)st.st_size, 8);
    le_put(h + OVERLAY_H_BASE_MTIME_SEC, (uint64_t)mtime.tv_sec, 8);
    le_put(h + OVERLAY_H_BASE_MTIME_NSEC, (uint64_t)mtime.tv_nsec, 8);
    le_put(h + OVERLAY_H_BASE_PATH_LEN, strlen(s->base), 4);
    memcpy(h + OVERLAY_H_BASE_PATH, s->base, strlen(s->base));
}

static inline void layer_edit(uint8_t *h, unsigned field, unsigned how, uint64_t value)
{
    unsigned at = layer_fields[field % LAYER_FIELDS].at;
    unsigned width = layer_fields[field % LAYER_FIELDS].width;
    switch (how % 4) {
    case 0: le_put(h + at, value, width); break;
    case 1: le_put(h + at, le_get(h + at, width) + (uint64_t)(int64_t)(int8_t)value, width); break;
    case 2: layer_geometry(h, value % (1u << 20)); break;
    default: le_put(h + at, le_get(h + at, width) ^ (1ull << (value % (8 * width))), width);
    }
}

struct layer_built {
    uint64_t base_size;
    uint8_t bitmap_fill;
    bool cut; /* the layer file's length is not a good layer's */
};

/* Writes the base (when its size changed) and the layer the input describes. */
static inline struct layer_built layer_build(struct layer_scratch *s, struct layer_input *in)
{
    uint64_t base_size = 512u * (1 + layer_take(in, 2) % 520);
    unsigned flags = (unsigned)layer_take(in, 1);
    uint8_t fill = (uint8_t)layer_take(in, 1);
    uint64_t cut = layer_take(in, 4);
    if (base_size != s->base_size) {
        write_whole(s->base, s->base_bytes, base_size);
        s->base_size = base_size;
    }
    layer_good_header(s, flags & 1 ? 1 : OVERLAY_VERSION);
    uint8_t *h = s->header;
    if (!(flags & 1))
        le_put(h + OVERLAY_H_HEADER_CRC, overlay_header_crc(h), 4);
    for (unsigned i = 0, n = (unsigned)layer_take(in, 1) % 9; i < n; i++) {
        unsigned field = (unsigned)layer_take(in, 1), how = (unsigned)layer_take(in, 1);
        layer_edit(h, field, how, layer_take(in, 8));
    }
    if (!(flags & 2) && le_get(h + OVERLAY_H_VERSION, 4) >= 2)
        le_put(h + OVERLAY_H_HEADER_CRC, overlay_header_crc(h), 4);
    /* The bitmap the base implies, whatever the header now says. */
    uint8_t bitmap[(LAYER_MAX_BASE / OVERLAY_BLOCK_SIZE + 8) / 8 + 1];
    uint64_t bitmap_bytes = ((base_size + OVERLAY_BLOCK_SIZE - 1) / OVERLAY_BLOCK_SIZE + 7) / 8;
    memset(bitmap, fill, sizeof(bitmap));
    int fd = open(s->layer, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || pwrite(fd, h, OVERLAY_HEADER_SIZE, 0) != OVERLAY_HEADER_SIZE ||
        pwrite(fd, bitmap, bitmap_bytes, OVERLAY_HEADER_SIZE) != (ssize_t)bitmap_bytes)
        abort();
    uint64_t length = 2 * OVERLAY_BLOCK_SIZE + base_size; /* a good layer's */
    if (flags & 4)
        length = cut % (2 * LAYER_MAX_BASE);
    if (ftruncate(fd, (off_t)length) < 0)
        abort();
    close(fd);
    return (struct layer_built){.base_size = base_size, .bitmap_fill = fill,
                                .cut = (flags & 4) != 0};
}

/* Opens the layer as a guest worker does (disk0 of the instance directory
 * s->dir, over s->base). NULL when refused. */
static inline struct disk *layer_open_disk(struct layer_scratch *s)
{
    struct disk_spec spec = {.path = s->base, .cow = DISK_COW_OVERLAY};
    char err[512];
    return disk_open(&spec, s->dir, 0, err, sizeof(err));
}

#endif
