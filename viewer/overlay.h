/* The status line: a small dark box in the bottom-left corner with one line
 * of text, drawn with SDL's rectangles over the frame. */
#ifndef IGNITION_VIEWER_OVERLAY_H
#define IGNITION_VIEWER_OVERLAY_H

#include <SDL_render.h>

/* Draws text (ASCII) over whatever the renderer holds; nothing when empty. */
void overlay_draw(SDL_Renderer *renderer, const char *text, int drawable_w, int drawable_h);

#endif
