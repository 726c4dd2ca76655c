/* The display publisher of a guest worker: it listens on the worker's Unix
 * socket, hands each attached viewer the scanouts' shared memory (read-only)
 * and damage notices, and routes the viewers' keyboard, pointer and window-size
 * messages to the guest's virtio-input and virtio-gpu devices (DESIGN.md §4).
 *
 * The publisher outlives a guest reset: viewers stay attached while the machine
 * is rebuilt, and see the scanouts switch off and on again. It runs on the
 * worker's event loop; its display_ops may be called from any thread and never
 * wait on a viewer. */
#ifndef IGNITION_PUBLISHER_H
#define IGNITION_PUBLISHER_H

#include <stddef.h>

#include "devices/device.h"
#include "devices/display.h"

struct event_base;
struct publisher;

/* Listens at socket_path (its directory must be ours and 0700). Returns NULL
 * with a one-line reason in err. */
struct publisher *publisher_create(struct event_base *base, const char *socket_path,
                                   const char *guest_name, char *err, size_t err_len);
/* Disconnects every viewer and removes the socket. */
void publisher_destroy(struct publisher *p);

/* What the virtio-gpu reports to (opaque = the publisher). */
extern const struct display_ops publisher_display_ops;

/* The devices of the machine now running (any may be NULL); NULLs when the
 * machine goes away. Called on the event loop's thread. */
void publisher_attach_machine(struct publisher *p, struct device *gpu, struct device *keyboard,
                              struct device *tablet);
void publisher_detach_machine(struct publisher *p);
/* Sends viewers what the devices reported so far, now rather than on the
 * loop's next turn: a restore shows its screen before the guest runs. Call
 * it on the loop's thread. */
void publisher_publish_now(struct publisher *p);

/* How long a viewer may take to finish a message it began (5 s), and how long
 * one must have been silent before a newcomer may take its place when every
 * place is taken (30 s). For tests: the defaults suit viewers. */
void publisher_set_timeouts(struct publisher *p, unsigned frame_ms, unsigned idle_ms);

/* Viewers attached right now (for tests and status). */
unsigned publisher_viewer_count(const struct publisher *p);

#endif
