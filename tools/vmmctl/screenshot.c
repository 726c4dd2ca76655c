#include "screenshot.h"

#include <errno.h>
#include <png.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "display_conn.h"
#include "scanout_map.h"
#include "util.h"
#include "wire.h"

#define RGB_BYTES 3u
#define PIXEL_BYTES 4u
/* A flush racing our copy is retried this often before the frame is taken
 * as it is (a guest redrawing nonstop would otherwise hold us forever). */
#define COPY_ATTEMPTS 4

bool screenshot_convert_row(uint32_t format, const uint8_t *pixels, uint32_t width, uint8_t *rgb)
{
    unsigned r, g, b;
    if (!scanout_format_rgb_offsets(format, &r, &g, &b))
        return false;
    for (uint32_t x = 0; x < width; x++, pixels += PIXEL_BYTES, rgb += RGB_BYTES) {
        rgb[0] = pixels[r];
        rgb[1] = pixels[g];
        rgb[2] = pixels[b];
    }
    return true;
}

/* ---- PNG ---------------------------------------------------------------------- */

struct png_failure {
    char *err;
    size_t err_len;
};

static void on_png_error(png_structp png, png_const_charp msg)
{
    struct png_failure *f = png_get_error_ptr(png);
    set_message(f->err, f->err_len, "libpng: %s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

/* libpng reports errors by longjmp: nothing here may live in a local that
 * changes after setjmp. */
static int encode_png(FILE *f, const uint8_t *rgb, uint32_t width, uint32_t height,
                      struct png_failure *failure)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, failure, on_png_error,
                                              on_png_warning);
    if (!png) {
        set_message(failure->err, failure->err_len, "libpng: out of memory");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info)
            set_message(failure->err, failure->err_len, "libpng: out of memory");
        png_destroy_write_struct(&png, info ? &info : NULL);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t row_bytes = (size_t)width * RGB_BYTES;
    for (uint32_t y = 0; y < height; y++)
        png_write_row(png, rgb + (size_t)y * row_bytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int screenshot_write_png(const char *path, const uint8_t *rgb, uint32_t width, uint32_t height,
                         char *err, size_t err_len)
{
    if (width == 0 || height == 0 || width > MAPPING_MAX_DIMENSION ||
        height > MAPPING_MAX_DIMENSION) {
        set_message(err, err_len, "cannot write a %ux%u image", width, height);
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        set_message(err, err_len, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    char why[200] = "";
    struct png_failure failure = {why, sizeof(why)};
    int rc = encode_png(f, rgb, width, height, &failure);
    if (fflush(f) != 0 && rc == 0) {
        set_message(why, sizeof(why), "%s", strerror(errno));
        rc = -1;
    }
    if (fclose(f) != 0 && rc == 0) {
        set_message(why, sizeof(why), "%s", strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        set_message(err, err_len, "cannot write %s: %s", path, why);
    return rc;
}

/* ---- the frame ------------------------------------------------------------------ */

struct scanout_capture {
    unsigned scanout_id;
    struct mapping map; /* base NULL until the scanout is announced */
    bool have_frame;    /* its first Damage arrived */
};

static uint64_t header_sequence(const struct mapping *m)
{
    const struct scanout_shm_header *h = (const void *)m->base;
    return __atomic_load_n(&h->sequence, __ATOMIC_ACQUIRE);
}

/* Copies the scanout into rgb; retries when a flush landed meanwhile so that
 * the picture is one frame, not two halves. */
static void copy_frame(const struct mapping *m, uint8_t *rgb)
{
    size_t row_bytes = (size_t)m->width * RGB_BYTES;
    for (int attempt = 0; attempt < COPY_ATTEMPTS; attempt++) {
        uint64_t before = header_sequence(m);
        for (uint32_t y = 0; y < m->height; y++)
            screenshot_convert_row(m->format, mapping_pixel(m, 0, y), m->width,
                                   rgb + (size_t)y * row_bytes);
        if (header_sequence(m) == before)
            return;
    }
}

static int take_scanout_info(struct scanout_capture *c, const Ignition__ScanoutInfo *info,
                             const int *fds, unsigned nfds, char *err, size_t err_len)
{
    if (!info->enabled) {
        set_message(err, err_len, "scanout %u is disabled (the guest switched it off)",
                    c->scanout_id);
        return -1;
    }
    if (nfds != 1) {
        set_message(err, err_len, "the guest's display announced scanout %u without its memory",
                    c->scanout_id);
        return -1;
    }
    char why[200];
    mapping_close(&c->map);
    c->have_frame = false;
    if (mapping_open(&c->map, info, fds[0], why, sizeof(why)) < 0) {
        set_message(err, err_len, "scanout %u cannot be read: %s", c->scanout_id, why);
        return -1;
    }
    return 0;
}

/* Handles one message. Returns 0 to go on, -1 on failure (err set). */
static int handle_message(struct scanout_capture *c, const Ignition__Envelope *env, const int *fds,
                          unsigned nfds, char *err, size_t err_len)
{
    switch (env->body_case) {
    case IGNITION__ENVELOPE__BODY_SCANOUT_INFO:
        if (env->scanout_info->scanout_id != c->scanout_id)
            return 0;
        return take_scanout_info(c, env->scanout_info, fds, nfds, err, err_len);
    case IGNITION__ENVELOPE__BODY_DAMAGE:
        /* The full frame comes right behind ScanoutInfo. */
        if (env->damage->scanout_id == c->scanout_id && c->map.base)
            c->have_frame = true;
        return 0;
    case IGNITION__ENVELOPE__BODY_ERROR: {
        char text[200];
        wire_copy_printable(text, sizeof(text), env->error->message);
        set_message(err, err_len, "the guest's display says: %s", text);
        return -1;
    }
    default:
        return 0;
    }
}

static void close_fds(const int *fds, unsigned nfds)
{
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
}

static int wait_for_frame(int sock, struct scanout_capture *c, char *err, size_t err_len)
{
    uint64_t deadline = monotonic_ns() + (uint64_t)SCREENSHOT_WAIT_MS * 1000000u;
    while (!c->have_frame) {
        int left = display_conn_ms_left(deadline);
        Ignition__Envelope *env;
        int fds[WIRE_MAX_FDS];
        unsigned nfds = 0;
        int rc = left ? wire_recv(sock, &env, fds, &nfds, left) : -ETIMEDOUT;
        if (rc == -ETIMEDOUT) {
            set_message(err, err_len,
                        "scanout %u is disabled (the guest showed nothing there within %d s)",
                        c->scanout_id, SCREENSHOT_WAIT_MS / 1000);
            return -1;
        }
        if (rc < 0) {
            set_message(err, err_len, "the guest's display went away: %s",
                        rc == -ENOTCONN ? "it closed the connection" : strerror(-rc));
            return -1;
        }
        rc = handle_message(c, env, fds, nfds, err, err_len);
        close_fds(fds, nfds); /* a mapping holds the object without the fd */
        ignition__envelope__free_unpacked(env, NULL);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static char *temporary_path(const char *out_path)
{
    size_t len = strlen(out_path);
    char *tmp = malloc(len + sizeof(".tmp"));
    if (tmp)
        memcpy(tmp, out_path, len), memcpy(tmp + len, ".tmp", sizeof(".tmp"));
    return tmp;
}

static int write_atomically(const char *out_path, const uint8_t *rgb, uint32_t width,
                            uint32_t height, char *err, size_t err_len)
{
    char *tmp = temporary_path(out_path);
    if (!tmp) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    int rc = screenshot_write_png(tmp, rgb, width, height, err, err_len);
    if (rc == 0 && rename(tmp, out_path) < 0) {
        set_message(err, err_len, "cannot write %s: %s", out_path, strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int save_frame(const struct mapping *m, const char *out_path, char *err, size_t err_len)
{
    /* At most 16384 x 16384 x 3 bytes: the mapping checks bound both sides. */
    uint8_t *rgb = malloc((size_t)m->width * m->height * RGB_BYTES);
    if (!rgb) {
        set_message(err, err_len, "out of memory for a %ux%u picture", m->width, m->height);
        return -1;
    }
    copy_frame(m, rgb);
    int rc = write_atomically(out_path, rgb, m->width, m->height, err, err_len);
    free(rgb);
    return rc;
}

int screenshot_png(const char *display_socket, unsigned scanout_id, const char *out_path,
                   char *err, size_t err_len)
{
    int sock = display_conn_open(display_socket, err, err_len);
    if (sock < 0)
        return -1;
    struct scanout_capture c = {.scanout_id = scanout_id};
    int rc = wait_for_frame(sock, &c, err, err_len);
    close(sock);
    if (rc == 0)
        rc = save_frame(&c.map, out_path, err, err_len);
    mapping_close(&c.map);
    return rc;
}

/* ---- a screen watched ------------------------------------------------------------ */

int screen_watch_open(struct screen_watch *w, const char *display_socket, unsigned scanout_id,
                      char *err, size_t err_len)
{
    *w = (struct screen_watch){.sock = -1};
    struct scanout_capture *c = calloc(1, sizeof(*c));
    if (!c) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    c->scanout_id = scanout_id;
    w->capture = c;
    w->sock = display_conn_open(display_socket, err, err_len);
    if (w->sock < 0 || wait_for_frame(w->sock, c, err, err_len) < 0) {
        screen_watch_close(w);
        return -1;
    }
    return 0;
}

int screen_watch_pump(struct screen_watch *w, int wait_ms, char *err, size_t err_len)
{
    struct pollfd pfd = {.fd = w->sock, .events = POLLIN};
    while (poll(&pfd, 1, wait_ms) > 0) {
        Ignition__Envelope *env;
        int fds[WIRE_MAX_FDS];
        unsigned nfds = 0;
        /* Readable: the message is on its way; a second is plenty for the rest. */
        int rc = wire_recv(w->sock, &env, fds, &nfds, 1000);
        if (rc < 0) {
            set_message(err, err_len, "the guest's display went away: %s",
                        rc == -ENOTCONN ? "it closed the connection" : strerror(-rc));
            return -1;
        }
        rc = handle_message(w->capture, env, fds, nfds, err, err_len);
        close_fds(fds, nfds);
        ignition__envelope__free_unpacked(env, NULL);
        if (rc < 0)
            return -1;
        wait_ms = 0; /* drain what is there, then return */
    }
    return 0;
}

uint8_t *screen_watch_rgb(const struct screen_watch *w, uint32_t *width, uint32_t *height)
{
    const struct mapping *m = &w->capture->map;
    if (!m->base)
        return NULL;
    uint8_t *rgb = malloc((size_t)m->width * m->height * RGB_BYTES);
    if (!rgb)
        return NULL;
    copy_frame(m, rgb);
    *width = m->width;
    *height = m->height;
    return rgb;
}

void screen_watch_close(struct screen_watch *w)
{
    if (w->sock >= 0)
        close(w->sock);
    if (w->capture) {
        mapping_close(&w->capture->map);
        free(w->capture);
    }
    *w = (struct screen_watch){.sock = -1};
}
