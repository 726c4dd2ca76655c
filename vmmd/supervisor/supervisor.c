#include "worker/net_user.h"
#include "supervisor/supervisor.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#include "supervisor/guests.h"
#include "control_server.h"
#include "ignition.pb-c.h"
#include "log.h"
#include "machine/machine.h"
#include "paths.h"
#include "storage/snapshot_file.h"
#include "unixsock.h"
#include "util.h"
#include "wire.h"

#define MAX_CLIENTS 64
#define CLIENT_QUEUE_LIMIT (2u << 20)
#define LOG_ROTATE_BYTES (1u << 20)
#define DEFAULT_STOP_TIMEOUT_MS 30000u
#define MAX_STOP_TIMEOUT_MS (3600u * 1000u)
#define MAX_CONFIG_PATH 1024 /* a kernel, initrd or disk path, with its options */
#define MAX_FANOUT 64        /* clones one Fanout starts */
#define MAX_AUTO_NUMBER 9999 /* SNAP-1 ... for a restore not given a name */

/* What vmmd keeps of a client of its control server (control_server.h, which
 * owns the connection): the request it owes an answer to. */
struct client {
    struct supervisor *sv;
    struct client *next;
    struct control_conn *conn;
    struct guest *waiting;  /* the guest whose start or stop answers this client */
    bool restoring;         /* waiting is a guest this client's Restore made */
    /* A Fanout's clones: the answer goes once none of them is starting. */
    struct guest *fanout[MAX_FANOUT];
    unsigned fanout_count;
    /* A relaunch waiting for `waiting` to stop: then relaunched as this says. */
    bool relaunching;
    struct guest_config relaunch_config;
    char relaunch_snap[PATHS_GUEST_NAME_MAX + 1];
};

struct supervisor {
    struct event_base *base;
    struct guests *guests;
    char state_dir[PATH_MAX], run_dir[PATH_MAX], socket_path[PATH_MAX];
    struct control_server *server;
    struct client *clients;
};

struct guest_to_remove {
    struct supervisor *sv;
    char name[PATHS_GUEST_NAME_MAX + 1];
    char why[400];
};

/* Waiting for a start, stop or fan-out: its answer is still to come. */
static bool client_busy(const struct client *c)
{
    return c->waiting || c->fanout_count;
}

/* ---- replies ---------------------------------------------------------------------- */

static void send_envelope(struct client *c, const Ignition__Envelope *env)
{
    control_conn_reply(c->conn, env);
}

static void send_error(struct client *c, Ignition__Error__Code code, const char *message)
{
    control_conn_error(c->conn, code, message);
}

static void fill_config(Ignition__GuestConfig *out, const struct guest_config *c)
{
    out->kernel = c->kernel ? c->kernel : "";
    out->initrd = c->initrd ? c->initrd : "";
    out->append = c->append ? c->append : "";
    out->n_disks = c->num_disks;
    out->disks = (char **)c->disks;
    out->mem_bytes = c->mem_bytes;
    out->cpus = c->cpus;
    out->backend = (char *)c->backend;
    out->gui = c->gui;
    out->display_width = c->display_width;
    out->display_height = c->display_height;
    out->net = (char *)(c->net[0] ? c->net : "user");
    static char *publish[GUEST_MAX_PUBLISH]; /* one loop thread: filled, sent, forgotten */
    for (unsigned i = 0; i < c->num_publish; i++)
        publish[i] = (char *)c->publish[i];
    out->n_publish = c->num_publish;
    out->publish = publish;
}

/* Publish rules from a request, checked and written as vmmd run takes them;
 * shift moves every host port up (each clone of a fan-out its own). */
static bool publish_from_wire(char **rules, size_t n, unsigned shift, struct guest_config *out,
                              char *why, size_t why_len)
{
    if (n > GUEST_MAX_PUBLISH) {
        set_message(why, why_len, "more than %d publish rules", GUEST_MAX_PUBLISH);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        struct net_publish p;
        char err[160];
        if (net_publish_parse(rules[i], &p, err, sizeof(err)) < 0) {
            set_message(why, why_len, "%s", err);
            return false;
        }
        if (p.host_port + shift > 65535) {
            set_message(why, why_len, "publish %s: no host port %u for a clone", rules[i],
                        p.host_port + shift);
            return false;
        }
        p.host_port = (uint16_t)(p.host_port + shift);
        net_publish_format(&p, out->publish[i], sizeof(out->publish[0]));
    }
    out->num_publish = (unsigned)n;
    return true;
}

/* --net without publish items: "user", "user,host-loopback" or "none". */
static bool net_from_wire(const char *net, struct guest_config *out, char *why, size_t why_len)
{
    struct net_config nc = {0};
    char err[160];
    if (strlen(net) >= sizeof(out->net) || strstr(net, "publish") ||
        (*net && net_config_parse(net, &nc, err, sizeof(err)) < 0)) {
        set_message(why, why_len, "network '%.40s': give user, user,host-loopback or none (and "
                    "--publish for ports)", net);
        return false;
    }
    set_message(out->net, sizeof(out->net), "%s", net);
    return true;
}

static Ignition__GuestInfo__State wire_state(enum guest_state s)
{
    switch (s) {
    case GUEST_STOPPED: return IGNITION__GUEST_INFO__STATE__STATE_STOPPED;
    case GUEST_STARTING: return IGNITION__GUEST_INFO__STATE__STATE_STARTING;
    case GUEST_RUNNING: return IGNITION__GUEST_INFO__STATE__STATE_RUNNING;
    case GUEST_STOPPING: return IGNITION__GUEST_INFO__STATE__STATE_STOPPING;
    case GUEST_CRASHED: return IGNITION__GUEST_INFO__STATE__STATE_CRASHED;
    }
    return IGNITION__GUEST_INFO__STATE__STATE_UNSPECIFIED;
}

static void fill_info(Ignition__GuestInfo *info, Ignition__GuestConfig *config,
                      const struct guest *g)
{
    const struct guest_record *r = guest_record(g);
    bool up = r->state == GUEST_RUNNING || r->state == GUEST_STOPPING;
    fill_config(config, &r->config);
    info->name = (char *)r->name;
    info->state = wire_state(r->state);
    info->config = config;
    info->pid = r->pid;
    info->backend = (char *)guest_backend(g);
    info->started_unix_ms = (uint64_t)r->started_unix_ms;
    if (up) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - r->started_unix_ms;
        info->uptime_ms = ms > 0 ? (uint64_t)ms : 0;
    }
    info->exit_reason = (char *)r->exit_reason;
    info->console_tail = r->console_tail ? r->console_tail : "";
    info->display_socket = up && r->config.gui ? (char *)guest_display_socket(g) : "";
    info->console_socket = up ? (char *)guest_console_socket(g) : "";
    info->control_socket = up ? (char *)guest_control_socket(g) : "";
    info->vsock_socket = up ? (char *)guest_vsock_socket(g) : "";
    info->vsock_cid = r->vsock_cid;
    info->restore_from = r->config.restore_from ? r->config.restore_from : "";
    info->last_snapshot = (char *)guests_last_snapshot(g);
    info->console_log = (char *)guest_console_log(g);
    info->instance_dir = (char *)guest_instance_dir(g);
    info->storage_warning = (char *)guest_storage_warning(g);
    info->disposable = r->disposable;
}

static void send_guest(struct client *c, const struct guest *g)
{
    Ignition__GuestInfo info = IGNITION__GUEST_INFO__INIT;
    Ignition__GuestConfig config = IGNITION__GUEST_CONFIG__INIT;
    fill_info(&info, &config, g);
    Ignition__GuestReply reply = IGNITION__GUEST_REPLY__INIT;
    reply.guest = &info;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_GUEST;
    env.guest = &reply;
    send_envelope(c, &env);
}

/* The guests in list (n of them), in one GuestList. */
static void send_guests(struct client *c, struct guest *const *list, size_t n)
{
    Ignition__GuestInfo *infos = calloc(n ? n : 1, sizeof(*infos));
    Ignition__GuestConfig *configs = calloc(n ? n : 1, sizeof(*configs));
    Ignition__GuestInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (!infos || !configs || !ptrs) {
        send_error(c, IGNITION__ERROR__CODE__CODE_INTERNAL, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            ignition__guest_info__init(&infos[i]);
            ignition__guest_config__init(&configs[i]);
            fill_info(&infos[i], &configs[i], list[i]);
            ptrs[i] = &infos[i];
        }
        Ignition__GuestList reply = IGNITION__GUEST_LIST__INIT;
        reply.n_guests = n;
        reply.guests = ptrs;
        Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
        env.body_case = IGNITION__ENVELOPE__BODY_GUEST_LIST;
        env.guest_list = &reply;
        send_envelope(c, &env);
    }
    free(infos);
    free(configs);
    free(ptrs);
}

static void send_list(struct client *c)
{
    size_t n = 0;
    for (struct guest *g = guests_next(c->sv->guests, NULL); g; g = guests_next(c->sv->guests, g))
        n++;
    struct guest **all = calloc(n ? n : 1, sizeof(*all));
    if (!all) {
        send_error(c, IGNITION__ERROR__CODE__CODE_INTERNAL, "out of memory");
        return;
    }
    size_t i = 0;
    for (struct guest *g = guests_next(c->sv->guests, NULL); g; g = guests_next(c->sv->guests, g))
        all[i++] = g;
    send_guests(c, all, n);
    free(all);
}

/* ---- requests --------------------------------------------------------------------- */

static struct guest *find_named(struct client *c, const char *name)
{
    struct guest *g = name && *name ? guests_find(c->sv->guests, name) : NULL;
    if (!g) {
        char msg[160];
        if (!name || !*name)
            set_message(msg, sizeof(msg), "no guest name given");
        else
            set_message(msg, sizeof(msg), "no guest named '%.40s' (vmmctl list shows the guests)",
                     name);
        send_error(c, IGNITION__ERROR__CODE__CODE_NOT_FOUND, msg);
    }
    return g;
}

/* The config as sent, checked for what a worker's command line cannot carry. */
static bool config_from_wire(const Ignition__GuestConfig *in, struct guest_config *out,
                             char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (!in) {
        set_message(why, why_len, "the request has no guest configuration");
        return false;
    }
    if (in->n_disks > GUEST_MAX_DISKS) {
        set_message(why, why_len, "more than %d disks", GUEST_MAX_DISKS);
        return false;
    }
    if (strlen(in->backend) >= sizeof(out->backend)) {
        set_message(why, why_len, "'%.20s' is not a backend (auto, emu, kvm, hvf)", in->backend);
        return false;
    }
    if (!*in->kernel) {
        set_message(why, why_len, "no kernel: give --kernel, or build the demo guest "
                                  "(tools/build-guest)");
        return false;
    }
    if (*in->kernel != '/' || (*in->initrd && *in->initrd != '/')) {
        set_message(why, why_len, "kernel and initrd paths must be absolute");
        return false;
    }
    /* Bounded, so that a guest's record and every List reply stay small. */
    if (strlen(in->kernel) > MAX_CONFIG_PATH || strlen(in->initrd) > MAX_CONFIG_PATH ||
        strlen(in->append) >= MACHINE_MAX_CMDLINE) {
        set_message(why, why_len, "a path longer than %d bytes, or a command line longer "
                                  "than the kernel's %d", MAX_CONFIG_PATH, MACHINE_MAX_CMDLINE);
        return false;
    }
    for (size_t i = 0; i < in->n_disks; i++) {
        if (in->disks[i][0] != '/' || strlen(in->disks[i]) > MAX_CONFIG_PATH) {
            set_message(why, why_len, "disk %zu: give an absolute path of at most %d bytes", i,
                        MAX_CONFIG_PATH);
            return false;
        }
    }
    char ram_why[160];
    if (machine_check_ram_size(in->mem_bytes, ram_why, sizeof(ram_why)) < 0) {
        set_message(why, why_len, "memory: %s", ram_why);
        return false;
    }
    if (in->display_width > 16384 || in->display_height > 16384) {
        set_message(why, why_len, "display larger than 16384x16384");
        return false;
    }
    out->kernel = in->kernel;
    out->initrd = *in->initrd ? in->initrd : NULL;
    out->append = *in->append ? in->append : NULL;
    out->num_disks = (unsigned)in->n_disks;
    for (size_t i = 0; i < in->n_disks; i++)
        out->disks[i] = in->disks[i];
    out->mem_bytes = in->mem_bytes;
    out->cpus = in->cpus;
    set_message(out->backend, sizeof(out->backend), "%s", *in->backend ? in->backend : "auto");
    out->gui = in->gui;
    out->display_width = in->display_width;
    out->display_height = in->display_height;
    if (!net_from_wire(in->net, out, why, why_len) ||
        !publish_from_wire(in->publish, in->n_publish, 0, out, why, why_len))
        return false;
    if (strcmp(out->net, "none") == 0 && out->num_publish) {
        set_message(why, why_len, "--publish needs a network: not with --net none");
        return false;
    }
    return true;
}

static void handle_start(struct client *c, const Ignition__StartRequest *req)
{
    struct guest_config config;
    char why[200];
    bool exists = guests_find(c->sv->guests, req->name) != NULL;
    /* A new guest needs a config; a known one runs as it was made. */
    if (!exists && !config_from_wire(req->config, &config, why, sizeof(why))) {
        char msg[300];
        snprintf(msg, sizeof(msg), "cannot start '%.40s': %s", req->name, why);
        send_error(c, IGNITION__ERROR__CODE__CODE_BAD_REQUEST, msg);
        return;
    }
    struct guest_error e;
    struct guest *g;
    if (guests_start(c->sv->guests, req->name, exists ? NULL : &config,
                     exists && req->config_given, &g, &e) < 0) {
        send_error(c, e.code, e.message);
        return;
    }
    c->waiting = g;
}

static void handle_stop(struct client *c, const Ignition__StopRequest *req)
{
    struct guest *g = find_named(c, req->name);
    if (!g)
        return;
    uint32_t timeout = req->timeout_ms ? req->timeout_ms : DEFAULT_STOP_TIMEOUT_MS;
    if (timeout > MAX_STOP_TIMEOUT_MS)
        timeout = MAX_STOP_TIMEOUT_MS;
    struct guest_error e;
    if (guests_stop(g, req->force, timeout, &e) < 0) {
        send_error(c, e.code, e.message);
        return;
    }
    c->waiting = g;
}

/* Removes g (not running), which no client waits for afterwards. */
static void forget_guest(struct supervisor *sv, struct guest *g)
{
    for (struct client *o = sv->clients; o; o = o->next) {
        if (o->waiting == g) {
            o->waiting = NULL;
            o->restoring = false;
        }
        for (unsigned i = 0; i < o->fanout_count; i++)
            if (o->fanout[i] == g)
                o->fanout[i] = NULL;
        if (!client_busy(o))
            control_conn_wait(o->conn, false); /* nothing left to wait for */
    }
    struct guest_error e;
    guests_remove(sv->guests, g, &e);
}

static void handle_remove(struct client *c, const Ignition__RemoveRequest *req)
{
    struct guest *g = find_named(c, req->name);
    if (!g)
        return;
    /* The reply describes what was removed, so it is sent first. */
    struct guest_error e;
    const struct guest_record *r = guest_record(g);
    if (r->state != GUEST_STOPPED && r->state != GUEST_CRASHED) {
        guests_remove(c->sv->guests, g, &e);
        send_error(c, e.code, e.message);
        return;
    }
    struct supervisor *sv = c->sv;
    send_guest(c, g); /* may drop c: freed only after this handler */
    forget_guest(sv, g);
}

static void handle_attach(struct client *c, const char *name, bool console)
{
    struct guest *g = find_named(c, name);
    if (!g)
        return;
    const struct guest_record *r = guest_record(g);
    char msg[200];
    if (r->state != GUEST_RUNNING) {
        set_message(msg, sizeof(msg), "guest %s is %s (vmmctl start %s runs it)", r->name,
                 guest_state_name(r->state), r->name);
        send_error(c, IGNITION__ERROR__CODE__CODE_BAD_STATE, msg);
        return;
    }
    if (!console && !r->config.gui) {
        set_message(msg, sizeof(msg), "guest %s has no display (it was started with --no-gui)",
                 r->name);
        send_error(c, IGNITION__ERROR__CODE__CODE_UNSUPPORTED, msg);
        return;
    }
    send_guest(c, g);
}

/* ---- snapshots -------------------------------------------------------------------- */

/* STATE/snapshots/SNAP for a valid SNAP; false after telling the client why not. */
static bool snapshot_dir_of(struct client *c, const char *snap, char *out, size_t len)
{
    if (!snap || !paths_guest_name_ok(snap)) {
        char msg[200];
        set_message(msg, sizeof(msg),
                    "'%.40s' is not a snapshot name: use up to %d letters, digits, '.', '_' "
                    "or '-', starting with a letter or digit",
                    snap ? snap : "", PATHS_GUEST_NAME_MAX);
        send_error(c, IGNITION__ERROR__CODE__CODE_BAD_REQUEST, msg);
        return false;
    }
    set_message(out, len, "%s/snapshots/%s", c->sv->state_dir, snap);
    return true;
}

static void send_no_snapshot(struct client *c, const char *snap)
{
    char msg[160];
    set_message(msg, sizeof(msg), "no snapshot named '%.40s' (vmmctl snapshots lists them)", snap);
    send_error(c, IGNITION__ERROR__CODE__CODE_NOT_FOUND, msg);
}

/* vmmd only says where: the client asks the worker itself, so that a
 * snapshot's seconds of writing never hold up vmmd's loop. */
static void handle_snapshot(struct client *c, const Ignition__SnapshotRequest *req)
{
    struct guest *g = find_named(c, req->name);
    char dir[PATH_MAX], msg[PATH_MAX + 64];
    if (!g || !snapshot_dir_of(c, req->path, dir, sizeof(dir)))
        return;
    const struct guest_record *r = guest_record(g);
    if (r->state != GUEST_RUNNING) {
        set_message(msg, sizeof(msg), "guest %s is %s: only a running guest can be snapshotted",
                    r->name, guest_state_name(r->state));
        send_error(c, IGNITION__ERROR__CODE__CODE_BAD_STATE, msg);
        return;
    }
    char parent[PATH_MAX];
    set_message(parent, sizeof(parent), "%s/snapshots", c->sv->state_dir);
    int rc = paths_make_dirs(parent, 0700);
    if (rc < 0) {
        set_message(msg, sizeof(msg), "cannot create %s: %s", parent, strerror(-rc));
        send_error(c, IGNITION__ERROR__CODE__CODE_INTERNAL, msg);
        return;
    }
    Ignition__GuestInfo info = IGNITION__GUEST_INFO__INIT;
    Ignition__GuestConfig config = IGNITION__GUEST_CONFIG__INIT;
    fill_info(&info, &config, g);
    info.snapshot_path = dir;
    /* vmmd never hears back from the worker: the snapshot becomes the guest's
     * last one when vmmd next sees it in place (guests_settle_snapshots). One
     * that fails is never recorded. */
    guests_snapshot_asked(g, req->path, dir);
    Ignition__GuestReply reply = IGNITION__GUEST_REPLY__INIT;
    reply.guest = &info;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_GUEST;
    env.guest = &reply;
    send_envelope(c, &env);
}

/* The restore config of snapshot SNAP at dir; false after telling why not. */
static bool restore_config(struct client *c, const char *snap, const char *dir,
                           struct guest_config *out)
{
    struct guest_error e;
    if (guests_snapshot_config(dir, out, &e) == 0)
        return true;
    struct stat st;
    if (stat(dir, &st) < 0 && errno == ENOENT && e.code == IGNITION__ERROR__CODE__CODE_BAD_REQUEST)
        send_no_snapshot(c, snap);
    else
        send_error(c, e.code, e.message);
    return false;
}

/* PREFIX1, PREFIX2, ...: the first free name after *next, or false. */
static bool next_free_name(struct supervisor *sv, const char *prefix, unsigned *next, char *out,
                           size_t len)
{
    for (; *next <= MAX_AUTO_NUMBER; (*next)++) {
        int n = snprintf(out, len, "%s%u", prefix, *next);
        if (n < 0 || (size_t)n >= len || !paths_guest_name_ok(out))
            return false;
        if (!guests_find(sv->guests, out)) {
            (*next)++;
            return true;
        }
    }
    return false;
}

static void send_no_name(struct client *c, const char *prefix)
{
    char msg[200];
    set_message(msg, sizeof(msg), "no free guest name of the form %.40sN (names are up to %d "
                "characters)", prefix, PATHS_GUEST_NAME_MAX);
    send_error(c, IGNITION__ERROR__CODE__CODE_BAD_REQUEST, msg);
}

/* --host-loopback on a restore or fan-out: the clone's network is the
 * snapshot's user-mode one with the host's loopback open. */
static bool open_host_loopback(struct client *c, struct guest_config *config, bool asked)
{
    if (!asked)
        return true;
    if (strcmp(config->net, "none") == 0) {
        send_error(c, IGNITION__ERROR__CODE__CODE_BAD_REQUEST,
                   "--host-loopback: the snapshot's guest has no network");
        return false;
    }
    set_message(config->net, sizeof(config->net), "%s", "user,host-loopback");
    return true;
}

static void handle_restore(struct client *c, const Ignition__RestoreRequest *req)
{
    char dir[PATH_MAX], name[PATHS_GUEST_NAME_MAX + 1], prefix[PATHS_GUEST_NAME_MAX + 2];
    if (!snapshot_dir_of(c, req->path, dir, sizeof(dir)))
        return;
    unsigned next = 1;
    set_message(prefix, sizeof(prefix), "%s-", req->path);
    if (*req->name)
        set_message(name, sizeof(name), "%s", req->name);
    else if (!next_free_name(c->sv, prefix, &next, name, sizeof(name))) {
        send_no_name(c, prefix);
        return;
    }
    struct guest_config config;
    if (!restore_config(c, req->path, dir, &config))
        return;
    if (!open_host_loopback(c, &config, req->host_loopback)) {
        guest_config_clear(&config);
        return;
    }
    char why[200];
    if (!publish_from_wire(req->publish, req->n_publish, 0, &config, why, sizeof(why))) {
        send_error(c, IGNITION__ERROR__CODE__CODE_BAD_REQUEST, why);
        guest_config_clear(&config);
        return;
    }
    struct guest_error e;
    struct guest *g;
    if (guests_restore(c->sv->guests, *req->name ? req->name : name, &config, req->disposable,
                       &g, &e) < 0) {
        send_error(c, e.code, e.message);
    } else {
        c->waiting = g;
        c->restoring = true;
    }
    guest_config_clear(&config);
}

static bool fanout_settled(const struct client *c)
{
    for (unsigned i = 0; i < c->fanout_count; i++)
        if (c->fanout[i] && guest_record(c->fanout[i])->state == GUEST_STARTING)
            return false;
    return true;
}

/* Clone i of count could not be started: the Error names it and the clones
 * started before it, which run on (each is a guest like any other, stopped
 * or removed by name), so that nothing runs that the user was not told of. */
static void send_clone_failed(struct client *c, unsigned i, unsigned count, const char *name,
                              const struct guest_error *e)
{
    char msg[sizeof(e->message) + 4 * PATHS_GUEST_NAME_MAX + 160];
    if (i == 0) {
        set_message(msg, sizeof(msg), "clone 1 of %u (%s) could not start: %s; none started",
                    count, name, e->message);
    } else {
        const char *first = guest_record(c->fanout[0])->name;
        const char *last = guest_record(c->fanout[i - 1])->name;
        set_message(msg, sizeof(msg), "clone %u of %u (%s) could not start: %s; the %u started "
                    "before it run on: %s%s%s (vmmctl stop/rm them if unwanted)",
                    i + 1, count, name, e->message, i, first, i > 1 ? " to " : "",
                    i > 1 ? last : "");
    }
    send_error(c, e->code, msg);
}

/* All the names first: running out of names is known before any clone starts. */
static bool name_clones(struct client *c, const char *prefix, unsigned count,
                        char names[][PATHS_GUEST_NAME_MAX + 1])
{
    unsigned next = 1;
    for (unsigned i = 0; i < count; i++)
        if (!next_free_name(c->sv, prefix, &next, names[i], PATHS_GUEST_NAME_MAX + 1)) {
            send_no_name(c, prefix);
            return false;
        }
    return true;
}

/* Stops at the first clone that cannot be started; see send_clone_failed. */
static void start_clones(struct client *c, struct guest_config *config,
                         const Ignition__FanoutRequest *req, const char *prefix, unsigned count)
{
    char names[MAX_FANOUT][PATHS_GUEST_NAME_MAX + 1];
    if (!name_clones(c, prefix, count, names))
        return;
    for (unsigned i = 0; i < count; i++) {
        struct guest_error e;
        struct guest *g;
        char why[200];
        if (!publish_from_wire(req->publish, req->n_publish, i, config, why, sizeof(why))) {
            send_error(c, IGNITION__ERROR__CODE__CODE_BAD_REQUEST, why);
            break;
        }
        if (guests_restore(c->sv->guests, names[i], config, req->disposable, &g, &e) < 0) {
            send_clone_failed(c, i, count, names[i], &e);
            break;
        }
        c->fanout[c->fanout_count++] = g;
    }
    if (c->fanout_count < count)
        c->fanout_count = 0; /* answered with the Error */
}

static void handle_fanout(struct client *c, const Ignition__FanoutRequest *req)
{
    char dir[PATH_MAX], prefix[PATHS_GUEST_NAME_MAX + 2], msg[160];
    if (!snapshot_dir_of(c, req->path, dir, sizeof(dir)))
        return;
    if (req->count < 1 || req->count > MAX_FANOUT) {
        set_message(msg, sizeof(msg), "fanout of %u: give 1 to %d clones", req->count,
                    MAX_FANOUT);
        send_error(c, IGNITION__ERROR__CODE__CODE_BAD_REQUEST, msg);
        return;
    }
    if (strlen(*req->prefix ? req->prefix : req->path) > PATHS_GUEST_NAME_MAX - 1) {
        send_no_name(c, req->prefix);
        return;
    }
    set_message(prefix, sizeof(prefix), "%s", *req->prefix ? req->prefix : req->path);
    if (!*req->prefix)
        strcat(prefix, "-");
    struct guest_config config;
    if (!restore_config(c, req->path, dir, &config))
        return;
    if (open_host_loopback(c, &config, req->host_loopback))
        start_clones(c, &config, req, prefix, req->count);
    guest_config_clear(&config);
}

/* ---- relaunch ----------------------------------------------------------------------- */

static void relaunch_now(struct client *c, struct guest *g, const char *snap,
                         const struct guest_config *config)
{
    struct guest_error e;
    if (guests_relaunch(g, snap, config, &e) < 0)
        send_error(c, e.code, e.message);
    else
        c->waiting = g;
}

static void forget_relaunch(struct client *c)
{
    if (c->relaunching)
        guest_config_clear(&c->relaunch_config);
    c->relaunching = false;
}

/* A relaunch brings back the snapshot's machine but keeps the guest's own
 * network settings: a clone restored with --host-loopback or --publish (a
 * browser clone opened with --allow-host) still has them afterwards. Only
 * where both have a network, as the snapshot's machine has a network device
 * or not. */
static void keep_own_network(struct guest_config *config, const struct guest_config *own)
{
    if (strcmp(config->net, "none") == 0 || strcmp(own->net, "none") == 0)
        return;
    memcpy(config->net, own->net, sizeof(config->net));
    memcpy(config->publish, own->publish, sizeof(config->publish));
    config->num_publish = own->num_publish;
}

/* The snapshot is checked before anything is stopped: a guest whose snapshot
 * cannot be restored keeps running. */
static void handle_relaunch(struct client *c, const Ignition__RelaunchRequest *req)
{
    struct guest *g = find_named(c, req->name);
    if (!g)
        return;
    const struct guest_record *r = guest_record(g);
    char snap[PATHS_GUEST_NAME_MAX + 1], dir[PATH_MAX], msg[200];
    set_message(snap, sizeof(snap), "%s", guests_last_snapshot(g));
    if (!snap[0]) {
        set_message(msg, sizeof(msg),
                    "%s has no snapshot: take one with Ctrl+Alt+S or vmmctl snapshot", r->name);
        send_error(c, IGNITION__ERROR__CODE__CODE_NOT_FOUND, msg);
        return;
    }
    struct guest_config config;
    if (!snapshot_dir_of(c, snap, dir, sizeof(dir)) || !restore_config(c, snap, dir, &config))
        return;
    keep_own_network(&config, &r->config);
    if (r->state == GUEST_STOPPED || r->state == GUEST_CRASHED) {
        relaunch_now(c, g, snap, &config);
        guest_config_clear(&config);
        return;
    }
    struct guest_error e;
    if (guests_stop(g, true, 0, &e) < 0) {
        send_error(c, e.code, e.message);
        guest_config_clear(&config);
        return;
    }
    c->waiting = g;
    c->relaunching = true;
    c->relaunch_config = config;
    set_message(c->relaunch_snap, sizeof(c->relaunch_snap), "%s", snap);
}

/* The old worker is gone: the new one starts, and answers the client when
 * it runs. */
static void continue_relaunch(struct client *c, struct guest *g)
{
    c->waiting = NULL;
    relaunch_now(c, g, c->relaunch_snap, &c->relaunch_config);
    forget_relaunch(c);
}

static void handle_remove_snapshot(struct client *c, const Ignition__RemoveSnapshotRequest *req)
{
    char dir[PATH_MAX], err[PATH_MAX + 128];
    if (!snapshot_dir_of(c, req->path, dir, sizeof(dir)))
        return;
    struct stat st;
    if (stat(dir, &st) < 0) {
        send_no_snapshot(c, req->path);
        return;
    }
    if (snapshot_remove(dir, err, sizeof(err)) < 0) {
        send_error(c, IGNITION__ERROR__CODE__CODE_INTERNAL, err);
        return;
    }
    log_info("snapshot %s removed", req->path);
    send_guests(c, NULL, 0);
}

/* The control server's handler: answered here, or later once the guest a
 * request waits for has settled (on_guest_settled). */
static void handle_request(void *opaque, struct control_conn *conn, const Ignition__Envelope *env)
{
    (void)opaque;
    struct client *c = control_conn_data(conn);
    guests_settle_snapshots(c->sv->guests); /* before any answer says which is last */
    switch (env->body_case) {
    case IGNITION__ENVELOPE__BODY_START: handle_start(c, env->start); break;
    case IGNITION__ENVELOPE__BODY_STOP: handle_stop(c, env->stop); break;
    case IGNITION__ENVELOPE__BODY_LIST: send_list(c); break;
    case IGNITION__ENVELOPE__BODY_STATUS: {
        struct guest *g = find_named(c, env->status->name);
        if (g)
            send_guest(c, g);
        break;
    }
    case IGNITION__ENVELOPE__BODY_REMOVE: handle_remove(c, env->remove); break;
    case IGNITION__ENVELOPE__BODY_ATTACH: handle_attach(c, env->attach->name, false); break;
    case IGNITION__ENVELOPE__BODY_CONSOLE_ATTACH:
        handle_attach(c, env->console_attach->name, true);
        break;
    case IGNITION__ENVELOPE__BODY_SNAPSHOT: handle_snapshot(c, env->snapshot); break;
    case IGNITION__ENVELOPE__BODY_RESTORE: handle_restore(c, env->restore); break;
    case IGNITION__ENVELOPE__BODY_FANOUT: handle_fanout(c, env->fanout); break;
    case IGNITION__ENVELOPE__BODY_REMOVE_SNAPSHOT:
        handle_remove_snapshot(c, env->remove_snapshot);
        break;
    case IGNITION__ENVELOPE__BODY_RELAUNCH: handle_relaunch(c, env->relaunch); break;
    default:
        control_conn_refuse(conn, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE,
                            "not a request vmmd answers (see proto/ignition.proto)");
        return;
    }
    if (client_busy(c))
        control_conn_wait(conn, true);
}

/* A Fanout is answered once all its clones run or failed: a GuestList
 * that says which. */
static void answer_fanout(struct client *c, struct guest *g)
{
    bool mine = false;
    for (unsigned i = 0; i < c->fanout_count; i++)
        mine |= c->fanout[i] == g;
    if (!mine || !fanout_settled(c))
        return;
    struct guest *clones[MAX_FANOUT];
    size_t n = 0;
    for (unsigned i = 0; i < c->fanout_count; i++)
        if (c->fanout[i])
            clones[n++] = c->fanout[i];
    c->fanout_count = 0;
    send_guests(c, clones, n);
}

static bool has_ended(const struct guest *g)
{
    const struct guest_record *r = guest_record(g);
    return (r->state == GUEST_STOPPED || r->state == GUEST_CRASHED) && !r->pid;
}

/* Removed once the settling is over, by name, for the guest code may still be
 * working on it now; and only if it has not been started again meanwhile (a
 * relaunch stops a guest and starts it in the same turn). */
static void on_remove_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct guest_to_remove *r = arg;
    struct guest *g = guests_find(r->sv->guests, r->name);
    if (g && has_ended(g)) {
        log_info("guest %s: %s", r->name, r->why);
        forget_guest(r->sv, g);
    }
    free(r);
}

static void remove_later(struct supervisor *sv, const struct guest *g, const char *why)
{
    struct guest_to_remove *r = calloc(1, sizeof(*r));
    if (!r)
        return;
    r->sv = sv;
    set_message(r->name, sizeof(r->name), "%s", guest_record(g)->name);
    set_message(r->why, sizeof(r->why), "%s", why);
    struct timeval now = {0, 0};
    if (event_base_once(sv->base, -1, EV_TIMEOUT, on_remove_later, r, &now) < 0)
        free(r);
}

/* A restore the worker refused (a damaged snapshot, say) leaves no guest
 * behind: the Error said why. */
static void remove_refused_restore(struct supervisor *sv, const struct guest *g)
{
    remove_later(sv, g, "its restore was refused; not kept");
}

/* A disposable guest that ended leaves nothing: its memory, disk layers and
 * logs go with its record. */
static void dispose_if_ended(struct supervisor *sv, const struct guest *g)
{
    const struct guest_record *r = guest_record(g);
    if (!r->disposable || !has_ended(g))
        return;
    char why[400];
    set_message(why, sizeof(why), "disposable, removed (%s)",
                r->exit_reason[0] ? r->exit_reason : "stopped");
    remove_later(sv, g, why);
}

/* Clients waiting for g: a fan-out's, or one whose start, stop or relaunch
 * it was. Answering may mark c dropped; the control server frees it later. */
static void answer_settled(struct client *c, struct guest *g)
{
    answer_fanout(c, g);
    if (c->waiting != g)
        return;
    if (c->relaunching) {
        continue_relaunch(c, g);
        return;
    }
    c->waiting = NULL;
    bool restoring = c->restoring;
    c->restoring = false;
    const struct guest_record *r = guest_record(g);
    if (r->state == GUEST_STOPPED && strncmp(r->exit_reason, "did not start", 13) == 0) {
        char msg[400];
        set_message(msg, sizeof(msg), "guest %s %s", r->name, r->exit_reason);
        send_error(c, IGNITION__ERROR__CODE__CODE_START_FAILED, msg);
        if (restoring)
            remove_refused_restore(c->sv, g);
    } else {
        send_guest(c, g);
    }
}

/* A start or stop is over: the clients waiting for it get the guest as it is
 * now, or an error saying why it did not start. A client whose answer fails
 * is only marked by the control server and freed from its loop later, so the
 * list stays whole while it is walked. */
static void on_guest_settled(void *opaque, struct guest *g)
{
    struct supervisor *sv = opaque;
    if (!sv->guests)
        return; /* guests_open is still loading the records: nobody asked yet */
    guests_settle_snapshots(sv->guests);
    for (struct client *c = sv->clients; c; c = c->next)
        answer_settled(c, g);
    dispose_if_ended(sv, g);
}

/* ---- clients ---------------------------------------------------------------------- */

static void *client_opened(void *opaque, struct control_conn *conn)
{
    struct supervisor *sv = opaque;
    struct client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->sv = sv;
    c->conn = conn;
    c->next = sv->clients;
    sv->clients = c;
    return c;
}

static void client_closed(void *opaque, struct control_conn *conn, void *data)
{
    (void)conn;
    struct supervisor *sv = opaque;
    struct client *c = data;
    for (struct client **at = &sv->clients; *at; at = &(*at)->next) {
        if (*at == c) {
            *at = c->next;
            break;
        }
    }
    forget_relaunch(c);
    free(c);
}

/* The guests under state_dir and the server that answers for them: at
 * socket_path, or (NULL) for adopted clients only. */
static int open_requests(struct supervisor *sv, const char *vmmd_path, const char *socket_path,
                         char *err, size_t err_len)
{
    struct guests_config gc = {.state_dir = sv->state_dir, .run_dir = sv->run_dir,
                               .vmmd_path = vmmd_path, .settled = on_guest_settled,
                               .opaque = sv};
    sv->guests = guests_open(sv->base, &gc, err, err_len);
    if (!sv->guests)
        return -1;
    /* Disposable guests that ended while no vmmd watched go now. */
    for (struct guest *g = guests_next(sv->guests, NULL); g; g = guests_next(sv->guests, g))
        dispose_if_ended(sv, g);
    const struct control_server_options options = {
        .who = "vmmd", .max_clients = MAX_CLIENTS,
        .full_code = IGNITION__ERROR__CODE__CODE_INTERNAL,
        .full_message = "vmmd has too many clients; try again",
        .queue_limit = CLIENT_QUEUE_LIMIT,
    };
    const struct control_server_ops ops = {.opened = client_opened, .request = handle_request,
                                           .closed = client_closed, .opaque = sv};
    sv->server = control_server_create(sv->base, socket_path, &options, &ops, err, err_len);
    if (!sv->server) {
        guests_close(sv->guests);
        sv->guests = NULL;
        return -1;
    }
    return 0;
}

static void close_requests(struct supervisor *sv)
{
    control_server_destroy(sv->server); /* every client's closed first */
    guests_close(sv->guests);
}

struct supervisor *supervisor_open(struct event_base *base, const char *state_dir,
                                   const char *run_dir, const char *vmmd_path, char *err,
                                   size_t err_len)
{
    struct supervisor *sv = calloc(1, sizeof(*sv));
    if (!sv) {
        set_message(err, err_len, "out of memory");
        return NULL;
    }
    sv->base = base;
    set_message(sv->state_dir, sizeof(sv->state_dir), "%s", state_dir);
    set_message(sv->run_dir, sizeof(sv->run_dir), "%s", run_dir);
    if (open_requests(sv, vmmd_path, NULL, err, err_len) < 0) {
        free(sv);
        return NULL;
    }
    return sv;
}

struct control_conn *supervisor_adopt(struct supervisor *sv, int fd)
{
    return control_server_adopt(sv->server, fd);
}

void supervisor_close(struct supervisor *sv)
{
    if (!sv)
        return;
    close_requests(sv);
    free(sv);
}

/* ---- process ---------------------------------------------------------------------- */

static int self_path(char *out, size_t len)
{
#ifdef __APPLE__
    char raw[PATH_MAX];
    uint32_t size = sizeof(raw);
    if (_NSGetExecutablePath(raw, &size) != 0 || !realpath(raw, out))
        return -1;
    (void)len;
    return 0;
#else
    ssize_t n = readlink("/proc/self/exe", out, len - 1);
    if (n <= 0)
        return -1;
    out[n] = '\0';
    return 0;
#endif
}

/* One supervisor per state directory: the lock is held for vmmd's life. */
static int take_lock(const char *state_dir)
{
    char path[PATH_MAX];
    set_message(path, sizeof(path), "%s/vmmd.lock", state_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char text[32] = {0};
        ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
        log_error("vmmd is already running for %s (pid %s)", state_dir,
                  n > 0 ? strtok(text, "\n") : "unknown");
        close(fd);
        return -1;
    }
    char text[32];
    int n = snprintf(text, sizeof(text), "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n)
        log_warn("cannot write vmmd's pid to %s", path);
    return fd;
}

/* vmmd.log, rotated once it passes LOG_ROTATE_BYTES at start. */
static FILE *open_log(const char *state_dir)
{
    char path[PATH_MAX], old[PATH_MAX + 4];
    set_message(path, sizeof(path), "%s/vmmd.log", state_dir);
    struct stat st;
    if (stat(path, &st) == 0 && st.st_size > (off_t)LOG_ROTATE_BYTES) {
        set_message(old, sizeof(old), "%s.1", path);
        rename(path, old);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    return fd < 0 ? NULL : fdopen(fd, "a");
}

static void on_quit_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct supervisor *sv = arg;
    log_info("signal %d: vmmd exits; running guests keep running", (int)sig);
    event_base_loopbreak(sv->base);
}

/* -d: the parent waits for the child's word (listening, or an error line) so
 * that `vmmd -d` returning 0 means vmmd answers. Returns in the child with the
 * write end of that pipe in *report, or exits in the parent. */
static void daemonize(int *report)
{
    int p[2];
    if (pipe(p) < 0) {
        log_error("pipe: %s", strerror(errno));
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork: %s", strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        close(p[1]);
        char word[8] = {0};
        ssize_t n = read(p[0], word, sizeof(word) - 1);
        exit(n > 0 && strncmp(word, "ok", 2) == 0 ? 0 : 1);
    }
    close(p[0]);
    setsid();
    if (chdir("/") < 0) /* no directory kept busy by a daemon */
        log_warn("cannot change to /: %s", strerror(errno));
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    *report = p[1];
}

static void detach_stdio(void)
{
    int null = open("/dev/null", O_RDWR);
    if (null < 0)
        return;
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO)
        close(null);
}

static int prepare_dirs(struct supervisor *sv)
{
    if (paths_state_dir(sv->state_dir, sizeof(sv->state_dir)) < 0) {
        log_error("no state directory: set HOME or IGNITION_HOME");
        return -1;
    }
    /* Room for every file name we put under it, so that no path is cut short. */
    if (strlen(sv->state_dir) > PATH_MAX - 128) {
        log_error("state directory path too long: %s", sv->state_dir);
        return -1;
    }
    int rc = paths_make_dirs(sv->state_dir, 0700);
    if (rc < 0) {
        log_error("cannot create %s: %s", sv->state_dir, strerror(-rc));
        return -1;
    }
    if (paths_run_dir(sv->state_dir, sv->run_dir, sizeof(sv->run_dir)) < 0) {
        log_error("state directory path too long: %s", sv->state_dir);
        return -1;
    }
    set_message(sv->socket_path, sizeof(sv->socket_path), "%s/vmmd.sock", sv->run_dir);
    return 0;
}

static int serve(struct supervisor *sv, int report_fd)
{
    char vmmd_path[PATH_MAX], err[PATH_MAX + 256];
    if (self_path(vmmd_path, sizeof(vmmd_path)) < 0) {
        log_error("cannot find vmmd's own executable");
        return 1;
    }
    sv->base = event_base_new();
    if (!sv->base) {
        log_error("cannot create the event loop");
        return 1;
    }
    if (open_requests(sv, vmmd_path, sv->socket_path, err, sizeof(err)) < 0) {
        log_error("%s", err);
        event_base_free(sv->base);
        return 1;
    }
    struct event *sigterm = evsignal_new(sv->base, SIGTERM, on_quit_signal, sv);
    struct event *sigint = evsignal_new(sv->base, SIGINT, on_quit_signal, sv);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    if (report_fd >= 0) {
        if (write(report_fd, "ok\n", 3) < 0)
            log_warn("cannot tell the starting process that vmmd is up");
        close(report_fd);
        detach_stdio(); /* errors until now reached the terminal; from here on the log */
    }
    log_info("vmmd %s listening on %s (state in %s)", IGNITION_VERSION, sv->socket_path,
             sv->state_dir);
    event_base_dispatch(sv->base);
    event_free(sigterm);
    event_free(sigint);
    close_requests(sv);
    event_base_free(sv->base);
    return 0;
}

int supervisor_run(const struct supervisor_options *o)
{
    struct supervisor sv = {0};
    if (prepare_dirs(&sv) < 0)
        return 1;
    int report_fd = -1;
    if (o->daemonize)
        daemonize(&report_fd);
    FILE *log = open_log(sv.state_dir);
    bool to_syslog = false;
#ifdef __APPLE__
    to_syslog = o->service; /* the unified log; systemd's journal takes stderr */
#endif
    log_set_sinks(true, log, to_syslog);
    int lock_fd = take_lock(sv.state_dir);
    if (lock_fd < 0) {
        if (log)
            fclose(log);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Snapshots cut short while no vmmd ran, or by a worker that died, are
     * hidden directories nothing else would remove unless the same name is
     * written again. Workers still writing hold a lock and are left alone. */
    char snapshots[PATH_MAX];
    set_message(snapshots, sizeof(snapshots), "%s/snapshots", sv.state_dir);
    snapshot_tidy_dir(snapshots);
    int status = serve(&sv, report_fd);
    log_info("vmmd stopped");
    log_set_sinks(true, NULL, false);
    if (log)
        fclose(log);
    close(lock_fd);
    return status;
}
