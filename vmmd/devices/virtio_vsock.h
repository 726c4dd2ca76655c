/* virtio-vsock (virtio 1.2 §5.10): stream sockets between the guest and the
 * host (CID 2) over a receive, a transmit and an event queue, the guest's CID
 * in config space. Like virtio-net, the device only moves packets: the
 * connections live in a backend on the worker's event loop
 * (worker/vsock_host.c), which the guest's notifications kick, and which pulls
 * sent packets (virtio_vsock_transmit) and pushes received ones
 * (virtio_vsock_receive). Every header the guest sends is checked here
 * (virtio_vsock_check_tx); the credit rules both ends keep are the pure
 * vsock_credit functions below. */
#ifndef IGNITION_VIRTIO_VSOCK_H
#define IGNITION_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_mmio.h"

#define VIRTIO_ID_VSOCK 19 /* §5 */

/* §5.10.4 Device configuration layout: le64 guest_cid */
#define VIRTIO_VSOCK_CFG_SIZE 8

/* Well-known CIDs (§5.10.4: the upper 32 bits are reserved; 0, 1 and 2 and
 * 0xffffffff (VMADDR_CID_ANY) are not a guest's). */
#define VSOCK_CID_HOST 2u
#define VSOCK_CID_MIN_GUEST 3u
#define VSOCK_CID_MAX_GUEST 0xfffffffeu

/* §5.10.6 struct virtio_vsock_hdr, packed: le64 src_cid, le64 dst_cid,
 * le32 src_port, le32 dst_port, le32 len, le16 type, le16 op, le32 flags,
 * le32 buf_alloc, le32 fwd_cnt */
#define VSOCK_HDR_SRC_CID 0
#define VSOCK_HDR_DST_CID 8
#define VSOCK_HDR_SRC_PORT 16
#define VSOCK_HDR_DST_PORT 20
#define VSOCK_HDR_LEN 24
#define VSOCK_HDR_TYPE 28
#define VSOCK_HDR_OP 30
#define VSOCK_HDR_FLAGS 32
#define VSOCK_HDR_BUF_ALLOC 36
#define VSOCK_HDR_FWD_CNT 40
#define VSOCK_HDR_SIZE 44

#define VSOCK_TYPE_STREAM 1u

enum vsock_op {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
};

/* SHUTDOWN's flags */
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u

/* §5.10.6.5 the event queue's struct virtio_vsock_event: le32 id */
#define VSOCK_EVENT_TRANSPORT_RESET 0u
#define VSOCK_EVENT_SIZE 4

/* The most payload one packet carries either way: what Linux sends at most
 * (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PAYLOAD (64u << 10)

struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
};

void vsock_hdr_decode(const uint8_t *bytes, struct vsock_hdr *out);
void vsock_hdr_encode(const struct vsock_hdr *hdr, uint8_t *bytes);

/* Why a packet the guest sent was refused (it is dropped, its buffer returned). */
enum virtio_vsock_tx_verdict {
    VIRTIO_VSOCK_TX_OK = 0,
    VIRTIO_VSOCK_TX_SHORT_HEADER,  /* fewer bytes than the header */
    VIRTIO_VSOCK_TX_BAD_SRC_CID,   /* not the guest's own CID */
    VIRTIO_VSOCK_TX_BAD_DST_CID,   /* not the host: the only peer there is */
    VIRTIO_VSOCK_TX_BAD_TYPE,      /* not STREAM (SEQPACKET is not offered) */
    VIRTIO_VSOCK_TX_BAD_OP,        /* INVALID or an unknown op */
    VIRTIO_VSOCK_TX_LEN_MISMATCH,  /* len is not the payload that follows */
    VIRTIO_VSOCK_TX_TOO_LONG,      /* more payload than VSOCK_MAX_PAYLOAD */
    VIRTIO_VSOCK_TX_PAYLOAD_ON_CONTROL, /* payload on anything but RW */
    VIRTIO_VSOCK_TX_BAD_FLAGS,     /* flags on anything but SHUTDOWN, or unknown ones */
    VIRTIO_VSOCK_TX_VERDICTS
};

/* Checks one sent packet (header + payload, len bytes, as copied from the
 * guest) of a guest whose CID is guest_cid, and decodes its header into out.
 * Credit fields are the connection's to check (vsock_credit). Pure: what unit
 * tests and the fuzzer drive. */
enum virtio_vsock_tx_verdict virtio_vsock_check_tx(const uint8_t *packet, size_t len,
                                                   uint64_t guest_cid, struct vsock_hdr *out);
const char *virtio_vsock_tx_verdict_text(enum virtio_vsock_tx_verdict v);

/* ---- credit (§5.10.6.3) ----------------------------------------------------------------
 * Each end tells the other, in every header, how much it buffers for the
 * connection (buf_alloc) and how much of what it received it has passed on
 * (fwd_cnt); a sender keeps what is in flight, tx_cnt - peer's fwd_cnt, within
 * the peer's buf_alloc. Counters are 32 bits and wrap. */
struct vsock_credit {
    /* The guest's receive side, as its last header said. */
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    uint32_t tx_cnt;       /* payload bytes sent to the guest */
    /* Our receive side. */
    uint32_t buf_alloc;    /* what we offer the guest */
    uint32_t rx_cnt;       /* payload bytes the guest sent */
    uint32_t fwd_cnt;      /* of those, passed on to the host socket */
    uint32_t fwd_cnt_told; /* the fwd_cnt our last header carried */
};

/* A header from the guest: its buf_alloc and fwd_cnt. false (nothing
 * changed) when fwd_cnt is not between the last one and tx_cnt: the guest
 * cannot have passed on more than it was sent, nor take back what it said. */
bool vsock_credit_peer_update(struct vsock_credit *c, uint32_t buf_alloc, uint32_t fwd_cnt);
/* How many bytes may be sent to the guest now (0 when its buffer is full,
 * also when it shrank buf_alloc below what is in flight). */
uint32_t vsock_credit_peer_free(const struct vsock_credit *c);
/* len bytes are sent to the guest (len <= vsock_credit_peer_free). */
void vsock_credit_sent(struct vsock_credit *c, uint32_t len);
/* The guest sent len bytes: false (nothing counted) when they do not fit
 * what we offered it. */
bool vsock_credit_receive(struct vsock_credit *c, uint32_t len);
/* How many received bytes are still held (not yet passed on). */
uint32_t vsock_credit_held(const struct vsock_credit *c);
/* n of the held bytes were passed on. */
void vsock_credit_forwarded(struct vsock_credit *c, uint32_t n);
/* Whether to tell the guest of freed space now, without waiting for it to
 * ask: it believes less than half our buffer is free and we freed some. */
bool vsock_credit_update_due(const struct vsock_credit *c);
/* Our header carried fwd_cnt (every header we send does). */
void vsock_credit_told(struct vsock_credit *c);

/* ---- the device --------------------------------------------------------------------------- */

/* The backend's side. kick is called from any thread (a vCPU's, in the
 * middle of a register write: it must not block): the guest sent packets,
 * offered receive or event buffers, or reset the device. */
struct virtio_vsock_backend {
    void (*kick)(void *opaque);
    void *opaque;
};

struct device *virtio_vsock_create(uint64_t base, struct irq_line irq,
                                   const struct guest_ram *ram, uint64_t guest_cid,
                                   const struct virtio_vsock_backend *backend);

/* Backend thread: takes up to max packets the guest sent. Each is checked
 * and its buffer returned before deliver sees it (deliver may queue replies).
 * Returns how many chains were taken: max means there may be more. */
typedef void (*virtio_vsock_deliver_fn)(void *opaque, const struct vsock_hdr *hdr,
                                        const uint8_t *payload);
unsigned virtio_vsock_transmit(struct device *dev, unsigned max, virtio_vsock_deliver_fn deliver,
                               void *opaque);

/* Backend thread: fills the guest's next receive buffer. fill (called with
 * the transport locked: it must be quick) gets a header to complete (ports,
 * op, flags, buf_alloc, fwd_cnt; the device sets the CIDs, type and len) and
 * room for up to `room` payload bytes; it returns the payload length, or -1
 * to send nothing after all. Returns 0 when a packet went to the guest;
 * -EAGAIN when the guest has no receive buffer (a kick follows when it adds
 * one); -ENODATA when fill sent nothing; -ENODEV when the driver is not
 * running (or the queue broke). */
typedef long (*virtio_vsock_fill_fn)(void *opaque, struct vsock_hdr *hdr, uint8_t *payload,
                                     size_t room);
int virtio_vsock_receive(struct device *dev, virtio_vsock_fill_fn fill, void *opaque);

/* Backend thread: VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue (the
 * guest resets its connections and reads its CID again). 0; -EAGAIN when the
 * guest has no event buffer yet; -ENODEV as above. */
int virtio_vsock_send_transport_reset(struct device *dev);
/* How many times the driver has notified the event queue. Linux gives an
 * event buffer back (and notifies) only after handling the event in it, so a
 * count past the one at virtio_vsock_send_transport_reset means the guest
 * has reset its sockets. */
uint32_t virtio_vsock_event_notifies(struct device *dev);

/* The CID in config space: what the driver reads when it probes, and again
 * on a transport reset. */
void virtio_vsock_set_cid(struct device *dev, uint64_t cid);
uint64_t virtio_vsock_cid(struct device *dev);
/* Counts the driver's resets of the device: connections the backend holds
 * are gone when it moves. */
uint32_t virtio_vsock_generation(struct device *dev);
/* Whether the driver has set DRIVER_OK (and not reset since). */
bool virtio_vsock_running(struct device *dev);

/* Snapshot state beyond the queues (proto/devices/virtio_vsock.proto). A
 * chain is taken and returned under the transport lock, so nothing is in
 * flight between calls. */
struct virtio_vsock_state {
    uint64_t guest_cid;
};
struct device_state_bytes;
int virtio_vsock_state_encode(const struct virtio_vsock_state *in,
                              struct device_state_bytes *out);
/* Checks every field: 0, or -EINVAL with the reason in err. */
int virtio_vsock_state_decode(const uint8_t *state, size_t len, struct virtio_vsock_state *out,
                              char *err, size_t err_len);

/* Counters, for the log and tests. */
struct virtio_vsock_stats {
    uint64_t tx_packets, tx_dropped, rx_packets, events;
    uint64_t tx_refused[VIRTIO_VSOCK_TX_VERDICTS];
};
void virtio_vsock_get_stats(struct device *dev, struct virtio_vsock_stats *out);

#endif
