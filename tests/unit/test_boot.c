/* Kernel loading (Documentation/arch/arm64/booting.rst): the Image header, the
 * EFI stub's PE/COFF header that reveals truncated files, and Image.gz. Headers
 * are built by hand so that each field's effect is checked on its own. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "machine/boot.h"
#include "util.h"
#include "unit.h"

#define FILE_LEN 0x3000
#define PE_OFFSET 0x40 /* where Linux puts "PE\0\0" */
#define OPT_HEADER_SIZE 0xa0 /* PE32+ optional header with 16 data directories */
#define SECTION_TABLE (PE_OFFSET + 24 + OPT_HEADER_SIZE)
#define PE_MACHINE_ARM64 0xaa64
#define PE_MACHINE_AMD64 0x8664
#define MAX_REAL_KERNEL (256u << 20)

static uint8_t file[FILE_LEN];
static struct arm64_image image;
static char err[256];

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* An Image header as the kernel's head.S lays it out (no EFI stub). */
static void make_image(uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
    memset(file, 0, sizeof(file));
    put32(file, 0x14000010); /* code0: b stext */
    put64(file + 8, text_offset);
    put64(file + 16, image_size);
    put64(file + 24, flags);
    memcpy(file + 56, "ARM\x64", 4);
}

/* The same with an EFI stub: "MZ" in code0 and a PE header whose two sections
 * end at FILE_LEN. */
static void make_efi_image(uint16_t machine)
{
    make_image(0, 0x40000, 0xa);
    file[0] = 'M';
    file[1] = 'Z';
    put32(file + 0x3c, PE_OFFSET);
    memcpy(file + PE_OFFSET, "PE\0\0", 4);
    put16(file + PE_OFFSET + 4, machine);
    put16(file + PE_OFFSET + 6, 2); /* NumberOfSections */
    put16(file + PE_OFFSET + 20, OPT_HEADER_SIZE);
    uint8_t *text = file + SECTION_TABLE, *data = text + 40;
    memcpy(text, ".text\0\0\0", 8);
    put32(text + 16, 0x1000); /* SizeOfRawData */
    put32(text + 20, 0x1000); /* PointerToRawData */
    memcpy(data, ".data\0\0\0", 8);
    put32(data + 16, 0x1000);
    put32(data + 20, 0x2000);
}

static int parse(size_t len)
{
    memset(&image, 0x5a, sizeof(image));
    err[0] = '\0';
    return arm64_image_parse(file, len, &image, err, sizeof(err));
}

static void assert_rejected(size_t len, const char *reason)
{
    ck_assert_int_eq(parse(len), -1);
    ck_assert_msg(strstr(err, reason) != NULL, "error \"%s\" does not mention \"%s\"", err,
                  reason);
}

/* ---- Image header --------------------------------------------------------------------- */

START_TEST(test_valid_text_offset_zero)
{
    make_image(0, 0x1230000, 0xa); /* LE, 4K pages, placed anywhere */
    ck_assert_int_eq(parse(FILE_LEN), 0);
    ck_assert_uint_eq(image.text_offset, 0);
    ck_assert_uint_eq(image.image_size, 0x1230000);
    ck_assert_uint_eq(image.flags, 0xa);
}
END_TEST

START_TEST(test_valid_text_offset_0x80000)
{
    make_image(0x80000, 0x1230000, 0x2);
    ck_assert_int_eq(parse(FILE_LEN), 0);
    ck_assert_uint_eq(image.text_offset, 0x80000);
    ck_assert_uint_eq(image.image_size, 0x1230000);
}
END_TEST

START_TEST(test_header_only_is_enough)
{
    make_image(0, 0x10000, 0);
    ck_assert_int_eq(parse(ARM64_IMAGE_HEADER_SIZE), 0);
}
END_TEST

START_TEST(test_too_short)
{
    make_image(0, 0x10000, 0);
    assert_rejected(ARM64_IMAGE_HEADER_SIZE - 1, "too short");
    assert_rejected(0, "too short");
}
END_TEST

START_TEST(test_x86_bzimage_rejected)
{
    /* An x86 bzImage: "MZ" stub, boot flag 0xaa55, "HdrS" setup header. */
    memset(file, 0, sizeof(file));
    file[0] = 'M';
    file[1] = 'Z';
    file[0x1f1] = 27; /* setup_sects */
    put16(file + 0x1fe, 0xaa55);
    memcpy(file + 0x202, "HdrS", 4);
    put16(file + 0x206, 0x020f);
    assert_rejected(FILE_LEN, "magic");
}
END_TEST

START_TEST(test_random_bytes_rejected)
{
    uint32_t x = 0x12345678;
    for (size_t i = 0; i < FILE_LEN; i++) {
        x = x * 1103515245u + 12345u;
        file[i] = (uint8_t)(x >> 16);
    }
    file[56] = 'A'; /* "A" but not "ARM\x64" */
    assert_rejected(FILE_LEN, "magic");
}
END_TEST

START_TEST(test_magic_off_by_one_rejected)
{
    make_image(0, 0x10000, 0);
    file[59] = 0x65;
    assert_rejected(FILE_LEN, "magic");
}
END_TEST

START_TEST(test_old_kernel_defaults)
{
    /* Before 3.17 the kernel left image_size 0: text_offset is 0x80000 then. */
    make_image(0, 0, 0);
    ck_assert_int_eq(parse(FILE_LEN), 0);
    ck_assert_uint_eq(image.text_offset, 0x80000);
    ck_assert_uint_eq(image.image_size, FILE_LEN);
}
END_TEST

START_TEST(test_big_endian_rejected)
{
    make_image(0, 0x10000, 0xb);
    assert_rejected(FILE_LEN, "big-endian");
}
END_TEST

START_TEST(test_misaligned_text_offset_rejected)
{
    make_image(0x80010, 0x10000, 0);
    assert_rejected(FILE_LEN, "text_offset");
}
END_TEST

START_TEST(test_huge_text_offset_rejected)
{
    /* The image must start inside the 2 MiB-aligned region it is placed in. */
    make_image(0x200000, 0x10000, 0);
    assert_rejected(FILE_LEN, "text_offset");
    make_image(0xfffffffffffff000ull, 0x10000, 0);
    assert_rejected(FILE_LEN, "text_offset");
}
END_TEST

START_TEST(test_largest_text_offset_accepted)
{
    make_image(0x1ff000, 0x10000, 0);
    ck_assert_int_eq(parse(FILE_LEN), 0);
}
END_TEST

START_TEST(test_huge_image_size_rejected)
{
    make_image(0, (1ull << 32) + 1, 0);
    assert_rejected(FILE_LEN, "image_size");
}
END_TEST

/* ---- EFI stub ---------------------------------------------------------------------------- */

START_TEST(test_efi_stub_complete_accepted)
{
    make_efi_image(PE_MACHINE_ARM64);
    ck_assert_msg(parse(FILE_LEN) == 0, "rejected: %s", err);
    ck_assert_uint_eq(image.text_offset, 0);
    ck_assert_uint_eq(image.image_size, 0x40000); /* more than the file: BSS */
}
END_TEST

START_TEST(test_efi_stub_truncated_rejected)
{
    make_efi_image(PE_MACHINE_ARM64);
    assert_rejected(FILE_LEN - 1, "truncated");
    assert_rejected(0x1800, "truncated");
}
END_TEST

START_TEST(test_efi_stub_section_table_truncated)
{
    /* A file cut inside its own section table is truncated as well. */
    make_efi_image(PE_MACHINE_ARM64);
    assert_rejected(SECTION_TABLE + 60, "truncated");
}
END_TEST

START_TEST(test_efi_stub_for_x86_rejected)
{
    make_efi_image(PE_MACHINE_AMD64);
    assert_rejected(FILE_LEN, "arm64");
}
END_TEST

START_TEST(test_mz_without_pe_header_is_plain_image)
{
    /* "MZ" alone (or a PE offset pointing nowhere) is not a PE file to check. */
    make_efi_image(PE_MACHINE_ARM64);
    put32(file + 0x3c, 0xfffffff0u);
    ck_assert_msg(parse(0x1000) == 0, "rejected: %s", err);
    put32(file + 0x3c, 0x800); /* zeros there, not "PE\0\0" */
    ck_assert_msg(parse(0x1000) == 0, "rejected: %s", err);
}
END_TEST

/* ---- gunzip ---------------------------------------------------------------------------------- */

/* Compressible but not trivial data, so that the output buffer has to grow. */
static uint8_t *sample_data(size_t len)
{
    uint8_t *p = malloc(len);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i % 251) ^ (i >> 12));
    return p;
}

/* gzip (not zlib) framing, as `gzip` writes Image.gz. */
static uint8_t *gzip(const uint8_t *in, size_t len, size_t *out_len)
{
    z_stream zs = {0};
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)len);
    uint8_t *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    ck_assert_uint_eq(out[0], 0x1f); /* the magic machine.c looks for */
    ck_assert_uint_eq(out[1], 0x8b);
    return out;
}

static int gunzip(const uint8_t *in, size_t len, size_t max_out, uint8_t **out, size_t *out_len)
{
    err[0] = '\0';
    return gunzip_buffer(in, len, max_out, out, out_len, err, sizeof(err));
}

START_TEST(test_gunzip_round_trip)
{
    enum { LEN = 3 << 20 };
    uint8_t *data = sample_data(LEN);
    size_t gz_len;
    uint8_t *gz = gzip(data, LEN, &gz_len);
    ck_assert_uint_lt(gz_len * 4, LEN); /* so the output buffer must grow */
    uint8_t *out = NULL;
    size_t out_len = 0;
    ck_assert_msg(gunzip(gz, gz_len, 64u << 20, &out, &out_len) == 0, "failed: %s", err);
    ck_assert_uint_eq(out_len, LEN);
    ck_assert_mem_eq(out, data, LEN);
    free(out);
    free(gz);
    free(data);
}
END_TEST

START_TEST(test_gunzip_exactly_max_out)
{
    enum { LEN = 100000 };
    uint8_t *data = sample_data(LEN);
    size_t gz_len;
    uint8_t *gz = gzip(data, LEN, &gz_len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    ck_assert_msg(gunzip(gz, gz_len, LEN, &out, &out_len) == 0, "failed: %s", err);
    ck_assert_uint_eq(out_len, LEN);
    ck_assert_mem_eq(out, data, LEN);
    free(out);
    free(gz);
    free(data);
}
END_TEST

START_TEST(test_gunzip_larger_than_max_out_rejected)
{
    enum { LEN = 100000 };
    uint8_t *data = sample_data(LEN);
    size_t gz_len;
    uint8_t *gz = gzip(data, LEN, &gz_len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    ck_assert_int_eq(gunzip(gz, gz_len, LEN - 1, &out, &out_len), -1);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(err, "too large") != NULL, "error: %s", err);
    free(gz);
    free(data);
}
END_TEST

/* Decompresses a damaged copy of a good stream; it must fail cleanly. */
static void assert_damage_rejected(void (*damage)(uint8_t *gz, size_t *len))
{
    enum { LEN = 200000 };
    uint8_t *data = sample_data(LEN);
    size_t gz_len;
    uint8_t *gz = gzip(data, LEN, &gz_len);
    damage(gz, &gz_len);
    uint8_t *out = NULL;
    size_t out_len = 0;
    ck_assert_int_eq(gunzip(gz, gz_len, 64u << 20, &out, &out_len), -1);
    ck_assert_ptr_null(out);
    ck_assert_msg(err[0] != '\0', "no reason given");
    free(gz);
    free(data);
}

static void bad_magic(uint8_t *gz, size_t *len)
{
    (void)len;
    gz[1] = 0x8c;
}

static void flipped_payload_byte(uint8_t *gz, size_t *len)
{
    gz[*len / 2] ^= 0x10;
}

static void bad_crc(uint8_t *gz, size_t *len)
{
    gz[*len - 8] ^= 1; /* trailer: CRC32 then ISIZE */
}

static void cut_short(uint8_t *gz, size_t *len)
{
    (void)gz;
    *len -= 20;
}

START_TEST(test_gunzip_bad_magic_rejected)
{
    assert_damage_rejected(bad_magic);
}
END_TEST

START_TEST(test_gunzip_corrupt_payload_rejected)
{
    assert_damage_rejected(flipped_payload_byte);
}
END_TEST

START_TEST(test_gunzip_bad_crc_rejected)
{
    assert_damage_rejected(bad_crc);
}
END_TEST

START_TEST(test_gunzip_truncated_rejected)
{
    assert_damage_rejected(cut_short);
}
END_TEST

START_TEST(test_gunzip_not_gzip_rejected)
{
    make_image(0, 0x10000, 0);
    uint8_t *out = NULL;
    size_t out_len = 0;
    ck_assert_int_eq(gunzip(file, FILE_LEN, 64u << 20, &out, &out_len), -1);
    ck_assert_ptr_null(out);
}
END_TEST

/* Regression: empty gzip input must be rejected, not double-freed (realloc to 0). */
START_TEST(test_gunzip_empty_input_rejected)
{
    static const uint8_t nothing[1];
    uint8_t *out = NULL;
    size_t out_len = 0;
    ck_assert_int_eq(gunzip(nothing, 0, 64u << 20, &out, &out_len), -1);
    ck_assert_ptr_null(out);
}
END_TEST

/* ---- the real guest kernel (when tools/build-guest has been run) ------------------------- */

static char real_image_path[4096];

/* The first candidate that exists: $IGNITION_GUEST_DIR/Image, then the build
 * directory's guest, then the default build directory's. */
static bool find_real_image(void)
{
    static char from_env[sizeof(real_image_path)];
    const char *dir = getenv("IGNITION_GUEST_DIR");
    const char *candidates[3] = {NULL, IGNITION_GUEST_IMAGE, IGNITION_GUEST_IMAGE_FALLBACK};
    if (dir) {
        snprintf(from_env, sizeof(from_env), "%s/Image", dir);
        candidates[0] = from_env;
    }
    for (int i = 0; i < 3; i++) {
        if (candidates[i] && access(candidates[i], R_OK) == 0) {
            snprintf(real_image_path, sizeof(real_image_path), "%s", candidates[i]);
            return true;
        }
    }
    return false;
}

START_TEST(test_real_debian_kernel)
{
    uint8_t *data;
    size_t len;
    int rc = read_whole_file(real_image_path, &data, &len, MAX_REAL_KERNEL);
    ck_assert_msg(rc == 0, "cannot read %s: %d", real_image_path, rc);
    ck_assert_msg(data[0] == 'M' && data[1] == 'Z', "Debian kernels have an EFI stub");
    struct arm64_image real;
    ck_assert_msg(arm64_image_parse(data, len, &real, err, sizeof(err)) == 0, "%s: %s",
                  real_image_path, err);
    ck_assert_uint_eq(real.text_offset, 0);
    ck_assert_uint_gt(real.image_size, len); /* BSS is not in the file */
    ck_assert_uint_eq(real.flags & 1, 0);
    /* A copy cut in half is caught by the PE section table. */
    ck_assert_int_eq(arm64_image_parse(data, len / 2, &real, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "truncated") != NULL, "error: %s", err);
    free(data);
}
END_TEST

static Suite *boot_suite(bool with_real_image)
{
    Suite *s = suite_create("boot");
    TCase *header = tcase_create("image_header");
    tcase_add_test(header, test_valid_text_offset_zero);
    tcase_add_test(header, test_valid_text_offset_0x80000);
    tcase_add_test(header, test_header_only_is_enough);
    tcase_add_test(header, test_too_short);
    tcase_add_test(header, test_x86_bzimage_rejected);
    tcase_add_test(header, test_random_bytes_rejected);
    tcase_add_test(header, test_magic_off_by_one_rejected);
    tcase_add_test(header, test_old_kernel_defaults);
    tcase_add_test(header, test_big_endian_rejected);
    tcase_add_test(header, test_misaligned_text_offset_rejected);
    tcase_add_test(header, test_huge_text_offset_rejected);
    tcase_add_test(header, test_largest_text_offset_accepted);
    tcase_add_test(header, test_huge_image_size_rejected);
    suite_add_tcase(s, header);

    TCase *efi = tcase_create("efi_stub");
    tcase_add_test(efi, test_efi_stub_complete_accepted);
    tcase_add_test(efi, test_efi_stub_truncated_rejected);
    tcase_add_test(efi, test_efi_stub_section_table_truncated);
    tcase_add_test(efi, test_efi_stub_for_x86_rejected);
    tcase_add_test(efi, test_mz_without_pe_header_is_plain_image);
    suite_add_tcase(s, efi);

    TCase *gz = tcase_create("gunzip");
    tcase_set_timeout(gz, 20);
    tcase_add_test(gz, test_gunzip_round_trip);
    tcase_add_test(gz, test_gunzip_exactly_max_out);
    tcase_add_test(gz, test_gunzip_larger_than_max_out_rejected);
    tcase_add_test(gz, test_gunzip_bad_magic_rejected);
    tcase_add_test(gz, test_gunzip_corrupt_payload_rejected);
    tcase_add_test(gz, test_gunzip_bad_crc_rejected);
    tcase_add_test(gz, test_gunzip_truncated_rejected);
    tcase_add_test(gz, test_gunzip_not_gzip_rejected);
    tcase_add_test(gz, test_gunzip_empty_input_rejected);
    suite_add_tcase(s, gz);

    if (with_real_image) {
        TCase *real = tcase_create("real_kernel");
        tcase_set_timeout(real, 30);
        tcase_add_test(real, test_real_debian_kernel);
        suite_add_tcase(s, real);
    }
    return s;
}

int main(void)
{
    bool with_real_image = find_real_image();
    if (with_real_image)
        printf("boot: real_kernel: parsing %s\n", real_image_path);
    else
        printf("boot: real_kernel: NOT RUN - no guest kernel in $IGNITION_GUEST_DIR, %s or %s "
               "(run tools/build-guest); the count below does not include it\n",
               IGNITION_GUEST_IMAGE, IGNITION_GUEST_IMAGE_FALLBACK);
    fflush(stdout); /* before Check forks, or the line is printed once per test */
    return run_suite(boot_suite(with_real_image));
}
