/* The layout of a scanout's shared memory (DESIGN.md section 4). Every process
 * that maps a scanout includes this: the guest worker writes it, viewers and
 * test clients read it. Integers are in the host's byte order (the object never
 * leaves the machine). */
#ifndef IGNITION_SCANOUT_H
#define IGNITION_SCANOUT_H

#include <stdint.h>

#define SCANOUT_SHM_MAGIC 0x4e435349u /* "ISCN" read as little-endian bytes */
#define SCANOUT_SHM_VERSION 1u
#define SCANOUT_SHM_HEADER_SIZE 4096u /* pixels start on the next page */

/* Pixel formats: the virtio-gpu format numbers (virtio 1.2, 5.7.6.8), named by
 * byte order in memory; 4 bytes per pixel. ScanoutInfo.format is one of these. */
enum scanout_format {
    SCANOUT_FORMAT_B8G8R8A8 = 1,
    SCANOUT_FORMAT_B8G8R8X8 = 2,
    SCANOUT_FORMAT_A8R8G8B8 = 3,
    SCANOUT_FORMAT_X8R8G8B8 = 4,
    SCANOUT_FORMAT_R8G8B8A8 = 67,
    SCANOUT_FORMAT_X8B8G8R8 = 68,
    SCANOUT_FORMAT_A8B8G8R8 = 121,
    SCANOUT_FORMAT_R8G8B8X8 = 134,
};

/* At offset 0. Geometry is that of the guest resource the pixels belong to; the
 * scanout shows the rectangle ScanoutInfo names within it. */
struct scanout_shm_header {
    uint32_t magic;       /* SCANOUT_SHM_MAGIC */
    uint32_t version;     /* SCANOUT_SHM_VERSION */
    uint32_t header_size; /* byte offset of pixel (0, 0) */
    uint32_t format;      /* virtio-gpu format (VIRTIO_GPU_FORMAT_*), 4 bytes per pixel */
    uint32_t width, height;
    uint32_t stride;      /* bytes per row */
    uint32_t reserved;
    /* Bumped (release order) once a flush's pixels are in place; a reader that
     * loads it (acquire) before and after copying knows whether it raced one. */
    uint64_t sequence;
    uint64_t size; /* bytes in the whole object */
};

#endif
