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

/* A screen watched: one connection to the worker, the scanout's shared memory
 * kept mapped, so each look is a copy of what the guest last flushed. */
struct scanout_capture;
struct screen_watch {
    int sock;
    struct scanout_capture *capture;
};

/* Attaches to display_socket and waits for scanout_id's first frame (as
 * screenshot_png). Returns 0, or -1 with one line in err. */
int screen_watch_open(struct screen_watch *w, const char *display_socket, unsigned scanout_id,
                      char *err, size_t err_len);

/* Handles what the worker sent (damage notices; a new mapping when the mode
 * changed), waiting up to wait_ms for the first message. Returns 0, or -1
 * with one line in err once the display is gone. */
int screen_watch_pump(struct screen_watch *w, int wait_ms, char *err, size_t err_len);

/* The frame now on the screen as width x height R, G, B triples (malloc'd;
 * the caller frees), or NULL when out of memory or nothing is mapped. */
uint8_t *screen_watch_rgb(const struct screen_watch *w, uint32_t *width, uint32_t *height);

void screen_watch_close(struct screen_watch *w);

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
