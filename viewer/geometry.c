#include "geometry.h"

struct view_rect letterbox(int dw, int dh, uint32_t iw, uint32_t ih)
{
    struct view_rect r = {0, 0, 0, 0};
    if (dw <= 0 || dh <= 0 || iw == 0 || ih == 0)
        return r;
    /* Compare the aspect ratios as cross products: 64 bits hold them exactly. */
    if ((uint64_t)dw * ih <= (uint64_t)dh * iw) {
        r.w = dw;
        r.h = (int)((uint64_t)ih * (uint64_t)dw / iw);
    } else {
        r.h = dh;
        r.w = (int)((uint64_t)iw * (uint64_t)dh / ih);
    }
    if (r.w < 1)
        r.w = 1;
    if (r.h < 1)
        r.h = 1;
    r.x = (dw - r.w) / 2;
    r.y = (dh - r.h) / 2;
    return r;
}

bool letterbox_is_integer_scale(struct view_rect r, uint32_t iw, uint32_t ih)
{
    if (iw == 0 || ih == 0 || r.w <= 0 || r.h <= 0)
        return false;
    return (uint32_t)r.w % iw == 0 && (uint32_t)r.h % ih == 0 && (uint32_t)r.w / iw == (uint32_t)r.h / ih;
}

static uint32_t clamp_to_image(int64_t v, uint32_t size)
{
    if (v < 0)
        return 0;
    if (v >= (int64_t)size)
        return size - 1;
    return (uint32_t)v;
}

bool window_to_scanout(int wx, int wy, int window_w, int window_h, int dw, int dh, uint32_t iw,
                       uint32_t ih, uint32_t *sx, uint32_t *sy)
{
    if (window_w <= 0 || window_h <= 0 || iw == 0 || ih == 0)
        return false;
    struct view_rect r = letterbox(dw, dh, iw, ih);
    if (r.w <= 0 || r.h <= 0)
        return false;
    /* Window points to drawable pixels, then into the image; floor division of
     * the scaled position keeps each image pixel's area its own. */
    int64_t px = (int64_t)wx * dw / window_w - r.x;
    int64_t py = (int64_t)wy * dh / window_h - r.y;
    /* Past the far edge is the last pixel anyway; clamped first, the products
     * below stay small whatever the window system reports. */
    if (px >= r.w)
        px = r.w - 1;
    if (py >= r.h)
        py = r.h - 1;
    int64_t ix = px < 0 ? -1 : px * (int64_t)iw / r.w;
    int64_t iy = py < 0 ? -1 : py * (int64_t)ih / r.h;
    *sx = clamp_to_image(ix, iw);
    *sy = clamp_to_image(iy, ih);
    return true;
}

bool clip_damage(uint32_t x, uint32_t y, uint32_t rw, uint32_t rh, uint32_t w, uint32_t h,
                 struct view_rect *out)
{
    if (x >= w || y >= h || rw == 0 || rh == 0)
        return false;
    /* 64-bit ends: x + rw cannot wrap. */
    uint64_t x2 = (uint64_t)x + rw, y2 = (uint64_t)y + rh;
    if (x2 > w)
        x2 = w;
    if (y2 > h)
        y2 = h;
    out->x = (int)x;
    out->y = (int)y;
    out->w = (int)(x2 - x);
    out->h = (int)(y2 - y);
    return true;
}

bool guest_size_for(int dw, int dh, unsigned scale, uint32_t *w, uint32_t *h)
{
    if (dw <= 0 || dh <= 0 || scale == 0)
        return false;
    *w = (uint32_t)dw / scale;
    *h = (uint32_t)dh / scale;
    return *w > 0 && *h > 0;
}
