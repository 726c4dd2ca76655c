/* The test driver of virtio_driver.h. Ring layout from virtio 1.2 §2.7. */
#include "virtio_driver.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/virtio.h"

void vd_guest_init(struct vd_guest *g, uint64_t ram_size)
{
    g->mem = calloc(1, ram_size);
    ck_assert_ptr_nonnull(g->mem);
    g->ram = (struct guest_ram){.gpa = VD_RAM_GPA, .size = ram_size, .host = g->mem};
    g->edges = 0;
}

void vd_guest_free(struct vd_guest *g)
{
    free(g->mem);
    g->mem = NULL;
}

static void count_edge(void *opaque, unsigned intid, bool level)
{
    (void)intid;
    struct vd_guest *g = opaque;
    if (level)
        __atomic_add_fetch(&g->edges, 1, __ATOMIC_SEQ_CST);
}

struct irq_line vd_irq(struct vd_guest *g, unsigned intid)
{
    return (struct irq_line){.set = count_edge, .opaque = g, .intid = intid};
}

int vd_edges(struct vd_guest *g)
{
    return __atomic_load_n(&g->edges, __ATOMIC_SEQ_CST);
}

uint8_t *vd_at(const struct vd_guest *g, uint64_t gpa)
{
    ck_assert_uint_ge(gpa, g->ram.gpa);
    ck_assert_uint_lt(gpa - g->ram.gpa, g->ram.size);
    return g->mem + (gpa - g->ram.gpa);
}

uint32_t vd_read(struct device *dev, uint64_t off)
{
    return (uint32_t)dev->ops->read(dev, off, 4);
}

void vd_write(struct device *dev, uint64_t off, uint32_t value)
{
    dev->ops->write(dev, off, 4, value);
}

uint8_t vd_config_byte(struct device *dev, unsigned off)
{
    return (uint8_t)dev->ops->read(dev, VD_CONFIG + off, 1);
}

struct vd_queue vd_queue_at(uint64_t base, uint16_t size)
{
    uint64_t avail = base + (uint64_t)VIRTQ_DESC_SIZE * size;
    uint64_t used = (avail + 6 + 2ull * size + 3) & ~3ull;
    return (struct vd_queue){.desc = base, .avail = avail, .used = used, .size = size};
}

void vd_negotiate(struct device *dev, uint64_t features)
{
    vd_write(dev, VD_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    vd_write(dev, VD_DRV_FEATURES_SEL, 0);
    vd_write(dev, VD_DRV_FEATURES, (uint32_t)features);
    vd_write(dev, VD_DRV_FEATURES_SEL, 1);
    vd_write(dev, VD_DRV_FEATURES, (uint32_t)(features >> 32));
    vd_write(dev, VD_STATUS,
             VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void write_address(struct device *dev, uint64_t low_reg, uint64_t gpa)
{
    vd_write(dev, low_reg, (uint32_t)gpa);
    vd_write(dev, low_reg + 4, (uint32_t)(gpa >> 32));
}

void vd_enable_queue(struct device *dev, unsigned index, const struct vd_queue *q)
{
    vd_write(dev, VD_QUEUE_SEL, index);
    vd_write(dev, VD_QUEUE_NUM, q->size);
    write_address(dev, VD_DESC_LOW, q->desc);
    write_address(dev, VD_DRIVER_LOW, q->avail);
    write_address(dev, VD_DEVICE_LOW, q->used);
    vd_write(dev, VD_QUEUE_READY, 1);
    ck_assert_uint_eq(vd_read(dev, VD_QUEUE_READY), 1);
}

void vd_driver_ok(struct device *dev)
{
    vd_write(dev, VD_STATUS, vd_read(dev, VD_STATUS) | VIRTIO_STATUS_DRIVER_OK);
}

void vd_put_desc(const struct vd_guest *g, const struct vd_queue *q, unsigned i, uint64_t addr,
                 uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = vd_at(g, q->desc + (uint64_t)VIRTQ_DESC_SIZE * i);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

void vd_offer(const struct vd_guest *g, struct vd_queue *q, uint16_t head)
{
    memcpy(vd_at(g, q->avail + 4 + 2u * (q->avail_idx % q->size)), &head, 2);
    q->avail_idx++;
    __atomic_store_n((uint16_t *)(void *)vd_at(g, q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
}

void vd_set_used_event(const struct vd_guest *g, const struct vd_queue *q, uint16_t value)
{
    memcpy(vd_at(g, q->avail + 4 + 2u * q->size), &value, 2);
}

uint16_t vd_used_idx(const struct vd_guest *g, const struct vd_queue *q)
{
    return __atomic_load_n((uint16_t *)(void *)vd_at(g, q->used + 2), __ATOMIC_ACQUIRE);
}

void vd_used_elem(const struct vd_guest *g, const struct vd_queue *q, uint16_t i, uint32_t *id,
                  uint32_t *len)
{
    const uint8_t *e = vd_at(g, q->used + 4 + 8u * (i % q->size));
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
}

bool vd_wait_used(const struct vd_guest *g, const struct vd_queue *q, uint16_t want)
{
    for (int i = 0; i < 2000 && vd_used_idx(g, q) != want; i++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    return vd_used_idx(g, q) == want;
}
