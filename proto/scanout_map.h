/* A scanout's shared memory, mapped read-only, and the checks that make every
 * later read of it safe: whatever ScanoutInfo and the header say is compared
 * before a single pixel is touched. Shared by everything that reads a scanout
 * (ignition-view, vmmctl screenshot). */
#ifndef IGNITION_SCANOUT_MAP_H
#define IGNITION_SCANOUT_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ignition.pb-c.h"
#include "scanout.h"

/* Texture sizes beyond this are refused (no renderer takes them anyway). */
#define MAPPING_MAX_DIMENSION 16384u
/* Bound on what one mapping may take of our address space. */
#define MAPPING_MAX_OBJECT (1ull << 32)

struct mapping {
    const uint8_t *base; /* NULL when nothing is mapped */
    size_t size;
    uint32_t width, height, stride, format;
    uint64_t data_offset, generation;
};

/* Whether format is one of the eight of proto/scanout.h. */
bool scanout_format_known(uint32_t format);

/* Where red, green and blue sit among a pixel's four bytes in format. False
 * for a format we do not know. */
bool scanout_format_rgb_offsets(uint32_t format, unsigned *r, unsigned *g, unsigned *b);

/* Whether ScanoutInfo describes a scanout that lies inside its object, in a
 * format we can show. why says what is wrong. */
bool mapping_info_valid(const Ignition__ScanoutInfo *info, char *why, size_t why_len);

/* Whether a header agrees with the ScanoutInfo it came with. */
bool mapping_header_matches(const struct scanout_shm_header *h, const Ignition__ScanoutInfo *info,
                            char *why, size_t why_len);

/* Maps fd read-only after checking info, then checks the header. The fd is
 * not closed. Returns 0, or -1 with why. */
int mapping_open(struct mapping *m, const Ignition__ScanoutInfo *info, int fd, char *why,
                 size_t why_len);

void mapping_close(struct mapping *m);

/* The first byte of scanout pixel (x, y); the caller has clipped x, y. */
const uint8_t *mapping_pixel(const struct mapping *m, uint32_t x, uint32_t y);

#endif
