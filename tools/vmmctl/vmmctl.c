/* vmmctl: the command line of ignition. It talks to this user's vmmd over its
 * control socket (starting vmmd first if nobody runs it, the way tmux starts
 * its server) and, for the display and the console, to the guest's worker
 * directly at the socket vmmd names: frames, keys and console bytes never pass
 * through vmmd. One command is one entry in `commands`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#include "console.h"
#include "byteorder.h"
#include "control_client.h"
#include "ignition.pb-c.h"
#include "instances.h"
#include "paths.h"
#include "printable.h"
#include "screenshot.h"
#include "send_keys.h"
#include "service.h"
#include "snapshot.pb-c.h"
#include "storage/snapshot_file.h"
#include "unixsock.h"
#include "util.h"
#include "vmmctl.h"
#include "wire.h"

#define VMMD_START_WAIT_MS 10000
/* A start answers once the guest runs; a stop once it is off (or forced). */
#define REPLY_TIMEOUT_MS (-1)
/* A snapshot writes the guest's memory and disk layers: seconds, not hours. */
#define SNAPSHOT_TIMEOUT_MS (10 * 60 * 1000)

bool json_output;
static char self_dir[PATH_MAX];

/* ---- messages ---------------------------------------------------------------------- */

int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vmmctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_FAIL;
}

int usage_fail(const char *command, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vmmctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see vmmctl %s --help)\n", command ? command : "");
    va_end(ap);
    return EXIT_USAGE;
}

/* ---- finding our programs and the demo guest ------------------------------------- */

static void find_self_dir(void)
{
    char path[PATH_MAX];
#ifdef __APPLE__
    char raw[PATH_MAX];
    uint32_t size = sizeof(raw);
    if (_NSGetExecutablePath(raw, &size) != 0 || !realpath(raw, path))
        return;
#else
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0)
        return;
    path[n] = '\0';
#endif
    char *slash = strrchr(path, '/');
    if (slash) {
        *slash = '\0';
        snprintf(self_dir, sizeof(self_dir), "%s", path);
    }
}

static bool is_executable(const char *path)
{
    return access(path, X_OK) == 0;
}

/* Installed, programs sit beside vmmctl; in a build tree vmmctl is in
 * tools/vmmctl/ and the others in their own folders. Else PATH. */
static void find_program(const char *name, const char *build_subdir, char *out, size_t len)
{
    if (self_dir[0]) {
        set_message(out, len, "%s/%s", self_dir, name);
        if (is_executable(out))
            return;
        set_message(out, len, "%s/../../%s/%s", self_dir, build_subdir, name);
        if (is_executable(out))
            return;
    }
    set_message(out, len, "%s", name);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* $IGNITION_GUEST_DIR, the build tree's guest/, or the installed one. */
bool find_guest_dir(char *out, size_t len)
{
    const char *env = getenv("IGNITION_GUEST_DIR");
    if (env && *env) {
        set_message(out, len, "%s", env);
        return true;
    }
    if (!self_dir[0])
        return false;
    set_message(out, len, "%s/../../guest", self_dir);
    if (is_dir(out))
        return true;
    set_message(out, len, "%s/../share/ignition/guest", self_dir);
    return is_dir(out);
}

/* ---- talking to vmmd --------------------------------------------------------------- */

static int start_vmmd(char *err, size_t err_len)
{
    if (service_installed())
        return service_start(err, err_len);
    char vmmd[PATH_MAX];
    find_program("vmmd", "vmmd", vmmd, sizeof(vmmd));
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, err_len, "cannot start vmmd: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        execlp(vmmd, vmmd, "-d", (char *)NULL);
        fprintf(stderr, "vmmctl: cannot run %s: %s\n", vmmd, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, err_len, "vmmd did not start (its log: vmmd.log in the state directory)");
        return -1;
    }
    return 0;
}

/* Whether a vmmd holds the state directory's lock (vmmd.lock, held for
 * vmmd's life): one that is starting or running. */
static bool vmmd_holds_lock(void)
{
    char state[PATH_MAX], path[PATH_MAX + 16];
    if (paths_state_dir(state, sizeof(state)) < 0)
        return false;
    set_message(path, sizeof(path), "%s/vmmd.lock", state);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* This user's vmmd, started first if nobody runs it. Another vmmctl may
 * start one at the same moment: the vmmd that takes the lock first serves
 * both and the other exits, so a start that failed while a vmmd holds the
 * lock is waited out like one that succeeded. */
static int connect_vmmd(void)
{
    char err[512], why[512];
    int fd = control_connect("vmmctl", err, sizeof(err));
    if (fd >= 0)
        return fd;
    if (fd != -ENOENT && fd != -ECONNREFUSED) {
        fail("%s", err);
        return -1;
    }
    if (start_vmmd(err, sizeof(err)) < 0 && !vmmd_holds_lock()) {
        fail("%s", err);
        return -1;
    }
    for (int waited = 0; waited < VMMD_START_WAIT_MS; waited += 50) {
        fd = control_connect("vmmctl", why, sizeof(why));
        if (fd >= 0)
            return fd;
        usleep(50 * 1000);
    }
    fail("vmmd started but does not answer: %s", why);
    return -1;
}

/* One request, one reply. Returns the reply, or NULL after saying why. */
Ignition__Envelope *call(const Ignition__Envelope *req)
{
    int fd = connect_vmmd();
    if (fd < 0)
        return NULL;
    Ignition__Envelope *reply;
    char err[600];
    int rc = control_call(fd, req, &reply, REPLY_TIMEOUT_MS, err, sizeof(err));
    close(fd);
    if (rc != 0) {
        fail("%s", err);
        return NULL;
    }
    return reply;
}

static Ignition__GuestInfo *expect_guest(Ignition__Envelope *reply)
{
    if (reply->body_case != IGNITION__ENVELOPE__BODY_GUEST || !reply->guest->guest) {
        fail("vmmd answered with something unexpected; is it the same version as vmmctl?");
        return NULL;
    }
    return reply->guest->guest;
}

Ignition__Envelope *guest_call(Ignition__Envelope *env, Ignition__GuestInfo **info)
{
    Ignition__Envelope *reply = call(env);
    if (!reply)
        return NULL;
    *info = expect_guest(reply);
    if (!*info) {
        ignition__envelope__free_unpacked(reply, NULL);
        return NULL;
    }
    return reply;
}

/* Status, Remove, Attach or ConsoleAttach: requests that only name a guest,
 * answered with it. */
Ignition__Envelope *named_call(Ignition__Envelope__BodyCase body, const char *name,
                                      Ignition__GuestInfo **g)
{
    Ignition__StatusRequest status = IGNITION__STATUS_REQUEST__INIT;
    Ignition__RemoveRequest remove = IGNITION__REMOVE_REQUEST__INIT;
    Ignition__AttachRequest attach = IGNITION__ATTACH_REQUEST__INIT;
    Ignition__ConsoleAttachRequest console = IGNITION__CONSOLE_ATTACH_REQUEST__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = body;
    switch (body) {
    case IGNITION__ENVELOPE__BODY_STATUS: status.name = (char *)name, env.status = &status; break;
    case IGNITION__ENVELOPE__BODY_REMOVE: remove.name = (char *)name, env.remove = &remove; break;
    case IGNITION__ENVELOPE__BODY_ATTACH: attach.name = (char *)name, env.attach = &attach; break;
    default:
        console.name = (char *)name;
        env.body_case = IGNITION__ENVELOPE__BODY_CONSOLE_ATTACH;
        env.console_attach = &console;
        break;
    }
    return guest_call(&env, g);
}

/* ---- printing guests ----------------------------------------------------------------- */

static const char *state_text(Ignition__GuestInfo__State s)
{
    switch (s) {
    case IGNITION__GUEST_INFO__STATE__STATE_STOPPED: return "stopped";
    case IGNITION__GUEST_INFO__STATE__STATE_STARTING: return "starting";
    case IGNITION__GUEST_INFO__STATE__STATE_RUNNING: return "running";
    case IGNITION__GUEST_INFO__STATE__STATE_PAUSED: return "paused";
    case IGNITION__GUEST_INFO__STATE__STATE_CRASHED: return "crashed";
    case IGNITION__GUEST_INFO__STATE__STATE_STOPPING: return "stopping";
    default: return "unknown";
    }
}

static void format_duration(uint64_t ms, char *out, size_t len)
{
    uint64_t s = ms / 1000;
    if (s < 60)
        set_message(out, len, "%us", (unsigned)s);
    else if (s < 3600)
        set_message(out, len, "%um%02us", (unsigned)(s / 60), (unsigned)(s % 60));
    else if (s < 86400)
        set_message(out, len, "%uh%02um", (unsigned)(s / 3600), (unsigned)(s / 60 % 60));
    else
        set_message(out, len, "%ud%02uh", (unsigned)(s / 86400), (unsigned)(s / 3600 % 24));
}

static void format_bytes(uint64_t b, char *out, size_t len)
{
    if (b >= (1ull << 30) && b % (1ull << 30) == 0)
        set_message(out, len, "%lluG", (unsigned long long)(b >> 30));
    else
        set_message(out, len, "%lluM", (unsigned long long)(b >> 20));
}

/* Guest-written text as a JSON string: without its escape sequences, and
 * ASCII, so that the document is valid UTF-8 and safe to print whole. */
static json_object *json_guest_text(const char *text, bool lines)
{
    size_t len = strlen(text) + 1;
    char *safe = malloc(len);
    if (!safe)
        return json_object_new_string("");
    (lines ? printable_copy_lines : printable_copy)(safe, len, text);
    json_object *o = json_object_new_string(safe);
    free(safe);
    return o;
}

static json_object *guest_json(const Ignition__GuestInfo *g)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(g->name));
    json_object_object_add(o, "state", json_object_new_string(state_text(g->state)));
    json_object_object_add(o, "pid", g->pid ? json_object_new_int(g->pid) : NULL);
    json_object_object_add(o, "backend", json_object_new_string(g->backend));
    json_object_object_add(o, "started_unix_ms",
                           json_object_new_int64((int64_t)g->started_unix_ms));
    json_object_object_add(o, "uptime_ms", json_object_new_int64((int64_t)g->uptime_ms));
    json_object_object_add(o, "exit_reason", json_guest_text(g->exit_reason, false));
    json_object_object_add(o, "console_tail", json_guest_text(g->console_tail, true));
    json_object_object_add(o, "display_socket", json_object_new_string(g->display_socket));
    json_object_object_add(o, "console_socket", json_object_new_string(g->console_socket));
    json_object_object_add(o, "console_log", json_object_new_string(g->console_log));
    json_object_object_add(o, "instance_dir", json_object_new_string(g->instance_dir));
    json_object_object_add(o, "control_socket", json_object_new_string(g->control_socket));
    json_object_object_add(o, "vsock_socket", json_object_new_string(g->vsock_socket));
    json_object_object_add(o, "vsock_cid", g->vsock_cid ? json_object_new_int64(g->vsock_cid)
                                                        : NULL);
    json_object_object_add(o, "restore_from", json_object_new_string(g->restore_from));
    json_object_object_add(o, "last_snapshot", json_object_new_string(g->last_snapshot));
    json_object_object_add(o, "storage_warning", json_object_new_string(g->storage_warning));
    json_object_object_add(o, "disposable", json_object_new_boolean(g->disposable));
    if (g->config) {
        const Ignition__GuestConfig *c = g->config;
        json_object *co = json_object_new_object();
        json_object_object_add(co, "kernel", json_object_new_string(c->kernel));
        json_object_object_add(co, "initrd", json_object_new_string(c->initrd));
        json_object_object_add(co, "append", json_object_new_string(c->append));
        json_object *disks = json_object_new_array();
        for (size_t i = 0; i < c->n_disks; i++)
            json_object_array_add(disks, json_object_new_string(c->disks[i]));
        json_object_object_add(co, "disks", disks);
        json_object_object_add(co, "mem_bytes", json_object_new_int64((int64_t)c->mem_bytes));
        json_object_object_add(co, "cpus", json_object_new_int((int)c->cpus));
        json_object_object_add(co, "backend", json_object_new_string(c->backend));
        json_object_object_add(co, "gui", json_object_new_boolean(c->gui));
        json_object_object_add(co, "net", json_object_new_string(*c->net ? c->net : "user"));
        json_object *publish = json_object_new_array();
        for (size_t i = 0; i < c->n_publish; i++)
            json_object_array_add(publish, json_object_new_string(c->publish[i]));
        json_object_object_add(co, "publish", publish);
        json_object_object_add(o, "config", co);
    }
    return o;
}

static void print_json(json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* The guest wrote these bytes: a terminal must not obey them. */
static void print_console_tail(const char *tail)
{
    size_t len = strlen(tail) + 1;
    char *safe = malloc(len);
    if (!safe)
        return;
    printable_copy_lines(safe, len, tail);
    printf("console before the end:\n%s\n", safe);
    free(safe);
}

static void print_guest(const Ignition__GuestInfo *g)
{
    if (json_output) {
        print_json(guest_json(g));
        return;
    }
    char up[32] = "-", mem[32] = "-";
    if (g->uptime_ms)
        format_duration(g->uptime_ms, up, sizeof(up));
    if (g->config)
        format_bytes(g->config->mem_bytes, mem, sizeof(mem));
    printf("name:     %s\n", g->name);
    printf("state:    %s\n", state_text(g->state));
    if (g->pid)
        printf("pid:      %d\n", g->pid);
    printf("backend:  %s\n", g->backend);
    printf("memory:   %s\n", mem);
    if (g->config)
        printf("cpus:     %u\n", g->config->cpus);
    printf("uptime:   %s\n", up);
    if (g->config) {
        printf("kernel:   %s\n", g->config->kernel);
        for (size_t i = 0; i < g->config->n_disks; i++)
            printf("disk:     %s\n", g->config->disks[i]);
        printf("display:  %s\n", g->config->gui ? (*g->display_socket ? g->display_socket : "yes")
                                                : "none");
        printf("network:  %s\n", *g->config->net ? g->config->net : "user");
        for (size_t i = 0; i < g->config->n_publish; i++)
            printf("publish:  %s\n", g->config->publish[i]);
    }
    if (*g->console_socket)
        printf("console:  %s\n", g->console_socket);
    if (g->vsock_cid)
        printf("vsock:    CID %u%s%s\n", g->vsock_cid, *g->vsock_socket ? ", " : "",
               g->vsock_socket);
    printf("log:      %s\n", g->console_log);
    printf("instance: %s\n", g->instance_dir);
    if (*g->restore_from)
        printf("restores: %s\n", g->restore_from);
    if (*g->last_snapshot)
        printf("snapshot: %s (vmmctl relaunch %s returns to it)\n", g->last_snapshot, g->name);
    if (g->disposable)
        printf("disposable: removed with its memory, disk layers and logs once it stops\n");
    if (*g->exit_reason) {
        char reason[256];
        printable_copy(reason, sizeof(reason), g->exit_reason);
        printf("last end: %s\n", reason);
    }
    if (*g->console_tail)
        print_console_tail(g->console_tail);
    if (*g->storage_warning)
        printf("warning:  %s\n", g->storage_warning);
}

/* ---- commands ------------------------------------------------------------------------ */

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *summary;
};

static const struct command *current;

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

static int need_args(int argc, int min, int max)
{
    if (argc - 1 < min)
        return usage_fail(current->name, "%s: missing arguments", current->name);
    if (max >= 0 && argc - 1 > max)
        return usage_fail(current->name, "%s: too many arguments", current->name);
    return 0;
}

static bool absolute_path(const char *command, const char *what, const char *in, char *out,
                          size_t len, int *status)
{
    char resolved[PATH_MAX];
    if (!realpath(in, resolved)) {
        *status = fail("%s: %s %s: %s", command, what, in, strerror(errno));
        return false;
    }
    set_message(out, len, "%s", resolved);
    return true;
}

struct start_args {
    char kernel[PATH_MAX], initrd[PATH_MAX];
    char *disks[16];
    unsigned num_disks;
    const char *image; /* --image: console, desktop or a path to an ext4 root */
    const char *append;
    uint64_t mem;
    unsigned cpus;
    const char *backend;
    bool gui, view, given;
    uint32_t width, height;
    const char *net; /* vmmd run --net without publish items; NULL: user */
    char *publish[16];
    unsigned num_publish;
};

/* --publish [HOST_IP:]HOST_PORT:GUEST_PORT[/udp], kept as given: vmmd checks
 * it (and says what is wrong) as it checks every config. */
static int add_publish(const char *cmd, char *rules[], unsigned *n, char *rule)
{
    if (*n == 16)
        return usage_fail(cmd, "more than 16 --publish rules");
    rules[(*n)++] = rule;
    return 0;
}

/* --disk PATH[,options]: the path made absolute, the options kept as given. */
static char *absolute_disk(const char *spec, int *status)
{
    const char *comma = strchr(spec, ',');
    size_t plen = comma ? (size_t)(comma - spec) : strlen(spec);
    char path[PATH_MAX], resolved[PATH_MAX];
    if (plen >= sizeof(path)) {
        *status = fail("start: --disk %s: path too long", spec);
        return NULL;
    }
    memcpy(path, spec, plen);
    path[plen] = '\0';
    if (!absolute_path("start", "--disk", path, resolved, sizeof(resolved), status))
        return NULL;
    size_t n = strlen(resolved) + strlen(comma ? comma : "") + 1;
    char *out = malloc(n);
    if (out)
        set_message(out, n, "%s%s", resolved, comma ? comma : "");
    return out;
}

static int parse_wxh(const char *text, uint32_t *w, uint32_t *h)
{
    unsigned a, b;
    char extra;
    if (sscanf(text, "%ux%u%c", &a, &b, &extra) != 2 || !a || !b || a > 16384 || b > 16384)
        return -1;
    *w = a;
    *h = b;
    return 0;
}

static int parse_start(int argc, char **argv, struct start_args *a)
{
    static const struct option options[] = {
        {"kernel", required_argument, NULL, 'k'}, {"initrd", required_argument, NULL, 'i'},
        {"disk", required_argument, NULL, 'd'},   {"mem", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'c'},   {"append", required_argument, NULL, 'a'},
        {"backend", required_argument, NULL, 'b'}, {"gui", no_argument, NULL, 'G'},
        {"no-gui", no_argument, NULL, 'N'},       {"display", required_argument, NULL, 'D'},
        {"view", no_argument, NULL, 'V'},         {"image", required_argument, NULL, 'r'},
        {"net", required_argument, NULL, 'E'},    {"publish", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    int c, status = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":k:i:d:m:c:a:b:D:E:P:GNVr:", options, NULL)) != -1) {
        if (c != 'V')
            a->given = true;
        switch (c) {
        case 'k':
            if (!absolute_path("start", "--kernel", optarg, a->kernel, sizeof(a->kernel), &status))
                return status;
            break;
        case 'i':
            if (!absolute_path("start", "--initrd", optarg, a->initrd, sizeof(a->initrd), &status))
                return status;
            break;
        case 'd':
            if (a->num_disks == 16)
                return usage_fail("start", "more than 16 disks");
            if (!(a->disks[a->num_disks] = absolute_disk(optarg, &status)))
                return status ? status : fail("out of memory");
            a->num_disks++;
            break;
        case 'm':
            if (parse_size(optarg, &a->mem) < 0 || a->mem < (64ull << 20))
                return usage_fail("start", "--mem %s: give a size of at least 64M, e.g. 1G",
                                  optarg);
            break;
        case 'c': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || end == optarg || n < 1 || n > 256)
                return usage_fail("start", "--cpus %s: give a number from 1", optarg);
            a->cpus = (unsigned)n;
            break;
        }
        case 'a': a->append = optarg; break;
        case 'b':
            if (strcmp(optarg, "auto") && strcmp(optarg, "emu") && strcmp(optarg, "kvm") &&
                strcmp(optarg, "hvf"))
                return usage_fail("start", "--backend %s: give auto, emu, kvm or hvf", optarg);
            a->backend = optarg;
            break;
        case 'G': a->gui = true; break;
        case 'N': a->gui = false; break;
        case 'D':
            if (parse_wxh(optarg, &a->width, &a->height) < 0)
                return usage_fail("start", "--display %s: give WIDTHxHEIGHT, e.g. 1280x800",
                                  optarg);
            break;
        case 'V': a->view = true; break;
        case 'r':
            if (!*optarg)
                return usage_fail("start", "--image: give console, desktop or a path");
            a->image = optarg;
            break;
        case 'E': a->net = optarg; break;
        case 'P':
            if ((status = add_publish("start", a->publish, &a->num_publish, optarg)))
                return status;
            break;
        case ':': return usage_fail("start", "%s needs a value", argv[optind - 1]);
        default: return usage_fail("start", "unknown option %s", argv[optind - 1]);
        }
    }
    return 0;
}

/* The guest images tools/build-guest makes, by the name --image takes. */
const char *image_file(const char *name)
{
    if (!strcmp(name, "console"))
        return "rootfs.ext4";
    if (!strcmp(name, "desktop"))
        return "desktop.ext4";
    if (!strcmp(name, "browser"))
        return "browser.ext4";
    return NULL;
}

/* Puts the root disk first (the guest's /dev/vda): --image NAME or PATH, or
 * without --image and --disk the desktop where it was built, else the console. */
static int fill_root_disk(struct start_args *a, const char *dir)
{
    char path[PATH_MAX + 32];
    const char *file = a->image ? image_file(a->image) : NULL;
    if (a->image && !file) {
        set_message(path, sizeof(path), "%s", a->image); /* a path to an ext4 root */
        if (access(path, R_OK) != 0)
            return fail("start: --image %s: %s", a->image, strerror(errno));
    } else if (a->image) {
        if (!dir)
            return fail("start: --image %s: no guest assets found (run tools/build-guest, "
                        "or set IGNITION_GUEST_DIR)", a->image);
        set_message(path, sizeof(path), "%s/%s", dir, file);
        if (access(path, R_OK) != 0)
            return fail("start: --image %s: %s: %s (run tools/build-guest --image %s)",
                        a->image, path, strerror(errno), a->image);
    } else {
        if (!dir || a->num_disks > 0)
            return 0;
        set_message(path, sizeof(path), "%s/%s", dir, image_file("desktop"));
        if (access(path, R_OK) != 0)
            set_message(path, sizeof(path), "%s/%s", dir, image_file("console"));
        if (access(path, R_OK) != 0)
            return 0;
    }
    if (a->num_disks == 16)
        return usage_fail("start", "more than 16 disks");
    int status = 0;
    char *disk = absolute_disk(path, &status);
    if (!disk)
        return status ? status : fail("out of memory");
    memmove(a->disks + 1, a->disks, a->num_disks * sizeof(a->disks[0]));
    a->disks[0] = disk;
    a->num_disks++;
    if (!a->append)
        a->append = "console=ttyAMA0 quiet root=/dev/vda";
    return 0;
}

/* What a bare `vmmctl start NAME` boots: the demo guest's assets. */
static int fill_defaults(struct start_args *a)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    bool have_dir = find_guest_dir(dir, sizeof(dir));
    int status = 0;
    bool default_kernel = !a->kernel[0];
    if (default_kernel) {
        /* Without options a known guest runs as it was made, and vmmd says
         * so if it is not known: no assets needed here. */
        if (!have_dir && !a->given)
            return 0;
        if (!have_dir)
            return fail("start: no --kernel given and no guest assets found (run "
                        "tools/build-guest, or set IGNITION_GUEST_DIR)");
        set_message(path, sizeof(path), "%s/Image", dir);
        if (!absolute_path("start", "kernel", path, a->kernel, sizeof(a->kernel), &status))
            return status;
        set_message(path, sizeof(path), "%s/initramfs.cpio.gz", dir);
        if (!a->initrd[0] &&
            !absolute_path("start", "initrd", path, a->initrd, sizeof(a->initrd), &status))
            return status;
    }
    if (default_kernel || a->image)
        return fill_root_disk(a, have_dir ? dir : NULL);
    return 0;
}


/* What a start, restore or relaunch left: the guest running (how it got
 * there in brackets), or a failure saying why not. */
int report_started(const Ignition__GuestInfo *g, const char *how)
{
    bool running = g->state == IGNITION__GUEST_INFO__STATE__STATE_RUNNING;
    if (json_output)
        print_guest(g);
    else if (running)
        printf("guest %s is running (pid %d, %s)\n", g->name, g->pid, how);
    if (running)
        return EXIT_OK;
    return fail("guest %s is %s: %s", g->name, state_text(g->state),
                *g->exit_reason ? g->exit_reason : "it stopped as it started");
}

static int cmd_start(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-')
        return usage_fail("start", "start: give the guest's NAME first");
    const char *name = argv[1];
    struct start_args a = {.gui = true, .cpus = 1, .mem = 1ull << 30, .backend = "auto"};
    int status = parse_start(argc - 1, argv + 1, &a);
    if (status == 0 && optind < argc - 1)
        status = usage_fail("start", "unexpected argument '%s'", argv[optind + 1]);
    if (status == 0)
        status = fill_defaults(&a);
    if (status == 0) {
        Ignition__GuestConfig config = IGNITION__GUEST_CONFIG__INIT;
        config.kernel = a.kernel;
        config.initrd = a.initrd;
        config.append = (char *)(a.append ? a.append : "");
        config.n_disks = a.num_disks;
        config.disks = a.disks;
        config.mem_bytes = a.mem;
        config.cpus = a.cpus;
        config.backend = (char *)a.backend;
        config.gui = a.gui;
        config.display_width = a.width;
        config.display_height = a.height;
        config.net = (char *)(a.net ? a.net : "");
        config.n_publish = a.num_publish;
        config.publish = a.publish;
        Ignition__StartRequest req = IGNITION__START_REQUEST__INIT;
        req.name = (char *)name;
        req.config = &config;
        req.config_given = a.given;
        Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
        env.body_case = IGNITION__ENVELOPE__BODY_START;
        env.start = &req;
        Ignition__GuestInfo *g;
        Ignition__Envelope *reply = guest_call(&env, &g);
        if (!reply) {
            status = EXIT_FAIL;
        } else {
            char how[64];
            set_message(how, sizeof(how), "backend %s", g->backend);
            status = report_started(g, how);
            bool gui = g->config && g->config->gui;
            ignition__envelope__free_unpacked(reply, NULL);
            if (status == 0 && a.view && gui) {
                fflush(stdout);
                status = exec_viewer(name, NULL, 0);
            }
        }
    }
    for (unsigned i = 0; i < a.num_disks; i++)
        free(a.disks[i]);
    return status;
}

static int cmd_stop(int argc, char **argv)
{
    static const struct option options[] = {
        {"force", no_argument, NULL, 'f'}, {"timeout", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0}};
    Ignition__StopRequest req = IGNITION__STOP_REQUEST__INIT;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ft:", options, NULL)) != -1) {
        switch (c) {
        case 'f': req.force = true; break;
        case 't': {
            char *end;
            unsigned long s = strtoul(optarg, &end, 10);
            if (*end || end == optarg || s < 1 || s > 3600)
                return usage_fail("stop", "--timeout %s: give seconds, 1 to 3600", optarg);
            req.timeout_ms = (uint32_t)(s * 1000);
            break;
        }
        case ':': return usage_fail("stop", "%s needs a value", argv[optind - 1]);
        default: return usage_fail("stop", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return usage_fail("stop", "stop: give one guest NAME");
    req.name = argv[optind];
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_STOP;
    env.stop = &req;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = guest_call(&env, &g);
    if (!reply)
        return EXIT_FAIL;
    if (json_output)
        print_guest(g);
    else
        printf("guest %s is %s: %s\n", g->name, state_text(g->state),
               *g->exit_reason ? g->exit_reason : "stopped");
    ignition__envelope__free_unpacked(reply, NULL);
    return EXIT_OK;
}

Ignition__Envelope *list_guests(Ignition__GuestList **list)
{
    Ignition__ListRequest req = IGNITION__LIST_REQUEST__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_LIST;
    env.list = &req;
    Ignition__Envelope *reply = call(&env);
    if (reply && reply->body_case != IGNITION__ENVELOPE__BODY_GUEST_LIST) {
        ignition__envelope__free_unpacked(reply, NULL);
        fail("vmmd answered with something unexpected; is it the same version?");
        return NULL;
    }
    if (reply)
        *list = reply->guest_list;
    return reply;
}

static int cmd_list(int argc, char **argv)
{
    (void)argv;
    if (need_args(argc, 0, 0))
        return EXIT_USAGE;
    Ignition__GuestList *list;
    Ignition__Envelope *reply = list_guests(&list);
    if (!reply)
        return EXIT_FAIL;
    if (json_output) {
        json_object *o = json_object_new_object(), *arr = json_object_new_array();
        for (size_t i = 0; i < list->n_guests; i++)
            json_object_array_add(arr, guest_json(list->guests[i]));
        json_object_object_add(o, "guests", arr);
        print_json(o);
    } else {
        printf("%-20s %-9s %8s %-8s %6s %8s %s\n", "NAME", "STATE", "PID", "BACKEND", "MEMORY",
               "UPTIME", "DISPLAY");
        for (size_t i = 0; i < list->n_guests; i++) {
            const Ignition__GuestInfo *g = list->guests[i];
            char pid[16] = "-", mem[16] = "-", up[32] = "-";
            if (g->pid)
                snprintf(pid, sizeof(pid), "%d", g->pid);
            if (g->config)
                format_bytes(g->config->mem_bytes, mem, sizeof(mem));
            if (g->uptime_ms)
                format_duration(g->uptime_ms, up, sizeof(up));
            printf("%-20s %-9s %8s %-8s %6s %8s %s\n", g->name, state_text(g->state), pid,
                   g->backend, mem, up, g->config && g->config->gui ? "yes" : "no");
        }
    }
    ignition__envelope__free_unpacked(reply, NULL);
    return EXIT_OK;
}

static int cmd_status(int argc, char **argv)
{
    if (need_args(argc, 1, 1))
        return EXIT_USAGE;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = named_call(IGNITION__ENVELOPE__BODY_STATUS, argv[1], &g);
    if (!reply)
        return EXIT_FAIL;
    print_guest(g);
    ignition__envelope__free_unpacked(reply, NULL);
    return EXIT_OK;
}

static int cmd_rm(int argc, char **argv)
{
    if (need_args(argc, 1, 1))
        return EXIT_USAGE;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = named_call(IGNITION__ENVELOPE__BODY_REMOVE, argv[1], &g);
    if (!reply)
        return EXIT_FAIL;
    if (json_output)
        print_guest(g);
    else
        printf("guest %s removed, with its instance and logs\n", g->name);
    ignition__envelope__free_unpacked(reply, NULL);
    return EXIT_OK;
}

/* Attach or ConsoleAttach: the guest, with the socket to go to. */
static Ignition__Envelope *attach(const char *name, bool console, Ignition__GuestInfo **g)
{
    return named_call(console ? IGNITION__ENVELOPE__BODY_CONSOLE_ATTACH
                              : IGNITION__ENVELOPE__BODY_ATTACH,
                      name, g);
}

static int cmd_console(int argc, char **argv)
{
    if (need_args(argc, 1, 1))
        return EXIT_USAGE;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = attach(argv[1], true, &g);
    if (!reply)
        return EXIT_FAIL;
    char err[512];
    int rc = console_attach(g->console_socket, g->name, err, sizeof(err));
    ignition__envelope__free_unpacked(reply, NULL);
    if (rc < 0)
        return fail("console: %s", err);
    return rc;
}

int exec_viewer(const char *name, char **extra, int n_extra)
{
    char viewer[PATH_MAX];
    find_program("ignition-view", "viewer", viewer, sizeof(viewer));
    char *args[64];
    int n = 0;
    args[n++] = viewer;
    for (int i = 0; i < n_extra && n < 62; i++)
        args[n++] = extra[i];
    args[n++] = (char *)name;
    args[n] = NULL;
    execvp(viewer, args);
    return fail("view: cannot run %s: %s (is ignition-view installed?)", viewer, strerror(errno));
}

static int cmd_view(int argc, char **argv)
{
    if (argc < 2)
        return usage_fail("view", "view: give the guest's NAME");
    /* Asked here first so that a stopped guest or one without a display is one
     * clear line, not a window that waits. */
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = attach(argv[1], false, &g);
    if (!reply)
        return EXIT_FAIL;
    ignition__envelope__free_unpacked(reply, NULL);
    return exec_viewer(argv[1], argv + 2, argc - 2);
}

static int cmd_screenshot(int argc, char **argv)
{
    static const struct option options[] = {{"scanout", required_argument, NULL, 's'},
                                            {NULL, 0, NULL, 0}};
    unsigned scanout = 0;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":s:", options, NULL)) != -1) {
        if (c == 's') {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || end == optarg || n > 15)
                return usage_fail("screenshot", "--scanout %s: give 0 to 15", optarg);
            scanout = (unsigned)n;
        } else {
            return usage_fail("screenshot", "unknown option %s", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return usage_fail("screenshot", "screenshot: give NAME and OUT.png");
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = attach(argv[optind], false, &g);
    if (!reply)
        return EXIT_FAIL;
    char err[512];
    int rc = screenshot_png(g->display_socket, scanout, argv[optind + 1], err, sizeof(err));
    ignition__envelope__free_unpacked(reply, NULL);
    if (rc < 0)
        return fail("screenshot: %s", err);
    if (json_output) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(argv[optind + 1]));
        print_json(o);
    }
    return EXIT_OK;
}

/* TEXT with \n, \t, \e... written as escapes, the way printf(1) reads them. */
static int unescape(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        char ch = *p;
        if (ch == '\\' && p[1]) {
            p++;
            switch (*p) {
            case 'n': ch = '\n'; break;
            case 'r': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case '\\': ch = '\\'; break;
            default: return -1;
            }
        }
        if (o + 1 >= len)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

static int cmd_send_keys(int argc, char **argv)
{
    if (need_args(argc, 2, 2))
        return EXIT_USAGE;
    char text[8192];
    if (unescape(argv[2], text, sizeof(text)) < 0)
        return usage_fail("send-keys", "send-keys: TEXT has an unknown escape (\\n, \\t and \\\\ "
                                       "are known) or is longer than 8 KiB");
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = attach(argv[1], false, &g);
    if (!reply)
        return EXIT_FAIL;
    char err[512];
    int rc = send_keys_text(g->display_socket, text, err, sizeof(err));
    ignition__envelope__free_unpacked(reply, NULL);
    return rc < 0 ? fail("send-keys: %s", err) : EXIT_OK;
}

/* ---- logs ----------------------------------------------------------------------------- */

static volatile sig_atomic_t follow_stop;
static void on_follow_signal(int sig)
{
    (void)sig;
    follow_stop = 1;
}

/* Copies path from offset to stdout; returns the new offset. */
static off_t copy_from(const char *path, off_t offset)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return offset;
    if (fseeko(f, offset, SEEK_SET) == 0) {
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
            fwrite(buf, 1, n, stdout);
            offset += (off_t)n;
        }
    }
    fclose(f);
    fflush(stdout);
    return offset;
}

static ino_t inode_of(const char *path, off_t *size)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return 0;
    *size = st.st_size;
    return st.st_ino;
}

/* tail -F: the log is rotated by renaming, so a new inode starts from 0. */
static void follow(const char *path, off_t offset)
{
    signal(SIGINT, on_follow_signal);
    signal(SIGTERM, on_follow_signal);
    off_t size = 0;
    ino_t ino = inode_of(path, &size);
    while (!follow_stop) {
        usleep(200 * 1000);
        off_t now_size = 0;
        ino_t now = inode_of(path, &now_size);
        if (now && now != ino) {
            ino = now;
            offset = 0;
        } else if (now_size < offset) {
            offset = 0; /* truncated */
        }
        if (now_size > offset)
            offset = copy_from(path, offset);
    }
}

static int cmd_logs(int argc, char **argv)
{
    bool follow_on = false;
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--follow"))
            follow_on = true;
        else if (argv[i][0] == '-')
            return usage_fail("logs", "unknown option %s", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return usage_fail("logs", "logs: give one guest NAME");
    }
    if (!name)
        return usage_fail("logs", "logs: give the guest's NAME");
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = named_call(IGNITION__ENVELOPE__BODY_STATUS, name, &g);
    if (!reply)
        return EXIT_FAIL;
    char path[PATH_MAX], old[PATH_MAX + 8];
    set_message(path, sizeof(path), "%s", g->console_log);
    ignition__envelope__free_unpacked(reply, NULL);
    for (int gen = 2; gen >= 1; gen--) {
        set_message(old, sizeof(old), "%s.%d", path, gen);
        copy_from(old, 0);
    }
    off_t offset = copy_from(path, 0);
    if (follow_on)
        follow(path, offset);
    return EXIT_OK;
}

/* ---- snapshots ------------------------------------------------------------------------ */

/* vmmd says where the worker listens and where the snapshot goes; the worker
 * is asked here, so that vmmd never waits on it. */
static int ask_worker_snapshot(const Ignition__GuestInfo *g)
{
    char err[600];
    int rc = control_worker_snapshot(g->control_socket, "vmmctl", g->name, g->snapshot_path,
                                     SNAPSHOT_TIMEOUT_MS, err, sizeof(err));
    return rc == 0 ? EXIT_OK : fail("snapshot of %s: %s", g->name, err);
}

int snapshot_guest(const char *name, const char *snap, char *path, size_t path_len)
{
    Ignition__SnapshotRequest req = IGNITION__SNAPSHOT_REQUEST__INIT;
    req.name = (char *)name;
    req.path = (char *)snap;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_SNAPSHOT;
    env.snapshot = &req;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = guest_call(&env, &g);
    if (!reply)
        return EXIT_FAIL;
    int status = ask_worker_snapshot(g);
    set_message(path, path_len, "%s", g->snapshot_path);
    ignition__envelope__free_unpacked(reply, NULL);
    return status;
}

int force_stop(const char *name)
{
    Ignition__StopRequest req = IGNITION__STOP_REQUEST__INIT;
    req.name = (char *)name;
    req.force = true;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_STOP;
    env.stop = &req;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = guest_call(&env, &g);
    if (!reply)
        return EXIT_FAIL;
    ignition__envelope__free_unpacked(reply, NULL);
    return EXIT_OK;
}

static int cmd_snapshot(int argc, char **argv)
{
    bool stop = false;
    const char *args[2];
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stop"))
            stop = true;
        else if (argv[i][0] == '-')
            return usage_fail("snapshot", "unknown option %s", argv[i]);
        else if (n == 2)
            return usage_fail("snapshot", "unexpected argument '%s'", argv[i]);
        else
            args[n++] = argv[i];
    }
    if (n != 2)
        return usage_fail("snapshot", "snapshot: give the guest's NAME and the snapshot's name");
    char path[PATH_MAX];
    int status = snapshot_guest(args[0], args[1], path, sizeof(path));
    if (status == EXIT_OK) {
        if (json_output) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "guest", json_object_new_string(args[0]));
            json_object_object_add(o, "snapshot", json_object_new_string(args[1]));
            json_object_object_add(o, "path", json_object_new_string(path));
            print_json(o);
        } else {
            printf("snapshot %s of guest %s written to %s\n", args[1], args[0], path);
        }
    }
    if (status == EXIT_OK && stop)
        status = force_stop(args[0]);
    return status;
}

/* A viewer per clone, each on its own: vmmctl does not wait for them. They
 * do not keep vmmctl's stdin and stdout (nor its stderr, unless that is a
 * terminal): whoever reads vmmctl's output through a pipe sees it end when
 * vmmctl exits, not when the last window closes. */
static void spawn_viewer(const char *name)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            dup2(null, STDOUT_FILENO);
            if (!isatty(STDERR_FILENO))
                dup2(null, STDERR_FILENO);
        }
        exec_viewer(name, NULL, 0);
        _exit(127);
    }
}


static int cmd_restore(int argc, char **argv)
{
    static const struct option options[] = {{"name", required_argument, NULL, 'n'},
                                            {"view", no_argument, NULL, 'V'},
                                            {"publish", required_argument, NULL, 'P'},
                                            {"rm", no_argument, NULL, 'R'},
                                            {"host-loopback", no_argument, NULL, 'H'},
                                            {NULL, 0, NULL, 0}};
    Ignition__RestoreRequest req = IGNITION__RESTORE_REQUEST__INIT;
    char *publish[16];
    unsigned num_publish = 0;
    bool view = false;
    int c, rc;
    optind = 1;
    opterr = 0;
    req.publish = publish;
    while ((c = getopt_long(argc, argv, ":n:P:VRH", options, NULL)) != -1) {
        switch (c) {
        case 'P':
            if ((rc = add_publish("restore", publish, &num_publish, optarg)))
                return rc;
            req.n_publish = num_publish;
            break;
        case 'n': req.name = optarg; break;
        case 'R': req.disposable = true; break;
        case 'H': req.host_loopback = true; break;
        case 'V': view = true; break;
        case ':': return usage_fail("restore", "%s needs a value", argv[optind - 1]);
        default: return usage_fail("restore", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return usage_fail("restore", "restore: give one snapshot name");
    req.path = argv[optind];
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_RESTORE;
    env.restore = &req;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = guest_call(&env, &g);
    if (!reply)
        return EXIT_FAIL;
    int status = report_started(g, "restored");
    char name[PATHS_GUEST_NAME_MAX + 1];
    set_message(name, sizeof(name), "%s", g->name);
    bool gui = g->config && g->config->gui;
    ignition__envelope__free_unpacked(reply, NULL);
    if (status == EXIT_OK && view && gui) {
        fflush(stdout);
        /* A disposable guest's window is the guest: closing it ends both. */
        static char stop_on_close[] = "--stop-on-close";
        char *extra[] = {stop_on_close};
        return exec_viewer(name, extra, req.disposable ? 1 : 0);
    }
    return status;
}

/* Back to the last snapshot: vmmd stops the running worker at once and
 * restores that snapshot under the same name. */
static int cmd_relaunch(int argc, char **argv)
{
    if (need_args(argc, 1, 1))
        return EXIT_USAGE;
    Ignition__RelaunchRequest req = IGNITION__RELAUNCH_REQUEST__INIT;
    req.name = argv[1];
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_RELAUNCH;
    env.relaunch = &req;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = guest_call(&env, &g);
    if (!reply)
        return EXIT_FAIL;
    char how[PATHS_GUEST_NAME_MAX + 32];
    set_message(how, sizeof(how), "relaunched from %s", g->last_snapshot);
    int status = report_started(g, how);
    ignition__envelope__free_unpacked(reply, NULL);
    return status;
}

static int cmd_fanout(int argc, char **argv)
{
    static const struct option options[] = {{"prefix", required_argument, NULL, 'p'},
                                            {"view", no_argument, NULL, 'V'},
                                            {"publish", required_argument, NULL, 'P'},
                                            {"rm", no_argument, NULL, 'R'},
                                            {"host-loopback", no_argument, NULL, 'H'},
                                            {NULL, 0, NULL, 0}};
    Ignition__FanoutRequest req = IGNITION__FANOUT_REQUEST__INIT;
    char *publish[16];
    unsigned num_publish = 0;
    bool view = false;
    int c, rc;
    optind = 1;
    opterr = 0;
    req.publish = publish;
    while ((c = getopt_long(argc, argv, ":p:P:VRH", options, NULL)) != -1) {
        switch (c) {
        case 'P':
            if ((rc = add_publish("fanout", publish, &num_publish, optarg)))
                return rc;
            req.n_publish = num_publish;
            break;
        case 'p': req.prefix = optarg; break;
        case 'R': req.disposable = true; break;
        case 'H': req.host_loopback = true; break;
        case 'V': view = true; break;
        case ':': return usage_fail("fanout", "%s needs a value", argv[optind - 1]);
        default: return usage_fail("fanout", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind != argc - 2)
        return usage_fail("fanout", "fanout: give the snapshot's name and how many clones");
    char *end;
    errno = 0;
    unsigned long count = strtoul(argv[optind + 1], &end, 10);
    if (*end || end == argv[optind + 1] || errno || count > UINT32_MAX)
        return usage_fail("fanout", "fanout: '%s' is not a number of clones", argv[optind + 1]);
    req.path = argv[optind];
    req.count = (uint32_t)count;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_FANOUT;
    env.fanout = &req;
    Ignition__Envelope *reply = call(&env);
    if (!reply)
        return EXIT_FAIL;
    if (reply->body_case != IGNITION__ENVELOPE__BODY_GUEST_LIST) {
        ignition__envelope__free_unpacked(reply, NULL);
        return fail("vmmd answered with something unexpected; is it the same version?");
    }
    const Ignition__GuestList *list = reply->guest_list;
    int status = EXIT_OK;
    json_object *arr = json_output ? json_object_new_array() : NULL;
    for (size_t i = 0; i < list->n_guests; i++) {
        const Ignition__GuestInfo *g = list->guests[i];
        bool running = g->state == IGNITION__GUEST_INFO__STATE__STATE_RUNNING;
        if (arr)
            json_object_array_add(arr, guest_json(g));
        else if (running)
            printf("guest %s is running (pid %d, restored)\n", g->name, g->pid);
        if (!running)
            status = fail("guest %s is %s: %s", g->name, state_text(g->state), g->exit_reason);
        else if (view && g->config && g->config->gui)
            spawn_viewer(g->name);
    }
    if (arr) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "guests", arr);
        print_json(o);
    }
    ignition__envelope__free_unpacked(reply, NULL);
    return status;
}

/* Size on disk: the blocks the files hold, so a sparse memory file counts
 * only what it stores. */
static uint64_t dir_disk_bytes(const char *dir, time_t *newest)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *e;
    char path[PATH_MAX + 256];
    while ((e = readdir(d))) {
        struct stat st;
        set_message(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        total += (uint64_t)st.st_blocks * 512u;
        if (st.st_mtime > *newest)
            *newest = st.st_mtime;
    }
    closedir(d);
    return total;
}

/* When the snapshot was taken, as its manifest records it: the files' times
 * change when a snapshot is copied or touched. 0 when the manifest cannot say
 * (a damaged one is refused by restore with the reason). */
static uint64_t manifest_created_ms(const char *dir)
{
    char path[PATH_MAX + 256];
    set_message(path, sizeof(path), "%s/manifest", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint8_t header[SNAPSHOT_HEADER_SIZE];
    uint8_t *body = NULL;
    uint64_t created = 0, body_len = 0;
    if (fread(header, 1, sizeof(header), f) == sizeof(header) &&
        memcmp(header + SNAPSHOT_OFF_MAGIC, SNAPSHOT_MAGIC, 8) == 0) {
        /* Both terms are bounded (a 32-bit count, a checked length): no wrap. */
        uint64_t table = (uint64_t)le32(header + SNAPSHOT_OFF_REGION_COUNT) * 4u;
        body_len = le64(header + SNAPSHOT_OFF_BODY_LENGTH);
        if (body_len > 0 && body_len <= SNAPSHOT_BODY_MAX &&
            fseeko(f, (off_t)(SNAPSHOT_HEADER_SIZE + table), SEEK_SET) == 0)
            body = malloc(body_len);
    }
    if (body && fread(body, 1, body_len, f) == body_len) {
        Ignition__Snapshot__Manifest *m =
            ignition__snapshot__manifest__unpack(NULL, body_len, body);
        if (m) {
            created = m->created_unix_ms;
            ignition__snapshot__manifest__free_unpacked(m, NULL);
        }
    }
    free(body);
    fclose(f);
    return created;
}

static int snapshots_dir(char *out, size_t len)
{
    char state[PATH_MAX];
    if (paths_state_dir(state, sizeof(state)) < 0)
        return fail("no state directory: set HOME or IGNITION_HOME");
    set_message(out, len, "%s/snapshots", state);
    return EXIT_OK;
}

static int cmd_snapshots(int argc, char **argv)
{
    (void)argv;
    if (need_args(argc, 0, 0))
        return EXIT_USAGE;
    char dir[PATH_MAX];
    if (snapshots_dir(dir, sizeof(dir)) != EXIT_OK)
        return EXIT_FAIL;
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0 && errno != ENOENT)
        return fail("snapshots: %s: %s", dir, strerror(errno));
    json_object *arr = json_output ? json_object_new_array() : NULL;
    if (!arr)
        printf("%-24s %10s  %s\n", "NAME", "SIZE", "CREATED");
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        set_message(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        /* Hidden names are writers' unfinished or set-aside copies. */
        if (names[i]->d_name[0] != '.' && is_dir(path)) {
            time_t when = 0;
            uint64_t bytes = dir_disk_bytes(path, &when);
            uint64_t created_ms = manifest_created_ms(path);
            if (created_ms)
                when = (time_t)(created_ms / 1000);
            else
                created_ms = (uint64_t)when * 1000;
            if (arr) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(names[i]->d_name));
                json_object_object_add(o, "path", json_object_new_string(path));
                json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)bytes));
                json_object_object_add(o, "created_unix_ms",
                                       json_object_new_int64((int64_t)created_ms));
                json_object_array_add(arr, o);
            } else {
                char date[32] = "-";
                struct tm tm;
                if (localtime_r(&when, &tm))
                    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
                printf("%-24s %9.1fM  %s\n", names[i]->d_name, (double)bytes / (1 << 20), date);
            }
        }
        free(names[i]);
    }
    free(names);
    if (arr) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "snapshots", arr);
        print_json(o);
    }
    return EXIT_OK;
}

/* One stale instance directory: removed, or only named with --dry-run. */
static int prune_one(const char *path, bool dry_run, json_object *arr, uint64_t *total)
{
    uint64_t bytes = instances_size(path);
    int rc = dry_run ? 0 : instances_remove(path, NULL);
    if (rc < 0) {
        fprintf(stderr, "vmmctl: prune: cannot remove %s: %s\n", path, strerror(-rc));
        return EXIT_FAIL;
    }
    *total += bytes;
    if (arr) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "path", json_object_new_string(path));
        json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)bytes));
        json_object_array_add(arr, o);
    } else {
        printf("%s %s (%.1fM)\n", dry_run ? "stale:" : "removed", path,
               (double)bytes / (1 << 20));
    }
    return EXIT_OK;
}

/* Instance directories `vmmd run` made for itself and could not remove (it
 * was killed): nobody holds their lock. */
static int cmd_prune(int argc, char **argv)
{
    bool dry_run = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") && strcmp(argv[i], "-n"))
            return usage_fail("prune", "unknown option %s", argv[i]);
        dry_run = true;
    }
    char dir[PATH_MAX];
    if (instances_dir(dir, sizeof(dir)) < 0)
        return fail("prune: no state directory (HOME is not set)");
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0 && errno != ENOENT)
        return fail("prune: %s: %s", dir, strerror(errno));
    json_object *arr = json_output ? json_object_new_array() : NULL;
    uint64_t total = 0;
    int status = EXIT_OK, found = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        set_message(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && is_dir(path) && instances_stale(path)) {
            found++;
            if (prune_one(path, dry_run, arr, &total) != EXIT_OK)
                status = EXIT_FAIL;
        }
        free(names[i]);
    }
    free(names);
    if (arr) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, dry_run ? "stale" : "removed", arr);
        json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)total));
        print_json(o);
    } else if (!found) {
        printf("no stale instance directories in %s\n", dir);
    } else {
        printf("%d stale instance director%s, %.1fM%s\n", found, found == 1 ? "y" : "ies",
               (double)total / (1 << 20), dry_run ? " (vmmctl prune removes them)" : " freed");
    }
    return status;
}

static int cmd_rm_snapshot(int argc, char **argv)
{
    if (need_args(argc, 1, 1))
        return EXIT_USAGE;
    Ignition__RemoveSnapshotRequest req = IGNITION__REMOVE_SNAPSHOT_REQUEST__INIT;
    req.path = argv[1];
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_REMOVE_SNAPSHOT;
    env.remove_snapshot = &req;
    Ignition__Envelope *reply = call(&env);
    if (!reply)
        return EXIT_FAIL;
    ignition__envelope__free_unpacked(reply, NULL);
    if (!json_output)
        printf("snapshot %s removed\n", argv[1]);
    return EXIT_OK;
}

static int cmd_service(int argc, char **argv)
{
    char vmmd[PATH_MAX];
    find_program("vmmd", "vmmd", vmmd, sizeof(vmmd));
    char resolved[PATH_MAX];
    struct service_env env = {.vmmd_path = realpath(vmmd, resolved) ? resolved : vmmd,
                              .ignition_home = getenv("IGNITION_HOME"),
                              .json = json_output};
    return service_command(argc, argv, &env);
}

static int cmd_version(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("vmmctl %s\n", IGNITION_VERSION);
    return EXIT_OK;
}

static const struct command commands[] = {
    {"start", cmd_start,
     "start NAME [--image console|desktop|PATH] [--kernel K] [--initrd I] [--disk PATH[,ro]]...\n"
     "             [--mem SIZE] [--cpus N] [--append ARGS] [--backend B] [--gui|--no-gui]\n"
     "             [--display WxH] [--view]\n"
     "             [--net user[,host-loopback]|none] [--publish [HOST_IP:]HOST_PORT:GUEST_PORT]...",
     "start a guest (a new one, or a stopped one again)"},
    {"stop", cmd_stop, "stop NAME [--force] [--timeout SECONDS]",
     "power a guest off (asks it first; --force does not)"},
    {"list", cmd_list, "list", "the guests and their states"},
    {"status", cmd_status, "status NAME", "one guest in detail"},
    {"console", cmd_console, "console NAME", "the serial console (detach: Ctrl-] or Enter ~ .)"},
    {"logs", cmd_logs, "logs NAME [-f]", "the serial console's log"},
    {"view", cmd_view, "view NAME [ignition-view options]", "a window onto the guest's screen"},
    {"screenshot", cmd_screenshot, "screenshot NAME OUT.png [--scanout N]",
     "the guest's screen as a PNG"},
    {"send-keys", cmd_send_keys, "send-keys NAME TEXT",
     "type TEXT on the guest's keyboard (\\n is Enter)"},
    {"rm", cmd_rm, "rm NAME", "remove a stopped guest with its disks' writes and logs"},
    {"snapshot", cmd_snapshot, "snapshot NAME SNAP [--stop]",
     "snapshot a running guest as SNAP (--stop: then stop it)"},
    {"restore", cmd_restore,
     "restore SNAP [--name NEW] [--publish RULE]... [--view] [--rm] [--host-loopback]",
     "a new guest from a snapshot (default name SNAP-1, SNAP-2, ...)"},
    {"relaunch", cmd_relaunch, "relaunch NAME",
     "stop a guest at once and restore its last snapshot under its name"},
    {"fanout", cmd_fanout,
     "fanout SNAP N [--prefix P] [--publish RULE]... [--view] [--rm] [--host-loopback]",
     "N guests from a snapshot at once, named P1..PN (default SNAP-)"},
    {"browser", cmd_browser,
     "browser [URL] [--name NAME] [--no-view] [--screenshot OUT.png] [--allow-host]\n"
     "             [--rebuild] [--backend B] [--cpus N]",
     "Firefox in a throwaway clone of a warm snapshot"},
    {"snapshots", cmd_snapshots, "snapshots", "the snapshots, with size on disk and date"},
    {"rm-snapshot", cmd_rm_snapshot, "rm-snapshot SNAP", "remove a snapshot"},
    {"prune", cmd_prune, "prune [--dry-run]",
     "remove instance directories left by vmmd run when it was killed"},
    {"service", cmd_service, "service install|uninstall|status",
     "run vmmd under launchd or systemd"},
    {"version", cmd_version, "version", "print vmmctl's version"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: vmmctl [--json] [--home DIR] COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n--json prints what read commands report as JSON. --home DIR uses DIR as\n"
                 "the state directory (IGNITION_HOME). Both may also follow the command\n"
                 "(vmmctl list --json). Exit status: 0 ok, 1 error, 2 usage.\n"
                 "vmmctl COMMAND --help shows a command's arguments.\n");
}

/* A global option at argv[i] (--json, --home DIR, --home=DIR): applied, and
 * how many words it took; 0 when argv[i] is none; -1 for --home without DIR. */
static int global_option(int argc, char **argv, int i)
{
    if (!strcmp(argv[i], "--json")) {
        json_output = true;
        return 1;
    }
    if (!strncmp(argv[i], "--home=", 7) && argv[i][7]) {
        setenv("IGNITION_HOME", argv[i] + 7, 1);
        return 1;
    }
    if (!strcmp(argv[i], "--home")) {
        if (i + 1 >= argc)
            return -1;
        setenv("IGNITION_HOME", argv[i + 1], 1);
        return 2;
    }
    return 0;
}

/* Global options may follow the command too (`vmmctl list --json`), as
 * docker, kubectl and git users expect: they are applied and taken out of the
 * command's words (argv[0] is the command), up to a "--" that ends them.
 * Returns the new argc, or -1 after a usage error. */
static int take_global_options(int argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < argc;) {
        if (!strcmp(argv[i], "--")) {
            while (i < argc)
                argv[out++] = argv[i++];
            break;
        }
        int took = global_option(argc, argv, i);
        if (took < 0)
            return usage_fail(NULL, "--home needs a directory"), -1;
        if (took == 0)
            argv[out++] = argv[i++];
        i += took;
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        int took = global_option(argc, argv, i);
        if (took > 0) {
            i += took - 1;
        } else if (took < 0) {
            return usage_fail(NULL, "--home needs a directory");
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(argv[i], "--version")) {
            return cmd_version(0, NULL);
        } else {
            return usage_fail(NULL, "unknown option %s", argv[i]);
        }
    }
    if (i == argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    find_self_dir();
    signal(SIGPIPE, SIG_IGN);
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
        if (strcmp(argv[i], commands[c].name) != 0)
            continue;
        current = &commands[c];
        if (wants_help(argc - i, argv + i) && strcmp(argv[i], "view") != 0) {
            printf("usage: vmmctl %s\n  %s\n", commands[c].usage, commands[c].summary);
            return EXIT_OK;
        }
        int words = take_global_options(argc - i, argv + i);
        if (words < 0)
            return EXIT_USAGE;
        return commands[c].run(words, argv + i);
    }
    return usage_fail(NULL, "unknown command '%s'", argv[i]);
}
