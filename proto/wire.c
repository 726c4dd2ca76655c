#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "byteorder.h"
#include "decode_budget.h"
#include "log.h"
#include "printable.h"
#include "util.h"

#ifdef MSG_NOSIGNAL
#define SEND_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)
#else
#define SEND_FLAGS MSG_DONTWAIT /* SO_NOSIGPIPE on the socket instead */
#endif
#ifdef MSG_CMSG_CLOEXEC
#define RECV_FLAGS (MSG_DONTWAIT | MSG_CMSG_CLOEXEC)
#else
#define RECV_FLAGS MSG_DONTWAIT
#endif

/* A frame's buffer starts this small and doubles as its bytes arrive, so a peer
 * that announces a large frame and stalls holds little of our memory. */
#define BODY_FIRST_CHUNK 4096u
/* Frames gathered into one sendmsg by wire_conn_flush. */
#define FLUSH_BATCH 16
/* What decoding one message may allocate. protobuf-c allocates a struct per
 * element of a repeated message field, so a frame full of empty Rects (two
 * bytes each) would otherwise cost some thirty times its size. Real messages
 * stay far below this: a cursor's pixels cost their own size. */
#define DECODE_BUDGET (16u << 20)

/* Room for the most fds we accept with one message; a peer sending more makes
 * the kernel truncate (MSG_CTRUNC) rather than hand us an unbounded number. */
union fd_control {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * WIRE_MAX_FDS)];
};



static void close_fds(const int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        close(fds[i]);
}

/* Gives a received message's fds to a caller, or closes them when it has no
 * room for them. */
static void hand_over_fds(const int *from, unsigned n, int *to, unsigned *nto)
{
    if (!to || !nto) {
        close_fds(from, n);
        return;
    }
    memcpy(to, from, n * sizeof(int));
    *nto = n;
}

static void no_sigpipe(int sock)
{
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
    int on = 1;
    setsockopt(sock, SOL_SOCKET, SO_NOSIGPIPE, &on, sizeof(on));
#else
    (void)sock;
#endif
}

/* Waits until sock has one of events, or until deadline (monotonic ns; 0: no
 * deadline). Returns 0, -ETIMEDOUT or -errno. */
static int wait_for(int sock, short events, uint64_t deadline)
{
    for (;;) {
        int timeout_ms = -1;
        if (deadline) {
            uint64_t now = monotonic_ns();
            if (now >= deadline)
                return -ETIMEDOUT;
            uint64_t left_ms = (deadline - now + 999999) / 1000000;
            timeout_ms = left_ms > INT_MAX ? INT_MAX : (int)left_ms;
        }
        struct pollfd p = {.fd = sock, .events = events};
        int r = poll(&p, 1, timeout_ms);
        if (r > 0)
            return 0; /* ready, or an error the next read or write reports */
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

/* ---- encoding ------------------------------------------------------------------- */

static int encoded_size(const Ignition__Envelope *env, size_t *len)
{
    if (!env || env->body_case == IGNITION__ENVELOPE__BODY__NOT_SET)
        return -EINVAL;
    size_t n = ignition__envelope__get_packed_size(env);
    if (n == 0)
        return -EINVAL;
    if (n > WIRE_MAX_MESSAGE)
        return -EMSGSIZE;
    *len = n;
    return 0;
}

/* Writes the length prefix and the body into frame (WIRE_HEADER_BYTES + len). */
static void encode_into(const Ignition__Envelope *env, size_t len, uint8_t *frame)
{
    le_put(frame, len, WIRE_HEADER_BYTES);
    ignition__envelope__pack(env, frame + WIRE_HEADER_BYTES);
}

int wire_encode(const Ignition__Envelope *env, uint8_t **frame, size_t *frame_len)
{
    size_t len;
    int err = encoded_size(env, &len);
    if (err)
        return err;
    uint8_t *buf = malloc(WIRE_HEADER_BYTES + len);
    if (!buf)
        return -ENOMEM;
    encode_into(env, len, buf);
    *frame = buf;
    *frame_len = WIRE_HEADER_BYTES + len;
    return 0;
}

static int decode_body(const uint8_t *body, size_t len, Ignition__Envelope **env, char *why,
                       size_t why_len)
{
    struct decode_budget budget;
    decode_budget_init(&budget, DECODE_BUDGET);
    Ignition__Envelope *e = ignition__envelope__unpack(&budget.allocator, len, body);
    if (!e && budget.exceeded) {
        set_message(why, why_len, "a %zu-byte message would take more than %u MiB to decode", len,
                DECODE_BUDGET >> 20);
        return -EBADMSG;
    }
    if (!e) {
        set_message(why, why_len, "a %zu-byte message does not decode", len);
        return -EBADMSG;
    }
    if (e->body_case == IGNITION__ENVELOPE__BODY__NOT_SET) {
        ignition__envelope__free_unpacked(e, NULL);
        set_message(why, why_len, "a message of no kind we know (empty envelope)");
        return -EBADMSG;
    }
    *env = e;
    return 0;
}

int wire_decode(const uint8_t *body, size_t len, Ignition__Envelope **env)
{
    return decode_body(body, len, env, NULL, 0);
}

/* ---- sending -------------------------------------------------------------------- */

/* One non-blocking sendmsg of iov, with nfds fds attached to its first byte.
 * Returns the bytes written or -errno. */
static ssize_t send_some(int sock, const struct iovec *iov, int iovcnt, const int *fds,
                         unsigned nfds)
{
    union fd_control control;
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = iovcnt};
    if (nfds) {
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    ssize_t n;
    do
        n = sendmsg(sock, &msg, SEND_FLAGS);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int wire_send(int sock, const Ignition__Envelope *env, const int *fds, unsigned nfds)
{
    if (nfds > WIRE_MAX_FDS || (nfds && !fds))
        return -EINVAL;
    uint8_t *frame;
    size_t len, sent = 0;
    int err = wire_encode(env, &frame, &len);
    if (err)
        return err;
    no_sigpipe(sock);
    while (!err && sent < len) {
        struct iovec iov = {.iov_base = frame + sent, .iov_len = len - sent};
        ssize_t n = send_some(sock, &iov, 1, fds, sent ? 0 : nfds);
        if (n == -EAGAIN || n == -EWOULDBLOCK)
            err = wait_for(sock, POLLOUT, 0);
        else if (n < 0)
            err = (int)n;
        else
            sent += (size_t)n;
    }
    free(frame);
    return err;
}

/* ---- reading frames ------------------------------------------------------------- */

struct frame_reader {
    uint8_t header[WIRE_HEADER_BYTES];
    size_t header_got;
    uint32_t length; /* announced; valid once the header is complete */
    uint8_t *body;
    size_t body_reserved, body_got;
    int fds[WIRE_MAX_FDS]; /* received with this frame */
    unsigned nfds;
};

/* Forgets the frame in progress, closing the fds that came with it. */
static void reader_reset(struct frame_reader *r)
{
    close_fds(r->fds, r->nfds);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* Takes the fds of one recvmsg into the frame. -EPROTO when the frame would
 * then carry more than a message may: the excess is closed here, the rest when
 * the caller resets the frame. */
static int adopt_fds(struct frame_reader *r, struct msghdr *msg)
{
    bool excess = (msg->msg_flags & MSG_CTRUNC) != 0;
    const char *control_end = (const char *)msg->msg_control + msg->msg_controllen;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
            cm->cmsg_len < CMSG_LEN(0))
            continue;
        const unsigned char *data = CMSG_DATA(cm);
        size_t room = (size_t)(control_end - (const char *)data);
        size_t bytes = cm->cmsg_len - CMSG_LEN(0);
        size_t count = (bytes < room ? bytes : room) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (r->nfds == WIRE_MAX_FDS) {
                close(fd);
                excess = true;
                continue;
            }
#ifndef MSG_CMSG_CLOEXEC
            fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
            r->fds[r->nfds++] = fd;
        }
    }
    return excess ? -EPROTO : 0;
}

/* One non-blocking recvmsg of at most len bytes into buf, adopting the fds that
 * come with them. Returns the bytes read (0 at end of stream) or -errno. */
static ssize_t receive_some(struct frame_reader *r, int sock, uint8_t *buf, size_t len)
{
    union fd_control control;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = control.bytes, .msg_controllen = sizeof(control.bytes)};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, RECV_FLAGS);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    int err = adopt_fds(r, &msg);
    return err ? err : n;
}

static int explain_receive_error(ssize_t err, char *why, size_t why_len)
{
    if (err == -EPROTO)
        set_message(why, why_len, "more than %d fds came with one message", WIRE_MAX_FDS);
    else if (err != -EAGAIN)
        set_message(why, why_len, "read: %s", strerror((int)-err));
    return (int)err;
}

static int read_header(struct frame_reader *r, int sock, char *why, size_t why_len)
{
    while (r->header_got < WIRE_HEADER_BYTES) {
        ssize_t n = receive_some(r, sock, r->header + r->header_got,
                                 WIRE_HEADER_BYTES - r->header_got);
        /* A peer that resets between frames has simply gone, like one that closes. */
        if ((n == 0 || n == -ECONNRESET) && r->header_got == 0) {
            set_message(why, why_len, "the peer closed the connection");
            return -ENOTCONN;
        }
        if (n < 0)
            return explain_receive_error(n, why, why_len);
        if (n == 0) {
            set_message(why, why_len, "the stream ended inside a frame header (%zu of %d bytes)",
                    r->header_got, WIRE_HEADER_BYTES);
            return -ECONNRESET;
        }
        r->header_got += (size_t)n;
    }
    r->length = le32(r->header);
    if (r->length == 0 || r->length > WIRE_MAX_MESSAGE) {
        set_message(why, why_len, "frame length %u is outside 1..%u", r->length, WIRE_MAX_MESSAGE);
        return -EMSGSIZE;
    }
    return 0;
}

static int grow_body(struct frame_reader *r)
{
    size_t want = r->body_reserved ? r->body_reserved * 2 : BODY_FIRST_CHUNK;
    if (want > r->length)
        want = r->length;
    uint8_t *body = realloc(r->body, want);
    if (!body)
        return -ENOMEM;
    r->body = body;
    r->body_reserved = want;
    return 0;
}

static int read_body(struct frame_reader *r, int sock, char *why, size_t why_len)
{
    while (r->body_got < r->length) {
        if (r->body_got == r->body_reserved && grow_body(r) < 0) {
            set_message(why, why_len, "out of memory for a %u-byte message", r->length);
            return -ENOMEM;
        }
        ssize_t n = receive_some(r, sock, r->body + r->body_got, r->body_reserved - r->body_got);
        if (n < 0)
            return explain_receive_error(n, why, why_len);
        if (n == 0) {
            set_message(why, why_len, "the stream ended inside a frame (%zu of %u bytes)",
                    r->body_got, r->length);
            return -ECONNRESET;
        }
        r->body_got += (size_t)n;
    }
    return 0;
}

/* Advances r with what sock has. 0: a message is decoded into *env and its fds
 * wait in r->fds for the caller to move. -EAGAIN: more bytes are needed. Any
 * other -errno: the frame is refused (why says why) and r is reset. */
static int reader_step(struct frame_reader *r, int sock, Ignition__Envelope **env, char *why,
                       size_t why_len)
{
    int err = read_header(r, sock, why, why_len);
    if (!err)
        err = read_body(r, sock, why, why_len);
    if (!err)
        err = decode_body(r->body, r->length, env, why, why_len);
    if (err == -EAGAIN)
        return err;
    if (err) {
        reader_reset(r);
        return err;
    }
    free(r->body);
    r->body = NULL;
    r->header_got = r->body_got = r->body_reserved = 0;
    return 0;
}

int wire_recv(int sock, Ignition__Envelope **env, int *fds, unsigned *nfds, int timeout_ms)
{
    *env = NULL;
    if (nfds)
        *nfds = 0;
    struct frame_reader r = {0};
    uint64_t deadline = timeout_ms >= 0 ? monotonic_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    for (;;) {
        int err = reader_step(&r, sock, env, NULL, 0);
        if (!err) {
            hand_over_fds(r.fds, r.nfds, fds, nfds);
            return 0;
        }
        if (err != -EAGAIN)
            return err;
        err = wait_for(sock, POLLIN, deadline);
        if (err) {
            reader_reset(&r);
            return err;
        }
    }
}

/* ---- non-blocking connections ------------------------------------------------------ */

struct out_frame {
    struct out_frame *next;
    size_t len, sent;
    int fds[WIRE_MAX_FDS]; /* our dups, closed once the frame's first byte is out */
    unsigned nfds;
    uint8_t bytes[];
};

struct wire_conn {
    int sock;
    struct frame_reader in;
    Ignition__Envelope *ready; /* decoded, not yet taken */
    int ready_fds[WIRE_MAX_FDS];
    unsigned ready_nfds;
    bool closed; /* the peer ended the stream between frames */
    /* Each direction fails on its own: after a bad frame from the peer, the
     * Error that says why can still go out. */
    bool read_failed, write_failed;
    struct out_frame *head, *tail;
    size_t queued_bytes, limit;
    unsigned queued_fds;
    char error[160];
};

struct wire_conn *wire_conn_new(int sock)
{
    struct wire_conn *c = calloc(1, sizeof(*c));
    if (!c || set_nonblock_cloexec(sock) < 0) {
        free(c);
        close(sock);
        return NULL;
    }
    no_sigpipe(sock);
    c->sock = sock;
    c->limit = WIRE_DEFAULT_QUEUE_LIMIT;
    return c;
}

static void release_frame_fds(struct wire_conn *c, struct out_frame *f)
{
    close_fds(f->fds, f->nfds);
    c->queued_fds -= f->nfds;
    f->nfds = 0;
}

void wire_conn_free(struct wire_conn *c)
{
    if (!c)
        return;
    while (c->head) {
        struct out_frame *f = c->head;
        c->head = f->next;
        release_frame_fds(c, f);
        free(f);
    }
    if (c->ready)
        ignition__envelope__free_unpacked(c->ready, NULL);
    close_fds(c->ready_fds, c->ready_nfds);
    reader_reset(&c->in);
    close(c->sock);
    free(c);
}

int wire_conn_fd(const struct wire_conn *c)
{
    return c->sock;
}

enum wire_result wire_conn_read(struct wire_conn *c)
{
    if (c->read_failed || c->write_failed)
        return WIRE_ERROR;
    if (c->ready)
        return WIRE_OK;
    if (c->closed)
        return WIRE_CLOSED;
    int err = reader_step(&c->in, c->sock, &c->ready, c->error, sizeof(c->error));
    switch (err) {
    case 0:
        memcpy(c->ready_fds, c->in.fds, c->in.nfds * sizeof(int));
        c->ready_nfds = c->in.nfds;
        c->in.nfds = 0;
        return WIRE_OK;
    case -EAGAIN:
        return WIRE_AGAIN;
    case -ENOTCONN:
        c->error[0] = '\0';
        c->closed = true;
        return WIRE_CLOSED;
    default:
        c->read_failed = true;
        return WIRE_ERROR;
    }
}

void wire_conn_take(struct wire_conn *c, Ignition__Envelope **env, int *fds, unsigned *nfds)
{
    *env = c->ready;
    if (nfds)
        *nfds = 0;
    hand_over_fds(c->ready_fds, c->ready_nfds, fds, nfds);
    c->ready = NULL;
    c->ready_nfds = 0;
}

bool wire_conn_inside_frame(const struct wire_conn *c)
{
    return c->in.header_got > 0; /* reset to 0 once a frame is whole */
}

size_t wire_conn_read_reserved(const struct wire_conn *c)
{
    return c->in.body_reserved;
}

static int dup_fds(const int *fds, unsigned nfds, int *dups)
{
    for (unsigned i = 0; i < nfds; i++) {
        dups[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
        if (dups[i] < 0) {
            int err = -errno;
            close_fds(dups, i);
            return err;
        }
    }
    return 0;
}

int wire_conn_queue(struct wire_conn *c, const Ignition__Envelope *env, const int *fds,
                    unsigned nfds)
{
    if (nfds > WIRE_MAX_FDS || (nfds && !fds))
        return -EINVAL;
    if (c->write_failed)
        return -EPIPE;
    size_t len;
    int err = encoded_size(env, &len);
    if (err)
        return err;
    size_t frame_len = WIRE_HEADER_BYTES + len;
    if (c->queued_bytes > c->limit || frame_len > c->limit - c->queued_bytes ||
        c->queued_fds + nfds > WIRE_MAX_QUEUED_FDS)
        return -ENOBUFS;
    struct out_frame *f = malloc(sizeof(*f) + frame_len);
    if (!f)
        return -ENOMEM;
    err = dup_fds(fds, nfds, f->fds);
    if (err) {
        free(f);
        return err;
    }
    encode_into(env, len, f->bytes);
    f->next = NULL;
    f->len = frame_len;
    f->sent = 0;
    f->nfds = nfds;
    if (c->tail)
        c->tail->next = f;
    else
        c->head = f;
    c->tail = f;
    c->queued_bytes += frame_len;
    c->queued_fds += nfds;
    return 0;
}

/* One sendmsg of the queue's head and the frames after it, stopping before a
 * frame with fds: those must start a sendmsg so that the fds ride on their
 * own frame's first byte. */
static ssize_t send_batch(struct wire_conn *c)
{
    struct iovec iov[FLUSH_BATCH];
    int count = 0;
    const struct out_frame *head = c->head;
    iov[count++] = (struct iovec){.iov_base = (void *)(head->bytes + head->sent),
                                  .iov_len = head->len - head->sent};
    for (const struct out_frame *f = head->next; f && f->nfds == 0 && count < FLUSH_BATCH;
         f = f->next)
        iov[count++] = (struct iovec){.iov_base = (void *)f->bytes, .iov_len = f->len};
    return send_some(c->sock, iov, count, head->fds, head->nfds);
}

/* Drops what the socket took from the front of the queue. */
static void consume(struct wire_conn *c, size_t n)
{
    while (n) {
        struct out_frame *f = c->head;
        size_t chunk = n < f->len - f->sent ? n : f->len - f->sent;
        f->sent += chunk;
        c->queued_bytes -= chunk;
        n -= chunk;
        /* Once the first byte is out the kernel holds its own references. */
        release_frame_fds(c, f);
        if (f->sent < f->len)
            break;
        c->head = f->next;
        if (!c->head)
            c->tail = NULL;
        free(f);
    }
}

enum wire_result wire_conn_flush(struct wire_conn *c)
{
    if (c->write_failed)
        return WIRE_ERROR;
    while (c->head) {
        ssize_t n = send_batch(c);
        if (n == -EAGAIN || n == -EWOULDBLOCK)
            return WIRE_AGAIN;
        if (n < 0) {
            if (n == -EPIPE || n == -ECONNRESET)
                set_message(c->error, sizeof(c->error), "the peer closed the connection");
            else
                set_message(c->error, sizeof(c->error), "write: %s", strerror((int)-n));
            c->write_failed = true;
            return WIRE_ERROR;
        }
        consume(c, (size_t)n);
    }
    return WIRE_OK;
}

size_t wire_conn_queued_bytes(const struct wire_conn *c)
{
    return c->queued_bytes;
}

void wire_conn_set_limit(struct wire_conn *c, size_t bytes)
{
    c->limit = bytes;
}

const char *wire_conn_error(const struct wire_conn *c)
{
    return c->read_failed || c->write_failed ? c->error : "";
}

/* ---- handshake -------------------------------------------------------------------- */

/* Copies text from a peer for a person to read: bytes outside printable ASCII
 * (terminal escapes among them) become '?'. */
void wire_copy_printable(char *out, size_t out_len, const char *text)
{
    printable_copy(out, out_len, text);
}

static int explain_handshake_error(int err, int timeout_ms, char *msg, size_t msg_len)
{
    switch (err) {
    case -ETIMEDOUT:
        set_message(msg, msg_len, "no answer to Hello within %d ms", timeout_ms);
        break;
    case -ENOTCONN:
    case -ECONNRESET:
    case -EPIPE:
        set_message(msg, msg_len, "the server closed the connection during the handshake");
        break;
    default:
        set_message(msg, msg_len, "handshake: %s", strerror(-err));
        break;
    }
    return err;
}

/* Judges the server's answer to our Hello. */
static int check_answer(Ignition__Envelope *reply, const char *client_name, char *err,
                        size_t err_len)
{
    if (reply->body_case == IGNITION__ENVELOPE__BODY_ERROR) {
        if (reply->error->message && reply->error->message[0])
            wire_copy_printable(err, err_len, reply->error->message);
        else
            set_message(err, err_len, "the server refused the connection (error code %d)",
                    (int)reply->error->code);
        return -EPROTO;
    }
    if (reply->body_case != IGNITION__ENVELOPE__BODY_WELCOME) {
        set_message(err, err_len, "the server answered Hello with message kind %d, not Welcome",
                (int)reply->body_case);
        return -EPROTO;
    }
    uint32_t theirs = reply->welcome->protocol_version;
    uint32_t ours = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    if (theirs != ours) {
        set_message(err, err_len, "the server speaks protocol version %u, this %s speaks %u; update %s",
                theirs, client_name, ours, theirs > ours ? client_name : "vmmd");
        return -EPROTO;
    }
    return 0;
}

int wire_client_handshake(int sock, const char *client_name, int timeout_ms,
                          Ignition__Welcome **welcome_out, char *err, size_t err_len)
{
    if (welcome_out)
        *welcome_out = NULL;
    if (!client_name)
        client_name = "";
    Ignition__Hello hello = IGNITION__HELLO__INIT;
    hello.protocol_version = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    hello.client_name = (char *)client_name;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    int r = wire_send(sock, &env, NULL, 0);
    if (r < 0)
        return explain_handshake_error(r, timeout_ms, err, err_len);
    Ignition__Envelope *reply;
    r = wire_recv(sock, &reply, NULL, NULL, timeout_ms);
    if (r < 0)
        return explain_handshake_error(r, timeout_ms, err, err_len);
    r = check_answer(reply, client_name, err, err_len);
    if (r == 0 && welcome_out) {
        /* Detached from the envelope, which then frees nothing of it. */
        *welcome_out = reply->welcome;
        reply->welcome = NULL;
        reply->body_case = IGNITION__ENVELOPE__BODY__NOT_SET;
    }
    ignition__envelope__free_unpacked(reply, NULL);
    return r;
}

/* Is name fit to identify a client in logs and messages? */
static bool client_name_ok(const char *name, char *why, size_t why_len)
{
    if (!name || !name[0]) {
        set_message(why, why_len, "client_name is empty");
        return false;
    }
    size_t len = strlen(name);
    if (len > WIRE_MAX_CLIENT_NAME) {
        set_message(why, why_len, "client_name is %zu bytes; at most %d are allowed", len,
                WIRE_MAX_CLIENT_NAME);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x20 || ch >= 0x7f) {
            set_message(why, why_len, "client_name has byte 0x%02x at offset %zu, not printable ASCII",
                    ch, i);
            return false;
        }
    }
    return true;
}

bool wire_hello_check(const Ignition__Envelope *env, char *why, size_t why_len)
{
    if (!env || env->body_case != IGNITION__ENVELOPE__BODY_HELLO) {
        set_message(why, why_len, "expected Hello first, got message kind %d",
                env ? (int)env->body_case : 0);
        return false;
    }
    const Ignition__Hello *hello = env->hello;
    uint32_t ours = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    if (hello->protocol_version != ours) {
        /* The name goes into a message for a person only when it is sane. */
        const char *older = client_name_ok(hello->client_name, NULL, 0) ? hello->client_name
                                                                        : "the client";
        set_message(why, why_len, "protocol version %u, this vmmd speaks %u; update %s",
                hello->protocol_version, ours, hello->protocol_version > ours ? "vmmd" : older);
        return false;
    }
    return client_name_ok(hello->client_name, why, why_len);
}

Ignition__Error__Code wire_hello_refusal_code(const Ignition__Envelope *env)
{
    bool other_version = env && env->body_case == IGNITION__ENVELOPE__BODY_HELLO &&
                         env->hello->protocol_version !=
                             IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    return other_version ? IGNITION__ERROR__CODE__CODE_VERSION_MISMATCH
                         : IGNITION__ERROR__CODE__CODE_BAD_MESSAGE;
}

static Ignition__Envelope error_envelope(Ignition__Error *error, Ignition__Error__Code code,
                                         const char *message)
{
    Ignition__Error init = IGNITION__ERROR__INIT;
    *error = init;
    error->code = code;
    error->message = (char *)(message ? message : "");
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_ERROR;
    env.error = error;
    return env;
}

int wire_queue_error(struct wire_conn *c, Ignition__Error__Code code, const char *message)
{
    Ignition__Error error;
    Ignition__Envelope env = error_envelope(&error, code, message);
    return wire_conn_queue(c, &env, NULL, 0);
}

int wire_send_error(int sock, Ignition__Error__Code code, const char *message)
{
    Ignition__Error error;
    Ignition__Envelope env = error_envelope(&error, code, message);
    return wire_send(sock, &env, NULL, 0);
}
