/* virtio-gpu, 2D: a control queue and a cursor queue, both served on the
 * notifying vCPU. Every request is checked before use: its length, resource
 * and scanout ids, formats, sizes, rectangles (overflow included), backing
 * entries against guest RAM, and host memory against a budget. A bad request
 * gets the spec's error response; only a chain with no room for a response
 * marks the device NEEDS_RESET.
 *
 * A resource's pixels are the device's own memory: TRANSFER_TO_HOST_2D gathers
 * guest backing into them. What viewers map is one shared memory object per
 * enabled scanout (proto/scanout.h), its "screen": RESOURCE_FLUSH copies the
 * rows of the flushed rectangle that differ from the screen into it and tells
 * the publisher which rectangles changed. A compositor that flips between two
 * resources (SET_SCANOUT on every frame) thus keeps one object and one
 * descriptor per scanout; only a new size or format makes a new screen. */
#include "virtio_gpu.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "byteorder.h"
#include "edid.h"
#include "device_state.h"
#include "log.h"
#include "memfile.h"
#include "scanout.h"
#include "util.h"
#include "virtio.h"
#include "virtio_gpu.pb-c.h"
#include "virtio_mmio.h"

#define GPU_QUEUE_SIZE 256
#define BYTES_PER_PIXEL 4u
/* Linux sends one backing entry per run of contiguous pages: allow that many
 * for the resource's pixels, and at least this many whatever its size. */
#define MIN_BACKING_ENTRIES_CAP 16384u
#define GUEST_PAGE 4096u
#define CURSOR_MAX 64u /* Linux's cursor resources are 64x64 */
#define MAX_REQUEST_SIZE VIRTIO_GPU_UPDATE_CURSOR_SIZE /* the largest fixed part */
/* Rejected commands are logged, at most LOG_BURST of them every LOG_WINDOW_NS. */
#define LOG_BURST 10u
#define LOG_WINDOW_NS (10ull * 1000000000ull)

/* ---- state ------------------------------------------------------------------------------ */

/* A guest memory range of the backing; start is its offset within the backing. */
struct backing_entry {
    uint64_t gpa, start;
    uint32_t len;
};

struct resource {
    uint32_t id, format, width, height, stride;
    uint8_t *pixels; /* private to the device, stride * height bytes */
    uint64_t bytes;  /* of the mapping: whole pages */
    struct backing_entry *backing; /* NULL: none attached */
    uint32_t num_backing;
    uint64_t backing_len;
    /* Loaded from a snapshot and not read in yet: its pixels are still the
     * snapshot's guest RAM (g->saved_ram), read at the resource's first use. */
    bool unread;
    /* Rows [changed_top, changed_bottom) are the only ones in which a screen
     * showing the resource may differ from it: a transfer widens the band by
     * the rows it changed, a flush of the whole resource syncs and empties it.
     * A new resource starts with all rows in it. */
    uint32_t changed_top, changed_bottom;
};

struct cursor {
    uint32_t resource_id, hot_x, hot_y, x, y;
    bool shown; /* the publisher has an image */
};

/* What viewers map of one scanout: a header, then width x height pixels of
 * the shown resource's format, rows width * 4 bytes apart. */
struct screen {
    uint8_t *map; /* NULL: none (the scanout is off) */
    int ro_fd;
    uint64_t object_size;
    uint32_t width, height, format;
};

struct scanout {
    bool enabled; /* the mode the guest is told about */
    uint32_t width, height;
    struct resource *resource; /* what it shows; NULL: disabled */
    struct display_rect rect;
    struct screen screen;
    struct cursor cursor;
};

struct virtio_gpu {
    const struct guest_ram *ram;
    const struct guest_ram *saved_ram; /* virtio_gpu_options.saved_ram, or NULL */
    struct virtio_mmio *transport;
    const struct display_ops *display;
    void *display_opaque;
    unsigned num_scanouts;
    uint64_t page_size, max_host_bytes, host_bytes;
    uint32_t events_read;
    struct scanout scanouts[DISPLAY_MAX_SCANOUTS];
    struct resource *resources[VIRTIO_GPU_MAX_RESOURCES]; /* creation order */
    unsigned num_resources;
    uint64_t log_window_start;
    unsigned logged_in_window, unlogged;
    /* What the pixel path costs, reported at the end (tools/bench display):
     * bytes gathered from guest RAM (all read, only those that differ
     * written), bytes written into screens. */
    uint64_t bytes_copied, screen_bytes_copied, pixels_flushed, flushes;
    struct virtq_chain chain; /* large; used under the transport lock */
    uint8_t cursor_pixels[CURSOR_MAX * CURSOR_MAX * BYTES_PER_PIXEL];
};

/* ---- formats ---------------------------------------------------------------------------- */

/* Where each channel sits in a pixel's four bytes; the formats are named by
 * byte order in memory. */
struct format_layout {
    uint32_t format;
    uint8_t b, g, r, a;
    bool has_alpha;
};

static const struct format_layout FORMATS[] = {
    {VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 0, 1, 2, 3, true},
    {VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 0, 1, 2, 3, false},
    {VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, 3, 2, 1, 0, true},
    {VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, 3, 2, 1, 0, false},
    {VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 2, 1, 0, 3, true},
    {VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, 1, 2, 3, 0, false},
    {VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, 1, 2, 3, 0, true},
    {VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, 2, 1, 0, 3, false},
};

static const struct format_layout *format_layout(uint32_t format)
{
    for (size_t i = 0; i < ARRAY_SIZE(FORMATS); i++)
        if (FORMATS[i].format == format)
            return &FORMATS[i];
    return NULL;
}

/* ---- rejections, logged a few at a time ------------------------------------------------- */

static bool log_allowed(struct virtio_gpu *g)
{
    uint64_t now = monotonic_ns();
    if (now - g->log_window_start >= LOG_WINDOW_NS) {
        if (g->unlogged)
            log_warn("virtio-gpu: %u more rejected commands not logged", g->unlogged);
        g->log_window_start = now;
        g->logged_in_window = g->unlogged = 0;
    }
    if (g->logged_in_window >= LOG_BURST) {
        g->unlogged++;
        return false;
    }
    g->logged_in_window++;
    return true;
}

static void log_rejection(struct virtio_gpu *g, const char *what, const char *fmt, va_list ap)
{
    if (!log_allowed(g))
        return;
    char why[160];
    vsnprintf(why, sizeof(why), fmt, ap);
    log_warn("virtio-gpu: %s rejected: %s", what, why);
}

/* ---- reading and writing chains --------------------------------------------------------- */

/* A cursor over the readable part of a chain, for lists of any length. */
struct chain_reader {
    const struct virtq_chain *chain;
    unsigned segment;
    uint32_t offset;
};

static bool read_bytes(struct chain_reader *rd, void *out, size_t len)
{
    uint8_t *dst = out;
    const struct virtq_chain *c = rd->chain;
    while (len) {
        if (rd->segment >= c->num_segments || c->segments[rd->segment].device_writable)
            return false;
        const struct virtq_segment *s = &c->segments[rd->segment];
        size_t n = s->len - rd->offset < len ? s->len - rd->offset : len;
        memcpy(dst, s->host + rd->offset, n);
        dst += n, len -= n;
        rd->offset += (uint32_t)n;
        if (rd->offset == s->len)
            rd->segment++, rd->offset = 0;
    }
    return true;
}

static bool skip_bytes(struct chain_reader *rd, uint64_t len)
{
    const struct virtq_chain *c = rd->chain;
    while (len) {
        if (rd->segment >= c->num_segments || c->segments[rd->segment].device_writable)
            return false;
        uint32_t left = c->segments[rd->segment].len - rd->offset;
        if (len < left) {
            rd->offset += (uint32_t)len;
            return true;
        }
        len -= left;
        rd->segment++, rd->offset = 0;
    }
    return true;
}

/* Scatters len bytes over the chain's writable segments; returns how many fit. */
static uint32_t write_response(const struct virtq_chain *c, const uint8_t *data, uint32_t len)
{
    uint32_t done = 0;
    for (unsigned i = 0; i < c->num_segments && done < len; i++) {
        const struct virtq_segment *s = &c->segments[i];
        if (!s->device_writable)
            continue;
        uint32_t n = s->len < len - done ? s->len : len - done;
        memcpy(s->host, data + done, n);
        done += n;
    }
    return done;
}

/* ---- geometry --------------------------------------------------------------------------- */

static struct display_rect read_rect(const uint8_t *p)
{
    return (struct display_rect){le32(p), le32(p + 4), le32(p + 8), le32(p + 12)};
}

static bool rect_inside(struct display_rect r, uint32_t width, uint32_t height)
{
    return r.x <= width && r.width <= width - r.x && r.y <= height && r.height <= height - r.y;
}

/* The overlap of a and b, false when it is empty. */
static bool rect_intersect(struct display_rect a, struct display_rect b, struct display_rect *out)
{
    uint64_t x0 = a.x > b.x ? a.x : b.x, y0 = a.y > b.y ? a.y : b.y;
    uint64_t ax1 = (uint64_t)a.x + a.width, bx1 = (uint64_t)b.x + b.width;
    uint64_t ay1 = (uint64_t)a.y + a.height, by1 = (uint64_t)b.y + b.height;
    uint64_t x1 = ax1 < bx1 ? ax1 : bx1, y1 = ay1 < by1 ? ay1 : by1;
    if (x1 <= x0 || y1 <= y0)
        return false;
    *out = (struct display_rect){(uint32_t)x0, (uint32_t)y0, (uint32_t)(x1 - x0),
                                 (uint32_t)(y1 - y0)};
    return true;
}

static bool dimension_ok(uint32_t v)
{
    return v >= 1 && v <= VIRTIO_GPU_MAX_DIMENSION;
}

/* ---- telling the publisher -------------------------------------------------------------- */

static void report_scanout(struct virtio_gpu *g, unsigned id)
{
    if (!g->display || !g->display->scanout_changed)
        return;
    const struct scanout *s = &g->scanouts[id];
    struct display_scanout d = {.enabled = false, .ro_fd = -1};
    const struct screen *sc = &s->screen;
    if (s->resource && sc->map)
        d = (struct display_scanout){
            .enabled = true, .resource_id = s->resource->id, .ro_fd = sc->ro_fd,
            .map = sc->map, .object_size = sc->object_size, .format = sc->format,
            .stride = sc->width * BYTES_PER_PIXEL, .resource_width = sc->width,
            .resource_height = sc->height,
            .rect = (struct display_rect){0, 0, sc->width, sc->height},
        };
    g->display->scanout_changed(g->display_opaque, id, &d);
}

static void report_flush(struct virtio_gpu *g, unsigned id, struct display_rect rect,
                         uint64_t sequence)
{
    if (g->display && g->display->flushed)
        g->display->flushed(g->display_opaque, id, rect, sequence);
}

static void report_cursor_image(struct virtio_gpu *g, unsigned id, const struct display_cursor *c)
{
    if (g->display && g->display->cursor_image)
        g->display->cursor_image(g->display_opaque, id, c);
}

/* The guest's positions are le32 fields that Linux fills from int32 crtc
 * coordinates: the bits are a signed number. */
static void report_cursor_move(struct virtio_gpu *g, unsigned id, uint32_t x, uint32_t y)
{
    if (g->display && g->display->cursor_move)
        g->display->cursor_move(g->display_opaque, id, (int32_t)x, (int32_t)y);
}

/* ---- resources -------------------------------------------------------------------------- */

static struct resource *find_resource(const struct virtio_gpu *g, uint32_t id)
{
    for (unsigned i = 0; i < g->num_resources; i++)
        if (g->resources[i]->id == id)
            return g->resources[i];
    return NULL;
}

static uint8_t *pixels(const struct resource *r)
{
    return r->pixels;
}

static bool reread_pixels(const struct guest_ram *ram, struct resource *r);

/* A resource loaded from a snapshot gets its pixels before anything uses
 * them: out of the snapshot's RAM as it was saved, whatever the guest has
 * written there since (a full transfer at the snapshot would have read that).
 * Its backing was checked against RAM when it was loaded, and RAM does not
 * shrink, so this cannot fail but is still checked. */
static void read_in(struct virtio_gpu *g, struct resource *r)
{
    if (!r->unread)
        return;
    r->unread = false;
    if (!reread_pixels(g->saved_ram, r))
        log_warn("virtio-gpu: resource %u: its backing left guest RAM", r->id);
}

/* The resource with this id, its pixels read in; NULL when there is none. */
static struct resource *use_resource(struct virtio_gpu *g, uint32_t id)
{
    struct resource *r = find_resource(g, id);
    if (r)
        read_in(g, r);
    return r;
}

static uint64_t whole_pages(const struct virtio_gpu *g, uint64_t bytes)
{
    return (bytes + g->page_size - 1) / g->page_size * g->page_size;
}

/* Rows, whole pages: what a create of this shape costs. */
static uint64_t resource_bytes(const struct virtio_gpu *g, uint32_t width, uint32_t height)
{
    return whole_pages(g, (uint64_t)width * BYTES_PER_PIXEL * height);
}

/* Header and rows, whole pages: what a screen of this size costs. */
static uint64_t screen_object_size(const struct virtio_gpu *g, uint32_t width, uint32_t height)
{
    return whole_pages(g, SCANOUT_SHM_HEADER_SIZE + (uint64_t)width * BYTES_PER_PIXEL * height);
}

static bool budget_allows(const struct virtio_gpu *g, uint64_t bytes)
{
    return bytes <= g->max_host_bytes && g->host_bytes <= g->max_host_bytes - bytes;
}

/* Zeroed pages that only this process maps. */
static int map_pixels(struct resource *r)
{
    void *p = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -errno;
    r->pixels = p;
    return 0;
}

static void detach_backing(struct virtio_gpu *g, struct resource *r)
{
    g->host_bytes -= (uint64_t)r->num_backing * sizeof(*r->backing);
    free(r->backing);
    r->backing = NULL;
    r->num_backing = 0;
    r->backing_len = 0;
}

static void free_resource(struct virtio_gpu *g, struct resource *r)
{
    detach_backing(g, r);
    g->host_bytes -= r->bytes;
    munmap(r->pixels, r->bytes);
    free(r);
}

/* Why a resource of this shape may not be created (the response code in
 * *code), or NULL when it may. */
static const char *check_new_resource(const struct virtio_gpu *g, uint32_t id, uint32_t format,
                                      uint32_t width, uint32_t height, uint32_t *code)
{
    *code = VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (id == 0)
        return "resource id 0";
    if (find_resource(g, id))
        return "the id is taken";
    *code = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    if (!format_layout(format))
        return "unknown format";
    if (!dimension_ok(width) || !dimension_ok(height))
        return "size out of range";
    *code = VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    if (g->num_resources >= VIRTIO_GPU_MAX_RESOURCES)
        return "too many resources";
    if (!budget_allows(g, resource_bytes(g, width, height)))
        return "over the host memory budget";
    return NULL;
}

/* Creates a checked resource (check_new_resource said yes). 0 or -errno. */
static int add_resource(struct virtio_gpu *g, uint32_t id, uint32_t format, uint32_t width,
                        uint32_t height)
{
    struct resource *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    *r = (struct resource){.id = id, .format = format, .width = width, .height = height,
                           .stride = width * BYTES_PER_PIXEL,
                           .bytes = resource_bytes(g, width, height),
                           .changed_bottom = height};
    int rc = map_pixels(r);
    if (rc < 0) {
        free(r);
        return rc;
    }
    g->host_bytes += r->bytes;
    g->resources[g->num_resources++] = r;
    return 0;
}

/* ---- screens: what viewers map ----------------------------------------------------------- */

static uint8_t *screen_pixels(const struct screen *sc)
{
    return sc->map + SCANOUT_SHM_HEADER_SIZE;
}

static struct scanout_shm_header *screen_header(const struct screen *sc)
{
    return (struct scanout_shm_header *)(void *)sc->map;
}

static void close_screen(struct virtio_gpu *g, struct screen *sc)
{
    if (!sc->map)
        return;
    g->host_bytes -= sc->object_size;
    munmap(sc->map, sc->object_size);
    close(sc->ro_fd);
    *sc = (struct screen){.ro_fd = -1};
}

/* A new shared object (zeroed) of this size and format; only its read-only
 * descriptor is kept, for viewers. 0, or the response code. */
static uint32_t open_screen(struct virtio_gpu *g, struct screen *sc, uint32_t width,
                            uint32_t height, uint32_t format, const char **why)
{
    uint64_t size = screen_object_size(g, width, height);
    if (!budget_allows(g, size)) {
        *why = "no host memory left in the budget for the scanout";
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    void *map;
    int ro_fd;
    if (memfile_create_shared("ignition-scanout", size, &map, &ro_fd) < 0) {
        *why = "cannot create the scanout's shared memory";
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    *sc = (struct screen){.map = map, .ro_fd = ro_fd, .object_size = size, .width = width,
                          .height = height, .format = format};
    *screen_header(sc) = (struct scanout_shm_header){
        .magic = SCANOUT_SHM_MAGIC, .version = SCANOUT_SHM_VERSION,
        .header_size = SCANOUT_SHM_HEADER_SIZE, .format = format, .width = width,
        .height = height, .stride = width * BYTES_PER_PIXEL, .size = size,
    };
    g->host_bytes += size;
    return 0;
}

/* Rectangles of a screen that a sync changed, in screen pixels; beyond the
 * array they merge into the last. */
#define MAX_SYNC_RECTS 16

struct sync_result {
    struct display_rect rects[MAX_SYNC_RECTS];
    unsigned count;
    uint64_t bytes;
};

static void add_changed(struct sync_result *out, struct display_rect r)
{
    if (out->count < MAX_SYNC_RECTS) {
        out->rects[out->count++] = r;
        return;
    }
    struct display_rect *last = &out->rects[MAX_SYNC_RECTS - 1];
    uint32_t x0 = last->x < r.x ? last->x : r.x, y0 = last->y < r.y ? last->y : r.y;
    uint32_t x1 = last->x + last->width > r.x + r.width ? last->x + last->width : r.x + r.width;
    uint32_t y1 = last->y + last->height > r.y + r.height ? last->y + last->height
                                                          : r.y + r.height;
    *last = (struct display_rect){x0, y0, x1 - x0, y1 - y0};
}

/* Copies the pixels of one row that differ (a span from the first to the last
 * differing pixel); false when none does. */
static bool sync_row(uint8_t *dst, const uint8_t *src, uint32_t width, uint32_t *lo,
                     uint32_t *hi)
{
    size_t bytes = (size_t)width * BYTES_PER_PIXEL;
    if (!memcmp(dst, src, bytes))
        return false;
    uint32_t a = 0, b = width - 1;
    while (!memcmp(dst + (size_t)a * BYTES_PER_PIXEL, src + (size_t)a * BYTES_PER_PIXEL,
                   BYTES_PER_PIXEL))
        a++;
    while (!memcmp(dst + (size_t)b * BYTES_PER_PIXEL, src + (size_t)b * BYTES_PER_PIXEL,
                   BYTES_PER_PIXEL))
        b--;
    memcpy(dst + (size_t)a * BYTES_PER_PIXEL, src + (size_t)a * BYTES_PER_PIXEL,
           (size_t)(b - a + 1) * BYTES_PER_PIXEL);
    *lo = a, *hi = b;
    return true;
}

/* Brings part (in screen pixels, inside it) of scanout s's screen up to its
 * resource, copying only rows, and spans of rows, that differ: a flip to a
 * buffer that differs from the last in a line of text costs that line. Runs
 * of changed rows become the rectangles in out. */
static void sync_screen(const struct scanout *s, struct display_rect part, struct sync_result *out)
{
    const struct resource *r = s->resource;
    const struct screen *sc = &s->screen;
    uint32_t sc_stride = sc->width * BYTES_PER_PIXEL;
    bool open = false;
    struct display_rect band = {0};
    uint32_t band_x1 = 0;
    out->count = 0;
    out->bytes = 0;
    for (uint32_t y = part.y; y < part.y + part.height; y++) {
        uint8_t *dst = screen_pixels(sc) + (uint64_t)y * sc_stride + (uint64_t)part.x * 4;
        const uint8_t *src = pixels(r) + (uint64_t)(s->rect.y + y) * r->stride +
                             (uint64_t)(s->rect.x + part.x) * BYTES_PER_PIXEL;
        uint32_t lo, hi;
        if (!sync_row(dst, src, part.width, &lo, &hi)) {
            if (open)
                add_changed(out, band);
            open = false;
            continue;
        }
        out->bytes += (uint64_t)(hi - lo + 1) * BYTES_PER_PIXEL;
        if (!open) {
            band = (struct display_rect){part.x + lo, y, hi - lo + 1, 0};
            band_x1 = part.x + hi + 1;
            open = true;
        }
        if (part.x + lo < band.x)
            band.x = part.x + lo;
        if (part.x + hi + 1 > band_x1)
            band_x1 = part.x + hi + 1;
        band.width = band_x1 - band.x;
        band.height = y - band.y + 1;
    }
    if (open)
        add_changed(out, band);
}

/* Syncs part of scanout id's screen and, if anything changed, publishes a new
 * sequence and tells the publisher what. */
static void publish_changes(struct virtio_gpu *g, unsigned id, struct display_rect part)
{
    struct scanout *s = &g->scanouts[id];
    static _Thread_local struct sync_result changed;
    sync_screen(s, part, &changed);
    g->screen_bytes_copied += changed.bytes;
    if (!changed.count)
        return;
    struct scanout_shm_header *h = screen_header(&s->screen);
    uint64_t sequence = __atomic_load_n(&h->sequence, __ATOMIC_RELAXED) + 1;
    __atomic_store_n(&h->sequence, sequence, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < changed.count; i++)
        report_flush(g, id, changed.rects[i], sequence);
}

static bool gather(const struct guest_ram *ram, const struct resource *r, uint64_t src,
                   uint8_t *dst, uint64_t len, uint32_t *entry, bool *changed);
static void prefault_backing(const struct guest_ram *ram, const struct resource *r);

/* A new screen for a resource not read in yet (a restore's, loaded): filled
 * straight from the snapshot's RAM as saved, as a full transfer from offset 0
 * would have filled the resource (the backing's bytes, zeros past its end);
 * the resource itself is read at its first use. One copy of the frame before
 * it is published instead of two. */
static void fill_screen_as_saved(struct virtio_gpu *g, const struct scanout *s)
{
    const struct resource *r = s->resource;
    uint8_t *dst = screen_pixels(&s->screen);
    uint64_t row_bytes = (uint64_t)s->rect.width * BYTES_PER_PIXEL;
    uint32_t entry = 0;
    prefault_backing(g->saved_ram, r);
    for (uint32_t y = 0; y < s->rect.height; y++) {
        uint64_t at = (uint64_t)(s->rect.y + y) * r->stride +
                      (uint64_t)s->rect.x * BYTES_PER_PIXEL;
        if (at >= r->backing_len)
            break;
        uint64_t n = r->backing_len - at < row_bytes ? r->backing_len - at : row_bytes;
        if (!gather(g->saved_ram, r, at, dst + y * row_bytes, n, &entry, NULL))
            break; /* cannot be: the backing was checked against RAM as it was loaded */
        g->screen_bytes_copied += n;
    }
}

/* Scanout id shows rect of res from now on (res NULL: nothing). The screen is
 * kept while the size and format stay: a flip is a sync of what differs. A new
 * size or format (or the first resource) gets a new screen, filled before the
 * publisher hears of it. 0, or the response code (then the scanout is off).
 * res may be unread only for a new screen (load_scanout). */
static uint32_t show(struct virtio_gpu *g, unsigned id, struct resource *res,
                     struct display_rect rect, const char **why)
{
    struct scanout *s = &g->scanouts[id];
    struct screen *sc = &s->screen;
    bool keep = res && sc->map && sc->width == rect.width && sc->height == rect.height &&
                sc->format == res->format;
    s->resource = res;
    s->rect = res ? rect : (struct display_rect){0};
    struct display_rect whole = {0, 0, rect.width, rect.height};
    if (keep) {
        publish_changes(g, id, whole);
        return 0;
    }
    close_screen(g, sc);
    uint32_t code = 0;
    if (res && (code = open_screen(g, sc, rect.width, rect.height, res->format, why)) == 0) {
        static _Thread_local struct sync_result filled;
        if (res->unread) {
            fill_screen_as_saved(g, s);
        } else {
            sync_screen(s, whole, &filled);
            g->screen_bytes_copied += filled.bytes;
        }
    }
    if (code)
        s->resource = NULL, s->rect = (struct display_rect){0};
    report_scanout(g, id);
    return code;
}

/* Stops showing r anywhere (telling the publisher) and forgets it as a cursor
 * image: the publisher keeps the image it was given. */
static void unbind_resource(struct virtio_gpu *g, const struct resource *r)
{
    for (unsigned i = 0; i < g->num_scanouts; i++) {
        struct scanout *s = &g->scanouts[i];
        if (s->resource == r)
            show(g, i, NULL, (struct display_rect){0}, NULL);
        if (s->cursor.resource_id == r->id)
            s->cursor.resource_id = 0;
    }
}

static void remove_resource(struct virtio_gpu *g, struct resource *r)
{
    unbind_resource(g, r);
    unsigned i = 0;
    while (g->resources[i] != r)
        i++;
    memmove(&g->resources[i], &g->resources[i + 1],
            (g->num_resources - i - 1) * sizeof(g->resources[0]));
    g->num_resources--;
    free_resource(g, r);
}

static void hide_cursors(struct virtio_gpu *g)
{
    for (unsigned i = 0; i < g->num_scanouts; i++) {
        struct cursor *c = &g->scanouts[i].cursor;
        if (c->shown)
            report_cursor_image(g, i, NULL);
        *c = (struct cursor){0};
    }
}

/* Device reset and load: every resource goes, scanouts showing one are
 * reported disabled first; the modes stay. */
static void drop_all_resources(struct virtio_gpu *g)
{
    while (g->num_resources)
        remove_resource(g, g->resources[g->num_resources - 1]);
    hide_cursors(g);
}

/* ---- backing ---------------------------------------------------------------------------- */

/* Enough for one entry per guest page of the resource, and never fewer than
 * MIN_BACKING_ENTRIES_CAP. */
static uint64_t backing_entries_cap(const struct resource *r)
{
    uint64_t pages = (uint64_t)r->stride * r->height / GUEST_PAGE + 1;
    return pages > MIN_BACKING_ENTRIES_CAP ? pages : MIN_BACKING_ENTRIES_CAP;
}

static const char *check_backing_entry(const struct virtio_gpu *g, uint64_t gpa, uint32_t len)
{
    if (len == 0)
        return "a backing entry of length 0";
    if (!guest_ram_ptr(g->ram, gpa, len))
        return "a backing entry outside guest RAM";
    return NULL;
}

/* Attaches entries (gpa/len pairs, checked here). The response code on failure. */
static uint32_t attach_entries(struct virtio_gpu *g, struct resource *r,
                               const struct virtio_gpu_backing_entry *in, uint32_t n,
                               const char **why)
{
    uint64_t bytes = (uint64_t)n * sizeof(struct backing_entry);
    if (!budget_allows(g, bytes)) {
        *why = "backing list over the host memory budget";
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    struct backing_entry *list = malloc((size_t)bytes);
    if (!list) {
        *why = "out of host memory";
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    uint64_t start = 0;
    for (uint32_t i = 0; i < n; i++) {
        if ((*why = check_backing_entry(g, in[i].gpa, in[i].len))) {
            free(list);
            return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        }
        list[i] = (struct backing_entry){.gpa = in[i].gpa, .start = start, .len = in[i].len};
        start += in[i].len;
    }
    r->backing = list;
    r->num_backing = n;
    r->backing_len = start;
    g->host_bytes += bytes;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Copies n bytes unless dst holds them already; says whether it copied. */
static bool update_bytes(uint8_t *dst, const uint8_t *src, size_t n)
{
    if (!memcmp(dst, src, n))
        return false;
    memcpy(dst, src, n);
    return true;
}

/* Copies backing bytes [src, src + len), as ram holds them, to dst. *entry
 * is where the search starts and is left at the last entry used, so rows in
 * increasing order cost one pass over the list. Entries are checked against
 * RAM again: false when one no longer lies in it. With changed, only bytes
 * that differ are written, and *changed is set if any did. */
static bool gather(const struct guest_ram *ram, const struct resource *r, uint64_t src,
                   uint8_t *dst, uint64_t len, uint32_t *entry, bool *changed)
{
    uint32_t i = *entry;
    while (len) {
        while (i < r->num_backing && r->backing[i].start + r->backing[i].len <= src)
            i++;
        if (i == r->num_backing)
            return false;
        const struct backing_entry *e = &r->backing[i];
        uint64_t skip = src - e->start;
        uint64_t n = e->len - skip < len ? e->len - skip : len;
        const uint8_t *host = guest_ram_ptr(ram, e->gpa + skip, n);
        if (!host)
            return false;
        if (changed)
            *changed |= update_bytes(dst, host, (size_t)n);
        else
            memcpy(dst, host, (size_t)n);
        dst += n, src += n, len -= n;
    }
    *entry = i;
    return true;
}

/* The changed band as a rectangle of the resource (empty: zero height). */
static struct display_rect changed_band(const struct resource *r)
{
    uint32_t height = r->changed_bottom > r->changed_top ? r->changed_bottom - r->changed_top : 0;
    return (struct display_rect){0, r->changed_top, r->width, height};
}

static void mark_row_changed(struct resource *r, uint32_t row)
{
    if (r->changed_top >= r->changed_bottom) {
        r->changed_top = row, r->changed_bottom = row + 1;
        return;
    }
    if (row < r->changed_top)
        r->changed_top = row;
    if (row + 1 > r->changed_bottom)
        r->changed_bottom = row + 1;
}

/* TRANSFER_TO_HOST_2D's copy: row y of the rect comes from backing offset
 * `offset + y * stride`. The caller checked the rect and the backing length.
 * Rows that change join the resource's changed band. Linux's fbdev emulation
 * transfers the whole frame for every change, however small (the console's
 * cursor blinking five times a second: 4 MB each), so comparing here, which
 * costs about what the copy did, spares the flush a compare of the whole
 * screen (14 % of vmmd's CPU at an idle shell). */
static bool transfer_rect(const struct virtio_gpu *g, struct resource *r,
                          struct display_rect rect, uint64_t offset)
{
    uint32_t entry = 0;
    uint64_t row_bytes = (uint64_t)rect.width * BYTES_PER_PIXEL;
    for (uint32_t y = 0; y < rect.height; y++) {
        uint8_t *dst = pixels(r) + (uint64_t)(rect.y + y) * r->stride +
                       (uint64_t)rect.x * BYTES_PER_PIXEL;
        bool changed = false;
        if (!gather(g->ram, r, offset + (uint64_t)y * r->stride, dst, row_bytes, &entry,
                    &changed))
            return false;
        if (changed)
            mark_row_changed(r, rect.y + y);
    }
    return true;
}

/* ---- requests --------------------------------------------------------------------------- */

struct request {
    const struct virtq_chain *chain;
    const char *name;                    /* of the command, for the log */
    bool have_header;                    /* the header could be read: echo it */
    uint8_t cmd[MAX_REQUEST_SIZE];       /* header and the command's fixed part */
    uint8_t resp[VIRTIO_GPU_RESP_EDID_SIZE];
    uint32_t resp_len;                   /* bytes of resp to send, header included */
};

static void note(struct virtio_gpu *g, const struct request *r, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
static uint32_t reject(struct virtio_gpu *g, const struct request *r, uint32_t code,
                       const char *fmt, ...) PRINTF_LIKE(4, 5);

/* Logs why a request was ignored. */
static void note(struct virtio_gpu *g, const struct request *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_rejection(g, r->name, fmt, ap);
    va_end(ap);
}

/* Logs why a request failed and returns the response code. */
static uint32_t reject(struct virtio_gpu *g, const struct request *r, uint32_t code,
                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_rejection(g, r->name, fmt, ap);
    va_end(ap);
    return code;
}

static uint32_t arg(const struct request *r, unsigned offset)
{
    return le32(r->cmd + offset);
}

static struct resource *resource_arg(struct virtio_gpu *g, const struct request *r,
                                     unsigned offset)
{
    return use_resource(g, arg(r, offset));
}

static uint32_t no_such_resource(struct virtio_gpu *g, const struct request *r, unsigned offset)
{
    return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID, "no resource %u",
                  arg(r, offset));
}

static uint32_t cmd_get_display_info(struct virtio_gpu *g, struct request *r)
{
    for (unsigned i = 0; i < g->num_scanouts; i++) {
        const struct scanout *s = &g->scanouts[i];
        if (!s->enabled)
            continue;
        uint8_t *one = r->resp + VIRTIO_GPU_HDR_SIZE + i * VIRTIO_GPU_DISPLAY_ONE_SIZE;
        le_put(one + 8, s->width, 4);
        le_put(one + 12, s->height, 4);
        le_put(one + VIRTIO_GPU_DISPLAY_ONE_ENABLED, 1, 4);
    }
    r->resp_len = VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE;
    return VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
}

/* Modes a base block cannot describe (beyond 4095 pixels, or below the 64
 * Linux ignores) get an empty EDID: Linux then takes the size from
 * GET_DISPLAY_INFO instead. */
static uint32_t cmd_get_edid(struct virtio_gpu *g, struct request *r)
{
    uint32_t id = arg(r, VIRTIO_GPU_GET_EDID_SCANOUT);
    if (id >= g->num_scanouts)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, "no scanout %u", id);
    const struct scanout *s = &g->scanouts[id];
    bool have = edid_generate(s->width, s->height, id + 1, r->resp + VIRTIO_GPU_RESP_EDID_DATA);
    le_put(r->resp + VIRTIO_GPU_RESP_EDID_SIZE_FIELD, have ? EDID_BLOCK_SIZE : 0, 4);
    r->resp_len = VIRTIO_GPU_RESP_EDID_SIZE;
    return VIRTIO_GPU_RESP_OK_EDID;
}

static uint32_t cmd_resource_create_2d(struct virtio_gpu *g, struct request *r)
{
    uint32_t id = arg(r, VIRTIO_GPU_CREATE_2D_RESOURCE_ID);
    uint32_t format = arg(r, VIRTIO_GPU_CREATE_2D_FORMAT);
    uint32_t width = arg(r, VIRTIO_GPU_CREATE_2D_WIDTH);
    uint32_t height = arg(r, VIRTIO_GPU_CREATE_2D_HEIGHT);
    uint32_t code;
    const char *why = check_new_resource(g, id, format, width, height, &code);
    if (why)
        return reject(g, r, code, "resource %u, format %u, %ux%u: %s", id, format, width,
                      height, why);
    int rc = add_resource(g, id, format, width, height);
    if (rc < 0)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY, "resource %u: %s", id,
                      strerror(-rc));
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_resource_unref(struct virtio_gpu *g, struct request *r)
{
    struct resource *res = find_resource(g, arg(r, VIRTIO_GPU_UNREF_RESOURCE_ID));
    if (!res)
        return no_such_resource(g, r, VIRTIO_GPU_UNREF_RESOURCE_ID);
    remove_resource(g, res);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Binds (or with resource 0 unbinds) a scanout; changes are reported. */
static uint32_t cmd_set_scanout(struct virtio_gpu *g, struct request *r)
{
    uint32_t id = arg(r, VIRTIO_GPU_SET_SCANOUT_SCANOUT_ID);
    if (id >= g->num_scanouts)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, "no scanout %u", id);
    struct scanout *s = &g->scanouts[id];
    struct display_rect rect = read_rect(r->cmd + VIRTIO_GPU_SET_SCANOUT_RECT);
    struct resource *res = NULL;
    if (arg(r, VIRTIO_GPU_SET_SCANOUT_RESOURCE_ID) != 0) {
        res = resource_arg(g, r, VIRTIO_GPU_SET_SCANOUT_RESOURCE_ID);
        if (!res)
            return no_such_resource(g, r, VIRTIO_GPU_SET_SCANOUT_RESOURCE_ID);
        if (rect.width == 0 || rect.height == 0 || !rect_inside(rect, res->width, res->height))
            return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
                          "rect %ux%u+%u+%u not in resource %u (%ux%u)", rect.width,
                          rect.height, rect.x, rect.y, res->id, res->width, res->height);
    } else {
        rect = (struct display_rect){0}; /* Linux sends the old size with resource 0 */
    }
    if (s->resource == res && !memcmp(&s->rect, &rect, sizeof(rect)))
        return VIRTIO_GPU_RESP_OK_NODATA;
    const char *why = NULL;
    uint32_t code = show(g, id, res, rect, &why);
    if (code)
        return reject(g, r, code, "scanout %u: %s", id, why);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

/* The pixels are in the resource (transfers run synchronously): each scanout
 * showing part of rect copies what differs into its screen. */
static uint32_t cmd_resource_flush(struct virtio_gpu *g, struct request *r)
{
    struct resource *res = resource_arg(g, r, VIRTIO_GPU_FLUSH_RESOURCE_ID);
    if (!res)
        return no_such_resource(g, r, VIRTIO_GPU_FLUSH_RESOURCE_ID);
    struct display_rect rect = read_rect(r->cmd + VIRTIO_GPU_FLUSH_RECT);
    if (!rect_inside(rect, res->width, res->height))
        return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
                      "rect %ux%u+%u+%u not in resource %u (%ux%u)", rect.width, rect.height,
                      rect.x, rect.y, res->id, res->width, res->height);
    bool shown = false;
    for (unsigned i = 0; i < g->num_scanouts; i++) {
        const struct scanout *s = &g->scanouts[i];
        struct display_rect clip, changed;
        if (s->resource != res || !s->screen.map || !rect_intersect(rect, s->rect, &clip))
            continue;
        g->pixels_flushed += (uint64_t)clip.width * clip.height;
        shown = true;
        /* Outside the changed band the screen already equals the resource. */
        if (!rect_intersect(clip, changed_band(res), &changed))
            continue;
        changed.x -= s->rect.x;
        changed.y -= s->rect.y;
        publish_changes(g, i, changed);
    }
    if (shown)
        g->flushes++;
    /* Every screen showing res has synced every row of the band. */
    if (rect.x == 0 && rect.y == 0 && rect.width == res->width && rect.height == res->height)
        res->changed_top = res->changed_bottom = 0;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_transfer_to_host_2d(struct virtio_gpu *g, struct request *r)
{
    struct resource *res = resource_arg(g, r, VIRTIO_GPU_TRANSFER_RESOURCE_ID);
    if (!res)
        return no_such_resource(g, r, VIRTIO_GPU_TRANSFER_RESOURCE_ID);
    struct display_rect rect = read_rect(r->cmd + VIRTIO_GPU_TRANSFER_RECT);
    uint64_t offset = le64(r->cmd + VIRTIO_GPU_TRANSFER_OFFSET);
    if (!rect_inside(rect, res->width, res->height))
        return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
                      "rect %ux%u+%u+%u not in resource %u (%ux%u)", rect.width, rect.height,
                      rect.x, rect.y, res->id, res->width, res->height);
    if (!res->backing)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_UNSPEC, "resource %u has no backing", res->id);
    if (rect.width == 0 || rect.height == 0)
        return VIRTIO_GPU_RESP_OK_NODATA;
    /* Both terms are below 2^31 (16384 rows of 65536 bytes): no overflow. */
    uint64_t span = (uint64_t)(rect.height - 1) * res->stride +
                    (uint64_t)rect.width * BYTES_PER_PIXEL;
    if (offset > res->backing_len || span > res->backing_len - offset)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
                      "%llu bytes at offset %llu do not fit the %llu bytes of backing",
                      (unsigned long long)span, (unsigned long long)offset,
                      (unsigned long long)res->backing_len);
    if (!transfer_rect(g, res, rect, offset))
        return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
                      "backing of resource %u left guest RAM", res->id);
    g->bytes_copied += (uint64_t)rect.width * rect.height * BYTES_PER_PIXEL;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static bool read_backing_list(struct chain_reader *rd, struct virtio_gpu_backing_entry *out,
                              uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t e[VIRTIO_GPU_MEM_ENTRY_SIZE];
        if (!read_bytes(rd, e, sizeof(e)))
            return false;
        out[i] = (struct virtio_gpu_backing_entry){le64(e + VIRTIO_GPU_MEM_ENTRY_ADDR),
                                                   le32(e + VIRTIO_GPU_MEM_ENTRY_LENGTH)};
    }
    return true;
}

/* The entries follow the fixed part in the readable bytes, split anywhere. */
static uint32_t cmd_resource_attach_backing(struct virtio_gpu *g, struct request *r)
{
    struct resource *res = resource_arg(g, r, VIRTIO_GPU_ATTACH_BACKING_RESOURCE_ID);
    if (!res)
        return no_such_resource(g, r, VIRTIO_GPU_ATTACH_BACKING_RESOURCE_ID);
    uint32_t n = arg(r, VIRTIO_GPU_ATTACH_BACKING_NR_ENTRIES);
    if (res->backing)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_UNSPEC, "resource %u already has backing",
                      res->id);
    if (n == 0 || n > backing_entries_cap(res))
        return reject(g, r, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
                      "%u backing entries for resource %u", n, res->id);
    /* Checked before allocating for them. */
    if (r->chain->readable_len - VIRTIO_GPU_ATTACH_BACKING_SIZE <
        (uint64_t)n * VIRTIO_GPU_MEM_ENTRY_SIZE)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_UNSPEC,
                      "%u backing entries announced, fewer sent", n);
    struct virtio_gpu_backing_entry *list = malloc((size_t)n * sizeof(*list));
    if (!list)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY, "out of host memory");
    struct chain_reader rd = {.chain = r->chain};
    const char *why = NULL;
    uint32_t code = VIRTIO_GPU_RESP_ERR_UNSPEC;
    if (!skip_bytes(&rd, VIRTIO_GPU_ATTACH_BACKING_SIZE) || !read_backing_list(&rd, list, n))
        why = "the backing entries could not be read";
    else
        code = attach_entries(g, res, list, n, &why);
    free(list);
    if (why)
        return reject(g, r, code, "resource %u: %s", res->id, why);
    return code;
}

static uint32_t cmd_resource_detach_backing(struct virtio_gpu *g, struct request *r)
{
    struct resource *res = resource_arg(g, r, VIRTIO_GPU_DETACH_BACKING_RESOURCE_ID);
    if (!res)
        return no_such_resource(g, r, VIRTIO_GPU_DETACH_BACKING_RESOURCE_ID);
    if (!res->backing)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_UNSPEC, "resource %u has no backing", res->id);
    detach_backing(g, res);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

struct command {
    uint32_t type;
    const char *name;
    uint32_t size; /* the fixed part, header included */
    uint32_t (*run)(struct virtio_gpu *g, struct request *r);
};

/* The 2D commands; 3D, blob, capset and UUID ones are not offered and fall
 * through to ERR_UNSPEC with anything unknown. */
static const struct command CONTROL_COMMANDS[] = {
    {VIRTIO_GPU_CMD_GET_DISPLAY_INFO, "GET_DISPLAY_INFO", VIRTIO_GPU_HDR_SIZE,
     cmd_get_display_info},
    {VIRTIO_GPU_CMD_GET_EDID, "GET_EDID", VIRTIO_GPU_GET_EDID_SIZE, cmd_get_edid},
    {VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, "RESOURCE_CREATE_2D", VIRTIO_GPU_CREATE_2D_SIZE,
     cmd_resource_create_2d},
    {VIRTIO_GPU_CMD_RESOURCE_UNREF, "RESOURCE_UNREF", VIRTIO_GPU_UNREF_SIZE,
     cmd_resource_unref},
    {VIRTIO_GPU_CMD_SET_SCANOUT, "SET_SCANOUT", VIRTIO_GPU_SET_SCANOUT_SIZE, cmd_set_scanout},
    {VIRTIO_GPU_CMD_RESOURCE_FLUSH, "RESOURCE_FLUSH", VIRTIO_GPU_FLUSH_SIZE,
     cmd_resource_flush},
    {VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, "TRANSFER_TO_HOST_2D", VIRTIO_GPU_TRANSFER_SIZE,
     cmd_transfer_to_host_2d},
    {VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, "RESOURCE_ATTACH_BACKING",
     VIRTIO_GPU_ATTACH_BACKING_SIZE, cmd_resource_attach_backing},
    {VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, "RESOURCE_DETACH_BACKING",
     VIRTIO_GPU_DETACH_BACKING_SIZE, cmd_resource_detach_backing},
};

/* Reads the header and the command's fixed part; NULL (and why) when the
 * request is too short or unknown. */
static const struct command *parse_request(struct request *r, const struct command *table,
                                           size_t count, const char **why)
{
    struct chain_reader rd = {.chain = r->chain};
    if (!read_bytes(&rd, r->cmd, VIRTIO_GPU_HDR_SIZE)) {
        *why = "shorter than a header";
        return NULL;
    }
    r->have_header = true;
    uint32_t type = le32(r->cmd + VIRTIO_GPU_HDR_TYPE);
    const struct command *cmd = NULL;
    for (size_t i = 0; i < count && !cmd; i++)
        if (table[i].type == type)
            cmd = &table[i];
    if (!cmd) {
        *why = "unknown or unsupported command";
        return NULL;
    }
    r->name = cmd->name;
    if (!read_bytes(&rd, r->cmd + VIRTIO_GPU_HDR_SIZE, cmd->size - VIRTIO_GPU_HDR_SIZE)) {
        *why = "shorter than its command";
        return NULL;
    }
    return cmd;
}

/* The response header echoes the request's fence, context and ring (§5.7.6.7). */
static void put_response_header(struct request *r, uint32_t type)
{
    uint8_t *h = r->resp;
    memset(h, 0, VIRTIO_GPU_HDR_SIZE);
    le_put(h + VIRTIO_GPU_HDR_TYPE, type, 4);
    if (!r->have_header)
        return;
    uint32_t flags = le32(r->cmd + VIRTIO_GPU_HDR_FLAGS) &
                     (VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX);
    le_put(h + VIRTIO_GPU_HDR_FLAGS, flags, 4);
    if (flags & VIRTIO_GPU_FLAG_FENCE)
        memcpy(h + VIRTIO_GPU_HDR_FENCE_ID, r->cmd + VIRTIO_GPU_HDR_FENCE_ID, 8);
    memcpy(h + VIRTIO_GPU_HDR_CTX_ID, r->cmd + VIRTIO_GPU_HDR_CTX_ID, 4);
    if (flags & VIRTIO_GPU_FLAG_INFO_RING_IDX)
        h[VIRTIO_GPU_HDR_RING_IDX] = r->cmd[VIRTIO_GPU_HDR_RING_IDX];
}

static uint32_t reject_unparsed(struct virtio_gpu *g, const struct request *r, const char *why)
{
    if (!r->have_header)
        return reject(g, r, VIRTIO_GPU_RESP_ERR_UNSPEC, "%s", why);
    return reject(g, r, VIRTIO_GPU_RESP_ERR_UNSPEC, "%s (type 0x%x)", why,
                  le32(r->cmd + VIRTIO_GPU_HDR_TYPE));
}

static uint32_t run_control(struct virtio_gpu *g, struct request *r)
{
    const char *why;
    const struct command *cmd = parse_request(r, CONTROL_COMMANDS, ARRAY_SIZE(CONTROL_COMMANDS),
                                              &why);
    return cmd ? cmd->run(g, r) : reject_unparsed(g, r, why);
}

int virtio_gpu_handle_control(struct virtio_gpu *g, const struct virtq_chain *chain)
{
    if (chain->writable_len < VIRTIO_GPU_HDR_SIZE)
        return -1;
    struct request r = {.chain = chain, .name = "request"};
    uint32_t type = run_control(g, &r);
    if (r.resp_len > chain->writable_len) {
        type = reject(g, &r, VIRTIO_GPU_RESP_ERR_UNSPEC, "no room for a %u-byte response",
                      r.resp_len);
        r.resp_len = 0;
    }
    if (r.resp_len < VIRTIO_GPU_HDR_SIZE)
        r.resp_len = VIRTIO_GPU_HDR_SIZE;
    put_response_header(&r, type);
    return (int)write_response(chain, r.resp, r.resp_len);
}

/* ---- the cursor queue ------------------------------------------------------------------- */

/* The top-left 64x64 of the resource (all of a Linux cursor), as B, G, R, A bytes. */
static struct display_cursor cursor_image_of(struct virtio_gpu *g, const struct resource *res,
                                             const struct cursor *c)
{
    const struct format_layout *f = format_layout(res->format);
    uint32_t w = res->width < CURSOR_MAX ? res->width : CURSOR_MAX;
    uint32_t h = res->height < CURSOR_MAX ? res->height : CURSOR_MAX;
    uint8_t *out = g->cursor_pixels;
    for (uint32_t y = 0; y < h; y++) {
        const uint8_t *row = pixels(res) + (uint64_t)y * res->stride;
        for (uint32_t x = 0; x < w; x++, out += 4) {
            const uint8_t *p = row + x * BYTES_PER_PIXEL;
            out[0] = p[f->b];
            out[1] = p[f->g];
            out[2] = p[f->r];
            out[3] = f->has_alpha ? p[f->a] : 0xff;
        }
    }
    return (struct display_cursor){
        .width = w, .height = h, .pixels = g->cursor_pixels,
        .hot_x = c->hot_x < w ? c->hot_x : w - 1, .hot_y = c->hot_y < h ? c->hot_y : h - 1,
    };
}

/* Shows the cursor's resource, or hides it for resource 0. */
static void show_cursor(struct virtio_gpu *g, unsigned id)
{
    struct cursor *c = &g->scanouts[id].cursor;
    const struct resource *res = use_resource(g, c->resource_id);
    if (!res) {
        c->resource_id = 0;
        c->shown = false;
        report_cursor_image(g, id, NULL);
        return;
    }
    struct display_cursor image = cursor_image_of(g, res, c);
    c->shown = true;
    report_cursor_image(g, id, &image);
}

/* Not answered with errors (§5.7.6.10 names only OK_NODATA): a bad cursor
 * command is logged and ignored. */
static uint32_t cmd_update_cursor(struct virtio_gpu *g, struct request *r)
{
    uint32_t id = arg(r, VIRTIO_GPU_CURSOR_SCANOUT_ID);
    uint32_t resource_id = arg(r, VIRTIO_GPU_CURSOR_RESOURCE_ID);
    if (id >= g->num_scanouts) {
        note(g, r, "no scanout %u", id);
        return VIRTIO_GPU_RESP_OK_NODATA;
    }
    if (resource_id && !find_resource(g, resource_id)) {
        note(g, r, "no resource %u", resource_id);
        return VIRTIO_GPU_RESP_OK_NODATA;
    }
    struct cursor *c = &g->scanouts[id].cursor;
    c->resource_id = resource_id;
    c->hot_x = arg(r, VIRTIO_GPU_CURSOR_HOT_X);
    c->hot_y = arg(r, VIRTIO_GPU_CURSOR_HOT_Y);
    c->x = arg(r, VIRTIO_GPU_CURSOR_X);
    c->y = arg(r, VIRTIO_GPU_CURSOR_Y);
    show_cursor(g, id);
    report_cursor_move(g, id, c->x, c->y);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t cmd_move_cursor(struct virtio_gpu *g, struct request *r)
{
    uint32_t id = arg(r, VIRTIO_GPU_CURSOR_SCANOUT_ID);
    if (id >= g->num_scanouts) {
        note(g, r, "no scanout %u", id);
        return VIRTIO_GPU_RESP_OK_NODATA;
    }
    struct cursor *c = &g->scanouts[id].cursor;
    c->x = arg(r, VIRTIO_GPU_CURSOR_X);
    c->y = arg(r, VIRTIO_GPU_CURSOR_Y);
    report_cursor_move(g, id, c->x, c->y);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static const struct command CURSOR_COMMANDS[] = {
    {VIRTIO_GPU_CMD_UPDATE_CURSOR, "UPDATE_CURSOR", VIRTIO_GPU_UPDATE_CURSOR_SIZE,
     cmd_update_cursor},
    {VIRTIO_GPU_CMD_MOVE_CURSOR, "MOVE_CURSOR", VIRTIO_GPU_UPDATE_CURSOR_SIZE, cmd_move_cursor},
};

/* Anything that is not a whole cursor command gets ERR_UNSPEC. */
uint32_t virtio_gpu_handle_cursor(struct virtio_gpu *g, const struct virtq_chain *chain)
{
    struct request r = {.chain = chain, .name = "cursor request"};
    const char *why;
    const struct command *cmd =
        parse_request(&r, CURSOR_COMMANDS, ARRAY_SIZE(CURSOR_COMMANDS), &why);
    uint32_t type = cmd ? cmd->run(g, &r) : reject_unparsed(g, &r, why);
    if (chain->writable_len < VIRTIO_GPU_HDR_SIZE)
        return 0;
    put_response_header(&r, type);
    return write_response(chain, r.resp, VIRTIO_GPU_HDR_SIZE);
}

/* ---- the device ------------------------------------------------------------------------- */

static void serve_queue(struct virtio_gpu *g, struct virtio_mmio *t, unsigned q)
{
    struct virtq *vq = virtio_mmio_queue(t, q);
    if (!vq)
        return;
    uint16_t old_used = vq->used_idx;
    enum virtq_error err;
    bool broken = false;
    while ((err = virtq_pop(vq, &g->chain)) == VIRTQ_OK) {
        int written = q == VIRTIO_GPU_CONTROLQ
                          ? virtio_gpu_handle_control(g, &g->chain)
                          : (int)virtio_gpu_handle_cursor(g, &g->chain);
        if (written < 0) {
            broken = true;
            break;
        }
        virtq_push(vq, g->chain.head, (uint32_t)written);
    }
    if (vq->used_idx != old_used)
        virtio_mmio_used(t, q, old_used);
    if (broken || (err != VIRTQ_OK && err != VIRTQ_EMPTY))
        virtio_mmio_needs_reset(t);
}

static void gpu_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    serve_queue(dev, t, q);
}

static void gpu_config_read(void *dev, size_t offset, uint8_t *out, size_t len)
{
    struct virtio_gpu *g = dev;
    uint8_t config[VIRTIO_GPU_CFG_SIZE] = {0};
    le_put(config + VIRTIO_GPU_CFG_EVENTS_READ, g->events_read, 4);
    le_put(config + VIRTIO_GPU_CFG_NUM_SCANOUTS, g->num_scanouts, 4);
    memcpy(out, config + offset, len);
}

/* Only events_clear is writable: each 1 bit clears that event (§5.7.4). */
static void gpu_config_write(void *dev, size_t offset, const uint8_t *in, size_t len)
{
    struct virtio_gpu *g = dev;
    for (size_t i = 0; i < len; i++) {
        size_t at = offset + i;
        if (at >= VIRTIO_GPU_CFG_EVENTS_CLEAR && at < VIRTIO_GPU_CFG_EVENTS_CLEAR + 4)
            g->events_read &= ~((uint32_t)in[i] << (8 * (at - VIRTIO_GPU_CFG_EVENTS_CLEAR)));
    }
}

static void gpu_reset(void *dev)
{
    struct virtio_gpu *g = dev;
    drop_all_resources(g);
    g->events_read = 0;
}

/* No one is told: the publisher goes with the device. */
static void gpu_destroy(void *dev)
{
    struct virtio_gpu *g = dev;
    if (g->flushes && g->pixels_flushed)
        log_debug("virtio-gpu: %llu flushes on scanouts, %.1f MiB copied from guest memory, "
                  "%.1f MiB into screens (what changed), %.2f bytes copied per flushed pixel",
                  (unsigned long long)g->flushes, (double)g->bytes_copied / (1 << 20),
                  (double)g->screen_bytes_copied / (1 << 20),
                  (double)(g->bytes_copied + g->screen_bytes_copied) /
                      (double)g->pixels_flushed);
    for (unsigned i = 0; i < g->num_scanouts; i++)
        close_screen(g, &g->scanouts[i].screen);
    for (unsigned i = 0; i < g->num_resources; i++)
        free_resource(g, g->resources[i]);
    free(g);
}

static int gpu_save(void *dev, struct device_state_bytes *out);
static int gpu_load(void *dev, const uint8_t *state, size_t len, char *err, size_t err_len);

static const struct virtio_device_ops gpu_ops = {
    .name = "virtio-gpu",
    .device_id = VIRTIO_ID_GPU,
    .features = 1ull << VIRTIO_GPU_F_EDID,
    .num_queues = 2,
    .queue_max = GPU_QUEUE_SIZE,
    .config_size = VIRTIO_GPU_CFG_SIZE,
    .config_read = gpu_config_read,
    .config_write = gpu_config_write,
    .notify = gpu_notify,
    .reset = gpu_reset,
    .destroy = gpu_destroy,
    .save = gpu_save,
    .load = gpu_load,
};

static bool apply_options(struct virtio_gpu *g, const struct virtio_gpu_options *opts)
{
    struct virtio_gpu_options o = opts ? *opts : (struct virtio_gpu_options){0};
    g->num_scanouts = o.num_scanouts ? o.num_scanouts : 1;
    uint32_t width = o.width ? o.width : VIRTIO_GPU_DEFAULT_WIDTH;
    uint32_t height = o.height ? o.height : VIRTIO_GPU_DEFAULT_HEIGHT;
    g->max_host_bytes = o.max_host_bytes ? o.max_host_bytes : VIRTIO_GPU_DEFAULT_MAX_HOST_BYTES;
    g->display = o.display;
    g->display_opaque = o.display_opaque;
    g->saved_ram = o.saved_ram;
    if (g->num_scanouts > DISPLAY_MAX_SCANOUTS || !dimension_ok(width) || !dimension_ok(height))
        return false;
    for (unsigned i = 0; i < g->num_scanouts; i++)
        g->scanouts[i] = (struct scanout){.enabled = i == 0, .width = width, .height = height,
                                          .screen = {.ro_fd = -1}};
    return true;
}

struct device *virtio_gpu_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram,
                                 const struct virtio_gpu_options *opts)
{
    struct virtio_gpu *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->ram = ram;
    long page = sysconf(_SC_PAGESIZE);
    g->page_size = page > 0 ? (uint64_t)page : 4096;
    if (!apply_options(g, opts)) {
        free(g);
        return NULL;
    }
    struct device *dev = virtio_mmio_create(base, irq, &gpu_ops, g, ram);
    if (!dev) {
        free(g);
        return NULL;
    }
    g->transport = virtio_mmio_of(dev);
    return dev;
}

struct virtio_gpu *virtio_gpu_of(struct device *dev)
{
    return virtio_mmio_device_state(virtio_mmio_of(dev));
}

uint64_t virtio_gpu_host_bytes(const struct virtio_gpu *gpu)
{
    return gpu->host_bytes;
}

int virtio_gpu_request_mode(struct device *dev, unsigned scanout_id, uint32_t width,
                            uint32_t height)
{
    struct virtio_gpu *g = virtio_gpu_of(dev);
    if (scanout_id >= g->num_scanouts || !dimension_ok(width) || !dimension_ok(height))
        return -EINVAL;
    virtio_mmio_lock(g->transport);
    struct scanout *s = &g->scanouts[scanout_id];
    bool changed = !s->enabled || s->width != width || s->height != height;
    if (changed) {
        s->enabled = true;
        s->width = width;
        s->height = height;
        g->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
        /* The driver re-reads display info and EDIDs on this, then modesets. */
        virtio_mmio_config_changed(g->transport);
    }
    virtio_mmio_unlock(g->transport);
    return 0;
}

/* ---- snapshots -------------------------------------------------------------------------- */

static int save_resource(const struct resource *r, struct virtio_gpu_resource_state *out)
{
    *out = (struct virtio_gpu_resource_state){.id = r->id, .format = r->format,
                                              .width = r->width, .height = r->height};
    if (!r->backing)
        return 0;
    out->backing = malloc(r->num_backing * sizeof(*out->backing));
    if (!out->backing)
        return -ENOMEM;
    for (uint32_t i = 0; i < r->num_backing; i++)
        out->backing[i] = (struct virtio_gpu_backing_entry){r->backing[i].gpa, r->backing[i].len};
    out->num_backing = r->num_backing;
    return 0;
}

static void save_scanout(const struct scanout *s, struct virtio_gpu_scanout_state *out)
{
    *out = (struct virtio_gpu_scanout_state){
        .enabled = s->enabled, .width = s->width, .height = s->height,
        .resource_id = s->resource ? s->resource->id : 0, .rect = s->rect,
        .cursor = {s->cursor.resource_id, s->cursor.hot_x, s->cursor.hot_y, s->cursor.x,
                   s->cursor.y},
    };
}

static int save_state(struct virtio_gpu *g, struct virtio_gpu_state *out)
{
    memset(out, 0, sizeof(*out));
    virtio_mmio_lock(g->transport);
    out->num_scanouts = g->num_scanouts;
    out->events_read = g->events_read;
    for (unsigned i = 0; i < g->num_scanouts; i++)
        save_scanout(&g->scanouts[i], &out->scanouts[i]);
    int rc = 0;
    if (g->num_resources) {
        out->resources = calloc(g->num_resources, sizeof(*out->resources));
        rc = out->resources ? 0 : -ENOMEM;
    }
    for (unsigned i = 0; i < g->num_resources && rc == 0; i++, out->num_resources++)
        rc = save_resource(g->resources[i], &out->resources[i]);
    virtio_mmio_unlock(g->transport);
    if (rc < 0)
        virtio_gpu_state_free(out);
    return rc;
}

int virtio_gpu_save(struct device *dev, struct virtio_gpu_state *out)
{
    return save_state(virtio_gpu_of(dev), out);
}

void virtio_gpu_state_free(struct virtio_gpu_state *state)
{
    for (size_t i = 0; i < state->num_resources; i++)
        free(state->resources[i].backing);
    free(state->resources);
    state->resources = NULL;
    state->num_resources = 0;
}

static int errno_for(uint32_t code)
{
    return code == VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
}

#if defined(MADV_POPULATE_READ) && defined(MADV_POPULATE_WRITE)
/* A hint, so its failure is no error: map a range's pages in one call rather
 * than one fault at a time (Linux ≥ 5.14). */
static void populate(const void *p, uint64_t len, int advice)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)p & ~(page - 1);
    uintptr_t end = ((uintptr_t)p + (uintptr_t)len + page - 1) & ~(page - 1);
    (void)madvise((void *)start, end - start, advice);
}

/* A restore rereads a whole framebuffer from guest RAM that is mapped from
 * the snapshot's file into a resource no page of which exists yet: faulting
 * both in page by page took 40 ms of a restore's ~90 here, prefaulting them
 * ~15. */
static void prefault_backing(const struct guest_ram *ram, const struct resource *r)
{
    for (uint32_t i = 0; i < r->num_backing; i++) {
        const uint8_t *host = guest_ram_ptr(ram, r->backing[i].gpa, r->backing[i].len);
        if (host)
            populate(host, r->backing[i].len, MADV_POPULATE_READ);
    }
}

static void prefault_for_reread(const struct guest_ram *ram, struct resource *r, uint64_t len)
{
    populate(pixels(r), len, MADV_POPULATE_WRITE);
    prefault_backing(ram, r);
}
#else
static void prefault_backing(const struct guest_ram *ram, const struct resource *r)
{
    (void)ram, (void)r;
}

static void prefault_for_reread(const struct guest_ram *ram, struct resource *r, uint64_t len)
{
    (void)ram, (void)r, (void)len;
}
#endif

/* A full transfer from offset 0 out of ram: as many bytes as the backing holds. */
static bool reread_pixels(const struct guest_ram *ram, struct resource *r)
{
    uint64_t size = (uint64_t)r->stride * r->height;
    uint64_t len = r->backing_len < size ? r->backing_len : size;
    uint32_t entry = 0;
    prefault_for_reread(ram, r, len);
    return gather(ram, r, 0, pixels(r), len, &entry, NULL);
}

static int load_resource(struct virtio_gpu *g, const struct virtio_gpu_resource_state *in)
{
    uint32_t code;
    const char *why = check_new_resource(g, in->id, in->format, in->width, in->height, &code);
    if (why) {
        log_warn("virtio-gpu: snapshot resource %u: %s", in->id, why);
        return errno_for(code);
    }
    if (in->num_backing && !in->backing)
        return -EINVAL;
    int rc = add_resource(g, in->id, in->format, in->width, in->height);
    if (rc < 0 || in->num_backing == 0)
        return rc;
    struct resource *r = g->resources[g->num_resources - 1];
    if (in->num_backing > backing_entries_cap(r)) {
        log_warn("virtio-gpu: snapshot resource %u: too many backing entries", in->id);
        return -EINVAL;
    }
    code = attach_entries(g, r, in->backing, in->num_backing, &why);
    if (code != VIRTIO_GPU_RESP_OK_NODATA) {
        log_warn("virtio-gpu: snapshot resource %u: %s", in->id, why);
        return errno_for(code);
    }
    /* With the snapshot's RAM at hand, resources are read at their first use
     * (a desktop holds several frames: reading each took a few ms of every
     * restore, and memory each clone need not have); a shown one's screen is
     * filled from there at once. */
    if (g->saved_ram) {
        r->unread = true;
        return 0;
    }
    return reread_pixels(g->ram, r) ? 0 : -EINVAL;
}

static bool mode_ok(const struct virtio_gpu_scanout_state *s)
{
    return dimension_ok(s->width) && dimension_ok(s->height);
}

static int load_scanout(struct virtio_gpu *g, unsigned id,
                        const struct virtio_gpu_scanout_state *in)
{
    struct scanout *s = &g->scanouts[id];
    if (in->resource_id) {
        /* Not read in: its screen is filled from the same RAM (show). */
        struct resource *r = find_resource(g, in->resource_id);
        if (!r || in->rect.width == 0 || in->rect.height == 0 ||
            !rect_inside(in->rect, r->width, r->height))
            return -EINVAL;
        const char *why = NULL;
        if (show(g, id, r, in->rect, &why)) {
            log_warn("virtio-gpu: snapshot scanout %u: %s", id, why);
            return -ENOMEM;
        }
    }
    const struct virtio_gpu_cursor_state *c = &in->cursor;
    if (c->resource_id) {
        if (!find_resource(g, c->resource_id))
            return -EINVAL;
        s->cursor = (struct cursor){c->resource_id, c->hot_x, c->hot_y, c->x, c->y, false};
        show_cursor(g, id);
        report_cursor_move(g, id, c->x, c->y);
    }
    return 0;
}

static int load_locked(struct virtio_gpu *g, const struct virtio_gpu_state *in)
{
    drop_all_resources(g);
    if (in->num_scanouts != g->num_scanouts || in->num_resources > VIRTIO_GPU_MAX_RESOURCES)
        return -EINVAL;
    for (unsigned i = 0; i < in->num_scanouts; i++)
        if (!mode_ok(&in->scanouts[i]))
            return -EINVAL;
    g->events_read = in->events_read & VIRTIO_GPU_EVENT_DISPLAY;
    for (unsigned i = 0; i < g->num_scanouts; i++) {
        struct scanout *s = &g->scanouts[i];
        s->enabled = in->scanouts[i].enabled;
        s->width = in->scanouts[i].width;
        s->height = in->scanouts[i].height;
    }
    int rc = 0;
    for (size_t i = 0; i < in->num_resources && rc == 0; i++)
        rc = load_resource(g, &in->resources[i]);
    for (unsigned i = 0; i < g->num_scanouts && rc == 0; i++)
        rc = load_scanout(g, i, &in->scanouts[i]);
    if (rc < 0)
        drop_all_resources(g);
    return rc;
}

int virtio_gpu_load(struct device *dev, const struct virtio_gpu_state *in)
{
    struct virtio_gpu *g = virtio_gpu_of(dev);
    virtio_mmio_lock(g->transport);
    int rc = load_locked(g, in);
    virtio_mmio_unlock(g->transport);
    return rc;
}

/* ---- the state as its message ----------------------------------------------------------- */

typedef Ignition__Devices__VirtioGpuState GpuMsg;
typedef Ignition__Devices__GpuScanout ScanoutMsg;
typedef Ignition__Devices__GpuRect RectMsg;
typedef Ignition__Devices__GpuCursor CursorMsg;
typedef Ignition__Devices__GpuResource ResourceMsg;
typedef Ignition__Devices__GpuBacking BackingMsg;

/* What an encoding allocates, freed together once it is packed. */
struct gpu_msgs {
    ScanoutMsg scanouts[DISPLAY_MAX_SCANOUTS];
    ScanoutMsg *scanout_list[DISPLAY_MAX_SCANOUTS];
    RectMsg rects[DISPLAY_MAX_SCANOUTS];
    CursorMsg cursors[DISPLAY_MAX_SCANOUTS];
    ResourceMsg *resources;
    ResourceMsg **resource_list;
    BackingMsg *backing;
    BackingMsg **backing_list;
};

static void encode_scanout(const struct virtio_gpu_scanout_state *s, struct gpu_msgs *p,
                           unsigned i)
{
    ScanoutMsg *m = &p->scanouts[i];
    RectMsg *r = &p->rects[i];
    CursorMsg *c = &p->cursors[i];
    ignition__devices__gpu_scanout__init(m);
    ignition__devices__gpu_rect__init(r);
    ignition__devices__gpu_cursor__init(c);
    m->enabled = s->enabled, m->width = s->width, m->height = s->height;
    m->resource_id = s->resource_id;
    r->x = s->rect.x, r->y = s->rect.y, r->width = s->rect.width, r->height = s->rect.height;
    c->resource_id = s->cursor.resource_id;
    c->hot_x = s->cursor.hot_x, c->hot_y = s->cursor.hot_y;
    c->x = s->cursor.x, c->y = s->cursor.y;
    m->rect = r;
    m->cursor = c;
    p->scanout_list[i] = m;
}

static size_t total_backing(const struct virtio_gpu_state *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->num_resources; i++)
        n += s->resources[i].num_backing;
    return n;
}

static int alloc_msgs(const struct virtio_gpu_state *s, struct gpu_msgs *p)
{
    size_t backing = total_backing(s);
    p->resources = calloc(s->num_resources ? s->num_resources : 1, sizeof(*p->resources));
    p->resource_list = calloc(s->num_resources ? s->num_resources : 1, sizeof(*p->resource_list));
    p->backing = calloc(backing ? backing : 1, sizeof(*p->backing));
    p->backing_list = calloc(backing ? backing : 1, sizeof(*p->backing_list));
    return p->resources && p->resource_list && p->backing && p->backing_list ? 0 : -ENOMEM;
}

static void free_msgs(struct gpu_msgs *p)
{
    free(p->resources);
    free(p->resource_list);
    free(p->backing);
    free(p->backing_list);
}

static void encode_resources(const struct virtio_gpu_state *s, struct gpu_msgs *p)
{
    size_t at = 0;
    for (size_t i = 0; i < s->num_resources; i++) {
        const struct virtio_gpu_resource_state *r = &s->resources[i];
        ResourceMsg *m = &p->resources[i];
        ignition__devices__gpu_resource__init(m);
        m->id = r->id, m->format = r->format, m->width = r->width, m->height = r->height;
        m->backing = &p->backing_list[at];
        m->n_backing = r->num_backing;
        for (uint32_t j = 0; j < r->num_backing; j++, at++) {
            ignition__devices__gpu_backing__init(&p->backing[at]);
            p->backing[at].gpa = r->backing[j].gpa;
            p->backing[at].len = r->backing[j].len;
            p->backing_list[at] = &p->backing[at];
        }
        p->resource_list[i] = m;
    }
}

int virtio_gpu_state_encode(const struct virtio_gpu_state *s, struct device_state_bytes *out)
{
    if (s->num_scanouts > DISPLAY_MAX_SCANOUTS || s->num_resources > VIRTIO_GPU_MAX_RESOURCES)
        return -EINVAL;
    struct gpu_msgs *p = calloc(1, sizeof(*p));
    int rc = p ? alloc_msgs(s, p) : -ENOMEM;
    if (rc == 0) {
        GpuMsg m = IGNITION__DEVICES__VIRTIO_GPU_STATE__INIT;
        m.events_read = s->events_read;
        for (unsigned i = 0; i < s->num_scanouts; i++)
            encode_scanout(&s->scanouts[i], p, i);
        encode_resources(s, p);
        m.n_scanouts = s->num_scanouts;
        m.scanouts = p->scanout_list;
        m.n_resources = s->num_resources;
        m.resources = p->resource_list;
        rc = device_state_pack(&m.base, out);
    }
    if (p)
        free_msgs(p);
    free(p);
    return rc;
}

static void decode_scanout(const ScanoutMsg *m, struct virtio_gpu_scanout_state *s)
{
    s->enabled = m->enabled;
    s->width = m->width, s->height = m->height;
    s->resource_id = m->resource_id;
    if (m->rect)
        s->rect = (struct display_rect){m->rect->x, m->rect->y, m->rect->width, m->rect->height};
    if (m->cursor) {
        const CursorMsg *c = m->cursor;
        s->cursor = (struct virtio_gpu_cursor_state){c->resource_id, c->hot_x, c->hot_y, c->x,
                                                     c->y};
    }
}

static int decode_resource(const ResourceMsg *m, struct virtio_gpu_resource_state *r)
{
    r->id = m->id, r->format = m->format, r->width = m->width, r->height = m->height;
    if (m->n_backing == 0)
        return 0;
    r->backing = calloc(m->n_backing, sizeof(*r->backing));
    if (!r->backing)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_backing; i++)
        r->backing[i] = (struct virtio_gpu_backing_entry){m->backing[i]->gpa, m->backing[i]->len};
    r->num_backing = (uint32_t)m->n_backing;
    return 0;
}

static int check_counts(const GpuMsg *m, char *err, size_t err_len)
{
    if (m->n_scanouts > DISPLAY_MAX_SCANOUTS)
        return device_state_refuse(err, err_len, "%zu gpu scanouts, more than %d",
                                   m->n_scanouts, DISPLAY_MAX_SCANOUTS);
    if (m->n_resources > VIRTIO_GPU_MAX_RESOURCES)
        return device_state_refuse(err, err_len, "%zu gpu resources, more than %u",
                                   m->n_resources, VIRTIO_GPU_MAX_RESOURCES);
    size_t backing = 0;
    for (size_t i = 0; i < m->n_resources; i++) {
        if (m->resources[i]->n_backing > VIRTIO_GPU_STATE_MAX_BACKING - backing)
            return device_state_refuse(err, err_len, "gpu resources with more than %u backing "
                                       "entries in all", VIRTIO_GPU_STATE_MAX_BACKING);
        backing += m->resources[i]->n_backing;
    }
    return 0;
}

static int decode_message(const GpuMsg *m, struct virtio_gpu_state *s, char *err,
                          size_t err_len)
{
    int rc = check_counts(m, err, err_len);
    if (rc < 0)
        return rc;
    s->events_read = m->events_read;
    for (size_t i = 0; i < m->n_scanouts; i++)
        decode_scanout(m->scanouts[i], &s->scanouts[i]);
    s->num_scanouts = (unsigned)m->n_scanouts;
    if (m->n_resources == 0)
        return 0;
    s->resources = calloc(m->n_resources, sizeof(*s->resources));
    if (!s->resources)
        return -ENOMEM;
    s->num_resources = m->n_resources;
    for (size_t i = 0; i < m->n_resources; i++)
        if (decode_resource(m->resources[i], &s->resources[i]) < 0)
            return -ENOMEM;
    return 0;
}

int virtio_gpu_state_decode(const uint8_t *state, size_t len, struct virtio_gpu_state *out,
                            char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    GpuMsg *m = (GpuMsg *)device_state_unpack(&ignition__devices__virtio_gpu_state__descriptor,
                                              state, len, "the virtio-gpu", err, err_len);
    if (!m)
        return -EINVAL;
    int rc = decode_message(m, out, err, err_len);
    device_state_free_unpacked(m);
    if (rc < 0)
        virtio_gpu_state_free(out);
    return rc;
}

/* The device table's entries (transport locked). */
static int gpu_save(void *dev, struct device_state_bytes *out)
{
    struct virtio_gpu_state st;
    int rc = save_state(dev, &st);
    if (rc == 0)
        rc = virtio_gpu_state_encode(&st, out);
    virtio_gpu_state_free(&st);
    return rc;
}

/* After the transport's registers and queues are checked, with RAM in place:
 * the resources' pixels are read back from it. */
static int gpu_load(void *dev, const uint8_t *state, size_t len, char *err, size_t err_len)
{
    struct virtio_gpu *g = dev;
    struct virtio_gpu_state st;
    int rc = virtio_gpu_state_decode(state, len, &st, err, err_len);
    if (rc == 0) {
        virtio_mmio_lock(g->transport);
        rc = load_locked(g, &st);
        virtio_mmio_unlock(g->transport);
        if (rc < 0)
            device_state_refuse(err, err_len, "the virtio-gpu's resources or scanouts are %s",
                                rc == -ENOMEM ? "more than its memory allows"
                                              : "inconsistent or out of range");
    }
    virtio_gpu_state_free(&st);
    return rc;
}
