/* Split virtqueues (virtio 1.2 §2.7), walked safely against a hostile guest:
 * every address and length is checked against guest RAM (wrap-around included),
 * chains are bounded (loops end), indirect tables are validated, and a device may
 * not read what the driver marked writable or vice versa. A bad chain is an error
 * the transport turns into DEVICE_NEEDS_RESET; vmmd carries on. */
#ifndef IGNITION_VIRTQUEUE_H
#define IGNITION_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Guest RAM as the device sees it: one contiguous region. */
struct guest_ram {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
};

/* Host pointer for [gpa, gpa + len) if it lies wholly in RAM, else NULL. */
void *guest_ram_ptr(const struct guest_ram *ram, uint64_t gpa, uint64_t len);

#define VIRTQ_MAX_SEGMENTS 256 /* per chain; longer chains are refused */

struct virtq_segment {
    uint8_t *host;
    uint32_t len;
    bool device_writable;
};

struct virtq_chain {
    uint16_t head; /* the id to return in the used ring */
    unsigned num_segments;
    uint64_t readable_len, writable_len;
    struct virtq_segment segments[VIRTQ_MAX_SEGMENTS];
};

struct virtq {
    const struct guest_ram *ram;
    uint16_t size;
    bool event_idx; /* VIRTIO_F_EVENT_IDX negotiated */
    uint8_t *desc, *avail, *used; /* host views of the three parts */
    uint16_t last_avail;          /* next available entry to take */
    uint16_t used_idx;            /* our copy of used->idx */
    uint16_t seen_avail;          /* the driver's index as we last read it */
};

enum virtq_error {
    VIRTQ_OK = 0,
    VIRTQ_EMPTY = 1,         /* nothing available */
    VIRTQ_BAD_LAYOUT = -1,   /* rings misaligned, too small, or outside RAM */
    VIRTQ_BAD_INDEX = -2,    /* avail idx ran ahead by more than the queue size */
    VIRTQ_BAD_CHAIN = -3,    /* a descriptor chain broke a rule */
};

/* Checks and maps the three parts of a queue of `size` entries (1..32768). */
enum virtq_error virtq_init(struct virtq *q, const struct guest_ram *ram, uint16_t size,
                            bool event_idx, uint64_t desc_gpa, uint64_t avail_gpa,
                            uint64_t used_gpa);

/* Takes the next available chain. VIRTQ_EMPTY when there is none; on
 * VIRTQ_BAD_CHAIN the entry is consumed and chain->head names it. */
enum virtq_error virtq_pop(struct virtq *q, struct virtq_chain *chain);

/* How many chains the driver has made available that the device has not taken
 * yet. More than the queue size means a corrupt index (virtq_pop then says
 * VIRTQ_BAD_INDEX). */
uint16_t virtq_available(struct virtq *q);

/* For a device that waits until several buffers are available at once: with
 * EVENT_IDX the driver notifies only when it adds the buffer the device asked
 * for last (its next pop), so this asks for a notification on its very next
 * addition. The caller counts again afterwards (virtq_available): a buffer added
 * in between is either counted or notified. Without EVENT_IDX the driver
 * notifies anyway. */
void virtq_notify_on_next(struct virtq *q);

/* For a device short of the `need` (>= 1) buffers it takes at once: with
 * EVENT_IDX asks the driver to notify when it adds the one that makes `need`
 * available. (Asking for its next addition would not do: that one may be
 * added before the request is seen, unnotified, and still leave too few.) The
 * caller counts again afterwards, as for virtq_notify_on_next. */
void virtq_notify_when_available(struct virtq *q, uint16_t need);

/* Returns a chain to the driver with the number of bytes written into it. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);

/* A packet the driver sent as one device-readable chain, copied into out (at
 * most cap bytes): its length, or -1 for a chain no driver sends so (one with
 * writable parts, or longer than cap). */
long virtq_chain_gather(const struct virtq_chain *c, uint8_t *out, size_t cap);
/* Writes len bytes of data at offset at of the chain's writable bytes, as far
 * as they reach (the caller checked writable_len). */
void virtq_chain_write(const struct virtq_chain *c, size_t at, const void *data, size_t len);

/* Whether the driver wants an interrupt for what was pushed since used index
 * old_used (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX, §2.7.7). */
bool virtq_should_interrupt(const struct virtq *q, uint16_t old_used);

/* A backend whose guest barriers are not host barriers (emu: Unicorn emits no
 * host fence for the guest's DMB on a one-vCPU engine) breaks the handshake
 * above when the device runs on a thread of its own. The driver stores its
 * index and then reads ours, we store ours and then read its; if both reads
 * see the old value, a device thread holds back an interrupt the driver waits
 * for, or the driver skips a kick the device waits for, and for good, since
 * each event index is crossed only once. These two look again from the vCPU
 * thread, whose own stores (the driver's) it sees in order, as the guest idles.
 * virtq_interrupt_missed: whether the driver asked for an interrupt for an
 * entry in [*looked_used, decided_used), the entries the device decided on
 * (and raised none for) since the caller's last look. virtq_kick_missed:
 * whether the driver added, since *looked_avail (its last kick or look) and
 * unseen by the device, the entry whose kick the device asked for. Each moves
 * its index on. A spurious answer costs a spurious interrupt or kick. */
/* Both run on the vCPU thread with the transport locked: the driver's stores
 * are this thread's own, and the device's were made under the lock, so neither
 * needs a fence of its own. */
bool virtq_interrupt_missed(const struct virtq *q, uint16_t *looked_used, uint16_t decided_used);
bool virtq_kick_missed(const struct virtq *q, uint16_t *looked_avail);
/* The driver's available index now (where a kick leaves the kick check). */
uint16_t virtq_driver_index(const struct virtq *q);

#endif
