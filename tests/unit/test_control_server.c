/* The control server vmmd and every worker serve their sockets with
 * (proto/control_server.h), with an owner whose answers come later: a client
 * that shut its side after asking still gets its answer, then is closed; a
 * second request while one waits is refused as one too many and the first is
 * still answered; clients past the limit are turned away with the owner's
 * code and reason; and the owner hears of every client it took, with its own
 * data, once it goes. The loop runs on its own thread, as in vmmd. */
#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control_server.h"
#include "ignition.pb-c.h"
#include "unit.h"
#include "unixsock.h"
#include "wire.h"

#define TIMEOUT_MS 5000
#define MAX_CLIENTS 2

static char dir[64], sock_path[128];
static struct event_base *base;
static struct control_server *server;
static pthread_t loop_thread;

/* The owner: every List waits for the test to answer it; Status is answered
 * at once. What it was told, under its lock (the loop's thread writes it). */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct control_conn *waiting_conn;
static int opened, closed, closed_with_own_data;
static int tokens[16];

static void *on_opened(void *opaque, struct control_conn *conn)
{
    (void)opaque, (void)conn;
    pthread_mutex_lock(&lock);
    int *token = &tokens[opened++ % 16];
    pthread_mutex_unlock(&lock);
    return token;
}

static void on_closed(void *opaque, struct control_conn *conn, void *data)
{
    (void)opaque;
    pthread_mutex_lock(&lock);
    closed++;
    closed_with_own_data += data == control_conn_data(conn) && data != NULL;
    if (conn == waiting_conn)
        waiting_conn = NULL;
    pthread_mutex_unlock(&lock);
}

static void reply_list(struct control_conn *conn)
{
    Ignition__GuestList list = IGNITION__GUEST_LIST__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_GUEST_LIST;
    env.guest_list = &list;
    control_conn_reply(conn, &env);
}

static void on_request(void *opaque, struct control_conn *conn, const Ignition__Envelope *env)
{
    (void)opaque;
    if (env->body_case == IGNITION__ENVELOPE__BODY_LIST) {
        pthread_mutex_lock(&lock);
        waiting_conn = conn;
        pthread_mutex_unlock(&lock);
        control_conn_wait(conn, true);
        return;
    }
    control_conn_error(conn, IGNITION__ERROR__CODE__CODE_NOT_FOUND, "no such guest");
}

/* On the loop's thread, as vmmd answers when a guest settles. */
static void answer_waiting(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    pthread_mutex_lock(&lock);
    struct control_conn *conn = waiting_conn;
    waiting_conn = NULL;
    pthread_mutex_unlock(&lock);
    ck_assert_ptr_nonnull(conn);
    reply_list(conn);
}

static void answer_later(void)
{
    struct timeval now = {0};
    ck_assert_int_eq(event_base_once(base, -1, EV_TIMEOUT, answer_waiting, NULL, &now), 0);
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
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-server-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/control.sock", dir);
    base = event_base_new();
    opened = closed = closed_with_own_data = 0;
    waiting_conn = NULL;
    const struct control_server_options options = {
        .who = "test server", .max_clients = MAX_CLIENTS,
        .full_code = IGNITION__ERROR__CODE__CODE_BAD_STATE,
        .full_message = "the test server is full", .queue_limit = 1u << 16,
    };
    const struct control_server_ops ops = {.opened = on_opened, .request = on_request,
                                           .closed = on_closed};
    char err[256];
    server = control_server_create(base, sock_path, &options, &ops, err, sizeof(err));
    ck_assert_msg(server != NULL, "%s", err);
    ck_assert_int_eq(pthread_create(&loop_thread, NULL, run_loop, NULL), 0);
}

static void teardown(void)
{
    event_base_loopbreak(base);
    pthread_join(loop_thread, NULL);
    control_server_destroy(server);
    ck_assert_int_eq(access(sock_path, F_OK), -1);
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

static void send_body(int fd, Ignition__Envelope__BodyCase which)
{
    Ignition__ListRequest list = IGNITION__LIST_REQUEST__INIT;
    Ignition__StatusRequest status = IGNITION__STATUS_REQUEST__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = which;
    if (which == IGNITION__ENVELOPE__BODY_LIST)
        env.list = &list;
    else
        env.status = &status;
    ck_assert_int_eq(wire_send(fd, &env, NULL, 0), 0);
}

static Ignition__Envelope__BodyCase receive(int fd, Ignition__Error__Code *code)
{
    Ignition__Envelope *reply = NULL;
    ck_assert_int_eq(wire_recv(fd, &reply, NULL, NULL, TIMEOUT_MS), 0);
    Ignition__Envelope__BodyCase which = reply->body_case;
    if (which == IGNITION__ENVELOPE__BODY_ERROR && code)
        *code = reply->error->code;
    ignition__envelope__free_unpacked(reply, NULL);
    return which;
}

/* Waits for the server to say the request is waiting (its handler ran). */
static void wait_for_waiting(void)
{
    for (int i = 0; i < TIMEOUT_MS; i++) {
        pthread_mutex_lock(&lock);
        bool there = waiting_conn != NULL;
        pthread_mutex_unlock(&lock);
        if (there)
            return;
        usleep(1000);
    }
    ck_abort_msg("the request never reached its handler");
}

static int count(int *what)
{
    pthread_mutex_lock(&lock);
    int n = *what;
    pthread_mutex_unlock(&lock);
    return n;
}

static void wait_for_closed(int n)
{
    for (int i = 0; i < TIMEOUT_MS && count(&closed) < n; i++)
        usleep(1000);
    ck_assert_int_eq(count(&closed), n);
}

START_TEST(answer_reaches_a_client_that_shut_its_side)
{
    int fd = connect_greeted();
    send_body(fd, IGNITION__ENVELOPE__BODY_LIST);
    wait_for_waiting();
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    usleep(20000); /* the server sees the shutdown before the answer */
    answer_later();
    ck_assert_int_eq(receive(fd, NULL), IGNITION__ENVELOPE__BODY_GUEST_LIST);
    Ignition__Envelope *more = NULL;
    ck_assert_int_lt(wire_recv(fd, &more, NULL, NULL, TIMEOUT_MS), 0); /* then closed */
    close(fd);
    wait_for_closed(1);
    ck_assert_int_eq(count(&closed_with_own_data), 1);
}
END_TEST

START_TEST(second_request_while_waiting_is_refused)
{
    int fd = connect_greeted();
    send_body(fd, IGNITION__ENVELOPE__BODY_LIST);
    wait_for_waiting();
    send_body(fd, IGNITION__ENVELOPE__BODY_STATUS);
    Ignition__Error__Code code = 0;
    ck_assert_int_eq(receive(fd, &code), IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(code, IGNITION__ERROR__CODE__CODE_BAD_REQUEST);
    answer_later();
    ck_assert_int_eq(receive(fd, NULL), IGNITION__ENVELOPE__BODY_GUEST_LIST);
    send_body(fd, IGNITION__ENVELOPE__BODY_STATUS); /* free to ask again */
    ck_assert_int_eq(receive(fd, &code), IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(code, IGNITION__ERROR__CODE__CODE_NOT_FOUND);
    close(fd);
    wait_for_closed(1);
}
END_TEST

START_TEST(clients_past_the_limit_are_turned_away)
{
    int fds[MAX_CLIENTS];
    for (int i = 0; i < MAX_CLIENTS; i++)
        fds[i] = connect_greeted();
    char err[256];
    int extra = unixsock_connect(sock_path, err, sizeof(err));
    ck_assert_msg(extra >= 0, "%s", err);
    Ignition__Envelope *reply = NULL;
    ck_assert_int_eq(wire_recv(extra, &reply, NULL, NULL, TIMEOUT_MS), 0);
    ck_assert_int_eq(reply->body_case, IGNITION__ENVELOPE__BODY_ERROR);
    ck_assert_int_eq(reply->error->code, IGNITION__ERROR__CODE__CODE_BAD_STATE);
    ck_assert_str_eq(reply->error->message, "the test server is full");
    ignition__envelope__free_unpacked(reply, NULL);
    close(extra);
    ck_assert_int_eq(count(&opened), MAX_CLIENTS); /* the owner never saw it */
    for (int i = 0; i < MAX_CLIENTS; i++)
        close(fds[i]);
    wait_for_closed(MAX_CLIENTS);
    ck_assert_int_eq(count(&closed_with_own_data), MAX_CLIENTS);
}
END_TEST

static Suite *control_server_suite(void)
{
    Suite *s = suite_create("control_server");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, answer_reaches_a_client_that_shut_its_side);
    tcase_add_test(tc, second_request_while_waiting_is_refused);
    tcase_add_test(tc, clients_past_the_limit_are_turned_away);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(control_server_suite());
}
