/* virtio-net: every check on a sent packet's header (virtio_net_check_tx),
 * the checksum it completes, and the device through the real transport with a
 * guest driver laid out as Linux's: frames sent and delivered, frames
 * received into one buffer or merged over several (MRG_RXBUF), no room
 * (EAGAIN, nothing taken), buffers too small, malformed chains, the link
 * status and MAC in config space. Also the user-mode network's option parsing
 * and its filter of what the guest may reach (worker/net_user.h); the answer
 * to what it refuses is test_net_refuse.c's. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "byteorder.h"
#include "devices/device_state.h"
#include "devices/virtio.h"
#include "devices/virtio_net.h"
#include "unit.h"
#include "virtio_driver.h"
#include "worker/net_mac.h"
#include "worker/net_user.h"

#define RAM_SIZE (4u << 20)
#define BASE 0x0a000000ull
#define QSIZE 16
#define RXQ_AT (VD_RAM_GPA + 0x10000)
#define TXQ_AT (VD_RAM_GPA + 0x20000)
#define CTRLQ_AT (VD_RAM_GPA + 0x30000)
#define CTRL_BUF (VD_RAM_GPA + 0x3f0000)
#define BUF (VD_RAM_GPA + 0x100000)
#define VERSION_1 (1ull << VIRTIO_F_VERSION_1)
#define F(bit) (1ull << (bit))

/* ---- header checks -------------------------------------------------------------------- */

/* A header and an Ethernet frame of frame_len bytes (pattern-filled). */
static size_t packet(uint8_t *buf, size_t frame_len)
{
    memset(buf, 0, VIRTIO_NET_HDR_SIZE);
    for (size_t i = 0; i < frame_len; i++)
        buf[VIRTIO_NET_HDR_SIZE + i] = (uint8_t)(i * 7 + 1);
    return VIRTIO_NET_HDR_SIZE + frame_len;
}

START_TEST(test_tx_plain_frame_ok)
{
    uint8_t buf[128];
    size_t len = packet(buf, 60);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, 0), VIRTIO_NET_TX_OK);
    ck_assert_uint_eq(buf[VIRTIO_NET_HDR_SIZE + 59], (uint8_t)(59 * 7 + 1)); /* untouched */
}
END_TEST

START_TEST(test_tx_short_header)
{
    uint8_t buf[16] = {0};
    for (size_t len = 0; len < VIRTIO_NET_HDR_SIZE; len++)
        ck_assert_int_eq(virtio_net_check_tx(buf, len, ~0ull), VIRTIO_NET_TX_SHORT_HEADER);
}
END_TEST

START_TEST(test_tx_unknown_flags)
{
    uint8_t buf[128];
    size_t len = packet(buf, 60);
    for (unsigned bit = 1; bit < 8; bit++) { /* all but NEEDS_CSUM; DATA_VALID is for rx */
        buf[VIRTIO_NET_HDR_FLAGS] = (uint8_t)(1u << bit);
        ck_assert_int_eq(virtio_net_check_tx(buf, len, ~0ull), VIRTIO_NET_TX_BAD_FLAGS);
    }
}
END_TEST

START_TEST(test_tx_csum_needs_the_feature)
{
    uint8_t buf[128];
    size_t len = packet(buf, 60);
    buf[VIRTIO_NET_HDR_FLAGS] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    le_put(buf + VIRTIO_NET_HDR_CSUM_START, 34, 2);
    le_put(buf + VIRTIO_NET_HDR_CSUM_OFFSET, 6, 2);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, 0), VIRTIO_NET_TX_CSUM_NOT_OFFERED);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, F(VIRTIO_NET_F_CSUM)), VIRTIO_NET_TX_OK);
}
END_TEST

START_TEST(test_tx_gso_refused)
{
    uint8_t buf[128];
    size_t len = packet(buf, 60);
    for (unsigned type = 1; type < 256; type++) {
        buf[VIRTIO_NET_HDR_GSO_TYPE] = (uint8_t)type;
        ck_assert_int_eq(virtio_net_check_tx(buf, len, ~0ull), VIRTIO_NET_TX_GSO);
    }
}
END_TEST

START_TEST(test_tx_csum_range)
{
    uint8_t buf[128];
    size_t len = packet(buf, 60);
    buf[VIRTIO_NET_HDR_FLAGS] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    /* The two bytes must end inside the frame: 58 + 0 + 2 = 60 is the edge. */
    le_put(buf + VIRTIO_NET_HDR_CSUM_START, 58, 2);
    le_put(buf + VIRTIO_NET_HDR_CSUM_OFFSET, 0, 2);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, F(VIRTIO_NET_F_CSUM)), VIRTIO_NET_TX_OK);
    le_put(buf + VIRTIO_NET_HDR_CSUM_START, 59, 2);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, F(VIRTIO_NET_F_CSUM)),
                     VIRTIO_NET_TX_CSUM_RANGE);
    le_put(buf + VIRTIO_NET_HDR_CSUM_START, 40, 2);
    le_put(buf + VIRTIO_NET_HDR_CSUM_OFFSET, 19, 2);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, F(VIRTIO_NET_F_CSUM)),
                     VIRTIO_NET_TX_CSUM_RANGE);
    /* No overflow of start + offset in 16 bits. */
    le_put(buf + VIRTIO_NET_HDR_CSUM_START, 0xffff, 2);
    le_put(buf + VIRTIO_NET_HDR_CSUM_OFFSET, 0xffff, 2);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, F(VIRTIO_NET_F_CSUM)),
                     VIRTIO_NET_TX_CSUM_RANGE);
}
END_TEST

START_TEST(test_tx_frame_lengths)
{
    static uint8_t buf[VIRTIO_NET_HDR_SIZE + VIRTIO_NET_MAX_FRAME + 1];
    size_t len = packet(buf, VIRTIO_NET_ETH_HEADER - 1);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, 0), VIRTIO_NET_TX_FRAME_SHORT);
    len = packet(buf, VIRTIO_NET_ETH_HEADER);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, 0), VIRTIO_NET_TX_OK);
    len = packet(buf, VIRTIO_NET_MAX_FRAME);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, 0), VIRTIO_NET_TX_OK);
    len = packet(buf, VIRTIO_NET_MAX_FRAME + 1);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, 0), VIRTIO_NET_TX_FRAME_LONG);
}
END_TEST

/* A UDP/IPv4 packet as Linux hands it over with CHECKSUM_PARTIAL: the
 * pseudo-header sum in the checksum field; the device completes it, and
 * the whole UDP checksum then verifies. */
START_TEST(test_tx_csum_completed)
{
    uint8_t buf[128];
    size_t frame_len = 14 + 20 + 8 + 5;
    size_t len = packet(buf, frame_len);
    uint8_t *f = buf + VIRTIO_NET_HDR_SIZE;
    f[12] = 0x08, f[13] = 0x00;
    uint8_t *ip = f + 14, *udp = ip + 20;
    memset(ip, 0, 20);
    ip[0] = 0x45, ip[9] = 17;
    memcpy(ip + 12, (uint8_t[]){10, 0, 2, 15}, 4);
    memcpy(ip + 16, (uint8_t[]){10, 0, 2, 2}, 4);
    udp[0] = 0x30, udp[1] = 0x39, udp[2] = 0x00, udp[3] = 0x35, udp[4] = 0, udp[5] = 13;
    memcpy(udp + 8, "hello", 5);
    /* pseudo header: src, dst, zero+proto, udp length */
    uint32_t sum = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + 13;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    udp[6] = (uint8_t)(sum >> 8), udp[7] = (uint8_t)sum; /* not complemented, as Linux leaves it */
    buf[VIRTIO_NET_HDR_FLAGS] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    le_put(buf + VIRTIO_NET_HDR_CSUM_START, 34, 2);
    le_put(buf + VIRTIO_NET_HDR_CSUM_OFFSET, 6, 2);
    ck_assert_int_eq(virtio_net_check_tx(buf, len, F(VIRTIO_NET_F_CSUM)), VIRTIO_NET_TX_OK);
    /* Verify: pseudo header + UDP segment sums to 0xffff. */
    uint32_t v = 0x0a00 + 0x020f + 0x0a00 + 0x0202 + 17 + 13;
    for (size_t i = 0; i < 13; i += 2)
        v += (uint32_t)udp[i] << 8 | (i + 1 < 13 ? udp[i + 1] : 0);
    while (v >> 16)
        v = (v & 0xffff) + (v >> 16);
    ck_assert_uint_eq(v, 0xffff);
    ck_assert(udp[6] || udp[7]);
}
END_TEST

/* ---- the device through the transport ----------------------------------------------------- */

static struct vd_guest guest;
static struct vd_queue rxq, txq, ctrlq;
static struct device *dev;
static int kicks;
static uint8_t delivered[4][256];
static size_t delivered_len[4];
static unsigned num_delivered;
static const uint8_t test_mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};

static void count_kick(void *opaque)
{
    (void)opaque;
    kicks++;
}

static void record(void *opaque, const uint8_t *frame, size_t len)
{
    (void)opaque;
    if (num_delivered < 4 && len <= sizeof(delivered[0])) {
        memcpy(delivered[num_delivered], frame, len);
        delivered_len[num_delivered] = len;
    }
    num_delivered++;
}

static void setup(void)
{
    vd_guest_init(&guest, RAM_SIZE);
    kicks = 0;
    num_delivered = 0;
    struct virtio_net_backend backend = {.kick = count_kick};
    dev = virtio_net_create(BASE, vd_irq(&guest, 48), &guest.ram, test_mac, &backend);
    ck_assert_ptr_nonnull(dev);
}

static void teardown(void)
{
    dev->ops->destroy(dev);
    vd_guest_free(&guest);
}

static void bring_up(uint64_t features)
{
    vd_negotiate(dev, VERSION_1 | features);
    rxq = vd_queue_at(RXQ_AT, QSIZE);
    txq = vd_queue_at(TXQ_AT, QSIZE);
    vd_enable_queue(dev, 0, &rxq);
    vd_enable_queue(dev, 1, &txq);
    vd_driver_ok(dev);
}

START_TEST(test_config_space)
{
    ck_assert_uint_eq(vd_read(dev, VD_DEVICE_ID), VIRTIO_ID_NET);
    for (unsigned i = 0; i < 6; i++)
        ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_MAC + i), test_mac[i]);
    ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_STATUS), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_MTU) |
                          vd_config_byte(dev, VIRTIO_NET_CFG_MTU + 1) << 8,
                      VIRTIO_NET_MTU);
    vd_write(dev, VD_DEV_FEATURES_SEL, 0);
    uint32_t low = vd_read(dev, VD_DEV_FEATURES);
    ck_assert(low & F(VIRTIO_NET_F_MAC));
    ck_assert(low & F(VIRTIO_NET_F_STATUS));
    ck_assert(low & F(VIRTIO_NET_F_MRG_RXBUF));
    ck_assert(!(low & F(VIRTIO_NET_F_HOST_TSO4))); /* nothing it would refuse later */
    ck_assert(!(low & F(VIRTIO_NET_F_GUEST_TSO4)));
}
END_TEST

START_TEST(test_link_change_raises_config_interrupt)
{
    bring_up(F(VIRTIO_NET_F_STATUS));
    int edges = vd_edges(&guest);
    uint32_t gen = vd_read(dev, VD_CONFIG_GEN);
    virtio_net_set_link(dev, false);
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
    ck_assert(vd_read(dev, VD_INT_STATUS) & 2);
    ck_assert_uint_ne(vd_read(dev, VD_CONFIG_GEN), gen);
    ck_assert(!virtio_net_link_seen(dev));
    ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_STATUS), 0);
    ck_assert(virtio_net_link_seen(dev)); /* the driver read it down */
    virtio_net_set_link(dev, false); /* no change, no interrupt */
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
    virtio_net_set_link(dev, true);
    ck_assert_int_eq(vd_edges(&guest), edges + 2);
    ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_STATUS), VIRTIO_NET_S_LINK_UP);
}
END_TEST

/* One transmit chain: header descriptor, then the frame. */
static void send_frame(uint16_t slot, size_t frame_len, uint8_t flags)
{
    uint64_t hdr = BUF + 0x1000u * slot, data = hdr + 0x100;
    memset(vd_at(&guest, hdr), 0, VIRTIO_NET_HDR_SIZE);
    vd_at(&guest, hdr)[VIRTIO_NET_HDR_FLAGS] = flags;
    for (size_t i = 0; i < frame_len; i++)
        vd_at(&guest, data)[i] = (uint8_t)(slot + i);
    vd_put_desc(&guest, &txq, 2u * slot, hdr, VIRTIO_NET_HDR_SIZE, VIRTQ_DESC_F_NEXT,
                (uint16_t)(2u * slot + 1));
    vd_put_desc(&guest, &txq, 2u * slot + 1, data, (uint32_t)frame_len, 0, 0);
    vd_offer(&guest, &txq, (uint16_t)(2u * slot));
}

START_TEST(test_transmit_delivers_and_returns)
{
    bring_up(0);
    send_frame(0, 60, 0);
    send_frame(1, 42, 0);
    send_frame(2, 60, 0x80); /* a bad flag: dropped, buffer still returned */
    vd_write(dev, VD_QUEUE_NOTIFY, 1);
    ck_assert_int_eq(kicks, 1); /* the vCPU only kicks */
    ck_assert_uint_eq(vd_used_idx(&guest, &txq), 0);
    ck_assert_uint_eq(virtio_net_transmit(dev, 64, record, NULL), 3);
    ck_assert_uint_eq(num_delivered, 2);
    ck_assert_uint_eq(delivered_len[0], 60);
    ck_assert_uint_eq(delivered_len[1], 42);
    ck_assert_uint_eq(delivered[1][0], 1);
    ck_assert_uint_eq(vd_used_idx(&guest, &txq), 3);
    struct virtio_net_stats st;
    virtio_net_get_stats(dev, &st);
    ck_assert_uint_eq(st.tx_frames, 2);
    ck_assert_uint_eq(st.tx_dropped, 1);
    ck_assert_uint_eq(st.tx_refused[VIRTIO_NET_TX_BAD_FLAGS], 1);
}
END_TEST

START_TEST(test_transmit_bounded_batches)
{
    bring_up(0);
    for (uint16_t i = 0; i < 5; i++)
        send_frame(i, 60, 0);
    ck_assert_uint_eq(virtio_net_transmit(dev, 2, record, NULL), 2);
    ck_assert_uint_eq(virtio_net_transmit(dev, 2, record, NULL), 2);
    ck_assert_uint_eq(virtio_net_transmit(dev, 2, record, NULL), 1);
    ck_assert_uint_eq(virtio_net_transmit(dev, 2, record, NULL), 0);
    ck_assert_uint_eq(num_delivered, 5);
}
END_TEST

START_TEST(test_transmit_writable_chain_needs_reset)
{
    bring_up(0);
    vd_put_desc(&guest, &txq, 0, BUF, 74, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &txq, 0);
    ck_assert_uint_eq(virtio_net_transmit(dev, 64, record, NULL), 0);
    ck_assert_uint_eq(num_delivered, 0);
    ck_assert(vd_read(dev, VD_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_transmit_before_driver_ok)
{
    vd_negotiate(dev, VERSION_1);
    ck_assert_uint_eq(virtio_net_transmit(dev, 64, record, NULL), 0);
    uint8_t frame[60] = {0};
    ck_assert_int_eq(virtio_net_receive(dev, frame, sizeof(frame)), -ENODEV);
}
END_TEST

static void offer_rx(uint16_t slot, uint32_t len)
{
    vd_put_desc(&guest, &rxq, slot, BUF + 0x20000u * slot, len, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &rxq, slot);
}

static void frame_of(uint8_t *f, size_t len)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(i * 3);
}

START_TEST(test_receive_one_buffer)
{
    bring_up(F(VIRTIO_NET_F_GUEST_CSUM));
    offer_rx(0, 2048);
    uint8_t f[100];
    frame_of(f, sizeof(f));
    int edges = vd_edges(&guest);
    ck_assert_int_eq(virtio_net_receive(dev, f, sizeof(f)), 0);
    ck_assert_uint_eq(vd_used_idx(&guest, &rxq), 1);
    uint32_t id, len;
    vd_used_elem(&guest, &rxq, 0, &id, &len);
    ck_assert_uint_eq(len, VIRTIO_NET_HDR_SIZE + sizeof(f));
    uint8_t *b = vd_at(&guest, BUF);
    ck_assert_uint_eq(b[VIRTIO_NET_HDR_FLAGS], VIRTIO_NET_HDR_F_DATA_VALID);
    ck_assert_uint_eq(le16(b + VIRTIO_NET_HDR_NUM_BUFFERS), 1);
    ck_assert_mem_eq(b + VIRTIO_NET_HDR_SIZE, f, sizeof(f));
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
}
END_TEST

/* A loop turn that takes sent frames and answers them: one interrupt at the
 * end, for both queues, and none while the batch lasts. */
START_TEST(test_batch_one_interrupt)
{
    bring_up(0);
    send_frame(0, 60, 0);
    send_frame(1, 60, 0);
    offer_rx(2, 2048);
    int edges = vd_edges(&guest);
    virtio_net_batch_begin(dev);
    ck_assert_uint_eq(virtio_net_transmit(dev, 64, record, NULL), 2);
    uint8_t f[100];
    frame_of(f, sizeof(f));
    ck_assert_int_eq(virtio_net_receive(dev, f, sizeof(f)), 0);
    ck_assert_uint_eq(vd_used_idx(&guest, &txq), 2); /* returned at once */
    ck_assert_uint_eq(vd_used_idx(&guest, &rxq), 1);
    ck_assert_int_eq(vd_edges(&guest), edges);
    virtio_net_batch_end(dev);
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
    ck_assert(vd_read(dev, VD_INT_STATUS) & 1);
    virtio_net_batch_end(dev); /* nothing owed: no second one */
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
    /* Outside a batch, each return interrupts as before. */
    send_frame(3, 60, 0);
    ck_assert_uint_eq(virtio_net_transmit(dev, 64, record, NULL), 1);
    ck_assert_int_eq(vd_edges(&guest), edges + 2);
}
END_TEST

/* With EVENT_IDX the batch interrupts only if the driver's used_event lies in
 * what the whole batch returned. */
START_TEST(test_batch_respects_used_event)
{
    bring_up(F(VIRTIO_F_EVENT_IDX));
    for (uint16_t i = 0; i < 3; i++)
        send_frame(i, 60, 0);
    vd_set_used_event(&guest, &txq, 5); /* asks once the sixth is returned */
    int edges = vd_edges(&guest);
    virtio_net_batch_begin(dev);
    ck_assert_uint_eq(virtio_net_transmit(dev, 64, record, NULL), 3);
    virtio_net_batch_end(dev);
    ck_assert_int_eq(vd_edges(&guest), edges);
    for (uint16_t i = 3; i < 6; i++)
        send_frame(i, 60, 0);
    virtio_net_batch_begin(dev);
    ck_assert_uint_eq(virtio_net_transmit(dev, 64, record, NULL), 3);
    virtio_net_batch_end(dev);
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
}
END_TEST

#define ANNOUNCE_FEATURES \
    (F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_GUEST_ANNOUNCE))

static void bring_up_with_control(uint64_t features)
{
    vd_negotiate(dev, VERSION_1 | features);
    rxq = vd_queue_at(RXQ_AT, QSIZE);
    txq = vd_queue_at(TXQ_AT, QSIZE);
    ctrlq = vd_queue_at(CTRLQ_AT, QSIZE);
    vd_enable_queue(dev, 0, &rxq);
    vd_enable_queue(dev, 1, &txq);
    vd_enable_queue(dev, 2, &ctrlq);
    vd_driver_ok(dev);
}

/* A control command as Linux sends it: class and command readable, one status
 * byte writable (set to 0xee first, to see it written). Returns that byte after
 * the device has answered. */
static uint8_t control(uint16_t slot, uint8_t class, uint8_t command)
{
    uint64_t at = CTRL_BUF + 0x100u * slot;
    vd_at(&guest, at)[0] = class;
    vd_at(&guest, at)[1] = command;
    vd_at(&guest, at + 0x80)[0] = 0xee;
    vd_put_desc(&guest, &ctrlq, 2u * slot, at, 2, VIRTQ_DESC_F_NEXT, (uint16_t)(2u * slot + 1));
    vd_put_desc(&guest, &ctrlq, 2u * slot + 1, at + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &ctrlq, (uint16_t)(2u * slot));
    vd_write(dev, VD_QUEUE_NOTIFY, 2);
    return vd_at(&guest, at + 0x80)[0];
}

START_TEST(test_announce_and_ack)
{
    bring_up_with_control(ANNOUNCE_FEATURES);
    int edges = vd_edges(&guest);
    ck_assert(virtio_net_announce(dev));
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
    ck_assert(vd_read(dev, VD_INT_STATUS) & 2); /* a config change */
    ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_STATUS),
                      VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
    ck_assert(virtio_net_announce_pending(dev));
    /* Anything but the acknowledgement is refused and changes nothing. */
    ck_assert_uint_eq(control(0, 0, 0), VIRTIO_NET_ERR); /* VIRTIO_NET_CTRL_RX, not offered */
    ck_assert_uint_eq(control(1, VIRTIO_NET_CTRL_ANNOUNCE, 1), VIRTIO_NET_ERR);
    ck_assert(virtio_net_announce_pending(dev));
    ck_assert_uint_eq(control(2, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK),
                      VIRTIO_NET_OK);
    ck_assert(!virtio_net_announce_pending(dev));
    ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_STATUS), VIRTIO_NET_S_LINK_UP);
    ck_assert_uint_eq(vd_used_idx(&guest, &ctrlq), 3);
    uint32_t id, len;
    vd_used_elem(&guest, &ctrlq, 2, &id, &len);
    ck_assert_uint_eq(id, 4);
    ck_assert_uint_eq(len, 1);
}
END_TEST

START_TEST(test_announce_needs_the_feature)
{
    bring_up(F(VIRTIO_NET_F_STATUS)); /* an older driver: no control queue */
    int edges = vd_edges(&guest);
    ck_assert(!virtio_net_announce(dev));
    ck_assert_int_eq(vd_edges(&guest), edges);
    ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_STATUS), VIRTIO_NET_S_LINK_UP);
}
END_TEST

START_TEST(test_control_malformed_needs_reset)
{
    bring_up_with_control(ANNOUNCE_FEATURES);
    /* A command with no status byte to answer in. */
    vd_at(&guest, CTRL_BUF)[0] = VIRTIO_NET_CTRL_ANNOUNCE;
    vd_put_desc(&guest, &ctrlq, 0, CTRL_BUF, 2, 0, 0);
    vd_offer(&guest, &ctrlq, 0);
    vd_write(dev, VD_QUEUE_NOTIFY, 2);
    ck_assert(vd_read(dev, VD_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_control_header_split_and_short)
{
    bring_up_with_control(ANNOUNCE_FEATURES);
    ck_assert(virtio_net_announce(dev));
    /* class and command in two descriptors: read across them */
    vd_at(&guest, CTRL_BUF)[0] = VIRTIO_NET_CTRL_ANNOUNCE;
    vd_at(&guest, CTRL_BUF + 0x10)[0] = VIRTIO_NET_CTRL_ANNOUNCE_ACK;
    vd_put_desc(&guest, &ctrlq, 0, CTRL_BUF, 1, VIRTQ_DESC_F_NEXT, 1);
    vd_put_desc(&guest, &ctrlq, 1, CTRL_BUF + 0x10, 1, VIRTQ_DESC_F_NEXT, 2);
    vd_put_desc(&guest, &ctrlq, 2, CTRL_BUF + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &ctrlq, 0);
    vd_write(dev, VD_QUEUE_NOTIFY, 2);
    ck_assert_uint_eq(vd_at(&guest, CTRL_BUF + 0x80)[0], VIRTIO_NET_OK);
    ck_assert(!virtio_net_announce_pending(dev));
    /* one readable byte only: no command to read */
    vd_put_desc(&guest, &ctrlq, 3, CTRL_BUF, 1, VIRTQ_DESC_F_NEXT, 4);
    vd_put_desc(&guest, &ctrlq, 4, CTRL_BUF + 0x80, 1, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &ctrlq, 3);
    vd_write(dev, VD_QUEUE_NOTIFY, 2);
    ck_assert(vd_read(dev, VD_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_receive_no_room_takes_nothing)
{
    bring_up(F(VIRTIO_NET_F_MRG_RXBUF));
    uint8_t f[3100];
    frame_of(f, sizeof(f));
    ck_assert_int_eq(virtio_net_receive(dev, f, sizeof(f)), -EAGAIN);
    offer_rx(0, 1526); /* not enough for 3100 + header: given back untouched */
    ck_assert_int_eq(virtio_net_receive(dev, f, sizeof(f)), -EAGAIN);
    ck_assert_uint_eq(vd_used_idx(&guest, &rxq), 0);
    offer_rx(1, 1526);
    offer_rx(2, 1526);
    ck_assert_int_eq(virtio_net_receive(dev, f, sizeof(f)), 0);
    ck_assert_uint_eq(vd_used_idx(&guest, &rxq), 3); /* merged over three */
    ck_assert_uint_eq(le16(vd_at(&guest, BUF) + VIRTIO_NET_HDR_NUM_BUFFERS), 3);
    uint8_t got[3100];
    memcpy(got, vd_at(&guest, BUF) + VIRTIO_NET_HDR_SIZE, 1526 - VIRTIO_NET_HDR_SIZE);
    memcpy(got + 1526 - VIRTIO_NET_HDR_SIZE, vd_at(&guest, BUF + 0x20000), 1526);
    size_t rest = sizeof(f) - (2 * 1526 - VIRTIO_NET_HDR_SIZE);
    memcpy(got + 2 * 1526 - VIRTIO_NET_HDR_SIZE, vd_at(&guest, BUF + 0x40000), rest);
    ck_assert_mem_eq(got, f, sizeof(f));
    uint32_t id, len;
    vd_used_elem(&guest, &rxq, 2, &id, &len);
    ck_assert_uint_eq(len, rest);
}
END_TEST

START_TEST(test_receive_too_small_without_merging)
{
    bring_up(0);
    offer_rx(0, 64);
    uint8_t f[100];
    frame_of(f, sizeof(f));
    ck_assert_int_eq(virtio_net_receive(dev, f, sizeof(f)), -EINVAL);
    uint32_t id, len;
    ck_assert_uint_eq(vd_used_idx(&guest, &rxq), 1);
    vd_used_elem(&guest, &rxq, 0, &id, &len);
    ck_assert_uint_eq(len, 0);
}
END_TEST

START_TEST(test_receive_readable_chain_needs_reset)
{
    bring_up(0);
    vd_put_desc(&guest, &rxq, 0, BUF, 2048, 0, 0);
    vd_offer(&guest, &rxq, 0);
    uint8_t f[60] = {0};
    ck_assert_int_eq(virtio_net_receive(dev, f, sizeof(f)), -ENODEV);
    ck_assert(vd_read(dev, VD_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_receive_frame_sizes)
{
    bring_up(0);
    uint8_t f[16] = {0};
    ck_assert_int_eq(virtio_net_receive(dev, f, VIRTIO_NET_ETH_HEADER - 1), -EINVAL);
    ck_assert_int_eq(virtio_net_receive(dev, f, VIRTIO_NET_MAX_FRAME + 1), -EINVAL);
}
END_TEST

START_TEST(test_new_mac_read_at_probe)
{
    const uint8_t mac[6] = {0x06, 1, 2, 3, 4, 5};
    virtio_net_set_mac(dev, mac);
    for (unsigned i = 0; i < 6; i++)
        ck_assert_uint_eq(vd_config_byte(dev, VIRTIO_NET_CFG_MAC + i), mac[i]);
}
END_TEST

/* ---- snapshot state ------------------------------------------------------------------------- */

START_TEST(test_state_round_trip)
{
    struct virtio_net_state st = {.mac = {0x02, 9, 8, 7, 6, 5}, .link_up = true}, back;
    struct device_state_bytes bytes = {0};
    char err[160];
    ck_assert_int_eq(virtio_net_state_encode(&st, &bytes), 0);
    ck_assert_int_eq(virtio_net_state_decode(bytes.data, bytes.len, &back, err, sizeof(err)), 0);
    ck_assert_mem_eq(back.mac, st.mac, 6);
    ck_assert(back.link_up);
    device_state_bytes_free(&bytes);
}
END_TEST

START_TEST(test_state_refused)
{
    struct virtio_net_state st;
    char err[160];
    /* field 1 (mac) of 5 bytes */
    const uint8_t short_mac[] = {0x0a, 5, 2, 1, 2, 3, 4};
    ck_assert_int_eq(virtio_net_state_decode(short_mac, sizeof(short_mac), &st, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "not 6"));
    const uint8_t multicast[] = {0x0a, 6, 1, 1, 2, 3, 4, 5};
    ck_assert_int_eq(virtio_net_state_decode(multicast, sizeof(multicast), &st, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "multicast"));
    const uint8_t garbage[] = {0x0a, 0x7f, 1};
    ck_assert_int_eq(virtio_net_state_decode(garbage, sizeof(garbage), &st, err, sizeof(err)),
                     -EINVAL);
    const uint8_t none[] = {0};
    ck_assert_int_eq(virtio_net_state_decode(none, 0, &st, err, sizeof(err)), -EINVAL); /* no MAC */
}
END_TEST

/* ---- user-mode network: options and filter ---------------------------------------------------- */

START_TEST(test_publish_parse)
{
    struct net_publish p;
    char err[160], text[64];
    ck_assert_int_eq(net_publish_parse("8080:80", &p, err, sizeof(err)), 0);
    ck_assert_uint_eq(ntohl(p.host_addr.s_addr), INADDR_LOOPBACK); /* docker's default is 0.0.0.0; ours is not */
    ck_assert_uint_eq(p.host_port, 8080);
    ck_assert_uint_eq(p.guest_port, 80);
    ck_assert(!p.udp);
    ck_assert_int_eq(net_publish_parse("127.0.0.2:5353:53/udp", &p, err, sizeof(err)), 0);
    ck_assert(p.udp);
    net_publish_format(&p, text, sizeof(text));
    ck_assert_str_eq(text, "127.0.0.2:5353:53/udp");
    const char *bad[] = {"", "80", ":80", "80:", "0:80", "80:65536", "x:80", "1.2.3:80:80",
                         "80:80/sctp", "80:80/", "-1:80", "80:8a", "999999:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(net_publish_parse(bad[i], &p, err, sizeof(err)) < 0, "%s", bad[i]);
}
END_TEST

START_TEST(test_net_config_parse)
{
    struct net_config c = {0};
    char err[160];
    ck_assert_int_eq(net_config_parse("user,host-loopback,publish=8080:80,publish=9:9/udp", &c,
                                      err, sizeof(err)), 0);
    ck_assert_int_eq(c.mode, NET_USER);
    ck_assert(c.host_loopback);
    ck_assert_uint_eq(c.num_publish, 2);
    ck_assert_int_eq(net_config_parse("none", &c, err, sizeof(err)), 0);
    ck_assert_int_eq(c.mode, NET_NONE);
    ck_assert_int_lt(net_config_parse("tap", &c, err, sizeof(err)), 0);
    ck_assert_int_lt(net_config_parse("user,loopback", &c, err, sizeof(err)), 0);
    ck_assert_int_lt(net_config_parse("user,publish=80", &c, err, sizeof(err)), 0);
}
END_TEST

static size_t ipv4_frame(uint8_t *f, const uint8_t dst[4], uint8_t proto, uint16_t port)
{
    memset(f, 0, 64);
    f[12] = 0x08, f[13] = 0x00;
    uint8_t *ip = f + 14;
    ip[0] = 0x45, ip[9] = proto;
    memcpy(ip + 12, (uint8_t[]){10, 0, 2, 15}, 4);
    memcpy(ip + 16, dst, 4);
    ip[22] = (uint8_t)(port >> 8), ip[23] = (uint8_t)port;
    return 14 + 20 + 20;
}

START_TEST(test_frame_filter)
{
    uint8_t f[80];
    size_t len = ipv4_frame(f, (uint8_t[]){127, 0, 0, 1}, 6, 80);
    ck_assert(!net_frame_allowed(f, len, false));
    ck_assert(net_frame_allowed(f, len, true));
    len = ipv4_frame(f, (uint8_t[]){0, 0, 0, 0}, 6, 80);
    ck_assert(!net_frame_allowed(f, len, false));
    len = ipv4_frame(f, (uint8_t[]){127, 9, 9, 9}, 17, 80);
    ck_assert(!net_frame_allowed(f, len, false));
    len = ipv4_frame(f, (uint8_t[]){93, 184, 216, 34}, 6, 80);
    ck_assert(net_frame_allowed(f, len, false));
    /* The host at the gateway: no connection opened, no UDP but DHCP; the
     * guest's side of connections the host opened (published ports) goes on. */
    len = ipv4_frame(f, (uint8_t[]){10, 0, 2, 2}, 6, 80);
    f[14 + 20 + 13] = 0x02; /* SYN */
    ck_assert(!net_frame_allowed(f, len, false));
    ck_assert(net_frame_allowed(f, len, true));
    f[14 + 20 + 13] = 0x12; /* SYN+ACK: the guest accepting */
    ck_assert(net_frame_allowed(f, len, false));
    f[14 + 20 + 13] = 0x18; /* data */
    ck_assert(net_frame_allowed(f, len, false));
    ck_assert(!net_frame_allowed(f, 14 + 20 + 19, false)); /* no room for the flags */
    f[14 + 6] = 0x01; /* a later fragment: no header, its first decides */
    ck_assert(net_frame_allowed(f, len, false));
    len = ipv4_frame(f, (uint8_t[]){10, 0, 2, 2}, 17, 53);
    ck_assert(!net_frame_allowed(f, len, false));
    len = ipv4_frame(f, (uint8_t[]){10, 0, 2, 2}, 17, 67); /* DHCP */
    ck_assert(net_frame_allowed(f, len, false));
    len = ipv4_frame(f, (uint8_t[]){10, 0, 2, 2}, 1, 0); /* ping: libslirp answers */
    ck_assert(net_frame_allowed(f, len, false));
    len = ipv4_frame(f, (uint8_t[]){10, 0, 2, 3}, 17, 53);
    ck_assert(net_frame_allowed(f, len, false));
    len = ipv4_frame(f, (uint8_t[]){10, 0, 2, 3}, 6, 53);
    ck_assert(net_frame_allowed(f, len, false));
    len = ipv4_frame(f, (uint8_t[]){10, 0, 2, 3}, 6, 22);
    ck_assert(!net_frame_allowed(f, len, false));
    ck_assert(net_frame_allowed(f, len, true));
    len = ipv4_frame(f, (uint8_t[]){10, 0, 2, 3}, 6, 53);
    ck_assert(!net_frame_allowed(f, 14 + 20 + 2, false)); /* no room for the port */
    /* IPv6 ::1, ::, ::ffff:127.0.0.1 */
    uint8_t g[80] = {0};
    g[12] = 0x86, g[13] = 0xdd;
    g[14 + 24 + 15] = 1;
    ck_assert(!net_frame_allowed(g, 14 + 40, false));
    g[14 + 24 + 15] = 0;
    ck_assert(!net_frame_allowed(g, 14 + 40, false));
    g[14 + 24 + 10] = g[14 + 24 + 11] = 0xff;
    g[14 + 24 + 12] = 127;
    ck_assert(!net_frame_allowed(g, 14 + 40, false));
    g[14 + 24 + 12] = 93;
    ck_assert(net_frame_allowed(g, 14 + 40, false));
    /* fec0::2 and the rest of libslirp's prefix are the host; fec0::3 is DNS. */
    uint8_t *dst6 = g + 14 + 24, *tcp6 = g + 14 + 40;
    memset(dst6, 0, 16);
    dst6[0] = 0xfe, dst6[1] = 0xc0, dst6[15] = 2;
    g[14 + 6] = 6, tcp6[2] = 0, tcp6[3] = 80, tcp6[13] = 0x02;
    ck_assert(!net_frame_allowed(g, 14 + 40 + 20, false));
    ck_assert(net_frame_allowed(g, 14 + 40 + 20, true));
    dst6[15] = 0x99;
    ck_assert(!net_frame_allowed(g, 14 + 40 + 20, false));
    tcp6[13] = 0x10; /* the guest's side of a connection opened to it */
    ck_assert(net_frame_allowed(g, 14 + 40 + 20, false));
    g[14 + 6] = 17;
    ck_assert(!net_frame_allowed(g, 14 + 40 + 8, false));
    g[14 + 6] = 58; /* ICMPv6: libslirp's own */
    ck_assert(net_frame_allowed(g, 14 + 40 + 8, false));
    dst6[15] = 3, g[14 + 6] = 17, tcp6[3] = 53;
    ck_assert(net_frame_allowed(g, 14 + 40 + 8, false));
    tcp6[3] = 22;
    ck_assert(!net_frame_allowed(g, 14 + 40 + 8, false));
    ck_assert(!net_frame_allowed(g, 13, true)); /* not even an Ethernet header */
}
END_TEST

/* A TCP segment in IPv4 (or IPv6) with a 20-byte TCP header, flags and
 * payload bytes of data; returns the frame's length. */
static size_t tcp_frame(uint8_t *f, bool v6, uint8_t flags, size_t payload)
{
    memset(f, 0, 128);
    uint8_t *ip = f + 14, *tcp;
    if (v6) {
        f[12] = 0x86, f[13] = 0xdd;
        ip[0] = 0x60, ip[6] = 6;
        ip[4] = (uint8_t)((20 + payload) >> 8), ip[5] = (uint8_t)(20 + payload);
        tcp = ip + 40;
    } else {
        f[12] = 0x08, f[13] = 0x00;
        ip[0] = 0x45, ip[9] = 6;
        ip[2] = (uint8_t)((40 + payload) >> 8), ip[3] = (uint8_t)(40 + payload);
        tcp = ip + 20;
    }
    tcp[12] = 5 << 4, tcp[13] = flags;
    return (size_t)(tcp - f) + 20 + payload;
}

START_TEST(test_pure_ack)
{
    uint8_t f[128];
    for (int v6 = 0; v6 < 2; v6++) {
        size_t len = tcp_frame(f, v6, 0x10, 0);
        ck_assert(net_frame_is_pure_ack(f, len));
        /* Ethernet pads short frames: the IP length is what counts. */
        ck_assert(net_frame_is_pure_ack(f, len + 6));
        ck_assert(!net_frame_is_pure_ack(f, len - 1)); /* header cut short */
        len = tcp_frame(f, v6, 0x10, 1); /* data */
        ck_assert(!net_frame_is_pure_ack(f, len));
        len = tcp_frame(f, v6, 0x18, 0); /* PSH */
        ck_assert(!net_frame_is_pure_ack(f, len));
        len = tcp_frame(f, v6, 0x11, 0); /* FIN */
        ck_assert(!net_frame_is_pure_ack(f, len));
        len = tcp_frame(f, v6, 0x12, 0); /* SYN */
        ck_assert(!net_frame_is_pure_ack(f, len));
        len = tcp_frame(f, v6, 0x14, 0); /* RST */
        ck_assert(!net_frame_is_pure_ack(f, len));
        len = tcp_frame(f, v6, 0x10, 0);
        f[14 + (v6 ? 40 : 20) + 12] = 4 << 4; /* a TCP header shorter than 20 */
        ck_assert(!net_frame_is_pure_ack(f, len));
        len = tcp_frame(f, v6, 0x10, 0);
        f[14 + (v6 ? 40 : 20) + 12] = 8 << 4; /* options claimed beyond the segment */
        ck_assert(!net_frame_is_pure_ack(f, len));
    }
    size_t len = tcp_frame(f, false, 0x10, 0);
    f[14 + 9] = 17; /* UDP */
    ck_assert(!net_frame_is_pure_ack(f, len));
    len = tcp_frame(f, false, 0x10, 0);
    f[14 + 6] = 0x20; /* more fragments */
    ck_assert(!net_frame_is_pure_ack(f, len));
    len = tcp_frame(f, false, 0x10, 0);
    f[14 + 3] = 200; /* longer than the frame */
    ck_assert(!net_frame_is_pure_ack(f, len));
    len = tcp_frame(f, false, 0x10, 0);
    f[14] = 0x44; /* an IP header shorter than 20 */
    ck_assert(!net_frame_is_pure_ack(f, len));
    len = tcp_frame(f, true, 0x10, 0);
    f[14 + 6] = 0; /* an extension header first */
    ck_assert(!net_frame_is_pure_ack(f, len));
    len = tcp_frame(f, true, 0x10, 0);
    f[14 + 5] = 200; /* a payload length beyond the frame */
    ck_assert(!net_frame_is_pure_ack(f, len));
    ck_assert(!net_frame_is_pure_ack(f, 10));
    f[12] = 0x08, f[13] = 0x06; /* ARP */
    ck_assert(!net_frame_is_pure_ack(f, 60));
}
END_TEST

START_TEST(test_mac_from_name_and_secret)
{
    char dir[] = "/tmp/ignition-net-mac-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char state[64];
    snprintf(state, sizeof(state), "%s/state", dir); /* made on first use */
    uint8_t secret[NET_MAC_SECRET_BYTES], again[NET_MAC_SECRET_BYTES];
    ck_assert_int_eq(net_mac_secret(state, secret), 0);
    ck_assert_int_eq(net_mac_secret(state, again), 0);
    ck_assert_mem_eq(secret, again, sizeof(secret)); /* kept, not made anew */
    char path[96];
    snprintf(path, sizeof(path), "%s/net-secret", state);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    uint8_t a[6], b[6], c[6];
    net_mac_derive(secret, "demo", a);
    net_mac_derive(secret, "demo", b);
    net_mac_derive(secret, "demo-1", c);
    ck_assert_mem_eq(a, b, 6);
    ck_assert(memcmp(a, c, 6) != 0);
    ck_assert_uint_eq(a[0] & 3, 2); /* locally administered, unicast */
    ck_assert_uint_eq(c[0] & 3, 2);
    secret[0] ^= 1; /* another host */
    net_mac_derive(secret, "demo", b);
    ck_assert(memcmp(a, b, 6) != 0);
    char text[18];
    net_mac_format(a, text);
    ck_assert_uint_eq(strlen(text), 17);
    unlink(path);
    rmdir(state);
    rmdir(dir);
}
END_TEST

static Suite *virtio_net_suite(void)
{
    Suite *s = suite_create("virtio_net");
    TCase *hdr = tcase_create("header");
    tcase_add_test(hdr, test_tx_plain_frame_ok);
    tcase_add_test(hdr, test_tx_short_header);
    tcase_add_test(hdr, test_tx_unknown_flags);
    tcase_add_test(hdr, test_tx_csum_needs_the_feature);
    tcase_add_test(hdr, test_tx_gso_refused);
    tcase_add_test(hdr, test_tx_csum_range);
    tcase_add_test(hdr, test_tx_frame_lengths);
    tcase_add_test(hdr, test_tx_csum_completed);
    suite_add_tcase(s, hdr);
    TCase *d = tcase_create("device");
    tcase_add_checked_fixture(d, setup, teardown);
    tcase_add_test(d, test_config_space);
    tcase_add_test(d, test_link_change_raises_config_interrupt);
    tcase_add_test(d, test_transmit_delivers_and_returns);
    tcase_add_test(d, test_transmit_bounded_batches);
    tcase_add_test(d, test_transmit_writable_chain_needs_reset);
    tcase_add_test(d, test_transmit_before_driver_ok);
    tcase_add_test(d, test_receive_one_buffer);
    tcase_add_test(d, test_batch_one_interrupt);
    tcase_add_test(d, test_batch_respects_used_event);
    tcase_add_test(d, test_announce_and_ack);
    tcase_add_test(d, test_announce_needs_the_feature);
    tcase_add_test(d, test_control_malformed_needs_reset);
    tcase_add_test(d, test_control_header_split_and_short);
    tcase_add_test(d, test_receive_no_room_takes_nothing);
    tcase_add_test(d, test_receive_too_small_without_merging);
    tcase_add_test(d, test_receive_readable_chain_needs_reset);
    tcase_add_test(d, test_receive_frame_sizes);
    tcase_add_test(d, test_new_mac_read_at_probe);
    suite_add_tcase(s, d);
    TCase *st = tcase_create("state");
    tcase_add_test(st, test_state_round_trip);
    tcase_add_test(st, test_state_refused);
    suite_add_tcase(s, st);
    TCase *u = tcase_create("user");
    tcase_add_test(u, test_publish_parse);
    tcase_add_test(u, test_net_config_parse);
    tcase_add_test(u, test_frame_filter);
    tcase_add_test(u, test_pure_ack);
    tcase_add_test(u, test_mac_from_name_and_secret);
    suite_add_tcase(s, u);
    return s;
}

int main(void)
{
    return run_suite(virtio_net_suite());
}
