#include "worker/console_host.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "rotating_log.h"
#include "unixsock.h"
#include "util.h"

#define READ_CHUNK 4096

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS MSG_NOSIGNAL /* a client gone away is an error, not a signal */
#else
#define SEND_FLAGS 0 /* macOS: the worker ignores SIGPIPE */
#endif

struct console_client {
    struct console_host *h;
    int fd;
    struct event *readable, *writable;
    bool reading; /* readable is armed (not waiting for input room) */
    bool write_failed; /* it hung up: what it typed is still read, nothing sent */
    /* Output not yet taken by the client: a ring of h->client_buffer bytes. */
    uint8_t *ring;
    size_t head, len;
    struct console_client *next;
};

struct console_host {
    struct event_base *base;
    struct console_host_options o;
    int listen_fd;
    char socket_path[512];
    struct listener *listener;
    struct console_client *clients;
    unsigned num_clients;
    uint64_t dropped; /* event loop thread: counted as each batch is taken */
    bool input_waiting; /* some client stopped reading for lack of input room */

    /* Output on its way from the vCPU thread to the event loop, and the log:
     * both under lock. The loop swaps outbox with spare to take a batch. */
    pthread_mutex_t lock;
    struct event *flush;
    uint8_t *outbox, *spare;
    size_t outbox_len;
    uint64_t outbox_dropped;
    struct rotating_log log;
};

/* ---- the log --------------------------------------------------------------------------- */

/* Called with lock held. A write that fails loses that output from the log,
 * never stops the guest. */
static void log_append(struct console_host *h, const uint8_t *data, size_t len)
{
    if (h->log.fd < 0)
        return;
    int rc = rotating_log_write(&h->log, data, len);
    if (rc < 0)
        log_warn("console log: cannot rotate %s: %s%s", h->log.path, strerror(-rc),
                 h->log.fd < 0 ? "; output is no longer logged" : "");
}

/* ---- clients ----------------------------------------------------------------------------- */

static void client_close(struct console_client *c)
{
    struct console_host *h = c->h;
    for (struct console_client **pp = &h->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    h->num_clients--;
    event_free(c->readable);
    event_free(c->writable);
    close(c->fd);
    free(c->ring);
    free(c);
}

/* Writes what the client takes now; the rest waits for it to become writable.
 * Returns false when the client is gone (and freed). */
static bool client_write(struct console_client *c)
{
    size_t cap = c->h->o.client_buffer;
    while (c->len) {
        size_t first = c->len < cap - c->head ? c->len : cap - c->head;
        struct iovec iov[2] = {{c->ring + c->head, first}, {c->ring, c->len - first}};
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = c->len > first ? 2 : 1};
        ssize_t n = sendmsg(c->fd, &msg, SEND_FLAGS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(c->writable, NULL);
            return true;
        }
        if (n <= 0) {
            /* The client is gone, but what it typed before it went may still
             * wait in the socket: it is read (and the client closed) by the
             * read side, which comes to the end of the stream. */
            c->write_failed = true;
            c->head = c->len = 0;
            event_del(c->writable);
            return true;
        }
        c->head = (c->head + (size_t)n) % cap;
        c->len -= (size_t)n;
    }
    c->head = 0;
    event_del(c->writable);
    return true;
}

/* Queues output for one client: what does not fit is lost to it alone. */
static void client_queue(struct console_client *c, const uint8_t *data, size_t len)
{
    if (c->write_failed)
        return;
    size_t cap = c->h->o.client_buffer;
    size_t room = cap - c->len;
    if (len > room) {
        c->h->dropped += len - room;
        len = room;
    }
    size_t tail = (c->head + c->len) % cap;
    size_t first = len < cap - tail ? len : cap - tail;
    memcpy(c->ring + tail, data, first);
    memcpy(c->ring, data + first, len - first);
    c->len += len;
}

static void on_client_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    client_write(arg);
}

static void on_client_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct console_client *c = arg;
    struct console_host *h = c->h;
    size_t room = h->o.input_room(h->o.opaque);
    if (room == 0) {
        /* Unread bytes stay in the socket until the guest has taken some. */
        event_del(c->readable);
        c->reading = false;
        h->input_waiting = true;
        return;
    }
    uint8_t buf[READ_CHUNK];
    ssize_t n = read((int)fd, buf, room < sizeof(buf) ? room : sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    h->o.input(h->o.opaque, buf, (size_t)n);
}

/* A refused peer learns why in one line before the connection closes. */
static void refuse(int fd, const char *why)
{
    char line[160];
    int len = snprintf(line, sizeof(line), "console: %s\r\n", why);
    if (send(fd, line, (size_t)len, SEND_FLAGS) < 0)
        log_debug("console socket: could not tell a refused client why: %s", strerror(errno));
    close(fd);
}

static bool peer_allowed(const struct console_host *h, int fd)
{
    uid_t uid;
    return unixsock_peer_uid(fd, &uid) == 0 && uid == h->o.allowed_uid;
}

static void add_client(struct console_host *h, int fd)
{
    struct console_client *c = calloc(1, sizeof(*c));
    uint8_t *ring = malloc(h->o.client_buffer);
    if (!c || !ring) {
        free(c);
        free(ring);
        refuse(fd, "out of memory");
        return;
    }
    *c = (struct console_client){.h = h, .fd = fd, .ring = ring, .reading = true,
                                 .next = h->clients};
    c->readable = event_new(h->base, fd, EV_READ | EV_PERSIST, on_client_readable, c);
    c->writable = event_new(h->base, fd, EV_WRITE, on_client_writable, c);
    h->clients = c;
    h->num_clients++;
    event_add(c->readable, NULL);
}

static void on_connection(int fd, void *arg)
{
    struct console_host *h = arg;
    if (!peer_allowed(h, fd)) {
        log_warn("console socket: refused a connection from another user");
        refuse(fd, "this guest belongs to another user");
        return;
    }
    if (h->num_clients == CONSOLE_HOST_MAX_CLIENTS) {
        refuse(fd, "too many clients attached (16); detach one first");
        return;
    }
    add_client(h, fd);
}

/* ---- output ------------------------------------------------------------------------------ */

/* On the event loop: every client gets the batch the vCPU thread left. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct console_host *h = arg;
    pthread_mutex_lock(&h->lock);
    uint8_t *batch = h->outbox;
    size_t len = h->outbox_len;
    h->outbox = h->spare;
    h->outbox_len = 0;
    h->spare = batch;
    h->dropped += h->outbox_dropped * h->num_clients;
    h->outbox_dropped = 0;
    pthread_mutex_unlock(&h->lock);
    struct console_client *next;
    for (struct console_client *c = h->clients; c; c = next) {
        next = c->next;
        client_queue(c, batch, len);
        client_write(c);
    }
}

void console_host_output(struct console_host *h, const uint8_t *data, size_t len)
{
    pthread_mutex_lock(&h->lock);
    log_append(h, data, len);
    if (h->listen_fd >= 0) {
        size_t room = h->o.client_buffer - h->outbox_len;
        size_t take = len < room ? len : room;
        memcpy(h->outbox + h->outbox_len, data, take);
        h->outbox_len += take;
        h->outbox_dropped += len - take;
        if (take)
            event_active(h->flush, EV_READ, 0);
    }
    pthread_mutex_unlock(&h->lock);
}

void console_host_input_ready(struct console_host *h)
{
    if (!h->input_waiting)
        return;
    h->input_waiting = false;
    for (struct console_client *c = h->clients; c; c = c->next) {
        if (!c->reading) {
            c->reading = true;
            event_add(c->readable, NULL);
        }
    }
}

unsigned console_host_client_count(const struct console_host *h)
{
    return h->num_clients;
}

uint64_t console_host_dropped(const struct console_host *h)
{
    return h->dropped;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static int start_listening(struct console_host *h, char *err, size_t err_len)
{
    char why[512];
    snprintf(h->socket_path, sizeof(h->socket_path), "%s", h->o.socket_path);
    h->listen_fd = unixsock_listen(h->socket_path, why, sizeof(why));
    if (h->listen_fd < 0) {
        set_message(err, err_len, "console socket: %s", why);
        return -1;
    }
    h->outbox = malloc(h->o.client_buffer);
    h->spare = malloc(h->o.client_buffer);
    h->listener = listener_new(h->base, h->listen_fd, "console socket", on_connection, h);
    h->flush = event_new(h->base, -1, 0, on_flush, h);
    if (!h->outbox || !h->spare || !h->listener || !h->flush) {
        set_message(err, err_len, "console socket: out of memory");
        return -1;
    }
    return 0;
}

static int open_log(struct console_host *h, char *err, size_t err_len)
{
    int rc = rotating_log_open(&h->log, h->o.log_path, h->o.log_limit,
                               CONSOLE_HOST_LOG_GENERATIONS);
    if (rc < 0) {
        set_message(err, err_len, "console log %s: %s", h->o.log_path,
                    rc == -ENAMETOOLONG ? "the path is too long" : strerror(-rc));
        return -1;
    }
    return 0;
}

struct console_host *console_host_create(struct event_base *base,
                                         const struct console_host_options *o, char *err,
                                         size_t err_len)
{
    if (o->client_buffer == 0 || o->log_limit == 0 || (o->socket_path && !o->input_room) ||
        (o->socket_path && !o->input)) {
        set_message(err, err_len, "console: incomplete options");
        return NULL;
    }
    struct console_host *h = calloc(1, sizeof(*h));
    if (!h) {
        set_message(err, err_len, "console: out of memory");
        return NULL;
    }
    h->base = base;
    h->o = *o;
    h->listen_fd = h->log.fd = -1;
    pthread_mutex_init(&h->lock, NULL);
    if ((o->log_path && open_log(h, err, err_len) < 0) ||
        (o->socket_path && start_listening(h, err, err_len) < 0)) {
        console_host_destroy(h);
        return NULL;
    }
    h->o.socket_path = h->o.log_path = NULL; /* the caller's strings may go away */
    return h;
}

void console_host_destroy(struct console_host *h)
{
    if (!h)
        return;
    while (h->clients)
        client_close(h->clients);
    listener_free(h->listener);
    if (h->flush)
        event_free(h->flush);
    if (h->listen_fd >= 0) {
        close(h->listen_fd);
        unlink(h->socket_path);
    }
    rotating_log_close(&h->log);
    free(h->outbox);
    free(h->spare);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
