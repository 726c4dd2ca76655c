/* Linux evdev event types and codes (Documentation/input/event-codes.rst), the
 * input ABI that virtio-input carries (virtio 1.2 §5.8). Only those ignition
 * uses, with our own prefix: Linux's header is not available on every host, and
 * its names would collide with anything else that includes it.
 * tests/unit/test_virtio_input.c checks them against <linux/input.h>. */
#ifndef IGNITION_EVDEV_H
#define IGNITION_EVDEV_H

/* struct input_id bustype */
#define EVDEV_BUS_VIRTUAL 0x06

/* Event types */
#define EVDEV_EV_SYN 0x00
#define EVDEV_EV_KEY 0x01
#define EVDEV_EV_REL 0x02
#define EVDEV_EV_ABS 0x03
#define EVDEV_EV_LED 0x11
#define EVDEV_EV_REP 0x14

#define EVDEV_SYN_REPORT 0

/* Keys: the edges of the ranges Linux assigns below its multimedia block */
#define EVDEV_KEY_ESC 1
#define EVDEV_KEY_A 30
#define EVDEV_KEY_KPDOT 83
#define EVDEV_KEY_ZENKAKUHANKAKU 85
#define EVDEV_KEY_POWER 116
#define EVDEV_KEY_F24 194
#define EVDEV_KEY_PLAYCD 200
#define EVDEV_KEY_MICMUTE 248

/* Mouse buttons (EV_KEY codes) */
#define EVDEV_BTN_LEFT 0x110
#define EVDEV_BTN_RIGHT 0x111
#define EVDEV_BTN_MIDDLE 0x112

/* Relative and absolute axes */
#define EVDEV_REL_HWHEEL 0x06
#define EVDEV_REL_WHEEL 0x08
#define EVDEV_ABS_X 0x00
#define EVDEV_ABS_Y 0x01

/* LEDs (status events from the guest) */
#define EVDEV_LED_NUML 0x00
#define EVDEV_LED_CAPSL 0x01
#define EVDEV_LED_SCROLLL 0x02

/* Autorepeat parameters (EV_REP codes) */
#define EVDEV_REP_DELAY 0x00
#define EVDEV_REP_PERIOD 0x01

#endif
