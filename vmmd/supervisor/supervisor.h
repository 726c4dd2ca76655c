/* vmmd, the supervisor: one per user. It owns the state directory and the
 * registry of guests, starts each guest as its own worker process, and answers
 * vmmctl (and viewers naming a guest) on its control socket. */
#ifndef IGNITION_SUPERVISOR_H
#define IGNITION_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>

struct supervisor_options {
    bool daemonize; /* -d: detach from the terminal once listening */
    bool service;   /* run by launchd/systemd: log to syslog as well */
};

/* Runs until SIGTERM/SIGINT; guests keep running after it for the next vmmd.
 * Returns the process exit status. */
int supervisor_run(const struct supervisor_options *options);

/* vmmd's requests alone, for tests and fuzzing: the guests under state_dir
 * (their sockets in run_dir, their workers run as vmmd_path), answered on
 * base's loop, with no socket, log or lock of its own: clients come through
 * supervisor_adopt (a connected socket, now vmmd's; NULL when turned away).
 * Returns NULL with a one-line reason in err. */
struct event_base;
struct control_conn;
struct supervisor;
struct supervisor *supervisor_open(struct event_base *base, const char *state_dir,
                                   const char *run_dir, const char *vmmd_path, char *err,
                                   size_t err_len);
struct control_conn *supervisor_adopt(struct supervisor *sv, int fd);
void supervisor_close(struct supervisor *sv);

#endif
