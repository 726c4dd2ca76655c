/* ignition-vsock: the guest's end of vsock streams, for images that have no
 * socat (busybox has no AF_VSOCK). Built static for arm64 by
 * tools/build-guest and installed as /bin/ignition-vsock.
 *
 *   ignition-vsock connect [CID] PORT   relay stdin/stdout over a connection
 *                                       to CID (default 2, the host) PORT
 *   ignition-vsock listen [-1] PORT [CMD [ARG]...]
 *                                       accept connections on PORT: echo what
 *                                       each sends, or run CMD with the
 *                                       connection as its stdin and stdout;
 *                                       -1 serves one connection, then exits
 *   ignition-vsock cid                  print this guest's CID
 *
 * A relay half-closes the socket when stdin ends and exits when the peer
 * has; it exits 1 with the reason on stderr when the connection fails (a
 * reset, a refusal). Each accepted connection is served by its own child
 * process, so a listener serves many at once. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
/* After sys/socket.h: newer kernel headers size sockaddr_vm by struct sockaddr. */
#include <linux/vm_sockets.h>
#include <unistd.h>

#define BUFFER 65536

static const char *program = "ignition-vsock";

static int usage(void)
{
    fprintf(stderr,
            "usage: %s connect [CID] PORT\n"
            "       %s listen [-1] PORT [CMD [ARG]...]\n"
            "       %s cid\n",
            program, program, program);
    return 2;
}

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", program, what, strerror(errno));
    return 1;
}

static bool parse_u32(const char *text, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (!*text || *end || errno || v > 0xffffffffUL)
        return false;
    *out = (unsigned)v;
    return true;
}

/* Writes all of buf; false when the other end is gone. */
static bool write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Copies stdin to the socket and the socket to stdout until the socket ends. */
static int relay(int sock, int in, int out)
{
    static char buf[BUFFER];
    bool in_open = true;
    for (;;) {
        struct pollfd p[2] = {{.fd = sock, .events = POLLIN},
                              {.fd = in_open ? in : -1, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return fail("poll");
        }
        if (p[0].revents) {
            ssize_t n = read(sock, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return fail("read from the connection");
            if (n == 0)
                return 0;
            if (!write_all(out, buf, (size_t)n))
                return fail("write to stdout");
        }
        if (in_open && p[1].revents) {
            ssize_t n = read(in, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                in_open = false;
                shutdown(sock, SHUT_WR);
            } else if (!write_all(sock, buf, (size_t)n)) {
                return fail("write to the connection");
            }
        }
    }
}

static int do_connect(int argc, char **argv)
{
    unsigned cid = VMADDR_CID_HOST, port;
    if (argc == 2 && !parse_u32(argv[0], &cid))
        return usage();
    if ((argc != 1 && argc != 2) || !parse_u32(argv[argc - 1], &port))
        return usage();
    int sock = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return fail("socket");
    struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
    if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return fail("connect");
    return relay(sock, STDIN_FILENO, STDOUT_FILENO);
}

static void echo(int conn)
{
    static char buf[BUFFER];
    for (;;) {
        ssize_t n = read(conn, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || !write_all(conn, buf, (size_t)n))
            return;
    }
}

/* In the child that owns conn. */
static void serve(int conn, char **cmd)
{
    if (!cmd[0]) {
        echo(conn);
        exit(0);
    }
    if (dup2(conn, STDIN_FILENO) < 0 || dup2(conn, STDOUT_FILENO) < 0)
        exit(fail("dup2"));
    /* CMD starts as any program does: the listener's own dispositions (its
     * children reaped by the kernel, SIGPIPE ignored) would survive exec and
     * break a CMD that waits for children of its own. */
    signal(SIGCHLD, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    execvp(cmd[0], cmd);
    exit(fail(cmd[0]));
}

static int do_listen(int argc, char **argv)
{
    bool once = argc > 0 && strcmp(argv[0], "-1") == 0;
    if (once)
        argc--, argv++;
    unsigned port;
    if (argc < 1 || !parse_u32(argv[0], &port))
        return usage();
    char **cmd = argv + 1;
    int sock = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return fail("socket");
    struct sockaddr_vm addr = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                               .svm_port = port};
    if (bind(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(sock, 16) < 0)
        return fail("listen");
    if (!once)
        signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
    for (;;) {
        int conn = accept4(sock, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return fail("accept");
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(sock);
            serve(conn, cmd);
        }
        close(conn);
        if (pid < 0)
            fail("fork");
        if (once) {
            int status = 1;
            while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        }
    }
}

static int do_cid(void)
{
    int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    unsigned cid;
    if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
        return fail("/dev/vsock");
    printf("%u\n", cid);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a peer gone away is an error where we write */
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "connect") == 0)
        return do_connect(argc - 2, argv + 2);
    if (strcmp(argv[1], "listen") == 0)
        return do_listen(argc - 2, argv + 2);
    if (strcmp(argv[1], "cid") == 0 && argc == 2)
        return do_cid();
    return usage();
}
