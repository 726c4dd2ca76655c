#include "memfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef __linux__
static int memfile_open(const char *name)
{
    return memfd_create(name, MFD_CLOEXEC);
}
#else
static int memfile_open(const char *name)
{
    /* An unguessable name, unlinked at once: only our fd refers to it. */
    for (int attempt = 0; attempt < 16; attempt++) {
        char path[64];
        snprintf(path, sizeof(path), "/%s-%08x%08x", name, arc4random(), arc4random());
        int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd >= 0) {
            shm_unlink(path);
            fcntl(fd, F_SETFD, FD_CLOEXEC);
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
    int fd = memfile_open(name);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}
