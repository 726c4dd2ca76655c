#include "cursor.h"

#include <SDL_endian.h>
#include <SDL_events.h>
#include <SDL_pixels.h>
#include <SDL_surface.h>

#include "log.h"

/* No image from the guest: it draws its pointer into its frame, if it has
 * one (wlroots' software cursor), so the host's is hidden over the window and
 * only one pointer shows. */
static void use_default(struct cursor *c)
{
    SDL_SetCursor(SDL_GetDefaultCursor());
    SDL_ShowCursor(SDL_DISABLE);
    if (c->current)
        SDL_FreeCursor(c->current);
    c->current = NULL;
}

void cursor_reset(struct cursor *c)
{
    use_default(c);
}

bool cursor_image_valid(const Ignition__CursorImage *im)
{
    if (im->width == 0 || im->height == 0 || im->width > CURSOR_MAX_SIDE ||
        im->height > CURSOR_MAX_SIDE)
        return false;
    return im->pixels.len == (size_t)im->width * im->height * 4 && im->hot_x < im->width &&
           im->hot_y < im->height;
}

void cursor_set(struct cursor *c, const Ignition__CursorImage *image)
{
    if (!cursor_image_valid(image)) {
        if (image->width != 0)
            log_debug("cursor image %ux%u with %zu bytes ignored", image->width, image->height,
                      image->pixels.len);
        use_default(c);
        return;
    }
    /* Bytes B,G,R,A are the 32-bit value 0xAARRGGBB on a little-endian host. */
    Uint32 format = SDL_BYTEORDER == SDL_LIL_ENDIAN ? SDL_PIXELFORMAT_ARGB8888
                                                    : SDL_PIXELFORMAT_BGRA8888;
    SDL_Surface *surface = SDL_CreateRGBSurfaceWithFormatFrom(
        image->pixels.data, (int)image->width, (int)image->height, 32, (int)image->width * 4,
        format);
    if (!surface) {
        use_default(c);
        return;
    }
    SDL_Cursor *cur = SDL_CreateColorCursor(surface, (int)image->hot_x, (int)image->hot_y);
    SDL_FreeSurface(surface);
    if (!cur) {
        use_default(c);
        return;
    }
    SDL_SetCursor(cur);
    SDL_ShowCursor(SDL_ENABLE);
    if (c->current)
        SDL_FreeCursor(c->current);
    c->current = cur;
}

void cursor_free(struct cursor *c)
{
    if (c->current) {
        SDL_SetCursor(SDL_GetDefaultCursor());
        SDL_FreeCursor(c->current);
    }
    SDL_ShowCursor(SDL_ENABLE);
    c->current = NULL;
}
