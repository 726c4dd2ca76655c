/* vmmctl console: the escape parser sends exactly what the user meant for
 * the guest and detaches on Ctrl-] or "~." at the start of a line; the relay
 * carries bytes both ways unchanged, keeps printing for a moment after a
 * script's input ends, and reports a guest that went away. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "console.h"
#include "unit.h"
#include "unixsock.h"
#include "util.h"

static char err[256];

/* ---- escapes -------------------------------------------------------------------- */

struct fed {
    uint8_t out[64];
    size_t n;
    bool detach;
};

static struct fed feed(struct console_escape *e, const char *typed)
{
    struct fed f;
    memset(&f, 0xee, sizeof(f));
    f.n = console_escape_feed(e, (const uint8_t *)typed, strlen(typed), f.out, &f.detach);
    ck_assert_uint_le(f.n, strlen(typed) + 1);
    return f;
}

static void assert_fed(struct fed f, const char *want, bool detach)
{
    ck_assert_uint_eq(f.n, strlen(want));
    ck_assert_mem_eq(f.out, want, f.n);
    ck_assert_int_eq(f.detach, detach);
}

static struct fed feed_fresh(const char *typed)
{
    struct console_escape e;
    console_escape_init(&e);
    return feed(&e, typed);
}

START_TEST(test_plain_bytes_pass)
{
    assert_fed(feed_fresh("ls -l\r"), "ls -l\r", false);
    /* Ctrl-C and other control bytes are the guest's. */
    assert_fed(feed_fresh("\x03\x04\x1b[A"), "\x03\x04\x1b[A", false);
}
END_TEST

START_TEST(test_tilde_dot_at_line_start_detaches)
{
    assert_fed(feed_fresh("~."), "", true);
    assert_fed(feed_fresh("pwd\r~."), "pwd\r", true);
    assert_fed(feed_fresh("pwd\n~."), "pwd\n", true);
    /* What comes after the request is not sent. */
    assert_fed(feed_fresh("~.rm -rf\r"), "", true);
}
END_TEST

START_TEST(test_tilde_mid_line_is_a_tilde)
{
    assert_fed(feed_fresh("ls ~.\r"), "ls ~.\r", false);
    assert_fed(feed_fresh("a~~"), "a~~", false);
}
END_TEST

START_TEST(test_double_tilde_sends_one)
{
    assert_fed(feed_fresh("~~/x"), "~/x", false);
    /* The line has started: a further "~." is just text. */
    assert_fed(feed_fresh("~~."), "~.", false);
}
END_TEST

START_TEST(test_tilde_then_other_byte_sends_both)
{
    assert_fed(feed_fresh("~x"), "~x", false);
    /* "~" then Enter: both sent, and the next line starts. */
    assert_fed(feed_fresh("~\r~."), "~\r", true);
}
END_TEST

START_TEST(test_ctrl_bracket_detaches_anywhere)
{
    assert_fed(feed_fresh("abc\x1d" "def"), "abc", true);
    assert_fed(feed_fresh("\x1d"), "", true);
    assert_fed(feed_fresh("~\x1d"), "", true);
}
END_TEST

START_TEST(test_state_carries_across_reads)
{
    struct console_escape e;
    console_escape_init(&e);
    assert_fed(feed(&e, "~"), "", false); /* held until we know */
    assert_fed(feed(&e, "a"), "~a", false);
    assert_fed(feed(&e, "\r"), "\r", false);
    assert_fed(feed(&e, "~"), "", false);
    assert_fed(feed(&e, "."), "", true);
    console_escape_init(&e);
    assert_fed(feed(&e, "x"), "x", false);
    assert_fed(feed(&e, "~"), "~", false);
    assert_fed(feed(&e, "."), ".", false);
}
END_TEST

/* ---- the relay ------------------------------------------------------------------- */

/* The guest's side of the console: reads what the user typed until a '\r',
 * then answers after a short while (like a shell echoing a command). */
struct guest {
    int sock;
    const char *banner;  /* said at once */
    const char *answer;  /* said after the first line arrives */
    unsigned delay_ms;
    bool hang_up;        /* close after answering */
    char typed[256];
    size_t ntyped;
    pthread_t thread;
};

static void say(int sock, const char *text)
{
    if (text)
        ck_assert_int_eq(send(sock, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

static void *guest_main(void *arg)
{
    struct guest *g = arg;
    say(g->sock, g->banner);
    while (g->ntyped < sizeof(g->typed) - 1) {
        struct pollfd p = {.fd = g->sock, .events = POLLIN};
        if (poll(&p, 1, 5000) != 1)
            break;
        ssize_t n = recv(g->sock, g->typed + g->ntyped, sizeof(g->typed) - 1 - g->ntyped, 0);
        if (n <= 0)
            break;
        g->ntyped += (size_t)n;
        if (memchr(g->typed, '\r', g->ntyped))
            break;
    }
    usleep(g->delay_ms * 1000);
    say(g->sock, g->answer);
    if (g->hang_up)
        shutdown(g->sock, SHUT_RDWR);
    return NULL;
}

struct rig {
    int sock, peer;
    int in[2], out[2];
    struct guest guest;
};

static void rig_start(struct rig *r, const char *typed, bool close_input)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    r->sock = sv[0], r->peer = sv[1];
    ck_assert_int_eq(pipe(r->in), 0);
    ck_assert_int_eq(pipe(r->out), 0);
    ck_assert_int_eq(write(r->in[1], typed, strlen(typed)), (ssize_t)strlen(typed));
    if (close_input) {
        close(r->in[1]);
        r->in[1] = -1;
    }
    r->guest.sock = r->peer;
    ck_assert_int_eq(pthread_create(&r->guest.thread, NULL, guest_main, &r->guest), 0);
}

/* Everything the relay printed. */
static size_t rig_finish(struct rig *r, char *printed, size_t len)
{
    pthread_join(r->guest.thread, NULL);
    close(r->out[1]);
    size_t n = 0;
    ssize_t got;
    while (n < len - 1 && (got = read(r->out[0], printed + n, len - 1 - n)) > 0)
        n += (size_t)got;
    printed[n] = '\0';
    close(r->out[0]);
    close(r->in[0]);
    if (r->in[1] >= 0)
        close(r->in[1]);
    close(r->sock);
    close(r->peer);
    return n;
}

START_TEST(test_script_input_then_grace_period)
{
    static struct rig r;
    r.guest = (struct guest){.banner = "login ok\r\n", .answer = "hello\r\n# ", .delay_ms = 150};
    rig_start(&r, "echo hello\r", true);
    struct console_relay_options opts = {.escapes = false, .stop_fd = -1};
    uint64_t start = monotonic_ns();
    int rc = console_relay(r.sock, r.in[0], r.out[1], &opts, err, sizeof(err));
    uint64_t took_ms = (monotonic_ns() - start) / 1000000;
    char printed[256];
    rig_finish(&r, printed, sizeof(printed));
    ck_assert_msg(rc == 0, "%s", err);
    /* The input went through as it was, with no escape handling... */
    ck_assert_str_eq(r.guest.typed, "echo hello\r");
    /* ...and the answer that came after stdin ended was still printed. */
    ck_assert_str_eq(printed, "login ok\r\nhello\r\n# ");
    /* Quiet for CONSOLE_GRACE_MS after the answer, then done. */
    ck_assert_uint_ge(took_ms, 150 + CONSOLE_GRACE_MS - 20);
    ck_assert_uint_lt(took_ms, CONSOLE_GRACE_MAX_MS);
}
END_TEST

START_TEST(test_tildes_pass_without_a_terminal)
{
    static struct rig r;
    r.guest = (struct guest){0};
    rig_start(&r, "~.\x1d~~\r", true);
    struct console_relay_options opts = {.escapes = false, .stop_fd = -1};
    int rc = console_relay(r.sock, r.in[0], r.out[1], &opts, err, sizeof(err));
    char printed[64];
    rig_finish(&r, printed, sizeof(printed));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(r.guest.typed, "~.\x1d~~\r");
}
END_TEST

START_TEST(test_escape_detaches_relay)
{
    static struct rig r;
    r.guest = (struct guest){0};
    /* Input stays open: only the escape can end this. */
    rig_start(&r, "uptime\r~.more\r", false);
    struct console_relay_options opts = {.escapes = true, .stop_fd = -1};
    int rc = console_relay(r.sock, r.in[0], r.out[1], &opts, err, sizeof(err));
    shutdown(r.sock, SHUT_RDWR); /* lets the guest thread go */
    char printed[64];
    rig_finish(&r, printed, sizeof(printed));
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(r.guest.typed, "uptime\r");
}
END_TEST

START_TEST(test_guest_going_away_is_an_error)
{
    static struct rig r;
    r.guest = (struct guest){.answer = "reboot: Power down\r\n", .hang_up = true};
    rig_start(&r, "poweroff\r", false);
    struct console_relay_options opts = {.escapes = false, .stop_fd = -1};
    int rc = console_relay(r.sock, r.in[0], r.out[1], &opts, err, sizeof(err));
    char printed[64];
    rig_finish(&r, printed, sizeof(printed));
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(err, "the guest's console closed (the guest stopped)");
    /* Its last words were shown first. */
    ck_assert_str_eq(printed, "reboot: Power down\r\n");
}
END_TEST

START_TEST(test_stop_fd_ends_relay)
{
    static struct rig r;
    r.guest = (struct guest){0};
    rig_start(&r, "", false);
    int stop[2];
    ck_assert_int_eq(pipe(stop), 0);
    ck_assert_int_eq(write(stop[1], "x", 1), 1);
    struct console_relay_options opts = {.escapes = true, .stop_fd = stop[0]};
    int rc = console_relay(r.sock, r.in[0], r.out[1], &opts, err, sizeof(err));
    shutdown(r.sock, SHUT_RDWR);
    char printed[64];
    rig_finish(&r, printed, sizeof(printed));
    close(stop[0]);
    close(stop[1]);
    ck_assert_int_eq(rc, 0);
}
END_TEST

/* ---- console_attach on a Unix socket, stdin and stdout redirected ------------------ */

struct server {
    char dir[64], path[96];
    int listen_fd;
    char typed[64];
    pthread_t thread;
};

static void *serve_one(void *arg)
{
    struct server *s = arg;
    struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1)
        return NULL;
    int fd = unixsock_accept(s->listen_fd);
    if (fd < 0)
        return NULL;
    fcntl(fd, F_SETFL, 0);
    say(fd, "guest$ ");
    size_t n = 0;
    ssize_t got;
    while (n < sizeof(s->typed) - 1 && !memchr(s->typed, '\r', n) &&
           (got = recv(fd, s->typed + n, sizeof(s->typed) - 1 - n, 0)) > 0)
        n += (size_t)got;
    say(fd, "ok\r\n");
    /* Stays until the client leaves, as a running guest does. */
    char byte;
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    while (poll(&p, 1, 5000) == 1 && recv(fd, &byte, 1, 0) > 0)
        ;
    close(fd);
    return NULL;
}

START_TEST(test_attach_relays_stdin_and_stdout)
{
    static struct server s;
    snprintf(s.dir, sizeof(s.dir), "/tmp/ignition-test-console-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(s.dir));
    snprintf(s.path, sizeof(s.path), "%s/demo.console", s.dir);
    s.listen_fd = unixsock_listen(s.path, err, sizeof(err));
    ck_assert_msg(s.listen_fd >= 0, "%s", err);
    ck_assert_int_eq(pthread_create(&s.thread, NULL, serve_one, &s), 0);
    int in[2], out[2];
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(write(in[1], "uname\r", 6), 6);
    close(in[1]);
    /* Check runs each test in its own process: its stdio is ours to change. */
    ck_assert_int_ge(dup2(in[0], STDIN_FILENO), 0);
    ck_assert_int_ge(dup2(out[1], STDOUT_FILENO), 0);
    int rc = console_attach(s.path, "demo", err, sizeof(err));
    pthread_join(s.thread, NULL);
    close(STDOUT_FILENO);
    close(out[1]);
    char printed[64] = "";
    ssize_t n = read(out[0], printed, sizeof(printed) - 1);
    printed[n > 0 ? n : 0] = '\0';
    close(s.listen_fd);
    unlink(s.path);
    rmdir(s.dir);
    ck_assert_str_eq(s.typed, "uname\r");
    ck_assert_str_eq(printed, "guest$ ok\r\n");
    ck_assert_msg(rc == 0, "%s", err);
}
END_TEST

START_TEST(test_attach_without_socket)
{
    ck_assert_int_eq(console_attach("", "demo", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "guest demo has no console socket (is it running?)");
    ck_assert_int_eq(console_attach("/nonexistent/dir/demo.console", "demo", err, sizeof(err)),
                     -1);
    ck_assert_msg(strstr(err, "cannot reach the console of demo"), "%s", err);
}
END_TEST

static Suite *console_suite(void)
{
    Suite *s = suite_create("vmmctl_console");
    TCase *esc = tcase_create("escape");
    tcase_add_test(esc, test_plain_bytes_pass);
    tcase_add_test(esc, test_tilde_dot_at_line_start_detaches);
    tcase_add_test(esc, test_tilde_mid_line_is_a_tilde);
    tcase_add_test(esc, test_double_tilde_sends_one);
    tcase_add_test(esc, test_tilde_then_other_byte_sends_both);
    tcase_add_test(esc, test_ctrl_bracket_detaches_anywhere);
    tcase_add_test(esc, test_state_carries_across_reads);
    suite_add_tcase(s, esc);
    TCase *relay = tcase_create("relay");
    tcase_set_timeout(relay, 30);
    tcase_add_test(relay, test_script_input_then_grace_period);
    tcase_add_test(relay, test_tildes_pass_without_a_terminal);
    tcase_add_test(relay, test_escape_detaches_relay);
    tcase_add_test(relay, test_guest_going_away_is_an_error);
    tcase_add_test(relay, test_stop_fd_ends_relay);
    tcase_add_test(relay, test_attach_relays_stdin_and_stdout);
    tcase_add_test(relay, test_attach_without_socket);
    suite_add_tcase(s, relay);
    return s;
}

int main(void)
{
    return run_suite(console_suite());
}
