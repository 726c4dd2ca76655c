/* virtio-gpu pixel formats as SDL texture formats. */
#ifndef IGNITION_VIEWER_FORMATS_H
#define IGNITION_VIEWER_FORMATS_H

#include <SDL_pixels.h>
#include <stdbool.h>
#include <stdint.h>

/* virtio-gpu format numbers (the virtio 1.2 spec, 5.7.6.8). */
enum {
    VIEW_FORMAT_B8G8R8A8 = 1,
    VIEW_FORMAT_B8G8R8X8 = 2,
    VIEW_FORMAT_A8R8G8B8 = 3,
    VIEW_FORMAT_X8R8G8B8 = 4,
    VIEW_FORMAT_R8G8B8A8 = 67,
    VIEW_FORMAT_X8B8G8R8 = 68,
    VIEW_FORMAT_A8B8G8R8 = 121,
    VIEW_FORMAT_R8G8B8X8 = 134,
};

/* The SDL format whose pixels have the same bytes in memory as the virtio-gpu
 * format, or SDL_PIXELFORMAT_UNKNOWN for a format we do not know. */
Uint32 sdl_format_for_virtio(uint32_t virtio_format);

/* Whether the format carries alpha (we draw it opaque regardless). */
bool virtio_format_has_alpha(uint32_t virtio_format);

#endif
