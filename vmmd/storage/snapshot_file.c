/* The snapshot container on disk (format in snapshot_file.h): writing a
 * directory beside its final name and putting it in place crash-safely, and
 * reading one back with its checks. */
#include "storage/snapshot_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "byteorder.h"
#include "storage/disk.h"
#include "storage/disk_overlay.h"
#include "util.h"

#define MANIFEST_NAME "manifest"
#define MEMORY_NAME "memory"
#define NEW_TAG ".new-"
#define OLD_TAG ".old-"
/* A run of non-zero pages goes out in writes of at most this much. */
#define WRITE_CHUNK (64u << 20)
/* Reading back (verifying, copying side files) goes in pieces of this much. */
#define READ_CHUNK (1u << 20)
#define TABLE_MAX ((SNAPSHOT_MEMORY_MAX / SNAPSHOT_REGION_SIZE_MIN) * 4u)
#define MANIFEST_MAX ((uint64_t)SNAPSHOT_HEADER_SIZE + TABLE_MAX + SNAPSHOT_BODY_MAX)

static const uint8_t zero_page[SNAPSHOT_PAGE_SIZE];

/* ---- checksums --------------------------------------------------------------------------- */

/* CRC-32 built up page by page. Zero pages (most of a guest's RAM) are folded in
 * from the checksum of one zero page, without reading them through zlib. */
struct region_sum {
    uLong crc;
    uLong zero_page_crc;
    uLong zero_page_op;
};

static void region_sum_start(struct region_sum *s)
{
    s->crc = crc32(0, Z_NULL, 0);
    s->zero_page_crc = crc32(0, zero_page, SNAPSHOT_PAGE_SIZE);
    s->zero_page_op = crc32_combine_gen(SNAPSHOT_PAGE_SIZE);
}

static void region_sum_zero_page(struct region_sum *s)
{
    s->crc = crc32_combine_op(s->crc, s->zero_page_crc, s->zero_page_op);
}

static void region_sum_bytes(struct region_sum *s, const uint8_t *p, size_t n)
{
    s->crc = crc32_z(s->crc, p, n);
}

static bool page_is_zero(const uint8_t *p)
{
    return memcmp(p, zero_page, SNAPSHOT_PAGE_SIZE) == 0;
}

/* Adds n bytes, whole pages except perhaps the last. */
static void region_sum_add(struct region_sum *s, const uint8_t *p, size_t n)
{
    for (size_t at = 0; at < n; at += SNAPSHOT_PAGE_SIZE) {
        size_t len = n - at < SNAPSHOT_PAGE_SIZE ? n - at : SNAPSHOT_PAGE_SIZE;
        if (len == SNAPSHOT_PAGE_SIZE && page_is_zero(p + at))
            region_sum_zero_page(s);
        else
            region_sum_bytes(s, p + at, len);
    }
}

uint32_t snapshot_region_crc(const uint8_t *data, size_t len)
{
    struct region_sum s;
    region_sum_start(&s);
    region_sum_add(&s, data, len);
    return (uint32_t)s.crc;
}

static uint32_t crc_of(const uint8_t *p, uint64_t n)
{
    return (uint32_t)crc32_z(crc32(0, Z_NULL, 0), p, (z_size_t)n);
}

/* ---- the manifest's header --------------------------------------------------------------- */

static bool is_power_of_two(uint32_t v)
{
    return v && (v & (v - 1)) == 0;
}

static int check_memory_fields(uint64_t memory_size, uint32_t region_size, uint32_t region_count,
                               char *err, size_t err_len)
{
    if (memory_size == 0 || memory_size % SNAPSHOT_PAGE_SIZE || memory_size > SNAPSHOT_MEMORY_MAX) {
        set_message(err, err_len, "manifest names a memory size of %" PRIu64 " bytes (not a "
                    "non-zero multiple of %u up to %llu)", memory_size, SNAPSHOT_PAGE_SIZE,
                    SNAPSHOT_MEMORY_MAX);
        return -1;
    }
    if (!is_power_of_two(region_size) || region_size < SNAPSHOT_REGION_SIZE_MIN ||
        region_size > SNAPSHOT_REGION_SIZE_MAX) {
        set_message(err, err_len, "manifest names a region size of %" PRIu32 " bytes (not a "
                    "power of two from %u to %u)", region_size, SNAPSHOT_REGION_SIZE_MIN,
                    SNAPSHOT_REGION_SIZE_MAX);
        return -1;
    }
    uint64_t want = (memory_size + region_size - 1) / region_size;
    if (region_count != want) {
        set_message(err, err_len, "manifest names %" PRIu32 " memory regions where %" PRIu64
                    " bytes in regions of %" PRIu32 " make %" PRIu64, region_count, memory_size,
                    region_size, want);
        return -1;
    }
    return 0;
}

static int check_header(const uint8_t *h, char *err, size_t err_len)
{
    if (memcmp(h + SNAPSHOT_OFF_MAGIC, SNAPSHOT_MAGIC, 8) != 0) {
        set_message(err, err_len, "manifest is not a snapshot manifest (bad magic)");
        return -1;
    }
    uint32_t version = le32(h + SNAPSHOT_OFF_VERSION);
    if (version != SNAPSHOT_FORMAT_VERSION) {
        set_message(err, err_len, "manifest has format version %" PRIu32 "; this ignition "
                    "reads version %u", version, SNAPSHOT_FORMAT_VERSION);
        return -1;
    }
    uint32_t header_size = le32(h + SNAPSHOT_OFF_HEADER_SIZE);
    if (header_size != SNAPSHOT_HEADER_SIZE) {
        set_message(err, err_len, "manifest header is %" PRIu32 " bytes where version %u's is "
                    "%u", header_size, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_HEADER_SIZE);
        return -1;
    }
    if (crc_of(h, SNAPSHOT_OFF_HEADER_CRC) != le32(h + SNAPSHOT_OFF_HEADER_CRC)) {
        set_message(err, err_len, "manifest header checksum mismatch");
        return -1;
    }
    for (unsigned i = SNAPSHOT_OFF_BODY_CRC + 4; i < SNAPSHOT_OFF_HEADER_CRC; i++) {
        if (h[i]) {
            set_message(err, err_len, "manifest header has non-zero reserved bytes");
            return -1;
        }
    }
    return 0;
}

static int check_length(uint64_t want, size_t size, char *err, size_t err_len)
{
    if (size < want) {
        set_message(err, err_len, "manifest is %" PRIu64 " bytes short", want - size);
        return -1;
    }
    if (size > want) {
        set_message(err, err_len, "manifest has %" PRIu64 " bytes beyond its body",
                    (uint64_t)size - want);
        return -1;
    }
    return 0;
}

int snapshot_manifest_parse(const uint8_t *data, size_t size, struct snapshot_manifest_info *out,
                            char *err, size_t err_len)
{
    if (size < SNAPSHOT_HEADER_SIZE) {
        set_message(err, err_len, "manifest is %zu bytes, shorter than its %u-byte header", size,
                    SNAPSHOT_HEADER_SIZE);
        return -1;
    }
    if (check_header(data, err, err_len) < 0)
        return -1;
    struct snapshot_manifest_info m = {
        .memory_size = le64(data + SNAPSHOT_OFF_MEMORY_SIZE),
        .region_size = le32(data + SNAPSHOT_OFF_REGION_SIZE),
        .region_count = le32(data + SNAPSHOT_OFF_REGION_COUNT),
        .body_length = le64(data + SNAPSHOT_OFF_BODY_LENGTH),
    };
    if (check_memory_fields(m.memory_size, m.region_size, m.region_count, err, err_len) < 0)
        return -1;
    if (m.body_length > SNAPSHOT_BODY_MAX) {
        set_message(err, err_len, "manifest body is %" PRIu64 " bytes, more than the %u a "
                    "manifest may hold", m.body_length, SNAPSHOT_BODY_MAX);
        return -1;
    }
    /* Both terms are bounded above, so the sum cannot wrap. */
    uint64_t table_bytes = (uint64_t)m.region_count * 4u;
    if (check_length(SNAPSHOT_HEADER_SIZE + table_bytes + m.body_length, size, err, err_len) < 0)
        return -1;
    m.region_crcs = data + SNAPSHOT_HEADER_SIZE;
    m.body = m.region_crcs + table_bytes;
    if (crc_of(m.region_crcs, table_bytes) != le32(data + SNAPSHOT_OFF_TABLE_CRC)) {
        set_message(err, err_len, "manifest region table checksum mismatch");
        return -1;
    }
    if (crc_of(m.body, m.body_length) != le32(data + SNAPSHOT_OFF_BODY_CRC)) {
        set_message(err, err_len, "manifest checksum mismatch");
        return -1;
    }
    *out = m;
    return 0;
}

/* ---- paths and directories --------------------------------------------------------------- */

/* A snapshot path split into its directory and its last component. */
struct snapshot_name {
    char parent[PATH_MAX];
    char base[NAME_MAX + 1];
};

static const char *last_slash(const char *path, size_t len)
{
    while (len-- > 0)
        if (path[len] == '/')
            return path + len;
    return NULL;
}

static int split_path(const char *path, struct snapshot_name *n, char *err, size_t err_len)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *slash = last_slash(path, len);
    const char *base = slash ? slash + 1 : path;
    size_t base_len = len - (size_t)(base - path);
    size_t parent_len = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    /* Room for the hidden ".BASE.new-XXXXXX" siblings too. */
    if (base_len == 0 || base_len + 16 > NAME_MAX || parent_len >= sizeof(n->parent) ||
        (base_len <= 2 && strncmp(base, "..", base_len) == 0)) {
        set_message(err, err_len, "'%s' cannot name a snapshot directory", path);
        return -1;
    }
    memcpy(n->parent, slash ? path : ".", parent_len);
    n->parent[parent_len] = '\0';
    memcpy(n->base, base, base_len);
    n->base[base_len] = '\0';
    return 0;
}

static int join(char *out, size_t len, const char *dir, const char *name)
{
    return snprintf(out, len, "%s/%s", dir, name) < (int)len ? 0 : -ENAMETOOLONG;
}

/* ".BASE<tag>XXXXXX", a template for mkdtemp. */
static int hidden_name(char *out, size_t len, const char *base, const char *tag)
{
    return snprintf(out, len, ".%s%sXXXXXX", base, tag) < (int)len ? 0 : -ENAMETOOLONG;
}

/* Whether name is ".BASE<tag>XXXXXX", something a writer of BASE left. */
static bool is_leftover(const char *name, const char *base, const char *tag)
{
    size_t base_len = strlen(base), tag_len = strlen(tag);
    return name[0] == '.' && strncmp(name + 1, base, base_len) == 0 &&
           strncmp(name + 1 + base_len, tag, tag_len) == 0 &&
           strlen(name + 1 + base_len + tag_len) == 6;
}

/* Removes a snapshot directory (flat: files only). The manifest goes first, so
 * an interrupted removal leaves something snapshot_open refuses. */
static int remove_snapshot_dir(int parent_fd, const char *name)
{
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    unlinkat(fd, MANIFEST_NAME, 0);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(fd, e->d_name, 0);
    closedir(d);
    return unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}

/* A writer holds an exclusive lock on its directory while it lives, so only
 * what dead writers left is touched. */
static bool in_use(int parent_fd, const char *name)
{
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    bool busy = flock(fd, LOCK_EX | LOCK_NB) < 0;
    close(fd);
    return busy;
}

static bool exists_at(int parent_fd, const char *name)
{
    struct stat st;
    return fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int sync_fd_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Leftovers of dead writers: a set-aside previous snapshot is put back when the
 * name is missing (a crash between the two renames); the rest is removed. */
static void tidy_leftovers(const struct snapshot_name *n)
{
    int parent_fd = open(n->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0)
        return;
    DIR *d = fdopendir(dup(parent_fd));
    struct dirent *e;
    while (d && (e = readdir(d))) {
        bool old = is_leftover(e->d_name, n->base, OLD_TAG);
        if ((!old && !is_leftover(e->d_name, n->base, NEW_TAG)) || in_use(parent_fd, e->d_name))
            continue;
        if (old && !exists_at(parent_fd, n->base) &&
            renameat(parent_fd, e->d_name, parent_fd, n->base) == 0)
            continue;
        remove_snapshot_dir(parent_fd, e->d_name);
    }
    if (d)
        closedir(d);
    fsync(parent_fd);
    close(parent_fd);
}

/* BASE of a ".BASE<tag>XXXXXX" name, or false when name is not one. */
static bool leftover_base(const char *name, const char *tag, char *base, size_t len)
{
    size_t name_len = strlen(name), tag_len = strlen(tag);
    if (name[0] != '.' || name_len < 2 + tag_len + 6)
        return false;
    size_t base_len = name_len - 1 - tag_len - 6;
    if (base_len >= len || strncmp(name + 1 + base_len, tag, tag_len) != 0)
        return false;
    memcpy(base, name + 1, base_len);
    base[base_len] = '\0';
    return true;
}

void snapshot_tidy_dir(const char *parent)
{
    struct snapshot_name n;
    if (snprintf(n.parent, sizeof(n.parent), "%s", parent) >= (int)sizeof(n.parent))
        return;
    DIR *d = opendir(parent);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (leftover_base(e->d_name, NEW_TAG, n.base, sizeof(n.base)) ||
            leftover_base(e->d_name, OLD_TAG, n.base, sizeof(n.base)))
            tidy_leftovers(&n);
    if (d)
        closedir(d);
}

/* ---- writing ----------------------------------------------------------------------------- */

struct snapshot_writer {
    struct snapshot_name name;
    char final_path[PATH_MAX];
    char new_path[PATH_MAX];
    int dir_fd; /* the new directory, locked */
    bool have_memory, have_manifest;
    uint64_t memory_size, memory_data;
    uint32_t region_count;
    uint8_t *region_crcs; /* the manifest's table */
};

int snapshot_writer_begin(const char *final_dir, struct snapshot_writer **out, char *err,
                          size_t err_len)
{
    *out = NULL;
    struct snapshot_writer *w = calloc(1, sizeof(*w));
    if (!w) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    w->dir_fd = -1;
    if (split_path(final_dir, &w->name, err, err_len) < 0)
        goto fail;
    tidy_leftovers(&w->name);
    char tail[NAME_MAX + 1];
    if (hidden_name(tail, sizeof(tail), w->name.base, NEW_TAG) < 0 ||
        join(w->final_path, sizeof(w->final_path), w->name.parent, w->name.base) < 0 ||
        join(w->new_path, sizeof(w->new_path), w->name.parent, tail) < 0) {
        set_message(err, err_len, "snapshot path '%s' is too long", final_dir);
        goto fail;
    }
    if (!mkdtemp(w->new_path)) {
        set_message(err, err_len, "cannot make a directory beside %s: %s", final_dir,
                    strerror(errno));
        goto fail;
    }
    w->dir_fd = open(w->new_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dir_fd < 0 || flock(w->dir_fd, LOCK_EX | LOCK_NB) < 0) {
        set_message(err, err_len, "%s: %s", w->new_path, strerror(errno));
        goto fail;
    }
    *out = w;
    return 0;
fail:
    snapshot_writer_abort(w);
    return -1;
}

static int create_file(struct snapshot_writer *w, const char *name, char *err, size_t err_len)
{
    int fd = openat(w->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        set_message(err, err_len, "cannot create %s/%s: %s", w->new_path, name, strerror(errno));
    return fd;
}

/* The next stretch of [at, end) that may hold data, in whole pages: what the
 * file at fd reports, or all of it when there is no file or it cannot say.
 * *data == end when the rest is a hole. */
static void next_extent(int fd, uint64_t at, uint64_t end, uint64_t *data, uint64_t *hole)
{
    *data = at;
    *hole = end;
    if (fd < 0)
        return;
    off_t d = lseek(fd, (off_t)at, SEEK_DATA);
    if (d < 0) {
        if (errno == ENXIO)
            *data = end;
        return;
    }
    off_t h = lseek(fd, d, SEEK_HOLE);
    /* Rounded outwards to pages: a few zero bytes read are harmless. */
    uint64_t from = (uint64_t)d / SNAPSHOT_PAGE_SIZE * SNAPSHOT_PAGE_SIZE;
    *data = from < at ? at : from > end ? end : from;
    if (h > d && (uint64_t)h < end)
        *hole = ((uint64_t)h + SNAPSHOT_PAGE_SIZE - 1) / SNAPSHOT_PAGE_SIZE * SNAPSHOT_PAGE_SIZE;
    if (*hole > end || *hole <= *data)
        *hole = end;
}

/* Writing `memory`: each page of RAM is looked at once, for its region's
 * checksum and for whether it goes to the file; consecutive non-zero pages go
 * out together. */
struct page_pass {
    struct snapshot_writer *w;
    int fd;
    const uint8_t *ram;
    struct region_sum sum;
    uint64_t run_start, run_len;
};

static int flush_run(struct page_pass *p)
{
    if (!p->run_len)
        return 0;
    int rc = pwrite_full(p->fd, p->ram + p->run_start, (size_t)p->run_len, p->run_start);
    p->w->memory_data += p->run_len;
    p->run_len = 0;
    return rc;
}

/* known_zero: the page is a hole in RAM's own file, so not even read. */
static int take_page(struct page_pass *p, uint64_t at, bool known_zero)
{
    const uint8_t *page = p->ram + at;
    bool zero = known_zero || page_is_zero(page);
    int rc = 0;
    if (zero) {
        region_sum_zero_page(&p->sum);
        rc = flush_run(p);
    } else {
        region_sum_bytes(&p->sum, page, SNAPSHOT_PAGE_SIZE);
        if (p->run_len == 0)
            p->run_start = at;
        p->run_len += SNAPSHOT_PAGE_SIZE;
        if (p->run_len == WRITE_CHUNK)
            rc = flush_run(p);
    }
    uint64_t next = at + SNAPSHOT_PAGE_SIZE;
    if (next % SNAPSHOT_REGION_SIZE == 0 || next == p->w->memory_size) {
        le_put(p->w->region_crcs + 4 * (at / SNAPSHOT_REGION_SIZE), p->sum.crc, 4);
        region_sum_start(&p->sum);
    }
    return rc;
}

static int write_pages(struct snapshot_writer *w, int fd, const uint8_t *ram, int ram_fd)
{
    struct page_pass p = {.w = w, .fd = fd, .ram = ram};
    region_sum_start(&p.sum);
    uint64_t size = w->memory_size;
    int rc = 0;
    for (uint64_t at = 0; at < size && rc == 0;) {
        uint64_t data, hole;
        next_extent(ram_fd, at, size, &data, &hole);
        for (; at < data && rc == 0; at += SNAPSHOT_PAGE_SIZE)
            rc = take_page(&p, at, true);
        for (; at < hole && rc == 0; at += SNAPSHOT_PAGE_SIZE)
            rc = take_page(&p, at, false);
    }
    return rc == 0 ? flush_run(&p) : rc;
}

int snapshot_writer_memory(struct snapshot_writer *w, const void *ram, uint64_t size, char *err,
                           size_t err_len)
{
    return snapshot_writer_memory_file(w, ram, -1, size, err, err_len);
}

int snapshot_writer_memory_file(struct snapshot_writer *w, const void *ram, int ram_fd,
                                uint64_t size, char *err, size_t err_len)
{
    if (w->have_memory) {
        set_message(err, err_len, "a snapshot has one memory");
        return -1;
    }
    if (size == 0 || size % SNAPSHOT_PAGE_SIZE || size > SNAPSHOT_MEMORY_MAX ||
        size > SIZE_MAX) {
        set_message(err, err_len, "memory of %" PRIu64 " bytes is not a non-zero multiple of %u "
                    "up to %llu", size, SNAPSHOT_PAGE_SIZE, SNAPSHOT_MEMORY_MAX);
        return -1;
    }
    w->region_count = (uint32_t)((size + SNAPSHOT_REGION_SIZE - 1) / SNAPSHOT_REGION_SIZE);
    w->region_crcs = calloc(w->region_count, 4);
    if (!w->region_crcs) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    int fd = create_file(w, MEMORY_NAME, err, err_len);
    if (fd < 0)
        return -1;
    w->memory_size = size;
    int rc = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
    if (rc == 0)
        rc = write_pages(w, fd, ram, ram_fd);
    close(fd);
    if (rc < 0) {
        set_message(err, err_len, "cannot write %s/" MEMORY_NAME ": %s", w->new_path,
                    strerror(-rc));
        return -1;
    }
    w->have_memory = true;
    return 0;
}

uint64_t snapshot_writer_memory_data(const struct snapshot_writer *w)
{
    return w->memory_data;
}

static bool side_file_name_ok(const char *name)
{
    return name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) <= NAME_MAX &&
           strcmp(name, MANIFEST_NAME) != 0 && strcmp(name, MEMORY_NAME) != 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* CRC-32 of a file's bytes as they read, holes as the zeros they read as: the
 * same for a file and for any copy of it, whatever holes each one has. Runs
 * of zeros are folded in a chunk at a time, without reading them. */
struct file_sum {
    uLong crc;
    uLong zero_chunk_crc, zero_chunk_op; /* of READ_CHUNK zero bytes */
};

static void file_sum_start(struct file_sum *s)
{
    s->crc = crc32(0, Z_NULL, 0);
    s->zero_chunk_op = crc32_combine_gen(READ_CHUNK);
    uLong page_op = crc32_combine_gen(SNAPSHOT_PAGE_SIZE);
    uLong page_crc = crc32(0, zero_page, SNAPSHOT_PAGE_SIZE);
    s->zero_chunk_crc = crc32(0, Z_NULL, 0);
    for (unsigned i = 0; i < READ_CHUNK / SNAPSHOT_PAGE_SIZE; i++)
        s->zero_chunk_crc = crc32_combine_op(s->zero_chunk_crc, page_crc, page_op);
}

static void file_sum_zeros(struct file_sum *s, uint64_t n)
{
    for (; n >= READ_CHUNK; n -= READ_CHUNK)
        s->crc = crc32_combine_op(s->crc, s->zero_chunk_crc, s->zero_chunk_op);
    for (; n > 0;) {
        size_t len = n < SNAPSHOT_PAGE_SIZE ? (size_t)n : SNAPSHOT_PAGE_SIZE;
        s->crc = crc32_z(s->crc, zero_page, len);
        n -= len;
    }
}

/* Reads [start, end) of from; writes its non-zero chunks to `to` (unless it
 * is -1) and adds every byte to sum (unless NULL). */
static int copy_range(int from, int to, uint64_t start, uint64_t end, uint8_t *buf,
                      struct file_sum *sum)
{
    for (uint64_t at = start; at < end; at += READ_CHUNK) {
        size_t n = end - at < READ_CHUNK ? (size_t)(end - at) : READ_CHUNK;
        int rc = pread_full(from, buf, n, at);
        if (rc == 0 && sum)
            sum->crc = crc32_z(sum->crc, buf, n);
        if (rc == 0 && to >= 0 && !all_zero(buf, n))
            rc = pwrite_full(to, buf, n, at);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Copies the data extents the source reports (all of it where the filesystem
 * cannot say), leaving holes as holes; with to = -1 only sums. Every step
 * moves forward. */
static int sparse_copy(int from, int to, uint64_t size, struct file_sum *sum)
{
    uint8_t *buf = malloc(READ_CHUNK);
    if (!buf)
        return -ENOMEM;
    int rc = to >= 0 && ftruncate(to, (off_t)size) < 0 ? -errno : 0;
    uint64_t at = 0;
    while (at < size && rc == 0) {
        off_t data = lseek(from, (off_t)at, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break;
        off_t hole = data < 0 ? (off_t)size : lseek(from, data, SEEK_HOLE);
        if (data < 0 || (uint64_t)data < at)
            data = (off_t)at;
        if ((uint64_t)data > size)
            data = (off_t)size;
        if (hole <= data || (uint64_t)hole > size)
            hole = (off_t)size;
        if (sum)
            file_sum_zeros(sum, (uint64_t)data - at);
        rc = copy_range(from, to, (uint64_t)data, (uint64_t)hole, buf, sum);
        at = (uint64_t)hole;
    }
    if (rc == 0 && sum && at < size)
        file_sum_zeros(sum, size - at); /* the hole at the end */
    free(buf);
    return rc;
}

/* The file's checksum, where a clone saved reading it for the copy. */
static int sum_file(int fd, uint64_t size, struct file_sum *sum)
{
    return sparse_copy(fd, -1, size, sum);
}

static int copy_in(struct snapshot_writer *w, int src_fd, const char *src_path, const char *name,
                   uint64_t size, struct file_sum *sum)
{
    char to[PATH_MAX];
    if (join(to, sizeof(to), w->new_path, name) < 0)
        return -ENAMETOOLONG;
    int rc = disk_clone_file(src_fd, src_path, to);
    if (rc == 0)
        return sum ? sum_file(src_fd, size, sum) : 0;
    if (!disk_cannot_clone(rc))
        return rc;
    int fd = openat(w->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    rc = sparse_copy(src_fd, fd, size, sum);
    close(fd);
    return rc;
}

int snapshot_writer_file(struct snapshot_writer *w, const char *name, const char *src_path,
                         uint32_t *crc, char *err, size_t err_len)
{
    if (!side_file_name_ok(name)) {
        set_message(err, err_len, "'%s' cannot name a file in a snapshot", name);
        return -1;
    }
    struct stat st;
    int src_fd = open(src_path, O_RDONLY | O_CLOEXEC);
    if (src_fd < 0 || fstat(src_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        set_message(err, err_len, "%s: %s", src_path,
                    src_fd < 0 ? strerror(errno) : "not a regular file");
        if (src_fd >= 0)
            close(src_fd);
        return -1;
    }
    struct file_sum sum;
    file_sum_start(&sum);
    int rc = copy_in(w, src_fd, src_path, name, (uint64_t)st.st_size, crc ? &sum : NULL);
    close(src_fd);
    if (crc)
        *crc = (uint32_t)sum.crc;
    if (rc < 0) {
        set_message(err, err_len, "cannot copy %s into %s/%s: %s", src_path, w->new_path, name,
                    strerror(-rc));
        return -1;
    }
    return 0;
}

static uint8_t *encode_manifest(const struct snapshot_writer *w, const uint8_t *body, size_t len,
                                size_t *out_len)
{
    size_t table = (size_t)w->region_count * 4u;
    *out_len = SNAPSHOT_HEADER_SIZE + table + len;
    uint8_t *m = calloc(1, *out_len);
    if (!m)
        return NULL;
    memcpy(m + SNAPSHOT_OFF_MAGIC, SNAPSHOT_MAGIC, 8);
    le_put(m + SNAPSHOT_OFF_VERSION, SNAPSHOT_FORMAT_VERSION, 4);
    le_put(m + SNAPSHOT_OFF_HEADER_SIZE, SNAPSHOT_HEADER_SIZE, 4);
    le_put(m + SNAPSHOT_OFF_MEMORY_SIZE, w->memory_size, 8);
    le_put(m + SNAPSHOT_OFF_REGION_SIZE, SNAPSHOT_REGION_SIZE, 4);
    le_put(m + SNAPSHOT_OFF_REGION_COUNT, w->region_count, 4);
    le_put(m + SNAPSHOT_OFF_BODY_LENGTH, len, 8);
    memcpy(m + SNAPSHOT_HEADER_SIZE, w->region_crcs, table);
    if (len)
        memcpy(m + SNAPSHOT_HEADER_SIZE + table, body, len);
    le_put(m + SNAPSHOT_OFF_TABLE_CRC, crc_of(m + SNAPSHOT_HEADER_SIZE, table), 4);
    le_put(m + SNAPSHOT_OFF_BODY_CRC, crc_of(m + SNAPSHOT_HEADER_SIZE + table, len), 4);
    le_put(m + SNAPSHOT_OFF_HEADER_CRC, crc_of(m, SNAPSHOT_OFF_HEADER_CRC), 4);
    return m;
}

int snapshot_writer_manifest(struct snapshot_writer *w, const uint8_t *body, size_t len,
                             char *err, size_t err_len)
{
    if (!w->have_memory || w->have_manifest) {
        set_message(err, err_len, w->have_manifest ? "a snapshot has one manifest"
                                                   : "the manifest comes after the memory");
        return -1;
    }
    if (len > SNAPSHOT_BODY_MAX) {
        set_message(err, err_len, "a manifest body of %zu bytes is more than the %u allowed",
                    len, SNAPSHOT_BODY_MAX);
        return -1;
    }
    size_t total;
    uint8_t *m = encode_manifest(w, body, len, &total);
    if (!m) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    int fd = create_file(w, MANIFEST_NAME, err, err_len);
    int rc = fd < 0 ? -1 : pwrite_full(fd, m, total, 0);
    free(m);
    if (fd < 0)
        return -1;
    close(fd);
    if (rc < 0) {
        set_message(err, err_len, "cannot write %s/" MANIFEST_NAME ": %s", w->new_path,
                    strerror(-rc));
        return -1;
    }
    w->have_manifest = true;
    return 0;
}

/* Every file, then the directory itself. */
static int sync_all(struct snapshot_writer *w)
{
    DIR *d = fdopendir(dup(w->dir_fd));
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int fd = openat(w->dir_fd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fsync(fd) < 0)
            rc = -errno;
        if (fd >= 0)
            close(fd);
    }
    closedir(d);
    if (rc == 0 && fsync(w->dir_fd) < 0)
        rc = -errno;
    return rc;
}

/* One atomic step where the filesystem has it: afterwards new_path holds the
 * previous snapshot. Returns 0, 1 when there is no such step, or -errno. */
static int exchange(const char *from, const char *to)
{
#if defined(__linux__) && defined(RENAME_EXCHANGE)
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) == 0)
        return 0;
    return errno == EINVAL || errno == ENOSYS || errno == ENOTSUP ? 1 : -errno;
#elif defined(__APPLE__) && defined(RENAME_SWAP)
    if (renamex_np(from, to, RENAME_SWAP) == 0)
        return 0;
    return errno == EINVAL || errno == ENOTSUP ? 1 : -errno;
#else
    (void)from, (void)to;
    return 1;
#endif
}

/* Without an exchange: the previous snapshot is set aside under a hidden name
 * (taking the place of an empty directory made to reserve it), then the new one
 * renamed in. A crash between the two leaves the name missing and the previous
 * snapshot set aside, which snapshot_open reads and the next writer restores. */
static int set_aside_and_rename(struct snapshot_writer *w, char *old_path, size_t old_len)
{
    char tail[NAME_MAX + 1];
    if (hidden_name(tail, sizeof(tail), w->name.base, OLD_TAG) < 0 ||
        join(old_path, old_len, w->name.parent, tail) < 0)
        return -ENAMETOOLONG;
    if (!mkdtemp(old_path))
        return -errno;
    if (rename(w->final_path, old_path) < 0) {
        int rc = -errno;
        rmdir(old_path);
        return rc;
    }
    int rc = sync_fd_path(w->name.parent);
    if (rc == 0 && rename(w->new_path, w->final_path) < 0)
        rc = -errno;
    if (rc < 0 && rename(old_path, w->final_path) == 0)
        old_path[0] = '\0'; /* put back: the previous snapshot stays where it was */
    return rc;
}

/* Puts the new directory in place. *previous is where the previous snapshot
 * ended up ("" when there was none). */
static int put_in_place(struct snapshot_writer *w, char *previous, size_t len)
{
    previous[0] = '\0';
    int final_fd = open(w->final_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (final_fd < 0) {
        if (errno != ENOENT)
            return -errno;
        return rename(w->new_path, w->final_path) < 0 ? -errno : 0;
    }
    /* Locked so that a concurrent begin does not take it for a dead writer's. */
    flock(final_fd, LOCK_EX);
    int rc = exchange(w->new_path, w->final_path);
    if (rc == 0)
        snprintf(previous, len, "%s", w->new_path);
    else if (rc == 1)
        rc = set_aside_and_rename(w, previous, len);
    close(final_fd);
    return rc;
}

static void free_writer(struct snapshot_writer *w)
{
    if (w->dir_fd >= 0)
        close(w->dir_fd);
    free(w->region_crcs);
    free(w);
}

int snapshot_writer_commit(struct snapshot_writer *w, char *err, size_t err_len)
{
    if (!w->have_memory || !w->have_manifest) {
        set_message(err, err_len, "snapshot %s is incomplete: no %s", w->final_path,
                    w->have_memory ? "manifest" : "memory");
        snapshot_writer_abort(w);
        return -1;
    }
    int rc = sync_all(w);
    char previous[PATH_MAX];
    if (rc == 0)
        rc = put_in_place(w, previous, sizeof(previous));
    if (rc < 0) {
        set_message(err, err_len, "cannot put snapshot %s in place: %s", w->final_path,
                    strerror(-rc));
        snapshot_writer_abort(w);
        return -1;
    }
    sync_fd_path(w->name.parent);
    if (previous[0]) {
        int parent_fd = open(w->name.parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd >= 0) {
            remove_snapshot_dir(parent_fd, strrchr(previous, '/') + 1);
            fsync(parent_fd);
            close(parent_fd);
        }
    }
    free_writer(w);
    return 0;
}

void snapshot_writer_abort(struct snapshot_writer *w)
{
    if (!w)
        return;
    if (w->new_path[0] && w->dir_fd >= 0) {
        int parent_fd = open(w->name.parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd >= 0) {
            remove_snapshot_dir(parent_fd, strrchr(w->new_path, '/') + 1);
            close(parent_fd);
        }
    }
    free_writer(w);
}

int snapshot_remove(const char *dir, char *err, size_t err_len)
{
    struct snapshot_name n;
    if (split_path(dir, &n, err, err_len) < 0)
        return -1;
    int parent_fd = open(n.parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0) {
        set_message(err, err_len, "%s: %s", n.parent, strerror(errno));
        return -1;
    }
    int rc = remove_snapshot_dir(parent_fd, n.base);
    DIR *d = fdopendir(dup(parent_fd));
    struct dirent *e;
    while (d && (e = readdir(d)))
        if ((is_leftover(e->d_name, n.base, OLD_TAG) || is_leftover(e->d_name, n.base, NEW_TAG)) &&
            !in_use(parent_fd, e->d_name))
            remove_snapshot_dir(parent_fd, e->d_name);
    if (d)
        closedir(d);
    fsync(parent_fd);
    close(parent_fd);
    if (rc < 0) {
        set_message(err, err_len, "cannot remove %s: %s", dir, strerror(-rc));
        return -1;
    }
    return 0;
}

/* ---- reading ----------------------------------------------------------------------------- */

struct snapshot_reader {
    char path[PATH_MAX];
    /* The directory opened, not its name: a snapshot written under the same
     * name meanwhile takes the name, and the side files copied must still be
     * those of the manifest and memory read here (or none). */
    int dir_fd;
    int memory_fd;
    uint8_t *manifest_file;
    struct snapshot_manifest_info info;
};

static int read_manifest(struct snapshot_reader *r, int dir_fd, char *err, size_t err_len)
{
    int fd = openat(dir_fd, MANIFEST_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        set_message(err, err_len, "manifest: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MANIFEST_MAX) {
        set_message(err, err_len, "manifest is %lld bytes, more than a manifest can be",
                    (long long)st.st_size);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size;
    r->manifest_file = malloc(size ? size : 1);
    int rc = r->manifest_file ? pread_full(fd, r->manifest_file, size, 0) : -ENOMEM;
    close(fd);
    if (rc < 0) {
        set_message(err, err_len, "manifest: %s", strerror(-rc));
        return -1;
    }
    return snapshot_manifest_parse(r->manifest_file, size, &r->info, err, err_len);
}

static int check_memory_size(uint64_t want, uint64_t have, char *err, size_t err_len)
{
    if (have < want) {
        set_message(err, err_len, "memory is %" PRIu64 " bytes short", want - have);
        return -1;
    }
    if (have > want) {
        set_message(err, err_len, "memory is %" PRIu64 " bytes longer than the manifest says",
                    have - want);
        return -1;
    }
    return 0;
}

static int open_memory(struct snapshot_reader *r, int dir_fd, char *err, size_t err_len)
{
    struct stat st;
    r->memory_fd = openat(dir_fd, MEMORY_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (r->memory_fd < 0 || fstat(r->memory_fd, &st) < 0) {
        set_message(err, err_len, "memory: %s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        set_message(err, err_len, "memory is not a regular file");
        return -1;
    }
    return check_memory_size(r->info.memory_size, (uint64_t)st.st_size, err, err_len);
}

/* Opens the snapshot directory at path; the reason for a refusal names it. */
static struct snapshot_reader *open_at(const char *path, char *err, size_t err_len)
{
    struct snapshot_reader *r = calloc(1, sizeof(*r));
    if (!r) {
        set_message(err, err_len, "out of memory");
        return NULL;
    }
    r->memory_fd = -1;
    snprintf(r->path, sizeof(r->path), "%s", path);
    char why[256] = "";
    /* A snapshot is opened by its name, never through a symbolic link: a
     * link could lead anywhere (and rm-snapshot would follow it). */
    r->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    int rc = r->dir_fd < 0 ? -1 : read_manifest(r, r->dir_fd, why, sizeof(why));
    if (rc == 0)
        rc = open_memory(r, r->dir_fd, why, sizeof(why));
    if (r->dir_fd < 0) {
        int saved = errno; /* ELOOP or ENOTDIR for a link, as the system says */
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            snprintf(why, sizeof(why), "is a symbolic link; a snapshot is opened by its "
                     "own name only");
        else
            snprintf(why, sizeof(why), "%s", strerror(saved));
    }
    if (rc < 0) {
        set_message(err, err_len, "snapshot %s: %s", path, why);
        snapshot_close(r);
        return NULL;
    }
    return r;
}

/* The name is missing: a writer without an atomic exchange may have died
 * between its two renames, leaving the previous snapshot set aside. */
static struct snapshot_reader *open_set_aside(const struct snapshot_name *n)
{
    DIR *d = opendir(n->parent);
    struct snapshot_reader *r = NULL;
    struct dirent *e;
    while (d && !r && (e = readdir(d))) {
        char path[PATH_MAX];
        if (is_leftover(e->d_name, n->base, OLD_TAG) &&
            join(path, sizeof(path), n->parent, e->d_name) == 0)
            r = open_at(path, NULL, 0);
    }
    if (d)
        closedir(d);
    return r;
}

int snapshot_open(const char *dir, struct snapshot_reader **out, char *err, size_t err_len)
{
    struct snapshot_name n;
    *out = NULL;
    if (split_path(dir, &n, err, err_len) < 0)
        return -1;
    struct stat st;
    if (lstat(dir, &st) < 0 && errno == ENOENT) {
        *out = open_set_aside(&n);
        if (!*out)
            set_message(err, err_len, "snapshot %s does not exist", dir);
        return *out ? 0 : -1;
    }
    *out = open_at(dir, err, err_len);
    return *out ? 0 : -1;
}

const char *snapshot_dir(const struct snapshot_reader *r) { return r->path; }
uint64_t snapshot_memory_size(const struct snapshot_reader *r) { return r->info.memory_size; }

/* A clone where the filesystem can, else a copy that keeps holes, into a new
 * file (never over an existing one). A copy is made durable here unless
 * unsynced is given: then its descriptor is left there for the caller to
 * fsync (-1 when there is nothing left to do). */
static int copy_out(int src_fd, const char *src_path, const char *to, uint64_t size,
                    struct file_sum *sum, int *unsynced)
{
    int rc = disk_clone_file(src_fd, src_path, to);
    if (rc == 0) {
        rc = sum ? sum_file(src_fd, size, sum) : 0;
        if (rc < 0)
            unlink(to);
        return rc;
    }
    if (!disk_cannot_clone(rc))
        return rc;
    int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    rc = sparse_copy(src_fd, fd, size, sum);
    if (rc == 0 && unsynced) {
        *unsynced = fd;
        return 0;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        unlink(to);
    return rc;
}

int snapshot_copy_out(const struct snapshot_reader *r, const char *name, const char *to,
                      const uint32_t *want_crc, char *err, size_t err_len)
{
    return snapshot_copy_out_unsynced(r, name, to, want_crc, NULL, err, err_len);
}

int snapshot_copy_out_unsynced(const struct snapshot_reader *r, const char *name, const char *to,
                               const uint32_t *want_crc, int *unsynced, char *err,
                               size_t err_len)
{
    if (unsynced)
        *unsynced = -1;
    if (!side_file_name_ok(name)) {
        set_message(err, err_len, "'%s' cannot name a file in a snapshot", name);
        return -1;
    }
    char from[PATH_MAX];
    if (join(from, sizeof(from), r->path, name) < 0) {
        set_message(err, err_len, "%s/%s: path too long", r->path, name);
        return -1;
    }
    struct stat st;
    int src_fd = openat(r->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src_fd < 0 || fstat(src_fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        set_message(err, err_len, "snapshot %s: %s: %s", r->path, name,
                    src_fd < 0 ? strerror(errno) : "not a regular file");
        if (src_fd >= 0)
            close(src_fd);
        return -1;
    }
    struct file_sum sum;
    file_sum_start(&sum);
    int rc = copy_out(src_fd, from, to, (uint64_t)st.st_size, want_crc ? &sum : NULL, unsynced);
    close(src_fd);
    if (rc < 0) {
        set_message(err, err_len, "cannot copy %s to %s: %s", from, to, strerror(-rc));
        return -1;
    }
    if (want_crc && (uint32_t)sum.crc != *want_crc) {
        if (unsynced && *unsynced >= 0) {
            close(*unsynced);
            *unsynced = -1;
        }
        unlink(to);
        set_message(err, err_len, "snapshot %s: %s is damaged (checksum mismatch: %08x, the "
                    "manifest says %08x)", r->path, name, (unsigned)sum.crc,
                    (unsigned)*want_crc);
        return -1;
    }
    return 0;
}

void snapshot_manifest(const struct snapshot_reader *r, const uint8_t **body, size_t *len)
{
    *body = r->info.body;
    *len = (size_t)r->info.body_length;
}

int snapshot_map_memory(struct snapshot_reader *r, void **ptr, uint64_t *size, char *err,
                        size_t err_len)
{
    /* Pages past a file's end fault with SIGBUS, so the size is checked again
     * at the last moment. */
    struct stat st;
    uint64_t want = r->info.memory_size;
    if (fstat(r->memory_fd, &st) < 0 ||
        check_memory_size(want, (uint64_t)st.st_size, err, err_len) < 0) {
        char why[128];
        snprintf(why, sizeof(why), "%s", err && err_len ? err : "");
        set_message(err, err_len, "snapshot %s: %s", r->path, why);
        return -1;
    }
    void *p = mmap(NULL, (size_t)want, PROT_READ | PROT_WRITE, MAP_PRIVATE, r->memory_fd, 0);
    if (p == MAP_FAILED) {
        set_message(err, err_len, "snapshot %s: cannot map memory: %s", r->path,
                    strerror(errno));
        return -1;
    }
    *ptr = p;
    *size = want;
    return 0;
}

int snapshot_map_saved_memory(struct snapshot_reader *r, const void **ptr, char *err,
                              size_t err_len)
{
    struct stat st;
    uint64_t want = r->info.memory_size;
    char why[128] = "";
    if (fstat(r->memory_fd, &st) < 0 ||
        check_memory_size(want, (uint64_t)st.st_size, why, sizeof(why)) < 0) {
        set_message(err, err_len, "snapshot %s: %s", r->path, why[0] ? why : strerror(errno));
        return -1;
    }
    void *p = mmap(NULL, (size_t)want, PROT_READ, MAP_SHARED, r->memory_fd, 0);
    if (p == MAP_FAILED) {
        set_message(err, err_len, "snapshot %s: cannot map memory: %s", r->path,
                    strerror(errno));
        return -1;
    }
    *ptr = p;
    return 0;
}

/* Adds [at, at + len) of the memory file to sum: holes are folded in without
 * being read. */
static int sum_piece(struct snapshot_reader *r, struct region_sum *sum, uint64_t at, size_t len,
                     uint8_t *buf)
{
    uint64_t end = at + len;
    while (at < end) {
        uint64_t data, hole;
        next_extent(r->memory_fd, at, end, &data, &hole);
        for (; at < data; at += SNAPSHOT_PAGE_SIZE)
            region_sum_zero_page(sum);
        if (hole > at) {
            int rc = pread_full(r->memory_fd, buf, (size_t)(hole - at), at);
            if (rc < 0)
                return rc;
            region_sum_add(sum, buf, (size_t)(hole - at));
            at = hole;
        }
    }
    return 0;
}

static int check_region(struct snapshot_reader *r, uint32_t index, uint8_t *buf, char *err,
                        size_t err_len)
{
    uint64_t start = (uint64_t)index * r->info.region_size;
    uint64_t end = start + r->info.region_size;
    if (end > r->info.memory_size)
        end = r->info.memory_size;
    struct region_sum sum;
    region_sum_start(&sum);
    for (uint64_t at = start; at < end; at += READ_CHUNK) {
        size_t n = end - at < READ_CHUNK ? (size_t)(end - at) : READ_CHUNK;
        int rc = sum_piece(r, &sum, at, n, buf);
        if (rc < 0) {
            set_message(err, err_len, "snapshot %s: cannot read memory: %s", r->path,
                        strerror(-rc));
            return -1;
        }
    }
    if ((uint32_t)sum.crc != le32(r->info.region_crcs + 4u * index)) {
        set_message(err, err_len, "snapshot %s: memory region %" PRIu32 " (bytes %#" PRIx64
                    "..%#" PRIx64 ") checksum mismatch", r->path, index, start, end);
        return -1;
    }
    return 0;
}

int snapshot_verify_memory(struct snapshot_reader *r, char *err, size_t err_len)
{
    uint8_t *buf = malloc(READ_CHUNK);
    if (!buf) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; i < r->info.region_count && rc == 0; i++)
        rc = check_region(r, i, buf, err, err_len);
    free(buf);
    return rc;
}

static int memory_id_of(int fd, char *out, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
#ifdef __APPLE__
    struct timespec m = st.st_mtimespec, c = st.st_ctimespec;
#else
    struct timespec m = st.st_mtim, c = st.st_ctim;
#endif
    snprintf(out, len, "%ju:%ju:%jd:%jd.%09ld:%jd.%09ld", (uintmax_t)st.st_dev,
             (uintmax_t)st.st_ino, (intmax_t)st.st_size, (intmax_t)m.tv_sec, (long)m.tv_nsec,
             (intmax_t)c.tv_sec, (long)c.tv_nsec);
    return 0;
}

int snapshot_memory_id(const struct snapshot_reader *r, char *out, size_t len)
{
    return memory_id_of(r->memory_fd, out, len);
}

int snapshot_memory_id_at(const char *dir, char *out, size_t len)
{
    int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dir_fd < 0)
        return -errno;
    int fd = openat(dir_fd, MEMORY_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int saved = errno;
    close(dir_fd);
    if (fd < 0)
        return -saved;
    int rc = memory_id_of(fd, out, len);
    close(fd);
    return rc;
}

void snapshot_close(struct snapshot_reader *r)
{
    if (!r)
        return;
    if (r->memory_fd >= 0)
        close(r->memory_fd);
    if (r->dir_fd >= 0)
        close(r->dir_fd);
    free(r->manifest_file);
    free(r);
}
