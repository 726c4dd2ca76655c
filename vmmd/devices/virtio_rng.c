/* virtio-rng: one request queue; every device-writable buffer the guest offers
 * is filled with bytes from the host's cryptographic random source. */
#include "virtio_rng.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/random.h>
#endif

#define VIRTIO_ID_ENTROPY 4 /* §5 */
#define RNG_QUEUE_SIZE 64
/* Per request: a guest offering huge buffers gets this many bytes (the driver
 * accepts short fills), so one notification is bounded work. */
#define RNG_MAX_FILL 65536u

/* Returns false if the host refuses randomness (then nothing is claimed). */
static bool host_random(uint8_t *buf, size_t len)
{
#ifdef __linux__
    while (len) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
#else
    arc4random_buf(buf, len);
    return true;
#endif
}

/* Fills one chain; readable descriptors are ignored (§5.4.6 has none). */
static uint32_t fill_chain(const struct virtq_chain *c)
{
    uint32_t written = 0;
    for (unsigned i = 0; i < c->num_segments && written < RNG_MAX_FILL; i++) {
        if (!c->segments[i].device_writable)
            continue;
        uint32_t n = c->segments[i].len < RNG_MAX_FILL - written ? c->segments[i].len
                                                                  : RNG_MAX_FILL - written;
        if (!host_random(c->segments[i].host, n))
            break;
        written += n;
    }
    return written;
}

struct rng {
    struct virtq_chain chain; /* too large for the stack; used under the transport lock */
};

static void rng_notify(void *dev, struct virtio_mmio *t, unsigned q)
{
    struct rng *rng = dev;
    struct virtq *vq = virtio_mmio_queue(t, q);
    if (!vq)
        return;
    uint16_t old_used = vq->used_idx;
    enum virtq_error err;
    while ((err = virtq_pop(vq, &rng->chain)) == VIRTQ_OK)
        virtq_push(vq, rng->chain.head, fill_chain(&rng->chain));
    if (vq->used_idx != old_used)
        virtio_mmio_used(t, q, old_used);
    if (err != VIRTQ_EMPTY)
        virtio_mmio_needs_reset(t);
}

static void rng_destroy(void *dev)
{
    free(dev);
}

static const struct virtio_device_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_ENTROPY,
    .num_queues = 1,
    .queue_max = RNG_QUEUE_SIZE,
    .notify = rng_notify,
    .destroy = rng_destroy,
};

struct device *virtio_rng_create(uint64_t base, struct irq_line irq, const struct guest_ram *ram)
{
    struct rng *rng = calloc(1, sizeof(*rng));
    if (!rng)
        return NULL;
    struct device *dev = virtio_mmio_create(base, irq, &rng_ops, rng, ram);
    if (!dev)
        free(rng);
    return dev;
}
