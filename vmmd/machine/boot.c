#include "machine/boot.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "byteorder.h"

/* Kernels built with an EFI stub (Debian's are) carry a PE/COFF header whose
 * section table says how long the file must be: that catches truncated copies,
 * which would otherwise crash inside the guest. */
static bool efi_stub_truncated(const uint8_t *data, size_t len, char *err, size_t err_len)
{
    if (data[0] != 'M' || data[1] != 'Z')
        return false;
    uint32_t pe = le32(data + 0x3c);
    if ((uint64_t)pe + 24 > len || memcmp(data + pe, "PE\0\0", 4) != 0)
        return false;
    if (le16(data + pe + 4) != 0xaa64) {
        snprintf(err, err_len, "the kernel's PE header is not for arm64 (machine 0x%x)",
                 le16(data + pe + 4));
        return true;
    }
    unsigned sections = le16(data + pe + 6);
    uint64_t table = (uint64_t)pe + 24 + le16(data + pe + 20);
    uint64_t needed = 0;
    for (unsigned i = 0; i < sections; i++) {
        uint64_t entry = table + 40ull * i;
        if (entry + 40 > len) {
            needed = entry + 40;
            break;
        }
        uint64_t end = (uint64_t)le32(data + entry + 20) + le32(data + entry + 16);
        if (end > needed)
            needed = end;
    }
    if (needed > len) {
        snprintf(err, err_len, "the kernel file is truncated (%zu bytes, its header needs %llu)",
                 len, (unsigned long long)needed);
        return true;
    }
    return false;
}

int arm64_image_parse(const uint8_t *data, size_t len, struct arm64_image *image,
                      char *err, size_t err_len)
{
    if (len < ARM64_IMAGE_HEADER_SIZE) {
        snprintf(err, err_len, "too short for an arm64 Image (%zu bytes)", len);
        return -1;
    }
    if (le32(data + 56) != ARM64_IMAGE_MAGIC) {
        snprintf(err, err_len, "not an arm64 Linux Image (no \"ARM\\x64\" magic at offset 56)");
        return -1;
    }
    image->text_offset = le64(data + 8);
    image->image_size = le64(data + 16);
    image->flags = le64(data + 24);
    if (image->image_size == 0) {
        /* Kernels before 3.17 leave these zero; booting.rst says assume 0x80000. */
        image->text_offset = 0x80000;
        image->image_size = len;
    }
    if (image->flags & 1) {
        snprintf(err, err_len, "big-endian kernels are not supported");
        return -1;
    }
    if (image->text_offset >= (2u << 20) || (image->text_offset & 0xfff)) {
        snprintf(err, err_len, "implausible text_offset 0x%llx in the Image header",
                 (unsigned long long)image->text_offset);
        return -1;
    }
    if (efi_stub_truncated(data, len, err, err_len))
        return -1;
    if (image->image_size > (1ull << 32)) {
        snprintf(err, err_len, "implausible image_size %llu in the Image header",
                 (unsigned long long)image->image_size);
        return -1;
    }
    return 0;
}

int gunzip_buffer(const uint8_t *in, size_t in_len, size_t max_out, uint8_t **out,
                  size_t *out_len, char *err, size_t err_len)
{
    z_stream zs = {0};
    if (in_len == 0 || max_out == 0) {
        snprintf(err, err_len, "empty gzip data");
        return -1;
    }
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        snprintf(err, err_len, "zlib initialisation failed");
        return -1;
    }
    size_t cap = in_len < max_out / 4 ? in_len * 4 : max_out;
    uint8_t *buf = malloc(cap);
    int rc = Z_OK;
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)in_len;
    while (buf && rc == Z_OK) {
        if (zs.total_out == cap) {
            if (cap == max_out)
                break;
            cap = cap * 2 < max_out ? cap * 2 : max_out;
            uint8_t *bigger = realloc(buf, cap);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
        }
        zs.next_out = buf + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        rc = inflate(&zs, Z_NO_FLUSH);
    }
    size_t produced = zs.total_out;
    inflateEnd(&zs);
    if (!buf || rc != Z_STREAM_END) {
        free(buf);
        snprintf(err, err_len, "%s", !buf ? "out of memory while decompressing"
                                    : rc == Z_OK ? "decompressed kernel is too large"
                                                 : "corrupt gzip data");
        return -1;
    }
    *out = buf;
    *out_len = produced;
    return 0;
}
