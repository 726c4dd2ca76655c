/* A standby worker: a `vmmd standby` process that vmmd starts ahead of need.
 * It has paid for what every worker pays before it can build a machine
 * (exec, the dynamic loader's ~25,000 relocations of Unicorn, the backend's
 * probes) and waits on a socket; the next guest's start or restore hands it
 * the worker's command line and descriptors, and it becomes that worker.
 *
 * On the socket (a stream): one request, a 4-byte little-endian length and
 * then that many bytes of NUL-terminated arguments (the worker's argv, from
 * the program's path on), with two descriptors attached to the length: where
 * the worker logs (its stdout and stderr) and its --ready-fd pipe. The end of
 * the socket without a request (vmmd went away) ends the standby. */
#ifndef IGNITION_VMMD_STANDBY_H
#define IGNITION_VMMD_STANDBY_H

#include <stddef.h>
#include <stdint.h>

/* The descriptor the standby's socket is on; the worker's ready pipe takes it
 * over (--ready-fd 3). */
#define STANDBY_FD 3
#define STANDBY_MAX_ARGS 128
#define STANDBY_MAX_BYTES 65536
/* vmmd starts a standby as `vmmd standby` and an argument of this many
 * spaces: room for the worker's title once it is one. */
#define STANDBY_TITLE_ROOM 96

struct standby_request {
    int argc;
    char **argv; /* argc strings and a NULL, in one allocation with them */
    int log_fd, ready_fd;
};

/* Sends a request; 0 or -errno (-EPIPE: the standby is gone). */
int standby_send(int sock, char *const argv[], int log_fd, int ready_fd);

/* Waits for a request: 1 with *req filled (free with standby_request_free), 0
 * when the socket ended first, -1 with err set for anything malformed. */
int standby_receive(int sock, struct standby_request *req, char *err, size_t err_len);
void standby_request_free(struct standby_request *req);

/* The argument block alone, checked: NUL-terminated strings, at least two,
 * at most STANDBY_MAX_ARGS. Returns 0 with *argv (one allocation) or -1. */
int standby_decode_args(const uint8_t *buf, size_t len, int *argc, char ***argv);

#endif
