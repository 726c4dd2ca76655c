/* The seam between the virtio-gpu device, which owns guest resources and their
 * pixels, and the display publisher, which hands scanouts to viewers.
 *
 * A resource's pixels live in a shared memory object (proto/scanout.h layout)
 * from the moment it is created, so TRANSFER_TO_HOST_2D copies guest RAM straight
 * into what viewers map: one copy per pixel, and RESOURCE_FLUSH only notifies.
 *
 * Callbacks run on the thread that processes GPU commands (the vCPU's). They
 * must be quick and never wait on a viewer. */
#ifndef IGNITION_DISPLAY_H
#define IGNITION_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define DISPLAY_MAX_SCANOUTS 16

struct display_rect {
    uint32_t x, y, width, height;
};

/* What one scanout shows. The descriptors stay valid only for the duration of
 * the callback: a publisher that keeps them dups them. */
struct display_scanout {
    bool enabled;           /* false: the guest switched the scanout off */
    uint32_t resource_id;
    int ro_fd;              /* read-only descriptor of the resource's object */
    const uint8_t *map;     /* the whole object, mapped in this process */
    uint64_t object_size;
    uint32_t format;        /* VIRTIO_GPU_FORMAT_* of the resource */
    uint32_t stride;        /* of the resource, bytes per row */
    uint32_t resource_width, resource_height;
    struct display_rect rect; /* the part of the resource shown, inside it */
};

/* A cursor image, B8G8R8A8 (as a byte array: B, G, R, A per pixel), width*4 per row. */
struct display_cursor {
    uint32_t width, height, hot_x, hot_y;
    const uint8_t *pixels;
};

struct display_ops {
    /* SET_SCANOUT (or a resource unref that ends one) changed what scanout_id shows. */
    void (*scanout_changed)(void *opaque, unsigned scanout_id, const struct display_scanout *s);
    /* RESOURCE_FLUSH of rect (in scanout coordinates, clipped to it) on scanout_id:
     * the pixels are in place and the header's sequence is now `sequence`. */
    void (*flushed)(void *opaque, unsigned scanout_id, struct display_rect rect,
                    uint64_t sequence);
    /* UPDATE_CURSOR: a new image, or NULL to hide the cursor. */
    void (*cursor_image)(void *opaque, unsigned scanout_id, const struct display_cursor *c);
    /* MOVE_CURSOR (and the position of UPDATE_CURSOR), in scanout pixels. Signed:
     * a cursor partly past the left or top edge has a negative position. */
    void (*cursor_move)(void *opaque, unsigned scanout_id, int32_t x, int32_t y);
};

#endif
