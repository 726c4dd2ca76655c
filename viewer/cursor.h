/* The guest's cursor image as the host's mouse cursor. */
#ifndef IGNITION_VIEWER_CURSOR_H
#define IGNITION_VIEWER_CURSOR_H

#include <SDL_mouse.h>
#include <stdbool.h>

#include "ignition.pb-c.h"

#define CURSOR_MAX_SIDE 256 /* virtio-gpu cursors are 64x64 */

struct cursor {
    SDL_Cursor *current; /* ours to free; NULL while the guest gives no image */
};

/* Whether the image is one to show: exactly width x height B8G8R8A8 pixels of
 * at most CURSOR_MAX_SIDE a side, its hot spot inside. Needs no window. */
bool cursor_image_valid(const Ignition__CursorImage *image);

/* Shows the image as the host's cursor over the window; an empty or malformed
 * one hides the host's cursor there (the guest draws its own pointer). */
void cursor_set(struct cursor *c, const Ignition__CursorImage *image);
/* No image yet (a new connection): the host's cursor is hidden over the window. */
void cursor_reset(struct cursor *c);
void cursor_free(struct cursor *c);

#endif
