#include "worker/publisher.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_input.h"
#include "ignition.pb-c.h"
#include "listener.h"
#include "log.h"
#include "scanout.h"
#include "unixsock.h"
#include "util.h"
#include "wire.h"

#define MAX_VIEWERS 64
#define HANDSHAKE_SECONDS 5
#define HANDSHAKE_SECONDS_TEXT "5"
/* A frame a viewer began must be whole this soon: a real viewer writes each
 * message at once, and half of one would hold a viewer's place for ever. */
#define FRAME_MS 5000
/* A watching viewer may send nothing for hours, so silence alone ends no one;
 * but when every place is taken, a newcomer takes the place of the viewer
 * silent longest, if it has been silent this long. */
#define IDLE_MS 30000
/* Rectangles kept apart per viewer and scanout; beyond this they merge into
 * their bounding box, so a viewer that falls behind costs bounded memory. */
#define MAX_PENDING_RECTS 16
/* A viewer with this much unsent gets no new notices: its damage accumulates
 * (merged) until it has read what it was sent. */
#define NOTICE_BACKLOG_BYTES (64u * 1024u)
/* Beyond this a viewer is not reading at all and is dropped. */
#define VIEWER_QUEUE_LIMIT (4u << 20)
#define MESSAGES_PER_WAKEUP 256
#define CURSOR_MAX_SIDE 64
#define LATENCY_SAMPLES 4096
/* While the guest's input queue is full, a viewer's messages wait in its socket
 * (the viewer feels the pressure) instead of being dropped; a guest that takes
 * no input for this long gets drops instead of a stalled viewer. */
#define INPUT_STALL_RETRY_US 5000
#define INPUT_STALL_LIMIT_NS (2000ull * 1000 * 1000)
#define TABLET_MAX 32767u
#define HELD_CODES 0x300 /* evdev's KEY_MAX + 1: keys and buttons */

/* ScanoutInfo.format is the resource's virtio-gpu format, passed through. */
_Static_assert(SCANOUT_FORMAT_B8G8R8A8 == VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM &&
                   SCANOUT_FORMAT_B8G8R8X8 == VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM &&
                   SCANOUT_FORMAT_A8R8G8B8 == VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM &&
                   SCANOUT_FORMAT_X8R8G8B8 == VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM &&
                   SCANOUT_FORMAT_R8G8B8A8 == VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM &&
                   SCANOUT_FORMAT_X8B8G8R8 == VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM &&
                   SCANOUT_FORMAT_A8B8G8R8 == VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM &&
                   SCANOUT_FORMAT_R8G8B8X8 == VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM,
               "the wire's formats are virtio-gpu's");

struct pending_damage {
    unsigned count;
    uint64_t sequence;
    uint64_t oldest_ns; /* CLOCK_MONOTONIC of the oldest flush not yet notified */
    struct display_rect rects[MAX_PENDING_RECTS];
};

/* What a scanout shows, as last reported by the GPU. */
struct scanout_state {
    bool enabled;
    int ro_fd; /* our own duplicate; -1 when disabled */
    uint32_t width, height, stride, format, x, y;
    uint64_t data_offset, object_size, generation;
    uint64_t sequence; /* the object's header sequence, as last heard of */
};

struct cursor_state {
    bool visible;
    unsigned scanout_id;
    uint32_t width, height, hot_x, hot_y;
    int32_t x, y;
    uint8_t pixels[CURSOR_MAX_SIDE * CURSOR_MAX_SIDE * 4];
};

struct viewer {
    struct publisher *p;
    struct viewer *next;
    struct wire_conn *conn;
    struct event *readable, *writable, *handshake_timer, *input_retry, *frame_timer;
    uint64_t stalled_since_ns; /* 0: reading */
    uint64_t last_heard_ns;    /* when it connected or last sent a whole message */
    bool welcomed;
    char name[80];
    /* What this viewer has yet to be told. Only the latest of each is kept,
     * so a viewer that falls behind costs bounded memory and descriptors. */
    uint32_t info_pending; /* bit per scanout */
    struct pending_damage damage[DISPLAY_MAX_SCANOUTS];
    bool cursor_image_pending, cursor_move_pending;
    /* Keys and buttons this viewer holds down, released if it goes away. */
    uint8_t held[HELD_CODES / 8];
    /* Microseconds from a viewer's send to the key being in the guest's queue,
     * for keys that carry their send time (benchmarks). */
    uint32_t *key_latency_us;
    unsigned key_latency_count;
};

/* Written by the GPU's thread, read by the loop's, under lock. */
struct mailbox {
    pthread_mutex_t lock;
    struct scanout_state scanouts[DISPLAY_MAX_SCANOUTS];
    uint32_t info_changed;    /* bit per scanout */
    struct pending_damage damage[DISPLAY_MAX_SCANOUTS];
    uint64_t next_generation;
    struct cursor_state cursor;
    bool cursor_image_changed, cursor_moved;
};

struct publisher {
    struct event_base *base;
    struct listener *listener;
    struct event *wakeup;
    int listen_fd;
    char socket_path[256];
    char guest_name[64];
    struct viewer *viewers;
    unsigned num_viewers;
    unsigned frame_ms, idle_ms;
    struct device *gpu, *keyboard, *tablet;
    struct mailbox mail;
    /* The loop's own copy of what the guest shows, with its own descriptors:
     * viewers are served from it, never under the mailbox's lock, so the GPU's
     * thread only ever waits for a few copies. */
    struct scanout_state shown[DISPLAY_MAX_SCANOUTS];
    struct cursor_state cursor;
};

/* ---- rectangles -------------------------------------------------------------- */

static bool rect_empty(struct display_rect r)
{
    return r.width == 0 || r.height == 0;
}

static bool rect_contains(struct display_rect outer, struct display_rect inner)
{
    return inner.x >= outer.x && inner.y >= outer.y &&
           (uint64_t)inner.x + inner.width <= (uint64_t)outer.x + outer.width &&
           (uint64_t)inner.y + inner.height <= (uint64_t)outer.y + outer.height;
}

static struct display_rect rect_union(struct display_rect a, struct display_rect b)
{
    uint32_t x0 = a.x < b.x ? a.x : b.x, y0 = a.y < b.y ? a.y : b.y;
    uint64_t ax1 = (uint64_t)a.x + a.width, bx1 = (uint64_t)b.x + b.width;
    uint64_t ay1 = (uint64_t)a.y + a.height, by1 = (uint64_t)b.y + b.height;
    uint64_t x1 = ax1 > bx1 ? ax1 : bx1, y1 = ay1 > by1 ? ay1 : by1;
    return (struct display_rect){x0, y0, (uint32_t)(x1 - x0), (uint32_t)(y1 - y0)};
}

static void damage_add(struct pending_damage *d, struct display_rect r)
{
    if (rect_empty(r))
        return;
    for (unsigned i = 0; i < d->count; i++)
        if (rect_contains(d->rects[i], r))
            return;
    if (d->count < MAX_PENDING_RECTS) {
        d->rects[d->count++] = r;
        return;
    }
    struct display_rect all = r;
    for (unsigned i = 0; i < d->count; i++)
        all = rect_union(all, d->rects[i]);
    d->rects[0] = all;
    d->count = 1;
}

static void damage_merge(struct pending_damage *into, const struct pending_damage *from)
{
    if (!from->count)
        return;
    if (!into->count || from->oldest_ns < into->oldest_ns)
        into->oldest_ns = from->oldest_ns;
    for (unsigned i = 0; i < from->count; i++)
        damage_add(into, from->rects[i]);
    if (from->sequence > into->sequence)
        into->sequence = from->sequence;
}

static void damage_full_frame(struct pending_damage *d, const struct scanout_state *s)
{
    d->count = 0;
    d->sequence = s->sequence;
    d->oldest_ns = monotonic_ns();
    damage_add(d, (struct display_rect){0, 0, s->width, s->height});
}

/* ---- sending ------------------------------------------------------------------- */

static void drop_viewer(struct viewer *v, const char *why);

static bool queue_or_drop(struct viewer *v, Ignition__Envelope *env, const int *fds,
                          unsigned nfds)
{
    int rc = wire_conn_queue(v->conn, env, fds, nfds);
    if (rc == 0)
        return true;
    drop_viewer(v, rc == -ENOBUFS ? "it stopped reading" : strerror(-rc));
    return false;
}

static bool send_scanout_info(struct viewer *v, unsigned id, const struct scanout_state *s)
{
    Ignition__ScanoutInfo info = IGNITION__SCANOUT_INFO__INIT;
    info.scanout_id = id;
    info.enabled = s->enabled;
    info.generation = s->generation;
    if (s->enabled) {
        info.width = s->width;
        info.height = s->height;
        info.stride = s->stride;
        info.format = s->format;
        info.x = s->x;
        info.y = s->y;
        info.data_offset = s->data_offset;
        info.object_size = s->object_size;
    }
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_SCANOUT_INFO;
    env.scanout_info = &info;
    return queue_or_drop(v, &env, s->enabled ? &s->ro_fd : NULL, s->enabled ? 1 : 0);
}

static bool send_damage(struct viewer *v, unsigned id, const struct pending_damage *d)
{
    Ignition__Rect rects[MAX_PENDING_RECTS], *ptrs[MAX_PENDING_RECTS];
    for (unsigned i = 0; i < d->count; i++) {
        ignition__rect__init(&rects[i]);
        rects[i].x = d->rects[i].x;
        rects[i].y = d->rects[i].y;
        rects[i].width = d->rects[i].width;
        rects[i].height = d->rects[i].height;
        ptrs[i] = &rects[i];
    }
    Ignition__Damage damage = IGNITION__DAMAGE__INIT;
    damage.scanout_id = id;
    damage.sequence = d->sequence;
    damage.n_rects = d->count;
    damage.rects = ptrs;
    damage.flush_monotonic_ns = d->oldest_ns;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_DAMAGE;
    env.damage = &damage;
    return queue_or_drop(v, &env, NULL, 0);
}

static bool send_cursor_image(struct viewer *v, const struct cursor_state *c)
{
    Ignition__CursorImage img = IGNITION__CURSOR_IMAGE__INIT;
    img.scanout_id = c->scanout_id;
    if (c->visible) {
        img.width = c->width;
        img.height = c->height;
        img.hot_x = c->hot_x;
        img.hot_y = c->hot_y;
        img.pixels.len = (size_t)c->width * c->height * 4;
        img.pixels.data = (uint8_t *)c->pixels;
    }
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_CURSOR_IMAGE;
    env.cursor_image = &img;
    return queue_or_drop(v, &env, NULL, 0);
}

static bool send_cursor_move(struct viewer *v, const struct cursor_state *c)
{
    Ignition__CursorMove move = IGNITION__CURSOR_MOVE__INIT;
    move.scanout_id = c->scanout_id;
    move.x = c->x;
    move.y = c->y;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_CURSOR_MOVE;
    env.cursor_move = &move;
    return queue_or_drop(v, &env, NULL, 0);
}

static void queue_error(struct viewer *v, Ignition__Error__Code code, const char *message)
{
    wire_queue_error(v->conn, code, message);
}

/* Writes what the socket takes; waits for writability if some remains. */
static bool flush_viewer(struct viewer *v)
{
    switch (wire_conn_flush(v->conn)) {
    case WIRE_OK:
        return true;
    case WIRE_AGAIN:
        event_add(v->writable, NULL);
        return true;
    default:
        drop_viewer(v, wire_conn_error(v->conn));
        return false;
    }
}

/* Mailbox-free: what the viewer has pending, as notices. */
static bool send_pending(struct viewer *v)
{
    struct publisher *p = v->p;
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++) {
        if ((v->info_pending & (1u << i)) && !send_scanout_info(v, i, &p->shown[i]))
            return false;
        v->info_pending &= ~(1u << i);
        if (v->damage[i].count && !send_damage(v, i, &v->damage[i]))
            return false;
        v->damage[i].count = 0;
    }
    if (v->cursor_image_pending && !send_cursor_image(v, &p->cursor))
        return false;
    v->cursor_image_pending = false;
    if (v->cursor_move_pending && !send_cursor_move(v, &p->cursor))
        return false;
    v->cursor_move_pending = false;
    return true;
}

/* Writes what the socket takes, then turns what is pending into notices,
 * unless the viewer is still behind: then they wait, merged, until a later
 * pump (its socket turning writable) finds it caught up. Returns false if the
 * viewer was dropped. */
static bool pump_viewer(struct viewer *v)
{
    if (!flush_viewer(v))
        return false;
    if (!v->welcomed || wire_conn_queued_bytes(v->conn) >= NOTICE_BACKLOG_BYTES)
        return true;
    return send_pending(v) && flush_viewer(v);
}

/* ---- from the GPU (any thread) ------------------------------------------------- */

static void on_scanout_changed(void *opaque, unsigned id, const struct display_scanout *s)
{
    struct publisher *p = opaque;
    if (id >= DISPLAY_MAX_SCANOUTS)
        return;
    struct mailbox *m = &p->mail;
    pthread_mutex_lock(&m->lock);
    struct scanout_state *st = &m->scanouts[id];
    if (st->ro_fd >= 0)
        close(st->ro_fd);
    *st = (struct scanout_state){.ro_fd = -1, .generation = ++m->next_generation};
    if (s && s->enabled && s->map)
        st->sequence = __atomic_load_n(&((const struct scanout_shm_header *)(const void *)s->map)
                                            ->sequence, __ATOMIC_ACQUIRE);
    if (s && s->enabled) {
        st->ro_fd = fcntl(s->ro_fd, F_DUPFD_CLOEXEC, 0);
        if (st->ro_fd < 0)
            log_warn("display: cannot keep scanout %u for viewers: %s", id, strerror(errno));
    }
    if (st->ro_fd >= 0) {
        st->enabled = true;
        st->width = s->rect.width;
        st->height = s->rect.height;
        st->x = s->rect.x;
        st->y = s->rect.y;
        st->stride = s->stride;
        st->format = s->format;
        st->object_size = s->object_size;
        st->data_offset = (uint64_t)SCANOUT_SHM_HEADER_SIZE + (uint64_t)s->rect.y * s->stride +
                          (uint64_t)s->rect.x * 4;
    }
    m->info_changed |= 1u << id;
    m->damage[id].count = 0; /* viewers get the whole new frame */
    m->damage[id].sequence = 0; /* a new object counts from its own */
    pthread_mutex_unlock(&m->lock);
    event_active(p->wakeup, EV_READ, 0);
}

static void on_flushed(void *opaque, unsigned id, struct display_rect rect, uint64_t sequence)
{
    struct publisher *p = opaque;
    if (id >= DISPLAY_MAX_SCANOUTS)
        return;
    uint64_t now = monotonic_ns();
    pthread_mutex_lock(&p->mail.lock);
    if (!p->mail.damage[id].count)
        p->mail.damage[id].oldest_ns = now;
    damage_add(&p->mail.damage[id], rect);
    p->mail.damage[id].sequence = sequence;
    pthread_mutex_unlock(&p->mail.lock);
    event_active(p->wakeup, EV_READ, 0);
}

static void on_cursor_image(void *opaque, unsigned id, const struct display_cursor *c)
{
    struct publisher *p = opaque;
    struct cursor_state *cur = &p->mail.cursor;
    pthread_mutex_lock(&p->mail.lock);
    cur->scanout_id = id;
    cur->visible = c && c->width && c->height && c->width <= CURSOR_MAX_SIDE &&
                   c->height <= CURSOR_MAX_SIDE;
    if (cur->visible) {
        cur->width = c->width;
        cur->height = c->height;
        cur->hot_x = c->hot_x;
        cur->hot_y = c->hot_y;
        memcpy(cur->pixels, c->pixels, (size_t)c->width * c->height * 4);
    }
    p->mail.cursor_image_changed = true;
    pthread_mutex_unlock(&p->mail.lock);
    event_active(p->wakeup, EV_READ, 0);
}

static void on_cursor_move(void *opaque, unsigned id, int32_t x, int32_t y)
{
    struct publisher *p = opaque;
    pthread_mutex_lock(&p->mail.lock);
    p->mail.cursor.scanout_id = id;
    p->mail.cursor.x = x;
    p->mail.cursor.y = y;
    p->mail.cursor_moved = true;
    pthread_mutex_unlock(&p->mail.lock);
    event_active(p->wakeup, EV_READ, 0);
}

const struct display_ops publisher_display_ops = {
    .scanout_changed = on_scanout_changed,
    .flushed = on_flushed,
    .cursor_image = on_cursor_image,
    .cursor_move = on_cursor_move,
};

/* ---- on the loop: mail to viewers ------------------------------------------------ */

/* Everything a viewer needs at once on attach: each scanout with a full
 * frame, and the cursor. */
static void mark_initial_state(struct viewer *v)
{
    const struct publisher *p = v->p;
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++) {
        if (!p->shown[i].enabled)
            continue;
        v->info_pending |= 1u << i;
        damage_full_frame(&v->damage[i], &p->shown[i]);
    }
    v->cursor_image_pending = v->cursor_move_pending = p->cursor.visible;
}

/* What changed since the last wakeup, taken out of the mailbox. */
struct changes {
    uint32_t info_changed;
    bool cursor_image_changed, cursor_moved;
    struct pending_damage damage[DISPLAY_MAX_SCANOUTS];
};

static void take_scanout(struct publisher *p, unsigned i, const struct scanout_state *latest)
{
    struct scanout_state *shown = &p->shown[i];
    if (shown->ro_fd >= 0)
        close(shown->ro_fd);
    *shown = *latest;
    shown->ro_fd = -1;
    if (latest->enabled) {
        shown->ro_fd = fcntl(latest->ro_fd, F_DUPFD_CLOEXEC, 0);
        if (shown->ro_fd < 0) {
            log_warn("display: cannot hand scanout %u to viewers: %s", i, strerror(errno));
            shown->enabled = false;
        }
    }
}

/* Quick, under the lock: copies, and a dup per changed scanout. */
static void take_mail(struct publisher *p, struct changes *c)
{
    struct mailbox *m = &p->mail;
    pthread_mutex_lock(&m->lock);
    c->info_changed = m->info_changed;
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++) {
        if (m->info_changed & (1u << i))
            take_scanout(p, i, &m->scanouts[i]);
        c->damage[i] = m->damage[i];
        if (m->damage[i].count && m->damage[i].sequence > p->shown[i].sequence)
            p->shown[i].sequence = m->damage[i].sequence;
        m->damage[i].count = 0;
    }
    c->cursor_image_changed = m->cursor_image_changed;
    c->cursor_moved = m->cursor_moved;
    if (c->cursor_image_changed || c->cursor_moved)
        p->cursor = m->cursor;
    m->info_changed = 0;
    m->cursor_image_changed = m->cursor_moved = false;
    pthread_mutex_unlock(&m->lock);
}

static void note_changes(struct viewer *v, const struct changes *c)
{
    const struct publisher *p = v->p;
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++) {
        if (c->info_changed & (1u << i)) {
            v->info_pending |= 1u << i;
            v->damage[i].count = 0;
            if (p->shown[i].enabled)
                damage_full_frame(&v->damage[i], &p->shown[i]);
        }
        if (p->shown[i].enabled)
            damage_merge(&v->damage[i], &c->damage[i]);
    }
    v->cursor_image_pending |= c->cursor_image_changed;
    v->cursor_move_pending |= c->cursor_moved || c->cursor_image_changed;
}

static void on_wakeup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct publisher *p = arg;
    static _Thread_local struct changes c; /* large; the loop has one thread */
    take_mail(p, &c);
    struct viewer *v, *next;
    for (v = p->viewers; v; v = v->next)
        if (v->welcomed)
            note_changes(v, &c);
    for (v = p->viewers; v; v = next) {
        next = v->next;
        pump_viewer(v);
    }
}

/* ---- viewers' messages --------------------------------------------------------------- */

static void refuse(struct viewer *v, Ignition__Error__Code code, const char *why)
{
    log_warn("viewer %s: %s", v->name, why);
    queue_error(v, code, why);
    wire_conn_flush(v->conn); /* best effort: the viewer learns why */
    drop_viewer(v, NULL);
}

static bool handle_hello(struct viewer *v, const Ignition__Envelope *env)
{
    char why[160];
    if (!wire_hello_check(env, why, sizeof(why))) {
        refuse(v, wire_hello_refusal_code(env), why);
        return false;
    }
    snprintf(v->name, sizeof(v->name), "%s (fd %d)", env->hello->client_name,
             wire_conn_fd(v->conn));
    Ignition__Welcome welcome = IGNITION__WELCOME__INIT;
    welcome.protocol_version = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    welcome.server_version = (char *)IGNITION_VERSION;
    welcome.guest_name = v->p->guest_name;
    Ignition__Envelope reply = IGNITION__ENVELOPE__INIT;
    reply.body_case = IGNITION__ENVELOPE__BODY_WELCOME;
    reply.welcome = &welcome;
    if (!queue_or_drop(v, &reply, NULL, 0))
        return false;
    v->welcomed = true;
    evtimer_del(v->handshake_timer);
    log_info("viewer %s attached", v->name);
    mark_initial_state(v);
    return true;
}

/* Scanout pixels to the tablet's 0..32767: the middle of the pixel. Guests map
 * back the way libinput does, value * extent / (32767 + 1) rounded down, which
 * lands on the same pixel for any extent below 16384; the pixel's left edge
 * (value * 32767 / (extent - 1)) would land one pixel short of some, e.g. x 17
 * of 1280 on x 16. */
static uint32_t tablet_axis(uint32_t pixel, uint32_t extent)
{
    if (extent == 0)
        return 0;
    if (pixel >= extent)
        pixel = extent - 1;
    return (uint32_t)(((2 * (uint64_t)pixel + 1) * (TABLET_MAX + 1)) / (2 * (uint64_t)extent));
}

static bool scanout_extent(struct publisher *p, unsigned id, uint32_t *w, uint32_t *h)
{
    if (id >= DISPLAY_MAX_SCANOUTS)
        return false;
    *w = p->shown[id].width;
    *h = p->shown[id].height;
    return p->shown[id].enabled;
}

static void note_held(struct viewer *v, uint32_t code, bool pressed)
{
    if (code >= HELD_CODES)
        return;
    if (pressed)
        v->held[code / 8] |= (uint8_t)(1u << (code % 8));
    else
        v->held[code / 8] &= (uint8_t)~(1u << (code % 8));
}

/* A viewer that goes away with a key down (closed mid-chord, or crashed) must
 * not leave the guest auto-repeating it. */
static void release_held(struct viewer *v)
{
    struct publisher *p = v->p;
    for (uint32_t code = 0; code < HELD_CODES; code++) {
        if (!(v->held[code / 8] & (1u << (code % 8))))
            continue;
        if (code == EVDEV_BTN_LEFT || code == EVDEV_BTN_RIGHT || code == EVDEV_BTN_MIDDLE) {
            if (p->tablet)
                virtio_input_tablet_button(p->tablet, code, false);
        } else if (p->keyboard) {
            virtio_input_key(p->keyboard, code, false);
        }
    }
}

static void note_key_latency(struct viewer *v, uint64_t sent_ns)
{
    uint64_t now = monotonic_ns();
    if (!sent_ns || sent_ns > now || v->key_latency_count == LATENCY_SAMPLES)
        return;
    if (!v->key_latency_us && !(v->key_latency_us = calloc(LATENCY_SAMPLES, sizeof(uint32_t))))
        return;
    uint64_t us = (now - sent_ns) / 1000;
    v->key_latency_us[v->key_latency_count++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void log_key_latency(struct viewer *v)
{
    unsigned n = v->key_latency_count;
    if (!n)
        return;
    qsort(v->key_latency_us, n, sizeof(uint32_t), compare_u32);
    log_info("viewer %s: %u keys reached the guest's queue in p50 %u us, p99 %u us, max %u us",
             v->name, n, v->key_latency_us[n / 2], v->key_latency_us[(n * 99) / 100],
             v->key_latency_us[n - 1]);
}

/* Returns NULL if the input was taken, else why it is refused. An input the
 * guest cannot take now (its queue full, no machine during a reset) is dropped
 * without blaming the viewer. */
static const char *handle_input(struct viewer *v, const Ignition__Envelope *env)
{
    struct publisher *p = v->p;
    static _Thread_local char why[128];
    switch (env->body_case) {
    case IGNITION__ENVELOPE__BODY_KEY_EVENT:
        if (!virtio_input_keyboard_has_key(env->key_event->evdev_code)) {
            snprintf(why, sizeof(why), "key code %u is not a key of the guest's keyboard",
                     env->key_event->evdev_code);
            return why;
        }
        if (p->keyboard &&
            virtio_input_key(p->keyboard, env->key_event->evdev_code,
                             env->key_event->pressed) == 0) {
            note_held(v, env->key_event->evdev_code, env->key_event->pressed);
            note_key_latency(v, env->key_event->sent_monotonic_ns);
        }
        return NULL;
    case IGNITION__ENVELOPE__BODY_POINTER_EVENT: {
        uint32_t w, h;
        const Ignition__PointerEvent *e = env->pointer_event;
        if (e->scanout_id >= DISPLAY_MAX_SCANOUTS)
            return "pointer event for a scanout that does not exist";
        if (scanout_extent(p, e->scanout_id, &w, &h) && p->tablet)
            virtio_input_tablet_move(p->tablet, tablet_axis(e->x, w), tablet_axis(e->y, h));
        return NULL;
    }
    case IGNITION__ENVELOPE__BODY_BUTTON_EVENT: {
        uint32_t code = env->button_event->evdev_code;
        if (code != EVDEV_BTN_LEFT && code != EVDEV_BTN_RIGHT &&
            code != EVDEV_BTN_MIDDLE)
            return "button events take BTN_LEFT, BTN_RIGHT or BTN_MIDDLE";
        if (p->tablet &&
            virtio_input_tablet_button(p->tablet, code, env->button_event->pressed) == 0)
            note_held(v, code, env->button_event->pressed);
        return NULL;
    }
    case IGNITION__ENVELOPE__BODY_WHEEL_EVENT: {
        int32_t dy = env->wheel_event->dy, dx = env->wheel_event->dx;
        if (dy < -1000 || dy > 1000 || dx < -1000 || dx > 1000)
            return "wheel event beyond 1000 clicks";
        if (p->tablet)
            virtio_input_tablet_wheel(p->tablet, dy, dx);
        return NULL;
    }
    case IGNITION__ENVELOPE__BODY_WINDOW_SIZE: {
        const Ignition__WindowSize *ws = env->window_size;
        if (ws->scanout_id >= DISPLAY_MAX_SCANOUTS || ws->width == 0 || ws->height == 0 ||
            ws->width > 16384 || ws->height > 16384)
            return "window size must be 1..16384 pixels each way on an existing scanout";
        if (p->gpu && virtio_gpu_request_mode(p->gpu, ws->scanout_id, ws->width, ws->height) < 0)
            return "window size for a scanout the guest's GPU does not have";
        return NULL;
    }
    default:
        snprintf(why, sizeof(why), "message %d is not one a viewer sends", (int)env->body_case);
        return why;
    }
}

/* Returns false if the viewer was dropped. */
static bool handle_message(struct viewer *v, Ignition__Envelope *env, unsigned nfds)
{
    if (!v->welcomed)
        return nfds ? (refuse(v, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE,
                              "file descriptors sent with Hello"), false)
                    : handle_hello(v, env);
    if (nfds) {
        refuse(v, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE,
               "file descriptors sent with a message that carries none");
        return false;
    }
    const char *why = handle_input(v, env);
    if (why) {
        refuse(v, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, why);
        return false;
    }
    return true;
}

static bool input_has_room(const struct publisher *p)
{
    return (!p->keyboard || virtio_input_has_room(p->keyboard)) &&
           (!p->tablet || virtio_input_has_room(p->tablet));
}

/* Returns true if reading should wait for the guest to take input. */
static bool stall_for_input(struct viewer *v)
{
    if (!v->welcomed || input_has_room(v->p)) {
        v->stalled_since_ns = 0;
        return false;
    }
    uint64_t now = monotonic_ns();
    if (!v->stalled_since_ns)
        v->stalled_since_ns = now;
    else if (now - v->stalled_since_ns > INPUT_STALL_LIMIT_NS)
        return false;
    event_del(v->readable);
    struct timeval retry = {.tv_usec = INPUT_STALL_RETRY_US};
    evtimer_add(v->input_retry, &retry);
    return true;
}

/* The clock runs from a frame's first byte, not from its latest: a viewer
 * sending a byte now and then does not stretch it. */
static void watch_partial_frame(struct viewer *v)
{
    if (!wire_conn_inside_frame(v->conn)) {
        evtimer_del(v->frame_timer);
        return;
    }
    if (evtimer_pending(v->frame_timer, NULL))
        return;
    struct timeval limit = {.tv_sec = v->p->frame_ms / 1000,
                            .tv_usec = (v->p->frame_ms % 1000) * 1000};
    evtimer_add(v->frame_timer, &limit);
}

static void on_frame_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct viewer *v = arg;
    char why[120];
    snprintf(why, sizeof(why), "part of a message, and not the rest within %u ms",
             v->p->frame_ms);
    refuse(v, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, why);
}

static void on_viewer_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct viewer *v = arg;
    for (int n = 0; n < MESSAGES_PER_WAKEUP; n++) {
        if (stall_for_input(v))
            break;
        enum wire_result r = wire_conn_read(v->conn);
        if (r == WIRE_AGAIN)
            break;
        if (r == WIRE_CLOSED) {
            drop_viewer(v, NULL);
            return;
        }
        if (r == WIRE_ERROR) {
            char why[200];
            snprintf(why, sizeof(why), "bad message: %s", wire_conn_error(v->conn));
            refuse(v, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, why);
            return;
        }
        Ignition__Envelope *env;
        int fds[WIRE_MAX_FDS];
        unsigned nfds = 0;
        wire_conn_take(v->conn, &env, fds, &nfds);
        for (unsigned i = 0; i < nfds; i++)
            close(fds[i]);
        v->last_heard_ns = monotonic_ns();
        bool alive = handle_message(v, env, nfds);
        ignition__envelope__free_unpacked(env, NULL);
        if (!alive)
            return;
    }
    watch_partial_frame(v);
    pump_viewer(v);
}

static void on_input_retry(evutil_socket_t fd, short what, void *arg)
{
    struct viewer *v = arg;
    event_add(v->readable, NULL);
    on_viewer_readable(fd, what, v);
}

static void on_viewer_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    pump_viewer(arg);
}

static void on_handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    refuse(arg, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE,
           "no Hello within " HANDSHAKE_SECONDS_TEXT " seconds of connecting");
}

static void drop_viewer(struct viewer *v, const char *why)
{
    struct publisher *p = v->p;
    for (struct viewer **pp = &p->viewers; *pp; pp = &(*pp)->next) {
        if (*pp == v) {
            *pp = v->next;
            break;
        }
    }
    p->num_viewers--;
    release_held(v);
    if (v->welcomed) {
        log_key_latency(v);
        log_info("viewer %s detached%s%s", v->name, why ? ": " : "", why ? why : "");
    }
    free(v->key_latency_us);
    event_free(v->readable);
    event_free(v->writable);
    event_free(v->handshake_timer);
    event_free(v->input_retry);
    event_free(v->frame_timer);
    wire_conn_free(v->conn);
    free(v);
}

/* ---- accepting -------------------------------------------------------------------- */

static bool peer_is_us(int fd)
{
    uid_t uid;
    return unixsock_peer_uid(fd, &uid) == 0 && uid == getuid();
}

static void add_viewer(struct publisher *p, int fd)
{
    struct viewer *v = calloc(1, sizeof(*v));
    if (!v) {
        close(fd);
        return;
    }
    struct wire_conn *conn = wire_conn_new(fd); /* closes fd if it fails */
    if (!conn) {
        free(v);
        return;
    }
    v->p = p;
    v->conn = conn;
    wire_conn_set_limit(conn, VIEWER_QUEUE_LIMIT);
    snprintf(v->name, sizeof(v->name), "fd %d", fd);
    v->readable = event_new(p->base, fd, EV_READ | EV_PERSIST, on_viewer_readable, v);
    v->writable = event_new(p->base, fd, EV_WRITE, on_viewer_writable, v);
    v->handshake_timer = evtimer_new(p->base, on_handshake_timeout, v);
    v->input_retry = evtimer_new(p->base, on_input_retry, v);
    v->frame_timer = evtimer_new(p->base, on_frame_timeout, v);
    v->last_heard_ns = monotonic_ns();
    v->next = p->viewers;
    p->viewers = v;
    p->num_viewers++;
    struct timeval limit = {.tv_sec = HANDSHAKE_SECONDS};
    event_add(v->readable, NULL);
    evtimer_add(v->handshake_timer, &limit);
}

/* Every place taken: the viewer silent longest gives its place up, if it has
 * been silent for p->idle_ms. */
static void make_room(struct publisher *p)
{
    struct viewer *quietest = NULL;
    for (struct viewer *v = p->viewers; v; v = v->next)
        if (!quietest || v->last_heard_ns < quietest->last_heard_ns)
            quietest = v;
    uint64_t silent_ms = quietest ? (monotonic_ns() - quietest->last_heard_ns) / 1000000u : 0;
    if (!quietest || silent_ms < p->idle_ms)
        return;
    char why[160];
    snprintf(why, sizeof(why),
             "every place was taken and this viewer had sent nothing for %llu s: "
             "a new viewer took its place",
             (unsigned long long)(silent_ms / 1000));
    refuse(quietest, IGNITION__ERROR__CODE__CODE_BAD_STATE, why);
}

static void on_connection(int fd, void *arg)
{
    struct publisher *p = arg;
    if (!peer_is_us(fd)) {
        log_warn("display socket: refused a connection from another user");
        wire_send_error(fd, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE,
                        "this guest belongs to another user");
        close(fd);
        return;
    }
    if (p->num_viewers >= MAX_VIEWERS)
        make_room(p);
    if (p->num_viewers >= MAX_VIEWERS) {
        log_warn("display socket: refused a viewer: %d attached already", MAX_VIEWERS);
        wire_send_error(fd, IGNITION__ERROR__CODE__CODE_INTERNAL,
                        "too many viewers attached to this guest; close one");
        close(fd);
        return;
    }
    add_viewer(p, fd);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

struct publisher *publisher_create(struct event_base *base, const char *socket_path,
                                   const char *guest_name, char *err, size_t err_len)
{
    if (strlen(socket_path) >= sizeof(((struct publisher *)0)->socket_path)) {
        snprintf(err, err_len, "socket path %s is too long", socket_path);
        return NULL;
    }
    struct publisher *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    p->base = base;
    p->frame_ms = FRAME_MS;
    p->idle_ms = IDLE_MS;
    snprintf(p->socket_path, sizeof(p->socket_path), "%s", socket_path);
    snprintf(p->guest_name, sizeof(p->guest_name), "%s", guest_name ? guest_name : "");
    pthread_mutex_init(&p->mail.lock, NULL);
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++)
        p->mail.scanouts[i].ro_fd = p->shown[i].ro_fd = -1;
    p->listen_fd = unixsock_listen(socket_path, err, err_len);
    if (p->listen_fd < 0) {
        pthread_mutex_destroy(&p->mail.lock);
        free(p);
        return NULL;
    }
    p->listener = listener_new(base, p->listen_fd, "display socket", on_connection, p);
    p->wakeup = event_new(base, -1, 0, on_wakeup, p);
    if (!p->listener || !p->wakeup) {
        snprintf(err, err_len, "cannot set up the display socket's events");
        publisher_destroy(p);
        return NULL;
    }
    return p;
}

void publisher_destroy(struct publisher *p)
{
    if (!p)
        return;
    while (p->viewers)
        drop_viewer(p->viewers, "the guest worker is stopping");
    listener_free(p->listener);
    if (p->wakeup)
        event_free(p->wakeup);
    close(p->listen_fd);
    unlink(p->socket_path);
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++) {
        if (p->mail.scanouts[i].ro_fd >= 0)
            close(p->mail.scanouts[i].ro_fd);
        if (p->shown[i].ro_fd >= 0)
            close(p->shown[i].ro_fd);
    }
    pthread_mutex_destroy(&p->mail.lock);
    free(p);
}

void publisher_attach_machine(struct publisher *p, struct device *gpu, struct device *keyboard,
                              struct device *tablet)
{
    p->gpu = gpu;
    p->keyboard = keyboard;
    p->tablet = tablet;
}

/* The machine's resources are about to go: viewers see every scanout switch off
 * (and keep their last frame) until the next boot shows one again. */
void publisher_detach_machine(struct publisher *p)
{
    p->gpu = p->keyboard = p->tablet = NULL;
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++) {
        pthread_mutex_lock(&p->mail.lock);
        bool on = p->mail.scanouts[i].enabled;
        pthread_mutex_unlock(&p->mail.lock);
        if (on)
            on_scanout_changed(p, i, NULL);
    }
    pthread_mutex_lock(&p->mail.lock);
    if (p->mail.cursor.visible) {
        p->mail.cursor.visible = false;
        p->mail.cursor_image_changed = true;
    }
    pthread_mutex_unlock(&p->mail.lock);
    on_wakeup(-1, 0, p);
}

void publisher_publish_now(struct publisher *p)
{
    on_wakeup(-1, 0, p);
}

void publisher_set_timeouts(struct publisher *p, unsigned frame_ms, unsigned idle_ms)
{
    p->frame_ms = frame_ms;
    p->idle_ms = idle_ms;
}

unsigned publisher_viewer_count(const struct publisher *p)
{
    return p->num_viewers;
}
