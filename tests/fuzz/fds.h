/* For harnesses that open descriptors: each run must give back all it took. */
#ifndef IGNITION_FUZZ_FDS_H
#define IGNITION_FUZZ_FDS_H

#include <stdlib.h>
#ifdef __linux__
#include <dirent.h>
#endif

/* Open fds of this process (0 where /proc is not there to count them). */
static inline int open_fd_count(void)
{
#ifdef __linux__
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        abort();
    int n = 0;
    while (readdir(dir))
        n++;
    closedir(dir);
    return n;
#else
    return 0;
#endif
}

#endif
