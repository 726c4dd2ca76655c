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
 * connection. Clipboard sharing will be further requests on this channel.
 *
 * `open` hands the URL to the running Firefox the way its own remote client
 * does on Wayland, but without starting a second Firefox for it: one D-Bus
 * method call, OpenURL, on the session bus (dbus_call_open_url below). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096
#define URL_MAX_BYTES 2048
/* Firefox answers OpenURL once it has handled the command line: under the
 * emulator that can take seconds, but not for ever. */
#define OPEN_LIMIT_S 120
/* The kiosk profile the session's Firefox runs with (--profile): its remote
 * is registered on the session bus under a name made from this path. */
#define PROFILE_LEAF ".mozilla/kiosk"
/* Firefox's D-Bus name for itself: its application name in lower case
 * (MOZ_DBUS_APP_NAME, when set, replaces it, as in Firefox). */
#define FIREFOX_DBUS_APP "firefox"
/* D-Bus limits: a bus name's length, and the largest message the agent
 * takes from the bus (the replies it waits for are a few hundred bytes). */
#define DBUS_NAME_MAX 255
#define DBUS_MESSAGE_MAX 65536
/* Messages read while waiting for the one reply: the bus's NameAcquired
 * signal and Hello's reply come first; nothing else is sent to the agent. */
#define DBUS_MESSAGES_MAX 32

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

/* ---- D-Bus, as much as OpenURL needs ------------------------------------------------- */

/* A D-Bus message being written, in the little-endian wire format. Writes past
 * the end set full instead, so one check at the end covers them all. */
struct dbus_out {
    uint8_t buf[2 * LINE_MAX_BYTES + 1024];
    size_t len;
    bool full;
};

static void put_byte(struct dbus_out *m, uint8_t b)
{
    if (m->len < sizeof(m->buf))
        m->buf[m->len++] = b;
    else
        m->full = true;
}

static void put_bytes(struct dbus_out *m, const void *data, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put_byte(m, ((const uint8_t *)data)[i]);
}

static void put_align(struct dbus_out *m, size_t to)
{
    while (m->len % to)
        put_byte(m, 0);
}

static void put_u32(struct dbus_out *m, uint32_t v)
{
    put_align(m, 4);
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_bytes(m, le, 4);
}

static void set_u32(struct dbus_out *m, size_t at, uint32_t v)
{
    if (at + 4 > m->len)
        return;
    for (int i = 0; i < 4; i++)
        m->buf[at + i] = (uint8_t)(v >> (8 * i));
}

/* A STRING or OBJECT_PATH: length, bytes, NUL. */
static void put_string(struct dbus_out *m, const char *s)
{
    put_u32(m, (uint32_t)strlen(s));
    put_bytes(m, s, strlen(s) + 1);
}

/* A SIGNATURE: one byte of length, bytes, NUL. */
static void put_signature(struct dbus_out *m, const char *s)
{
    put_byte(m, (uint8_t)strlen(s));
    put_bytes(m, s, strlen(s) + 1);
}

enum {
    FIELD_PATH = 1,
    FIELD_INTERFACE = 2,
    FIELD_MEMBER = 3,
    FIELD_ERROR_NAME = 4,
    FIELD_REPLY_SERIAL = 5,
    FIELD_DESTINATION = 6,
    FIELD_SIGNATURE = 8,
};
enum { MSG_METHOD_CALL = 1, MSG_METHOD_RETURN = 2, MSG_ERROR = 3 };

/* One header field: a STRUCT (8-aligned) of its code and a VARIANT. */
static void put_field(struct dbus_out *m, uint8_t code, const char *type, const char *value)
{
    put_align(m, 8);
    put_byte(m, code);
    put_signature(m, type);
    if (type[0] == 'g')
        put_signature(m, value);
    else
        put_string(m, value);
}

/* A method call; body (may be NULL) is one byte array, signature "ay". */
static bool dbus_method_call(struct dbus_out *m, uint32_t serial, const char *destination,
                             const char *path, const char *interface, const char *member,
                             const uint8_t *body, size_t body_len)
{
    *m = (struct dbus_out){0};
    put_byte(m, 'l'); /* little-endian */
    put_byte(m, MSG_METHOD_CALL);
    put_byte(m, 0); /* flags: a reply is wanted */
    put_byte(m, 1); /* protocol version */
    put_u32(m, 0);  /* body length, below */
    put_u32(m, serial);
    put_u32(m, 0); /* header fields' length, below */
    size_t fields = m->len; /* 16: already 8-aligned, as each field is */
    put_field(m, FIELD_PATH, "o", path);
    put_field(m, FIELD_DESTINATION, "s", destination);
    put_field(m, FIELD_INTERFACE, "s", interface);
    put_field(m, FIELD_MEMBER, "s", member);
    if (body)
        put_field(m, FIELD_SIGNATURE, "g", "ay");
    set_u32(m, 12, (uint32_t)(m->len - fields));
    put_align(m, 8); /* the body starts 8-aligned */
    size_t body_at = m->len;
    if (body) {
        put_u32(m, (uint32_t)body_len);
        put_bytes(m, body, body_len);
    }
    set_u32(m, 4, (uint32_t)(m->len - body_at));
    return !m->full;
}

/* What the agent takes from a message it reads from the bus. */
struct dbus_in {
    uint8_t type;
    uint32_t reply_serial; /* 0: none */
    char error_name[DBUS_NAME_MAX + 1];
    char error_text[256]; /* an error's message (its body's first STRING), if any */
};

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A STRING at *at (4-aligned) in msg[0..end): bounds and its NUL checked;
 * copied, cut to out_len, into out (if any); *at moves past it. */
static bool get_string(const uint8_t *msg, size_t end, size_t *at, char *out, size_t out_len)
{
    size_t p = (*at + 3) & ~(size_t)3;
    if (p + 4 > end)
        return false;
    uint32_t n = get_u32(msg + p);
    if (n >= end - p - 4 || msg[p + 4 + n] != '\0')
        return false;
    if (out && out_len) {
        size_t keep = n < out_len - 1 ? n : out_len - 1;
        memcpy(out, msg + p + 4, keep);
        out[keep] = '\0';
    }
    *at = p + 4 + n + 1;
    return true;
}

/* A SIGNATURE at *at: copied (at most 255 bytes) to out, which has 256. */
static bool get_signature(const uint8_t *msg, size_t end, size_t *at, char *out)
{
    if (*at >= end)
        return false;
    size_t n = msg[*at];
    if (*at + 1 + n >= end || msg[*at + 1 + n] != '\0')
        return false;
    memcpy(out, msg + *at + 1, n);
    out[n] = '\0';
    *at += 1 + n + 1;
    return true;
}

/* The header fields of a whole message msg[0..len), as read from the bus
 * (its fixed part already checked by dbus_read): REPLY_SERIAL, ERROR_NAME
 * and SIGNATURE are kept, the others skipped; any field of a type other
 * than the header's own (u, s, o, g) makes the message unreadable. */
static bool parse_fields(const uint8_t *msg, size_t fields_end, struct dbus_in *in,
                         char *signature)
{
    size_t at = 16;
    while (at < fields_end) {
        at = (at + 7) & ~(size_t)7;
        if (at >= fields_end)
            return false;
        uint8_t code = msg[at++];
        char type[256];
        if (!get_signature(msg, fields_end, &at, type) || strlen(type) != 1)
            return false;
        bool ok;
        if (type[0] == 'u') {
            at = (at + 3) & ~(size_t)3;
            ok = at + 4 <= fields_end;
            if (ok && code == FIELD_REPLY_SERIAL)
                in->reply_serial = get_u32(msg + at);
            at += 4;
        } else if (type[0] == 's' || type[0] == 'o') {
            bool wanted = code == FIELD_ERROR_NAME && type[0] == 's';
            ok = get_string(msg, fields_end, &at, wanted ? in->error_name : NULL,
                            sizeof(in->error_name));
        } else if (type[0] == 'g') {
            char value[256];
            ok = get_signature(msg, fields_end, &at, value);
            if (ok && code == FIELD_SIGNATURE)
                memcpy(signature, value, strlen(value) + 1);
        } else
            ok = false;
        if (!ok || at > fields_end)
            return false;
    }
    return true;
}

static bool write_all(int fd, const void *data, size_t n)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* Exactly n bytes, before deadline (CLOCK_MONOTONIC seconds). */
static bool read_exact(int fd, void *data, size_t n, double deadline)
{
    uint8_t *p = data;
    while (n > 0) {
        double left = deadline - now_s();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

/* One message from the bus into in; every length checked against what was
 * read. The bus speaks the agent's byte order (both run on this machine). */
static const char *dbus_read(int fd, double deadline, struct dbus_in *in)
{
    static uint8_t msg[DBUS_MESSAGE_MAX];
    if (!read_exact(fd, msg, 16, deadline))
        return "the session bus did not answer in time";
    if (msg[0] != 'l' || msg[3] != 1)
        return "the session bus sent a message the agent cannot read";
    uint32_t body_len = get_u32(msg + 4), fields_len = get_u32(msg + 12);
    if (fields_len > DBUS_MESSAGE_MAX || body_len > DBUS_MESSAGE_MAX)
        return "the session bus sent a message too large";
    size_t fields_end = 16 + (size_t)fields_len;
    size_t body_at = (fields_end + 7) & ~(size_t)7;
    if (body_at + body_len > sizeof(msg))
        return "the session bus sent a message too large";
    if (!read_exact(fd, msg + 16, body_at + body_len - 16, deadline))
        return "the session bus did not answer in time";
    *in = (struct dbus_in){.type = msg[1]};
    char signature[256] = "";
    if (!parse_fields(msg, fields_end, in, signature))
        return "the session bus sent a message with a bad header";
    size_t at = body_at;
    if (in->type == MSG_ERROR && signature[0] == 's')
        get_string(msg, body_at + body_len, &at, in->error_text, sizeof(in->error_text));
    return NULL;
}

/* The session bus's socket, from DBUS_SESSION_BUS_ADDRESS (unix:path=...). */
static int dbus_connect(const char **why)
{
    const char *address = getenv("DBUS_SESSION_BUS_ADDRESS");
    static const char prefix[] = "unix:path=";
    if (!address || strncmp(address, prefix, strlen(prefix)) != 0) {
        *why = "no session bus at a unix:path= address (DBUS_SESSION_BUS_ADDRESS)";
        return -1;
    }
    const char *path = address + strlen(prefix);
    size_t path_len = strcspn(path, ",");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path_len == 0 || path_len >= sizeof(sa.sun_path)) {
        *why = "the session bus's socket path is empty or too long";
        return -1;
    }
    memcpy(sa.sun_path, path, path_len);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        *why = "cannot connect to the session bus";
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* SASL EXTERNAL: the bus knows the agent's uid from the socket; the agent
 * says it (in hex of its decimal digits) and is let in with "OK <guid>". */
static const char *dbus_authenticate(int fd, double deadline)
{
    char uid[16], hex[40], line[128];
    snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
    for (size_t i = 0; uid[i]; i++)
        snprintf(hex + 2 * i, 3, "%02x", (unsigned char)uid[i]);
    int n = snprintf(line, sizeof(line), "%cAUTH EXTERNAL %s\r\n", '\0', hex);
    if (!write_all(fd, line, (size_t)n))
        return "cannot write to the session bus";
    size_t used = 0;
    while (used < 2 || line[used - 2] != '\r' || line[used - 1] != '\n') {
        if (used + 1 >= sizeof(line) || !read_exact(fd, line + used, 1, deadline))
            return "the session bus did not accept the agent";
        used++;
    }
    if (strncmp(line, "OK ", 3) != 0)
        return "the session bus rejected the agent";
    return write_all(fd, "BEGIN\r\n", 7) ? NULL : "cannot write to the session bus";
}

/* Firefox's bus name for the profile: org.mozilla.APP.NAME, NAME the
 * profile's path in base64 with what a bus name cannot hold ('+', '/', '=')
 * made '_', the whole cut to 255 bytes; as Firefox's own remote makes it. */
static void firefox_bus_name(const char *app, const char *profile, char *out, size_t len)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789__";
    size_t used = (size_t)snprintf(out, len, "org.mozilla.%s.", app);
    size_t n = strlen(profile);
    for (size_t i = 0; i < n && used + 4 < len; i += 3) {
        uint32_t v = (uint32_t)(uint8_t)profile[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(uint8_t)profile[i + 1] << 8;
        if (i + 2 < n)
            v |= (uint8_t)profile[i + 2];
        out[used++] = b64[v >> 18 & 63];
        out[used++] = b64[v >> 12 & 63];
        out[used++] = i + 1 < n ? b64[v >> 6 & 63] : '_';
        out[used++] = i + 2 < n ? b64[v & 63] : '_';
    }
    out[used < len ? used : len - 1] = '\0';
    if (strlen(out) > DBUS_NAME_MAX)
        out[DBUS_NAME_MAX] = '\0';
}

/* Firefox's remote command line: int32 argc, argc int32 offsets from the
 * buffer's start, then the working directory and each argument, NUL-ended;
 * integers little-endian. argv is {"firefox-esr", url}: a URL alone, which
 * Firefox opens where its kiosk profile sends outside links (the current tab). */
static size_t firefox_command_line(const char *url, uint8_t *out, size_t len)
{
    const char *args[] = {"/", "firefox-esr", url}; /* the working dir, then argv */
    size_t at = 3 * 4;
    uint32_t words[3] = {2, 0, 0};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(args[i]) + 1;
        if (at + n > len)
            return 0;
        if (i > 0)
            words[i] = (uint32_t)at;
        memcpy(out + at, args[i], n);
        at += n;
    }
    for (size_t i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++)
            out[4 * i + b] = (uint8_t)(words[i] >> (8 * b));
    return at;
}

/* Hello (every connection's first call), then OpenURL on Firefox's remote;
 * NULL once Firefox has answered OpenURL, else why not. */
static const char *dbus_call_open_url(int fd, const char *profile, const char *url,
                                      char *detail, size_t detail_len)
{
    double deadline = now_s() + OPEN_LIMIT_S;
    const char *why = dbus_authenticate(fd, deadline);
    if (why)
        return why;
    const char *env_app = getenv("MOZ_DBUS_APP_NAME");
    const char *app = env_app && *env_app ? env_app : FIREFOX_DBUS_APP;
    char destination[DBUS_NAME_MAX + 64], path[DBUS_NAME_MAX + 64], interface[DBUS_NAME_MAX + 64];
    firefox_bus_name(app, profile, destination, sizeof(destination));
    snprintf(path, sizeof(path), "/org/mozilla/%s/Remote", app);
    snprintf(interface, sizeof(interface), "org.mozilla.%s", app);
    uint8_t command[URL_MAX_BYTES + 64];
    size_t command_len = firefox_command_line(url, command, sizeof(command));
    static struct dbus_out hello, open;
    if (command_len == 0 ||
        !dbus_method_call(&hello, 1, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "Hello", NULL, 0) ||
        !dbus_method_call(&open, 2, destination, path, interface, "OpenURL", command,
                          command_len))
        return "the request does not fit in a D-Bus message";
    if (!write_all(fd, hello.buf, hello.len) || !write_all(fd, open.buf, open.len))
        return "cannot write to the session bus";
    for (int i = 0; i < DBUS_MESSAGES_MAX; i++) {
        struct dbus_in in;
        if ((why = dbus_read(fd, deadline, &in)))
            return why;
        if (in.reply_serial == 0 || (in.type != MSG_METHOD_RETURN && in.type != MSG_ERROR))
            continue; /* a signal (NameAcquired) */
        if (in.type == MSG_ERROR) {
            snprintf(detail, detail_len, "%s%s%s", in.error_name, in.error_text[0] ? ": " : "",
                     in.error_text);
            return in.reply_serial == 1 ? "the session bus refused Hello"
                                        : "Firefox's remote refused OpenURL";
        }
        if (in.reply_serial == 2)
            return NULL;
    }
    return "no answer to OpenURL on the session bus";
}

/* Hands url to the running Firefox through its D-Bus remote. Nothing is
 * started: one connection to the session bus, two calls, the answer. */
static void open_url(const char *url)
{
    const char *home = getenv("HOME");
    if (!home || !*home) {
        reply("error the agent has no HOME to find the Firefox profile in");
        return;
    }
    char profile[512];
    if (snprintf(profile, sizeof(profile), "%s/%s", home, PROFILE_LEAF) >= (int)sizeof(profile)) {
        reply("error the agent's HOME is too long");
        return;
    }
    const char *why = NULL;
    int fd = dbus_connect(&why);
    if (fd < 0) {
        reply("error %s", why);
        return;
    }
    char detail[DBUS_NAME_MAX + 300] = "";
    why = dbus_call_open_url(fd, profile, url, detail, sizeof(detail));
    close(fd);
    /* The host gets printable ASCII only: the detail came from the bus. */
    for (char *p = detail; *p; p++)
        if (*p < ' ' || *p > '~')
            *p = '?';
    if (!why)
        reply("ok");
    else if (detail[0])
        reply("error %s (%s)", why, detail);
    else
        reply("error %s", why);
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
    signal(SIGPIPE, SIG_IGN); /* a host (or bus) that hung up is a write error */
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
