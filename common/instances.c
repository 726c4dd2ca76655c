#include "instances.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"

#define OPEN_DIRS 16

int instances_dir(char *out, size_t len)
{
    char state[PATH_MAX];
    if (paths_state_dir(state, sizeof(state)) < 0)
        return -1;
    int n = snprintf(out, len, "%s/instances", state);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int lock_path(const char *dir, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", dir, INSTANCES_LOCK_NAME);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int instances_lock(const char *dir)
{
    char path[PATH_MAX];
    int rc = lock_path(dir, path, sizeof(path));
    if (rc < 0)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

/* run-TIME-PID: the pid, or 0. */
static pid_t pid_in_name(const char *dir)
{
    const char *base = strrchr(dir, '/');
    base = base ? base + 1 : dir;
    const char *dash = strrchr(base, '-');
    if (strncmp(base, "run-", 4) != 0 || !dash || dash == base + 3)
        return 0;
    char *end;
    long pid = strtol(dash + 1, &end, 10);
    return *end || pid <= 0 || pid > INT_MAX ? 0 : (pid_t)pid;
}

static int kept_path(const char *dir, char *out, size_t len)
{
    int n = snprintf(out, len, "%s/%s", dir, INSTANCES_KEPT_NAME);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int instances_keep(const char *dir)
{
    char path[PATH_MAX];
    int rc = kept_path(dir, path, sizeof(path));
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    if (lock_path(dir, path, sizeof(path)) == 0)
        unlink(path);
    return 0;
}

bool instances_stale(const char *dir)
{
    char path[PATH_MAX];
    if (kept_path(dir, path, sizeof(path)) < 0 || access(path, F_OK) == 0)
        return false;
    if (lock_path(dir, path, sizeof(path)) < 0)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        bool free_lock = flock(fd, LOCK_EX | LOCK_NB) == 0;
        close(fd);
        return free_lock;
    }
    pid_t pid = pid_in_name(dir);
    return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

/* nftw has no argument for its callback: one walk at a time (the end of a run,
 * vmmctl prune). */
static uint64_t walked_bytes;
static int walk_error;

static int add_size(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path, (void)type, (void)ftw;
    walked_bytes += (uint64_t)st->st_blocks * 512u;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    walked_bytes += (uint64_t)st->st_blocks * 512u;
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && !walk_error)
        walk_error = -errno;
    return 0;
}

uint64_t instances_size(const char *dir)
{
    walked_bytes = 0;
    nftw(dir, add_size, OPEN_DIRS, FTW_PHYS);
    return walked_bytes;
}

int instances_remove(const char *dir, uint64_t *bytes)
{
    walked_bytes = 0;
    walk_error = 0;
    if (nftw(dir, remove_entry, OPEN_DIRS, FTW_DEPTH | FTW_PHYS) < 0 && !walk_error)
        walk_error = -errno;
    if (bytes)
        *bytes = walked_bytes;
    return walk_error;
}
