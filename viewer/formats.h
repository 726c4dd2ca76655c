/* virtio-gpu pixel formats as SDL texture formats. */
#ifndef IGNITION_VIEWER_FORMATS_H
#define IGNITION_VIEWER_FORMATS_H

#include <SDL_pixels.h>
#include <stdbool.h>
#include <stdint.h>

#include "scanout.h" /* the format numbers */


/* The SDL format whose pixels have the same bytes in memory as the virtio-gpu
 * format, or SDL_PIXELFORMAT_UNKNOWN for a format we do not know. */
Uint32 sdl_format_for_virtio(uint32_t virtio_format);

/* Whether the format carries alpha (we draw it opaque regardless). */
bool virtio_format_has_alpha(uint32_t virtio_format);

#endif
