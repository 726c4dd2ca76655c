/* What a guest worker leaves for the supervisor that started it (which may be
 * a later vmmd than its parent): a lock held for the worker's whole life, one
 * line saying how it ended, and a "ready" once every socket listens. */
#ifndef IGNITION_SUPERVISION_H
#define IGNITION_SUPERVISION_H

#include <stdbool.h>
#include <stddef.h>

/* Takes an exclusive lock on path (created 0600 if missing) and writes our pid
 * into it. Returns the descriptor to keep open (the lock lasts as long as it),
 * or -1 with err "guest NAME is already running (pid N)" when another process
 * holds it, or the system's reason. name may be NULL (the path is named). */
int supervision_lock(const char *path, const char *name, char *err, size_t err_len);

/* Room kept for the exit line (PATH.new, allocated at the start). */
#define SUPERVISION_EXIT_FILE_ROOM 4096

/* Removes an exit file left by an earlier run, and takes the room the exit
 * line will need (so that it can be written on a disk full by then).
 * Returns 0, or -1 with err. */
int supervision_exit_file_clear(const char *path, char *err, size_t err_len);

/* Replaces path with the one line given (a newline is added), so a reader
 * sees the whole line or none; written into the room clear kept, so it needs
 * no new space. Returns 0 or -errno. */
int supervision_exit_file_write(const char *path, const char *line);

/* Writes "ready BACKEND\n" (the backend the guest runs on) to fd and closes
 * it. Returns 0 or -errno. */
int supervision_signal_ready(int fd, const char *backend);

#endif
