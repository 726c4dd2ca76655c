#include "worker/hvc_host.h"

#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* How often a terminal nobody has open is looked at again. */
#define WATCH_MS 200
#define INPUT_RETRY_US 10000
#define INPUT_BYTES 4096
#define READ_CHUNK 4096
#define READS_PER_WAKEUP 16

struct hvc_host {
    int master;
    int output_read, output_write; /* the guest writes, the loop reads */
    struct event *guest_output, *readable, *writable, *watch, *input_retry;
    bool attached;
    hvc_input_fn input;
    void *opaque;
    /* Output no reader has had yet: the newest HVC_HOST_RING_BYTES of it. */
    uint8_t ring[HVC_HOST_RING_BYTES];
    size_t ring_start, ring_len;
    uint64_t dropped; /* older output the ring let go since the last reader */
    /* Input the guest has not taken yet. */
    uint8_t pending[INPUT_BYTES];
    size_t pending_len;
};

/* ---- the ring ----------------------------------------------------------------- */

static void ring_put(struct hvc_host *h, const uint8_t *data, size_t len)
{
    const size_t cap = sizeof(h->ring);
    if (len > cap) { /* only the newest cap bytes can stay */
        h->dropped += len - cap;
        data += len - cap;
        len = cap;
    }
    if (h->ring_len + len > cap) {
        size_t lose = h->ring_len + len - cap;
        h->ring_start = (h->ring_start + lose) % cap;
        h->ring_len -= lose;
        h->dropped += lose;
    }
    size_t at = (h->ring_start + h->ring_len) % cap;
    size_t first = len < cap - at ? len : cap - at;
    memcpy(h->ring + at, data, first);
    memcpy(h->ring, data + first, len - first);
    h->ring_len += len;
}

static void detach(struct hvc_host *h)
{
    h->attached = false;
    event_del(h->readable);
    event_del(h->writable);
}

/* Writes what the ring holds to the terminal, as much as it takes now. */
static void ring_flush(struct hvc_host *h)
{
    const size_t cap = sizeof(h->ring);
    while (h->attached && h->ring_len) {
        size_t chunk = h->ring_len < cap - h->ring_start ? h->ring_len : cap - h->ring_start;
        ssize_t n = write(h->master, h->ring + h->ring_start, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            event_add(h->writable, NULL); /* the reader is slow: the ring waits */
            return;
        }
        if (n <= 0) {
            detach(h); /* the reader went away: the rest waits for the next */
            return;
        }
        h->ring_start = (h->ring_start + (size_t)n) % cap;
        h->ring_len -= (size_t)n;
    }
    event_del(h->writable);
}

/* ---- events ------------------------------------------------------------------- */

static void attach(struct hvc_host *h)
{
    h->attached = true;
    if (h->dropped) {
        char note[96];
        int n = snprintf(note, sizeof(note),
                         "\r\n[ignition: %llu earlier bytes of output were not kept]\r\n",
                         (unsigned long long)h->dropped);
        if (write(h->master, note, (size_t)n) < 0)
            log_debug("hvc0: cannot say what was dropped: %s", strerror(errno));
        h->dropped = 0;
    }
    if (h->pending_len < sizeof(h->pending))
        event_add(h->readable, NULL);
    ring_flush(h);
}

static void on_guest_output(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct hvc_host *h = arg;
    uint8_t buf[READ_CHUNK];
    for (int i = 0; i < READS_PER_WAKEUP; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        ring_put(h, buf, (size_t)n);
    }
    ring_flush(h);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    ring_flush(arg);
}

static void deliver(struct hvc_host *h)
{
    size_t taken = h->input(h->opaque, h->pending, h->pending_len);
    memmove(h->pending, h->pending + taken, h->pending_len - taken);
    h->pending_len -= taken;
    if (h->pending_len) {
        struct timeval retry = {.tv_usec = INPUT_RETRY_US};
        evtimer_add(h->input_retry, &retry);
    }
    if (h->pending_len == sizeof(h->pending))
        event_del(h->readable); /* the guest takes no more for now: the user waits */
    else if (h->attached)
        event_add(h->readable, NULL);
}

static void on_input_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    deliver(arg);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct hvc_host *h = arg;
    ssize_t n = read(fd, h->pending + h->pending_len, sizeof(h->pending) - h->pending_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        detach(h); /* EIO: the last user closed the terminal */
        return;
    }
    h->pending_len += (size_t)n;
    deliver(h);
}

/* A user opened the terminal (the master is no longer hung up), or the last
 * one closed it. */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct hvc_host *h = arg;
    struct pollfd p = {.fd = h->master, .events = POLLIN};
    if (poll(&p, 1, 0) < 0)
        return;
    bool hung_up = p.revents & POLLHUP;
    if (!h->attached && !hung_up)
        attach(h);
    else if (h->attached && hung_up)
        detach(h);
}

/* ---- lifecycle ---------------------------------------------------------------- */

struct hvc_host *hvc_host_create(struct event_base *base, int master, int slave,
                                 hvc_input_fn input, void *opaque)
{
    struct hvc_host *h = calloc(1, sizeof(*h));
    int p[2] = {-1, -1};
    if (slave >= 0)
        close(slave); /* from now on the master says whether a user has it open */
    if (!h || pipe(p) < 0 || set_nonblock_cloexec(p[0]) < 0 || set_nonblock_cloexec(p[1]) < 0 ||
        set_nonblock_cloexec(master) < 0) {
        if (p[0] >= 0)
            close(p[0]), close(p[1]);
        close(master);
        free(h);
        return NULL;
    }
    h->master = master;
    h->output_read = p[0];
    h->output_write = p[1];
    h->input = input;
    h->opaque = opaque;
    h->guest_output = event_new(base, p[0], EV_READ | EV_PERSIST, on_guest_output, h);
    h->readable = event_new(base, master, EV_READ | EV_PERSIST, on_readable, h);
    h->writable = event_new(base, master, EV_WRITE, on_writable, h);
    h->watch = event_new(base, -1, EV_PERSIST, on_watch, h);
    h->input_retry = evtimer_new(base, on_input_retry, h);
    struct timeval every = {.tv_usec = WATCH_MS * 1000};
    if (!h->guest_output || !h->readable || !h->writable || !h->watch || !h->input_retry ||
        event_add(h->guest_output, NULL) < 0 || event_add(h->watch, &every) < 0) {
        hvc_host_destroy(h);
        return NULL;
    }
    return h;
}

void hvc_host_destroy(struct hvc_host *h)
{
    if (!h)
        return;
    struct event *events[] = {h->guest_output, h->readable, h->writable, h->watch,
                              h->input_retry};
    for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
        if (events[i])
            event_free(events[i]);
    close(h->output_read);
    close(h->output_write);
    close(h->master);
    free(h);
}

int hvc_host_output_fd(const struct hvc_host *h)
{
    return h->output_write;
}
