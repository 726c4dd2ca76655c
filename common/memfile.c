#include "memfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#ifdef __linux__
static int memfile_open(const char *name, int *ro_fd)
{
    int fd = memfd_create(name, MFD_CLOEXEC | (ro_fd ? MFD_ALLOW_SEALING : 0));
    if (fd < 0 || !ro_fd)
        return fd;
    /* A memfd has no name to open again, but its /proc link does: opened O_RDONLY
     * it is a new open file description of the same object with read access only. */
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    *ro_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*ro_fd < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}
#else
static int memfile_open(const char *name, int *ro_fd)
{
    /* An unguessable name, unlinked at once: only our fds refer to it. */
    for (int attempt = 0; attempt < 16; attempt++) {
        char path[64];
        snprintf(path, sizeof(path), "/%s-%08x%08x", name, arc4random(), arc4random());
        int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd >= 0) {
            if (ro_fd)
                *ro_fd = shm_open(path, O_RDONLY, 0600);
            int saved = errno;
            shm_unlink(path);
            if (ro_fd && *ro_fd < 0) {
                close(fd);
                errno = saved;
                return -1;
            }
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            if (ro_fd)
                fcntl(*ro_fd, F_SETFD, FD_CLOEXEC);
            return fd;
        }
        if (errno != EEXIST)
            return -1;
    }
    return -1;
}
#endif

int memfile_create(const char *name, uint64_t size)
{
    int fd = memfile_open(name, NULL);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

#ifdef __linux__
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010 /* Linux 5.1 */
#endif

/* After our writable mapping exists: nobody writes the file any other way. */
static int seal_writes(int fd)
{
    static bool warned;
    if (fchmod(fd, 0400) < 0)
        return -errno;
    int rc = fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW |
                   F_SEAL_SEAL);
    if (rc < 0 && errno == EINVAL) {
        if (!warned)
            log_warn("this kernel cannot seal shared memory against writes (Linux 5.1 "
                     "can): a viewer running as root could write what others see");
        warned = true;
        rc = fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    }
    return rc < 0 ? -errno : 0;
}
#else
static int seal_writes(int fd)
{
    (void)fd; /* an unlinked shm object: nothing can open it again */
    return 0;
}
#endif

int memfile_create_shared(const char *name, uint64_t size, void **map, int *ro_fd)
{
    int ro = -1;
    int fd = memfile_open(name, &ro);
    if (fd < 0)
        return -errno;
    int rc = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
    void *p = MAP_FAILED;
    if (rc == 0 && size == 0) {
        p = NULL; /* nothing to map; still sealed */
    } else if (rc == 0) {
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            rc = -errno;
    }
    if (rc == 0)
        rc = seal_writes(fd);
    close(fd);
    if (rc < 0) {
        if (p != MAP_FAILED && p != NULL)
            munmap(p, size);
        close(ro);
        return rc;
    }
    *map = p;
    *ro_fd = ro;
    return 0;
}
