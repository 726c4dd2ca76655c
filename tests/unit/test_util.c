/* parse_size: the --memory option and config files go through it, so a size a
 * person writes must mean binary units and anything else must be refused rather
 * than half-parsed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/wait.h>
#endif
#include <unistd.h>

#include "memfile.h"
#include "paths.h"
#include "util.h"
#include "unit.h"

/* A value parse_size never produces, to see whether a failure wrote anything. */
#define UNTOUCHED 0xdeadbeefcafef00dull

static void assert_size(const char *text, uint64_t expected)
{
    uint64_t bytes = UNTOUCHED;
    ck_assert_msg(parse_size(text, &bytes) == 0, "\"%s\" was rejected", text);
    ck_assert_msg(bytes == expected, "\"%s\" gave %llu, expected %llu", text,
                  (unsigned long long)bytes, (unsigned long long)expected);
}

static void assert_rejected(const char *text)
{
    uint64_t bytes = UNTOUCHED;
    ck_assert_msg(parse_size(text, &bytes) == -1, "\"%s\" was accepted", text);
    ck_assert_msg(bytes == UNTOUCHED, "\"%s\" wrote a result although it failed", text);
}

START_TEST(test_megabytes)
{
    assert_size("512M", 512ull << 20);
}
END_TEST

START_TEST(test_gigabytes)
{
    assert_size("1G", 1ull << 30);
}
END_TEST

START_TEST(test_lowercase_kilobytes)
{
    assert_size("64k", 64ull << 10);
}
END_TEST

START_TEST(test_plain_bytes)
{
    assert_size("4096", 4096);
    assert_size("0", 0);
}
END_TEST

START_TEST(test_iec_suffixes)
{
    assert_size("2GiB", 2ull << 30);
    assert_size("2GB", 2ull << 30);
    assert_size("3Ti", 3ull << 40);
}
END_TEST

START_TEST(test_fraction_rejected)
{
    assert_rejected("1.5G");
}
END_TEST

START_TEST(test_empty_rejected)
{
    assert_rejected("");
    ck_assert_int_eq(parse_size(NULL, &(uint64_t){0}), -1);
}
END_TEST

START_TEST(test_unit_without_number_rejected)
{
    assert_rejected("M");
}
END_TEST

START_TEST(test_negative_rejected)
{
    /* strtoull would happily wrap "-1" to UINT64_MAX. */
    assert_rejected("-1");
    assert_rejected("-1G");
}
END_TEST

START_TEST(test_overflow_rejected)
{
    assert_rejected("99999999999T");
    assert_rejected("18446744073709551616"); /* UINT64_MAX + 1: ERANGE */
}
END_TEST

START_TEST(test_largest_values_accepted)
{
    /* The overflow checks must not cut off sizes that still fit in 64 bits. */
    assert_size("16777215T", 16777215ull << 40);
    assert_size("18446744073709551615", UINT64_MAX);
    assert_rejected("16777216T"); /* exactly 2^64 */
}
END_TEST

START_TEST(test_trailing_garbage_rejected)
{
    assert_rejected("1G ");
    assert_rejected("1Gx");
    assert_rejected("1X");
    assert_rejected("1iB"); /* "iB" only after a unit */
    assert_rejected("0x10");
    assert_rejected(" 1G");
}
END_TEST

/* What a viewer could do with the read-only descriptor of a scanout. */
START_TEST(test_shared_memfile_read_only_end)
{
    int ro = -1;
    void *map;
    ck_assert_int_eq(memfile_create_shared("test", 8192, &map, &ro), 0);
    uint8_t *w = map;
    memcpy(w + 4096, "pixels", 6);
    const uint8_t *r = mmap(NULL, 8192, PROT_READ, MAP_SHARED, ro, 0);
    ck_assert_ptr_ne(r, MAP_FAILED);
    ck_assert_mem_eq(r + 4096, "pixels", 6);
    /* No way to change what others see, nor to shrink it under our mapping. */
    ck_assert_ptr_eq(mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0), MAP_FAILED);
    ck_assert_int_eq(errno, EACCES);
    ck_assert_int_ne(mprotect((void *)r, 8192, PROT_READ | PROT_WRITE), 0);
    ck_assert_int_lt(write(ro, "x", 1), 0);
    ck_assert_int_lt(ftruncate(ro, 0), 0);
    ck_assert_uint_eq(w[4096], 'p');
    /* Our own mapping stays writable, and readers see what it writes. */
    w[4096] = 'P';
    ck_assert_uint_eq(r[4096], 'P');
    munmap(w, 8192);
    munmap((void *)r, 8192);
    close(ro);
}
END_TEST

#ifdef __linux__
/* The ways a holder of the read-only descriptor could write through
 * /proc/self/fd/N opened read-write; 0 when each of them failed. */
static int write_through_proc(int ro)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", ro);
    int rw = open(path, O_RDWR);
    if (rw < 0)
        return 0; /* the mode refuses it (not root) */
    int bad = 0;
    if (pwrite(rw, "x", 1, 4096) >= 0)
        bad |= 1;
    void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
    if (m != MAP_FAILED) {
        bad |= 2;
        munmap(m, 8192);
    }
    m = mmap(NULL, 8192, PROT_READ, MAP_SHARED, rw, 0);
    if (m != MAP_FAILED && mprotect(m, 8192, PROT_READ | PROT_WRITE) == 0)
        bad |= 4;
    if (m != MAP_FAILED)
        munmap(m, 8192);
    if (ftruncate(rw, 0) == 0)
        bad |= 8;
    close(rw);
    return bad;
}

/* A memfd's read-only descriptor opened again read-write through /proc: the
 * open fails for its owner (mode 0400), and, for root, who may open anything,
 * every write through it and every writable mapping of it fails. */
START_TEST(test_shared_memfile_reopened_read_write)
{
    int ro = -1;
    void *map;
    ck_assert_int_eq(memfile_create_shared("test", 8192, &map, &ro), 0);
    uint8_t *w = map;
    w[4096] = 'p';
    ck_assert_int_eq(write_through_proc(ro), 0);
    if (geteuid() == 0) {
        /* As a user who owns the file and is not root (the viewer's case). */
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            char path[64];
            snprintf(path, sizeof(path), "/proc/self/fd/%d", ro);
            if (fchown(ro, 65534, 65534) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                _exit(100);
            prctl(PR_SET_DUMPABLE, 1); /* /proc/self stays ours after setuid */
            int rw = open(path, O_RDWR);
            _exit(rw >= 0 ? 1 : errno == EACCES ? 0 : 101);
        }
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "the owner reopened the scanout read-write (status %d)", status);
    }
    ck_assert_uint_eq(w[4096], 'p');
    munmap(w, 8192);
    close(ro);
}
END_TEST
#endif

/* ---- paths ------------------------------------------------------------------------ */

START_TEST(test_run_dir_beside_state)
{
    char out[4096];
    ck_assert_int_eq(paths_run_dir("/home/u/.local/state/ignition", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/home/u/.local/state/ignition/run");
}
END_TEST

/* A socket address holds ~104 bytes: a deep state directory puts its sockets
 * under /tmp, one directory per state directory, still short enough. */
START_TEST(test_run_dir_of_a_deep_state_dir)
{
    char deep[300], other[300], out[4096], out2[4096];
    memset(deep, 'd', sizeof(deep) - 1);
    deep[0] = '/';
    deep[sizeof(deep) - 1] = '\0';
    memcpy(other, deep, sizeof(other));
    other[10] = 'e';
    setenv("TMPDIR", "/tmp", 1);
    unsetenv("XDG_RUNTIME_DIR");
    ck_assert_int_eq(paths_run_dir(deep, out, sizeof(out)), 0);
    ck_assert_int_eq(paths_run_dir(other, out2, sizeof(out2)), 0);
    ck_assert_int_eq(strncmp(out, "/tmp/ignition-", 14), 0);
    ck_assert_str_ne(out, out2);
    ck_assert_uint_le(strlen(out) + 1 + PATHS_GUEST_NAME_MAX + strlen(".display"), 103);
}
END_TEST

/* The user's own runtime directory, where there is one: nobody else can
 * make the fallback directory there first. */
START_TEST(test_run_dir_of_a_deep_state_dir_in_runtime_dir)
{
    char deep[300], out[4096], want[64];
    memset(deep, 'd', sizeof(deep) - 1);
    deep[0] = '/';
    deep[sizeof(deep) - 1] = '\0';
    setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
    ck_assert_int_eq(paths_run_dir(deep, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "/run/user/1000/ignition-");
    ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
    ck_assert_uint_le(strlen(out) + 1 + PATHS_GUEST_NAME_MAX + strlen(".display"), 103);
    /* Relative or too long for a socket address: not used. */
    setenv("XDG_RUNTIME_DIR", "run/user/1000", 1);
    ck_assert_int_eq(paths_run_dir(deep, out, sizeof(out)), 0);
    ck_assert_int_eq(strncmp(out, "/tmp/ignition-", 14), 0);
    unsetenv("XDG_RUNTIME_DIR");
}
END_TEST

START_TEST(test_guest_names)
{
    ck_assert(paths_guest_name_ok("demo"));
    ck_assert(paths_guest_name_ok("Web-1.test_2"));
    ck_assert(!paths_guest_name_ok(""));
    ck_assert(!paths_guest_name_ok(".."));
    ck_assert(!paths_guest_name_ok("a/b"));
    ck_assert(!paths_guest_name_ok("-rf"));
    ck_assert(!paths_guest_name_ok("012345678901234567890123456789012")); /* 33 */
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *shm = tcase_create("memfile");
    tcase_add_test(shm, test_shared_memfile_read_only_end);
#ifdef __linux__
    tcase_add_test(shm, test_shared_memfile_reopened_read_write);
#endif
    suite_add_tcase(s, shm);
    TCase *tc = tcase_create("parse_size");
    tcase_add_test(tc, test_megabytes);
    tcase_add_test(tc, test_gigabytes);
    tcase_add_test(tc, test_lowercase_kilobytes);
    tcase_add_test(tc, test_plain_bytes);
    tcase_add_test(tc, test_iec_suffixes);
    tcase_add_test(tc, test_fraction_rejected);
    tcase_add_test(tc, test_empty_rejected);
    tcase_add_test(tc, test_unit_without_number_rejected);
    tcase_add_test(tc, test_negative_rejected);
    tcase_add_test(tc, test_overflow_rejected);
    tcase_add_test(tc, test_largest_values_accepted);
    tcase_add_test(tc, test_trailing_garbage_rejected);
    suite_add_tcase(s, tc);
    TCase *paths = tcase_create("paths");
    tcase_add_test(paths, test_run_dir_beside_state);
    tcase_add_test(paths, test_run_dir_of_a_deep_state_dir);
    tcase_add_test(paths, test_run_dir_of_a_deep_state_dir_in_runtime_dir);
    tcase_add_test(paths, test_guest_names);
    suite_add_tcase(s, paths);
    return s;
}

int main(void)
{
    return run_suite(util_suite());
}
