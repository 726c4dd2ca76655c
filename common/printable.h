/* Text that came from a guest or a peer, made safe to show on a terminal, in a
 * window title or in a log. A guest writes whatever bytes it likes to its
 * console, and a terminal obeys escape sequences: a console tail printed raw
 * could retitle the window, clear the screen, remap keys or (with some
 * terminals) answer back into the user's shell. What leaves here is printable
 * ASCII; escape sequences are dropped whole, every other byte becomes '?'. */
#ifndef IGNITION_PRINTABLE_H
#define IGNITION_PRINTABLE_H

#include <stdbool.h>
#include <stddef.h>

/* One line (a name, an error message): out gets at most out_len - 1 characters
 * and a terminating NUL; line breaks become '?'. NULL text is "". */
void printable_copy(char *out, size_t out_len, const char *text);

/* Lines (a console's output): as printable_copy, but newlines and tabs are
 * kept and carriage returns dropped. */
void printable_copy_lines(char *out, size_t out_len, const char *text);

#endif
