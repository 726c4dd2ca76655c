/* The viewer's keyboard: which Linux evdev key the guest sees for a key pressed
 * in the window. SDL names keys by position (USB HID usages), so a layout is the
 * guest's business, exactly as with a USB keyboard plugged into it. */
#ifndef IGNITION_VIEWER_KEYMAP_H
#define IGNITION_VIEWER_KEYMAP_H

#include <SDL_scancode.h>

/* The Linux evdev key code (KEY_*) for an SDL scancode, or 0 when Linux has no such key. */
unsigned keymap_evdev_from_sdl(SDL_Scancode scancode);

#endif
