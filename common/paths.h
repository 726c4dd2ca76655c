/* Where ignition keeps its files: the per-user state directory (instances,
 * later snapshots and sockets), and creating directories along a path. */
#ifndef IGNITION_PATHS_H
#define IGNITION_PATHS_H

#include <stddef.h>
#include <sys/types.h>

/* $XDG_STATE_HOME/ignition (default ~/.local/state/ignition) on Linux,
 * ~/Library/Application Support/ignition on macOS; $IGNITION_STATE_DIR
 * overrides both. Returns 0, or -1 when out is too small or there is no home. */
int paths_state_dir(char *out, size_t len);

/* mkdir -p with mode for every directory it creates. Returns 0 or -errno. */
int paths_make_dirs(const char *path, mode_t mode);

#endif
