/* What vmmctl's commands share: messages, calls to vmmd, the guest assets and
 * the viewer. Each command lives in vmmctl.c or a file of its own (browser.c)
 * and is one entry in vmmctl.c's `commands`. */
#ifndef IGNITION_VMMCTL_H
#define IGNITION_VMMCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "ignition.pb-c.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* --json: read commands print JSON. */
extern bool json_output;

/* "vmmctl: WHAT" on stderr; returns EXIT_FAIL. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As fail, with a pointer to COMMAND's --help; returns EXIT_USAGE. */
int usage_fail(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* $IGNITION_GUEST_DIR, the build tree's guest/, or the installed one. */
bool find_guest_dir(char *out, size_t len);
/* The file in the guest directory of an image --image names (console,
 * desktop, browser), or NULL. */
const char *image_file(const char *name);

/* One request to vmmd (started first if nobody runs it), one reply; NULL
 * after saying why. */
Ignition__Envelope *call(const Ignition__Envelope *req);
/* As call, for requests answered with a guest: *info points into the reply. */
Ignition__Envelope *guest_call(Ignition__Envelope *env, Ignition__GuestInfo **info);
/* vmmd's guests (ListRequest): the reply, with *list pointing into it; NULL
 * after saying why. */
Ignition__Envelope *list_guests(Ignition__GuestList **list);
/* Status, Remove, Attach or ConsoleAttach of the guest name. */
Ignition__Envelope *named_call(Ignition__Envelope__BodyCase body, const char *name,
                               Ignition__GuestInfo **g);
/* "guest NAME is running (pid, HOW)", or a failure saying why it is not. */
int report_started(const Ignition__GuestInfo *g, const char *how);
/* Asks vmmd for a snapshot of guest name called snap, and its worker to write
 * it (vmmctl snapshot); path is where it went. */
int snapshot_guest(const char *name, const char *snap, char *path, size_t path_len);
int force_stop(const char *name);
/* Replaces vmmctl with ignition-view on guest name, with n_extra options. */
int exec_viewer(const char *name, char **extra, int n_extra);

int cmd_browser(int argc, char **argv);

#endif
