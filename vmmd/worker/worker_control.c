/* The worker's requests over the control server (control_server.h): one
 * client at a time, its supervisor, and one request it answers, Snapshot. */
#include "worker/worker_control.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_server.h"
#include "ignition.pb-c.h"
#include "util.h"

#define CONTROL_QUEUE_LIMIT (64u << 10) /* replies are small */
#define MAX_SNAPSHOT_PATH 4095

struct worker_control {
    struct worker_control_ops ops;
    struct control_server *server;
};

/* The path comes from a peer: it must be absolute and of a sane length (the
 * snapshot writer checks the rest as it creates the directory). */
static bool snapshot_path_ok(const char *path, char *why, size_t why_len)
{
    if (!path || path[0] != '/') {
        set_message(why, why_len, "the snapshot path must be absolute");
        return false;
    }
    if (strlen(path) > MAX_SNAPSHOT_PATH) {
        set_message(why, why_len, "the snapshot path is longer than %d bytes", MAX_SNAPSHOT_PATH);
        return false;
    }
    return true;
}

static void handle_snapshot(struct worker_control *wc, struct control_conn *conn,
                            const Ignition__SnapshotRequest *req)
{
    char why[512];
    if (!snapshot_path_ok(req->path, why, sizeof(why))) {
        control_conn_error(conn, IGNITION__ERROR__CODE__CODE_BAD_REQUEST, why);
        return;
    }
    if (!wc->ops.snapshot) {
        control_conn_error(conn, IGNITION__ERROR__CODE__CODE_UNSUPPORTED,
                           "this worker takes no snapshots");
        return;
    }
    if (wc->ops.snapshot(wc->ops.opaque, req->path, why, sizeof(why)) < 0) {
        control_conn_error(conn, IGNITION__ERROR__CODE__CODE_INTERNAL, why);
        return;
    }
    Ignition__GuestReply reply = IGNITION__GUEST_REPLY__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_GUEST;
    env.guest = &reply;
    control_conn_reply(conn, &env);
}

static void handle_request(void *opaque, struct control_conn *conn, const Ignition__Envelope *env)
{
    struct worker_control *wc = opaque;
    if (env->body_case == IGNITION__ENVELOPE__BODY_SNAPSHOT)
        handle_snapshot(wc, conn, env->snapshot);
    else
        control_conn_error(conn, IGNITION__ERROR__CODE__CODE_UNSUPPORTED,
                           "a guest worker answers only snapshot requests");
}

struct worker_control *worker_control_create(struct event_base *base, const char *path,
                                             const struct worker_control_ops *ops, char *err,
                                             size_t err_len)
{
    struct worker_control *wc = calloc(1, sizeof(*wc));
    if (!wc) {
        set_message(err, err_len, "out of memory");
        return NULL;
    }
    wc->ops = *ops;
    /* One client at a time, the worker's supervisor: another one is told so
     * and turned away, which also bounds what clients can make it hold. */
    const struct control_server_options options = {
        .who = "worker", .max_clients = 1,
        .full_code = IGNITION__ERROR__CODE__CODE_BAD_STATE,
        .full_message = "the worker's control socket has a client already; try again",
        .queue_limit = CONTROL_QUEUE_LIMIT,
    };
    const struct control_server_ops server_ops = {.request = handle_request, .opaque = wc};
    wc->server = control_server_create(base, path, &options, &server_ops, err, err_len);
    if (!wc->server) {
        free(wc);
        return NULL;
    }
    return wc;
}

struct control_conn *worker_control_adopt(struct worker_control *wc, int fd)
{
    return control_server_adopt(wc->server, fd);
}

void worker_control_destroy(struct worker_control *wc)
{
    if (!wc)
        return;
    control_server_destroy(wc->server);
    free(wc);
}
