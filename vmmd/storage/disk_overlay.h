/* DISK-OVERLAY: ignition's own copy-on-write layer over an immutable raw base,
 * for filesystems that cannot clone. One file:
 *
 *   header (4 KiB, little-endian)   magic "IGNTCOW1", version, block size,
 *                                   disk size, bitmap and data offsets, and
 *                                   the base's identity (size, mtime, path)
 *   bitmap                          one bit per block: 1 = the block is here
 *   data                            block i at data offset + i * block size,
 *                                   a sparse region: unwritten blocks are holes
 *
 * A block's bit goes from 0 to 1 only, and the bitmap on disk is updated only
 * by a flush, after the data it describes is durable; so a crash loses at most
 * what the guest wrote since its last flush (a volatile write cache, which is
 * what a virtio-blk device with VIRTIO_BLK_F_FLUSH promises) and never exposes
 * blocks whose data did not reach the disk. */
#ifndef IGNITION_DISK_OVERLAY_H
#define IGNITION_DISK_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define OVERLAY_BLOCK_SIZE 4096u

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
