/* DISK-OVERLAY: ignition's own copy-on-write layer over an immutable raw base,
 * for filesystems that cannot clone. One file:
 *
 *   header (4 KiB, little-endian)   magic "IGNTCOW1", version, block size,
 *                                   disk size, bitmap and data offsets, the
 *                                   base's identity (size, mtime, path) and
 *                                   (version 2) a CRC-32 of the header
 *   bitmap                          one bit per block: 1 = the block is here
 *   data                            block i at data offset + i * block size,
 *                                   a sparse region: unwritten blocks are holes
 *
 * A block's bit goes from 0 to 1 only, and the bitmap on disk is updated only
 * by a flush, after the data it describes is durable; so a crash loses at most
 * what the guest wrote since its last flush (a volatile write cache, which is
 * what a virtio-blk device with VIRTIO_BLK_F_FLUSH promises) and never exposes
 * blocks whose data did not reach the disk.
 *
 * The header is untrusted input: a layer is opened only when its geometry is
 * the one its base implies (disk size = base size, bitmap and data where that
 * size puts them) and, from version 2, its checksum matches. Version 1 layers
 * (no checksum) are still opened when those geometry checks pass; new layers
 * are always version 2. Every block access is bounded by the layer's own size. */
#ifndef IGNITION_DISK_OVERLAY_H
#define IGNITION_DISK_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define OVERLAY_BLOCK_SIZE 4096u
#define OVERLAY_HEADER_SIZE 4096u
#define OVERLAY_VERSION 2u

/* Where each header field lives (byte offsets; widths in the comments). */
enum overlay_header_field {
    OVERLAY_H_MAGIC = 0,            /* 8: "IGNTCOW1" */
    OVERLAY_H_VERSION = 8,          /* 4 */
    OVERLAY_H_BLOCK_SIZE = 12,      /* 4: OVERLAY_BLOCK_SIZE */
    OVERLAY_H_DISK_SIZE = 16,       /* 8 */
    OVERLAY_H_BITMAP_OFFSET = 24,   /* 8: OVERLAY_HEADER_SIZE */
    OVERLAY_H_BITMAP_BYTES = 32,    /* 8: one bit per block */
    OVERLAY_H_DATA_OFFSET = 40,     /* 8: after the bitmap, block aligned */
    OVERLAY_H_BASE_SIZE = 48,       /* 8 */
    OVERLAY_H_BASE_MTIME_SEC = 56,  /* 8 */
    OVERLAY_H_BASE_MTIME_NSEC = 64, /* 8 */
    OVERLAY_H_BASE_PATH_LEN = 72,   /* 4 */
    OVERLAY_H_HEADER_CRC = 76,      /* 4: version 2 on */
    OVERLAY_H_BASE_PATH = 96,       /* the rest, not NUL-terminated */
};

/* zlib's CRC-32 of the whole header, its own field read as zero. */
uint32_t overlay_header_crc(const uint8_t *header);

struct overlay;

/* Creates a new overlay file at path over the open base (whose canonical path
 * and stat are recorded). The file appears complete or not at all. */
struct overlay *overlay_create(const char *path, int base_fd, const char *base_path,
                               const struct stat *base_st, char *err, size_t err_len);
/* Opens an existing overlay; fails unless it was made over this base (same
 * size and modification time). base_fd < 0 opens the base recorded inside. */
struct overlay *overlay_open(const char *path, int base_fd, const struct stat *base_st,
                             bool writable, char *err, size_t err_len);
void overlay_close(struct overlay *o);
/* Whether the file at path starts like an overlay. */
bool overlay_probe(const char *path);

uint64_t overlay_size(const struct overlay *o);
int overlay_read(struct overlay *o, uint64_t offset, void *buf, size_t len);
int overlay_write(struct overlay *o, uint64_t offset, const void *buf, size_t len);
int overlay_write_zeroes(struct overlay *o, uint64_t offset, uint64_t len);
int overlay_flush(struct overlay *o);

/* Shared by the disk code: whole-buffer pread/pwrite (0 or -errno; a read past
 * the end is -EIO) and turning a range into zeroes, giving up space if it can. */
int pread_full(int fd, void *buf, size_t len, uint64_t offset);
int pwrite_full(int fd, const void *buf, size_t len, uint64_t offset);
int file_zero_range(int fd, uint64_t offset, uint64_t len);

#endif
