/* Little-endian fields in byte buffers: guest structures (virtio, the arm64
 * Image header) and our own file formats, read and written the same way on
 * any host. */
#ifndef IGNITION_BYTEORDER_H
#define IGNITION_BYTEORDER_H

#include <stdint.h>

static inline uint64_t le_get(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = bytes; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

static inline void le_put(uint8_t *p, uint64_t v, unsigned bytes)
{
    for (unsigned i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t le16(const uint8_t *p) { return (uint16_t)le_get(p, 2); }
static inline uint32_t le32(const uint8_t *p) { return (uint32_t)le_get(p, 4); }
static inline uint64_t le64(const uint8_t *p) { return le_get(p, 8); }

#endif
