/* virtio-console without MULTIPORT: queue 0 receives (host to guest), queue 1
 * transmits (guest to host). Linux binds it as hvc0. */
#include "virtio_console.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VIRTIO_ID_CONSOLE 3 /* §5 */
#define CONSOLE_QUEUE_SIZE 64
#define RECEIVEQ 0
#define TRANSMITQ 1
#define CONFIG_SIZE 12 /* cols, rows, max_nr_ports, emerg_wr (§5.3.4) */

struct console {
    int host_fd;
    struct virtq_chain chain; /* large; used under the transport lock */
};

static void write_all(int fd, const uint8_t *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nobody is listening: the guest's output is dropped */
        data += n;
        len -= (size_t)n;
    }
}

static void transmit(struct console *c, struct virtio_mmio *t)
{
    struct virtq *vq = virtio_mmio_queue(t, TRANSMITQ);
    if (!vq)
        return;
    uint16_t old_used = vq->used_idx;
    enum virtq_error err;
    while ((err = virtq_pop(vq, &c->chain)) == VIRTQ_OK) {
        for (unsigned i = 0; i < c->chain.num_segments; i++)
            if (!c->chain.segments[i].device_writable)
                write_all(c->host_fd, c->chain.segments[i].host, c->chain.segments[i].len);
        virtq_push(vq, c->chain.head, 0);
    }
    if (vq->used_idx != old_used)
        virtio_mmio_used(t, TRANSMITQ, old_used);
    if (err != VIRTQ_EMPTY)
        virtio_mmio_needs_reset(t);
}

static void console_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    if (q == TRANSMITQ)
        transmit(dev, t);
    /* New receive buffers need no action here: host input that found none waits
     * in vmmd, which offers it again shortly (worker.c, host_input). */
}

static void console_config_read(void *dev, size_t offset, uint8_t *out, size_t len)
{
    (void)dev, (void)offset;
    memset(out, 0, len); /* no SIZE, no MULTIPORT: the fields are unused */
}

static void console_destroy(void *dev)
{
    free(dev);
}

static const struct virtio_device_ops console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .queue_max = CONSOLE_QUEUE_SIZE,
    .config_size = CONFIG_SIZE,
    .config_read = console_config_read,
    .notify = console_notify,
    .destroy = console_destroy,
};

size_t virtio_console_input(struct device *dev, const uint8_t *data, size_t len)
{
    struct virtio_mmio *t = virtio_mmio_of(dev);
    struct console *c = virtio_mmio_device_state(t);
    size_t done = 0;
    virtio_mmio_lock(t);
    struct virtq *vq = virtio_mmio_queue(t, RECEIVEQ);
    if (vq) {
        uint16_t old_used = vq->used_idx;
        enum virtq_error err = VIRTQ_OK;
        while (done < len && (err = virtq_pop(vq, &c->chain)) == VIRTQ_OK) {
            uint32_t written = 0;
            for (unsigned i = 0; i < c->chain.num_segments && done < len; i++) {
                struct virtq_segment *s = &c->chain.segments[i];
                if (!s->device_writable)
                    continue;
                size_t n = len - done < s->len ? len - done : s->len;
                memcpy(s->host, data + done, n);
                done += n;
                written += (uint32_t)n;
            }
            virtq_push(vq, c->chain.head, written);
        }
        if (vq->used_idx != old_used)
            virtio_mmio_used(t, RECEIVEQ, old_used);
        if (err != VIRTQ_OK && err != VIRTQ_EMPTY)
            virtio_mmio_needs_reset(t);
    }
    virtio_mmio_unlock(t);
    return done;
}

struct device *virtio_console_create(uint64_t base, struct irq_line irq,
                                     const struct guest_ram *ram, int host_fd)
{
    struct console *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->host_fd = host_fd;
    struct device *dev = virtio_mmio_create(base, irq, &console_ops, c, ram);
    if (!dev)
        free(c);
    return dev;
}
