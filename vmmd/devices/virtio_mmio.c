/* virtio-mmio, modern (version 2) register interface (virtio 1.2 §4.2.2). All
 * register accesses come from the untrusted guest and are checked: queue
 * selectors, sizes, addresses, config offsets and widths. */
#include "virtio_mmio.h"

#include <errno.h>
#include <libfdt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "device_state.h"
#include "log.h"
#include "util.h"
#include "virtio.h"
#include "virtio_mmio.pb-c.h"
#include "virtio_mmio_state.h"

enum {
    REG_MAGIC = 0x000, REG_VERSION = 0x004, REG_DEVICE_ID = 0x008, REG_VENDOR_ID = 0x00c,
    REG_DEVICE_FEATURES = 0x010, REG_DEVICE_FEATURES_SEL = 0x014,
    REG_DRIVER_FEATURES = 0x020, REG_DRIVER_FEATURES_SEL = 0x024,
    REG_QUEUE_SEL = 0x030, REG_QUEUE_NUM_MAX = 0x034, REG_QUEUE_NUM = 0x038,
    REG_QUEUE_READY = 0x044, REG_QUEUE_NOTIFY = 0x050,
    REG_INTERRUPT_STATUS = 0x060, REG_INTERRUPT_ACK = 0x064, REG_STATUS = 0x070,
    REG_QUEUE_DESC_LOW = 0x080, REG_QUEUE_DESC_HIGH = 0x084,
    REG_QUEUE_DRIVER_LOW = 0x090, REG_QUEUE_DRIVER_HIGH = 0x094,
    REG_QUEUE_DEVICE_LOW = 0x0a0, REG_QUEUE_DEVICE_HIGH = 0x0a4,
    REG_SHM_SEL = 0x0ac, REG_SHM_LEN_LOW = 0x0b0, REG_SHM_LEN_HIGH = 0x0b4,
    REG_SHM_BASE_LOW = 0x0b8, REG_SHM_BASE_HIGH = 0x0bc,
    REG_QUEUE_RESET = 0x0c0, REG_CONFIG_GENERATION = 0x0fc, REG_CONFIG = 0x100,
};

#define MAGIC_VIRT 0x74726976u  /* "virt" */
#define VENDOR_ID 0x544e4749u   /* "IGNT" */
#define INT_USED_BUFFER 1u
#define INT_CONFIG_CHANGE 2u
#define STATUS_BITS 0xffu /* the register is a byte wide (§4.2.2) */

/* Features every device offers (§6): modern only; Linux takes both ring ones. */
#define TRANSPORT_FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_INDIRECT_DESC) | \
                            (1ull << VIRTIO_F_EVENT_IDX))

struct queue_setup {
    uint32_t num;
    bool ready;
    uint64_t desc, driver, device;
    struct virtq vq;
    /* The used index as of the device's last interrupt decision
     * (virtio_mmio_used), and the used and available indexes where the vCPU
     * thread last looked for a missed notification (recheck_notifications)
     * or an interrupt or a kick last covered them. */
    uint16_t decided_used, looked_used, looked_avail;
};

struct virtio_mmio {
    struct device dev;
    pthread_mutex_t lock;
    const struct virtio_device_ops *ops;
    void *device_state;
    const struct guest_ram *ram;
    uint64_t driver_features;
    uint32_t device_features_sel, driver_features_sel, queue_sel, status, interrupt_status;
    uint32_t config_generation;
    struct queue_setup queues[VIRTIO_MMIO_MAX_QUEUES];
    bool missed_notification_logged;
};

static struct virtio_mmio *to_transport(struct device *dev)
{
    return container_of(dev, struct virtio_mmio, dev);
}

static uint64_t offered_features(const struct virtio_mmio *t)
{
    return t->ops->features | TRANSPORT_FEATURES;
}

/* What FEATURES_OK may accept (§3.1.1): offered bits only, and modern. */
static bool features_acceptable(const struct virtio_mmio *t, uint64_t features)
{
    bool subset = (features & ~offered_features(t)) == 0;
    bool modern = features & (1ull << VIRTIO_F_VERSION_1);
    return subset && modern;
}

static struct queue_setup *selected_queue(struct virtio_mmio *t)
{
    return t->queue_sel < t->ops->num_queues ? &t->queues[t->queue_sel] : NULL;
}

/* Edge-triggered SPI: each new reason to interrupt is a new edge. */
static void raise_interrupt(struct virtio_mmio *t, uint32_t reason)
{
    t->interrupt_status |= reason;
    irq_line_set(&t->dev.irq, true);
    irq_line_set(&t->dev.irq, false);
}

static void reset_locked(struct virtio_mmio *t)
{
    t->driver_features = 0;
    t->device_features_sel = t->driver_features_sel = t->queue_sel = 0;
    t->status = t->interrupt_status = 0;
    memset(t->queues, 0, sizeof(t->queues));
    if (t->ops->reset)
        t->ops->reset(t->device_state);
}

static void mark_needs_reset_locked(struct virtio_mmio *t)
{
    if (t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
        return;
    t->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    raise_interrupt(t, INT_CONFIG_CHANGE);
}

/* QueueReady = 1: the ring must lie in RAM with the spec's alignment (§2.7). */
static void enable_queue_locked(struct virtio_mmio *t, struct queue_setup *q)
{
    bool event_idx = t->driver_features & (1ull << VIRTIO_F_EVENT_IDX);
    if (q->num == 0 || q->num > t->ops->queue_max ||
        virtq_init(&q->vq, t->ram, (uint16_t)q->num, event_idx, q->desc, q->driver,
                   q->device) != VIRTQ_OK) {
        log_warn("%s: queue %u set up outside guest memory or with a bad size",
                 t->ops->name, t->queue_sel);
        mark_needs_reset_locked(t);
        return;
    }
    q->decided_used = q->looked_used = q->looked_avail = 0; /* a fresh ring's */
    q->ready = true;
}

static void stop_queue_locked(struct virtio_mmio *t)
{
    if (t->ops->queue_stop)
        t->ops->queue_stop(t->device_state, t->queue_sel);
}

/* Status writes (§2.1, §3.1.1): FEATURES_OK only for an acceptable feature set. */
static void write_status_locked(struct virtio_mmio *t, uint32_t value)
{
    if (value == 0) {
        reset_locked(t);
        return;
    }
    if ((value & VIRTIO_STATUS_FEATURES_OK) && !(t->status & VIRTIO_STATUS_FEATURES_OK) &&
        !features_acceptable(t, t->driver_features))
        value &= ~VIRTIO_STATUS_FEATURES_OK; /* the driver reads it back and gives up */
    t->status = (value & STATUS_BITS & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) |
                (t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void set_half(uint64_t *field, bool high, uint32_t value)
{
    *field = high ? (*field & 0xffffffffull) | ((uint64_t)value << 32)
                  : (*field & ~0xffffffffull) | value;
}

/* Queue address and size registers may change only while the queue is off. */
static void write_queue_reg_locked(struct virtio_mmio *t, uint64_t off, uint32_t value)
{
    struct queue_setup *q = selected_queue(t);
    if (!q)
        return;
    if (off == REG_QUEUE_READY) {
        if (value & 1) {
            if (!q->ready)
                enable_queue_locked(t, q);
        } else if (q->ready) {
            stop_queue_locked(t);
            q->ready = false;
        }
        return;
    }
    if (off == REG_QUEUE_RESET) {
        if (value & 1) {
            stop_queue_locked(t);
            memset(q, 0, sizeof(*q));
        }
        return;
    }
    if (q->ready)
        return;
    switch (off) {
    case REG_QUEUE_NUM: q->num = value; break;
    case REG_QUEUE_DESC_LOW: case REG_QUEUE_DESC_HIGH:
        set_half(&q->desc, off == REG_QUEUE_DESC_HIGH, value);
        break;
    case REG_QUEUE_DRIVER_LOW: case REG_QUEUE_DRIVER_HIGH:
        set_half(&q->driver, off == REG_QUEUE_DRIVER_HIGH, value);
        break;
    case REG_QUEUE_DEVICE_LOW: case REG_QUEUE_DEVICE_HIGH:
        set_half(&q->device, off == REG_QUEUE_DEVICE_HIGH, value);
        break;
    }
}

static uint32_t read_register_locked(struct virtio_mmio *t, uint64_t off)
{
    struct queue_setup *q = selected_queue(t);
    switch (off) {
    case REG_MAGIC: return MAGIC_VIRT;
    case REG_VERSION: return 2;
    case REG_DEVICE_ID: return t->ops->device_id;
    case REG_VENDOR_ID: return VENDOR_ID;
    case REG_DEVICE_FEATURES:
        return t->device_features_sel < 2
                   ? (uint32_t)(offered_features(t) >> (32 * t->device_features_sel))
                   : 0;
    case REG_QUEUE_NUM_MAX: return q ? t->ops->queue_max : 0;
    case REG_QUEUE_READY: return q ? q->ready : 0;
    case REG_QUEUE_RESET: return 0;
    case REG_INTERRUPT_STATUS: return t->interrupt_status;
    case REG_STATUS: return t->status;
    case REG_SHM_LEN_LOW: case REG_SHM_LEN_HIGH: return 0xffffffffu; /* no shared memory */
    case REG_CONFIG_GENERATION: return t->config_generation;
    default: return 0;
    }
}

static void write_register_locked(struct virtio_mmio *t, uint64_t off, uint32_t value)
{
    switch (off) {
    case REG_DEVICE_FEATURES_SEL: t->device_features_sel = value; break;
    case REG_DRIVER_FEATURES_SEL: t->driver_features_sel = value; break;
    case REG_DRIVER_FEATURES:
        if (t->driver_features_sel < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK))
            set_half(&t->driver_features, t->driver_features_sel == 1, value);
        break;
    case REG_QUEUE_SEL: t->queue_sel = value; break;
    case REG_INTERRUPT_ACK: t->interrupt_status &= ~value; break;
    case REG_STATUS: write_status_locked(t, value); break;
    default: write_queue_reg_locked(t, off, value); break;
    }
}

static uint64_t virtio_mmio_read(struct device *dev, uint64_t off, unsigned size)
{
    struct virtio_mmio *t = to_transport(dev);
    uint64_t value = 0;
    pthread_mutex_lock(&t->lock);
    if (off >= REG_CONFIG) {
        /* Config space is byte-addressable at any width (§4.2.2.2). */
        size_t at = off - REG_CONFIG;
        if (size <= 8 && at < t->ops->config_size && size <= t->ops->config_size - at) {
            uint8_t bytes[8] = {0};
            t->ops->config_read(t->device_state, at, bytes, size);
            for (unsigned i = 0; i < size; i++)
                value |= (uint64_t)bytes[i] << (8 * i);
        }
    } else if (size == 4 && !(off & 3)) {
        value = read_register_locked(t, off);
    }
    pthread_mutex_unlock(&t->lock);
    return value;
}

static void virtio_mmio_write(struct device *dev, uint64_t off, unsigned size, uint64_t value)
{
    struct virtio_mmio *t = to_transport(dev);
    pthread_mutex_lock(&t->lock);
    if (off >= REG_CONFIG) {
        size_t at = off - REG_CONFIG;
        if (size <= 8 && at < t->ops->config_size && size <= t->ops->config_size - at &&
            t->ops->config_write) {
            uint8_t bytes[8];
            for (unsigned i = 0; i < size; i++)
                bytes[i] = (uint8_t)(value >> (8 * i));
            t->ops->config_write(t->device_state, at, bytes, size);
        }
    } else if (size == 4 && !(off & 3)) {
        if (off == REG_QUEUE_NOTIFY) {
            /* Only the low 16 bits name the queue (§4.2.2, notification data off). */
            uint32_t q = (uint32_t)value & 0xffff;
            if (q < t->ops->num_queues && t->queues[q].ready &&
                (t->status & VIRTIO_STATUS_DRIVER_OK) && t->ops->notify) {
                t->queues[q].looked_avail = virtq_driver_index(&t->queues[q].vq);
                t->ops->notify(t->device_state, t, q);
            }
        } else {
            write_register_locked(t, off, (uint32_t)value);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_lock(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
}

void virtio_mmio_unlock(struct virtio_mmio *t)
{
    pthread_mutex_unlock(&t->lock);
}

struct virtio_mmio *virtio_mmio_of(struct device *dev)
{
    return to_transport(dev);
}

void *virtio_mmio_device_state(struct virtio_mmio *t)
{
    return t->device_state;
}

uint64_t virtio_mmio_driver_features(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    uint64_t features = t->driver_features;
    pthread_mutex_unlock(&t->lock);
    return features;
}

struct virtq *virtio_mmio_queue(struct virtio_mmio *t, unsigned q)
{
    /* §3.1.1: the device uses queues only after DRIVER_OK. */
    if (q >= t->ops->num_queues || !t->queues[q].ready ||
        !(t->status & VIRTIO_STATUS_DRIVER_OK) ||
        (t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
        return NULL;
    return &t->queues[q].vq;
}

bool virtio_mmio_used(struct virtio_mmio *t, unsigned q, uint16_t old_used)
{
    pthread_mutex_lock(&t->lock);
    bool raise = false;
    if (q < t->ops->num_queues && t->queues[q].ready) {
        struct queue_setup *qs = &t->queues[q];
        raise = virtq_should_interrupt(&qs->vq, old_used);
        qs->decided_used = qs->vq.used_idx;
        if (raise) {
            qs->looked_used = qs->vq.used_idx;
            raise_interrupt(t, INT_USED_BUFFER);
        }
    }
    pthread_mutex_unlock(&t->lock);
    return raise;
}

void virtio_mmio_used_covered(struct virtio_mmio *t, unsigned q)
{
    pthread_mutex_lock(&t->lock);
    if (q < t->ops->num_queues && t->queues[q].ready)
        t->queues[q].decided_used = t->queues[q].looked_used = t->queues[q].vq.used_idx;
    pthread_mutex_unlock(&t->lock);
}

/* Says once per device that the check below found something: the evidence
 * that it is needed, without a line per event. */
static void note_missed_locked(struct virtio_mmio *t, unsigned q, const char *what)
{
    if (t->missed_notification_logged)
        return;
    t->missed_notification_logged = true;
    log_info("%s: queue %u: %s missed by the guest's unordered barriers, caught on the vCPU "
             "thread (said once)", t->ops->name, q, what);
}

static void virtio_mmio_recheck_notifications(struct device *dev)
{
    struct virtio_mmio *t = to_transport(dev);
    pthread_mutex_lock(&t->lock);
    bool running = (t->status & VIRTIO_STATUS_DRIVER_OK) &&
                   !(t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    bool interrupt = false;
    for (unsigned q = 0; running && q < t->ops->num_queues; q++) {
        struct queue_setup *qs = &t->queues[q];
        if (!qs->ready)
            continue;
        if (virtq_interrupt_missed(&qs->vq, &qs->looked_used, qs->decided_used)) {
            note_missed_locked(t, q, "an interrupt");
            interrupt = true;
        }
        if (virtq_kick_missed(&qs->vq, &qs->looked_avail) && t->ops->notify) {
            note_missed_locked(t, q, "a kick");
            t->ops->notify(t->device_state, t, q);
        }
    }
    if (interrupt)
        raise_interrupt(t, INT_USED_BUFFER);
    pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_config_changed(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    /* §4.2.2.2: a driver reading config across this sees the generation move. */
    t->config_generation++;
    if (t->status & VIRTIO_STATUS_DRIVER_OK)
        raise_interrupt(t, INT_CONFIG_CHANGE);
    pthread_mutex_unlock(&t->lock);
}

void virtio_mmio_needs_reset(struct virtio_mmio *t)
{
    pthread_mutex_lock(&t->lock);
    log_warn("%s: the guest sent a malformed request; device needs reset", t->ops->name);
    mark_needs_reset_locked(t);
    pthread_mutex_unlock(&t->lock);
}

/* ---- snapshots ------------------------------------------------------------------------- */

/* Field by field into the zeroed state: padding stays zero, so two saves of
 * the same device compare equal byte for byte. */
static void save_queue(const struct queue_setup *q, struct virtio_mmio_queue_state *out)
{
    out->num = q->num;
    out->ready = q->ready;
    out->desc = q->desc;
    out->driver = q->driver;
    out->device = q->device;
    if (!q->ready)
        return; /* its virtq is stale: enabling it again starts from zero */
    out->last_avail = q->vq.last_avail;
    out->used_idx = q->vq.used_idx;
    out->event_idx = q->vq.event_idx;
}

int virtio_mmio_save(struct device *dev, struct virtio_mmio_state *out)
{
    struct virtio_mmio *t = to_transport(dev);
    memset(out, 0, sizeof(*out));
    /* Unlocked: the device's own threads need the lock to finish their work. */
    if (t->ops->quiesce)
        t->ops->quiesce(t->device_state);
    pthread_mutex_lock(&t->lock);
    out->device_id = t->ops->device_id;
    out->status = t->status;
    out->driver_features = t->driver_features;
    out->device_features_sel = t->device_features_sel;
    out->driver_features_sel = t->driver_features_sel;
    out->queue_sel = t->queue_sel;
    out->interrupt_status = t->interrupt_status;
    out->config_generation = t->config_generation;
    for (unsigned i = 0; i < t->ops->num_queues; i++)
        save_queue(&t->queues[i], &out->queues[i]);
    int rc = t->ops->save ? t->ops->save(t->device_state, &out->device) : 0;
    pthread_mutex_unlock(&t->lock);
    if (rc < 0)
        virtio_mmio_state_free(out);
    return rc;
}

void virtio_mmio_state_free(struct virtio_mmio_state *state)
{
    free(state->device.data);
    state->device = (struct device_state_bytes){0};
}

/* Register values the transport itself could have reached: a status byte
 * whose FEATURES_OK was granted, interrupt reasons it raises. Selectors and
 * the generation take any value. */
static int check_registers(const struct virtio_mmio *t, const struct virtio_mmio_state *in,
                           char *err, size_t err_len)
{
    if (in->device_id != t->ops->device_id)
        return device_state_refuse(err, err_len, "the snapshot holds virtio device id %u here, "
                                   "not %u", in->device_id, t->ops->device_id);
    if ((in->status & ~STATUS_BITS) ||
        (in->interrupt_status & ~(INT_USED_BUFFER | INT_CONFIG_CHANGE)) ||
        ((in->status & VIRTIO_STATUS_FEATURES_OK) &&
         !features_acceptable(t, in->driver_features)))
        return device_state_refuse(err, err_len, "status, features or interrupt bits out of "
                                   "range");
    return 0;
}

static bool queue_state_empty(const struct virtio_mmio_queue_state *in)
{
    return !in->num && !in->ready && !in->desc && !in->driver && !in->device &&
           !in->last_avail && !in->used_idx && !in->event_idx;
}

/* Builds queue i from in: a ready one is mapped again and must lie in RAM, and
 * the device can never have taken more entries than the ring holds beyond
 * those it returned. */
static bool load_queue(const struct virtio_mmio *t, unsigned i,
                       const struct virtio_mmio_queue_state *in, struct queue_setup *q)
{
    if (i >= t->ops->num_queues)
        return queue_state_empty(in);
    if (in->ready > 1 || in->event_idx > 1)
        return false;
    *q = (struct queue_setup){.num = in->num, .ready = in->ready, .desc = in->desc,
                              .driver = in->driver, .device = in->device};
    if (!in->ready)
        return !in->last_avail && !in->used_idx && !in->event_idx;
    if (in->num == 0 || in->num > t->ops->queue_max ||
        virtq_init(&q->vq, t->ram, (uint16_t)in->num, in->event_idx, in->desc, in->driver,
                   in->device) != VIRTQ_OK ||
        (uint16_t)(in->last_avail - in->used_idx) > in->num)
        return false;
    q->vq.last_avail = in->last_avail;
    q->vq.used_idx = in->used_idx;
    /* A snapshot may have been taken between a lost notification and the
     * guest's next look, so the first look after a restore covers what a
     * waiting driver can ask about: the last queue's worth of used entries
     * (one spurious interrupt at worst), and what the device had taken. */
    q->decided_used = in->used_idx;
    q->looked_used = (uint16_t)(in->used_idx - in->num);
    q->looked_avail = q->vq.seen_avail = in->last_avail;
    return true;
}

static void commit_registers(struct virtio_mmio *t, const struct virtio_mmio_state *in)
{
    t->status = in->status;
    t->driver_features = in->driver_features;
    t->device_features_sel = in->device_features_sel;
    t->driver_features_sel = in->driver_features_sel;
    t->queue_sel = in->queue_sel;
    t->interrupt_status = in->interrupt_status;
    t->config_generation = in->config_generation;
}

static int load_device_part(struct virtio_mmio *t, const struct device_state_bytes *in,
                            char *err, size_t err_len)
{
    if (t->ops->load)
        return t->ops->load(t->device_state, in->data, in->len, err, err_len);
    if (in->len)
        return device_state_refuse(err, err_len, "the snapshot holds %zu bytes of state for a "
                                   "device that keeps none", in->len);
    return 0;
}

static int load_locked(struct virtio_mmio *t, const struct virtio_mmio_state *in, char *err,
                       size_t err_len)
{
    struct queue_setup queues[VIRTIO_MMIO_MAX_QUEUES] = {0};
    int rc = check_registers(t, in, err, err_len);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        if (!load_queue(t, i, &in->queues[i], &queues[i]))
            return device_state_refuse(err, err_len, "queue %u is inconsistent or outside guest "
                                       "memory", i);
    if ((rc = load_device_part(t, &in->device, err, err_len)) < 0)
        return rc;
    commit_registers(t, in);
    memcpy(t->queues, queues, sizeof(t->queues));
    return 0;
}

int virtio_mmio_load(struct device *dev, const struct virtio_mmio_state *in, char *err,
                     size_t err_len)
{
    struct virtio_mmio *t = to_transport(dev);
    pthread_mutex_lock(&t->lock);
    int rc = load_locked(t, in, err, err_len);
    if (rc < 0) {
        log_warn("%s: snapshot refused: %s", t->ops->name, err && err_len ? err : "invalid");
        reset_locked(t);
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

/* ---- the state as its message ----------------------------------------------------------- */

typedef Ignition__Devices__VirtioMmioState StateMsg;
typedef Ignition__Devices__VirtioQueue QueueMsg;

int virtio_mmio_state_encode(const struct virtio_mmio_state *in, struct device_state_bytes *out)
{
    QueueMsg queues[VIRTIO_MMIO_MAX_QUEUES];
    QueueMsg *list[VIRTIO_MMIO_MAX_QUEUES];
    StateMsg m = IGNITION__DEVICES__VIRTIO_MMIO_STATE__INIT;
    m.device_id = in->device_id, m.status = in->status;
    m.driver_features = in->driver_features;
    m.device_features_sel = in->device_features_sel;
    m.driver_features_sel = in->driver_features_sel;
    m.queue_sel = in->queue_sel;
    m.interrupt_status = in->interrupt_status;
    m.config_generation = in->config_generation;
    size_t n = VIRTIO_MMIO_MAX_QUEUES;
    while (n && queue_state_empty(&in->queues[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++) {
        const struct virtio_mmio_queue_state *q = &in->queues[i];
        ignition__devices__virtio_queue__init(&queues[i]);
        queues[i].num = q->num, queues[i].ready = q->ready;
        queues[i].desc = q->desc, queues[i].driver = q->driver, queues[i].device = q->device;
        queues[i].last_avail = q->last_avail, queues[i].used_idx = q->used_idx;
        queues[i].event_idx = q->event_idx;
        list[i] = &queues[i];
    }
    m.n_queues = n;
    m.queues = list;
    m.device = (ProtobufCBinaryData){in->device.len, in->device.data};
    return device_state_pack(&m.base, out);
}

static int decode_queue(const QueueMsg *m, size_t i, struct virtio_mmio_queue_state *q,
                        const char *what, char *err, size_t err_len)
{
    if (m->ready > UINT8_MAX || m->event_idx > UINT8_MAX || m->last_avail > UINT16_MAX ||
        m->used_idx > UINT16_MAX)
        return device_state_refuse(err, err_len, "%s: queue %zu: a value out of range", what, i);
    q->num = m->num, q->ready = (uint8_t)m->ready;
    q->desc = m->desc, q->driver = m->driver, q->device = m->device;
    q->last_avail = (uint16_t)m->last_avail, q->used_idx = (uint16_t)m->used_idx;
    q->event_idx = (uint8_t)m->event_idx;
    return 0;
}

static int decode_message(const StateMsg *m, struct virtio_mmio_state *out, const char *what,
                          char *err, size_t err_len)
{
    if (m->n_queues > VIRTIO_MMIO_MAX_QUEUES)
        return device_state_refuse(err, err_len, "%s: %zu queues, more than %d", what,
                                   m->n_queues, VIRTIO_MMIO_MAX_QUEUES);
    out->device_id = m->device_id, out->status = m->status;
    out->driver_features = m->driver_features;
    out->device_features_sel = m->device_features_sel;
    out->driver_features_sel = m->driver_features_sel;
    out->queue_sel = m->queue_sel;
    out->interrupt_status = m->interrupt_status;
    out->config_generation = m->config_generation;
    for (size_t i = 0; i < m->n_queues; i++) {
        int rc = decode_queue(m->queues[i], i, &out->queues[i], what, err, err_len);
        if (rc < 0)
            return rc;
    }
    if (m->device.len) {
        out->device.data = malloc(m->device.len);
        if (!out->device.data)
            return -ENOMEM;
        memcpy(out->device.data, m->device.data, m->device.len);
        out->device.len = m->device.len;
    }
    return 0;
}

int virtio_mmio_state_decode(const uint8_t *state, size_t len, struct virtio_mmio_state *out,
                             const char *what, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    StateMsg *m = (StateMsg *)device_state_unpack(&ignition__devices__virtio_mmio_state__descriptor,
                                                  state, len, what, err, err_len);
    if (!m)
        return -EINVAL;
    int rc = decode_message(m, out, what, err, err_len);
    device_state_free_unpacked(m);
    if (rc < 0)
        virtio_mmio_state_free(out);
    return rc;
}

static int transport_save(struct device *dev, struct device_state_bytes *out)
{
    struct virtio_mmio_state st;
    int rc = virtio_mmio_save(dev, &st);
    if (rc == 0)
        rc = virtio_mmio_state_encode(&st, out);
    virtio_mmio_state_free(&st);
    return rc;
}

static int transport_load(struct device *dev, const uint8_t *state, size_t len, char *err,
                          size_t err_len)
{
    struct virtio_mmio_state st;
    int rc = virtio_mmio_state_decode(state, len, &st, device_kind(dev), err, err_len);
    if (rc == 0)
        rc = virtio_mmio_load(dev, &st, err, err_len);
    virtio_mmio_state_free(&st);
    return rc;
}

static int virtio_mmio_fdt_node(struct device *dev, void *fdt, const struct fdt_phandles *ph)
{
    (void)ph;
    int err = device_fdt_begin(fdt, "virtio_mmio", dev->base, dev->size);
    if (!err)
        err = fdt_property_string(fdt, "compatible", "virtio,mmio");
    if (!err)
        err = device_fdt_spi(fdt, dev->irq.intid, true);
    if (!err)
        err = fdt_property(fdt, "dma-coherent", NULL, 0);
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}

static void virtio_mmio_destroy(struct device *dev)
{
    struct virtio_mmio *t = to_transport(dev);
    if (t->ops->destroy)
        t->ops->destroy(t->device_state);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static const struct device_ops virtio_mmio_ops = {
    .name = "virtio_mmio",
    .read = virtio_mmio_read,
    .write = virtio_mmio_write,
    .fdt_node = virtio_mmio_fdt_node,
    .destroy = virtio_mmio_destroy,
    .save = transport_save,
    .load = transport_load,
    .recheck_notifications = virtio_mmio_recheck_notifications,
};

struct device *virtio_mmio_create(uint64_t base, struct irq_line irq,
                                  const struct virtio_device_ops *ops, void *dev,
                                  const struct guest_ram *ram)
{
    if (ops->num_queues > VIRTIO_MMIO_MAX_QUEUES || ops->queue_max == 0 ||
        ops->queue_max > VIRTQ_MAX_SIZE)
        return NULL;
    struct virtio_mmio *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->dev = (struct device){.ops = &virtio_mmio_ops, .kind = ops->name, .base = base,
                             .size = VIRTIO_MMIO_SIZE, .irq = irq};
    /* Recursive: device code runs under it (notify) and calls back in. */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&t->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    t->ops = ops;
    t->device_state = dev;
    t->ram = ram;
    return &t->dev;
}
