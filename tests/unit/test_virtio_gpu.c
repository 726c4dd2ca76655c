/* virtio-gpu commands as Linux sends them and as a hostile guest might, with
 * real bytes in a fake guest RAM: display info and EDID, resources in every
 * format, backing lists (scattered, split across segments, outside RAM),
 * transfers checked pixel by pixel through a viewer's read-only mapping,
 * scanouts and their one shared object each (kept across flips, only what
 * differs copied and reported), flushes, the cursor queue, fences, every rejection, the memory
 * budget, host mode requests, config space, reset, the whole device through
 * the transport, and snapshot state saved from one device and loaded into
 * another. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "byteorder.h"
#include "devices/edid.h"
#include "devices/virtio.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_mmio.h"
#include "linux_virtio_gpu.h"
#include "scanout.h"
#include "unit.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE (4u << 20)

static uint8_t *mem;
static struct guest_ram ram;
static struct device *dev;
static struct virtio_gpu *gpu;
static int edges;

static uint8_t *at(uint64_t gpa) { return mem + (gpa - RAM_GPA); }

/* ---- what the publisher is told --------------------------------------------------------- */

struct seen_scanout {
    int calls;
    struct display_scanout last;
    int fd; /* our dup of the last ro_fd, as a publisher keeps it; -1: none */
};

struct seen_flush {
    unsigned scanout;
    struct display_rect rect;
    uint64_t sequence;
};

static struct seen_scanout seen[DISPLAY_MAX_SCANOUTS];
static struct seen_flush flushes[16];
static int num_flushes;
static int cursor_images, cursor_moves;
static unsigned cursor_scanout, move_scanout;
static bool cursor_visible;
static struct display_cursor cursor;
static uint8_t cursor_copy[64 * 64 * 4];
static int32_t move_x, move_y;

static void on_scanout_changed(void *opaque, unsigned id, const struct display_scanout *s)
{
    (void)opaque;
    ck_assert_uint_lt(id, DISPLAY_MAX_SCANOUTS);
    struct seen_scanout *v = &seen[id];
    v->calls++;
    v->last = *s;
    if (v->fd >= 0)
        close(v->fd);
    v->fd = s->enabled ? dup(s->ro_fd) : -1;
    if (s->enabled) {
        ck_assert_int_ge(v->fd, 0);
        /* The pixels the scanout shows are inside the mapping it names. */
        ck_assert_uint_ge(s->object_size,
                          SCANOUT_SHM_HEADER_SIZE + (uint64_t)s->stride * s->resource_height);
        ck_assert_uint_le(s->rect.x + s->rect.width, s->resource_width);
        ck_assert_uint_le(s->rect.y + s->rect.height, s->resource_height);
    }
}

static void on_flushed(void *opaque, unsigned id, struct display_rect rect, uint64_t sequence)
{
    (void)opaque;
    ck_assert_int_lt(num_flushes, 16);
    flushes[num_flushes++] = (struct seen_flush){id, rect, sequence};
}

static void on_cursor_image(void *opaque, unsigned id, const struct display_cursor *c)
{
    (void)opaque;
    cursor_images++;
    cursor_scanout = id;
    cursor_visible = c != NULL;
    if (c) {
        cursor = *c;
        ck_assert_uint_le((uint64_t)c->width * c->height * 4, sizeof(cursor_copy));
        memcpy(cursor_copy, c->pixels, (size_t)c->width * c->height * 4);
        cursor.pixels = cursor_copy;
    }
}

static void on_cursor_move(void *opaque, unsigned id, int32_t x, int32_t y)
{
    (void)opaque;
    cursor_moves++;
    move_scanout = id;
    move_x = x;
    move_y = y;
}

static const struct display_ops recorder = {
    .scanout_changed = on_scanout_changed, .flushed = on_flushed,
    .cursor_image = on_cursor_image, .cursor_move = on_cursor_move,
};

static void on_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid;
    if (level)
        edges++;
}

static void forget_seen(void)
{
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++) {
        if (seen[i].fd >= 0)
            close(seen[i].fd);
        seen[i] = (struct seen_scanout){.fd = -1};
    }
    num_flushes = cursor_images = cursor_moves = 0;
    cursor_visible = false;
}

static struct device *make_device(const struct guest_ram *r, unsigned scanouts, uint64_t budget)
{
    struct virtio_gpu_options opts = {.num_scanouts = scanouts, .max_host_bytes = budget,
                                      .display = &recorder};
    return virtio_gpu_create(0x0a000000, (struct irq_line){.set = on_irq, .intid = 52}, r,
                             &opts);
}

static void create_device(unsigned scanouts, uint64_t budget)
{
    if (dev)
        dev->ops->destroy(dev);
    forget_seen();
    dev = make_device(&ram, scanouts, budget);
    ck_assert_ptr_nonnull(dev);
    gpu = virtio_gpu_of(dev);
}

static void setup(void)
{
    mem = calloc(1, RAM_SIZE);
    ram = (struct guest_ram){.gpa = RAM_GPA, .size = RAM_SIZE, .host = mem};
    edges = 0;
    for (unsigned i = 0; i < DISPLAY_MAX_SCANOUTS; i++)
        seen[i].fd = -1;
    dev = NULL;
    create_device(2, 0);
}

static void teardown(void)
{
    dev->ops->destroy(dev);
    dev = NULL;
    forget_seen();
    free(mem);
}

/* ---- building requests ------------------------------------------------------------------ */

static uint8_t req[4096], resp[2048];
static uint32_t req_len, resp_room;
static int written;
static struct virtq_chain chain;

static void add(void *host, uint32_t len, bool writable)
{
    chain.segments[chain.num_segments++] =
        (struct virtq_segment){.host = host, .len = len, .device_writable = writable};
    if (writable)
        chain.writable_len += len;
    else
        chain.readable_len += len;
}

static void begin(uint32_t type)
{
    memset(req, 0, sizeof(req));
    le_put(req, type, 4);
    req_len = VIRTIO_GPU_HDR_SIZE;
    resp_room = sizeof(resp);
}

static void put32(unsigned off, uint32_t v)
{
    le_put(req + off, v, 4);
    if (off + 4 > req_len)
        req_len = off + 4;
}

static void put64(unsigned off, uint64_t v)
{
    le_put(req + off, v, 8);
    if (off + 8 > req_len)
        req_len = off + 8;
}

static void put_rect(unsigned off, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    put32(off, x);
    put32(off + 4, y);
    put32(off + 8, w);
    put32(off + 12, h);
}

/* The request as one readable segment, then resp_room bytes to write into. */
static void frame(void)
{
    memset(&chain, 0, sizeof(chain));
    memset(resp, 0xee, sizeof(resp));
    add(req, req_len, false);
    if (resp_room)
        add(resp, resp_room, true);
}

/* Sends the request on the control queue; returns the response type. */
static uint32_t run(void)
{
    frame();
    written = virtio_gpu_handle_control(gpu, &chain);
    return written >= 4 ? le32(resp) : 0;
}

static uint32_t run_cursor(void)
{
    frame();
    written = (int)virtio_gpu_handle_cursor(gpu, &chain);
    return written >= 4 ? le32(resp) : 0;
}

static uint32_t create(uint32_t id, uint32_t format, uint32_t width, uint32_t height)
{
    begin(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D);
    put32(VIRTIO_GPU_CREATE_2D_RESOURCE_ID, id);
    put32(VIRTIO_GPU_CREATE_2D_FORMAT, format);
    put32(VIRTIO_GPU_CREATE_2D_WIDTH, width);
    put32(VIRTIO_GPU_CREATE_2D_HEIGHT, height);
    return run();
}

static void put_entries(uint32_t id, unsigned n, const uint64_t *gpa, const uint32_t *len)
{
    begin(VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING);
    put32(VIRTIO_GPU_ATTACH_BACKING_RESOURCE_ID, id);
    put32(VIRTIO_GPU_ATTACH_BACKING_NR_ENTRIES, n);
    for (unsigned i = 0; i < n; i++) {
        unsigned e = VIRTIO_GPU_ATTACH_BACKING_SIZE + i * VIRTIO_GPU_MEM_ENTRY_SIZE;
        put64(e + VIRTIO_GPU_MEM_ENTRY_ADDR, gpa[i]);
        put32(e + VIRTIO_GPU_MEM_ENTRY_LENGTH, len[i]);
        put32(e + 12, 0);
    }
}

static uint32_t attach(uint32_t id, unsigned n, const uint64_t *gpa, const uint32_t *len)
{
    put_entries(id, n, gpa, len);
    return run();
}

static uint32_t attach_one(uint32_t id, uint64_t gpa, uint32_t len)
{
    return attach(id, 1, &gpa, &len);
}

static uint32_t detach(uint32_t id)
{
    begin(VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING);
    put32(VIRTIO_GPU_DETACH_BACKING_RESOURCE_ID, id);
    put32(VIRTIO_GPU_DETACH_BACKING_RESOURCE_ID + 4, 0);
    return run();
}

static uint32_t unref(uint32_t id)
{
    begin(VIRTIO_GPU_CMD_RESOURCE_UNREF);
    put32(VIRTIO_GPU_UNREF_RESOURCE_ID, id);
    put32(VIRTIO_GPU_UNREF_RESOURCE_ID + 4, 0);
    return run();
}

static uint32_t set_scanout(uint32_t scanout, uint32_t id, uint32_t x, uint32_t y, uint32_t w,
                            uint32_t h)
{
    begin(VIRTIO_GPU_CMD_SET_SCANOUT);
    put_rect(VIRTIO_GPU_SET_SCANOUT_RECT, x, y, w, h);
    put32(VIRTIO_GPU_SET_SCANOUT_SCANOUT_ID, scanout);
    put32(VIRTIO_GPU_SET_SCANOUT_RESOURCE_ID, id);
    return run();
}

static uint32_t transfer(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                         uint64_t offset)
{
    begin(VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D);
    put_rect(VIRTIO_GPU_TRANSFER_RECT, x, y, w, h);
    put64(VIRTIO_GPU_TRANSFER_OFFSET, offset);
    put32(VIRTIO_GPU_TRANSFER_RESOURCE_ID, id);
    put32(VIRTIO_GPU_TRANSFER_RESOURCE_ID + 4, 0);
    return run();
}

static uint32_t flush(uint32_t id, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    begin(VIRTIO_GPU_CMD_RESOURCE_FLUSH);
    put_rect(VIRTIO_GPU_FLUSH_RECT, x, y, w, h);
    put32(VIRTIO_GPU_FLUSH_RESOURCE_ID, id);
    put32(VIRTIO_GPU_FLUSH_RESOURCE_ID + 4, 0);
    return run();
}

static void cursor_request(uint32_t type, uint32_t scanout, uint32_t x, uint32_t y,
                           uint32_t id, uint32_t hot_x, uint32_t hot_y)
{
    begin(type);
    put32(VIRTIO_GPU_CURSOR_SCANOUT_ID, scanout);
    put32(VIRTIO_GPU_CURSOR_X, x);
    put32(VIRTIO_GPU_CURSOR_Y, y);
    put32(VIRTIO_GPU_CURSOR_RESOURCE_ID, id);
    put32(VIRTIO_GPU_CURSOR_HOT_X, hot_x);
    put32(VIRTIO_GPU_CURSOR_HOT_Y, hot_y);
    put32(VIRTIO_GPU_UPDATE_CURSOR_SIZE - 4, 0);
}

/* A resource with one linear backing at gpa, filled with pattern bytes. */
static void make_backed(uint32_t id, uint32_t format, uint32_t w, uint32_t h, uint64_t gpa)
{
    ck_assert_uint_eq(create(id, format, w, h), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(attach_one(id, gpa, w * h * 4), VIRTIO_GPU_RESP_OK_NODATA);
}

/* A viewer's view: the object behind a scanout, mapped read-only. */
struct view {
    const uint8_t *map;
    size_t size;
};

static struct view map_scanout(unsigned scanout)
{
    ck_assert_int_ge(seen[scanout].fd, 0);
    size_t size = (size_t)seen[scanout].last.object_size;
    void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, seen[scanout].fd, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    return (struct view){p, size};
}

static void unmap_view(struct view v)
{
    munmap((void *)v.map, v.size);
}

static const struct scanout_shm_header *header(struct view v)
{
    return (const struct scanout_shm_header *)(const void *)v.map;
}

static const uint8_t *pixel(struct view v, uint32_t stride, uint32_t x, uint32_t y)
{
    return v.map + SCANOUT_SHM_HEADER_SIZE + (size_t)y * stride + (size_t)x * 4;
}

/* What a scanout's shared object takes: header and rows, whole pages. */
static uint64_t object_bytes(uint32_t w, uint32_t h)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    return (SCANOUT_SHM_HEADER_SIZE + (uint64_t)w * 4 * h + page - 1) / page * page;
}

/* What a resource's own pixels take: rows, whole pages. */
static uint64_t resource_bytes(uint32_t w, uint32_t h)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    return ((uint64_t)w * 4 * h + page - 1) / page * page;
}

/* ---- display info and EDID -------------------------------------------------------------- */

START_TEST(test_get_display_info)
{
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    ck_assert_int_eq(written, VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE);
    const uint8_t *one = resp + VIRTIO_GPU_HDR_SIZE;
    ck_assert_uint_eq(le32(one + 0), 0);    /* x */
    ck_assert_uint_eq(le32(one + 4), 0);    /* y */
    ck_assert_uint_eq(le32(one + 8), 1280); /* the default mode */
    ck_assert_uint_eq(le32(one + 12), 800);
    ck_assert_uint_eq(le32(one + VIRTIO_GPU_DISPLAY_ONE_ENABLED), 1);
    ck_assert_uint_eq(le32(one + 20), 0); /* flags */
    /* The second scanout waits for a mode; the rest do not exist. */
    for (unsigned i = 1; i < VIRTIO_GPU_MAX_SCANOUTS; i++)
        for (unsigned b = 0; b < VIRTIO_GPU_DISPLAY_ONE_SIZE; b++)
            ck_assert_uint_eq(one[i * VIRTIO_GPU_DISPLAY_ONE_SIZE + b], 0);
    ck_assert_uint_eq(resp[VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE], 0xee); /* nothing past it */
}
END_TEST

static uint32_t get_edid(uint32_t scanout)
{
    begin(VIRTIO_GPU_CMD_GET_EDID);
    put32(VIRTIO_GPU_GET_EDID_SCANOUT, scanout);
    put32(VIRTIO_GPU_GET_EDID_SCANOUT + 4, 0);
    return run();
}

START_TEST(test_get_edid)
{
    ck_assert_uint_eq(get_edid(0), VIRTIO_GPU_RESP_OK_EDID);
    ck_assert_int_eq(written, VIRTIO_GPU_RESP_EDID_SIZE);
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_RESP_EDID_SIZE_FIELD), 128);
    const uint8_t *e = resp + VIRTIO_GPU_RESP_EDID_DATA;
    uint8_t expected[EDID_BLOCK_SIZE];
    ck_assert(edid_generate(1280, 800, 1, expected));
    ck_assert_mem_eq(e, expected, EDID_BLOCK_SIZE);
    static const uint8_t magic[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
    ck_assert_mem_eq(e, magic, 8);
    unsigned sum = 0;
    for (int i = 0; i < EDID_BLOCK_SIZE; i++)
        sum += e[i];
    ck_assert_uint_eq(sum % 256, 0);
    /* The preferred timing is the scanout's mode. */
    ck_assert_uint_eq(e[56] | (e[58] >> 4) << 8, 1280);
    ck_assert_uint_eq(e[59] | (e[61] >> 4) << 8, 800);
    for (int i = EDID_BLOCK_SIZE; i < VIRTIO_GPU_EDID_BYTES; i++)
        ck_assert_uint_eq(e[i], 0);
    /* Scanouts are told apart by serial. */
    ck_assert_uint_eq(get_edid(1), VIRTIO_GPU_RESP_OK_EDID);
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_RESP_EDID_DATA + 12), 2);
    ck_assert_uint_eq(get_edid(2), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
    ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
    ck_assert_uint_eq(get_edid(0xffffffffu), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
}
END_TEST

/* Beyond what a base block describes, the EDID is empty and Linux falls back
 * to the display info. */
START_TEST(test_edid_of_huge_mode_is_empty)
{
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 1, 5120, 2880), 0);
    ck_assert_uint_eq(get_edid(1), VIRTIO_GPU_RESP_OK_EDID);
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_RESP_EDID_SIZE_FIELD), 0);
    for (int i = 0; i < VIRTIO_GPU_EDID_BYTES; i++)
        ck_assert_uint_eq(resp[VIRTIO_GPU_RESP_EDID_DATA + i], 0);
}
END_TEST

/* ---- headers, fences, malformed requests ------------------------------------------------ */

static void put_header_fields(uint32_t flags, uint64_t fence, uint32_t ctx, uint8_t ring)
{
    put32(VIRTIO_GPU_HDR_FLAGS, flags);
    put64(VIRTIO_GPU_HDR_FENCE_ID, fence);
    put32(VIRTIO_GPU_HDR_CTX_ID, ctx);
    req[VIRTIO_GPU_HDR_RING_IDX] = ring;
}

START_TEST(test_fence_echoed)
{
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    put_header_fields(VIRTIO_GPU_FLAG_FENCE | VIRTIO_GPU_FLAG_INFO_RING_IDX | 0x80,
                      0x1122334455667788ull, 7, 5);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    static const uint8_t fenced[VIRTIO_GPU_HDR_SIZE] = {
        0x01, 0x11, 0, 0,                               /* OK_DISPLAY_INFO */
        3, 0, 0, 0,                                     /* FENCE | INFO_RING_IDX only */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* fence_id */
        7, 0, 0, 0,                                     /* ctx_id */
        5, 0, 0, 0,                                     /* ring_idx, padding */
    };
    ck_assert_mem_eq(resp, fenced, VIRTIO_GPU_HDR_SIZE);

    /* Errors echo the fence too: the driver waits on it either way. */
    begin(VIRTIO_GPU_CMD_RESOURCE_UNREF);
    put_header_fields(VIRTIO_GPU_FLAG_FENCE, 42, 0, 9);
    put32(VIRTIO_GPU_UNREF_RESOURCE_ID, 99);
    put32(VIRTIO_GPU_UNREF_RESOURCE_ID + 4, 0);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_HDR_FLAGS), VIRTIO_GPU_FLAG_FENCE);
    ck_assert_uint_eq(le64(resp + VIRTIO_GPU_HDR_FENCE_ID), 42);
    ck_assert_uint_eq(resp[VIRTIO_GPU_HDR_RING_IDX], 0); /* no INFO_RING_IDX */

    /* Without FENCE, no fence id comes back. */
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    put_header_fields(0, 42, 3, 1);
    run();
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_HDR_FLAGS), 0);
    ck_assert_uint_eq(le64(resp + VIRTIO_GPU_HDR_FENCE_ID), 0);
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_HDR_CTX_ID), 3);
    ck_assert_uint_eq(resp[VIRTIO_GPU_HDR_RING_IDX], 0);
}
END_TEST

START_TEST(test_malformed_requests)
{
    /* Shorter than a header: no fields to echo. */
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    req_len = VIRTIO_GPU_HDR_SIZE - 1;
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
    for (int i = 4; i < VIRTIO_GPU_HDR_SIZE; i++)
        ck_assert_uint_eq(resp[i], 0);
    /* Shorter than the command. */
    begin(VIRTIO_GPU_CMD_RESOURCE_CREATE_2D);
    put32(VIRTIO_GPU_CREATE_2D_HEIGHT, 1);
    req_len--;
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), 0);
    begin(VIRTIO_GPU_CMD_GET_EDID);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    /* Unknown, and everything 3D, blob, capset or UUID: not offered. */
    static const uint32_t unsupported[] = {
        0, 0x99, 0x0fff, VIRTIO_GPU_CMD_GET_CAPSET_INFO, VIRTIO_GPU_CMD_GET_CAPSET,
        VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID, VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB,
        VIRTIO_GPU_CMD_SET_SCANOUT_BLOB, VIRTIO_GPU_CMD_CTX_CREATE, VIRTIO_GPU_CMD_CTX_DESTROY,
        VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE,
        VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D,
        VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, VIRTIO_GPU_CMD_SUBMIT_3D,
        VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB,
        VIRTIO_GPU_CMD_UPDATE_CURSOR, VIRTIO_GPU_CMD_MOVE_CURSOR, VIRTIO_GPU_RESP_OK_NODATA,
    };
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        begin(unsupported[i]);
        req_len = 256; /* room for any of their structs */
        ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_UNSPEC);
        ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
    }
}
END_TEST

/* A response needs a writable header; a data response needs all its room. */
START_TEST(test_room_for_the_response)
{
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    resp_room = VIRTIO_GPU_HDR_SIZE - 1;
    run();
    ck_assert_int_eq(written, -1);
    resp_room = 0;
    run();
    ck_assert_int_eq(written, -1);
    resp_room = VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE - 1;
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
    /* The response may be split over several writable segments. */
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    memset(&chain, 0, sizeof(chain));
    memset(resp, 0xee, sizeof(resp));
    add(req, req_len, false);
    add(resp, 10, true);
    add(resp + 10, 100, true);
    add(resp + 110, VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE - 110, true);
    ck_assert_int_eq(virtio_gpu_handle_control(gpu, &chain), VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE);
    ck_assert_uint_eq(le32(resp), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_HDR_SIZE + 8), 1280);
}
END_TEST

/* ---- resources ---------------------------------------------------------------------------- */

static const uint32_t all_formats[8] = {
    VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM,
    VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM,
    VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM,
    VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM,
};

/* A scanout's object carries the header a viewer checks, and only a
 * read-only descriptor leaves the device. A new format is a new object. */
START_TEST(test_create_every_format)
{
    for (unsigned i = 0; i < 8; i++) {
        ck_assert_uint_eq(create(10 + i, all_formats[i], 33, 7), VIRTIO_GPU_RESP_OK_NODATA);
        ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
        ck_assert_uint_eq(set_scanout(0, 10 + i, 0, 0, 33, 7), VIRTIO_GPU_RESP_OK_NODATA);
        struct view v = map_scanout(0);
        const struct scanout_shm_header *h = header(v);
        uint64_t size = object_bytes(33, 7);
        ck_assert_uint_eq(h->magic, SCANOUT_SHM_MAGIC);
        ck_assert_uint_eq(h->version, SCANOUT_SHM_VERSION);
        ck_assert_uint_eq(h->header_size, SCANOUT_SHM_HEADER_SIZE);
        ck_assert_uint_eq(h->format, all_formats[i]);
        ck_assert_uint_eq(h->width, 33);
        ck_assert_uint_eq(h->height, 7);
        ck_assert_uint_eq(h->stride, 33 * 4);
        ck_assert_uint_eq(h->sequence, 0);
        ck_assert_uint_eq(h->size, size);
        ck_assert_uint_eq(seen[0].last.object_size, size);
        ck_assert_uint_eq(seen[0].last.format, all_formats[i]);
        unmap_view(v);
        errno = 0;
        ck_assert_ptr_eq(mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
                              seen[0].fd, 0), MAP_FAILED);
        ck_assert_int_eq(errno, EACCES);
        ck_assert_int_lt(write(seen[0].fd, "x", 1), 0);
    }
    ck_assert_int_eq(seen[0].calls, 8);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu),
                      8 * resource_bytes(33, 7) + seen[0].last.object_size);
}
END_TEST

START_TEST(test_create_rejections)
{
    ck_assert_uint_eq(create(0, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8),
                      VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_uint_eq(create(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(create(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8),
                      VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    static const uint32_t bad_formats[] = {0, 5, 66, 69, 120, 122, 133, 135, 0xffffffffu};
    for (size_t i = 0; i < sizeof(bad_formats) / sizeof(bad_formats[0]); i++)
        ck_assert_uint_eq(create(2, bad_formats[i], 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(create(2, 2, 0, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(create(2, 2, 8, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(create(2, 2, 16385, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(create(2, 2, 1, 16385), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(create(2, 2, 0xffffffffu, 0xffffffffu),
                      VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(create(2, 2, 16384, 1), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(create(3, 2, 1, 16384), VIRTIO_GPU_RESP_OK_NODATA);
    /* 16384x16384 is a GiB: over the default budget. */
    ck_assert_uint_eq(create(4, 2, 16384, 16384), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
}
END_TEST

START_TEST(test_memory_budget)
{
    uint64_t one = resource_bytes(256, 256);
    create_device(1, 2 * one + one / 2);
    ck_assert_uint_eq(create(1, 2, 256, 256), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(create(2, 2, 256, 256), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), 2 * one);
    ck_assert_uint_eq(create(3, 2, 256, 256), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), 2 * one);
    /* Backing lists count too, and come back on detach. */
    uint64_t gpa[3] = {RAM_GPA, RAM_GPA + 0x10000, RAM_GPA + 0x20000};
    uint32_t len[3] = {0x10000, 0x10000, 0x20000};
    ck_assert_uint_eq(attach(1, 3, gpa, len), VIRTIO_GPU_RESP_OK_NODATA);
    uint64_t with_list = virtio_gpu_host_bytes(gpu);
    ck_assert_uint_gt(with_list, 2 * one);
    ck_assert_uint_eq(detach(1), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), 2 * one);
    ck_assert_uint_eq(attach(1, 3, gpa, len), VIRTIO_GPU_RESP_OK_NODATA);
    /* Unref returns the object and its list. */
    ck_assert_uint_eq(unref(1), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), one);
    ck_assert_uint_eq(create(3, 2, 256, 256), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(unref(2), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(unref(3), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), 0);
}
END_TEST

START_TEST(test_resource_count_cap)
{
    for (uint32_t id = 1; id <= VIRTIO_GPU_MAX_RESOURCES; id++)
        ck_assert_uint_eq(create(id, 2, 1, 1), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(create(VIRTIO_GPU_MAX_RESOURCES + 1, 2, 1, 1),
                      VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
    ck_assert_uint_eq(unref(7), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(create(VIRTIO_GPU_MAX_RESOURCES + 1, 2, 1, 1), VIRTIO_GPU_RESP_OK_NODATA);
}
END_TEST

START_TEST(test_unref_rejections)
{
    ck_assert_uint_eq(unref(0), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_uint_eq(unref(5), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_uint_eq(create(5, 2, 4, 4), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(unref(5), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(unref(5), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
}
END_TEST

/* ---- backing and transfers -------------------------------------------------------------- */

static uint8_t pattern(uint64_t k)
{
    return (uint8_t)(k * 7 + 3);
}

/* The backing of a 8x4 resource (128 bytes) in three scattered, odd-sized
 * pieces: 40 bytes, 50 bytes, 38 bytes. Backing byte k holds pattern(k). */
static const uint64_t piece_gpa[3] = {RAM_GPA + 0x30005, RAM_GPA + 0x10003, RAM_GPA + 0x20011};
static const uint32_t piece_len[3] = {40, 50, 38};

static void fill_scattered_backing(void)
{
    uint64_t k = 0;
    for (int p = 0; p < 3; p++)
        for (uint32_t i = 0; i < piece_len[p]; i++, k++)
            *at(piece_gpa[p] + i) = pattern(k);
}

START_TEST(test_transfer_scattered_backing)
{
    fill_scattered_backing();
    ck_assert_uint_eq(create(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(attach(1, 3, piece_gpa, piece_len), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(0, 1, 0, 0, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
    /* As Linux sends a damaged rect: offset of its first pixel, rows by stride. */
    ck_assert_uint_eq(transfer(1, 2, 1, 5, 3, 1 * 32 + 2 * 4), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
    struct view v = map_scanout(0);
    /* Viewers see the pixels once they are flushed. */
    ck_assert_uint_eq(pixel(v, 32, 2, 1)[0], 0);
    ck_assert_uint_eq(flush(1, 0, 0, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
    for (uint32_t y = 0; y < 4; y++) {
        for (uint32_t x = 0; x < 8; x++) {
            bool inside = x >= 2 && x < 7 && y >= 1 && y < 4;
            for (uint32_t c = 0; c < 4; c++) {
                uint8_t want = inside ? pattern(y * 32 + x * 4 + c) : 0;
                ck_assert_msg(pixel(v, 32, x, y)[c] == want, "pixel %u,%u byte %u", x, y, c);
            }
        }
    }
    /* An offset that is not the rect's own position: rows still advance by
     * the resource's stride from it. */
    ck_assert_uint_eq(transfer(1, 0, 0, 2, 2, 44), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(flush(1, 0, 0, 2, 2), VIRTIO_GPU_RESP_OK_NODATA);
    for (uint32_t y = 0; y < 2; y++)
        for (uint32_t x = 0; x < 2; x++)
            for (uint32_t c = 0; c < 4; c++)
                ck_assert_uint_eq(pixel(v, 32, x, y)[c], pattern(44 + y * 32 + x * 4 + c));
    unmap_view(v);
}
END_TEST

START_TEST(test_transfer_rejections)
{
    fill_scattered_backing();
    ck_assert_uint_eq(transfer(1, 0, 0, 1, 1, 0), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_uint_eq(create(1, 2, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(transfer(1, 0, 0, 8, 4, 0), VIRTIO_GPU_RESP_ERR_UNSPEC); /* no backing */
    ck_assert_uint_eq(attach(1, 3, piece_gpa, piece_len), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(0, 1, 0, 0, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
    /* Rects outside the resource, with and without wrap-around. */
    ck_assert_uint_eq(transfer(1, 0, 0, 9, 4, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 0, 0, 8, 5, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 7, 0, 2, 1, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 0xffffffffu, 0, 2, 1, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 0, 0xfffffffeu, 1, 4, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 9, 0, 0, 0, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    /* A backing too short for the rect at that offset. */
    ck_assert_uint_eq(transfer(1, 0, 0, 8, 4, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 0, 3, 8, 1, 97), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 0, 0, 1, 1, 128), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 0, 0, 1, 1, UINT64_MAX), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 0, 0, 1, 1, UINT64_MAX - 2),
                      VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    /* Nothing was copied by any of them. */
    struct view v = map_scanout(0);
    for (size_t i = SCANOUT_SHM_HEADER_SIZE; i < SCANOUT_SHM_HEADER_SIZE + 128; i++)
        ck_assert_uint_eq(v.map[i], 0);
    unmap_view(v);
    /* The exact fits pass; an empty rect is nothing to do. */
    ck_assert_uint_eq(transfer(1, 0, 0, 8, 4, 0), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(transfer(1, 0, 3, 8, 1, 96), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(transfer(1, 0, 0, 1, 1, 124), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(transfer(1, 8, 4, 0, 0, 0), VIRTIO_GPU_RESP_OK_NODATA);
}
END_TEST

START_TEST(test_attach_backing_rejections)
{
    ck_assert_uint_eq(attach_one(1, RAM_GPA, 64), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_uint_eq(create(1, 2, 4, 4), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(attach_one(1, RAM_GPA - 1, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(attach_one(1, RAM_GPA + RAM_SIZE - 63, 64),
                      VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(attach_one(1, UINT64_MAX - 16, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(attach_one(1, 0, 64), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(attach_one(1, RAM_GPA, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(attach_one(1, RAM_GPA, 0xffffffffu), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    /* One bad entry among good ones refuses the lot. */
    uint64_t gpa[3] = {RAM_GPA, RAM_GPA + 0x1000, RAM_GPA + RAM_SIZE};
    uint32_t len[3] = {16, 16, 16};
    ck_assert_uint_eq(attach(1, 3, gpa, len), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(transfer(1, 0, 0, 1, 1, 0), VIRTIO_GPU_RESP_ERR_UNSPEC); /* none attached */
    /* No entries, too many entries, fewer entries than announced. */
    put_entries(1, 0, NULL, NULL);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    put_entries(1, 1, gpa, len);
    put32(VIRTIO_GPU_ATTACH_BACKING_NR_ENTRIES, 16385);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    put32(VIRTIO_GPU_ATTACH_BACKING_NR_ENTRIES, 0xffffffffu);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    put_entries(1, 2, gpa, len);
    put32(VIRTIO_GPU_ATTACH_BACKING_NR_ENTRIES, 3);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    put_entries(1, 2, gpa, len);
    req_len--;
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), resource_bytes(4, 4)); /* no list kept */
    /* Attached once; a second attach needs a detach first. */
    ck_assert_uint_eq(attach(1, 2, gpa, len), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(attach(1, 2, gpa, len), VIRTIO_GPU_RESP_ERR_UNSPEC);
    ck_assert_uint_eq(detach(1), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(detach(1), VIRTIO_GPU_RESP_ERR_UNSPEC);
    ck_assert_uint_eq(detach(9), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_uint_eq(attach(1, 2, gpa, len), VIRTIO_GPU_RESP_OK_NODATA);
}
END_TEST

/* A big resource may take one entry per page of its pixels, beyond 16384. */
START_TEST(test_backing_entry_cap_follows_the_resource)
{
    ck_assert_uint_eq(create(2, 2, 4096, 4096), VIRTIO_GPU_RESP_OK_NODATA); /* 16384 pages */
    static uint8_t big[VIRTIO_GPU_ATTACH_BACKING_SIZE + 16386 * 16];
    for (uint32_t n = 16386; n >= 16385; n--) {
        memset(big, 0, sizeof(big));
        le_put(big, VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, 4);
        le_put(big + VIRTIO_GPU_ATTACH_BACKING_RESOURCE_ID, 2, 4);
        le_put(big + VIRTIO_GPU_ATTACH_BACKING_NR_ENTRIES, n, 4);
        for (uint32_t i = 0; i < n; i++) {
            le_put(big + VIRTIO_GPU_ATTACH_BACKING_SIZE + i * 16, RAM_GPA + i * 64ull, 8);
            le_put(big + VIRTIO_GPU_ATTACH_BACKING_SIZE + i * 16 + 8, 64, 4);
        }
        memset(&chain, 0, sizeof(chain));
        add(big, VIRTIO_GPU_ATTACH_BACKING_SIZE + n * 16, false);
        add(resp, sizeof(resp), true);
        ck_assert_int_eq(virtio_gpu_handle_control(gpu, &chain), VIRTIO_GPU_HDR_SIZE);
        ck_assert_uint_eq(le32(resp), n == 16385 ? VIRTIO_GPU_RESP_OK_NODATA
                                                 : VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    }
}
END_TEST

/* Linux may hand the entry list over in page-sized pieces; any split works. */
START_TEST(test_attach_entries_split_across_segments)
{
    fill_scattered_backing();
    ck_assert_uint_eq(create(1, 2, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
    put_entries(1, 3, piece_gpa, piece_len);
    memset(&chain, 0, sizeof(chain));
    add(req, VIRTIO_GPU_ATTACH_BACKING_SIZE + 5, false);
    add(req + VIRTIO_GPU_ATTACH_BACKING_SIZE + 5, 7, false);
    add(req + VIRTIO_GPU_ATTACH_BACKING_SIZE + 12, 1, false);
    add(req + VIRTIO_GPU_ATTACH_BACKING_SIZE + 13, 3 * 16 - 13, false);
    add(resp, VIRTIO_GPU_HDR_SIZE, true);
    ck_assert_int_eq(virtio_gpu_handle_control(gpu, &chain), VIRTIO_GPU_HDR_SIZE);
    ck_assert_uint_eq(le32(resp), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(0, 1, 0, 0, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(transfer(1, 0, 0, 8, 4, 0), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(flush(1, 0, 0, 8, 4), VIRTIO_GPU_RESP_OK_NODATA);
    struct view v = map_scanout(0);
    for (uint32_t k = 0; k < 128; k++)
        ck_assert_uint_eq(v.map[SCANOUT_SHM_HEADER_SIZE + k], pattern(k));
    unmap_view(v);
}
END_TEST

/* ---- scanouts and flushes ----------------------------------------------------------------- */

START_TEST(test_set_scanout)
{
    ck_assert_uint_eq(create(3, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, 100, 50),
                      VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(1, 3, 10, 5, 80, 40), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[1].calls, 1);
    ck_assert_int_eq(seen[0].calls, 0);
    /* The object is the scanout's own, of the size it shows. */
    const struct display_scanout *s = &seen[1].last;
    ck_assert(s->enabled);
    ck_assert_uint_eq(s->resource_id, 3);
    ck_assert_uint_eq(s->format, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM);
    ck_assert_uint_eq(s->stride, 320);
    ck_assert_uint_eq(s->resource_width, 80);
    ck_assert_uint_eq(s->resource_height, 40);
    ck_assert_uint_eq(s->rect.x, 0);
    ck_assert_uint_eq(s->rect.y, 0);
    ck_assert_uint_eq(s->rect.width, 80);
    ck_assert_uint_eq(s->rect.height, 40);
    ck_assert_uint_eq(s->object_size, object_bytes(80, 40));
    ck_assert_ptr_nonnull(s->map);
    /* The same binding again is no change. */
    ck_assert_uint_eq(set_scanout(1, 3, 10, 5, 80, 40), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[1].calls, 1);
    /* Another part of the same size keeps the object. */
    ck_assert_uint_eq(set_scanout(1, 3, 0, 0, 80, 40), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[1].calls, 1);
    ck_assert_uint_eq(set_scanout(1, 3, 0, 0, 100, 50), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[1].calls, 2);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), resource_bytes(100, 50) + object_bytes(100, 50));
    /* Resource 0 switches it off, whatever rect comes with it. */
    ck_assert_uint_eq(set_scanout(1, 0, 0, 0, 1280, 800), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[1].calls, 3);
    ck_assert(!seen[1].last.enabled);
    ck_assert_int_eq(seen[1].last.ro_fd, -1);
    ck_assert_uint_eq(set_scanout(1, 0, 0, 0, 0, 0), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[1].calls, 3);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), resource_bytes(100, 50));
}
END_TEST

/* A scanout's object beyond the memory budget is refused; the scanout is off. */
START_TEST(test_scanout_over_the_budget)
{
    create_device(1, resource_bytes(256, 256) + object_bytes(64, 64));
    ck_assert_uint_eq(create(1, 2, 256, 256), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(0, 1, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[0].calls, 1);
    ck_assert_uint_eq(set_scanout(0, 1, 0, 0, 256, 256), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
    ck_assert_int_eq(seen[0].calls, 2);
    ck_assert(!seen[0].last.enabled);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), resource_bytes(256, 256));
    ck_assert_uint_eq(flush(1, 0, 0, 256, 256), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 0);
}
END_TEST

START_TEST(test_set_scanout_rejections)
{
    ck_assert_uint_eq(create(3, 2, 100, 50), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(2, 3, 0, 0, 100, 50), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
    ck_assert_uint_eq(set_scanout(0xffffffffu, 0, 0, 0, 0, 0),
                      VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
    ck_assert_uint_eq(set_scanout(0, 4, 0, 0, 100, 50), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_uint_eq(set_scanout(0, 3, 1, 0, 100, 50), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(set_scanout(0, 3, 0, 1, 100, 50), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(set_scanout(0, 3, 0xffffff00u, 0, 0x200, 50),
                      VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(set_scanout(0, 3, 0, 0, 0, 50), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(set_scanout(0, 3, 0, 0, 100, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_int_eq(seen[0].calls, 0);
}
END_TEST

/* An unref of a resource being shown reports the scanouts disabled first. */
START_TEST(test_unref_of_a_scanned_out_resource)
{
    ck_assert_uint_eq(create(3, 2, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(0, 3, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(1, 3, 0, 0, 32, 32), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(unref(3), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[0].calls, 2);
    ck_assert_int_eq(seen[1].calls, 2);
    ck_assert(!seen[0].last.enabled);
    ck_assert(!seen[1].last.enabled);
    ck_assert_uint_eq(flush(3, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), 0);
    /* The scanouts stay off: a new resource with the id is not shown. */
    ck_assert_uint_eq(create(3, 2, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(flush(3, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 0);
}
END_TEST

/* Sets pixels [x0, x1) x [y0, y1) of a w-wide resource backed linearly at gpa
 * to value, and transfers the whole resource. */
static void paint(uint32_t id, uint64_t gpa, uint32_t w, uint32_t h, uint32_t x0, uint32_t y0,
                  uint32_t x1, uint32_t y1, uint8_t value)
{
    for (uint32_t y = y0; y < y1; y++)
        memset(at(gpa + ((uint64_t)y * w + x0) * 4), value, (size_t)(x1 - x0) * 4);
    ck_assert_uint_eq(transfer(id, 0, 0, w, h, 0), VIRTIO_GPU_RESP_OK_NODATA);
}

#define FLUSH_GPA (RAM_GPA + 0x100000)

static void assert_rect(int i, unsigned scanout, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
                        uint64_t sequence)
{
    ck_assert_int_lt(i, num_flushes);
    ck_assert_uint_eq(flushes[i].scanout, scanout);
    ck_assert_uint_eq(flushes[i].rect.x, x);
    ck_assert_uint_eq(flushes[i].rect.y, y);
    ck_assert_uint_eq(flushes[i].rect.width, w);
    ck_assert_uint_eq(flushes[i].rect.height, h);
    ck_assert_uint_eq(flushes[i].sequence, sequence);
}

/* A flush copies into the scanout's object what differs there, clipped to
 * the scanout and in its coordinates, and reports it with a new sequence. */
START_TEST(test_flush)
{
    make_backed(3, 2, 100, 100, FLUSH_GPA);
    paint(3, FLUSH_GPA, 100, 100, 0, 0, 100, 100, 0x11);
    ck_assert_uint_eq(set_scanout(0, 3, 10, 20, 50, 40), VIRTIO_GPU_RESP_OK_NODATA);
    struct view v = map_scanout(0);
    /* The new object holds the picture before the publisher hears of it. */
    ck_assert_uint_eq(pixel(v, 200, 49, 39)[0], 0x11);
    ck_assert_int_eq(num_flushes, 0);
    paint(3, FLUSH_GPA, 100, 100, 0, 0, 30, 30, 0x22);
    ck_assert_uint_eq(flush(3, 0, 0, 30, 30), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
    ck_assert_int_eq(num_flushes, 1);
    assert_rect(0, 0, 0, 0, 20, 10, 1);
    ck_assert_uint_eq(__atomic_load_n(&header(v)->sequence, __ATOMIC_ACQUIRE), 1);
    ck_assert_uint_eq(pixel(v, 200, 19, 9)[0], 0x22);
    ck_assert_uint_eq(pixel(v, 200, 20, 9)[0], 0x11);
    paint(3, FLUSH_GPA, 100, 100, 55, 50, 100, 100, 0x33);
    ck_assert_uint_eq(flush(3, 55, 50, 45, 50), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 2);
    assert_rect(1, 0, 45, 30, 5, 10, 2);
    /* Nothing that differs, or outside what the scanout shows: nothing told. */
    ck_assert_uint_eq(flush(3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(flush(3, 60, 0, 40, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(flush(3, 0, 0, 0, 0), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 2);
    ck_assert_uint_eq(header(v)->sequence, 2);
    /* Two runs of changed rows are two rects, each as narrow as its change. */
    paint(3, FLUSH_GPA, 100, 100, 12, 21, 14, 23, 0x44);
    paint(3, FLUSH_GPA, 100, 100, 30, 40, 31, 41, 0x44);
    paint(3, FLUSH_GPA, 100, 100, 40, 41, 41, 42, 0x44);
    ck_assert_uint_eq(flush(3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 4);
    assert_rect(2, 0, 2, 1, 2, 2, 3);
    assert_rect(3, 0, 20, 20, 11, 2, 3);
    /* Rects outside the resource are refused. */
    ck_assert_uint_eq(flush(3, 0, 0, 101, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(flush(3, 0xfffffff0u, 0, 0x20, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    ck_assert_uint_eq(flush(4, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    /* Mirrored on a second scanout: each object its own, both told. */
    ck_assert_uint_eq(set_scanout(1, 3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    paint(3, FLUSH_GPA, 100, 100, 0, 0, 100, 100, 0x55);
    ck_assert_uint_eq(flush(3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 6);
    assert_rect(4, 0, 0, 0, 50, 40, 4);
    assert_rect(5, 1, 0, 0, 100, 100, 1);
    ck_assert_uint_eq(header(v)->sequence, 4);
    unmap_view(v);
}
END_TEST

/* More runs of changed rows than the publisher keeps apart: the first 15 are
 * reported as they are, the rest as one rectangle around them all. */
START_TEST(test_flush_many_runs_merge)
{
    make_backed(3, 2, 64, 64, FLUSH_GPA);
    ck_assert_uint_eq(set_scanout(0, 3, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
    for (uint32_t run = 0; run < 20; run++)
        paint(3, FLUSH_GPA, 64, 64, run, 3 * run, run + 1, 3 * run + 1, 0x77);
    ck_assert_uint_eq(flush(3, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 16);
    for (int i = 0; i < 15; i++)
        assert_rect(i, 0, (uint32_t)i, 3 * (uint32_t)i, 1, 1, 1);
    assert_rect(15, 0, 15, 45, 5, 13, 1);
}
END_TEST

/* Linux transfers the whole frame for any change, and a flush then looks only
 * at the rows a transfer changed. A partial flush leaves the rows outside it
 * for the next one; a whole-frame flush of a resource nothing shows loses
 * nothing either, since showing it compares everything. */
START_TEST(test_flush_after_partial_flushes)
{
    make_backed(3, 2, 100, 100, FLUSH_GPA);
    ck_assert_uint_eq(set_scanout(0, 3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    struct view v = map_scanout(0);
    paint(3, FLUSH_GPA, 100, 100, 4, 10, 6, 11, 0x21);
    paint(3, FLUSH_GPA, 100, 100, 70, 50, 72, 51, 0x22);
    ck_assert_uint_eq(flush(3, 0, 0, 100, 20), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 1);
    assert_rect(0, 0, 4, 10, 2, 1, 1);
    ck_assert_uint_eq(pixel(v, 400, 70, 50)[0], 0);
    /* Narrower than the frame: row 50 changed left of it stays pending too. */
    ck_assert_uint_eq(flush(3, 80, 0, 20, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 1);
    ck_assert_uint_eq(flush(3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 2);
    assert_rect(1, 0, 70, 50, 2, 1, 2);
    ck_assert_uint_eq(pixel(v, 400, 71, 50)[0], 0x22);
    /* The same frame again: nothing changed, nothing told. */
    paint(3, FLUSH_GPA, 100, 100, 70, 50, 72, 51, 0x22);
    ck_assert_uint_eq(flush(3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 2);
    unmap_view(v);
    /* Flushed while shown nowhere, then shown: the screen has the change. */
    ck_assert_uint_eq(set_scanout(0, 0, 0, 0, 0, 0), VIRTIO_GPU_RESP_OK_NODATA);
    paint(3, FLUSH_GPA, 100, 100, 0, 90, 100, 91, 0x23);
    ck_assert_uint_eq(flush(3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(0, 3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    v = map_scanout(0);
    ck_assert_uint_eq(pixel(v, 400, 99, 90)[0], 0x23);
    ck_assert_uint_eq(pixel(v, 400, 71, 50)[0], 0x22);
    unmap_view(v);
}
END_TEST

/* A compositor's page flip: SET_SCANOUT to another resource of the same size
 * and format keeps the object (no new descriptor for viewers) and copies
 * only what differs; a new size or format makes a new object. */
START_TEST(test_flip_keeps_the_object)
{
    uint64_t gpa_b = FLUSH_GPA + 100 * 100 * 4;
    make_backed(3, 2, 100, 100, FLUSH_GPA);
    make_backed(4, 2, 100, 100, gpa_b);
    paint(3, FLUSH_GPA, 100, 100, 0, 0, 100, 100, 0x11);
    paint(4, gpa_b, 100, 100, 0, 0, 100, 100, 0x11);
    paint(4, gpa_b, 100, 100, 5, 60, 7, 70, 0x66);
    ck_assert_uint_eq(set_scanout(0, 3, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[0].calls, 1);
    struct view v = map_scanout(0);
    for (int flip = 0; flip < 4; flip++) {
        uint32_t id = flip % 2 ? 3 : 4;
        ck_assert_uint_eq(set_scanout(0, id, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
        ck_assert_uint_eq(flush(id, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
        ck_assert_int_eq(seen[0].calls, 1);
        ck_assert_int_eq(num_flushes, flip + 1);
        assert_rect(flip, 0, 5, 60, 2, 10, (uint64_t)flip + 1);
        ck_assert_uint_eq(pixel(v, 400, 6, 65)[0], id == 4 ? 0x66 : 0x11);
    }
    unmap_view(v);
    /* Another format, another size: a new object each. */
    ck_assert_uint_eq(create(5, VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, 100, 100),
                      VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(0, 5, 0, 0, 100, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[0].calls, 2);
    ck_assert_uint_eq(set_scanout(0, 5, 0, 0, 90, 100), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(seen[0].calls, 3);
    ck_assert_uint_eq(seen[0].last.resource_width, 90);
}
END_TEST

/* ---- the cursor queue ------------------------------------------------------------------- */

/* A w x h resource whose pixel (x, y) holds bytes {x, y, 0x80 + x, 0x40 + y}. */
static void make_cursor_resource(uint32_t id, uint32_t format, uint32_t w, uint32_t h)
{
    uint64_t gpa = RAM_GPA + 0x100000;
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            uint8_t *p = at(gpa + (uint64_t)(y * w + x) * 4);
            p[0] = (uint8_t)x, p[1] = (uint8_t)y, p[2] = (uint8_t)(0x80 + x);
            p[3] = (uint8_t)(0x40 + y);
        }
    }
    make_backed(id, format, w, h, gpa);
    ck_assert_uint_eq(transfer(id, 0, 0, w, h, 0), VIRTIO_GPU_RESP_OK_NODATA);
}

START_TEST(test_cursor_update_and_move)
{
    make_cursor_resource(9, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);
    /* Linux's way: no response buffer at all. */
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 1, 300, 200, 9, 5, 6);
    resp_room = 0;
    ck_assert_uint_eq(run_cursor(), 0);
    ck_assert_int_eq(written, 0);
    ck_assert_int_eq(cursor_images, 1);
    ck_assert(cursor_visible);
    ck_assert_uint_eq(cursor_scanout, 1);
    ck_assert_uint_eq(cursor.width, 64);
    ck_assert_uint_eq(cursor.height, 64);
    ck_assert_uint_eq(cursor.hot_x, 5);
    ck_assert_uint_eq(cursor.hot_y, 6);
    for (uint32_t y = 0; y < 64; y++)
        for (uint32_t x = 0; x < 64; x++) {
            const uint8_t *p = cursor_copy + (y * 64 + x) * 4;
            ck_assert(p[0] == x && p[1] == y && p[2] == 0x80 + x && p[3] == 0x40 + y);
        }
    ck_assert_int_eq(cursor_moves, 1);
    ck_assert_uint_eq(move_scanout, 1);
    ck_assert_int_eq(move_x, 300);
    ck_assert_int_eq(move_y, 200);
    /* MOVE_CURSOR only moves; Linux's int32 positions come out signed. */
    cursor_request(VIRTIO_GPU_CMD_MOVE_CURSOR, 1, (uint32_t)-3, 7, 0, 0, 0);
    put_header_fields(VIRTIO_GPU_FLAG_FENCE, 77, 0, 0);
    ck_assert_uint_eq(run_cursor(), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(written, VIRTIO_GPU_HDR_SIZE);
    ck_assert_uint_eq(le64(resp + VIRTIO_GPU_HDR_FENCE_ID), 77);
    ck_assert_int_eq(cursor_images, 1);
    ck_assert_int_eq(cursor_moves, 2);
    ck_assert_int_eq(move_x, -3);
    ck_assert_int_eq(move_y, 7);
    /* Resource 0 hides it, and the position still applies. */
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 1, 10, 11, 0, 0, 0);
    ck_assert_uint_eq(run_cursor(), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(cursor_images, 2);
    ck_assert(!cursor_visible);
    ck_assert_int_eq(cursor_moves, 3);
    ck_assert_int_eq(move_x, 10);
}
END_TEST

/* Bad cursor commands are ignored: OK_NODATA (the queue has no errors), no
 * callbacks. Only what is no cursor command at all gets ERR_UNSPEC. */
START_TEST(test_cursor_rejections)
{
    make_cursor_resource(9, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 2, 0, 0, 9, 0, 0);
    ck_assert_uint_eq(run_cursor(), VIRTIO_GPU_RESP_OK_NODATA);
    cursor_request(VIRTIO_GPU_CMD_MOVE_CURSOR, 0xffffffffu, 0, 0, 9, 0, 0);
    ck_assert_uint_eq(run_cursor(), VIRTIO_GPU_RESP_OK_NODATA);
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 0, 10, 0, 0);
    ck_assert_uint_eq(run_cursor(), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(cursor_images + cursor_moves, 0);
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 0, 9, 0, 0);
    req_len--;
    ck_assert_uint_eq(run_cursor(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    cursor_request(VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 0, 0, 0, 0, 0, 0);
    ck_assert_uint_eq(run_cursor(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    begin(VIRTIO_GPU_CMD_MOVE_CURSOR);
    req_len = 3;
    ck_assert_uint_eq(run_cursor(), VIRTIO_GPU_RESP_ERR_UNSPEC);
    resp_room = 0;
    ck_assert_uint_eq(run_cursor(), 0);
    ck_assert_int_eq(cursor_images + cursor_moves, 0);
}
END_TEST

/* Every format comes out as B, G, R, A bytes; X formats are opaque. */
START_TEST(test_cursor_format_conversion)
{
    static const uint8_t expect[8][4] = {
        {0x11, 0x22, 0x33, 0x44}, /* B8G8R8A8 */
        {0x11, 0x22, 0x33, 0xff}, /* B8G8R8X8 */
        {0x44, 0x33, 0x22, 0x11}, /* A8R8G8B8: A=11 R=22 G=33 B=44 */
        {0x44, 0x33, 0x22, 0xff}, /* X8R8G8B8 */
        {0x33, 0x22, 0x11, 0x44}, /* R8G8B8A8 */
        {0x22, 0x33, 0x44, 0xff}, /* X8B8G8R8 */
        {0x22, 0x33, 0x44, 0x11}, /* A8B8G8R8 */
        {0x33, 0x22, 0x11, 0xff}, /* R8G8B8X8 */
    };
    static const uint8_t source[4] = {0x11, 0x22, 0x33, 0x44};
    for (unsigned i = 0; i < 8; i++) {
        uint64_t gpa = RAM_GPA + 0x200000 + i * 0x1000;
        memcpy(at(gpa), source, 4);
        make_backed(20 + i, all_formats[i], 1, 1, gpa);
        ck_assert_uint_eq(transfer(20 + i, 0, 0, 1, 1, 0), VIRTIO_GPU_RESP_OK_NODATA);
        cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 0, 20 + i, 0, 0);
        run_cursor();
        ck_assert_uint_eq(cursor.width, 1);
        ck_assert_mem_eq(cursor_copy, expect[i], 4);
    }
}
END_TEST

/* Larger resources show their top-left 64x64; smaller ones all of themselves;
 * the hot spot stays inside the image. */
START_TEST(test_cursor_size_clamped)
{
    make_cursor_resource(9, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 100, 80);
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 0, 9, 90, 70);
    run_cursor();
    ck_assert_uint_eq(cursor.width, 64);
    ck_assert_uint_eq(cursor.height, 64);
    ck_assert_uint_eq(cursor.hot_x, 63);
    ck_assert_uint_eq(cursor.hot_y, 63);
    ck_assert_uint_eq(cursor_copy[(10 * 64 + 63) * 4], 63); /* x of pixel (63, 10) */
    ck_assert_uint_eq(cursor_copy[(10 * 64 + 63) * 4 + 1], 10);
    ck_assert_uint_eq(unref(9), VIRTIO_GPU_RESP_OK_NODATA);
    make_cursor_resource(9, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 16, 8);
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 0, 9, 3, 2);
    run_cursor();
    ck_assert_uint_eq(cursor.width, 16);
    ck_assert_uint_eq(cursor.height, 8);
    ck_assert_uint_eq(cursor.hot_x, 3);
    ck_assert_uint_eq(cursor.hot_y, 2);
    ck_assert_uint_eq(cursor_copy[(7 * 16 + 15) * 4 + 2], 0x80 + 15);
}
END_TEST

/* ---- the device through the transport --------------------------------------------------- */

enum { DEVICE_ID = 0x008, DEV_FEATURES = 0x010, DEV_FEATURES_SEL = 0x014, DRV_FEATURES = 0x020,
       DRV_FEATURES_SEL = 0x024, QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038,
       QUEUE_READY = 0x044, QUEUE_NOTIFY = 0x050, INT_STATUS = 0x060, INT_ACK = 0x064,
       STATUS = 0x070, DESC_LOW = 0x080, DRIVER_LOW = 0x090, DEVICE_LOW = 0x0a0,
       CONFIG_GEN = 0x0fc, CONFIG = 0x100 };

/* Two queues of 8, rings at fixed places in RAM. */
#define QUEUE_BASE(q) (RAM_GPA + 0x300000 + (q) * 0x4000ull)
#define DESC(q) QUEUE_BASE(q)
#define AVAIL(q) (QUEUE_BASE(q) + 0x1000)
#define USED(q) (QUEUE_BASE(q) + 0x2000)
#define BUF (RAM_GPA + 0x380000)

static uint64_t rd(uint64_t off, unsigned size) { return dev->ops->read(dev, off, size); }
static void wr(uint64_t off, uint64_t v) { dev->ops->write(dev, off, 4, v); }
static void wr_width(uint64_t off, unsigned size, uint64_t v)
{
    dev->ops->write(dev, off, size, v);
}

static void driver_init(void)
{
    uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_GPU_F_EDID;
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(DRV_FEATURES_SEL, 0);
    wr(DRV_FEATURES, (uint32_t)f);
    wr(DRV_FEATURES_SEL, 1);
    wr(DRV_FEATURES, (uint32_t)(f >> 32));
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    for (unsigned q = 0; q < 2; q++) {
        wr(QUEUE_SEL, q);
        wr(QUEUE_NUM, 8);
        wr(DESC_LOW, (uint32_t)DESC(q));
        wr(DRIVER_LOW, (uint32_t)AVAIL(q));
        wr(DEVICE_LOW, (uint32_t)USED(q));
        wr(QUEUE_READY, 1);
    }
    wr(STATUS, rd(STATUS, 4) | VIRTIO_STATUS_DRIVER_OK);
}

static void put_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *p = at(DESC(q) + 16ull * i);
    le_put(p, addr, 8);
    le_put(p + 8, len, 4);
    le_put(p + 12, flags, 2);
    le_put(p + 14, next, 2);
}

/* Offers descriptor head as the next available chain of q and notifies. */
static void offer(unsigned q, uint16_t head)
{
    uint16_t idx = le16(at(AVAIL(q) + 2));
    le_put(at(AVAIL(q) + 4 + 2 * (idx % 8)), head, 2);
    le_put(at(AVAIL(q) + 2), (uint16_t)(idx + 1), 2);
    wr(QUEUE_NOTIFY, q);
}

static uint16_t used_idx(unsigned q)
{
    return le16(at(USED(q) + 2));
}

static uint32_t used_len(unsigned q, unsigned slot)
{
    return le32(at(USED(q) + 4 + 8 * slot + 4));
}

START_TEST(test_identity_and_config_space)
{
    ck_assert_uint_eq(rd(DEVICE_ID, 4), 16);
    wr(DEV_FEATURES_SEL, 0);
    /* Device-specific bits (0..23): EDID only; no 3D, no blobs, no UUIDs. */
    ck_assert_uint_eq(rd(DEV_FEATURES, 4) & 0xffffff, 1u << VIRTIO_GPU_F_EDID);
    wr(QUEUE_SEL, 1);
    ck_assert_uint_ge(rd(QUEUE_NUM_MAX, 4), 8);
    wr(QUEUE_SEL, 2);
    ck_assert_uint_eq(rd(QUEUE_NUM_MAX, 4), 0); /* two queues only */
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 4), 0);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_EVENTS_CLEAR, 4), 0);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_NUM_SCANOUTS, 4), 2);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_NUM_SCANOUTS, 1), 2);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_NUM_CAPSETS, 4), 0);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_SIZE, 4), 0); /* past the end */
    /* The driver may not write events_read, num_scanouts or num_capsets. */
    wr(CONFIG + VIRTIO_GPU_CFG_NUM_SCANOUTS, 9);
    wr(CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 1);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_NUM_SCANOUTS, 4), 2);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 4), 0);
}
END_TEST

/* The host resizes a display: the guest sees the event, a new config
 * generation and an interrupt, then the new mode in display info and EDID. */
START_TEST(test_request_mode)
{
    driver_init();
    uint32_t generation = (uint32_t)rd(CONFIG_GEN, 4);
    int edges_before = edges;
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 1, 1024, 768), 0);
    ck_assert_uint_ne(rd(CONFIG_GEN, 4), generation);
    ck_assert_int_gt(edges, edges_before);
    ck_assert_uint_eq(rd(INT_STATUS, 4) & 2, 2); /* configuration change */
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 4), VIRTIO_GPU_EVENT_DISPLAY);
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    ck_assert_uint_eq(run(), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    const uint8_t *second = resp + VIRTIO_GPU_HDR_SIZE + VIRTIO_GPU_DISPLAY_ONE_SIZE;
    ck_assert_uint_eq(le32(second + 8), 1024);
    ck_assert_uint_eq(le32(second + 12), 768);
    ck_assert_uint_eq(le32(second + VIRTIO_GPU_DISPLAY_ONE_ENABLED), 1);
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_HDR_SIZE + 8), 1280); /* the first unchanged */
    ck_assert_uint_eq(get_edid(1), VIRTIO_GPU_RESP_OK_EDID);
    const uint8_t *e = resp + VIRTIO_GPU_RESP_EDID_DATA;
    ck_assert_uint_eq(e[56] | (e[58] >> 4) << 8, 1024);
    ck_assert_uint_eq(e[59] | (e[61] >> 4) << 8, 768);
    /* The driver acknowledges by writing the bits to events_clear. */
    wr_width(CONFIG + VIRTIO_GPU_CFG_EVENTS_CLEAR + 1, 1, 0xff); /* not that byte */
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 4), VIRTIO_GPU_EVENT_DISPLAY);
    wr(CONFIG + VIRTIO_GPU_CFG_EVENTS_CLEAR, VIRTIO_GPU_EVENT_DISPLAY);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 4), 0);
    /* Asking for what is already there changes nothing. */
    generation = (uint32_t)rd(CONFIG_GEN, 4);
    edges_before = edges;
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 1, 1024, 768), 0);
    ck_assert_uint_eq(rd(CONFIG_GEN, 4), generation);
    ck_assert_int_eq(edges, edges_before);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 4), 0);
    /* Out of range. */
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 2, 1024, 768), -EINVAL);
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 0, 0, 768), -EINVAL);
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 0, 1024, 16385), -EINVAL);
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 0, 16384, 16384), 0);
}
END_TEST

/* Chains through the rings: a command with a response, a cursor command
 * without one, and a control chain with no room that breaks the device. */
START_TEST(test_queues_through_the_transport)
{
    driver_init();
    int edges_before = edges;
    le_put(at(BUF), VIRTIO_GPU_CMD_GET_DISPLAY_INFO, 4);
    memset(at(BUF + 0x100), 0xee, VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE);
    put_desc(0, 0, BUF, VIRTIO_GPU_HDR_SIZE, VIRTQ_DESC_F_NEXT, 1);
    put_desc(0, 1, BUF + 0x100, VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE, VIRTQ_DESC_F_WRITE, 0);
    offer(0, 0);
    ck_assert_uint_eq(used_idx(0), 1);
    ck_assert_uint_eq(used_len(0, 0), VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE);
    ck_assert_uint_eq(le32(at(BUF + 0x100)), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    ck_assert_uint_eq(le32(at(BUF + 0x100 + VIRTIO_GPU_HDR_SIZE + 8)), 1280);
    ck_assert_int_gt(edges, edges_before);
    ck_assert_uint_eq(rd(INT_STATUS, 4) & 1, 1);
    wr(INT_ACK, 1);

    make_cursor_resource(9, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);
    uint8_t *cmd = at(BUF + 0x1000);
    memset(cmd, 0, VIRTIO_GPU_UPDATE_CURSOR_SIZE);
    le_put(cmd, VIRTIO_GPU_CMD_UPDATE_CURSOR, 4);
    le_put(cmd + VIRTIO_GPU_CURSOR_X, 40, 4);
    le_put(cmd + VIRTIO_GPU_CURSOR_RESOURCE_ID, 9, 4);
    put_desc(1, 0, BUF + 0x1000, VIRTIO_GPU_UPDATE_CURSOR_SIZE, 0, 0);
    offer(1, 0);
    ck_assert_uint_eq(used_idx(1), 1);
    ck_assert_uint_eq(used_len(1, 0), 0);
    ck_assert_int_eq(cursor_images, 1);
    ck_assert_int_eq(move_x, 40);

    put_desc(0, 2, BUF, VIRTIO_GPU_HDR_SIZE, 0, 0);
    offer(0, 2);
    ck_assert_uint_eq(used_idx(0), 1);
    ck_assert(rd(STATUS, 4) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

/* Reset drops every resource (scanouts reported off, cursor hidden) and
 * keeps the modes the host asked for. */
START_TEST(test_reset)
{
    driver_init();
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 1, 800, 600), 0);
    make_cursor_resource(9, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);
    ck_assert_uint_eq(set_scanout(0, 9, 0, 0, 64, 64), VIRTIO_GPU_RESP_OK_NODATA);
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 1, 0, 0, 9, 0, 0);
    run_cursor();
    ck_assert(cursor_visible);
    wr(STATUS, 0);
    ck_assert(!seen[0].last.enabled);
    ck_assert_int_eq(seen[0].calls, 2);
    ck_assert(!cursor_visible);
    ck_assert_uint_eq(cursor_scanout, 1);
    ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), 0);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 4), 0);
    ck_assert_uint_eq(flush(9, 0, 0, 1, 1), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    run();
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_HDR_SIZE + VIRTIO_GPU_DISPLAY_ONE_SIZE + 8), 800);
}
END_TEST

START_TEST(test_bad_options)
{
    struct virtio_gpu_options opts = {.num_scanouts = DISPLAY_MAX_SCANOUTS + 1};
    struct irq_line irq = {0};
    ck_assert_ptr_null(virtio_gpu_create(0, irq, &ram, &opts));
    opts = (struct virtio_gpu_options){.width = 16385};
    ck_assert_ptr_null(virtio_gpu_create(0, irq, &ram, &opts));
    opts = (struct virtio_gpu_options){.num_scanouts = 16, .width = 640, .height = 480};
    struct device *d = virtio_gpu_create(0, irq, &ram, &opts);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(d->ops->read(d, CONFIG + VIRTIO_GPU_CFG_NUM_SCANOUTS, 4), 16);
    d->ops->destroy(d);
    d = virtio_gpu_create(0, irq, &ram, NULL); /* all defaults, nobody told */
    ck_assert_ptr_nonnull(d);
    d->ops->destroy(d);
}
END_TEST

START_TEST(test_constants_match_linux)
{
    const struct linux_virtio_gpu *l = &linux_virtio_gpu;
    ck_assert_int_eq(VIRTIO_ID_GPU, l->id_gpu);
    ck_assert_int_eq(VIRTIO_GPU_F_VIRGL, l->f_virgl);
    ck_assert_int_eq(VIRTIO_GPU_F_EDID, l->f_edid);
    ck_assert_int_eq(VIRTIO_GPU_F_RESOURCE_UUID, l->f_resource_uuid);
    ck_assert_int_eq(VIRTIO_GPU_F_RESOURCE_BLOB, l->f_resource_blob);
    ck_assert_int_eq(VIRTIO_GPU_F_CONTEXT_INIT, l->f_context_init);
    ck_assert_int_eq(VIRTIO_GPU_EVENT_DISPLAY, l->event_display);
    ck_assert_int_eq(VIRTIO_GPU_MAX_SCANOUTS, l->max_scanouts);
    ck_assert_int_eq(DISPLAY_MAX_SCANOUTS, l->max_scanouts);
    ck_assert_int_eq(VIRTIO_GPU_FLAG_FENCE, l->flag_fence);
    ck_assert_int_eq(VIRTIO_GPU_FLAG_INFO_RING_IDX, l->flag_info_ring_idx);
    static const unsigned ours[39] = {
        VIRTIO_GPU_CMD_GET_DISPLAY_INFO, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
        VIRTIO_GPU_CMD_RESOURCE_UNREF, VIRTIO_GPU_CMD_SET_SCANOUT, VIRTIO_GPU_CMD_RESOURCE_FLUSH,
        VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
        VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, VIRTIO_GPU_CMD_GET_CAPSET_INFO,
        VIRTIO_GPU_CMD_GET_CAPSET, VIRTIO_GPU_CMD_GET_EDID, VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID,
        VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB, VIRTIO_GPU_CMD_SET_SCANOUT_BLOB,
        VIRTIO_GPU_CMD_CTX_CREATE, VIRTIO_GPU_CMD_CTX_DESTROY,
        VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE, VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE,
        VIRTIO_GPU_CMD_RESOURCE_CREATE_3D, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D,
        VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D, VIRTIO_GPU_CMD_SUBMIT_3D,
        VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB, VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB,
        VIRTIO_GPU_CMD_UPDATE_CURSOR, VIRTIO_GPU_CMD_MOVE_CURSOR,
        VIRTIO_GPU_RESP_OK_NODATA, VIRTIO_GPU_RESP_OK_DISPLAY_INFO,
        VIRTIO_GPU_RESP_OK_CAPSET_INFO, VIRTIO_GPU_RESP_OK_CAPSET, VIRTIO_GPU_RESP_OK_EDID,
        VIRTIO_GPU_RESP_OK_RESOURCE_UUID, VIRTIO_GPU_RESP_OK_MAP_INFO,
        VIRTIO_GPU_RESP_ERR_UNSPEC, VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY,
        VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID, VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID,
        VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID, VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER,
    };
    for (int i = 0; i < 39; i++)
        ck_assert_msg((int)ours[i] == l->codes[i], "code %d: 0x%x, Linux 0x%x", i, ours[i],
                      (unsigned)l->codes[i]);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(all_formats[i], l->formats[i]);
    ck_assert_int_eq(VIRTIO_GPU_CFG_EVENTS_READ, l->cfg_events_read);
    ck_assert_int_eq(VIRTIO_GPU_CFG_EVENTS_CLEAR, l->cfg_events_clear);
    ck_assert_int_eq(VIRTIO_GPU_CFG_NUM_SCANOUTS, l->cfg_num_scanouts);
    ck_assert_int_eq(VIRTIO_GPU_CFG_NUM_CAPSETS, l->cfg_num_capsets);
    ck_assert_int_eq(VIRTIO_GPU_CFG_SIZE, l->cfg_size);
    ck_assert_int_eq(VIRTIO_GPU_HDR_TYPE, l->hdr_type);
    ck_assert_int_eq(VIRTIO_GPU_HDR_FLAGS, l->hdr_flags);
    ck_assert_int_eq(VIRTIO_GPU_HDR_FENCE_ID, l->hdr_fence_id);
    ck_assert_int_eq(VIRTIO_GPU_HDR_CTX_ID, l->hdr_ctx_id);
    ck_assert_int_eq(VIRTIO_GPU_HDR_RING_IDX, l->hdr_ring_idx);
    ck_assert_int_eq(VIRTIO_GPU_HDR_SIZE, l->hdr_size);
    ck_assert_int_eq(VIRTIO_GPU_RECT_SIZE, l->rect_size);
    ck_assert_int_eq(VIRTIO_GPU_DISPLAY_ONE_SIZE, l->display_one_size);
    ck_assert_int_eq(VIRTIO_GPU_DISPLAY_ONE_ENABLED, l->display_one_enabled);
    ck_assert_int_eq(VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE, l->resp_display_info_size);
    ck_assert_int_eq(VIRTIO_GPU_GET_EDID_SCANOUT, l->get_edid_scanout);
    ck_assert_int_eq(VIRTIO_GPU_GET_EDID_SIZE, l->get_edid_size);
    ck_assert_int_eq(VIRTIO_GPU_RESP_EDID_SIZE_FIELD, l->resp_edid_size_field);
    ck_assert_int_eq(VIRTIO_GPU_RESP_EDID_DATA, l->resp_edid_data);
    ck_assert_int_eq(VIRTIO_GPU_RESP_EDID_SIZE, l->resp_edid_size);
    ck_assert_int_eq(VIRTIO_GPU_EDID_BYTES, l->edid_bytes);
    ck_assert_int_eq(VIRTIO_GPU_CREATE_2D_RESOURCE_ID, l->create_2d_resource_id);
    ck_assert_int_eq(VIRTIO_GPU_CREATE_2D_FORMAT, l->create_2d_format);
    ck_assert_int_eq(VIRTIO_GPU_CREATE_2D_WIDTH, l->create_2d_width);
    ck_assert_int_eq(VIRTIO_GPU_CREATE_2D_HEIGHT, l->create_2d_height);
    ck_assert_int_eq(VIRTIO_GPU_CREATE_2D_SIZE, l->create_2d_size);
    ck_assert_int_eq(VIRTIO_GPU_UNREF_RESOURCE_ID, l->unref_resource_id);
    ck_assert_int_eq(VIRTIO_GPU_UNREF_SIZE, l->unref_size);
    ck_assert_int_eq(VIRTIO_GPU_DETACH_BACKING_RESOURCE_ID, l->detach_resource_id);
    ck_assert_int_eq(VIRTIO_GPU_DETACH_BACKING_SIZE, l->detach_size);
    ck_assert_int_eq(VIRTIO_GPU_SET_SCANOUT_RECT, l->set_scanout_rect);
    ck_assert_int_eq(VIRTIO_GPU_SET_SCANOUT_SCANOUT_ID, l->set_scanout_scanout_id);
    ck_assert_int_eq(VIRTIO_GPU_SET_SCANOUT_RESOURCE_ID, l->set_scanout_resource_id);
    ck_assert_int_eq(VIRTIO_GPU_SET_SCANOUT_SIZE, l->set_scanout_size);
    ck_assert_int_eq(VIRTIO_GPU_FLUSH_RECT, l->flush_rect);
    ck_assert_int_eq(VIRTIO_GPU_FLUSH_RESOURCE_ID, l->flush_resource_id);
    ck_assert_int_eq(VIRTIO_GPU_FLUSH_SIZE, l->flush_size);
    ck_assert_int_eq(VIRTIO_GPU_TRANSFER_RECT, l->transfer_rect);
    ck_assert_int_eq(VIRTIO_GPU_TRANSFER_OFFSET, l->transfer_offset);
    ck_assert_int_eq(VIRTIO_GPU_TRANSFER_RESOURCE_ID, l->transfer_resource_id);
    ck_assert_int_eq(VIRTIO_GPU_TRANSFER_SIZE, l->transfer_size);
    ck_assert_int_eq(VIRTIO_GPU_ATTACH_BACKING_RESOURCE_ID, l->attach_resource_id);
    ck_assert_int_eq(VIRTIO_GPU_ATTACH_BACKING_NR_ENTRIES, l->attach_nr_entries);
    ck_assert_int_eq(VIRTIO_GPU_ATTACH_BACKING_SIZE, l->attach_size);
    ck_assert_int_eq(VIRTIO_GPU_MEM_ENTRY_ADDR, l->mem_entry_addr);
    ck_assert_int_eq(VIRTIO_GPU_MEM_ENTRY_LENGTH, l->mem_entry_length);
    ck_assert_int_eq(VIRTIO_GPU_MEM_ENTRY_SIZE, l->mem_entry_size);
    ck_assert_int_eq(VIRTIO_GPU_CURSOR_SCANOUT_ID, l->cursor_scanout_id);
    ck_assert_int_eq(VIRTIO_GPU_CURSOR_X, l->cursor_x);
    ck_assert_int_eq(VIRTIO_GPU_CURSOR_Y, l->cursor_y);
    ck_assert_int_eq(VIRTIO_GPU_CURSOR_RESOURCE_ID, l->cursor_resource_id);
    ck_assert_int_eq(VIRTIO_GPU_CURSOR_HOT_X, l->cursor_hot_x);
    ck_assert_int_eq(VIRTIO_GPU_CURSOR_HOT_Y, l->cursor_hot_y);
    ck_assert_int_eq(VIRTIO_GPU_UPDATE_CURSOR_SIZE, l->update_cursor_size);
}
END_TEST

/* ---- snapshots ---------------------------------------------------------------------------- */

static void assert_states_equal(const struct virtio_gpu_state *a, const struct virtio_gpu_state *b)
{
    ck_assert_uint_eq(a->num_scanouts, b->num_scanouts);
    ck_assert_uint_eq(a->events_read, b->events_read);
    for (unsigned i = 0; i < a->num_scanouts; i++)
        ck_assert_mem_eq(&a->scanouts[i], &b->scanouts[i], sizeof(a->scanouts[i]));
    ck_assert_uint_eq(a->num_resources, b->num_resources);
    for (size_t i = 0; i < a->num_resources; i++) {
        const struct virtio_gpu_resource_state *x = &a->resources[i], *y = &b->resources[i];
        ck_assert_uint_eq(x->id, y->id);
        ck_assert_uint_eq(x->format, y->format);
        ck_assert_uint_eq(x->width, y->width);
        ck_assert_uint_eq(x->height, y->height);
        ck_assert_uint_eq(x->num_backing, y->num_backing);
        for (uint32_t k = 0; k < x->num_backing; k++) {
            ck_assert_uint_eq(x->backing[k].gpa, y->backing[k].gpa);
            ck_assert_uint_eq(x->backing[k].len, y->backing[k].len);
        }
    }
}

/* A desktop's worth of state: a scanned-out framebuffer in scattered
 * backing, a cursor on the second display, an unbacked resource shown there
 * too, a host-requested mode not yet acknowledged. */
static void build_state(void)
{
    ck_assert_int_eq(virtio_gpu_request_mode(dev, 1, 1024, 768), 0);
    uint64_t gpa[3] = {RAM_GPA + 0x40003, RAM_GPA + 0x50000, RAM_GPA + 0x41000};
    uint32_t len[3] = {1000, 0x2000, 64 * 48 * 4 - 1000 - 0x2000};
    for (int p = 0, k = 0; p < 3; p++)
        for (uint32_t i = 0; i < len[p]; i++, k++)
            *at(gpa[p] + i) = pattern((uint64_t)k);
    ck_assert_uint_eq(create(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 64, 48),
                      VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(attach(1, 3, gpa, len), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(transfer(1, 0, 0, 64, 48, 0), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(0, 1, 8, 4, 48, 40), VIRTIO_GPU_RESP_OK_NODATA);
    make_cursor_resource(2, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64);
    cursor_request(VIRTIO_GPU_CMD_UPDATE_CURSOR, 1, 100, 200, 2, 3, 4);
    run_cursor();
    cursor_request(VIRTIO_GPU_CMD_MOVE_CURSOR, 1, 110, 210, 0, 0, 0);
    run_cursor();
    ck_assert_uint_eq(create(3, VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 10, 10),
                      VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(set_scanout(1, 3, 0, 0, 10, 10), VIRTIO_GPU_RESP_OK_NODATA);
}

START_TEST(test_save_load_round_trip)
{
    build_state();
    struct virtio_gpu_state saved;
    ck_assert_int_eq(virtio_gpu_save(dev, &saved), 0);
    ck_assert_uint_eq(saved.num_scanouts, 2);
    ck_assert_uint_eq(saved.events_read, VIRTIO_GPU_EVENT_DISPLAY);
    ck_assert_uint_eq(saved.num_resources, 3);
    ck_assert_uint_eq(saved.resources[0].id, 1);
    ck_assert_uint_eq(saved.resources[0].num_backing, 3);
    ck_assert_uint_eq(saved.resources[0].backing[1].gpa, RAM_GPA + 0x50000);
    ck_assert_uint_eq(saved.resources[0].backing[1].len, 0x2000);
    ck_assert_uint_eq(saved.resources[1].id, 2);
    ck_assert_uint_eq(saved.resources[2].num_backing, 0);
    ck_assert_ptr_null(saved.resources[2].backing);
    const struct virtio_gpu_scanout_state *s0 = &saved.scanouts[0], *s1 = &saved.scanouts[1];
    ck_assert(s0->enabled && s0->width == 1280 && s0->height == 800);
    ck_assert(s1->enabled && s1->width == 1024 && s1->height == 768);
    ck_assert_uint_eq(s0->resource_id, 1);
    ck_assert(s0->rect.x == 8 && s0->rect.y == 4 && s0->rect.width == 48 && s0->rect.height == 40);
    ck_assert_uint_eq(s1->resource_id, 3);
    ck_assert_uint_eq(s0->cursor.resource_id, 0);
    ck_assert_uint_eq(s1->cursor.resource_id, 2);
    ck_assert(s1->cursor.hot_x == 3 && s1->cursor.hot_y == 4);
    ck_assert(s1->cursor.x == 110 && s1->cursor.y == 210);

    /* A second device over the same RAM, as a restore builds it. */
    forget_seen();
    struct device *restored = make_device(&ram, 2, 0);
    ck_assert_ptr_nonnull(restored);
    ck_assert_int_eq(virtio_gpu_load(restored, &saved), 0);
    ck_assert_int_eq(seen[0].calls, 1);
    ck_assert(seen[0].last.enabled);
    ck_assert_uint_eq(seen[0].last.resource_id, 1);
    ck_assert_uint_eq(seen[0].last.resource_width, s0->rect.width);
    ck_assert_uint_eq(seen[0].last.resource_height, s0->rect.height);
    ck_assert(seen[1].last.enabled);
    ck_assert_uint_eq(seen[1].last.resource_id, 3);
    ck_assert_uint_eq(seen[1].last.format, VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM);
    ck_assert(cursor_visible);
    ck_assert_uint_eq(cursor_scanout, 1);
    ck_assert(cursor.width == 64 && cursor.hot_x == 3 && cursor.hot_y == 4);
    ck_assert(cursor_copy[(5 * 64 + 7) * 4] == 7 && cursor_copy[(5 * 64 + 7) * 4 + 1] == 5);
    ck_assert(move_scanout == 1 && move_x == 110 && move_y == 210);
    /* The framebuffer's pixels came back from guest RAM: the scanout's part
     * of the 64x48 resource, 48x40 at (8, 4). */
    struct view v = map_scanout(0);
    ck_assert_uint_eq(header(v)->width, 48);
    for (uint32_t y = 0; y < 40; y++)
        for (uint32_t x = 0; x < 48; x++)
            for (uint32_t c = 0; c < 4; c++)
                ck_assert_uint_eq(pixel(v, 48 * 4, x, y)[c],
                                  pattern((4 + y) * 256 + (8 + x) * 4 + c));
    unmap_view(v);

    struct virtio_gpu_state again;
    ck_assert_int_eq(virtio_gpu_save(restored, &again), 0);
    assert_states_equal(&saved, &again);
    ck_assert_uint_eq(virtio_gpu_host_bytes(virtio_gpu_of(restored)), virtio_gpu_host_bytes(gpu));
    ck_assert_uint_eq(restored->ops->read(restored, CONFIG + VIRTIO_GPU_CFG_EVENTS_READ, 4),
                      VIRTIO_GPU_EVENT_DISPLAY);
    /* And it carries on as the original would. */
    gpu = virtio_gpu_of(restored);
    begin(VIRTIO_GPU_CMD_GET_DISPLAY_INFO);
    run();
    ck_assert_uint_eq(le32(resp + VIRTIO_GPU_HDR_SIZE + VIRTIO_GPU_DISPLAY_ONE_SIZE + 8), 1024);
    /* The restored object already shows the resource: a flush finds nothing new. */
    ck_assert_uint_eq(flush(1, 0, 0, 64, 48), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, 0);
    ck_assert_uint_eq(transfer(1, 0, 0, 64, 48, 0), VIRTIO_GPU_RESP_OK_NODATA);
    gpu = virtio_gpu_of(dev);
    virtio_gpu_state_free(&saved);
    virtio_gpu_state_free(&again);
    ck_assert_ptr_null(saved.resources);
    restored->ops->destroy(restored);
}
END_TEST

/* A backing shorter than the resource restores what it holds. */
START_TEST(test_load_short_backing)
{
    for (uint32_t k = 0; k < 100; k++)
        *at(RAM_GPA + 0x7000 + k) = pattern(k);
    struct virtio_gpu_backing_entry entry = {RAM_GPA + 0x7000, 100};
    struct virtio_gpu_resource_state res = {.id = 5, .format = 2, .width = 8, .height = 8,
                                            .num_backing = 1, .backing = &entry};
    struct virtio_gpu_state st = {.num_scanouts = 2, .num_resources = 1, .resources = &res};
    st.scanouts[0] = (struct virtio_gpu_scanout_state){
        .enabled = true, .width = 640, .height = 480, .resource_id = 5, .rect = {0, 0, 8, 8}};
    st.scanouts[1] = (struct virtio_gpu_scanout_state){.width = 640, .height = 480};
    ck_assert_int_eq(virtio_gpu_load(dev, &st), 0);
    struct view v = map_scanout(0);
    for (uint32_t k = 0; k < 256; k++)
        ck_assert_uint_eq(v.map[SCANOUT_SHM_HEADER_SIZE + k], k < 100 ? pattern(k) : 0);
    unmap_view(v);
}
END_TEST

/* With the snapshot's RAM as saved at hand, a resource nothing shows is read
 * at its first use, from there: what the restored guest wrote into its
 * backing since (without a transfer) does not leak in, and what it transfers
 * does. */
START_TEST(test_load_reads_the_rest_as_saved_at_first_use)
{
    make_backed(1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8, RAM_GPA + 0x6000);
    make_backed(4, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8, RAM_GPA + 0x7000);
    for (uint32_t k = 0; k < 256; k++) {
        *at(RAM_GPA + 0x6000 + k) = pattern(k);
        *at(RAM_GPA + 0x7000 + k) = pattern(k + 7);
    }
    ck_assert_uint_eq(set_scanout(0, 1, 0, 0, 8, 8), VIRTIO_GPU_RESP_OK_NODATA);
    struct virtio_gpu_state saved;
    ck_assert_int_eq(virtio_gpu_save(dev, &saved), 0);
    uint8_t *saved_mem = malloc(RAM_SIZE);
    ck_assert_ptr_nonnull(saved_mem);
    memcpy(saved_mem, mem, RAM_SIZE);
    struct guest_ram saved_ram = {.gpa = RAM_GPA, .size = RAM_SIZE, .host = saved_mem};
    /* Live RAM no longer holds what was saved (as it will not once the guest
     * has run): what is read comes from the saved RAM. */
    memset(at(RAM_GPA + 0x6000), 0x11, 256);
    memset(at(RAM_GPA + 0x7000), 0xee, 256);

    forget_seen();
    struct virtio_gpu_options opts = {.num_scanouts = 2, .display = &recorder,
                                      .saved_ram = &saved_ram};
    struct device *restored =
        virtio_gpu_create(0x0a000000, (struct irq_line){.set = on_irq, .intid = 52}, &ram, &opts);
    ck_assert_ptr_nonnull(restored);
    ck_assert_int_eq(virtio_gpu_load(restored, &saved), 0);
    struct view v = map_scanout(0);
    for (uint32_t k = 0; k < 256; k++)
        ck_assert_uint_eq(v.map[SCANOUT_SHM_HEADER_SIZE + k], pattern(k));
    unmap_view(v);
    /* A flush of the shown resource reads it in, from there too: nothing
     * differs from what the screen was filled with. */
    gpu = virtio_gpu_of(restored);
    int notices = num_flushes;
    ck_assert_uint_eq(flush(1, 0, 0, 8, 8), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_int_eq(num_flushes, notices);

    /* The guest, which drew into resource 4's backing, flips to it and
     * transfers its first row only. */
    ck_assert_uint_eq(set_scanout(0, 4, 0, 0, 8, 8), VIRTIO_GPU_RESP_OK_NODATA);
    v = map_scanout(0);
    for (uint32_t k = 0; k < 256; k++)
        ck_assert_uint_eq(v.map[SCANOUT_SHM_HEADER_SIZE + k], pattern(k + 7));
    unmap_view(v);
    ck_assert_uint_eq(transfer(4, 0, 0, 8, 1, 0), VIRTIO_GPU_RESP_OK_NODATA);
    ck_assert_uint_eq(flush(4, 0, 0, 8, 8), VIRTIO_GPU_RESP_OK_NODATA);
    v = map_scanout(0);
    for (uint32_t k = 0; k < 256; k++)
        ck_assert_uint_eq(v.map[SCANOUT_SHM_HEADER_SIZE + k], k < 32 ? 0xee : pattern(k + 7));
    unmap_view(v);
    /* A resource that goes unused is dropped unread. */
    ck_assert_uint_eq(unref(1), VIRTIO_GPU_RESP_OK_NODATA);
    gpu = virtio_gpu_of(dev);
    restored->ops->destroy(restored);
    virtio_gpu_state_free(&saved);
    free(saved_mem);
}
END_TEST

/* A state that does not hold together is refused and leaves no resources. */
START_TEST(test_load_rejects_inconsistent_state)
{
    build_state();
    struct virtio_gpu_state good;
    ck_assert_int_eq(virtio_gpu_save(dev, &good), 0);
    struct virtio_gpu_state bad = good;
    struct virtio_gpu_resource_state res[3];
    struct virtio_gpu_backing_entry entry;
#define REFUSED(edit, err)                                                   \
    do {                                                                     \
        bad = good;                                                          \
        memcpy(res, good.resources, sizeof(res));                            \
        bad.resources = res;                                                 \
        edit;                                                                \
        ck_assert_int_eq(virtio_gpu_load(dev, &bad), err);                   \
        ck_assert_uint_eq(virtio_gpu_host_bytes(gpu), 0);                    \
        ck_assert_int_eq(virtio_gpu_load(dev, &good), 0);                    \
    } while (0)
    REFUSED(bad.num_scanouts = 1, -EINVAL);
    REFUSED(bad.scanouts[1].width = 0, -EINVAL);
    REFUSED(bad.scanouts[0].height = 16385, -EINVAL);
    REFUSED(res[2].format = 7, -EINVAL);
    REFUSED(res[2].width = 0, -EINVAL);
    REFUSED(res[2].id = 1, -EINVAL);
    REFUSED(res[2].id = 0, -EINVAL);
    REFUSED((entry = (struct virtio_gpu_backing_entry){RAM_GPA + RAM_SIZE - 8, 16},
             res[2].backing = &entry, res[2].num_backing = 1), -EINVAL);
    REFUSED((entry = (struct virtio_gpu_backing_entry){RAM_GPA, 0},
             res[2].backing = &entry, res[2].num_backing = 1), -EINVAL);
    REFUSED(res[2].num_backing = 1, -EINVAL); /* and no list */
    REFUSED(bad.scanouts[0].resource_id = 4, -EINVAL);
    REFUSED(bad.scanouts[0].rect.width = 57, -EINVAL);
    REFUSED(bad.scanouts[0].rect.height = 0, -EINVAL);
    REFUSED(bad.scanouts[1].cursor.resource_id = 9, -EINVAL);
    REFUSED(bad.num_resources = VIRTIO_GPU_MAX_RESOURCES + 1, -EINVAL);
#undef REFUSED
    /* Over a small device's budget. */
    struct device *small = make_device(&ram, 2, 4 * 4096);
    ck_assert_int_eq(virtio_gpu_load(small, &good), -ENOMEM);
    ck_assert_uint_eq(virtio_gpu_host_bytes(virtio_gpu_of(small)), 0);
    small->ops->destroy(small);
    virtio_gpu_state_free(&good);
}
END_TEST

static Suite *gpu_suite(void)
{
    Suite *s = suite_create("virtio_gpu");
    TCase *control = tcase_create("control");
    tcase_add_checked_fixture(control, setup, teardown);
    tcase_add_test(control, test_get_display_info);
    tcase_add_test(control, test_get_edid);
    tcase_add_test(control, test_edid_of_huge_mode_is_empty);
    tcase_add_test(control, test_fence_echoed);
    tcase_add_test(control, test_malformed_requests);
    tcase_add_test(control, test_room_for_the_response);
    tcase_add_test(control, test_create_every_format);
    tcase_add_test(control, test_create_rejections);
    tcase_add_test(control, test_memory_budget);
    tcase_add_test(control, test_resource_count_cap);
    tcase_add_test(control, test_unref_rejections);
    tcase_add_test(control, test_transfer_scattered_backing);
    tcase_add_test(control, test_transfer_rejections);
    tcase_add_test(control, test_attach_backing_rejections);
    tcase_add_test(control, test_backing_entry_cap_follows_the_resource);
    tcase_add_test(control, test_attach_entries_split_across_segments);
    tcase_add_test(control, test_set_scanout);
    tcase_add_test(control, test_scanout_over_the_budget);
    tcase_add_test(control, test_set_scanout_rejections);
    tcase_add_test(control, test_unref_of_a_scanned_out_resource);
    tcase_add_test(control, test_flush);
    tcase_add_test(control, test_flip_keeps_the_object);
    tcase_add_test(control, test_flush_many_runs_merge);
    tcase_add_test(control, test_flush_after_partial_flushes);
    tcase_add_test(control, test_constants_match_linux);
    suite_add_tcase(s, control);
    TCase *cursor_tc = tcase_create("cursor");
    tcase_add_checked_fixture(cursor_tc, setup, teardown);
    tcase_add_test(cursor_tc, test_cursor_update_and_move);
    tcase_add_test(cursor_tc, test_cursor_rejections);
    tcase_add_test(cursor_tc, test_cursor_format_conversion);
    tcase_add_test(cursor_tc, test_cursor_size_clamped);
    suite_add_tcase(s, cursor_tc);
    TCase *device = tcase_create("device");
    tcase_add_checked_fixture(device, setup, teardown);
    tcase_add_test(device, test_identity_and_config_space);
    tcase_add_test(device, test_request_mode);
    tcase_add_test(device, test_queues_through_the_transport);
    tcase_add_test(device, test_reset);
    tcase_add_test(device, test_bad_options);
    suite_add_tcase(s, device);
    TCase *snapshot = tcase_create("snapshot");
    tcase_add_checked_fixture(snapshot, setup, teardown);
    tcase_add_test(snapshot, test_save_load_round_trip);
    tcase_add_test(snapshot, test_load_short_backing);
    tcase_add_test(snapshot, test_load_reads_the_rest_as_saved_at_first_use);
    tcase_add_test(snapshot, test_load_rejects_inconsistent_state);
    suite_add_tcase(s, snapshot);
    return s;
}

int main(void)
{
    return run_suite(gpu_suite());
}
