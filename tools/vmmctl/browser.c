/* vmmctl browser: Firefox in a throwaway copy-on-write clone of a warm
 * snapshot of the browser image (tools/build-guest --image browser).
 *
 * The first use, and any use after the image, kernel or initramfs changed,
 * boots the image once, waits for the guest's "GUEST: browser ready" (Firefox
 * has drawn its start page) and then "GUEST: browser settled" (the guest is
 * idle), and snapshots it as `browser`, the warm base. Every use restores a
 * new disposable clone of it (its own MAC, vsock CID, VM generation id and
 * clock), opens the URL in it through the guest agent, and opens a window
 * that ends the clone when closed; or, with --screenshot, waits for the page
 * to be drawn, writes a PNG and discards the clone. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "browser_agent.h"
#include "paths.h"
#include "screenshot.h"
#include "util.h"
#include "vmmctl.h"

#define BASE_SNAPSHOT "browser"     /* clones are browser-1, browser-2, ... */
#define BASE_GUEST "browser-base"   /* booted to take the snapshot, then removed */
#define READY_LINE "GUEST: browser ready"
#define FAILED_LINE "GUEST: browser failed"
/* The guest says when Firefox has finished its start-up work after the first
 * page (its CPU idle for a while), or that it did not within its own limit;
 * the snapshot is taken then, either way. */
#define SETTLED_LINE "GUEST: browser settled"
#define NOT_SETTLED_LINE "GUEST: browser did not settle"
#define BASE_MEM_BYTES (2ull << 30)
/* Firefox's first start under the emulator takes minutes (docs/BROWSER.md). */
#define BASE_BOOT_LIMIT_S (45 * 60)
/* The guest's own limit for settling is 300 s (by its clock); an image that
 * never says either line is snapshotted after this. */
#define BASE_SETTLE_LIMIT_S 420
/* What vmmctl says while the base guest's console is quiet for that long
 * (while settling the guest says how idle it is every 30 s itself). */
#define QUIET_NOTE_S 40
/* --screenshot: the page counts as drawn once the screen has changed from
 * before the open and has not changed for STABLE_S (UNIFORM_STABLE_S for a
 * screen all of EMPTY_COLOUR), looked at every POLL_MS and at each flush, at
 * most DRAWN_LIMIT_S after the open. */
#define STABLE_S 3
#define POLL_MS 100
#define DRAWN_LIMIT_S 300
/* How long a clone's agent gets to be reachable after the restore. */
#define AGENT_WAIT_MS 10000
#define AGENT_RETRY_MS 100
/* Wider and taller than any pointer image (virtio-gpu's are 64x64 at most;
 * cage's default is about 24). */
#define POINTER_BOX 64
/* The colour of Firefox's window where no page is drawn yet (as its kiosk
 * window shows it): a still screen of it is taken for a blank page only after
 * UNIFORM_STABLE_S. A page Firefox has yet to draw looks the same: on a loaded
 * 2-core machine it was seen to hold for more than 60 s before the page came.
 * A blank page is rare (Firefox draws an empty document white, another colour,
 * which counts at once), so waiting long for it costs little. */
#define EMPTY_COLOUR 0xf9f9fbu
#define UNIFORM_STABLE_S 180

struct browser_args {
    const char *url;
    const char *name;
    const char *screenshot;
    const char *backend;
    unsigned cpus;
    bool no_view;
    bool rebuild;
    bool allow_host; /* the host's 127.0.0.1 at 10.0.2.2 for this clone */
};

static double seconds_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ---- the warm base's identity ------------------------------------------------------- */

struct base_assets {
    char kernel[PATH_MAX], initrd[PATH_MAX], image[PATH_MAX];
};

static int find_assets(struct base_assets *a)
{
    char dir[PATH_MAX];
    if (!find_guest_dir(dir, sizeof(dir)))
        return fail("browser: no guest assets found (run tools/build-guest --image browser, "
                    "or set IGNITION_GUEST_DIR)");
    char path[PATH_MAX + 32];
    set_message(path, sizeof(path), "%s/Image", dir);
    if (!realpath(path, a->kernel))
        return fail("browser: %s: %s (run tools/build-guest)", path, strerror(errno));
    set_message(path, sizeof(path), "%s/initramfs.cpio.gz", dir);
    if (!realpath(path, a->initrd))
        return fail("browser: %s: %s (run tools/build-guest)", path, strerror(errno));
    set_message(path, sizeof(path), "%s/%s", dir, image_file("browser"));
    if (!realpath(path, a->image))
        return fail("browser: %s: %s (run tools/build-guest --image browser)", path,
                    strerror(errno));
    return EXIT_OK;
}

/* What the base was made from: each file's path, size and modification time.
 * A rebuilt image (or kernel) makes a new base. */
static int describe_assets(const struct base_assets *a, char *out, size_t len)
{
    const char *files[] = {a->kernel, a->initrd, a->image};
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < 3; i++) {
        struct stat st;
        if (stat(files[i], &st) != 0)
            return fail("browser: %s: %s", files[i], strerror(errno));
        int n = snprintf(out + used, len - used, "%s %lld %lld.%09ld\n", files[i],
                         (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                         (long)st.st_mtim.tv_nsec);
        if (n < 0 || (size_t)n >= len - used)
            return fail("browser: asset paths too long");
        used += (size_t)n;
    }
    return EXIT_OK;
}

static int base_id_path(char *out, size_t len)
{
    char state[PATH_MAX];
    if (paths_state_dir(state, sizeof(state)) < 0)
        return fail("no state directory: set HOME or IGNITION_HOME");
    /* Beside snapshots/, not in it: that directory holds snapshots only. */
    set_message(out, len, "%s/%s-base.made-from", state, BASE_SNAPSHOT);
    return EXIT_OK;
}

static bool base_is_current(const char *id)
{
    char path[PATH_MAX], state[PATH_MAX], snapshot[PATH_MAX + 64];
    if (base_id_path(path, sizeof(path)) != EXIT_OK || paths_state_dir(state, sizeof(state)) < 0)
        return false;
    set_message(snapshot, sizeof(snapshot), "%s/snapshots/%s", state, BASE_SNAPSHOT);
    struct stat st;
    if (stat(snapshot, &st) != 0 || !S_ISDIR(st.st_mode))
        return false;
    uint8_t *saved;
    size_t len;
    if (read_whole_file(path, &saved, &len, strlen(id) + 1) < 0)
        return false;
    bool same = len == strlen(id) && memcmp(saved, id, len) == 0;
    free(saved);
    return same;
}

/* Through a temporary file and a rename: a base is current only once whole. */
static int save_base_id(const char *id)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    if (base_id_path(path, sizeof(path)) != EXIT_OK)
        return EXIT_FAIL;
    set_message(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    bool written = f && fputs(id, f) != EOF;
    if (f && fclose(f) != 0)
        written = false;
    if (!written || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        return fail("browser: cannot write %s: %s", path, strerror(saved));
    }
    return EXIT_OK;
}

/* ---- making the base ---------------------------------------------------------------- */

/* Whether vmmd has a guest of that name, and whether it has stopped; looked
 * up in the list, so that "no such guest" is an answer, not an error. */
static bool find_guest(const char *name, bool *stopped)
{
    Ignition__GuestList *list;
    Ignition__Envelope *reply = list_guests(&list);
    if (!reply)
        return false;
    bool found = false;
    for (size_t i = 0; i < list->n_guests && !found; i++) {
        const Ignition__GuestInfo *g = list->guests[i];
        if (strcmp(g->name, name) != 0)
            continue;
        found = true;
        *stopped = g->state == IGNITION__GUEST_INFO__STATE__STATE_STOPPED ||
                   g->state == IGNITION__GUEST_INFO__STATE__STATE_CRASHED;
    }
    ignition__envelope__free_unpacked(reply, NULL);
    return found;
}

/* A guest left by a base that was cut short (Ctrl-C, a crash) goes first. */
static void remove_leftover(const char *name)
{
    bool stopped = false;
    if (!find_guest(name, &stopped))
        return;
    if (!stopped)
        force_stop(name);
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = named_call(IGNITION__ENVELOPE__BODY_REMOVE, name, &g);
    if (reply)
        ignition__envelope__free_unpacked(reply, NULL);
}

static int start_base_guest(const struct base_assets *a, const struct browser_args *args,
                            char *console_log, size_t log_len)
{
    char *disks[] = {(char *)a->image};
    Ignition__GuestConfig config = IGNITION__GUEST_CONFIG__INIT;
    config.kernel = (char *)a->kernel;
    config.initrd = (char *)a->initrd;
    config.append = "console=ttyAMA0 quiet root=/dev/vda";
    config.n_disks = 1;
    config.disks = disks;
    config.mem_bytes = BASE_MEM_BYTES;
    config.cpus = args->cpus;
    config.backend = (char *)args->backend;
    config.gui = true;
    config.net = "user";
    Ignition__StartRequest req = IGNITION__START_REQUEST__INIT;
    req.name = BASE_GUEST;
    req.config = &config;
    req.config_given = true;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_START;
    env.start = &req;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = guest_call(&env, &g);
    if (!reply)
        return EXIT_FAIL;
    int status = g->state == IGNITION__GUEST_INFO__STATE__STATE_RUNNING
                     ? EXIT_OK
                     : fail("browser: the base guest did not start: %s", g->exit_reason);
    set_message(console_log, log_len, "%s", g->console_log);
    ignition__envelope__free_unpacked(reply, NULL);
    return status;
}

/* The guest's state now, and why it ended when it did. */
static bool base_guest_running(char *why, size_t why_len)
{
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = named_call(IGNITION__ENVELOPE__BODY_STATUS, BASE_GUEST, &g);
    if (!reply) {
        set_message(why, why_len, "vmmd no longer knows it");
        return false;
    }
    bool running = g->state == IGNITION__GUEST_INFO__STATE__STATE_RUNNING;
    set_message(why, why_len, "%s", g->exit_reason);
    ignition__envelope__free_unpacked(reply, NULL);
    return running;
}

/* What the base guest's console has said so far. */
enum base_milestone { BASE_STARTING, BASE_READY, BASE_SETTLED, BASE_FAILED };

/* Where the reading of the base guest's console is. */
struct console_scan {
    const char *path;
    off_t offset;
    char line[512];
    size_t used;
    struct timespec start; /* when the base guest was started */
    double last_said;      /* when a line was last printed, seconds from start */
};

static enum base_milestone milestone_of(const char *line)
{
    if (strncmp(line, READY_LINE, strlen(READY_LINE)) == 0)
        return BASE_READY;
    if (strncmp(line, SETTLED_LINE, strlen(SETTLED_LINE)) == 0 ||
        strncmp(line, NOT_SETTLED_LINE, strlen(NOT_SETTLED_LINE)) == 0)
        return BASE_SETTLED;
    if (strncmp(line, FAILED_LINE, strlen(FAILED_LINE)) == 0)
        return BASE_FAILED;
    return BASE_STARTING;
}

/* Reads what the console log gained since the last call, up to the first
 * milestone line; prints its GUEST: lines as progress. Returns that
 * milestone, or BASE_STARTING when there was none. */
static enum base_milestone scan_console(struct console_scan *scan)
{
    int fd = open(scan->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return BASE_STARTING;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size < scan->offset)
        scan->offset = 0; /* rotated */
    char buf[4096];
    ssize_t n;
    enum base_milestone result = BASE_STARTING;
    while (result == BASE_STARTING && (n = pread(fd, buf, sizeof(buf), scan->offset)) > 0) {
        ssize_t i = 0;
        for (; i < n && result == BASE_STARTING; i++) {
            if (buf[i] != '\n' && buf[i] != '\r') {
                if (scan->used + 1 < sizeof(scan->line))
                    scan->line[scan->used++] = buf[i];
                continue;
            }
            scan->line[scan->used] = '\0';
            scan->used = 0;
            const char *milestone = strstr(scan->line, "GUEST: ");
            if (!milestone)
                continue;
            scan->last_said = seconds_since(&scan->start);
            printf("  [%4.0f s] %s\n", scan->last_said, milestone);
            fflush(stdout);
            result = milestone_of(milestone);
        }
        scan->offset += i; /* the next call goes on after the milestone's line */
    }
    close(fd);
    return result;
}

/* Waits for the console to say `want` (or that Firefox failed), for at most
 * limit_s from now (then *timed_out); says what it is waiting for when
 * nothing was printed for QUIET_NOTE_S. */
static int wait_for_milestone(struct console_scan *scan, enum base_milestone want,
                              int limit_s, const char *waiting, bool *timed_out)
{
    *timed_out = false;
    struct timespec from;
    clock_gettime(CLOCK_MONOTONIC, &from);
    char why[300];
    for (;;) {
        enum base_milestone m = scan_console(scan);
        if (m == want)
            return EXIT_OK;
        if (m == BASE_FAILED)
            return fail("browser: Firefox did not come up in the base guest (its console: "
                        "%s)", scan->path);
        if (!base_guest_running(why, sizeof(why)))
            return fail("browser: the base guest stopped before its snapshot: %s", why);
        double waited = seconds_since(&from);
        if (waited > limit_s) {
            *timed_out = true;
            return EXIT_OK;
        }
        double now = seconds_since(&scan->start);
        if (now - scan->last_said >= QUIET_NOTE_S) {
            scan->last_said = now;
            printf("  [%4.0f s] %s...\n", now, waiting);
            fflush(stdout);
        }
        usleep(250 * 1000);
    }
}

/* Up to "browser ready", then "browser settled" (or that it did not settle:
 * snapshotted as it is). An image that says neither is snapshotted after
 * BASE_SETTLE_LIMIT_S. */
static int wait_for_settled(const char *console_log)
{
    struct console_scan scan = {.path = console_log};
    clock_gettime(CLOCK_MONOTONIC, &scan.start);
    bool timed_out;
    int status = wait_for_milestone(&scan, BASE_READY, BASE_BOOT_LIMIT_S,
                                    "still starting Firefox", &timed_out);
    if (status != EXIT_OK)
        return status;
    if (timed_out)
        return fail("browser: no '%s' after %d minutes (its console: %s)", READY_LINE,
                    BASE_BOOT_LIMIT_S / 60, console_log);
    printf("  Firefox is ready; waiting for the guest to settle before the snapshot\n");
    fflush(stdout);
    status = wait_for_milestone(&scan, BASE_SETTLED, BASE_SETTLE_LIMIT_S,
                                "Firefox still settling", &timed_out);
    if (status == EXIT_OK && timed_out) {
        printf("  the guest did not say it settled in %d s: snapshotting it as it is\n",
               BASE_SETTLE_LIMIT_S);
        fflush(stdout);
    }
    return status;
}

static int make_base(const struct base_assets *a, const struct browser_args *args,
                     const char *id)
{
    printf("making the browser's warm base: Firefox starts once in %s, then is "
           "snapshotted as '%s'\n(this takes minutes under the emulator; every later "
           "'vmmctl browser' starts from it in a moment)\n", a->image, BASE_SNAPSHOT);
    fflush(stdout);
    remove_leftover(BASE_GUEST);
    char console_log[PATH_MAX];
    int status = start_base_guest(a, args, console_log, sizeof(console_log));
    if (status == EXIT_OK)
        status = wait_for_settled(console_log);
    if (status == EXIT_OK) {
        char path[PATH_MAX];
        status = snapshot_guest(BASE_GUEST, BASE_SNAPSHOT, path, sizeof(path));
    }
    if (status == EXIT_OK)
        status = save_base_id(id);
    if (status == EXIT_OK) {
        printf("  warm base '%s' written (vmmctl snapshots shows it)\n", BASE_SNAPSHOT);
        remove_leftover(BASE_GUEST);
    } else {
        printf("  the base guest is kept for a look: vmmctl logs %s; vmmctl rm %s removes "
               "it\n", BASE_GUEST, BASE_GUEST);
        force_stop(BASE_GUEST);
    }
    return status;
}

/* ---- a clone ------------------------------------------------------------------------ */

static int restore_clone(const struct browser_args *args, char *name, size_t name_len,
                         char *display_socket, size_t display_len, char *vsock_socket,
                         size_t vsock_len)
{
    Ignition__RestoreRequest req = IGNITION__RESTORE_REQUEST__INIT;
    req.name = (char *)(args->name ? args->name : "");
    req.path = BASE_SNAPSHOT;
    req.disposable = true;
    req.host_loopback = args->allow_host;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_RESTORE;
    env.restore = &req;
    Ignition__GuestInfo *g;
    Ignition__Envelope *reply = guest_call(&env, &g);
    if (!reply) {
        fprintf(stderr, "vmmctl: 'vmmctl browser --rebuild' makes the warm base again\n");
        return EXIT_FAIL;
    }
    int status = report_started(g, "a disposable clone of the browser's warm base");
    set_message(name, name_len, "%s", g->name);
    set_message(display_socket, display_len, "%s", g->display_socket);
    set_message(vsock_socket, vsock_len, "%s", g->vsock_socket);
    ignition__envelope__free_unpacked(reply, NULL);
    return status;
}

/* One look at the screen: its pixels as R, G, B triples. */
struct frame {
    uint8_t *rgb;
    uint32_t width, height;
};

static void frame_free(struct frame *f)
{
    free(f->rgb);
    *f = (struct frame){0};
}

static bool frame_equal(const struct frame *a, const struct frame *b)
{
    return a->rgb && b->rgb && a->width == b->width && a->height == b->height &&
           memcmp(a->rgb, b->rgb, (size_t)a->width * a->height * 3) == 0;
}

/* What the worker sent is handled first, so that a new mapping (a mode
 * change) is the one looked at. */
static int look(struct screen_watch *watch, struct frame *out)
{
    char err[512];
    if (screen_watch_pump(watch, 0, err, sizeof(err)) < 0)
        return fail("browser: %s", err);
    out->rgb = screen_watch_rgb(watch, &out->width, &out->height);
    return out->rgb ? EXIT_OK : fail("browser: cannot copy the screen (out of memory)");
}

/* Whether the screen is one colour but for the pointer (cage draws it into
 * the frame): everything of another colour fits in a POINTER_BOX square. The
 * colour, as 0xRRGGBB, in *colour. */
static bool frame_uniform(const struct frame *f, uint32_t *colour)
{
    /* The background: the colour of the corner, where no pointer starts. */
    const uint8_t *bg = f->rgb;
    *colour = (uint32_t)bg[0] << 16 | (uint32_t)bg[1] << 8 | bg[2];
    uint32_t left = f->width, right = 0, top = f->height, bottom = 0;
    for (uint32_t y = 0; y < f->height; y++) {
        const uint8_t *row = f->rgb + (size_t)y * f->width * 3;
        for (uint32_t x = 0; x < f->width; x++) {
            if (memcmp(row + 3 * (size_t)x, bg, 3) == 0)
                continue;
            left = x < left ? x : left;
            right = x > right ? x : right;
            top = y < top ? y : top;
            bottom = y > bottom ? y : bottom;
        }
    }
    return left > right || (right - left < POINTER_BOX && bottom - top < POINTER_BOX);
}

/* Where the wait for a drawn page is. */
struct drawn_wait {
    bool changed;      /* the screen differs from the one before the open */
    bool uniform;      /* the last screen is one colour, */
    uint32_t colour;   /* this one */
    double changed_at; /* when the screen last changed (seconds, the command's clock) */
};

/* Whether the screen, still for `still` seconds, is the page: any picture, or
 * one colour other than EMPTY_COLOUR (a page of one colour); EMPTY_COLOUR,
 * which Firefox shows before a page is drawn, only once it has held
 * UNIFORM_STABLE_S (a page that is blank). */
static bool page_drawn(const struct drawn_wait *w, double still)
{
    if (!w->changed || still < STABLE_S)
        return false;
    return !w->uniform || w->colour != EMPTY_COLOUR || still >= UNIFORM_STABLE_S;
}

/* The page counts as drawn when the screen has changed from before (the
 * screen before the URL was opened) and then holds still as page_drawn says;
 * looked at every POLL_MS, or as soon as the guest flushes. The last screen
 * is written to out, also when it never got there (said). *drawn_at: when
 * that screen first appeared, on the clock of start. */
static int wait_drawn_screenshot(struct screen_watch *watch, const struct frame *before,
                                 const char *out, const struct timespec *start,
                                 double *drawn_at)
{
    struct frame last = {0};
    struct drawn_wait w = {0};
    double waiting_from = seconds_since(start);
    int status = EXIT_OK;
    for (;;) {
        struct frame now = {0};
        if ((status = look(watch, &now)) != EXIT_OK)
            break;
        double at = seconds_since(start);
        if (!frame_equal(&now, &last)) {
            w.changed = w.changed || !frame_equal(&now, before);
            w.changed_at = at;
            w.uniform = frame_uniform(&now, &w.colour);
        }
        frame_free(&last);
        last = now;
        if (page_drawn(&w, at - w.changed_at))
            break;
        if (at - waiting_from > DRAWN_LIMIT_S) {
            fprintf(stderr, "vmmctl: browser: the page was not drawn in %d s (the screen %s); "
                    "writing it as it is\n", DRAWN_LIMIT_S,
                    !w.changed ? "did not change" : "kept changing");
            status = EXIT_FAIL;
            break;
        }
        char err[512];
        if (screen_watch_pump(watch, POLL_MS, err, sizeof(err)) < 0) {
            status = fail("browser: %s", err);
            break;
        }
    }
    *drawn_at = w.changed_at;
    if (last.rgb) {
        char err[512];
        if (screenshot_write_png(out, last.rgb, last.width, last.height, err, sizeof(err)) < 0)
            status = fail("browser: %s", err);
    }
    frame_free(&last);
    return status;
}

/* Opens url through the clone's agent. A clone restored a moment ago takes
 * its new vsock CID when its kernel handles the transport reset; a connection
 * that comes before is refused, so a refusal is retried for AGENT_WAIT_MS. */
static int open_in_clone(const char *vsock, const char *url, char *err, size_t err_len)
{
    for (int waited_ms = 0;; waited_ms += AGENT_RETRY_MS) {
        int rc = browser_agent_open(vsock, url, err, err_len);
        if (rc != BROWSER_AGENT_NOT_LISTENING || waited_ms >= AGENT_WAIT_MS)
            return rc;
        usleep(AGENT_RETRY_MS * 1000);
    }
}

static bool have_display(void)
{
#ifdef __APPLE__
    return true;
#else
    const char *x = getenv("DISPLAY"), *wl = getenv("WAYLAND_DISPLAY");
    return (x && *x) || (wl && *wl);
#endif
}

/* ---- the command -------------------------------------------------------------------- */

static int parse_browser(int argc, char **argv, struct browser_args *a)
{
    static const struct option options[] = {
        {"name", required_argument, NULL, 'n'},       {"no-view", no_argument, NULL, 'N'},
        {"screenshot", required_argument, NULL, 's'}, {"rebuild", no_argument, NULL, 'r'},
        {"backend", required_argument, NULL, 'b'},    {"cpus", required_argument, NULL, 'c'},
        {"allow-host", no_argument, NULL, 'A'},       {NULL, 0, NULL, 0}};
    *a = (struct browser_args){.backend = "auto", .cpus = 1};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:Ns:rb:c:A", options, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!paths_guest_name_ok(optarg))
                return usage_fail("browser", "--name %s: not a guest name", optarg);
            a->name = optarg;
            break;
        case 'N': a->no_view = true; break;
        case 's': a->screenshot = optarg; break;
        case 'r': a->rebuild = true; break;
        case 'A': a->allow_host = true; break;
        case 'b': a->backend = optarg; break;
        case 'c': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || end == optarg || n < 1 || n > 8)
                return usage_fail("browser", "--cpus %s: give 1 to 8", optarg);
            a->cpus = (unsigned)n;
            break;
        }
        case ':': return usage_fail("browser", "%s needs a value", argv[optind - 1]);
        default: return usage_fail("browser", "unknown option %s", argv[optind - 1]);
        }
    }
    if (argc - optind > 1)
        return usage_fail("browser", "browser: give at most one URL");
    a->url = optind < argc ? argv[optind] : NULL;
    if (a->url) {
        char why[200];
        if (!browser_agent_url_ok(a->url, why, sizeof(why)))
            return usage_fail("browser", "%s", why);
    }
    return EXIT_OK;
}

int cmd_browser(int argc, char **argv)
{
    struct browser_args args;
    int status = parse_browser(argc, argv, &args);
    if (status != EXIT_OK)
        return status;
    struct base_assets assets;
    char id[3 * (PATH_MAX + 64)];
    if ((status = find_assets(&assets)) != EXIT_OK ||
        (status = describe_assets(&assets, id, sizeof(id))) != EXIT_OK)
        return status;
    if (args.rebuild || !base_is_current(id)) {
        if ((status = make_base(&assets, &args, id)) != EXIT_OK)
            return status;
    }
    char name[PATHS_GUEST_NAME_MAX + 1], display[PATH_MAX], vsock[PATH_MAX];
    struct timespec start; /* after the base: what a use from a warm base costs */
    clock_gettime(CLOCK_MONOTONIC, &start);
    if ((status = restore_clone(&args, name, sizeof(name), display, sizeof(display), vsock,
                                sizeof(vsock))) != EXIT_OK)
        return status;
    double restored = seconds_since(&start);
    struct screen_watch watch = {.sock = -1};
    struct frame before = {0};
    if (args.screenshot) {
        char err[512];
        if (screen_watch_open(&watch, display, 0, err, sizeof(err)) < 0)
            status = fail("browser: screenshot: %s", err);
        else if (args.url)
            status = look(&watch, &before);
        if (status != EXIT_OK) {
            screen_watch_close(&watch);
            force_stop(name);
            return status;
        }
    }
    double opened = restored;
    if (args.url) {
        char err[512];
        if (open_in_clone(vsock, args.url, err, sizeof(err)) < 0) {
            frame_free(&before);
            screen_watch_close(&watch);
            force_stop(name);
            return fail("browser: cannot open %s in %s: %s (the clone is discarded)", args.url,
                        name, err);
        }
        opened = seconds_since(&start);
    }
    if (args.screenshot) {
        double drawn = 0;
        status = wait_drawn_screenshot(&watch, &before, args.screenshot, &start, &drawn);
        frame_free(&before);
        screen_watch_close(&watch);
        printf("%s written; %s discarded\n", args.screenshot, name);
        /* For tools/bench browser: milliseconds from the command's start. */
        printf("timing: clone running %.0f ms, URL handed to Firefox %.0f ms, page drawn "
               "%.0f ms\n", restored * 1000, opened * 1000, drawn * 1000);
        force_stop(name);
        return status;
    }
    if (args.no_view || !have_display()) {
        printf("%s runs without a window: vmmctl view %s opens one; vmmctl stop %s discards "
               "it\n", name, name, name);
        return EXIT_OK;
    }
    fflush(stdout);
    static char stop_on_close[] = "--stop-on-close";
    char *extra[] = {stop_on_close};
    return exec_viewer(name, extra, 1);
}
