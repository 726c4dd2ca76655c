/* supervision: the lock refuses a second holder and names the first (by its
 * pid), the exit file holds exactly one line or nothing, and "ready" is
 * written once and the descriptor closed. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#include "worker/supervision.h"
#include "unit.h"

static char dir[64], path[128];
static char err[512];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-supervision-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    err[0] = '\0';
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void read_file(const char *file, char *buf, size_t len)
{
    FILE *f = fopen(file, "r");
    ck_assert_msg(f != NULL, "%s: %s", file, strerror(errno));
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

START_TEST(test_names)
{
    ck_assert(paths_guest_name_ok("demo"));
    ck_assert(paths_guest_name_ok("a"));
    ck_assert(paths_guest_name_ok("Web-1.test_2"));
    ck_assert(paths_guest_name_ok("01234567890123456789012345678901")); /* 32 */
    ck_assert(!paths_guest_name_ok(""));
    ck_assert(!paths_guest_name_ok("012345678901234567890123456789012")); /* 33 */
    ck_assert(!paths_guest_name_ok("-demo"));
    ck_assert(!paths_guest_name_ok(".hidden"));
    ck_assert(!paths_guest_name_ok("a/b"));
    ck_assert(!paths_guest_name_ok("a b"));
    ck_assert(!paths_guest_name_ok("caf\xc3\xa9"));
}
END_TEST

START_TEST(test_lock_is_exclusive_and_names_its_holder)
{
    snprintf(path, sizeof(path), "%s/worker.lock", dir);
    int fd = supervision_lock(path, "demo", err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    char text[64], expected[96];
    read_file(path, text, sizeof(text));
    snprintf(expected, sizeof(expected), "%ld\n", (long)getpid());
    ck_assert_str_eq(text, expected);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);

    /* flock belongs to the open file: a second open conflicts even here. */
    ck_assert_int_eq(supervision_lock(path, "demo", err, sizeof(err)), -1);
    snprintf(expected, sizeof(expected), "guest demo is already running (pid %ld)",
             (long)getpid());
    ck_assert_str_eq(err, expected);
    ck_assert_int_eq(supervision_lock(path, NULL, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "is locked by another worker (pid") != NULL, "%s", err);

    close(fd); /* as when the worker dies, however it dies */
    fd = supervision_lock(path, "demo", err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    close(fd);
}
END_TEST

START_TEST(test_lock_replaces_a_stale_pid)
{
    snprintf(path, sizeof(path), "%s/worker.lock", dir);
    FILE *f = fopen(path, "w");
    fputs("999999999\nleftover text\n", f);
    fclose(f);
    int fd = supervision_lock(path, "demo", err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    char text[64], expected[32];
    read_file(path, text, sizeof(text));
    snprintf(expected, sizeof(expected), "%ld\n", (long)getpid());
    ck_assert_str_eq(text, expected);
    close(fd);
}
END_TEST

START_TEST(test_lock_in_a_missing_directory)
{
    snprintf(path, sizeof(path), "%s/nowhere/worker.lock", dir);
    ck_assert_int_eq(supervision_lock(path, "demo", err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "No such file or directory") != NULL, "%s", err);
}
END_TEST

START_TEST(test_exit_file)
{
    snprintf(path, sizeof(path), "%s/exit", dir);
    ck_assert_int_eq(supervision_exit_file_clear(path, err, sizeof(err)), 0); /* none: fine */
    ck_assert_int_eq(supervision_exit_file_write(path, "error: the guest crashed"), 0);
    char text[64];
    read_file(path, text, sizeof(text));
    ck_assert_str_eq(text, "error: the guest crashed\n");
    ck_assert_int_eq(supervision_exit_file_write(path, "poweroff"), 0);
    read_file(path, text, sizeof(text));
    ck_assert_str_eq(text, "poweroff\n");
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    ck_assert_int_eq(supervision_exit_file_clear(path, err, sizeof(err)), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/nowhere/exit", dir);
    ck_assert_int_eq(supervision_exit_file_write(path, "stopped"), -ENOENT);
}
END_TEST

/* The exit line is written when the disk may be full: the room for it is
 * taken at the start, and the line written into it is cut to size. (A real
 * full disk: the full_disk integration test.) */
START_TEST(test_exit_file_room_kept_from_the_start)
{
    snprintf(path, sizeof(path), "%s/exit", dir);
    ck_assert_int_eq(supervision_exit_file_clear(path, err, sizeof(err)), 0);
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    struct stat st;
    ck_assert_int_eq(stat(tmp, &st), 0);
    ck_assert_int_ge((long long)st.st_blocks * 512, SUPERVISION_EXIT_FILE_ROOM);
    ck_assert_int_eq(supervision_exit_file_write(path, "poweroff"), 0);
    char text[64];
    read_file(path, text, sizeof(text));
    ck_assert_str_eq(text, "poweroff\n");
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 9);
}
END_TEST

START_TEST(test_ready)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(supervision_signal_ready(p[1], "emu"), 0);
    char buf[16];
    ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 10);
    ck_assert_int_eq(memcmp(buf, "ready emu\n", 10), 0);
    ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 0); /* closed: end of file */
    close(p[0]);
}
END_TEST

static Suite *supervision_suite(void)
{
    Suite *s = suite_create("supervision");
    TCase *tc = tcase_create("supervision");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_lock_is_exclusive_and_names_its_holder);
    tcase_add_test(tc, test_lock_replaces_a_stale_pid);
    tcase_add_test(tc, test_lock_in_a_missing_directory);
    tcase_add_test(tc, test_exit_file);
    tcase_add_test(tc, test_exit_file_room_kept_from_the_start);
    tcase_add_test(tc, test_ready);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(supervision_suite());
}
