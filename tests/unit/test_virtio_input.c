/* virtio-input: the config space of both kinds byte for byte, the status
 * queue's parser on well-formed and malformed buffers, and the device through
 * the real transport with a guest driver modelled on Linux's: event delivery
 * with SYN_REPORT, whole sequences or nothing, the bounded waiting queue,
 * reset, host input validation, and sender and guest on two threads. The
 * constants are checked against Linux's headers (linux_virtio_input.c). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "devices/evdev.h"
#include "devices/virtio.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio.h"
#include "linux_virtio_input.h"
#include "unit.h"
#include "util.h"

/* ---- constants ------------------------------------------------------------------------- */

START_TEST(test_constants_match_linux)
{
    const struct linux_virtio_input *l = &linux_virtio_input;
    ck_assert_int_eq(VIRTIO_ID_INPUT, l->id_input);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_UNSET, l->cfg_unset);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_ID_NAME, l->cfg_id_name);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_ID_SERIAL, l->cfg_id_serial);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_ID_DEVIDS, l->cfg_id_devids);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_PROP_BITS, l->cfg_prop_bits);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_EV_BITS, l->cfg_ev_bits);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_ABS_INFO, l->cfg_abs_info);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_OFF_SELECT, l->off_select);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_OFF_SUBSEL, l->off_subsel);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_OFF_SIZE, l->off_size);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_OFF_UNION, l->off_union);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_UNION_BYTES, l->union_bytes);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_BYTES, l->config_bytes);
    ck_assert_uint_eq(VIRTIO_INPUT_ABSINFO_BYTES, l->absinfo_bytes);
    ck_assert_uint_eq(VIRTIO_INPUT_DEVIDS_BYTES, l->devids_bytes);
    ck_assert_uint_eq(VIRTIO_INPUT_EVENT_BYTES, l->event_bytes);
    /* absinfo: le32 min, max, fuzz, flat, res in that order */
    ck_assert_uint_eq(l->absinfo_min, 0);
    ck_assert_uint_eq(l->absinfo_max, 4);
    ck_assert_uint_eq(l->absinfo_fuzz, 8);
    ck_assert_uint_eq(l->absinfo_flat, 12);
    ck_assert_uint_eq(l->absinfo_res, 16);
    ck_assert_int_eq(EVDEV_BUS_VIRTUAL, l->bus_virtual);
    ck_assert_int_eq(EVDEV_EV_SYN, l->ev_syn);
    ck_assert_int_eq(EVDEV_EV_KEY, l->ev_key);
    ck_assert_int_eq(EVDEV_EV_REL, l->ev_rel);
    ck_assert_int_eq(EVDEV_EV_ABS, l->ev_abs);
    ck_assert_int_eq(EVDEV_EV_LED, l->ev_led);
    ck_assert_int_eq(EVDEV_EV_REP, l->ev_rep);
    ck_assert_int_eq(EVDEV_SYN_REPORT, l->syn_report);
    ck_assert_int_eq(EVDEV_KEY_ESC, l->key_esc);
    ck_assert_int_eq(EVDEV_KEY_A, l->key_a);
    ck_assert_int_eq(EVDEV_KEY_KPDOT, l->key_kpdot);
    ck_assert_int_eq(EVDEV_KEY_ZENKAKUHANKAKU, l->key_zenkakuhankaku);
    ck_assert_int_eq(EVDEV_KEY_POWER, l->key_power);
    ck_assert_int_eq(EVDEV_KEY_F24, l->key_f24);
    ck_assert_int_eq(EVDEV_KEY_PLAYCD, l->key_playcd);
    ck_assert_int_eq(EVDEV_KEY_MICMUTE, l->key_micmute);
    ck_assert_int_eq(EVDEV_BTN_LEFT, l->btn_left);
    ck_assert_int_eq(EVDEV_BTN_RIGHT, l->btn_right);
    ck_assert_int_eq(EVDEV_BTN_MIDDLE, l->btn_middle);
    ck_assert_int_eq(EVDEV_REL_HWHEEL, l->rel_hwheel);
    ck_assert_int_eq(EVDEV_REL_WHEEL, l->rel_wheel);
    ck_assert_int_eq(EVDEV_ABS_X, l->abs_x);
    ck_assert_int_eq(EVDEV_ABS_Y, l->abs_y);
    ck_assert_int_eq(EVDEV_LED_NUML, l->led_numl);
    ck_assert_int_eq(EVDEV_LED_CAPSL, l->led_capsl);
    ck_assert_int_eq(EVDEV_LED_SCROLLL, l->led_scrolll);
    ck_assert_int_eq(EVDEV_REP_DELAY, l->rep_delay);
    ck_assert_int_eq(EVDEV_REP_PERIOD, l->rep_period);
}
END_TEST

/* The keyboard's keys are exactly Linux's KEY_ESC..KEY_MICMUTE: each of them,
 * and nothing else (no gaps filled, no BTN_*). */
START_TEST(test_keyboard_keys_match_linux)
{
    const struct linux_virtio_input *l = &linux_virtio_input;
    for (size_t i = 0; i < linux_keyboard_keys_count; i++)
        ck_assert_msg(virtio_input_keyboard_has_key(linux_keyboard_keys[i]), "key %u",
                      linux_keyboard_keys[i]);
    size_t count = 0;
    for (unsigned code = 0; code <= (unsigned)l->key_max + 1; code++)
        count += virtio_input_keyboard_has_key(code);
    ck_assert_uint_eq(count, linux_keyboard_keys_count);
    ck_assert_uint_eq(count, 242);
    ck_assert(virtio_input_keyboard_has_key(EVDEV_KEY_A));
    ck_assert(virtio_input_keyboard_has_key(EVDEV_KEY_POWER));
    ck_assert(!virtio_input_keyboard_has_key(0));
    ck_assert(!virtio_input_keyboard_has_key(84));
    for (unsigned code = 195; code <= 199; code++)
        ck_assert(!virtio_input_keyboard_has_key(code));
    ck_assert(!virtio_input_keyboard_has_key(249));
    for (unsigned code = (unsigned)l->btn_misc; code <= (unsigned)l->key_max; code++)
        ck_assert(!virtio_input_keyboard_has_key(code));
}
END_TEST

/* ---- the status queue's parser --------------------------------------------------------- */

static struct virtq_chain chain;
static uint8_t status_buf[64];

static void chain_add(uint8_t *host, uint32_t len, bool writable)
{
    chain.segments[chain.num_segments++] =
        (struct virtq_segment){.host = host, .len = len, .device_writable = writable};
    if (writable)
        chain.writable_len += len;
    else
        chain.readable_len += len;
}

static void put_event(uint8_t *p, uint16_t type, uint16_t code, uint32_t value)
{
    p[0] = (uint8_t)type, p[1] = (uint8_t)(type >> 8);
    p[2] = (uint8_t)code, p[3] = (uint8_t)(code >> 8);
    for (int i = 0; i < 4; i++)
        p[4 + i] = (uint8_t)(value >> (8 * i));
}

/* One readable buffer of len bytes holding the event (and zeros after it). */
static void status_chain(uint16_t type, uint16_t code, uint32_t value, uint32_t len)
{
    memset(&chain, 0, sizeof(chain));
    memset(status_buf, 0, sizeof(status_buf));
    put_event(status_buf, type, code, value);
    chain_add(status_buf, len, false);
}

static uint32_t kbd_status(uint32_t leds)
{
    return virtio_input_status(VIRTIO_INPUT_KEYBOARD, leds, &chain);
}

START_TEST(test_status_leds)
{
    status_chain(EVDEV_EV_LED, EVDEV_LED_CAPSL, 1, 8);
    ck_assert_uint_eq(kbd_status(0), 1u << EVDEV_LED_CAPSL);
    status_chain(EVDEV_EV_LED, EVDEV_LED_NUML, 1, 8);
    ck_assert_uint_eq(kbd_status(0x2), 0x3);
    status_chain(EVDEV_EV_LED, EVDEV_LED_SCROLLL, 7, 8); /* any non-zero value is on */
    ck_assert_uint_eq(kbd_status(0x3), 0x7);
    status_chain(EVDEV_EV_LED, EVDEV_LED_CAPSL, 0, 8);
    ck_assert_uint_eq(kbd_status(0x7), 0x5);
    /* The event split over two readable descriptors is still one event. */
    memset(&chain, 0, sizeof(chain));
    put_event(status_buf, EVDEV_EV_LED, EVDEV_LED_NUML, 0);
    chain_add(status_buf, 3, false);
    chain_add(status_buf + 3, 5, false);
    ck_assert_uint_eq(kbd_status(0x5), 0x4);
}
END_TEST

START_TEST(test_status_malformed_or_foreign)
{
    status_chain(EVDEV_EV_LED, EVDEV_LED_CAPSL, 1, 7); /* short */
    ck_assert_uint_eq(kbd_status(0), 0);
    status_chain(EVDEV_EV_LED, EVDEV_LED_CAPSL, 1, 9); /* long */
    ck_assert_uint_eq(kbd_status(0), 0);
    status_chain(EVDEV_EV_LED, EVDEV_LED_CAPSL, 1, 16); /* two events in one buffer */
    ck_assert_uint_eq(kbd_status(0), 0);
    status_chain(EVDEV_EV_LED, EVDEV_LED_CAPSL, 1, 0);
    ck_assert_uint_eq(kbd_status(0), 0);
    memset(&chain, 0, sizeof(chain)); /* nothing at all */
    ck_assert_uint_eq(kbd_status(0x1), 0x1);
    /* the right bytes, but device-writable */
    memset(&chain, 0, sizeof(chain));
    put_event(status_buf, EVDEV_EV_LED, EVDEV_LED_CAPSL, 1);
    chain_add(status_buf, 8, true);
    ck_assert_uint_eq(kbd_status(0), 0);
    status_chain(EVDEV_EV_LED, 3 /* LED_COMPOSE: not advertised */, 1, 8);
    ck_assert_uint_eq(kbd_status(0), 0);
    status_chain(EVDEV_EV_LED, 31, 1, 8);
    ck_assert_uint_eq(kbd_status(0), 0);
    status_chain(EVDEV_EV_LED, 0xffff, 1, 8);
    ck_assert_uint_eq(kbd_status(0), 0);
    status_chain(EVDEV_EV_REP, EVDEV_REP_DELAY, 250, 8); /* accepted, nothing to record */
    ck_assert_uint_eq(kbd_status(0x2), 0x2);
    status_chain(EVDEV_EV_KEY, EVDEV_LED_CAPSL, 1, 8);
    ck_assert_uint_eq(kbd_status(0), 0);
    /* the tablet has no LEDs */
    status_chain(EVDEV_EV_LED, EVDEV_LED_CAPSL, 1, 8);
    ck_assert_uint_eq(virtio_input_status(VIRTIO_INPUT_TABLET, 0, &chain), 0);
    ck_assert_uint_eq(virtio_input_status((enum virtio_input_kind)7, 0, &chain), 0);
}
END_TEST

/* ---- the device through the transport -------------------------------------------------- */

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x40000u
#define EVT_DESC (RAM_GPA + 0x1000)
#define EVT_AVAIL (RAM_GPA + 0x2000)
#define EVT_USED (RAM_GPA + 0x3000)
#define STS_DESC (RAM_GPA + 0x4000)
#define STS_AVAIL (RAM_GPA + 0x5000)
#define STS_USED (RAM_GPA + 0x6000)
#define EVT_BUF (RAM_GPA + 0x10000)
#define STS_BUF (RAM_GPA + 0x11000)
#define EVT_QSIZE 64
#define STS_QSIZE 8

enum { DEV_ID = 0x008, DRV_FEATURES = 0x020, DRV_FEATURES_SEL = 0x024, QUEUE_SEL = 0x030,
       QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038, QUEUE_READY = 0x044, QUEUE_NOTIFY = 0x050,
       STATUS = 0x070, DESC_LOW = 0x080, DRIVER_LOW = 0x090, DEVICE_LOW = 0x0a0,
       CONFIG = 0x100 };

static uint8_t *mem;
static struct guest_ram ram;
static struct device *dev;
static int edges;

static void on_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid;
    if (level)
        __atomic_add_fetch(&edges, 1, __ATOMIC_SEQ_CST);
}

static uint8_t *at(uint64_t gpa) { return mem + (gpa - RAM_GPA); }
static uint64_t rd(uint64_t off, unsigned size) { return dev->ops->read(dev, off, size); }
static void wr(uint64_t off, uint64_t v) { dev->ops->write(dev, off, 4, v); }
static void wr_sized(uint64_t off, unsigned size, uint64_t v)
{
    dev->ops->write(dev, off, size, v);
}

static void create(enum virtio_input_kind kind, const char *serial)
{
    mem = calloc(1, RAM_SIZE);
    ram = (struct guest_ram){.gpa = RAM_GPA, .size = RAM_SIZE, .host = mem};
    edges = 0;
    dev = virtio_input_create(0x0a000000, (struct irq_line){.set = on_irq, .intid = 52}, &ram,
                              kind, serial);
    ck_assert_ptr_nonnull(dev);
}

static void keyboard_setup(void) { create(VIRTIO_INPUT_KEYBOARD, "kbd-serial-0"); }
static void tablet_setup(void) { create(VIRTIO_INPUT_TABLET, "tablet-serial-0"); }

static void device_teardown(void)
{
    dev->ops->destroy(dev);
    free(mem);
}

/* ---- config space ---- */

static unsigned cfg_select(uint8_t select, uint8_t subsel)
{
    wr_sized(CONFIG + VIRTIO_INPUT_CFG_OFF_SELECT, 1, select);
    wr_sized(CONFIG + VIRTIO_INPUT_CFG_OFF_SUBSEL, 1, subsel);
    return (unsigned)rd(CONFIG + VIRTIO_INPUT_CFG_OFF_SIZE, 1);
}

/* Every access the driver may make reads the same bytes: any offset, any width. */
static void check_config_consistent(void)
{
    uint8_t bytes[VIRTIO_INPUT_CFG_BYTES];
    for (unsigned i = 0; i < sizeof(bytes); i++)
        bytes[i] = (uint8_t)rd(CONFIG + i, 1);
    static const unsigned widths[] = {2, 4, 8};
    for (unsigned w = 0; w < 3; w++) {
        for (unsigned off = 0; off + widths[w] <= sizeof(bytes); off++) {
            uint64_t want = 0;
            for (unsigned i = 0; i < widths[w]; i++)
                want |= (uint64_t)bytes[off + i] << (8 * i);
            ck_assert_uint_eq(rd(CONFIG + off, widths[w]), want);
        }
    }
    ck_assert_uint_eq(rd(CONFIG + sizeof(bytes), 1), 0); /* past the end: the transport's 0 */
    ck_assert_uint_eq(rd(CONFIG + sizeof(bytes) - 4, 8), 0);
}

/* The size byte and all 128 union bytes (those past size must be zero). */
static void check_union(uint8_t select, uint8_t subsel, const uint8_t *want, unsigned size)
{
    ck_assert_uint_eq(cfg_select(select, subsel), size);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_INPUT_CFG_OFF_SELECT, 1), select);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_INPUT_CFG_OFF_SUBSEL, 1), subsel);
    for (unsigned i = 0; i < VIRTIO_INPUT_CFG_UNION_BYTES; i++) {
        unsigned byte = (unsigned)rd(CONFIG + VIRTIO_INPUT_CFG_OFF_UNION + i, 1);
        ck_assert_msg(byte == (i < size ? want[i] : 0u),
                      "select %#x subsel %#x byte %u: %#x", select, subsel, i, byte);
    }
    for (unsigned i = 3; i < VIRTIO_INPUT_CFG_OFF_UNION; i++)
        ck_assert_uint_eq(rd(CONFIG + i, 1), 0); /* reserved */
    check_config_consistent();
}

static void check_string(uint8_t select, const char *want)
{
    check_union(select, 0, (const uint8_t *)want, (unsigned)strlen(want));
}

static void check_size_zero(uint8_t select, uint8_t subsel)
{
    check_union(select, subsel, NULL, 0);
}

START_TEST(test_keyboard_config)
{
    ck_assert_uint_eq(rd(DEV_ID, 4), 18);
    check_size_zero(VIRTIO_INPUT_CFG_UNSET, 0); /* the state after reset */
    check_string(VIRTIO_INPUT_CFG_ID_NAME, "ignition keyboard");
    check_string(VIRTIO_INPUT_CFG_ID_SERIAL, "kbd-serial-0");
    static const uint8_t devids[] = {0x06, 0x00, 0x47, 0x49, 0x01, 0x00, 0x01, 0x00};
    check_union(VIRTIO_INPUT_CFG_ID_DEVIDS, 0, devids, 8);
    check_size_zero(VIRTIO_INPUT_CFG_PROP_BITS, 0);

    uint8_t keys[VIRTIO_INPUT_CFG_UNION_BYTES] = {0};
    for (size_t i = 0; i < linux_keyboard_keys_count; i++)
        keys[linux_keyboard_keys[i] / 8] |= (uint8_t)(1u << (linux_keyboard_keys[i] % 8));
    ck_assert_uint_eq(keys[EVDEV_KEY_A / 8] & (1u << (EVDEV_KEY_A % 8)), 1u << (EVDEV_KEY_A % 8));
    ck_assert(keys[EVDEV_KEY_POWER / 8] & (1u << (EVDEV_KEY_POWER % 8)));
    check_union(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_KEY, keys, 32); /* through KEY_MICMUTE */
    /* spelled out where the gaps are: 84, 195..199 */
    ck_assert_uint_eq(keys[0], 0xfe);
    ck_assert_uint_eq(keys[10], 0xef);
    ck_assert_uint_eq(keys[24], 0x07);
    ck_assert_uint_eq(keys[30], 0xff);
    ck_assert_uint_eq(keys[31], 0x01);
    static const uint8_t rep[] = {0x03}, leds[] = {0x07};
    check_union(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_REP, rep, 1);
    check_union(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_LED, leds, 1);
    check_size_zero(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_SYN);
    check_size_zero(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_REL);
    check_size_zero(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_ABS);
    check_size_zero(VIRTIO_INPUT_CFG_EV_BITS, 0x04 /* EV_MSC */);
    check_size_zero(VIRTIO_INPUT_CFG_EV_BITS, 0xff);
    check_size_zero(VIRTIO_INPUT_CFG_ABS_INFO, EVDEV_ABS_X);
}
END_TEST

START_TEST(test_tablet_config)
{
    check_string(VIRTIO_INPUT_CFG_ID_NAME, "ignition tablet");
    check_string(VIRTIO_INPUT_CFG_ID_SERIAL, "tablet-serial-0");
    static const uint8_t devids[] = {0x06, 0x00, 0x47, 0x49, 0x02, 0x00, 0x01, 0x00};
    check_union(VIRTIO_INPUT_CFG_ID_DEVIDS, 0, devids, 8);
    check_size_zero(VIRTIO_INPUT_CFG_PROP_BITS, 0);
    uint8_t buttons[35] = {0};
    buttons[34] = 0x07; /* BTN_LEFT 0x110, BTN_RIGHT, BTN_MIDDLE: bits 0..2 of byte 34 */
    check_union(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_KEY, buttons, sizeof(buttons));
    static const uint8_t rel[] = {0x40, 0x01}; /* REL_HWHEEL 6, REL_WHEEL 8 */
    check_union(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_REL, rel, 2);
    static const uint8_t abs[] = {0x03};
    check_union(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_ABS, abs, 1);
    check_size_zero(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_LED);
    check_size_zero(VIRTIO_INPUT_CFG_EV_BITS, EVDEV_EV_REP);
    static const uint8_t absinfo[20] = {0, 0, 0, 0, 0xff, 0x7f, 0, 0}; /* 0..32767 */
    check_union(VIRTIO_INPUT_CFG_ABS_INFO, EVDEV_ABS_X, absinfo, 20);
    check_union(VIRTIO_INPUT_CFG_ABS_INFO, EVDEV_ABS_Y, absinfo, 20);
    check_size_zero(VIRTIO_INPUT_CFG_ABS_INFO, 2 /* ABS_Z */);
    check_size_zero(VIRTIO_INPUT_CFG_ABS_INFO, 0x35 /* ABS_MT_POSITION_X */);
}
END_TEST

START_TEST(test_config_unknown_and_writes)
{
    check_size_zero(0x04, 0);
    check_size_zero(0x13, 0);
    check_size_zero(0xff, 0xff);
    check_size_zero(VIRTIO_INPUT_CFG_ID_NAME, 1); /* strings and ids take subsel 0 only */
    check_size_zero(VIRTIO_INPUT_CFG_ID_DEVIDS, 1);
    check_size_zero(VIRTIO_INPUT_CFG_PROP_BITS, 1);
    /* One wide write sets select and subsel; the size byte and the union are
     * not the driver's to write. */
    wr_sized(CONFIG, 4, 0xaabb0000u | EVDEV_EV_LED << 8 | VIRTIO_INPUT_CFG_EV_BITS);
    ck_assert_uint_eq(rd(CONFIG, 4), VIRTIO_INPUT_CFG_EV_BITS | EVDEV_EV_LED << 8 | 1u << 16);
    wr_sized(CONFIG + VIRTIO_INPUT_CFG_OFF_SIZE, 1, 0x7f);
    wr_sized(CONFIG + VIRTIO_INPUT_CFG_OFF_UNION, 8, 0x1122334455667788ull);
    wr_sized(CONFIG + VIRTIO_INPUT_CFG_BYTES - 8, 8, ~0ull);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_INPUT_CFG_OFF_SIZE, 1), 1);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_INPUT_CFG_OFF_UNION, 8), 0x07);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_INPUT_CFG_BYTES - 8, 8), 0);
    check_config_consistent();
    /* A reset forgets the selection. */
    wr(STATUS, 0);
    ck_assert_uint_eq(rd(CONFIG, 4), 0);
}
END_TEST

START_TEST(test_config_long_and_missing_serial)
{
    device_teardown();
    char serial[200];
    memset(serial, 's', sizeof(serial) - 1);
    serial[sizeof(serial) - 1] = 0;
    create(VIRTIO_INPUT_KEYBOARD, serial);
    ck_assert_uint_eq(cfg_select(VIRTIO_INPUT_CFG_ID_SERIAL, 0), VIRTIO_INPUT_SERIAL_MAX);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_INPUT_CFG_OFF_UNION + VIRTIO_INPUT_SERIAL_MAX - 1, 1),
                      's');
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_INPUT_CFG_OFF_UNION + VIRTIO_INPUT_SERIAL_MAX, 1), 0);
    device_teardown();
    create(VIRTIO_INPUT_TABLET, NULL);
    check_size_zero(VIRTIO_INPUT_CFG_ID_SERIAL, 0);
    check_string(VIRTIO_INPUT_CFG_ID_NAME, "ignition tablet");
    ck_assert_ptr_null(virtio_input_create(0x0a000000, (struct irq_line){0}, &ram,
                                           (enum virtio_input_kind)2, NULL));
}
END_TEST

/* ---- a guest driver, as Linux's does it ---- */

struct guest_queue {
    uint64_t desc, avail, used;
    uint16_t size, avail_idx, used_seen;
};

static struct guest_queue evtq, stsq;

static void put_desc(const struct guest_queue *q, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags)
{
    uint8_t *p = at(q->desc + 16ull * i);
    uint16_t next = 0;
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

static void offer(struct guest_queue *q, uint16_t head)
{
    memcpy(at(q->avail + 4 + 2u * (q->avail_idx % q->size)), &head, 2);
    q->avail_idx++;
    __atomic_store_n((uint16_t *)at(q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
}

static uint16_t used_idx(const struct guest_queue *q)
{
    return __atomic_load_n((uint16_t *)at(q->used + 2), __ATOMIC_ACQUIRE);
}

static void used_elem(const struct guest_queue *q, uint16_t i, uint32_t *id, uint32_t *len)
{
    const uint8_t *e = at(q->used + 4 + 8u * (i % q->size));
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
}

static uint16_t avail_event(const struct guest_queue *q)
{
    uint16_t v;
    memcpy(&v, at(q->used + 4 + 8u * q->size), 2);
    return v;
}

static void setup_queue(unsigned index, struct guest_queue *q)
{
    wr(QUEUE_SEL, index);
    wr(QUEUE_NUM, q->size);
    wr(DESC_LOW, (uint32_t)q->desc);
    wr(DRIVER_LOW, (uint32_t)q->avail);
    wr(DEVICE_LOW, (uint32_t)q->used);
    wr(QUEUE_READY, 1);
}

/* Status up to FEATURES_OK, both queues, DRIVER_OK; no buffers yet. */
static void driver_init_sized(bool event_idx, uint16_t evt_size)
{
    evtq = (struct guest_queue){.desc = EVT_DESC, .avail = EVT_AVAIL, .used = EVT_USED,
                                .size = evt_size};
    stsq = (struct guest_queue){.desc = STS_DESC, .avail = STS_AVAIL, .used = STS_USED,
                                .size = STS_QSIZE};
    uint64_t f = 1ull << VIRTIO_F_VERSION_1 | (event_idx ? 1ull << VIRTIO_F_EVENT_IDX : 0);
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(DRV_FEATURES_SEL, 0);
    wr(DRV_FEATURES, (uint32_t)f);
    wr(DRV_FEATURES_SEL, 1);
    wr(DRV_FEATURES, (uint32_t)(f >> 32));
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    ck_assert_uint_eq(rd(QUEUE_NUM_MAX, 4), EVT_QSIZE);
    setup_queue(VIRTIO_INPUT_EVENTQ, &evtq);
    setup_queue(VIRTIO_INPUT_STATUSQ, &stsq);
    wr(STATUS, rd(STATUS, 4) | VIRTIO_STATUS_DRIVER_OK);
    ck_assert_uint_eq(rd(STATUS, 4) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
}

static void driver_init(bool event_idx)
{
    driver_init_sized(event_idx, EVT_QSIZE);
}

/* Event buffer i: 8 writable bytes, filled with 0xee so a write shows. */
static void post_event_buffers(unsigned first, unsigned count, bool notify)
{
    for (unsigned i = first; i < first + count; i++) {
        memset(at(EVT_BUF + 8u * i), 0xee, 8);
        put_desc(&evtq, i, EVT_BUF + 8u * i, 8, VIRTQ_DESC_F_WRITE);
        offer(&evtq, (uint16_t)i);
    }
    if (notify)
        wr(QUEUE_NOTIFY, VIRTIO_INPUT_EVENTQ);
}

struct ev {
    uint16_t type, code;
    int32_t value;
};

static struct ev decode(const uint8_t *p)
{
    struct ev e;
    e.type = (uint16_t)(p[0] | p[1] << 8);
    e.code = (uint16_t)(p[2] | p[3] << 8);
    e.value = (int32_t)((uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                        (uint32_t)p[7] << 24);
    return e;
}

/* Takes what the device has used, as Linux's driver does: each buffer (exactly
 * 8 bytes written) is one event, and goes straight back to the device. */
static unsigned guest_collect(struct ev *out, unsigned max, bool repost)
{
    unsigned n = 0;
    uint16_t end = used_idx(&evtq);
    while (evtq.used_seen != end) {
        uint32_t id, len;
        used_elem(&evtq, evtq.used_seen++, &id, &len);
        ck_assert_uint_lt(id, evtq.size);
        ck_assert_uint_eq(len, 8);
        ck_assert_uint_lt(n, max);
        out[n++] = decode(at(EVT_BUF + 8u * id));
        if (repost)
            offer(&evtq, (uint16_t)id);
    }
    if (repost && n)
        wr(QUEUE_NOTIFY, VIRTIO_INPUT_EVENTQ);
    return n;
}

static void check_ev(struct ev e, uint16_t type, uint16_t code, int32_t value)
{
    ck_assert_uint_eq(e.type, type);
    ck_assert_uint_eq(e.code, code);
    ck_assert_int_eq(e.value, value);
}

static void check_syn(struct ev e)
{
    check_ev(e, EVDEV_EV_SYN, EVDEV_SYN_REPORT, 0);
}

/* ---- event delivery ---- */

/* A key press end to end: two buffers used, 8 bytes each, exact records, an
 * interrupt. */
START_TEST(test_key_delivered)
{
    driver_init(false);
    post_event_buffers(0, 4, true);
    ck_assert_uint_eq(used_idx(&evtq), 0);
    int before = __atomic_load_n(&edges, __ATOMIC_SEQ_CST);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, true), 0);
    ck_assert_uint_eq(used_idx(&evtq), 2);
    uint32_t id, len;
    used_elem(&evtq, 0, &id, &len);
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(len, 8);
    used_elem(&evtq, 1, &id, &len);
    ck_assert_uint_eq(id, 1);
    ck_assert_uint_eq(len, 8);
    static const uint8_t press[8] = {0x01, 0x00, 0x1e, 0x00, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t syn[8] = {0};
    ck_assert_mem_eq(at(EVT_BUF), press, 8);
    ck_assert_mem_eq(at(EVT_BUF + 8), syn, 8);
    ck_assert_uint_eq(*at(EVT_BUF + 16), 0xee); /* the third buffer untouched */
    ck_assert_int_gt(__atomic_load_n(&edges, __ATOMIC_SEQ_CST), before);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, false), 0);
    ck_assert_uint_eq(used_idx(&evtq), 4);
    static const uint8_t release[8] = {0x01, 0x00, 0x1e, 0x00, 0x00, 0x00, 0x00, 0x00};
    ck_assert_mem_eq(at(EVT_BUF + 16), release, 8);
    ck_assert_mem_eq(at(EVT_BUF + 24), syn, 8);
    ck_assert_uint_eq(virtio_input_dropped(dev), 0);
}
END_TEST

/* A driver may split the 8 bytes over descriptors, and offer more than 8. */
START_TEST(test_event_buffer_framing)
{
    driver_init(false);
    memset(at(EVT_BUF), 0xee, 64);
    put_desc(&evtq, 0, EVT_BUF, 3, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT);
    uint16_t next = 1;
    memcpy(at(EVT_DESC + 14), &next, 2);
    put_desc(&evtq, 1, EVT_BUF + 3, 5, VIRTQ_DESC_F_WRITE);
    offer(&evtq, 0);
    put_desc(&evtq, 2, EVT_BUF + 16, 24, VIRTQ_DESC_F_WRITE);
    offer(&evtq, 2);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_POWER, true), 0);
    ck_assert_uint_eq(used_idx(&evtq), 2);
    static const uint8_t press[8] = {0x01, 0x00, 0x74, 0x00, 0x01, 0x00, 0x00, 0x00};
    ck_assert_mem_eq(at(EVT_BUF), press, 8);
    uint32_t id, len;
    used_elem(&evtq, 1, &id, &len);
    ck_assert_uint_eq(id, 2);
    ck_assert_uint_eq(len, 8);
    static const uint8_t syn_then_untouched[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee};
    ck_assert_mem_eq(at(EVT_BUF + 16), syn_then_untouched, 10);
}
END_TEST

/* With one buffer free, a three-event sequence waits whole; with EVENT_IDX the
 * device asks to be told of the buffer that makes three (the next one would
 * still leave it short, and a driver that added it before seeing the request
 * would never kick). It is delivered, and then the next sequence, in order,
 * once the guest posts more. */
START_TEST(test_sequence_never_split)
{
    driver_init(true);
    post_event_buffers(0, 1, true);
    ck_assert_int_eq(virtio_input_tablet_move(dev, 100, 200), 0);
    ck_assert_uint_eq(used_idx(&evtq), 0);
    ck_assert_uint_eq(*at(EVT_BUF), 0xee);
    ck_assert_uint_eq(avail_event(&evtq), 2); /* notify once entry 2 is added */
    ck_assert_int_eq(virtio_input_tablet_button(dev, EVDEV_BTN_LEFT, true), 0);
    ck_assert_uint_eq(used_idx(&evtq), 0); /* behind the first, though 2 would not fit either */
    post_event_buffers(1, 1, true);
    ck_assert_uint_eq(used_idx(&evtq), 0); /* 2 buffers for 3 events: still waiting */
    post_event_buffers(2, 3, true);
    struct ev got[8];
    ck_assert_uint_eq(guest_collect(got, 8, false), 5);
    check_ev(got[0], EVDEV_EV_ABS, EVDEV_ABS_X, 100);
    check_ev(got[1], EVDEV_EV_ABS, EVDEV_ABS_Y, 200);
    check_syn(got[2]);
    check_ev(got[3], EVDEV_EV_KEY, EVDEV_BTN_LEFT, 1);
    check_syn(got[4]);
    ck_assert_uint_eq(virtio_input_dropped(dev), 0);
}
END_TEST

/* The same without EVENT_IDX, and a later sequence that would fit does not
 * overtake one that waits. */
START_TEST(test_waiting_sequence_keeps_order)
{
    driver_init(false);
    post_event_buffers(0, 2, true);
    ck_assert_int_eq(virtio_input_tablet_move(dev, 1, 2), 0); /* 3 events: waits */
    ck_assert_int_eq(virtio_input_tablet_wheel(dev, 1, 0), 0); /* 2 would fit, but waits */
    ck_assert_uint_eq(used_idx(&evtq), 0);
    post_event_buffers(2, 1, true);
    struct ev got[8];
    ck_assert_uint_eq(guest_collect(got, 8, false), 3);
    check_ev(got[0], EVDEV_EV_ABS, EVDEV_ABS_X, 1);
    check_ev(got[1], EVDEV_EV_ABS, EVDEV_ABS_Y, 2);
    check_syn(got[2]);
    post_event_buffers(3, 2, true);
    ck_assert_uint_eq(guest_collect(got, 8, false), 2);
    check_ev(got[0], EVDEV_EV_REL, EVDEV_REL_WHEEL, 1);
    check_syn(got[1]);
}
END_TEST

/* Before the driver is ready, input waits (within the same bounds) and is
 * delivered when the first buffers come. */
START_TEST(test_input_before_driver_ok)
{
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_ESC, true), 0);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_ESC, false), 0);
    driver_init(true);
    post_event_buffers(0, 8, true);
    struct ev got[8];
    ck_assert_uint_eq(guest_collect(got, 8, false), 4);
    check_ev(got[0], EVDEV_EV_KEY, EVDEV_KEY_ESC, 1);
    check_syn(got[1]);
    check_ev(got[2], EVDEV_EV_KEY, EVDEV_KEY_ESC, 0);
    check_syn(got[3]);
}
END_TEST

/* 64 sequences wait; the 65th is dropped whole with -ENOSPC; the 64 arrive in
 * order as a guest that keeps reposting its buffers takes them. */
START_TEST(test_overflow_drops_whole_sequences)
{
    for (unsigned i = 0; i < VIRTIO_INPUT_PENDING_SEQUENCES; i++)
        ck_assert_int_eq(virtio_input_key(dev, 1 + i, true), 0); /* KEY_ESC..: all valid */
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, false), -ENOSPC);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, false), -ENOSPC);
    ck_assert_uint_eq(virtio_input_dropped(dev), 2);
    driver_init(true);
    post_event_buffers(0, EVT_QSIZE, true);
    static struct ev got[2 * VIRTIO_INPUT_PENDING_SEQUENCES];
    unsigned n = 0;
    for (int rounds = 0; rounds < 10; rounds++)
        n += guest_collect(got + n, ARRAY_SIZE(got) - n, true);
    ck_assert_uint_eq(n, 2 * VIRTIO_INPUT_PENDING_SEQUENCES);
    for (unsigned i = 0; i < VIRTIO_INPUT_PENDING_SEQUENCES; i++) {
        check_ev(got[2 * i], EVDEV_EV_KEY, (uint16_t)(1 + i), 1);
        check_syn(got[2 * i + 1]);
    }
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, true), 0); /* room again */
    ck_assert_uint_eq(guest_collect(got, 2, true), 2);
    check_ev(got[0], EVDEV_EV_KEY, EVDEV_KEY_A, 1);
}
END_TEST

/* A full queue is no reason to drop while the guest has posted buffers it did
 * not notify us of: the oldest go first and make room. */
START_TEST(test_full_queue_drains_into_unnotified_buffers)
{
    for (unsigned i = 0; i < VIRTIO_INPUT_PENDING_SEQUENCES; i++)
        ck_assert_int_eq(virtio_input_key(dev, 1 + i, true), 0);
    driver_init(false);
    post_event_buffers(0, 2, false);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, false), 0);
    ck_assert_uint_eq(virtio_input_dropped(dev), 0);
    struct ev got[2];
    ck_assert_uint_eq(guest_collect(got, 2, false), 2);
    check_ev(got[0], EVDEV_EV_KEY, EVDEV_KEY_ESC, 1);
}
END_TEST

/* A sender that asks first never loses a sequence: room runs out exactly
 * before a send would be dropped, and comes back when the guest takes some. */
START_TEST(test_has_room_before_a_drop)
{
    unsigned sent = 0;
    while (virtio_input_has_room(dev)) {
        ck_assert_int_eq(virtio_input_key(dev, 1 + sent % 100, true), 0);
        sent++;
    }
    ck_assert_uint_eq(sent, VIRTIO_INPUT_PENDING_SEQUENCES);
    ck_assert_uint_eq(virtio_input_dropped(dev), 0);
    driver_init(false);
    post_event_buffers(0, 2, false);
    ck_assert(virtio_input_has_room(dev));
}
END_TEST

/* The other bound: 1024 waiting events, SYN_REPORTs included. */
START_TEST(test_overflow_by_events)
{
    struct virtio_input_event_host seq[VIRTIO_INPUT_MAX_SEQUENCE];
    for (unsigned i = 0; i < VIRTIO_INPUT_MAX_SEQUENCE; i++)
        seq[i] = (struct virtio_input_event_host){EVDEV_EV_ABS, EVDEV_ABS_X, (int32_t)i};
    unsigned fit = VIRTIO_INPUT_PENDING_EVENTS / (VIRTIO_INPUT_MAX_SEQUENCE + 1); /* 60 */
    for (unsigned i = 0; i < fit; i++)
        ck_assert_int_eq(virtio_input_send(dev, seq, VIRTIO_INPUT_MAX_SEQUENCE), 0);
    ck_assert_int_eq(virtio_input_send(dev, seq, VIRTIO_INPUT_MAX_SEQUENCE), -ENOSPC);
    /* 1024 - 60 * 17 = 4 events left: 4 + SYN_REPORT do not fit, 3 + 1 do. */
    ck_assert_int_eq(virtio_input_send(dev, seq, 4), -ENOSPC);
    ck_assert_int_eq(virtio_input_send(dev, seq, 3), 0);
    ck_assert_int_eq(virtio_input_send(dev, seq, 1), -ENOSPC);
    ck_assert_uint_eq(virtio_input_dropped(dev), 3);
}
END_TEST

/* A sequence longer than the guest's whole ring could never be delivered: it
 * is dropped rather than block everything behind it. */
START_TEST(test_sequence_longer_than_ring_dropped)
{
    driver_init_sized(true, 8);
    post_event_buffers(0, 8, true);
    struct virtio_input_event_host seq[8];
    for (unsigned i = 0; i < 8; i++)
        seq[i] = (struct virtio_input_event_host){EVDEV_EV_REL, EVDEV_REL_WHEEL, 1};
    ck_assert_int_eq(virtio_input_send(dev, seq, 8), 0); /* 9 buffers: never */
    ck_assert_uint_eq(virtio_input_dropped(dev), 1);
    ck_assert_int_eq(virtio_input_send(dev, seq, 7), 0); /* exactly 8: fine */
    struct ev got[8];
    ck_assert_uint_eq(guest_collect(got, 8, false), 8);
    check_syn(got[7]);
}
END_TEST

/* Reset drops what waits and the LED state. */
START_TEST(test_reset_drops_queue)
{
    driver_init(false);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, true), 0); /* no buffers: waits */
    wr(STATUS, 0);
    driver_init(false);
    post_event_buffers(0, 8, true);
    ck_assert_uint_eq(used_idx(&evtq), 0);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, false), 0);
    struct ev got[4];
    ck_assert_uint_eq(guest_collect(got, 4, false), 2);
    check_ev(got[0], EVDEV_EV_KEY, EVDEV_KEY_A, 0);
}
END_TEST

/* An event buffer the driver made readable, or too small for an event, breaks
 * the rules (§5.8.6.1): the device needs a reset, and no part of the sequence
 * reaches the guest. */
START_TEST(test_bad_event_buffer_needs_reset)
{
    driver_init(false);
    post_event_buffers(0, 1, false);
    memset(at(EVT_BUF + 8), 0xee, 8);
    put_desc(&evtq, 1, EVT_BUF + 8, 4, VIRTQ_DESC_F_WRITE);
    offer(&evtq, 1);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, true), 0);
    ck_assert(rd(STATUS, 4) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    ck_assert_uint_eq(used_idx(&evtq), 0);
    ck_assert_uint_eq(*at(EVT_BUF), 0xee);

    wr(STATUS, 0);
    driver_init(false);
    memset(at(EVT_BUF), 0xee, 16);
    put_desc(&evtq, 0, EVT_BUF, 4, VIRTQ_DESC_F_NEXT); /* device-readable, then room */
    uint16_t next = 1;
    memcpy(at(EVT_DESC + 14), &next, 2);
    put_desc(&evtq, 1, EVT_BUF + 4, 8, VIRTQ_DESC_F_WRITE);
    offer(&evtq, 0);
    post_event_buffers(2, 1, false);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, true), 0);
    ck_assert(rd(STATUS, 4) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    ck_assert_uint_eq(used_idx(&evtq), 0);
    ck_assert_uint_eq(*at(EVT_BUF + 4), 0xee);
}
END_TEST

/* ---- the status queue through the transport ---- */

static void post_status(unsigned i, uint16_t type, uint16_t code, uint32_t value, uint32_t len)
{
    memset(at(STS_BUF + 16u * i), 0, 16);
    put_event(at(STS_BUF + 16u * i), type, code, value);
    put_desc(&stsq, i, STS_BUF + 16u * i, len, 0);
    offer(&stsq, (uint16_t)i);
}

START_TEST(test_status_queue)
{
    driver_init(true);
    ck_assert_uint_eq(virtio_input_leds(dev), 0);
    post_status(0, EVDEV_EV_LED, EVDEV_LED_CAPSL, 1, 8);
    post_status(1, EVDEV_EV_LED, EVDEV_LED_NUML, 1, 4);  /* malformed: ignored */
    post_status(2, EVDEV_EV_LED, EVDEV_LED_SCROLLL, 1, 8);
    post_status(3, EVDEV_EV_REP, EVDEV_REP_PERIOD, 33, 8);
    wr(QUEUE_NOTIFY, VIRTIO_INPUT_STATUSQ);
    ck_assert_uint_eq(virtio_input_leds(dev), 1u << EVDEV_LED_CAPSL | 1u << EVDEV_LED_SCROLLL);
    ck_assert_uint_eq(used_idx(&stsq), 4); /* every buffer returned, nothing written */
    for (uint16_t i = 0; i < 4; i++) {
        uint32_t id, len;
        used_elem(&stsq, i, &id, &len);
        ck_assert_uint_eq(id, i);
        ck_assert_uint_eq(len, 0);
    }
    ck_assert_uint_eq(rd(STATUS, 4) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0);
    post_status(4, EVDEV_EV_LED, EVDEV_LED_CAPSL, 0, 8);
    wr(QUEUE_NOTIFY, VIRTIO_INPUT_STATUSQ);
    ck_assert_uint_eq(virtio_input_leds(dev), 1u << EVDEV_LED_SCROLLL);
    wr(STATUS, 0);
    ck_assert_uint_eq(virtio_input_leds(dev), 0);
}
END_TEST

/* A broken status chain (outside RAM) is a broken device, not a crash. */
START_TEST(test_status_bad_chain_needs_reset)
{
    driver_init(false);
    put_desc(&stsq, 0, RAM_GPA + RAM_SIZE - 4, 8, 0);
    offer(&stsq, 0);
    wr(QUEUE_NOTIFY, VIRTIO_INPUT_STATUSQ);
    ck_assert(rd(STATUS, 4) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    ck_assert_uint_eq(virtio_input_leds(dev), 0);
}
END_TEST

/* ---- host input checks and the tablet's sequences ---- */

START_TEST(test_keyboard_rejects_invalid_input)
{
    ck_assert_int_eq(virtio_input_key(dev, 0, true), -EINVAL);
    ck_assert_int_eq(virtio_input_key(dev, 84, true), -EINVAL);
    ck_assert_int_eq(virtio_input_key(dev, 249, true), -EINVAL);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_BTN_LEFT, true), -EINVAL);
    ck_assert_int_eq(virtio_input_key(dev, 0x10000 + EVDEV_KEY_A, true), -EINVAL);
    ck_assert_int_eq(virtio_input_tablet_button(dev, EVDEV_BTN_LEFT, true), -EINVAL);
    ck_assert_int_eq(virtio_input_tablet_move(dev, 0, 0), -EINVAL);
    ck_assert_int_eq(virtio_input_tablet_wheel(dev, 1, 0), -EINVAL);
    struct virtio_input_event_host e[VIRTIO_INPUT_MAX_SEQUENCE + 1];
    for (unsigned i = 0; i < VIRTIO_INPUT_MAX_SEQUENCE + 1; i++)
        e[i] = (struct virtio_input_event_host){EVDEV_EV_KEY, EVDEV_KEY_A, 1};
    ck_assert_int_eq(virtio_input_send(dev, e, 0), -EINVAL);
    ck_assert_int_eq(virtio_input_send(dev, e, VIRTIO_INPUT_MAX_SEQUENCE + 1), -EINVAL);
    ck_assert_int_eq(virtio_input_send(dev, NULL, 1), -EINVAL);
    e[1].value = 2; /* autorepeat is the guest's */
    ck_assert_int_eq(virtio_input_send(dev, e, 2), -EINVAL);
    e[1] = (struct virtio_input_event_host){EVDEV_EV_SYN, EVDEV_SYN_REPORT, 0};
    ck_assert_int_eq(virtio_input_send(dev, e, 2), -EINVAL); /* the device adds those */
    e[1] = (struct virtio_input_event_host){EVDEV_EV_LED, EVDEV_LED_CAPSL, 1};
    ck_assert_int_eq(virtio_input_send(dev, e, 2), -EINVAL);
    e[1] = (struct virtio_input_event_host){EVDEV_EV_REP, EVDEV_REP_DELAY, 1};
    ck_assert_int_eq(virtio_input_send(dev, e, 2), -EINVAL);
    ck_assert_int_eq(virtio_input_send(dev, e, VIRTIO_INPUT_MAX_SEQUENCE), -EINVAL);
    /* none of that was queued */
    driver_init(false);
    post_event_buffers(0, 8, true);
    ck_assert_uint_eq(used_idx(&evtq), 0);
    ck_assert_int_eq(virtio_input_send(dev, e, 1), 0);
    ck_assert_uint_eq(used_idx(&evtq), 2);
    ck_assert_uint_eq(virtio_input_dropped(dev), 0);
}
END_TEST

START_TEST(test_tablet_rejects_invalid_input)
{
    ck_assert_int_eq(virtio_input_tablet_move(dev, VIRTIO_INPUT_TABLET_MAX + 1, 0), -EINVAL);
    ck_assert_int_eq(virtio_input_tablet_move(dev, 0, UINT32_MAX), -EINVAL);
    ck_assert_int_eq(virtio_input_tablet_button(dev, 0x113 /* BTN_SIDE */, true), -EINVAL);
    ck_assert_int_eq(virtio_input_tablet_button(dev, EVDEV_KEY_A, true), -EINVAL);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, true), -EINVAL);
    struct virtio_input_event_host e = {EVDEV_EV_ABS, EVDEV_ABS_X, -1};
    ck_assert_int_eq(virtio_input_send(dev, &e, 1), -EINVAL);
    e = (struct virtio_input_event_host){EVDEV_EV_ABS, 2 /* ABS_Z */, 0};
    ck_assert_int_eq(virtio_input_send(dev, &e, 1), -EINVAL);
    e = (struct virtio_input_event_host){EVDEV_EV_REL, 0 /* REL_X */, 1};
    ck_assert_int_eq(virtio_input_send(dev, &e, 1), -EINVAL);
    ck_assert_int_eq(virtio_input_tablet_wheel(dev, 0, 0), 0); /* nothing to send */
    driver_init(false);
    post_event_buffers(0, 8, true);
    ck_assert_uint_eq(used_idx(&evtq), 0);
}
END_TEST

START_TEST(test_tablet_sequences)
{
    driver_init(true);
    post_event_buffers(0, EVT_QSIZE, true);
    ck_assert_int_eq(virtio_input_tablet_move(dev, 0, VIRTIO_INPUT_TABLET_MAX), 0);
    ck_assert_int_eq(virtio_input_tablet_button(dev, EVDEV_BTN_RIGHT, true), 0);
    ck_assert_int_eq(virtio_input_tablet_button(dev, EVDEV_BTN_MIDDLE, false), 0);
    ck_assert_int_eq(virtio_input_tablet_wheel(dev, -2, 0), 0);
    ck_assert_int_eq(virtio_input_tablet_wheel(dev, 0, 3), 0);
    ck_assert_int_eq(virtio_input_tablet_wheel(dev, 1, -1), 0);
    ck_assert_int_eq(virtio_input_tablet_wheel(dev, 0, 0), 0);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_BTN_LEFT, true), 0);
    struct ev got[32];
    ck_assert_uint_eq(guest_collect(got, 32, false), 16);
    check_ev(got[0], EVDEV_EV_ABS, EVDEV_ABS_X, 0);
    check_ev(got[1], EVDEV_EV_ABS, EVDEV_ABS_Y, 32767);
    check_syn(got[2]);
    check_ev(got[3], EVDEV_EV_KEY, EVDEV_BTN_RIGHT, 1);
    check_syn(got[4]);
    check_ev(got[5], EVDEV_EV_KEY, EVDEV_BTN_MIDDLE, 0);
    check_syn(got[6]);
    check_ev(got[7], EVDEV_EV_REL, EVDEV_REL_WHEEL, -2);
    check_syn(got[8]);
    check_ev(got[9], EVDEV_EV_REL, EVDEV_REL_HWHEEL, 3);
    check_syn(got[10]);
    check_ev(got[11], EVDEV_EV_REL, EVDEV_REL_WHEEL, 1);
    check_ev(got[12], EVDEV_EV_REL, EVDEV_REL_HWHEEL, -1);
    check_syn(got[13]);
    check_ev(got[14], EVDEV_EV_KEY, EVDEV_BTN_LEFT, 1);
    check_syn(got[15]);
    /* the wheel's negative value, byte for byte */
    static const uint8_t wheel[8] = {0x02, 0x00, 0x08, 0x00, 0xfe, 0xff, 0xff, 0xff};
    ck_assert_mem_eq(at(EVT_BUF + 8 * 7), wheel, 8);
}
END_TEST

/* ---- two threads ---- */

#define THREADED_KEYS 2000

static void *send_keys(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < THREADED_KEYS; i++) {
        unsigned code = 1 + i % EVDEV_KEY_KPDOT;
        int rc;
        while ((rc = virtio_input_key(dev, code, i % 2)) == -ENOSPC)
            sched_yield();
        ck_assert_int_eq(rc, 0);
    }
    return NULL;
}

/* Host input from another thread while the guest takes and reposts buffers:
 * everything arrives, in order, each press followed by its SYN_REPORT. */
START_TEST(test_threaded_sender)
{
    driver_init(true);
    post_event_buffers(0, EVT_QSIZE, true);
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, send_keys, NULL), 0);
    static struct ev got[2 * THREADED_KEYS + EVT_QSIZE];
    unsigned n = 0;
    for (long spins = 0; n < 2 * THREADED_KEYS && spins < 100000000; spins++)
        n += guest_collect(got + n, ARRAY_SIZE(got) - n, true);
    pthread_join(thread, NULL);
    n += guest_collect(got + n, ARRAY_SIZE(got) - n, true);
    ck_assert_uint_eq(n, 2 * THREADED_KEYS);
    for (unsigned i = 0; i < THREADED_KEYS; i++) {
        check_ev(got[2 * i], EVDEV_EV_KEY, (uint16_t)(1 + i % EVDEV_KEY_KPDOT), (int32_t)(i % 2));
        check_syn(got[2 * i + 1]);
    }
}
END_TEST

static Suite *input_suite(void)
{
    Suite *s = suite_create("virtio_input");
    TCase *tables = tcase_create("tables");
    tcase_add_test(tables, test_constants_match_linux);
    tcase_add_test(tables, test_keyboard_keys_match_linux);
    tcase_add_test(tables, test_status_leds);
    tcase_add_test(tables, test_status_malformed_or_foreign);
    suite_add_tcase(s, tables);
    TCase *keyboard = tcase_create("keyboard");
    tcase_add_checked_fixture(keyboard, keyboard_setup, device_teardown);
    tcase_add_test(keyboard, test_keyboard_config);
    tcase_add_test(keyboard, test_config_unknown_and_writes);
    tcase_add_test(keyboard, test_config_long_and_missing_serial);
    tcase_add_test(keyboard, test_key_delivered);
    tcase_add_test(keyboard, test_event_buffer_framing);
    tcase_add_test(keyboard, test_input_before_driver_ok);
    tcase_add_test(keyboard, test_overflow_drops_whole_sequences);
    tcase_add_test(keyboard, test_has_room_before_a_drop);
    tcase_add_test(keyboard, test_full_queue_drains_into_unnotified_buffers);
    tcase_add_test(keyboard, test_reset_drops_queue);
    tcase_add_test(keyboard, test_bad_event_buffer_needs_reset);
    tcase_add_test(keyboard, test_status_queue);
    tcase_add_test(keyboard, test_status_bad_chain_needs_reset);
    tcase_add_test(keyboard, test_keyboard_rejects_invalid_input);
    tcase_add_test(keyboard, test_threaded_sender);
    suite_add_tcase(s, keyboard);
    TCase *tablet = tcase_create("tablet");
    tcase_add_checked_fixture(tablet, tablet_setup, device_teardown);
    tcase_add_test(tablet, test_tablet_config);
    tcase_add_test(tablet, test_sequence_never_split);
    tcase_add_test(tablet, test_waiting_sequence_keeps_order);
    tcase_add_test(tablet, test_overflow_by_events);
    tcase_add_test(tablet, test_sequence_longer_than_ring_dropped);
    tcase_add_test(tablet, test_tablet_rejects_invalid_input);
    tcase_add_test(tablet, test_tablet_sequences);
    suite_add_tcase(s, tablet);
    return s;
}

int main(void)
{
    return run_suite(input_suite());
}
