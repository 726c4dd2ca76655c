/* Disk images: the --disk argument, the copy-on-write layer over an immutable
 * base (contents, persistence, flush ordering, zeroing, a base that changed, a
 * layer in use twice, damaged and crafted files) and exporting what the guest
 * sees. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "byteorder.h"
#include "storage/disk.h"
#include "storage/disk_overlay.h"
#include "paths.h"
#include "unit.h"

/* 16 whole 4 KiB blocks and a short 512-byte last one. */
#define BASE_SIZE (16u * 4096u + 512u)

static char dir[64], base_path[128], inst[128];
static uint8_t base_copy[BASE_SIZE];

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void read_file(const char *path, void *data, size_t len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, data, len), (ssize_t)len);
    close(fd);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-disk-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(base_path, sizeof(base_path), "%s/base.img", dir);
    snprintf(inst, sizeof(inst), "%s/instance", dir);
    for (size_t i = 0; i < BASE_SIZE; i++)
        base_copy[i] = (uint8_t)(i * 7 + 3);
    write_file(base_path, base_copy, BASE_SIZE);
    ck_assert_int_eq(paths_make_dirs(inst, 0700), 0);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct disk *open_disk(enum disk_cow cow, bool read_only)
{
    struct disk_spec spec = {.path = base_path, .cow = cow, .read_only = read_only};
    char err[512] = "";
    struct disk *d = disk_open(&spec, inst, 0, err, sizeof(err));
    ck_assert_msg(d != NULL, "disk_open: %s", err);
    return d;
}

/* Removes disk0's overlay and makes a new one. */
static struct disk *open_disk_fresh(void)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/disk0.cow", inst);
    unlink(path);
    return open_disk(DISK_COW_OVERLAY, false);
}

static void assert_base_untouched(void)
{
    static uint8_t now[BASE_SIZE];
    read_file(base_path, now, BASE_SIZE);
    ck_assert(memcmp(now, base_copy, BASE_SIZE) == 0);
}

/* ---- the --disk argument ------------------------------------------------------------- */

START_TEST(test_spec_options)
{
    char text[] = "/x/root.img,ro,cow=overlay,serial=abc";
    struct disk_spec spec;
    char err[160];
    ck_assert_int_eq(disk_spec_parse(text, &spec, err, sizeof(err)), 0);
    ck_assert_str_eq(spec.path, "/x/root.img");
    ck_assert(spec.read_only);
    ck_assert_int_eq(spec.cow, DISK_COW_OVERLAY);
    ck_assert_str_eq(spec.serial, "abc");
}
END_TEST

START_TEST(test_spec_rejects)
{
    const char *bad[] = {"", ",ro", "a.img,rw", "a.img,cow=maybe",
                         "a.img,serial=123456789012345678901"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[64], err[160] = "";
        struct disk_spec spec;
        snprintf(text, sizeof(text), "%s", bad[i]);
        ck_assert_msg(disk_spec_parse(text, &spec, err, sizeof(err)) < 0, "%s", bad[i]);
        ck_assert(err[0] != '\0');
    }
}
END_TEST

/* ---- copy-on-write semantics, for both layer kinds ------------------------------------ */

/* Writes that start and end inside blocks, cross blocks, and cover the short
 * last block; each must read back merged with the base around it. */
static void exercise_writes(struct disk *d, uint8_t *expect)
{
    static const struct { uint64_t at; size_t len; } writes[] = {
        {100, 10}, {4000, 9000}, {8192, 4096}, {BASE_SIZE - 700, 700}, {0, 1},
    };
    for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
        uint8_t buf[9000];
        memset(buf, 0xa0 + (int)i, writes[i].len);
        ck_assert_int_eq(disk_write(d, writes[i].at, buf, writes[i].len), 0);
        memcpy(expect + writes[i].at, buf, writes[i].len);
    }
}

static void assert_reads(struct disk *d, const uint8_t *expect)
{
    static uint8_t got[BASE_SIZE];
    ck_assert_int_eq(disk_read(d, 0, got, BASE_SIZE), 0);
    ck_assert(memcmp(got, expect, BASE_SIZE) == 0);
    /* and in odd pieces, which cross present and absent blocks */
    for (uint64_t at = 0; at < BASE_SIZE; at += 3001) {
        size_t n = BASE_SIZE - at < 3001 ? (size_t)(BASE_SIZE - at) : 3001;
        ck_assert_int_eq(disk_read(d, at, got, n), 0);
        ck_assert(memcmp(got, expect + at, n) == 0);
    }
}

static void check_copy_on_write(enum disk_cow cow)
{
    static uint8_t expect[BASE_SIZE];
    memcpy(expect, base_copy, BASE_SIZE);
    struct disk *d = open_disk(cow, false);
    ck_assert_uint_eq(disk_size(d), BASE_SIZE);
    ck_assert(!disk_read_only(d));
    assert_reads(d, expect);
    exercise_writes(d, expect);
    assert_reads(d, expect);
    ck_assert_int_eq(disk_flush(d), 0);
    disk_close(d);
    assert_base_untouched();
    /* Opened again from the same instance: what was written is still there. */
    d = open_disk(cow, false);
    assert_reads(d, expect);
    disk_close(d);
}

START_TEST(test_overlay_copy_on_write)
{
    check_copy_on_write(DISK_COW_OVERLAY);
}
END_TEST

START_TEST(test_auto_copy_on_write)
{
    check_copy_on_write(DISK_COW_AUTO);
}
END_TEST

START_TEST(test_write_zeroes_and_discard)
{
    static uint8_t expect[BASE_SIZE];
    memcpy(expect, base_copy, BASE_SIZE);
    struct disk *d = open_disk(DISK_COW_OVERLAY, false);
    ck_assert_int_eq(disk_write_zeroes(d, 512, 3 * 4096, true), 0); /* partial, whole, partial */
    memset(expect + 512, 0, 3 * 4096);
    ck_assert_int_eq(disk_discard(d, 8 * 4096, 8 * 4096 + 512), 0); /* to the end */
    memset(expect + 8 * 4096, 0, 8 * 4096 + 512);
    assert_reads(d, expect);
    disk_close(d);
    d = open_disk(DISK_COW_OVERLAY, false);
    assert_reads(d, expect);
    disk_close(d);
    assert_base_untouched();
}
END_TEST

START_TEST(test_out_of_range)
{
    struct disk *d = open_disk(DISK_COW_OVERLAY, false);
    uint8_t buf[1024];
    ck_assert_int_eq(disk_read(d, BASE_SIZE - 512, buf, 1024), -EINVAL);
    ck_assert_int_eq(disk_write(d, BASE_SIZE, buf, 1), -EINVAL);
    ck_assert_int_eq(disk_read(d, UINT64_MAX - 10, buf, 512), -EINVAL);
    ck_assert_int_eq(disk_write_zeroes(d, 512, UINT64_MAX, false), -EINVAL);
    ck_assert_int_eq(disk_read(d, BASE_SIZE, buf, 0), 0);
    disk_close(d);
}
END_TEST

START_TEST(test_read_only_refuses_writes)
{
    struct disk *d = open_disk(DISK_COW_AUTO, true);
    uint8_t buf[512] = {1};
    ck_assert(disk_read_only(d));
    ck_assert_ptr_null(disk_layer_path(d));
    ck_assert_int_eq(disk_write(d, 0, buf, sizeof(buf)), -EROFS);
    ck_assert_int_eq(disk_write_zeroes(d, 0, 512, false), -EROFS);
    ck_assert_int_eq(disk_read(d, 512, buf, sizeof(buf)), 0);
    ck_assert(memcmp(buf, base_copy + 512, sizeof(buf)) == 0);
    disk_close(d);
    assert_base_untouched();
}
END_TEST

/* ---- the overlay file ------------------------------------------------------------------- */

static uint8_t overlay_bitmap_byte(void)
{
    char path[160];
    uint8_t byte;
    snprintf(path, sizeof(path), "%s/disk0.cow", inst);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &byte, 1, 4096), 1);
    close(fd);
    return byte;
}

/* The bitmap on disk moves only at a flush, after the data. */
START_TEST(test_overlay_bitmap_written_by_flush)
{
    struct disk *d = open_disk(DISK_COW_OVERLAY, false);
    uint8_t buf[4096];
    memset(buf, 0x55, sizeof(buf));
    ck_assert_int_eq(disk_write(d, 4096, buf, sizeof(buf)), 0);
    ck_assert_uint_eq(overlay_bitmap_byte(), 0);
    ck_assert_int_eq(disk_flush(d), 0);
    ck_assert_uint_eq(overlay_bitmap_byte(), 0x02);
    disk_close(d);
}
END_TEST

START_TEST(test_overlay_in_use_twice)
{
    struct disk *d = open_disk(DISK_COW_OVERLAY, false);
    struct disk_spec spec = {.path = base_path, .cow = DISK_COW_OVERLAY};
    char err[512] = "";
    ck_assert_ptr_null(disk_open(&spec, inst, 0, err, sizeof(err)));
    ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
    disk_close(d);
}
END_TEST

START_TEST(test_overlay_refuses_changed_base)
{
    disk_close(open_disk(DISK_COW_OVERLAY, false));
    struct timeval later[2] = {{.tv_sec = 1000000}, {.tv_sec = 1000000}};
    ck_assert_int_eq(utimes(base_path, later), 0);
    struct disk_spec spec = {.path = base_path, .cow = DISK_COW_OVERLAY};
    char err[512] = "";
    ck_assert_ptr_null(disk_open(&spec, inst, 0, err, sizeof(err)));
    ck_assert_msg(strstr(err, "modified") != NULL, "%s", err);
}
END_TEST

static void layer_path(char *path, size_t len)
{
    snprintf(path, len, "%s/disk0.cow", inst);
}

/* Rewrites header fields of disk0.cow; version 2 headers get their checksum
 * made good again, as a crafted file would. */
struct header_field {
    unsigned at, width;
    uint64_t value;
};

static void rewrite_header(const struct header_field *fields, size_t n)
{
    char path[160];
    layer_path(path, sizeof(path));
    static uint8_t h[OVERLAY_HEADER_SIZE];
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
    for (size_t i = 0; i < n; i++)
        le_put(h + fields[i].at, fields[i].value, fields[i].width);
    if (le_get(h + OVERLAY_H_VERSION, 4) >= 2)
        le_put(h + OVERLAY_H_HEADER_CRC, overlay_header_crc(h), 4);
    else
        le_put(h + OVERLAY_H_HEADER_CRC, 0, 4);
    ck_assert_int_eq(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
    close(fd);
}

static void assert_refused(const char *why)
{
    struct disk_spec spec = {.path = base_path, .cow = DISK_COW_OVERLAY};
    char err[512] = "";
    struct disk *d = disk_open(&spec, inst, 0, err, sizeof(err));
    ck_assert_msg(d == NULL, "a layer that should be refused (%s) was opened", why);
    ck_assert_msg(strstr(err, why) != NULL, "%s", err);
}

START_TEST(test_overlay_damaged_header)
{
    disk_close(open_disk(DISK_COW_OVERLAY, false));
    char path[160];
    layer_path(path, sizeof(path));
    int fd = open(path, O_WRONLY);
    uint8_t junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), 16), 8); /* the disk size */
    close(fd);
    assert_refused("checksum mismatch");
    /* A header that claims a huge disk in a small file (its checksum good). */
    disk_close(open_disk_fresh());
    /* consistent geometry for 2^49 bytes: a 2^34-byte bitmap the file lacks */
    const struct header_field huge[] = {
        {OVERLAY_H_DISK_SIZE, 8, 1ull << 49}, {OVERLAY_H_BITMAP_OFFSET, 8, 4096},
        {OVERLAY_H_BITMAP_BYTES, 8, 1ull << 34}, {OVERLAY_H_DATA_OFFSET, 8, (1ull << 34) + 4096}};
    rewrite_header(huge, 4);
    assert_refused("truncated");
    write_file(path, "short", 5);
    assert_refused("not an ignition overlay");
}
END_TEST

/* A layer whose header says its disk is one block while its base has 17: the
 * bitmap would be sized for one block and the guest's I/O, bounded by the
 * base, would index past it. Refused, whatever the version and checksum. */
START_TEST(test_overlay_refuses_geometry_unlike_base)
{
    for (unsigned version = 1; version <= 2; version++) {
        disk_close(open_disk_fresh());
        const struct header_field small[] = {
            {OVERLAY_H_VERSION, 4, version}, {OVERLAY_H_DISK_SIZE, 8, 4096},
            {OVERLAY_H_BITMAP_BYTES, 8, 1}, {OVERLAY_H_DATA_OFFSET, 8, 8192}};
        rewrite_header(small, 4);
        struct disk_spec spec = {.path = base_path, .cow = DISK_COW_OVERLAY};
        char err[512] = "";
        struct disk *d = disk_open(&spec, inst, 0, err, sizeof(err));
        bool opened = d != NULL;
        if (d) {
            /* What a guest would do next: write and read its disk's far end. */
            static uint8_t buf[4096];
            disk_write(d, BASE_SIZE - 4096, buf, sizeof(buf));
            disk_read(d, BASE_SIZE - 4096, buf, sizeof(buf));
            disk_close(d);
        }
        ck_assert_msg(!opened, "version %u: a layer smaller than its base was opened", version);
        ck_assert_msg(strstr(err, "disk size (4096 bytes) is not its base's"), "%s", err);
    }
}
END_TEST

/* Even when the caller does not check, the layer bounds every access by its
 * own size. */
START_TEST(test_overlay_bounds_its_own_accesses)
{
    disk_close(open_disk(DISK_COW_OVERLAY, false));
    char path[160], err[512] = "";
    layer_path(path, sizeof(path));
    struct overlay *o = overlay_open(path, -1, NULL, false, err, sizeof(err));
    ck_assert_msg(o != NULL, "%s", err);
    uint8_t buf[8192] = {0};
    uint64_t size = overlay_size(o);
    ck_assert_int_eq(overlay_read(o, size, buf, 1), -EINVAL);
    ck_assert_int_eq(overlay_read(o, size - 512, buf, 1024), -EINVAL);
    ck_assert_int_eq(overlay_read(o, UINT64_MAX - 10, buf, 100), -EINVAL);
    ck_assert_int_eq(overlay_write(o, size + 4096 * 64, buf, 4096), -EINVAL);
    ck_assert_int_eq(overlay_write_zeroes(o, size - 4096, 8192), -EINVAL);
    ck_assert_int_eq(overlay_read(o, size - 512, buf, 512), 0);
    overlay_close(o);
}
END_TEST

/* Layers written before the header had a checksum still open when their
 * geometry fits their base, with what the guest wrote. */
START_TEST(test_overlay_version_1_still_opens)
{
    struct disk *d = open_disk_fresh();
    uint8_t buf[4096], got[4096];
    memset(buf, 0x6b, sizeof(buf));
    ck_assert_int_eq(disk_write(d, 8192, buf, sizeof(buf)), 0);
    disk_close(d);
    const struct header_field v1[] = {{OVERLAY_H_VERSION, 4, 1}};
    rewrite_header(v1, 1);
    d = open_disk(DISK_COW_OVERLAY, false);
    ck_assert_int_eq(disk_read(d, 8192, got, sizeof(got)), 0);
    ck_assert(memcmp(got, buf, sizeof(buf)) == 0);
    disk_close(d);
    const struct header_field v3[] = {{OVERLAY_H_VERSION, 4, 3}};
    rewrite_header(v3, 1);
    assert_refused("version 3 is not supported");
}
END_TEST

START_TEST(test_base_size_must_be_sectors)
{
    write_file(base_path, base_copy, 1000);
    struct disk_spec spec = {.path = base_path};
    char err[512] = "";
    ck_assert_ptr_null(disk_open(&spec, inst, 0, err, sizeof(err)));
    ck_assert_msg(strstr(err, "multiple of 512") != NULL, "%s", err);
    spec.path = dir; /* a directory */
    ck_assert_ptr_null(disk_open(&spec, inst, 0, err, sizeof(err)));
}
END_TEST

START_TEST(test_export_matches_guest_view)
{
    static uint8_t expect[BASE_SIZE], got[BASE_SIZE];
    memcpy(expect, base_copy, BASE_SIZE);
    struct disk *d = open_disk(DISK_COW_AUTO, false);
    exercise_writes(d, expect);
    char layer[256], out[160], err[512] = "";
    snprintf(layer, sizeof(layer), "%s", disk_layer_path(d));
    disk_close(d);
    snprintf(out, sizeof(out), "%s/out.raw", dir);
    ck_assert_msg(disk_export(layer, out, err, sizeof(err)) == 0, "%s", err);
    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_int_eq(st.st_size, BASE_SIZE);
    read_file(out, got, BASE_SIZE);
    ck_assert(memcmp(got, expect, BASE_SIZE) == 0);
    snprintf(layer, sizeof(layer), "%s/missing", dir);
    ck_assert_int_ne(disk_export(layer, out, err, sizeof(err)), 0);
}
END_TEST

static Suite *disk_suite(void)
{
    Suite *s = suite_create("disk");
    TCase *spec = tcase_create("spec");
    tcase_add_test(spec, test_spec_options);
    tcase_add_test(spec, test_spec_rejects);
    suite_add_tcase(s, spec);
    TCase *tc = tcase_create("layers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_overlay_copy_on_write);
    tcase_add_test(tc, test_auto_copy_on_write);
    tcase_add_test(tc, test_write_zeroes_and_discard);
    tcase_add_test(tc, test_out_of_range);
    tcase_add_test(tc, test_read_only_refuses_writes);
    tcase_add_test(tc, test_overlay_bitmap_written_by_flush);
    tcase_add_test(tc, test_overlay_in_use_twice);
    tcase_add_test(tc, test_overlay_refuses_changed_base);
    tcase_add_test(tc, test_overlay_damaged_header);
    tcase_add_test(tc, test_overlay_refuses_geometry_unlike_base);
    tcase_add_test(tc, test_overlay_bounds_its_own_accesses);
    tcase_add_test(tc, test_overlay_version_1_still_opens);
    tcase_add_test(tc, test_base_size_must_be_sectors);
    tcase_add_test(tc, test_export_matches_guest_view);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(disk_suite());
}
