/* A 5x7 bitmap font of printable ASCII for the status overlay: enough to say
 * "connection lost" without a font library. */
#ifndef IGNITION_VIEWER_FONT_H
#define IGNITION_VIEWER_FONT_H

#include <stdint.h>

#define FONT_WIDTH 5
#define FONT_HEIGHT 7

/* Seven rows, bit 4 the leftmost pixel. Lower case shows as upper case; a
 * character the font lacks shows as '?'. */
const uint8_t *font_glyph(char c);

#endif
