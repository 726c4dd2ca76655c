/* Where the scanout goes in the window and back: the letterbox, the pointer
 * transform, damage clipping and the size a window asks the guest for. Pure
 * arithmetic, so that HiDPI and odd sizes are unit tests, not window tests. */
#ifndef IGNITION_VIEWER_GEOMETRY_H
#define IGNITION_VIEWER_GEOMETRY_H

#include <stdbool.h>
#include <stdint.h>

struct view_rect {
    int x, y, w, h;
};

/* The largest rectangle of the image's aspect ratio centred in a drawable of
 * dw x dh pixels (black bars fill the rest). An image the size of the drawable
 * fills it exactly, pixel for pixel. Empty sizes give an empty rectangle. */
struct view_rect letterbox(int dw, int dh, uint32_t image_w, uint32_t image_h);

/* Whether the image is drawn at a whole multiple of its size (then nearest
 * neighbour keeps it sharp). */
bool letterbox_is_integer_scale(struct view_rect r, uint32_t image_w, uint32_t image_h);

/* A window point (in SDL's window coordinates, which HiDPI makes smaller than
 * drawable pixels) to the scanout pixel under it, clamped into the image. False
 * when there is no image to point at. */
bool window_to_scanout(int wx, int wy, int window_w, int window_h, int dw, int dh,
                       uint32_t image_w, uint32_t image_h, uint32_t *sx, uint32_t *sy);

/* Intersects a rectangle the server sent with the w x h scanout. False when
 * nothing of it is inside. */
bool clip_damage(uint32_t x, uint32_t y, uint32_t rw, uint32_t rh, uint32_t w, uint32_t h,
                 struct view_rect *out);

/* The mode to ask the guest for: drawable pixels divided by --scale. False when
 * that is empty. */
bool guest_size_for(int dw, int dh, unsigned scale, uint32_t *w, uint32_t *h);

#endif
