#include "worker/supervision.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* The pid the lock's holder wrote, or 0 when it has not written one yet. */
static long holder_pid(int fd)
{
    char text[32];
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    if (n <= 0)
        return 0;
    text[n] = '\0';
    long pid = strtol(text, NULL, 10);
    return pid > 0 ? pid : 0;
}

static void describe_holder(int fd, const char *path, const char *name, char *err,
                            size_t err_len)
{
    char who[300];
    if (name)
        snprintf(who, sizeof(who), "guest %s is already running", name);
    else
        snprintf(who, sizeof(who), "%s is locked by another worker", path);
    long pid = holder_pid(fd);
    if (pid)
        set_message(err, err_len, "%s (pid %ld)", who, pid);
    else
        set_message(err, err_len, "%s", who);
}

int supervision_lock(const char *path, const char *name, char *err, size_t err_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_message(err, err_len, "lock file %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            describe_holder(fd, path, name, err, err_len);
        else
            set_message(err, err_len, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    char pid[32];
    int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    int rc = ftruncate(fd, 0) < 0 ? -errno : 0;
    if (rc == 0)
        rc = pwrite(fd, pid, (size_t)len, 0) == len ? 0 : -EIO;
    if (rc < 0) {
        set_message(err, err_len, "cannot write our pid into %s: %s", path, strerror(-rc));
        close(fd);
        return -1;
    }
    return fd;
}

/* PATH.new: where the line is written before it is renamed into place. */
static char *exit_file_temp(const char *path)
{
    size_t len = strlen(path) + 5;
    char *tmp = malloc(len);
    if (tmp)
        snprintf(tmp, len, "%s.new", path);
    return tmp;
}

int supervision_exit_file_clear(const char *path, char *err, size_t err_len)
{
    if (unlink(path) < 0 && errno != ENOENT) {
        set_message(err, err_len, "cannot remove the old exit file %s: %s", path,
                    strerror(errno));
        return -1;
    }
    /* The line is written as the worker ends, when the disk may have filled
     * up: its room is taken now, while there is some. Without it (a full disk
     * already) the write tries its luck later. */
    char *tmp = exit_file_temp(path);
    int fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd >= 0) {
        if (posix_fallocate(fd, 0, SUPERVISION_EXIT_FILE_ROOM) != 0)
            log_debug("no room kept for the exit file %s", path);
        close(fd);
    }
    free(tmp);
    return 0;
}

int supervision_exit_file_write(const char *path, const char *line)
{
    char *tmp = exit_file_temp(path);
    if (!tmp)
        return -ENOMEM;
    /* Into the room kept for it: overwritten and cut to size, not truncated
     * first, so that no new block is needed. */
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        rc = -errno;
    size_t len = strlen(line);
    if (rc == 0)
        rc = write_fully(fd, line, len);
    if (rc == 0)
        rc = write_fully(fd, "\n", 1);
    if (rc == 0 && ftruncate(fd, (off_t)len + 1) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int supervision_signal_ready(int fd, const char *backend)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "ready %s\n", backend);
    int rc = n > 0 && (size_t)n < sizeof(line) ? write_fully(fd, line, (size_t)n) : -EINVAL;
    close(fd);
    return rc;
}
