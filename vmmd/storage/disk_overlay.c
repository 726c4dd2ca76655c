/* DISK-OVERLAY files (format in disk_overlay.h). Everything read from an
 * existing file is checked before use: a damaged or foreign file gets an error
 * that names it, never an out-of-range access. */
#include "storage/disk_overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include "byteorder.h"

#define MAGIC "IGNTCOW1"
#define VERSION OVERLAY_VERSION
#define HEADER_SIZE OVERLAY_HEADER_SIZE
#define BITMAP_CHUNK 4096u /* the bitmap is written back in chunks this big */
#define MAX_BASE_PATH (HEADER_SIZE - OVERLAY_H_BASE_PATH)

struct overlay {
    int fd, base_fd;
    bool owns_base;
    uint64_t size, blocks, bitmap_bytes, data_offset;
    uint8_t *bitmap;
    uint8_t *dirty_chunks; /* one byte per BITMAP_CHUNK of bitmap not yet on disk */
    uint8_t *scratch;      /* one block, for merging partial writes */
};

/* ---- plain file I/O ------------------------------------------------------------ */

int pread_full(int fd, void *buf, size_t len, uint64_t offset)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n, len -= (size_t)n, offset += (uint64_t)n;
    }
    return 0;
}

int pwrite_full(int fd, const void *buf, size_t len, uint64_t offset)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n, len -= (size_t)n, offset += (uint64_t)n;
    }
    return 0;
}

static int punch_hole(int fd, uint64_t offset, uint64_t len)
{
#if defined(__linux__)
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
                     (off_t)len) < 0 ? -errno : 0;
#elif defined(F_PUNCHHOLE)
    /* APFS wants block-aligned holes; the caller falls back to writing zeroes. */
    fpunchhole_t hole = {.fp_offset = (off_t)offset, .fp_length = (off_t)len};
    return fcntl(fd, F_PUNCHHOLE, &hole) < 0 ? -errno : 0;
#else
    (void)fd, (void)offset, (void)len;
    return -EOPNOTSUPP;
#endif
}

int file_zero_range(int fd, uint64_t offset, uint64_t len)
{
    if (punch_hole(fd, offset, len) == 0)
        return 0;
    static const uint8_t zeroes[65536];
    while (len) {
        size_t n = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
        int rc = pwrite_full(fd, zeroes, n, offset);
        if (rc < 0)
            return rc;
        offset += n, len -= n;
    }
    return 0;
}

/* ---- the header ------------------------------------------------------------------ */

uint32_t overlay_header_crc(const uint8_t *header)
{
    static const uint8_t no_crc[4];
    uLong crc = crc32(0, Z_NULL, 0);
    crc = crc32_z(crc, header, OVERLAY_H_HEADER_CRC);
    crc = crc32_z(crc, no_crc, sizeof(no_crc));
    crc = crc32_z(crc, header + OVERLAY_H_HEADER_CRC + 4, HEADER_SIZE - OVERLAY_H_HEADER_CRC - 4);
    return (uint32_t)crc;
}

static void mtime_of(const struct stat *st, int64_t *sec, int64_t *nsec)
{
#ifdef __APPLE__
    *sec = st->st_mtimespec.tv_sec, *nsec = st->st_mtimespec.tv_nsec;
#else
    *sec = st->st_mtim.tv_sec, *nsec = st->st_mtim.tv_nsec;
#endif
}

static void geometry_for(struct overlay *o, uint64_t size)
{
    o->size = size;
    o->blocks = (size + OVERLAY_BLOCK_SIZE - 1) / OVERLAY_BLOCK_SIZE;
    o->bitmap_bytes = (o->blocks + 7) / 8;
    uint64_t end = HEADER_SIZE + o->bitmap_bytes;
    o->data_offset = (end + OVERLAY_BLOCK_SIZE - 1) / OVERLAY_BLOCK_SIZE * OVERLAY_BLOCK_SIZE;
}

static void encode_header(const struct overlay *o, const char *base_path,
                          const struct stat *base_st, uint8_t *h)
{
    int64_t sec, nsec;
    mtime_of(base_st, &sec, &nsec);
    size_t path_len = strlen(base_path);
    memset(h, 0, HEADER_SIZE);
    memcpy(h + OVERLAY_H_MAGIC, MAGIC, 8);
    le_put(h + OVERLAY_H_VERSION, VERSION, 4);
    le_put(h + OVERLAY_H_BLOCK_SIZE, OVERLAY_BLOCK_SIZE, 4);
    le_put(h + OVERLAY_H_DISK_SIZE, o->size, 8);
    le_put(h + OVERLAY_H_BITMAP_OFFSET, HEADER_SIZE, 8);
    le_put(h + OVERLAY_H_BITMAP_BYTES, o->bitmap_bytes, 8);
    le_put(h + OVERLAY_H_DATA_OFFSET, o->data_offset, 8);
    le_put(h + OVERLAY_H_BASE_SIZE, (uint64_t)base_st->st_size, 8);
    le_put(h + OVERLAY_H_BASE_MTIME_SEC, (uint64_t)sec, 8);
    le_put(h + OVERLAY_H_BASE_MTIME_NSEC, (uint64_t)nsec, 8);
    le_put(h + OVERLAY_H_BASE_PATH_LEN, path_len, 4);
    memcpy(h + OVERLAY_H_BASE_PATH, base_path, path_len);
    le_put(h + OVERLAY_H_HEADER_CRC, overlay_header_crc(h), 4);
}

/* Version 1 headers carry no checksum; version 2 ones must match theirs. */
static int check_version(const uint8_t *h, char *err, size_t err_len)
{
    uint64_t version = le_get(h + OVERLAY_H_VERSION, 4);
    if ((version != 1 && version != VERSION) ||
        le_get(h + OVERLAY_H_BLOCK_SIZE, 4) != OVERLAY_BLOCK_SIZE) {
        snprintf(err, err_len, "overlay format version %llu is not supported",
                 (unsigned long long)version);
        return -1;
    }
    if (version >= 2 && le_get(h + OVERLAY_H_HEADER_CRC, 4) != overlay_header_crc(h)) {
        snprintf(err, err_len, "overlay header is damaged (checksum mismatch)");
        return -1;
    }
    return 0;
}

/* Checks a header read from a file; fills the geometry. */
static int decode_header(struct overlay *o, const uint8_t *h, char *base_path, char *err,
                         size_t err_len)
{
    if (memcmp(h + OVERLAY_H_MAGIC, MAGIC, 8) != 0) {
        snprintf(err, err_len, "not an ignition overlay");
        return -1;
    }
    if (check_version(h, err, err_len) < 0)
        return -1;
    uint64_t size = le_get(h + OVERLAY_H_DISK_SIZE, 8);
    uint64_t path_len = le_get(h + OVERLAY_H_BASE_PATH_LEN, 4);
    geometry_for(o, size);
    if (size == 0 || size > (1ull << 50) || le_get(h + OVERLAY_H_BITMAP_OFFSET, 8) != HEADER_SIZE ||
        le_get(h + OVERLAY_H_BITMAP_BYTES, 8) != o->bitmap_bytes ||
        le_get(h + OVERLAY_H_DATA_OFFSET, 8) != o->data_offset || path_len == 0 ||
        path_len >= MAX_BASE_PATH) {
        snprintf(err, err_len, "overlay header is damaged");
        return -1;
    }
    memcpy(base_path, h + OVERLAY_H_BASE_PATH, path_len);
    base_path[path_len] = '\0';
    return 0;
}

/* The layer covers exactly its base: guest I/O is bounded by the base's size,
 * the bitmap by the header's, so the two must agree. */
static int check_base_identity(const uint8_t *h, const struct stat *st, const char *base_path,
                               char *err, size_t err_len)
{
    int64_t sec, nsec;
    mtime_of(st, &sec, &nsec);
    if (le_get(h + OVERLAY_H_BASE_SIZE, 8) != (uint64_t)st->st_size ||
        (int64_t)le_get(h + OVERLAY_H_BASE_MTIME_SEC, 8) != sec ||
        (int64_t)le_get(h + OVERLAY_H_BASE_MTIME_NSEC, 8) != nsec) {
        snprintf(err, err_len, "was made over a different or since modified base (%s); "
                 "remove it to start afresh", base_path);
        return -1;
    }
    uint64_t disk_size = le_get(h + OVERLAY_H_DISK_SIZE, 8);
    if (disk_size != (uint64_t)st->st_size) {
        snprintf(err, err_len, "overlay header is damaged: its disk size (%llu bytes) is not "
                 "its base's (%lld bytes, %s)", (unsigned long long)disk_size,
                 (long long)st->st_size, base_path);
        return -1;
    }
    return 0;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static struct overlay *overlay_alloc(uint64_t size)
{
    struct overlay *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->fd = o->base_fd = -1;
    geometry_for(o, size);
    o->bitmap = calloc(1, o->bitmap_bytes);
    o->dirty_chunks = calloc(1, o->bitmap_bytes / BITMAP_CHUNK + 1);
    o->scratch = malloc(OVERLAY_BLOCK_SIZE);
    if (!o->bitmap || !o->dirty_chunks || !o->scratch) {
        overlay_close(o);
        return NULL;
    }
    return o;
}

/* Only one process may write an overlay at a time. */
static int lock_exclusive(int fd, const char *path, char *err, size_t err_len)
{
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno == EWOULDBLOCK)
        snprintf(err, err_len, "%s is in use by another guest", path);
    else
        snprintf(err, err_len, "cannot lock %s: %s", path, strerror(errno));
    return -1;
}

static int write_new_file(struct overlay *o, const char *tmp, const char *base_path,
                          const struct stat *base_st, char *err, size_t err_len)
{
    uint8_t *header = calloc(1, HEADER_SIZE);
    if (!header) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    encode_header(o, base_path, base_st, header);
    int rc = pwrite_full(o->fd, header, HEADER_SIZE, 0);
    free(header);
    /* The bitmap starts all zero: the sparse file's holes already say so. */
    if (rc == 0 && ftruncate(o->fd, (off_t)(o->data_offset + o->size)) < 0)
        rc = -errno;
    if (rc == 0 && fsync(o->fd) < 0)
        rc = -errno;
    if (rc < 0)
        snprintf(err, err_len, "cannot write %s: %s", tmp, strerror(-rc));
    return rc;
}

static void fsync_parent_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

struct overlay *overlay_create(const char *path, int base_fd, const char *base_path,
                               const struct stat *base_st, char *err, size_t err_len)
{
    if (strlen(base_path) >= MAX_BASE_PATH) {
        snprintf(err, err_len, "base path %s is too long", base_path);
        return NULL;
    }
    struct overlay *o = overlay_alloc((uint64_t)base_st->st_size);
    if (!o) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    o->fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (o->fd < 0) {
        snprintf(err, err_len, "cannot create %s: %s", tmp, strerror(errno));
        goto fail;
    }
    if (write_new_file(o, tmp, base_path, base_st, err, err_len) < 0)
        goto fail_unlink;
    if (rename(tmp, path) < 0) {
        snprintf(err, err_len, "cannot create %s: %s", path, strerror(errno));
        goto fail_unlink;
    }
    fsync_parent_dir(path);
    if (lock_exclusive(o->fd, path, err, err_len) < 0)
        goto fail;
    o->base_fd = base_fd;
    return o;
fail_unlink:
    unlink(tmp);
fail:
    overlay_close(o);
    return NULL;
}

static int open_recorded_base(struct overlay *o, const char *base_path, char *err,
                              size_t err_len)
{
    o->base_fd = open(base_path, O_RDONLY | O_CLOEXEC);
    if (o->base_fd < 0) {
        snprintf(err, err_len, "its base %s: %s", base_path, strerror(errno));
        return -1;
    }
    o->owns_base = true;
    return 0;
}

static int load_bitmap(struct overlay *o, const char *path, char *err, size_t err_len)
{
    int rc = pread_full(o->fd, o->bitmap, o->bitmap_bytes, HEADER_SIZE);
    if (rc < 0) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(-rc));
        return -1;
    }
    return 0;
}

struct overlay *overlay_open(const char *path, int base_fd, const struct stat *base_st,
                             bool writable, char *err, size_t err_len)
{
    char why[4200] = "";
    uint8_t *header = calloc(1, HEADER_SIZE);
    char *base_path = malloc(MAX_BASE_PATH);
    struct overlay *o = calloc(1, sizeof(*o)), *result = NULL;
    if (!header || !base_path || !o) {
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    o->fd = o->base_fd = -1;
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (pread_full(fd, header, HEADER_SIZE, 0) < 0)
        snprintf(why, sizeof(why), "not an ignition overlay");
    else if (decode_header(o, header, base_path, why, sizeof(why)) == 0)
        why[0] = '\0';
    /* The bitmap is sized from the header: the file must really hold it, so a
     * damaged header cannot make us allocate what is not there. */
    struct stat st;
    if (!why[0] && (fstat(fd, &st) < 0 || (uint64_t)st.st_size < o->data_offset))
        snprintf(why, sizeof(why), "truncated");
    if (why[0]) {
        snprintf(err, err_len, "%s: %s", path, why);
        close(fd);
        goto out;
    }
    struct overlay *full = overlay_alloc(o->size);
    if (!full) {
        close(fd);
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    full->fd = fd;
    struct stat recorded;
    if (base_fd < 0) {
        if (open_recorded_base(full, base_path, why, sizeof(why)) < 0 ||
            fstat(full->base_fd, &recorded) < 0)
            goto fail_full;
        base_st = &recorded;
    } else {
        full->base_fd = base_fd;
    }
    if (check_base_identity(header, base_st, base_path, why, sizeof(why)) < 0 ||
        (writable && lock_exclusive(fd, path, why, sizeof(why)) < 0) ||
        load_bitmap(full, path, why, sizeof(why)) < 0)
        goto fail_full;
    result = full;
    goto out;
fail_full:
    snprintf(err, err_len, "%s: %s", path, why);
    overlay_close(full);
out:
    free(header);
    free(base_path);
    free(o);
    return result;
}

void overlay_close(struct overlay *o)
{
    if (!o)
        return;
    if (o->fd >= 0)
        close(o->fd);
    if (o->owns_base && o->base_fd >= 0)
        close(o->base_fd);
    free(o->bitmap);
    free(o->dirty_chunks);
    free(o->scratch);
    free(o);
}

bool overlay_probe(const char *path)
{
    char magic[8];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool yes = pread_full(fd, magic, sizeof(magic), 0) == 0 && memcmp(magic, MAGIC, 8) == 0;
    close(fd);
    return yes;
}

uint64_t overlay_size(const struct overlay *o)
{
    return o->size;
}

/* ---- blocks ------------------------------------------------------------------------- */

/* Every access is checked against the layer's own size, whatever the caller
 * checked against: the bitmap has a bit for each block of that size only. */
static bool within(const struct overlay *o, uint64_t offset, uint64_t len)
{
    return offset <= o->size && len <= o->size - offset;
}

static bool block_present(const struct overlay *o, uint64_t block)
{
    return o->bitmap[block / 8] & (1u << (block % 8));
}

static void mark_present(struct overlay *o, uint64_t block)
{
    o->bitmap[block / 8] |= (uint8_t)(1u << (block % 8));
    o->dirty_chunks[block / 8 / BITMAP_CHUNK] = 1;
}

static uint64_t data_pos(const struct overlay *o, uint64_t offset)
{
    return o->data_offset + offset;
}

/* Bytes of the disk in block's span (the last block may be short). */
static size_t block_length(const struct overlay *o, uint64_t block)
{
    uint64_t start = block * OVERLAY_BLOCK_SIZE;
    return o->size - start < OVERLAY_BLOCK_SIZE ? (size_t)(o->size - start) : OVERLAY_BLOCK_SIZE;
}

/* Reads from offset through the run of blocks that share its block's state. */
int overlay_read(struct overlay *o, uint64_t offset, void *buf, size_t len)
{
    if (!within(o, offset, len))
        return -EINVAL;
    uint8_t *out = buf;
    while (len) {
        uint64_t block = offset / OVERLAY_BLOCK_SIZE;
        bool here = block_present(o, block);
        uint64_t run_end = (block + 1) * OVERLAY_BLOCK_SIZE;
        while (run_end < offset + len && block_present(o, run_end / OVERLAY_BLOCK_SIZE) == here)
            run_end += OVERLAY_BLOCK_SIZE;
        size_t n = run_end - offset < len ? (size_t)(run_end - offset) : len;
        int rc = here ? pread_full(o->fd, out, n, data_pos(o, offset))
                      : pread_full(o->base_fd, out, n, offset);
        if (rc < 0)
            return rc;
        out += n, offset += n, len -= n;
    }
    return 0;
}

/* A partial write to a block not yet here: the rest comes from the base. */
static int write_partial_block(struct overlay *o, uint64_t offset, const uint8_t *in, size_t n)
{
    uint64_t block = offset / OVERLAY_BLOCK_SIZE;
    uint64_t start = block * OVERLAY_BLOCK_SIZE;
    if (block_present(o, block))
        return pwrite_full(o->fd, in, n, data_pos(o, offset));
    size_t span = block_length(o, block);
    int rc = pread_full(o->base_fd, o->scratch, span, start);
    if (rc < 0)
        return rc;
    memcpy(o->scratch + (offset - start), in, n);
    rc = pwrite_full(o->fd, o->scratch, span, data_pos(o, start));
    if (rc == 0)
        mark_present(o, block);
    return rc;
}

int overlay_write(struct overlay *o, uint64_t offset, const void *buf, size_t len)
{
    if (!within(o, offset, len))
        return -EINVAL;
    const uint8_t *in = buf;
    while (len) {
        uint64_t block = offset / OVERLAY_BLOCK_SIZE;
        uint64_t start = block * OVERLAY_BLOCK_SIZE;
        size_t span = block_length(o, block);
        if (offset != start || len < span) {
            size_t n = start + span - offset < len ? (size_t)(start + span - offset) : len;
            int rc = write_partial_block(o, offset, in, n);
            if (rc < 0)
                return rc;
            in += n, offset += n, len -= n;
            continue;
        }
        /* Whole blocks: one write for all of them, then their bits. */
        size_t whole = len - (len % OVERLAY_BLOCK_SIZE);
        if (offset + len == o->size)
            whole = len; /* the short last block counts as whole */
        int rc = pwrite_full(o->fd, in, whole, data_pos(o, offset));
        if (rc < 0)
            return rc;
        for (uint64_t b = block; b * OVERLAY_BLOCK_SIZE < offset + whole; b++)
            mark_present(o, b);
        in += whole, offset += whole, len -= whole;
    }
    return 0;
}

/* Whole blocks become holes in the data region (which read as zeroes) and are
 * marked present, so the base no longer shows through; a run of them is one
 * hole. Partial blocks at either end are written. */
int overlay_write_zeroes(struct overlay *o, uint64_t offset, uint64_t len)
{
    if (!within(o, offset, len))
        return -EINVAL;
    static const uint8_t zeroes[OVERLAY_BLOCK_SIZE];
    while (len) {
        uint64_t block = offset / OVERLAY_BLOCK_SIZE;
        uint64_t start = block * OVERLAY_BLOCK_SIZE;
        size_t span = block_length(o, block);
        if (offset != start || len < span) {
            size_t n = start + span - offset < len ? (size_t)(start + span - offset) : (size_t)len;
            int rc = write_partial_block(o, offset, zeroes, n);
            if (rc < 0)
                return rc;
            offset += n, len -= n;
            continue;
        }
        uint64_t whole = offset + len == o->size ? len : len - len % OVERLAY_BLOCK_SIZE;
        int rc = file_zero_range(o->fd, data_pos(o, offset), whole);
        if (rc < 0)
            return rc;
        for (uint64_t b = block; b * OVERLAY_BLOCK_SIZE < offset + whole; b++)
            mark_present(o, b);
        offset += whole, len -= whole;
    }
    return 0;
}

/* Data first, then the bitmap that points at it (see the header comment). */
int overlay_flush(struct overlay *o)
{
    if (fdatasync(o->fd) < 0)
        return -errno;
    bool wrote = false;
    for (uint64_t c = 0; c * BITMAP_CHUNK < o->bitmap_bytes; c++) {
        if (!o->dirty_chunks[c])
            continue;
        uint64_t at = c * BITMAP_CHUNK;
        size_t n = o->bitmap_bytes - at < BITMAP_CHUNK ? (size_t)(o->bitmap_bytes - at)
                                                        : BITMAP_CHUNK;
        int rc = pwrite_full(o->fd, o->bitmap + at, n, HEADER_SIZE + at);
        if (rc < 0)
            return rc;
        o->dirty_chunks[c] = 0;
        wrote = true;
    }
    if (wrote && fdatasync(o->fd) < 0)
        return -errno;
    return 0;
}
