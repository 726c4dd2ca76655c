#include "worker.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "machine.h"

#define ESCAPE_CHAR 0x01 /* Ctrl-A, as QEMU's serial multiplexer */
#define CONSOLE_PENDING 65536 /* input read from the host, not yet taken by the guest */
#define CONSOLE_RETRY_US 20000

struct worker {
    struct event_base *base;
    struct machine *machine;
    pthread_t vcpu_thread;
    struct hv_exit exit;
    struct event *vcpu_exited; /* activated by the vCPU thread when run returns */
    struct event *console_in, *console_retry;
    bool console_open; /* standard input is pollable and not at end of file */
    uint8_t pending[CONSOLE_PENDING];
    size_t pending_len;
    int stop_signal;
    bool quit_requested; /* Ctrl-A x on the console */
    bool escape_pending;
    bool terminal_raw;
    struct termios saved_termios;
};

static void console_output(void *opaque, const uint8_t *data, size_t len)
{
    (void)opaque;
    while (len) {
        ssize_t n = write(STDOUT_FILENO, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nobody is reading the console: drop output, keep the guest running */
        data += n;
        len -= (size_t)n;
    }
}

/* ---- terminal ------------------------------------------------------------------ */

static void terminal_raw(struct worker *w)
{
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &w->saved_termios) < 0)
        return;
    struct termios raw = w->saved_termios;
    cfmakeraw(&raw);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
        w->terminal_raw = true;
}

static void terminal_restore(struct worker *w)
{
    if (w->terminal_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &w->saved_termios);
    w->terminal_raw = false;
}

/* ---- events ----------------------------------------------------------------------- */

/* Ctrl-A x quits; Ctrl-A Ctrl-A sends one Ctrl-A. Only on a terminal: piped input
 * goes to the guest untouched. */
static size_t filter_escapes(struct worker *w, uint8_t *buf, size_t len, bool *quit)
{
    if (!w->terminal_raw)
        return len;
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = buf[i];
        if (w->escape_pending) {
            w->escape_pending = false;
            if (c == 'x' || c == 'X') {
                *quit = true;
                return out;
            }
            if (c != ESCAPE_CHAR)
                continue;
        } else if (c == ESCAPE_CHAR) {
            w->escape_pending = true;
            continue;
        }
        buf[out++] = c;
    }
    return out;
}

/* Offers waiting input to the guest's UART. What it cannot take yet stays here
 * (a paste larger than the UART's buffer is not cut short); while this buffer is
 * full, standard input is not read, so the pressure reaches the writer. */
static void feed_console(struct worker *w)
{
    size_t taken = machine_console_input(w->machine, w->pending, w->pending_len);
    memmove(w->pending, w->pending + taken, w->pending_len - taken);
    w->pending_len -= taken;
    if (w->pending_len) {
        struct timeval retry = {.tv_usec = CONSOLE_RETRY_US};
        evtimer_add(w->console_retry, &retry);
    }
    if (!w->console_open)
        return;
    if (w->pending_len == sizeof(w->pending))
        event_del(w->console_in);
    else
        event_add(w->console_in, NULL);
}

static void on_console_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    feed_console(arg);
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    uint8_t buf[512];
    size_t room = sizeof(w->pending) - w->pending_len;
    ssize_t n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        /* End of input: the guest keeps running without a keyboard. */
        w->console_open = false;
        event_del(w->console_in);
        return;
    }
    bool quit = false;
    size_t len = filter_escapes(w, buf, (size_t)n, &quit);
    memcpy(w->pending + w->pending_len, buf, len);
    w->pending_len += len;
    feed_console(w);
    if (quit) {
        log_info("quit requested from the console");
        w->quit_requested = true;
        machine_stop(w->machine);
    }
}

/* epoll cannot watch regular files or /dev/null; such input is no console. */
static bool stdin_pollable(void)
{
    struct stat st;
    if (fstat(STDIN_FILENO, &st) < 0)
        return false;
    return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    w->stop_signal = (int)sig;
    machine_stop(w->machine);
}

static void on_vcpu_exited(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    event_base_loopbreak(w->base);
}

static void *vcpu_main(void *arg)
{
    struct worker *w = arg;
    machine_run(w->machine, &w->exit);
    /* An activated event survives until the loop runs, so this cannot be lost
     * even if the guest stops before the loop has started. */
    event_active(w->vcpu_exited, EV_READ, 0);
    return NULL;
}

/* ---- running ------------------------------------------------------------------------ */

static int boot_once(struct worker *w, const struct worker_options *o, const struct hv_ops *hv)
{
    char err[256];
    struct machine_config mc = {
        .kernel_path = o->kernel, .initrd_path = o->initrd,
        .cmdline = o->append ? o->append : "console=ttyAMA0",
        .ram_size = o->ram_size, .hv = hv,
        .console_output = console_output, .console_opaque = w,
    };
    w->machine = machine_create(&mc, err, sizeof(err));
    if (!w->machine) {
        log_error("%s", err);
        return -1;
    }
    memset(&w->exit, 0, sizeof(w->exit));
    if (pthread_create(&w->vcpu_thread, NULL, vcpu_main, w) != 0) {
        log_error("cannot start the vCPU thread");
        machine_destroy(w->machine);
        return -1;
    }
    event_base_dispatch(w->base);
    machine_stop(w->machine); /* if the loop ended for a signal */
    pthread_join(w->vcpu_thread, NULL);
    machine_destroy(w->machine);
    w->machine = NULL;
    return 0;
}

static int run_until_off(struct worker *w, const struct worker_options *o, const struct hv_ops *hv)
{
    for (;;) {
        if (boot_once(w, o, hv) < 0)
            return 1;
        if (w->quit_requested)
            return 0;
        if (w->stop_signal)
            return 128 + w->stop_signal;
        switch (w->exit.reason) {
        case HV_EXIT_SYSTEM_OFF:
            log_info("guest powered off");
            return 0;
        case HV_EXIT_SYSTEM_RESET:
            log_info("guest reset: booting again");
            continue;
        case HV_EXIT_STOPPED:
            return 1;
        case HV_EXIT_ERROR:
            log_error("guest stopped: %s", w->exit.message);
            return 1;
        }
    }
}

int worker_run_console(const struct worker_options *o)
{
    char why[256], note[256];
    const struct hv_ops *hv = hv_select(o->backend, why, sizeof(why), note, sizeof(note));
    if (!hv) {
        log_error("%s", why);
        return 1;
    }
    if (note[0])
        log_info("%s", note);
    if (evthread_use_pthreads() < 0) {
        log_error("libevent has no thread support");
        return 1;
    }
    struct worker w = {0};
    w.base = event_base_new();
    if (!w.base) {
        log_error("cannot create the event loop");
        return 1;
    }
    terminal_raw(&w);
    if (w.terminal_raw)
        log_info("serial console on this terminal; Ctrl-A x quits");
    w.console_in = event_new(w.base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, &w);
    w.console_retry = evtimer_new(w.base, on_console_retry, &w);
    w.vcpu_exited = event_new(w.base, -1, 0, on_vcpu_exited, &w);
    struct event *sigint = evsignal_new(w.base, SIGINT, on_signal, &w);
    struct event *sigterm = evsignal_new(w.base, SIGTERM, on_signal, &w);
    signal(SIGPIPE, SIG_IGN);
    w.console_open = stdin_pollable();
    if (w.console_open)
        event_add(w.console_in, NULL);
    else
        log_debug("standard input is not a terminal or pipe: the console takes no input");
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    int status = run_until_off(&w, o, hv);
    terminal_restore(&w);
    event_free(w.console_in);
    event_free(w.console_retry);
    event_free(w.vcpu_exited);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(w.base);
    return status;
}
