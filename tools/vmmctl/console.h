/* vmmctl console: the guest's serial console on this terminal, like vmctl
 * console or cu. The console socket carries raw bytes both ways.
 *
 * On a terminal the terminal is put in raw mode (and restored on every way
 * out, a signal included) and the user detaches with Ctrl-] or with '~' '.'
 * at the start of a line ("~~" there sends one '~'). Otherwise stdin's bytes
 * go to the guest as they are, and once stdin ends the guest's output is
 * still printed until it has been quiet for a moment, so that a script can
 * pipe a command in and read its answer. */
#ifndef IGNITION_VMMCTL_CONSOLE_H
#define IGNITION_VMMCTL_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_DETACH_KEY 0x1d /* Ctrl-] */
/* After stdin ends: output is printed until the guest has been quiet this long... */
#define CONSOLE_GRACE_MS 500
/* ...but no longer than this after stdin ended (a chatty guest never goes quiet). */
#define CONSOLE_GRACE_MAX_MS 5000

/* Relays between console_socket and this process's stdin and stdout until
 * the user detaches or stdin ends (returns 0), or the guest goes away or a
 * read or write fails (returns -1 with one line in err). */
int console_attach(const char *console_socket, const char *guest_name, char *err,
                   size_t err_len);

/* ---- parts, for tests ------------------------------------------------------------ */

/* The detach sequences in what a user types. */
struct console_escape {
    enum { CONSOLE_LINE_START, CONSOLE_MID_LINE, CONSOLE_AFTER_TILDE } state;
};

/* A new parser: the start of the session counts as the start of a line. */
void console_escape_init(struct console_escape *e);

/* Takes len typed bytes; writes the bytes to send to the guest into out
 * (room for len + 1: a '~' held back by the last call may be released) and
 * returns how many. *detach is set when the user asked to detach; bytes typed
 * after the request are dropped. */
size_t console_escape_feed(struct console_escape *e, const uint8_t *in, size_t len, uint8_t *out,
                           bool *detach);

/* The relay itself, on descriptors: sock the connected console socket, in the
 * user's input, out where the guest's output goes; with escapes (a terminal)
 * typed bytes go through the escape parser and stdin's end is a detach.
 * stop_fd, when not -1, ends the relay (returns 0) once readable: how signals
 * get in. Results as console_attach. */
struct console_relay_options {
    bool escapes;
    int stop_fd;
};
int console_relay(int sock, int in, int out, const struct console_relay_options *opts, char *err,
                  size_t err_len);

#endif
