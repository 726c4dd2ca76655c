#include "screen.h"

#include <SDL_version.h>

#include "formats.h"
#include "geometry.h"
#include "log.h"
#include "overlay.h"
#include "util.h"

void screen_init(struct screen *s, SDL_Renderer *renderer)
{
    *s = (struct screen){.renderer = renderer};
}

void screen_free(struct screen *s)
{
    if (s->next)
        SDL_DestroyTexture(s->next);
    if (s->shown)
        SDL_DestroyTexture(s->shown);
    mapping_close(&s->map);
    s->next = s->shown = NULL;
}

static SDL_Texture *create_texture(SDL_Renderer *r, const struct mapping *m)
{
    SDL_Texture *t = SDL_CreateTexture(r, sdl_format_for_virtio(m->format),
                                       SDL_TEXTUREACCESS_STREAMING, (int)m->width,
                                       (int)m->height);
    /* Alpha formats are drawn opaque: a guest desktop has nothing behind it. */
    if (t)
        SDL_SetTextureBlendMode(t, SDL_BLENDMODE_NONE);
    return t;
}

int screen_take_scanout(struct screen *s, const Ignition__ScanoutInfo *info, int fd, char *why,
                        size_t why_len)
{
    if (!info->enabled) {
        /* Keep the last frame; the mapping of a switched-off scanout is stale. */
        s->enabled = false;
        s->has_pending = false;
        mapping_close(&s->map);
        if (s->next) {
            SDL_DestroyTexture(s->next);
            s->next = NULL;
        }
        s->needs_present = true;
        return 0;
    }
    if (fd < 0) {
        set_message(why, why_len, "scanout %u enabled without its memory", info->scanout_id);
        return -1;
    }
    struct mapping m;
    if (mapping_open(&m, info, fd, why, why_len) < 0)
        return -1;
    SDL_Texture *t = create_texture(s->renderer, &m);
    if (!t) {
        set_message(why, why_len, "texture %ux%u: %s", m.width, m.height, SDL_GetError());
        mapping_close(&m);
        return -1;
    }
    mapping_close(&s->map);
    if (s->next)
        SDL_DestroyTexture(s->next);
    s->map = m;
    s->next = t;
    s->has_pending = false; /* rectangles of the old object */
    s->enabled = true;
    return 0;
}

static void upload(SDL_Texture *t, const struct mapping *m, struct view_rect r)
{
    SDL_Rect rect = {r.x, r.y, r.w, r.h};
    const uint8_t *first = mapping_pixel(m, (uint32_t)r.x, (uint32_t)r.y);
    if (SDL_UpdateTexture(t, &rect, first, (int)m->stride) < 0)
        log_debug("texture update: %s", SDL_GetError());
}

static void upload_all(SDL_Texture *t, const struct mapping *m)
{
    upload(t, m, (struct view_rect){0, 0, (int)m->width, (int)m->height});
}

/* The new scanout's first frame: upload all of it (the notice may name only a
 * part) and show it in place of the old one. */
static void promote_next(struct screen *s)
{
    upload_all(s->next, &s->map);
    s->has_pending = false; /* all of it is up */
    if (s->shown)
        SDL_DestroyTexture(s->shown);
    s->shown = s->next;
    s->next = NULL;
    s->shown_w = s->map.width;
    s->shown_h = s->map.height;
}

static void add_pending(struct screen *s, struct view_rect r)
{
    if (!s->has_pending) {
        s->pending = r;
        s->has_pending = true;
        return;
    }
    int x0 = r.x < s->pending.x ? r.x : s->pending.x;
    int y0 = r.y < s->pending.y ? r.y : s->pending.y;
    int x1 = r.x + r.w > s->pending.x + s->pending.w ? r.x + r.w : s->pending.x + s->pending.w;
    int y1 = r.y + r.h > s->pending.y + s->pending.h ? r.y + r.h : s->pending.y + s->pending.h;
    s->pending = (struct view_rect){x0, y0, x1 - x0, y1 - y0};
}

void screen_damage(struct screen *s, const Ignition__Damage *damage)
{
    if (!s->map.base || damage->scanout_id != s->scanout_id)
        return;
    s->needs_present = true;
    if (s->next) {
        promote_next(s);
        return;
    }
    for (size_t i = 0; i < damage->n_rects; i++) {
        const Ignition__Rect *r = damage->rects[i];
        struct view_rect clipped;
        if (r && clip_damage(r->x, r->y, r->width, r->height, s->map.width, s->map.height,
                             &clipped))
            add_pending(s, clipped);
    }
}

void screen_reupload(struct screen *s)
{
    if (s->map.base && s->shown && !s->next)
        upload_all(s->shown, &s->map);
    s->needs_present = true;
}

static void set_scale_mode(SDL_Texture *t, struct view_rect dst, uint32_t w, uint32_t h)
{
#if SDL_VERSION_ATLEAST(2, 0, 12)
    SDL_SetTextureScaleMode(t, letterbox_is_integer_scale(dst, w, h) ? SDL_ScaleModeNearest
                                                                      : SDL_ScaleModeLinear);
#else
    (void)t, (void)dst, (void)w, (void)h; /* the render hint chose nearest for all */
#endif
}

void screen_present(struct screen *s, const char *status)
{
    /* The pixels as they are now: a frame never shows an older state than the
     * notices it answers. */
    if (s->has_pending && s->shown && s->map.base && !s->next)
        upload(s->shown, &s->map, s->pending);
    s->has_pending = false;
    int dw = 0, dh = 0;
    SDL_GetRendererOutputSize(s->renderer, &dw, &dh);
    SDL_SetRenderDrawColor(s->renderer, 0, 0, 0, 255);
    SDL_RenderClear(s->renderer);
    if (s->shown) {
        struct view_rect r = letterbox(dw, dh, s->shown_w, s->shown_h);
        SDL_Rect dst = {r.x, r.y, r.w, r.h};
        set_scale_mode(s->shown, r, s->shown_w, s->shown_h);
        SDL_RenderCopy(s->renderer, s->shown, NULL, &dst);
    }
    if (status && *status)
        overlay_draw(s->renderer, status, dw, dh);
    SDL_RenderPresent(s->renderer);
    s->needs_present = false;
}

void screen_image_size(const struct screen *s, uint32_t *w, uint32_t *h)
{
    *w = s->shown ? s->shown_w : 0;
    *h = s->shown ? s->shown_h : 0;
}
