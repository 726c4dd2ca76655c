/* virtio-rng: one request queue; every device-writable buffer the guest offers
 * is filled with bytes from the host's cryptographic random source. */
#include "virtio_rng.h"

#include <stdlib.h>
#ifdef __linux__
#include <sys/random.h>
#endif

#define VIRTIO_ID_ENTROPY 4 /* §5 */
#define RNG_QUEUE_SIZE 64

static void host_random(uint8_t *buf, size_t len)
{
#ifdef __linux__
    while (len) {
        ssize_t n = getrandom(buf, len, 0);
        if (n <= 0)
            continue; /* EINTR; the call cannot fail otherwise */
        buf += n;
        len -= (size_t)n;
    }
#else
    arc4random_buf(buf, len);
#endif
}

/* Fills one chain; readable descriptors are ignored (§5.4.6 has none). */
static uint32_t fill_chain(const struct virtq_chain *c)
{
    uint64_t written = 0;
    for (unsigned i = 0; i < c->num_segments; i++) {
        if (!c->segments[i].device_writable)
            continue;
        host_random(c->segments[i].host, c->segments[i].len);
        written += c->segments[i].len;
    }
    return written > UINT32_MAX ? UINT32_MAX : (uint32_t)written;
}

static void rng_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    (void)dev;
    struct virtq *vq = virtio_mmio_queue(t, q);
    if (!vq)
        return;
    uint16_t old_used = vq->used_idx;
    static struct virtq_chain chain; /* large; one device, one vCPU thread */
    enum virtq_error err;
    while ((err = virtq_pop(vq, &chain)) == VIRTQ_OK)
        virtq_push(vq, chain.head, fill_chain(&chain));
    if (vq->used_idx != old_used)
        virtio_mmio_used(t, q, old_used);
    if (err != VIRTQ_EMPTY)
        virtio_mmio_needs_reset(t);
}

static const struct virtio_device_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_ENTROPY,
    .num_queues = 1,
    .queue_max = RNG_QUEUE_SIZE,
    .notify = rng_notify,
};

struct device *virtio_rng_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram)
{
    return virtio_mmio_create(base, irq, &rng_ops, NULL, ram);
}
