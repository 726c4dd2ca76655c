/* hvc0's host end: the pseudo-terminal a user opens (`screen /dev/pts/N`) to
 * reach the guest's virtio console, and what the guest wrote while nobody had
 * it open. The guest's output goes through a pipe to the worker's loop, which
 * keeps the last HVC_HOST_RING_BYTES nobody has read yet and hands them to the
 * next user who opens the terminal, then goes on live. Whether anyone has it
 * open is what the master end says: hung up while no one does. */
#ifndef IGNITION_HVC_HOST_H
#define IGNITION_HVC_HOST_H

#include <stddef.h>
#include <stdint.h>

#define HVC_HOST_RING_BYTES (64u << 10)

struct event_base;
struct hvc_host;

/* Host input for the guest: returns how many bytes it took (the rest is
 * offered again shortly). Called on the loop's thread. */
typedef size_t (*hvc_input_fn)(void *opaque, const uint8_t *data, size_t len);

/* Takes over the terminal's master and slave (the slave set up as the user
 * should find it, e.g. raw; it is closed here, so that the master tells when a
 * user opens it). Returns NULL (master and slave closed) when out of memory or
 * descriptors. */
struct hvc_host *hvc_host_create(struct event_base *base, int master, int slave,
                                 hvc_input_fn input, void *opaque);
void hvc_host_destroy(struct hvc_host *h);

/* Where the guest's output is to be written (non-blocking; what does not fit is
 * dropped, so the guest never waits). Stays the host's to close. */
int hvc_host_output_fd(const struct hvc_host *h);

#endif
