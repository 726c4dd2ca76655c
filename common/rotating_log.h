/* A log file that never grows past its limit: before a write would take it
 * past, PATH.1 becomes PATH.2 (and so on, the oldest dropped), PATH becomes
 * PATH.1, and writing goes on in a new PATH. `tail -F` follows that. The guest's
 * console log and a guest worker's own log (its stdout and stderr) rotate so.
 * Not thread-safe: callers that share one hold their own lock. */
#ifndef IGNITION_ROTATING_LOG_H
#define IGNITION_ROTATING_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ROTATING_LOG_PATH_MAX 4096

struct rotating_log {
    char path[ROTATING_LOG_PATH_MAX];
    int fd; /* -1 when it could not be opened (again) */
    uint64_t limit;
    unsigned generations; /* PATH.1 .. PATH.generations kept */
};

/* Opens (creates, 0600, appending) path. Returns 0 or -errno (-ENAMETOOLONG
 * for a path longer than ROTATING_LOG_PATH_MAX - 16). */
int rotating_log_open(struct rotating_log *l, const char *path, uint64_t limit,
                      unsigned generations);

/* Makes room for len more bytes: rotates first when they would take the file
 * past its limit (a file already empty is never rotated, so one write longer
 * than the limit still lands). The size is the file's own, so writes by others
 * to the same file (a process's stderr) count too. Returns 0 (nothing to do),
 * 1 (rotated: l->fd is a new descriptor) or -errno when rotating failed (then
 * l->fd is -1 if PATH could not be opened again). It logs nothing itself: the
 * process's own log may be the file rotating. */
int rotating_log_reserve(struct rotating_log *l, size_t len);

/* reserve, then all of data; a failed write loses that much of the log and no
 * more (the caller's work never stops for its log). Returns what reserve did. */
int rotating_log_write(struct rotating_log *l, const void *data, size_t len);

void rotating_log_close(struct rotating_log *l);

#endif
