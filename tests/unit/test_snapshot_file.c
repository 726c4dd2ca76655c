/* The snapshot container: round trips, the memory file's holes, every kind of
 * damage refused with a reason naming the file, writers killed at each step
 * leaving the previous snapshot whole, the recovery of a snapshot set aside by
 * a writer that died between renames, and copy-on-write mappings. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#ifdef __linux__
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "byteorder.h"
#include "memfile.h"
#include "storage/snapshot_file.h"
#include "unit.h"

#define PAGE SNAPSHOT_PAGE_SIZE
/* Four whole regions and a partial fifth. */
#define RAM_SIZE (4u * SNAPSHOT_REGION_SIZE + 3u * PAGE)

static char dir[64], snap[128];
static uint8_t *ram;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-snapshot-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(snap, sizeof(snap), "%s/warm", dir);
    ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(ram);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(ram);
}

/* Some pages non-zero (seeded), the rest zero. */
static void fill_ram(uint8_t *p, size_t size, unsigned seed)
{
    memset(p, 0, size);
    for (size_t page = seed % 3; page * PAGE < size; page += 3 + seed % 5)
        for (size_t i = 0; i < PAGE; i += 64)
            p[page * PAGE + i] = (uint8_t)(page * 31 + i + seed);
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

static bool page_has_data(const uint8_t *p)
{
    for (size_t i = 0; i < PAGE; i++)
        if (p[i])
            return true;
    return false;
}

static void path_in(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", snap, name);
}

static void write_snapshot(const char *path, const uint8_t *mem, size_t size, const char *body)
{
    struct snapshot_writer *w;
    char err[512] = "";
    ck_assert_msg(snapshot_writer_begin(path, &w, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(snapshot_writer_memory(w, mem, size, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(snapshot_writer_manifest(w, (const uint8_t *)body, strlen(body), err,
                                           sizeof(err)) == 0, "%s", err);
    ck_assert_msg(snapshot_writer_commit(w, err, sizeof(err)) == 0, "%s", err);
}

static struct snapshot_reader *open_ok(const char *path)
{
    struct snapshot_reader *r;
    char err[512] = "";
    ck_assert_msg(snapshot_open(path, &r, err, sizeof(err)) == 0, "%s", err);
    return r;
}

/* Opening fails with a reason containing want. */
static void assert_open_refused(const char *want)
{
    struct snapshot_reader *r = (void *)1;
    char err[512] = "";
    ck_assert_int_eq(snapshot_open(snap, &r, err, sizeof(err)), -1);
    ck_assert_ptr_null(r);
    ck_assert_msg(strstr(err, want) != NULL, "'%s' does not say '%s'", err, want);
}

static void assert_body(struct snapshot_reader *r, const char *want)
{
    const uint8_t *body;
    size_t len;
    snapshot_manifest(r, &body, &len);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert(memcmp(body, want, len) == 0);
}

static void assert_memory(struct snapshot_reader *r, const uint8_t *want, size_t size)
{
    void *p;
    uint64_t mapped;
    char err[512] = "";
    ck_assert_msg(snapshot_map_memory(r, &p, &mapped, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(mapped, size);
    ck_assert(memcmp(p, want, size) == 0);
    munmap(p, size);
}

static void assert_verifies(struct snapshot_reader *r)
{
    char err[512] = "";
    ck_assert_msg(snapshot_verify_memory(r, err, sizeof(err)) == 0, "%s", err);
}

/* Nothing but the snapshot itself in its parent directory. */
static void assert_no_leftovers(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s' | grep -v '^warm$')\"", dir);
    ck_assert_msg(system(cmd) == 0, "leftovers beside %s", snap);
}

/* ---- checksums --------------------------------------------------------------------------- */

START_TEST(region_crc_is_zlib_crc32_of_the_bytes)
{
    fill_ram(ram, RAM_SIZE, 1);
    for (size_t len = 0; len <= 5 * PAGE + 100; len += PAGE / 2 + 1)
        ck_assert_uint_eq(snapshot_region_crc(ram, len), crc32(0, ram, (uInt)len));
    static const uint8_t zero[3 * PAGE];
    ck_assert_uint_eq(snapshot_region_crc(zero, sizeof(zero)), crc32(0, zero, sizeof(zero)));
}
END_TEST

/* ---- round trips ------------------------------------------------------------------------- */

START_TEST(round_trip_keeps_memory_manifest_and_files)
{
    fill_ram(ram, RAM_SIZE, 2);
    char side[160], err[512] = "";
    snprintf(side, sizeof(side), "%s/overlay.src", dir);
    FILE *f = fopen(side, "w");
    fputs("the disk layer", f);
    fclose(f);
    struct snapshot_writer *w;
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, RAM_SIZE, err, sizeof(err)), 0);
    ck_assert_msg(snapshot_writer_file(w, "disk0.cow", side, NULL, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(snapshot_writer_manifest(w, (const uint8_t *)"state", 5, err, sizeof(err)), 0);
    ck_assert_msg(snapshot_writer_commit(w, err, sizeof(err)) == 0, "%s", err);
    unlink(side);

    struct snapshot_reader *r = open_ok(snap);
    ck_assert_str_eq(snapshot_dir(r), snap);
    ck_assert_uint_eq(snapshot_memory_size(r), RAM_SIZE);
    assert_body(r, "state");
    assert_memory(r, ram, RAM_SIZE);
    assert_verifies(r);
    snapshot_close(r);

    char copied[160], text[32] = "";
    path_in(copied, sizeof(copied), "disk0.cow");
    f = fopen(copied, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(text, sizeof(text), f));
    fclose(f);
    ck_assert_str_eq(text, "the disk layer");
    struct stat st;
    ck_assert_int_eq(stat(snap, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    assert_no_leftovers();
}
END_TEST

START_TEST(an_empty_body_and_one_page_of_memory_round_trip)
{
    ram[5] = 1;
    write_snapshot(snap, ram, PAGE, "");
    struct snapshot_reader *r = open_ok(snap);
    assert_body(r, "");
    assert_memory(r, ram, PAGE);
    assert_verifies(r);
    snapshot_close(r);
}
END_TEST

START_TEST(a_new_snapshot_replaces_the_previous_one)
{
    fill_ram(ram, RAM_SIZE, 3);
    write_snapshot(snap, ram, RAM_SIZE, "first");
    fill_ram(ram, RAM_SIZE, 4);
    write_snapshot(snap, ram, 2 * PAGE, "second");
    struct snapshot_reader *r = open_ok(snap);
    assert_body(r, "second");
    assert_memory(r, ram, 2 * PAGE);
    assert_verifies(r);
    snapshot_close(r);
    assert_no_leftovers();
}
END_TEST

START_TEST(a_path_with_a_trailing_slash_names_the_same_snapshot)
{
    char slashed[160];
    snprintf(slashed, sizeof(slashed), "%s/", snap);
    ram[0] = 9;
    write_snapshot(slashed, ram, PAGE, "x");
    snapshot_close(open_ok(snap));
    assert_no_leftovers();
}
END_TEST

/* ---- the memory file's holes ------------------------------------------------------------- */

START_TEST(zero_pages_are_holes)
{
    fill_ram(ram, RAM_SIZE, 5);
    struct snapshot_writer *w;
    char err[512] = "", mem[160];
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, RAM_SIZE, err, sizeof(err)), 0);
    uint64_t data = 0;
    for (size_t at = 0; at < RAM_SIZE; at += PAGE)
        data += page_has_data(ram + at) ? PAGE : 0;
    ck_assert_uint_eq(snapshot_writer_memory_data(w), data);
    ck_assert_int_eq(snapshot_writer_manifest(w, NULL, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_commit(w, err, sizeof(err)), 0);

    path_in(mem, sizeof(mem), "memory");
    int fd = open(mem, O_RDONLY);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, RAM_SIZE);
    /* Allocated blocks: the data pages, plus a little room for extent metadata. */
    ck_assert_uint_le((uint64_t)st.st_blocks * 512, data + 64 * 1024);
    ck_assert_uint_lt(data, RAM_SIZE / 2);
    for (size_t at = 0; at < RAM_SIZE; at += PAGE) {
        bool zero = !page_has_data(ram + at);
        off_t next = lseek(fd, (off_t)at, zero ? SEEK_HOLE : SEEK_DATA);
        ck_assert_msg(next == (off_t)at, "page at %zu should be %s", at, zero ? "a hole" : "data");
    }
    close(fd);
}
END_TEST

/* ---- damage ------------------------------------------------------------------------------ */

static void write_standard(void)
{
    fill_ram(ram, RAM_SIZE, 6);
    write_snapshot(snap, ram, RAM_SIZE, "the machine's state");
}

static void xor_byte(const char *name, off_t at, uint8_t with)
{
    char path[160];
    path_in(path, sizeof(path), name);
    int fd = open(path, O_RDWR);
    uint8_t b = 0;
    ck_assert_int_eq(pread(fd, &b, 1, at), 1);
    b ^= with;
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void resize(const char *name, off_t size)
{
    char path[160];
    path_in(path, sizeof(path), name);
    ck_assert_int_eq(truncate(path, size), 0);
}

static uint8_t manifest_bytes[SNAPSHOT_HEADER_SIZE];

static void read_header(void)
{
    char path[160];
    path_in(path, sizeof(path), "manifest");
    int fd = open(path, O_RDONLY);
    ck_assert_int_eq(pread(fd, manifest_bytes, SNAPSHOT_HEADER_SIZE, 0), SNAPSHOT_HEADER_SIZE);
    close(fd);
}

/* Rewrites the header with field at off set to value, its checksum made good,
 * so that only the field itself is wrong. */
static void set_header_field(unsigned off, uint64_t value, unsigned bytes)
{
    read_header();
    le_put(manifest_bytes + off, value, bytes);
    le_put(manifest_bytes + SNAPSHOT_OFF_HEADER_CRC,
           crc32(0, manifest_bytes, SNAPSHOT_OFF_HEADER_CRC), 4);
    char path[160];
    path_in(path, sizeof(path), "manifest");
    int fd = open(path, O_WRONLY);
    ck_assert_int_eq(pwrite(fd, manifest_bytes, SNAPSHOT_HEADER_SIZE, 0), SNAPSHOT_HEADER_SIZE);
    close(fd);
}

START_TEST(short_memory_is_refused)
{
    write_standard();
    resize("memory", RAM_SIZE - PAGE);
    assert_open_refused("memory is 4096 bytes short");
}
END_TEST

START_TEST(long_memory_is_refused)
{
    write_standard();
    resize("memory", RAM_SIZE + 10);
    assert_open_refused("memory is 10 bytes longer than the manifest says");
}
END_TEST

START_TEST(missing_memory_is_refused)
{
    write_standard();
    char path[160];
    path_in(path, sizeof(path), "memory");
    unlink(path);
    assert_open_refused("memory: No such file or directory");
}
END_TEST

START_TEST(a_flipped_memory_byte_fails_verification_naming_the_region)
{
    write_standard();
    xor_byte("memory", 2 * SNAPSHOT_REGION_SIZE + 123, 0x40);
    struct snapshot_reader *r = open_ok(snap);
    char err[512] = "";
    ck_assert_int_eq(snapshot_verify_memory(r, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "memory region 2 (bytes 0x200000..0x300000) checksum mismatch"),
                  "%s", err);
    snapshot_close(r);
}
END_TEST

START_TEST(a_byte_written_into_a_hole_fails_verification)
{
    write_standard();
    ck_assert(!page_has_data(ram + RAM_SIZE - PAGE)); /* the last page is a hole */
    xor_byte("memory", RAM_SIZE - 1, 1);
    struct snapshot_reader *r = open_ok(snap);
    char err[512] = "";
    ck_assert_int_eq(snapshot_verify_memory(r, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "memory region 4 "), "%s", err);
    snapshot_close(r);
}
END_TEST

/* The id a restore compares to skip a second read-through: the same file
 * gives the same id, through the reader or by path; a write changes it. */
START_TEST(a_memory_id_changes_when_the_file_is_written)
{
    write_standard();
    struct snapshot_reader *r = open_ok(snap);
    char before[SNAPSHOT_MEMORY_ID_LEN], by_path[512];
    char after[SNAPSHOT_MEMORY_ID_LEN];
    ck_assert_int_eq(snapshot_memory_id(r, before, sizeof(before)), 0);
    ck_assert_int_eq(snapshot_memory_id_at(snap, by_path, sizeof(by_path)), 0);
    ck_assert_str_eq(before, by_path);
    struct timespec pause = {.tv_nsec = 20 * 1000 * 1000}; /* coarse file times */
    nanosleep(&pause, NULL);
    xor_byte("memory", 123, 0x40);
    ck_assert_int_eq(snapshot_memory_id(r, after, sizeof(after)), 0);
    ck_assert_str_ne(before, after);
    snapshot_close(r);
    path_in(by_path, sizeof(by_path), "nowhere");
    ck_assert_int_eq(snapshot_memory_id_at(by_path, after, sizeof(after)), -ENOENT);
}
END_TEST

START_TEST(a_flipped_body_byte_is_refused)
{
    write_standard();
    xor_byte("manifest", SNAPSHOT_HEADER_SIZE + 5 * 4 + 3, 1);
    assert_open_refused("manifest checksum mismatch");
}
END_TEST

START_TEST(a_flipped_region_table_byte_is_refused)
{
    write_standard();
    xor_byte("manifest", SNAPSHOT_HEADER_SIZE + 7, 1);
    assert_open_refused("manifest region table checksum mismatch");
}
END_TEST

START_TEST(a_flipped_header_byte_is_refused)
{
    write_standard();
    xor_byte("manifest", SNAPSHOT_OFF_MEMORY_SIZE + 1, 1);
    assert_open_refused("manifest header checksum mismatch");
}
END_TEST

START_TEST(a_wrong_magic_is_refused)
{
    write_standard();
    xor_byte("manifest", 0, 0x20);
    assert_open_refused("manifest is not a snapshot manifest (bad magic)");
}
END_TEST

START_TEST(another_version_is_refused)
{
    write_standard();
    set_header_field(SNAPSHOT_OFF_VERSION, 2, 4);
    assert_open_refused("manifest has format version 2; this ignition reads version 1");
}
END_TEST

START_TEST(a_body_length_beyond_the_file_is_refused)
{
    write_standard();
    set_header_field(SNAPSHOT_OFF_BODY_LENGTH, strlen("the machine's state") + 100, 8);
    assert_open_refused("manifest is 100 bytes short");
}
END_TEST

START_TEST(a_huge_body_length_is_refused)
{
    write_standard();
    set_header_field(SNAPSHOT_OFF_BODY_LENGTH, UINT64_MAX, 8);
    assert_open_refused("manifest body is 18446744073709551615 bytes, more than");
}
END_TEST

START_TEST(a_truncated_manifest_is_refused)
{
    write_standard();
    resize("manifest", 40);
    assert_open_refused("manifest is 40 bytes, shorter than its 64-byte header");
}
END_TEST

START_TEST(bytes_after_the_body_are_refused)
{
    write_standard();
    char path[160];
    path_in(path, sizeof(path), "manifest");
    FILE *f = fopen(path, "a");
    fputs("xyz", f);
    fclose(f);
    assert_open_refused("manifest has 3 bytes beyond its body");
}
END_TEST

START_TEST(inconsistent_memory_fields_are_refused)
{
    write_standard();
    set_header_field(SNAPSHOT_OFF_REGION_COUNT, 4, 4);
    assert_open_refused("manifest names 4 memory regions where");
    set_header_field(SNAPSHOT_OFF_REGION_COUNT, 5, 4);
    set_header_field(SNAPSHOT_OFF_REGION_SIZE, 3u << 20, 4);
    assert_open_refused("region size of 3145728 bytes");
    set_header_field(SNAPSHOT_OFF_REGION_SIZE, SNAPSHOT_REGION_SIZE, 4);
    set_header_field(SNAPSHOT_OFF_MEMORY_SIZE, RAM_SIZE - 1, 8);
    assert_open_refused("memory size of");
    set_header_field(SNAPSHOT_OFF_MEMORY_SIZE, 0, 8);
    assert_open_refused("memory size of 0 bytes");
}
END_TEST

START_TEST(a_missing_snapshot_is_refused)
{
    assert_open_refused("does not exist");
}
END_TEST

/* A name that is a symbolic link (to a whole snapshot elsewhere, or to
 * nothing) is refused, not followed; so are its files when they are links. */
START_TEST(a_snapshot_name_that_is_a_symbolic_link_is_refused)
{
    char elsewhere[128], id[128];
    snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", dir);
    fill_ram(ram, RAM_SIZE, 3);
    write_snapshot(elsewhere, ram, RAM_SIZE, "the machine's state");
    snapshot_close(open_ok(elsewhere));
    ck_assert_int_eq(symlink(elsewhere, snap), 0);
    assert_open_refused("is a symbolic link");
    ck_assert_int_lt(snapshot_memory_id_at(snap, id, sizeof(id)), 0);
    ck_assert_int_eq(unlink(snap), 0);
    ck_assert_int_eq(symlink("/nonexistent", snap), 0);
    assert_open_refused("is a symbolic link");
    ck_assert_int_eq(unlink(snap), 0);
    /* A real directory whose memory file is a link. */
    write_standard();
    char memory[160], target[160];
    path_in(memory, sizeof(memory), "memory");
    snprintf(target, sizeof(target), "%s/memory", elsewhere);
    ck_assert_int_eq(unlink(memory), 0);
    ck_assert_int_eq(symlink(target, memory), 0);
    assert_open_refused("memory: ");
    ck_assert_int_lt(snapshot_memory_id_at(snap, id, sizeof(id)), 0);
}
END_TEST

/* ---- the writer's rules ------------------------------------------------------------------ */

START_TEST(the_writer_refuses_misuse)
{
    struct snapshot_writer *w;
    char err[512] = "";
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_manifest(w, NULL, 0, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "the manifest comes after the memory");
    ck_assert_int_eq(snapshot_writer_memory(w, ram, PAGE + 1, err, sizeof(err)), -1);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, 0, err, sizeof(err)), -1);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, PAGE, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, PAGE, err, sizeof(err)), -1);
    static const char *const bad_names[] = {"memory", "manifest", "a/b", ".hidden", ""};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        ck_assert_int_eq(snapshot_writer_file(w, bad_names[i], "/etc/hostname", NULL, err,
                                              sizeof(err)), -1);
    ck_assert_int_eq(snapshot_writer_file(w, "d", dir, NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
    ck_assert_int_eq(snapshot_writer_manifest(w, ram, SNAPSHOT_BODY_MAX + 1u, err,
                                              sizeof(err)), -1);
    ck_assert_int_eq(snapshot_writer_commit(w, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "is incomplete: no manifest"));
    assert_open_refused("does not exist");
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(bad_snapshot_paths_are_refused)
{
    struct snapshot_writer *w;
    char err[512] = "";
    ck_assert_int_eq(snapshot_writer_begin("", &w, err, sizeof(err)), -1);
    ck_assert_int_eq(snapshot_writer_begin("/tmp/..", &w, err, sizeof(err)), -1);
    ck_assert_int_eq(snapshot_writer_begin("/nonexistent-dir/x", &w, err, sizeof(err)), -1);
    ck_assert_ptr_null(w);
}
END_TEST

START_TEST(abort_removes_the_unfinished_snapshot)
{
    write_standard();
    struct snapshot_writer *w;
    char err[512] = "";
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, PAGE, err, sizeof(err)), 0);
    snapshot_writer_abort(w);
    assert_no_leftovers();
    struct snapshot_reader *r = open_ok(snap);
    assert_body(r, "the machine's state");
    snapshot_close(r);
}
END_TEST

START_TEST(a_sparse_side_file_is_copied_with_its_holes)
{
    char src[160], copied[160], err[512] = "";
    snprintf(src, sizeof(src), "%s/layer.src", dir);
    int fd = open(src, O_RDWR | O_CREAT, 0600);
    ck_assert_int_eq(ftruncate(fd, 8 << 20), 0);
    ck_assert_int_eq(pwrite(fd, "head", 4, 0), 4);
    ck_assert_int_eq(pwrite(fd, "tail", 4, (8 << 20) - 4), 4);
    close(fd);
    struct snapshot_writer *w;
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_msg(snapshot_writer_file(w, "disk0.img", src, NULL, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, PAGE, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_manifest(w, NULL, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_commit(w, err, sizeof(err)), 0);
    path_in(copied, sizeof(copied), "disk0.img");
    fd = open(copied, O_RDONLY);
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_size, 8 << 20);
    ck_assert_uint_le((uint64_t)st.st_blocks * 512, 2u << 20);
    char head[5] = "", tail[5] = "";
    ck_assert_int_eq(pread(fd, head, 4, 0), 4);
    ck_assert_int_eq(pread(fd, tail, 4, (8 << 20) - 4), 4);
    ck_assert_str_eq(head, "head");
    ck_assert_str_eq(tail, "tail");
    close(fd);
}
END_TEST

START_TEST(remove_takes_the_snapshot_and_its_leftovers)
{
    write_standard();
    char aside[160], err[512] = "";
    snprintf(aside, sizeof(aside), "%s/.warm.new-abcdef", dir);
    ck_assert_int_eq(mkdir(aside, 0700), 0);
    ck_assert_int_eq(snapshot_remove(snap, err, sizeof(err)), 0);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(snapshot_remove(snap, err, sizeof(err)), 0);
}
END_TEST

static void make_dir_with_file(const char *name)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/%s/memory", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "page", 4), 4);
    close(fd);
}

static bool exists_in_dir(const char *name)
{
    char path[160];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

START_TEST(tidying_a_directory_removes_every_dead_writers_leftovers)
{
    write_standard(); /* "warm", which stays */
    make_dir_with_file(".warm.new-abcdef");
    make_dir_with_file(".other.new-A1b2C3");
    make_dir_with_file(".x.y.old-zzzzzz"); /* set aside, its name missing: put back */
    make_dir_with_file(".live.new-q1q2q3");
    make_dir_with_file(".notours");
    make_dir_with_file(".short.new-abc");
    char live[160];
    snprintf(live, sizeof(live), "%s/.live.new-q1q2q3", dir);
    int live_fd = open(live, O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(live_fd, 0);
    ck_assert_int_eq(flock(live_fd, LOCK_EX), 0);

    snapshot_tidy_dir(dir);

    ck_assert(exists_in_dir("warm/manifest"));
    ck_assert(!exists_in_dir(".warm.new-abcdef"));
    ck_assert(!exists_in_dir(".other.new-A1b2C3"));
    ck_assert(!exists_in_dir(".x.y.old-zzzzzz"));
    ck_assert(exists_in_dir("x.y/memory"));
    ck_assert(exists_in_dir(".live.new-q1q2q3/memory"));
    ck_assert(exists_in_dir(".notours/memory"));
    ck_assert(exists_in_dir(".short.new-abc/memory"));
    close(live_fd);
    snapshot_tidy_dir("/nonexistent/ignition-test");
}
END_TEST

/* A snapshot with one side file, disk0.img, holding text. */
static void write_with_layer(const char *text)
{
    char src[160], err[512] = "";
    snprintf(src, sizeof(src), "%s/layer.src", dir);
    int fd = open(src, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct snapshot_writer *w;
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_msg(snapshot_writer_file(w, "disk0.img", src, NULL, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, PAGE, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_manifest(w, (const uint8_t *)text, strlen(text), err,
                                              sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_commit(w, err, sizeof(err)), 0);
    unlink(src);
}

/* zlib's CRC-32 of a whole file as it reads. */
static uint32_t crc_of_file(const char *path, size_t size)
{
    uint8_t *buf = calloc(1, size);
    ck_assert_ptr_nonnull(buf);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, size, 0), (ssize_t)size);
    close(fd);
    uint32_t crc = (uint32_t)crc32_z(crc32(0, Z_NULL, 0), buf, size);
    free(buf);
    return crc;
}

/* A side file's checksum is summed as it is copied in (holes as the zeros
 * they read as, so a copy with other holes has the same one) and again as it
 * is copied out; a byte changed in between is refused and its copy removed. */
START_TEST(a_side_file_is_summed_in_and_checked_out)
{
    enum { SIZE = (3 << 20) + 1000 }; /* past a whole chunk, with a short end */
    char src[160], to[160], inside[160], err[512] = "";
    snprintf(src, sizeof(src), "%s/layer.src", dir);
    snprintf(to, sizeof(to), "%s/copied.img", dir);
    int fd = open(src, O_RDWR | O_CREAT, 0600);
    ck_assert_int_eq(ftruncate(fd, SIZE), 0);
    ck_assert_int_eq(pwrite(fd, "head", 4, 0), 4);
    ck_assert_int_eq(pwrite(fd, "middle", 6, (2 << 20) + 5), 6);
    ck_assert_int_eq(pwrite(fd, "tail", 4, SIZE - 4), 4);
    close(fd);
    uint32_t want = crc_of_file(src, SIZE), crc = 0;
    struct snapshot_writer *w;
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_msg(snapshot_writer_file(w, "disk0.img", src, &crc, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_uint_eq(crc, want);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, PAGE, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_manifest(w, NULL, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_commit(w, err, sizeof(err)), 0);
    struct snapshot_reader *r = open_ok(snap);
    ck_assert_msg(snapshot_copy_out(r, "disk0.img", to, &want, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_uint_eq(crc_of_file(to, SIZE), want);
    ck_assert_int_eq(unlink(to), 0);
    /* One byte of the snapshot's copy changed, in data and in a hole. */
    path_in(inside, sizeof(inside), "disk0.img");
    const off_t at[] = {(2 << 20) + 6, 1 << 20};
    for (size_t i = 0; i < 2; i++) {
        fd = open(inside, O_RDWR);
        ck_assert_int_eq(pwrite(fd, "X", 1, at[i]), 1);
        close(fd);
        ck_assert_int_eq(snapshot_copy_out(r, "disk0.img", to, &want, err, sizeof(err)), -1);
        ck_assert_msg(strstr(err, "disk0.img is damaged (checksum mismatch"), "%s", err);
        ck_assert_int_eq(access(to, F_OK), -1);
        fd = open(inside, O_RDWR);
        ck_assert_int_eq(pwrite(fd, at[i] == 1 << 20 ? "\0" : "i", 1, at[i]), 1);
        close(fd);
    }
    /* Put back as it was, it passes again; unchecked, it is copied as is. */
    ck_assert_msg(snapshot_copy_out(r, "disk0.img", to, &want, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(unlink(to), 0);
    snapshot_close(r);
}
END_TEST

/* A copy left for the caller to make durable is checked the same way: its
 * descriptor comes back only for a copy that matched (a clone, durable
 * already, gives -1), and a damaged one is removed with nothing left open. */
START_TEST(an_unsynced_copy_is_checked_before_it_is_handed_over)
{
    enum { SIZE = (1 << 20) + 100 };
    char src[160], to[160], inside[160], err[512] = "";
    snprintf(src, sizeof(src), "%s/layer.src", dir);
    snprintf(to, sizeof(to), "%s/copied.img", dir);
    int fd = open(src, O_RDWR | O_CREAT, 0600);
    ck_assert_int_eq(ftruncate(fd, SIZE), 0);
    ck_assert_int_eq(pwrite(fd, "data", 4, 4096), 4);
    close(fd);
    uint32_t want = crc_of_file(src, SIZE), crc = 0;
    struct snapshot_writer *w;
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_file(w, "disk0.img", src, &crc, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_memory(w, ram, PAGE, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_manifest(w, NULL, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_commit(w, err, sizeof(err)), 0);
    struct snapshot_reader *r = open_ok(snap);
    int unsynced = 12345;
    ck_assert_msg(snapshot_copy_out_unsynced(r, "disk0.img", to, &want, &unsynced, err,
                                             sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(crc_of_file(to, SIZE), want);
    if (unsynced >= 0) {
        struct stat a, b;
        ck_assert_int_eq(fstat(unsynced, &a), 0);
        ck_assert_int_eq(stat(to, &b), 0);
        ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
        ck_assert_int_eq(fsync(unsynced), 0);
        close(unsynced);
    } else {
        ck_assert_int_eq(unsynced, -1);
    }
    ck_assert_int_eq(unlink(to), 0);
    path_in(inside, sizeof(inside), "disk0.img");
    fd = open(inside, O_RDWR);
    ck_assert_int_eq(pwrite(fd, "X", 1, 4097), 1);
    close(fd);
    unsynced = 12345;
    ck_assert_int_eq(snapshot_copy_out_unsynced(r, "disk0.img", to, &want, &unsynced, err,
                                                sizeof(err)), -1);
    ck_assert_msg(strstr(err, "disk0.img is damaged (checksum mismatch"), "%s", err);
    ck_assert_int_eq(unsynced, -1);
    ck_assert_int_eq(access(to, F_OK), -1);
    snapshot_close(r);
}
END_TEST

/* A restore copies the disk layers after it read the manifest and mapped the
 * memory; a snapshot of the same name written in between must not give it the
 * newer disks with the older memory. */
START_TEST(a_reader_never_copies_the_layers_of_a_snapshot_written_after_it_opened)
{
    write_with_layer("older");
    struct snapshot_reader *r = open_ok(snap);
    write_with_layer("newer");
    char to[160], err[512] = "";
    snprintf(to, sizeof(to), "%s/copied.img", dir);
    ck_assert_int_eq(snapshot_copy_out(r, "disk0.img", to, NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "disk0.img"));
    ck_assert_int_eq(access(to, F_OK), -1);
    snapshot_close(r);

    /* Untouched, the snapshot opened is the one copied from. */
    r = open_ok(snap);
    ck_assert_msg(snapshot_copy_out(r, "disk0.img", to, NULL, err, sizeof(err)) == 0, "%s",
                  err);
    snapshot_close(r);
    char got[16] = "";
    int fd = open(to, O_RDONLY);
    ck_assert_int_eq(read(fd, got, sizeof(got) - 1), 5);
    close(fd);
    ck_assert_str_eq(got, "newer");
}
END_TEST

/* ---- mappings ---------------------------------------------------------------------------- */

START_TEST(writes_through_the_mapping_never_reach_the_file)
{
    write_standard();
    struct snapshot_reader *r = open_ok(snap);
    void *p;
    uint64_t size;
    char err[512] = "";
    ck_assert_int_eq(snapshot_map_memory(r, &p, &size, err, sizeof(err)), 0);
    snapshot_close(r); /* the mapping outlives the reader */
    memset(p, 0xaa, 3 * PAGE);
    ((uint8_t *)p)[RAM_SIZE - 1] = 7;
    ck_assert_int_eq(msync(p, size, MS_SYNC), 0);
    munmap(p, size);
    r = open_ok(snap);
    assert_memory(r, ram, RAM_SIZE);
    assert_verifies(r);
    snapshot_close(r);
}
END_TEST

/* The saved mapping is RAM as it was saved, whatever the guest's own mapping
 * of the same file has written since. */
START_TEST(the_saved_mapping_keeps_what_was_saved)
{
    write_standard();
    struct snapshot_reader *r = open_ok(snap);
    void *p;
    const void *saved;
    uint64_t size;
    char err[512] = "";
    ck_assert_int_eq(snapshot_map_memory(r, &p, &size, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_map_saved_memory(r, &saved, err, sizeof(err)), 0);
    snapshot_close(r); /* both outlive the reader */
    memset(p, 0xaa, 3 * PAGE);
    ck_assert_mem_eq(saved, ram, RAM_SIZE);
    munmap(p, size);
    munmap((void *)saved, size);
}
END_TEST

/* ---- crashes ----------------------------------------------------------------------------- */

enum step { AFTER_BEGIN, AFTER_MEMORY, AFTER_FILE, AFTER_MANIFEST, AFTER_COMMIT, NEVER };

static const char old_body[] = "previous", new_body[] = "next";

/* In a child: writes the next snapshot, dying by SIGKILL after step. */
static void write_next_and_die(enum step die_after, const uint8_t *mem)
{
    struct snapshot_writer *w;
    char err[512], side[160];
    snprintf(side, sizeof(side), "%s/side.src", dir);
    if (snapshot_writer_begin(snap, &w, err, sizeof(err)) < 0)
        _exit(2);
    if (die_after == AFTER_BEGIN)
        raise(SIGKILL);
    if (snapshot_writer_memory(w, mem, RAM_SIZE, err, sizeof(err)) < 0)
        _exit(3);
    if (die_after == AFTER_MEMORY)
        raise(SIGKILL);
    if (snapshot_writer_file(w, "side", side, NULL, err, sizeof(err)) < 0)
        _exit(4);
    if (die_after == AFTER_FILE)
        raise(SIGKILL);
    if (snapshot_writer_manifest(w, (const uint8_t *)new_body, strlen(new_body), err,
                                 sizeof(err)) < 0)
        _exit(5);
    if (die_after == AFTER_MANIFEST)
        raise(SIGKILL);
    if (snapshot_writer_commit(w, err, sizeof(err)) < 0)
        _exit(6);
    if (die_after == AFTER_COMMIT)
        raise(SIGKILL);
    _exit(0);
}

static void make_side_source(void)
{
    char side[160];
    snprintf(side, sizeof(side), "%s/side.src", dir);
    FILE *f = fopen(side, "w");
    fputs("side", f);
    fclose(f);
}

/* Whatever state the writer died in, one whole snapshot is found: the previous
 * one, or the next when the writer got as far as putting it in place. */
static bool assert_whole_snapshot(const uint8_t *old_mem, const uint8_t *new_mem)
{
    struct snapshot_reader *r = open_ok(snap);
    const uint8_t *body;
    size_t len;
    snapshot_manifest(r, &body, &len);
    bool is_new = len == strlen(new_body) && memcmp(body, new_body, len) == 0;
    assert_body(r, is_new ? new_body : old_body);
    assert_memory(r, is_new ? new_mem : old_mem, RAM_SIZE);
    assert_verifies(r);
    snapshot_close(r);
    return is_new;
}

static uint8_t *next_ram(void)
{
    uint8_t *next = malloc(RAM_SIZE);
    ck_assert_ptr_nonnull(next);
    fill_ram(next, RAM_SIZE, 8);
    return next;
}

START_TEST(a_writer_killed_at_any_step_leaves_a_whole_snapshot)
{
    make_side_source();
    uint8_t *next = next_ram();
    for (enum step s = AFTER_BEGIN; s <= AFTER_COMMIT; s++) {
        fill_ram(ram, RAM_SIZE, 7);
        write_snapshot(snap, ram, RAM_SIZE, old_body);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            write_next_and_die(s, next);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ck_assert_int_eq(assert_whole_snapshot(ram, next), s == AFTER_COMMIT);
    }
    /* The next writer clears what the dead ones left. */
    write_snapshot(snap, ram, RAM_SIZE, old_body);
    char side[160];
    snprintf(side, sizeof(side), "%s/side.src", dir);
    unlink(side);
    assert_no_leftovers();
    free(next);
}
END_TEST

#define KILLS 10

START_TEST(a_writer_killed_at_random_moments_leaves_a_whole_snapshot)
{
    make_side_source();
    uint8_t *next = next_ram();
    fill_ram(ram, RAM_SIZE, 7);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    write_snapshot(snap, ram, RAM_SIZE, old_body);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Kills spread from at once to well past a whole write's time. */
    long step_ns = (long)(ms_between(&t0, &t1) * 1e6 * 3 / KILLS) + 1000;
    unsigned seen_new = 0;
    for (unsigned i = 0; i < KILLS; i++) {
        write_snapshot(snap, ram, RAM_SIZE, old_body);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0)
            write_next_and_die(NEVER, next);
        long ns = (long)i * step_ns;
        struct timespec delay = {ns / 1000000000, ns % 1000000000};
        nanosleep(&delay, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        seen_new += assert_whole_snapshot(ram, next);
    }
    printf("killed writers: %u of %u had put the next snapshot in place\n", seen_new, KILLS);
    free(next);
}
END_TEST

/* A writer that cannot exchange directories atomically sets the previous
 * snapshot aside and then renames the new one in; dying between the two
 * leaves this. */
static void leave_state_between_renames(char *aside, size_t len)
{
    snprintf(aside, len, "%s/.warm.old-Q1w2E3", dir);
    ck_assert_int_eq(rename(snap, aside), 0);
    char unfinished[160];
    snprintf(unfinished, sizeof(unfinished), "%s/.warm.new-R4t5Y6", dir);
    ck_assert_int_eq(mkdir(unfinished, 0700), 0);
}

START_TEST(a_snapshot_set_aside_by_a_dead_writer_is_found_and_restored)
{
    write_standard();
    char aside[160];
    leave_state_between_renames(aside, sizeof(aside));
    struct snapshot_reader *r = open_ok(snap);
    ck_assert_str_eq(snapshot_dir(r), aside);
    assert_body(r, "the machine's state");
    assert_verifies(r);
    snapshot_close(r);

    /* The next writer puts it back before anything else, then replaces it. */
    struct snapshot_writer *w;
    char err[512] = "";
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    r = open_ok(snap);
    ck_assert_str_eq(snapshot_dir(r), snap);
    snapshot_close(r);
    snapshot_writer_abort(w);
    assert_no_leftovers();
}
END_TEST

#if defined(__linux__) && defined(SYS_renameat2)
/* Makes renameat2 with flags fail with EINVAL in this process, as on a
 * filesystem that cannot exchange directories. */
static void forbid_rename_exchange(void)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_renameat2, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[4])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    ck_assert_int_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    ck_assert_int_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

START_TEST(without_an_atomic_exchange_the_previous_snapshot_is_set_aside_then_removed)
{
    forbid_rename_exchange(); /* Check runs each test in its own process */
    fill_ram(ram, RAM_SIZE, 9);
    write_snapshot(snap, ram, RAM_SIZE, "first");
    write_snapshot(snap, ram, 2 * PAGE, "second");
    struct snapshot_reader *r = open_ok(snap);
    ck_assert_str_eq(snapshot_dir(r), snap);
    assert_body(r, "second");
    assert_memory(r, ram, 2 * PAGE);
    snapshot_close(r);
    assert_no_leftovers();
}
END_TEST
#endif

START_TEST(a_live_writers_directory_is_left_alone)
{
    struct snapshot_writer *first, *second;
    char err[512] = "";
    ck_assert_int_eq(snapshot_writer_begin(snap, &first, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_begin(snap, &second, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_memory(first, ram, PAGE, err, sizeof(err)), 0);
    ck_assert_msg(snapshot_writer_manifest(first, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(snapshot_writer_commit(first, err, sizeof(err)), 0);
    snapshot_writer_abort(second);
    snapshot_close(open_ok(snap));
    assert_no_leftovers();
}
END_TEST

/* ---- speed (printed, not asserted) ------------------------------------------------------- */

/* Guest RAM as the machine makes it: a memfd mapped shared, the guest having
 * touched the pages fill_ram writes (every fourth, here). */
static uint8_t *ram_in_memfd(uint64_t size, int *fd_out)
{
    int fd = memfile_create("test-ram", size);
    ck_assert_int_ge(fd, 0);
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    *fd_out = fd;
    return p;
}

static uint64_t allocated(int fd)
{
    struct stat st;
    ck_assert_int_eq(fstat(fd, &st), 0);
    return (uint64_t)st.st_blocks * 512;
}

START_TEST(pages_ram_never_touched_are_not_brought_in)
{
    int fd;
    uint8_t *p = ram_in_memfd(RAM_SIZE, &fd);
    for (size_t at = 0; at < RAM_SIZE; at += 4 * PAGE)
        memset(p + at, (int)(at / PAGE) | 1, 16);
    p[8 * PAGE] = 0; /* touched, yet zero: data in the memfd, a hole in the snapshot */
    memset(p + 8 * PAGE, 0, 16);
    uint64_t before = allocated(fd);
    struct snapshot_writer *w;
    char err[512] = "";
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_memory_file(w, p, fd, RAM_SIZE, err, sizeof(err)), 0);
    ck_assert_uint_eq(snapshot_writer_memory_data(w), before - PAGE);
    ck_assert_int_eq(snapshot_writer_manifest(w, NULL, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_commit(w, err, sizeof(err)), 0);
    ck_assert_uint_eq(allocated(fd), before);
    struct snapshot_reader *r = open_ok(snap);
    assert_memory(r, p, RAM_SIZE);
    assert_verifies(r);
    snapshot_close(r);
    munmap(p, RAM_SIZE);
    close(fd);
}
END_TEST

/* Every tenth page, in runs of four, as real RAM has them. */
static void touch_a_tenth(uint8_t *p, uint64_t size)
{
    for (uint64_t page = 0; page < size / PAGE; page++)
        if (page % 40 < 4)
            memset(p + page * PAGE, (int)(page | 1), PAGE);
}

START_TEST(writing_512_mib_with_a_tenth_non_zero_is_timed)
{
    const uint64_t size = 512ull << 20;
    int fd;
    uint8_t *big = ram_in_memfd(size, &fd);
    touch_a_tenth(big, size);
    struct snapshot_writer *w;
    char err[512] = "";
    ck_assert_int_eq(snapshot_writer_begin(snap, &w, err, sizeof(err)), 0);
    struct timespec t0, t1, t2, t3;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(snapshot_writer_memory_file(w, big, fd, size, err, sizeof(err)), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_eq(snapshot_writer_manifest(w, NULL, 0, err, sizeof(err)), 0);
    ck_assert_int_eq(snapshot_writer_commit(w, err, sizeof(err)), 0);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    struct snapshot_reader *r = open_ok(snap);
    assert_verifies(r);
    clock_gettime(CLOCK_MONOTONIC, &t3);
    snapshot_close(r);
    munmap(big, size);
    close(fd);
    printf("snapshot of 512 MiB in a memfd, 10%% non-zero pages: memory written in %.1f ms, "
           "committed (fsync, rename) in %.1f ms, verified in %.1f ms\n", ms_between(&t0, &t1),
           ms_between(&t1, &t2), ms_between(&t2, &t3));
}
END_TEST

static Suite *snapshot_file_suite(void)
{
    Suite *s = suite_create("snapshot_file");
    TCase *tc = tcase_create("container");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, region_crc_is_zlib_crc32_of_the_bytes);
    tcase_add_test(tc, round_trip_keeps_memory_manifest_and_files);
    tcase_add_test(tc, an_empty_body_and_one_page_of_memory_round_trip);
    tcase_add_test(tc, a_new_snapshot_replaces_the_previous_one);
    tcase_add_test(tc, a_path_with_a_trailing_slash_names_the_same_snapshot);
    tcase_add_test(tc, zero_pages_are_holes);
    tcase_add_test(tc, short_memory_is_refused);
    tcase_add_test(tc, long_memory_is_refused);
    tcase_add_test(tc, missing_memory_is_refused);
    tcase_add_test(tc, a_flipped_memory_byte_fails_verification_naming_the_region);
    tcase_add_test(tc, a_byte_written_into_a_hole_fails_verification);
    tcase_add_test(tc, a_memory_id_changes_when_the_file_is_written);
    tcase_add_test(tc, a_flipped_body_byte_is_refused);
    tcase_add_test(tc, a_flipped_region_table_byte_is_refused);
    tcase_add_test(tc, a_flipped_header_byte_is_refused);
    tcase_add_test(tc, a_wrong_magic_is_refused);
    tcase_add_test(tc, another_version_is_refused);
    tcase_add_test(tc, a_body_length_beyond_the_file_is_refused);
    tcase_add_test(tc, a_huge_body_length_is_refused);
    tcase_add_test(tc, a_truncated_manifest_is_refused);
    tcase_add_test(tc, bytes_after_the_body_are_refused);
    tcase_add_test(tc, inconsistent_memory_fields_are_refused);
    tcase_add_test(tc, a_missing_snapshot_is_refused);
    tcase_add_test(tc, a_snapshot_name_that_is_a_symbolic_link_is_refused);
    tcase_add_test(tc, the_writer_refuses_misuse);
    tcase_add_test(tc, bad_snapshot_paths_are_refused);
    tcase_add_test(tc, abort_removes_the_unfinished_snapshot);
    tcase_add_test(tc, a_sparse_side_file_is_copied_with_its_holes);
    tcase_add_test(tc, a_side_file_is_summed_in_and_checked_out);
    tcase_add_test(tc, an_unsynced_copy_is_checked_before_it_is_handed_over);
    tcase_add_test(tc, remove_takes_the_snapshot_and_its_leftovers);
    tcase_add_test(tc, tidying_a_directory_removes_every_dead_writers_leftovers);
    tcase_add_test(tc, a_reader_never_copies_the_layers_of_a_snapshot_written_after_it_opened);
    tcase_add_test(tc, writes_through_the_mapping_never_reach_the_file);
    tcase_add_test(tc, the_saved_mapping_keeps_what_was_saved);
    tcase_add_test(tc, a_writer_killed_at_any_step_leaves_a_whole_snapshot);
    tcase_add_test(tc, a_writer_killed_at_random_moments_leaves_a_whole_snapshot);
    tcase_add_test(tc, a_snapshot_set_aside_by_a_dead_writer_is_found_and_restored);
    tcase_add_test(tc, a_live_writers_directory_is_left_alone);
#if defined(__linux__) && defined(SYS_renameat2)
    tcase_add_test(tc, without_an_atomic_exchange_the_previous_snapshot_is_set_aside_then_removed);
#endif
    tcase_add_test(tc, pages_ram_never_touched_are_not_brought_in);
    tcase_add_test(tc, writing_512_mib_with_a_tenth_non_zero_is_timed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(snapshot_file_suite());
}
