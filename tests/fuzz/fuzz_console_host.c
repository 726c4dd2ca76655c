/* libFuzzer harness: the serial console's host end (console_host.c) with real
 * clients on its Unix socket, on one event loop.
 *
 * Input: operations of 3 bytes (op, a, b), each followed by the bytes it
 * carries:
 *   0 connect a client (up to 4 a run)   3 guest output: a bytes
 *   1 client a % 4 types b bytes           4 the guest's input room becomes a * 16
 *   2 client a % 4 hangs up                5 client a % 4 reads what it was sent
 * and the loop runs a little after each. At the end the room opens, every
 * client reads and hangs up, and the loop runs until all are gone.
 *
 * Checked: the guest receives exactly the bytes the clients typed, in order
 * for each client (and all of them, once there is room: a client's bytes
 * wait in its socket, never dropped); what the guest wrote is in the log,
 * whole and in order; no client receives more than the guest wrote while it
 * was attached; all clients are gone at the end. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "unixsock.h"
#include "worker/console_host.h"

#define CLIENTS 4
#define OP 3
#define MAX_TYPED (64u << 10)
#define MAX_OUTPUT (256u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct client {
    int fd;
    bool used; /* a slot is one connection: its bytes are told apart by slot */
    uint8_t typed[MAX_TYPED]; /* what it typed: the guest must get exactly this */
    size_t typed_len, delivered;
    size_t received, may_receive; /* output bytes read, and written while attached */
};

static struct event_base *base;
static struct console_host *host;
static char dir[64], sock_path[128], log_path[128];
static struct client clients[CLIENTS];
static size_t room;
static size_t output_len;
static uint8_t guest_got[CLIENTS * MAX_TYPED];
static size_t guest_got_len;

static size_t input_room(void *opaque)
{
    (void)opaque;
    return room;
}

static void guest_input(void *opaque, const uint8_t *p, size_t len)
{
    (void)opaque;
    if (len > room || guest_got_len + len > sizeof(guest_got))
        abort(); /* more than the guest said it had room for */
    room -= len;
    memcpy(guest_got + guest_got_len, p, len);
    guest_got_len += len;
}

static void teardown(void)
{
    console_host_destroy(host); /* removes the socket */
    unlink(log_path);
    rmdir(dir);
}

static void setup(void)
{
    log_set_quiet(true);
    signal(SIGPIPE, SIG_IGN); /* a peer that hung up is an error where we write */
    snprintf(dir, sizeof(dir), "/tmp/fuzz-console-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(sock_path, sizeof(sock_path), "%s/console.sock", dir);
    snprintf(log_path, sizeof(log_path), "%s/console.log", dir);
    base = event_base_new();
    struct console_host_options o = {
        .socket_path = sock_path, .log_path = log_path, .log_limit = 1ull << 40,
        .client_buffer = 4096, .allowed_uid = getuid(), .input_room = input_room,
        .input = guest_input,
    };
    char err[256];
    host = console_host_create(base, &o, err, sizeof(err));
    if (!host) {
        fprintf(stderr, "fuzz_console_host: %s\n", err);
        abort();
    }
    atexit(teardown);
}

static void spin(int turns)
{
    for (int i = 0; i < turns; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

static void client_read(struct client *c)
{
    uint8_t buf[8192];
    ssize_t n;
    while (c->fd >= 0 && (n = read(c->fd, buf, sizeof(buf))) > 0)
        c->received += (size_t)n;
    if (c->received > c->may_receive)
        abort();
}

static void hang_up(struct client *c)
{
    if (c->fd < 0)
        return;
    client_read(c);
    close(c->fd);
    c->fd = -1;
}

/* The guest got, from each client, exactly what it typed, in order. Each
 * client's bytes carry its number in their top two bits (see case 1), so the
 * guest's bytes can be told apart. */
static void check_delivery(bool complete)
{
    size_t next[CLIENTS] = {0};
    for (size_t k = 0; k < guest_got_len; k++) {
        struct client *c = &clients[guest_got[k] >> 6];
        size_t *at = &next[guest_got[k] >> 6];
        if (*at >= c->typed_len || c->typed[*at] != guest_got[k])
            abort();
        (*at)++;
    }
    for (int i = 0; complete && i < CLIENTS; i++)
        if (next[i] != clients[i].typed_len)
            abort(); /* typed, never delivered */
}

static void check_log(void)
{
    struct stat st;
    if (stat(log_path, &st) < 0 || (size_t)st.st_size != output_len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base)
        setup();
    memset(clients, 0, sizeof(clients));
    for (int i = 0; i < CLIENTS; i++)
        clients[i].fd = -1;
    room = 1 << 20;
    guest_got_len = 0;
    if (truncate(log_path, 0) < 0)
        abort();
    output_len = 0;
    static uint8_t output[MAX_OUTPUT];
    while (size >= OP) {
        uint8_t op = data[0] % 6, a = data[1], b = data[2];
        data += OP, size -= OP;
        struct client *c = &clients[a % CLIENTS];
        switch (op) {
        case 0:
            for (int i = 0; i < CLIENTS; i++) {
                if (clients[i].used)
                    continue;
                clients[i].used = true;
                char err[256];
                clients[i].fd = unixsock_connect(sock_path, err, sizeof(err));
                if (clients[i].fd < 0 || fcntl(clients[i].fd, F_SETFL, O_NONBLOCK) < 0)
                    abort();
                spin(2); /* accepted before output it should see is written */
                break;
            }
            break;
        case 1: {
            size_t n = b < size ? b : size;
            uint8_t tagged[256];
            for (size_t i = 0; i < n; i++)
                tagged[i] = (uint8_t)((data[i] & 0x3f) | (a % CLIENTS) << 6);
            ssize_t sent = c->fd >= 0 && c->typed_len + n <= MAX_TYPED
                               ? write(c->fd, tagged, n) : 0;
            if (sent > 0) {
                memcpy(c->typed + c->typed_len, tagged, (size_t)sent);
                c->typed_len += (size_t)sent;
            }
            data += n, size -= n;
            break;
        }
        case 2:
            hang_up(c);
            break;
        case 3: {
            size_t n = a < size ? a : size;
            if (output_len + n > MAX_OUTPUT)
                n = 0;
            memcpy(output + output_len, data, n);
            console_host_output(host, data, n);
            output_len += n;
            for (int i = 0; i < CLIENTS; i++)
                if (clients[i].fd >= 0)
                    clients[i].may_receive += n;
            data += n, size -= n;
            break;
        }
        case 4:
            room = (size_t)a * 16;
            console_host_input_ready(host);
            break;
        default:
            client_read(c);
            break;
        }
        spin(2);
        check_delivery(false);
    }
    room = 1 << 20;
    console_host_input_ready(host);
    for (int turns = 0; turns < 200 && guest_got_len < sizeof(guest_got); turns++) {
        spin(1);
        size_t before = guest_got_len;
        spin(1);
        if (before == guest_got_len && turns > 4)
            break;
    }
    for (int i = 0; i < CLIENTS; i++)
        hang_up(&clients[i]);
    for (int turns = 0; turns < 1000 && console_host_client_count(host); turns++)
        spin(1);
    if (console_host_client_count(host))
        abort();
    check_delivery(true);
    check_log();
    return 0;
}
