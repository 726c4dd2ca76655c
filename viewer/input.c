#include "input.h"

#include "geometry.h"
#include "keymap.h"
#include "util.h"

void input_init(struct input *in, input_send_fn send, void *ctx)
{
    *in = (struct input){.send = send, .ctx = ctx};
}

enum chord chord_for(SDL_Keymod mod, SDL_Scancode scancode)
{
    if (!(mod & KMOD_CTRL) || !(mod & KMOD_ALT))
        return CHORD_NONE;
    switch (scancode) {
    case SDL_SCANCODE_D:
        return CHORD_DETACH;
    case SDL_SCANCODE_F:
        return CHORD_FULLSCREEN;
    case SDL_SCANCODE_G:
        return CHORD_GRAB;
    case SDL_SCANCODE_X:
        return CHORD_STOP;
    case SDL_SCANCODE_S:
        return CHORD_SNAPSHOT;
    case SDL_SCANCODE_R:
        return CHORD_RELAUNCH;
    default:
        return CHORD_NONE;
    }
}

static void send_key(struct input *in, uint32_t code, bool pressed)
{
    Ignition__KeyEvent key = IGNITION__KEY_EVENT__INIT;
    key.evdev_code = code;
    key.pressed = pressed;
    key.sent_monotonic_ns = monotonic_ns();
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_KEY_EVENT;
    env.key_event = &key;
    /* A release that could not go out leaves the key down here, so the next
     * release-all (focus loss) tries it again. */
    if (in->send(in->ctx, &env))
        in->keys_down[code] = pressed;
}

static void send_button(struct input *in, unsigned index, bool pressed)
{
    static const uint32_t codes[3] = {EVDEV_BTN_LEFT, EVDEV_BTN_RIGHT, EVDEV_BTN_MIDDLE};
    Ignition__ButtonEvent button = IGNITION__BUTTON_EVENT__INIT;
    button.evdev_code = codes[index];
    button.pressed = pressed;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_BUTTON_EVENT;
    env.button_event = &button;
    if (in->send(in->ctx, &env))
        in->buttons_down[index] = pressed;
}

enum chord input_key(struct input *in, const SDL_KeyboardEvent *key)
{
    SDL_Scancode sc = key->keysym.scancode;
    if ((unsigned)sc >= SDL_NUM_SCANCODES)
        return CHORD_NONE;
    bool pressed = key->state == SDL_PRESSED;
    if (pressed) {
        enum chord c = chord_for((SDL_Keymod)key->keysym.mod, sc);
        unsigned held = keymap_evdev_from_sdl(sc);
        /* A key the guest already has down (held before Ctrl+Alt, now
         * auto-repeating) is no chord: its release must reach the guest. */
        bool guest_has_it = held && held < INPUT_MAX_EVDEV_KEY && in->keys_down[held];
        if (c != CHORD_NONE && !guest_has_it) {
            in->chord_keys[sc] = true;
            return key->repeat ? CHORD_NONE : c;
        }
    } else if (in->chord_keys[sc]) {
        in->chord_keys[sc] = false;
        return CHORD_NONE;
    }
    /* The guest repeats held keys itself. */
    if (key->repeat)
        return CHORD_NONE;
    unsigned code = keymap_evdev_from_sdl(sc);
    if (code == 0 || code >= INPUT_MAX_EVDEV_KEY)
        return CHORD_NONE;
    /* A release of a key the guest never saw pressed (held when we got focus)
     * is still sent: the guest ignores it, and no key stays stuck. */
    send_key(in, code, pressed);
    return CHORD_NONE;
}

void input_motion(struct input *in, const struct input_view *v, int x, int y)
{
    uint32_t sx, sy;
    if (!window_to_scanout(x, y, v->window_w, v->window_h, v->drawable_w, v->drawable_h,
                           v->image_w, v->image_h, &sx, &sy))
        return;
    Ignition__PointerEvent pointer = IGNITION__POINTER_EVENT__INIT;
    pointer.x = sx;
    pointer.y = sy;
    pointer.scanout_id = v->scanout_id;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_POINTER_EVENT;
    env.pointer_event = &pointer;
    in->send(in->ctx, &env);
}

static bool button_index(Uint8 sdl_button, unsigned *index)
{
    switch (sdl_button) {
    case SDL_BUTTON_LEFT:
        *index = 0;
        return true;
    case SDL_BUTTON_RIGHT:
        *index = 1;
        return true;
    case SDL_BUTTON_MIDDLE:
        *index = 2;
        return true;
    default:
        return false;
    }
}

void input_button(struct input *in, const struct input_view *v, const SDL_MouseButtonEvent *b)
{
    unsigned index;
    if (!button_index(b->button, &index))
        return;
    /* The press lands where the pointer is, even if no motion came first. */
    input_motion(in, v, b->x, b->y);
    send_button(in, index, b->state == SDL_PRESSED);
}

void input_wheel(struct input *in, const SDL_MouseWheelEvent *w)
{
    int dy = w->y, dx = w->x;
    if (w->direction == SDL_MOUSEWHEEL_FLIPPED) {
        dy = -dy;
        dx = -dx;
    }
    if (dy == 0 && dx == 0)
        return;
    Ignition__WheelEvent wheel = IGNITION__WHEEL_EVENT__INIT;
    wheel.dy = dy;
    wheel.dx = dx;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_WHEEL_EVENT;
    env.wheel_event = &wheel;
    in->send(in->ctx, &env);
}

void input_release_all(struct input *in)
{
    for (uint32_t code = 0; code < INPUT_MAX_EVDEV_KEY; code++)
        if (in->keys_down[code])
            send_key(in, code, false);
    for (unsigned i = 0; i < ARRAY_SIZE(in->buttons_down); i++)
        if (in->buttons_down[i])
            send_button(in, i, false);
    for (size_t i = 0; i < ARRAY_SIZE(in->chord_keys); i++)
        in->chord_keys[i] = false;
}
