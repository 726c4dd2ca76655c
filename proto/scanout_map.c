#include "scanout_map.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "util.h"

#define BYTES_PER_PIXEL 4u

bool scanout_format_known(uint32_t format)
{
    unsigned r, g, b;
    return scanout_format_rgb_offsets(format, &r, &g, &b);
}

/* Formats are named by their bytes in memory, first byte first. */
bool scanout_format_rgb_offsets(uint32_t format, unsigned *r, unsigned *g, unsigned *b)
{
    switch (format) {
    case SCANOUT_FORMAT_B8G8R8A8:
    case SCANOUT_FORMAT_B8G8R8X8: *b = 0, *g = 1, *r = 2; return true;
    case SCANOUT_FORMAT_A8R8G8B8:
    case SCANOUT_FORMAT_X8R8G8B8: *r = 1, *g = 2, *b = 3; return true;
    case SCANOUT_FORMAT_R8G8B8A8:
    case SCANOUT_FORMAT_R8G8B8X8: *r = 0, *g = 1, *b = 2; return true;
    case SCANOUT_FORMAT_A8B8G8R8:
    case SCANOUT_FORMAT_X8B8G8R8: *b = 1, *g = 2, *r = 3; return true;
    default: return false;
    }
}

bool mapping_info_valid(const Ignition__ScanoutInfo *info, char *why, size_t why_len)
{
    if (info->width == 0 || info->height == 0 || info->width > MAPPING_MAX_DIMENSION ||
        info->height > MAPPING_MAX_DIMENSION) {
        set_message(why, why_len, "scanout size %ux%u", info->width, info->height);
        return false;
    }
    if (!scanout_format_known(info->format)) {
        set_message(why, why_len, "unknown pixel format %u", info->format);
        return false;
    }
    /* width is at most 2^14, so width * 4 fits easily. */
    if (info->stride < info->width * BYTES_PER_PIXEL) {
        set_message(why, why_len, "stride %u is shorter than a row", info->stride);
        return false;
    }
    if (info->object_size < SCANOUT_SHM_HEADER_SIZE || info->object_size > MAPPING_MAX_OBJECT ||
        info->data_offset < SCANOUT_SHM_HEADER_SIZE || info->data_offset > info->object_size) {
        set_message(why, why_len, "object of %llu bytes with pixels at %llu",
                    (unsigned long long)info->object_size, (unsigned long long)info->data_offset);
        return false;
    }
    /* Every term is below 2^32 * 2^14 or so: the sum cannot wrap 64 bits. */
    uint64_t last_row = (uint64_t)(info->height - 1) * info->stride;
    uint64_t end = info->data_offset + last_row + (uint64_t)info->width * BYTES_PER_PIXEL;
    if (end > info->object_size) {
        set_message(why, why_len, "the scanout ends at byte %llu of a %llu-byte object",
                    (unsigned long long)end, (unsigned long long)info->object_size);
        return false;
    }
    return true;
}

bool mapping_header_matches(const struct scanout_shm_header *h, const Ignition__ScanoutInfo *info,
                            char *why, size_t why_len)
{
    if (h->magic != SCANOUT_SHM_MAGIC || h->version != SCANOUT_SHM_VERSION) {
        set_message(why, why_len, "header magic %08x version %u", h->magic, h->version);
        return false;
    }
    if (h->stride != info->stride || h->format != info->format || h->size != info->object_size) {
        set_message(why, why_len, "header stride %u format %u size %llu disagree with the message",
                    h->stride, h->format, (unsigned long long)h->size);
        return false;
    }
    return true;
}

int mapping_open(struct mapping *m, const Ignition__ScanoutInfo *info, int fd, char *why,
                 size_t why_len)
{
    *m = (struct mapping){0};
    if (!mapping_info_valid(info, why, why_len))
        return -1;
    /* A mapping past the object's end would fault on first touch. */
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size < info->object_size) {
        set_message(why, why_len, "the shared object is smaller than %llu bytes",
                    (unsigned long long)info->object_size);
        return -1;
    }
    void *p = mmap(NULL, (size_t)info->object_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        set_message(why, why_len, "mmap: %s", strerror(errno));
        return -1;
    }
    if (!mapping_header_matches(p, info, why, why_len)) {
        munmap(p, (size_t)info->object_size);
        return -1;
    }
    *m = (struct mapping){
        .base = p,
        .size = (size_t)info->object_size,
        .width = info->width,
        .height = info->height,
        .stride = info->stride,
        .format = info->format,
        .data_offset = info->data_offset,
        .generation = info->generation,
    };
    return 0;
}

void mapping_close(struct mapping *m)
{
    if (m->base)
        munmap((void *)m->base, m->size);
    *m = (struct mapping){0};
}

const uint8_t *mapping_pixel(const struct mapping *m, uint32_t x, uint32_t y)
{
    return m->base + m->data_offset + (uint64_t)y * m->stride + (uint64_t)x * BYTES_PER_PIXEL;
}
