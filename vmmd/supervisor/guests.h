/* The supervisor's guests: each one's record (registry.h) and the worker
 * process behind it. Starting spawns `vmmd run` for the guest in its own
 * session; exits are noticed through SIGCHLD for workers this vmmd started and
 * through the worker's lock file for workers adopted from an earlier vmmd. */
#ifndef IGNITION_GUESTS_H
#define IGNITION_GUESTS_H

#include <stdbool.h>
#include <stdint.h>

#include "ignition.pb-c.h"
#include "supervisor/registry.h"

/* Room kept in STATE/reserve for guests' records, given up when a record
 * cannot be written for want of space (a full disk must not leave guest.json
 * saying a stopped guest runs). */
#define STATE_RESERVE_NAME "reserve"
#define STATE_RESERVE_BYTES (1 << 20)
/* Less free than this and the state directory's disk counts as full. */
#define STATE_LOW_BYTES (64u << 10)

struct event_base;
struct guests;
struct guest;

/* Called when a guest's start or stop is over, whichever way it ended. */
typedef void (*guest_settled_fn)(void *opaque, struct guest *g);

struct guests_config {
    const char *state_dir; /* holds guests/NAME/ */
    const char *run_dir;   /* holds NAME.display, .console, .control and .vsock */
    const char *vmmd_path; /* the program a worker runs */
    guest_settled_fn settled;
    void *opaque;
};

/* Loads every record under STATE/guests and adopts workers still running
 * there. Records that cannot be read are logged and left alone. */
struct guests *guests_open(struct event_base *base, const struct guests_config *config,
                           char *err, size_t err_len);
/* Forgets the guests; their workers keep running for the next vmmd. */
void guests_close(struct guests *set);

struct guest *guests_find(struct guests *set, const char *name);
/* Iteration in name order: guests_next(set, NULL) is the first. */
struct guest *guests_next(struct guests *set, struct guest *after);

/* Errors come back as an Error code and one line in err. */
struct guest_error {
    Ignition__Error__Code code;
    char message[512];
};

/* A new guest with config, or (config NULL) the stopped guest of that name
 * again with its own config; config_given refuses that second case (the
 * caller asked for a config the guest does not have). On 0 the guest is starting; the settled
 * callback says when it runs or failed. */
int guests_start(struct guests *set, const char *name, const struct guest_config *config,
                 bool config_given, struct guest **out, struct guest_error *e);
/* The config of a guest restored from the snapshot at dir (absolute), read
 * from its manifest after checking it: restore_from names dir, the rest
 * describes the snapshot's machine. 0, or -1 with a reason; clear it with
 * guest_config_clear. */
int guests_snapshot_config(const char *dir, struct guest_config *out, struct guest_error *e);
/* A new guest restored as config (from guests_snapshot_config) says; as
 * guests_start otherwise. Each start of it restores from the snapshot again,
 * into an emptied instance directory. A disposable one is to be removed once
 * it stops (guest_record(g)->disposable); the supervisor does it. */
int guests_restore(struct guests *set, const char *name, const struct guest_config *config,
                   bool disposable, struct guest **out, struct guest_error *e);
/* The snapshot a relaunch of g restores (a name under STATE/snapshots): the
 * last one taken of it, else the one it was restored from; "" when none. */
const char *guests_last_snapshot(const struct guest *g);
/* Notes that snapshot snap of g (at dir) was asked for. It becomes g's last
 * snapshot only once it is in place, committed: guests_settle_snapshots looks. */
void guests_snapshot_asked(struct guest *g, const char *snap, const char *dir);
/* Every snapshot asked for and now in place becomes its guest's last one. */
void guests_settle_snapshots(struct guests *set);
/* g, which is not running, started again as config (guests_snapshot_config
 * of the snapshot snap) says, under its own name: it is a restored guest from
 * then on. As guests_start otherwise. */
int guests_relaunch(struct guest *g, const char *snap, const struct guest_config *config,
                    struct guest_error *e);
/* Graceful unless force: the guest is asked to power off and given timeout_ms. */
int guests_stop(struct guest *g, bool force, uint32_t timeout_ms, struct guest_error *e);
/* Deletes a guest that is not running, with its instance and logs. */
int guests_remove(struct guests *set, struct guest *g, struct guest_error *e);

const struct guest_record *guest_record(const struct guest *g);
const char *guest_backend(const struct guest *g);
/* The worker's sockets and files (valid while the guest exists). */
const char *guest_display_socket(const struct guest *g);
/* A sentence for `vmmctl status` when this guest's record cannot be written
 * or the disk holding the state directory is full (as of the last look, at
 * most half a second ago); else "". */
const char *guest_storage_warning(const struct guest *g);
/* The file system holding dir has less than STATE_LOW_BYTES free. */
bool guests_disk_full(const char *dir);
const char *guest_console_socket(const struct guest *g);
const char *guest_console_log(const struct guest *g);
const char *guest_instance_dir(const struct guest *g);
const char *guest_control_socket(const struct guest *g);
/* The worker's vsock socket (RUN/NAME.vsock) while it has one, else "". */
const char *guest_vsock_socket(const struct guest *g);

#endif
