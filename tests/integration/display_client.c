/* A viewer without a window, for the integration tests and benchmarks: it
 * attaches to a guest worker's display socket with the project's protocol
 * library, maps the scanout read-only the way ignition-view does, checks what
 * it sees, and sends keyboard, tablet and window-size input.
 *
 *   display_client SOCKET check [SECONDS]     header, read-only mapping, fbcon text
 *   display_client SOCKET type TEXT           types TEXT then Enter (US layout)
 *   display_client SOCKET keycodes WORD...    evdev codes: N taps, +N presses, -N releases
 *   display_client SOCKET tablet X Y          moves there, clicks left, scrolls up once
 *   display_client SOCKET pointer X Y SECONDS moves there; waits for the guest's pointer there
 *   display_client SOCKET moves SECONDS X Y... moves through the points, each shown by the
 *                                             guest; counts CursorMoves and damage meanwhile
 *   display_client SOCKET watch SECONDS       counts damage notices and ScanoutInfos
 *   display_client SOCKET watch-each SECONDS  the same, and a line per notice (time, pixels)
 *   display_client SOCKET scanouts SECONDS    a line per ScanoutInfo: "scanout WxH" or "scanout off"
 *   display_client SOCKET churn N             attaches and detaches N times
 *   display_client SOCKET resize W H          asks the guest for a W x H mode
 *   display_client SOCKET latency SECONDS     flush-to-notice latency percentiles
 *   display_client SOCKET keys N              N Shift presses stamped with their send
 *                                             time (vmmd logs the delivery latency)
 *   display_client SOCKET raw                 sends stdin as-is, prints the reply
 *   display_client SOCKET dump FILE           writes the scanout as a binary PPM
 *
 * Prints "key value" lines; exits 0 when everything it checked held. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ignition.pb-c.h"
#include "keytext.h"
#include "scanout.h"
#include "scanout_map.h"
#include "unixsock.h"
#include "wire.h"

#define BTN_LEFT 0x110
#define MAX_MOVES 64 /* points one `moves` takes */

struct view {
    int sock;
    bool have_scanout;
    uint32_t width, height, stride, format;
    uint64_t generation, data_offset, object_size;
    const uint8_t *map;
    unsigned damage_notices, damage_rects, scanout_infos;
    unsigned cursor_images, cursor_moves;
    uint32_t cursor_hot_x, cursor_hot_y;
    int32_t cursor_x, cursor_y; /* the last CursorMove */
    bool got_error;
    bool print_scanouts; /* a line for each ScanoutInfo as it arrives */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void unmap(struct view *v)
{
    if (v->map)
        munmap((void *)v->map, v->object_size);
    v->map = NULL;
    v->have_scanout = false;
}

static int attach(struct view *v, const char *path)
{
    char err[256];
    memset(v, 0, sizeof(*v));
    v->sock = unixsock_connect(path, err, sizeof(err));
    if (v->sock < 0) {
        fprintf(stderr, "display_client: %s\n", err);
        return -1;
    }
    if (wire_client_handshake(v->sock, "display_client", 10000, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "display_client: handshake: %s\n", err);
        close(v->sock);
        return -1;
    }
    return 0;
}

static void detach(struct view *v)
{
    unmap(v);
    close(v->sock);
}

static int take_scanout(struct view *v, const Ignition__ScanoutInfo *info, const int *fds,
                        unsigned nfds)
{
    if (info->scanout_id != 0)
        return 0; /* this client watches the first scanout only */
    unmap(v);
    if (!info->enabled)
        return 0;
    if (nfds != 1) {
        fprintf(stderr, "display_client: ScanoutInfo with %u fds\n", nfds);
        return -1;
    }
    void *p = mmap(NULL, info->object_size, PROT_READ, MAP_SHARED, fds[0], 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "display_client: mmap: %s\n", strerror(errno));
        return -1;
    }
    /* What a viewer must not be able to do: write what others see. */
    void *w = mmap(NULL, info->object_size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
    if (w != MAP_FAILED) {
        fprintf(stderr, "display_client: the scanout can be mapped writable\n");
        munmap(w, info->object_size);
        munmap(p, info->object_size);
        return -1;
    }
    v->map = p;
    v->have_scanout = true;
    v->width = info->width;
    v->height = info->height;
    v->stride = info->stride;
    v->format = info->format;
    v->generation = info->generation;
    v->data_offset = info->data_offset;
    v->object_size = info->object_size;
    return 0;
}

typedef void (*damage_fn)(struct view *v, const Ignition__Damage *d, void *arg);

/* Handles one message (waiting up to timeout_ms). 1: handled, 0: timeout, -1: error. */
static int pump(struct view *v, int timeout_ms, damage_fn on_damage, void *arg)
{
    Ignition__Envelope *env;
    int fds[WIRE_MAX_FDS];
    unsigned nfds = 0;
    int rc = wire_recv(v->sock, &env, fds, &nfds, timeout_ms);
    if (rc == -ETIMEDOUT || rc == -EINTR)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "display_client: receive: %s\n", strerror(-rc));
        return -1;
    }
    int result = 1;
    switch (env->body_case) {
    case IGNITION__ENVELOPE__BODY_SCANOUT_INFO:
        v->scanout_infos++;
        if (v->print_scanouts && env->scanout_info->enabled)
            printf("scanout %ux%u\n", env->scanout_info->width, env->scanout_info->height);
        else if (v->print_scanouts)
            printf("scanout off\n");
        if (take_scanout(v, env->scanout_info, fds, nfds) < 0)
            result = -1;
        break;
    case IGNITION__ENVELOPE__BODY_DAMAGE:
        v->damage_notices++;
        v->damage_rects += (unsigned)env->damage->n_rects;
        if (on_damage)
            on_damage(v, env->damage, arg);
        break;
    case IGNITION__ENVELOPE__BODY_CURSOR_IMAGE:
        v->cursor_images++;
        v->cursor_hot_x = env->cursor_image->hot_x;
        v->cursor_hot_y = env->cursor_image->hot_y;
        break;
    case IGNITION__ENVELOPE__BODY_CURSOR_MOVE:
        v->cursor_moves++;
        v->cursor_x = env->cursor_move->x;
        v->cursor_y = env->cursor_move->y;
        break;
    case IGNITION__ENVELOPE__BODY_ERROR:
        printf("error %s\n", env->error->message);
        v->got_error = true;
        result = -1;
        break;
    default:
        break;
    }
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    ignition__envelope__free_unpacked(env, NULL);
    return result;
}

/* Handles what arrives for ms milliseconds: a refusal of what was sent comes
 * back within that (fbcon's blinking cursor keeps damage coming, so waiting
 * for quiet would never end). */
static void drain(struct view *v, int ms)
{
    double end = now_s() + ms / 1000.0;
    while (now_s() < end) {
        int left = (int)((end - now_s()) * 1000);
        if (pump(v, left > 0 ? left : 1, NULL, NULL) < 0)
            return;
    }
}

static int send_env(struct view *v, Ignition__Envelope *env)
{
    int rc = wire_send(v->sock, env, NULL, 0);
    if (rc < 0)
        fprintf(stderr, "display_client: send: %s\n", strerror(-rc));
    return rc;
}

static int send_pointer(struct view *v, uint32_t x, uint32_t y)
{
    Ignition__PointerEvent move = IGNITION__POINTER_EVENT__INIT;
    move.x = x;
    move.y = y;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_POINTER_EVENT;
    env.pointer_event = &move;
    return send_env(v, &env);
}

static int send_key(struct view *v, uint32_t code, bool pressed)
{
    Ignition__KeyEvent key = IGNITION__KEY_EVENT__INIT;
    key.evdev_code = code;
    key.pressed = pressed;
    key.sent_monotonic_ns = now_ns();
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_KEY_EVENT;
    env.key_event = &key;
    return send_env(v, &env);
}

/* Typing as vmmctl send-keys does: one key transition per 15 ms at most. The
 * guest kernel keeps 64 events per evdev reader; a compositor drawing on a slow
 * vCPU reads late, and a faster burst is dropped whole (SYN_DROPPED). */
static int type_key(struct view *v, uint32_t code, bool pressed)
{
    nanosleep(&(struct timespec){.tv_nsec = 15000000}, NULL);
    return send_key(v, code, pressed);
}

/* Waits for the first scanout (sent at once on attach). */
static int wait_scanout(struct view *v, double seconds)
{
    double end = now_s() + seconds;
    while (!v->have_scanout) {
        int left = (int)((end - now_s()) * 1000);
        if (left <= 0 || pump(v, left, NULL, NULL) < 0)
            return -1;
    }
    return 0;
}

/* ---- check ------------------------------------------------------------------- */

static bool header_matches(const struct view *v)
{
    const struct scanout_shm_header *h = (const void *)v->map;
    uint64_t seq = __atomic_load_n(&h->sequence, __ATOMIC_ACQUIRE);
    printf("header magic=%08x version=%u %ux%u stride=%u format=%u sequence=%llu\n",
           h->magic, h->version, h->width, h->height, h->stride, h->format,
           (unsigned long long)seq);
    return h->magic == SCANOUT_SHM_MAGIC && h->version == SCANOUT_SHM_VERSION &&
           h->header_size == SCANOUT_SHM_HEADER_SIZE && h->stride == v->stride &&
           h->format == v->format && h->width >= v->width && h->height >= v->height &&
           h->size == v->object_size &&
           v->data_offset + (uint64_t)(v->height - 1) * v->stride + (uint64_t)v->width * 4 <=
               v->object_size;
}

/* fbcon draws glyphs in one colour on another: text shows as more than one
 * pixel value within the scanout. */
static unsigned distinct_pixels(const struct view *v)
{
    uint32_t first = 0, count = 0;
    if (!v->have_scanout)
        return 0; /* switched off meanwhile (a reset): nothing to look at */
    for (uint32_t y = 0; y < v->height; y++) {
        const uint32_t *row = (const void *)(v->map + v->data_offset + (uint64_t)y * v->stride);
        for (uint32_t x = 0; x < v->width; x++) {
            if (count == 0) {
                first = row[x];
                count = 1;
            } else if (row[x] != first) {
                return 2;
            }
        }
    }
    return count;
}

static int cmd_check(const char *path, double seconds)
{
    struct view v;
    if (attach(&v, path) < 0)
        return 1;
    if (wait_scanout(&v, seconds) < 0) {
        printf("scanout none\n");
        return 1;
    }
    printf("scanout %ux%u stride=%u format=%u\n", v.width, v.height, v.stride, v.format);
    printf("readonly yes\n");
    bool header_ok = header_matches(&v);
    printf("header %s\n", header_ok ? "ok" : "bad");
    /* The full-frame notice comes right behind ScanoutInfo. */
    double end = now_s() + seconds;
    while (v.damage_notices == 0 && now_s() < end)
        if (pump(&v, 1000, NULL, NULL) < 0)
            return 1;
    printf("initial-damage %s\n", v.damage_notices ? "yes" : "no");
    bool text = false;
    while (header_ok && !(text = distinct_pixels(&v) > 1) && now_s() < end)
        if (pump(&v, 500, NULL, NULL) < 0)
            return 1;
    printf("text %s\n", text ? "yes" : "no");
    detach(&v);
    return header_ok && v.damage_notices && text ? 0 : 1;
}

/* ---- input ------------------------------------------------------------------ */

static int cmd_type(const char *path, const char *text)
{
    struct view v;
    if (attach(&v, path) < 0)
        return 1;
    for (const char *c = text; *c; c++) {
        uint32_t code;
        bool shift;
        if (!keytext_key_for(*c, &code, &shift)) {
            fprintf(stderr, "display_client: cannot type '%c'\n", *c);
            return 2;
        }
        if ((shift && type_key(&v, KEYTEXT_KEY_LEFTSHIFT, true) < 0) ||
            type_key(&v, code, true) < 0 || type_key(&v, code, false) < 0 ||
            (shift && type_key(&v, KEYTEXT_KEY_LEFTSHIFT, false) < 0))
            return 1;
    }
    if (type_key(&v, KEYTEXT_KEY_ENTER, true) < 0 || type_key(&v, KEYTEXT_KEY_ENTER, false) < 0)
        return 1;
    drain(&v, 500);
    printf("typed %zu\n", strlen(text));
    detach(&v);
    return v.got_error ? 1 : 0;
}

/* Evdev key codes as they are, whatever the guest's layout makes of them: each
 * word N taps key N, +N presses it, -N releases it. */
static int cmd_keycodes(const char *path, int n, char **words)
{
    struct view v;
    if (attach(&v, path) < 0)
        return 1;
    for (int i = 0; i < n; i++) {
        const char *w = words[i];
        bool press = *w != '-', release = *w != '+';
        char *end;
        unsigned long code = strtoul(w + (*w == '+' || *w == '-'), &end, 10);
        if (*end || code == 0 || code > 0x2ff) {
            fprintf(stderr, "display_client: %s is not a key code\n", w);
            return 2;
        }
        if ((press && type_key(&v, (uint32_t)code, true) < 0) ||
            (release && type_key(&v, (uint32_t)code, false) < 0))
            return 1;
    }
    drain(&v, 500);
    printf("keycodes %d\n", n);
    detach(&v);
    return v.got_error ? 1 : 0;
}

static int cmd_tablet(const char *path, uint32_t x, uint32_t y)
{
    struct view v;
    if (attach(&v, path) < 0 || wait_scanout(&v, 10) < 0)
        return 1;
    Ignition__PointerEvent move = IGNITION__POINTER_EVENT__INIT;
    move.x = x;
    move.y = y;
    Ignition__ButtonEvent button = IGNITION__BUTTON_EVENT__INIT;
    button.evdev_code = BTN_LEFT;
    Ignition__WheelEvent wheel = IGNITION__WHEEL_EVENT__INIT;
    wheel.dy = 1;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_POINTER_EVENT;
    env.pointer_event = &move;
    if (send_env(&v, &env) < 0)
        return 1;
    env.body_case = IGNITION__ENVELOPE__BODY_BUTTON_EVENT;
    env.button_event = &button;
    button.pressed = true;
    if (send_env(&v, &env) < 0)
        return 1;
    button.pressed = false;
    if (send_env(&v, &env) < 0)
        return 1;
    env.body_case = IGNITION__ENVELOPE__BODY_WHEEL_EVENT;
    env.wheel_event = &wheel;
    if (send_env(&v, &env) < 0)
        return 1;
    drain(&v, 500);
    printf("scanout %ux%u\n", v.width, v.height);
    detach(&v);
    return v.got_error ? 1 : 0;
}

struct point_watch {
    uint32_t x, y;
    bool damaged;
    Ignition__Rect rect;
};

static void watch_point(struct view *v, const Ignition__Damage *d, void *arg)
{
    (void)v;
    struct point_watch *w = arg;
    for (size_t i = 0; i < d->n_rects && !w->damaged; i++) {
        const Ignition__Rect *r = d->rects[i];
        if (w->x >= r->x && w->x - r->x < r->width && w->y >= r->y && w->y - r->y < r->height &&
            r->width <= 128 && r->height <= 128) {
            w->damaged = true;
            w->rect = *r;
        }
    }
}

/* Moves the tablet to (x, y) and waits up to SECONDS for the guest to show
 * its pointer there: a small damage rectangle holding the point (a pointer
 * drawn into the frame) or a CursorMove whose hot spot is the point (the
 * cursor plane). Exit 0 when it did. */
static int cmd_pointer(const char *path, uint32_t x, uint32_t y, double seconds)
{
    struct view v;
    if (attach(&v, path) < 0 || wait_scanout(&v, 10) < 0)
        return 1;
    while (v.damage_notices == 0) /* the attach frame first */
        if (pump(&v, 1000, NULL, NULL) < 0)
            return 1;
    unsigned moves_before = v.cursor_moves;
    if (send_pointer(&v, x, y) < 0)
        return 1;
    struct point_watch w = {.x = x, .y = y};
    bool moved = false;
    double end = now_s() + seconds;
    while (!w.damaged && !moved && now_s() < end) {
        if (pump(&v, 200, watch_point, &w) < 0)
            return 1;
        moved = v.cursor_moves > moves_before &&
                (int64_t)v.cursor_x + v.cursor_hot_x == (int64_t)x &&
                (int64_t)v.cursor_y + v.cursor_hot_y == (int64_t)y;
    }
    printf("pointer %u %u %s", x, y, w.damaged ? "damage" : moved ? "cursor-move" : "none");
    if (w.damaged)
        printf(" %ux%u+%u+%u", w.rect.width, w.rect.height, w.rect.x, w.rect.y);
    printf(" cursor-images %u cursor-moves %u\n", v.cursor_images, v.cursor_moves);
    detach(&v);
    return w.damaged || moved ? 0 : 1;
}

static int cmd_resize(const char *path, uint32_t w, uint32_t h)
{
    struct view v;
    if (attach(&v, path) < 0)
        return 1;
    Ignition__WindowSize size = IGNITION__WINDOW_SIZE__INIT;
    size.width = w;
    size.height = h;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_WINDOW_SIZE;
    env.window_size = &size;
    if (send_env(&v, &env) < 0)
        return 1;
    drain(&v, 500);
    detach(&v);
    return v.got_error ? 1 : 0;
}

/* ---- watching ------------------------------------------------------------------- */

static int cmd_churn(const char *path, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct view v;
        if (attach(&v, path) < 0 || wait_scanout(&v, 10) < 0) {
            printf("churn failed at %u\n", i);
            return 1;
        }
        detach(&v);
    }
    printf("churn %u\n", n);
    return 0;
}

struct latencies {
    double *us;
    size_t n, cap;
};

static void record_latency(struct view *v, const Ignition__Damage *d, void *arg)
{
    (void)v;
    struct latencies *l = arg;
    if (!d->flush_monotonic_ns || l->n == l->cap)
        return;
    l->us[l->n++] = (double)(now_ns() - d->flush_monotonic_ns) / 1000.0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct watch_totals {
    uint64_t pixels;
    bool each; /* a line per notice: its time and pixels */
    double start;
};

static void count_pixels(struct view *v, const Ignition__Damage *d, void *arg)
{
    (void)v;
    struct watch_totals *w = arg;
    uint64_t pixels = 0;
    for (size_t i = 0; i < d->n_rects; i++)
        pixels += (uint64_t)d->rects[i]->width * d->rects[i]->height;
    w->pixels += pixels;
    if (w->each) {
        printf("notice %.4f %llu\n", now_s() - w->start, (unsigned long long)pixels);
        fflush(stdout);
    }
}

/* Counts notices until SECONDS pass or SIGTERM/SIGINT arrives: damage
 * notices, their rects and pixels, and ScanoutInfo messages (the first, on
 * attach, included). A page flip of the guest must not be a ScanoutInfo. */
static int cmd_watch(const char *path, double seconds, bool each)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct view v;
    struct watch_totals w = {.each = each, .start = now_s()};
    if (attach(&v, path) < 0)
        return 1;
    printf("attached\n");
    fflush(stdout);
    double end = now_s() + seconds;
    while (now_s() < end && !stop_requested) {
        int left = (int)((end - now_s()) * 1000);
        if (pump(&v, left > 200 ? 200 : left > 0 ? left : 1, count_pixels, &w) < 0)
            return 1;
    }
    printf("damage %u rects %u scanout-infos %u pixels %llu\n", v.damage_notices,
           v.damage_rects, v.scanout_infos, (unsigned long long)w.pixels);
    detach(&v);
    return 0;
}

/* Says each ScanoutInfo (the attach's first) until SECONDS pass or
 * SIGTERM/SIGINT arrives: what a viewer is told of mode changes. */
static int cmd_scanouts(const char *path, double seconds)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct view v;
    if (attach(&v, path) < 0)
        return 1;
    v.print_scanouts = true;
    printf("attached\n");
    double end = now_s() + seconds;
    while (now_s() < end && !stop_requested) {
        int left = (int)((end - now_s()) * 1000);
        if (pump(&v, left > 200 ? 200 : left > 0 ? left : 1, NULL, NULL) < 0)
            return 1;
    }
    detach(&v);
    return 0;
}

/* What came while the pointer moved: damage of any size (the frames the
 * moves cost) and whether a small damage rectangle held the current point. */
struct moves_watch {
    struct point_watch point;
    unsigned notices;
    uint64_t pixels;
};

static void watch_moves(struct view *v, const Ignition__Damage *d, void *arg)
{
    struct moves_watch *m = arg;
    m->notices++;
    for (size_t i = 0; i < d->n_rects; i++)
        m->pixels += (uint64_t)d->rects[i]->width * d->rects[i]->height;
    watch_point(v, d, &m->point);
}

/* Moves the tablet through the N points of XY (x, y pairs), the next once the
 * guest showed its pointer at the one before or SECONDS passed, and says for
 * each how the guest showed it: "cursor-move" (a CursorMove with its hot spot
 * there: the cursor plane), "damage" (a small damage rectangle holding it: a
 * pointer drawn into the frame) or "none"; then the CursorMoves and the damage
 * (notices, pixels) that all the moves brought. Exit 0 when every point was
 * shown. */
static int cmd_moves(const char *path, double seconds, unsigned n, const uint32_t *xy)
{
    struct view v;
    if (attach(&v, path) < 0 || wait_scanout(&v, 10) < 0)
        return 1;
    while (v.damage_notices == 0) /* the attach frame first */
        if (pump(&v, 1000, NULL, NULL) < 0)
            return 1;
    drain(&v, 500); /* and the cursor, if the guest set one */
    unsigned moves_before = v.cursor_moves, shown = 0;
    struct moves_watch m = {0};
    for (unsigned i = 0; i < n; i++) {
        uint32_t x = xy[2 * i], y = xy[2 * i + 1];
        unsigned moves_at_start = v.cursor_moves;
        if (send_pointer(&v, x, y) < 0)
            return 1;
        m.point = (struct point_watch){.x = x, .y = y};
        bool moved = false;
        double end = now_s() + seconds;
        while (!m.point.damaged && !moved && now_s() < end) {
            if (pump(&v, 200, watch_moves, &m) < 0)
                return 1;
            moved = v.cursor_moves > moves_at_start &&
                    (int64_t)v.cursor_x + v.cursor_hot_x == (int64_t)x &&
                    (int64_t)v.cursor_y + v.cursor_hot_y == (int64_t)y;
        }
        printf("move %u %u %s", x, y, moved ? "cursor-move" : m.point.damaged ? "damage" : "none");
        if (!moved && v.cursor_moves > moves_at_start) /* where the guest put it instead */
            printf(" (cursor at %d,%d, hot spot %u,%u)", v.cursor_x, v.cursor_y, v.cursor_hot_x,
                   v.cursor_hot_y);
        printf("\n");
        shown += moved || m.point.damaged;
    }
    drain(&v, 1000); /* what the last move still brings */
    printf("moves %u shown %u cursor-moves %u damage-notices %u damage-pixels %llu\n", n, shown,
           v.cursor_moves - moves_before, m.notices, (unsigned long long)m.pixels);
    detach(&v);
    return shown == n ? 0 : 1;
}

/* Runs until SECONDS pass or SIGTERM/SIGINT arrives, then prints. */
static int cmd_latency(const char *path, double seconds)
{
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct view v;
    struct latencies l = {.cap = 1u << 20};
    l.us = calloc(l.cap, sizeof(double));
    if (!l.us || attach(&v, path) < 0 || wait_scanout(&v, 10) < 0)
        return 1;
    /* The first notice is the attach frame, not a guest flush. */
    while (v.damage_notices == 0)
        if (pump(&v, 1000, NULL, NULL) < 0)
            return 1;
    double end = now_s() + seconds;
    while (now_s() < end && !stop_requested) {
        /* Short waits: the receive goes on through signals, so the flag is
         * looked at between them. */
        int left = (int)((end - now_s()) * 1000);
        if (pump(&v, left > 200 ? 200 : left > 0 ? left : 1, record_latency, &l) < 0)
            return 1;
    }
    qsort(l.us, l.n, sizeof(double), compare_double);
    if (l.n)
        printf("notices %zu p50_us %.1f p99_us %.1f max_us %.1f\n", l.n, l.us[l.n / 2],
               l.us[(l.n * 99) / 100], l.us[l.n - 1]);
    else
        printf("notices 0\n");
    free(l.us);
    detach(&v);
    return 0;
}

static int cmd_keys(const char *path, unsigned n)
{
    struct view v;
    if (attach(&v, path) < 0)
        return 1;
    for (unsigned i = 0; i < n; i++) {
        if (send_key(&v, KEYTEXT_KEY_LEFTSHIFT, true) < 0 ||
            send_key(&v, KEYTEXT_KEY_LEFTSHIFT, false) < 0)
            return 1;
        /* Paced like a fast typist, so each key finds the guest's queue ready. */
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    }
    drain(&v, 500);
    printf("keys %u\n", 2 * n);
    detach(&v);
    return v.got_error ? 1 : 0;
}

static int cmd_dump(const char *path, const char *out_path)
{
    struct view v;
    unsigned r, g, b;
    if (attach(&v, path) < 0 || wait_scanout(&v, 10) < 0)
        return 1;
    if (!scanout_format_rgb_offsets(v.format, &r, &g, &b)) {
        fprintf(stderr, "display_client: unknown format %u\n", v.format);
        return 1;
    }
    FILE *f = fopen(out_path, "wb");
    if (!f) {
        perror(out_path);
        return 1;
    }
    fprintf(f, "P6\n%u %u\n255\n", v.width, v.height);
    for (uint32_t y = 0; y < v.height; y++) {
        const uint8_t *row = v.map + v.data_offset + (uint64_t)y * v.stride;
        for (uint32_t x = 0; x < v.width; x++) {
            const uint8_t *px = row + (uint64_t)x * 4;
            const uint8_t rgb[3] = {px[r], px[g], px[b]};
            fwrite(rgb, 1, 3, f);
        }
    }
    if (fclose(f) != 0) {
        perror(out_path);
        return 1;
    }
    printf("dumped %ux%u\n", v.width, v.height);
    detach(&v);
    return 0;
}

/* Sends stdin's bytes as they are (after a proper handshake) and prints the
 * first reply: for tests of what the worker does with a broken peer. */
static int cmd_raw(const char *path)
{
    struct view v;
    if (attach(&v, path) < 0)
        return 1;
    uint8_t buf[65536];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n > 0 && write(v.sock, buf, (size_t)n) != n)
        return 1;
    for (;;) {
        int rc = pump(&v, 5000, NULL, NULL);
        if (rc <= 0)
            break;
    }
    /* The worker drops a peer that sent garbage: the stream must end. */
    struct pollfd pfd = {.fd = v.sock, .events = POLLIN};
    char c;
    bool closed = false;
    if (poll(&pfd, 1, 5000) == 1) {
        ssize_t n = read(v.sock, &c, 1);
        /* It closed with our garbage unread: a reset rather than an end. */
        closed = n == 0 || (n < 0 && errno == ECONNRESET);
    }
    printf("closed %s\n", closed ? "yes" : "no");
    detach(&v);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: display_client SOCKET check|type|keycodes|tablet|pointer|moves|watch|"
                    "watch-each|scanouts|churn|resize|latency|keys|raw|dump ...\n");
    return 2;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        return usage();
    const char *path = argv[1], *cmd = argv[2];
    if (!strcmp(cmd, "check"))
        return cmd_check(path, argc > 3 ? atof(argv[3]) : 60);
    if (!strcmp(cmd, "type") && argc == 4)
        return cmd_type(path, argv[3]);
    if (!strcmp(cmd, "tablet") && argc == 5)
        return cmd_tablet(path, (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]));
    if (!strcmp(cmd, "keycodes") && argc >= 4)
        return cmd_keycodes(path, argc - 3, argv + 3);
    if (!strcmp(cmd, "pointer") && argc == 6)
        return cmd_pointer(path, (uint32_t)strtoul(argv[3], NULL, 10),
                           (uint32_t)strtoul(argv[4], NULL, 10), atof(argv[5]));
    if (!strcmp(cmd, "moves") && argc >= 6 && argc % 2 == 0 && argc <= 4 + 2 * MAX_MOVES) {
        uint32_t xy[2 * MAX_MOVES];
        for (int i = 4; i < argc; i++)
            xy[i - 4] = (uint32_t)strtoul(argv[i], NULL, 10);
        return cmd_moves(path, atof(argv[3]), (unsigned)(argc - 4) / 2, xy);
    }
    if (!strcmp(cmd, "watch") && argc == 4)
        return cmd_watch(path, atof(argv[3]), false);
    if (!strcmp(cmd, "watch-each") && argc == 4)
        return cmd_watch(path, atof(argv[3]), true);
    if (!strcmp(cmd, "scanouts") && argc == 4)
        return cmd_scanouts(path, atof(argv[3]));
    if (!strcmp(cmd, "churn") && argc == 4)
        return cmd_churn(path, (unsigned)atoi(argv[3]));
    if (!strcmp(cmd, "resize") && argc == 5)
        return cmd_resize(path, (uint32_t)atoi(argv[3]), (uint32_t)atoi(argv[4]));
    if (!strcmp(cmd, "latency") && argc == 4)
        return cmd_latency(path, atof(argv[3]));
    if (!strcmp(cmd, "keys") && argc == 4)
        return cmd_keys(path, (unsigned)atoi(argv[3]));
    if (!strcmp(cmd, "dump") && argc == 4)
        return cmd_dump(path, argv[3]);
    if (!strcmp(cmd, "raw"))
        return cmd_raw(path);
    return usage();
}
