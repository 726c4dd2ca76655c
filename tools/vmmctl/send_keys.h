/* vmmctl send-keys: types text into a guest through its virtio keyboard, as a
 * US keyboard would (Shift for capitals and symbols, '\n' is Enter, '\t' Tab). */
#ifndef IGNITION_VMMCTL_SEND_KEYS_H
#define IGNITION_VMMCTL_SEND_KEYS_H

#include <stddef.h>

/* How long the worker may take to pass everything to the guest once sent. */
#define SEND_KEYS_DRAIN_MS 10000

/* Types text through the worker listening on display_socket and returns once
 * the worker has taken every key (so exiting right after loses none). A
 * character that cannot be typed is refused before anything is sent.
 * Returns 0, or -1 with one line in err. */
int send_keys_text(const char *display_socket, const char *text, char *err, size_t err_len);

/* The least time between two key transitions (default SEND_KEYS_PACE_NS): as fast
 * as a person types and no faster. The guest kernel keeps 64 events per evdev
 * reader, and a compositor busy drawing on a slow vCPU reads late; a burst beyond
 * that is dropped whole (SYN_DROPPED). Tests of the protocol alone set 0. */
#define SEND_KEYS_PACE_NS 15000000L
void send_keys_set_pace(long nanoseconds);

#endif
