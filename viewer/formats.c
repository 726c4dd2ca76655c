/* virtio-gpu names a format by its bytes in memory (B8G8R8X8: B first). SDL
 * names packed formats by the bits of a 32-bit value, so on a little-endian
 * host the memory order reads backwards: bytes B,G,R,X are the value
 * 0xXXRRGGBB, SDL's XRGB8888. On a big-endian host the names agree. */
#include "formats.h"

#include <SDL_endian.h>

#include "util.h"

struct format_pair {
    uint32_t virtio;
    Uint32 little_endian, big_endian;
    bool alpha;
};

/* RGB888 and BGR888 are SDL's older names of XRGB8888 and XBGR8888, which
 * SDL before 2.0.14 lacks. */
static const struct format_pair formats[] = {
    {SCANOUT_FORMAT_B8G8R8X8, SDL_PIXELFORMAT_RGB888, SDL_PIXELFORMAT_BGRX8888, false},
    {SCANOUT_FORMAT_B8G8R8A8, SDL_PIXELFORMAT_ARGB8888, SDL_PIXELFORMAT_BGRA8888, true},
    {SCANOUT_FORMAT_X8R8G8B8, SDL_PIXELFORMAT_BGRX8888, SDL_PIXELFORMAT_RGB888, false},
    {SCANOUT_FORMAT_A8R8G8B8, SDL_PIXELFORMAT_BGRA8888, SDL_PIXELFORMAT_ARGB8888, true},
    {SCANOUT_FORMAT_R8G8B8X8, SDL_PIXELFORMAT_BGR888, SDL_PIXELFORMAT_RGBX8888, false},
    {SCANOUT_FORMAT_R8G8B8A8, SDL_PIXELFORMAT_ABGR8888, SDL_PIXELFORMAT_RGBA8888, true},
    {SCANOUT_FORMAT_X8B8G8R8, SDL_PIXELFORMAT_RGBX8888, SDL_PIXELFORMAT_BGR888, false},
    {SCANOUT_FORMAT_A8B8G8R8, SDL_PIXELFORMAT_RGBA8888, SDL_PIXELFORMAT_ABGR8888, true},
};

static const struct format_pair *find_format(uint32_t virtio_format)
{
    for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
        if (formats[i].virtio == virtio_format)
            return &formats[i];
    return NULL;
}

Uint32 sdl_format_for_virtio(uint32_t virtio_format)
{
    const struct format_pair *f = find_format(virtio_format);
    if (!f)
        return SDL_PIXELFORMAT_UNKNOWN;
    return SDL_BYTEORDER == SDL_LIL_ENDIAN ? f->little_endian : f->big_endian;
}

bool virtio_format_has_alpha(uint32_t virtio_format)
{
    const struct format_pair *f = find_format(virtio_format);
    return f && f->alpha;
}
