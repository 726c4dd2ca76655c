#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "unixsock.h"
#include "util.h"

#define CHUNK 4096

/* ---- escapes ------------------------------------------------------------------- */

void console_escape_init(struct console_escape *e)
{
    e->state = CONSOLE_LINE_START;
}

size_t console_escape_feed(struct console_escape *e, const uint8_t *in, size_t len, uint8_t *out,
                           bool *detach)
{
    size_t n = 0;
    *detach = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = in[i];
        if (c == CONSOLE_DETACH_KEY || (e->state == CONSOLE_AFTER_TILDE && c == '.')) {
            *detach = true;
            return n;
        }
        if (e->state == CONSOLE_AFTER_TILDE) {
            /* Not an escape after all: the '~' was meant for the guest. */
            out[n++] = '~';
            e->state = CONSOLE_MID_LINE;
            if (c == '~')
                continue;
        } else if (e->state == CONSOLE_LINE_START && c == '~') {
            e->state = CONSOLE_AFTER_TILDE;
            continue;
        }
        out[n++] = c;
        /* A terminal in raw mode sends '\r' for Enter; a paste may carry '\n'. */
        e->state = c == '\r' || c == '\n' ? CONSOLE_LINE_START : CONSOLE_MID_LINE;
    }
    return n;
}

/* ---- the relay ------------------------------------------------------------------ */

static int write_all(int fd, const uint8_t *buf, size_t len, bool is_socket)
{
    while (len) {
        ssize_t n = is_socket ? send(fd, buf, len, MSG_NOSIGNAL) : write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

struct relay {
    int sock, in, out;
    const struct console_relay_options *opts;
    struct console_escape escape;
    bool in_done;            /* stdin ended (no terminal) */
    uint64_t in_done_ns;     /* when it did */
    uint64_t last_output_ns; /* when the guest last said something */
    bool finished;           /* detached, or the grace period is over */
    char *err;
    size_t err_len;
};

/* Returns 0, or -1 with err set. */
static int forward_input(struct relay *r)
{
    uint8_t buf[CHUNK], sent[CHUNK + 1];
    ssize_t n = read(r->in, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n < 0) {
        set_message(r->err, r->err_len, "reading the terminal: %s", strerror(errno));
        return -1;
    }
    if (n == 0) {
        /* A terminal that ends (its window closed) detaches; a script's
         * input ending leaves time for the guest's answer. */
        r->finished = r->opts->escapes;
        r->in_done = true;
        r->in_done_ns = monotonic_ns();
        return 0;
    }
    const uint8_t *to_send = buf;
    size_t len = (size_t)n;
    if (r->opts->escapes) {
        bool detach;
        len = console_escape_feed(&r->escape, buf, len, sent, &detach);
        to_send = sent;
        r->finished = detach;
    }
    int rc = write_all(r->sock, to_send, len, true);
    if (rc < 0) {
        set_message(r->err, r->err_len, "the guest's console went away (%s)", strerror(-rc));
        return -1;
    }
    return 0;
}

/* Returns 0, or -1 with err set (the guest going away among the reasons). */
static int forward_output(struct relay *r)
{
    uint8_t buf[CHUNK];
    ssize_t n = recv(r->sock, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        set_message(r->err, r->err_len, "the guest's console closed (the guest stopped)%s%s",
                    n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
        return -1;
    }
    r->last_output_ns = monotonic_ns();
    int rc = write_all(r->out, buf, (size_t)n, false);
    if (rc < 0) {
        set_message(r->err, r->err_len, "writing the guest's output: %s", strerror(-rc));
        return -1;
    }
    return 0;
}

/* How long poll may wait: forever, until the grace period after stdin's end
 * is over, or 0 once it is. */
static int poll_timeout(struct relay *r)
{
    if (!r->in_done)
        return -1;
    uint64_t now = monotonic_ns(), ms = 1000000u;
    uint64_t quiet_from = r->last_output_ns > r->in_done_ns ? r->last_output_ns : r->in_done_ns;
    uint64_t quiet_end = quiet_from + CONSOLE_GRACE_MS * ms;
    uint64_t hard_end = r->in_done_ns + CONSOLE_GRACE_MAX_MS * ms;
    uint64_t end = quiet_end < hard_end ? quiet_end : hard_end;
    if (now >= end) {
        r->finished = true;
        return 0;
    }
    return (int)((end - now + ms - 1) / ms);
}

static int relay_once(struct relay *r)
{
    enum { SOCK, IN, STOP };
    struct pollfd p[3] = {
        {.fd = r->sock, .events = POLLIN},
        {.fd = r->in_done ? -1 : r->in, .events = POLLIN},
        {.fd = r->opts->stop_fd, .events = POLLIN},
    };
    int timeout = poll_timeout(r);
    if (r->finished)
        return 0;
    int n = poll(p, 3, timeout);
    if (n < 0 && errno != EINTR) {
        set_message(r->err, r->err_len, "poll: %s", strerror(errno));
        return -1;
    }
    if (n <= 0)
        return 0;
    if (p[STOP].revents) {
        r->finished = true;
        return 0;
    }
    /* Output first: what the guest said before it went away is still shown. */
    if (p[SOCK].revents && forward_output(r) < 0)
        return -1;
    if (p[IN].revents && forward_input(r) < 0)
        return -1;
    return 0;
}

int console_relay(int sock, int in, int out, const struct console_relay_options *opts, char *err,
                  size_t err_len)
{
    struct relay r = {.sock = sock, .in = in, .out = out, .opts = opts, .err = err,
                      .err_len = err_len};
    console_escape_init(&r.escape);
    while (!r.finished)
        if (relay_once(&r) < 0)
            return -1;
    return 0;
}

/* ---- the terminal --------------------------------------------------------------- */

/* Signals reach the relay through this pipe, so that the terminal is restored
 * by the normal way out rather than from a handler. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    uint8_t b = (uint8_t)sig;
    if (write(signal_pipe[1], &b, 1) < 0) {
        /* the pipe is full: a stop is on its way already */
    }
    errno = saved;
}

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP};

static int catch_stop_signals(struct sigaction *saved)
{
    if (pipe(signal_pipe) < 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (set_nonblock_cloexec(signal_pipe[i]) < 0)
            return -1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
        sigaction(stop_signals[i], &sa, &saved[i]);
    return 0;
}

static void release_stop_signals(const struct sigaction *saved)
{
    for (size_t i = 0; i < ARRAY_SIZE(stop_signals); i++)
        sigaction(stop_signals[i], &saved[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (signal_pipe[i] >= 0)
            close(signal_pipe[i]);
        signal_pipe[i] = -1;
    }
}

static int enter_raw_mode(int fd, struct termios *saved)
{
    if (tcgetattr(fd, saved) < 0)
        return -1;
    struct termios raw = *saved;
    cfmakeraw(&raw);
    return tcsetattr(fd, TCSAFLUSH, &raw);
}

static int attach_terminal(int sock, const char *guest_name, char *err, size_t err_len)
{
    struct sigaction saved_actions[ARRAY_SIZE(stop_signals)];
    struct termios saved_mode;
    if (catch_stop_signals(saved_actions) < 0) {
        set_message(err, err_len, "cannot watch for signals: %s", strerror(errno));
        release_stop_signals(saved_actions);
        return -1;
    }
    if (enter_raw_mode(STDIN_FILENO, &saved_mode) < 0) {
        set_message(err, err_len, "cannot put the terminal in raw mode: %s", strerror(errno));
        release_stop_signals(saved_actions);
        return -1;
    }
    /* Raw mode: the terminal no longer turns "\n" into a new line by itself. */
    fprintf(stderr, "Connected to %s (detach: Ctrl-] or Enter ~ .)\r\n", guest_name);
    struct console_relay_options opts = {.escapes = true, .stop_fd = signal_pipe[0]};
    int rc = console_relay(sock, STDIN_FILENO, STDOUT_FILENO, &opts, err, err_len);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_mode);
    release_stop_signals(saved_actions);
    if (rc == 0)
        fprintf(stderr, "\n[detached]\n");
    else
        fputc('\n', stderr); /* the guest's last line may lack its end */
    return rc;
}

int console_attach(const char *console_socket, const char *guest_name, char *err,
                   size_t err_len)
{
    if (!console_socket || !console_socket[0]) {
        set_message(err, err_len, "guest %s has no console socket (is it running?)", guest_name);
        return -1;
    }
    char why[256];
    int sock = unixsock_connect(console_socket, why, sizeof(why));
    if (sock < 0) {
        set_message(err, err_len, "cannot reach the console of %s: %s", guest_name, why);
        return -1;
    }
    int rc;
    if (isatty(STDIN_FILENO)) {
        rc = attach_terminal(sock, guest_name, err, err_len);
    } else {
        struct console_relay_options opts = {.escapes = false, .stop_fd = -1};
        rc = console_relay(sock, STDIN_FILENO, STDOUT_FILENO, &opts, err, err_len);
    }
    close(sock);
    return rc;
}
