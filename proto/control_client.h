/* The client's side of vmmd's control socket (DESIGN.md section 4, Control):
 * connect and handshake, then one request and its reply at a time. Used by
 * vmmctl and by ignition-view when it is given a guest's name. Nothing here
 * starts vmmd. */
#ifndef IGNITION_CONTROL_CLIENT_H
#define IGNITION_CONTROL_CLIENT_H

#include <stddef.h>

#include "ignition.pb-c.h"

#define CONTROL_SOCKET_NAME "vmmd.sock"
#define CONTROL_TIMEOUT_MS 5000
#define CONTROL_NOT_RUNNING "vmmd is not running (vmmctl start NAME starts it)"

/* Where vmmd listens: <run dir>/vmmd.sock of the state directory
 * (common/paths.h). Returns 0, or -1 with err. */
int control_socket_path(char *out, size_t len, char *err, size_t err_len);

/* Connects to vmmd's control socket and handshakes as client_name. Returns
 * the blocking socket; -ECONNREFUSED when no vmmd listens there (err:
 * CONTROL_NOT_RUNNING); otherwise another -errno (-EPROTO: vmmd refused us)
 * with one line in err. */
int control_connect(const char *client_name, char *err, size_t err_len);

/* Sends req and waits up to timeout_ms for its reply. Returns 0 with *reply
 * (free with ignition__envelope__free_unpacked(reply, NULL)) when vmmd
 * answered with anything but Error; the Error's code (> 0) when it answered
 * Error, its message in err; or -errno when the request or the reply did not
 * get through (err says why; the connection is then of no further use). */
int control_call(int fd, const Ignition__Envelope *req, Ignition__Envelope **reply,
                 int timeout_ms, char *err, size_t err_len);

/* Which socket of a guest control_guest_socket asks for. */
enum control_guest_socket { CONTROL_DISPLAY_SOCKET, CONTROL_CONSOLE_SOCKET };

/* Asks vmmd (on the connected fd) where guest's display or console listens:
 * Attach or ConsoleAttach. Returns 0 with the path in out; otherwise as
 * control_call, with a message a person can act on in err:
 *   CODE_NOT_FOUND    "no guest named X (vmmctl list shows the guests)"
 *   CODE_BAD_STATE    "guest X is not running (vmmctl start X starts it)"
 *   CODE_UNSUPPORTED  "guest X has no display (started with --no-gui)" */
int control_guest_socket(int fd, const char *guest, enum control_guest_socket which, char *out,
                         size_t out_len, char *err, size_t err_len);

/* The second step of a snapshot: vmmd's reply to SnapshotRequest{guest, SNAP}
 * names the worker's control_socket and the snapshot_path; this asks the
 * worker to write it there and waits up to timeout_ms (the guest is paused
 * meanwhile). Returns 0, or as control_call with a message in err; a worker
 * that ended or did not answer is said to have left the snapshot the previous
 * one or the new one, whole. */
int control_worker_snapshot(const char *control_socket, const char *client_name,
                            const char *guest, const char *snapshot_path, int timeout_ms,
                            char *err, size_t err_len);

#endif
