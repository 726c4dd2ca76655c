/* A running guest worker's control socket (`vmmd run --control-socket PATH`):
 * where its supervisor, or a test, asks the worker itself for what only it can
 * do while the guest runs, such as taking a snapshot. The protocol is
 * DESIGN.md section 4's, served by proto/control_server.h as vmmd's is:
 * Hello/Welcome, then one request at a time, each answered before the next is
 * read. Only the worker's own user may connect, one client at a time.
 *
 * Requests are carried out on the worker's event loop thread and may take
 * their time (a snapshot writes the guest's memory): the loop waits, so the
 * guest's console and display pause with the guest. */
#ifndef IGNITION_WORKER_CONTROL_H
#define IGNITION_WORKER_CONTROL_H

#include <stddef.h>

struct event_base;
struct control_conn;

/* Takes a snapshot of the running guest into the directory path (absolute).
 * Returns 0, or -1 with a one-line reason in err. */
typedef int (*worker_control_snapshot_fn)(void *opaque, const char *path, char *err,
                                          size_t err_len);

struct worker_control_ops {
    worker_control_snapshot_fn snapshot;
    void *opaque;
};

struct worker_control;

/* Listens at path (see unixsock_listen for what it requires of the path);
 * NULL: no socket, a client comes through worker_control_adopt. Returns NULL
 * with a one-line reason in err. */
struct worker_control *worker_control_create(struct event_base *base, const char *path,
                                             const struct worker_control_ops *ops, char *err,
                                             size_t err_len);

/* For tests and fuzzing: serves fd (a connected socket, now the worker's) as
 * a client that connected. NULL when it is turned away (fd closed). */
struct control_conn *worker_control_adopt(struct worker_control *wc, int fd);

/* Closes the clients and the socket, and removes the socket file (NULL is fine). */
void worker_control_destroy(struct worker_control *wc);

#endif
