/* SDL input events to the protocol's input messages, and the viewer's own
 * Ctrl+Alt chords, which never reach the guest. */
#ifndef IGNITION_VIEWER_INPUT_H
#define IGNITION_VIEWER_INPUT_H

#include <SDL_events.h>
#include <stdbool.h>
#include <stdint.h>

#include "ignition.pb-c.h"

#define INPUT_MAX_EVDEV_KEY 0x300 /* KEY_MAX + 1 in Linux */

#define EVDEV_BTN_LEFT 0x110
#define EVDEV_BTN_RIGHT 0x111
#define EVDEV_BTN_MIDDLE 0x112

enum chord {
    CHORD_NONE,
    CHORD_DETACH,     /* Ctrl+Alt+D */
    CHORD_FULLSCREEN, /* Ctrl+Alt+F */
    CHORD_GRAB,       /* Ctrl+Alt+G */
    CHORD_STOP,       /* Ctrl+Alt+X: ask vmmd to stop the guest */
    CHORD_SNAPSHOT,   /* Ctrl+Alt+S: ask vmmd for a snapshot of the guest */
    CHORD_RELAUNCH,   /* Ctrl+Alt+R: ask vmmd to relaunch it from its last snapshot */
};

/* Hands one message to the connection. */
/* Returns whether the message went out (a worker that stops reading gets
 * input dropped). */
typedef bool (*input_send_fn)(void *ctx, const Ignition__Envelope *env);

/* Where the image is, for pointer events. */
struct input_view {
    int window_w, window_h; /* SDL window coordinates */
    int drawable_w, drawable_h;
    uint32_t image_w, image_h; /* 0 while no scanout is shown */
    uint32_t scanout_id;
};

struct input {
    input_send_fn send;
    void *ctx;
    /* What the guest believes is held, so that focus loss can release it. */
    bool keys_down[INPUT_MAX_EVDEV_KEY];
    bool buttons_down[3];
    /* Keys whose press was a chord: their release is ours too. */
    bool chord_keys[SDL_NUM_SCANCODES];
};

void input_init(struct input *in, input_send_fn send, void *ctx);

/* The chord a key press makes with the modifiers held, if any. */
enum chord chord_for(SDL_Keymod mod, SDL_Scancode scancode);

/* A key press or release: sends it, or returns the chord it made (not sent). */
enum chord input_key(struct input *in, const SDL_KeyboardEvent *key);

void input_motion(struct input *in, const struct input_view *v, int x, int y);
void input_button(struct input *in, const struct input_view *v, const SDL_MouseButtonEvent *b);
void input_wheel(struct input *in, const SDL_MouseWheelEvent *w);

/* Focus went elsewhere: release whatever the guest still believes is held. */
void input_release_all(struct input *in);

#endif
