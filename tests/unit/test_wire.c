/* The wire framing as peers will use it and as a hostile peer might: every
 * message kind round trip, fds passed and refused, frames split at every byte
 * and packed back to back, bad lengths, bodies that do not decode, streams
 * that end mid-frame, a queue that fills against a peer that does not read,
 * and the handshake with its version checks. Everything runs over socketpairs
 * in one process; fd leaks are counted. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "byteorder.h"
#include "util.h"
#include "wire.h"
#include "unit.h"

#define NUM_KINDS 12
#define PROTOCOL_CURRENT IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT

/* sv[0] is the side under test, sv[1] the peer; -1 once owned elsewhere. */
static int sv[2];

static void setup(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void teardown(void)
{
    for (int i = 0; i < 2; i++)
        if (sv[i] >= 0)
            close(sv[i]);
}

static int open_fd_count(void)
{
    int n = 0;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static struct wire_conn *conn_on(int *fd)
{
    struct wire_conn *c = wire_conn_new(*fd);
    ck_assert_ptr_nonnull(c);
    *fd = -1;
    return c;
}

static void write_all(int fd, const void *buf, size_t len)
{
    ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
}

/* Sends len bytes with fds attached, as a peer that frames by hand would. */
static void send_with_fds(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
    char control[CMSG_SPACE(sizeof(int) * 16)];
    ck_assert_uint_le(nfds, 16);
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    ck_assert_int_eq(sendmsg(sock, &msg, 0), (ssize_t)len);
}

static void make_pipe(int p[2])
{
    ck_assert_int_eq(pipe(p), 0);
}

/* Proves fd is a working write end of the pipe whose read end is read_fd. */
static void assert_pipe_connects(int fd, int read_fd, const char *text)
{
    write_all(fd, text, strlen(text));
    char buf[32] = "";
    ck_assert_int_eq(read(read_fd, buf, sizeof(buf) - 1), (ssize_t)strlen(text));
    ck_assert_str_eq(buf, text);
}

/* ---- one sample of every message kind ---------------------------------------------- */

static Ignition__Hello hello = IGNITION__HELLO__INIT;
static Ignition__Welcome welcome = IGNITION__WELCOME__INIT;
static Ignition__Error error_body = IGNITION__ERROR__INIT;
static Ignition__ScanoutInfo scanout = IGNITION__SCANOUT_INFO__INIT;
static Ignition__Rect rect_a = IGNITION__RECT__INIT, rect_b = IGNITION__RECT__INIT;
static Ignition__Rect *rects[2] = {&rect_a, &rect_b};
static Ignition__Damage damage = IGNITION__DAMAGE__INIT;
static uint8_t cursor_pixels[4 * 4 * 4];
static Ignition__CursorImage cursor_image = IGNITION__CURSOR_IMAGE__INIT;
static Ignition__CursorMove cursor_move = IGNITION__CURSOR_MOVE__INIT;
static Ignition__KeyEvent key = IGNITION__KEY_EVENT__INIT;
static Ignition__PointerEvent pointer = IGNITION__POINTER_EVENT__INIT;
static Ignition__ButtonEvent button = IGNITION__BUTTON_EVENT__INIT;
static Ignition__WheelEvent wheel = IGNITION__WHEEL_EVENT__INIT;
static Ignition__WindowSize window_size = IGNITION__WINDOW_SIZE__INIT;

static void fill_samples(void)
{
    hello.protocol_version = PROTOCOL_CURRENT;
    hello.client_name = "ignition-view";
    welcome.protocol_version = PROTOCOL_CURRENT;
    welcome.server_version = "0.1.0";
    welcome.guest_name = "desk";
    error_body.code = IGNITION__ERROR__CODE__CODE_NOT_FOUND;
    error_body.message = "no guest named desk2";
    scanout = (Ignition__ScanoutInfo)IGNITION__SCANOUT_INFO__INIT;
    scanout.scanout_id = 0;
    scanout.enabled = true;
    scanout.width = 1280;
    scanout.height = 800;
    scanout.stride = 5120;
    scanout.format = 2;
    scanout.generation = 9;
    scanout.data_offset = 4096;
    scanout.object_size = 4096 + 5120ull * 800;
    rect_a.x = 1, rect_a.y = 2, rect_a.width = 30, rect_a.height = 40;
    rect_b.x = 500, rect_b.y = 600, rect_b.width = 7, rect_b.height = 8;
    damage.scanout_id = 0;
    damage.sequence = 12345678901ull;
    damage.n_rects = 2;
    damage.rects = rects;
    for (size_t i = 0; i < sizeof(cursor_pixels); i++)
        cursor_pixels[i] = (uint8_t)(i * 7);
    cursor_image.width = 4;
    cursor_image.height = 4;
    cursor_image.hot_x = 1;
    cursor_image.hot_y = 2;
    cursor_image.pixels.len = sizeof(cursor_pixels);
    cursor_image.pixels.data = cursor_pixels;
    cursor_move.x = 640, cursor_move.y = 400;
    key.evdev_code = 30; /* KEY_A */
    key.pressed = true;
    pointer.x = 1279, pointer.y = 799;
    button.evdev_code = 0x110; /* BTN_LEFT */
    button.pressed = true;
    wheel.dy = -3, wheel.dx = 2;
    window_size.width = 1920, window_size.height = 1080;
}

/* The sample of body kind (1 .. NUM_KINDS). */
static Ignition__Envelope sample(int kind)
{
    fill_samples();
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = (Ignition__Envelope__BodyCase)kind;
    switch (kind) {
    case IGNITION__ENVELOPE__BODY_HELLO: env.hello = &hello; break;
    case IGNITION__ENVELOPE__BODY_WELCOME: env.welcome = &welcome; break;
    case IGNITION__ENVELOPE__BODY_ERROR: env.error = &error_body; break;
    case IGNITION__ENVELOPE__BODY_SCANOUT_INFO: env.scanout_info = &scanout; break;
    case IGNITION__ENVELOPE__BODY_DAMAGE: env.damage = &damage; break;
    case IGNITION__ENVELOPE__BODY_CURSOR_IMAGE: env.cursor_image = &cursor_image; break;
    case IGNITION__ENVELOPE__BODY_CURSOR_MOVE: env.cursor_move = &cursor_move; break;
    case IGNITION__ENVELOPE__BODY_KEY_EVENT: env.key_event = &key; break;
    case IGNITION__ENVELOPE__BODY_POINTER_EVENT: env.pointer_event = &pointer; break;
    case IGNITION__ENVELOPE__BODY_BUTTON_EVENT: env.button_event = &button; break;
    case IGNITION__ENVELOPE__BODY_WHEEL_EVENT: env.wheel_event = &wheel; break;
    case IGNITION__ENVELOPE__BODY_WINDOW_SIZE: env.window_size = &window_size; break;
    default: ck_abort_msg("no sample of kind %d", kind);
    }
    return env;
}

/* A field of each kind, read back by hand: the decoded struct, not only its
 * encoding, must be what was sent. */
static void assert_sample_fields(const Ignition__Envelope *got)
{
    switch (got->body_case) {
    case IGNITION__ENVELOPE__BODY_HELLO:
        ck_assert_str_eq(got->hello->client_name, "ignition-view");
        break;
    case IGNITION__ENVELOPE__BODY_WELCOME:
        ck_assert_str_eq(got->welcome->guest_name, "desk");
        break;
    case IGNITION__ENVELOPE__BODY_ERROR:
        ck_assert_int_eq(got->error->code, IGNITION__ERROR__CODE__CODE_NOT_FOUND);
        break;
    case IGNITION__ENVELOPE__BODY_SCANOUT_INFO:
        ck_assert_uint_eq(got->scanout_info->object_size, 4096 + 5120ull * 800);
        break;
    case IGNITION__ENVELOPE__BODY_DAMAGE:
        ck_assert_uint_eq(got->damage->n_rects, 2);
        ck_assert_uint_eq(got->damage->rects[1]->y, 600);
        break;
    case IGNITION__ENVELOPE__BODY_CURSOR_IMAGE:
        ck_assert_uint_eq(got->cursor_image->pixels.len, sizeof(cursor_pixels));
        ck_assert_mem_eq(got->cursor_image->pixels.data, cursor_pixels, sizeof(cursor_pixels));
        break;
    case IGNITION__ENVELOPE__BODY_CURSOR_MOVE:
        ck_assert_uint_eq(got->cursor_move->y, 400);
        break;
    case IGNITION__ENVELOPE__BODY_KEY_EVENT:
        ck_assert_uint_eq(got->key_event->evdev_code, 30);
        break;
    case IGNITION__ENVELOPE__BODY_POINTER_EVENT:
        ck_assert_uint_eq(got->pointer_event->x, 1279);
        break;
    case IGNITION__ENVELOPE__BODY_BUTTON_EVENT:
        ck_assert(got->button_event->pressed);
        break;
    case IGNITION__ENVELOPE__BODY_WHEEL_EVENT:
        ck_assert_int_eq(got->wheel_event->dy, -3);
        break;
    case IGNITION__ENVELOPE__BODY_WINDOW_SIZE:
        ck_assert_uint_eq(got->window_size->height, 1080);
        break;
    default:
        ck_abort_msg("unexpected kind %d", got->body_case);
    }
}

/* got must be sample(kind): same kind, same encoding, and its fields as sent. */
static void assert_is_sample(const Ignition__Envelope *got, int kind)
{
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(got->body_case, kind);
    Ignition__Envelope want = sample(kind);
    uint8_t *a, *b;
    size_t alen, blen;
    ck_assert_int_eq(wire_encode(&want, &a, &alen), 0);
    ck_assert_int_eq(wire_encode(got, &b, &blen), 0);
    ck_assert_uint_eq(alen, blen);
    ck_assert_mem_eq(a, b, alen);
    free(a);
    free(b);
    assert_sample_fields(got);
}

static void encode_sample(int kind, uint8_t **frame, size_t *len)
{
    Ignition__Envelope env = sample(kind);
    ck_assert_int_eq(wire_encode(&env, frame, len), 0);
}

static Ignition__Envelope *take(struct wire_conn *c, int *fds, unsigned *nfds)
{
    Ignition__Envelope *env = NULL;
    wire_conn_take(c, &env, fds, nfds);
    ck_assert_ptr_nonnull(env);
    return env;
}

/* Reads one message that must already be waiting and checks it is sample(kind). */
static void expect_sample(struct wire_conn *c, int kind)
{
    ck_assert_int_eq(wire_conn_read(c), WIRE_OK);
    Ignition__Envelope *env = take(c, NULL, NULL);
    assert_is_sample(env, kind);
    ignition__envelope__free_unpacked(env, NULL);
}

static void assert_error_says(struct wire_conn *c, const char *needle)
{
    ck_assert_msg(strstr(wire_conn_error(c), needle) != NULL, "error \"%s\" does not say \"%s\"",
                  wire_conn_error(c), needle);
}

/* ---- round trips ---------------------------------------------------------------------- */

START_TEST(test_frame_bytes_exact)
{
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_KEY_EVENT);
    ck_assert_int_eq(wire_send(sv[0], &env, NULL, 0), 0);
    /* length 6; field 8 (key_event) length-delimited; evdev_code 30; pressed 1 */
    static const uint8_t expected[] = {6, 0, 0, 0, 0x42, 4, 0x08, 30, 0x10, 1};
    uint8_t got[64];
    ck_assert_int_eq(read(sv[1], got, sizeof(got)), (ssize_t)sizeof(expected));
    ck_assert_mem_eq(got, expected, sizeof(expected));
}
END_TEST

START_TEST(test_every_kind_blocking_round_trip)
{
    for (int kind = 1; kind <= NUM_KINDS; kind++) {
        Ignition__Envelope env = sample(kind);
        ck_assert_int_eq(wire_send(sv[0], &env, NULL, 0), 0);
        Ignition__Envelope *got = NULL;
        int fds[WIRE_MAX_FDS];
        unsigned nfds = 99;
        ck_assert_int_eq(wire_recv(sv[1], &got, fds, &nfds, 1000), 0);
        ck_assert_uint_eq(nfds, 0);
        assert_is_sample(got, kind);
        ignition__envelope__free_unpacked(got, NULL);
    }
}
END_TEST

START_TEST(test_every_kind_through_connections)
{
    struct wire_conn *out = conn_on(&sv[0]), *in = conn_on(&sv[1]);
    for (int kind = 1; kind <= NUM_KINDS; kind++) {
        Ignition__Envelope env = sample(kind);
        ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), 0);
    }
    ck_assert_int_eq(wire_conn_flush(out), WIRE_OK);
    ck_assert_uint_eq(wire_conn_queued_bytes(out), 0);
    for (int kind = 1; kind <= NUM_KINDS; kind++)
        expect_sample(in, kind);
    ck_assert_int_eq(wire_conn_read(in), WIRE_AGAIN);
    wire_conn_free(out);
    wire_conn_free(in);
}
END_TEST

START_TEST(test_encode_refuses_empty_envelope)
{
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    uint8_t *frame;
    size_t len;
    ck_assert_int_eq(wire_encode(&env, &frame, &len), -EINVAL);
    ck_assert_int_eq(wire_send(sv[0], &env, NULL, 0), -EINVAL);
}
END_TEST

/* ---- fds ------------------------------------------------------------------------------- */

START_TEST(test_fd_passed_blocking)
{
    int p[2];
    make_pipe(p);
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    ck_assert_int_eq(wire_send(sv[0], &env, &p[1], 1), 0);
    close(p[1]);
    Ignition__Envelope *got;
    int fds[WIRE_MAX_FDS];
    unsigned nfds;
    ck_assert_int_eq(wire_recv(sv[1], &got, fds, &nfds, 1000), 0);
    assert_is_sample(got, IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    ck_assert_uint_eq(nfds, 1);
    ck_assert(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
    assert_pipe_connects(fds[0], p[0], "through the socket");
    close(fds[0]);
    close(p[0]);
    ignition__envelope__free_unpacked(got, NULL);
}
END_TEST

struct receiver {
    int sock;
    int result;
    Ignition__Envelope *env;
    int fds[WIRE_MAX_FDS];
    unsigned nfds;
};

static void *receive_one(void *arg)
{
    struct receiver *r = arg;
    r->result = wire_recv(r->sock, &r->env, r->fds, &r->nfds, 10000);
    return NULL;
}

/* A frame larger than the socket holds goes out in several writes; its fd must
 * go with the first of them only. */
START_TEST(test_fd_with_frame_larger_than_socket_buffer)
{
    enum { PIXELS = 900 * 1024 };
    uint8_t *pixels = calloc(1, PIXELS);
    pixels[PIXELS - 1] = 0xee;
    Ignition__CursorImage cursor = IGNITION__CURSOR_IMAGE__INIT;
    cursor.pixels.data = pixels;
    cursor.pixels.len = PIXELS;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_CURSOR_IMAGE;
    env.cursor_image = &cursor;
    int p[2];
    make_pipe(p);
    struct receiver r = {.sock = sv[1]};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, receive_one, &r), 0);
    ck_assert_int_eq(wire_send(sv[0], &env, &p[1], 1), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(r.result, 0);
    ck_assert_uint_eq(r.nfds, 1);
    ck_assert_uint_eq(r.env->cursor_image->pixels.len, PIXELS);
    ck_assert_uint_eq(r.env->cursor_image->pixels.data[PIXELS - 1], 0xee);
    assert_pipe_connects(r.fds[0], p[0], "large");
    close(r.fds[0]);
    close(p[0]);
    close(p[1]);
    ignition__envelope__free_unpacked(r.env, NULL);
    free(pixels);
}
END_TEST

START_TEST(test_fds_passed_through_connections)
{
    int baseline = open_fd_count();
    struct wire_conn *out = conn_on(&sv[0]), *in = conn_on(&sv[1]);
    int p[2], q[2];
    make_pipe(p);
    make_pipe(q);
    int mine[2] = {p[1], q[1]};
    Ignition__Envelope key_env = sample(IGNITION__ENVELOPE__BODY_KEY_EVENT);
    Ignition__Envelope info = sample(IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    /* A message without fds first: the fds must not slide onto it. */
    ck_assert_int_eq(wire_conn_queue(out, &key_env, NULL, 0), 0);
    ck_assert_int_eq(wire_conn_queue(out, &info, mine, 2), 0);
    close(p[1]);
    close(q[1]);
    ck_assert_int_eq(wire_conn_flush(out), WIRE_OK);
    /* The queue's dups are gone once sent; the pipes' read ends remain. */
    ck_assert_int_eq(open_fd_count(), baseline + 2);

    int fds[WIRE_MAX_FDS];
    unsigned nfds = 99;
    ck_assert_int_eq(wire_conn_read(in), WIRE_OK);
    Ignition__Envelope *got = take(in, fds, &nfds);
    ck_assert_uint_eq(nfds, 0);
    ignition__envelope__free_unpacked(got, NULL);
    ck_assert_int_eq(wire_conn_read(in), WIRE_OK);
    got = take(in, fds, &nfds);
    assert_is_sample(got, IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    ck_assert_uint_eq(nfds, 2);
    assert_pipe_connects(fds[0], p[0], "first");
    assert_pipe_connects(fds[1], q[0], "second");
    close(fds[0]);
    close(fds[1]);
    ignition__envelope__free_unpacked(got, NULL);
    wire_conn_free(out);
    wire_conn_free(in);
    close(p[0]);
    close(q[0]);
    ck_assert_int_eq(open_fd_count(), baseline - 2); /* the socketpair too */
}
END_TEST

/* The wire layer does not know which kinds announce fds: they are handed over
 * with whatever message they came with, and the caller closes what it did not
 * expect. */
START_TEST(test_fds_with_message_announcing_none_are_handed_over)
{
    int p[2];
    make_pipe(p);
    struct wire_conn *in = conn_on(&sv[1]);
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_KEY_EVENT);
    ck_assert_int_eq(wire_send(sv[0], &env, &p[1], 1), 0);
    close(p[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_OK);
    int fds[WIRE_MAX_FDS];
    unsigned nfds;
    Ignition__Envelope *got = take(in, fds, &nfds);
    assert_is_sample(got, IGNITION__ENVELOPE__BODY_KEY_EVENT);
    ck_assert_uint_eq(nfds, 1);
    assert_pipe_connects(fds[0], p[0], "unexpected");
    close(fds[0]);
    close(p[0]);
    ignition__envelope__free_unpacked(got, NULL);
    wire_conn_free(in);
}
END_TEST

START_TEST(test_take_without_room_closes_fds)
{
    int baseline = open_fd_count();
    int p[2];
    make_pipe(p);
    struct wire_conn *in = conn_on(&sv[1]);
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_KEY_EVENT);
    ck_assert_int_eq(wire_send(sv[0], &env, p, 2), 0);
    close(p[0]);
    close(p[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_OK);
    Ignition__Envelope *got = take(in, NULL, NULL);
    ignition__envelope__free_unpacked(got, NULL);
    ck_assert_int_eq(open_fd_count(), baseline);
    wire_conn_free(in);
}
END_TEST

START_TEST(test_too_many_fds_at_once)
{
    int baseline = open_fd_count();
    int p[2];
    make_pipe(p);
    int five[5] = {p[0], p[1], p[0], p[1], p[0]};
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_KEY_EVENT, &frame, &len);
    send_with_fds(sv[0], frame, len, five, 5);
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_ERROR);
    assert_error_says(in, "more than 4 fds");
    /* None of the five stayed open: only the pipe we sent from is added. */
    ck_assert_int_eq(open_fd_count(), baseline + 2);
    wire_conn_free(in);
    close(p[0]);
    close(p[1]);
    free(frame);
    ck_assert_int_eq(open_fd_count(), baseline - 1);
}
END_TEST

START_TEST(test_too_many_fds_across_reads)
{
    int baseline = open_fd_count();
    int p[2];
    make_pipe(p);
    int three[3] = {p[0], p[1], p[0]};
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_KEY_EVENT, &frame, &len);
    send_with_fds(sv[0], frame, 1, three, 3);
    send_with_fds(sv[0], frame + 1, 1, three, 3);
    write_all(sv[0], frame + 2, len - 2);
    int fds[WIRE_MAX_FDS];
    unsigned nfds = 99;
    Ignition__Envelope *env = (Ignition__Envelope *)1;
    ck_assert_int_eq(wire_recv(sv[1], &env, fds, &nfds, 1000), -EPROTO);
    ck_assert_ptr_null(env);
    ck_assert_uint_eq(nfds, 0);
    ck_assert_int_eq(open_fd_count(), baseline + 2);
    close(p[0]);
    close(p[1]);
    free(frame);
}
END_TEST

START_TEST(test_fds_of_refused_frame_are_closed)
{
    int baseline = open_fd_count();
    int p[2];
    make_pipe(p);
    static const uint8_t garbage[] = {5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff};
    send_with_fds(sv[0], garbage, sizeof(garbage), p, 2);
    close(p[0]);
    close(p[1]);
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_ERROR);
    ck_assert_int_eq(open_fd_count(), baseline);
    wire_conn_free(in);
}
END_TEST

/* ---- framing ------------------------------------------------------------------------- */

START_TEST(test_split_at_every_byte)
{
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_DAMAGE, &frame, &len);
    struct wire_conn *in = conn_on(&sv[1]);
    for (size_t split = 1; split < len; split++) {
        write_all(sv[0], frame, split);
        ck_assert_msg(wire_conn_read(in) == WIRE_AGAIN, "complete after %zu of %zu", split, len);
        write_all(sv[0], frame + split, len - split);
        expect_sample(in, IGNITION__ENVELOPE__BODY_DAMAGE);
        ck_assert_int_eq(wire_conn_read(in), WIRE_AGAIN);
    }
    free(frame);
    wire_conn_free(in);
}
END_TEST

START_TEST(test_one_byte_at_a_time_with_fd)
{
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_SCANOUT_INFO, &frame, &len);
    int p[2];
    make_pipe(p);
    struct wire_conn *in = conn_on(&sv[1]);
    send_with_fds(sv[0], frame, 1, &p[1], 1); /* the fd rides on the first byte */
    close(p[1]);
    for (size_t i = 1; i < len; i++) {
        ck_assert_int_eq(wire_conn_read(in), WIRE_AGAIN);
        write_all(sv[0], frame + i, 1);
    }
    ck_assert_int_eq(wire_conn_read(in), WIRE_OK);
    int fds[WIRE_MAX_FDS];
    unsigned nfds;
    Ignition__Envelope *got = take(in, fds, &nfds);
    assert_is_sample(got, IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    ck_assert_uint_eq(nfds, 1);
    assert_pipe_connects(fds[0], p[0], "byte by byte");
    close(fds[0]);
    close(p[0]);
    ignition__envelope__free_unpacked(got, NULL);
    free(frame);
    wire_conn_free(in);
}
END_TEST

START_TEST(test_two_frames_in_one_write)
{
    uint8_t *a, *b;
    size_t alen, blen;
    encode_sample(IGNITION__ENVELOPE__BODY_POINTER_EVENT, &a, &alen);
    encode_sample(IGNITION__ENVELOPE__BODY_BUTTON_EVENT, &b, &blen);
    uint8_t both[256];
    memcpy(both, a, alen);
    memcpy(both + alen, b, blen);
    write_all(sv[0], both, alen + blen);
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_OK);
    /* Until taken, the first stays the one that is ready. */
    ck_assert_int_eq(wire_conn_read(in), WIRE_OK);
    expect_sample(in, IGNITION__ENVELOPE__BODY_POINTER_EVENT);
    expect_sample(in, IGNITION__ENVELOPE__BODY_BUTTON_EVENT);
    ck_assert_int_eq(wire_conn_read(in), WIRE_AGAIN);
    Ignition__Envelope *none = (Ignition__Envelope *)1;
    wire_conn_take(in, &none, NULL, NULL);
    ck_assert_ptr_null(none);
    free(a);
    free(b);
    wire_conn_free(in);
}
END_TEST

static void assert_length_refused(uint32_t length)
{
    uint8_t header[4];
    le_put(header, length, 4);
    write_all(sv[0], header, 4);
    struct wire_conn *in = conn_on(&sv[1]);
    /* Refused on the header alone: nothing of the body was waited for or
     * allocated. */
    ck_assert_int_eq(wire_conn_read(in), WIRE_ERROR);
    ck_assert_uint_eq(wire_conn_read_reserved(in), 0);
    char expected[64];
    snprintf(expected, sizeof(expected), "frame length %u is outside 1..1048576", length);
    assert_error_says(in, expected);
    /* Reading stays failed, but the reply that says why still goes out. */
    ck_assert_int_eq(wire_conn_read(in), WIRE_ERROR);
    ck_assert_int_eq(wire_queue_error(in, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "bad frame"),
                     0);
    ck_assert_int_eq(wire_conn_flush(in), WIRE_OK);
    Ignition__Envelope *reply = NULL;
    unsigned nfds = 0;
    ck_assert_int_eq(wire_recv(sv[0], &reply, NULL, &nfds, 1000), 0);
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_str_eq(reply->error->message, "bad frame");
    ignition__envelope__free_unpacked(reply, NULL);
    wire_conn_free(in);
}

START_TEST(test_length_zero_refused)
{
    assert_length_refused(0);
}
END_TEST

START_TEST(test_length_over_cap_refused)
{
    assert_length_refused(WIRE_MAX_MESSAGE + 1);
}
END_TEST

START_TEST(test_length_huge_refused)
{
    assert_length_refused(0xffffffffu);
}
END_TEST

START_TEST(test_bad_length_blocking)
{
    static const uint8_t header[4] = {0x01, 0x00, 0x10, 0x00}; /* 1 MiB + 1 */
    write_all(sv[0], header, 4);
    Ignition__Envelope *env;
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 1000), -EMSGSIZE);
    ck_assert_ptr_null(env);
}
END_TEST

START_TEST(test_announced_length_alone_reserves_little)
{
    uint8_t header[4];
    le_put(header, WIRE_MAX_MESSAGE, 4);
    write_all(sv[0], header, 4);
    write_all(sv[0], "\x0a\x02", 2);
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_AGAIN);
    ck_assert_uint_gt(wire_conn_read_reserved(in), 0);
    ck_assert_uint_le(wire_conn_read_reserved(in), 64 * 1024);
    wire_conn_free(in);
}
END_TEST

/* A CursorImage whose envelope encodes to exactly size bytes. */
static void cursor_of_encoded_size(Ignition__Envelope *env, Ignition__CursorImage *cursor,
                                   uint8_t *pixels, size_t size)
{
    *cursor = (Ignition__CursorImage)IGNITION__CURSOR_IMAGE__INIT;
    cursor->hot_x = 3;
    cursor->pixels.data = pixels;
    *env = (Ignition__Envelope)IGNITION__ENVELOPE__INIT;
    env->body_case = IGNITION__ENVELOPE__BODY_CURSOR_IMAGE;
    env->cursor_image = cursor;
    cursor->pixels.len = size;
    size_t over = ignition__envelope__get_packed_size(env) - size;
    cursor->pixels.len = size - over;
    /* A shorter length can take a shorter varint: nudge until exact. */
    while (ignition__envelope__get_packed_size(env) < size)
        cursor->pixels.len++;
    ck_assert_uint_eq(ignition__envelope__get_packed_size(env), size);
}

START_TEST(test_largest_message_passes)
{
    uint8_t *pixels = malloc(WIRE_MAX_MESSAGE);
    for (size_t i = 0; i < WIRE_MAX_MESSAGE; i++)
        pixels[i] = (uint8_t)(i * 31 + 7);
    Ignition__Envelope env;
    Ignition__CursorImage cursor;
    cursor_of_encoded_size(&env, &cursor, pixels, WIRE_MAX_MESSAGE);
    struct wire_conn *out = conn_on(&sv[0]), *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), 0);
    /* More than the socket holds: alternate until the whole message is across. */
    enum wire_result r;
    int rounds = 0;
    while ((r = wire_conn_read(in)) == WIRE_AGAIN) {
        ck_assert_int_ne(wire_conn_flush(out), WIRE_ERROR);
        ck_assert_int_lt(++rounds, 10000);
    }
    ck_assert_int_eq(r, WIRE_OK);
    Ignition__Envelope *got = take(in, NULL, NULL);
    ck_assert_uint_eq(got->cursor_image->pixels.len, cursor.pixels.len);
    ck_assert_mem_eq(got->cursor_image->pixels.data, pixels, cursor.pixels.len);
    ck_assert_uint_eq(wire_conn_read_reserved(in), 0); /* freed once decoded */
    ignition__envelope__free_unpacked(got, NULL);

    cursor_of_encoded_size(&env, &cursor, pixels, WIRE_MAX_MESSAGE + 1);
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), -EMSGSIZE);
    ck_assert_int_eq(wire_send(wire_conn_fd(out), &env, NULL, 0), -EMSGSIZE);
    ck_assert_uint_eq(wire_conn_queued_bytes(out), 0);
    free(pixels);
    wire_conn_free(out);
    wire_conn_free(in);
}
END_TEST

START_TEST(test_undecodable_body)
{
    /* A varint that never ends. */
    static const uint8_t frame[] = {6, 0, 0, 0, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_all(sv[0], frame, sizeof(frame));
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_ERROR);
    assert_error_says(in, "a 6-byte message does not decode");
    wire_conn_free(in);
}
END_TEST

START_TEST(test_undecodable_body_blocking)
{
    static const uint8_t frame[] = {3, 0, 0, 0, 0x42, 0x09, 0x08};
    write_all(sv[0], frame, sizeof(frame));
    Ignition__Envelope *env;
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 1000), -EBADMSG);
    ck_assert_ptr_null(env);
}
END_TEST

START_TEST(test_envelope_without_body)
{
    /* Field 15 (no such message kind), varint 1: decodes, but to nothing. */
    static const uint8_t frame[] = {2, 0, 0, 0, 0x78, 0x01};
    write_all(sv[0], frame, sizeof(frame));
    write_all(sv[0], frame, sizeof(frame));
    Ignition__Envelope *env;
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 1000), -EBADMSG);
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_ERROR);
    assert_error_says(in, "empty envelope");
    wire_conn_free(in);
}
END_TEST

START_TEST(test_decode_directly)
{
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_WHEEL_EVENT, &frame, &len);
    Ignition__Envelope *env;
    ck_assert_int_eq(wire_decode(frame + 4, len - 4, &env), 0);
    assert_is_sample(env, IGNITION__ENVELOPE__BODY_WHEEL_EVENT);
    ignition__envelope__free_unpacked(env, NULL);
    ck_assert_int_eq(wire_decode(frame + 4, len - 5, &env), -EBADMSG);
    free(frame);
}
END_TEST

/* The body of an envelope holding a Damage of count empty rectangles: two
 * bytes of frame each, a struct and a pointer each once decoded. */
static size_t empty_rects_body(uint8_t *body, size_t count)
{
    size_t damage_len = 2 * count, n = 0;
    body[n++] = 0x2a; /* field 5 (damage), length-delimited */
    for (size_t v = damage_len; ; v >>= 7) {
        body[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    for (size_t i = 0; i < count; i++) {
        body[n++] = 0x1a; /* field 3 (rects), an empty Rect */
        body[n++] = 0x00;
    }
    return n;
}

/* Decoding has a memory budget: a frame can not make us allocate many times
 * its size, while large real messages still pass. */
START_TEST(test_decode_memory_is_bounded)
{
    uint8_t *body = malloc(WIRE_MAX_MESSAGE);
    size_t len = empty_rects_body(body, (WIRE_MAX_MESSAGE - 8) / 2);
    ck_assert_uint_le(len, WIRE_MAX_MESSAGE);
    Ignition__Envelope *env = (Ignition__Envelope *)1;
    ck_assert_int_eq(wire_decode(body, len, &env), -EBADMSG);

    /* The same shape at a size a real Damage might have decodes. */
    len = empty_rects_body(body, 4096);
    ck_assert_int_eq(wire_decode(body, len, &env), 0);
    ck_assert_uint_eq(env->damage->n_rects, 4096);
    ignition__envelope__free_unpacked(env, NULL);
    free(body);
}
END_TEST

START_TEST(test_decode_budget_through_connection)
{
    uint8_t *frame = malloc(WIRE_MAX_MESSAGE);
    size_t len = empty_rects_body(frame + 4, (WIRE_MAX_MESSAGE - 8) / 2);
    le_put(frame, len, 4);
    len += 4;
    ck_assert_int_eq(set_nonblock_cloexec(sv[0]), 0);
    struct wire_conn *in = conn_on(&sv[1]);
    size_t sent = 0;
    enum wire_result r = WIRE_AGAIN;
    while (r == WIRE_AGAIN) {
        ssize_t n = write(sv[0], frame + sent, len - sent);
        if (n > 0)
            sent += (size_t)n;
        r = wire_conn_read(in);
        ck_assert_msg(sent < len || r != WIRE_AGAIN, "all %zu bytes sent, still waiting", len);
    }
    ck_assert_int_eq(r, WIRE_ERROR);
    assert_error_says(in, "would take more than 16 MiB to decode");
    free(frame);
    wire_conn_free(in);
}
END_TEST

/* ---- end of stream ---------------------------------------------------------------------- */

START_TEST(test_eof_between_frames)
{
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_CURSOR_MOVE, &frame, &len);
    write_all(sv[0], frame, len);
    shutdown(sv[0], SHUT_WR);
    struct wire_conn *in = conn_on(&sv[1]);
    expect_sample(in, IGNITION__ENVELOPE__BODY_CURSOR_MOVE);
    ck_assert_int_eq(wire_conn_read(in), WIRE_CLOSED);
    ck_assert_int_eq(wire_conn_read(in), WIRE_CLOSED);
    ck_assert_str_eq(wire_conn_error(in), "");
    wire_conn_free(in);
    free(frame);
}
END_TEST

/* A peer that closes with our bytes unread resets the stream: between frames
 * that is a departure like any other, not a bad message. */
START_TEST(test_reset_between_frames_is_a_close)
{
    struct wire_conn *in = conn_on(&sv[1]);
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_DAMAGE);
    ck_assert_int_eq(wire_conn_queue(in, &env, NULL, 0), 0);
    ck_assert_int_eq(wire_conn_flush(in), WIRE_OK);
    close(sv[0]); /* unread: the kernel resets the connection */
    sv[0] = -1;
    ck_assert_int_eq(wire_conn_read(in), WIRE_CLOSED);
    wire_conn_free(in);
}
END_TEST

START_TEST(test_eof_between_frames_blocking)
{
    shutdown(sv[0], SHUT_WR);
    Ignition__Envelope *env;
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 1000), -ENOTCONN);
}
END_TEST

START_TEST(test_eof_inside_header)
{
    write_all(sv[0], "\x05\x00", 2);
    shutdown(sv[0], SHUT_WR);
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_ERROR);
    assert_error_says(in, "inside a frame header (2 of 4 bytes)");
    wire_conn_free(in);
}
END_TEST

START_TEST(test_eof_inside_body_closes_its_fds)
{
    int baseline = open_fd_count();
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_SCANOUT_INFO, &frame, &len);
    int p[2];
    make_pipe(p);
    send_with_fds(sv[0], frame, len - 1, p, 2);
    close(p[0]);
    close(p[1]);
    shutdown(sv[0], SHUT_WR);
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_ERROR);
    char expected[64];
    snprintf(expected, sizeof(expected), "inside a frame (%zu of %zu bytes)", len - 5, len - 4);
    assert_error_says(in, expected);
    ck_assert_int_eq(open_fd_count(), baseline);
    wire_conn_free(in);
    free(frame);
}
END_TEST

START_TEST(test_eof_inside_body_blocking)
{
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_DAMAGE, &frame, &len);
    write_all(sv[0], frame, len - 3);
    shutdown(sv[0], SHUT_WR);
    Ignition__Envelope *env;
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 1000), -ECONNRESET);
    free(frame);
}
END_TEST

START_TEST(test_recv_timeout)
{
    Ignition__Envelope *env;
    uint64_t start = monotonic_ns();
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 50), -ETIMEDOUT);
    ck_assert_uint_ge(monotonic_ns() - start, 50u * 1000000u);
    /* Zero means look, do not wait: a whole message already there is taken. */
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 0), -ETIMEDOUT);
    Ignition__Envelope sent = sample(IGNITION__ENVELOPE__BODY_WINDOW_SIZE);
    ck_assert_int_eq(wire_send(sv[0], &sent, NULL, 0), 0);
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 0), 0);
    assert_is_sample(env, IGNITION__ENVELOPE__BODY_WINDOW_SIZE);
    ignition__envelope__free_unpacked(env, NULL);
    /* Half a frame is no better than none. */
    write_all(sv[0], "\x02\x00\x00\x00\x78", 5);
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 20), -ETIMEDOUT);
}
END_TEST

/* ---- the output queue ----------------------------------------------------------------- */

START_TEST(test_queue_limit)
{
    struct wire_conn *out = conn_on(&sv[0]);
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_DAMAGE, &frame, &len);
    free(frame);
    wire_conn_set_limit(out, 2 * len + 1);
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_DAMAGE);
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), 0);
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), 0);
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), -ENOBUFS);
    ck_assert_uint_eq(wire_conn_queued_bytes(out), 2 * len);
    ck_assert_int_eq(wire_conn_flush(out), WIRE_OK);
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), 0);
    wire_conn_set_limit(out, len - 1); /* below what is queued already */
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), -ENOBUFS);
    wire_conn_free(out);
}
END_TEST

START_TEST(test_queue_fd_limit)
{
    int baseline = open_fd_count();
    struct wire_conn *out = conn_on(&sv[0]);
    int p[2];
    make_pipe(p);
    int four[4] = {p[0], p[1], p[0], p[1]};
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    for (int i = 0; i < WIRE_MAX_QUEUED_FDS / 4; i++)
        ck_assert_int_eq(wire_conn_queue(out, &env, four, 4), 0);
    ck_assert_int_eq(wire_conn_queue(out, &env, four, 1), -ENOBUFS);
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), 0); /* fd-less still fits */
    ck_assert_int_eq(open_fd_count(), baseline + 2 + WIRE_MAX_QUEUED_FDS);
    ck_assert_int_eq(wire_conn_queue(out, &env, four, 5), -EINVAL);
    /* Freed unsent: every dup is closed. */
    wire_conn_free(out);
    ck_assert_int_eq(open_fd_count(), baseline - 1 + 2);
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(test_send_too_many_fds)
{
    int p[2];
    make_pipe(p);
    int five[5] = {p[0], p[1], p[0], p[1], p[0]};
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    ck_assert_int_eq(wire_send(sv[0], &env, five, 5), -EINVAL);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* A peer that does not read: the queue holds what the socket will not take,
 * flush says so, and everything arrives in order once the peer reads. */
START_TEST(test_flush_against_full_socket)
{
    enum { COUNT = 48, PIXELS = 64 * 1024 };
    struct wire_conn *out = conn_on(&sv[0]), *in = conn_on(&sv[1]);
    static uint8_t pixels[PIXELS];
    memset(pixels, 0x5a, sizeof(pixels));
    Ignition__CursorImage cursor = IGNITION__CURSOR_IMAGE__INIT;
    cursor.pixels.data = pixels;
    cursor.pixels.len = sizeof(pixels);
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_CURSOR_IMAGE;
    env.cursor_image = &cursor;
    for (unsigned i = 0; i < COUNT; i++) {
        cursor.hot_x = i;
        ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), 0);
    }
    ck_assert_int_eq(wire_conn_flush(out), WIRE_AGAIN);
    size_t stuck = wire_conn_queued_bytes(out);
    ck_assert_uint_gt(stuck, 0);
    ck_assert_int_eq(wire_conn_flush(out), WIRE_AGAIN);
    ck_assert_uint_eq(wire_conn_queued_bytes(out), stuck);

    unsigned received = 0;
    int rounds = 0;
    enum wire_result flushed = WIRE_AGAIN;
    while (received < COUNT) {
        enum wire_result r;
        while ((r = wire_conn_read(in)) == WIRE_OK) {
            Ignition__Envelope *got = take(in, NULL, NULL);
            ck_assert_int_eq(got->body_case, IGNITION__ENVELOPE__BODY_CURSOR_IMAGE);
            ck_assert_uint_eq(got->cursor_image->hot_x, received);
            ck_assert_uint_eq(got->cursor_image->pixels.len, PIXELS);
            ck_assert_uint_eq(got->cursor_image->pixels.data[PIXELS - 1], 0x5a);
            ignition__envelope__free_unpacked(got, NULL);
            received++;
        }
        ck_assert_int_eq(r, WIRE_AGAIN);
        flushed = wire_conn_flush(out);
        ck_assert_int_ne(flushed, WIRE_ERROR);
        ck_assert_int_lt(++rounds, 100000);
    }
    ck_assert_int_eq(flushed, WIRE_OK);
    ck_assert_uint_eq(wire_conn_queued_bytes(out), 0);
    wire_conn_free(out);
    wire_conn_free(in);
}
END_TEST

START_TEST(test_flush_to_departed_peer)
{
    struct wire_conn *out = conn_on(&sv[0]);
    close(sv[1]);
    sv[1] = -1;
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_DAMAGE);
    ck_assert_int_eq(wire_conn_queue(out, &env, NULL, 0), 0);
    /* No SIGPIPE: this process would not survive one. */
    ck_assert_int_eq(wire_conn_flush(out), WIRE_ERROR);
    assert_error_says(out, "the peer closed the connection");
    ck_assert_int_eq(wire_conn_flush(out), WIRE_ERROR);
    wire_conn_free(out);
}
END_TEST

START_TEST(test_send_to_departed_peer)
{
    close(sv[1]);
    sv[1] = -1;
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_DAMAGE);
    ck_assert_int_eq(wire_send(sv[0], &env, NULL, 0), -EPIPE);
}
END_TEST

START_TEST(test_conn_new_sets_flags)
{
    int fd = sv[0];
    struct wire_conn *c = conn_on(&sv[0]);
    ck_assert_int_eq(wire_conn_fd(c), fd);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    ck_assert_str_eq(wire_conn_error(c), "");
    wire_conn_free(c);
    ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* closed with the connection */
}
END_TEST

/* Freeing a connection mid-everything closes every fd it holds: queued dups,
 * a ready message's fds, and those of a frame half read. */
START_TEST(test_free_closes_every_fd)
{
    int baseline = open_fd_count();
    int p[2];
    make_pipe(p);
    struct wire_conn *a = conn_on(&sv[0]), *b = conn_on(&sv[1]);
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    ck_assert_int_eq(wire_conn_queue(a, &env, p, 2), 0);
    ck_assert_int_eq(wire_conn_queue(a, &env, p, 1), 0);
    ck_assert_int_eq(wire_conn_flush(a), WIRE_OK);
    ck_assert_int_eq(wire_conn_queue(a, &env, p, 2), 0); /* stays queued */
    ck_assert_int_eq(wire_conn_read(b), WIRE_OK);        /* ready, not taken */
    /* the pipe, the ready message's two, the queued two (the second frame's fd
     * is in flight, in no process's table) */
    ck_assert_int_eq(open_fd_count(), baseline + 2 + 2 + 2);
    wire_conn_free(a);
    wire_conn_free(b);
    close(p[0]);
    close(p[1]);
    ck_assert_int_eq(open_fd_count(), baseline - 2);
}
END_TEST

START_TEST(test_free_closes_fds_of_half_read_frame)
{
    int baseline = open_fd_count();
    int p[2];
    make_pipe(p);
    uint8_t *frame;
    size_t len;
    encode_sample(IGNITION__ENVELOPE__BODY_SCANOUT_INFO, &frame, &len);
    send_with_fds(sv[0], frame, 6, p, 2);
    close(p[0]);
    close(p[1]);
    struct wire_conn *in = conn_on(&sv[1]);
    ck_assert_int_eq(wire_conn_read(in), WIRE_AGAIN);
    ck_assert_int_eq(open_fd_count(), baseline + 2);
    wire_conn_free(in);
    ck_assert_int_eq(open_fd_count(), baseline - 1);
    free(frame);
}
END_TEST

/* ---- handshake -------------------------------------------------------------------------- */

START_TEST(test_handshake_welcomed)
{
    /* The server's answer is written first: the socket keeps it until asked. */
    Ignition__Envelope answer = sample(IGNITION__ENVELOPE__BODY_WELCOME);
    ck_assert_int_eq(wire_send(sv[1], &answer, NULL, 0), 0);
    char err[256] = "";
    Ignition__Welcome *w = NULL;
    ck_assert_int_eq(wire_client_handshake(sv[0], "ignition-view", 1000, &w, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(w->protocol_version, PROTOCOL_CURRENT);
    ck_assert_str_eq(w->server_version, "0.1.0");
    ck_assert_str_eq(w->guest_name, "desk");
    ignition__welcome__free_unpacked(w, NULL);

    Ignition__Envelope *hello_env;
    ck_assert_int_eq(wire_recv(sv[1], &hello_env, NULL, NULL, 1000), 0);
    ck_assert_int_eq(hello_env->body_case, IGNITION__ENVELOPE__BODY_HELLO);
    ck_assert_uint_eq(hello_env->hello->protocol_version, PROTOCOL_CURRENT);
    ck_assert_str_eq(hello_env->hello->client_name, "ignition-view");
    char why[128] = "untouched";
    ck_assert(wire_hello_check(hello_env, why, sizeof(why)));
    ignition__envelope__free_unpacked(hello_env, NULL);
}
END_TEST

START_TEST(test_handshake_without_welcome_out)
{
    Ignition__Envelope answer = sample(IGNITION__ENVELOPE__BODY_WELCOME);
    ck_assert_int_eq(wire_send(sv[1], &answer, NULL, 0), 0);
    ck_assert_int_eq(wire_client_handshake(sv[0], "vmmctl", 1000, NULL, NULL, 0), 0);
}
END_TEST

/* The server is newer than the client: its Welcome names a version we do not
 * speak. */
START_TEST(test_handshake_server_version_mismatch)
{
    Ignition__Envelope answer = sample(IGNITION__ENVELOPE__BODY_WELCOME);
    welcome.protocol_version = PROTOCOL_CURRENT + 1;
    ck_assert_int_eq(wire_send(sv[1], &answer, NULL, 0), 0);
    char err[256] = "";
    Ignition__Welcome *w = (Ignition__Welcome *)1;
    ck_assert_int_eq(wire_client_handshake(sv[0], "ignition-view", 1000, &w, err, sizeof(err)),
                     -EPROTO);
    ck_assert_ptr_null(w);
    ck_assert_str_eq(err, "the server speaks protocol version 2, this ignition-view speaks 1; "
                          "update ignition-view");
}
END_TEST

START_TEST(test_handshake_older_server)
{
    Ignition__Envelope answer = sample(IGNITION__ENVELOPE__BODY_WELCOME);
    welcome.protocol_version = 0;
    ck_assert_int_eq(wire_send(sv[1], &answer, NULL, 0), 0);
    char err[256] = "";
    ck_assert_int_eq(wire_client_handshake(sv[0], "vmmctl", 1000, NULL, err, sizeof(err)),
                     -EPROTO);
    ck_assert_str_eq(err, "the server speaks protocol version 0, this vmmctl speaks 1; update vmmd");
}
END_TEST

static Ignition__Envelope hello_from(const char *name, uint32_t version)
{
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_HELLO);
    hello.client_name = (char *)name;
    hello.protocol_version = version;
    return env;
}

static void assert_hello_refused(Ignition__Envelope env, const char *expected)
{
    char why[160] = "";
    ck_assert(!wire_hello_check(&env, why, sizeof(why)));
    ck_assert_str_eq(why, expected);
}

/* Only another protocol version is a version mismatch; a Hello of ours with a
 * bad name, or another message first, is a bad message. */
START_TEST(test_hello_refusal_codes)
{
    /* hello_from reuses one Hello: each is looked at before the next is made. */
    Ignition__Envelope env = hello_from("ignition-view", 0);
    ck_assert_int_eq(wire_hello_refusal_code(&env), IGNITION__ERROR__CODE__CODE_VERSION_MISMATCH);
    env = hello_from("\x1b[2J", 1);
    ck_assert_int_eq(wire_hello_refusal_code(&env), IGNITION__ERROR__CODE__CODE_BAD_MESSAGE);
    env = sample(IGNITION__ENVELOPE__BODY_KEY_EVENT);
    ck_assert_int_eq(wire_hello_refusal_code(&env), IGNITION__ERROR__CODE__CODE_BAD_MESSAGE);
    ck_assert_int_eq(wire_hello_refusal_code(NULL), IGNITION__ERROR__CODE__CODE_BAD_MESSAGE);
}
END_TEST

START_TEST(test_hello_version_mismatch_both_ways)
{
    assert_hello_refused(hello_from("ignition-view", 7),
                         "protocol version 7, this vmmd speaks 1; update vmmd");
    assert_hello_refused(hello_from("ignition-view", 0),
                         "protocol version 0, this vmmd speaks 1; update ignition-view");
    /* An insane name is not repeated back. */
    assert_hello_refused(hello_from("\x1b[2J", 0),
                         "protocol version 0, this vmmd speaks 1; update the client");
}
END_TEST

/* The server refuses the client's version: the client reports the server's
 * own words. */
START_TEST(test_handshake_refused_by_server)
{
    char why[160];
    Ignition__Envelope old_hello = hello_from("ignition-view", 0);
    ck_assert(!wire_hello_check(&old_hello, why, sizeof(why)));
    ck_assert_int_eq(
        wire_send_error(sv[1], IGNITION__ERROR__CODE__CODE_VERSION_MISMATCH, why), 0);
    char err[256] = "";
    ck_assert_int_eq(wire_client_handshake(sv[0], "ignition-view", 1000, NULL, err, sizeof(err)),
                     -EPROTO);
    ck_assert_str_eq(err, "protocol version 0, this vmmd speaks 1; update ignition-view");
}
END_TEST

START_TEST(test_handshake_error_text_made_printable)
{
    ck_assert_int_eq(wire_send_error(sv[1], IGNITION__ERROR__CODE__CODE_INTERNAL,
                                     "bad\x1b[31m news\n"),
                     0);
    char err[256] = "";
    ck_assert_int_eq(wire_client_handshake(sv[0], "vmmctl", 1000, NULL, err, sizeof(err)),
                     -EPROTO);
    ck_assert_str_eq(err, "bad news?"); /* the escape sequence dropped whole */
}
END_TEST

START_TEST(test_handshake_unexpected_answer)
{
    Ignition__Envelope answer = sample(IGNITION__ENVELOPE__BODY_KEY_EVENT);
    ck_assert_int_eq(wire_send(sv[1], &answer, NULL, 0), 0);
    char err[256] = "";
    ck_assert_int_eq(wire_client_handshake(sv[0], "vmmctl", 1000, NULL, err, sizeof(err)),
                     -EPROTO);
    ck_assert_str_eq(err, "the server answered Hello with message kind 8, not Welcome");
}
END_TEST

START_TEST(test_handshake_timeout)
{
    char err[256] = "";
    ck_assert_int_eq(wire_client_handshake(sv[0], "vmmctl", 30, NULL, err, sizeof(err)),
                     -ETIMEDOUT);
    ck_assert_str_eq(err, "no answer to Hello within 30 ms");
}
END_TEST

START_TEST(test_handshake_server_hangs_up)
{
    shutdown(sv[1], SHUT_WR);
    char err[256] = "";
    ck_assert_int_eq(wire_client_handshake(sv[0], "vmmctl", 1000, NULL, err, sizeof(err)),
                     -ENOTCONN);
    ck_assert_str_eq(err, "the server closed the connection during the handshake");
}
END_TEST

START_TEST(test_hello_names)
{
    char name[WIRE_MAX_CLIENT_NAME + 2];
    memset(name, 'v', sizeof(name));
    name[WIRE_MAX_CLIENT_NAME] = '\0';
    Ignition__Envelope env = hello_from(name, PROTOCOL_CURRENT);
    ck_assert(wire_hello_check(&env, NULL, 0));
    name[WIRE_MAX_CLIENT_NAME] = 'v';
    name[WIRE_MAX_CLIENT_NAME + 1] = '\0';
    assert_hello_refused(hello_from(name, PROTOCOL_CURRENT),
                         "client_name is 65 bytes; at most 64 are allowed");
    assert_hello_refused(hello_from("", PROTOCOL_CURRENT), "client_name is empty");
    assert_hello_refused(hello_from("view\x7f", PROTOCOL_CURRENT),
                         "client_name has byte 0x7f at offset 4, not printable ASCII");
    assert_hello_refused(hello_from("vi\xc3\xa9w", PROTOCOL_CURRENT),
                         "client_name has byte 0xc3 at offset 2, not printable ASCII");
}
END_TEST

START_TEST(test_hello_check_wants_hello)
{
    Ignition__Envelope env = sample(IGNITION__ENVELOPE__BODY_KEY_EVENT);
    assert_hello_refused(env, "expected Hello first, got message kind 8");
}
END_TEST

START_TEST(test_queue_error_arrives)
{
    struct wire_conn *out = conn_on(&sv[0]);
    ck_assert_int_eq(wire_queue_error(out, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE,
                                      "rectangle outside the scanout"),
                     0);
    ck_assert_int_eq(wire_conn_flush(out), WIRE_OK);
    Ignition__Envelope *env;
    ck_assert_int_eq(wire_recv(sv[1], &env, NULL, NULL, 1000), 0);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(env->error->code, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE);
    ck_assert_str_eq(env->error->message, "rectangle outside the scanout");
    ignition__envelope__free_unpacked(env, NULL);
    wire_conn_free(out);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *trip = tcase_create("round trips");
    tcase_add_checked_fixture(trip, setup, teardown);
    tcase_add_test(trip, test_frame_bytes_exact);
    tcase_add_test(trip, test_every_kind_blocking_round_trip);
    tcase_add_test(trip, test_every_kind_through_connections);
    tcase_add_test(trip, test_encode_refuses_empty_envelope);
    tcase_add_test(trip, test_decode_directly);
    suite_add_tcase(s, trip);

    TCase *fds = tcase_create("fds");
    tcase_add_checked_fixture(fds, setup, teardown);
    tcase_add_test(fds, test_fd_passed_blocking);
    tcase_add_test(fds, test_fd_with_frame_larger_than_socket_buffer);
    tcase_add_test(fds, test_fds_passed_through_connections);
    tcase_add_test(fds, test_fds_with_message_announcing_none_are_handed_over);
    tcase_add_test(fds, test_take_without_room_closes_fds);
    tcase_add_test(fds, test_too_many_fds_at_once);
    tcase_add_test(fds, test_too_many_fds_across_reads);
    tcase_add_test(fds, test_fds_of_refused_frame_are_closed);
    tcase_add_test(fds, test_send_too_many_fds);
    suite_add_tcase(s, fds);

    TCase *framing = tcase_create("framing");
    tcase_add_checked_fixture(framing, setup, teardown);
    tcase_set_timeout(framing, 30);
    tcase_add_test(framing, test_split_at_every_byte);
    tcase_add_test(framing, test_one_byte_at_a_time_with_fd);
    tcase_add_test(framing, test_two_frames_in_one_write);
    tcase_add_test(framing, test_length_zero_refused);
    tcase_add_test(framing, test_length_over_cap_refused);
    tcase_add_test(framing, test_length_huge_refused);
    tcase_add_test(framing, test_bad_length_blocking);
    tcase_add_test(framing, test_announced_length_alone_reserves_little);
    tcase_add_test(framing, test_largest_message_passes);
    tcase_add_test(framing, test_undecodable_body);
    tcase_add_test(framing, test_undecodable_body_blocking);
    tcase_add_test(framing, test_envelope_without_body);
    tcase_add_test(framing, test_decode_memory_is_bounded);
    tcase_add_test(framing, test_decode_budget_through_connection);
    tcase_add_test(framing, test_eof_between_frames);
    tcase_add_test(framing, test_reset_between_frames_is_a_close);
    tcase_add_test(framing, test_eof_between_frames_blocking);
    tcase_add_test(framing, test_eof_inside_header);
    tcase_add_test(framing, test_eof_inside_body_closes_its_fds);
    tcase_add_test(framing, test_eof_inside_body_blocking);
    tcase_add_test(framing, test_recv_timeout);
    suite_add_tcase(s, framing);

    TCase *queue = tcase_create("queue");
    tcase_add_checked_fixture(queue, setup, teardown);
    tcase_set_timeout(queue, 30);
    tcase_add_test(queue, test_queue_limit);
    tcase_add_test(queue, test_queue_fd_limit);
    tcase_add_test(queue, test_flush_against_full_socket);
    tcase_add_test(queue, test_flush_to_departed_peer);
    tcase_add_test(queue, test_send_to_departed_peer);
    tcase_add_test(queue, test_conn_new_sets_flags);
    tcase_add_test(queue, test_free_closes_every_fd);
    tcase_add_test(queue, test_free_closes_fds_of_half_read_frame);
    suite_add_tcase(s, queue);

    TCase *hs = tcase_create("handshake");
    tcase_add_checked_fixture(hs, setup, teardown);
    tcase_add_test(hs, test_handshake_welcomed);
    tcase_add_test(hs, test_handshake_without_welcome_out);
    tcase_add_test(hs, test_handshake_server_version_mismatch);
    tcase_add_test(hs, test_handshake_older_server);
    tcase_add_test(hs, test_hello_version_mismatch_both_ways);
    tcase_add_test(hs, test_hello_refusal_codes);
    tcase_add_test(hs, test_handshake_refused_by_server);
    tcase_add_test(hs, test_handshake_error_text_made_printable);
    tcase_add_test(hs, test_handshake_unexpected_answer);
    tcase_add_test(hs, test_handshake_timeout);
    tcase_add_test(hs, test_handshake_server_hangs_up);
    tcase_add_test(hs, test_hello_names);
    tcase_add_test(hs, test_hello_check_wants_hello);
    tcase_add_test(hs, test_queue_error_arrives);
    suite_add_tcase(s, hs);
    return s;
}

int main(void)
{
    return run_suite(wire_suite());
}
