/* virtio-blk: one request queue served by an I/O thread. Every request is
 * checked before it touches the disk: header size, type, sector ranges
 * (overflow included), data lengths in whole sectors, discard segment lists
 * and their flags, and room for the status byte. A bad request gets IOERR or
 * UNSUPP; a chain with no room for a status marks the device NEEDS_RESET. */
#include "virtio_blk.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "log.h"
#include "virtio.h"
#include "virtio_mmio.h"

#define BLK_QUEUE_SIZE 256
/* Header and status take two of the walker's segments; the rest carry data. */
#define BLK_SEG_MAX (VIRTQ_MAX_SEGMENTS - 2)
/* Discard and write-zeroes bounds we advertise: large, but one request is
 * bounded work for the I/O thread. */
#define BLK_MAX_DWZ_SECTORS (1u << 22) /* 2 GiB */
#define BLK_MAX_DWZ_SEG 32u
#define BLK_PHYSICAL_BLOCK_EXP 3 /* 4 KiB physical blocks: the overlay's block size */
#define LOG_LIMIT 10             /* host I/O errors logged per device */

/* ---- reading a chain -------------------------------------------------------------------- */

/* Copies len bytes of the chain's readable part, from offset on. */
static bool copy_readable(const struct virtq_chain *c, uint64_t offset, void *out, size_t len)
{
    uint8_t *dst = out;
    for (unsigned i = 0; i < c->num_segments && len; i++) {
        const struct virtq_segment *s = &c->segments[i];
        if (s->device_writable)
            break;
        if (offset >= s->len) {
            offset -= s->len;
            continue;
        }
        size_t n = s->len - offset < len ? (size_t)(s->len - offset) : len;
        memcpy(dst, s->host + offset, n);
        dst += n, len -= n, offset = 0;
    }
    return len == 0;
}

/* Whether sectors [sector, sector + count) lie on the disk. */
static bool sectors_fit(const struct disk *disk, uint64_t sector, uint64_t count)
{
    uint64_t capacity = disk_size(disk) / DISK_SECTOR;
    return sector <= capacity && count <= capacity - sector;
}

/* ---- requests ------------------------------------------------------------------------ */

struct request {
    struct disk *disk;
    const struct virtq_chain *chain;
    uint32_t data_written; /* bytes put in the chain before the status byte */
    int host_error;        /* -errno when the host failed it, for the log */
};

static uint8_t host_failed(struct request *r, int rc)
{
    if (rc == -EINVAL || rc == -EROFS)
        return VIRTIO_BLK_S_IOERR; /* the guest's mistake, not the host's */
    r->host_error = rc;
    return VIRTIO_BLK_S_IOERR;
}

/* Data of a read or write: the readable bytes after the header (OUT) or the
 * writable bytes before the status (IN), segment by segment, straight between
 * guest memory and the disk. */
static int transfer(struct disk *disk, const struct virtq_chain *c, bool to_guest,
                    uint64_t pos, uint64_t skip, uint64_t len)
{
    for (unsigned i = 0; i < c->num_segments && len; i++) {
        const struct virtq_segment *s = &c->segments[i];
        if (s->device_writable != to_guest)
            continue;
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        size_t n = s->len - skip < len ? (size_t)(s->len - skip) : (size_t)len;
        int rc = to_guest ? disk_read(disk, pos, s->host + skip, n)
                          : disk_write(disk, pos, s->host + skip, n);
        if (rc < 0)
            return rc;
        pos += n, len -= n, skip = 0;
    }
    return 0;
}

static uint8_t do_read_write(struct request *r, bool is_write, uint64_t sector)
{
    struct disk *disk = r->disk;
    const struct virtq_chain *c = r->chain;
    uint64_t len = is_write ? c->readable_len - VIRTIO_BLK_REQ_HEADER_SIZE
                            : c->writable_len - 1;
    if (len % DISK_SECTOR || !sectors_fit(disk, sector, len / DISK_SECTOR))
        return VIRTIO_BLK_S_IOERR;
    if (is_write && disk_read_only(disk))
        return VIRTIO_BLK_S_IOERR;
    int rc = transfer(disk, c, !is_write, sector * DISK_SECTOR,
                      is_write ? VIRTIO_BLK_REQ_HEADER_SIZE : 0, len);
    if (rc < 0)
        return host_failed(r, rc);
    if (!is_write)
        r->data_written = (uint32_t)len;
    return VIRTIO_BLK_S_OK;
}

/* The serial, NUL-padded; 20 bytes with no terminator when it is that long. */
static uint8_t do_get_id(struct request *r)
{
    const struct virtq_chain *c = r->chain;
    uint8_t id[VIRTIO_BLK_ID_BYTES] = {0};
    const char *serial = disk_serial(r->disk);
    memcpy(id, serial, strnlen(serial, sizeof(id)));
    uint64_t room = c->writable_len - 1;
    size_t n = room < sizeof(id) ? (size_t)room : sizeof(id);
    size_t done = 0;
    for (unsigned i = 0; i < c->num_segments && done < n; i++) {
        const struct virtq_segment *s = &c->segments[i];
        if (!s->device_writable)
            continue;
        size_t k = s->len < n - done ? s->len : n - done;
        memcpy(s->host, id + done, k);
        done += k;
    }
    r->data_written = (uint32_t)n;
    return VIRTIO_BLK_S_OK;
}

/* DISCARD and WRITE_ZEROES carry a list of ranges after the header (§5.2.6). */
static uint8_t do_discard_or_zeroes(struct request *r, bool zeroes)
{
    struct disk *disk = r->disk;
    const struct virtq_chain *c = r->chain;
    uint64_t list = c->readable_len - VIRTIO_BLK_REQ_HEADER_SIZE;
    uint64_t count = list / VIRTIO_BLK_DWZ_SEGMENT_SIZE;
    if (list % VIRTIO_BLK_DWZ_SEGMENT_SIZE || count == 0 || count > BLK_MAX_DWZ_SEG)
        return VIRTIO_BLK_S_UNSUPP;
    if (disk_read_only(disk))
        return VIRTIO_BLK_S_IOERR;
    for (uint64_t i = 0; i < count; i++) {
        uint8_t seg[VIRTIO_BLK_DWZ_SEGMENT_SIZE];
        copy_readable(c, VIRTIO_BLK_REQ_HEADER_SIZE + i * sizeof(seg), seg, sizeof(seg));
        uint64_t sector = le64(seg);
        uint32_t sectors = le32(seg + 8), flags = le32(seg + 12);
        /* Unmap is for write-zeroes only; other flag bits are reserved. */
        if (flags & ~(zeroes ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u))
            return VIRTIO_BLK_S_UNSUPP;
        if (sectors > BLK_MAX_DWZ_SECTORS || !sectors_fit(disk, sector, sectors))
            return VIRTIO_BLK_S_IOERR;
        int rc = zeroes ? disk_write_zeroes(disk, sector * DISK_SECTOR,
                                            (uint64_t)sectors * DISK_SECTOR, flags & 1)
                        : disk_discard(disk, sector * DISK_SECTOR,
                                       (uint64_t)sectors * DISK_SECTOR);
        if (rc < 0)
            return host_failed(r, rc);
    }
    return VIRTIO_BLK_S_OK;
}

static uint8_t run_request(struct request *r)
{
    uint8_t header[VIRTIO_BLK_REQ_HEADER_SIZE];
    if (!copy_readable(r->chain, 0, header, sizeof(header)))
        return VIRTIO_BLK_S_IOERR;
    uint32_t type = le32(header);
    uint64_t sector = le64(header + 8);
    switch (type) {
    case VIRTIO_BLK_T_IN: return do_read_write(r, false, sector);
    case VIRTIO_BLK_T_OUT: return do_read_write(r, true, sector);
    case VIRTIO_BLK_T_FLUSH: {
        int rc = disk_flush(r->disk);
        return rc < 0 ? host_failed(r, rc) : VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_GET_ID: return do_get_id(r);
    case VIRTIO_BLK_T_DISCARD: return do_discard_or_zeroes(r, false);
    case VIRTIO_BLK_T_WRITE_ZEROES: return do_discard_or_zeroes(r, true);
    default: return VIRTIO_BLK_S_UNSUPP;
    }
}

static uint8_t *status_byte(const struct virtq_chain *c)
{
    for (unsigned i = c->num_segments; i-- > 0;) {
        const struct virtq_segment *s = &c->segments[i];
        if (s->device_writable && s->len)
            return s->host + s->len - 1;
    }
    return NULL;
}

/* Returns the bytes written into the chain, or -1 without room for a status. */
static int handle(struct request *r)
{
    uint8_t *status = status_byte(r->chain);
    if (!status)
        return -1;
    *status = run_request(r);
    return (int)(r->data_written + 1);
}

int virtio_blk_handle(struct disk *disk, const struct virtq_chain *chain)
{
    struct request r = {.disk = disk, .chain = chain};
    return handle(&r);
}

/* ---- the device and its I/O thread ------------------------------------------------------ */

struct blk {
    struct disk *disk;
    struct virtio_mmio *transport;
    uint8_t config[VIRTIO_BLK_CFG_SIZE];
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t wake, idle;
    bool kicked, quit, busy;
    bool serving; /* the I/O thread is draining the queue (between waits) */
    uint64_t epoch; /* bumped by reset: requests taken before it are dropped */
    struct virtq_chain chain;
    unsigned errors_logged;
    struct virtio_device_ops ops; /* the template with this disk's features */
};

static void build_config(struct blk *b)
{
    uint8_t *c = b->config;
    le_put(c + VIRTIO_BLK_CFG_CAPACITY, disk_size(b->disk) / DISK_SECTOR, 8);
    le_put(c + VIRTIO_BLK_CFG_SEG_MAX, BLK_SEG_MAX, 4);
    le_put(c + VIRTIO_BLK_CFG_BLK_SIZE, DISK_SECTOR, 4);
    c[VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP] = BLK_PHYSICAL_BLOCK_EXP;
    le_put(c + VIRTIO_BLK_CFG_MIN_IO_SIZE, 1u << BLK_PHYSICAL_BLOCK_EXP, 2);
    le_put(c + VIRTIO_BLK_CFG_NUM_QUEUES, 1, 2);
    le_put(c + VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, BLK_MAX_DWZ_SECTORS, 4);
    le_put(c + VIRTIO_BLK_CFG_MAX_DISCARD_SEG, BLK_MAX_DWZ_SEG, 4);
    le_put(c + VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, 1u << BLK_PHYSICAL_BLOCK_EXP, 4);
    le_put(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS, BLK_MAX_DWZ_SECTORS, 4);
    le_put(c + VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, BLK_MAX_DWZ_SEG, 4);
    c[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = 1;
}

static void blk_config_read(void *dev, size_t offset, uint8_t *out, size_t len)
{
    struct blk *b = dev;
    memcpy(out, b->config + offset, len);
}

/* vCPU thread, transport locked: hand the work to the I/O thread. */
static void blk_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    (void)t, (void)q;
    struct blk *b = dev;
    pthread_mutex_lock(&b->mu);
    b->kicked = true;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->mu);
}

/* Transport locked. The I/O thread may be writing into guest memory for a
 * request of the old generation: wait for that, and drop its completion. */
static void blk_reset(void *dev)
{
    struct blk *b = dev;
    pthread_mutex_lock(&b->mu);
    b->epoch++;
    b->kicked = false;
    while (b->busy)
        pthread_cond_wait(&b->idle, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* The guest sees IOERR; the person running it learns why, a few times. */
/* One queue: stopping it is a reset as far as requests in flight go. */
static void blk_queue_stop(void *dev, unsigned q)
{
    (void)q;
    blk_reset(dev);
}

static void log_host_failure(struct blk *b, int rc)
{
    if (b->errors_logged >= LOG_LIMIT)
        return;
    b->errors_logged++;
    log_warn("virtio-blk %s: the host failed a request: %s%s", disk_serial(b->disk),
             strerror(-rc), b->errors_logged == LOG_LIMIT ? " (further failures not logged)" : "");
}

/* epoch changes only under the transport lock, which this holds. */
static void complete(struct blk *b, uint16_t head, int written, uint64_t epoch)
{
    virtio_mmio_lock(b->transport);
    struct virtq *vq = virtio_mmio_queue(b->transport, 0);
    if (vq && epoch == b->epoch) {
        uint16_t old_used = vq->used_idx;
        virtq_push(vq, head, (uint32_t)written);
        virtio_mmio_used(b->transport, 0, old_used);
    }
    virtio_mmio_unlock(b->transport);
}

/* Takes the next request under the transport lock. Returns false when there is
 * none (or the queue broke, which marks the device NEEDS_RESET). */
static bool take_request(struct blk *b, uint64_t *epoch)
{
    virtio_mmio_lock(b->transport);
    struct virtq *vq = virtio_mmio_queue(b->transport, 0);
    enum virtq_error err = vq ? virtq_pop(vq, &b->chain) : VIRTQ_EMPTY;
    if (err == VIRTQ_OK) {
        pthread_mutex_lock(&b->mu);
        b->busy = true;
        *epoch = b->epoch;
        pthread_mutex_unlock(&b->mu);
    } else if (err != VIRTQ_EMPTY) {
        virtio_mmio_needs_reset(b->transport);
    }
    virtio_mmio_unlock(b->transport);
    return err == VIRTQ_OK;
}

static void serve_queue(struct blk *b)
{
    uint64_t epoch;
    while (take_request(b, &epoch)) {
        struct request r = {.disk = b->disk, .chain = &b->chain};
        int written = handle(&r);
        if (r.host_error)
            log_host_failure(b, r.host_error);
        pthread_mutex_lock(&b->mu);
        b->busy = false;
        pthread_cond_broadcast(&b->idle);
        pthread_mutex_unlock(&b->mu);
        if (written < 0) {
            virtio_mmio_needs_reset(b->transport);
            return;
        }
        complete(b, b->chain.head, written, epoch);
    }
}

static void *io_thread(void *arg)
{
    struct blk *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->quit) {
        if (!b->kicked) {
            pthread_cond_wait(&b->wake, &b->mu);
            continue;
        }
        b->kicked = false;
        b->serving = true;
        pthread_mutex_unlock(&b->mu);
        serve_queue(b);
        pthread_mutex_lock(&b->mu);
        b->serving = false;
        pthread_cond_broadcast(&b->idle);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Snapshots, vCPUs stopped so no new notification comes: wait until the I/O
 * thread has completed every request it was kicked for, so the queue's
 * positions are final and nothing is in flight. Transport unlocked: completing
 * takes it. */
static void blk_quiesce(void *dev)
{
    struct blk *b = dev;
    pthread_mutex_lock(&b->mu);
    while (b->kicked || b->serving || b->busy)
        pthread_cond_wait(&b->idle, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

/* Nothing of its own to save (config comes from the disk); a request still in
 * flight would be lost with the snapshot, so there must be none. */
/* Keeps no state beyond the queues: save only makes sure none is lost. */
static int blk_save(void *dev, struct device_state_bytes *out)
{
    (void)out;
    struct blk *b = dev;
    pthread_mutex_lock(&b->mu);
    bool idle = !b->kicked && !b->serving && !b->busy;
    pthread_mutex_unlock(&b->mu);
    if (!idle) {
        log_warn("virtio-blk %s: snapshot with a request in flight", disk_serial(b->disk));
        return -EBUSY;
    }
    return 0;
}

static void blk_destroy(void *dev)
{
    struct blk *b = dev;
    if (b->thread_started) {
        pthread_mutex_lock(&b->mu);
        b->quit = true;
        pthread_cond_signal(&b->wake);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
    }
    disk_close(b->disk);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->idle);
    free(b);
}

#define BLK_FEATURES ((1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) | \
                      (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_BLK_F_TOPOLOGY))
/* Writable disks take discard and write-zeroes; read-only ones say so. */
#define BLK_WRITABLE_FEATURES ((1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES))

static const struct virtio_device_ops blk_ops_template = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .num_queues = 1,
    .queue_max = BLK_QUEUE_SIZE,
    .config_size = VIRTIO_BLK_CFG_SIZE,
    .config_read = blk_config_read,
    .notify = blk_notify,
    .reset = blk_reset,
    .queue_stop = blk_queue_stop,
    .destroy = blk_destroy,
    .quiesce = blk_quiesce,
    .save = blk_save,
};

struct device *virtio_blk_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram,
                                 struct disk *disk)
{
    struct blk *b = calloc(1, sizeof(*b));
    if (!b) {
        disk_close(disk);
        return NULL;
    }
    b->disk = disk;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->wake, NULL);
    pthread_cond_init(&b->idle, NULL);
    build_config(b);
    b->ops = blk_ops_template;
    b->ops.features = BLK_FEATURES | (disk_read_only(disk) ? 1ull << VIRTIO_BLK_F_RO
                                                            : BLK_WRITABLE_FEATURES);
    struct device *dev = virtio_mmio_create(base, irq, &b->ops, b, ram);
    if (!dev) {
        blk_destroy(b);
        return NULL;
    }
    b->transport = virtio_mmio_of(dev);
    if (pthread_create(&b->thread, NULL, io_thread, b) != 0) {
        dev->ops->destroy(dev);
        return NULL;
    }
    b->thread_started = true;
    return dev;
}
