#include "memfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

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

int memfile_create_shared(const char *name, uint64_t size, int *rw_fd, int *ro_fd)
{
    int ro = -1;
    int fd = memfile_open(name, &ro);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0) {
        int err = -errno;
        close(fd);
        close(ro);
        return err;
    }
#ifdef __linux__
    /* Its size is fixed for good: whoever maps it can trust fstat and never
     * fault past an end that moved. */
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
#endif
    *rw_fd = fd;
    *ro_fd = ro;
    return 0;
}
