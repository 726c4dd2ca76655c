/* console_host: the serial console's host end as console clients and the log
 * see it, in one process: output fanned out to every client from the moment it
 * attaches, typed bytes delivered (held back while the guest has no room, never
 * lost), the log rotated at its limit keeping two generations, peers of another
 * uid and clients beyond the limit refused with a reason, and a client that
 * does not read losing output without holding anyone up. */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/console_host.h"
#include "unit.h"
#include "unixsock.h"

static char dir[64], sock_path[128], log_path[128];
static struct event_base *base;
static struct console_host *host;

/* The guest's side of input: what it took, and how much more it takes now. */
static uint8_t typed[65536];
static size_t typed_len;
static size_t room;

static size_t test_input_room(void *opaque)
{
    (void)opaque;
    return room;
}

static void test_input(void *opaque, const uint8_t *data, size_t len)
{
    (void)opaque;
    ck_assert_uint_le(len, room);
    ck_assert_uint_le(typed_len + len, sizeof(typed));
    memcpy(typed + typed_len, data, len);
    typed_len += len;
    room -= len;
}

static struct console_host_options options(void)
{
    return (struct console_host_options){
        .socket_path = sock_path, .log_path = log_path,
        .log_limit = CONSOLE_HOST_LOG_LIMIT, .client_buffer = CONSOLE_HOST_CLIENT_BUFFER,
        .allowed_uid = getuid(), .input_room = test_input_room, .input = test_input,
    };
}

static void start(const struct console_host_options *o)
{
    char err[256];
    host = console_host_create(base, o, err, sizeof(err));
    ck_assert_msg(host != NULL, "%s", err);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-console-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/guest.console", dir);
    snprintf(log_path, sizeof(log_path), "%s/console.log", dir);
    base = event_base_new();
    host = NULL;
    typed_len = 0;
    room = sizeof(typed);
}

static void teardown(void)
{
    console_host_destroy(host);
    ck_assert_int_eq(access(sock_path, F_OK), -1); /* the socket is removed */
    event_base_free(base);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Lets the host do whatever is pending: accept, read, write. */
static void spin(void)
{
    for (int i = 0; i < 10; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(500);
    }
}

static int attach(void)
{
    char err[256];
    int fd = unixsock_connect(sock_path, err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    spin();
    return fd;
}

static void output(const char *text)
{
    console_host_output(host, (const uint8_t *)text, strlen(text));
}

/* Everything the client can read now, after letting the host run. */
static size_t drain(int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (int quiet = 0; quiet < 3;) {
        spin();
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
            quiet = 0;
        } else {
            quiet++;
        }
        if (n == 0 || got == cap)
            break;
    }
    return got;
}

static void expect_text(int fd, const char *text)
{
    char buf[4096];
    size_t n = drain(fd, (uint8_t *)buf, sizeof(buf) - 1);
    buf[n] = '\0';
    ck_assert_str_eq(buf, text);
}

/* The refusal line, then end of file. */
static void expect_refused(int fd, const char *why)
{
    char buf[512];
    size_t n = drain(fd, (uint8_t *)buf, sizeof(buf) - 1);
    buf[n] = '\0';
    ck_assert_str_eq(buf, why);
    ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);
}

static void expect_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    char buf[4096];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    ck_assert_str_eq(buf, text);
}

START_TEST(test_output_reaches_every_client_from_attach_on)
{
    struct console_host_options o = options();
    start(&o);
    int a = attach(), b = attach();
    ck_assert_uint_eq(console_host_client_count(host), 2);
    output("login: ");
    output("root\r\n");
    expect_text(a, "login: root\r\n");
    expect_text(b, "login: root\r\n");
    int late = attach();
    output("# ");
    expect_text(late, "# ");
    expect_text(a, "# ");
    expect_text(b, "# ");
    ck_assert_uint_eq(console_host_dropped(host), 0);
    close(a);
    spin();
    ck_assert_uint_eq(console_host_client_count(host), 2);
    close(b);
    close(late);
    spin();
    ck_assert_uint_eq(console_host_client_count(host), 0);
}
END_TEST

START_TEST(test_input_from_any_client_is_delivered)
{
    struct console_host_options o = options();
    start(&o);
    int a = attach(), b = attach();
    ck_assert_int_eq(write(a, "echo hi\n", 8), 8);
    spin();
    ck_assert_int_eq(write(b, "ls\n", 3), 3);
    spin();
    ck_assert_uint_eq(typed_len, 11);
    ck_assert_int_eq(memcmp(typed, "echo hi\nls\n", 11), 0);
    close(a);
    close(b);
}
END_TEST

/* While the guest's input path is full nothing is read, so nothing is lost:
 * the rest arrives, in order, once the path has room again. */
START_TEST(test_input_waits_for_room)
{
    struct console_host_options o = options();
    start(&o);
    int a = attach();
    room = 4;
    ck_assert_int_eq(write(a, "0123456789", 10), 10);
    spin();
    ck_assert_uint_eq(typed_len, 4);
    ck_assert_int_eq(memcmp(typed, "0123", 4), 0);
    room = 3;
    spin(); /* no word from the input path yet: the client is not read */
    ck_assert_uint_eq(typed_len, 4);
    console_host_input_ready(host);
    spin();
    ck_assert_uint_eq(typed_len, 7);
    room = 100;
    console_host_input_ready(host);
    spin();
    ck_assert_uint_eq(typed_len, 10);
    ck_assert_int_eq(memcmp(typed, "0123456789", 10), 0);
    close(a);
}
END_TEST

START_TEST(test_log_keeps_everything_and_rotates_at_its_limit)
{
    struct console_host_options o = options();
    o.log_limit = 10;
    start(&o);
    output("aaaa");
    output("bbbb");
    expect_file(log_path, "aaaabbbb");
    output("cccc"); /* 12 > 10: a new file */
    char one[160], two[160], three[160];
    snprintf(one, sizeof(one), "%s.1", log_path);
    snprintf(two, sizeof(two), "%s.2", log_path);
    snprintf(three, sizeof(three), "%s.3", log_path);
    expect_file(one, "aaaabbbb");
    expect_file(log_path, "cccc");
    output("dddddd"); /* exactly 10: still fits */
    expect_file(log_path, "ccccdddddd");
    output("e");
    expect_file(two, "aaaabbbb");
    expect_file(one, "ccccdddddd");
    expect_file(log_path, "e");
    output("0123456789abc"); /* larger than the limit: a file of its own */
    output("f");
    expect_file(two, "e");
    expect_file(one, "0123456789abc");
    expect_file(log_path, "f");
    ck_assert_int_eq(access(three, F_OK), -1); /* two old generations, no more */
}
END_TEST

START_TEST(test_log_appends_to_an_existing_file)
{
    FILE *f = fopen(log_path, "w");
    fputs("before\n", f);
    fclose(f);
    struct console_host_options o = options();
    o.socket_path = NULL; /* the log alone */
    start(&o);
    output("after\n");
    expect_file(log_path, "before\nafter\n");
}
END_TEST

START_TEST(test_other_user_refused)
{
    struct console_host_options o = options();
    o.allowed_uid = getuid() + 1;
    start(&o);
    int a = attach();
    expect_refused(a, "console: this guest belongs to another user\r\n");
    ck_assert_uint_eq(console_host_client_count(host), 0);
    close(a);
}
END_TEST

START_TEST(test_client_limit)
{
    struct console_host_options o = options();
    start(&o);
    int fds[CONSOLE_HOST_MAX_CLIENTS];
    for (int i = 0; i < CONSOLE_HOST_MAX_CLIENTS; i++)
        fds[i] = attach();
    ck_assert_uint_eq(console_host_client_count(host), CONSOLE_HOST_MAX_CLIENTS);
    int extra = attach();
    expect_refused(extra, "console: too many clients attached (16); detach one first\r\n");
    close(extra);
    ck_assert_uint_eq(console_host_client_count(host), CONSOLE_HOST_MAX_CLIENTS);
    close(fds[0]);
    spin();
    fds[0] = attach();
    ck_assert_uint_eq(console_host_client_count(host), CONSOLE_HOST_MAX_CLIENTS);
    output("all\n");
    for (int i = 0; i < CONSOLE_HOST_MAX_CLIENTS; i++) {
        expect_text(fds[i], "all\n");
        close(fds[i]);
    }
}
END_TEST

static uint8_t pattern_at(size_t i)
{
    return (uint8_t)(i % 251); /* no period that divides the chunk sizes */
}

/* One assertion per buffer: Check records every assertion that passes. */
static void assert_pattern(const uint8_t *got, size_t len)
{
    size_t i = 0;
    while (i < len && got[i] == pattern_at(i))
        i++;
    if (i < len)
        ck_abort_msg("byte %zu of %zu is %u, not %u", i, len, got[i], pattern_at(i));
}

/* A client that never reads keeps what fits (the start of the stream) and
 * loses the rest; the output calls never wait for it and a reading client
 * gets every byte. */
START_TEST(test_slow_client_loses_output_without_blocking)
{
    enum { CHUNK = 1024, CHUNKS = 4096, TOTAL = CHUNK * CHUNKS };
    struct console_host_options o = options();
    o.client_buffer = 8192;
    start(&o);
    int slow = attach(), fast = attach();
    uint8_t *got = malloc(TOTAL);
    size_t fast_len = 0;
    uint8_t chunk[CHUNK];
    for (size_t c = 0; c < CHUNKS; c++) {
        for (size_t i = 0; i < CHUNK; i++)
            chunk[i] = pattern_at(c * CHUNK + i);
        console_host_output(host, chunk, CHUNK);
        event_base_loop(base, EVLOOP_NONBLOCK);
        for (;;) {
            ssize_t n = recv(fast, got + fast_len, TOTAL - fast_len, MSG_DONTWAIT);
            if (n <= 0)
                break;
            fast_len += (size_t)n;
        }
    }
    fast_len += drain(fast, got + fast_len, TOTAL - fast_len);
    ck_assert_uint_eq(fast_len, TOTAL);
    assert_pattern(got, TOTAL);

    size_t slow_len = drain(slow, got, TOTAL);
    ck_assert_uint_gt(slow_len, o.client_buffer);
    ck_assert_uint_lt(slow_len, TOTAL);
    assert_pattern(got, slow_len);
    ck_assert_uint_eq(console_host_dropped(host), TOTAL - slow_len);
    /* Still attached, and served again now that it reads. */
    output("more");
    expect_text(slow, "more");
    expect_text(fast, "more");
    free(got);
    close(slow);
    close(fast);
}
END_TEST

struct producer {
    size_t chunks;
};

static void *produce(void *arg)
{
    struct producer *p = arg;
    for (size_t c = 0; c < p->chunks; c++) {
        uint8_t line[16];
        for (size_t i = 0; i < sizeof(line); i++)
            line[i] = pattern_at(c * sizeof(line) + i);
        console_host_output(host, line, sizeof(line));
        usleep(20);
    }
    return NULL;
}

/* Output from another thread (the vCPU's) while the loop runs: the client gets
 * it all, in order, and the log too. */
START_TEST(test_output_from_another_thread)
{
    enum { CHUNKS = 2000, TOTAL = CHUNKS * 16 };
    struct console_host_options o = options();
    start(&o);
    int a = attach();
    struct producer p = {.chunks = CHUNKS};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, produce, &p), 0);
    uint8_t *got = malloc(TOTAL);
    size_t len = 0;
    while (len < TOTAL) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        ssize_t n = recv(a, got + len, TOTAL - len, MSG_DONTWAIT);
        if (n > 0)
            len += (size_t)n;
        else
            usleep(100);
    }
    pthread_join(thread, NULL);
    assert_pattern(got, TOTAL);
    FILE *f = fopen(log_path, "rb");
    ck_assert_uint_eq(fread(got, 1, TOTAL, f), TOTAL);
    fclose(f);
    assert_pattern(got, TOTAL);
    free(got);
    close(a);
}
END_TEST

START_TEST(test_bad_places_refused)
{
    char err[256];
    struct console_host_options o = options();
    snprintf(sock_path, sizeof(sock_path), "%s/missing/deeper/guest.console", dir);
    ck_assert_ptr_null(console_host_create(base, &o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "console socket: ") == err, "%s", err);
    snprintf(sock_path, sizeof(sock_path), "%s/guest.console", dir);
    snprintf(log_path, sizeof(log_path), "%s/no/such/dir/console.log", dir);
    ck_assert_ptr_null(console_host_create(base, &o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);
    snprintf(log_path, sizeof(log_path), "%s/console.log", dir);
}
END_TEST

static Suite *console_host_suite(void)
{
    Suite *s = suite_create("console_host");
    TCase *tc = tcase_create("console_host");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_output_reaches_every_client_from_attach_on);
    tcase_add_test(tc, test_input_from_any_client_is_delivered);
    tcase_add_test(tc, test_input_waits_for_room);
    tcase_add_test(tc, test_log_keeps_everything_and_rotates_at_its_limit);
    tcase_add_test(tc, test_log_appends_to_an_existing_file);
    tcase_add_test(tc, test_other_user_refused);
    tcase_add_test(tc, test_client_limit);
    tcase_add_test(tc, test_slow_client_loses_output_without_blocking);
    tcase_add_test(tc, test_output_from_another_thread);
    tcase_add_test(tc, test_bad_places_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    evthread_use_pthreads(); /* output arrives from other threads, as from a vCPU */
    return run_suite(console_host_suite());
}
