/* The viewer's input translation: what the guest receives for each SDL event,
 * byte for byte after encoding, and what it must never receive (repeats,
 * chords, unmapped keys). */
#include <check.h>
#include <string.h>

#include "input.h"
#include "unit.h"
#include "wire.h"

#define MAX_SENT 64
#define KEY_A 30
#define KEY_LEFTCTRL 29

static struct {
    Ignition__Envelope *env[MAX_SENT];
    unsigned n;
} sent;
static bool worker_full; /* the worker stopped reading: sends fail */

/* Keeps a decoded copy of each message, as the worker would see it. */
static bool capture(void *ctx, const Ignition__Envelope *env)
{
    (void)ctx;
    if (worker_full)
        return false;
    uint8_t *frame;
    size_t len;
    ck_assert_int_eq(wire_encode(env, &frame, &len), 0);
    ck_assert_uint_lt(sent.n, MAX_SENT);
    ck_assert_int_eq(wire_decode(frame + WIRE_HEADER_BYTES, len - WIRE_HEADER_BYTES,
                                 &sent.env[sent.n]),
                     0);
    sent.n++;
    free(frame);
    return true;
}

static void reset(void)
{
    for (unsigned i = 0; i < sent.n; i++)
        ignition__envelope__free_unpacked(sent.env[i], NULL);
    sent.n = 0;
}

static struct input in;

static void setup(void)
{
    worker_full = false;
    input_init(&in, capture, NULL);
}

static void teardown(void)
{
    reset();
}

static enum chord key(SDL_Scancode sc, bool down, Uint16 mod, Uint8 repeat)
{
    SDL_KeyboardEvent k = {0};
    k.type = down ? SDL_KEYDOWN : SDL_KEYUP;
    k.state = down ? SDL_PRESSED : SDL_RELEASED;
    k.repeat = repeat;
    k.keysym.scancode = sc;
    k.keysym.mod = mod;
    return input_key(&in, &k);
}

static void assert_key(unsigned i, uint32_t code, bool pressed)
{
    ck_assert_uint_lt(i, sent.n);
    ck_assert_int_eq(sent.env[i]->body_case, IGNITION__ENVELOPE__BODY_KEY_EVENT);
    ck_assert_uint_eq(sent.env[i]->key_event->evdev_code, code);
    ck_assert_int_eq(sent.env[i]->key_event->pressed, pressed);
    ck_assert_uint_ne(sent.env[i]->key_event->sent_monotonic_ns, 0);
}

static void assert_button(unsigned i, uint32_t code, bool pressed)
{
    ck_assert_uint_lt(i, sent.n);
    ck_assert_int_eq(sent.env[i]->body_case, IGNITION__ENVELOPE__BODY_BUTTON_EVENT);
    ck_assert_uint_eq(sent.env[i]->button_event->evdev_code, code);
    ck_assert_int_eq(sent.env[i]->button_event->pressed, pressed);
}

START_TEST(test_key_press_and_release)
{
    ck_assert_int_eq(key(SDL_SCANCODE_A, true, 0, 0), CHORD_NONE);
    ck_assert_int_eq(key(SDL_SCANCODE_A, false, 0, 0), CHORD_NONE);
    ck_assert_uint_eq(sent.n, 2);
    assert_key(0, KEY_A, true);
    assert_key(1, KEY_A, false);
}
END_TEST

START_TEST(test_repeats_are_the_guests_job)
{
    key(SDL_SCANCODE_A, true, 0, 0);
    key(SDL_SCANCODE_A, true, 0, 1);
    key(SDL_SCANCODE_A, true, 0, 1);
    ck_assert_uint_eq(sent.n, 1);
}
END_TEST

START_TEST(test_unmapped_key_not_sent)
{
    key(SDL_SCANCODE_UNKNOWN, true, 0, 0);
    key((SDL_Scancode)(SDL_NUM_SCANCODES + 5), true, 0, 0);
    ck_assert_uint_eq(sent.n, 0);
}
END_TEST

/* A release that could not be sent is tried again when everything held is
 * let go (focus loss): the guest is never left holding the key. */
START_TEST(test_unsent_release_is_retried)
{
    key(SDL_SCANCODE_A, true, 0, 0);
    worker_full = true;
    key(SDL_SCANCODE_A, false, 0, 0);
    worker_full = false;
    ck_assert_uint_eq(sent.n, 1);
    input_release_all(&in);
    ck_assert_uint_eq(sent.n, 2);
    assert_key(1, KEY_A, false);
}
END_TEST

/* F held, then Ctrl+Alt pressed while it auto-repeats: not the fullscreen
 * chord, and F's release reaches the guest. */
START_TEST(test_held_key_is_no_chord)
{
    key(SDL_SCANCODE_F, true, 0, 0);
    ck_assert_int_eq(key(SDL_SCANCODE_F, true, KMOD_LCTRL | KMOD_LALT, 1), CHORD_NONE);
    key(SDL_SCANCODE_F, false, KMOD_LCTRL | KMOD_LALT, 0);
    ck_assert_uint_eq(sent.n, 2);
    assert_key(0, 33, true); /* KEY_F */
    assert_key(1, 33, false);
}
END_TEST

START_TEST(test_chords)
{
    ck_assert_int_eq(chord_for(KMOD_LCTRL | KMOD_LALT, SDL_SCANCODE_D), CHORD_DETACH);
    ck_assert_int_eq(chord_for(KMOD_RCTRL | KMOD_RALT, SDL_SCANCODE_F), CHORD_FULLSCREEN);
    ck_assert_int_eq(chord_for(KMOD_LCTRL | KMOD_RALT, SDL_SCANCODE_G), CHORD_GRAB);
    ck_assert_int_eq(chord_for(KMOD_CTRL | KMOD_ALT, SDL_SCANCODE_S), CHORD_SNAPSHOT);
    ck_assert_int_eq(chord_for(KMOD_CTRL | KMOD_ALT, SDL_SCANCODE_R), CHORD_RELAUNCH);
    ck_assert_int_eq(chord_for(KMOD_CTRL | KMOD_ALT, SDL_SCANCODE_X), CHORD_STOP);
    ck_assert_int_eq(chord_for(KMOD_CTRL, SDL_SCANCODE_D), CHORD_NONE);
    ck_assert_int_eq(chord_for(KMOD_ALT, SDL_SCANCODE_D), CHORD_NONE);
    ck_assert_int_eq(chord_for(KMOD_CTRL | KMOD_ALT, SDL_SCANCODE_A), CHORD_NONE);
}
END_TEST

START_TEST(test_chord_key_never_reaches_guest)
{
    key(SDL_SCANCODE_LCTRL, true, KMOD_LCTRL, 0);
    ck_assert_int_eq(key(SDL_SCANCODE_D, true, KMOD_LCTRL | KMOD_LALT, 0), CHORD_DETACH);
    ck_assert_int_eq(key(SDL_SCANCODE_D, true, KMOD_LCTRL | KMOD_LALT, 1), CHORD_NONE);
    /* Released after Ctrl: still the chord's, not the guest's. */
    ck_assert_int_eq(key(SDL_SCANCODE_D, false, 0, 0), CHORD_NONE);
    ck_assert_uint_eq(sent.n, 1);
    assert_key(0, KEY_LEFTCTRL, true);
}
END_TEST

START_TEST(test_focus_loss_releases_what_is_held)
{
    key(SDL_SCANCODE_LCTRL, true, 0, 0);
    key(SDL_SCANCODE_A, true, 0, 0);
    key(SDL_SCANCODE_A, false, 0, 0);
    struct input_view v = {100, 100, 100, 100, 100, 100, 0};
    SDL_MouseButtonEvent b = {.button = SDL_BUTTON_RIGHT, .state = SDL_PRESSED, .x = 5, .y = 6};
    input_button(&in, &v, &b);
    reset();
    input_release_all(&in);
    ck_assert_uint_eq(sent.n, 2);
    assert_key(0, KEY_LEFTCTRL, false);
    assert_button(1, EVDEV_BTN_RIGHT, false);
    reset();
    input_release_all(&in);
    ck_assert_uint_eq(sent.n, 0);
}
END_TEST

START_TEST(test_button_moves_then_clicks)
{
    struct input_view v = {640, 400, 1280, 800, 1280, 800, 0};
    SDL_MouseButtonEvent b = {.button = SDL_BUTTON_MIDDLE, .state = SDL_PRESSED, .x = 10, .y = 20};
    input_button(&in, &v, &b);
    ck_assert_uint_eq(sent.n, 2);
    ck_assert_int_eq(sent.env[0]->body_case, IGNITION__ENVELOPE__BODY_POINTER_EVENT);
    ck_assert_uint_eq(sent.env[0]->pointer_event->x, 20);
    ck_assert_uint_eq(sent.env[0]->pointer_event->y, 40);
    assert_button(1, EVDEV_BTN_MIDDLE, true);
    b.button = SDL_BUTTON_X1;
    input_button(&in, &v, &b);
    ck_assert_uint_eq(sent.n, 2);
}
END_TEST

START_TEST(test_no_pointer_without_image)
{
    struct input_view v = {640, 400, 640, 400, 0, 0, 0};
    input_motion(&in, &v, 3, 3);
    ck_assert_uint_eq(sent.n, 0);
}
END_TEST

START_TEST(test_wheel)
{
    SDL_MouseWheelEvent w = {.x = 0, .y = 2, .direction = SDL_MOUSEWHEEL_NORMAL};
    input_wheel(&in, &w);
    w = (SDL_MouseWheelEvent){.x = 1, .y = 1, .direction = SDL_MOUSEWHEEL_FLIPPED};
    input_wheel(&in, &w);
    w = (SDL_MouseWheelEvent){.x = 0, .y = 0};
    input_wheel(&in, &w);
    ck_assert_uint_eq(sent.n, 2);
    ck_assert_int_eq(sent.env[0]->wheel_event->dy, 2);
    ck_assert_int_eq(sent.env[0]->wheel_event->dx, 0);
    ck_assert_int_eq(sent.env[1]->wheel_event->dy, -1);
    ck_assert_int_eq(sent.env[1]->wheel_event->dx, -1);
}
END_TEST

static Suite *input_suite(void)
{
    Suite *s = suite_create("viewer_input");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_key_press_and_release);
    tcase_add_test(tc, test_unsent_release_is_retried);
    tcase_add_test(tc, test_held_key_is_no_chord);
    tcase_add_test(tc, test_repeats_are_the_guests_job);
    tcase_add_test(tc, test_unmapped_key_not_sent);
    tcase_add_test(tc, test_chords);
    tcase_add_test(tc, test_chord_key_never_reaches_guest);
    tcase_add_test(tc, test_focus_loss_releases_what_is_held);
    tcase_add_test(tc, test_button_moves_then_clicks);
    tcase_add_test(tc, test_no_pointer_without_image);
    tcase_add_test(tc, test_wheel);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(input_suite());
}
