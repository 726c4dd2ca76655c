/* worker_control: a guest worker's control socket as its supervisor sees it:
 * the handshake first, a SnapshotRequest answered with GuestReply once the
 * snapshot is written or with an Error carrying the reason, requests it does
 * not serve and relative paths refused without anything being done, one
 * client at a time, and a worker out of file descriptors idling until it can
 * take the connection that waits. The worker's loop runs on its own thread, as
 * in vmmd. */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ignition.pb-c.h"
#include "unit.h"
#include "unixsock.h"
#include "wire.h"
#include "worker/worker_control.h"

#define TIMEOUT_MS 5000

static char dir[64], sock_path[128];
static struct event_base *base;
static struct worker_control *control;
static pthread_t loop_thread;

/* The fake snapshot: what it was asked, and what it answers. */
static char asked_path[256];
static int calls;
static const char *fail_with; /* NULL: the snapshot succeeds */

static int fake_snapshot(void *opaque, const char *path, char *err, size_t err_len)
{
    ck_assert_ptr_eq(opaque, &calls);
    calls++;
    snprintf(asked_path, sizeof(asked_path), "%s", path);
    if (fail_with) {
        snprintf(err, err_len, "%s", fail_with);
        return -1;
    }
    return 0;
}

static void *run_loop(void *arg)
{
    (void)arg;
    event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void setup(void)
{
    ck_assert_int_eq(evthread_use_pthreads(), 0);
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-control-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/control.sock", dir);
    base = event_base_new();
    calls = 0;
    asked_path[0] = '\0';
    fail_with = NULL;
    struct worker_control_ops ops = {.snapshot = fake_snapshot, .opaque = &calls};
    char err[256];
    control = worker_control_create(base, sock_path, &ops, err, sizeof(err));
    ck_assert_msg(control != NULL, "%s", err);
    ck_assert_int_eq(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
}

static void teardown(void)
{
    event_base_loopbreak(base);
    pthread_join(loop_thread, NULL);
    worker_control_destroy(control);
    ck_assert_int_eq(access(sock_path, F_OK), -1); /* the socket is removed */
    event_base_free(base);
    rmdir(dir);
}

static int connect_greeted(void)
{
    char err[256];
    int fd = unixsock_connect(sock_path, err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    ck_assert_msg(wire_client_handshake(fd, "unit", TIMEOUT_MS, NULL, err, sizeof(err)) == 0,
                  "%s", err);
    return fd;
}

static Ignition__Envelope *exchange(int fd, Ignition__Envelope *request)
{
    ck_assert_int_eq(wire_send(fd, request, NULL, 0), 0);
    Ignition__Envelope *reply = NULL;
    ck_assert_int_eq(wire_recv(fd, &reply, NULL, NULL, TIMEOUT_MS), 0);
    return reply;
}

static Ignition__Envelope *snapshot(int fd, const char *path)
{
    Ignition__SnapshotRequest req = IGNITION__SNAPSHOT_REQUEST__INIT;
    req.name = "guest";
    req.path = (char *)path;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_SNAPSHOT;
    env.snapshot = &req;
    return exchange(fd, &env);
}

static void assert_error(Ignition__Envelope *reply, Ignition__Error__Code code, const char *text)
{
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(reply->error->code, code);
    ck_assert_msg(strstr(reply->error->message, text), "error '%s' does not say '%s'",
                  reply->error->message, text);
    ignition__envelope__free_unpacked(reply, NULL);
}

START_TEST(snapshot_answered_with_guest_reply)
{
    int fd = connect_greeted();
    Ignition__Envelope *reply = snapshot(fd, "/var/snapshots/one");
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_GUEST);
    ignition__envelope__free_unpacked(reply, NULL);
    ck_assert_int_eq(calls, 1);
    ck_assert_str_eq(asked_path, "/var/snapshots/one");
    /* The connection serves the next request too. */
    reply = snapshot(fd, "/var/snapshots/two");
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_GUEST);
    ignition__envelope__free_unpacked(reply, NULL);
    ck_assert_int_eq(calls, 2);
    ck_assert_str_eq(asked_path, "/var/snapshots/two");
    close(fd);
}
END_TEST

START_TEST(failed_snapshot_answered_with_its_reason)
{
    fail_with = "disk 0: no space left on device";
    int fd = connect_greeted();
    assert_error(snapshot(fd, "/var/snapshots/one"), IGNITION__ERROR__CODE__CODE_INTERNAL,
                 "disk 0: no space left on device");
    ck_assert_int_eq(calls, 1);
    close(fd);
}
END_TEST

START_TEST(relative_or_empty_path_refused)
{
    int fd = connect_greeted();
    assert_error(snapshot(fd, "snapshots/one"), IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                 "absolute");
    assert_error(snapshot(fd, ""), IGNITION__ERROR__CODE__CODE_BAD_REQUEST, "absolute");
    char *long_path = malloc(5000);
    memset(long_path, 'a', 4999);
    long_path[0] = '/';
    long_path[4999] = '\0';
    assert_error(snapshot(fd, long_path), IGNITION__ERROR__CODE__CODE_BAD_REQUEST, "longer");
    free(long_path);
    ck_assert_int_eq(calls, 0);
    close(fd);
}
END_TEST

START_TEST(other_requests_unsupported)
{
    int fd = connect_greeted();
    Ignition__RestoreRequest req = IGNITION__RESTORE_REQUEST__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_RESTORE;
    env.restore = &req;
    assert_error(exchange(fd, &env), IGNITION__ERROR__CODE__CODE_UNSUPPORTED, "snapshot");
    ck_assert_int_eq(calls, 0);
    close(fd);
}
END_TEST

START_TEST(request_before_hello_refused)
{
    char err[256];
    int fd = unixsock_connect(sock_path, err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    Ignition__SnapshotRequest req = IGNITION__SNAPSHOT_REQUEST__INIT;
    req.path = "/var/snapshots/one";
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_SNAPSHOT;
    env.snapshot = &req;
    assert_error(exchange(fd, &env), IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "");
    ck_assert_int_eq(calls, 0);
    close(fd);
}
END_TEST

START_TEST(second_client_turned_away)
{
    int first = connect_greeted();
    char err[256];
    int second = unixsock_connect(sock_path, err, sizeof(err));
    ck_assert_msg(second >= 0, "%s", err);
    Ignition__Envelope *reply = NULL;
    ck_assert_int_eq(wire_recv(second, &reply, NULL, NULL, TIMEOUT_MS), 0);
    assert_error(reply, IGNITION__ERROR__CODE__CODE_BAD_STATE, "client already");
    close(second);
    /* The first still works, and once it leaves another may come. */
    reply = snapshot(first, "/var/snapshots/one");
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_GUEST);
    ignition__envelope__free_unpacked(reply, NULL);
    close(first);
    usleep(50000); /* for the worker to see it go */
    int third = connect_greeted();
    reply = snapshot(third, "/var/snapshots/two");
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_GUEST);
    ignition__envelope__free_unpacked(reply, NULL);
    close(third);
}
END_TEST

START_TEST(garbage_frame_refused)
{
    char err[256];
    int fd = unixsock_connect(sock_path, err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    const uint8_t garbage[] = {5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(write(fd, garbage, sizeof(garbage)), (ssize_t)sizeof(garbage));
    Ignition__Envelope *reply = NULL;
    ck_assert_int_eq(wire_recv(fd, &reply, NULL, NULL, TIMEOUT_MS), 0);
    assert_error(reply, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, "bad message");
    close(fd);
}
END_TEST

static double cpu_seconds(void)
{
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Out of descriptors, a connection waits in the backlog and keeps the socket
 * readable: the worker's loop must idle (not retry accept() at once, over and
 * over) and take the connection once descriptors are free. */
START_TEST(out_of_descriptors_idles_then_serves)
{
    struct rlimit saved, low;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = (struct rlimit){.rlim_cur = 64, .rlim_max = saved.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fillers[64], n = 0;
    for (int fd; n < 64 && (fd = dup(STDIN_FILENO)) >= 0;)
        fillers[n++] = fd;
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_gt(n, 0);
    close(fillers[--n]); /* the one the waiting client takes */
    char err[256];
    int waiting = unixsock_connect(sock_path, err, sizeof(err));
    ck_assert_msg(waiting >= 0, "%s", err);

    double before = cpu_seconds();
    usleep(1500 * 1000);
    double used = cpu_seconds() - before;
    ck_assert_msg(used < 0.2, "the loop used %.2f s of CPU in 1.5 s while out of descriptors",
                  used);

    while (n > 0)
        close(fillers[--n]);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert_msg(wire_client_handshake(waiting, "unit", TIMEOUT_MS, NULL, err, sizeof(err)) == 0,
                  "the waiting client was not served: %s", err);
    Ignition__Envelope *reply = snapshot(waiting, "/var/snapshots/one");
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_GUEST);
    ignition__envelope__free_unpacked(reply, NULL);
    close(waiting);
}
END_TEST

static Suite *worker_control_suite(void)
{
    Suite *s = suite_create("worker_control");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, snapshot_answered_with_guest_reply);
    tcase_add_test(tc, failed_snapshot_answered_with_its_reason);
    tcase_add_test(tc, relative_or_empty_path_refused);
    tcase_add_test(tc, other_requests_unsupported);
    tcase_add_test(tc, request_before_hello_refused);
    tcase_add_test(tc, second_client_turned_away);
    tcase_add_test(tc, garbage_frame_refused);
    tcase_add_test(tc, out_of_descriptors_idles_then_serves);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(worker_control_suite());
}
