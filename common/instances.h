/* The instance directories `vmmd run` makes for itself under
 * STATE/instances (run-TIME-PID) when no --instance is given: a run holds a
 * lock in its directory while it lives and removes the directory when it ends
 * (unless --keep-instance); one killed before it could is stale, and
 * `vmmctl prune` finds and removes those. */
#ifndef IGNITION_INSTANCES_H
#define IGNITION_INSTANCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INSTANCES_LOCK_NAME "instance.lock"
/* In a directory a run was told to keep (--keep-instance): never stale. */
#define INSTANCES_KEPT_NAME "instance.kept"

/* STATE/instances into out. Returns 0, or -1 with no state directory. */
int instances_dir(char *out, size_t len);

/* Takes the lock of the instance directory dir for as long as the returned
 * descriptor stays open. Returns it, or -errno. */
int instances_lock(const char *dir);

/* Whether dir (a directory in STATE/instances) is left over: not kept, and
 * its lock is held by nobody, or, from a run that made no lock, the process
 * its name ends in (run-TIME-PID) is gone. */
bool instances_stale(const char *dir);

/* Marks dir kept (instead of removing it at the end of its run) and drops its
 * lock file. Returns 0 or -errno. */
int instances_keep(const char *dir);

/* rm -rf dir without following symbolic links; *bytes (when not NULL) gets
 * the space it took. Returns 0 or -errno (of the first failure). */
int instances_remove(const char *dir, uint64_t *bytes);

/* The space a directory tree takes (allocated blocks). */
uint64_t instances_size(const char *dir);

#endif
