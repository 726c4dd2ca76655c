/* The guest's cursor image as the host's mouse cursor. */
#ifndef IGNITION_VIEWER_CURSOR_H
#define IGNITION_VIEWER_CURSOR_H

#include <SDL_mouse.h>

#include "ignition.pb-c.h"

#define CURSOR_MAX_SIDE 256 /* virtio-gpu cursors are 64x64 */

struct cursor {
    SDL_Cursor *current; /* ours to free; NULL while the default arrow shows */
};

/* Shows the image (the default arrow for an empty or malformed one). */
void cursor_set(struct cursor *c, const Ignition__CursorImage *image);
void cursor_free(struct cursor *c);

#endif
