/* The display publisher as viewers meet it, in one process: a real socket, the
 * handshake, a scanout handed over read-only with a full frame at once, flushes
 * becoming damage notices (merged when many arrive at once), every viewer
 * served, the machine going away, refusals of bad peers, and peers that hold
 * a place without speaking (half a frame; every place taken by silent ones).
 * The GPU's side is played by calling publisher_display_ops directly. */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ignition.pb-c.h"
#include "memfile.h"
#include "worker/publisher.h"
#include "scanout.h"
#include "unit.h"
#include "unixsock.h"
#include "util.h"
#include "wire.h"

#define WIDTH 64u
#define HEIGHT 32u
#define STRIDE (WIDTH * 4u)
#define OBJECT_SIZE (SCANOUT_SHM_HEADER_SIZE + STRIDE * HEIGHT)

static char dir[64], path[128];
static struct event_base *base;
static struct publisher *pub;
static int ro_fd;
static uint8_t *object;

/* Lets the publisher do whatever is pending: accept, read, write. */
static void spin(void)
{
    for (int i = 0; i < 20; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

static void show_scanout(void)
{
    struct display_scanout s = {
        .enabled = true, .resource_id = 1, .ro_fd = ro_fd, .map = object,
        .object_size = OBJECT_SIZE, .format = 2, .stride = STRIDE,
        .resource_width = WIDTH, .resource_height = HEIGHT,
        .rect = {0, 0, WIDTH, HEIGHT},
    };
    publisher_display_ops.scanout_changed(pub, 0, &s);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-pub-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/display.sock", dir);
    base = event_base_new();
    char err[256];
    pub = publisher_create(base, path, "unit", err, sizeof(err));
    ck_assert_msg(pub != NULL, "%s", err);
    void *map;
    ck_assert_int_eq(memfile_create_shared("test-scanout", OBJECT_SIZE, &map, &ro_fd), 0);
    object = map;
}

static void teardown(void)
{
    publisher_destroy(pub);
    event_base_free(base);
    munmap(object, OBJECT_SIZE);
    close(ro_fd);
    ck_assert_int_eq(access(path, F_OK), -1); /* the socket is removed */
    rmdir(dir);
}

static Ignition__Envelope *receive(int sock, int *fds, unsigned *nfds)
{
    Ignition__Envelope *env = NULL;
    unsigned n = 0;
    int rc = wire_recv(sock, &env, fds, &n, 1000);
    ck_assert_msg(rc == 0, "receive: %s", strerror(-rc));
    if (nfds)
        *nfds = n;
    else
        ck_assert_uint_eq(n, 0);
    return env;
}

static int connect_viewer(void)
{
    char err[256];
    int sock = unixsock_connect(path, err, sizeof(err));
    ck_assert_msg(sock >= 0, "%s", err);
    return sock;
}

static void send_hello(int sock, uint32_t version)
{
    Ignition__Hello hello = IGNITION__HELLO__INIT;
    hello.protocol_version = version;
    hello.client_name = "unit-viewer";
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    ck_assert_int_eq(wire_send(sock, &env, NULL, 0), 0);
    spin();
}

static void expect_body(Ignition__Envelope *env, Ignition__Envelope__BodyCase body)
{
    ck_assert_int_eq(env->body_case, body);
    ignition__envelope__free_unpacked(env, NULL);
}

/* Connects and completes the handshake; takes the scanout's info and the
 * attach frame's damage when one is shown. */
static int attach(bool scanout_shown)
{
    int sock = connect_viewer();
    spin();
    send_hello(sock, IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
    expect_body(receive(sock, NULL, NULL), IGNITION__ENVELOPE__BODY_WELCOME);
    if (scanout_shown) {
        int fds[WIRE_MAX_FDS];
        unsigned nfds;
        expect_body(receive(sock, fds, &nfds), IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
        ck_assert_uint_eq(nfds, 1);
        close(fds[0]);
        expect_body(receive(sock, NULL, NULL), IGNITION__ENVELOPE__BODY_DAMAGE);
    }
    return sock;
}

static bool nothing_waiting(int sock)
{
    Ignition__Envelope *env = NULL;
    int rc = wire_recv(sock, &env, NULL, NULL, 0);
    if (env)
        ignition__envelope__free_unpacked(env, NULL);
    return rc == -ETIMEDOUT;
}

START_TEST(test_attach_gets_scanout_read_only_and_a_full_frame)
{
    show_scanout();
    int sock = connect_viewer();
    spin();
    send_hello(sock, IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT);
    Ignition__Envelope *env = receive(sock, NULL, NULL);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_WELCOME);
    ck_assert_str_eq(env->welcome->guest_name, "unit");
    ignition__envelope__free_unpacked(env, NULL);
    ck_assert_uint_eq(publisher_viewer_count(pub), 1);

    int fds[WIRE_MAX_FDS];
    unsigned nfds;
    env = receive(sock, fds, &nfds);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    const Ignition__ScanoutInfo *info = env->scanout_info;
    ck_assert(info->enabled);
    ck_assert_uint_eq(info->width, WIDTH);
    ck_assert_uint_eq(info->height, HEIGHT);
    ck_assert_uint_eq(info->stride, STRIDE);
    ck_assert_uint_eq(info->data_offset, SCANOUT_SHM_HEADER_SIZE);
    ck_assert_uint_eq(info->object_size, OBJECT_SIZE);
    ck_assert_uint_eq(nfds, 1);
    /* The viewer sees the guest's pixels, and cannot change them. */
    memcpy(object + SCANOUT_SHM_HEADER_SIZE, "pixel", 5);
    const uint8_t *view = mmap(NULL, OBJECT_SIZE, PROT_READ, MAP_SHARED, fds[0], 0);
    ck_assert_ptr_ne(view, MAP_FAILED);
    ck_assert_mem_eq(view + SCANOUT_SHM_HEADER_SIZE, "pixel", 5);
    ck_assert_ptr_eq(mmap(NULL, OBJECT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0),
                     MAP_FAILED);
    munmap((void *)view, OBJECT_SIZE);
    close(fds[0]);
    ignition__envelope__free_unpacked(env, NULL);

    env = receive(sock, NULL, NULL);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_DAMAGE);
    ck_assert_uint_eq(env->damage->n_rects, 1);
    ck_assert_uint_eq(env->damage->rects[0]->width, WIDTH);
    ck_assert_uint_eq(env->damage->rects[0]->height, HEIGHT);
    ignition__envelope__free_unpacked(env, NULL);
    close(sock);
    spin();
    ck_assert_uint_eq(publisher_viewer_count(pub), 0);
}
END_TEST

START_TEST(test_flush_becomes_damage_for_every_viewer)
{
    show_scanout();
    int a = attach(true), b = attach(true);
    publisher_display_ops.flushed(pub, 0, (struct display_rect){1, 2, 3, 4}, 7);
    spin();
    for (int i = 0; i < 2; i++) {
        Ignition__Envelope *env = receive(i ? b : a, NULL, NULL);
        ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_DAMAGE);
        const Ignition__Damage *d = env->damage;
        ck_assert_uint_eq(d->sequence, 7);
        ck_assert_uint_ne(d->flush_monotonic_ns, 0);
        ck_assert_uint_eq(d->n_rects, 1);
        ck_assert_uint_eq(d->rects[0]->x, 1);
        ck_assert_uint_eq(d->rects[0]->y, 2);
        ck_assert_uint_eq(d->rects[0]->width, 3);
        ck_assert_uint_eq(d->rects[0]->height, 4);
        ignition__envelope__free_unpacked(env, NULL);
    }
    close(a);
    close(b);
}
END_TEST

/* Flushes that pile up before the loop runs arrive as one notice, with their
 * rectangles kept apart up to a bound and merged beyond it. */
START_TEST(test_many_flushes_merge_into_one_bounded_notice)
{
    show_scanout();
    int sock = attach(true);
    for (uint32_t i = 0; i < 40; i++)
        publisher_display_ops.flushed(pub, 0, (struct display_rect){i, i % 30, 1, 1}, i + 1);
    spin();
    Ignition__Envelope *env = receive(sock, NULL, NULL);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_DAMAGE);
    const Ignition__Damage *d = env->damage;
    ck_assert_uint_eq(d->sequence, 40);
    ck_assert_uint_ge(d->n_rects, 1);
    ck_assert_uint_le(d->n_rects, 16);
    /* Every flushed pixel is covered by some rectangle. */
    for (uint32_t i = 0; i < 40; i++) {
        bool covered = false;
        for (size_t r = 0; r < d->n_rects; r++) {
            const Ignition__Rect *rc = d->rects[r];
            covered |= i >= rc->x && i < rc->x + rc->width && i % 30 >= rc->y &&
                       i % 30 < rc->y + rc->height;
        }
        ck_assert_msg(covered, "flush %u not in the notice", i);
    }
    ignition__envelope__free_unpacked(env, NULL);
    ck_assert(nothing_waiting(sock));
    close(sock);
}
END_TEST

START_TEST(test_machine_going_away_switches_the_scanout_off)
{
    show_scanout();
    int sock = attach(true);
    publisher_detach_machine(pub);
    spin();
    Ignition__Envelope *env = receive(sock, NULL, NULL);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    ck_assert(!env->scanout_info->enabled);
    ignition__envelope__free_unpacked(env, NULL);
    /* A viewer arriving now gets no scanout until the next machine shows one. */
    int late = attach(false);
    ck_assert(nothing_waiting(late));
    show_scanout();
    spin();
    int fds[WIRE_MAX_FDS];
    unsigned nfds;
    env = receive(late, fds, &nfds);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_SCANOUT_INFO);
    ck_assert(env->scanout_info->enabled);
    ck_assert_uint_eq(nfds, 1);
    close(fds[0]);
    ignition__envelope__free_unpacked(env, NULL);
    close(sock);
    close(late);
}
END_TEST

static void expect_refusal(int sock, Ignition__Error__Code code, const char *words)
{
    Ignition__Envelope *env = receive(sock, NULL, NULL);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(env->error->code, code);
    ck_assert_msg(strstr(env->error->message, words), "\"%s\" lacks \"%s\"",
                  env->error->message, words);
    ignition__envelope__free_unpacked(env, NULL);
    char c;
    ck_assert_int_le(read(sock, &c, 1), 0); /* and the connection ends */
    close(sock);
    ck_assert_uint_eq(publisher_viewer_count(pub), 0);
}

START_TEST(test_version_mismatch_refused)
{
    int sock = connect_viewer();
    spin();
    send_hello(sock, 99);
    expect_refusal(sock, IGNITION__ERROR__CODE__CODE_VERSION_MISMATCH, "99");
}
END_TEST

START_TEST(test_oversized_frame_refused)
{
    int sock = attach(false);
    const uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
    ck_assert_int_eq(write(sock, huge, 4), 4);
    spin();
    expect_refusal(sock, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "frame length");
}
END_TEST

START_TEST(test_key_the_keyboard_lacks_refused)
{
    int sock = attach(false);
    Ignition__KeyEvent key = IGNITION__KEY_EVENT__INIT;
    key.evdev_code = 30; /* KEY_A: taken (no machine: nowhere to go, but no fault) */
    key.pressed = true;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_KEY_EVENT;
    env.key_event = &key;
    ck_assert_int_eq(wire_send(sock, &env, NULL, 0), 0);
    spin();
    ck_assert(nothing_waiting(sock));
    key.evdev_code = 0x110; /* BTN_LEFT is the tablet's, not a key */
    ck_assert_int_eq(wire_send(sock, &env, NULL, 0), 0);
    spin();
    expect_refusal(sock, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "key code 272");
}
END_TEST

START_TEST(test_server_messages_from_a_viewer_refused)
{
    int sock = attach(false);
    Ignition__Damage damage = IGNITION__DAMAGE__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_DAMAGE;
    env.damage = &damage;
    ck_assert_int_eq(wire_send(sock, &env, NULL, 0), 0);
    spin();
    expect_refusal(sock, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "not one a viewer sends");
}
END_TEST

START_TEST(test_descriptors_from_a_viewer_refused)
{
    int sock = attach(false);
    Ignition__WheelEvent wheel = IGNITION__WHEEL_EVENT__INIT;
    wheel.dy = 1;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_WHEEL_EVENT;
    env.wheel_event = &wheel;
    int stray = dup(STDIN_FILENO);
    ck_assert_int_eq(wire_send(sock, &env, &stray, 1), 0);
    close(stray);
    spin();
    expect_refusal(sock, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "file descriptors");
}
END_TEST

START_TEST(test_bad_window_size_refused)
{
    int sock = attach(false);
    Ignition__WindowSize size = IGNITION__WINDOW_SIZE__INIT;
    size.width = 0;
    size.height = 600;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_WINDOW_SIZE;
    env.window_size = &size;
    ck_assert_int_eq(wire_send(sock, &env, NULL, 0), 0);
    spin();
    expect_refusal(sock, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "window size");
}
END_TEST

/* Runs the loop for about ms milliseconds. */
static void spin_for(unsigned ms)
{
    uint64_t end = monotonic_ns() + (uint64_t)ms * 1000000u;
    while (monotonic_ns() < end) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(2000);
    }
}

/* Half a frame, then silence (or a byte now and then): the viewer's place is
 * not held for ever. */
START_TEST(test_half_a_frame_times_out)
{
    publisher_set_timeouts(pub, 300, 60000);
    int sock = attach(false);
    const uint8_t start[] = {10, 0, 0, 0, 0x62}; /* 10 bytes announced, 1 sent */
    ck_assert_int_eq(write(sock, start, sizeof(start)), (ssize_t)sizeof(start));
    spin_for(150);
    ck_assert_uint_eq(publisher_viewer_count(pub), 1);
    ck_assert_int_eq(write(sock, start + 4, 1), 1); /* a trickle does not stretch it */
    spin_for(250);
    expect_refusal(sock, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "not the rest");
}
END_TEST

/* Whole messages, however slow, are not cut short. */
START_TEST(test_whole_messages_are_never_late)
{
    publisher_set_timeouts(pub, 100, 60000);
    int sock = attach(false);
    spin_for(300);
    ck_assert_uint_eq(publisher_viewer_count(pub), 1);
    ck_assert(nothing_waiting(sock));
    close(sock);
}
END_TEST

/* Every place taken by viewers that say nothing: a newcomer is turned away
 * while they are fresh, and takes the place of the one silent longest once
 * that one has been silent for the idle time. */
START_TEST(test_idle_viewer_gives_up_its_place_when_all_are_taken)
{
    enum { PLACES = 64 };
    publisher_set_timeouts(pub, 5000, 60000); /* filling takes a while here */
    int socks[PLACES];
    for (int i = 0; i < PLACES; i++)
        socks[i] = attach(false);
    ck_assert_uint_eq(publisher_viewer_count(pub), PLACES);

    int early = connect_viewer();
    spin();
    Ignition__Envelope *env = receive(early, NULL, NULL);
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_msg(strstr(env->error->message, "too many viewers"), "%s", env->error->message);
    ignition__envelope__free_unpacked(env, NULL);
    close(early);

    publisher_set_timeouts(pub, 5000, 300);
    spin_for(400);
    int late = attach(false); /* welcomed */
    ck_assert_uint_eq(publisher_viewer_count(pub), PLACES);
    env = receive(socks[0], NULL, NULL); /* the first to come, silent longest */
    ck_assert_int_eq(env->body_case, IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_msg(strstr(env->error->message, "took its place"), "%s", env->error->message);
    ignition__envelope__free_unpacked(env, NULL);
    for (int i = 1; i < PLACES; i++)
        ck_assert(nothing_waiting(socks[i]));
    for (int i = 0; i < PLACES; i++)
        close(socks[i]);
    close(late);
}
END_TEST

static Suite *publisher_suite(void)
{
    Suite *s = suite_create("publisher");
    TCase *tc = tcase_create("viewers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_attach_gets_scanout_read_only_and_a_full_frame);
    tcase_add_test(tc, test_flush_becomes_damage_for_every_viewer);
    tcase_add_test(tc, test_many_flushes_merge_into_one_bounded_notice);
    tcase_add_test(tc, test_machine_going_away_switches_the_scanout_off);
    tcase_add_test(tc, test_version_mismatch_refused);
    tcase_add_test(tc, test_oversized_frame_refused);
    tcase_add_test(tc, test_key_the_keyboard_lacks_refused);
    tcase_add_test(tc, test_server_messages_from_a_viewer_refused);
    tcase_add_test(tc, test_descriptors_from_a_viewer_refused);
    tcase_add_test(tc, test_bad_window_size_refused);
    tcase_add_test(tc, test_half_a_frame_times_out);
    tcase_add_test(tc, test_whole_messages_are_never_late);
    tcase_add_test(tc, test_idle_viewer_gives_up_its_place_when_all_are_taken);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(publisher_suite());
}
