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

struct worker {
    struct event_base *base;
    struct machine *machine;
    pthread_t vcpu_thread;
    struct hv_exit exit;
    struct event *vcpu_exited; /* activated by the vCPU thread when run returns */
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

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    uint8_t buf[512];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        /* End of input: the guest keeps running without a keyboard. */
        event_del(event_base_get_running_event(w->base));
        return;
    }
    bool quit = false;
    size_t len = filter_escapes(w, buf, (size_t)n, &quit);
    for (size_t done = 0; done < len;) {
        size_t taken = machine_console_input(w->machine, buf + done, len - done);
        if (taken == 0)
            break; /* the guest is not reading; drop rather than block the loop */
        done += taken;
    }
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
    struct event *in = event_new(w.base, STDIN_FILENO, EV_READ | EV_PERSIST, on_stdin, &w);
    w.vcpu_exited = event_new(w.base, -1, 0, on_vcpu_exited, &w);
    struct event *sigint = evsignal_new(w.base, SIGINT, on_signal, &w);
    struct event *sigterm = evsignal_new(w.base, SIGTERM, on_signal, &w);
    signal(SIGPIPE, SIG_IGN);
    if (stdin_pollable())
        event_add(in, NULL);
    else
        log_debug("standard input is not a terminal or pipe: the console takes no input");
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    int status = run_until_off(&w, o, hv);
    terminal_restore(&w);
    event_free(in);
    event_free(w.vcpu_exited);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(w.base);
    return status;
}
