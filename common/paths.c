#include "paths.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int fits(int n, size_t len)
{
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

int paths_state_dir(char *out, size_t len)
{
    const char *forced = getenv("IGNITION_STATE_DIR");
    if (forced && *forced)
        return fits(snprintf(out, len, "%s", forced), len);
    const char *home = getenv("HOME");
#ifdef __APPLE__
    if (!home || !*home)
        return -1;
    return fits(snprintf(out, len, "%s/Library/Application Support/ignition", home), len);
#else
    const char *xdg = getenv("XDG_STATE_HOME");
    if (xdg && *xdg == '/')
        return fits(snprintf(out, len, "%s/ignition", xdg), len);
    if (!home || !*home)
        return -1;
    return fits(snprintf(out, len, "%s/.local/state/ignition", home), len);
#endif
}

int paths_make_dirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    if (fits(snprintf(buf, sizeof(buf), "%s", path), sizeof(buf)) < 0)
        return -ENAMETOOLONG;
    /* Each prefix in turn; the ones that exist already are left as they are. */
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}
