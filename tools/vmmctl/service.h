/* `vmmctl service install|uninstall|status`: runs vmmd under the user's service
 * manager (a systemd user unit on Linux, a LaunchAgent on macOS) from the
 * templates in launchd/, which are built into vmmctl so that it needs no data
 * files at run time. */
#ifndef IGNITION_VMMCTL_SERVICE_H
#define IGNITION_VMMCTL_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

/* Which service manager to drive. The host's unless a test asks for the other,
 * so that both are exercised on every host. */
enum service_manager {
    SERVICE_MANAGER_HOST = 0,
    SERVICE_MANAGER_SYSTEMD,
    SERVICE_MANAGER_LAUNCHD,
};

struct service_env {
    const char *vmmd_path;     /* absolute path of the vmmd the service runs */
    const char *ignition_home; /* IGNITION_HOME to run it with, or NULL */
    bool json;                 /* status prints one JSON object */
    enum service_manager manager;
};

/* argv[0] is "service", argv[1] the subcommand. Prints what it did on stdout and
 * any error as one "vmmctl: ..." line on stderr. Returns the exit status: 0, 1 on
 * an error, 2 on a usage error. */
int service_command(int argc, char **argv, const struct service_env *env);

/* The host's unit file or plist exists: vmmd belongs to the service manager, and
 * vmmctl asks it to start vmmd instead of starting one itself. */
bool service_installed(void);

/* Asks the host's service manager to start vmmd now. Returns 0, or -1 with a
 * one-line message in err that says what to do. */
int service_start(char *err, size_t err_len);

#endif
