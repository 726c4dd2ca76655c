#include "supervisor/guests.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "machine/machine.h"
#include "paths.h"
#include "storage/snapshot_file.h"
#include "storage/snapshot_manifest.h"
#include "supervisor/standby.h"
#include "util.h"

#define READY_FD 3                 /* where a worker finds the pipe it says "ready" on */
#define START_TIMEOUT_SECONDS 60   /* a worker silent this long is stopped */
#define FORCE_GRACE_SECONDS 5      /* after "stop now", before SIGKILL */
#define ADOPTED_POLL_MS 500        /* how often adopted workers' locks are looked at */
#define CONSOLE_TAIL_LINES 20
#define CONSOLE_TAIL_BYTES 4096

enum stop_stage { STOP_NONE, STOP_ASKED, STOP_NOW, STOP_KILLED };

#define CHECKED_MEMORY_IDS 32

struct guest {
    struct guests *set;
    struct guest *next; /* in name order */
    struct guest_record rec;
    char dir[PATH_MAX];
    char display_socket[PATH_MAX], console_socket[PATH_MAX];
    char console_log[PATH_MAX], instance_dir[PATH_MAX];
    char control_socket[PATH_MAX], vsock_socket[PATH_MAX];
    bool is_child;        /* ours to waitpid; else adopted, watched by its lock */
    int ready_fd;         /* read end of the worker's ready pipe while starting */
    char ready_text[32];
    size_t ready_len;
    struct event *ready_ev;
    struct event *timer;  /* start timeout, or the next step of a stop */
    enum stop_stage stop_stage;
    /* Its guest.json could not be written (why, else ""): vmmd's record is
     * right and the file is not; written again on every poll until it works. */
    char unsaved[200];
    char warning[PATH_MAX + 300]; /* guest_storage_warning's, as of the last poll */
    /* A restore whose worker reads the memory file through: its id, noted as
     * checked once the worker is ready. Else empty. */
    char checking_memory[SNAPSHOT_MEMORY_ID_LEN];
    /* A snapshot asked for and not yet seen in place (the worker writes it;
     * vmmd is not told when): its name, directory, and the id of the memory
     * file that directory held when it was asked for ("" for none). */
    char pending_snapshot[PATHS_GUEST_NAME_MAX + 1];
    char pending_dir[PATH_MAX];
    char pending_before[SNAPSHOT_MEMORY_ID_LEN];
};

struct guests {
    struct event_base *base;
    struct guests_config config;
    char state_dir[PATH_MAX], run_dir[PATH_MAX], vmmd_path[PATH_MAX];
    struct guest *list;
    struct event *sigchld;
    struct event *poll;
    /* The standby worker (standby.h): its pid and our end of its socket, or
     * 0 and -1; the timer that starts the next one. */
    pid_t standby_pid;
    int standby_sock;
    unsigned standby_deaths; /* in a row, unused: at STANDBY_GIVE_UP, no more */
    struct event *standby_timer;
    /* Snapshot memory files a restore has checked (snapshot_memory_id), the
     * oldest replaced first: a restore of one of them as it is skips reading
     * it through again (30 ms for a 512M guest at its shell here). */
    char checked_memory[CHECKED_MEMORY_IDS][SNAPSHOT_MEMORY_ID_LEN];
    unsigned next_checked;
};

static void settle(struct guest *g);
static void note_memory_checked(struct guest *g);
static void standby_died(struct guests *set, int status);

/* ---- records and files ----------------------------------------------------------- */

static int64_t now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void file_in(const struct guest *g, const char *leaf, char *out, size_t len)
{
    set_message(out, len, "%s/%s", g->dir, leaf);
}

static void update_warning(struct guest *g, bool disk_full)
{
    if (g->unsaved[0])
        set_message(g->warning, sizeof(g->warning),
                    "vmmd cannot record this guest's state: %s", g->unsaved);
    else if (disk_full)
        set_message(g->warning, sizeof(g->warning),
                    "the disk holding %s is full: this guest's logs, disk writes and "
                    "records may fail", g->set->state_dir);
    else
        g->warning[0] = '\0';
}

/* A full disk must not cost vmmd its records: STATE/reserve holds room that
 * is given up the moment a record cannot be written for want of space, and
 * taken again once there is space. */
static void keep_reserve(const struct guests *set)
{
    char path[PATH_MAX];
    set_message(path, sizeof(path), "%s/%s", set->state_dir, STATE_RESERVE_NAME);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size >= STATE_RESERVE_BYTES)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int rc = posix_fallocate(fd, 0, STATE_RESERVE_BYTES);
    close(fd);
    if (rc != 0)
        unlink(path); /* half a reserve would only take the last of the space */
}

static bool release_reserve(const struct guests *set)
{
    char path[PATH_MAX];
    set_message(path, sizeof(path), "%s/%s", set->state_dir, STATE_RESERVE_NAME);
    return unlink(path) == 0;
}

static void save(struct guest *g)
{
    char path[PATH_MAX], err[PATH_MAX + 64];
    file_in(g, "guest.json", path, sizeof(path));
    int rc = registry_save(path, &g->rec, err, sizeof(err));
    if ((rc == -ENOSPC || rc == -EDQUOT) && release_reserve(g->set)) {
        log_warn("the disk holding %s is full: its reserve goes to guest %s's record",
                 g->set->state_dir, g->rec.name);
        rc = registry_save(path, &g->rec, err, sizeof(err));
    }
    if (rc < 0) {
        if (strcmp(g->unsaved, err) != 0)
            log_error("guest %s: %s; vmmd keeps trying", g->rec.name, err);
        set_message(g->unsaved, sizeof(g->unsaved), "%s", err);
        update_warning(g, true);
        return;
    }
    if (g->unsaved[0])
        log_info("guest %s: its record is written again", g->rec.name);
    g->unsaved[0] = '\0';
    keep_reserve(g->set);
}

static void set_state(struct guest *g, enum guest_state state)
{
    if (g->rec.state != state)
        log_info("guest %s: %s", g->rec.name, guest_state_name(state));
    g->rec.state = state;
    save(g);
}

/* The last lines of a text file, for saying why a guest or worker stopped. */
static char *file_tail(const char *path, unsigned max_lines)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char buf[CONSOLE_TAIL_BYTES + 1];
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > CONSOLE_TAIL_BYTES ? size - CONSOLE_TAIL_BYTES : 0;
    ssize_t n = size < 0 ? -1 : pread(fd, buf, CONSOLE_TAIL_BYTES, from);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\r' || buf[i] == '\0')
            buf[i] = ' ';
    size_t end = (size_t)n;
    while (end && (buf[end - 1] == '\n' || buf[end - 1] == ' '))
        end--;
    buf[end] = '\0';
    size_t start = end;
    for (unsigned lines = 0; start > 0; start--)
        if (buf[start - 1] == '\n' && ++lines == max_lines)
            break;
    return strdup(buf + start);
}

static void remove_file(const struct guest *g, const char *leaf)
{
    char path[PATH_MAX];
    file_in(g, leaf, path, sizeof(path));
    unlink(path);
}

static struct guest *guest_new(struct guests *set, const char *name)
{
    struct guest *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->set = set;
    g->ready_fd = -1;
    set_message(g->rec.name, sizeof(g->rec.name), "%s", name);
    set_message(g->dir, sizeof(g->dir), "%s/guests/%s", set->state_dir, name);
    set_message(g->display_socket, sizeof(g->display_socket), "%s/%s.display", set->run_dir, name);
    set_message(g->console_socket, sizeof(g->console_socket), "%s/%s.console", set->run_dir, name);
    set_message(g->control_socket, sizeof(g->control_socket), "%s/%s.control", set->run_dir, name);
    set_message(g->vsock_socket, sizeof(g->vsock_socket), "%s/%s.vsock", set->run_dir, name);
    file_in(g, "console.log", g->console_log, sizeof(g->console_log));
    file_in(g, "instance", g->instance_dir, sizeof(g->instance_dir));
    g->timer = evtimer_new(set->base, NULL, NULL);
    if (!g->timer) {
        free(g);
        return NULL;
    }
    return g;
}

/* ---- vsock context ids ------------------------------------------------------------ */

static bool cid_taken(const struct guests *set, uint32_t cid, const struct guest *until)
{
    for (const struct guest *o = set->list; o && o != until; o = o->next)
        if (o->rec.vsock_cid == cid)
            return true;
    return false;
}

/* The smallest CID from 3 that no guest of this vmmd has: each guest and
 * each clone is its own peer for the host. */
static uint32_t free_cid(const struct guests *set)
{
    uint32_t cid = VSOCK_CID_MIN_GUEST;
    while (cid_taken(set, cid, NULL) && cid < VSOCK_CID_MAX_GUEST)
        cid++;
    return cid;
}

/* Records older than vsock, or edited to share a CID with one before them,
 * get a free one, and keep it from then on. */
static void give_cids(struct guests *set)
{
    for (struct guest *g = set->list; g; g = g->next) {
        if (g->rec.vsock_cid >= VSOCK_CID_MIN_GUEST && !cid_taken(set, g->rec.vsock_cid, g))
            continue;
        g->rec.vsock_cid = 0;
        g->rec.vsock_cid = free_cid(set);
        log_info("guest %s: vsock CID %u", g->rec.name, g->rec.vsock_cid);
        save(g);
    }
}

static void link_in_order(struct guests *set, struct guest *g)
{
    struct guest **at = &set->list;
    while (*at && strcmp((*at)->rec.name, g->rec.name) < 0)
        at = &(*at)->next;
    g->next = *at;
    *at = g;
}

static void close_ready(struct guest *g)
{
    if (g->ready_ev)
        event_free(g->ready_ev);
    g->ready_ev = NULL;
    if (g->ready_fd >= 0)
        close(g->ready_fd);
    g->ready_fd = -1;
}

static void guest_free(struct guest *g)
{
    close_ready(g);
    event_free(g->timer);
    guest_record_clear(&g->rec);
    free(g);
}

/* ---- the worker's lock: held while it runs ---------------------------------------- */

/* 1: a worker holds the guest's lock (its pid in *pid), 0: none does, -1: unknown. */
static int worker_alive(const struct guest *g, pid_t *pid)
{
    char path[PATH_MAX];
    file_in(g, "worker.lock", path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int alive = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK ? 1 : 0;
    if (alive && pid) {
        char text[32] = {0};
        ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
        long v = n > 0 ? strtol(text, NULL, 10) : 0;
        *pid = v > 0 && v <= INT32_MAX ? (pid_t)v : 0;
    }
    close(fd); /* also lets go of the shared lock, when we got it */
    return alive;
}

/* A worker of ours is ours to signal; an adopted one only while its lock
 * still says it is the same process (its pid may have been reused since). */
static void signal_worker(struct guest *g, int sig)
{
    pid_t holder = 0;
    if (g->rec.pid <= 0)
        return;
    if (!g->is_child && (worker_alive(g, &holder) != 1 || holder != g->rec.pid))
        return;
    kill(g->rec.pid, sig);
}

/* ---- a worker's end ---------------------------------------------------------------- */

static void describe_status(int status, char *out, size_t len)
{
    if (WIFSIGNALED(status))
        set_message(out, len, "worker killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        set_message(out, len, "worker exited with status %d", WEXITSTATUS(status));
}

/* What the worker wrote as it ended ("poweroff", "stopped", "error: ..."), or "". */
static void read_exit_file(const struct guest *g, char *out, size_t len)
{
    char path[PATH_MAX];
    file_in(g, "exit", path, sizeof(path));
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (!fgets(out, (int)len, f))
        out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
}

static void last_worker_error(const struct guest *g, char *out, size_t len)
{
    char path[PATH_MAX];
    file_in(g, "worker.log", path, sizeof(path));
    char *tail = file_tail(path, 1);
    set_message(out, len, "%s", tail && *tail ? tail : "the worker ended without saying why");
    free(tail);
}

/* Exit status 0, or the status of a worker stopped by SIGTERM or SIGINT it
 * handled (128 + the signal): an end it chose, not a crash. */
static bool ended_cleanly(int status)
{
    if (!WIFEXITED(status))
        return false;
    int code = WEXITSTATUS(status);
    return code == 0 || code == 128 + SIGTERM || code == 128 + SIGINT;
}

/* The worker is gone: say why, in the record. have_status: status is its wait
 * status (a child of ours); otherwise only its exit file can tell. */
static void worker_gone(struct guest *g, bool have_status, int status)
{
    bool was_starting = g->rec.state == GUEST_STARTING;
    bool stop_asked = g->stop_stage != STOP_NONE;
    char said[300];
    read_exit_file(g, said, sizeof(said));
    close_ready(g);
    evtimer_del(g->timer);
    free(g->rec.console_tail);
    g->rec.console_tail = NULL;
    g->rec.pid = 0;
    g->is_child = false;
    enum guest_state next = GUEST_STOPPED;
    if (was_starting) {
        /* The worker's own error line says why; its log has it when it could
         * not even write its exit file. */
        char why[400];
        if (strncmp(said, "error: ", 7) == 0)
            set_message(why, sizeof(why), "%s", said + 7);
        else
            last_worker_error(g, why, sizeof(why));
        set_message(g->rec.exit_reason, sizeof(g->rec.exit_reason), "did not start: %s", why);
    } else if (strcmp(said, "poweroff") == 0) {
        set_message(g->rec.exit_reason, sizeof(g->rec.exit_reason), "powered off");
    } else if (strcmp(said, "stopped") == 0) {
        set_message(g->rec.exit_reason, sizeof(g->rec.exit_reason), "stopped");
    } else if (strncmp(said, "error: ", 7) == 0) {
        set_message(g->rec.exit_reason, sizeof(g->rec.exit_reason), "%s", said + 7);
        next = GUEST_CRASHED;
    } else if (!said[0] && have_status && ended_cleanly(status)) {
        /* It ended as asked or powered off, and could not say so. */
        set_message(g->rec.exit_reason, sizeof(g->rec.exit_reason),
                    "%s (the worker could not write how it ended%s)",
                    stop_asked ? "stopped" : "powered off or stopped",
                    guests_disk_full(g->set->state_dir) ? ": the disk is full" : "");
    } else if (stop_asked && g->stop_stage == STOP_KILLED) {
        set_message(g->rec.exit_reason, sizeof(g->rec.exit_reason),
                 "killed: it did not stop when asked");
    } else if (stop_asked && (!have_status || (WIFSIGNALED(status) &&
                                                (WTERMSIG(status) == SIGTERM ||
                                                 WTERMSIG(status) == SIGINT)))) {
        /* Asked to stop, it stopped: before its own handlers were in place,
         * or without a word. Not a crash. */
        set_message(g->rec.exit_reason, sizeof(g->rec.exit_reason), "stopped");
    } else if (have_status) {
        describe_status(status, g->rec.exit_reason, sizeof(g->rec.exit_reason));
        next = GUEST_CRASHED;
    } else {
        set_message(g->rec.exit_reason, sizeof(g->rec.exit_reason),
                 "worker ended without an exit report (killed?)");
        next = GUEST_CRASHED;
    }
    if (next == GUEST_CRASHED)
        g->rec.console_tail = file_tail(g->console_log, CONSOLE_TAIL_LINES);
    g->stop_stage = STOP_NONE;
    log_info("guest %s: %s", g->rec.name, g->rec.exit_reason);
    set_state(g, next);
    settle(g);
}

static void settle(struct guest *g)
{
    if (g->set->config.settled)
        g->set->config.settled(g->set->config.opaque, g);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    struct guests *set = arg;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == set->standby_pid) {
            standby_died(set, status);
            continue;
        }
        for (struct guest *g = set->list; g; g = g->next) {
            if (g->is_child && g->rec.pid == pid) {
                worker_gone(g, true, status);
                break;
            }
        }
    }
}

/* Adopted workers are not our children: their lock going free is their end. */
static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct guests *set = arg;
    bool full = guests_disk_full(set->state_dir);
    for (struct guest *g = set->list; g; g = g->next) {
        if (!g->is_child && g->rec.pid && worker_alive(g, NULL) == 0)
            worker_gone(g, false, 0);
        if (g->unsaved[0])
            save(g);
        update_warning(g, full);
    }
}

/* ---- starting ---------------------------------------------------------------------- */

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct guest *g = arg;
    size_t room = sizeof(g->ready_text) - 1 - g->ready_len;
    ssize_t n = read(fd, g->ready_text + g->ready_len, room);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n > 0) {
        g->ready_len += (size_t)n;
        g->ready_text[g->ready_len] = '\0';
        if (!strchr(g->ready_text, '\n') && g->ready_len < sizeof(g->ready_text) - 1)
            return;
    }
    bool ready = strncmp(g->ready_text, "ready", 5) == 0;
    close_ready(g);
    if (!ready)
        return; /* the worker failed: its exit says how */
    /* "ready BACKEND": the backend the worker chose. */
    char backend[16] = "";
    if (sscanf(g->ready_text, "ready %15s", backend) == 1)
        set_message(g->rec.ran_on, sizeof(g->rec.ran_on), "%s", backend);
    evtimer_del(g->timer);
    note_memory_checked(g);
    set_state(g, GUEST_RUNNING);
    settle(g);
}

static void on_start_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct guest *g = arg;
    log_warn("guest %s: no word from its worker in %d s: stopping it", g->rec.name,
             START_TIMEOUT_SECONDS);
    g->stop_stage = STOP_KILLED;
    signal_worker(g, SIGKILL);
}

struct argv_builder {
    char *args[128]; /* up to 16 disks and 16 publishes, each two */
    unsigned n;
    char storage[16][PATH_MAX + 32];
    unsigned used;
    bool overflow;
};

static void arg(struct argv_builder *b, const char *text)
{
    if (b->n + 1 >= sizeof(b->args) / sizeof(b->args[0])) {
        b->overflow = true;
        return;
    }
    b->args[b->n++] = (char *)text;
    b->args[b->n] = NULL;
}

static const char *fmt_arg(struct argv_builder *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *fmt_arg(struct argv_builder *b, const char *fmt, ...)
{
    if (b->used == sizeof(b->storage) / sizeof(b->storage[0])) {
        b->overflow = true;
        return "";
    }
    char *out = b->storage[b->used++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, sizeof(b->storage[0]), fmt, ap);
    va_end(ap);
    return out;
}

static bool memory_was_checked(const struct guests *set, const char *id)
{
    for (unsigned i = 0; i < CHECKED_MEMORY_IDS; i++)
        if (strcmp(set->checked_memory[i], id) == 0)
            return true;
    return false;
}

static void note_memory_checked(struct guest *g)
{
    struct guests *set = g->set;
    if (!g->checking_memory[0] || memory_was_checked(set, g->checking_memory))
        return;
    set_message(set->checked_memory[set->next_checked], SNAPSHOT_MEMORY_ID_LEN, "%s",
                g->checking_memory);
    set->next_checked = (set->next_checked + 1) % CHECKED_MEMORY_IDS;
    g->checking_memory[0] = '\0';
}

/* The worker checks the memory file's checksums unless told it is one that
 * was checked as it is now; it compares the id with the file it opened. */
static void memory_check_argv(struct guest *g, struct argv_builder *b)
{
    char id[SNAPSHOT_MEMORY_ID_LEN];
    g->checking_memory[0] = '\0';
    if (snapshot_memory_id_at(g->rec.config.restore_from, id, sizeof(id)) < 0)
        return; /* the worker finds out and says what is wrong */
    if (memory_was_checked(g->set, id))
        arg(b, "--memory-checked"), arg(b, fmt_arg(b, "%s", id));
    else
        set_message(g->checking_memory, sizeof(g->checking_memory), "%s", id);
}

static void publish_argv(const struct guest_config *c, struct argv_builder *b)
{
    for (unsigned i = 0; i < c->num_publish; i++)
        arg(b, "--publish"), arg(b, c->publish[i]);
}

/* A restore takes memory, disks and display from the snapshot: only where
 * the worker keeps its instance and talks to us is ours to say. */
static void machine_argv(struct guest *g, struct argv_builder *b)
{
    const struct guest_config *c = &g->rec.config;
    if (c->restore_from) {
        arg(b, "--restore"), arg(b, c->restore_from);
        arg(b, "--backend"), arg(b, c->backend);
        memory_check_argv(g, b);
        publish_argv(c, b); /* the network mode is the snapshot's, */
        if (strstr(c->net, "host-loopback"))
            arg(b, "--host-loopback"); /* or wider, when the restore asked */
        return;
    }
    arg(b, "--kernel"), arg(b, c->kernel);
    if (c->initrd)
        arg(b, "--initrd"), arg(b, c->initrd);
    if (c->append)
        arg(b, "--append"), arg(b, c->append);
    arg(b, "--mem"), arg(b, fmt_arg(b, "%" PRIu64, c->mem_bytes));
    arg(b, "--cpus"), arg(b, fmt_arg(b, "%u", c->cpus));
    arg(b, "--backend"), arg(b, c->backend);
    for (unsigned i = 0; i < c->num_disks; i++)
        arg(b, "--disk"), arg(b, c->disks[i]);
    arg(b, "--net"), arg(b, c->net[0] ? c->net : "user");
    publish_argv(c, b);
}

static void worker_argv(struct guest *g, struct argv_builder *b)
{
    const struct guest_config *c = &g->rec.config;
    arg(b, g->set->vmmd_path);
    arg(b, "run");
    arg(b, "--guest"), arg(b, g->rec.name);
    machine_argv(g, b);
    arg(b, "--instance"), arg(b, g->instance_dir);
    if (c->gui) {
        arg(b, "--socket"), arg(b, g->display_socket);
        if (c->display_width && c->display_height && !c->restore_from)
            arg(b, "--display"),
                arg(b, fmt_arg(b, "%ux%u", c->display_width, c->display_height));
    } else {
        arg(b, "--no-gpu");
    }
    arg(b, "--console-socket"), arg(b, g->console_socket);
    arg(b, "--console-log"), arg(b, g->console_log);
    arg(b, "--worker-log"), arg(b, fmt_arg(b, "%s/worker.log", g->dir));
    arg(b, "--control-socket"), arg(b, g->control_socket);
    arg(b, "--vsock"), arg(b, g->vsock_socket);
    arg(b, "--cid"), arg(b, fmt_arg(b, "%u", g->rec.vsock_cid));
    arg(b, "--lock"), arg(b, fmt_arg(b, "%s/worker.lock", g->dir));
    arg(b, "--exit-file"), arg(b, fmt_arg(b, "%s/exit", g->dir));
    arg(b, "--ready-fd"), arg(b, fmt_arg(b, "%d", READY_FD));
}

/* Descriptors vmmd opened without close-on-exec must not reach a guest. One
 * close per possible descriptor took ~100 ms of every start here (a limit of
 * 20000 and a slow close in a VM); glibc's closefrom is one close_range. */
static void close_from(int lowest)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    closefrom(lowest);
#else
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = lowest; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
        close(fd);
#endif
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void exec_worker(char *const argv[], int ready_write, int log_fd)
{
    setsid(); /* a terminal's Ctrl-C or vmmd's end does not reach the guest */
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
        dup2(log_fd, STDERR_FILENO) < 0 || dup2(ready_write, READY_FD) < 0)
        _exit(127);
    close_from(READY_FD + 1);
    static const int handled[] = {SIGTERM, SIGINT, SIGCHLD, SIGPIPE, SIGHUP};
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        signal(handled[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], argv);
    _exit(127);
}

/* No signal reaches the child's copy of vmmd's handlers between fork and
 * exec: all are blocked across fork, and the child sets its own. Returns the
 * pid, or -1 with errno. */
static pid_t fork_exec(char *const argv[], int fd3, int out_fd)
{
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        exec_worker(argv, fd3, out_fd);
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return pid;
}

/* ---- the standby worker ------------------------------------------------------------ */

#define STANDBY_GIVE_UP 3
/* After a hand-over the next standby waits a little, so that its own start
 * does not take the CPU from the worker that was just handed a guest. */
#define STANDBY_RESPAWN_MS 500

static void start_standby(struct guests *set)
{
    if (set->standby_sock >= 0 || set->standby_deaths >= STANDBY_GIVE_UP)
        return;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        log_warn("cannot make a standby worker: socketpair: %s", strerror(errno));
        return;
    }
    (void)fcntl(sv[0], F_SETFD, FD_CLOEXEC); /* no other child holds it open */
    char room[STANDBY_TITLE_ROOM + 1];
    memset(room, ' ', STANDBY_TITLE_ROOM);
    room[STANDBY_TITLE_ROOM] = '\0';
    char *argv[] = {set->vmmd_path, "standby", room, NULL};
    pid_t pid = fork_exec(argv, sv[1], STDERR_FILENO);
    int saved = errno;
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        log_warn("cannot make a standby worker: fork: %s", strerror(saved));
        return;
    }
    set->standby_pid = pid;
    set->standby_sock = sv[0];
}

static void on_standby_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    start_standby(arg);
}

static void schedule_standby(struct guests *set, unsigned after_ms)
{
    struct timeval tv = {.tv_sec = after_ms / 1000, .tv_usec = (after_ms % 1000) * 1000};
    evtimer_add(set->standby_timer, &tv);
}

/* One that ends unused ended for a reason (a broken install, say) that the
 * next would likely share: after a few, workers are started as they were. */
static void standby_died(struct guests *set, int status)
{
    log_warn("standby worker %d ended unused (%s %d)", (int)set->standby_pid,
             WIFSIGNALED(status) ? "signal" : "status",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    close(set->standby_sock);
    set->standby_sock = -1;
    set->standby_pid = 0;
    if (++set->standby_deaths < STANDBY_GIVE_UP)
        schedule_standby(set, STANDBY_RESPAWN_MS);
    else
        log_warn("no more standby workers: each guest's worker starts from scratch");
}

/* The standby becomes this worker: its pid, or -1 when there is none or it
 * could not take the request (it then ends on its own). */
static pid_t hand_to_standby(struct guests *set, char *const argv[], int log_fd, int ready_fd)
{
    if (set->standby_sock < 0)
        return -1;
    int sock = set->standby_sock;
    pid_t pid = set->standby_pid;
    set->standby_sock = -1;
    set->standby_pid = 0; /* from here its end is a worker's, or nobody's */
    int rc = standby_send(sock, argv, log_fd, ready_fd);
    close(sock);
    schedule_standby(set, STANDBY_RESPAWN_MS);
    if (rc < 0) {
        log_warn("standby worker %d did not take the guest (%s): starting one afresh", (int)pid,
                 strerror(-rc));
        return -1;
    }
    set->standby_deaths = 0;
    return pid;
}

static int spawn_worker(struct guest *g, struct guest_error *e)
{
    struct argv_builder b = {0};
    worker_argv(g, &b);
    if (b.overflow) {
        e->code = IGNITION__ERROR__CODE__CODE_BAD_REQUEST;
        set_message(e->message, sizeof(e->message), "guest %s: too many arguments", g->rec.name);
        return -1;
    }
    char log_path[PATH_MAX];
    file_in(g, "worker.log", log_path, sizeof(log_path));
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int pipe_fds[2] = {-1, -1};
    if (log_fd < 0 || pipe(pipe_fds) < 0) {
        e->code = IGNITION__ERROR__CODE__CODE_INTERNAL;
        set_message(e->message, sizeof(e->message), "cannot start guest %s: %s", g->rec.name,
                    strerror(errno));
        if (log_fd >= 0)
            close(log_fd);
        return -1;
    }
    pid_t pid = hand_to_standby(g->set, b.args, log_fd, pipe_fds[1]);
    int saved = 0;
    if (pid < 0) {
        pid = fork_exec(b.args, pipe_fds[1], log_fd);
        saved = errno;
    }
    close(pipe_fds[1]);
    close(log_fd);
    if (pid < 0) {
        close(pipe_fds[0]);
        e->code = IGNITION__ERROR__CODE__CODE_INTERNAL;
        set_message(e->message, sizeof(e->message), "cannot start guest %s: fork: %s",
                    g->rec.name, strerror(saved));
        return -1;
    }
    set_nonblock_cloexec(pipe_fds[0]);
    g->ready_fd = pipe_fds[0];
    g->ready_len = 0;
    g->ready_ev = event_new(g->set->base, g->ready_fd, EV_READ | EV_PERSIST, on_ready, g);
    event_add(g->ready_ev, NULL);
    g->rec.pid = pid;
    g->is_child = true;
    log_info("guest %s: worker %d started", g->rec.name, (int)pid);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw);

static int guest_error(struct guest_error *e, Ignition__Error__Code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int guest_error(struct guest_error *e, Ignition__Error__Code code, const char *fmt, ...)
{
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

static int check_config(const char *name, const struct guest_config *c, struct guest_error *e)
{
    if (!c->restore_from && (!c->kernel || !*c->kernel))
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                           "guest %s: no kernel given (--kernel)", name);
    if (c->cpus < 1 || c->cpus > MACHINE_MAX_CPUS)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                           "guest %s: %u vCPUs asked for; give 1 to %s (--cpus)", name,
                           c->cpus, MACHINE_MAX_CPUS_TEXT);
    if (c->num_disks > GUEST_MAX_DISKS)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                           "guest %s: more than %d disks", name, GUEST_MAX_DISKS);
    return 0;
}

int guests_start(struct guests *set, const char *name, const struct guest_config *config,
                 bool config_given, struct guest **out, struct guest_error *e)
{
    if (!paths_guest_name_ok(name))
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                           "'%.40s' is not a guest name: use up to %d letters, digits, '.', "
                           "'_' or '-', starting with a letter or digit",
                           name, PATHS_GUEST_NAME_MAX);
    struct guest *g = guests_find(set, name);
    bool fresh = !g;
    if (g && (g->rec.state == GUEST_RUNNING || g->rec.state == GUEST_STARTING ||
              g->rec.state == GUEST_STOPPING))
        return guest_error(e, IGNITION__ERROR__CODE__CODE_EXISTS, "guest %s is already %s",
                           name, guest_state_name(g->rec.state));
    if (!g && !config)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_NOT_FOUND, "no guest named %s",
                           name);
    if (g && config_given)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_EXISTS,
                           "guest %s exists: start it without options to run it as it was "
                           "made, or remove it first (vmmctl rm %s)",
                           name, name);
    if (fresh) {
        if (check_config(name, config, e) < 0)
            return -1;
        g = guest_new(set, name);
        if (!g || guest_config_copy(&g->rec.config, config) < 0) {
            if (g)
                guest_free(g);
            return guest_error(e, IGNITION__ERROR__CODE__CODE_INTERNAL, "out of memory");
        }
        g->rec.vsock_cid = free_cid(set); /* g is not in the list yet */
        int rc = paths_make_dirs(g->dir, 0700);
        if (rc < 0) {
            guest_error(e, IGNITION__ERROR__CODE__CODE_INTERNAL, "cannot create %s: %s", g->dir,
                        strerror(-rc));
            guest_free(g);
            return -1;
        }
    }
    /* A restore copies the snapshot's disk layers into an empty instance:
     * a restored guest starts again as the snapshot was, each time. */
    if (g->rec.config.restore_from)
        nftw(g->instance_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    remove_file(g, "exit");
    g->rec.exit_reason[0] = '\0';
    free(g->rec.console_tail);
    g->rec.console_tail = NULL;
    if (spawn_worker(g, e) < 0) {
        if (fresh)
            guest_free(g); /* its empty directory is reused by the next try */
        return -1;
    }
    if (fresh)
        link_in_order(set, g);
    g->rec.started_unix_ms = now_unix_ms();
    g->stop_stage = STOP_NONE;
    event_assign(g->timer, set->base, -1, 0, on_start_timeout, g);
    struct timeval limit = {.tv_sec = START_TIMEOUT_SECONDS};
    evtimer_add(g->timer, &limit);
    set_state(g, GUEST_STARTING);
    *out = g;
    return 0;
}

/* ---- restoring --------------------------------------------------------------------- */

static void describe_snapshot(const char *dir, const struct snapshot_machine_config *m,
                              struct guest_config *c)
{
    c->restore_from = strdup(dir);
    c->append = strdup(m->cmdline);
    for (unsigned i = 0; i < m->num_disks && i < GUEST_MAX_DISKS; i++)
        if ((c->disks[c->num_disks] = strdup(m->disks[i].base_path)))
            c->num_disks++;
    c->mem_bytes = m->ram_size;
    c->cpus = m->num_cpus ? m->num_cpus : 1;
    set_message(c->backend, sizeof(c->backend), "%s", m->backend);
    c->gui = m->gpu;
    c->display_width = m->display_width;
    c->display_height = m->display_height;
    set_message(c->net, sizeof(c->net), "%s",
                m->net == SNAPSHOT_NET_NONE                ? "none"
                : m->net == SNAPSHOT_NET_USER_HOST_LOOPBACK ? "user,host-loopback"
                                                            : "user");
}

int guests_snapshot_config(const char *dir, struct guest_config *out, struct guest_error *e)
{
    memset(out, 0, sizeof(*out));
    char err[512];
    struct snapshot_reader *r;
    if (snapshot_open(dir, &r, err, sizeof(err)) < 0)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                           "cannot restore from %s: %s", dir, err);
    const uint8_t *body;
    size_t len;
    snapshot_manifest(r, &body, &len);
    struct snapshot_machine_config *m = calloc(1, sizeof(*m));
    struct machine_snapshot *state = calloc(1, sizeof(*state));
    int rc = m && state ? snapshot_manifest_decode(body, len, m, state, err, sizeof(err))
                        : -ENOMEM;
    snapshot_close(r);
    if (rc == 0) {
        snapshot_manifest_free(state);
        describe_snapshot(dir, m, out);
        if (!out->restore_from || !out->append)
            rc = -ENOMEM;
    }
    free(m);
    free(state);
    if (rc == -ENOMEM) {
        guest_config_clear(out);
        return guest_error(e, IGNITION__ERROR__CODE__CODE_INTERNAL, "out of memory");
    }
    if (rc < 0)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                           "cannot restore from %s: %s", dir, err);
    return 0;
}

int guests_restore(struct guests *set, const char *name, const struct guest_config *config,
                   bool disposable, struct guest **out, struct guest_error *e)
{
    if (guests_find(set, name))
        return guest_error(e, IGNITION__ERROR__CODE__CODE_EXISTS,
                           "a guest named %s exists: give the restore another name (--name)",
                           name);
    if (guests_start(set, name, config, false, out, e) < 0)
        return -1;
    if (disposable) {
        (*out)->rec.disposable = true;
        save(*out);
    }
    return 0;
}

const char *guests_last_snapshot(const struct guest *g)
{
    if (g->rec.last_snapshot[0])
        return g->rec.last_snapshot;
    /* Restored guests are made from STATE/snapshots/SNAP. */
    const char *dir = g->rec.config.restore_from;
    const char *leaf = dir ? strrchr(dir, '/') : NULL;
    return leaf && paths_guest_name_ok(leaf + 1) ? leaf + 1 : "";
}

void guests_snapshot_asked(struct guest *g, const char *snap, const char *dir)
{
    if (!paths_guest_name_ok(snap))
        return;
    set_message(g->pending_snapshot, sizeof(g->pending_snapshot), "%s", snap);
    set_message(g->pending_dir, sizeof(g->pending_dir), "%s", dir);
    if (snapshot_memory_id_at(dir, g->pending_before, sizeof(g->pending_before)) < 0)
        g->pending_before[0] = '\0';
}

/* The writer puts a whole new directory in place at once, with a new memory
 * file: a memory file there other than the one there when it was asked for
 * is the snapshot, committed. Until then (and forever, for one that failed)
 * the guest's last snapshot stays what it was. */
static void settle_snapshot(struct guest *g)
{
    char now[SNAPSHOT_MEMORY_ID_LEN];
    if (!g->pending_snapshot[0] || snapshot_memory_id_at(g->pending_dir, now, sizeof(now)) < 0 ||
        strcmp(now, g->pending_before) == 0)
        return;
    set_message(g->rec.last_snapshot, sizeof(g->rec.last_snapshot), "%s", g->pending_snapshot);
    log_info("guest %s: snapshot %s is in place", g->rec.name, g->pending_snapshot);
    g->pending_snapshot[0] = '\0';
    save(g);
}

void guests_settle_snapshots(struct guests *set)
{
    for (struct guest *g = set->list; g; g = g->next)
        settle_snapshot(g);
}

int guests_relaunch(struct guest *g, const char *snap, const struct guest_config *config,
                    struct guest_error *e)
{
    if (g->rec.state != GUEST_STOPPED && g->rec.state != GUEST_CRASHED)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_STATE,
                           "guest %s is %s: it must be stopped to be relaunched", g->rec.name,
                           guest_state_name(g->rec.state));
    if (!config->restore_from || !paths_guest_name_ok(snap))
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                           "guest %s: a relaunch restores a snapshot", g->rec.name);
    struct guest_config copy;
    if (guest_config_copy(&copy, config) < 0)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_INTERNAL, "out of memory");
    guest_config_clear(&g->rec.config);
    g->rec.config = copy;
    set_message(g->rec.last_snapshot, sizeof(g->rec.last_snapshot), "%s", snap);
    log_info("guest %s: relaunched from snapshot %s", g->rec.name, snap);
    struct guest *started;
    return guests_start(g->set, g->rec.name, NULL, false, &started, e);
}

/* ---- stopping ----------------------------------------------------------------------- */

static void stop_step(struct guest *g, enum stop_stage stage, unsigned after_ms);

static void on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct guest *g = arg;
    if (g->stop_stage == STOP_ASKED) {
        log_info("guest %s: did not power off in time: stopping it", g->rec.name);
        stop_step(g, STOP_NOW, FORCE_GRACE_SECONDS * 1000);
    } else if (g->stop_stage == STOP_NOW) {
        log_warn("guest %s: worker %d did not stop: killing it", g->rec.name, (int)g->rec.pid);
        stop_step(g, STOP_KILLED, 0);
    }
}

/* ASKED: SIGTERM, the worker presses the guest's power key. NOW: SIGINT, the
 * worker stops the guest and exits. KILLED: SIGKILL. */
static void stop_step(struct guest *g, enum stop_stage stage, unsigned after_ms)
{
    static const int signals[] = {[STOP_ASKED] = SIGTERM, [STOP_NOW] = SIGINT,
                                  [STOP_KILLED] = SIGKILL};
    g->stop_stage = stage;
    signal_worker(g, signals[stage]);
    evtimer_del(g->timer);
    if (stage != STOP_KILLED) {
        event_assign(g->timer, g->set->base, -1, 0, on_stop_timer, g);
        struct timeval tv = {.tv_sec = after_ms / 1000, .tv_usec = (after_ms % 1000) * 1000};
        evtimer_add(g->timer, &tv);
    }
}

int guests_stop(struct guest *g, bool force, uint32_t timeout_ms, struct guest_error *e)
{
    if (g->rec.state != GUEST_RUNNING && g->rec.state != GUEST_STOPPING &&
        g->rec.state != GUEST_STARTING)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_STATE, "guest %s is not running",
                           g->rec.name);
    if (g->rec.state == GUEST_STOPPING && !force)
        return 0; /* already on its way; the caller waits with the others */
    close_ready(g);
    set_state(g, GUEST_STOPPING);
    if (force)
        stop_step(g, STOP_NOW, FORCE_GRACE_SECONDS * 1000);
    else
        stop_step(g, STOP_ASKED, timeout_ms);
    return 0;
}

/* ---- removing ----------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int guests_remove(struct guests *set, struct guest *g, struct guest_error *e)
{
    if (g->rec.state != GUEST_STOPPED && g->rec.state != GUEST_CRASHED)
        return guest_error(e, IGNITION__ERROR__CODE__CODE_BAD_STATE,
                           "guest %s is %s: stop it first (vmmctl stop %s)", g->rec.name,
                           guest_state_name(g->rec.state), g->rec.name);
    nftw(g->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    unlink(g->display_socket);
    unlink(g->console_socket);
    unlink(g->control_socket);
    unlink(g->vsock_socket);
    for (struct guest **at = &set->list; *at; at = &(*at)->next) {
        if (*at == g) {
            *at = g->next;
            break;
        }
    }
    log_info("guest %s: removed", g->rec.name);
    guest_free(g);
    return 0;
}

/* ---- loading and adopting ----------------------------------------------------------- */

/* A worker still running from an earlier vmmd is adopted; one that ended while
 * no vmmd watched gets the end its exit file (or its absence) tells. */
static void reconcile(struct guest *g)
{
    enum guest_state was = g->rec.state;
    if (was != GUEST_RUNNING && was != GUEST_STARTING && was != GUEST_STOPPING)
        return;
    pid_t pid = 0;
    int alive = worker_alive(g, &pid);
    /* A worker writes its pid just after taking the lock: give it a moment. */
    for (int tries = 0; alive == 1 && pid <= 0 && tries < 20; tries++) {
        usleep(50 * 1000);
        alive = worker_alive(g, &pid);
    }
    if (alive == 1 && pid > 0) {
        g->rec.pid = pid;
        g->is_child = false;
        log_info("guest %s: adopted its running worker %d", g->rec.name, (int)pid);
        set_state(g, GUEST_RUNNING);
        return;
    }
    /* A stop was asked (the record says so) and the worker is gone: the stop
     * happened, whether or not it could say so. */
    if (was == GUEST_STOPPING)
        g->stop_stage = STOP_ASKED;
    g->rec.state = GUEST_RUNNING; /* so that the end is told as a running guest's */
    worker_gone(g, false, 0);
}

static void load_one(struct guests *set, const char *name)
{
    if (!paths_guest_name_ok(name))
        return;
    struct guest *g = guest_new(set, name);
    if (!g)
        return;
    char path[PATH_MAX], err[PATH_MAX + 256];
    file_in(g, "guest.json", path, sizeof(path));
    struct guest_record rec;
    if (registry_load(path, &rec, err, sizeof(err)) < 0) {
        log_error("skipping guest %s: %s", name, err);
        guest_free(g);
        return;
    }
    if (strcmp(rec.name, name) != 0) {
        log_error("skipping guest %s: its record names '%s'", name, rec.name);
        guest_record_clear(&rec);
        guest_free(g);
        return;
    }
    g->rec = rec;
    link_in_order(set, g);
    reconcile(g);
}

static void load_all(struct guests *set)
{
    char dir[PATH_MAX];
    set_message(dir, sizeof(dir), "%s/guests", set->state_dir);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            load_one(set, de->d_name);
    closedir(d);
}

struct guests *guests_open(struct event_base *base, const struct guests_config *config,
                           char *err, size_t err_len)
{
    struct guests *set = calloc(1, sizeof(*set));
    if (!set) {
        set_message(err, err_len, "out of memory");
        return NULL;
    }
    set->base = base;
    set->config = *config;
    set_message(set->state_dir, sizeof(set->state_dir), "%s", config->state_dir);
    set_message(set->run_dir, sizeof(set->run_dir), "%s", config->run_dir);
    set_message(set->vmmd_path, sizeof(set->vmmd_path), "%s", config->vmmd_path);
    set->config.state_dir = set->state_dir;
    set->config.run_dir = set->run_dir;
    set->config.vmmd_path = set->vmmd_path;
    set->standby_sock = -1;
    set->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, set);
    set->poll = event_new(base, -1, EV_PERSIST, on_poll, set);
    set->standby_timer = evtimer_new(base, on_standby_timer, set);
    struct timeval every = {.tv_usec = ADOPTED_POLL_MS * 1000};
    if (!set->sigchld || !set->poll || !set->standby_timer ||
        event_add(set->sigchld, NULL) < 0 ||
        event_add(set->poll, &every) < 0) {
        set_message(err, err_len, "cannot watch for guests' ends");
        guests_close(set);
        return NULL;
    }
    load_all(set);
    give_cids(set);
    keep_reserve(set);
    schedule_standby(set, 0);
    return set;
}

void guests_close(struct guests *set)
{
    if (!set)
        return;
    while (set->list) {
        struct guest *g = set->list;
        set->list = g->next;
        guest_free(g);
    }
    if (set->sigchld)
        event_free(set->sigchld);
    if (set->poll)
        event_free(set->poll);
    if (set->standby_timer)
        event_free(set->standby_timer);
    if (set->standby_sock >= 0)
        close(set->standby_sock); /* the standby sees the end and exits */
    free(set);
}

/* ---- lookups ------------------------------------------------------------------------ */

struct guest *guests_find(struct guests *set, const char *name)
{
    for (struct guest *g = set->list; g; g = g->next)
        if (strcmp(g->rec.name, name) == 0)
            return g;
    return NULL;
}

struct guest *guests_next(struct guests *set, struct guest *after)
{
    return after ? after->next : set->list;
}

const struct guest_record *guest_record(const struct guest *g) { return &g->rec; }
const char *guest_backend(const struct guest *g)
{
    return g->rec.ran_on[0] ? g->rec.ran_on : g->rec.config.backend;
}
const char *guest_display_socket(const struct guest *g) { return g->display_socket; }
const char *guest_console_socket(const struct guest *g) { return g->console_socket; }
const char *guest_console_log(const struct guest *g) { return g->console_log; }

bool guests_disk_full(const char *dir)
{
    struct statvfs st;
    return statvfs(dir, &st) == 0 && (uint64_t)st.f_bavail * st.f_frsize < STATE_LOW_BYTES;
}

const char *guest_storage_warning(const struct guest *g)
{
    return g->warning;
}
const char *guest_instance_dir(const struct guest *g) { return g->instance_dir; }
const char *guest_control_socket(const struct guest *g) { return g->control_socket; }

const char *guest_vsock_socket(const struct guest *g)
{
    struct stat st; /* a guest restored from a snapshot older than vsock has none */
    return stat(g->vsock_socket, &st) == 0 && S_ISSOCK(st.st_mode) ? g->vsock_socket : "";
}
