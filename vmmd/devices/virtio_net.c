/* virtio-net: receive queue 0, transmit queue 1, no control queue. Every
 * packet the guest sends is checked (virtio_net_check_tx) before it leaves;
 * receive buffers are checked to be device-writable. The transport lock is
 * held only while a chain is taken, copied and returned: the backend hands
 * frames on with it released. */
#include "virtio_net.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "device_state.h"
#include "virtio_net.pb-c.h"
#include "log.h"
#include "util.h"
#include "virtio.h"

#define RECEIVEQ 0
#define TRANSMITQ 1
#define CONTROLQ 2
#define NET_QUEUE_SIZE 256
#define PACKET_MAX (VIRTIO_NET_HDR_SIZE + VIRTIO_NET_MAX_FRAME)
/* Receive chains one frame may take with MRG_RXBUF: Linux's smallest
 * mergeable buffers are about 1.5 KiB, and a frame is at most 64 KiB. */
#define RX_MAX_CHAINS 64
#define LOG_LIMIT 10

#define NET_FEATURES ((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) | \
                      (1ull << VIRTIO_NET_F_MTU) | (1ull << VIRTIO_NET_F_MAC) |           \
                      (1ull << VIRTIO_NET_F_MRG_RXBUF) | (1ull << VIRTIO_NET_F_STATUS) |  \
                      (1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE))

/* ---- checking what the guest sends ---------------------------------------------------- */

const char *virtio_net_tx_verdict_text(enum virtio_net_tx_verdict v)
{
    switch (v) {
    case VIRTIO_NET_TX_OK: return "ok";
    case VIRTIO_NET_TX_SHORT_HEADER: return "shorter than its header";
    case VIRTIO_NET_TX_BAD_FLAGS: return "unknown header flags";
    case VIRTIO_NET_TX_CSUM_NOT_OFFERED: return "checksum offload not negotiated";
    case VIRTIO_NET_TX_GSO: return "segmentation offload not offered";
    case VIRTIO_NET_TX_CSUM_RANGE: return "checksum position outside the frame";
    case VIRTIO_NET_TX_FRAME_SHORT: return "frame shorter than an Ethernet header";
    case VIRTIO_NET_TX_FRAME_LONG: return "frame longer than the MTU allows";
    default: return "?";
    }
}

/* RFC 1071 ones' complement sum of data[0, len), folded to 16 bits. */
static uint16_t internet_sum(const uint8_t *data, size_t len)
{
    uint64_t sum = 0;
    size_t i = 0;
    for (; i + 1 < len; i += 2)
        sum += (uint32_t)data[i] << 8 | data[i + 1];
    if (i < len)
        sum += (uint32_t)data[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* §5.1.6.2: the driver left the pseudo-header sum at csum_start +
 * csum_offset; the checksum covers csum_start to the end of the frame. A
 * result of 0 is sent as 0xffff (UDP's "no checksum" is 0), as Linux does. */
static void complete_checksum(uint8_t *frame, size_t len, uint16_t start, uint16_t offset)
{
    uint8_t *field = frame + start + offset;
    uint16_t csum = (uint16_t)~internet_sum(frame + start, len - start);
    if (csum == 0)
        csum = 0xffff;
    field[0] = (uint8_t)(csum >> 8);
    field[1] = (uint8_t)csum;
}

enum virtio_net_tx_verdict virtio_net_check_tx(uint8_t *packet, size_t len, uint64_t features)
{
    if (len < VIRTIO_NET_HDR_SIZE)
        return VIRTIO_NET_TX_SHORT_HEADER;
    uint8_t flags = packet[VIRTIO_NET_HDR_FLAGS];
    if (flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
        return VIRTIO_NET_TX_BAD_FLAGS; /* DATA_VALID is for the other direction */
    bool needs_csum = flags & VIRTIO_NET_HDR_F_NEEDS_CSUM;
    if (needs_csum && !(features & (1ull << VIRTIO_NET_F_CSUM)))
        return VIRTIO_NET_TX_CSUM_NOT_OFFERED;
    if (packet[VIRTIO_NET_HDR_GSO_TYPE] != VIRTIO_NET_HDR_GSO_NONE)
        return VIRTIO_NET_TX_GSO;
    uint8_t *frame = packet + VIRTIO_NET_HDR_SIZE;
    size_t frame_len = len - VIRTIO_NET_HDR_SIZE;
    if (frame_len < VIRTIO_NET_ETH_HEADER)
        return VIRTIO_NET_TX_FRAME_SHORT;
    if (frame_len > VIRTIO_NET_MAX_FRAME)
        return VIRTIO_NET_TX_FRAME_LONG;
    if (needs_csum) {
        uint16_t start = le16(packet + VIRTIO_NET_HDR_CSUM_START);
        uint16_t offset = le16(packet + VIRTIO_NET_HDR_CSUM_OFFSET);
        /* The two checksum bytes must lie in the frame, after the start. */
        if ((size_t)start + offset + 2 > frame_len)
            return VIRTIO_NET_TX_CSUM_RANGE;
        complete_checksum(frame, frame_len, start, offset);
    }
    return VIRTIO_NET_TX_OK;
}

/* ---- the device -------------------------------------------------------------------------- */

struct net {
    struct virtio_mmio *transport;
    struct virtio_net_backend backend;
    uint8_t mac[6];
    bool link_up;
    bool link_seen; /* the driver read the status since it last changed */
    bool announce;  /* VIRTIO_NET_S_ANNOUNCE: set until the driver acknowledges */
    struct virtio_net_stats stats;
    unsigned logged;
    /* Between virtio_net_batch_begin and _end the used rings' interrupts wait:
     * per queue, whether one is owed and the used index the batch began at. */
    bool batching;
    bool owed[2];
    uint16_t batch_old_used[2];
    /* Used under the transport lock; too large for a stack. */
    struct virtq_chain chain;
    struct virtq_chain control_chain;
    struct virtq_chain rx_chains[RX_MAX_CHAINS];
    uint8_t packet[PACKET_MAX];
};

static struct net *net_of(struct device *dev)
{
    return virtio_mmio_device_state(virtio_mmio_of(dev));
}

static void net_config_read(void *dev, size_t offset, uint8_t *out, size_t len)
{
    struct net *n = dev;
    uint8_t config[VIRTIO_NET_CFG_SIZE] = {0};
    memcpy(config + VIRTIO_NET_CFG_MAC, n->mac, 6);
    le_put(config + VIRTIO_NET_CFG_STATUS,
           (n->link_up ? VIRTIO_NET_S_LINK_UP : 0) | (n->announce ? VIRTIO_NET_S_ANNOUNCE : 0), 2);
    le_put(config + VIRTIO_NET_CFG_MAX_VQ_PAIRS, 1, 2);
    le_put(config + VIRTIO_NET_CFG_MTU, VIRTIO_NET_MTU, 2);
    memcpy(out, config + offset, len);
    if (offset < VIRTIO_NET_CFG_STATUS + 2 && offset + len > VIRTIO_NET_CFG_STATUS)
        n->link_seen = true;
}

/* Copies the chain's first len device-readable bytes to out; false if it has fewer. */
static bool chain_read(const struct virtq_chain *c, uint8_t *out, size_t len)
{
    for (unsigned i = 0; i < c->num_segments && len; i++) {
        const struct virtq_segment *s = &c->segments[i];
        if (s->device_writable)
            break; /* readable ones come first (the walker checks) */
        size_t n = s->len < len ? s->len : len;
        memcpy(out, s->host, n);
        out += n, len -= n;
    }
    return len == 0;
}

/* The first device-writable byte of the chain, or NULL. */
static uint8_t *chain_status_byte(const struct virtq_chain *c)
{
    for (unsigned i = 0; i < c->num_segments; i++)
        if (c->segments[i].device_writable && c->segments[i].len)
            return c->segments[i].host;
    return NULL;
}

static void PRINTF_LIKE(2, 3) log_guest_error(struct net *n, const char *fmt, ...);

/* One command. The only one offered is the announce acknowledgement
 * (GUEST_ANNOUNCE); any other class or command gets VIRTIO_NET_ERR, as the
 * features that would bring them were not offered. -1: a malformed chain. */
static int answer_control(struct net *n, const struct virtq_chain *c)
{
    uint8_t command[2];
    uint8_t *status = chain_status_byte(c);
    if (!status || !chain_read(c, command, sizeof(command))) {
        log_guest_error(n, "a control command without its header or status byte");
        return -1;
    }
    if (command[0] == VIRTIO_NET_CTRL_ANNOUNCE && command[1] == VIRTIO_NET_CTRL_ANNOUNCE_ACK) {
        if (n->announce)
            log_info("virtio-net: the guest announced itself");
        n->announce = false;
        *status = VIRTIO_NET_OK;
    } else {
        log_guest_error(n, "control command %u.%u not offered", command[0], command[1]);
        *status = VIRTIO_NET_ERR;
    }
    return 0;
}

/* vCPU thread, transport locked. Control commands are answered here and now:
 * Linux waits for the answer spinning, and nothing in one needs the network. */
static void serve_control(struct net *n, struct virtio_mmio *t)
{
    struct virtq *vq = virtio_mmio_queue(t, CONTROLQ);
    if (!vq)
        return;
    uint16_t old_used = vq->used_idx;
    for (unsigned i = 0; i < NET_QUEUE_SIZE; i++) { /* bounded: at most a ring's worth */
        enum virtq_error err = virtq_pop(vq, &n->control_chain);
        if (err == VIRTQ_EMPTY)
            break;
        if (err != VIRTQ_OK || answer_control(n, &n->control_chain) < 0) {
            virtio_mmio_needs_reset(t);
            return;
        }
        virtq_push(vq, n->control_chain.head, 1);
    }
    virtio_mmio_used(t, CONTROLQ, old_used);
}

/* vCPU thread, transport locked: new frames, new receive buffers, or a
 * control command. */
static void net_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    struct net *n = dev;
    if (q == CONTROLQ) {
        serve_control(n, t);
        return;
    }
    if (n->backend.kick)
        n->backend.kick(n->backend.opaque);
}

static void PRINTF_LIKE(2, 3) log_guest_error(struct net *n, const char *fmt, ...)
{
    if (n->logged >= LOG_LIMIT)
        return;
    n->logged++;
    char message[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    log_warn("virtio-net: %s%s", message,
             n->logged == LOG_LIMIT ? " (further ones not logged)" : "");
}

/* Transport locked: buffers were returned to queue q since old_used. In a
 * batch the interrupt is decided once at its end, over all of them (§2.7.10
 * asks whether used_event lies anywhere in the range). */
static void signal_used(struct net *n, unsigned q, uint16_t old_used)
{
    if (!n->batching) {
        virtio_mmio_used(n->transport, q, old_used);
        return;
    }
    if (!n->owed[q]) {
        n->owed[q] = true;
        n->batch_old_used[q] = old_used;
    }
}

static void net_destroy(void *dev)
{
    free(dev);
}

/* ---- snapshot state ------------------------------------------------------------------------- */

int virtio_net_state_encode(const struct virtio_net_state *in, struct device_state_bytes *out)
{
    Ignition__Devices__VirtioNetState m = IGNITION__DEVICES__VIRTIO_NET_STATE__INIT;
    m.mac.data = (uint8_t *)in->mac;
    m.mac.len = sizeof(in->mac);
    m.link_up = in->link_up;
    return device_state_pack(&m.base, out);
}

int virtio_net_state_decode(const uint8_t *state, size_t len, struct virtio_net_state *out,
                            char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    Ignition__Devices__VirtioNetState *m = (Ignition__Devices__VirtioNetState *)
        device_state_unpack(&ignition__devices__virtio_net_state__descriptor, state, len,
                            "the virtio-net", err, err_len);
    if (!m)
        return -EINVAL;
    int rc = 0;
    if (m->mac.len != sizeof(out->mac))
        rc = device_state_refuse(err, err_len, "the virtio-net's MAC is %zu bytes, not 6",
                                 m->mac.len);
    else if (m->mac.data[0] & 1)
        rc = device_state_refuse(err, err_len, "the virtio-net's MAC is a multicast address");
    else {
        memcpy(out->mac, m->mac.data, sizeof(out->mac));
        out->link_up = m->link_up;
    }
    device_state_free_unpacked(m);
    return rc;
}

/* Transport locked. */
static int net_save(void *dev, struct device_state_bytes *out)
{
    struct net *n = dev;
    struct virtio_net_state st = {.link_up = n->link_up};
    memcpy(st.mac, n->mac, sizeof(st.mac));
    return virtio_net_state_encode(&st, out);
}

static int net_load(void *dev, const uint8_t *state, size_t len, char *err, size_t err_len)
{
    struct net *n = dev;
    struct virtio_net_state st;
    int rc = virtio_net_state_decode(state, len, &st, err, err_len);
    if (rc < 0)
        return rc;
    memcpy(n->mac, st.mac, sizeof(n->mac));
    n->link_up = st.link_up;
    n->link_seen = true;
    return 0;
}

static const struct virtio_device_ops net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .features = NET_FEATURES,
    .num_queues = 3,
    .queue_max = NET_QUEUE_SIZE,
    .config_size = VIRTIO_NET_CFG_SIZE,
    .config_read = net_config_read,
    .notify = net_notify,
    .destroy = net_destroy,
    .save = net_save,
    .load = net_load,
};

struct device *virtio_net_create(uint64_t base, struct irq_line irq,
                                 const struct guest_ram *ram, const uint8_t mac[6],
                                 const struct virtio_net_backend *backend)
{
    struct net *n = calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    memcpy(n->mac, mac, 6);
    n->link_up = true;
    if (backend)
        n->backend = *backend;
    struct device *dev = virtio_mmio_create(base, irq, &net_ops, n, ram);
    if (!dev) {
        free(n);
        return NULL;
    }
    n->transport = virtio_mmio_of(dev);
    return dev;
}

/* ---- transmitting ------------------------------------------------------------------------- */

/* Takes one sent packet. Returns 1 with *len set when it is to be delivered,
 * 0 when one was taken but refused, -1 when there is none (or the queue broke). */
static int take_one(struct net *n, size_t *len)
{
    struct virtio_mmio *t = n->transport;
    struct virtq *vq = virtio_mmio_queue(t, TRANSMITQ);
    if (!vq)
        return -1;
    enum virtq_error err = virtq_pop(vq, &n->chain);
    if (err == VIRTQ_EMPTY)
        return -1;
    if (err != VIRTQ_OK) {
        virtio_mmio_needs_reset(t);
        return -1;
    }
    long got = virtq_chain_gather(&n->chain, n->packet, sizeof(n->packet));
    if (got < 0) {
        log_guest_error(n, "a transmit chain with writable or oversized buffers");
        virtio_mmio_needs_reset(t);
        return -1;
    }
    uint16_t old_used = vq->used_idx;
    virtq_push(vq, n->chain.head, 0);
    signal_used(n, TRANSMITQ, old_used);
    enum virtio_net_tx_verdict v =
        virtio_net_check_tx(n->packet, (size_t)got, virtio_mmio_driver_features(t));
    if (v != VIRTIO_NET_TX_OK) {
        n->stats.tx_dropped++;
        n->stats.tx_refused[v]++;
        log_guest_error(n, "dropped a sent frame: %s", virtio_net_tx_verdict_text(v));
        return 0;
    }
    *len = (size_t)got;
    n->stats.tx_frames++;
    return 1;
}

unsigned virtio_net_transmit(struct device *dev, unsigned max, virtio_net_deliver_fn deliver,
                             void *opaque)
{
    struct net *n = net_of(dev);
    unsigned taken = 0;
    while (taken < max) {
        size_t len = 0;
        virtio_mmio_lock(n->transport);
        int got = take_one(n, &len);
        virtio_mmio_unlock(n->transport);
        if (got < 0)
            break;
        taken++;
        /* n->packet is ours until the next take: only this thread takes. */
        if (got > 0)
            deliver(opaque, n->packet + VIRTIO_NET_HDR_SIZE, len - VIRTIO_NET_HDR_SIZE);
    }
    return taken;
}

/* ---- receiving ---------------------------------------------------------------------------- */

/* Takes receive chains until they hold need bytes (one chain without
 * MRG_RXBUF). Returns how many, 0 when the guest has not offered enough (the
 * chains taken are given back untouched), -1 when the queue broke. */
static int take_rx_chains(struct net *n, struct virtq *vq, size_t need, bool mergeable)
{
    size_t room = 0;
    int count = 0;
    while (room < need) {
        if (count == RX_MAX_CHAINS || (!mergeable && count == 1))
            return -2; /* laid out too small for this frame */
        enum virtq_error err = virtq_pop(vq, &n->rx_chains[count]);
        if (err == VIRTQ_EMPTY) {
            vq->last_avail = (uint16_t)(vq->last_avail - count); /* not taken after all */
            return 0;
        }
        if (err != VIRTQ_OK || n->rx_chains[count].readable_len) {
            if (err == VIRTQ_OK)
                log_guest_error(n, "a receive chain with device-readable buffers");
            return -1;
        }
        room += n->rx_chains[count].writable_len;
        count++;
    }
    return count;
}

static void fill_rx_chains(struct net *n, struct virtq *vq, int count, const uint8_t *frame,
                           size_t len, uint64_t features)
{
    uint8_t header[VIRTIO_NET_HDR_SIZE] = {0};
    if (features & (1ull << VIRTIO_NET_F_GUEST_CSUM))
        header[VIRTIO_NET_HDR_FLAGS] = VIRTIO_NET_HDR_F_DATA_VALID; /* libslirp's sums are right */
    le_put(header + VIRTIO_NET_HDR_NUM_BUFFERS, (uint64_t)count, 2);
    size_t done = 0; /* bytes of header + frame written */
    size_t total = VIRTIO_NET_HDR_SIZE + len;
    for (int i = 0; i < count; i++) {
        const struct virtq_chain *c = &n->rx_chains[i];
        size_t put = total - done < c->writable_len ? total - done : (size_t)c->writable_len;
        size_t at = 0;
        if (done < VIRTIO_NET_HDR_SIZE) { /* the header fits the first chain: need >= it */
            size_t h = VIRTIO_NET_HDR_SIZE - done < put ? VIRTIO_NET_HDR_SIZE - done : put;
            virtq_chain_write(c, 0, header + done, h);
            at = h;
        }
        size_t frame_from = done + at - VIRTIO_NET_HDR_SIZE;
        virtq_chain_write(c, at, frame + frame_from, put - at);
        done += put;
        virtq_push(vq, c->head, (uint32_t)put);
    }
}

static int receive_locked(struct net *n, const uint8_t *frame, size_t len)
{
    struct virtio_mmio *t = n->transport;
    struct virtq *vq = virtio_mmio_queue(t, RECEIVEQ);
    if (!vq)
        return -ENODEV;
    uint64_t features = virtio_mmio_driver_features(t);
    bool mergeable = features & (1ull << VIRTIO_NET_F_MRG_RXBUF);
    uint16_t old_used = vq->used_idx;
    int count = take_rx_chains(n, vq, VIRTIO_NET_HDR_SIZE + len, mergeable);
    if (count == 0) {
        /* Ask to be told of the next buffer; one added meanwhile is counted. */
        virtq_notify_on_next(vq);
        if (virtq_available(vq) == 0)
            return -EAGAIN;
        count = take_rx_chains(n, vq, VIRTIO_NET_HDR_SIZE + len, mergeable);
        if (count == 0)
            return -EAGAIN;
    }
    if (count == -1) {
        virtio_mmio_needs_reset(t);
        return -ENODEV;
    }
    if (count == -2) {
        /* Buffers too small for the frame: the driver's choice. Drop the frame
         * and give back the chain it would have taken, empty. */
        log_guest_error(n, "receive buffers too small for a %zu-byte frame", len);
        virtq_push(vq, n->rx_chains[0].head, 0);
        for (int i = 1; i < RX_MAX_CHAINS && mergeable; i++)
            virtq_push(vq, n->rx_chains[i].head, 0);
        signal_used(n, RECEIVEQ, old_used);
        return -EINVAL;
    }
    fill_rx_chains(n, vq, count, frame, len, features);
    signal_used(n, RECEIVEQ, old_used);
    return 0;
}

int virtio_net_receive(struct device *dev, const uint8_t *frame, size_t len)
{
    struct net *n = net_of(dev);
    if (len < VIRTIO_NET_ETH_HEADER || len > VIRTIO_NET_MAX_FRAME)
        return -EINVAL;
    virtio_mmio_lock(n->transport);
    int rc = receive_locked(n, frame, len);
    if (rc == 0)
        n->stats.rx_frames++;
    else if (rc != -EAGAIN)
        n->stats.rx_dropped++;
    virtio_mmio_unlock(n->transport);
    return rc;
}

void virtio_net_batch_begin(struct device *dev)
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    n->batching = true;
    virtio_mmio_unlock(n->transport);
}

void virtio_net_batch_end(struct device *dev)
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    n->batching = false;
    /* One interrupt says "used buffers" for every queue: the first queue
     * whose driver asks for one raises it, and covers the rest. Both
     * interrupt only for a queue still running. */
    bool raised = false;
    for (unsigned q = 0; q < 2; q++) {
        if (!n->owed[q])
            continue;
        n->owed[q] = false;
        if (raised)
            virtio_mmio_used_covered(n->transport, q);
        else
            raised = virtio_mmio_used(n->transport, q, n->batch_old_used[q]);
    }
    virtio_mmio_unlock(n->transport);
}

/* ---- link, address, counters ------------------------------------------------------------ */

void virtio_net_set_link(struct device *dev, bool up)
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    bool changed = n->link_up != up;
    n->link_up = up;
    if (changed) {
        n->link_seen = false;
        virtio_mmio_config_changed(n->transport);
    }
    virtio_mmio_unlock(n->transport);
}

bool virtio_net_link_seen(struct device *dev)
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    bool seen = n->link_seen;
    virtio_mmio_unlock(n->transport);
    return seen;
}

bool virtio_net_announce(struct device *dev)
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    bool can = (virtio_mmio_driver_features(n->transport) &
                (1ull << VIRTIO_NET_F_GUEST_ANNOUNCE)) &&
               virtio_mmio_queue(n->transport, CONTROLQ) != NULL;
    if (can) {
        n->announce = true;
        virtio_mmio_config_changed(n->transport);
    }
    virtio_mmio_unlock(n->transport);
    return can;
}

bool virtio_net_announce_pending(struct device *dev)
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    bool pending = n->announce;
    virtio_mmio_unlock(n->transport);
    return pending;
}

bool virtio_net_running(struct device *dev)
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    bool running = virtio_mmio_queue(n->transport, RECEIVEQ) != NULL;
    virtio_mmio_unlock(n->transport);
    return running;
}

void virtio_net_set_mac(struct device *dev, const uint8_t mac[6])
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    memcpy(n->mac, mac, 6);
    virtio_mmio_unlock(n->transport);
}

void virtio_net_get_mac(struct device *dev, uint8_t mac[6])
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    memcpy(mac, n->mac, 6);
    virtio_mmio_unlock(n->transport);
}

void virtio_net_get_stats(struct device *dev, struct virtio_net_stats *out)
{
    struct net *n = net_of(dev);
    virtio_mmio_lock(n->transport);
    *out = n->stats;
    virtio_mmio_unlock(n->transport);
}
