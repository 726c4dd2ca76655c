/* libFuzzer harness: virtio-input's config space, its status queue parser, and
 * host input delivered into event buffers the guest describes.
 *
 * The input starts with four bytes: flags (bit 0: tablet, else keyboard; bit 1:
 * EVENT_IDX), then the counts A, S (taken % 17) and H. Then come A config
 * accesses of 4 bytes (offset into config space, op: bit 0 write and bits 1-2
 * width 1/2/4/8, a 16-bit value), S status segment headers of 3 bytes (length
 * (2) % 64, flags: bit 0 device-writable) and H host input calls of 4 bytes
 * (call % 4: key, move, button, wheel; then arguments a (2), b (1)). The bytes
 * that fill the status segments follow, then guest RAM from its start: the
 * event queue's rings at EVT_*, the status queue's at STS_*, buffers anywhere.
 *
 * Config accesses are checked as they go: the size never exceeds the union and
 * the union is zero past it. The status chain goes to the parser directly,
 * which may only change the LEDs the kind has. Then a driver sets both queues
 * up, notifies the status queue, the host sends, and the event queue is
 * notified; the driver resets the device and the host sends again. All of it
 * must stay inside guest RAM and end. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/evdev.h"
#include "devices/virtio.h"
#include "devices/virtio_input.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x2000u
#define EVT_DESC 0x000u  /* 16 entries */
#define EVT_AVAIL 0x100u
#define EVT_USED 0x140u
#define STS_DESC 0x200u  /* 8 entries */
#define STS_AVAIL 0x280u
#define STS_USED 0x2a0u
#define EVT_QSIZE 16
#define STS_QSIZE 8
#define CONFIG 0x100
#define HEADER 4
#define ACCESS_SIZE 4
#define SEGMENT_SIZE 3
#define CALL_SIZE 4
#define MAX_SEGMENTS 16
#define ARENA 1024u

enum { DRV_FEATURES = 0x020, DRV_FEATURES_SEL = 0x024, QUEUE_SEL = 0x030, QUEUE_NUM = 0x038,
       QUEUE_READY = 0x044, QUEUE_NOTIFY = 0x050, STATUS = 0x070, DESC_LOW = 0x080,
       DRIVER_LOW = 0x090, DEVICE_LOW = 0x0a0 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
}

static uint64_t config_byte(struct device *dev, unsigned offset)
{
    return dev->ops->read(dev, CONFIG + offset, 1);
}

static void check_config(struct device *dev)
{
    uint64_t len = config_byte(dev, VIRTIO_INPUT_CFG_OFF_SIZE);
    if (len > VIRTIO_INPUT_CFG_UNION_BYTES)
        abort();
    for (unsigned i = (unsigned)len; i < VIRTIO_INPUT_CFG_UNION_BYTES; i++)
        if (config_byte(dev, VIRTIO_INPUT_CFG_OFF_UNION + i))
            abort();
}

static void config_accesses(struct device *dev, const uint8_t *p, unsigned count)
{
    static const unsigned widths[4] = {1, 2, 4, 8};
    for (unsigned i = 0; i < count; i++, p += ACCESS_SIZE) {
        unsigned width = widths[(p[1] >> 1) & 3];
        uint64_t value = (uint64_t)(p[2] | p[3] << 8);
        if (p[1] & 1) {
            dev->ops->write(dev, CONFIG + p[0], width, value);
            check_config(dev);
        } else {
            (void)dev->ops->read(dev, CONFIG + p[0], width);
        }
    }
}

/* Builds the status chain in arena; readable segments come first, as the
 * walker ensures. Returns the fill bytes consumed. */
static size_t build_status_chain(struct virtq_chain *chain, uint8_t *arena, const uint8_t *hdr,
                                 unsigned count, const uint8_t *fill, size_t fill_len)
{
    size_t used = 0, consumed = 0;
    bool writable_seen = false;
    memset(chain, 0, sizeof(*chain));
    for (unsigned i = 0; i < count; i++, hdr += SEGMENT_SIZE) {
        uint32_t len = (uint32_t)(hdr[0] | hdr[1] << 8) % 64;
        bool writable = (hdr[2] & 1) || writable_seen;
        size_t copy = fill_len - consumed < len ? fill_len - consumed : len;
        memcpy(arena + used, fill + consumed, copy);
        consumed += copy;
        chain->segments[chain->num_segments++] =
            (struct virtq_segment){.host = arena + used, .len = len, .device_writable = writable};
        if (writable)
            chain->writable_len += len;
        else
            chain->readable_len += len;
        writable_seen = writable;
        used += len;
    }
    return consumed;
}

static void parse_status(enum virtio_input_kind kind, const struct virtq_chain *chain,
                         uint32_t leds)
{
    uint32_t after = virtio_input_status(kind, leds, chain);
    uint32_t may_change = kind == VIRTIO_INPUT_KEYBOARD
                              ? 1u << EVDEV_LED_NUML | 1u << EVDEV_LED_CAPSL |
                                    1u << EVDEV_LED_SCROLLL
                              : 0;
    if ((after ^ leds) & ~may_change)
        abort();
}

static void setup_queue(struct device *dev, unsigned index, unsigned num, uint32_t desc,
                        uint32_t avail, uint32_t used)
{
    dev->ops->write(dev, QUEUE_SEL, 4, index);
    dev->ops->write(dev, QUEUE_NUM, 4, num);
    dev->ops->write(dev, DESC_LOW, 4, (uint32_t)RAM_GPA + desc);
    dev->ops->write(dev, DRIVER_LOW, 4, (uint32_t)RAM_GPA + avail);
    dev->ops->write(dev, DEVICE_LOW, 4, (uint32_t)RAM_GPA + used);
    dev->ops->write(dev, QUEUE_READY, 4, 1);
}

static void driver_init(struct device *dev, bool event_idx)
{
    uint64_t features = 1ull << VIRTIO_F_VERSION_1 | (event_idx ? 1ull << VIRTIO_F_EVENT_IDX : 0);
    dev->ops->write(dev, STATUS, 4, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    dev->ops->write(dev, DRV_FEATURES_SEL, 4, 0);
    dev->ops->write(dev, DRV_FEATURES, 4, (uint32_t)features);
    dev->ops->write(dev, DRV_FEATURES_SEL, 4, 1);
    dev->ops->write(dev, DRV_FEATURES, 4, (uint32_t)(features >> 32));
    dev->ops->write(dev, STATUS, 4,
                    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    setup_queue(dev, VIRTIO_INPUT_EVENTQ, EVT_QSIZE, EVT_DESC, EVT_AVAIL, EVT_USED);
    setup_queue(dev, VIRTIO_INPUT_STATUSQ, STS_QSIZE, STS_DESC, STS_AVAIL, STS_USED);
    dev->ops->write(dev, STATUS, 4,
                    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                        VIRTIO_STATUS_DRIVER_OK);
}

static void host_calls(struct device *dev, const uint8_t *p, unsigned count)
{
    for (unsigned i = 0; i < count; i++, p += CALL_SIZE) {
        unsigned a = (unsigned)(p[1] | p[2] << 8);
        switch (p[0] % 4) {
        case 0: (void)virtio_input_key(dev, a, p[3] & 1); break;
        case 1: (void)virtio_input_tablet_move(dev, a, (uint32_t)p[3] << 7); break;
        case 2: (void)virtio_input_tablet_button(dev, a, p[3] & 1); break;
        default:
            (void)virtio_input_tablet_wheel(dev, (int32_t)a - 32768, (int32_t)p[3] - 128);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram_bytes[RAM_SIZE];
    static uint8_t arena[ARENA];
    static struct virtq_chain chain;
    if (size < HEADER)
        return 0;
    enum virtio_input_kind kind = data[0] & 1 ? VIRTIO_INPUT_TABLET : VIRTIO_INPUT_KEYBOARD;
    bool event_idx = data[0] & 2;
    unsigned accesses = data[1], segments = data[2] % (MAX_SEGMENTS + 1), calls = data[3];
    size_t records = (size_t)accesses * ACCESS_SIZE + (size_t)segments * SEGMENT_SIZE +
                     (size_t)calls * CALL_SIZE;
    if (size - HEADER < records)
        return 0;
    const uint8_t *access = data + HEADER;
    const uint8_t *segment = access + accesses * ACCESS_SIZE;
    const uint8_t *call = segment + segments * SEGMENT_SIZE;
    const uint8_t *rest = call + calls * CALL_SIZE;
    size_t rest_len = size - HEADER - records;

    struct guest_ram ram = {.gpa = RAM_GPA, .size = RAM_SIZE, .host = ram_bytes};
    struct device *dev = virtio_input_create(0x0a000000, (struct irq_line){.set = no_irq}, &ram,
                                             kind, "fuzz");
    if (!dev)
        abort();
    config_accesses(dev, access, accesses);

    size_t consumed = build_status_chain(&chain, arena, segment, segments, rest, rest_len);
    parse_status(kind, &chain, data[0] >> 2);
    rest += consumed, rest_len -= consumed;

    memset(ram_bytes, 0, sizeof(ram_bytes));
    memcpy(ram_bytes, rest, rest_len < RAM_SIZE ? rest_len : RAM_SIZE);
    driver_init(dev, event_idx);
    dev->ops->write(dev, QUEUE_NOTIFY, 4, VIRTIO_INPUT_STATUSQ);
    host_calls(dev, call, calls);
    dev->ops->write(dev, QUEUE_NOTIFY, 4, VIRTIO_INPUT_EVENTQ);
    dev->ops->write(dev, STATUS, 4, 0); /* reset: what waited is dropped, new input waits */
    host_calls(dev, call, calls);
    dev->ops->destroy(dev);
    return 0;
}
