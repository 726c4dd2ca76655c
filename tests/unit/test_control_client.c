/* control_client: how vmmctl and ignition-view reach vmmd. Against a fake
 * vmmd thread: the socket is where paths.h says, a vmmd that is not there is
 * one clear line, an Error reply becomes its code and message, and Attach
 * answers become a socket path or a sentence a person can act on. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control_client.h"
#include "unit.h"
#include "unixsock.h"
#include "wire.h"

static char home[64], sock_path[128];
static char err[256];

static void setup(void)
{
    snprintf(home, sizeof(home), "/tmp/ignition-test-ctl-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(home));
    ck_assert_int_eq(setenv("IGNITION_HOME", home, 1), 0);
    snprintf(sock_path, sizeof(sock_path), "%s/run/vmmd.sock", home);
    err[0] = '\0';
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- a fake vmmd -------------------------------------------------------------------- */

struct fake_vmmd {
    int listen_fd;
    unsigned requests;
    char last_stop[64];
    pthread_t thread;
};

static void reply_guest(int fd, const char *name, Ignition__GuestInfo__State state,
                        const char *display, const char *console)
{
    Ignition__GuestInfo info = IGNITION__GUEST_INFO__INIT;
    info.name = (char *)name;
    info.state = state;
    info.display_socket = (char *)display;
    info.console_socket = (char *)console;
    Ignition__GuestReply reply = IGNITION__GUEST_REPLY__INIT;
    reply.guest = &info;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_GUEST;
    env.guest = &reply;
    wire_send(fd, &env, NULL, 0);
}

static void answer_attach(int fd, const char *name)
{
    const Ignition__GuestInfo__State running = IGNITION__GUEST_INFO__STATE__STATE_RUNNING;
    if (!strcmp(name, "demo"))
        reply_guest(fd, name, running, "/run/demo.display", "/run/demo.console");
    else if (!strcmp(name, "headless"))
        reply_guest(fd, name, running, "", "/run/headless.console");
    else if (!strcmp(name, "off"))
        reply_guest(fd, name, IGNITION__GUEST_INFO__STATE__STATE_STOPPED, "", "");
    else if (!strcmp(name, "silent"))
        return;
    else
        wire_send_error(fd, IGNITION__ERROR__CODE__CODE_NOT_FOUND, "no such guest");
}

static void answer(struct fake_vmmd *f, int fd, const Ignition__Envelope *req)
{
    switch (req->body_case) {
    case IGNITION__ENVELOPE__BODY_ATTACH:
        answer_attach(fd, req->attach->name);
        break;
    case IGNITION__ENVELOPE__BODY_CONSOLE_ATTACH:
        answer_attach(fd, req->console_attach->name);
        break;
    case IGNITION__ENVELOPE__BODY_STOP:
        snprintf(f->last_stop, sizeof(f->last_stop), "%s%s", req->stop->name,
                 req->stop->force ? " forced" : "");
        reply_guest(fd, req->stop->name, IGNITION__GUEST_INFO__STATE__STATE_STOPPING, "", "");
        break;
    default:
        wire_send_error(fd, IGNITION__ERROR__CODE__CODE_UNSUPPORTED,
                        "arrives with snapshots\x1b[31m");
        break;
    }
}

static void *vmmd_main(void *arg)
{
    struct fake_vmmd *f = arg;
    struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1)
        return NULL;
    int fd = unixsock_accept(f->listen_fd);
    if (fd < 0)
        return NULL;
    Ignition__Envelope *env;
    char why[128];
    if (wire_recv(fd, &env, NULL, NULL, 5000) == 0) {
        bool ok = wire_hello_check(env, why, sizeof(why));
        ignition__envelope__free_unpacked(env, NULL);
        Ignition__Welcome w = IGNITION__WELCOME__INIT;
        w.protocol_version = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
        w.server_version = "test";
        Ignition__Envelope welcome = IGNITION__ENVELOPE__INIT;
        welcome.body_case = IGNITION__ENVELOPE__BODY_WELCOME;
        welcome.welcome = &w;
        if (ok)
            wire_send(fd, &welcome, NULL, 0);
        while (ok && wire_recv(fd, &env, NULL, NULL, 5000) == 0) {
            f->requests++;
            answer(f, fd, env);
            ignition__envelope__free_unpacked(env, NULL);
        }
    }
    close(fd);
    return NULL;
}

static struct fake_vmmd vmmd;

static void vmmd_start(void)
{
    memset(&vmmd, 0, sizeof(vmmd));
    vmmd.listen_fd = unixsock_listen(sock_path, err, sizeof(err));
    ck_assert_msg(vmmd.listen_fd >= 0, "%s", err);
    ck_assert_int_eq(pthread_create(&vmmd.thread, NULL, vmmd_main, &vmmd), 0);
}

static void vmmd_finish(int client_fd)
{
    close(client_fd);
    pthread_join(vmmd.thread, NULL);
    close(vmmd.listen_fd);
}

static int connect_ok(void)
{
    int fd = control_connect("test", err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    return fd;
}

/* ---- tests --------------------------------------------------------------------------- */

START_TEST(test_socket_path_in_run_dir)
{
    char path[256];
    ck_assert_int_eq(control_socket_path(path, sizeof(path), err, sizeof(err)), 0);
    ck_assert_str_eq(path, sock_path);
}
END_TEST

START_TEST(test_not_running)
{
    ck_assert_int_eq(control_connect("test", err, sizeof(err)), -ECONNREFUSED);
    ck_assert_str_eq(err, "vmmd is not running (vmmctl start NAME starts it)");
    /* A socket file left by a vmmd that died says the same. */
    int listen_fd = unixsock_listen(sock_path, err, sizeof(err));
    ck_assert_int_ge(listen_fd, 0);
    close(listen_fd);
    ck_assert_int_eq(control_connect("test", err, sizeof(err)), -ECONNREFUSED);
    ck_assert_str_eq(err, CONTROL_NOT_RUNNING);
}
END_TEST

START_TEST(test_display_socket_of_guest)
{
    vmmd_start();
    int fd = connect_ok();
    char path[128];
    ck_assert_int_eq(control_guest_socket(fd, "demo", CONTROL_DISPLAY_SOCKET, path, sizeof(path),
                                          err, sizeof(err)),
                     0);
    ck_assert_str_eq(path, "/run/demo.display");
    ck_assert_int_eq(control_guest_socket(fd, "demo", CONTROL_CONSOLE_SOCKET, path, sizeof(path),
                                          err, sizeof(err)),
                     0);
    ck_assert_str_eq(path, "/run/demo.console");
    /* A path longer than the caller's room is refused, not cut. */
    char small[8];
    ck_assert_int_eq(control_guest_socket(fd, "demo", CONTROL_DISPLAY_SOCKET, small,
                                          sizeof(small), err, sizeof(err)),
                     -ENAMETOOLONG);
    vmmd_finish(fd);
    ck_assert_uint_eq(vmmd.requests, 3);
}
END_TEST

START_TEST(test_guest_errors_are_actionable)
{
    vmmd_start();
    int fd = connect_ok();
    char path[128];
    ck_assert_int_eq(control_guest_socket(fd, "nope", CONTROL_DISPLAY_SOCKET, path, sizeof(path),
                                          err, sizeof(err)),
                     IGNITION__ERROR__CODE__CODE_NOT_FOUND);
    ck_assert_str_eq(err, "no guest named nope (vmmctl list shows the guests)");
    ck_assert_int_eq(control_guest_socket(fd, "headless", CONTROL_DISPLAY_SOCKET, path,
                                          sizeof(path), err, sizeof(err)),
                     IGNITION__ERROR__CODE__CODE_UNSUPPORTED);
    ck_assert_str_eq(err, "guest headless has no display (started with --no-gui)");
    ck_assert_int_eq(control_guest_socket(fd, "off", CONTROL_DISPLAY_SOCKET, path, sizeof(path),
                                          err, sizeof(err)),
                     IGNITION__ERROR__CODE__CODE_BAD_STATE);
    ck_assert_str_eq(err, "guest off is not running (vmmctl start off starts it)");
    vmmd_finish(fd);
}
END_TEST

START_TEST(test_call_returns_reply_or_error)
{
    vmmd_start();
    int fd = connect_ok();
    Ignition__StopRequest stop = IGNITION__STOP_REQUEST__INIT;
    stop.name = "demo";
    Ignition__Envelope req = IGNITION__ENVELOPE__INIT;
    req.body_case = IGNITION__ENVELOPE__BODY_STOP;
    req.stop = &stop;
    Ignition__Envelope *reply;
    ck_assert_int_eq(control_call(fd, &req, &reply, 5000, err, sizeof(err)), 0);
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_GUEST);
    ck_assert_int_eq(reply->guest->guest->state, IGNITION__GUEST_INFO__STATE__STATE_STOPPING);
    ignition__envelope__free_unpacked(reply, NULL);
    /* An Error: its code, and its message made safe for a terminal. */
    Ignition__ListRequest list = IGNITION__LIST_REQUEST__INIT;
    req.body_case = IGNITION__ENVELOPE__BODY_LIST;
    req.list = &list;
    ck_assert_int_eq(control_call(fd, &req, &reply, 5000, err, sizeof(err)),
                     IGNITION__ERROR__CODE__CODE_UNSUPPORTED);
    ck_assert_ptr_null(reply);
    ck_assert_str_eq(err, "arrives with snapshots");
    vmmd_finish(fd);
    ck_assert_str_eq(vmmd.last_stop, "demo");
}
END_TEST

START_TEST(test_call_times_out)
{
    vmmd_start();
    int fd = connect_ok();
    Ignition__AttachRequest attach = IGNITION__ATTACH_REQUEST__INIT;
    attach.name = "silent";
    Ignition__Envelope req = IGNITION__ENVELOPE__INIT;
    req.body_case = IGNITION__ENVELOPE__BODY_ATTACH;
    req.attach = &attach;
    Ignition__Envelope *reply;
    ck_assert_int_eq(control_call(fd, &req, &reply, 100, err, sizeof(err)), -ETIMEDOUT);
    ck_assert_str_eq(err, "vmmd did not answer within 100 ms");
    vmmd_finish(fd);
}
END_TEST

START_TEST(test_vmmd_gone_mid_call)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    Ignition__ListRequest list = IGNITION__LIST_REQUEST__INIT;
    Ignition__Envelope req = IGNITION__ENVELOPE__INIT;
    req.body_case = IGNITION__ENVELOPE__BODY_LIST;
    req.list = &list;
    Ignition__Envelope *reply;
    int rc = control_call(sv[0], &req, &reply, 1000, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strstr(err, "vmmd"), "%s", err);
    close(sv[0]);
}
END_TEST

static Suite *control_client_suite(void)
{
    Suite *s = suite_create("control_client");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_socket_path_in_run_dir);
    tcase_add_test(tc, test_not_running);
    tcase_add_test(tc, test_display_socket_of_guest);
    tcase_add_test(tc, test_guest_errors_are_actionable);
    tcase_add_test(tc, test_call_returns_reply_or_error);
    tcase_add_test(tc, test_call_times_out);
    tcase_add_test(tc, test_vmmd_gone_mid_call);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(control_client_suite());
}
