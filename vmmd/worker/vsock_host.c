/* The host end of virtio-vsock on the worker's loop (vsock_host.h says what
 * a host process sees). Everything here runs on the loop thread: the
 * guest's notifications only activate the kick event.
 *
 * - Packets the guest sends are taken in batches (TX_BATCH, then the loop
 *   has a turn), each already checked by the device; here each is matched to
 *   its connection and checked against the connection's state and credit.
 *   Anything that does not fit is answered with RST, as §5.10.6.4 asks.
 * - Packets for the guest are made only when it has a receive buffer: what
 *   is to be said (a request, a response, a reset, a credit update, an end
 *   of stream) is a flag on the connection, or, for a reset of a connection
 *   that no longer exists, an entry in a small ring; host bytes are read
 *   straight into the guest's buffer, as many as its credit allows. With no
 *   buffer free no host socket is read at all until the guest adds one. */
#include "worker/vsock_host.h"

#include <errno.h>
#include <stdarg.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/virtio_vsock.h"
#include "listener.h"
#include "log.h"
#include "unixsock.h"
#include "util.h"

#define TX_BATCH 64
#define RX_BATCH 64
#define RST_RING 128
/* Resets for packets of connections that do not exist are dropped beyond
 * this many pending: a guest sending garbage cannot fill the ring for the
 * resets of real connections. */
#define RST_RING_ORPHANS 64
#define LOG_LIMIT 20
/* How long new host connections wait for the guest to handle a transport
 * reset (it takes the guest a scheduling turn; an emulated guest under load,
 * longer). */
#define RESET_WAIT_MS 5000

enum conn_state {
    CONN_FREE = 0,
    CONN_HANDSHAKE,   /* host-initiated: waiting for "CONNECT <port>\n" */
    CONN_CONNECTING,  /* host-initiated: REQUEST sent, waiting for the guest */
    CONN_ESTABLISHED,
};

struct conn {
    struct vsock_host *h;
    enum conn_state state;
    int fd;
    struct event *readable, *writable, *timer;
    bool reading, writing; /* which of the two events are added */
    uint32_t local_port, guest_port;
    struct vsock_credit credit;
    /* Bytes from the guest not yet written to fd: a ring of
     * VSOCK_HOST_BUFFER bytes, made when first needed. Its length is what
     * the credit counts as held. */
    uint8_t *ring;
    size_t ring_head, ring_len;
    bool host_readable;  /* fd is readable (or at its end) and not read since */
    bool host_eof;       /* the host sends no more */
    bool guest_no_send, guest_no_rcv; /* the guest's SHUTDOWN flags */
    bool send_request, send_response, send_credit_update;
    bool request_held;   /* asked for while the guest was still resetting */
    bool doomed;         /* a host socket error while filling: reset after */
};

struct rst {
    uint32_t local_port, guest_port;
};

struct vsock_host {
    struct event_base *base;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int listen_fd;
    struct listener *listener;
    struct event *kick;
    struct device *dev;
    uint32_t generation;
    bool rx_full;       /* the guest had no receive buffer: wait for its kick */
    bool reset_pending; /* TRANSPORT_RESET not yet delivered */
    /* Delivered, but the guest has not yet said it has reset its sockets: a
     * connection it accepted now would be reset under it, silently. New
     * host connections wait, at most RESET_WAIT_MS. */
    bool reset_unhandled;
    uint32_t reset_notifies; /* the event queue's notifies at delivery */
    struct event *reset_wait;
    struct conn conns[VSOCK_HOST_MAX_CONNECTIONS];
    unsigned next_conn; /* where the round-robin of the receive side goes on */
    struct rst rsts[RST_RING];
    unsigned rst_head, rst_count;
    uint32_t next_local_port;
    unsigned logged;
};

static void pump(struct vsock_host *h);

static void PRINTF_LIKE(2, 3) log_event(struct vsock_host *h, const char *fmt, ...)
{
    if (h->logged >= LOG_LIMIT)
        return;
    h->logged++;
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    log_info("vsock: %s%s", message, h->logged == LOG_LIMIT ? " (further ones not logged)" : "");
}

int vsock_host_parse_connect(const char *line, size_t len, uint32_t *port)
{
    static const char prefix[] = "CONNECT ";
    size_t at = sizeof(prefix) - 1;
    if (len <= at || len > at + 10 || memcmp(line, prefix, at) != 0)
        return -1;
    uint64_t v = 0;
    for (; at < len; at++) {
        if (line[at] < '0' || line[at] > '9')
            return -1;
        v = v * 10 + (uint64_t)(line[at] - '0');
    }
    if (v > UINT32_MAX)
        return -1;
    *port = (uint32_t)v;
    return 0;
}

/* ---- connections ---------------------------------------------------------------------------- */

static void queue_rst(struct vsock_host *h, uint32_t local_port, uint32_t guest_port,
                      bool orphan)
{
    if (h->rst_count == RST_RING || (orphan && h->rst_count >= RST_RING_ORPHANS))
        return; /* the guest times its connection out itself */
    h->rsts[(h->rst_head + h->rst_count) % RST_RING] =
        (struct rst){.local_port = local_port, .guest_port = guest_port};
    h->rst_count++;
}

static void set_event(struct event *ev, bool *added, bool want)
{
    if (want == *added)
        return;
    if (want)
        event_add(ev, NULL);
    else
        event_del(ev);
    *added = want;
}

/* Reads the host socket only when what it gives can go somewhere. */
static void conn_update_events(struct conn *c)
{
    if (c->state == CONN_FREE)
        return;
    bool want_read = c->state == CONN_HANDSHAKE ||
                     (c->state == CONN_ESTABLISHED && !c->host_readable && !c->host_eof &&
                      !c->guest_no_rcv && !c->h->rx_full &&
                      vsock_credit_peer_free(&c->credit) > 0);
    bool want_write = c->state == CONN_ESTABLISHED && c->ring_len > 0;
    set_event(c->readable, &c->reading, want_read);
    set_event(c->writable, &c->writing, want_write);
}

static void update_all(struct vsock_host *h)
{
    for (unsigned i = 0; i < VSOCK_HOST_MAX_CONNECTIONS; i++)
        conn_update_events(&h->conns[i]);
}

/* Ends a connection; with rst the guest is told (its end may still exist). */
static void conn_close(struct conn *c, bool rst)
{
    if (c->state == CONN_FREE)
        return;
    if (rst && c->state != CONN_HANDSHAKE)
        queue_rst(c->h, c->local_port, c->guest_port, false);
    event_free(c->readable);
    event_free(c->writable);
    event_free(c->timer);
    close(c->fd);
    free(c->ring);
    struct vsock_host *h = c->h;
    memset(c, 0, sizeof(*c));
    c->h = h;
    c->fd = -1;
}

static void close_all(struct vsock_host *h)
{
    for (unsigned i = 0; i < VSOCK_HOST_MAX_CONNECTIONS; i++)
        conn_close(&h->conns[i], false);
    h->rst_count = 0;
}

static struct conn *conn_find(struct vsock_host *h, uint32_t local_port, uint32_t guest_port)
{
    for (unsigned i = 0; i < VSOCK_HOST_MAX_CONNECTIONS; i++) {
        struct conn *c = &h->conns[i];
        if ((c->state == CONN_CONNECTING || c->state == CONN_ESTABLISHED) &&
            c->local_port == local_port && c->guest_port == guest_port)
            return c;
    }
    return NULL;
}

static void on_conn_readable(evutil_socket_t fd, short what, void *arg);
static void on_conn_writable(evutil_socket_t fd, short what, void *arg);
static void on_conn_timeout(evutil_socket_t fd, short what, void *arg);

/* A free slot set up for fd, or NULL (fd is then closed). */
static struct conn *conn_open(struct vsock_host *h, int fd, enum conn_state state)
{
    struct conn *c = NULL;
    for (unsigned i = 0; i < VSOCK_HOST_MAX_CONNECTIONS && !c; i++)
        if (h->conns[i].state == CONN_FREE)
            c = &h->conns[i];
    if (!c) {
        log_event(h, "more than %d connections: one refused", VSOCK_HOST_MAX_CONNECTIONS);
        close(fd);
        return NULL;
    }
    c->readable = event_new(h->base, fd, EV_READ | EV_PERSIST, on_conn_readable, c);
    c->writable = event_new(h->base, fd, EV_WRITE | EV_PERSIST, on_conn_writable, c);
    c->timer = evtimer_new(h->base, on_conn_timeout, c);
    if (!c->readable || !c->writable || !c->timer) {
        if (c->readable)
            event_free(c->readable);
        if (c->writable)
            event_free(c->writable);
        if (c->timer)
            event_free(c->timer);
        c->readable = c->writable = c->timer = NULL;
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->state = state;
    c->credit = (struct vsock_credit){.buf_alloc = VSOCK_HOST_BUFFER};
    return c;
}

static void start_timer(struct conn *c, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

/* ---- the guest's bytes on their way to the host ------------------------------------------ */

/* The guest ended both directions: once its bytes are out, the connection
 * is over, and the guest waits for our RST to say so. */
static bool conn_finished(const struct conn *c)
{
    return c->guest_no_send && c->guest_no_rcv && c->ring_len == 0;
}

/* After bytes left the ring (or none were held): the host's end learns of
 * the guest's SHUTDOWN once everything before it is written. */
static void after_flush(struct conn *c)
{
    if (c->ring_len)
        return;
    if (conn_finished(c)) {
        conn_close(c, true);
        return;
    }
    if (c->guest_no_send)
        shutdown(c->fd, SHUT_WR);
}

/* Writes what the ring holds. false when the host's end is gone. */
static bool flush_ring(struct conn *c)
{
    while (c->ring_len) {
        struct iovec iov[2];
        size_t first = VSOCK_HOST_BUFFER - c->ring_head;
        if (first > c->ring_len)
            first = c->ring_len;
        iov[0] = (struct iovec){c->ring + c->ring_head, first};
        iov[1] = (struct iovec){c->ring, c->ring_len - first};
        ssize_t n = writev(c->fd, iov, iov[1].iov_len ? 2 : 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0)
            return false;
        c->ring_head = (c->ring_head + (size_t)n) % VSOCK_HOST_BUFFER;
        c->ring_len -= (size_t)n;
        vsock_credit_forwarded(&c->credit, (uint32_t)n);
    }
    return true;
}

static void ring_append(struct conn *c, const uint8_t *data, size_t len)
{
    size_t tail = (c->ring_head + c->ring_len) % VSOCK_HOST_BUFFER;
    size_t first = VSOCK_HOST_BUFFER - tail < len ? VSOCK_HOST_BUFFER - tail : len;
    memcpy(c->ring + tail, data, first);
    memcpy(c->ring, data + first, len - first);
    c->ring_len += len;
}

/* RW from the guest: within its credit, else it is reset. Written at once
 * where the socket takes it; the rest waits in the ring. */
static void guest_data(struct conn *c, const uint8_t *data, uint32_t len)
{
    if (c->guest_no_send || !vsock_credit_receive(&c->credit, len)) {
        log_event(c->h, "guest port %u sent %s: reset", c->guest_port,
                  c->guest_no_send ? "after its shutdown" : "beyond its credit");
        conn_close(c, true);
        return;
    }
    size_t written = 0;
    if (c->ring_len == 0) {
        ssize_t n;
        do
            n = write(c->fd, data, len);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            conn_close(c, true); /* the host's end is gone */
            return;
        }
        written = n > 0 ? (size_t)n : 0;
        vsock_credit_forwarded(&c->credit, (uint32_t)written);
    }
    if (written < len) {
        if (!c->ring && !(c->ring = malloc(VSOCK_HOST_BUFFER))) {
            conn_close(c, true);
            return;
        }
        /* Fits: the ring holds what the credit counts as held, at most buf_alloc. */
        ring_append(c, data + written, len - written);
    }
}

static void guest_shutdown(struct conn *c, uint32_t flags)
{
    if (flags & VSOCK_SHUTDOWN_RCV)
        c->guest_no_rcv = true;
    if (flags & VSOCK_SHUTDOWN_SEND)
        c->guest_no_send = true;
    after_flush(c);
}

static void on_conn_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct conn *c = arg;
    struct vsock_host *h = c->h;
    if (!flush_ring(c))
        conn_close(c, true);
    else
        after_flush(c);
    pump(h); /* freed space may be worth a credit update */
}

/* ---- connections the guest opens ------------------------------------------------------------ */

/* Connects to PATH_port without blocking: a listener whose queue is full
 * refuses, as one that is not there does. */
static int connect_host_listener(struct vsock_host *h, uint32_t port)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int len = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", h->path, port);
    if (len < 0 || (size_t)len >= sizeof(addr.sun_path))
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0); /* the flags in the type are Linux's */
    if (fd < 0)
        return -1;
    char why[256];
    if (set_nonblock_cloexec(fd) < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        unixsock_check_peer(fd, getuid(), addr.sun_path, why, sizeof(why)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void guest_request(struct vsock_host *h, const struct vsock_hdr *hdr)
{
    int fd = connect_host_listener(h, hdr->dst_port);
    if (fd < 0) {
        log_event(h, "guest port %u: nothing listens at %s_%u: refused", hdr->src_port, h->path,
                  hdr->dst_port);
        queue_rst(h, hdr->dst_port, hdr->src_port, true);
        return;
    }
    struct conn *c = conn_open(h, fd, CONN_ESTABLISHED);
    if (!c) {
        queue_rst(h, hdr->dst_port, hdr->src_port, true);
        return;
    }
    c->local_port = hdr->dst_port;
    c->guest_port = hdr->src_port;
    if (!vsock_credit_peer_update(&c->credit, hdr->buf_alloc, hdr->fwd_cnt)) {
        conn_close(c, true);
        return;
    }
    c->send_response = true;
}

/* ---- packets from the guest ------------------------------------------------------------------ */

static void established_packet(struct conn *c, const struct vsock_hdr *hdr,
                               const uint8_t *payload)
{
    switch (hdr->op) {
    case VSOCK_OP_RW:
        guest_data(c, payload, hdr->len);
        break;
    case VSOCK_OP_SHUTDOWN:
        guest_shutdown(c, hdr->flags);
        break;
    case VSOCK_OP_CREDIT_REQUEST:
        c->send_credit_update = true;
        break;
    case VSOCK_OP_CREDIT_UPDATE:
        break; /* its fields are taken already */
    default: /* a REQUEST or RESPONSE on an open connection */
        conn_close(c, true);
        break;
    }
}

/* The guest accepted a host process's connection: it hears OK and its port. */
static void guest_accepted(struct conn *c)
{
    char line[32];
    int len = snprintf(line, sizeof(line), "OK %u\n", c->local_port);
    evtimer_del(c->timer);
    c->state = CONN_ESTABLISHED;
    /* A new socket's buffer is empty: the line goes out whole or the host's
     * end is gone. */
    if (write(c->fd, line, (size_t)len) != len)
        conn_close(c, true);
}

static void on_packet(void *opaque, const struct vsock_hdr *hdr, const uint8_t *payload)
{
    struct vsock_host *h = opaque;
    struct conn *c = conn_find(h, hdr->dst_port, hdr->src_port);
    if (!c) {
        if (hdr->op == VSOCK_OP_REQUEST)
            guest_request(h, hdr);
        else if (hdr->op != VSOCK_OP_RST)
            queue_rst(h, hdr->dst_port, hdr->src_port, true);
        return;
    }
    if (hdr->op == VSOCK_OP_RST) {
        conn_close(c, false);
        return;
    }
    if (!vsock_credit_peer_update(&c->credit, hdr->buf_alloc, hdr->fwd_cnt)) {
        log_event(h, "guest port %u counted more bytes forwarded than it was sent: reset",
                  c->guest_port);
        conn_close(c, true);
        return;
    }
    if (c->state == CONN_CONNECTING) {
        if (hdr->op == VSOCK_OP_RESPONSE)
            guest_accepted(c);
        else
            conn_close(c, true);
        return;
    }
    established_packet(c, hdr, payload);
}

/* ---- packets for the guest ------------------------------------------------------------------- */

static bool has_work(const struct conn *c)
{
    if (c->state != CONN_CONNECTING && c->state != CONN_ESTABLISHED)
        return false;
    return c->send_request || c->send_response || c->send_credit_update ||
           vsock_credit_update_due(&c->credit) ||
           (c->state == CONN_ESTABLISHED && c->host_readable && !c->guest_no_rcv &&
            vsock_credit_peer_free(&c->credit) > 0);
}

static long control(struct conn *c, struct vsock_hdr *hdr, uint16_t op, uint32_t flags)
{
    hdr->op = op;
    hdr->flags = flags;
    vsock_credit_told(&c->credit);
    return 0;
}

/* Host bytes straight into the guest's buffer, as many as its credit allows. */
static long read_host(struct conn *c, struct vsock_hdr *hdr, uint8_t *payload, size_t room)
{
    uint32_t credit = vsock_credit_peer_free(&c->credit);
    size_t want = room < credit ? room : credit;
    if (want == 0)
        return -1;
    ssize_t n;
    do
        n = read(c->fd, payload, want);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        vsock_credit_sent(&c->credit, (uint32_t)n);
        control(c, hdr, VSOCK_OP_RW, 0);
        return n;
    }
    c->host_readable = false;
    if (n < 0 && errno == EAGAIN)
        return -1;
    if (n < 0) {
        c->doomed = true;
        return -1;
    }
    c->host_eof = true; /* the guest hears of it in this very buffer */
    return control(c, hdr, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND);
}

/* The transport is locked: quick, and no calls back into the device. */
static long fill_conn(void *opaque, struct vsock_hdr *hdr, uint8_t *payload, size_t room)
{
    struct conn *c = opaque;
    hdr->src_port = c->local_port;
    hdr->dst_port = c->guest_port;
    hdr->buf_alloc = c->credit.buf_alloc;
    hdr->fwd_cnt = c->credit.fwd_cnt;
    if (c->send_request) {
        c->send_request = false;
        return control(c, hdr, VSOCK_OP_REQUEST, 0);
    }
    if (c->send_response) {
        c->send_response = false;
        return control(c, hdr, VSOCK_OP_RESPONSE, 0);
    }
    if (c->state == CONN_ESTABLISHED && c->host_readable && !c->guest_no_rcv) {
        long n = read_host(c, hdr, payload, room);
        if (n >= 0 || c->doomed)
            return n;
    }
    if (c->send_credit_update || vsock_credit_update_due(&c->credit)) {
        c->send_credit_update = false;
        return control(c, hdr, VSOCK_OP_CREDIT_UPDATE, 0);
    }
    return -1;
}

static long fill_rst(void *opaque, struct vsock_hdr *hdr, uint8_t *payload, size_t room)
{
    (void)payload, (void)room;
    struct vsock_host *h = opaque;
    struct rst r = h->rsts[h->rst_head];
    h->rst_head = (h->rst_head + 1) % RST_RING;
    h->rst_count--;
    hdr->src_port = r.local_port;
    hdr->dst_port = r.guest_port;
    hdr->op = VSOCK_OP_RST;
    return 0;
}

static struct conn *next_with_work(struct vsock_host *h)
{
    for (unsigned i = 0; i < VSOCK_HOST_MAX_CONNECTIONS; i++) {
        struct conn *c = &h->conns[(h->next_conn + i) % VSOCK_HOST_MAX_CONNECTIONS];
        if (has_work(c)) {
            h->next_conn = (unsigned)(c - h->conns + 1) % VSOCK_HOST_MAX_CONNECTIONS;
            return c;
        }
    }
    return NULL;
}

/* Fills the guest's receive buffers while there is something to say and
 * room to say it; a batch at a time, then the loop has a turn. */
static void pump(struct vsock_host *h)
{
    if (!h->dev || h->rx_full) {
        update_all(h);
        return;
    }
    unsigned budget = RX_BATCH;
    for (; budget > 0; budget--) {
        int rc;
        if (h->rst_count) {
            rc = virtio_vsock_receive(h->dev, fill_rst, h);
        } else {
            struct conn *c = next_with_work(h);
            if (!c)
                break;
            rc = virtio_vsock_receive(h->dev, fill_conn, c);
            if (c->doomed)
                conn_close(c, true);
        }
        if (rc == -EAGAIN)
            h->rx_full = true;
        if (rc == -EAGAIN || rc == -ENODEV)
            break;
    }
    if (budget == 0)
        event_active(h->kick, EV_READ, 0);
    update_all(h);
}

/* ---- events ---------------------------------------------------------------------------------- */

/* The guest has reset its sockets (or had RESET_WAIT_MS to): connections
 * asked for meanwhile go to it now. */
static void release_held_requests(struct vsock_host *h)
{
    h->reset_unhandled = false;
    evtimer_del(h->reset_wait);
    for (unsigned i = 0; i < VSOCK_HOST_MAX_CONNECTIONS; i++) {
        struct conn *c = &h->conns[i];
        if (c->request_held) {
            c->request_held = false;
            c->send_request = true;
        }
    }
    pump(h);
}

static void on_reset_wait(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct vsock_host *h = arg;
    if (h->reset_unhandled) {
        log_event(h, "the guest did not hand back its event buffer in %d ms", RESET_WAIT_MS);
        release_held_requests(h);
    }
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct vsock_host *h = arg;
    if (!h->dev)
        return;
    uint32_t generation = virtio_vsock_generation(h->dev);
    if (generation != h->generation) {
        h->generation = generation; /* the driver reset the device */
        close_all(h);
    }
    if (!virtio_vsock_running(h->dev))
        return;
    if (h->reset_pending && virtio_vsock_send_transport_reset(h->dev) == 0) {
        h->reset_pending = false;
        h->reset_unhandled = true;
        h->reset_notifies = virtio_vsock_event_notifies(h->dev);
        struct timeval wait = {RESET_WAIT_MS / 1000, (RESET_WAIT_MS % 1000) * 1000};
        evtimer_add(h->reset_wait, &wait);
        log_info("vsock: the guest was told its connections from before the snapshot are gone");
    } else if (h->reset_unhandled &&
               virtio_vsock_event_notifies(h->dev) != h->reset_notifies) {
        release_held_requests(h);
    }
    unsigned taken = virtio_vsock_transmit(h->dev, TX_BATCH, on_packet, h);
    h->rx_full = false; /* a kick may be new receive buffers */
    pump(h);
    if (taken == TX_BATCH)
        event_active(h->kick, EV_READ, 0);
}

void vsock_host_kick(void *opaque)
{
    struct vsock_host *h = opaque;
    event_active(h->kick, EV_READ, 0);
}

/* A host process's line: the guest is asked to accept it. */
static void host_connect(struct conn *c, uint32_t port)
{
    struct vsock_host *h = c->h;
    if (!h->dev || !virtio_vsock_running(h->dev)) {
        conn_close(c, false);
        return;
    }
    uint32_t local = h->next_local_port;
    for (unsigned tries = 0; tries < VSOCK_HOST_MAX_CONNECTIONS + 1; tries++) {
        local = h->next_local_port++;
        if (h->next_local_port < VSOCK_HOST_FIRST_LOCAL_PORT)
            h->next_local_port = VSOCK_HOST_FIRST_LOCAL_PORT;
        if (!conn_find(h, local, port))
            break;
    }
    c->local_port = local;
    c->guest_port = port;
    c->state = CONN_CONNECTING;
    if (h->reset_pending || h->reset_unhandled)
        c->request_held = true; /* release_held_requests sends it */
    else
        c->send_request = true;
    start_timer(c, VSOCK_HOST_CONNECT_TIMEOUT_MS);
    pump(h);
}

/* Reads "CONNECT <port>\n" and not a byte more: what follows is the stream's. */
static void read_handshake(struct conn *c)
{
    char line[VSOCK_HOST_LINE_MAX];
    ssize_t n = recv(c->fd, line, sizeof(line), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        conn_close(c, false);
        return;
    }
    char *nl = memchr(line, '\n', (size_t)n);
    if (!nl) {
        if (n == (ssize_t)sizeof(line))
            conn_close(c, false); /* no line this long is a CONNECT */
        return;
    }
    size_t len = (size_t)(nl - line);
    uint32_t port;
    if (recv(c->fd, line, len + 1, 0) != (ssize_t)(len + 1) ||
        vsock_host_parse_connect(line, len, &port) < 0) {
        log_event(c->h, "a host process sent something other than CONNECT <port>");
        conn_close(c, false);
        return;
    }
    host_connect(c, port);
}

static void on_conn_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct conn *c = arg;
    if (c->state == CONN_HANDSHAKE) {
        read_handshake(c);
        return;
    }
    c->host_readable = true; /* read when the guest has room: pump */
    conn_update_events(c);
    pump(c->h);
}

static void on_conn_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct conn *c = arg;
    struct vsock_host *h = c->h;
    log_event(h, "a host connection %s: closed",
              c->state == CONN_HANDSHAKE ? "sent no CONNECT line"
                                         : "was not answered by the guest");
    conn_close(c, c->state == CONN_CONNECTING);
    pump(h);
}

static void on_accept(int fd, void *arg)
{
    struct vsock_host *h = arg;
    uid_t uid;
    if (unixsock_peer_uid(fd, &uid) < 0 || uid != getuid()) {
        close(fd);
        return;
    }
    struct conn *c = conn_open(h, fd, CONN_HANDSHAKE);
    if (!c)
        return;
    start_timer(c, VSOCK_HOST_CONNECT_TIMEOUT_MS);
    conn_update_events(c);
}

/* ---- the host end ---------------------------------------------------------------------------- */

struct vsock_host *vsock_host_create(struct event_base *base, const char *socket_path,
                                     char *err, size_t err_len)
{
    struct vsock_host *h = calloc(1, sizeof(*h));
    if (!h) {
        set_message(err, err_len, "out of memory");
        return NULL;
    }
    h->base = base;
    h->listen_fd = -1;
    h->next_local_port = VSOCK_HOST_FIRST_LOCAL_PORT;
    for (unsigned i = 0; i < VSOCK_HOST_MAX_CONNECTIONS; i++)
        h->conns[i] = (struct conn){.h = h, .fd = -1};
    if (strlen(socket_path) >= sizeof(h->path)) {
        set_message(err, err_len, "the vsock socket path %s is longer than a socket address "
                    "holds (%zu bytes)", socket_path, sizeof(h->path) - 1);
        free(h);
        return NULL;
    }
    /* The guest's connections reach PATH_port: ten digits at most. */
    if (strlen(socket_path) + 11 >= sizeof(h->path))
        log_warn("vsock: %s is too long for %s_PORT to be a socket address: the guest's "
                 "connections to the host are refused", socket_path, socket_path);
    snprintf(h->path, sizeof(h->path), "%s", socket_path);
    h->listen_fd = unixsock_listen(socket_path, err, err_len);
    h->kick = event_new(base, -1, 0, on_kick, h);
    h->reset_wait = evtimer_new(base, on_reset_wait, h);
    if (h->listen_fd >= 0 && h->kick && h->reset_wait)
        h->listener = listener_new(base, h->listen_fd, "vsock socket", on_accept, h);
    if (!h->listener) {
        if (h->listen_fd >= 0)
            set_message(err, err_len, "cannot watch the vsock socket %s", socket_path);
        vsock_host_destroy(h);
        return NULL;
    }
    return h;
}

void vsock_host_attach(struct vsock_host *h, struct device *vsock)
{
    close_all(h);
    h->dev = vsock;
    h->rx_full = false;
    if (vsock) {
        h->generation = virtio_vsock_generation(vsock);
        event_active(h->kick, EV_READ, 0);
    } else {
        h->reset_pending = false;
        h->reset_unhandled = false;
        evtimer_del(h->reset_wait);
    }
}

void vsock_host_transport_reset(struct vsock_host *h)
{
    close_all(h);
    h->reset_pending = true;
    event_active(h->kick, EV_READ, 0);
}

const char *vsock_host_path(const struct vsock_host *h)
{
    return h->path;
}

void vsock_host_destroy(struct vsock_host *h)
{
    if (!h)
        return;
    close_all(h);
    listener_free(h->listener);
    if (h->listen_fd >= 0) {
        close(h->listen_fd);
        unlink(h->path);
    }
    if (h->kick)
        event_free(h->kick);
    if (h->reset_wait)
        event_free(h->reset_wait);
    free(h);
}
