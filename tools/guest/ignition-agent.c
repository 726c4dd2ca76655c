/* ignition-agent: the browser image's guest agent. The browser session runs
 *   ignition-vsock listen 1024 ignition-agent
 * as the desktop user, so each connection the host makes to vsock port 1024
 * gets an agent of its own with the connection as stdin and stdout. Built
 * static for arm64 by tools/build-guest, like ignition-vsock.
 *
 * The protocol (docs/BROWSER.md, "The agent") is lines: each request is one
 * line of at most 4096 bytes ending in '\n', and gets one line back.
 *   ping          ->  ok pong
 *   open URL      ->  ok | error WHY       Firefox opens URL in its window
 *   anything else ->  error WHY
 * A request too long, or with a byte outside printable ASCII, is refused
 * (and the rest of an overlong line skipped), and so is a URL that is not
 * http://, https:// or file:///. Requests go on until the host closes the
 * connection. Clipboard sharing will be further requests on this channel. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
#define URL_MAX_BYTES 2048
/* Firefox's remote client hands the URL to the running instance and exits;
 * under the emulator that takes seconds, but not for ever. */
#define OPEN_LIMIT_S 120
#define FIREFOX "/usr/bin/firefox-esr"
/* The kiosk profile the session's Firefox runs with: the remote client finds
 * the running instance by it. */
#define PROFILE_LEAF ".mozilla/kiosk"

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* One request into line (without its '\n'). 1: a line; 0: the host closed
 * the connection; -1: a line too long or not printable ASCII (skipped to its
 * end), with why. */
static int read_request(char *line, size_t size, const char **why)
{
    size_t n = 0;
    bool too_long = false, unprintable = false;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (n + 1 >= size) {
            too_long = true;
            continue;
        }
        if (c < ' ' || c > '~')
            unprintable = true;
        line[n++] = (char)c;
    }
    line[n] = '\0';
    if (c == EOF && n == 0 && !too_long)
        return 0;
    if (too_long) {
        *why = "request longer than 4096 bytes";
        return -1;
    }
    if (unprintable) {
        *why = "request has a byte outside printable ASCII";
        return -1;
    }
    return 1;
}

static bool url_ok(const char *url)
{
    static const char *const schemes[] = {"http://", "https://", "file:///"};
    size_t len = strlen(url);
    if (len > URL_MAX_BYTES || strchr(url, ' '))
        return false;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncmp(url, schemes[i], strlen(schemes[i])) == 0 && len > strlen(schemes[i]))
            return true;
    return false;
}

/* Runs Firefox's remote client for url, bounded by OPEN_LIMIT_S. Its output
 * goes to our stderr (the session's log), never to the host. */
static void open_url(const char *url)
{
    const char *home = getenv("HOME");
    if (!home || !*home) {
        reply("error the agent has no HOME to find the Firefox profile in");
        return;
    }
    char profile[512];
    snprintf(profile, sizeof(profile), "%s/%s", home, PROFILE_LEAF);
    pid_t pid = fork();
    if (pid < 0) {
        reply("error cannot start Firefox's remote client: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        dup2(STDERR_FILENO, STDOUT_FILENO);
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        /* url starts with its scheme (url_ok), so it cannot pass for an option. */
        execl(FIREFOX, FIREFOX, "--profile", profile, "--new-tab", url, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    for (int waited_ms = 0;; waited_ms += 100) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0) {
            reply("error waiting for Firefox's remote client: %s", strerror(errno));
            return;
        }
        if (waited_ms >= OPEN_LIMIT_S * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            reply("error Firefox's remote client did not finish in %d s", OPEN_LIMIT_S);
            return;
        }
        struct timespec tick = {0, 100 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        reply("ok");
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        reply("error cannot run %s", FIREFOX);
    else if (WIFEXITED(status))
        reply("error Firefox's remote client exited with status %d", WEXITSTATUS(status));
    else
        reply("error Firefox's remote client ended by signal %d", WTERMSIG(status));
}

static void serve(const char *line)
{
    if (strcmp(line, "ping") == 0)
        reply("ok pong");
    else if (strncmp(line, "open ", 5) == 0) {
        if (url_ok(line + 5))
            open_url(line + 5);
        else
            reply("error not a URL the agent opens: http://, https:// or file:/// and at "
                  "most %d bytes", URL_MAX_BYTES);
    } else
        reply("error unknown request (ping, open URL)");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a host that hung up is a write error, then EOF */
    /* Firefox's remote client is waited for, and waits for children of its
     * own: whatever the caller left, children are not reaped by the kernel. */
    signal(SIGCHLD, SIG_DFL);
    char line[LINE_MAX_BYTES]; /* the request and its '\n' in 4096 bytes */
    for (;;) {
        const char *why = NULL;
        int r = read_request(line, sizeof(line), &why);
        if (r == 0)
            return 0;
        if (r < 0)
            reply("error %s", why);
        else
            serve(line);
        if (ferror(stdout))
            return 1;
    }
}
