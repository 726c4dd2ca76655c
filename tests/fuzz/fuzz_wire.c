/* libFuzzer harness: the protocol framing against an arbitrary peer. The input
 * is the byte stream the peer sends; it goes through a socketpair, in chunks of
 * varying size, into the non-blocking reader, which must turn it into messages
 * or refuse it, never crash or leak. The input's size modulo 7 is how many fds
 * ride on the first chunk (more than a message may carry above 4). Every
 * message read goes through the Hello check and back through our encoder; the
 * whole input is also decoded directly as one frame body. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fds.h"
#include "wire.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoded message goes through the Hello check and back through our encoder.
 * Its encoding need not decode again: protobuf-c accepts an unknown field
 * numbered 0 when its tag is spelled in more than one byte, keeps it, and
 * writes it back in one byte, which it then refuses. When it does decode, it
 * must be the same kind of message. */
static void check_message(Ignition__Envelope *env)
{
    char why[160];
    (void)wire_hello_check(env, why, sizeof(why));
    uint8_t *frame;
    size_t len;
    if (wire_encode(env, &frame, &len) != 0)
        return;
    Ignition__Envelope *again;
    if (wire_decode(frame + WIRE_HEADER_BYTES, len - WIRE_HEADER_BYTES, &again) == 0) {
        if (again->body_case != env->body_case)
            abort();
        ignition__envelope__free_unpacked(again, NULL);
    }
    free(frame);
}

/* Takes every message the reader has; false once it is done with the stream. */
static bool drain(struct wire_conn *c)
{
    for (;;) {
        switch (wire_conn_read(c)) {
        case WIRE_OK: {
            Ignition__Envelope *env;
            int fds[WIRE_MAX_FDS];
            unsigned nfds;
            wire_conn_take(c, &env, fds, &nfds);
            if (!env || nfds > WIRE_MAX_FDS)
                abort();
            check_message(env);
            ignition__envelope__free_unpacked(env, NULL);
            for (unsigned i = 0; i < nfds; i++)
                close(fds[i]);
            break;
        }
        case WIRE_AGAIN:
            return true;
        default:
            return false;
        }
    }
}

/* The fd the peer passes, open for the whole run of the harness. */
static int devnull = -1;

/* Sends the first chunk with nfds copies of an fd attached. */
static ssize_t send_first(int sock, const uint8_t *data, size_t len, unsigned nfds)
{
    int fds[8];
    char control[CMSG_SPACE(sizeof(fds))];
    memset(control, 0, sizeof(control));
    for (unsigned i = 0; i < nfds; i++)
        fds[i] = devnull;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Chunk sizes from 1 to 64 bytes, varying along the stream, so frames arrive
 * split at many places. */
static size_t chunk_at(size_t offset, size_t left)
{
    size_t chunk = 1 + (size_t)((offset * 2654435761u) >> 7) % 64;
    return chunk < left ? chunk : left;
}

static void feed_stream(const uint8_t *data, size_t size)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        abort();
    struct wire_conn *c = wire_conn_new(sv[1]);
    if (!c)
        abort();
    size_t sent = 0;
    bool reading = true;
    if (size == 0)
        shutdown(sv[0], SHUT_WR);
    while (reading) {
        if (sent < size) {
            size_t chunk = chunk_at(sent, size - sent);
            ssize_t n = sent ? send(sv[0], data + sent, chunk, MSG_DONTWAIT | MSG_NOSIGNAL)
                             : send_first(sv[0], data, chunk, (unsigned)(size % 7));
            if (n > 0)
                sent += (size_t)n;
            else if (errno != EAGAIN && errno != EWOULDBLOCK)
                break; /* the reader gave up and the stream is gone */
            if (sent == size)
                shutdown(sv[0], SHUT_WR);
        }
        reading = drain(c);
        /* Once the whole stream and its end are there, nothing is left to wait for. */
        if (reading && sent == size)
            abort();
    }
    wire_conn_free(c);
    close(sv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (devnull < 0 && (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        abort();
    int fds_before = open_fd_count();
    feed_stream(data, size);
    Ignition__Envelope *env;
    if (size <= WIRE_MAX_MESSAGE && wire_decode(data, size, &env) == 0) {
        check_message(env);
        ignition__envelope__free_unpacked(env, NULL);
    }
    if (open_fd_count() != fds_before)
        abort();
    return 0;
}
