/* virtio-net (virtio 1.2 §5.1): one receive and one transmit queue, a MAC
 * address and a link status in config space. The network behind it is a
 * backend that lives on another thread (the worker's event loop, with
 * libslirp: worker/net_user.c): the guest's notifications only kick it, so
 * a vCPU never waits on the network, and the backend pulls sent frames
 * (virtio_net_transmit) and pushes received ones (virtio_net_receive). */
#ifndef IGNITION_VIRTIO_NET_H
#define IGNITION_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_mmio.h"

#define VIRTIO_ID_NET 1 /* §5 */

/* §5.1.3 Feature bits */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21

/* §5.1.4 Device configuration layout (byte offsets) */
#define VIRTIO_NET_CFG_MAC 0
#define VIRTIO_NET_CFG_STATUS 6
#define VIRTIO_NET_CFG_MAX_VQ_PAIRS 8
#define VIRTIO_NET_CFG_MTU 10
#define VIRTIO_NET_CFG_SIZE 12
#define VIRTIO_NET_S_LINK_UP 1u
#define VIRTIO_NET_S_ANNOUNCE 2u

/* §5.1.6.5 the control queue: class, command, data; one status byte back. */
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0
#define VIRTIO_NET_OK 0
#define VIRTIO_NET_ERR 1

/* §5.1.6 struct virtio_net_hdr: u8 flags, u8 gso_type, le16 hdr_len,
 * le16 gso_size, le16 csum_start, le16 csum_offset, le16 num_buffers (always
 * there with VERSION_1) */
#define VIRTIO_NET_HDR_FLAGS 0
#define VIRTIO_NET_HDR_GSO_TYPE 1
#define VIRTIO_NET_HDR_HDR_LEN 2
#define VIRTIO_NET_HDR_GSO_SIZE 4
#define VIRTIO_NET_HDR_CSUM_START 6
#define VIRTIO_NET_HDR_CSUM_OFFSET 8
#define VIRTIO_NET_HDR_NUM_BUFFERS 10
#define VIRTIO_NET_HDR_SIZE 12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1u
#define VIRTIO_NET_HDR_F_DATA_VALID 2u
#define VIRTIO_NET_HDR_GSO_NONE 0u

/* The MTU the device offers (VIRTIO_NET_F_MTU): large frames, as slirp4netns
 * and passt use, make a user-mode network fast without segmentation
 * offloads; libslirp takes up to 65521. */
#define VIRTIO_NET_MTU 65520u
#define VIRTIO_NET_ETH_HEADER 14u
#define VIRTIO_NET_VLAN_TAG 4u
#define VIRTIO_NET_MAX_FRAME (VIRTIO_NET_MTU + VIRTIO_NET_ETH_HEADER + VIRTIO_NET_VLAN_TAG)

/* Why a frame the guest sent was refused (it is dropped, its buffer returned). */
enum virtio_net_tx_verdict {
    VIRTIO_NET_TX_OK = 0,
    VIRTIO_NET_TX_SHORT_HEADER,  /* fewer bytes than the header */
    VIRTIO_NET_TX_BAD_FLAGS,     /* flag bits the device does not define for sending */
    VIRTIO_NET_TX_CSUM_NOT_OFFERED, /* NEEDS_CSUM without VIRTIO_NET_F_CSUM */
    VIRTIO_NET_TX_GSO,           /* segmentation asked for; no TSO was offered */
    VIRTIO_NET_TX_CSUM_RANGE,    /* csum_start/csum_offset outside the frame */
    VIRTIO_NET_TX_FRAME_SHORT,   /* less than an Ethernet header */
    VIRTIO_NET_TX_FRAME_LONG,    /* more than VIRTIO_NET_MAX_FRAME */
    VIRTIO_NET_TX_VERDICTS
};

/* Checks one transmitted packet (header + frame, len bytes, as copied from
 * the guest) under the negotiated features and completes a partial checksum
 * (NEEDS_CSUM) in place. On VIRTIO_NET_TX_OK the frame is at
 * packet + VIRTIO_NET_HDR_SIZE. Pure: what unit tests and the fuzzer drive. */
enum virtio_net_tx_verdict virtio_net_check_tx(uint8_t *packet, size_t len,
                                               uint64_t features);
const char *virtio_net_tx_verdict_text(enum virtio_net_tx_verdict v);

/* The backend's side. kick is called from any thread (a vCPU's, in the
 * middle of a register write: it must not block): the guest sent frames or
 * offered receive buffers. */
struct virtio_net_backend {
    void (*kick)(void *opaque);
    void *opaque;
};

struct device *virtio_net_create(uint64_t base, struct irq_line irq,
                                 const struct guest_ram *ram, const uint8_t mac[6],
                                 const struct virtio_net_backend *backend);

/* Backend thread: takes up to max frames the guest sent. Each is checked and
 * its buffer returned to the guest before deliver sees it (deliver may send
 * frames back into the device). Returns how many chains were taken: max means
 * there may be more. A malformed chain marks the device NEEDS_RESET. */
typedef void (*virtio_net_deliver_fn)(void *opaque, const uint8_t *frame, size_t len);
unsigned virtio_net_transmit(struct device *dev, unsigned max, virtio_net_deliver_fn deliver,
                             void *opaque);

/* Backend thread: puts one Ethernet frame into the guest's receive buffers.
 * 0 when delivered; -EAGAIN when the guest has not offered room for it yet
 * (a kick follows when it does: keep the frame and try again then); -ENODEV
 * when the driver is not running; -EINVAL for a frame too short or too long,
 * or one that cannot fit the guest's buffers as the driver laid them out
 * (dropped, its buffer returned empty). */
int virtio_net_receive(struct device *dev, const uint8_t *frame, size_t len);

/* Backend thread: between these two, buffers returned by virtio_net_transmit
 * and virtio_net_receive raise no interrupt at once; batch_end raises the ones
 * the driver asked for (EVENT_IDX or not), once per queue. A loop turn that
 * takes a sent frame and answers it then costs the guest one interrupt, not
 * one for the sent buffer and another for the answer. Not nested. */
void virtio_net_batch_begin(struct device *dev);
void virtio_net_batch_end(struct device *dev);

/* The link as the guest sees it (VIRTIO_NET_F_STATUS): a change raises the
 * config interrupt, and Linux turns it into a carrier change. */
void virtio_net_set_link(struct device *dev, bool up);
/* Whether the driver read the status since the last change (so that a link
 * taken down and up again is seen down first). */
bool virtio_net_link_seen(struct device *dev);
/* Asks the guest to announce itself (VIRTIO_NET_F_GUEST_ANNOUNCE, §5.1.6.5.3):
 * the ANNOUNCE status bit and a config interrupt; Linux then sends gratuitous
 * ARP and unsolicited neighbour advertisements and acknowledges on the control
 * queue, which clears the bit. False when the driver did not take the feature
 * (or is not running): the caller then has to make the guest notice otherwise. */
bool virtio_net_announce(struct device *dev);
/* Whether the ANNOUNCE bit is still set (the driver has not acknowledged). */
bool virtio_net_announce_pending(struct device *dev);
/* Whether the driver has set DRIVER_OK (and not reset since). */
bool virtio_net_running(struct device *dev);
/* The MAC address in config space: what the driver reads when it probes. */
void virtio_net_set_mac(struct device *dev, const uint8_t mac[6]);
void virtio_net_get_mac(struct device *dev, uint8_t mac[6]);

/* Snapshot state beyond the queues (proto/devices/virtio_net.proto): the
 * config space as the driver last read it. Nothing is in flight between
 * calls (a chain is taken and returned under the transport lock), so there
 * is nothing else: frames the backend still holds are the network's, and
 * TCP retransmits them. A restore loads this; the worker then gives a clone
 * its own MAC (virtio_net_set_mac) and bounces the link. */
struct virtio_net_state {
    uint8_t mac[6];
    bool link_up;
};
struct device_state_bytes;
int virtio_net_state_encode(const struct virtio_net_state *in, struct device_state_bytes *out);
/* Checks every field: 0, or -EINVAL with the reason in err. */
int virtio_net_state_decode(const uint8_t *state, size_t len, struct virtio_net_state *out,
                            char *err, size_t err_len);

/* Counters, for the log and tests. */
struct virtio_net_stats {
    uint64_t tx_frames, tx_dropped, rx_frames, rx_dropped;
    uint64_t tx_refused[VIRTIO_NET_TX_VERDICTS];
};
void virtio_net_get_stats(struct device *dev, struct virtio_net_stats *out);

#endif
