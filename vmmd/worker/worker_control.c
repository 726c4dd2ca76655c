#include "worker/worker_control.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ignition.pb-c.h"
#include "listener.h"
#include "log.h"
#include "unixsock.h"
#include "util.h"
#include "wire.h"

#define HANDSHAKE_SECONDS 5
#define IDLE_SECONDS 60
#define CLOSE_SECONDS 5 /* for an Error reply to leave before the connection goes */
#define CONTROL_QUEUE_LIMIT (64u << 10) /* replies are small */
#define MAX_SNAPSHOT_PATH 4095

/* One client at a time: the worker's supervisor. Another one is told so and
 * turned away, which also keeps what a client can make us hold bounded. */
struct control_client {
    struct wire_conn *conn;
    struct event *readable, *writable, *timer;
    bool greeted, closing;
};

struct worker_control {
    struct event_base *base;
    struct worker_control_ops ops;
    char path[4096];
    int listen_fd;
    struct listener *listener;
    struct control_client *client; /* or NULL */
};

static void client_close(struct worker_control *wc)
{
    struct control_client *c = wc->client;
    if (!c)
        return;
    event_free(c->readable);
    event_free(c->writable);
    event_free(c->timer);
    wire_conn_free(c->conn);
    free(c);
    wc->client = NULL;
}

static void arm_timer(struct control_client *c, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    evtimer_add(c->timer, &tv);
}

static void flush_client(struct worker_control *wc)
{
    struct control_client *c = wc->client;
    switch (wire_conn_flush(c->conn)) {
    case WIRE_OK:
        if (c->closing)
            client_close(wc);
        return;
    case WIRE_AGAIN:
        event_add(c->writable, NULL);
        return;
    default:
        client_close(wc);
    }
}

static void send_envelope(struct worker_control *wc, const Ignition__Envelope *env)
{
    if (wire_conn_queue(wc->client->conn, env, NULL, 0) < 0) {
        client_close(wc);
        return;
    }
    flush_client(wc);
}

static void send_error(struct worker_control *wc, Ignition__Error__Code code, const char *message)
{
    wire_queue_error(wc->client->conn, code, message);
    flush_client(wc);
}

/* Reads no more; what is queued (an Error) gets CLOSE_SECONDS to leave. */
static void refuse_and_close(struct worker_control *wc, Ignition__Error__Code code,
                             const char *message)
{
    struct control_client *c = wc->client;
    c->closing = true;
    event_del(c->readable);
    arm_timer(c, CLOSE_SECONDS);
    send_error(wc, code, message);
}

static void handle_hello(struct worker_control *wc, const Ignition__Envelope *env)
{
    char why[200];
    if (!wire_hello_check(env, why, sizeof(why))) {
        refuse_and_close(wc, wire_hello_refusal_code(env), why);
        return;
    }
    wc->client->greeted = true;
    Ignition__Welcome welcome = IGNITION__WELCOME__INIT;
    welcome.protocol_version = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    welcome.server_version = (char *)IGNITION_VERSION;
    Ignition__Envelope reply = IGNITION__ENVELOPE__INIT;
    reply.body_case = IGNITION__ENVELOPE__BODY_WELCOME;
    reply.welcome = &welcome;
    send_envelope(wc, &reply);
}

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

static void handle_snapshot(struct worker_control *wc, const Ignition__SnapshotRequest *req)
{
    char why[512];
    if (!snapshot_path_ok(req->path, why, sizeof(why))) {
        send_error(wc, IGNITION__ERROR__CODE__CODE_BAD_REQUEST, why);
        return;
    }
    if (!wc->ops.snapshot) {
        send_error(wc, IGNITION__ERROR__CODE__CODE_UNSUPPORTED, "this worker takes no snapshots");
        return;
    }
    if (wc->ops.snapshot(wc->ops.opaque, req->path, why, sizeof(why)) < 0) {
        send_error(wc, IGNITION__ERROR__CODE__CODE_INTERNAL, why);
        return;
    }
    Ignition__GuestReply reply = IGNITION__GUEST_REPLY__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_GUEST;
    env.guest = &reply;
    send_envelope(wc, &env);
}

static void handle_request(struct worker_control *wc, const Ignition__Envelope *env)
{
    if (env->body_case == IGNITION__ENVELOPE__BODY_SNAPSHOT)
        handle_snapshot(wc, env->snapshot);
    else
        send_error(wc, IGNITION__ERROR__CODE__CODE_UNSUPPORTED,
                   "a guest worker answers only snapshot requests");
}

/* Each message is answered before the next is read. */
static void read_requests(struct worker_control *wc)
{
    while (wc->client && !wc->client->closing) {
        struct control_client *c = wc->client;
        enum wire_result r = wire_conn_read(c->conn);
        if (r == WIRE_AGAIN)
            return;
        if (r == WIRE_CLOSED) {
            client_close(wc);
            return;
        }
        if (r == WIRE_ERROR) {
            char msg[200];
            set_message(msg, sizeof(msg), "bad message: %s", wire_conn_error(c->conn));
            refuse_and_close(wc, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, msg);
            return;
        }
        Ignition__Envelope *env;
        int fds[WIRE_MAX_FDS];
        unsigned nfds = 0;
        wire_conn_take(c->conn, &env, fds, &nfds);
        for (unsigned i = 0; i < nfds; i++)
            close(fds[i]); /* no request carries descriptors */
        if (!c->greeted)
            handle_hello(wc, env);
        else
            handle_request(wc, env);
        ignition__envelope__free_unpacked(env, NULL);
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker_control *wc = arg;
    read_requests(wc);
    if (wc->client && wc->client->greeted && !wc->client->closing)
        arm_timer(wc->client, IDLE_SECONDS);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    flush_client(arg);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker_control *wc = arg;
    if (wc->client->closing || wc->client->greeted) {
        client_close(wc); /* its Error did not leave in time, or it sat idle */
        return;
    }
    refuse_and_close(wc, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE,
                     "no Hello within 5 seconds of connecting");
}

static int client_open(struct worker_control *wc, int fd)
{
    struct control_client *c = calloc(1, sizeof(*c));
    struct wire_conn *conn = wire_conn_new(fd);
    if (!c || !conn) {
        free(c);
        if (conn)
            wire_conn_free(conn);
        else
            close(fd);
        return -1;
    }
    c->conn = conn;
    wire_conn_set_limit(conn, CONTROL_QUEUE_LIMIT);
    c->readable = event_new(wc->base, fd, EV_READ | EV_PERSIST, on_readable, wc);
    c->writable = event_new(wc->base, fd, EV_WRITE, on_writable, wc);
    c->timer = evtimer_new(wc->base, on_timer, wc);
    wc->client = c;
    if (!c->readable || !c->writable || !c->timer) {
        client_close(wc);
        return -1;
    }
    event_add(c->readable, NULL);
    arm_timer(c, HANDSHAKE_SECONDS);
    return 0;
}

static void on_accept(int fd, void *arg)
{
    struct worker_control *wc = arg;
    uid_t uid;
    if (unixsock_peer_uid(fd, &uid) < 0 || uid != getuid()) {
        wire_send_error(fd, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE,
                        "this worker serves only its own user");
        close(fd);
        return;
    }
    if (wc->client) {
        wire_send_error(fd, IGNITION__ERROR__CODE__CODE_BAD_STATE,
                        "the worker's control socket has a client already; try again");
        close(fd);
        return;
    }
    if (client_open(wc, fd) < 0)
        log_warn("control socket: cannot take a client: out of memory");
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
    if (strlen(path) >= sizeof(wc->path)) {
        set_message(err, err_len, "the control socket's path is too long");
        free(wc);
        return NULL;
    }
    snprintf(wc->path, sizeof(wc->path), "%s", path);
    wc->base = base;
    wc->ops = *ops;
    char why[512];
    wc->listen_fd = unixsock_listen(path, why, sizeof(why));
    if (wc->listen_fd < 0) {
        set_message(err, err_len, "control socket: %s", why);
        free(wc);
        return NULL;
    }
    wc->listener = listener_new(base, wc->listen_fd, "worker control socket", on_accept, wc);
    if (!wc->listener) {
        set_message(err, err_len, "out of memory");
        worker_control_destroy(wc);
        return NULL;
    }
    return wc;
}

void worker_control_destroy(struct worker_control *wc)
{
    if (!wc)
        return;
    client_close(wc);
    listener_free(wc->listener);
    close(wc->listen_fd);
    unlink(wc->path);
    free(wc);
}
