/* virtio-input (virtio 1.2 §5.8): a keyboard and an absolute-pointer tablet,
 * driven by Linux's own virtio_input driver. Host input (viewers' keys and
 * pointer, arriving on the event loop's thread) reaches the guest as whole evdev
 * sequences ending in SYN_REPORT; while the guest has no room for one, it waits
 * in a bounded buffer, and when that is full it is dropped whole. */
#ifndef IGNITION_VIRTIO_INPUT_H
#define IGNITION_VIRTIO_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "evdev.h"
#include "virtqueue.h"

enum virtio_input_kind { VIRTIO_INPUT_KEYBOARD, VIRTIO_INPUT_TABLET };

/* One evdev event as the host builds it; the device writes the guest's
 * little-endian struct virtio_input_event. */
struct virtio_input_event_host {
    uint16_t type, code;
    int32_t value;
};

#define VIRTIO_INPUT_MAX_SEQUENCE 16        /* events in one sequence, before SYN_REPORT */
#define VIRTIO_INPUT_PENDING_SEQUENCES 64   /* sequences waiting for guest buffers, */
#define VIRTIO_INPUT_PENDING_EVENTS 1024    /* and their events, SYN_REPORTs included */
#define VIRTIO_INPUT_TABLET_MAX 32767       /* ABS_X and ABS_Y run from 0 to this */
#define VIRTIO_INPUT_SERIAL_MAX 63          /* ID_SERIAL bytes kept (see create) */

/* The device's part of a snapshot (its own message inside the transport's,
 * proto/devices/virtio_input.proto): the config selector
 * the driver last wrote, the guest's LEDs, and the sequences waiting for event
 * buffers, oldest first. Not saved: the dropped count and its log pacing (this
 * process's statistics), the kind's name, serial and capabilities (from
 * create), and the config bytes (rendered from select and subsel). */
struct virtio_input_state {
    uint32_t kind;        /* enum virtio_input_kind: must match the device */
    uint8_t select, subsel;
    uint32_t leds;        /* only LEDs the kind advertises */
    uint32_t num_sequences;
    uint8_t lengths[VIRTIO_INPUT_PENDING_SEQUENCES]; /* each with its SYN_REPORT */
    uint32_t num_events;  /* the sum of the lengths */
    struct virtio_input_event_host events[VIRTIO_INPUT_PENDING_EVENTS];
};

/* The state as its message. encode refuses counts beyond the arrays (-EINVAL);
 * decode what does not decode or does not fit the structure (-EINVAL, reason
 * in err). The device's load checks the values: the kind, LEDs it advertises,
 * and sequences as virtio_input_send queues them. */
int virtio_input_state_encode(const struct virtio_input_state *in,
                              struct device_state_bytes *out);
int virtio_input_state_decode(const uint8_t *state, size_t len, struct virtio_input_state *out,
                              char *err, size_t err_len);

/* serial is what the guest sees as the device's ID_SERIAL (NULL: none); only
 * its first VIRTIO_INPUT_SERIAL_MAX bytes are kept. */
struct device *virtio_input_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram,
                                   enum virtio_input_kind kind, const char *serial);

/* Host input, from any thread. events is one sequence of n events WITHOUT the
 * trailing SYN_REPORT, which the device appends. The guest gets all of it, in
 * order and after any sequence sent before, or none of it. Returns 0 when it
 * was delivered or queued for delivery; -EINVAL when n is 0 or above
 * VIRTIO_INPUT_MAX_SEQUENCE, or an event is not one this device advertises
 * (type and code; EV_KEY values 0 or 1; EV_ABS values in 0..TABLET_MAX); or
 * -ENOSPC when the queue of waiting sequences is full and this one is dropped. */
int virtio_input_send(struct device *dev, const struct virtio_input_event_host *events, size_t n);

/* Whether the waiting queue can take another sequence of any length: a sender
 * that checks first (from one thread) can hold input back instead of losing it. */
bool virtio_input_has_room(struct device *dev);

/* The sequences the publisher sends, each with virtio_input_send's results. */
int virtio_input_key(struct device *dev, unsigned code, bool pressed);   /* EV_KEY */
int virtio_input_tablet_move(struct device *dev, uint32_t x, uint32_t y); /* ABS_X, ABS_Y */
int virtio_input_tablet_button(struct device *dev, unsigned code, bool pressed); /* BTN_* */
/* REL_WHEEL dy (> 0 scrolls up), then REL_HWHEEL dx (> 0 right); zero axes are
 * left out and nothing is sent when both are zero. */
int virtio_input_tablet_wheel(struct device *dev, int32_t dy, int32_t dx);

/* The guest's LED state: bit n set when LED n (EVDEV_LED_*) is on. */
uint32_t virtio_input_leds(struct device *dev);
/* Sequences dropped since creation: queue full, or too long for the guest's ring. */
uint64_t virtio_input_dropped(struct device *dev);

/* Whether the keyboard advertises key code (every KEY_* Linux assigns from
 * KEY_ESC through KEY_MICMUTE, and no BTN_*). */
bool virtio_input_keyboard_has_key(unsigned code);

/* The status queue's parser, on one chain from the driver: returns the LED
 * bits after it, given those before. A chain that is not exactly one event
 * (8 readable bytes), or an event other than an EV_LED the device advertises,
 * leaves them unchanged. */
uint32_t virtio_input_status(enum virtio_input_kind kind, uint32_t leds,
                             const struct virtq_chain *chain);

#endif
