/* libFuzzer harness: the display publisher's input handling, as a viewer
 * meets it: a real connection to its socket, a Hello (or not), then whatever
 * bytes the viewer sends (frames well-formed or not: keys, pointer moves,
 * buttons, wheel, window sizes, messages only a server sends, garbage).
 *
 * Input: flags (bit 0: a keyboard and a tablet are attached, as a running
 * machine's; bit 1: a valid Hello goes first), then the bytes the viewer
 * writes, in pieces whose sizes come from the next byte each time.
 *
 * Checked: every frame the publisher sends decodes and has a message; an
 * Error, if any, is the last thing sent; after a Hello the first reply is
 * Welcome or Error; once the viewer hangs up no viewer is left; and the
 * machine's input devices come through (ASan watches every access). */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio_input.h"
#include "ignition.pb-c.h"
#include "log.h"
#include "unixsock.h"
#include "wire.h"
#include "worker/publisher.h"

#define RAM_SIZE 0x1000u
#define MAX_REPLY (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct publisher *pub;
static struct device *keyboard, *tablet;
static char dir[64], sock_path[128];

static void no_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
}

static void teardown(void)
{
    publisher_destroy(pub); /* removes the socket */
    rmdir(dir);
}

static void setup(void)
{
    static uint8_t ram_bytes[RAM_SIZE];
    static struct guest_ram ram = {.gpa = 0x40000000ull, .size = RAM_SIZE, .host = ram_bytes};
    log_set_quiet(true);
    signal(SIGPIPE, SIG_IGN); /* a peer that hung up is an error where we write */
    snprintf(dir, sizeof(dir), "/tmp/fuzz-publisher-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(sock_path, sizeof(sock_path), "%s/display.sock", dir);
    base = event_base_new();
    char err[256];
    pub = publisher_create(base, sock_path, "fuzz", err, sizeof(err));
    keyboard = virtio_input_create(0x0a000000, (struct irq_line){.set = no_irq}, &ram,
                                   VIRTIO_INPUT_KEYBOARD, "keyboard");
    tablet = virtio_input_create(0x0a000200, (struct irq_line){.set = no_irq}, &ram,
                                 VIRTIO_INPUT_TABLET, "tablet");
    if (!pub)
        fprintf(stderr, "fuzz_publisher: %s\n", err);
    if (!base || !pub || !keyboard || !tablet)
        abort();
    atexit(teardown);
}

static void spin(int turns)
{
    for (int i = 0; i < turns; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
}

/* What the publisher sent, frame by frame. */
static void check_replies(const uint8_t *p, size_t len, bool greeted)
{
    bool first = true, error_seen = false;
    while (len >= WIRE_HEADER_BYTES) {
        uint32_t n = p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
        if (n == 0 || n > len - WIRE_HEADER_BYTES) {
            if (n == 0 || n > (1u << 20))
                abort(); /* a frame the wire format forbids */
            return;      /* cut by our buffer */
        }
        Ignition__Envelope *env = ignition__envelope__unpack(NULL, n, p + WIRE_HEADER_BYTES);
        if (!env || env->body_case == IGNITION__ENVELOPE__BODY__NOT_SET || error_seen)
            abort(); /* undecodable, empty, or anything after an Error */
        if (greeted && first && env->body_case != IGNITION__ENVELOPE__BODY_WELCOME &&
            env->body_case != IGNITION__ENVELOPE__BODY_ERROR)
            abort();
        error_seen = env->body_case == IGNITION__ENVELOPE__BODY_ERROR;
        ignition__envelope__free_unpacked(env, NULL);
        first = false;
        p += WIRE_HEADER_BYTES + n;
        len -= WIRE_HEADER_BYTES + n;
    }
}

static size_t read_all(int fd, uint8_t *buf, size_t have)
{
    ssize_t n;
    while (have < MAX_REPLY && (n = read(fd, buf + have, MAX_REPLY - have)) > 0)
        have += (size_t)n;
    return have;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t replies[MAX_REPLY];
    if (!base)
        setup();
    if (size < 1)
        return 0;
    if (data[0] & 1)
        publisher_attach_machine(pub, NULL, keyboard, tablet);
    else
        publisher_detach_machine(pub);
    char err[256];
    int fd = unixsock_connect(sock_path, err, sizeof(err));
    if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
        abort();
    spin(2);
    bool greeted = data[0] & 2;
    if (greeted) {
        Ignition__Hello hello = IGNITION__HELLO__INIT;
        hello.protocol_version = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
        hello.client_name = "fuzz";
        Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
        env.body_case = IGNITION__ENVELOPE__BODY_HELLO;
        env.hello = &hello;
        if (wire_send(fd, &env, NULL, 0) != 0)
            abort();
    }
    size_t got = 0;
    data++, size--;
    while (size) {
        size_t piece = data[0] % 64 + 1;
        data++, size--;
        piece = piece < size ? piece : size;
        if (write(fd, data, piece) < 0 && errno != EAGAIN && errno != EPIPE &&
            errno != ECONNRESET)
            abort();
        data += piece, size -= piece;
        spin(1);
        got = read_all(fd, replies, got);
    }
    spin(3);
    got = read_all(fd, replies, got);
    check_replies(replies, got, greeted);
    close(fd);
    /* A viewer waiting for the guest to take input (its queue is full here: no
     * driver) reads on only after the input retry: the machine goes, so it
     * does at once and sees the end. */
    publisher_detach_machine(pub);
    for (int turns = 0; turns < 2000 && publisher_viewer_count(pub); turns++) {
        spin(1);
        if (turns > 20)
            usleep(100);
    }
    if (publisher_viewer_count(pub))
        abort(); /* a viewer that hung up is still there */
    return 0;
}
