#include "paths.h"

#include <errno.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int fits(int n, size_t len)
{
    return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* The same text for the same directory in every process, whatever its
 * working directory: vmmd (which leaves it) and vmmctl must agree on where
 * the sockets are. Relative becomes absolute; trailing slashes go. */
static int absolute_dir(const char *dir, char *out, size_t len)
{
    char cwd[PATH_MAX];
    int n;
    if (dir[0] == '/')
        n = snprintf(out, len, "%s", dir);
    else if (getcwd(cwd, sizeof(cwd)))
        n = snprintf(out, len, "%s/%s", cwd, strncmp(dir, "./", 2) == 0 ? dir + 2 : dir);
    else
        return -1;
    if (fits(n, len) < 0)
        return -1;
    for (size_t end = strlen(out); end > 1 && out[end - 1] == '/'; end--)
        out[end - 1] = '\0';
    return 0;
}

int paths_state_dir(char *out, size_t len)
{
    const char *forced = getenv("IGNITION_HOME");
    if (forced && *forced)
        return absolute_dir(forced, out, len);
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

bool paths_guest_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > PATHS_GUEST_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        /* ASCII only, whatever the locale says a letter is. */
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

/* FNV-1a: only to tell state directories apart in a fallback socket path. */
static uint32_t short_hash(const char *text)
{
    uint32_t h = 2166136261u;
    for (; *text; text++)
        h = (h ^ (unsigned char)*text) * 16777619u;
    return h;
}

int paths_run_dir(const char *state_dir, char *out, size_t len)
{
    /* The longest socket we put there: "<name>.display" for a longest name. */
    size_t longest = 1 + PATHS_GUEST_NAME_MAX + sizeof(".display");
    struct sockaddr_un sun;
    if (fits(snprintf(out, len, "%s/run", state_dir), len) < 0)
        return -1;
    if (strlen(out) + longest <= sizeof(sun.sun_path))
        return 0;
    /* A deep home directory: sockets go where sun_path can reach them, one
     * directory per state directory. $XDG_RUNTIME_DIR is the user's own
     * (0700, made by the login manager), so nobody else can take the name
     * first; $TMPDIR or /tmp, shared, are the last resort (as tmux does with
     * /tmp/tmux-UID), where the directory's owner and mode are checked and
     * clients check who answers. */
    uint32_t hash = short_hash(state_dir);
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (runtime && *runtime == '/' && strlen(runtime) <= 40)
        return fits(snprintf(out, len, "%s/ignition-%08x", runtime, (unsigned)hash), len);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || *tmp != '/' || strlen(tmp) > 40)
        tmp = "/tmp";
    return fits(snprintf(out, len, "%s/ignition-%u-%08x", tmp, (unsigned)getuid(),
                         (unsigned)hash), len);
}
