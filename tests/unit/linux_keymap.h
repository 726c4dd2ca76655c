/* Linux's key codes (<linux/input-event-codes.h>) for every SDL scancode the viewer
 * maps, captured in their own translation unit: the header exists only on Linux,
 * while the viewer's table spells the same numbers out. */
#ifndef IGNITION_TEST_LINUX_KEYMAP_H
#define IGNITION_TEST_LINUX_KEYMAP_H

#include <SDL_scancode.h>
#include <stddef.h>

struct keymap_expectation {
    SDL_Scancode scancode;
    unsigned evdev;
};

extern const struct keymap_expectation linux_keymap_expected[];
extern const size_t linux_keymap_expected_count;

/* The last key the guest's keyboard advertises. */
extern const unsigned linux_key_micmute;

#endif
