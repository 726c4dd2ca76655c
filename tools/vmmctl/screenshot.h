/* vmmctl screenshot: one frame of a guest's scanout, as the guest drew it,
 * written as an 8-bit RGB PNG. */
#ifndef IGNITION_VMMCTL_SCREENSHOT_H
#define IGNITION_VMMCTL_SCREENSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How long the worker gets to announce the scanout and its first frame. */
#define SCREENSHOT_WAIT_MS 5000

/* Attaches to the worker on display_socket, waits for scanout_id and its
 * first full frame, and writes that frame to out_path (through out_path.tmp
 * and a rename, so out_path is never half written). Returns 0, or -1 with one
 * line in err. */
int screenshot_png(const char *display_socket, unsigned scanout_id, const char *out_path,
                   char *err, size_t err_len);

/* Converts width pixels of a scanout row in format (proto/scanout.h) to
 * width R, G, B byte triples. Alpha is dropped: a desktop has nothing behind
 * it. False (rgb untouched) for a format we do not know. */
bool screenshot_convert_row(uint32_t format, const uint8_t *pixels, uint32_t width,
                            uint8_t *rgb);

/* Writes height rows of width R, G, B triples as a PNG at path. Returns 0, or
 * -1 with one line in err (the file may then be partly written). */
int screenshot_write_png(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height,
                         char *err, size_t err_len);

#endif
