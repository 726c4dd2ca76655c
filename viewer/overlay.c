#include "overlay.h"

#include <string.h>

#include "font.h"

#define CELL_WIDTH (FONT_WIDTH + 1) /* a column of space between letters */
#define MAX_PIXEL_SCALE 4

/* Big enough to read on a HiDPI drawable, small enough not to cover the guest. */
static int pixel_scale(int drawable_h)
{
    int s = drawable_h / 360;
    if (s < 1)
        return 1;
    return s > MAX_PIXEL_SCALE ? MAX_PIXEL_SCALE : s;
}

static void draw_glyph(SDL_Renderer *r, const uint8_t *rows, int x, int y, int s)
{
    SDL_Rect dots[FONT_WIDTH * FONT_HEIGHT];
    int n = 0;
    for (int row = 0; row < FONT_HEIGHT; row++)
        for (int col = 0; col < FONT_WIDTH; col++)
            if (rows[row] & (0x10 >> col))
                dots[n++] = (SDL_Rect){x + col * s, y + row * s, s, s};
    if (n)
        SDL_RenderFillRects(r, dots, n);
}

void overlay_draw(SDL_Renderer *r, const char *text, int dw, int dh)
{
    size_t len = strlen(text);
    if (len == 0 || dw <= 0 || dh <= 0)
        return;
    int s = pixel_scale(dh);
    int pad = 3 * s;
    int max_chars = (dw - 2 * pad) / (CELL_WIDTH * s);
    if (max_chars <= 0)
        return;
    if (len > (size_t)max_chars)
        len = (size_t)max_chars;
    SDL_Rect box = {0, dh - FONT_HEIGHT * s - 2 * pad, (int)len * CELL_WIDTH * s + 2 * pad - s,
                    FONT_HEIGHT * s + 2 * pad};
    SDL_SetRenderDrawBlendMode(r, SDL_BLENDMODE_BLEND);
    SDL_SetRenderDrawColor(r, 0, 0, 0, 192);
    SDL_RenderFillRect(r, &box);
    SDL_SetRenderDrawBlendMode(r, SDL_BLENDMODE_NONE);
    SDL_SetRenderDrawColor(r, 230, 230, 230, 255);
    for (size_t i = 0; i < len; i++)
        draw_glyph(r, font_glyph(text[i]), box.x + pad + (int)i * CELL_WIDTH * s, box.y + pad, s);
    SDL_SetRenderDrawColor(r, 0, 0, 0, 255);
}
