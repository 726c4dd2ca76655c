#include "supervisor/standby.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

int standby_send(int sock, char *const argv[], int log_fd, int ready_fd)
{
    size_t len = 0;
    int argc = 0;
    for (; argv[argc]; argc++) {
        len += strlen(argv[argc]) + 1;
        if (argc >= STANDBY_MAX_ARGS || len > STANDBY_MAX_BYTES)
            return -E2BIG;
    }
    uint8_t header[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                         (uint8_t)(len >> 24)};
    struct iovec iov = {.iov_base = header, .iov_len = sizeof(header)};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(2 * sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    int fds[2] = {log_fd, ready_fd};
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    ssize_t n;
    do
        n = sendmsg(sock, &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if (n != (ssize_t)sizeof(header))
        return -EIO;
    for (int i = 0; i < argc; i++) {
        int rc = write_fully(sock, argv[i], strlen(argv[i]) + 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int standby_decode_args(const uint8_t *buf, size_t len, int *argc, char ***argv)
{
    if (len == 0 || len > STANDBY_MAX_BYTES || buf[len - 1] != '\0')
        return -1;
    int n = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0' && ++n > STANDBY_MAX_ARGS)
            return -1;
    if (n < 2)
        return -1;
    /* The pointers, then the strings they point into, in one block. */
    size_t table = (size_t)(n + 1) * sizeof(char *);
    char **out = malloc(table + len);
    if (!out)
        return -1;
    char *strings = (char *)out + table;
    memcpy(strings, buf, len);
    char *p = strings;
    for (int i = 0; i < n; i++) {
        out[i] = p;
        p += strlen(p) + 1;
    }
    out[n] = NULL;
    *argc = n;
    *argv = out;
    return 0;
}

static void close_received(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

/* The header and the descriptors that came with it: 1, 0 at the socket's
 * end, -1 with err set. */
static int receive_header(int sock, uint32_t *len, int fds[2], char *err, size_t err_len)
{
    uint8_t header[4];
    struct iovec iov = {.iov_base = header, .iov_len = sizeof(header)};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_WAITALL);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    int got[4];
    size_t num_fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && num_fds < 4; i++)
            memcpy(&got[num_fds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    if (n != (ssize_t)sizeof(header) || num_fds != 2 || (msg.msg_flags & MSG_CTRUNC)) {
        close_received(got, num_fds);
        set_message(err, err_len, "a malformed request (%zd bytes, %zu descriptors)", n,
                    num_fds);
        return -1;
    }
    *len = (uint32_t)header[0] | (uint32_t)header[1] << 8 | (uint32_t)header[2] << 16 |
           (uint32_t)header[3] << 24;
    fds[0] = got[0];
    fds[1] = got[1];
    return 1;
}

static int read_exactly(int fd, uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t)n;
    }
    return 0;
}

int standby_receive(int sock, struct standby_request *req, char *err, size_t err_len)
{
    memset(req, 0, sizeof(*req));
    uint32_t len;
    int fds[2];
    int rc = receive_header(sock, &len, fds, err, err_len);
    if (rc <= 0)
        return rc;
    uint8_t *buf = len && len <= STANDBY_MAX_BYTES ? malloc(len) : NULL;
    if (!buf || read_exactly(sock, buf, len) < 0 ||
        standby_decode_args(buf, len, &req->argc, &req->argv) < 0) {
        set_message(err, err_len, "a malformed request (%u bytes of arguments)", len);
        free(buf);
        close_received(fds, 2);
        return -1;
    }
    free(buf);
    req->log_fd = fds[0];
    req->ready_fd = fds[1];
    return 1;
}

void standby_request_free(struct standby_request *req)
{
    free(req->argv);
    req->argv = NULL;
}
