/* standby: a worker's command line and its two descriptors cross the socket
 * whole; the descriptors that arrive are the ones sent (what is written to
 * them comes out of the originals); the socket's end is "no request"; and a
 * request cut short, without its descriptors, or with arguments that are not
 * NUL-terminated strings is refused, with any descriptor that came closed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "supervisor/standby.h"
#include "unit.h"

static int sv[2];
static char err[256];

static void setup(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    err[0] = '\0';
}

static void teardown(void)
{
    close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
}

static void expect_pipe_carries(int write_end_received, int read_end)
{
    ck_assert_int_eq(write(write_end_received, "hi", 2), 2);
    char buf[4] = {0};
    ck_assert_int_eq(read(read_end, buf, sizeof(buf)), 2);
    ck_assert_str_eq(buf, "hi");
}

START_TEST(test_request_round_trip)
{
    int log_pipe[2], ready_pipe[2];
    ck_assert_int_eq(pipe(log_pipe), 0);
    ck_assert_int_eq(pipe(ready_pipe), 0);
    char *argv[] = {"/usr/bin/vmmd", "run", "--guest", "demo", "--append", "", NULL};
    ck_assert_int_eq(standby_send(sv[0], argv, log_pipe[1], ready_pipe[1]), 0);
    struct standby_request req;
    ck_assert_int_eq(standby_receive(sv[1], &req, err, sizeof(err)), 1);
    ck_assert_int_eq(req.argc, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(req.argv[i], argv[i]);
    ck_assert_ptr_null(req.argv[6]);
    ck_assert_int_ne(req.log_fd, log_pipe[1]); /* a new descriptor, the same pipe */
    expect_pipe_carries(req.log_fd, log_pipe[0]);
    expect_pipe_carries(req.ready_fd, ready_pipe[0]);
    close(req.log_fd);
    close(req.ready_fd);
    standby_request_free(&req);
    for (int i = 0; i < 2; i++) {
        close(log_pipe[i]);
        close(ready_pipe[i]);
    }
}
END_TEST

START_TEST(test_end_of_socket_is_no_request)
{
    close(sv[0]);
    sv[0] = open("/dev/null", O_RDONLY); /* teardown closes something */
    struct standby_request req;
    ck_assert_int_eq(standby_receive(sv[1], &req, err, sizeof(err)), 0);
}
END_TEST

START_TEST(test_request_without_descriptors_is_refused)
{
    uint8_t header[4] = {4, 0, 0, 0};
    ck_assert_int_eq(write(sv[0], header, 4), 4);
    ck_assert_int_eq(write(sv[0], "a\0b\0", 4), 4);
    struct standby_request req;
    ck_assert_int_eq(standby_receive(sv[1], &req, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "malformed"));
}
END_TEST

/* A request whose arguments stop short: the descriptors that came are closed. */
START_TEST(test_cut_short_request_closes_what_came)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    char *argv[] = {"vmmd", "run", NULL};
    ck_assert_int_eq(standby_send(sv[0], argv, p[1], p[1]), 0);
    struct standby_request first;
    ck_assert_int_eq(standby_receive(sv[1], &first, err, sizeof(err)), 1);
    close(first.log_fd);
    close(first.ready_fd);
    standby_request_free(&first);
    /* Now a header announcing 100 bytes, then only 3, then the end. */
    uint8_t header[4] = {100, 0, 0, 0};
    struct iovec iov = {.iov_base = header, .iov_len = 4};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    int fds[2] = {p[1], p[1]};
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    ck_assert_int_eq(sendmsg(sv[0], &msg, 0), 4);
    ck_assert_int_eq(write(sv[0], "ab\0", 3), 3);
    close(p[1]);
    close(sv[0]);
    sv[0] = open("/dev/null", O_RDONLY);
    struct standby_request req;
    ck_assert_int_eq(standby_receive(sv[1], &req, err, sizeof(err)), -1);
    /* Every write end is closed now, ours and the received ones: end of file. */
    char buf[1];
    ck_assert_int_eq(read(p[0], buf, 1), 0);
    close(p[0]);
}
END_TEST

START_TEST(test_argument_blocks)
{
    int argc;
    char **argv;
    ck_assert_int_eq(standby_decode_args((const uint8_t *)"a\0b\0", 4, &argc, &argv), 0);
    ck_assert_int_eq(argc, 2);
    ck_assert_str_eq(argv[1], "b");
    free(argv);
    /* Not NUL-terminated, a single string, nothing at all. */
    ck_assert_int_eq(standby_decode_args((const uint8_t *)"a\0b", 3, &argc, &argv), -1);
    ck_assert_int_eq(standby_decode_args((const uint8_t *)"ab\0", 3, &argc, &argv), -1);
    ck_assert_int_eq(standby_decode_args((const uint8_t *)"", 0, &argc, &argv), -1);
    /* Too many arguments. */
    size_t n = STANDBY_MAX_ARGS + 1;
    uint8_t *many = calloc(n * 2, 1);
    for (size_t i = 0; i < n; i++)
        many[2 * i] = 'x';
    ck_assert_int_eq(standby_decode_args(many, n * 2, &argc, &argv), -1);
    ck_assert_int_eq(standby_decode_args(many, (n - 1) * 2, &argc, &argv), 0);
    ck_assert_int_eq(argc, STANDBY_MAX_ARGS);
    free(argv);
    free(many);
}
END_TEST

START_TEST(test_send_refuses_too_much)
{
    char *argv[STANDBY_MAX_ARGS + 2];
    for (int i = 0; i < STANDBY_MAX_ARGS + 1; i++)
        argv[i] = "x";
    argv[STANDBY_MAX_ARGS + 1] = NULL;
    ck_assert_int_eq(standby_send(sv[0], argv, 0, 0), -E2BIG);
}
END_TEST

static Suite *standby_suite(void)
{
    Suite *s = suite_create("standby");
    TCase *tc = tcase_create("standby");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_request_round_trip);
    tcase_add_test(tc, test_end_of_socket_is_no_request);
    tcase_add_test(tc, test_request_without_descriptors_is_refused);
    tcase_add_test(tc, test_cut_short_request_closes_what_came);
    tcase_add_test(tc, test_argument_blocks);
    tcase_add_test(tc, test_send_refuses_too_much);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(standby_suite());
}
