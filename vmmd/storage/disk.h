/* Disk images behind virtio-blk. A read-only disk is the image itself, opened
 * read-only. A writable disk never changes its image (the base): the guest
 * writes into a per-instance copy-on-write layer in the instance directory,
 * either a filesystem clone of the base (FICLONE reflink on Linux, clonefile on
 * APFS) or, where the filesystem cannot clone, an overlay file of our own
 * (DISK-OVERLAY format below) holding only the blocks the guest wrote.
 *
 * A disk is used by one thread at a time (its device's I/O thread). */
#ifndef IGNITION_DISK_H
#define IGNITION_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISK_SECTOR 512u

enum disk_cow {
    DISK_COW_AUTO,    /* clone where the filesystem can, else our overlay */
    DISK_COW_CLONE,   /* clone or fail */
    DISK_COW_OVERLAY, /* always our overlay */
};

struct disk_spec {
    const char *path;
    bool read_only;
    enum disk_cow cow;
    const char *serial; /* reported to the guest (≤ 20 bytes), or NULL */
};

/* Parses "PATH[,ro][,cow=auto|clone|overlay][,serial=TEXT]" into spec (which
 * points into text, so text must outlive it). Returns 0, or -1 with a reason. */
int disk_spec_parse(char *text, struct disk_spec *spec, char *err, size_t err_len);

struct disk;

/* Opens disk number index. A writable disk's layer is instance_dir/diskN.img
 * (clone) or instance_dir/diskN.cow (overlay); an existing one is reused, so a
 * guest finds what it wrote last time, after checking it was made from this
 * base. Returns NULL with a one-line reason. */
struct disk *disk_open(const struct disk_spec *spec, const char *instance_dir, unsigned index,
                       char *err, size_t err_len);
/* Writes what is pending (as disk_flush) and closes. */
void disk_close(struct disk *d);

uint64_t disk_size(const struct disk *d);
bool disk_read_only(const struct disk *d);
const char *disk_serial(const struct disk *d);
/* Where the guest's writes go (NULL for a read-only disk) and how. */
const char *disk_layer_path(const struct disk *d);
const char *disk_layer_kind(const struct disk *d); /* "clone", "overlay" or "read-only" */

/* Byte ranges must lie inside the disk. All return 0 or -errno (-EROFS for a
 * write to a read-only disk, -EINVAL for a range outside it). */
int disk_read(struct disk *d, uint64_t offset, void *buf, size_t len);
int disk_write(struct disk *d, uint64_t offset, const void *buf, size_t len);
/* The range reads back as zeroes afterwards; unmap lets it give up space. */
int disk_write_zeroes(struct disk *d, uint64_t offset, uint64_t len, bool unmap);
int disk_discard(struct disk *d, uint64_t offset, uint64_t len);
/* Everything written before is durable afterwards. */
int disk_flush(struct disk *d);

/* Writes the disk as the guest sees it through the layer at layer_path (a
 * .cow overlay or a clone) to out_path as a plain raw image. */
int disk_export(const char *layer_path, const char *out_path, char *err, size_t err_len);

/* Makes a new file at to that is a filesystem clone (FICLONE reflink,
 * clonefile) of the file open as src_fd at src_path. Returns 0, or -errno;
 * disk_cannot_clone(rc) tells "this filesystem cannot clone" from a failure. */
int disk_clone_file(int src_fd, const char *src_path, const char *to);
bool disk_cannot_clone(int rc);

#endif
