#include "send_keys.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "display_conn.h"
#include "keytext.h"
#include "util.h"
#include "wire.h"

static bool text_typable(const char *text, char *err, size_t err_len)
{
    size_t len = strlen(text);
    size_t bad = keytext_first_untypable(text, len);
    if (bad == len)
        return true;
    unsigned char c = (unsigned char)text[bad];
    if (c >= 0x20 && c < 0x7f)
        set_message(err, err_len, "cannot type '%c' (character %zu)", c, bad + 1);
    else
        set_message(err, err_len,
                    "cannot type byte 0x%02x (character %zu): only US-layout ASCII, \\n and \\t",
                    c, bad + 1);
    return false;
}

static long pace_ns = SEND_KEYS_PACE_NS;

void send_keys_set_pace(long nanoseconds)
{
    pace_ns = nanoseconds < 0 ? 0 : nanoseconds;
}

static int send_key(int sock, uint32_t code, bool pressed)
{
    if (pace_ns > 0)
        nanosleep(&(struct timespec){.tv_sec = pace_ns / 1000000000L,
                                     .tv_nsec = pace_ns % 1000000000L},
                  NULL);
    Ignition__KeyEvent key = IGNITION__KEY_EVENT__INIT;
    key.evdev_code = code;
    key.pressed = pressed;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_KEY_EVENT;
    env.key_event = &key;
    return wire_send(sock, &env, NULL, 0);
}

/* Press and release, inside Shift when the character needs it. */
static int type_char(int sock, char c)
{
    uint32_t code;
    bool shift;
    keytext_key_for(c, &code, &shift); /* checked before anything was sent */
    int rc = 0;
    if (shift)
        rc = send_key(sock, KEYTEXT_KEY_LEFTSHIFT, true);
    if (!rc)
        rc = send_key(sock, code, true);
    if (!rc)
        rc = send_key(sock, code, false);
    if (!rc && shift)
        rc = send_key(sock, KEYTEXT_KEY_LEFTSHIFT, false);
    return rc;
}

/* The worker reads a connection in order and closes it after its end: once
 * it has closed, every key before our end of stream has reached the guest's
 * keyboard. What it sends meanwhile (the screen) is read and let go; an
 * Error means it refused something. */
static int wait_until_taken(int sock, char *err, size_t err_len)
{
    shutdown(sock, SHUT_WR);
    uint64_t deadline = monotonic_ns() + (uint64_t)SEND_KEYS_DRAIN_MS * 1000000u;
    for (;;) {
        int left = display_conn_ms_left(deadline);
        Ignition__Envelope *env;
        int rc = left ? wire_recv(sock, &env, NULL, NULL, left) : -ETIMEDOUT;
        if (rc == -ENOTCONN || rc == -ECONNRESET)
            return 0;
        if (rc < 0) {
            set_message(err, err_len, "the guest's display did not confirm the keys: %s",
                        strerror(-rc));
            return -1;
        }
        if (env->body_case == IGNITION__ENVELOPE__BODY_ERROR) {
            char text[200];
            wire_copy_printable(text, sizeof(text), env->error->message);
            set_message(err, err_len, "the guest's display refused the keys: %s", text);
            ignition__envelope__free_unpacked(env, NULL);
            return -1;
        }
        ignition__envelope__free_unpacked(env, NULL);
    }
}

int send_keys_text(const char *display_socket, const char *text, char *err, size_t err_len)
{
    if (!text_typable(text, err, err_len))
        return -1;
    int sock = display_conn_open(display_socket, err, err_len);
    if (sock < 0)
        return -1;
    int rc = 0;
    for (const char *c = text; *c && !rc; c++)
        rc = type_char(sock, *c);
    if (rc < 0)
        set_message(err, err_len, "sending keys to the guest: %s", strerror(-rc));
    else
        rc = wait_until_taken(sock, err, err_len);
    close(sock);
    return rc < 0 ? -1 : 0;
}
