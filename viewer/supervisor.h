/* ignition-view started with a guest's name: what it asks of vmmd. Where the
 * guest's display listens (asked again on every reconnect), and a graceful
 * stop. */
#ifndef IGNITION_VIEWER_SUPERVISOR_H
#define IGNITION_VIEWER_SUPERVISOR_H

#include <SDL_stdinc.h>
#include <stddef.h>

#define SUPERVISOR_CLIENT_NAME "ignition-view"

/* A session_resolve_fn; ctx is the guest's name. -ENOENT while vmmd or the
 * guest is not running, -EPROTO when there is no such guest or it has no
 * display. */
int supervisor_resolve_display(void *ctx, char *path, size_t len, char *err, size_t err_len);

/* Asks vmmd, from a thread of its own, to stop guest gracefully (the guest
 * may take a while to power off). A failure is posted as an SDL user event
 * of event_type with code `code` and a malloc'd sentence in data1. Returns 0,
 * or -1 when the thread could not start. */
int supervisor_stop_guest(const char *guest, Uint32 event_type, int code);

#endif
