/* unixsock: the listening socket must only ever appear in a directory private
 * to its owner, with mode 0600; a stale socket is replaced, a live one or a
 * file that is not a socket never is; a symbolic link is no directory; a
 * client talks only to a server of its own user; and every refusal says why. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unixsock.h"
#include "unit.h"

static char base[64];
static char err[512];

static void setup(void)
{
    snprintf(base, sizeof(base), "/tmp/ignition-test-sock-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(base)); /* mode 0700 */
    err[0] = '\0';
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    ck_assert_int_eq(system(cmd), 0);
}

static void path_in(char *out, size_t len, const char *rel)
{
    snprintf(out, len, "%s/%s", base, rel);
}

static void assert_err_contains(const char *needle)
{
    ck_assert_msg(strstr(err, needle) != NULL, "error \"%s\" does not say \"%s\"", err, needle);
}

static void assert_nonblock_cloexec(int fd)
{
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

/* A socket file nobody listens on, as a crashed process leaves it. */
static void make_stale_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    ck_assert_uint_lt(strlen(path), sizeof(addr.sun_path));
    memcpy(addr.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
}

static bool connects(const char *path)
{
    int fd = unixsock_connect(path, err, sizeof(err));
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

START_TEST(test_listen_creates_private_dir_and_socket)
{
    char dir[128], path[160];
    path_in(dir, sizeof(dir), "run");
    path_in(path, sizeof(path), "run/guest.sock");
    /* With no umask to help, the modes must still come out private. */
    mode_t old_mask = umask(0);
    int fd = unixsock_listen(path, err, sizeof(err));
    umask(old_mask);
    ck_assert_msg(fd >= 0, "%s", err);
    struct stat st;
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0700);
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    assert_nonblock_cloexec(fd);
    ck_assert(connects(path));
    close(fd);
}
END_TEST

START_TEST(test_listen_refuses_open_directory)
{
    char dir[128], path[160];
    path_in(dir, sizeof(dir), "open");
    path_in(path, sizeof(path), "open/guest.sock");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(unixsock_listen(path, err, sizeof(err)), -1);
    assert_err_contains("accessible by group or others (mode 0755)");
    assert_err_contains(dir);
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), -1);
}
END_TEST

START_TEST(test_listen_refuses_foreign_directory)
{
    char dir[128], path[160];
    if (geteuid() == 0) {
        path_in(dir, sizeof(dir), "theirs");
        ck_assert_int_eq(mkdir(dir, 0700), 0);
        ck_assert_int_eq(chown(dir, 65534, 65534), 0);
    } else {
        snprintf(dir, sizeof(dir), "/"); /* root's */
    }
    snprintf(path, sizeof(path), "%s/guest.sock", dir);
    ck_assert_int_eq(unixsock_listen(path, err, sizeof(err)), -1);
    assert_err_contains("belongs to uid");
}
END_TEST

/* A symbolic link in place of the directory (anyone can make one in /tmp) is
 * refused, even when it leads to a directory that would pass. */
START_TEST(test_listen_refuses_symlinked_directory)
{
    char real[128], link[128], path[160];
    path_in(real, sizeof(real), "real");
    path_in(link, sizeof(link), "link");
    ck_assert_int_eq(mkdir(real, 0700), 0);
    ck_assert_int_eq(symlink(real, link), 0);
    snprintf(path, sizeof(path), "%s/guest.sock", link);
    ck_assert_int_eq(unixsock_listen(path, err, sizeof(err)), -1);
    assert_err_contains("is a symbolic link");
    assert_err_contains(link);
    struct stat st;
    char target[160];
    snprintf(target, sizeof(target), "%s/guest.sock", real);
    ck_assert_int_eq(lstat(target, &st), -1);
}
END_TEST

START_TEST(test_listen_refuses_too_long_path)
{
    struct sockaddr_un addr;
    char path[300], limit[32];
    memset(path, 'a', sizeof(path));
    memcpy(path, base, strlen(base));
    path[strlen(base)] = '/';
    path[sizeof(addr.sun_path)] = '\0'; /* one byte more than fits with its NUL */
    ck_assert_int_eq(unixsock_listen(path, err, sizeof(err)), -1);
    snprintf(limit, sizeof(limit), "at most %zu", sizeof(addr.sun_path) - 1);
    assert_err_contains(limit);
    ck_assert_int_eq(unixsock_connect(path, err, sizeof(err)), -1);
    assert_err_contains(limit);
}
END_TEST

START_TEST(test_listen_longest_path_fits)
{
    struct sockaddr_un addr;
    char path[300];
    memset(path, 'b', sizeof(path));
    memcpy(path, base, strlen(base));
    path[strlen(base)] = '/';
    path[sizeof(addr.sun_path) - 1] = '\0';
    int fd = unixsock_listen(path, err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    ck_assert(connects(path));
    close(fd);
}
END_TEST

START_TEST(test_listen_replaces_stale_socket)
{
    char path[160];
    path_in(path, sizeof(path), "guest.sock");
    make_stale_socket(path);
    ck_assert(!connects(path));
    assert_err_contains("stale socket");
    int fd = unixsock_listen(path, err, sizeof(err));
    ck_assert_msg(fd >= 0, "%s", err);
    ck_assert(connects(path));
    close(fd);
}
END_TEST

START_TEST(test_listen_refuses_socket_in_use)
{
    char path[160];
    path_in(path, sizeof(path), "guest.sock");
    int first = unixsock_listen(path, err, sizeof(err));
    ck_assert_msg(first >= 0, "%s", err);
    ck_assert_int_eq(unixsock_listen(path, err, sizeof(err)), -1);
    assert_err_contains("already in use");
    /* The refusal left the first listener reachable. */
    ck_assert(connects(path));
    int conn = unixsock_accept(first);
    ck_assert_int_ge(conn, 0);
    close(conn);
    close(first);
}
END_TEST

START_TEST(test_listen_leaves_regular_file_alone)
{
    char path[160];
    path_in(path, sizeof(path), "guest.sock");
    FILE *f = fopen(path, "w");
    fputs("keep me", f);
    fclose(f);
    ck_assert_int_eq(unixsock_listen(path, err, sizeof(err)), -1);
    assert_err_contains("is not a socket; not removing it");
    char text[16] = "";
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(text, sizeof(text), f));
    fclose(f);
    ck_assert_str_eq(text, "keep me");
}
END_TEST

START_TEST(test_peer_uid_is_ours)
{
    char path[160];
    path_in(path, sizeof(path), "guest.sock");
    int lfd = unixsock_listen(path, err, sizeof(err));
    ck_assert_msg(lfd >= 0, "%s", err);
    int client = unixsock_connect(path, err, sizeof(err));
    ck_assert_msg(client >= 0, "%s", err);
    ck_assert(fcntl(client, F_GETFD) & FD_CLOEXEC);
    int server = unixsock_accept(lfd);
    ck_assert_int_ge(server, 0);
    assert_nonblock_cloexec(server);
    uid_t uid = (uid_t)-1;
    ck_assert_int_eq(unixsock_peer_uid(server, &uid), 0);
    ck_assert_uint_eq(uid, getuid());
    uid = (uid_t)-1;
    ck_assert_int_eq(unixsock_peer_uid(client, &uid), 0);
    ck_assert_uint_eq(uid, getuid());
    close(server);
    close(client);
    close(lfd);
}
END_TEST

/* The client's check of who answers, with a chosen expected uid (a test
 * cannot always make a server of another user). */
START_TEST(test_check_peer_refuses_another_uid)
{
    char path[160];
    path_in(path, sizeof(path), "guest.sock");
    int lfd = unixsock_listen(path, err, sizeof(err));
    ck_assert_msg(lfd >= 0, "%s", err);
    int client = unixsock_connect(path, err, sizeof(err));
    ck_assert_msg(client >= 0, "%s", err);
    ck_assert_int_eq(unixsock_check_peer(client, geteuid(), path, err, sizeof(err)), 0);
    ck_assert_int_eq(unixsock_check_peer(client, geteuid() + 1, path, err, sizeof(err)), -1);
    assert_err_contains("not talking to it");
    assert_err_contains(path);
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(unixsock_check_peer(fds[0], geteuid(), "pipe", err, sizeof(err)), -1);
    assert_err_contains("cannot tell who answers at pipe");
    close(fds[0]);
    close(fds[1]);
    close(client);
    close(lfd);
}
END_TEST

/* A server of another user, as one who got to a shared directory first:
 * unixsock_connect (every client's way in) refuses to talk to it. */
START_TEST(test_connect_refuses_server_of_another_user)
{
    if (geteuid() != 0)
        return; /* only root can be another user; check_peer is tested above */
    char dir[64], path[128];
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-foreign-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(chown(dir, 65534, 65534), 0);
    snprintf(path, sizeof(path), "%s/vmmd.sock", dir);
    int ready[2];
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(1);
        int lfd = unixsock_listen(path, err, sizeof(err));
        if (write(ready[1], lfd >= 0 ? "y" : "n", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    char answer = 0;
    ck_assert_int_eq(read(ready[0], &answer, 1), 1);
    ck_assert_int_eq(answer, 'y');
    errno = 0;
    int fd = unixsock_connect(path, err, sizeof(err));
    int saved = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(ready[0]);
    close(ready[1]);
    unlink(path);
    rmdir(dir);
    ck_assert_msg(fd < 0, "connected to a server of uid 65534");
    ck_assert_int_eq(saved, EPERM);
    assert_err_contains("runs as uid 65534, not as uid 0");
}
END_TEST

START_TEST(test_peer_uid_of_non_socket)
{
    uid_t uid;
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(unixsock_peer_uid(fds[0], &uid), -ENOTSOCK);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(test_accept_with_nothing_pending)
{
    char path[160];
    path_in(path, sizeof(path), "guest.sock");
    int lfd = unixsock_listen(path, err, sizeof(err));
    ck_assert_msg(lfd >= 0, "%s", err);
    ck_assert_int_eq(unixsock_accept(lfd), -EAGAIN);
    close(lfd);
}
END_TEST

START_TEST(test_connect_to_nothing)
{
    char path[160], expected[200];
    path_in(path, sizeof(path), "absent.sock");
    ck_assert_int_eq(unixsock_connect(path, err, sizeof(err)), -1);
    snprintf(expected, sizeof(expected), "no guest is listening at %s", path);
    assert_err_contains(expected);
}
END_TEST

static Suite *unixsock_suite(void)
{
    Suite *s = suite_create("unixsock");
    TCase *tc = tcase_create("unixsock");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_listen_creates_private_dir_and_socket);
    tcase_add_test(tc, test_listen_refuses_open_directory);
    tcase_add_test(tc, test_listen_refuses_foreign_directory);
    tcase_add_test(tc, test_listen_refuses_symlinked_directory);
    tcase_add_test(tc, test_listen_refuses_too_long_path);
    tcase_add_test(tc, test_listen_longest_path_fits);
    tcase_add_test(tc, test_listen_replaces_stale_socket);
    tcase_add_test(tc, test_listen_refuses_socket_in_use);
    tcase_add_test(tc, test_listen_leaves_regular_file_alone);
    tcase_add_test(tc, test_peer_uid_is_ours);
    tcase_add_test(tc, test_check_peer_refuses_another_uid);
    tcase_add_test(tc, test_connect_refuses_server_of_another_user);
    tcase_add_test(tc, test_peer_uid_of_non_socket);
    tcase_add_test(tc, test_accept_with_nothing_pending);
    tcase_add_test(tc, test_connect_to_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(unixsock_suite());
}
