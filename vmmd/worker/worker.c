#include "worker/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "worker/console_host.h"
#include "worker/hvc_host.h"
#include "worker/net_mac.h"
#include "worker/vsock_host.h"
#include "devices/arch_timer.h"
#include "devices/evdev.h"
#include "devices/virtio_input.h"
#include "instances.h"
#include "log.h"
#include "machine/machine.h"
#include "paths.h"
#include "worker/publisher.h"
#include "worker/supervision.h"
#include "util.h"
#include "worker/worker_control.h"
#include "worker/worker_snapshot.h"

#define ESCAPE_CHAR 0x01 /* Ctrl-A, as QEMU's serial multiplexer */
#define CONSOLE_PENDING 65536 /* input read from the host, not yet taken by the guest */
#define CONSOLE_RETRY_US 20000

struct worker;

#define RESTORE_MARKS_MAX 24

/* Bytes from a host descriptor on their way into a guest device that may not
 * take them all at once: what the device cannot take yet stays here (a paste
 * larger than the device's buffer is not cut short) and is offered again; while
 * this buffer is full the descriptor is not read, so the pressure reaches the
 * writer. */
struct host_input {
    struct worker *w;
    struct event *readable, *retry;
    bool open;           /* pollable and not at end of file */
    bool escapes;        /* Ctrl-A commands (standard input on a terminal) */
    struct console_host *clients; /* console clients typing here too, or NULL */
    size_t (*deliver)(struct machine *m, const uint8_t *data, size_t len);
    uint8_t pending[CONSOLE_PENDING];
    size_t pending_len;
};

struct worker {
    const struct worker_options *o;
    struct worker_options restored_options; /* o points here for a restore */
    struct worker_restore *restore;         /* until the worker ends, or NULL */
    const struct hv_ops *hv;
    bool keyboard; /* the power button: supervised, or the snapshot's machine had one */
    struct event_base *base;
    struct machine *machine;
    pthread_t vcpu_thread;
    bool vcpu_started;
    atomic_bool pausing; /* the vCPU returns for a snapshot: the loop goes on */
    struct worker_control *control; /* NULL without --control-socket */
    struct hv_exit exit;
    struct event *vcpu_exited; /* activated by the vCPU thread when run returns */
    struct host_input *serial; /* stdin -> PL011 */
    struct hvc_host *hvc;      /* pseudo-terminal <-> virtio-console (hvc0) */
    int hvc_master, hvc_slave; /* until hvc takes them over */
    char hvc_path[128];
    bool announced;
    char socket_path[512]; /* the display socket, announced once the guest boots */
    bool booted_once;
    char instance_dir[4096]; /* empty when no disk needs one */
    /* A lock held on an instance directory made here (no --instance): it goes
     * when the run ends; -1 for one given. */
    int instance_lock_fd;
    struct publisher *publisher; /* NULL without a display */
    struct net_user *net;        /* NULL with --net none */
    struct vsock_host *vsock;    /* NULL with --no-vsock */
    uint8_t mac[6];
    struct console_host *console; /* NULL: the console is stdin/stdout, not logged */
    int lock_fd, ready_fd;        /* -1 when not asked for (ready_fd: or done) */
    bool power_pressed;           /* the first SIGTERM of a supervised guest */
    char exit_line[320];          /* what the exit file will say */
    double started_ms;            /* CLOCK_MONOTONIC when the worker began, for timings */
    /* A restore's steps, as they end (ms after started_ms): where its time goes. */
    struct {
        const char *what[RESTORE_MARKS_MAX];
        double at[RESTORE_MARKS_MAX];
        unsigned n;
        bool logged; /* a reboot of the restored guest is no restore */
    } restore_marks;
    int stop_signal;
    bool quit_requested; /* Ctrl-A x on the console */
    bool escape_pending;
    bool terminal_raw;
    struct termios saved_termios;
};

/* Logs an error and keeps it for the exit file. */
static void PRINTF_LIKE(2, 3) fail(struct worker *w, const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    log_error("%s", message);
    snprintf(w->exit_line, sizeof(w->exit_line), "error: %s", message);
}

/* Console output to our standard output. A terminal or pipe that another
 * program made non-blocking is waited for (a reader that is behind loses
 * nothing); one that takes nothing for a second, or has no reader, loses
 * this piece and the guest keeps running. */
#define STDOUT_STALL_MS 1000

static void write_stdout(const uint8_t *data, size_t len)
{
    (void)write_fully_waiting(STDOUT_FILENO, data, len, STDOUT_STALL_MS);
}

/* On the vCPU thread. */
static void console_output(void *opaque, const uint8_t *data, size_t len)
{
    struct worker *w = opaque;
    if (w->console)
        console_host_output(w->console, data, len);
    if (!w->o->console_socket)
        write_stdout(data, len);
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

static void feed(struct host_input *in)
{
    size_t taken = in->deliver(in->w->machine, in->pending, in->pending_len);
    memmove(in->pending, in->pending + taken, in->pending_len - taken);
    in->pending_len -= taken;
    if (in->pending_len) {
        struct timeval retry = {.tv_usec = CONSOLE_RETRY_US};
        evtimer_add(in->retry, &retry);
    }
    if (in->clients && in->pending_len < sizeof(in->pending))
        console_host_input_ready(in->clients);
    if (!in->open)
        return;
    if (in->pending_len == sizeof(in->pending))
        event_del(in->readable);
    else
        event_add(in->readable, NULL);
}

static void on_input_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    feed(arg);
}

static void on_input(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct host_input *in = arg;
    struct worker *w = in->w;
    uint8_t buf[512];
    size_t room = sizeof(in->pending) - in->pending_len;
    ssize_t n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        /* End of input: the guest keeps running without it. */
        in->open = false;
        event_del(in->readable);
        return;
    }
    bool quit = false;
    size_t len = in->escapes ? filter_escapes(w, buf, (size_t)n, &quit) : (size_t)n;
    memcpy(in->pending + in->pending_len, buf, len);
    in->pending_len += len;
    feed(in);
    if (quit) {
        log_info("quit requested from the console");
        w->quit_requested = true;
        machine_stop(w->machine);
    }
}

static struct host_input *host_input_new(struct worker *w, int fd, bool open,
                                         size_t (*deliver)(struct machine *, const uint8_t *,
                                                           size_t))
{
    struct host_input *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    *in = (struct host_input){.w = w, .open = open && fd >= 0, .deliver = deliver};
    if (in->open)
        in->readable = event_new(w->base, fd, EV_READ | EV_PERSIST, on_input, in);
    in->retry = evtimer_new(w->base, on_input_retry, in);
    if (in->open)
        event_add(in->readable, NULL);
    return in;
}

/* Console clients type through the serial input's buffer, as stdin does. */
static size_t serial_input_room(void *opaque)
{
    struct host_input *in = ((struct worker *)opaque)->serial;
    return sizeof(in->pending) - in->pending_len;
}

static void serial_input(void *opaque, const uint8_t *data, size_t len)
{
    struct host_input *in = ((struct worker *)opaque)->serial;
    memcpy(in->pending + in->pending_len, data, len); /* len <= serial_input_room */
    in->pending_len += len;
    feed(in);
}

static void host_input_free(struct host_input *in)
{
    if (!in)
        return;
    if (in->readable)
        event_free(in->readable);
    event_free(in->retry);
    free(in);
}

/* hvc0's host end: a pseudo-terminal in raw mode, as QEMU's pty character
 * devices; hvc_host then serves it (and keeps what the guest writes while
 * nobody has it open). */
static int open_hvc_pty(struct worker *w, char *path, size_t path_len)
{
    w->hvc_master = w->hvc_slave = -1;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || !ptsname(master)) {
        int saved = errno;
        if (master >= 0)
            close(master);
        errno = saved;
        return -1;
    }
    snprintf(path, path_len, "%s", ptsname(master));
    int slave = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios raw;
    /* grantpt leaves it 0620 with group tty (where devpts is mounted so):
     * anyone in that group could write into the guest's console. Only its
     * user may. */
    if (slave < 0 || fchmod(slave, 0600) < 0 || tcgetattr(slave, &raw) < 0) {
        int saved = errno;
        close(master);
        if (slave >= 0)
            close(slave);
        errno = saved;
        return -1;
    }
    cfmakeraw(&raw);
    if (tcsetattr(slave, TCSANOW, &raw) < 0)
        log_warn("hvc0: cannot make %s raw: %s", path, strerror(errno));
    set_nonblock_cloexec(master);
    w->hvc_master = master;
    w->hvc_slave = slave;
    return 0;
}

/* epoll cannot watch regular files or /dev/null; such input is no console. */
static bool stdin_pollable(void)
{
    struct stat st;
    if (fstat(STDIN_FILENO, &st) < 0)
        return false;
    return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(STDIN_FILENO);
}

/* A supervised guest is asked to stop the way a person would: its power
 * button, which the guest's acpid turns into a clean poweroff. */
static bool press_power_button(struct worker *w)
{
    struct device *keyboard = machine_keyboard(w->machine);
    if (!keyboard || virtio_input_key(keyboard, EVDEV_KEY_POWER, true) < 0 ||
        virtio_input_key(keyboard, EVDEV_KEY_POWER, false) < 0) {
        log_warn("cannot press the guest's power button: stopping it at once");
        return false;
    }
    w->power_pressed = true;
    log_info("asked the guest to power off (SIGTERM again stops it at once)");
    return true;
}

/* SIGINT and SIGTERM: blocked from the worker's start until its loop handles them. */
static sigset_t stop_signals;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct worker *w = arg;
    if (sig == SIGTERM && w->o->console_socket && !w->power_pressed && press_power_button(w))
        return;
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
    if (atomic_load(&w->pausing))
        return NULL; /* the loop is waiting for us and decides what follows */
    /* An activated event survives until the loop runs, so this cannot be lost
     * even if the guest stops before the loop has started. */
    event_active(w->vcpu_exited, EV_READ, 0);
    return NULL;
}

/* ---- running ------------------------------------------------------------------------ */

static double monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Marks the end of one step of a restore; log_restore_marks lists them. */
static void restore_mark(struct worker *w, const char *what)
{
    if (!w->o->restore_dir || w->restore_marks.logged || w->restore_marks.n >= RESTORE_MARKS_MAX)
        return;
    w->restore_marks.what[w->restore_marks.n] = what;
    w->restore_marks.at[w->restore_marks.n++] = monotonic_ms() - w->started_ms;
}

static void log_restore_marks(struct worker *w)
{
    char line[1024];
    size_t at = 0;
    line[0] = '\0';
    for (unsigned i = 0; i < w->restore_marks.n && at < sizeof(line); i++) {
        int n = snprintf(line + at, sizeof(line) - at, "%s%s %.1f", i ? ", " : "",
                         w->restore_marks.what[i], w->restore_marks.at[i]);
        if (n < 0)
            break;
        at += (size_t)n;
    }
    log_info("restored: steps (ms after the worker started): %s", line);
    w->restore_marks.logged = true;
}

/* A restored guest's screen is in its scanout as soon as the machine exists:
 * viewers that attached while it was being restored get it now, before the
 * guest runs, and the ones that attach later get it on attach. */
/* How long a restore took, from the worker's start: what `tools/bench
 * snapshot` reads. */
static void log_restore_timing(struct worker *w, double frame_ms, double running_ms)
{
    if (frame_ms >= 0)
        log_info("restored: first frame published %.1f ms and vCPU running %.1f ms after the "
                 "worker started",
                 frame_ms - w->started_ms, running_ms - w->started_ms);
    else
        log_info("restored: vCPU running %.1f ms after the worker started (no display)",
                 running_ms - w->started_ms);
}

static double publish_restored_frame(struct worker *w)
{
    if (!w->publisher)
        return -1;
    publisher_publish_now(w->publisher);
    return monotonic_ms();
}

/* The supervisor waits for this before it calls the guest running. */
static void signal_ready(struct worker *w, const char *backend)
{
    if (w->ready_fd < 0)
        return;
    int rc = supervision_signal_ready(w->ready_fd, backend);
    if (rc < 0)
        log_warn("cannot report ready: %s", strerror(-rc));
    w->ready_fd = -1;
}

/* Logged: a clock that jumps is the first suspect when a restored guest misbehaves. */
static void catch_up_clock(struct worker_restore *r)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t ticks = worker_restore_catch_up_clock(
        r, (int64_t)now.tv_sec * 1000000000ll + now.tv_nsec);
    uint64_t hz = r->state.vcpus[0].counter_hz ? r->state.vcpus[0].counter_hz : ARCH_TIMER_HZ;
    log_info("guest clock moved on %.3f s to the host's time", (double)ticks / (double)hz);
}

static void announce_network(const struct worker *w);

static int boot_once(struct worker *w, const struct worker_options *o, const struct hv_ops *hv)
{
    char err[512];
    struct machine_config mc = {
        .kernel_path = o->kernel, .initrd_path = o->initrd,
        .cmdline = o->append ? o->append : "console=ttyAMA0",
        .ram_size = o->ram_size, .num_cpus = o->cpus, .hv = hv,
        .console_output = console_output, .console_opaque = w,
        .hvc_fd = w->hvc ? hvc_host_output_fd(w->hvc) : -1,
        .disks = o->disks, .num_disks = o->num_disks,
        .instance_dir = w->instance_dir, .announce_disks = !w->booted_once,
        .gpu = o->gpu, .keyboard = w->keyboard, .num_scanouts = o->num_scanouts,
        .display_width = o->display_width, .display_height = o->display_height,
        .gpu_memory = o->gpu_memory,
        .display = w->publisher ? &publisher_display_ops : NULL, .display_opaque = w->publisher,
        .net = w->net != NULL,
        .net_backend = {.kick = net_user_kick, .opaque = w->net},
        .vsock = w->vsock != NULL, .vsock_cid = o->vsock_cid,
        .vsock_backend = {.kick = vsock_host_kick, .opaque = w->vsock},
    };
    memcpy(mc.net_mac, w->mac, sizeof(w->mac));
    if (w->restore && !w->booted_once) {
        mc.restore = &w->restore->state;
        catch_up_clock(w->restore);
        mc.restore_ram = w->restore->ram;
        w->restore->ram = NULL; /* the machine's now, also if it fails */
        mc.restore_saved_ram = w->restore->saved_ram;
    }
    restore_mark(w, "clock");
    w->machine = machine_create(&mc, err, sizeof(err));
    if (!w->machine) {
        fail(w, "%s", err);
        return -1;
    }
    restore_mark(w, "machine");
    w->booted_once = true;
    /* A restore loaded the snapshot's device; this guest's MAC is its own. */
    bool same_mac = false;
    if (mc.restore && machine_net(w->machine)) {
        uint8_t loaded[6];
        virtio_net_get_mac(machine_net(w->machine), loaded);
        same_mac = memcmp(loaded, w->mac, sizeof(loaded)) == 0;
        virtio_net_set_mac(machine_net(w->machine), w->mac);
    }
    /* And its CID; its connections from before are reset once it runs. */
    if (mc.restore && machine_vsock(w->machine))
        virtio_vsock_set_cid(machine_vsock(w->machine), o->vsock_cid);
    if (!w->announced) {
        /* Only for a machine that exists: a failed start says one thing, its error. */
        if (w->publisher)
            log_info("display socket %s", w->socket_path);
        if (w->hvc)
            log_info("second console (hvc0) on %s", w->hvc_path);
        announce_network(w);
        if (w->vsock)
            log_info("vsock: CID %u, host socket %s", o->vsock_cid, vsock_host_path(w->vsock));
        w->announced = true;
        signal_ready(w, hv->name);
    }
    memset(&w->exit, 0, sizeof(w->exit));
    if (w->net)
        net_user_attach(w->net, machine_net(w->machine));
    if (w->vsock)
        vsock_host_attach(w->vsock, machine_vsock(w->machine));
    if (w->publisher)
        publisher_attach_machine(w->publisher, machine_gpu(w->machine),
                                 machine_keyboard(w->machine), machine_tablet(w->machine));
    restore_mark(w, "attached");
    bool restoring = mc.restore != NULL;
    double frame_ms = restoring ? publish_restored_frame(w) : -1;
    restore_mark(w, "frame");
    if (pthread_create(&w->vcpu_thread, NULL, vcpu_main, w) != 0) {
        fail(w, "cannot start the vCPU thread");
        if (w->net)
            net_user_attach(w->net, NULL);
        if (w->vsock)
            vsock_host_attach(w->vsock, NULL);
        if (w->publisher)
            publisher_detach_machine(w->publisher);
        machine_destroy(w->machine);
        w->machine = NULL;
        return -1;
    }
    w->vcpu_started = true;
    restore_mark(w, "vcpu");
    if (restoring) {
        log_restore_timing(w, frame_ms, monotonic_ms());
        log_restore_marks(w);
    }
    /* A clone has a MAC and a network stack of its own: its guest learns so.
     * The same guest restored only tells the new stack where it is. */
    if (restoring && w->net)
        net_user_restored(w->net, same_mac);
    if (restoring && w->vsock)
        vsock_host_transport_reset(w->vsock);
    if (restoring)
        worker_restore_sync_disks(w->restore);
    event_base_dispatch(w->base);
    machine_stop(w->machine); /* if the loop ended for a signal */
    if (w->vcpu_started)
        pthread_join(w->vcpu_thread, NULL);
    w->vcpu_started = false;
    if (w->net)
        net_user_attach(w->net, NULL);
    if (w->vsock)
        vsock_host_attach(w->vsock, NULL);
    if (w->publisher)
        publisher_detach_machine(w->publisher);
    machine_destroy(w->machine);
    w->machine = NULL;
    return 0;
}

static int run_until_off(struct worker *w, const struct worker_options *o, const struct hv_ops *hv)
{
    for (;;) {
        if (boot_once(w, o, hv) < 0)
            return 1;
        snprintf(w->exit_line, sizeof(w->exit_line), "stopped");
        if (w->quit_requested)
            return 0;
        if (w->stop_signal)
            return 128 + w->stop_signal;
        switch (w->exit.reason) {
        case HV_EXIT_SYSTEM_OFF:
            log_info("guest powered off");
            snprintf(w->exit_line, sizeof(w->exit_line), "poweroff");
            return 0;
        case HV_EXIT_SYSTEM_RESET:
            if (!o->kernel) {
                log_info("guest reset: a restored guest has no kernel to boot again (give "
                         "--kernel with --restore for that): stopping");
                return 0;
            }
            log_info("guest reset: booting again");
            continue;
        case HV_EXIT_STOPPED:
            return 1;
        case HV_EXIT_ERROR:
            fail(w, "guest stopped: %s", w->exit.message);
            return 1;
        }
    }
}

static bool needs_instance_dir(const struct worker_options *o)
{
    for (unsigned i = 0; i < o->num_disks; i++)
        if (!o->disks[i].read_only)
            return true;
    return false;
}

/* Writable disks keep their copy-on-write layers in the instance directory:
 * the one asked for, or a new one under the state directory. */
static int prepare_instance_dir(struct worker *w, const struct worker_options *o)
{
    if (!needs_instance_dir(o))
        return 0;
    char state[3072];
    if (o->instance_dir) {
        snprintf(w->instance_dir, sizeof(w->instance_dir), "%s", o->instance_dir);
    } else if (instances_dir(state, sizeof(state)) == 0) {
        snprintf(w->instance_dir, sizeof(w->instance_dir), "%s/run-%lld-%d", state,
                 (long long)time(NULL), (int)getpid());
    } else {
        fail(w, "no state directory (HOME is not set): give --instance DIR");
        return -1;
    }
    int rc = paths_make_dirs(w->instance_dir, 0700);
    if (rc < 0) {
        fail(w, "cannot create the instance directory %s: %s", w->instance_dir, strerror(-rc));
        return -1;
    }
    if (o->instance_dir) {
        log_info("instance directory %s", w->instance_dir);
        return 0;
    }
    /* Ours: locked while we run, so that vmmctl prune leaves it alone. */
    w->instance_lock_fd = instances_lock(w->instance_dir);
    if (w->instance_lock_fd < 0) {
        fail(w, "cannot lock the instance directory %s: %s", w->instance_dir,
             strerror(-w->instance_lock_fd));
        return -1;
    }
    log_info("instance directory %s (%s)", w->instance_dir,
             o->keep_instance ? "kept after this run"
                              : "removed after this run; --keep-instance keeps it");
    return 0;
}

/* The end of a run that made its own instance directory. */
static void finish_instance_dir(struct worker *w)
{
    if (w->instance_lock_fd < 0)
        return;
    int rc = w->o->keep_instance ? instances_keep(w->instance_dir)
                                 : instances_remove(w->instance_dir, NULL);
    if (rc < 0 && w->o->keep_instance)
        log_warn("cannot mark the instance directory %s kept: %s (vmmctl prune may remove "
                 "it)", w->instance_dir, strerror(-rc));
    else if (rc < 0)
        log_warn("cannot remove the instance directory %s: %s (vmmctl prune will)",
                 w->instance_dir, strerror(-rc));
    close(w->instance_lock_fd);
    w->instance_lock_fd = -1;
}

/* A Unix socket of this worker's: the path asked for, else LEAF in the state
 * directory's run directory (0700: only its owner can reach it), made if
 * need be. 0, or -1 after saying why (how to give one: hint). */
static int worker_socket_path(struct worker *w, const char *given, const char *leaf,
                              const char *hint, char *path, size_t len)
{
    char state[448], dir[448];
    if (given) {
        snprintf(path, len, "%s", given);
        return 0;
    }
    if (paths_state_dir(state, sizeof(state)) < 0 ||
        paths_run_dir(state, dir, sizeof(dir)) < 0) {
        fail(w, "no state directory (HOME is not set): %s", hint);
        return -1;
    }
    int rc = paths_make_dirs(dir, 0700);
    if (rc < 0) {
        fail(w, "cannot create %s: %s", dir, strerror(-rc));
        return -1;
    }
    snprintf(path, len, "%s/%s", dir, leaf);
    return 0;
}

/* Viewers attach at the socket asked for, or at one named after this process
 * in the run directory. */
static int start_publisher(struct worker *w, const struct worker_options *o)
{
    if (!o->gpu)
        return 0;
    char path[512], leaf[32], err[512];
    snprintf(leaf, sizeof(leaf), "vmmd-%d.sock", (int)getpid());
    if (worker_socket_path(w, o->socket_path, leaf, "give --socket PATH", path,
                           sizeof(path)) < 0)
        return -1;
    const char *name = o->guest_name ? o->guest_name : "";
    w->publisher = publisher_create(w->base, path, name, err, sizeof(err));
    if (!w->publisher) {
        fail(w, "display socket: %s", err);
        return -1;
    }
    snprintf(w->socket_path, sizeof(w->socket_path), "%s", path);
    return 0;
}

/* The guest's MAC: from its name and the host's secret when it has a name
 * (stable across its restarts, its own for each clone), else random. */
static void choose_mac(struct worker *w)
{
    char state[3072];
    uint8_t secret[NET_MAC_SECRET_BYTES];
    const char *name = w->o->guest_name;
    int rc = name && paths_state_dir(state, sizeof(state)) == 0 ? net_mac_secret(state, secret)
                                                                : -ENOENT;
    if (rc == 0) {
        net_mac_derive(secret, name, w->mac);
        return;
    }
    if (name)
        log_warn("network: no MAC secret in the state directory (%s): a random MAC",
                 strerror(-rc));
    net_mac_random(w->mac);
}

static int start_network(struct worker *w)
{
    const struct net_config *c = &w->o->net;
    if (c->mode == NET_NONE)
        return 0;
    choose_mac(w);
    char err[256];
    w->net = net_user_create(w->base, c, err, sizeof(err));
    if (!w->net) {
        fail(w, "network: %s", err);
        return -1;
    }
    return 0;
}

/* The vsock's host socket: the one asked for, else NAME.vsock (or
 * vmmd-PID.vsock) in the run directory. */
static int start_vsock(struct worker *w)
{
    const struct worker_options *o = w->o;
    if (!o->vsock)
        return 0;
    char path[512], leaf[PATHS_GUEST_NAME_MAX + 16], err[640];
    if (o->guest_name)
        snprintf(leaf, sizeof(leaf), "%s.vsock", o->guest_name);
    else
        snprintf(leaf, sizeof(leaf), "vmmd-%d.vsock", (int)getpid());
    if (worker_socket_path(w, o->vsock_socket, leaf, "give --vsock PATH or --no-vsock", path,
                           sizeof(path)) < 0)
        return -1;
    w->vsock = vsock_host_create(w->base, path, err, sizeof(err));
    if (!w->vsock) {
        fail(w, "vsock: %s", err);
        return -1;
    }
    return 0;
}

/* Said once the machine exists, with the rest of what a start announces. */
static void announce_network(const struct worker *w)
{
    if (!w->net)
        return;
    const struct net_config *c = &w->o->net;
    char mac[18], rule[64];
    net_mac_format(w->mac, mac);
    log_info("network: user-mode, MAC %s, host loopback %s", mac,
             c->host_loopback ? "at 10.0.2.2" : "not reachable");
    for (unsigned i = 0; i < c->num_publish; i++) {
        net_publish_format(&c->publish[i], rule, sizeof(rule));
        log_info("network: published %s", rule);
    }
}

/* The serial console's socket and log, when asked for; clients type into the
 * serial input (which must exist). */
static int start_console_host(struct worker *w)
{
    const struct worker_options *o = w->o;
    if (!o->console_socket && !o->console_log)
        return 0;
    if (!w->serial) {
        fail(w, "out of memory");
        return -1;
    }
    struct console_host_options co = {
        .socket_path = o->console_socket, .log_path = o->console_log,
        .log_limit = CONSOLE_HOST_LOG_LIMIT, .client_buffer = CONSOLE_HOST_CLIENT_BUFFER,
        .allowed_uid = getuid(), .input_room = serial_input_room, .input = serial_input,
        .opaque = w,
    };
    char err[640];
    w->console = console_host_create(w->base, &co, err, sizeof(err));
    if (!w->console) {
        fail(w, "%s", err);
        return -1;
    }
    w->serial->clients = w->console;
    if (o->console_socket)
        log_info("serial console on %s", o->console_socket);
    return 0;
}

/* Typed into hvc0's terminal: to the machine running now, if any. */
static size_t hvc_input(void *opaque, const uint8_t *data, size_t len)
{
    struct worker *w = opaque;
    return w->machine ? machine_hvc_input(w->machine, data, len) : 0;
}

static void open_host_consoles(struct worker *w)
{
    bool on_socket = w->o->console_socket != NULL;
    if (!on_socket)
        terminal_raw(w);
    if (w->terminal_raw)
        log_info("serial console on this terminal; Ctrl-A x quits");
    if (open_hvc_pty(w, w->hvc_path, sizeof(w->hvc_path)) < 0)
        log_warn("no pseudo-terminal for hvc0: %s", strerror(errno));
    bool stdin_ok = !on_socket && stdin_pollable();
    if (!on_socket && !stdin_ok)
        log_debug("standard input is not a terminal or pipe: the console takes no input");
    w->serial = host_input_new(w, on_socket ? -1 : STDIN_FILENO, stdin_ok,
                               machine_console_input);
    if (w->serial)
        w->serial->escapes = w->terminal_raw;
    if (w->hvc_master >= 0) {
        w->hvc = hvc_host_create(w->base, w->hvc_master, w->hvc_slave, hvc_input, w);
        w->hvc_master = w->hvc_slave = -1; /* hvc's now, also if it failed */
        if (!w->hvc)
            log_warn("no hvc0: cannot watch its pseudo-terminal");
    }
}

static void close_host_consoles(struct worker *w)
{
    terminal_restore(w);
    console_host_destroy(w->console);
    host_input_free(w->serial);
    hvc_host_destroy(w->hvc);
    if (w->hvc_master >= 0)
        close(w->hvc_master);
    if (w->hvc_slave >= 0)
        close(w->hvc_slave);
}

/* ---- snapshots ---------------------------------------------------------------------- */

/* Stops the vCPU thread and waits for it, without ending the loop. When the
 * guest ended on its own meanwhile (powered off, failed) or a stop was asked
 * for, the loop is told, as vcpu_main would have, and there is nothing to
 * snapshot. */
static int pause_vcpu(struct worker *w, char *err, size_t err_len)
{
    if (!w->machine || !w->vcpu_started) {
        set_message(err, err_len, "the guest is not running");
        return -1;
    }
    atomic_store(&w->pausing, true);
    machine_stop(w->machine);
    pthread_join(w->vcpu_thread, NULL);
    w->vcpu_started = false;
    atomic_store(&w->pausing, false);
    if (w->exit.reason != HV_EXIT_STOPPED || w->stop_signal || w->quit_requested) {
        event_active(w->vcpu_exited, EV_READ, 0);
        set_message(err, err_len, "the guest is stopping");
        return -1;
    }
    return 0;
}

static int resume_vcpu(struct worker *w)
{
    machine_clear_stop(w->machine);
    memset(&w->exit, 0, sizeof(w->exit));
    if (pthread_create(&w->vcpu_thread, NULL, vcpu_main, w) != 0) {
        fail(w, "cannot start the vCPU thread again after a snapshot");
        event_base_loopbreak(w->base);
        return -1;
    }
    w->vcpu_started = true;
    return 0;
}

static void host_clocks(struct snapshot_machine_config *c)
{
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    c->host_monotonic_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
    c->host_realtime_ns = (int64_t)real.tv_sec * 1000000000ll + real.tv_nsec;
    c->created_unix_ms = (uint64_t)real.tv_sec * 1000ull + (uint64_t)real.tv_nsec / 1000000ull;
}

/* A restore may run in another directory: disks are kept by absolute path. */
static int fill_disk_configs(const struct worker_options *o, struct snapshot_machine_config *c,
                             char *err, size_t err_len)
{
    if (o->num_disks > SNAPSHOT_MAX_DISKS) {
        set_message(err, err_len, "more disks than a snapshot holds");
        return -1;
    }
    c->num_disks = o->num_disks;
    for (unsigned i = 0; i < o->num_disks; i++) {
        const struct disk_spec *spec = &o->disks[i];
        struct snapshot_disk_config *d = &c->disks[i];
        char resolved[PATH_MAX];
        if (!realpath(spec->path, resolved) || strlen(resolved) >= sizeof(d->base_path)) {
            set_message(err, err_len, "disk %u: cannot name %s for the snapshot", i, spec->path);
            return -1;
        }
        snprintf(d->base_path, sizeof(d->base_path), "%s", resolved);
        d->read_only = spec->read_only;
        if (spec->serial && strlen(spec->serial) < sizeof(d->serial))
            snprintf(d->serial, sizeof(d->serial), "%s", spec->serial);
    }
    return 0;
}

static int fill_machine_config(const struct worker *w, struct snapshot_machine_config *c,
                               char *err, size_t err_len)
{
    const struct worker_options *o = w->o;
    memset(c, 0, sizeof(*c));
    snprintf(c->backend, sizeof(c->backend), "%s", w->hv->name);
    host_clocks(c);
    c->ram_size = o->ram_size;
    snprintf(c->cmdline, sizeof(c->cmdline), "%s", o->append ? o->append : "console=ttyAMA0");
    c->gpu = o->gpu;
    c->keyboard = w->keyboard;
    c->num_scanouts = o->num_scanouts;
    c->display_width = o->display_width;
    c->display_height = o->display_height;
    c->gpu_memory = o->gpu_memory;
    c->net = o->net.mode == NET_NONE ? SNAPSHOT_NET_NONE
             : o->net.host_loopback  ? SNAPSHOT_NET_USER_HOST_LOOPBACK
                                     : SNAPSHOT_NET_USER;
    c->vsock = o->vsock;
    return fill_disk_configs(o, c, err, err_len);
}

/* The control socket's SnapshotRequest: the guest is paused for the save and
 * the memory, disks and manifest writes, then runs on, whether the snapshot
 * was written or not. */
static int take_snapshot(void *opaque, const char *path, char *err, size_t err_len)
{
    struct worker *w = opaque;
    struct snapshot_machine_config *config = calloc(1, sizeof(*config));
    if (!config) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    int rc = fill_machine_config(w, config, err, err_len);
    double t0 = monotonic_ms();
    if (rc == 0)
        rc = pause_vcpu(w, err, err_len);
    if (rc < 0) {
        free(config);
        return -1;
    }
    double t_paused = monotonic_ms();
    rc = worker_snapshot_write(w->machine, config, path, err, err_len);
    free(config);
    if (resume_vcpu(w) < 0 && rc == 0) {
        set_message(err, err_len, "the snapshot was written, but the guest could not resume");
        rc = -1;
    }
    double t_resumed = monotonic_ms();
    log_info("snapshot %s: guest paused in %.1f ms, ran again after %.1f ms", path,
             t_paused - t0, t_resumed - t0);
    if (rc < 0)
        log_warn("snapshot %s failed: %s", path, err);
    return rc;
}

static int start_control(struct worker *w)
{
    if (!w->o->control_socket)
        return 0;
    struct worker_control_ops ops = {.snapshot = take_snapshot, .opaque = w};
    char err[640];
    w->control = worker_control_create(w->base, w->o->control_socket, &ops, err, sizeof(err));
    if (!w->control) {
        fail(w, "%s", err);
        return -1;
    }
    log_info("control socket %s", w->o->control_socket);
    return 0;
}

/* A restore's machine is the snapshot's: these options become its config;
 * the rest (sockets, consoles, instance directory, kernel for a reset) are
 * the command line's. */
static int prepare_restore(struct worker *w)
{
    char err[768];
    double t0 = monotonic_ms();
    w->restore = worker_restore_open(w->o->restore_dir, err, sizeof(err));
    if (!w->restore) {
        fail(w, "%s", err);
        return -1;
    }
    restore_mark(w, "opened");
    bool read_through;
    double t_check = monotonic_ms();
    if (worker_restore_check_memory(w->restore, w->o->memory_checked, &read_through, err,
                                    sizeof(err)) < 0) {
        fail(w, "%s", err);
        return -1;
    }
    if (read_through)
        log_info("snapshot %s: memory checksums verified in %.1f ms", w->o->restore_dir,
                 monotonic_ms() - t_check);
    restore_mark(w, "memory checked");
    const struct snapshot_machine_config *c = &w->restore->config;
    struct worker_options *r = &w->restored_options;
    *r = *w->o;
    r->ram_size = c->ram_size;
    r->cpus = w->restore->state.num_vcpus;
    r->append = c->cmdline;
    r->num_disks = c->num_disks;
    memcpy(r->disks, w->restore->disks, sizeof(r->disks[0]) * c->num_disks);
    r->gpu = c->gpu;
    r->num_scanouts = c->num_scanouts;
    r->display_width = c->display_width;
    r->display_height = c->display_height;
    r->gpu_memory = c->gpu_memory;
    r->net.mode = c->net == SNAPSHOT_NET_NONE ? NET_NONE : NET_USER;
    r->net.host_loopback = c->net == SNAPSHOT_NET_USER_HOST_LOOPBACK;
    if (w->o->restore_host_loopback) {
        if (r->net.mode == NET_NONE) {
            fail(w, "--host-loopback: snapshot %s has no network", r->restore_dir);
            return -1;
        }
        r->net.host_loopback = true;
    }
    if (r->net.mode == NET_NONE)
        r->net.num_publish = 0; /* nothing to publish to */
    r->vsock = c->vsock;
    if (strcmp(r->backend, "auto") == 0)
        r->backend = c->backend;
    w->keyboard = c->keyboard;
    w->o = r;
    log_info("snapshot %s opened in %.1f ms", r->restore_dir, monotonic_ms() - t0);
    return 0;
}

static int check_restore_backend(struct worker *w)
{
    const char *taken = w->restore->config.backend;
    if (strcmp(taken, w->hv->name) == 0)
        return 0;
    fail(w, "the snapshot %s was taken under the %s backend and cannot be restored under %s",
         w->o->restore_dir, taken, w->hv->name);
    return -1;
}

static int restore_disks(struct worker *w)
{
    char err[768];
    double t0 = monotonic_ms();
    if (worker_restore_disks(w->restore, w->instance_dir, err, sizeof(err)) < 0) {
        fail(w, "%s", err);
        return -1;
    }
    log_info("snapshot %s: disk layers copied in %.1f ms", w->o->restore_dir,
             monotonic_ms() - t0);
    return 0;
}

/* ---- the worker ---------------------------------------------------------------------- */

/* What the guest's devices reach on the host, before the machine exists. */
static int start_host_side(struct worker *w, const struct worker_options *o)
{
    if (start_publisher(w, o) < 0)
        return -1;
    restore_mark(w, "publisher");
    if (start_console_host(w) < 0 || start_control(w) < 0)
        return -1;
    restore_mark(w, "consoles");
    if (start_network(w) < 0)
        return -1;
    restore_mark(w, "network");
    if (start_vsock(w) < 0)
        return -1;
    restore_mark(w, "vsock");
    return 0;
}

static int run_worker(struct worker *w)
{
    if (w->o->restore_dir && prepare_restore(w) < 0)
        return 1;
    const struct worker_options *o = w->o;
    char why[256], note[256];
    const struct hv_ops *hv = hv_select(o->backend, why, sizeof(why), note, sizeof(note));
    if (!hv) {
        fail(w, "%s", why);
        return 1;
    }
    w->hv = hv;
    if (note[0])
        log_info("%s", note);
    if (w->restore && check_restore_backend(w) < 0)
        return 1;
    if (evthread_use_pthreads() < 0) {
        fail(w, "libevent has no thread support");
        return 1;
    }
    if (prepare_instance_dir(w, o) < 0)
        return 1;
    restore_mark(w, "instance");
    if (w->restore && restore_disks(w) < 0)
        return 1;
    restore_mark(w, "disks");
    w->base = event_base_new();
    if (!w->base) {
        fail(w, "cannot create the event loop");
        return 1;
    }
    int status = 1;
    open_host_consoles(w);
    w->vcpu_exited = event_new(w->base, -1, 0, on_vcpu_exited, w);
    struct event *sigint = evsignal_new(w->base, SIGINT, on_signal, w);
    struct event *sigterm = evsignal_new(w->base, SIGTERM, on_signal, w);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    sigprocmask(SIG_UNBLOCK, &stop_signals, NULL); /* one that came early is handled now */
    restore_mark(w, "loop");
    if (start_host_side(w, o) == 0)
        status = run_until_off(w, o, hv);
    vsock_host_destroy(w->vsock);
    net_user_destroy(w->net);
    worker_control_destroy(w->control);
    publisher_destroy(w->publisher);
    close_host_consoles(w);
    event_free(w->vcpu_exited);
    event_free(sigint);
    event_free(sigterm);
    event_base_free(w->base);
    return status;
}

int worker_run_console(const struct worker_options *o)
{
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    struct worker w = {.o = o, .lock_fd = -1, .ready_fd = o->ready_fd,
                       .hvc_master = -1, .hvc_slave = -1, .instance_lock_fd = -1,
                       .keyboard = o->console_socket != NULL};
    w.started_ms = monotonic_ms();
    char err[512];
    signal(SIGPIPE, SIG_IGN); /* a reader gone away is an error where we write */
    /* A stop asked for while the worker starts waits for the loop that
     * handles it, instead of killing the worker before it can say how it
     * ended. */
    sigprocmask(SIG_BLOCK, &stop_signals, NULL);
    if (o->lock_path) {
        w.lock_fd = supervision_lock(o->lock_path, o->guest_name, err, sizeof(err));
        if (w.lock_fd < 0) {
            log_error("%s", err); /* the exit file is the running worker's, not ours */
            return 1;
        }
    }
    if (o->exit_file && supervision_exit_file_clear(o->exit_file, err, sizeof(err)) < 0) {
        log_error("%s", err);
        if (w.lock_fd >= 0)
            close(w.lock_fd);
        return 1;
    }
    int status = run_worker(&w);
    worker_restore_free(w.restore);
    finish_instance_dir(&w);
    if (o->exit_file) {
        if (!w.exit_line[0])
            snprintf(w.exit_line, sizeof(w.exit_line), "error: exit status %d", status);
        int rc = supervision_exit_file_write(o->exit_file, w.exit_line);
        if (rc < 0)
            log_warn("cannot write the exit file %s: %s", o->exit_file, strerror(-rc));
    }
    /* Released only now: whoever takes the lock next finds the exit file. */
    if (w.lock_fd >= 0)
        close(w.lock_fd);
    return status;
}
