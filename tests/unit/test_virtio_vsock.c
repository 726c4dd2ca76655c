/* virtio-vsock: every check on a sent packet's header
 * (virtio_vsock_check_tx), the credit rules (vsock_credit_*), the device
 * through the real transport with a guest driver laid out as Linux's
 * (packets sent and delivered, receive buffers in one or two descriptors,
 * no room, buffers too small, the transport-reset event, the CID), its
 * snapshot state, and the host end (worker/vsock_host.c) on a real event
 * loop with real Unix sockets: both directions of connection, the guest's
 * credit holding the host back, a guest sending beyond its credit reset. */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "byteorder.h"
#include "devices/device_state.h"
#include "devices/virtio.h"
#include "devices/virtio_vsock.h"
#include "unit.h"
#include "unixsock.h"
#include "virtio_driver.h"
#include "worker/vsock_host.h"

#define RAM_SIZE (8u << 20)
#define BASE 0x0a000000ull
#define QSIZE 64
#define RXQ_AT (VD_RAM_GPA + 0x10000)
#define TXQ_AT (VD_RAM_GPA + 0x20000)
#define EVQ_AT (VD_RAM_GPA + 0x30000)
#define RX_BUF (VD_RAM_GPA + 0x100000) /* QSIZE buffers of RX_BUF_SIZE */
#define TX_BUF (VD_RAM_GPA + 0x300000) /* QSIZE buffers of 0x11000 */
#define EV_BUF (VD_RAM_GPA + 0x7f0000)
#define RX_BUF_SIZE 0x1100 /* a header and 4 KiB of payload, as Linux's */
#define TX_SLOT 0x11000
#define GUEST_CID 42
#define VERSION_1 (1ull << VIRTIO_F_VERSION_1)

/* ---- header checks ---------------------------------------------------------------------- */

static size_t packet(uint8_t *buf, uint16_t op, uint32_t payload)
{
    struct vsock_hdr h = {.src_cid = GUEST_CID, .dst_cid = VSOCK_CID_HOST, .src_port = 1025,
                          .dst_port = 80, .len = payload, .type = VSOCK_TYPE_STREAM, .op = op,
                          .buf_alloc = 1 << 18};
    vsock_hdr_encode(&h, buf);
    memset(buf + VSOCK_HDR_SIZE, 'x', payload);
    return VSOCK_HDR_SIZE + payload;
}

static enum virtio_vsock_tx_verdict check(const uint8_t *buf, size_t len)
{
    struct vsock_hdr h;
    return virtio_vsock_check_tx(buf, len, GUEST_CID, &h);
}

START_TEST(test_tx_valid_packets)
{
    static uint8_t buf[VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD];
    struct vsock_hdr h;
    for (uint16_t op = VSOCK_OP_REQUEST; op <= VSOCK_OP_CREDIT_REQUEST; op++) {
        size_t len = packet(buf, op, op == VSOCK_OP_RW ? 100 : 0);
        ck_assert_int_eq(virtio_vsock_check_tx(buf, len, GUEST_CID, &h), VIRTIO_VSOCK_TX_OK);
        ck_assert_uint_eq(h.op, op);
        ck_assert_uint_eq(h.src_port, 1025);
        ck_assert_uint_eq(h.dst_port, 80);
        ck_assert_uint_eq(h.buf_alloc, 1 << 18);
    }
    size_t len = packet(buf, VSOCK_OP_RW, VSOCK_MAX_PAYLOAD);
    ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_OK);
    for (uint32_t flags = 0; flags < 4; flags++) {
        len = packet(buf, VSOCK_OP_SHUTDOWN, 0);
        le_put(buf + VSOCK_HDR_FLAGS, flags, 4);
        ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_OK);
    }
}
END_TEST

START_TEST(test_tx_short_header)
{
    uint8_t buf[VSOCK_HDR_SIZE];
    packet(buf, VSOCK_OP_REQUEST, 0);
    for (size_t len = 0; len < VSOCK_HDR_SIZE; len++)
        ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_SHORT_HEADER);
}
END_TEST

START_TEST(test_tx_cids)
{
    uint8_t buf[VSOCK_HDR_SIZE];
    size_t len = packet(buf, VSOCK_OP_REQUEST, 0);
    static const uint64_t not_ours[] = {0, 1, 2, 3, GUEST_CID + 1, 0xffffffffu,
                                        GUEST_CID | 1ull << 32};
    for (size_t i = 0; i < sizeof(not_ours) / sizeof(not_ours[0]); i++) {
        le_put(buf + VSOCK_HDR_SRC_CID, not_ours[i], 8);
        ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_BAD_SRC_CID);
    }
    packet(buf, VSOCK_OP_REQUEST, 0);
    static const uint64_t not_host[] = {0, 1, 3, GUEST_CID, 0xffffffffu, 2ull | 1ull << 32};
    for (size_t i = 0; i < sizeof(not_host) / sizeof(not_host[0]); i++) {
        le_put(buf + VSOCK_HDR_DST_CID, not_host[i], 8);
        ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_BAD_DST_CID);
    }
}
END_TEST

START_TEST(test_tx_type_and_op)
{
    uint8_t buf[VSOCK_HDR_SIZE];
    size_t len = packet(buf, VSOCK_OP_REQUEST, 0);
    static const uint16_t types[] = {0, 2, 3, 0xffff}; /* SEQPACKET is not offered */
    for (size_t i = 0; i < 4; i++) {
        le_put(buf + VSOCK_HDR_TYPE, types[i], 2);
        ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_BAD_TYPE);
    }
    packet(buf, VSOCK_OP_REQUEST, 0);
    static const uint16_t ops[] = {VSOCK_OP_INVALID, 8, 9, 0x100, 0xffff};
    for (size_t i = 0; i < 5; i++) {
        le_put(buf + VSOCK_HDR_OP, ops[i], 2);
        ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_BAD_OP);
    }
}
END_TEST

START_TEST(test_tx_lengths)
{
    static uint8_t buf[VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD + 1];
    size_t len = packet(buf, VSOCK_OP_RW, 100);
    le_put(buf + VSOCK_HDR_LEN, 101, 4); /* claims more than follows */
    ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_LEN_MISMATCH);
    le_put(buf + VSOCK_HDR_LEN, 99, 4); /* less */
    ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_LEN_MISMATCH);
    le_put(buf + VSOCK_HDR_LEN, 0xffffffffu, 4);
    ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_TOO_LONG);
    len = packet(buf, VSOCK_OP_RW, VSOCK_MAX_PAYLOAD + 1);
    ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_TOO_LONG);
    for (uint16_t op = VSOCK_OP_REQUEST; op <= VSOCK_OP_CREDIT_REQUEST; op++) {
        if (op == VSOCK_OP_RW)
            continue;
        len = packet(buf, op, 1);
        ck_assert_int_eq(check(buf, len), VIRTIO_VSOCK_TX_PAYLOAD_ON_CONTROL);
    }
}
END_TEST

START_TEST(test_tx_flags)
{
    uint8_t buf[VSOCK_HDR_SIZE + 8];
    for (uint16_t op = VSOCK_OP_REQUEST; op <= VSOCK_OP_CREDIT_REQUEST; op++) {
        size_t len = packet(buf, op, op == VSOCK_OP_RW ? 8 : 0);
        for (unsigned bit = 0; bit < 32; bit++) {
            le_put(buf + VSOCK_HDR_FLAGS, 1u << bit, 4);
            bool allowed = op == VSOCK_OP_SHUTDOWN && bit < 2;
            ck_assert_int_eq(check(buf, len),
                             allowed ? VIRTIO_VSOCK_TX_OK : VIRTIO_VSOCK_TX_BAD_FLAGS);
        }
    }
}
END_TEST

START_TEST(test_verdict_texts)
{
    for (int v = 0; v < VIRTIO_VSOCK_TX_VERDICTS; v++)
        ck_assert_str_ne(virtio_vsock_tx_verdict_text(v), "?");
}
END_TEST

/* ---- credit ------------------------------------------------------------------------------ */

START_TEST(test_credit_peer_window)
{
    struct vsock_credit c = {0};
    ck_assert(vsock_credit_peer_update(&c, 1000, 0));
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 1000);
    vsock_credit_sent(&c, 600);
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 400);
    vsock_credit_sent(&c, 400);
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 0);
    ck_assert(vsock_credit_peer_update(&c, 1000, 600)); /* it passed 600 on */
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 600);
    ck_assert(vsock_credit_peer_update(&c, 100, 600)); /* shrank below what is in flight */
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 0);
    ck_assert(vsock_credit_peer_update(&c, 0, 1000));
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 0); /* buf_alloc 0: nothing */
}
END_TEST

START_TEST(test_credit_peer_fwd_cnt_checked)
{
    struct vsock_credit c = {0};
    ck_assert(!vsock_credit_peer_update(&c, 1000, 1)); /* nothing was sent */
    ck_assert_uint_eq(c.peer_buf_alloc, 0);             /* and nothing was taken */
    vsock_credit_sent(&c, 500);
    ck_assert(!vsock_credit_peer_update(&c, 1000, 501));
    ck_assert(vsock_credit_peer_update(&c, 1000, 300));
    ck_assert(!vsock_credit_peer_update(&c, 1000, 299)); /* it cannot take back */
    ck_assert(!vsock_credit_peer_update(&c, 1000, 0xffffffffu));
    ck_assert(vsock_credit_peer_update(&c, 1000, 500));
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 1000);
}
END_TEST

START_TEST(test_credit_counters_wrap)
{
    struct vsock_credit c = {.tx_cnt = 0xfffffff0u, .peer_fwd_cnt = 0xfffffff0u,
                             .peer_buf_alloc = 64};
    vsock_credit_sent(&c, 32); /* tx_cnt wraps to 0x10 */
    ck_assert_uint_eq(c.tx_cnt, 0x10);
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 32);
    ck_assert(vsock_credit_peer_update(&c, 64, 0x8));
    ck_assert_uint_eq(vsock_credit_peer_free(&c), 56);
    ck_assert(!vsock_credit_peer_update(&c, 64, 0x11));
    struct vsock_credit r = {.buf_alloc = 100, .rx_cnt = 0xffffffceu, .fwd_cnt = 0xffffffceu,
                             .fwd_cnt_told = 0xffffffceu};
    ck_assert(vsock_credit_receive(&r, 100));
    ck_assert_uint_eq(vsock_credit_held(&r), 100);
    ck_assert(!vsock_credit_receive(&r, 1));
    vsock_credit_forwarded(&r, 60);
    ck_assert_uint_eq(vsock_credit_held(&r), 40);
}
END_TEST

START_TEST(test_credit_receive_bounded)
{
    struct vsock_credit c = {.buf_alloc = 1000};
    ck_assert(vsock_credit_receive(&c, 600));
    ck_assert(!vsock_credit_receive(&c, 401)); /* beyond the offer: refused, not counted */
    ck_assert_uint_eq(vsock_credit_held(&c), 600);
    ck_assert(vsock_credit_receive(&c, 400));
    ck_assert(!vsock_credit_receive(&c, 1));
    vsock_credit_forwarded(&c, 250);
    ck_assert(vsock_credit_receive(&c, 250));
    ck_assert(!vsock_credit_receive(&c, 1));
    ck_assert(vsock_credit_receive(&c, 0));
}
END_TEST

START_TEST(test_credit_update_due)
{
    struct vsock_credit c = {.buf_alloc = 1000};
    ck_assert(!vsock_credit_update_due(&c));
    ck_assert(vsock_credit_receive(&c, 400));
    vsock_credit_forwarded(&c, 400);
    /* The guest thinks 600 free: more than half, nothing to say yet. */
    ck_assert(!vsock_credit_update_due(&c));
    ck_assert(vsock_credit_receive(&c, 200));
    vsock_credit_forwarded(&c, 1);
    ck_assert(vsock_credit_update_due(&c)); /* it thinks 400 free, and we freed some */
    vsock_credit_told(&c);
    ck_assert(!vsock_credit_update_due(&c));
    ck_assert(vsock_credit_receive(&c, 800)); /* really free: 1000 - 199 */
    ck_assert(!vsock_credit_update_due(&c)); /* nothing freed since it was told */
    vsock_credit_forwarded(&c, 999);
    ck_assert(vsock_credit_update_due(&c));
}
END_TEST

/* ---- the device through the transport ---------------------------------------------------- */

static struct vd_guest guest;
static struct vd_queue rxq, txq, evq;
static struct device *dev;
static int kicks;
static uint16_t rx_offered, tx_slot;

static void count_kick(void *opaque)
{
    (void)opaque;
    kicks++;
}

static void device_setup_with(const struct virtio_vsock_backend *backend)
{
    vd_guest_init(&guest, RAM_SIZE);
    kicks = 0;
    rx_offered = tx_slot = 0;
    dev = virtio_vsock_create(BASE, vd_irq(&guest, 49), &guest.ram, GUEST_CID, backend);
    ck_assert_ptr_nonnull(dev);
}

static void setup(void)
{
    struct virtio_vsock_backend backend = {.kick = count_kick};
    device_setup_with(&backend);
}

static void teardown(void)
{
    dev->ops->destroy(dev);
    vd_guest_free(&guest);
}

static void bring_up(void)
{
    vd_negotiate(dev, VERSION_1);
    rxq = vd_queue_at(RXQ_AT, QSIZE);
    txq = vd_queue_at(TXQ_AT, QSIZE);
    evq = vd_queue_at(EVQ_AT, 8);
    vd_enable_queue(dev, 0, &rxq);
    vd_enable_queue(dev, 1, &txq);
    vd_enable_queue(dev, 2, &evq);
    vd_driver_ok(dev);
}

/* A receive buffer: one descriptor of header and payload (Linux 6.2 on), or
 * the header and the payload apart (earlier Linux). */
static void offer_rx(bool split)
{
    uint16_t i = rx_offered % QSIZE;
    uint64_t at = RX_BUF + (uint64_t)RX_BUF_SIZE * i;
    if (split) {
        vd_put_desc(&guest, &rxq, i, at, VSOCK_HDR_SIZE, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
                    (uint16_t)(i + 1));
        vd_put_desc(&guest, &rxq, (uint16_t)(i + 1), at + VSOCK_HDR_SIZE,
                    RX_BUF_SIZE - VSOCK_HDR_SIZE, VIRTQ_DESC_F_WRITE, 0);
        rx_offered++; /* the second descriptor's slot too */
    } else {
        vd_put_desc(&guest, &rxq, i, at, RX_BUF_SIZE, VIRTQ_DESC_F_WRITE, 0);
    }
    vd_offer(&guest, &rxq, i);
    rx_offered++;
}

/* The packet the device put into used entry n of the receive queue. */
static const uint8_t *received(uint16_t n, struct vsock_hdr *h)
{
    uint32_t id, len;
    vd_used_elem(&guest, &rxq, n, &id, &len);
    const uint8_t *p = vd_at(&guest, RX_BUF + (uint64_t)RX_BUF_SIZE * id);
    vsock_hdr_decode(p, h);
    ck_assert_uint_eq(len, VSOCK_HDR_SIZE + h->len);
    return p + VSOCK_HDR_SIZE;
}

/* The guest sends one packet (header and payload in one descriptor). */
static void guest_send(const struct vsock_hdr *h, const void *payload)
{
    uint16_t i = tx_slot % QSIZE;
    uint64_t at = TX_BUF + (uint64_t)TX_SLOT * (tx_slot % 32);
    vsock_hdr_encode(h, vd_at(&guest, at));
    if (h->len)
        memcpy(vd_at(&guest, at + VSOCK_HDR_SIZE), payload, h->len);
    vd_put_desc(&guest, &txq, i, at, VSOCK_HDR_SIZE + h->len, 0, 0);
    vd_offer(&guest, &txq, i);
    tx_slot++;
}

static struct vsock_hdr guest_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
    return (struct vsock_hdr){.src_cid = GUEST_CID, .dst_cid = VSOCK_CID_HOST,
                              .src_port = src_port, .dst_port = dst_port,
                              .type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = 8192};
}

static struct vsock_hdr seen[8];
static uint8_t seen_payload[8][16];
static unsigned num_seen;

static void record(void *opaque, const struct vsock_hdr *h, const uint8_t *payload)
{
    (void)opaque;
    if (num_seen < 8) {
        seen[num_seen] = *h;
        memcpy(seen_payload[num_seen], payload, h->len < 16 ? h->len : 16);
    }
    num_seen++;
}

START_TEST(test_config_cid)
{
    ck_assert_uint_eq(vd_read(dev, VD_DEVICE_ID), VIRTIO_ID_VSOCK);
    ck_assert_uint_eq(dev->ops->read(dev, VD_CONFIG, 8), GUEST_CID);
    ck_assert_uint_eq(dev->ops->read(dev, VD_CONFIG + 4, 4), 0); /* upper half reserved */
    virtio_vsock_set_cid(dev, 0x12345678);
    ck_assert_uint_eq(dev->ops->read(dev, VD_CONFIG, 4), 0x12345678);
    ck_assert_uint_eq(virtio_vsock_cid(dev), 0x12345678);
    ck_assert_uint_eq(dev->ops->read(dev, VD_CONFIG + 8, 4), 0); /* past the config */
    vd_write(dev, VD_DEV_FEATURES_SEL, 0);
    ck_assert_uint_eq(vd_read(dev, VD_DEV_FEATURES) & 0xffffff, 0); /* stream only: no bits */
    struct virtio_vsock_backend none = {0};
    ck_assert_ptr_null(virtio_vsock_create(BASE, vd_irq(&guest, 49), &guest.ram, 2, &none));
    ck_assert_ptr_null(virtio_vsock_create(BASE, vd_irq(&guest, 49), &guest.ram,
                                           0xffffffffu, &none));
}
END_TEST

START_TEST(test_transmit_checks_and_returns)
{
    bring_up();
    struct vsock_hdr h = guest_hdr(VSOCK_OP_REQUEST, 1025, 80);
    guest_send(&h, NULL);
    h = guest_hdr(VSOCK_OP_RW, 1025, 80);
    h.len = 5;
    guest_send(&h, "hello");
    h.src_cid = GUEST_CID + 1; /* spoofed: dropped, its buffer still returned */
    guest_send(&h, "hello");
    vd_write(dev, VD_QUEUE_NOTIFY, 1);
    ck_assert_int_eq(kicks, 1);
    ck_assert_uint_eq(virtio_vsock_transmit(dev, 64, record, NULL), 3);
    ck_assert_uint_eq(num_seen, 2);
    ck_assert_uint_eq(seen[0].op, VSOCK_OP_REQUEST);
    ck_assert_uint_eq(seen[1].len, 5);
    ck_assert_mem_eq(seen_payload[1], "hello", 5);
    ck_assert_uint_eq(vd_used_idx(&guest, &txq), 3);
    struct virtio_vsock_stats st;
    virtio_vsock_get_stats(dev, &st);
    ck_assert_uint_eq(st.tx_packets, 2);
    ck_assert_uint_eq(st.tx_refused[VIRTIO_VSOCK_TX_BAD_SRC_CID], 1);
}
END_TEST

START_TEST(test_transmit_bad_chains)
{
    bring_up();
    ck_assert_uint_eq(virtio_vsock_transmit(dev, 2, record, NULL), 0); /* nothing there */
    vd_put_desc(&guest, &txq, 0, TX_BUF, 64, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &txq, 0);
    ck_assert_uint_eq(virtio_vsock_transmit(dev, 64, record, NULL), 0);
    ck_assert_uint_eq(num_seen, 0);
    ck_assert(vd_read(dev, VD_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

static long fill_hello(void *opaque, struct vsock_hdr *h, uint8_t *payload, size_t room)
{
    size_t *room_seen = opaque;
    *room_seen = room;
    h->src_port = 1234, h->dst_port = 5678, h->op = VSOCK_OP_RW, h->buf_alloc = 77;
    h->fwd_cnt = 9;
    memcpy(payload, "hello", 5);
    return 5;
}

static long fill_nothing(void *opaque, struct vsock_hdr *h, uint8_t *payload, size_t room)
{
    (void)opaque, (void)h, (void)payload, (void)room;
    return -1;
}

static void check_hello(uint16_t n)
{
    struct vsock_hdr h;
    const uint8_t *payload = received(n, &h);
    ck_assert_uint_eq(h.src_cid, VSOCK_CID_HOST);
    ck_assert_uint_eq(h.dst_cid, GUEST_CID);
    ck_assert_uint_eq(h.type, VSOCK_TYPE_STREAM);
    ck_assert_uint_eq(h.op, VSOCK_OP_RW);
    ck_assert_uint_eq(h.src_port, 1234);
    ck_assert_uint_eq(h.dst_port, 5678);
    ck_assert_uint_eq(h.buf_alloc, 77);
    ck_assert_uint_eq(h.fwd_cnt, 9);
    ck_assert_uint_eq(h.len, 5);
    ck_assert_mem_eq(payload, "hello", 5);
}

START_TEST(test_receive_one_and_two_descriptors)
{
    bring_up();
    size_t room = 0;
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_hello, &room), -EAGAIN);
    ck_assert_uint_eq(room, 0); /* fill is not asked without a buffer */
    offer_rx(false);
    offer_rx(true);
    int edges = vd_edges(&guest);
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_hello, &room), 0);
    ck_assert_uint_eq(room, RX_BUF_SIZE - VSOCK_HDR_SIZE);
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_hello, &room), 0);
    ck_assert_uint_eq(vd_used_idx(&guest, &rxq), 2);
    ck_assert_int_gt(vd_edges(&guest), edges);
    check_hello(0);
    check_hello(1);
}
END_TEST

START_TEST(test_receive_nothing_to_say_keeps_the_buffer)
{
    bring_up();
    offer_rx(false);
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_nothing, NULL), -ENODATA);
    ck_assert_uint_eq(vd_used_idx(&guest, &rxq), 0);
    size_t room;
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_hello, &room), 0); /* the same buffer */
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_hello, &room), -EAGAIN);
    check_hello(0);
}
END_TEST

START_TEST(test_receive_bad_buffers)
{
    bring_up();
    size_t room;
    vd_put_desc(&guest, &rxq, 0, RX_BUF, VSOCK_HDR_SIZE - 1, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &rxq, 0);
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_hello, &room), -ENODEV);
    ck_assert(vd_read(dev, VD_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_receive_readable_buffer)
{
    bring_up();
    size_t room;
    vd_put_desc(&guest, &rxq, 0, RX_BUF, RX_BUF_SIZE, 0, 0);
    vd_offer(&guest, &rxq, 0);
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_hello, &room), -ENODEV);
    ck_assert(vd_read(dev, VD_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_before_driver_ok)
{
    vd_negotiate(dev, VERSION_1);
    size_t room;
    ck_assert_uint_eq(virtio_vsock_transmit(dev, 64, record, NULL), 0);
    ck_assert_int_eq(virtio_vsock_receive(dev, fill_hello, &room), -ENODEV);
    ck_assert_int_eq(virtio_vsock_send_transport_reset(dev), -ENODEV);
    ck_assert(!virtio_vsock_running(dev));
}
END_TEST

START_TEST(test_transport_reset_event)
{
    bring_up();
    ck_assert_int_eq(virtio_vsock_send_transport_reset(dev), -EAGAIN);
    memset(vd_at(&guest, EV_BUF), 0xff, 4);
    vd_put_desc(&guest, &evq, 0, EV_BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &evq, 0);
    ck_assert_int_eq(virtio_vsock_send_transport_reset(dev), 0);
    uint32_t id, len;
    vd_used_elem(&guest, &evq, 0, &id, &len);
    ck_assert_uint_eq(len, 4);
    ck_assert_uint_eq(le32(vd_at(&guest, EV_BUF)), VSOCK_EVENT_TRANSPORT_RESET);
}
END_TEST

START_TEST(test_driver_reset_counts)
{
    bring_up();
    uint32_t g = virtio_vsock_generation(dev);
    int before = kicks;
    vd_write(dev, VD_STATUS, 0);
    ck_assert_uint_eq(virtio_vsock_generation(dev), g + 1);
    ck_assert_int_gt(kicks, before); /* the backend hears of it */
    ck_assert(!virtio_vsock_running(dev));
}
END_TEST

/* ---- snapshot state ----------------------------------------------------------------------- */

START_TEST(test_state_round_trip)
{
    struct virtio_vsock_state st = {.guest_cid = 4000000000u}, back;
    struct device_state_bytes bytes = {0};
    char err[160];
    ck_assert_int_eq(virtio_vsock_state_encode(&st, &bytes), 0);
    ck_assert_int_eq(virtio_vsock_state_decode(bytes.data, bytes.len, &back, err, sizeof(err)),
                     0);
    ck_assert_uint_eq(back.guest_cid, 4000000000u);
    device_state_bytes_free(&bytes);
}
END_TEST

START_TEST(test_state_refused)
{
    static const uint64_t bad[] = {0, 1, 2, 0xffffffffu, 1ull << 32, ~0ull};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct virtio_vsock_state st = {.guest_cid = bad[i]}, back;
        struct device_state_bytes bytes = {0};
        char err[160] = "";
        ck_assert_int_eq(virtio_vsock_state_encode(&st, &bytes), 0);
        ck_assert_int_eq(virtio_vsock_state_decode(bytes.data, bytes.len, &back, err,
                                                   sizeof(err)), -EINVAL);
        ck_assert_ptr_nonnull(strstr(err, "CID"));
        device_state_bytes_free(&bytes);
    }
    const uint8_t garbage[] = {0x08, 0x80};
    struct virtio_vsock_state back;
    char err[160];
    ck_assert_int_eq(virtio_vsock_state_decode(garbage, sizeof(garbage), &back, err,
                                               sizeof(err)), -EINVAL);
}
END_TEST


/* ---- the host end -------------------------------------------------------------------------- */

static struct event_base *base;
static struct vsock_host *host;
static char dir[64], path[96];

static void host_setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as in the worker */
    snprintf(dir, sizeof(dir), "/tmp/ignition-vsock-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/g.vsock", dir);
    base = event_base_new();
    char err[256];
    host = vsock_host_create(base, path, err, sizeof(err));
    ck_assert_msg(host != NULL, "%s", err);
    struct virtio_vsock_backend backend = {.kick = vsock_host_kick, .opaque = host};
    device_setup_with(&backend);
    vsock_host_attach(host, dev);
    bring_up();
    for (int i = 0; i < 16; i++)
        offer_rx(false);
    vd_write(dev, VD_QUEUE_NOTIFY, 0);
}

static void host_teardown(void)
{
    vsock_host_attach(host, NULL);
    vsock_host_destroy(host);
    teardown();
    event_base_free(base);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void spin(void)
{
    for (int i = 0; i < 50; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static void send_and_spin(const struct vsock_hdr *h, const void *payload)
{
    guest_send(h, payload);
    vd_write(dev, VD_QUEUE_NOTIFY, 1);
    spin();
}

/* The next packet the guest received, or false. Its buffer is offered again. */
static bool next_packet(struct vsock_hdr *h, uint8_t *payload)
{
    if (vd_used_idx(&guest, &rxq) == rxq.used_seen)
        return false;
    const uint8_t *p = received(rxq.used_seen, h);
    if (payload)
        memcpy(payload, p, h->len);
    rxq.used_seen++;
    offer_rx(false);
    vd_write(dev, VD_QUEUE_NOTIFY, 0);
    return true;
}

static void expect_packet(uint16_t op, uint32_t src_port, uint32_t dst_port, struct vsock_hdr *h)
{
    spin();
    ck_assert_msg(next_packet(h, NULL), "no packet for the guest (op %u expected)", op);
    ck_assert_uint_eq(h->op, op);
    ck_assert_uint_eq(h->src_port, src_port);
    ck_assert_uint_eq(h->dst_port, dst_port);
}

static int host_listener(uint32_t port)
{
    char at[128], err[256];
    snprintf(at, sizeof(at), "%s_%u", path, port);
    int fd = unixsock_listen(at, err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    return fd;
}

/* A guest connection to host port 5000, accepted there: the host's end. */
static int guest_connects(uint32_t guest_port, int *listener)
{
    *listener = host_listener(5000);
    struct vsock_hdr h = guest_hdr(VSOCK_OP_REQUEST, guest_port, 5000);
    send_and_spin(&h, NULL);
    int fd = unixsock_accept(*listener);
    ck_assert_int_ge(fd, 0);
    expect_packet(VSOCK_OP_RESPONSE, 5000, guest_port, &h);
    ck_assert_uint_eq(h.buf_alloc, VSOCK_HOST_BUFFER);
    ck_assert_uint_eq(h.fwd_cnt, 0);
    return fd;
}

/* Closed by the other end: its end of file, or a reset when it left bytes
 * unread (what Linux's Unix sockets say then). */
static bool closed_by_peer(int fd);

static ssize_t read_some(int fd, void *buf, size_t len)
{
    for (int i = 0; i < 100; i++) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0 || errno != EAGAIN)
            return n;
        spin();
        usleep(1000);
    }
    return -1;
}

static bool closed_by_peer(int fd)
{
    char buf[64];
    ssize_t n = read_some(fd, buf, sizeof(buf));
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

START_TEST(test_host_guest_connects_with_credit)
{
    int listener, fd = guest_connects(1025, &listener);
    struct vsock_hdr h = guest_hdr(VSOCK_OP_RW, 1025, 5000);
    h.len = 4;
    send_and_spin(&h, "ping");
    char buf[16];
    ck_assert_int_eq(read_some(fd, buf, sizeof(buf)), 4);
    ck_assert_mem_eq(buf, "ping", 4);
    /* The host sends 64 KiB; the guest offered 8192 bytes of credit and reads
     * nothing: that much arrives, and no more is taken from the socket. */
    static uint8_t blob[65536];
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)(i * 13 + 5);
    ck_assert_int_eq(write(fd, blob, sizeof(blob)), (ssize_t)sizeof(blob));
    size_t got = 0;
    static uint8_t payload[VSOCK_MAX_PAYLOAD];
    for (int round = 0; round < 3; round++) {
        spin();
        while (next_packet(&h, payload)) {
            ck_assert_uint_eq(h.op, VSOCK_OP_RW);
            ck_assert_mem_eq(payload, blob + got, h.len);
            got += h.len;
        }
    }
    ck_assert_uint_eq(got, 8192);
    /* The guest passed it on: 8192 more. */
    h = guest_hdr(VSOCK_OP_CREDIT_UPDATE, 1025, 5000);
    h.fwd_cnt = 8192;
    send_and_spin(&h, NULL);
    for (int round = 0; round < 3; round++) {
        spin();
        while (next_packet(&h, payload)) {
            ck_assert_mem_eq(payload, blob + got, h.len);
            got += h.len;
        }
    }
    ck_assert_uint_eq(got, 16384);
    /* A fwd_cnt beyond what it was sent is a broken guest: reset. */
    h = guest_hdr(VSOCK_OP_CREDIT_UPDATE, 1025, 5000);
    h.fwd_cnt = 16385;
    send_and_spin(&h, NULL);
    expect_packet(VSOCK_OP_RST, 5000, 1025, &h);
    close(fd);
    close(listener);
}
END_TEST

/* A guest with credit to spare but no receive buffer: nothing more is read
 * from the host socket until it offers some, and nothing read is lost. */
START_TEST(test_host_waits_for_receive_buffers)
{
    int listener, fd = guest_connects(1030, &listener);
    struct vsock_hdr h = guest_hdr(VSOCK_OP_CREDIT_UPDATE, 1030, 5000);
    h.buf_alloc = 1u << 20;
    send_and_spin(&h, NULL);
    static uint8_t blob[128 << 10], got_bytes[128 << 10];
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (uint8_t)(i * 7 + i / 4099);
    size_t written = 0;
    while (written < sizeof(blob)) {
        ssize_t n = write(fd, blob + written, sizeof(blob) - written);
        ck_assert_int_gt(n, 0);
        written += (size_t)n;
        spin();
    }
    spin();
    /* The 16 buffers it has (the RESPONSE's was given back), and not a byte more. */
    size_t got = 0;
    uint16_t first = rxq.used_seen;
    while (vd_used_idx(&guest, &rxq) != rxq.used_seen) {
        const uint8_t *p = received(rxq.used_seen++, &h);
        ck_assert_uint_eq(h.op, VSOCK_OP_RW);
        memcpy(got_bytes + got, p, h.len);
        got += h.len;
    }
    ck_assert_uint_eq(rxq.used_seen - first, 16);
    ck_assert_uint_eq(got, 16 * (RX_BUF_SIZE - VSOCK_HDR_SIZE));
    for (int round = 0; round < 20 && got < sizeof(blob); round++) {
        for (int i = 0; i < 16; i++)
            offer_rx(false);
        vd_write(dev, VD_QUEUE_NOTIFY, 0);
        spin();
        while (vd_used_idx(&guest, &rxq) != rxq.used_seen) {
            const uint8_t *p = received(rxq.used_seen++, &h);
            ck_assert_uint_le(got + h.len, sizeof(blob));
            memcpy(got_bytes + got, p, h.len);
            got += h.len;
        }
    }
    ck_assert_uint_eq(got, sizeof(blob));
    ck_assert_mem_eq(got_bytes, blob, sizeof(blob));
    close(fd);
    close(listener);
}
END_TEST

START_TEST(test_host_guest_closes)
{
    int listener, fd = guest_connects(1026, &listener);
    struct vsock_hdr h = guest_hdr(VSOCK_OP_RW, 1026, 5000);
    h.len = 3;
    send_and_spin(&h, "bye");
    h = guest_hdr(VSOCK_OP_SHUTDOWN, 1026, 5000);
    h.flags = VSOCK_SHUTDOWN_SEND;
    h.fwd_cnt = 0;
    send_and_spin(&h, NULL);
    char buf[8];
    ck_assert_int_eq(read_some(fd, buf, sizeof(buf)), 3);
    ck_assert_int_eq(read_some(fd, buf, sizeof(buf)), 0); /* its half-close reached us */
    ck_assert_int_eq(write(fd, "ok", 2), 2); /* the other direction still works */
    spin();
    ck_assert(next_packet(&h, (uint8_t *)buf));
    ck_assert_uint_eq(h.op, VSOCK_OP_RW);
    ck_assert_uint_eq(h.len, 2);
    close(fd); /* the host ends too: the guest hears SHUTDOWN */
    expect_packet(VSOCK_OP_SHUTDOWN, 5000, 1026, &h);
    ck_assert_uint_eq(h.flags, VSOCK_SHUTDOWN_SEND);
    h = guest_hdr(VSOCK_OP_SHUTDOWN, 1026, 5000);
    h.flags = VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV;
    h.fwd_cnt = 2;
    send_and_spin(&h, NULL);
    expect_packet(VSOCK_OP_RST, 5000, 1026, &h); /* the answer to a full shutdown */
    close(listener);
}
END_TEST

START_TEST(test_host_guest_beyond_credit_is_reset)
{
    int listener, fd = guest_connects(1027, &listener);
    /* The host never reads: once the socket's buffer and our 256 KiB are
     * full, the guest has no credit left, and more is a reset. */
    static uint8_t chunk[VSOCK_MAX_PAYLOAD];
    struct vsock_hdr h;
    size_t sent = 0;
    bool reset = false;
    for (int i = 0; i < 64 && !reset; i++) {
        h = guest_hdr(VSOCK_OP_RW, 1027, 5000);
        h.len = sizeof(chunk);
        send_and_spin(&h, chunk);
        sent += sizeof(chunk);
        while (next_packet(&h, NULL))
            reset = reset || h.op == VSOCK_OP_RST;
    }
    ck_assert(reset);
    ck_assert_uint_gt(sent, VSOCK_HOST_BUFFER);
    ck_assert_uint_lt(sent, 64 * sizeof(chunk));
    close(fd);
    close(listener);
}
END_TEST

START_TEST(test_host_guest_refused_and_strays)
{
    struct vsock_hdr h = guest_hdr(VSOCK_OP_REQUEST, 1028, 5001); /* nobody listens */
    send_and_spin(&h, NULL);
    expect_packet(VSOCK_OP_RST, 5001, 1028, &h);
    h = guest_hdr(VSOCK_OP_RW, 1029, 9); /* no such connection */
    h.len = 1;
    send_and_spin(&h, "x");
    expect_packet(VSOCK_OP_RST, 9, 1029, &h);
    h = guest_hdr(VSOCK_OP_RST, 1029, 9); /* a reset is never answered */
    send_and_spin(&h, NULL);
    spin();
    ck_assert(!next_packet(&h, NULL));
}
END_TEST

static int host_connects(const char *line)
{
    char err[256];
    int fd = unixsock_connect(path, err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    spin();
    return fd;
}

START_TEST(test_host_connects)
{
    int fd = host_connects("CONNECT 7000\nearly");
    struct vsock_hdr h;
    expect_packet(VSOCK_OP_REQUEST, VSOCK_HOST_FIRST_LOCAL_PORT, 7000, &h);
    ck_assert_uint_eq(h.buf_alloc, VSOCK_HOST_BUFFER);
    h = guest_hdr(VSOCK_OP_RESPONSE, 7000, VSOCK_HOST_FIRST_LOCAL_PORT);
    send_and_spin(&h, NULL);
    char buf[64] = "";
    ck_assert_int_eq(read_some(fd, buf, sizeof(buf)), 14);
    ck_assert_str_eq(buf, "OK 1073741824\n");
    spin();
    uint8_t payload[16];
    ck_assert(next_packet(&h, payload));
    ck_assert_uint_eq(h.op, VSOCK_OP_RW);
    ck_assert_uint_eq(h.len, 5);
    ck_assert_mem_eq(payload, "early", 5); /* what followed the line is the stream's */
    /* Refused: the host's end is closed, without an OK. */
    int refused = host_connects("CONNECT 7001\n");
    expect_packet(VSOCK_OP_REQUEST, VSOCK_HOST_FIRST_LOCAL_PORT + 1, 7001, &h);
    h = guest_hdr(VSOCK_OP_RST, 7001, VSOCK_HOST_FIRST_LOCAL_PORT + 1);
    send_and_spin(&h, NULL);
    ck_assert_int_eq(read_some(refused, buf, sizeof(buf)), 0);
    /* Not a CONNECT line: closed, and the guest hears nothing. */
    int bad = host_connects("HELLO 7000\n");
    ck_assert(closed_by_peer(bad));
    int long_line = host_connects("CONNECT 0000000000000000000000000000000000007000\n");
    ck_assert(closed_by_peer(long_line));
    ck_assert(!next_packet(&h, NULL));
    close(fd), close(refused), close(bad), close(long_line);
}
END_TEST

START_TEST(test_host_transport_reset)
{
    vd_put_desc(&guest, &evq, 0, EV_BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &evq, 0);
    int fd = host_connects("CONNECT 7000\n");
    struct vsock_hdr h;
    expect_packet(VSOCK_OP_REQUEST, VSOCK_HOST_FIRST_LOCAL_PORT, 7000, &h);
    vsock_host_transport_reset(host);
    spin();
    ck_assert_uint_eq(vd_used_idx(&guest, &evq), 1);
    ck_assert_uint_eq(le32(vd_at(&guest, EV_BUF)), VSOCK_EVENT_TRANSPORT_RESET);
    char buf[8];
    ck_assert_int_eq(read_some(fd, buf, sizeof(buf)), 0); /* its connections are gone */
    close(fd);
}
END_TEST

/* A host process connecting while the guest has not yet handled a transport
 * reset waits: the guest would reset the connection it accepted now, without a
 * word to the host. The guest's handing back of its event buffer (a notify of
 * the event queue) lets the request go. */
START_TEST(test_host_connect_waits_for_the_reset)
{
    vd_put_desc(&guest, &evq, 0, EV_BUF, 4, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &evq, 0);
    vsock_host_transport_reset(host);
    spin();
    ck_assert_uint_eq(vd_used_idx(&guest, &evq), 1);
    int fd = host_connects("CONNECT 7000\n");
    struct vsock_hdr h;
    ck_assert_msg(!next_packet(&h, NULL), "a request went to a guest still resetting");
    vd_offer(&guest, &evq, 0); /* the driver has handled the event */
    vd_write(dev, VD_QUEUE_NOTIFY, 2);
    expect_packet(VSOCK_OP_REQUEST, VSOCK_HOST_FIRST_LOCAL_PORT, 7000, &h);
    close(fd);
}
END_TEST

START_TEST(test_parse_connect)
{
    uint32_t port = 0;
    ck_assert_int_eq(vsock_host_parse_connect("CONNECT 52", 10, &port), 0);
    ck_assert_uint_eq(port, 52);
    ck_assert_int_eq(vsock_host_parse_connect("CONNECT 4294967295", 18, &port), 0);
    ck_assert_uint_eq(port, 4294967295u);
    static const char *bad[] = {"CONNECT 4294967296", "CONNECT ", "CONNECT", "CONNECT -1",
                                "CONNECT 1 ", "connect 1", "CONNECT  1", "CONNECT 1x",
                                "CONNECT 12345678901", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(vsock_host_parse_connect(bad[i], strlen(bad[i]), &port) < 0, "%s", bad[i]);
}
END_TEST

static Suite *virtio_vsock_suite(void)
{
    Suite *s = suite_create("virtio_vsock");
    TCase *hdr = tcase_create("header");
    tcase_add_test(hdr, test_tx_valid_packets);
    tcase_add_test(hdr, test_tx_short_header);
    tcase_add_test(hdr, test_tx_cids);
    tcase_add_test(hdr, test_tx_type_and_op);
    tcase_add_test(hdr, test_tx_lengths);
    tcase_add_test(hdr, test_tx_flags);
    tcase_add_test(hdr, test_verdict_texts);
    suite_add_tcase(s, hdr);
    TCase *cr = tcase_create("credit");
    tcase_add_test(cr, test_credit_peer_window);
    tcase_add_test(cr, test_credit_peer_fwd_cnt_checked);
    tcase_add_test(cr, test_credit_counters_wrap);
    tcase_add_test(cr, test_credit_receive_bounded);
    tcase_add_test(cr, test_credit_update_due);
    suite_add_tcase(s, cr);
    TCase *d = tcase_create("device");
    tcase_add_checked_fixture(d, setup, teardown);
    tcase_add_test(d, test_config_cid);
    tcase_add_test(d, test_transmit_checks_and_returns);
    tcase_add_test(d, test_transmit_bad_chains);
    tcase_add_test(d, test_receive_one_and_two_descriptors);
    tcase_add_test(d, test_receive_nothing_to_say_keeps_the_buffer);
    tcase_add_test(d, test_receive_bad_buffers);
    tcase_add_test(d, test_receive_readable_buffer);
    tcase_add_test(d, test_before_driver_ok);
    tcase_add_test(d, test_transport_reset_event);
    tcase_add_test(d, test_driver_reset_counts);
    suite_add_tcase(s, d);
    TCase *st = tcase_create("state");
    tcase_add_test(st, test_state_round_trip);
    tcase_add_test(st, test_state_refused);
    suite_add_tcase(s, st);
    TCase *h = tcase_create("host");
    tcase_add_checked_fixture(h, host_setup, host_teardown);
    tcase_add_test(h, test_host_guest_connects_with_credit);
    tcase_add_test(h, test_host_waits_for_receive_buffers);
    tcase_add_test(h, test_host_guest_closes);
    tcase_add_test(h, test_host_guest_beyond_credit_is_reset);
    tcase_add_test(h, test_host_guest_refused_and_strays);
    tcase_add_test(h, test_host_connects);
    tcase_add_test(h, test_host_transport_reset);
    tcase_add_test(h, test_host_connect_waits_for_the_reset);
    tcase_add_test(h, test_parse_connect);
    suite_add_tcase(s, h);
    return s;
}

int main(void)
{
    return run_suite(virtio_vsock_suite());
}
