/* vmmctl browser's side of the guest agent: which URLs it sends at all, and
 * the exchange over the guest's vsock socket, against a fake worker that
 * speaks the host protocol (CONNECT, OK) and answers as a scripted agent. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "browser_agent.h"
#include "unit.h"
#include "unixsock.h"

/* The fake: accepts one connection, checks the CONNECT line, answers
 * connect_answer (NULL: closes, as for a port nobody listens on), then reads
 * one request into got and writes answer (NULL: says nothing until closed). */
struct fake_vsock {
    char dir[64];
    char path[108];
    int listen_fd;
    const char *connect_answer;
    const char *answer;
    char got_connect[64];
    char got[8192];
    pthread_t thread;
};

static void read_line_into(int fd, char *out, size_t size)
{
    size_t n = 0;
    char c;
    while (n + 1 < size && read(fd, &c, 1) == 1 && c != '\n')
        out[n++] = c;
    out[n] = '\0';
}

static void *fake_main(void *arg)
{
    struct fake_vsock *f = arg;
    int fd = -1;
    while (fd < 0) {
        fd = unixsock_accept(f->listen_fd);
        if (fd == -EAGAIN) {
            usleep(1000);
            fd = -1;
        } else if (fd < 0) {
            return NULL;
        }
    }
    fcntl(fd, F_SETFL, 0); /* accepted non-blocking: the reads below wait */
    read_line_into(fd, f->got_connect, sizeof(f->got_connect));
    if (f->connect_answer) {
        ck_assert_int_eq(write(fd, f->connect_answer, strlen(f->connect_answer)),
                         (ssize_t)strlen(f->connect_answer));
        read_line_into(fd, f->got, sizeof(f->got));
        if (f->answer)
            ck_assert_int_eq(write(fd, f->answer, strlen(f->answer)), (ssize_t)strlen(f->answer));
        else {
            char c;
            while (read(fd, &c, 1) > 0) {
            }
        }
    }
    close(fd);
    return NULL;
}

static void fake_start(struct fake_vsock *f, const char *connect_answer, const char *answer)
{
    memset(f, 0, sizeof(*f));
    /* A directory of our own: sockets are only used in private ones. */
    snprintf(f->dir, sizeof(f->dir), "/tmp/ignition-agent-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/guest.vsock", f->dir);
    char err[256];
    f->listen_fd = unixsock_listen(f->path, err, sizeof(err));
    ck_assert_msg(f->listen_fd >= 0, "%s", err);
    f->connect_answer = connect_answer;
    f->answer = answer;
    ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_finish(struct fake_vsock *f)
{
    pthread_join(f->thread, NULL);
    close(f->listen_fd);
    unlink(f->path);
    rmdir(f->dir);
}

START_TEST(test_web_and_file_urls_pass)
{
    char why[256];
    static const char *const ok[] = {
        "http://127.0.0.1:8080/", "https://example.invalid/a?b=c&d=%20e#f", "file:///tmp/x.html",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        ck_assert_msg(browser_agent_url_ok(ok[i], why, sizeof(why)), "%s: %s", ok[i], why);
}
END_TEST

START_TEST(test_other_urls_are_refused_with_why)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        {"", "1 to 2048 bytes"},
        {"javascript:alert(1)", "give an http://"},
        {"ftp://host/", "give an http://"},
        {"http://", "give an http://"},
        {"http://a b/", "a space or a character outside printable ASCII at byte 9"},
        {"http://a\nb/", "at byte 9"},
        {"http://caf\xc3\xa9/", "at byte 11"},
        {"-new-window", "give an http://"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char why[256] = "";
        ck_assert_msg(!browser_agent_url_ok(bad[i].url, why, sizeof(why)), "%s passed",
                      bad[i].url);
        ck_assert_msg(strstr(why, bad[i].why), "%s: '%s'", bad[i].url, why);
    }
    char longest[BROWSER_AGENT_URL_MAX + 2];
    memset(longest, 'a', sizeof(longest) - 1);
    memcpy(longest, "http://", 7);
    longest[BROWSER_AGENT_URL_MAX] = '\0';
    char why[256];
    ck_assert(browser_agent_url_ok(longest, why, sizeof(why)));
    longest[BROWSER_AGENT_URL_MAX] = 'a';
    longest[BROWSER_AGENT_URL_MAX + 1] = '\0';
    ck_assert(!browser_agent_url_ok(longest, why, sizeof(why)));
}
END_TEST

START_TEST(test_ping_through_connect)
{
    signal(SIGPIPE, SIG_IGN);
    struct fake_vsock f;
    fake_start(&f, "OK 1073741824\n", "ok pong\n");
    char answer[64], err[256] = "";
    int rc = browser_agent_request(f.path, "ping", 5000, answer, sizeof(answer), err,
                                   sizeof(err));
    fake_finish(&f);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(f.got_connect, "CONNECT 1024");
    ck_assert_str_eq(f.got, "ping");
    ck_assert_str_eq(answer, "pong");
}
END_TEST

START_TEST(test_open_sends_the_url)
{
    struct fake_vsock f;
    fake_start(&f, "OK 1073741825\n", "ok\n");
    char err[256] = "";
    int rc = browser_agent_open(f.path, "http://127.0.0.1:8000/page?x=1", err, sizeof(err));
    fake_finish(&f);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(f.got, "open http://127.0.0.1:8000/page?x=1");
}
END_TEST

START_TEST(test_agent_errors_are_told_filtered)
{
    struct fake_vsock f;
    fake_start(&f, "OK 1073741826\n", "error Firefox's remote client \x1b[31mexited 1\n");
    char err[256] = "";
    int rc = browser_agent_open(f.path, "https://a.invalid/", err, sizeof(err));
    fake_finish(&f);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err, "the agent says: Firefox's remote client ") &&
                      !strchr(err, '\x1b'),
                  "%s", err);
}
END_TEST

START_TEST(test_nobody_listening)
{
    struct fake_vsock f;
    fake_start(&f, NULL, NULL);
    char answer[64], err[256] = "";
    int rc = browser_agent_request(f.path, "ping", 5000, answer, sizeof(answer), err,
                                   sizeof(err));
    fake_finish(&f);
    ck_assert_int_eq(rc, BROWSER_AGENT_NOT_LISTENING);
    ck_assert_msg(strstr(err, "nothing listens on the guest's vsock port 1024"), "%s", err);
}
END_TEST

START_TEST(test_silent_agent_times_out)
{
    struct fake_vsock f;
    fake_start(&f, "OK 1073741827\n", NULL);
    char answer[64], err[256] = "";
    int rc = browser_agent_request(f.path, "ping", 200, answer, sizeof(answer), err,
                                   sizeof(err));
    ck_assert_int_eq(rc, -1);
    fake_finish(&f); /* our side has closed: the fake's read ends */
    ck_assert_msg(strstr(err, "no answer from the agent"), "%s", err);
}
END_TEST

START_TEST(test_bad_answers)
{
    static const char *const answers[] = {"maybe\n", "", "okay\n"};
    static const char *const said[] = {"neither ok nor error", "closed the connection",
                                       "neither ok nor error"};
    for (size_t i = 0; i < 3; i++) {
        struct fake_vsock f;
        fake_start(&f, "OK 1\n", answers[i]);
        char answer[64], err[256] = "";
        int rc = browser_agent_request(f.path, "ping", 5000, answer, sizeof(answer), err,
                                       sizeof(err));
        fake_finish(&f);
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strstr(err, said[i]), "case %zu: %s", i, err);
    }
}
END_TEST

static Suite *browser_agent_suite(void)
{
    Suite *s = suite_create("vmmctl_browser_agent");
    TCase *tc = tcase_create("urls");
    tcase_add_test(tc, test_web_and_file_urls_pass);
    tcase_add_test(tc, test_other_urls_are_refused_with_why);
    suite_add_tcase(s, tc);
    TCase *io = tcase_create("exchange");
    tcase_set_timeout(io, 30);
    tcase_add_test(io, test_ping_through_connect);
    tcase_add_test(io, test_open_sends_the_url);
    tcase_add_test(io, test_agent_errors_are_told_filtered);
    tcase_add_test(io, test_nobody_listening);
    tcase_add_test(io, test_silent_agent_times_out);
    tcase_add_test(io, test_bad_answers);
    suite_add_tcase(s, io);
    return s;
}

int main(void)
{
    return run_suite(browser_agent_suite());
}
