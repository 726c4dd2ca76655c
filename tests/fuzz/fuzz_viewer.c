/* libFuzzer harness: what ignition-view takes on trust from the guest worker,
 * and the window arithmetic it does with it. The input is
 *
 *   control   CONTROL_BYTES, zero-filled when the input is shorter:
 *     int32   object size delta: the memory file is the ScanoutInfo's
 *             object_size plus this (then bounded to MAX_OBJECT)
 *     48 B    XORed onto the header that agrees with the ScanoutInfo before it
 *             is written to the object (all zero: a consistent header)
 *     9 x u32 window point x, y, window w, h, drawable w, h, image w, h and a
 *             --scale, for the geometry functions
 *   frames    what follows, as on the wire: a 4-byte little-endian length and
 *             an Envelope body, up to MAX_FRAMES of them (the last may be short)
 *
 * Frames are handled as the viewer's screen does: a ScanoutInfo is checked,
 * given a real shared memory file of its size and mapped, replacing the last
 * mapping; a Damage's rectangles are clipped to the mapping and the pixels an
 * upload would read are checked to lie inside it; a CursorImage goes through
 * the cursor check. The control integers go through letterbox, the pointer
 * transform, damage clipping and the guest size, against a bounded image and
 * against the mapped one. Invariants that fail abort(); every run closes every
 * fd it opened and unmaps what it mapped. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "byteorder.h"
#include "cursor.h"
#include "fds.h"
#include "geometry.h"
#include "scanout_map.h"
#include "memfile.h"
#include "scanout.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER_BYTES ((unsigned)sizeof(struct scanout_shm_header))
#define GEOMETRY_INTS 9u
#define CONTROL_BYTES (4u + HEADER_BYTES + 4u * GEOMETRY_INTS)
#define MAX_FRAMES 16u
#define MAX_OBJECT (4u << 20) /* memory files beyond this are not made */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

struct control {
    int64_t size_delta;
    uint8_t header_xor[sizeof(struct scanout_shm_header)];
    uint32_t g[GEOMETRY_INTS];
};

/* A window or drawable size: 24 bits, sign-extended. Screens are far
 * smaller, and the pointer transform's 64-bit products need the headroom. */
static int coordinate(uint32_t raw)
{
    return (int)((int32_t)(raw << 8) >> 8);
}

/* Pixel (x, y) must be inside the scanout and its 4 bytes inside the mapping,
 * after the header; they are read, so that a mapping shorter than it claims
 * faults here. */
static void check_pixel(const struct mapping *m, uint32_t x, uint32_t y)
{
    CHECK(x < m->width && y < m->height);
    const uint8_t *p = mapping_pixel(m, x, y);
    CHECK(p >= m->base + SCANOUT_SHM_HEADER_SIZE && p + 4 <= m->base + m->size);
    volatile const uint8_t *v = p;
    (void)v[0];
    (void)v[3];
}

/* What uploading r reads: r.h rows of r.w pixels from (r.x, r.y), a stride apart.
 * Addresses grow with x and y, so its two corners bound it. */
static void check_rect(const struct mapping *m, struct view_rect r)
{
    CHECK(r.x >= 0 && r.y >= 0 && r.w >= 1 && r.h >= 1);
    check_pixel(m, (uint32_t)r.x, (uint32_t)r.y);
    check_pixel(m, (uint32_t)(r.x + r.w - 1), (uint32_t)(r.y + r.h - 1));
}

/* clip_damage against an image of iw x ih; the pixels too when m maps it. */
static void check_clip(uint32_t x, uint32_t y, uint32_t rw, uint32_t rh, uint32_t iw, uint32_t ih,
                       const struct mapping *m)
{
    struct view_rect r;
    bool inside = x < iw && y < ih && rw > 0 && rh > 0;
    CHECK(clip_damage(x, y, rw, rh, iw, ih, &r) == inside);
    if (!inside)
        return;
    CHECK(r.x == (int)x && r.y == (int)y && r.w >= 1 && r.h >= 1);
    CHECK((uint64_t)r.x + (uint64_t)r.w <= iw && (uint64_t)r.y + (uint64_t)r.h <= ih);
    CHECK((uint32_t)r.w <= rw && (uint32_t)r.h <= rh);
    if (m)
        check_rect(m, r);
}

/* The control integers through the geometry, with an image of iw x ih (at most
 * MAPPING_MAX_DIMENSION a side, as every mapping is); m, when not NULL, maps it. */
static void check_geometry(const struct control *c, uint32_t iw, uint32_t ih,
                           const struct mapping *m)
{
    /* The pointer may be anywhere an int reaches. */
    int wx = (int)c->g[0], wy = (int)c->g[1];
    int ww = coordinate(c->g[2]), wh = coordinate(c->g[3]);
    int dw = coordinate(c->g[4]), dh = coordinate(c->g[5]);

    struct view_rect r = letterbox(dw, dh, iw, ih);
    bool drawable = dw > 0 && dh > 0 && iw > 0 && ih > 0;
    if (!drawable) {
        CHECK(r.x == 0 && r.y == 0 && r.w == 0 && r.h == 0);
    } else {
        CHECK(r.w >= 1 && r.h >= 1 && r.x >= 0 && r.y >= 0);
        CHECK(r.x + r.w <= dw && r.y + r.h <= dh);
        CHECK(r.w == dw || r.h == dh); /* one side fills the drawable */
        if ((uint32_t)dw == iw && (uint32_t)dh == ih)
            CHECK(r.x == 0 && r.y == 0 && r.w == dw && r.h == dh);
    }
    if (letterbox_is_integer_scale(r, iw, ih)) {
        uint32_t k = (uint32_t)r.w / iw;
        CHECK(k >= 1 && (uint32_t)r.w == k * iw && (uint32_t)r.h == k * ih);
    }

    uint32_t sx = UINT32_MAX, sy = UINT32_MAX;
    bool pointed = window_to_scanout(wx, wy, ww, wh, dw, dh, iw, ih, &sx, &sy);
    CHECK(pointed == (drawable && ww > 0 && wh > 0));
    if (pointed) {
        CHECK(sx < iw && sy < ih);
        /* A window the image's size, without HiDPI, is the image pixel for pixel. */
        if (ww == dw && wh == dh && (uint32_t)dw == iw && (uint32_t)dh == ih && wx >= 0 &&
            wy >= 0 && wx < ww && wy < wh)
            CHECK(sx == (uint32_t)wx && sy == (uint32_t)wy);
        if (m)
            check_pixel(m, sx, sy);
    }

    check_clip(c->g[0], c->g[1], c->g[2], c->g[3], iw, ih, m);

    unsigned scale = c->g[8] & 0xff;
    uint32_t gw, gh;
    if (guest_size_for(dw, dh, scale, &gw, &gh)) {
        CHECK(gw >= 1 && gh >= 1);
        CHECK((uint64_t)gw * scale <= (uint64_t)dw && (uint64_t)gh * scale <= (uint64_t)dh);
        CHECK((uint64_t)(gw + 1) * scale > (uint64_t)dw && (uint64_t)(gh + 1) * scale > (uint64_t)dh);
    }
}

/* The header a worker writes for info, with the control's bytes XORed on. */
static void make_header(const struct control *c, const Ignition__ScanoutInfo *info,
                        uint8_t out[sizeof(struct scanout_shm_header)], bool *consistent)
{
    struct scanout_shm_header h = {
        .magic = SCANOUT_SHM_MAGIC,
        .version = SCANOUT_SHM_VERSION,
        .header_size = (uint32_t)info->data_offset,
        .format = info->format,
        .width = info->width,
        .height = info->height,
        .stride = info->stride,
        .size = info->object_size,
    };
    memcpy(out, &h, sizeof(h));
    *consistent = true;
    for (size_t i = 0; i < sizeof(h); i++) {
        out[i] ^= c->header_xor[i];
        if (c->header_xor[i])
            *consistent = false;
    }
}

/* A ScanoutInfo, as screen_take_scanout takes it: on success the new mapping
 * replaces *cur. */
static void on_scanout(const struct control *c, const Ignition__ScanoutInfo *info,
                       struct mapping *cur)
{
    char why[256];
    bool valid = mapping_info_valid(info, why, sizeof(why));
    if (!info->enabled) {
        mapping_close(cur);
        return;
    }
    struct mapping m;
    if (!valid) {
        /* Refused before the fd is looked at. */
        CHECK(mapping_open(&m, info, -1, why, sizeof(why)) < 0 && m.base == NULL);
        return;
    }
    CHECK(info->width >= 1 && info->height >= 1 && info->width <= MAPPING_MAX_DIMENSION &&
          info->height <= MAPPING_MAX_DIMENSION);
    CHECK(info->stride >= info->width * 4u && info->data_offset >= SCANOUT_SHM_HEADER_SIZE);
    CHECK(info->data_offset + (uint64_t)(info->height - 1) * info->stride +
              (uint64_t)info->width * 4u <= info->object_size);

    int64_t size = (int64_t)info->object_size + c->size_delta;
    if (size < 0 || size > (int64_t)MAX_OBJECT)
        return;
    int ro;
    void *object;
    if (memfile_create_shared("fuzz-viewer", (uint64_t)size, &object, &ro) < 0)
        abort();
    uint8_t header[sizeof(struct scanout_shm_header)];
    bool consistent;
    make_header(c, info, header, &consistent);
    size_t header_len = (uint64_t)size < sizeof(header) ? (size_t)size : sizeof(header);
    if (header_len)
        memcpy(object, header, header_len);
    if (object)
        munmap(object, (size_t)size);
    int rc = mapping_open(&m, info, ro, why, sizeof(why));
    /* The mapping outlives the fd, as the viewer's does. */
    close(ro);
    if (rc < 0) {
        CHECK(m.base == NULL);
        /* A consistent header in a large enough object is never refused. */
        CHECK(!(consistent && (uint64_t)size >= info->object_size));
        return;
    }
    CHECK(m.base != NULL && m.size == info->object_size && (uint64_t)size >= info->object_size);
    CHECK(m.width == info->width && m.height == info->height && m.stride == info->stride &&
          m.format == info->format && m.data_offset == info->data_offset);
    CHECK(mapping_header_matches((const struct scanout_shm_header *)m.base, info, why,
                                 sizeof(why)));
    check_pixel(&m, 0, 0);
    check_pixel(&m, m.width - 1, m.height - 1);
    mapping_close(cur);
    *cur = m;
}

static void on_damage(const Ignition__Damage *d, const struct mapping *cur)
{
    if (!cur->base)
        return;
    for (size_t i = 0; i < d->n_rects; i++) {
        const Ignition__Rect *r = d->rects[i];
        if (r)
            check_clip(r->x, r->y, r->width, r->height, cur->width, cur->height, cur);
    }
}

static void on_cursor(const Ignition__CursorImage *im)
{
    if (!cursor_image_valid(im))
        return;
    CHECK(im->width >= 1 && im->height >= 1 && im->width <= CURSOR_MAX_SIDE &&
          im->height <= CURSOR_MAX_SIDE);
    CHECK(im->hot_x < im->width && im->hot_y < im->height);
    /* The surface made of it reads height rows of width * 4 bytes. */
    size_t last = (size_t)(im->height - 1) * im->width * 4 + (size_t)im->width * 4 - 1;
    CHECK(last < im->pixels.len && im->pixels.data);
    volatile const uint8_t *v = im->pixels.data;
    (void)v[0];
    (void)v[last];
}

static void parse_control(const uint8_t *data, size_t size, struct control *c)
{
    uint8_t raw[CONTROL_BYTES] = {0};
    memcpy(raw, data, size < CONTROL_BYTES ? size : CONTROL_BYTES);
    c->size_delta = (int32_t)le32(raw);
    memcpy(c->header_xor, raw + 4, HEADER_BYTES);
    for (unsigned i = 0; i < GEOMETRY_INTS; i++)
        c->g[i] = le32(raw + 4 + HEADER_BYTES + 4 * i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds_before = open_fd_count();
    struct control c;
    parse_control(data, size, &c);
    struct mapping cur = {0};

    size_t at = size < CONTROL_BYTES ? size : CONTROL_BYTES;
    for (unsigned n = 0; n < MAX_FRAMES && size - at >= WIRE_HEADER_BYTES; n++) {
        size_t len = le32(data + at);
        at += WIRE_HEADER_BYTES;
        if (len > size - at)
            len = size - at;
        Ignition__Envelope *env;
        if (wire_decode(data + at, len, &env) == 0) {
            switch (env->body_case) {
            case IGNITION__ENVELOPE__BODY_SCANOUT_INFO:
                on_scanout(&c, env->scanout_info, &cur);
                break;
            case IGNITION__ENVELOPE__BODY_DAMAGE:
                on_damage(env->damage, &cur);
                break;
            case IGNITION__ENVELOPE__BODY_CURSOR_IMAGE:
                on_cursor(env->cursor_image);
                break;
            default:
                break;
            }
            ignition__envelope__free_unpacked(env, NULL);
        }
        at += len;
    }

    check_geometry(&c, c.g[6] % (MAPPING_MAX_DIMENSION + 1), c.g[7] % (MAPPING_MAX_DIMENSION + 1),
                   NULL);
    if (cur.base)
        check_geometry(&c, cur.width, cur.height, &cur);
    mapping_close(&cur);

    if (open_fd_count() != fds_before)
        abort();
    return 0;
}
