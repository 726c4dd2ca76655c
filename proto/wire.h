/* Framing of ignition's protocol over Unix stream sockets (DESIGN.md section 4):
 * each message is a 4-byte little-endian length N (1 <= N <= WIRE_MAX_MESSAGE)
 * followed by N bytes of one encoded Ignition__Envelope. File descriptors ride
 * with SCM_RIGHTS on the first byte of their message's frame.
 *
 * Whatever arrives is untrusted: lengths are checked before anything is
 * allocated, a body that does not decode (or decodes to no message at all) is
 * refused, and no more than WIRE_MAX_FDS fds are accepted with one message.
 * Readers never read past the end of the frame they are reading, so the fds
 * that arrive while a frame is read belong to that frame.
 *
 * The wire layer does not know which messages carry fds: whatever fds arrived
 * with a frame are handed to the caller with its message, and the caller
 * closes those it did not expect. */
#ifndef IGNITION_WIRE_H
#define IGNITION_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ignition.pb-c.h"

#define WIRE_MAX_MESSAGE (1u << 20) /* largest N of a frame */
#define WIRE_MAX_FDS 4              /* fds one message may carry */
#define WIRE_HEADER_BYTES 4
#define WIRE_MAX_CLIENT_NAME 64
/* Default bound on what one connection may have waiting to be written. */
#define WIRE_DEFAULT_QUEUE_LIMIT (4u << 20)
/* Bound on the fds waiting in one connection's queue: each holds a descriptor
 * of ours until the peer reads, so a peer that never reads could otherwise
 * exhaust our fd table long before the byte limit. */
#define WIRE_MAX_QUEUED_FDS 64

enum wire_result { WIRE_OK = 0, WIRE_AGAIN, WIRE_CLOSED, WIRE_ERROR };

/* ---- encoding and decoding ------------------------------------------------------ */

/* Encodes env as one frame (length prefix included) into a new buffer the caller
 * frees. Returns 0, -EINVAL when env has no body, -EMSGSIZE when its encoding
 * exceeds WIRE_MAX_MESSAGE, or -ENOMEM. */
int wire_encode(const Ignition__Envelope *env, uint8_t **frame, size_t *frame_len);

/* Decodes the body of one frame (len bytes, without the length prefix).
 * Returns 0 and *env (free with ignition__envelope__free_unpacked(env, NULL)),
 * or -EBADMSG when the bytes do not decode, carry no body, or would take more
 * memory to decode than any real message does (16 MiB). */
int wire_decode(const uint8_t *body, size_t len, Ignition__Envelope **env);

/* ---- blocking helpers (clients, tests, command-line tools) ---------------------- */

/* Sends env as one frame, with nfds fds riding on its first byte. Writes the
 * whole frame, waiting for room when the socket is non-blocking; SIGPIPE is
 * never raised. Returns 0, -EINVAL (no body, or nfds > WIRE_MAX_FDS),
 * -EMSGSIZE (encoding larger than WIRE_MAX_MESSAGE), or the -errno of the
 * failed write (-EPIPE: the peer is gone). */
int wire_send(int sock, const Ignition__Envelope *env, const int *fds, unsigned nfds);

/* Receives one message, waiting up to timeout_ms (< 0: forever) for all of it.
 * Returns 0 with *env (free with ignition__envelope__free_unpacked(env, NULL)),
 * and the fds that came with it in fds[0 .. *nfds) (room for WIRE_MAX_FDS; the
 * caller closes them; with fds or nfds NULL they are closed here). Errors:
 *   -ETIMEDOUT   the whole message did not arrive in time
 *   -ENOTCONN    orderly end of stream before a frame started
 *   -ECONNRESET  the stream ended inside a frame
 *   -EMSGSIZE    announced length 0 or more than WIRE_MAX_MESSAGE
 *   -EBADMSG     the body does not decode, carries no message, or would take
 *                more memory to decode than any real message (see wire_decode)
 *   -EPROTO      more fds arrived than WIRE_MAX_FDS
 *   or the -errno of a failed read.
 * On every error *env is NULL, *nfds is 0 and the fds received are closed. An
 * error (a timeout included) inside a frame leaves the stream out of step:
 * close the socket. */
int wire_recv(int sock, Ignition__Envelope **env, int *fds, unsigned *nfds, int timeout_ms);

/* ---- non-blocking connections, for event loops ----------------------------------- */

struct wire_conn;

/* Takes ownership of sock (also when it fails) and makes it non-blocking and
 * close-on-exec. Returns NULL when out of memory or sock cannot be set up. */
struct wire_conn *wire_conn_new(int sock);

/* Closes the socket and every fd still queued or received but not taken. */
void wire_conn_free(struct wire_conn *c);

int wire_conn_fd(const struct wire_conn *c);

/* Reads what the socket has, up to the end of one frame.
 *   WIRE_OK     a whole message is ready: take it with wire_conn_take before
 *               reading again (then read again: more may be buffered already).
 *               While a message waits untaken this returns WIRE_OK at once.
 *   WIRE_AGAIN  more bytes are needed: wait until the socket is readable.
 *   WIRE_CLOSED the peer ended the stream between frames.
 *   WIRE_ERROR  a bad frame (length 0 or over the cap, a body that does not
 *               decode or has no message, too many fds), the stream ended
 *               inside a frame, or the read failed; wire_conn_error says which.
 *               Reading stays failed; an Error reply can still be queued and
 *               flushed before the connection is dropped.
 * Memory for a frame grows with the bytes that arrive, up to its announced
 * length, which is checked against the cap before anything is allocated. */
enum wire_result wire_conn_read(struct wire_conn *c);

/* Hands over the message wire_conn_read made ready: *env (the caller frees it,
 * NULL when none is ready) and its fds as wire_recv does. */
void wire_conn_take(struct wire_conn *c, Ignition__Envelope **env, int *fds, unsigned *nfds);

/* True while part of a frame has arrived and the rest has not: a peer that
 * stops there holds the connection without ever being heard. */
bool wire_conn_inside_frame(const struct wire_conn *c);

/* Bytes held for the frame being read (for accounting, and to see that an
 * announced length alone allocates nothing). */
size_t wire_conn_read_reserved(const struct wire_conn *c);

/* Encodes env and dups the fds now (the caller keeps its own) and queues the
 * frame for wire_conn_flush. Returns 0, -EINVAL (no body, or nfds > WIRE_MAX_FDS),
 * -EMSGSIZE, -ENOBUFS when the queue would exceed the
 * connection's byte limit or hold more than WIRE_MAX_QUEUED_FDS fds (then
 * nothing is queued: the caller decides, e.g. to drop a viewer that does not
 * read), -EPIPE once a write has failed, -ENOMEM, or the -errno of dup. */
int wire_conn_queue(struct wire_conn *c, const Ignition__Envelope *env, const int *fds,
                    unsigned nfds);

/* Writes as much of the queue as the socket takes. WIRE_OK: the queue is empty.
 * WIRE_AGAIN: bytes remain; wait until the socket is writable. WIRE_ERROR: the
 * peer is gone or the write failed (wire_conn_error says which); the connection
 * stays failed. Never raises SIGPIPE. */
enum wire_result wire_conn_flush(struct wire_conn *c);

size_t wire_conn_queued_bytes(const struct wire_conn *c);

/* The queue's byte limit (WIRE_DEFAULT_QUEUE_LIMIT until set). */
void wire_conn_set_limit(struct wire_conn *c, size_t bytes);

/* Why the connection failed, one line; "" while it has not. */
const char *wire_conn_error(const struct wire_conn *c);

/* ---- handshake (DESIGN.md section 4) --------------------------------------------- */

/* The client's side: sends Hello{PROTOCOL_VERSION_CURRENT, client_name} and waits
 * up to timeout_ms for the answer. Returns 0 on a Welcome of our version (given
 * to *welcome_out when not NULL; free with ignition__welcome__free_unpacked(w,
 * NULL)); -EPROTO for an Error (its message in err), a Welcome of another
 * version (err names both) or any other answer; otherwise the -errno of
 * wire_send or wire_recv, explained in err. Text from the server is put in err
 * with unprintable bytes replaced by '?'. */
int wire_client_handshake(int sock, const char *client_name, int timeout_ms,
                          Ignition__Welcome **welcome_out, char *err, size_t err_len);

/* The server's side: is env a Hello of our protocol version with a client_name of
 * 1 to WIRE_MAX_CLIENT_NAME printable ASCII bytes? When not, why says what is
 * wrong in a line meant for the client's user (e.g. "protocol version 7, this
 * vmmd speaks 1; update vmmd"); send it back with wire_queue_error. */
bool wire_hello_check(const Ignition__Envelope *env, char *why, size_t why_len);

/* The Error code for a Hello that wire_hello_check refused: VERSION_MISMATCH
 * only for a Hello of another protocol version; BAD_MESSAGE for anything else
 * (another message first, a bad client name). */
Ignition__Error__Code wire_hello_refusal_code(const Ignition__Envelope *env);

/* Copies text a peer sent into out for a person to read (printable_copy:
 * escape sequences dropped, other bytes outside printable ASCII become '?'),
 * cut to fit. */
void wire_copy_printable(char *out, size_t out_len, const char *text);

/* Queue or send (blocking) an Error{code, message}; results as wire_conn_queue
 * and wire_send. */
int wire_queue_error(struct wire_conn *c, Ignition__Error__Code code, const char *message);
int wire_send_error(int sock, Ignition__Error__Code code, const char *message);

#endif
