/* virtio-input: queue 0 (eventq) carries evdev events to the guest, one per
 * 8-byte buffer; queue 1 (statusq) brings back the guest's LED changes. What a
 * device advertises is one table per kind: the config space's bitmaps, the
 * checks on host input and the LEDs recorded all read it.
 *
 * Everything here runs under the transport lock: notifications and config
 * accesses come with it held, host input takes it. */
#include "virtio_input.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "device_state.h"
#include "log.h"
#include "util.h"
#include "virtio.h"
#include "virtio_mmio.h"
#include "virtio_input.pb-c.h"

#define INPUT_QUEUE_SIZE 64 /* Linux offers at most 64 event buffers anyway */
#define DEVIDS_VENDOR 0x4947 /* "IG"; hwdb has no quirks for BUS_VIRTUAL to match it */
#define DEVIDS_VERSION 1
#define DROP_LOG_INTERVAL_NS (10ull * 1000 * 1000 * 1000)

/* ---- what each kind advertises ----------------------------------------------------------- */

struct capability {
    uint16_t type;        /* EVDEV_EV_* */
    uint16_t first, last; /* codes, inclusive */
};

/* The full keyboard: Linux leaves 84 and 195..199 unassigned. EV_REP asks the
 * guest for software autorepeat (the host sends presses and releases only);
 * its codes are what the driver may send back on the status queue. */
static const struct capability keyboard_caps[] = {
    {EVDEV_EV_KEY, EVDEV_KEY_ESC, EVDEV_KEY_KPDOT},
    {EVDEV_EV_KEY, EVDEV_KEY_ZENKAKUHANKAKU, EVDEV_KEY_F24},
    {EVDEV_EV_KEY, EVDEV_KEY_PLAYCD, EVDEV_KEY_MICMUTE},
    {EVDEV_EV_REP, EVDEV_REP_DELAY, EVDEV_REP_PERIOD},
    {EVDEV_EV_LED, EVDEV_LED_NUML, EVDEV_LED_SCROLLL},
};

/* An absolute pointer with mouse buttons and wheels, and no input properties.
 * udev's input_id tags ABS_X/ABS_Y with a mouse button as a mouse, and libinput
 * moves the usual on-screen pointer to the absolute position, as it does for
 * the USB tablets of other hypervisors (which set no properties either).
 * INPUT_PROP_DIRECT is for touchscreens and display tablets, where the contact
 * is the position and no pointer is drawn; INPUT_PROP_POINTER is for indirect
 * devices such as touchpads, which move a pointer by relative motion. */
static const struct capability tablet_caps[] = {
    {EVDEV_EV_KEY, EVDEV_BTN_LEFT, EVDEV_BTN_MIDDLE},
    {EVDEV_EV_REL, EVDEV_REL_HWHEEL, EVDEV_REL_HWHEEL},
    {EVDEV_EV_REL, EVDEV_REL_WHEEL, EVDEV_REL_WHEEL},
    {EVDEV_EV_ABS, EVDEV_ABS_X, EVDEV_ABS_Y},
};

struct kind_desc {
    const char *id_name;  /* ID_NAME: what the guest calls the device */
    const char *log_name; /* the transport's name for it in our logs */
    uint16_t product;     /* ID_DEVIDS */
    const struct capability *caps;
    size_t num_caps;
};

static const struct kind_desc kinds[] = {
    [VIRTIO_INPUT_KEYBOARD] = {"ignition keyboard", "virtio-input-keyboard", 1, keyboard_caps,
                               ARRAY_SIZE(keyboard_caps)},
    [VIRTIO_INPUT_TABLET] = {"ignition tablet", "virtio-input-tablet", 2, tablet_caps,
                             ARRAY_SIZE(tablet_caps)},
};

static bool advertises(const struct kind_desc *k, unsigned type, unsigned code)
{
    for (size_t i = 0; i < k->num_caps; i++)
        if (k->caps[i].type == type && code >= k->caps[i].first && code <= k->caps[i].last)
            return true;
    return false;
}

bool virtio_input_keyboard_has_key(unsigned code)
{
    return advertises(&kinds[VIRTIO_INPUT_KEYBOARD], EVDEV_EV_KEY, code);
}

/* Host input the guest can take: advertised, and with a value Linux expects. */
static bool acceptable(const struct kind_desc *k, const struct virtio_input_event_host *e)
{
    if (!advertises(k, e->type, e->code))
        return false;
    switch (e->type) {
    case EVDEV_EV_KEY: return e->value == 0 || e->value == 1;
    case EVDEV_EV_ABS: return e->value >= 0 && e->value <= VIRTIO_INPUT_TABLET_MAX;
    case EVDEV_EV_REL: return true;
    default: return false; /* EV_LED and EV_REP flow from the guest, not to it */
    }
}

/* ---- config space ------------------------------------------------------------------------ */

/* An evdev bitmap, bit n of byte n / 8 for code n; its size runs to the last
 * byte with a bit set, so an empty bitmap has size 0 ("not supported"). */
static uint8_t fill_bitmap(const struct kind_desc *k, unsigned type, uint8_t *bitmap)
{
    uint8_t size = 0;
    for (size_t i = 0; i < k->num_caps; i++) {
        if (k->caps[i].type != type)
            continue;
        for (unsigned code = k->caps[i].first;
             code <= k->caps[i].last && code / 8 < VIRTIO_INPUT_CFG_UNION_BYTES; code++) {
            bitmap[code / 8] |= (uint8_t)(1u << (code % 8));
            if (code / 8 + 1u > size)
                size = (uint8_t)(code / 8 + 1);
        }
    }
    return size;
}

static uint8_t fill_string(const char *s, uint8_t *out)
{
    size_t len = strnlen(s, VIRTIO_INPUT_CFG_UNION_BYTES);
    memcpy(out, s, len);
    return (uint8_t)len;
}

static uint8_t fill_devids(const struct kind_desc *k, uint8_t *out)
{
    le_put(out, EVDEV_BUS_VIRTUAL, 2);
    le_put(out + 2, DEVIDS_VENDOR, 2);
    le_put(out + 4, k->product, 2);
    le_put(out + 6, DEVIDS_VERSION, 2);
    return VIRTIO_INPUT_DEVIDS_BYTES;
}

/* Every axis we advertise is a tablet axis over 0..TABLET_MAX, no fuzz, no
 * flat zone, no physical resolution. */
static uint8_t fill_absinfo(const struct kind_desc *k, unsigned axis, uint8_t *out)
{
    if (!advertises(k, EVDEV_EV_ABS, axis))
        return 0;
    le_put(out, 0, 4);
    le_put(out + 4, VIRTIO_INPUT_TABLET_MAX, 4);
    return VIRTIO_INPUT_ABSINFO_BYTES; /* fuzz, flat, res stay 0 */
}

/* The union for (select, subsel), zeroed beforehand; returns its size. What
 * the spec does not define, or we do not have, has size 0 (§5.8.5). */
static uint8_t fill_union(const struct kind_desc *k, const char *serial, uint8_t select,
                          uint8_t subsel, uint8_t *out)
{
    switch (select) {
    case VIRTIO_INPUT_CFG_ID_NAME: return subsel ? 0 : fill_string(k->id_name, out);
    case VIRTIO_INPUT_CFG_ID_SERIAL: return subsel ? 0 : fill_string(serial, out);
    case VIRTIO_INPUT_CFG_ID_DEVIDS: return subsel ? 0 : fill_devids(k, out);
    case VIRTIO_INPUT_CFG_PROP_BITS: return 0; /* no properties, as said above */
    case VIRTIO_INPUT_CFG_EV_BITS: return fill_bitmap(k, subsel, out);
    case VIRTIO_INPUT_CFG_ABS_INFO: return fill_absinfo(k, subsel, out);
    default: return 0;
    }
}

/* ---- the status queue -------------------------------------------------------------------- */

/* Copies the chain's readable bytes when they are exactly one event. */
static bool read_one_event(const struct virtq_chain *c, uint8_t event[VIRTIO_INPUT_EVENT_BYTES])
{
    if (c->readable_len != VIRTIO_INPUT_EVENT_BYTES)
        return false;
    size_t done = 0;
    for (unsigned i = 0; i < c->num_segments && done < VIRTIO_INPUT_EVENT_BYTES; i++) {
        const struct virtq_segment *s = &c->segments[i];
        if (s->device_writable)
            break;
        size_t n = s->len < VIRTIO_INPUT_EVENT_BYTES - done ? s->len
                                                             : VIRTIO_INPUT_EVENT_BYTES - done;
        memcpy(event + done, s->host, n);
        done += n;
    }
    return done == VIRTIO_INPUT_EVENT_BYTES;
}

static uint32_t apply_status(const struct kind_desc *k, uint32_t leds,
                             const struct virtq_chain *chain)
{
    uint8_t event[VIRTIO_INPUT_EVENT_BYTES];
    if (!read_one_event(chain, event))
        return leds;
    uint16_t type = le16(event), code = le16(event + 2);
    uint32_t value = le32(event + 4);
    /* EV_REP (the guest's repeat rate) needs nothing from us; unadvertised LEDs
     * would not fit a bit anyway. */
    if (type != EVDEV_EV_LED || !advertises(k, type, code))
        return leds;
    return value ? leds | 1u << code : leds & ~(1u << code);
}

uint32_t virtio_input_status(enum virtio_input_kind kind, uint32_t leds,
                             const struct virtq_chain *chain)
{
    if ((unsigned)kind >= ARRAY_SIZE(kinds))
        return leds;
    return apply_status(&kinds[kind], leds, chain);
}

/* ---- sequences waiting for guest buffers ------------------------------------------------- */

#define SEQUENCE_SLOTS (VIRTIO_INPUT_MAX_SEQUENCE + 1) /* with its SYN_REPORT */

/* Two rings: the events of whole sequences, SYN_REPORTs included, and each
 * sequence's length. */
struct pending {
    struct virtio_input_event_host events[VIRTIO_INPUT_PENDING_EVENTS];
    uint8_t lengths[VIRTIO_INPUT_PENDING_SEQUENCES];
    unsigned first_event, num_events;
    unsigned first_sequence, num_sequences;
};

static bool pending_push(struct pending *p, const struct virtio_input_event_host *events,
                         size_t n)
{
    if (p->num_sequences == VIRTIO_INPUT_PENDING_SEQUENCES ||
        n + 1 > VIRTIO_INPUT_PENDING_EVENTS - p->num_events)
        return false;
    unsigned at = (p->first_event + p->num_events) % VIRTIO_INPUT_PENDING_EVENTS;
    for (size_t i = 0; i <= n; i++) {
        p->events[at] = i < n ? events[i]
                              : (struct virtio_input_event_host){.type = EVDEV_EV_SYN,
                                                                 .code = EVDEV_SYN_REPORT};
        at = (at + 1) % VIRTIO_INPUT_PENDING_EVENTS;
    }
    p->lengths[(p->first_sequence + p->num_sequences) % VIRTIO_INPUT_PENDING_SEQUENCES] =
        (uint8_t)(n + 1);
    p->num_events += (unsigned)n + 1;
    p->num_sequences++;
    return true;
}

static unsigned pending_first_length(const struct pending *p)
{
    return p->lengths[p->first_sequence];
}

/* Event i of the first sequence. */
static const struct virtio_input_event_host *pending_event(const struct pending *p, unsigned i)
{
    return &p->events[(p->first_event + i) % VIRTIO_INPUT_PENDING_EVENTS];
}

static void pending_pop(struct pending *p)
{
    unsigned len = pending_first_length(p);
    p->first_event = (p->first_event + len) % VIRTIO_INPUT_PENDING_EVENTS;
    p->num_events -= len;
    p->first_sequence = (p->first_sequence + 1) % VIRTIO_INPUT_PENDING_SEQUENCES;
    p->num_sequences--;
}

/* ---- the device -------------------------------------------------------------------------- */

/* Where one event goes in a guest buffer: the first 8 bytes of its writable
 * segments, which may be split in up to 8 pieces. */
struct event_slot {
    uint16_t head;
    unsigned num_pieces;
    struct {
        uint8_t *host;
        uint32_t len;
    } pieces[VIRTIO_INPUT_EVENT_BYTES];
};

struct input {
    const struct kind_desc *kind;
    char serial[VIRTIO_INPUT_SERIAL_MAX + 1];
    uint8_t select, subsel;
    uint8_t config[VIRTIO_INPUT_CFG_BYTES]; /* as the driver reads it for select, subsel */
    uint32_t leds;
    struct pending pending;
    uint64_t dropped;
    uint64_t last_drop_log_ns;
    bool drop_logged;
    struct virtq_chain chain; /* large: one, reused */
    struct event_slot slots[SEQUENCE_SLOTS];
    struct virtio_device_ops ops; /* the template with this kind's name */
};

static void render_config(struct input *in)
{
    memset(in->config, 0, sizeof(in->config));
    in->config[VIRTIO_INPUT_CFG_OFF_SELECT] = in->select;
    in->config[VIRTIO_INPUT_CFG_OFF_SUBSEL] = in->subsel;
    in->config[VIRTIO_INPUT_CFG_OFF_SIZE] =
        fill_union(in->kind, in->serial, in->select, in->subsel,
                   in->config + VIRTIO_INPUT_CFG_OFF_UNION);
}

static void input_config_read(void *dev, size_t offset, uint8_t *out, size_t len)
{
    struct input *in = dev;
    memcpy(out, in->config + offset, len); /* the transport keeps it inside */
}

/* Only select and subsel are the driver's to write (§5.8.4). */
static void input_config_write(void *dev, size_t offset, const uint8_t *bytes, size_t len)
{
    struct input *in = dev;
    for (size_t i = 0; i < len; i++) {
        if (offset + i == VIRTIO_INPUT_CFG_OFF_SELECT)
            in->select = bytes[i];
        else if (offset + i == VIRTIO_INPUT_CFG_OFF_SUBSEL)
            in->subsel = bytes[i];
    }
    render_config(in);
}

/* A sequence is lost. Said in the log now and then, not once per key. */
static void note_drop(struct input *in, const char *why)
{
    in->dropped++;
    uint64_t now = monotonic_ns();
    if (in->drop_logged && now - in->last_drop_log_ns < DROP_LOG_INTERVAL_NS)
        return;
    in->drop_logged = true;
    in->last_drop_log_ns = now;
    log_warn("%s: %s; %llu input sequences dropped so far", in->ops.name, why,
             (unsigned long long)in->dropped);
}

/* §5.8.6.1: event buffers are device-writable only and hold one whole event. */
static bool take_slot(const struct virtq_chain *c, struct event_slot *slot)
{
    if (c->readable_len || c->writable_len < VIRTIO_INPUT_EVENT_BYTES)
        return false;
    slot->head = c->head;
    slot->num_pieces = 0;
    uint32_t need = VIRTIO_INPUT_EVENT_BYTES;
    for (unsigned i = 0; i < c->num_segments && need; i++) {
        if (!c->segments[i].len)
            continue;
        uint32_t n = c->segments[i].len < need ? c->segments[i].len : need;
        slot->pieces[slot->num_pieces].host = c->segments[i].host;
        slot->pieces[slot->num_pieces].len = n;
        slot->num_pieces++;
        need -= n;
    }
    return true;
}

static void write_event(const struct event_slot *slot, const struct virtio_input_event_host *e)
{
    uint8_t bytes[VIRTIO_INPUT_EVENT_BYTES];
    le_put(bytes, e->type, 2);
    le_put(bytes + 2, e->code, 2);
    le_put(bytes + 4, (uint32_t)e->value, 4);
    size_t done = 0;
    for (unsigned i = 0; i < slot->num_pieces; i++) {
        memcpy(slot->pieces[i].host, bytes + done, slot->pieces[i].len);
        done += slot->pieces[i].len;
    }
}

/* Whether `need` buffers are there to take. If not, the driver is asked to
 * notify when it adds the one that makes enough, which brings us back to
 * flush_pending. A corrupt index counts as enough: taking the buffers then
 * reports it. */
static bool buffers_ready(struct virtq *vq, unsigned need)
{
    uint16_t available = virtq_available(vq);
    if (available >= need)
        return true;
    virtq_notify_when_available(vq, (uint16_t)need);
    return virtq_available(vq) >= need;
}

/* Takes every buffer of the first sequence before writing any, so a broken
 * one leaves the guest with none of it (the device then needs a reset, which
 * hands the buffers taken back to the driver). */
static bool deliver_first(struct input *in, struct virtq *vq, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        if (virtq_pop(vq, &in->chain) != VIRTQ_OK || !take_slot(&in->chain, &in->slots[i]))
            return false;
    for (unsigned i = 0; i < len; i++) {
        write_event(&in->slots[i], pending_event(&in->pending, i));
        virtq_push(vq, in->slots[i].head, VIRTIO_INPUT_EVENT_BYTES);
    }
    return true;
}

/* Delivers waiting sequences, oldest first, while the guest has room for the
 * whole of the next one. */
static void flush_pending(struct input *in, struct virtio_mmio *t)
{
    struct virtq *vq = virtio_mmio_queue(t, VIRTIO_INPUT_EVENTQ);
    if (!vq)
        return;
    uint16_t old_used = vq->used_idx;
    while (in->pending.num_sequences) {
        unsigned len = pending_first_length(&in->pending);
        if (len > vq->size) { /* would wait forever, and everything behind it */
            pending_pop(&in->pending);
            note_drop(in, "the guest's event ring is too small for a sequence");
            continue;
        }
        if (!buffers_ready(vq, len))
            break;
        if (!deliver_first(in, vq, len)) {
            virtio_mmio_needs_reset(t);
            break;
        }
        pending_pop(&in->pending);
    }
    if (vq->used_idx != old_used)
        virtio_mmio_used(t, VIRTIO_INPUT_EVENTQ, old_used);
}

/* Every status buffer is consumed and returned with nothing written. At most
 * a ring's worth per notification: a guest refilling as fast as we drain is
 * asked to notify again instead of keeping this vCPU here. */
static void drain_status(struct input *in, struct virtio_mmio *t)
{
    struct virtq *vq = virtio_mmio_queue(t, VIRTIO_INPUT_STATUSQ);
    if (!vq)
        return;
    uint16_t old_used = vq->used_idx;
    enum virtq_error err = VIRTQ_OK;
    for (unsigned taken = 0; taken < vq->size; taken++) {
        err = virtq_pop(vq, &in->chain);
        if (err != VIRTQ_OK)
            break;
        in->leds = apply_status(in->kind, in->leds, &in->chain);
        virtq_push(vq, in->chain.head, 0);
    }
    if (err == VIRTQ_OK)
        virtq_notify_on_next(vq);
    if (vq->used_idx != old_used)
        virtio_mmio_used(t, VIRTIO_INPUT_STATUSQ, old_used);
    if (err != VIRTQ_OK && err != VIRTQ_EMPTY)
        virtio_mmio_needs_reset(t);
}

static void input_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    if (q == VIRTIO_INPUT_EVENTQ)
        flush_pending(dev, t);
    else
        drain_status(dev, t);
}

/* A new driver starts from nothing: no stale input, LEDs off. */
static void input_reset(void *dev)
{
    struct input *in = dev;
    memset(&in->pending, 0, sizeof(in->pending));
    in->leds = 0;
    in->select = in->subsel = 0;
    render_config(in);
}

static void input_destroy(void *dev)
{
    free(dev);
}

/* ---- snapshots (transport locked) -------------------------------------------------------- */

static void save_state(const struct input *in, struct virtio_input_state *s)
{
    memset(s, 0, sizeof(*s));
    s->kind = (uint32_t)(in->kind - kinds);
    s->select = in->select;
    s->subsel = in->subsel;
    s->leds = in->leds;
    const struct pending *p = &in->pending;
    s->num_sequences = p->num_sequences;
    s->num_events = p->num_events;
    for (unsigned i = 0; i < p->num_sequences; i++)
        s->lengths[i] = p->lengths[(p->first_sequence + i) % VIRTIO_INPUT_PENDING_SEQUENCES];
    for (unsigned i = 0; i < p->num_events; i++)
        s->events[i] = *pending_event(p, i);
}

static uint32_t advertised_leds(const struct kind_desc *k)
{
    uint32_t leds = 0;
    for (unsigned code = 0; code < 32; code++)
        if (advertises(k, EVDEV_EV_LED, code))
            leds |= 1u << code;
    return leds;
}

static bool is_syn_report(const struct virtio_input_event_host *e)
{
    return e->type == EVDEV_EV_SYN && e->code == EVDEV_SYN_REPORT && e->value == 0;
}

/* Each sequence as virtio_input_send queues it: 1..MAX_SEQUENCE events this
 * kind accepts, then a SYN_REPORT; together exactly num_events. */
static bool pending_state_ok(const struct kind_desc *k, const struct virtio_input_state *s)
{
    if (s->num_sequences > VIRTIO_INPUT_PENDING_SEQUENCES ||
        s->num_events > VIRTIO_INPUT_PENDING_EVENTS)
        return false;
    uint32_t at = 0;
    for (uint32_t i = 0; i < s->num_sequences; i++) {
        uint32_t len = s->lengths[i];
        if (len < 2 || len > SEQUENCE_SLOTS || len > s->num_events - at)
            return false;
        for (uint32_t j = 0; j < len - 1; j++)
            if (!acceptable(k, &s->events[at + j]))
                return false;
        if (!is_syn_report(&s->events[at + len - 1]))
            return false;
        at += len;
    }
    return at == s->num_events;
}

static int check_state(const struct input *in, const struct virtio_input_state *s, char *err,
                       size_t err_len)
{
    if (s->kind != (uint32_t)(in->kind - kinds))
        return device_state_refuse(err, err_len, "the snapshot's input device is of kind %u, "
                                   "not %u", s->kind, (unsigned)(in->kind - kinds));
    if ((s->leds & ~advertised_leds(in->kind)) || !pending_state_ok(in->kind, s))
        return device_state_refuse(err, err_len, "LEDs or waiting input out of range");
    return 0;
}

static void apply_state(struct input *in, const struct virtio_input_state *s)
{
    memset(&in->pending, 0, sizeof(in->pending));
    for (uint32_t i = 0, at = 0; i < s->num_sequences; at += s->lengths[i], i++)
        pending_push(&in->pending, &s->events[at], s->lengths[i] - 1u);
    in->leds = s->leds;
    in->select = s->select;
    in->subsel = s->subsel;
    render_config(in);
}

typedef Ignition__Devices__VirtioInputState InputMsg;
typedef Ignition__Devices__InputEvent EventMsg;

int virtio_input_state_encode(const struct virtio_input_state *s, struct device_state_bytes *out)
{
    if (s->num_sequences > VIRTIO_INPUT_PENDING_SEQUENCES ||
        s->num_events > VIRTIO_INPUT_PENDING_EVENTS)
        return -EINVAL;
    EventMsg *events = calloc(s->num_events ? s->num_events : 1, sizeof(*events));
    EventMsg **list = calloc(s->num_events ? s->num_events : 1, sizeof(*list));
    int rc = -ENOMEM;
    if (events && list) {
        InputMsg m = IGNITION__DEVICES__VIRTIO_INPUT_STATE__INIT;
        m.kind = s->kind, m.select = s->select, m.subsel = s->subsel, m.leds = s->leds;
        m.lengths = (ProtobufCBinaryData){s->num_sequences, (uint8_t *)(uintptr_t)s->lengths};
        for (uint32_t i = 0; i < s->num_events; i++) {
            ignition__devices__input_event__init(&events[i]);
            events[i].type = s->events[i].type;
            events[i].code = s->events[i].code;
            events[i].value = s->events[i].value;
            list[i] = &events[i];
        }
        m.n_events = s->num_events;
        m.events = list;
        rc = device_state_pack(&m.base, out);
    }
    free(events);
    free(list);
    return rc;
}

static int decode_message(const InputMsg *m, struct virtio_input_state *s, char *err,
                          size_t err_len)
{
    if (m->select > UINT8_MAX || m->subsel > UINT8_MAX)
        return device_state_refuse(err, err_len, "virtio-input: a config selector out of range");
    if (m->lengths.len > VIRTIO_INPUT_PENDING_SEQUENCES ||
        m->n_events > VIRTIO_INPUT_PENDING_EVENTS)
        return device_state_refuse(err, err_len, "virtio-input: %zu waiting input sequences "
                                   "of %zu events, more than %d or %d", m->lengths.len,
                                   m->n_events, VIRTIO_INPUT_PENDING_SEQUENCES,
                                   VIRTIO_INPUT_PENDING_EVENTS);
    s->kind = m->kind, s->select = (uint8_t)m->select, s->subsel = (uint8_t)m->subsel;
    s->leds = m->leds;
    s->num_sequences = (uint32_t)m->lengths.len;
    if (m->lengths.len)
        memcpy(s->lengths, m->lengths.data, m->lengths.len);
    for (size_t i = 0; i < m->n_events; i++) {
        const EventMsg *e = m->events[i];
        if (e->type > UINT16_MAX || e->code > UINT16_MAX)
            return device_state_refuse(err, err_len, "virtio-input: event %zu out of range", i);
        s->events[i] = (struct virtio_input_event_host){(uint16_t)e->type, (uint16_t)e->code,
                                                        e->value};
    }
    s->num_events = (uint32_t)m->n_events;
    return 0;
}

int virtio_input_state_decode(const uint8_t *state, size_t len, struct virtio_input_state *out,
                              char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    InputMsg *m = (InputMsg *)device_state_unpack(
        &ignition__devices__virtio_input_state__descriptor, state, len, "virtio-input", err,
        err_len);
    if (!m)
        return -EINVAL;
    int rc = decode_message(m, out, err, err_len);
    device_state_free_unpacked(m);
    return rc;
}

static int input_save(void *dev, struct device_state_bytes *out)
{
    struct virtio_input_state *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    save_state(dev, s);
    int rc = virtio_input_state_encode(s, out);
    free(s);
    return rc;
}

static int input_load(void *dev, const uint8_t *state, size_t len, char *err, size_t err_len)
{
    struct virtio_input_state *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    int rc = virtio_input_state_decode(state, len, s, err, err_len);
    if (rc == 0)
        rc = check_state(dev, s, err, err_len);
    if (rc == 0)
        apply_state(dev, s);
    free(s);
    return rc;
}

static const struct virtio_device_ops input_ops_template = {
    .device_id = VIRTIO_ID_INPUT,
    .num_queues = 2,
    .queue_max = INPUT_QUEUE_SIZE,
    .config_size = VIRTIO_INPUT_CFG_BYTES,
    .config_read = input_config_read,
    .config_write = input_config_write,
    .notify = input_notify,
    .reset = input_reset,
    .destroy = input_destroy,
    .save = input_save,
    .load = input_load,
};

struct device *virtio_input_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram,
                                   enum virtio_input_kind kind, const char *serial)
{
    if ((unsigned)kind >= ARRAY_SIZE(kinds))
        return NULL;
    struct input *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->kind = &kinds[kind];
    /* Linux keeps ID_SERIAL in a zeroed 64-byte array, copying up to 64 bytes:
     * 63 keep it a terminated string there. */
    if (serial)
        memcpy(in->serial, serial, strnlen(serial, VIRTIO_INPUT_SERIAL_MAX));
    in->ops = input_ops_template;
    in->ops.name = in->kind->log_name;
    render_config(in);
    struct device *dev = virtio_mmio_create(base, irq, &in->ops, in, ram);
    if (!dev)
        free(in);
    return dev;
}

/* ---- host input -------------------------------------------------------------------------- */

int virtio_input_send(struct device *dev, const struct virtio_input_event_host *events, size_t n)
{
    struct virtio_mmio *t = virtio_mmio_of(dev);
    struct input *in = virtio_mmio_device_state(t);
    if (n == 0 || n > VIRTIO_INPUT_MAX_SEQUENCE || !events)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!acceptable(in->kind, &events[i]))
            return -EINVAL;
    int rc = 0;
    virtio_mmio_lock(t);
    flush_pending(in, t); /* older sequences first, into buffers posted since */
    if (pending_push(&in->pending, events, n))
        flush_pending(in, t);
    else {
        note_drop(in, "the guest is not taking input");
        rc = -ENOSPC;
    }
    virtio_mmio_unlock(t);
    return rc;
}

bool virtio_input_has_room(struct device *dev)
{
    struct virtio_mmio *t = virtio_mmio_of(dev);
    struct input *in = virtio_mmio_device_state(t);
    virtio_mmio_lock(t);
    flush_pending(in, t);
    bool room = in->pending.num_sequences < VIRTIO_INPUT_PENDING_SEQUENCES &&
                in->pending.num_events + SEQUENCE_SLOTS <= VIRTIO_INPUT_PENDING_EVENTS;
    virtio_mmio_unlock(t);
    return room;
}

static int send_key(struct device *dev, unsigned code, bool pressed)
{
    if (code > UINT16_MAX)
        return -EINVAL;
    struct virtio_input_event_host e = {EVDEV_EV_KEY, (uint16_t)code, pressed};
    return virtio_input_send(dev, &e, 1);
}

int virtio_input_key(struct device *dev, unsigned code, bool pressed)
{
    return send_key(dev, code, pressed);
}

int virtio_input_tablet_button(struct device *dev, unsigned code, bool pressed)
{
    if (code != EVDEV_BTN_LEFT && code != EVDEV_BTN_RIGHT && code != EVDEV_BTN_MIDDLE)
        return -EINVAL;
    return send_key(dev, code, pressed);
}

int virtio_input_tablet_move(struct device *dev, uint32_t x, uint32_t y)
{
    if (x > VIRTIO_INPUT_TABLET_MAX || y > VIRTIO_INPUT_TABLET_MAX)
        return -EINVAL;
    struct virtio_input_event_host e[2] = {
        {EVDEV_EV_ABS, EVDEV_ABS_X, (int32_t)x},
        {EVDEV_EV_ABS, EVDEV_ABS_Y, (int32_t)y},
    };
    return virtio_input_send(dev, e, 2);
}

int virtio_input_tablet_wheel(struct device *dev, int32_t dy, int32_t dx)
{
    struct virtio_input_event_host e[2];
    size_t n = 0;
    if (dy)
        e[n++] = (struct virtio_input_event_host){EVDEV_EV_REL, EVDEV_REL_WHEEL, dy};
    if (dx)
        e[n++] = (struct virtio_input_event_host){EVDEV_EV_REL, EVDEV_REL_HWHEEL, dx};
    return n ? virtio_input_send(dev, e, n) : 0;
}

uint32_t virtio_input_leds(struct device *dev)
{
    struct virtio_mmio *t = virtio_mmio_of(dev);
    struct input *in = virtio_mmio_device_state(t);
    virtio_mmio_lock(t);
    uint32_t leds = in->leds;
    virtio_mmio_unlock(t);
    return leds;
}

uint64_t virtio_input_dropped(struct device *dev)
{
    struct virtio_mmio *t = virtio_mmio_of(dev);
    struct input *in = virtio_mmio_device_state(t);
    virtio_mmio_lock(t);
    uint64_t dropped = in->dropped;
    virtio_mmio_unlock(t);
    return dropped;
}
