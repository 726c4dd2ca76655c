/* libFuzzer harness: the kernel loader's parsers, the way machine.c's
 * load_kernel uses them on a file the user names: gzip data is inflated
 * (bounded), then the arm64 Image header (and an EFI stub's PE section table)
 * is checked.
 *
 * Input: one byte of flags, then the file. Bit 0: the file is given to the
 * loader gzip-compressed (deflated here first), so the header checks see
 * what the fuzzer wrote either way; bits 1-3 choose the inflate bound (64 KiB
 * to 8 MiB).
 *
 * Checked: inflating what was deflated gives it back exactly (below the
 * bound), or is refused when it exceeds the bound, never more than the bound
 * is produced; raw gzip
 * input is inflated within the bound or refused; an accepted header has a
 * 4 KiB-aligned text_offset below 2 MiB, an image_size up to 4 GiB, is
 * little-endian, and the space load_kernel reserves for it cannot overflow. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "machine/boot.h"

#define LOADER_MAX_INPUT (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gzip-compresses in (level 1: fast); NULL when zlib says no. */
static uint8_t *gzip(const uint8_t *in, size_t len, size_t *out_len)
{
    z_stream zs = {0};
    if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)len) + 32;
    uint8_t *out = malloc(cap);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int rc = out ? deflate(&zs, Z_FINISH) : Z_MEM_ERROR;
    *out_len = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static void check_header(const uint8_t *file, size_t len)
{
    struct arm64_image image;
    char err[200];
    err[0] = '\0';
    if (arm64_image_parse(file, len, &image, err, sizeof(err)) < 0) {
        if (!err[0] || !memchr(err, '\0', sizeof(err)))
            abort(); /* a refusal says why */
        return;
    }
    if (len < ARM64_IMAGE_HEADER_SIZE || image.text_offset >= (2u << 20) ||
        (image.text_offset & 0xfff) || image.image_size > (1ull << 32) || (image.flags & 1))
        abort();
    /* load_kernel's need: text_offset + max(image_size, len), in 64 bits. */
    uint64_t need = image.text_offset + (image.image_size > len ? image.image_size : len);
    if (need < image.text_offset)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > LOADER_MAX_INPUT)
        return 0;
    bool compress = data[0] & 1;
    size_t max_out = (size_t)64 << 10 << ((data[0] >> 1) & 7);
    const uint8_t *file = data + 1;
    size_t len = size - 1;
    char err[200];
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (compress) {
        size_t packed_len;
        uint8_t *packed = gzip(file, len, &packed_len);
        if (!packed)
            return 0;
        int rc = gunzip_buffer(packed, packed_len, max_out, &raw, &raw_len, err, sizeof(err));
        free(packed);
        if (len > max_out) {
            if (rc == 0)
                abort(); /* more than the bound: refused */
            return 0;
        }
        if (len == max_out && rc != 0)
            return 0; /* exactly the bound: may count as too large */
        if (rc != 0 || raw_len != len || (len && memcmp(raw, file, len)))
            abort();
        check_header(raw, raw_len);
        free(raw);
        return 0;
    }
    if (len >= 2 && file[0] == 0x1f && file[1] == 0x8b) {
        if (gunzip_buffer(file, len, max_out, &raw, &raw_len, err, sizeof(err)) < 0)
            return 0;
        if (raw_len > max_out)
            abort();
        check_header(raw, raw_len);
        free(raw);
        return 0;
    }
    check_header(file, len);
    return 0;
}
