#include "rotating_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_append(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    return fd < 0 ? -errno : fd;
}

int rotating_log_open(struct rotating_log *l, const char *path, uint64_t limit,
                      unsigned generations)
{
    l->fd = -1;
    size_t len = strlen(path);
    if (len + 16 > sizeof(l->path))
        return -ENAMETOOLONG; /* room for the ".N" of the generations */
    memcpy(l->path, path, len + 1);
    l->limit = limit;
    l->generations = generations;
    int fd = open_append(path);
    if (fd < 0)
        return fd;
    l->fd = fd;
    return 0;
}

/* PATH.1 -> PATH.2 and so on, the oldest dropped, PATH -> PATH.1, a new PATH.
 * Says nothing itself: the process's own log may be the file rotating. */
static int rotate(struct rotating_log *l)
{
    char from[sizeof(l->path) + 16], to[sizeof(l->path) + 16];
    for (unsigned g = l->generations; g > 1; g--) {
        snprintf(from, sizeof(from), "%s.%u", l->path, g - 1);
        snprintf(to, sizeof(to), "%s.%u", l->path, g);
        rename(from, to); /* a generation not written yet is no error */
    }
    snprintf(to, sizeof(to), "%s.1", l->path);
    int moved = l->generations > 0 ? rename(l->path, to) : unlink(l->path);
    int err = moved < 0 ? -errno : 0;
    close(l->fd);
    l->fd = open_append(l->path);
    if (l->fd < 0) {
        err = l->fd;
        l->fd = -1;
    }
    return err;
}

int rotating_log_reserve(struct rotating_log *l, size_t len)
{
    struct stat st;
    if (l->fd < 0 || fstat(l->fd, &st) < 0 || st.st_size <= 0)
        return 0;
    uint64_t size = (uint64_t)st.st_size;
    if (size < l->limit && len <= l->limit - size)
        return 0;
    int err = rotate(l);
    return err < 0 ? err : 1;
}

int rotating_log_write(struct rotating_log *l, const void *data, size_t len)
{
    int rotated = rotating_log_reserve(l, len);
    const char *p = data;
    while (len && l->fd >= 0) {
        ssize_t n = write(l->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        len -= (size_t)n;
    }
    return rotated;
}

void rotating_log_close(struct rotating_log *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}
