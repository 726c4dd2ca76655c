/* One control connection's life: accepted (or adopted), greeted, then a loop of
 * one request and its answer, with a deadline for each phase. The answer may
 * come from the handler or later from its owner, so a connection that breaks
 * while a handler runs on it is freed only once the handler returns. */
#include "control_server.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "unixsock.h"
#include "util.h"
#include "wire.h"

struct control_conn {
    struct control_server *server;
    struct control_conn *next;
    struct wire_conn *conn;
    struct event *readable, *writable;
    struct event *timer; /* the handshake, idle or closing deadline */
    void *data;
    bool greeted;
    bool closing;    /* reading stopped: freed once the queue is flushed */
    bool waiting;    /* its answer comes later */
    bool peer_done;  /* the client sent all it will; it still gets its answer */
    bool announced;  /* the owner knows of it (ops.opened took it) */
    bool in_handler; /* a handler runs on it: freed after, not under it */
    bool dropped;    /* to be freed when the handler returns */
};

struct control_server {
    struct event_base *base;
    struct control_server_options options;
    struct control_server_ops ops;
    char who[32];
    char full_message[200];
    char path[4096]; /* "" without a socket */
    int listen_fd;
    struct event *accept_ev;
    struct control_conn *conns;
    unsigned num_conns;
};

static void conn_free(struct control_conn *c)
{
    struct control_server *s = c->server;
    for (struct control_conn **at = &s->conns; *at; at = &(*at)->next) {
        if (*at == c) {
            *at = c->next;
            break;
        }
    }
    s->num_conns--;
    if (c->announced && s->ops.closed)
        s->ops.closed(s->ops.opaque, c, c->data);
    if (c->readable)
        event_free(c->readable);
    if (c->writable)
        event_free(c->writable);
    if (c->timer)
        event_free(c->timer);
    wire_conn_free(c->conn);
    free(c);
}

static void arm_timer(struct control_conn *c, int seconds)
{
    struct timeval tv = {.tv_sec = seconds};
    evtimer_add(c->timer, &tv);
}

/* Never frees c under its caller: once the handler working on it returns, or
 * from the loop, so that whoever answered may still look at it. */
static void conn_drop(struct control_conn *c)
{
    if (c->dropped)
        return;
    c->dropped = true;
    event_del(c->readable);
    event_del(c->writable);
    if (!c->in_handler)
        arm_timer(c, 0);
}

/* Reads no more; what is queued (an Error, say) gets CLOSE_SECONDS to leave. */
static void begin_close(struct control_conn *c)
{
    c->closing = true;
    event_del(c->readable);
    arm_timer(c, CONTROL_CLOSE_SECONDS);
}

/* ---- replies ---------------------------------------------------------------------- */

static void flush(struct control_conn *c)
{
    switch (wire_conn_flush(c->conn)) {
    case WIRE_OK:
        if (c->closing)
            conn_drop(c);
        return;
    case WIRE_AGAIN:
        event_add(c->writable, NULL);
        return;
    default:
        conn_drop(c);
    }
}

/* After an answer to a request that waited: done, or free to ask again. */
static void end_wait(struct control_conn *c)
{
    if (!c->waiting)
        return;
    c->waiting = false;
    if (c->closing || c->dropped)
        return;
    if (c->peer_done)
        begin_close(c);
    else if (c->greeted)
        arm_timer(c, CONTROL_IDLE_SECONDS);
}

void control_conn_reply(struct control_conn *c, const Ignition__Envelope *env)
{
    end_wait(c);
    if (c->dropped)
        return;
    if (wire_conn_queue(c->conn, env, NULL, 0) < 0) {
        conn_drop(c);
        return;
    }
    flush(c);
}

void control_conn_error(struct control_conn *c, Ignition__Error__Code code, const char *message)
{
    end_wait(c);
    if (c->dropped)
        return;
    wire_queue_error(c->conn, code, message);
    flush(c);
}

void control_conn_refuse(struct control_conn *c, Ignition__Error__Code code, const char *message)
{
    c->waiting = false;
    if (c->dropped)
        return;
    begin_close(c);
    wire_queue_error(c->conn, code, message);
    flush(c);
}

void control_conn_wait(struct control_conn *c, bool waiting)
{
    if (waiting) {
        c->waiting = true;
        if (!c->dropped)
            evtimer_del(c->timer); /* a start or stop may take its time */
    } else {
        end_wait(c);
    }
}

bool control_conn_waiting(const struct control_conn *c)
{
    return c->waiting;
}

void *control_conn_data(const struct control_conn *c)
{
    return c->data;
}

/* ---- requests --------------------------------------------------------------------- */

static void handle_hello(struct control_conn *c, const Ignition__Envelope *env)
{
    char why[200];
    if (!wire_hello_check(env, why, sizeof(why))) {
        control_conn_refuse(c, wire_hello_refusal_code(env), why);
        return;
    }
    c->greeted = true;
    evtimer_del(c->timer);
    Ignition__Welcome welcome = IGNITION__WELCOME__INIT;
    welcome.protocol_version = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    welcome.server_version = (char *)IGNITION_VERSION;
    Ignition__Envelope reply = IGNITION__ENVELOPE__INIT;
    reply.body_case = IGNITION__ENVELOPE__BODY_WELCOME;
    reply.welcome = &welcome;
    control_conn_reply(c, &reply);
}

static void handle(struct control_conn *c, const Ignition__Envelope *env)
{
    if (!c->greeted) {
        handle_hello(c, env);
        return;
    }
    if (c->waiting) {
        /* Answers this request, not the one still waiting. */
        wire_queue_error(c->conn, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                         "one request at a time: wait for the answer to the last one");
        flush(c);
        return;
    }
    c->server->ops.request(c->server->ops.opaque, c, env);
}

/* One message at a time, each answered before the next is read: a client
 * cannot make the server hold more than one request of its. */
static void read_requests(struct control_conn *c)
{
    while (!c->closing && !c->dropped) {
        enum wire_result r = wire_conn_read(c->conn);
        if (r == WIRE_AGAIN)
            return;
        if (r == WIRE_CLOSED) {
            /* A client may send its request and shut its side: it still
             * gets the answer it waits for. */
            if (c->waiting) {
                c->peer_done = true;
                event_del(c->readable);
            } else {
                conn_drop(c);
            }
            return;
        }
        if (r == WIRE_ERROR) {
            char msg[200];
            set_message(msg, sizeof(msg), "bad message: %s", wire_conn_error(c->conn));
            control_conn_refuse(c, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, msg);
            return;
        }
        Ignition__Envelope *env;
        int fds[WIRE_MAX_FDS];
        unsigned nfds = 0;
        wire_conn_take(c->conn, &env, fds, &nfds);
        for (unsigned i = 0; i < nfds; i++)
            close(fds[i]); /* no request carries descriptors */
        handle(c, env);
        ignition__envelope__free_unpacked(env, NULL);
    }
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct control_conn *c = arg;
    if (c->dropped)
        return;
    c->in_handler = true;
    read_requests(c);
    c->in_handler = false;
    if (c->dropped)
        conn_free(c);
    else if (c->greeted && !c->waiting && !c->closing)
        arm_timer(c, CONTROL_IDLE_SECONDS);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct control_conn *c = arg;
    if (!c->dropped)
        flush(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct control_conn *c = arg;
    if (c->dropped || c->closing || c->greeted) {
        conn_free(c); /* broken, its Error did not leave in time, or it sat idle */
        return;
    }
    char msg[64];
    set_message(msg, sizeof(msg), "no Hello within %d seconds of connecting",
                CONTROL_HANDSHAKE_SECONDS);
    control_conn_refuse(c, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, msg);
}

/* ---- clients ---------------------------------------------------------------------- */

static struct control_conn *conn_open(struct control_server *s, int fd)
{
    struct control_conn *c = calloc(1, sizeof(*c));
    struct wire_conn *conn = wire_conn_new(fd);
    if (!c || !conn) {
        free(c);
        if (conn)
            wire_conn_free(conn);
        else
            close(fd);
        return NULL;
    }
    c->server = s;
    c->conn = conn;
    wire_conn_set_limit(conn, s->options.queue_limit);
    c->readable = event_new(s->base, fd, EV_READ | EV_PERSIST, on_readable, c);
    c->writable = event_new(s->base, fd, EV_WRITE, on_writable, c);
    c->timer = evtimer_new(s->base, on_timer, c);
    c->next = s->conns;
    s->conns = c;
    s->num_conns++;
    if (!c->readable || !c->writable || !c->timer) {
        conn_free(c);
        return NULL;
    }
    if (s->ops.opened && !(c->data = s->ops.opened(s->ops.opaque, c))) {
        conn_free(c);
        return NULL;
    }
    c->announced = true;
    event_add(c->readable, NULL);
    arm_timer(c, CONTROL_HANDSHAKE_SECONDS);
    return c;
}

/* Turned away before a conversation: one Error, and the socket closes. */
static void turn_away(int fd, Ignition__Error__Code code, const char *message)
{
    wire_send_error(fd, code, message);
    close(fd);
}

struct control_conn *control_server_adopt(struct control_server *s, int fd)
{
    if (s->num_conns >= s->options.max_clients) {
        turn_away(fd, s->options.full_code, s->full_message);
        return NULL;
    }
    return conn_open(s, fd);
}

static void on_accept(evutil_socket_t listen_fd, short what, void *arg)
{
    (void)what;
    struct control_server *s = arg;
    int fd = unixsock_accept((int)listen_fd);
    if (fd < 0)
        return;
    uid_t uid;
    if (unixsock_peer_uid(fd, &uid) < 0 || uid != getuid()) {
        char msg[64];
        set_message(msg, sizeof(msg), "this %s serves only its own user", s->who);
        turn_away(fd, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, msg);
        return;
    }
    if (!control_server_adopt(s, fd) && s->num_conns < s->options.max_clients)
        log_warn("%s control socket: cannot take a client: out of memory", s->who);
}

struct control_server *control_server_create(struct event_base *base, const char *path,
                                             const struct control_server_options *options,
                                             const struct control_server_ops *ops, char *err,
                                             size_t err_len)
{
    struct control_server *s = calloc(1, sizeof(*s));
    if (!s) {
        set_message(err, err_len, "out of memory");
        return NULL;
    }
    s->base = base;
    s->options = *options;
    s->ops = *ops;
    s->listen_fd = -1;
    set_message(s->who, sizeof(s->who), "%s", options->who);
    set_message(s->full_message, sizeof(s->full_message), "%s", options->full_message);
    if (s->options.max_clients == 0)
        s->options.max_clients = 1;
    if (!path)
        return s;
    if (strlen(path) >= sizeof(s->path)) {
        set_message(err, err_len, "the control socket's path is too long");
        free(s);
        return NULL;
    }
    char why[512];
    s->listen_fd = unixsock_listen(path, why, sizeof(why));
    if (s->listen_fd < 0) {
        set_message(err, err_len, "control socket: %s", why);
        free(s);
        return NULL;
    }
    set_message(s->path, sizeof(s->path), "%s", path);
    s->accept_ev = event_new(base, s->listen_fd, EV_READ | EV_PERSIST, on_accept, s);
    if (!s->accept_ev) {
        set_message(err, err_len, "out of memory");
        control_server_destroy(s);
        return NULL;
    }
    event_add(s->accept_ev, NULL);
    return s;
}

void control_server_destroy(struct control_server *s)
{
    if (!s)
        return;
    while (s->conns)
        conn_free(s->conns);
    if (s->accept_ev)
        event_free(s->accept_ev);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->path[0])
        unlink(s->path);
    free(s);
}
