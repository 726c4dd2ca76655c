/* libFuzzer harness: virtio-vsock's transmit path through the real transport
 * and virtqueue walker: the chains the guest offers (descriptors and bytes
 * from the input), the header checks, and, with mode bit 0, the host end
 * (worker/vsock_host.c) on a real event loop: each packet matched to its
 * connection, credit checked, replies made into the guest's receive buffers,
 * a guest connection to port 5 reaching a real Unix listener. A mode byte of
 * 0xff feeds the rest to the device's snapshot state decoder instead.
 *
 * Input: byte 0 = mode, byte 1 = segment count n (1..8), then n segment
 * headers of 3 bytes (le16 length, flags: bit 0 device-writable, bit 1 end
 * the chain here), then the bytes that fill the segments in order. Each
 * chain is made available on the transmit queue. */
#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "devices/device_state.h"
#include "devices/virtio.h"
#include "devices/virtio_vsock.h"
#include "unixsock.h"
#include "worker/vsock_host.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (1u << 20)
#define QSIZE 8
#define RING(q) (0x1000u * (q)) /* descriptors; avail at +0x200, used at +0x400 */
#define RX_BUFS_AT 0x8000u
#define RX_BUF_SIZE 0x400u
#define EV_BUF_AT 0xa000u
#define DATA_AT 0x10000u
#define MAX_SEGMENTS 8
#define SEGMENT_HEADER 3
#define STATE_MODE 0xff
#define GUEST_CID 3
#define LISTENED_PORT 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static struct guest_ram guest_ram;
static struct device *dev;
static struct event_base *base;
static struct vsock_host *host;
static int listener = -1;
static bool host_on;
static char dir[] = "/tmp/ignition-fuzz-vsock-XXXXXX", listened[128];

static void no_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
}

static void reg(uint64_t off, uint32_t value)
{
    dev->ops->write(dev, off, 4, value);
}

static void kick(void *opaque)
{
    (void)opaque;
    if (host_on)
        vsock_host_kick(host);
}

/* A checked header says what the checks promise. */
static void deliver(void *opaque, const struct vsock_hdr *h, const uint8_t *payload)
{
    (void)opaque, (void)payload;
    if (h->src_cid != GUEST_CID || h->dst_cid != VSOCK_CID_HOST ||
        h->type != VSOCK_TYPE_STREAM || h->op < VSOCK_OP_REQUEST ||
        h->op > VSOCK_OP_CREDIT_REQUEST || h->len > VSOCK_MAX_PAYLOAD ||
        (h->op != VSOCK_OP_RW && h->len) ||
        (h->op != VSOCK_OP_SHUTDOWN && h->flags))
        abort();
    uint8_t again[VSOCK_HDR_SIZE];
    vsock_hdr_encode(h, again);
    struct vsock_hdr back;
    vsock_hdr_decode(again, &back);
    if (back.src_cid != h->src_cid || back.dst_cid != h->dst_cid ||
        back.src_port != h->src_port || back.dst_port != h->dst_port || back.len != h->len ||
        back.type != h->type || back.op != h->op || back.flags != h->flags ||
        back.buf_alloc != h->buf_alloc || back.fwd_cnt != h->fwd_cnt)
        abort(); /* field by field: the struct has padding */
}

/* The sockets go with the process. */
static void teardown(void)
{
    vsock_host_destroy(host);
    close(listener);
    unlink(listened);
    rmdir(dir);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN); /* as in the worker: a peer gone is an error where we write */
    ram = calloc(1, RAM_SIZE);
    if (!ram)
        abort();
    guest_ram = (struct guest_ram){.gpa = RAM_BASE, .size = RAM_SIZE, .host = ram};
    char path[96], err[256];
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/g.vsock", dir);
    snprintf(listened, sizeof(listened), "%s_%d", path, LISTENED_PORT);
    base = event_base_new();
    host = base ? vsock_host_create(base, path, err, sizeof(err)) : NULL;
    listener = unixsock_listen(listened, err, sizeof(err));
    struct virtio_vsock_backend backend = {.kick = kick};
    dev = virtio_vsock_create(0x0a000000, (struct irq_line){.set = no_irq, .intid = 49},
                              &guest_ram, GUEST_CID, &backend);
    if (!host || listener < 0 || !dev)
        abort();
    vsock_host_attach(host, dev);
    atexit(teardown);
}

static void queue_at(unsigned q)
{
    reg(0x030, q);
    reg(0x038, QSIZE);
    reg(0x080, (uint32_t)(RAM_BASE + RING(q))), reg(0x084, 0);
    reg(0x090, (uint32_t)(RAM_BASE + RING(q) + 0x200)), reg(0x094, 0);
    reg(0x0a0, (uint32_t)(RAM_BASE + RING(q) + 0x400)), reg(0x0a4, 0);
    reg(0x044, 1);
}

static void put_desc(unsigned q, unsigned i, uint32_t at, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *d = ram + RING(q) + 16u * i;
    le_put(d, RAM_BASE + at, 8);
    le_put(d + 8, len, 4);
    le_put(d + 12, flags, 2);
    le_put(d + 14, next, 2);
}

static void offer(unsigned q, uint16_t idx, uint16_t head)
{
    le_put(ram + RING(q) + 0x200 + 4 + 2u * idx, head, 2);
    le_put(ram + RING(q) + 0x200 + 2, (uint16_t)(idx + 1), 2);
}

/* Reset (the host end closes what it had), features, the three queues,
 * receive and event buffers, DRIVER_OK. */
static void bring_up(void)
{
    reg(0x070, 0);
    reg(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t f = 1ull << VIRTIO_F_VERSION_1;
    reg(0x024, 0), reg(0x020, (uint32_t)f);
    reg(0x024, 1), reg(0x020, (uint32_t)(f >> 32));
    reg(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 3; q++)
        queue_at(q);
    for (uint16_t i = 0; i < 4; i++) {
        put_desc(0, i, RX_BUFS_AT + RX_BUF_SIZE * i, RX_BUF_SIZE, VIRTQ_DESC_F_WRITE, 0);
        offer(0, i, i);
    }
    put_desc(2, 0, EV_BUF_AT, 4, VIRTQ_DESC_F_WRITE, 0);
    offer(2, 0, 0);
    reg(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                   VIRTIO_STATUS_DRIVER_OK);
}

static void decode_state(const uint8_t *data, size_t size)
{
    struct virtio_vsock_state st;
    char err[160];
    if (virtio_vsock_state_decode(data, size, &st, err, sizeof(err)) == 0) {
        if (st.guest_cid < VSOCK_CID_MIN_GUEST || st.guest_cid > VSOCK_CID_MAX_GUEST)
            abort();
        struct device_state_bytes bytes = {0};
        if (virtio_vsock_state_encode(&st, &bytes) != 0)
            abort();
        struct virtio_vsock_state again;
        if (virtio_vsock_state_decode(bytes.data, bytes.len, &again, err, sizeof(err)) != 0 ||
            again.guest_cid != st.guest_cid)
            abort(); /* what was accepted round-trips */
        device_state_bytes_free(&bytes);
    }
}

/* The chains of the input on the transmit queue; returns how many. */
static uint16_t lay_out(const uint8_t *data, size_t size, unsigned n)
{
    const uint8_t *fill = data + 2 + n * SEGMENT_HEADER;
    size_t fill_len = size - 2 - n * SEGMENT_HEADER;
    uint32_t at = DATA_AT;
    uint16_t chains = 0, head = 0;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *h = data + 2 + i * SEGMENT_HEADER;
        uint32_t len = le16(h);
        bool last = i == n - 1 || (h[2] & 2);
        put_desc(1, i, at, len, (h[2] & 1 ? VIRTQ_DESC_F_WRITE : 0) |
                                    (last ? 0 : VIRTQ_DESC_F_NEXT), (uint16_t)(i + 1));
        size_t room = at < RAM_SIZE ? RAM_SIZE - at : 0;
        size_t copy = fill_len < len ? fill_len : len;
        if (copy > room)
            copy = room;
        memcpy(ram + at, fill, copy);
        fill += copy, fill_len -= copy;
        at += len;
        if (last) {
            offer(1, chains++, head);
            head = (uint16_t)(i + 1);
        }
    }
    return chains;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dev)
        setup();
    if (size < 2)
        return 0;
    if (data[0] == STATE_MODE) {
        decode_state(data + 1, size - 1);
        return 0;
    }
    unsigned n = data[1] % MAX_SEGMENTS + 1;
    if (2 + (size_t)n * SEGMENT_HEADER > size)
        return 0;
    host_on = data[0] & 1;
    memset(ram, 0, RAM_SIZE);
    bring_up();
    lay_out(data, size, n);
    reg(0x050, 1);
    if (host_on) {
        for (int i = 0; i < 8; i++)
            event_base_loop(base, EVLOOP_NONBLOCK);
    } else {
        virtio_vsock_transmit(dev, QSIZE, deliver, NULL);
    }
    for (int fd; (fd = unixsock_accept(listener)) >= 0;)
        close(fd); /* connections the host end made to port 5 */
    return 0;
}
