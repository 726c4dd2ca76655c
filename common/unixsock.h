/* Unix-domain stream sockets: where vmmd and the guest workers listen, and how
 * vmmctl and viewers reach them. The socket lives in a directory only its owner
 * can enter, so the file system is the first check on who may connect; the
 * peer's uid is the second. */
#ifndef IGNITION_UNIXSOCK_H
#define IGNITION_UNIXSOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Creates a listening SOCK_STREAM socket at path: non-blocking, close-on-exec,
 * backlog 64, the socket file mode 0600.
 * The parent directory must be ours and closed to group and others (it is
 * created with mode 0700 if missing; only the last component is created).
 * A socket file already at path is replaced when it is stale (nothing accepts
 * connections on it) and refused as "already in use" when something does; any
 * other kind of file there is refused and left alone.
 * Returns the fd, or -1 with a sentence in err (naming the path, and the limit
 * when the path is longer than a socket address holds). */
int unixsock_listen(const char *path, char *err, size_t err_len);

/* Connects to the socket at path (blocking), close-on-exec, and talks only to a
 * server of our own uid (unixsock_check_peer): whoever could put a socket at
 * the path first must not pass for vmmd or a guest. Returns the fd, or -1
 * with a sentence in err: nothing there, a stale socket, a path too long, a
 * server of another user (errno EPERM), or the system's reason. When connect
 * itself failed, errno says why (ENOENT, ECONNREFUSED, ...), so that callers
 * can tell "nobody there". */
int unixsock_connect(const char *path, char *err, size_t err_len);

/* 0 when the process at the other end of fd (path names it in err) runs as
 * uid expected (SO_PEERCRED, getpeereid), else -1 with a sentence in err. */
int unixsock_check_peer(int fd, uid_t expected, const char *path, char *err, size_t err_len);

/* The effective uid of the process at the other end of a connected socket
 * (as it was when it connected). Returns 0 or -errno. */
int unixsock_peer_uid(int fd, uid_t *uid);

/* Accepts one pending connection as a non-blocking, close-on-exec fd.
 * Returns the fd or -errno (-EAGAIN when none is pending). */
int unixsock_accept(int listen_fd);

#endif
