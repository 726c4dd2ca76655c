#include "browser_agent.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "printable.h"
#include "unixsock.h"
#include "util.h"

bool browser_agent_url_ok(const char *url, char *why, size_t why_len)
{
    static const char *const schemes[] = {"http://", "https://", "file:///"};
    size_t len = strlen(url);
    if (len == 0 || len > BROWSER_AGENT_URL_MAX) {
        set_message(why, why_len, "a URL of 1 to %d bytes, please", BROWSER_AGENT_URL_MAX);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= ' ' || c >= 0x7f) {
            set_message(why, why_len,
                        "the URL has a space or a character outside printable ASCII at "
                        "byte %zu: percent-encode it",
                        i + 1);
            return false;
        }
    }
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncmp(url, schemes[i], strlen(schemes[i])) == 0 && len > strlen(schemes[i]))
            return true;
    set_message(why, why_len, "%s: give an http://, https:// or file:/// URL", url);
    return false;
}

/* How long the guest has to accept the connection (the worker itself gives
 * up after 10 s), and the agent to open a URL (it gives Firefox 120 s). */
#define CONNECT_TIMEOUT_MS 15000
#define OPEN_TIMEOUT_MS 150000
#define ANSWER_MAX 4096

/* Reads up to '\n' (dropped) into line within the time left. 1: a line; 0:
 * the peer closed first; -1: timed out or failed, errno says. */
static int read_line(int fd, char *line, size_t size, int timeout_ms)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    size_t n = 0;
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= timeout_ms) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, (int)(timeout_ms - spent));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = ETIMEDOUT;
            return -1;
        }
        char c;
        ssize_t got = read(fd, &c, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            return 0;
        if (c == '\n') {
            line[n] = '\0';
            return 1;
        }
        if (n + 1 >= size) {
            errno = EMSGSIZE;
            return -1;
        }
        line[n++] = c;
    }
}

static int write_line(int fd, const char *text)
{
    size_t len = strlen(text);
    char *buf = malloc(len + 1);
    if (!buf)
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\n';
    int rc = write_fully(fd, buf, len + 1);
    free(buf);
    return rc;
}

/* The stream to the agent: CONNECT and its OK. */
static int connect_agent(const char *vsock_socket, char *err, size_t err_len)
{
    int fd = unixsock_connect(vsock_socket, err, err_len);
    if (fd < 0)
        return -1;
    char line[64];
    set_message(line, sizeof(line), "CONNECT %d", BROWSER_AGENT_PORT);
    if (write_line(fd, line) < 0) {
        set_message(err, err_len, "cannot write to %s: %s", vsock_socket, strerror(errno));
        close(fd);
        return -1;
    }
    int r = read_line(fd, line, sizeof(line), CONNECT_TIMEOUT_MS);
    if (r == 1 && strncmp(line, "OK ", 3) == 0)
        return fd;
    close(fd);
    if (r == 0) {
        set_message(err, err_len, "nothing listens on the guest's vsock port %d (is it the "
                                  "browser image, and up?)", BROWSER_AGENT_PORT);
        return BROWSER_AGENT_NOT_LISTENING;
    }
    if (r < 0)
        set_message(err, err_len, "the guest's vsock did not answer: %s", strerror(errno));
    else
        set_message(err, err_len, "the guest's vsock answered something else than OK");
    return -1;
}

int browser_agent_request(const char *vsock_socket, const char *request, int timeout_ms,
                          char *answer, size_t answer_len, char *err, size_t err_len)
{
    int fd = connect_agent(vsock_socket, err, err_len);
    if (fd < 0)
        return fd;
    char line[ANSWER_MAX];
    int rc = -1;
    if (write_line(fd, request) < 0) {
        set_message(err, err_len, "cannot send to the agent: %s", strerror(errno));
    } else {
        int r = read_line(fd, line, sizeof(line), timeout_ms);
        if (r == 1 && (strcmp(line, "ok") == 0 || strncmp(line, "ok ", 3) == 0)) {
            printable_copy(answer, answer_len, line[2] ? line + 3 : "");
            rc = 0;
        } else if (r == 1 && strncmp(line, "error ", 6) == 0) {
            char why[512];
            printable_copy(why, sizeof(why), line + 6);
            set_message(err, err_len, "the agent says: %s", why);
        } else if (r == 1) {
            set_message(err, err_len, "the agent answered neither ok nor error");
        } else if (r == 0) {
            set_message(err, err_len, "the agent closed the connection without an answer");
        } else {
            set_message(err, err_len, "no answer from the agent: %s", strerror(errno));
        }
    }
    close(fd);
    return rc;
}

int browser_agent_open(const char *vsock_socket, const char *url, char *err, size_t err_len)
{
    char why[200];
    if (!browser_agent_url_ok(url, why, sizeof(why))) {
        set_message(err, err_len, "%s", why);
        return -1;
    }
    char request[BROWSER_AGENT_URL_MAX + 8], answer[64];
    set_message(request, sizeof(request), "open %s", url);
    return browser_agent_request(vsock_socket, request, OPEN_TIMEOUT_MS, answer, sizeof(answer),
                                 err, err_len);
}
