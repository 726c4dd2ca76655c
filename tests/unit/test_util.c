/* parse_size: the --memory option and config files go through it, so a size a
 * person writes must mean binary units and anything else must be refused rather
 * than half-parsed. Also common/'s other small pieces: shared memory files,
 * paths and guest names, the filter for text a guest or peer sent, logs
 * that rotate, and vmmd run's own instance directories. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <unistd.h>

#include "instances.h"
#include "log.h"
#include "memfile.h"
#include "paths.h"
#include "printable.h"
#include "rotating_log.h"
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

/* -- write_fully_waiting -- */

/* Fills the pipe whose write end is the non-blocking fd; returns what it took. */
static size_t fill_pipe(int fd)
{
    static const uint8_t chunk[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, chunk, sizeof(chunk));
        if (n < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            return total;
        }
        total += (size_t)n;
    }
}

/* Reads fd to its end after a pause; exits 0 when it read exactly expected bytes. */
static void slow_reader(int fd, size_t expected)
{
    usleep(100 * 1000);
    uint8_t buf[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        total += (size_t)n;
    _exit(n == 0 && total == expected ? 0 : 1);
}

START_TEST(test_write_waiting_loses_nothing_to_a_slow_reader)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(set_nonblock_cloexec(p[1]), 0);
    size_t filled = fill_pipe(p[1]);
    static uint8_t data[256 * 1024];
    memset(data, 'x', sizeof(data));
    pid_t reader = fork();
    ck_assert_int_ge(reader, 0);
    if (reader == 0) {
        close(p[1]);
        slow_reader(p[0], filled + sizeof(data));
    }
    close(p[0]);
    ck_assert_int_eq(write_fully_waiting(p[1], data, sizeof(data), 5000), 0);
    close(p[1]);
    int status;
    ck_assert_int_eq(waitpid(reader, &status, 0), reader);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(test_write_waiting_gives_up_on_a_reader_that_takes_nothing)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(set_nonblock_cloexec(p[1]), 0);
    fill_pipe(p[1]);
    uint64_t start = monotonic_ns();
    ck_assert_int_eq(write_fully_waiting(p[1], "y", 1, 50), -EAGAIN);
    ck_assert_uint_ge(monotonic_ns() - start, 50u * 1000000u);
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(test_write_waiting_reports_a_closed_reader)
{
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    close(p[0]);
    ck_assert_int_eq(write_fully_waiting(p[1], "y", 1, 50), -EPIPE);
    close(p[1]);
}
END_TEST

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

/* printable_copy: what a guest or peer sent, shown on a terminal. */
static void assert_printable(bool lines, const char *in, const char *expected)
{
    char out[128];
    (lines ? printable_copy_lines : printable_copy)(out, sizeof(out), in);
    ck_assert_str_eq(out, expected);
}

START_TEST(test_printable_drops_escape_sequences)
{
    assert_printable(false, "a\x1b[31mred\x1b[0m", "ared");          /* CSI */
    assert_printable(false, "\x1b]0;title\x07x", "x");                /* OSC ended by BEL */
    assert_printable(false, "\x1b]2;t\x1b\\y", "y");                /* OSC ended by ST */
    assert_printable(false, "\x1bP+q54\x1b\\z", "z");               /* DCS */
    assert_printable(false, "\x1b(Bq", "q");                         /* charset */
    assert_printable(false, "\x1b=k", "k");                          /* keypad mode */
    assert_printable(false, "end\x1b", "end");                       /* a lone ESC */
    assert_printable(false, "\x1b[12;", "");                         /* cut short */
    assert_printable(false, "\x1b]0;never ended", "");
}
END_TEST

START_TEST(test_printable_replaces_other_bytes)
{
    assert_printable(false, "a\x07" "b\x9b" "6n\xc3\xa9", "a?b?6n??");
    assert_printable(false, "two\nlines\r\t", "two?lines??");
    assert_printable(true, "two\r\nlines\tend\x08", "two\nlines\tend?");
    assert_printable(false, NULL, "");
    char small[4];
    printable_copy(small, sizeof(small), "abcdef");
    ck_assert_str_eq(small, "abc");
    printable_copy(small, 0, "abcdef"); /* nothing written, no crash */
}
END_TEST

/* rotating_log: the console log and a worker's log never pass their limit. */
static char rot_dir[64], rot_path[128];

static void rot_setup(void)
{
    snprintf(rot_dir, sizeof(rot_dir), "/tmp/ignition-test-rotate-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(rot_dir));
    snprintf(rot_path, sizeof(rot_path), "%s/some.log", rot_dir);
}

static void rot_teardown(void)
{
    char path[160];
    for (int g = 0; g <= 3; g++) {
        snprintf(path, sizeof(path), g ? "%s.%d" : "%s", rot_path, g);
        unlink(path);
    }
    rmdir(rot_dir);
}

/* The size of generation g of rot_path (0: the file itself), -1 when absent. */
static long generation_size(int g)
{
    char path[160];
    snprintf(path, sizeof(path), g ? "%s.%d" : "%s", rot_path, g);
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

START_TEST(test_rotating_log_keeps_its_generations)
{
    struct rotating_log l;
    ck_assert_int_eq(rotating_log_open(&l, rot_path, 100, 2), 0);
    char line[41];
    memset(line, 'x', 40);
    line[40] = '\n';
    ck_assert_int_eq(rotating_log_write(&l, line, 41), 0);
    ck_assert_int_eq(rotating_log_write(&l, line, 41), 0); /* 82: still room */
    ck_assert_int_eq(rotating_log_write(&l, line, 41), 1); /* 123 would pass 100 */
    ck_assert_int_eq(generation_size(1), 82);
    ck_assert_int_eq(generation_size(0), 41);
    for (int i = 0; i < 10; i++)
        rotating_log_write(&l, line, 41);
    ck_assert_int_le(generation_size(0), 100);
    ck_assert_int_eq(generation_size(1), 82);
    ck_assert_int_eq(generation_size(2), 82);
    ck_assert_int_eq(generation_size(3), -1); /* two old generations, no more */
    /* Bytes others wrote to the file count: the size is the file's. */
    int other = open(rot_path, O_WRONLY | O_APPEND);
    ck_assert_int_ge(other, 0);
    char lots[90] = {0};
    ck_assert_int_eq(write(other, lots, sizeof(lots)), (ssize_t)sizeof(lots));
    close(other);
    ck_assert_int_eq(rotating_log_reserve(&l, 20), 1);
    /* One write longer than the limit lands whole in an empty file. */
    char big[300] = {0};
    ck_assert_int_eq(rotating_log_write(&l, big, sizeof(big)), 0);
    ck_assert_int_eq(generation_size(0), 300);
    rotating_log_close(&l);
}
END_TEST

START_TEST(test_rotating_log_refuses_a_path_too_long)
{
    char path[ROTATING_LOG_PATH_MAX];
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    struct rotating_log l;
    ck_assert_int_eq(rotating_log_open(&l, path, 100, 2), -ENAMETOOLONG);
    ck_assert_int_eq(l.fd, -1);
}
END_TEST

/* A worker's stderr is its log: lines through log.c rotate it, and stdout and
 * stderr (what libraries and sanitizers write) follow to the new file. Check
 * runs each test in its own process, so moving stderr here harms no other. */
START_TEST(test_stderr_log_rotates_and_stdio_follows)
{
    ck_assert_int_eq(log_rotate_stderr(rot_path, 1000, 2), 0);
    for (int i = 0; i < 100; i++)
        log_info("line %d of a log that must not grow without end", i);
    ck_assert_int_le(generation_size(0), 1000);
    ck_assert_int_gt(generation_size(1), 900);
    ck_assert_int_gt(generation_size(2), 900);
    ck_assert_int_eq(generation_size(3), -1);
    long before = generation_size(0);
    ck_assert_int_eq(write(STDERR_FILENO, "raw\n", 4), 4);
    ck_assert_int_eq(write(STDOUT_FILENO, "out\n", 4), 4);
    ck_assert_int_eq(generation_size(0), before + 8);
}
END_TEST

/* instances: which of vmmd run's own instance directories are left over. */
static void make_instance(const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", rot_dir, name);
    ck_assert_int_eq(mkdir(out, 0700), 0);
    char file[256];
    snprintf(file, sizeof(file), "%s/disk0.cow", out);
    int fd = open(file, O_WRONLY | O_CREAT, 0600);
    ck_assert_int_ge(fd, 0);
    char block[8192] = {1};
    ck_assert_int_eq(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
    close(fd);
}

START_TEST(test_instance_stale_only_when_nobody_holds_it)
{
    char live[160], gone[160], old_live[160], old_gone[160], kept[160];
    make_instance("run-1-1", live, sizeof(live));
    int lock = instances_lock(live);
    ck_assert_int_ge(lock, 0);
    ck_assert(!instances_stale(live));
    ck_assert_int_eq(instances_lock(live), -EWOULDBLOCK); /* one run per directory */
    close(lock);
    ck_assert(instances_stale(live)); /* its run ended without removing it */
    /* From runs that made no lock: the pid in the name decides. */
    char name[64];
    snprintf(name, sizeof(name), "run-1-%d", (int)getpid());
    make_instance(name, old_live, sizeof(old_live));
    ck_assert(!instances_stale(old_live));
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    snprintf(name, sizeof(name), "run-1-%d", (int)child);
    make_instance(name, old_gone, sizeof(old_gone));
    ck_assert(instances_stale(old_gone));
    make_instance("something-else", gone, sizeof(gone));
    ck_assert(!instances_stale(gone)); /* not ours to judge */
    /* A directory its run was told to keep. */
    make_instance("run-2-2", kept, sizeof(kept));
    lock = instances_lock(kept);
    ck_assert_int_eq(instances_keep(kept), 0);
    close(lock);
    ck_assert(!instances_stale(kept));

    uint64_t bytes = 0;
    ck_assert_uint_ge(instances_size(live), 8192);
    ck_assert_int_eq(instances_remove(live, &bytes), 0);
    ck_assert_uint_ge(bytes, 8192);
    ck_assert_int_eq(access(live, F_OK), -1);
    ck_assert_int_eq(instances_remove(live, NULL), -ENOENT);
    const char *rest[] = {old_live, old_gone, gone, kept};
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(instances_remove(rest[i], NULL), 0);
}
END_TEST

/* A symbolic link inside is removed, not followed. */
START_TEST(test_instance_remove_follows_no_link)
{
    char outside[160], inst[160], link[200], kept_file[200];
    snprintf(outside, sizeof(outside), "%s/outside", rot_dir);
    ck_assert_int_eq(mkdir(outside, 0700), 0);
    snprintf(kept_file, sizeof(kept_file), "%s/precious", outside);
    close(open(kept_file, O_WRONLY | O_CREAT, 0600));
    make_instance("run-3-3", inst, sizeof(inst));
    snprintf(link, sizeof(link), "%s/link", inst);
    ck_assert_int_eq(symlink(outside, link), 0);
    ck_assert_int_eq(instances_remove(inst, NULL), 0);
    ck_assert_int_eq(access(kept_file, F_OK), 0);
    unlink(kept_file);
    rmdir(outside);
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
    tcase_add_test(tc, test_write_waiting_loses_nothing_to_a_slow_reader);
    tcase_add_test(tc, test_write_waiting_gives_up_on_a_reader_that_takes_nothing);
    tcase_add_test(tc, test_write_waiting_reports_a_closed_reader);
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
    TCase *printable = tcase_create("printable");
    tcase_add_test(printable, test_printable_drops_escape_sequences);
    tcase_add_test(printable, test_printable_replaces_other_bytes);
    suite_add_tcase(s, printable);
    TCase *rotating = tcase_create("rotating_log");
    tcase_add_checked_fixture(rotating, rot_setup, rot_teardown);
    tcase_add_test(rotating, test_rotating_log_keeps_its_generations);
    tcase_add_test(rotating, test_rotating_log_refuses_a_path_too_long);
    tcase_add_test(rotating, test_stderr_log_rotates_and_stdio_follows);
    suite_add_tcase(s, rotating);
    TCase *instances = tcase_create("instances");
    tcase_add_checked_fixture(instances, rot_setup, rot_teardown);
    tcase_add_test(instances, test_instance_stale_only_when_nobody_holds_it);
    tcase_add_test(instances, test_instance_remove_follows_no_link);
    suite_add_tcase(s, instances);
    return s;
}

int main(void)
{
    return run_suite(util_suite());
}
