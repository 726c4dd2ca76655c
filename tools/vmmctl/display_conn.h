/* vmmctl's connection to a guest worker's display socket (DESIGN.md section
 * 4): the same protocol a viewer speaks, for commands that look at the screen
 * or type into the guest without a window. */
#ifndef IGNITION_VMMCTL_DISPLAY_CONN_H
#define IGNITION_VMMCTL_DISPLAY_CONN_H

#include <stddef.h>

#define DISPLAY_CONN_CLIENT_NAME "vmmctl"
/* How long the worker gets to answer Hello. */
#define DISPLAY_CONN_HANDSHAKE_MS 5000

/* Connects to display_socket and handshakes. An empty or NULL path is a guest
 * started without a display. Returns the blocking socket, or -1 with one line
 * in err. */
int display_conn_open(const char *display_socket, char *err, size_t err_len);

/* Milliseconds left until deadline_ns (CLOCK_MONOTONIC), 0 once it passed. */
int display_conn_ms_left(unsigned long long deadline_ns);

#endif
