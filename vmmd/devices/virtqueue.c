/* Split virtqueue walker (virtio 1.2 §2.7). Everything read from the rings is
 * guest-controlled and is checked before use; see virtqueue.h for the rules. */
#include "virtqueue.h"

#include <string.h>

#include "byteorder.h"
#include "virtio.h"

/* Ring layout offsets (§2.7.6, §2.7.8): avail = flags, idx, ring[size],
 * used_event; used = flags, idx, ring[size] of {id, len}, avail_event. */
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_IDX 2
#define USED_RING 4
#define USED_ELEM_SIZE 8

/* The driver publishes an index after its entries: read it with acquire, and
 * publish ours with release (§2.7.13 memory barriers). */
static uint16_t load_index(const uint8_t *p)
{
    uint16_t v;
    __atomic_load((const uint16_t *)(const void *)p, &v, __ATOMIC_ACQUIRE);
    return (uint16_t)le16((const uint8_t *)&v);
}

static void store_index(uint8_t *p, uint16_t v)
{
    uint8_t bytes[2];
    le_put(bytes, v, 2);
    uint16_t raw;
    memcpy(&raw, bytes, 2);
    __atomic_store((uint16_t *)(void *)p, &raw, __ATOMIC_RELEASE);
}

void *guest_ram_ptr(const struct guest_ram *ram, uint64_t gpa, uint64_t len)
{
    if (gpa < ram->gpa)
        return NULL;
    uint64_t offset = gpa - ram->gpa;
    if (offset > ram->size || len > ram->size - offset)
        return NULL;
    return ram->host + offset;
}

enum virtq_error virtq_init(struct virtq *q, const struct guest_ram *ram, uint16_t size,
                            bool event_idx, uint64_t desc_gpa, uint64_t avail_gpa,
                            uint64_t used_gpa)
{
    memset(q, 0, sizeof(*q));
    /* §2.7: a split queue's size is a power of two; the 16-bit indices rely on it. */
    if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)) || (desc_gpa % VIRTQ_DESC_ALIGN) ||
        (avail_gpa % VIRTQ_AVAIL_ALIGN) || (used_gpa % VIRTQ_USED_ALIGN))
        return VIRTQ_BAD_LAYOUT;
    q->desc = guest_ram_ptr(ram, desc_gpa, (uint64_t)size * VIRTQ_DESC_SIZE);
    q->avail = guest_ram_ptr(ram, avail_gpa, AVAIL_RING + 2ull * size + 2);
    q->used = guest_ram_ptr(ram, used_gpa, USED_RING + (uint64_t)USED_ELEM_SIZE * size + 2);
    if (!q->desc || !q->avail || !q->used)
        return VIRTQ_BAD_LAYOUT;
    q->ram = ram;
    q->size = size;
    q->event_idx = event_idx;
    q->used_idx = 0; /* a queue starts empty after reset (§2.7.13.1) */
    q->last_avail = 0;
    return VIRTQ_OK;
}

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

static struct desc desc_at(const uint8_t *table, uint32_t index)
{
    const uint8_t *p = table + (size_t)index * VIRTQ_DESC_SIZE;
    return (struct desc){.addr = le64(p), .len = le32(p + 8), .flags = le16(p + 12),
                         .next = le16(p + 14)};
}

static enum virtq_error add_segment(const struct virtq *q, struct virtq_chain *c,
                                    const struct desc *d)
{
    bool writable = d->flags & VIRTQ_DESC_F_WRITE;
    /* §2.7.4.2: device-writable descriptors come after all readable ones. */
    if (!writable && c->writable_len)
        return VIRTQ_BAD_CHAIN;
    if (c->num_segments == VIRTQ_MAX_SEGMENTS)
        return VIRTQ_BAD_CHAIN;
    uint8_t *host = guest_ram_ptr(q->ram, d->addr, d->len);
    if (!host)
        return VIRTQ_BAD_CHAIN;
    c->segments[c->num_segments++] =
        (struct virtq_segment){.host = host, .len = d->len, .device_writable = writable};
    if (writable)
        c->writable_len += d->len;
    else
        c->readable_len += d->len;
    return VIRTQ_OK;
}

/* Follows a chain in one table (the ring's or an indirect one). Visiting more
 * descriptors than the table holds means the chain loops. */
static enum virtq_error walk_table(const struct virtq *q, struct virtq_chain *c,
                                   const uint8_t *table, uint32_t entries, uint32_t index,
                                   bool indirect)
{
    for (uint32_t visited = 0;; visited++) {
        if (index >= entries || visited == entries)
            return VIRTQ_BAD_CHAIN;
        struct desc d = desc_at(table, index);
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            /* §2.7.5.3.1: no nesting, no NEXT with INDIRECT, whole descriptors. */
            if (indirect || (d.flags & VIRTQ_DESC_F_NEXT) || d.len == 0 ||
                d.len % VIRTQ_DESC_SIZE || d.len / VIRTQ_DESC_SIZE > VIRTQ_MAX_SIZE)
                return VIRTQ_BAD_CHAIN;
            const uint8_t *sub = guest_ram_ptr(q->ram, d.addr, d.len);
            if (!sub)
                return VIRTQ_BAD_CHAIN;
            return walk_table(q, c, sub, d.len / VIRTQ_DESC_SIZE, 0, true);
        }
        enum virtq_error err = add_segment(q, c, &d);
        if (err != VIRTQ_OK)
            return err;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return VIRTQ_OK;
        index = d.next;
    }
}

enum virtq_error virtq_pop(struct virtq *q, struct virtq_chain *chain)
{
    /* Our avail_event store (last pop) must be visible before we read the
     * driver's index, or a buffer added in between could go unnotified. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t avail_idx = load_index(q->avail + AVAIL_IDX);
    q->seen_avail = avail_idx;
    uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
    if (pending == 0)
        return VIRTQ_EMPTY;
    if (pending > q->size)
        return VIRTQ_BAD_INDEX;
    uint16_t slot = q->last_avail % q->size;
    uint16_t head = le16(q->avail + AVAIL_RING + 2u * slot);
    q->last_avail++;
    if (q->event_idx) /* avail_event: notify us when the driver passes this */
        store_index(q->used + USED_RING + (size_t)USED_ELEM_SIZE * q->size, q->last_avail);
    chain->head = head;
    chain->num_segments = 0;
    chain->readable_len = chain->writable_len = 0;
    return walk_table(q, chain, q->desc, q->size, head, false);
}

uint16_t virtq_available(struct virtq *q)
{
    /* As in virtq_pop: our avail_event store must be seen before this read. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    q->seen_avail = load_index(q->avail + AVAIL_IDX);
    return (uint16_t)(q->seen_avail - q->last_avail);
}

void virtq_notify_on_next(struct virtq *q)
{
    if (!q->event_idx)
        return;
    store_index(q->used + USED_RING + (size_t)USED_ELEM_SIZE * q->size,
                load_index(q->avail + AVAIL_IDX));
}

void virtq_notify_when_available(struct virtq *q, uint16_t need)
{
    if (!q->event_idx || need == 0)
        return;
    store_index(q->used + USED_RING + (size_t)USED_ELEM_SIZE * q->size,
                (uint16_t)(q->last_avail + need - 1));
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
    uint8_t *elem = q->used + USED_RING + (size_t)USED_ELEM_SIZE * (q->used_idx % q->size);
    le_put(elem, head, 4);
    le_put(elem + 4, written, 4);
    q->used_idx++;
    store_index(q->used + USED_IDX, q->used_idx);
}

/* §2.7.10's vring_need_event: the index moving from old to now crossed event. */
static bool crossed(uint16_t event, uint16_t now, uint16_t old)
{
    return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

bool virtq_should_interrupt(const struct virtq *q, uint16_t old_used)
{
    /* The used index we published must be visible before we read the driver's
     * suppression state (it does the mirror image), or an interrupt is lost. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!q->event_idx)
        return !(le16(q->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    /* §2.7.10: interrupt if used_event lies in [old_used, new_used). */
    uint16_t used_event = load_index(q->avail + AVAIL_RING + 2u * q->size);
    return crossed(used_event, q->used_idx, old_used);
}

/* Of two earlier positions of an index, the one nearer to now. */
static uint16_t later_of(uint16_t a, uint16_t b, uint16_t now)
{
    return (uint16_t)(now - a) < (uint16_t)(now - b) ? a : b;
}

bool virtq_interrupt_missed(const struct virtq *q, uint16_t *looked_used, uint16_t decided_used)
{
    /* A driver waiting for an interrupt has used_event within the queue's size
     * of the used index; older positions would only alias after a wrap. */
    uint16_t old = later_of(*looked_used, (uint16_t)(decided_used - q->size), decided_used);
    *looked_used = decided_used;
    if (decided_used == old)
        return false;
    if (!q->event_idx)
        return !(le16(q->avail) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    return crossed(load_index(q->avail + AVAIL_RING + 2u * q->size), decided_used, old);
}

bool virtq_kick_missed(const struct virtq *q, uint16_t *looked_avail)
{
    /* Without EVENT_IDX the driver kicks unless VIRTQ_USED_F_NO_NOTIFY, which
     * no device of ours sets: there is no kick to skip. */
    if (!q->event_idx)
        return false;
    uint16_t avail = load_index(q->avail + AVAIL_IDX);
    /* Only entries the device has not seen, added since the last kick or look,
     * can hold the one whose kick it asked for and still waits for. */
    uint16_t since = later_of(later_of(q->seen_avail, *looked_avail, avail),
                              (uint16_t)(avail - q->size), avail);
    *looked_avail = avail;
    uint16_t avail_event = load_index(q->used + USED_RING + (size_t)USED_ELEM_SIZE * q->size);
    return avail != since && crossed(avail_event, avail, since);
}

uint16_t virtq_driver_index(const struct virtq *q)
{
    return load_index(q->avail + AVAIL_IDX);
}

long virtq_chain_gather(const struct virtq_chain *c, uint8_t *out, size_t cap)
{
    if (c->writable_len || c->readable_len > cap)
        return -1;
    size_t at = 0;
    for (unsigned i = 0; i < c->num_segments; i++) {
        memcpy(out + at, c->segments[i].host, c->segments[i].len);
        at += c->segments[i].len;
    }
    return (long)at;
}

void virtq_chain_write(const struct virtq_chain *c, size_t at, const void *data, size_t len)
{
    const uint8_t *from = data;
    for (unsigned i = 0; i < c->num_segments && len; i++) {
        const struct virtq_segment *s = &c->segments[i];
        if (at >= s->len) {
            at -= s->len;
            continue;
        }
        size_t n = s->len - at < len ? s->len - at : len;
        memcpy(s->host + at, from, n);
        from += n, len -= n, at = 0;
    }
}
