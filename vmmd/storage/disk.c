/* Disk images: the read-only base, and the per-instance copy-on-write layer a
 * writable disk's guest writes land in (a filesystem clone of the base, or our
 * own overlay file where the filesystem cannot clone). */
#include "storage/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/fs.h>
#include <sys/ioctl.h>
#endif
#ifdef __APPLE__
#include <sys/clonefile.h>
#endif

#include "storage/disk_overlay.h"

#define SERIAL_MAX 20 /* VIRTIO_BLK_ID_BYTES */

enum layer_kind { LAYER_READ_ONLY, LAYER_CLONE, LAYER_OVERLAY };

struct disk {
    enum layer_kind kind;
    bool writable; /* a layer is open for the guest's writes */
    int base_fd;
    int layer_fd; /* the clone; -1 otherwise */
    struct overlay *overlay;
    uint64_t size;
    char serial[SERIAL_MAX + 1];
    char layer_path[PATH_MAX];
};

/* ---- the --disk argument -------------------------------------------------------------- */

static int parse_disk_option(char *opt, struct disk_spec *spec, char *err, size_t err_len)
{
    if (strcmp(opt, "ro") == 0) {
        spec->read_only = true;
    } else if (strcmp(opt, "cow=auto") == 0) {
        spec->cow = DISK_COW_AUTO;
    } else if (strcmp(opt, "cow=clone") == 0) {
        spec->cow = DISK_COW_CLONE;
    } else if (strcmp(opt, "cow=overlay") == 0) {
        spec->cow = DISK_COW_OVERLAY;
    } else if (strncmp(opt, "serial=", 7) == 0) {
        spec->serial = opt + 7;
        if (strlen(spec->serial) > SERIAL_MAX) {
            snprintf(err, err_len, "serial '%s' is longer than %d bytes", spec->serial,
                     SERIAL_MAX);
            return -1;
        }
    } else {
        snprintf(err, err_len, "unknown disk option '%s' (ro, cow=auto|clone|overlay, "
                 "serial=TEXT)", opt);
        return -1;
    }
    return 0;
}

int disk_spec_parse(char *text, struct disk_spec *spec, char *err, size_t err_len)
{
    *spec = (struct disk_spec){.cow = DISK_COW_AUTO};
    /* The path runs to the first comma; each option after it to the next. */
    char *next = strchr(text, ',');
    if (next)
        *next++ = '\0';
    if (!*text) {
        snprintf(err, err_len, "a disk needs a path");
        return -1;
    }
    spec->path = text;
    while (next) {
        char *opt = next;
        next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        if (parse_disk_option(opt, spec, err, err_len) < 0)
            return -1;
    }
    return 0;
}

/* ---- opening ------------------------------------------------------------------------- */

static void default_serial(const char *path, char *serial)
{
    const char *name = strrchr(path, '/');
    snprintf(serial, SERIAL_MAX + 1, "%s", name ? name + 1 : path);
}

static int open_base(struct disk *d, const struct disk_spec *spec, struct stat *st, char *err,
                     size_t err_len)
{
    d->base_fd = open(spec->path, O_RDONLY | O_CLOEXEC);
    if (d->base_fd < 0 || fstat(d->base_fd, st) < 0) {
        snprintf(err, err_len, "disk %s: %s", spec->path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(err, err_len, "disk %s: not a regular file (raw images only)", spec->path);
        return -1;
    }
    if (st->st_size == 0 || st->st_size % DISK_SECTOR) {
        snprintf(err, err_len, "disk %s: its size (%lld bytes) is not a non-zero multiple of "
                 "%u", spec->path, (long long)st->st_size, DISK_SECTOR);
        return -1;
    }
    d->size = (uint64_t)st->st_size;
    return 0;
}

/* The base a clone was made from, recorded beside it (a clone has no header). */
static int clone_record_path(const struct disk *d, char *out, size_t len)
{
    return snprintf(out, len, "%s.base", d->layer_path) < (int)len ? 0 : -1;
}

static void identity_line(const struct stat *st, char *out, size_t len)
{
#ifdef __APPLE__
    struct timespec m = st->st_mtimespec;
#else
    struct timespec m = st->st_mtim;
#endif
    snprintf(out, len, "size %lld mtime %lld.%09ld\n", (long long)st->st_size,
             (long long)m.tv_sec, (long)m.tv_nsec);
}

static int write_clone_record(const struct disk *d, const struct stat *st)
{
    char path[PATH_MAX + 8], line[128];
    if (clone_record_path(d, path, sizeof(path)) < 0)
        return -ENAMETOOLONG;
    identity_line(st, line, sizeof(line));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = pwrite_full(fd, line, strlen(line), 0);
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static bool clone_matches_base(const struct disk *d, const struct stat *st)
{
    char path[PATH_MAX + 8], want[128], have[128] = "";
    if (clone_record_path(d, path, sizeof(path)) < 0)
        return false;
    identity_line(st, want, sizeof(want));
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    bool ok = fgets(have, sizeof(have), f) && strcmp(have, want) == 0;
    fclose(f);
    return ok;
}

int disk_clone_file(int base_fd, const char *base_path, const char *to)
{
#if defined(__linux__) && defined(FICLONE)
    (void)base_path;
    int fd = open(to, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = ioctl(fd, FICLONE, base_fd) < 0 ? -errno : 0;
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        unlink(to);
    return rc;
#elif defined(__APPLE__)
    (void)base_fd;
    return clonefile(base_path, to, 0) < 0 ? -errno : 0;
#else
    (void)base_fd, (void)base_path, (void)to;
    return -EOPNOTSUPP;
#endif
}

bool disk_cannot_clone(int rc)
{
    return rc == -EOPNOTSUPP || rc == -EXDEV || rc == -EINVAL || rc == -ENOTTY ||
           rc == -ENOTSUP;
}

static int open_clone(struct disk *d, const struct stat *st, char *err, size_t err_len)
{
    if (!clone_matches_base(d, st)) {
        snprintf(err, err_len, "%s was made from a different or since modified base; "
                 "remove it to start afresh", d->layer_path);
        return -1;
    }
    d->layer_fd = open(d->layer_path, O_RDWR | O_CLOEXEC);
    if (d->layer_fd < 0) {
        snprintf(err, err_len, "%s: %s", d->layer_path, strerror(errno));
        return -1;
    }
    if (flock(d->layer_fd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(err, err_len, "%s is in use by another guest", d->layer_path);
        return -1;
    }
    d->kind = LAYER_CLONE;
    return 0;
}

/* Returns 1 when cloning is not possible here (the caller falls back). */
static int make_clone(struct disk *d, const struct disk_spec *spec, const struct stat *st,
                      char *err, size_t err_len)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.new", d->layer_path);
    unlink(tmp);
    int rc = disk_clone_file(d->base_fd, spec->path, tmp);
    if (rc < 0 && disk_cannot_clone(rc) && spec->cow == DISK_COW_AUTO)
        return 1;
    if (rc == 0) {
        rc = write_clone_record(d, st);
        if (rc == 0 && rename(tmp, d->layer_path) < 0)
            rc = -errno;
    }
    if (rc < 0) {
        unlink(tmp);
        snprintf(err, err_len, "cannot clone disk %s into %s: %s", spec->path, d->layer_path,
                 strerror(-rc));
        return -1;
    }
    return open_clone(d, st, err, err_len);
}

static int use_overlay(struct disk *d, const struct disk_spec *spec, const struct stat *st,
                       const char *instance_dir, unsigned index, bool exists, char *err,
                       size_t err_len)
{
    snprintf(d->layer_path, sizeof(d->layer_path), "%s/disk%u.cow", instance_dir, index);
    if (exists) {
        d->overlay = overlay_open(d->layer_path, d->base_fd, st, true, err, err_len);
    } else {
        char base_path[PATH_MAX];
        if (!realpath(spec->path, base_path)) {
            snprintf(err, err_len, "disk %s: %s", spec->path, strerror(errno));
            return -1;
        }
        d->overlay = overlay_create(d->layer_path, d->base_fd, base_path, st, err, err_len);
    }
    if (!d->overlay)
        return -1;
    d->kind = LAYER_OVERLAY;
    return 0;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int open_writable_layer(struct disk *d, const struct disk_spec *spec,
                               const struct stat *st, const char *instance_dir, unsigned index,
                               char *err, size_t err_len)
{
    char cow_path[PATH_MAX];
    snprintf(d->layer_path, sizeof(d->layer_path), "%s/disk%u.img", instance_dir, index);
    snprintf(cow_path, sizeof(cow_path), "%s/disk%u.cow", instance_dir, index);
    bool have_clone = file_exists(d->layer_path), have_overlay = file_exists(cow_path);
    if (have_clone && have_overlay) {
        snprintf(err, err_len, "%s has both %s and %s; remove one", instance_dir,
                 d->layer_path, cow_path);
        return -1;
    }
    if (have_clone)
        return open_clone(d, st, err, err_len);
    if (have_overlay || spec->cow == DISK_COW_OVERLAY)
        return use_overlay(d, spec, st, instance_dir, index, have_overlay, err, err_len);
    int rc = make_clone(d, spec, st, err, err_len);
    if (rc == 1)
        return use_overlay(d, spec, st, instance_dir, index, false, err, err_len);
    return rc;
}

struct disk *disk_open(const struct disk_spec *spec, const char *instance_dir, unsigned index,
                       char *err, size_t err_len)
{
    struct disk *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    d->layer_fd = -1;
    struct stat st;
    if (open_base(d, spec, &st, err, err_len) < 0)
        goto fail;
    if (spec->serial)
        snprintf(d->serial, sizeof(d->serial), "%s", spec->serial);
    else
        default_serial(spec->path, d->serial);
    if (spec->read_only) {
        d->kind = LAYER_READ_ONLY;
        return d;
    }
    if (open_writable_layer(d, spec, &st, instance_dir, index, err, err_len) < 0)
        goto fail;
    d->writable = true;
    return d;
fail:
    disk_close(d);
    return NULL;
}

void disk_close(struct disk *d)
{
    if (!d)
        return;
    disk_flush(d);
    overlay_close(d->overlay);
    if (d->layer_fd >= 0)
        close(d->layer_fd);
    if (d->base_fd >= 0)
        close(d->base_fd);
    free(d);
}

/* ---- I/O ---------------------------------------------------------------------------- */

uint64_t disk_size(const struct disk *d) { return d->size; }
bool disk_read_only(const struct disk *d) { return d->kind == LAYER_READ_ONLY; }
const char *disk_serial(const struct disk *d) { return d->serial; }

const char *disk_layer_path(const struct disk *d)
{
    return d->kind == LAYER_READ_ONLY ? NULL : d->layer_path;
}

const char *disk_layer_kind(const struct disk *d)
{
    static const char *const names[] = {"read-only", "clone", "overlay"};
    return names[d->kind];
}

static bool in_range(const struct disk *d, uint64_t offset, uint64_t len)
{
    return offset <= d->size && len <= d->size - offset;
}

int disk_read(struct disk *d, uint64_t offset, void *buf, size_t len)
{
    if (!in_range(d, offset, len))
        return -EINVAL;
    switch (d->kind) {
    case LAYER_OVERLAY: return overlay_read(d->overlay, offset, buf, len);
    case LAYER_CLONE: return pread_full(d->layer_fd, buf, len, offset);
    default: return pread_full(d->base_fd, buf, len, offset);
    }
}

int disk_write(struct disk *d, uint64_t offset, const void *buf, size_t len)
{
    if (!in_range(d, offset, len))
        return -EINVAL;
    switch (d->kind) {
    case LAYER_OVERLAY: return overlay_write(d->overlay, offset, buf, len);
    case LAYER_CLONE: return pwrite_full(d->layer_fd, buf, len, offset);
    default: return -EROFS;
    }
}

int disk_write_zeroes(struct disk *d, uint64_t offset, uint64_t len, bool unmap)
{
    (void)unmap; /* both layers give the space up where the filesystem lets them */
    if (!in_range(d, offset, len))
        return -EINVAL;
    switch (d->kind) {
    case LAYER_OVERLAY: return overlay_write_zeroes(d->overlay, offset, len);
    case LAYER_CLONE: return file_zero_range(d->layer_fd, offset, len);
    default: return -EROFS;
    }
}

/* Discarded sectors read back as zeroes, which the spec allows (§5.2.6.1). */
int disk_discard(struct disk *d, uint64_t offset, uint64_t len)
{
    return disk_write_zeroes(d, offset, len, true);
}

int disk_flush(struct disk *d)
{
    if (!d->writable)
        return 0;
    switch (d->kind) {
    case LAYER_OVERLAY: return overlay_flush(d->overlay);
    case LAYER_CLONE: return fdatasync(d->layer_fd) < 0 ? -errno : 0;
    default: return 0;
    }
}

/* ---- export ---------------------------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static int copy_out(struct disk *d, int out_fd, const char *out_path, char *err,
                    size_t err_len)
{
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    /* The output is sparse: zero chunks stay holes. */
    int rc = ftruncate(out_fd, (off_t)d->size) < 0 ? -errno : 0;
    for (uint64_t at = 0; at < d->size && rc == 0; at += CHUNK) {
        size_t n = d->size - at < CHUNK ? (size_t)(d->size - at) : CHUNK;
        rc = disk_read(d, at, buf, n);
        if (rc == 0 && !all_zero(buf, n))
            rc = pwrite_full(out_fd, buf, n, at);
    }
    free(buf);
    if (rc == 0 && fsync(out_fd) < 0)
        rc = -errno;
    if (rc < 0)
        snprintf(err, err_len, "cannot write %s: %s", out_path, strerror(-rc));
    return rc < 0 ? -1 : 0;
}

static struct disk *open_layer_for_export(const char *layer_path, char *err, size_t err_len)
{
    struct disk *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    d->base_fd = d->layer_fd = -1;
    if (overlay_probe(layer_path)) {
        d->overlay = overlay_open(layer_path, -1, NULL, false, err, err_len);
        if (!d->overlay) {
            disk_close(d);
            return NULL;
        }
        d->kind = LAYER_OVERLAY;
        d->size = overlay_size(d->overlay);
        return d;
    }
    /* Not an overlay: a clone is a raw image already. */
    struct stat st;
    d->layer_fd = open(layer_path, O_RDONLY | O_CLOEXEC);
    if (d->layer_fd < 0 || fstat(d->layer_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "%s: %s", layer_path,
                 d->layer_fd < 0 ? strerror(errno) : "not a regular file");
        disk_close(d);
        return NULL;
    }
    d->kind = LAYER_CLONE;
    d->size = (uint64_t)st.st_size;
    return d;
}

int disk_export(const char *layer_path, const char *out_path, char *err, size_t err_len)
{
    struct disk *d = open_layer_for_export(layer_path, err, err_len);
    if (!d)
        return -1;
    int out_fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        snprintf(err, err_len, "%s: %s", out_path, strerror(errno));
        disk_close(d);
        return -1;
    }
    int rc = copy_out(d, out_fd, out_path, err, err_len);
    close(out_fd);
    disk_close(d);
    return rc;
}
