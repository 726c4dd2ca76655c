/* Loading an arm64 Linux kernel per Documentation/arch/arm64/booting.rst. */
#ifndef IGNITION_BOOT_H
#define IGNITION_BOOT_H

#include <stddef.h>
#include <stdint.h>

#define ARM64_IMAGE_MAGIC 0x644d5241u /* "ARM\x64" at offset 56 */
#define ARM64_IMAGE_HEADER_SIZE 64

struct arm64_image {
    uint64_t text_offset; /* where in a 2 MiB-aligned region the image goes */
    uint64_t image_size;  /* bytes the kernel needs from its start, BSS included */
    uint64_t flags;
};

/* Parses and checks an Image header. Returns 0, or -1 with a reason in err. */
int arm64_image_parse(const uint8_t *data, size_t len, struct arm64_image *image,
                      char *err, size_t err_len);

/* Gunzips a gzip-compressed kernel (the Image.gz form). Returns 0 or -1. */
int gunzip_buffer(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out,
                  size_t *out_len, char *err, size_t err_len);

#endif
