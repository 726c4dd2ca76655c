/* Where ignition keeps its files: the per-user state directory (instances,
 * later snapshots and sockets), and creating directories along a path. */
#ifndef IGNITION_PATHS_H
#define IGNITION_PATHS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* $XDG_STATE_HOME/ignition (default ~/.local/state/ignition) on Linux,
 * ~/Library/Application Support/ignition on macOS; $IGNITION_HOME
 * overrides both. Returns 0, or -1 when out is too small or there is no home. */
int paths_state_dir(char *out, size_t len);

/* mkdir -p with mode for every directory it creates. Returns 0 or -errno. */
int paths_make_dirs(const char *path, mode_t mode);

/* Guest names become file and socket names: [A-Za-z0-9][A-Za-z0-9_.-]{0,31}. */
#define PATHS_GUEST_NAME_MAX 32
bool paths_guest_name_ok(const char *name);

/* Where the sockets of a state directory live: STATE/run, or, when that is too
 * deep for a socket address (sun_path holds ~104 bytes), a directory named
 * after the state directory under $XDG_RUNTIME_DIR, else under $TMPDIR or
 * /tmp (with this user's uid in its name). Not created here. Returns 0, or -1
 * when out is too small. */
int paths_run_dir(const char *state_dir, char *out, size_t len);

#endif
