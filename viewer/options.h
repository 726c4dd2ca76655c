/* ignition-view's command line. */
#ifndef IGNITION_VIEWER_OPTIONS_H
#define IGNITION_VIEWER_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define VIEW_MAX_SCALE 8
#define VIEW_MAX_WINDOW 16384 /* larger than any texture a renderer takes */

struct view_options {
    const char *socket_path;
    const char *guest; /* a positional GUEST name, found through vmmd */
    const char *title;
    unsigned width, height; /* --size; 0 when not given */
    unsigned scale;         /* --scale, 1 unless given */
    bool fullscreen;
    bool resize_guest; /* cleared by --no-resize-guest */
    bool wait;
    bool stop_on_close; /* closing the window stops the guest at once */
    bool help;
};

enum options_result {
    OPTIONS_OK,
    OPTIONS_BAD,        /* why says what; exit 2 */
    OPTIONS_NEEDS_VMMD, /* a guest name was given: its socket comes from vmmd */
};

/* Parses argv (argv[0] is the program). On OPTIONS_BAD, why holds one line. */
enum options_result options_parse(int argc, char **argv, struct view_options *opts, char *why,
                                  size_t why_len);

/* The name for the window title: the guest's own name when it gave one, else
 * --title, else the guest named on the command line, else the socket's file
 * name. */
const char *options_display_name(const struct view_options *opts, const char *guest_name);

extern const char options_usage[];

#endif
