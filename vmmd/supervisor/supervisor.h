/* vmmd, the supervisor: one per user. It owns the state directory and the
 * registry of guests, starts each guest as its own worker process, and answers
 * vmmctl (and viewers naming a guest) on its control socket. */
#ifndef IGNITION_SUPERVISOR_H
#define IGNITION_SUPERVISOR_H

#include <stdbool.h>

struct supervisor_options {
    bool daemonize; /* -d: detach from the terminal once listening */
    bool service;   /* run by launchd/systemd: log to syslog as well */
};

/* Runs until SIGTERM/SIGINT; guests keep running after it for the next vmmd.
 * Returns the process exit status. */
int supervisor_run(const struct supervisor_options *options);

#endif
