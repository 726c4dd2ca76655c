/* ignition-view started with a guest's name: what it asks of vmmd. Where the
 * guest's display listens (asked again on every reconnect), a graceful stop,
 * a snapshot and a relaunch from the last snapshot. Each request runs on a
 * short-lived thread of its own, so the window keeps drawing meanwhile. */
#ifndef IGNITION_VIEWER_SUPERVISOR_H
#define IGNITION_VIEWER_SUPERVISOR_H

#include <SDL_stdinc.h>
#include <stddef.h>

#define SUPERVISOR_CLIENT_NAME "ignition-view"

/* A session_resolve_fn; ctx is the guest's name. -ENOENT while vmmd or the
 * guest is not running, -ESRCH when there is no such guest (any more: a
 * disposable guest is removed when it stops), -EPROTO when it has no display. */
int supervisor_resolve_display(void *ctx, char *path, size_t len, char *err, size_t err_len);

/* Asks vmmd, from a thread of its own, to stop guest gracefully (the guest
 * may take a while to power off). A failure is posted as an SDL user event
 * of event_type with code `code` and a malloc'd sentence in data1. Returns 0,
 * or -1 when the thread could not start. */
int supervisor_stop_guest(const char *guest, Uint32 event_type, int code);

/* Stops guest at once (a forced StopRequest) and waits for vmmd's answer: the
 * window is closing. Returns 0, or -1 with why in err. */
int supervisor_stop_guest_now(const char *guest, char *err, size_t err_len);

/* Asks vmmd for a snapshot of guest named GUEST-YYYYmmdd-HHMMSS (UTC, see
 * snapshot_name.h), written as `vmmctl snapshot` writes it; the guest runs on.
 * The outcome is posted as an SDL user event of event_type: code done_code
 * with "snapshot NAME taken", or failed_code with why not, a malloc'd
 * sentence in data1 either way (also logged). Returns 0, or -1 when the
 * request could not even be made. */
int supervisor_snapshot_guest(const char *guest, Uint32 event_type, int done_code,
                              int failed_code);

/* Asks vmmd to relaunch guest from its last snapshot (RelaunchRequest): the
 * running worker is stopped at once and the snapshot restored under the same
 * name. The outcome as for supervisor_snapshot_guest; the session reconnects
 * to the new worker by itself. */
int supervisor_relaunch_guest(const char *guest, Uint32 event_type, int done_code,
                              int failed_code);

#endif
