/* libFuzzer harness: virtio-net's transmit path through the real transport
 * and virtqueue walker: the chain the guest offers (descriptors and bytes from
 * the input), the header checks and checksum completion, the user-mode
 * network's filter of what the frame may reach and the answer to a frame it
 * refuses (worker/net_refuse.h). A last mode byte value feeds the rest to the
 * device's snapshot state decoder instead.
 *
 * Input: byte 0 = mode (bit 0: negotiate CSUM; bit 1: GUEST_CSUM; 0xff: state
 * decoder), byte 1 = segment count n (1..8), then n segment headers of 3
 * bytes (le16 length, flags: bit 0 device-writable, bit 1 end the chain
 * here), then the bytes that fill the segments in order. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "devices/device_state.h"
#include "devices/virtio.h"
#include "devices/virtio_net.h"
#include "worker/net_refuse.h"
#include "worker/net_user.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (1u << 20)
#define QSIZE 8
#define DESC_AT 0x0000u
#define AVAIL_AT 0x1000u
#define USED_AT 0x2000u
#define DATA_AT 0x10000u
#define MAX_SEGMENTS 8
#define SEGMENT_HEADER 3
#define STATE_MODE 0xff

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *ram;
static struct guest_ram guest_ram;
static struct device *dev;
static size_t delivered_bytes;

static void no_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
}

static void reg(uint64_t off, uint32_t value)
{
    dev->ops->write(dev, off, 4, value);
}

static const struct net_refuse_router router = {
    .ipv4 = {10, 0, 2, 2},
    .ipv6 = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2},
};

/* RFC 1071 sum of len bytes, folded. */
static uint32_t ones_sum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i < len; i += 2)
        sum += (uint32_t)p[i] << 8 | (i + 1 < len ? p[i + 1] : 0);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

/* An answer goes back to the sender's MAC, its ICMP checksum holds, and it is
 * itself an ICMP error, which gets no answer. */
static void check_answer(const uint8_t *frame, const uint8_t *answer, size_t len)
{
    if (len > NET_REFUSE_MAX_ANSWER || len < NET_REFUSE_ETH_HEADER + 28 ||
        memcmp(answer, frame + 6, 6) != 0)
        abort();
    const uint8_t *ip = answer + NET_REFUSE_ETH_HEADER;
    uint32_t sum;
    if (answer[12] == 0x08) {
        sum = ones_sum(ip + 20, len - NET_REFUSE_ETH_HEADER - 20, 0);
    } else {
        size_t payload = (size_t)ip[4] << 8 | ip[5];
        if (NET_REFUSE_ETH_HEADER + 40 + payload != len)
            abort();
        sum = ones_sum(ip + 40, payload, ones_sum(ip + 8, 32, (uint32_t)payload + 58));
    }
    if (sum != 0xffff)
        abort();
    static uint8_t again[NET_REFUSE_MAX_ANSWER];
    if (net_refuse_answer(answer, len, &router, again) != 0)
        abort();
}

/* What the backend does with a frame: the filter, both ways, and the answer
 * to what it refuses. */
static void deliver(void *opaque, const uint8_t *frame, size_t len)
{
    (void)opaque;
    delivered_bytes += len;
    bool allowed = net_frame_allowed(frame, len, false);
    if (allowed && !net_frame_allowed(frame, len, true))
        abort(); /* host-loopback only ever allows more */
    static uint8_t answer[NET_REFUSE_MAX_ANSWER];
    size_t answer_len = net_refuse_answer(frame, len, &router, answer);
    if (answer_len)
        check_answer(frame, answer, answer_len);
}

static void setup(void)
{
    ram = calloc(1, RAM_SIZE);
    if (!ram)
        abort();
    guest_ram = (struct guest_ram){.gpa = RAM_BASE, .size = RAM_SIZE, .host = ram};
    static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1};
    dev = virtio_net_create(0x0a000000, (struct irq_line){.set = no_irq, .intid = 48},
                            &guest_ram, mac, NULL);
    if (!dev)
        abort();
}

/* Reset, features, the transmit queue at fixed places, DRIVER_OK. */
static void bring_up(uint8_t mode)
{
    reg(0x070, 0);
    reg(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    uint64_t f = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_NET_F_MRG_RXBUF);
    if (mode & 1)
        f |= 1ull << VIRTIO_NET_F_CSUM;
    if (mode & 2)
        f |= 1ull << VIRTIO_NET_F_GUEST_CSUM;
    reg(0x024, 0), reg(0x020, (uint32_t)f);
    reg(0x024, 1), reg(0x020, (uint32_t)(f >> 32));
    reg(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    reg(0x030, 1);
    reg(0x038, QSIZE);
    reg(0x080, (uint32_t)(RAM_BASE + DESC_AT)), reg(0x084, 0);
    reg(0x090, (uint32_t)(RAM_BASE + AVAIL_AT)), reg(0x094, 0);
    reg(0x0a0, (uint32_t)(RAM_BASE + USED_AT)), reg(0x0a4, 0);
    reg(0x044, 1);
    reg(0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                   VIRTIO_STATUS_DRIVER_OK);
}

static void decode_state(const uint8_t *data, size_t size)
{
    struct virtio_net_state st;
    char err[160];
    if (virtio_net_state_decode(data, size, &st, err, sizeof(err)) == 0) {
        struct device_state_bytes bytes = {0};
        if (virtio_net_state_encode(&st, &bytes) != 0)
            abort();
        struct virtio_net_state again;
        if (virtio_net_state_decode(bytes.data, bytes.len, &again, err, sizeof(err)) != 0 ||
            memcmp(again.mac, st.mac, 6) != 0 || again.link_up != st.link_up)
            abort(); /* what was accepted round-trips */
        device_state_bytes_free(&bytes);
    }
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
    memset(ram, 0, RAM_SIZE);
    bring_up(data[0]);
    const uint8_t *fill = data + 2 + n * SEGMENT_HEADER;
    size_t fill_len = size - 2 - n * SEGMENT_HEADER;
    uint32_t at = DATA_AT;
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *h = data + 2 + i * SEGMENT_HEADER;
        uint32_t len = le16(h);
        bool last = i == n - 1 || (h[2] & 2);
        uint8_t *d = ram + DESC_AT + 16u * i;
        le_put(d, RAM_BASE + at, 8);
        le_put(d + 8, len, 4);
        le_put(d + 12, (h[2] & 1 ? VIRTQ_DESC_F_WRITE : 0) | (last ? 0 : VIRTQ_DESC_F_NEXT), 2);
        le_put(d + 14, i + 1, 2);
        size_t room = at < RAM_SIZE ? RAM_SIZE - at : 0;
        size_t copy = fill_len < len ? fill_len : len;
        if (copy > room)
            copy = room;
        memcpy(ram + at, fill, copy);
        fill += copy, fill_len -= copy;
        at += len;
        if (last)
            break;
    }
    le_put(ram + AVAIL_AT + 4, 0, 2); /* ring[0] = head 0 */
    le_put(ram + AVAIL_AT + 2, 1, 2); /* idx */
    reg(0x050, 1);
    virtio_net_transmit(dev, 4, deliver, NULL);
    return 0;
}
