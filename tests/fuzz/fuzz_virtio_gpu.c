/* libFuzzer harness: virtio-gpu's command parser over a session of requests,
 * so that later commands find the resources, backing and scanouts earlier
 * ones made. One device (two scanouts, a 4 MiB budget) over 1 MiB of guest
 * RAM at 0x40000000 holding a fixed pattern; each input starts from its
 * pristine state (loaded back: no resources, the initial modes). Keeping the
 * device keeps its log rate limit, so rejected commands do not flood stderr.
 *
 * The input is a list of records: a kind byte, a 16-bit little-endian length
 * L, then L bytes (fewer if the input ends).
 *   kind & 3 == 0 or 3: a control-queue request; 1: a cursor-queue request.
 *     The bytes are the request's readable part, split into (kind >> 2 & 3) + 1
 *     segments; the writable room is ROOMS[kind >> 4 & 7] bytes.
 *   kind & 3 == 2: a host action on the first payload byte: even, save the
 *     state and load it back; odd, request a mode: scanout = byte 1 % 3,
 *     width and height = 16-bit little-endian at bytes 2 and 4.
 * The display callbacks read everything the device points them at and check
 * it lies inside what it describes, so ASan sees a bad pointer or size. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio_gpu.h"
#include "scanout.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE (1u << 20)
#define MAX_RECORD 8192u
#define SCANOUTS 2

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t ROOMS[8] = {0, 8, 24, 100, 408, 1056, 2048, 24};

static struct display_scanout shown[SCANOUTS];
static volatile uint8_t sink;

static void touch(const uint8_t *p, size_t len)
{
    uint8_t x = 0;
    for (size_t i = 0; i < len; i++)
        x ^= p[i];
    sink ^= x;
}

static void on_scanout_changed(void *opaque, unsigned id, const struct display_scanout *s)
{
    (void)opaque;
    if (id >= SCANOUTS)
        abort();
    shown[id] = *s;
    if (!s->enabled)
        return;
    if (s->rect.width == 0 || s->rect.height == 0 ||
        (uint64_t)s->rect.x + s->rect.width > s->resource_width ||
        (uint64_t)s->rect.y + s->rect.height > s->resource_height ||
        SCANOUT_SHM_HEADER_SIZE + (uint64_t)s->stride * s->resource_height > s->object_size)
        abort();
    const struct scanout_shm_header *h = (const void *)s->map;
    if (h->magic != SCANOUT_SHM_MAGIC || h->width != s->resource_width ||
        h->height != s->resource_height || h->stride != s->stride || h->size != s->object_size)
        abort();
    touch(s->map + SCANOUT_SHM_HEADER_SIZE, (size_t)s->stride * s->resource_height);
}

static void on_flushed(void *opaque, unsigned id, struct display_rect r, uint64_t sequence)
{
    (void)opaque, (void)sequence;
    if (id >= SCANOUTS || !shown[id].enabled || r.width == 0 || r.height == 0 ||
        (uint64_t)r.x + r.width > shown[id].rect.width ||
        (uint64_t)r.y + r.height > shown[id].rect.height)
        abort();
}

static void on_cursor_image(void *opaque, unsigned id, const struct display_cursor *c)
{
    (void)opaque;
    if (id >= SCANOUTS)
        abort();
    if (!c)
        return;
    if (c->width == 0 || c->height == 0 || c->width > 64 || c->height > 64 ||
        c->hot_x >= c->width || c->hot_y >= c->height)
        abort();
    touch(c->pixels, (size_t)c->width * c->height * 4);
}

static void on_cursor_move(void *opaque, unsigned id, int32_t x, int32_t y)
{
    (void)opaque, (void)x, (void)y;
    if (id >= SCANOUTS)
        abort();
}

static const struct display_ops checker = {
    .scanout_changed = on_scanout_changed, .flushed = on_flushed,
    .cursor_image = on_cursor_image, .cursor_move = on_cursor_move,
};

static struct guest_ram *guest_ram(void)
{
    static struct guest_ram ram;
    static uint8_t *mem;
    if (!mem) {
        mem = malloc(RAM_SIZE);
        if (!mem)
            abort();
        for (size_t i = 0; i < RAM_SIZE; i++)
            mem[i] = (uint8_t)(i * 13 + (i >> 12));
        ram = (struct guest_ram){.gpa = RAM_GPA, .size = RAM_SIZE, .host = mem};
    }
    return &ram;
}

static void run_request(struct virtio_gpu *gpu, uint8_t kind, const uint8_t *bytes,
                        uint32_t len)
{
    static uint8_t request[MAX_RECORD], response[2048];
    static struct virtq_chain chain;
    memcpy(request, bytes, len);
    memset(&chain, 0, sizeof(chain));
    unsigned pieces = (kind >> 2 & 3) + 1;
    uint32_t done = 0;
    for (unsigned i = 0; i < pieces; i++) {
        uint32_t n = i + 1 == pieces ? len - done : (len - done) / 2;
        chain.segments[chain.num_segments++] =
            (struct virtq_segment){.host = request + done, .len = n};
        chain.readable_len += n;
        done += n;
    }
    uint32_t room = ROOMS[kind >> 4 & 7];
    if (room) {
        chain.segments[chain.num_segments++] =
            (struct virtq_segment){.host = response, .len = room, .device_writable = true};
        chain.writable_len = room;
    }
    if ((kind & 3) == 1) {
        if (virtio_gpu_handle_cursor(gpu, &chain) > room)
            abort();
    } else {
        int written = virtio_gpu_handle_control(gpu, &chain);
        if (written > (int)room || (written < 0 && room >= 24))
            abort();
    }
}

static void host_action(struct device *dev, const uint8_t *bytes, uint32_t len)
{
    uint8_t arg[6] = {0};
    memcpy(arg, bytes, len < sizeof(arg) ? len : sizeof(arg));
    if (arg[0] & 1) {
        virtio_gpu_request_mode(dev, arg[1] % 3, (uint32_t)(arg[2] | arg[3] << 8),
                                (uint32_t)(arg[4] | arg[5] << 8));
        return;
    }
    struct virtio_gpu_state state;
    if (virtio_gpu_save(dev, &state) == 0) {
        virtio_gpu_load(dev, &state);
        virtio_gpu_state_free(&state);
    }
}

static struct device *fuzz_device(void)
{
    static struct device *dev;
    static struct virtio_gpu_state pristine;
    if (!dev) {
        struct virtio_gpu_options opts = {.num_scanouts = SCANOUTS,
                                          .max_host_bytes = 4u << 20, .display = &checker};
        dev = virtio_gpu_create(0x0a000000, (struct irq_line){0}, guest_ram(), &opts);
        if (!dev || virtio_gpu_save(dev, &pristine) != 0)
            abort();
    }
    if (virtio_gpu_load(dev, &pristine) != 0)
        abort();
    memset(shown, 0, sizeof(shown));
    return dev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct device *dev = fuzz_device();
    struct virtio_gpu *gpu = virtio_gpu_of(dev);
    while (size >= 3) {
        uint8_t kind = data[0];
        uint32_t len = (uint32_t)(data[1] | data[2] << 8);
        data += 3, size -= 3;
        if (len > size)
            len = (uint32_t)size;
        if (len > MAX_RECORD)
            len = MAX_RECORD;
        if ((kind & 3) == 2)
            host_action(dev, data, len);
        else
            run_request(gpu, kind, data, len);
        data += len, size -= len;
    }
    return 0;
}
