/* virtio-vsock: receive queue 0, transmit queue 1, event queue 2, stream
 * sockets only (no feature bits: §5.10.3 says the device then offers STREAM
 * alone). Every packet the guest sends is checked (virtio_vsock_check_tx)
 * before the backend sees it; receive and event buffers are checked to be
 * device-writable. The transport lock is held only while a chain is taken,
 * copied and returned. */
#include "virtio_vsock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "device_state.h"
#include "log.h"
#include "util.h"
#include "virtio_vsock.pb-c.h"

#define RECEIVEQ 0
#define TRANSMITQ 1
#define EVENTQ 2
#define VSOCK_QUEUE_SIZE 256
#define PACKET_MAX (VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD)
#define LOG_LIMIT 10

/* ---- headers ------------------------------------------------------------------------------- */

void vsock_hdr_decode(const uint8_t *b, struct vsock_hdr *h)
{
    h->src_cid = le64(b + VSOCK_HDR_SRC_CID);
    h->dst_cid = le64(b + VSOCK_HDR_DST_CID);
    h->src_port = le32(b + VSOCK_HDR_SRC_PORT);
    h->dst_port = le32(b + VSOCK_HDR_DST_PORT);
    h->len = le32(b + VSOCK_HDR_LEN);
    h->type = le16(b + VSOCK_HDR_TYPE);
    h->op = le16(b + VSOCK_HDR_OP);
    h->flags = le32(b + VSOCK_HDR_FLAGS);
    h->buf_alloc = le32(b + VSOCK_HDR_BUF_ALLOC);
    h->fwd_cnt = le32(b + VSOCK_HDR_FWD_CNT);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t *b)
{
    le_put(b + VSOCK_HDR_SRC_CID, h->src_cid, 8);
    le_put(b + VSOCK_HDR_DST_CID, h->dst_cid, 8);
    le_put(b + VSOCK_HDR_SRC_PORT, h->src_port, 4);
    le_put(b + VSOCK_HDR_DST_PORT, h->dst_port, 4);
    le_put(b + VSOCK_HDR_LEN, h->len, 4);
    le_put(b + VSOCK_HDR_TYPE, h->type, 2);
    le_put(b + VSOCK_HDR_OP, h->op, 2);
    le_put(b + VSOCK_HDR_FLAGS, h->flags, 4);
    le_put(b + VSOCK_HDR_BUF_ALLOC, h->buf_alloc, 4);
    le_put(b + VSOCK_HDR_FWD_CNT, h->fwd_cnt, 4);
}

const char *virtio_vsock_tx_verdict_text(enum virtio_vsock_tx_verdict v)
{
    switch (v) {
    case VIRTIO_VSOCK_TX_OK: return "ok";
    case VIRTIO_VSOCK_TX_SHORT_HEADER: return "shorter than its header";
    case VIRTIO_VSOCK_TX_BAD_SRC_CID: return "source CID is not the guest's";
    case VIRTIO_VSOCK_TX_BAD_DST_CID: return "destination CID is not the host's";
    case VIRTIO_VSOCK_TX_BAD_TYPE: return "socket type is not stream";
    case VIRTIO_VSOCK_TX_BAD_OP: return "unknown operation";
    case VIRTIO_VSOCK_TX_LEN_MISMATCH: return "length field differs from the payload";
    case VIRTIO_VSOCK_TX_TOO_LONG: return "payload longer than 64 KiB";
    case VIRTIO_VSOCK_TX_PAYLOAD_ON_CONTROL: return "payload on a control packet";
    case VIRTIO_VSOCK_TX_BAD_FLAGS: return "flags the operation does not define";
    default: return "?";
    }
}

enum virtio_vsock_tx_verdict virtio_vsock_check_tx(const uint8_t *packet, size_t len,
                                                   uint64_t guest_cid, struct vsock_hdr *out)
{
    if (len < VSOCK_HDR_SIZE)
        return VIRTIO_VSOCK_TX_SHORT_HEADER;
    struct vsock_hdr h;
    vsock_hdr_decode(packet, &h);
    /* A guest speaks for itself only, and to the host only (§5.10.6.1: the
     * device drops what is not from the guest's CID). */
    if (h.src_cid != guest_cid)
        return VIRTIO_VSOCK_TX_BAD_SRC_CID;
    if (h.dst_cid != VSOCK_CID_HOST)
        return VIRTIO_VSOCK_TX_BAD_DST_CID;
    if (h.type != VSOCK_TYPE_STREAM)
        return VIRTIO_VSOCK_TX_BAD_TYPE;
    if (h.op < VSOCK_OP_REQUEST || h.op > VSOCK_OP_CREDIT_REQUEST)
        return VIRTIO_VSOCK_TX_BAD_OP;
    size_t payload = len - VSOCK_HDR_SIZE;
    if (h.len > VSOCK_MAX_PAYLOAD || payload > VSOCK_MAX_PAYLOAD)
        return VIRTIO_VSOCK_TX_TOO_LONG;
    if (h.len != payload)
        return VIRTIO_VSOCK_TX_LEN_MISMATCH;
    if (h.op != VSOCK_OP_RW && h.len)
        return VIRTIO_VSOCK_TX_PAYLOAD_ON_CONTROL;
    if (h.op == VSOCK_OP_SHUTDOWN
            ? (h.flags & ~(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) != 0
            : h.flags != 0)
        return VIRTIO_VSOCK_TX_BAD_FLAGS;
    *out = h;
    return VIRTIO_VSOCK_TX_OK;
}

/* ---- credit -------------------------------------------------------------------------------- */

bool vsock_credit_peer_update(struct vsock_credit *c, uint32_t buf_alloc, uint32_t fwd_cnt)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    uint32_t newly_forwarded = fwd_cnt - c->peer_fwd_cnt;
    if (newly_forwarded > in_flight)
        return false;
    c->peer_buf_alloc = buf_alloc;
    c->peer_fwd_cnt = fwd_cnt;
    return true;
}

uint32_t vsock_credit_peer_free(const struct vsock_credit *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

void vsock_credit_sent(struct vsock_credit *c, uint32_t len)
{
    c->tx_cnt += len;
}

uint32_t vsock_credit_held(const struct vsock_credit *c)
{
    return c->rx_cnt - c->fwd_cnt;
}

bool vsock_credit_receive(struct vsock_credit *c, uint32_t len)
{
    uint32_t held = vsock_credit_held(c);
    if (held > c->buf_alloc || len > c->buf_alloc - held)
        return false;
    c->rx_cnt += len;
    return true;
}

void vsock_credit_forwarded(struct vsock_credit *c, uint32_t n)
{
    c->fwd_cnt += n;
}

bool vsock_credit_update_due(const struct vsock_credit *c)
{
    if (c->fwd_cnt == c->fwd_cnt_told)
        return false;
    uint32_t unacknowledged = c->rx_cnt - c->fwd_cnt_told; /* what the guest counts as held */
    uint32_t guest_sees_free = unacknowledged >= c->buf_alloc ? 0 : c->buf_alloc - unacknowledged;
    return guest_sees_free < c->buf_alloc / 2;
}

void vsock_credit_told(struct vsock_credit *c)
{
    c->fwd_cnt_told = c->fwd_cnt;
}

/* ---- the device ---------------------------------------------------------------------------- */

struct vsock {
    struct virtio_mmio *transport;
    struct virtio_vsock_backend backend;
    uint64_t guest_cid;
    uint32_t generation;
    /* Notifies of the event queue: the driver gives an event buffer back
     * after it has handled the event that was in it. */
    uint32_t event_notifies;
    struct virtio_vsock_stats stats;
    unsigned logged;
    /* Used under the transport lock; too large for a stack. */
    struct virtq_chain chain;
    uint8_t packet[PACKET_MAX];
};

static struct vsock *vsock_of(struct device *dev)
{
    return virtio_mmio_device_state(virtio_mmio_of(dev));
}

static void PRINTF_LIKE(2, 3) log_guest_error(struct vsock *v, const char *fmt, ...)
{
    if (v->logged >= LOG_LIMIT)
        return;
    v->logged++;
    char message[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    log_warn("virtio-vsock: %s%s", message,
             v->logged == LOG_LIMIT ? " (further ones not logged)" : "");
}

static void vsock_config_read(void *dev, size_t offset, uint8_t *out, size_t len)
{
    struct vsock *v = dev;
    uint8_t config[VIRTIO_VSOCK_CFG_SIZE];
    le_put(config, v->guest_cid, 8);
    memcpy(out, config + offset, len);
}

/* vCPU thread, transport locked. */
static void vsock_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    (void)t;
    struct vsock *v = dev;
    if (q == EVENTQ)
        v->event_notifies++;
    if (v->backend.kick)
        v->backend.kick(v->backend.opaque);
}

/* Transport locked: the driver reset the device; its connections are gone. */
static void vsock_reset(void *dev)
{
    struct vsock *v = dev;
    v->generation++;
    if (v->backend.kick)
        v->backend.kick(v->backend.opaque);
}

static void vsock_destroy(void *dev)
{
    free(dev);
}

/* ---- snapshot state ------------------------------------------------------------------------- */

int virtio_vsock_state_encode(const struct virtio_vsock_state *in,
                              struct device_state_bytes *out)
{
    Ignition__Devices__VirtioVsockState m = IGNITION__DEVICES__VIRTIO_VSOCK_STATE__INIT;
    m.guest_cid = in->guest_cid;
    return device_state_pack(&m.base, out);
}

int virtio_vsock_state_decode(const uint8_t *state, size_t len, struct virtio_vsock_state *out,
                              char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    Ignition__Devices__VirtioVsockState *m = (Ignition__Devices__VirtioVsockState *)
        device_state_unpack(&ignition__devices__virtio_vsock_state__descriptor, state, len,
                            "the virtio-vsock", err, err_len);
    if (!m)
        return -EINVAL;
    int rc = 0;
    if (m->guest_cid < VSOCK_CID_MIN_GUEST || m->guest_cid > VSOCK_CID_MAX_GUEST)
        rc = device_state_refuse(err, err_len, "the virtio-vsock's CID %llu is not a guest's "
                                 "(3 to 4294967294)", (unsigned long long)m->guest_cid);
    else
        out->guest_cid = m->guest_cid;
    device_state_free_unpacked(m);
    return rc;
}

/* Transport locked. */
static int vsock_save(void *dev, struct device_state_bytes *out)
{
    struct vsock *v = dev;
    struct virtio_vsock_state st = {.guest_cid = v->guest_cid};
    return virtio_vsock_state_encode(&st, out);
}

static int vsock_load(void *dev, const uint8_t *state, size_t len, char *err, size_t err_len)
{
    struct vsock *v = dev;
    struct virtio_vsock_state st;
    int rc = virtio_vsock_state_decode(state, len, &st, err, err_len);
    if (rc < 0)
        return rc;
    v->guest_cid = st.guest_cid;
    return 0;
}

static const struct virtio_device_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = VIRTIO_ID_VSOCK,
    .features = 0,
    .num_queues = 3,
    .queue_max = VSOCK_QUEUE_SIZE,
    .config_size = VIRTIO_VSOCK_CFG_SIZE,
    .config_read = vsock_config_read,
    .notify = vsock_notify,
    .reset = vsock_reset,
    .destroy = vsock_destroy,
    .save = vsock_save,
    .load = vsock_load,
};

struct device *virtio_vsock_create(uint64_t base, struct irq_line irq,
                                   const struct guest_ram *ram, uint64_t guest_cid,
                                   const struct virtio_vsock_backend *backend)
{
    if (guest_cid < VSOCK_CID_MIN_GUEST || guest_cid > VSOCK_CID_MAX_GUEST)
        return NULL;
    struct vsock *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->guest_cid = guest_cid;
    if (backend)
        v->backend = *backend;
    struct device *dev = virtio_mmio_create(base, irq, &vsock_ops, v, ram);
    if (!dev) {
        free(v);
        return NULL;
    }
    v->transport = virtio_mmio_of(dev);
    return dev;
}

/* ---- transmitting --------------------------------------------------------------------------- */

/* Takes one sent packet: 1 with *hdr set when it is to be delivered, 0 when
 * one was taken but refused, -1 when there is none (or the queue broke). */
static int take_one(struct vsock *v, struct vsock_hdr *hdr)
{
    struct virtio_mmio *t = v->transport;
    struct virtq *vq = virtio_mmio_queue(t, TRANSMITQ);
    if (!vq)
        return -1;
    enum virtq_error err = virtq_pop(vq, &v->chain);
    if (err == VIRTQ_EMPTY)
        return -1;
    if (err != VIRTQ_OK) {
        virtio_mmio_needs_reset(t);
        return -1;
    }
    long got = virtq_chain_gather(&v->chain, v->packet, sizeof(v->packet));
    if (got < 0) {
        log_guest_error(v, "a transmit chain with writable or oversized buffers");
        virtio_mmio_needs_reset(t);
        return -1;
    }
    uint16_t old_used = vq->used_idx;
    virtq_push(vq, v->chain.head, 0);
    virtio_mmio_used(t, TRANSMITQ, old_used);
    enum virtio_vsock_tx_verdict verdict =
        virtio_vsock_check_tx(v->packet, (size_t)got, v->guest_cid, hdr);
    if (verdict != VIRTIO_VSOCK_TX_OK) {
        v->stats.tx_dropped++;
        v->stats.tx_refused[verdict]++;
        log_guest_error(v, "dropped a sent packet: %s", virtio_vsock_tx_verdict_text(verdict));
        return 0;
    }
    v->stats.tx_packets++;
    return 1;
}

unsigned virtio_vsock_transmit(struct device *dev, unsigned max, virtio_vsock_deliver_fn deliver,
                               void *opaque)
{
    struct vsock *v = vsock_of(dev);
    unsigned taken = 0;
    while (taken < max) {
        struct vsock_hdr hdr;
        virtio_mmio_lock(v->transport);
        int got = take_one(v, &hdr);
        virtio_mmio_unlock(v->transport);
        if (got < 0)
            break;
        taken++;
        /* v->packet is ours until the next take: only this thread takes. */
        if (got > 0)
            deliver(opaque, &hdr, v->packet + VSOCK_HDR_SIZE);
    }
    return taken;
}

/* ---- receiving ------------------------------------------------------------------------------- */

/* Takes a device-writable chain of at least min bytes from queue q: 0; -EAGAIN
 * when there is none (a notification is asked for); -ENODEV when the queue
 * is off or broke (then NEEDS_RESET). */
static int take_writable(struct vsock *v, unsigned q, size_t min, struct virtq **out)
{
    struct virtio_mmio *t = v->transport;
    struct virtq *vq = virtio_mmio_queue(t, q);
    if (!vq)
        return -ENODEV;
    enum virtq_error err = virtq_pop(vq, &v->chain);
    if (err == VIRTQ_EMPTY) {
        /* Ask to be told of the next buffer; one added meanwhile is counted. */
        virtq_notify_on_next(vq);
        if (virtq_available(vq) == 0)
            return -EAGAIN;
        err = virtq_pop(vq, &v->chain);
    }
    if (err == VIRTQ_EMPTY)
        return -EAGAIN;
    if (err != VIRTQ_OK || v->chain.readable_len || v->chain.writable_len < min) {
        if (err == VIRTQ_OK)
            log_guest_error(v, "a %s buffer that is readable or too small",
                            q == EVENTQ ? "event" : "receive");
        virtio_mmio_needs_reset(t);
        return -ENODEV;
    }
    *out = vq;
    return 0;
}

static int receive_locked(struct vsock *v, virtio_vsock_fill_fn fill, void *opaque)
{
    struct virtq *vq;
    int rc = take_writable(v, RECEIVEQ, VSOCK_HDR_SIZE, &vq);
    if (rc < 0)
        return rc;
    size_t room = v->chain.writable_len - VSOCK_HDR_SIZE;
    if (room > VSOCK_MAX_PAYLOAD)
        room = VSOCK_MAX_PAYLOAD;
    struct vsock_hdr hdr = {0};
    long len = fill(opaque, &hdr, v->packet + VSOCK_HDR_SIZE, room);
    if (len < 0 || (size_t)len > room) {
        vq->last_avail--; /* not taken after all: the driver still owns it */
        return -ENODATA;
    }
    hdr.src_cid = VSOCK_CID_HOST;
    hdr.dst_cid = v->guest_cid;
    hdr.type = VSOCK_TYPE_STREAM;
    hdr.len = (uint32_t)len;
    vsock_hdr_encode(&hdr, v->packet);
    size_t total = VSOCK_HDR_SIZE + (size_t)len;
    virtq_chain_write(&v->chain, 0, v->packet, total);
    uint16_t old_used = vq->used_idx;
    virtq_push(vq, v->chain.head, (uint32_t)total);
    virtio_mmio_used(v->transport, RECEIVEQ, old_used);
    v->stats.rx_packets++;
    return 0;
}

int virtio_vsock_receive(struct device *dev, virtio_vsock_fill_fn fill, void *opaque)
{
    struct vsock *v = vsock_of(dev);
    virtio_mmio_lock(v->transport);
    int rc = receive_locked(v, fill, opaque);
    virtio_mmio_unlock(v->transport);
    return rc;
}

int virtio_vsock_send_transport_reset(struct device *dev)
{
    struct vsock *v = vsock_of(dev);
    virtio_mmio_lock(v->transport);
    struct virtq *vq;
    int rc = take_writable(v, EVENTQ, VSOCK_EVENT_SIZE, &vq);
    if (rc == 0) {
        uint8_t event[VSOCK_EVENT_SIZE];
        le_put(event, VSOCK_EVENT_TRANSPORT_RESET, 4);
        virtq_chain_write(&v->chain, 0, event, sizeof(event));
        uint16_t old_used = vq->used_idx;
        virtq_push(vq, v->chain.head, sizeof(event));
        virtio_mmio_used(v->transport, EVENTQ, old_used);
        v->stats.events++;
        /* Linux hands the buffer back (and notifies) once it has reset its
         * sockets: virtio_vsock_event_notifies counts that. */
        virtq_notify_on_next(vq);
    }
    virtio_mmio_unlock(v->transport);
    return rc;
}

uint32_t virtio_vsock_event_notifies(struct device *dev)
{
    struct vsock *v = vsock_of(dev);
    virtio_mmio_lock(v->transport);
    uint32_t n = v->event_notifies;
    virtio_mmio_unlock(v->transport);
    return n;
}

/* ---- CID, state, counters ------------------------------------------------------------------ */

void virtio_vsock_set_cid(struct device *dev, uint64_t cid)
{
    struct vsock *v = vsock_of(dev);
    virtio_mmio_lock(v->transport);
    v->guest_cid = cid;
    virtio_mmio_unlock(v->transport);
}

uint64_t virtio_vsock_cid(struct device *dev)
{
    struct vsock *v = vsock_of(dev);
    virtio_mmio_lock(v->transport);
    uint64_t cid = v->guest_cid;
    virtio_mmio_unlock(v->transport);
    return cid;
}

uint32_t virtio_vsock_generation(struct device *dev)
{
    struct vsock *v = vsock_of(dev);
    virtio_mmio_lock(v->transport);
    uint32_t generation = v->generation;
    virtio_mmio_unlock(v->transport);
    return generation;
}

bool virtio_vsock_running(struct device *dev)
{
    struct vsock *v = vsock_of(dev);
    virtio_mmio_lock(v->transport);
    bool running = virtio_mmio_queue(v->transport, RECEIVEQ) != NULL;
    virtio_mmio_unlock(v->transport);
    return running;
}

void virtio_vsock_get_stats(struct device *dev, struct virtio_vsock_stats *out)
{
    struct vsock *v = vsock_of(dev);
    virtio_mmio_lock(v->transport);
    *out = v->stats;
    virtio_mmio_unlock(v->transport);
}
