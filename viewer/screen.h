/* The scanout in the window: its mapping, a streaming texture fed only with
 * damaged rectangles, and the letterboxed present. Main thread only. */
#ifndef IGNITION_VIEWER_SCREEN_H
#define IGNITION_VIEWER_SCREEN_H

#include <SDL_render.h>
#include <stdbool.h>
#include <stdint.h>

#include "ignition.pb-c.h"
#include "geometry.h"
#include "scanout_map.h"

struct screen {
    SDL_Renderer *renderer;
    uint32_t scanout_id; /* the one scanout this window shows */
    /* What is on screen; kept while a new scanout waits for its first frame
     * and after the guest switches the scanout off, so nothing flashes. */
    SDL_Texture *shown;
    uint32_t shown_w, shown_h;
    /* The newest scanout: its mapping and, until its first frame, its texture. */
    struct mapping map;
    SDL_Texture *next;
    bool enabled;
    bool needs_present;
    /* Damage since the last frame, as one bounding box: uploaded once, when
     * the frame is drawn, however many notices it came in. */
    struct view_rect pending;
    bool has_pending;
};

void screen_init(struct screen *s, SDL_Renderer *renderer);
void screen_free(struct screen *s);

/* A ScanoutInfo (and its fd, which stays the caller's to close). Returns 0,
 * or -1 with why when it cannot be shown (the last frame stays). */
int screen_take_scanout(struct screen *s, const Ignition__ScanoutInfo *info, int fd, char *why,
                        size_t why_len);

/* Notes the damaged rectangles (clipped to the scanout); the next present
 * uploads them. */
void screen_damage(struct screen *s, const Ignition__Damage *damage);

/* Uploads the whole scanout again (the renderer lost its textures). */
void screen_reupload(struct screen *s);

/* Clears to black, draws the frame letterboxed, then the status text. */
void screen_present(struct screen *s, const char *status);

/* The size of the image being shown (0 x 0 before the first frame). */
void screen_image_size(const struct screen *s, uint32_t *w, uint32_t *h);

#endif
