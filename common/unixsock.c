#include "unixsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LISTEN_BACKLOG 64

/* Fills addr; false (with err set) when path does not fit in sun_path. */
static bool make_address(const char *path, struct sockaddr_un *addr, char *err, size_t err_len)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len == 0) {
        set_message(err, err_len, "empty socket path");
        return false;
    }
    if (len >= sizeof(addr->sun_path)) {
        set_message(err, err_len, "socket path %s is %zu bytes; a Unix socket path holds at most %zu",
                path, len, sizeof(addr->sun_path) - 1);
        return false;
    }
    memcpy(addr->sun_path, path, len + 1);
    return true;
}

/* A close-on-exec stream socket, optionally non-blocking; -1 with errno set. */
static int new_socket(bool nonblocking)
{
#ifdef SOCK_CLOEXEC
    return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
#else
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int err = nonblocking ? set_nonblock_cloexec(fd) : 0;
    if (!err && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        err = -errno;
    if (err) {
        close(fd);
        errno = -err;
        return -1;
    }
    return fd;
#endif
}

/* The directory part of path ("." for a bare name). */
static void parent_of(const char *path, char *dir, size_t dir_len)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dir_len, ".");
        return;
    }
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    snprintf(dir, dir_len, "%.*s", (int)len, path);
}

/* Whoever can enter the directory could connect to the socket (or replace it):
 * it must be ours and closed to everyone else. lstat, not stat: a symbolic
 * link (which anyone can make in /tmp) is refused, not followed to a
 * directory that passes. A directory ours and private cannot be swapped
 * afterwards either: its parent is ours, or sticky (/tmp), or the state
 * directory, so only we can rename it. */
static bool ensure_private_dir(const char *dir, char *err, size_t err_len)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        if (errno != ENOENT) {
            set_message(err, err_len, "cannot inspect directory %s: %s", dir, strerror(errno));
            return false;
        }
        /* chmod as well: the umask may have taken bits we need. */
        if (mkdir(dir, 0700) < 0 || chmod(dir, 0700) < 0 || lstat(dir, &st) < 0) {
            set_message(err, err_len, "cannot create directory %s: %s", dir, strerror(errno));
            return false;
        }
    }
    if (S_ISLNK(st.st_mode)) {
        set_message(err, err_len, "%s is a symbolic link, not a directory of ours; "
                    "not following it", dir);
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        set_message(err, err_len, "%s is not a directory", dir);
        return false;
    }
    if (st.st_uid != geteuid()) {
        set_message(err, err_len, "directory %s belongs to uid %u, not to us (uid %u)", dir,
                (unsigned)st.st_uid, (unsigned)geteuid());
        return false;
    }
    if (st.st_mode & 077) {
        set_message(err, err_len,
                "directory %s is accessible by group or others (mode %04o); "
                "it must be private to its owner (chmod 700 %s)",
                dir, (unsigned)(st.st_mode & 07777), dir);
        return false;
    }
    return true;
}

/* Is a process accepting connections on the socket at addr? 1 yes, 0 stale,
 * -1 cannot tell (err set). */
static int socket_in_use(const struct sockaddr_un *addr, char *err, size_t err_len)
{
    int fd = new_socket(true);
    if (fd < 0) {
        set_message(err, err_len, "socket: %s", strerror(errno));
        return -1;
    }
    int r = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
    int saved = errno;
    close(fd);
    /* A full backlog (EAGAIN) still means someone is listening. */
    if (r == 0 || saved == EAGAIN || saved == EINPROGRESS)
        return 1;
    if (saved == ECONNREFUSED)
        return 0;
    set_message(err, err_len, "cannot tell whether %s is in use: %s", addr->sun_path, strerror(saved));
    return -1;
}

/* Makes path free for bind: nothing there, or a stale socket removed. */
static bool clear_stale_socket(const struct sockaddr_un *addr, char *err, size_t err_len)
{
    const char *path = addr->sun_path;
    struct stat st;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return true;
        set_message(err, err_len, "cannot inspect %s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) {
        set_message(err, err_len, "%s exists and is not a socket; not removing it", path);
        return false;
    }
    switch (socket_in_use(addr, err, err_len)) {
    case 1:
        set_message(err, err_len, "%s is already in use: another process is listening there", path);
        return false;
    case 0:
        if (unlink(path) < 0 && errno != ENOENT) {
            set_message(err, err_len, "cannot remove stale socket %s: %s", path, strerror(errno));
            return false;
        }
        return true;
    default:
        return false;
    }
}

static int bind_and_listen(int fd, const struct sockaddr_un *addr, char *err, size_t err_len)
{
    const char *path = addr->sun_path;
    /* Linux creates the file with the socket's own mode; elsewhere fchmod on a
     * socket may fail, and the chmod below is what counts. */
    (void)fchmod(fd, 0600);
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        if (errno == EADDRINUSE)
            set_message(err, err_len, "%s is already in use: another process created it just now",
                    path);
        else
            set_message(err, err_len, "cannot bind %s: %s", path, strerror(errno));
        return -1;
    }
    if (chmod(path, 0600) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        set_message(err, err_len, "cannot listen on %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

int unixsock_listen(const char *path, char *err, size_t err_len)
{
    struct sockaddr_un addr;
    if (!make_address(path, &addr, err, err_len))
        return -1;
    char dir[sizeof(addr.sun_path)];
    parent_of(path, dir, sizeof(dir));
    if (!ensure_private_dir(dir, err, err_len) || !clear_stale_socket(&addr, err, err_len))
        return -1;
    int fd = new_socket(true);
    if (fd < 0) {
        set_message(err, err_len, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind_and_listen(fd, &addr, err, err_len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void explain_connect_error(const char *path, int error, char *err, size_t err_len)
{
    switch (error) {
    case ENOENT:
        set_message(err, err_len, "no guest is listening at %s (no such socket)", path);
        break;
    case ECONNREFUSED:
        set_message(err, err_len,
                "stale socket at %s: the process that made it is gone and nothing listens there",
                path);
        break;
    default:
        set_message(err, err_len, "cannot connect to %s: %s", path, strerror(error));
        break;
    }
}

int unixsock_connect(const char *path, char *err, size_t err_len)
{
    struct sockaddr_un addr;
    if (!make_address(path, &addr, err, err_len))
        return -1;
    int fd = new_socket(false);
    if (fd < 0) {
        set_message(err, err_len, "socket: %s", strerror(errno));
        return -1;
    }
    int r;
    while ((r = connect(fd, (const struct sockaddr *)&addr, sizeof(addr))) < 0 && errno == EINTR)
        ;
    /* An interrupted connect goes on in the background; a retry then reports it. */
    if (r < 0 && errno != EISCONN) {
        int error = errno;
        explain_connect_error(path, error, err, err_len);
        close(fd);
        errno = error;
        return -1;
    }
    if (unixsock_check_peer(fd, geteuid(), path, err, err_len) < 0) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

int unixsock_check_peer(int fd, uid_t expected, const char *path, char *err, size_t err_len)
{
    uid_t uid;
    int rc = unixsock_peer_uid(fd, &uid);
    if (rc < 0) {
        set_message(err, err_len, "cannot tell who answers at %s: %s", path, strerror(-rc));
        return -1;
    }
    if (uid != expected) {
        set_message(err, err_len, "the process answering at %s runs as uid %u, not as uid %u; "
                    "not talking to it", path, (unsigned)uid, (unsigned)expected);
        return -1;
    }
    return 0;
}

int unixsock_peer_uid(int fd, uid_t *uid)
{
#ifdef SO_PEERCRED
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -errno;
    if (len != sizeof(cred))
        return -EINVAL;
    *uid = cred.uid;
    return 0;
#else
    gid_t gid;
    if (getpeereid(fd, uid, &gid) < 0)
        return -errno;
    return 0;
#endif
}

int unixsock_accept(int listen_fd)
{
    for (;;) {
#ifdef SOCK_CLOEXEC
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
        int fd = accept(listen_fd, NULL, NULL);
        if (fd >= 0) {
            int err = set_nonblock_cloexec(fd);
            if (err) {
                close(fd);
                return err;
            }
        }
#endif
        if (fd >= 0)
            return fd;
        if (errno != EINTR)
            return -errno;
    }
}
