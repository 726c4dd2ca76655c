/* The split-virtqueue walker against well-formed and hostile rings, and the
 * virtio constants against Linux's own headers. */
#include <check.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio.h"
#include "devices/virtqueue.h"
#include "unit.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x100000u
#define QSIZE 8
#define DESC_GPA (RAM_GPA + 0x1000)
#define AVAIL_GPA (RAM_GPA + 0x2000)
#define USED_GPA (RAM_GPA + 0x3000)
#define INDIRECT_GPA (RAM_GPA + 0x4000)
#define BUF_GPA (RAM_GPA + 0x10000)

static uint8_t *mem;
static struct guest_ram ram;
static struct virtq q;

static void setup(void)
{
    mem = calloc(1, RAM_SIZE);
    ram = (struct guest_ram){.gpa = RAM_GPA, .size = RAM_SIZE, .host = mem};
    ck_assert_int_eq(virtq_init(&q, &ram, QSIZE, true, DESC_GPA, AVAIL_GPA, USED_GPA), VIRTQ_OK);
}

static void teardown(void)
{
    free(mem);
}

static uint8_t *at(uint64_t gpa)
{
    return mem + (gpa - RAM_GPA);
}

static void put16(uint64_t gpa, uint16_t v) { memcpy(at(gpa), &v, 2); }
static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, at(gpa), 2); return v; }
static uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, at(gpa), 4); return v; }

static void put_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t *p = at(table + 16ull * i);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

/* Makes head the next available entry. */
static void offer(uint16_t head)
{
    uint16_t idx = get16(AVAIL_GPA + 2);
    put16(AVAIL_GPA + 4 + 2 * (idx % QSIZE), head);
    put16(AVAIL_GPA + 2, (uint16_t)(idx + 1));
}

START_TEST(test_constants_match_linux)
{
    ck_assert_int_eq(VIRTQ_DESC_F_NEXT, VRING_DESC_F_NEXT);
    ck_assert_int_eq(VIRTQ_DESC_F_WRITE, VRING_DESC_F_WRITE);
    ck_assert_int_eq(VIRTQ_DESC_F_INDIRECT, VRING_DESC_F_INDIRECT);
    ck_assert_int_eq(VIRTQ_AVAIL_F_NO_INTERRUPT, VRING_AVAIL_F_NO_INTERRUPT);
    ck_assert_int_eq(VIRTQ_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY);
    ck_assert_int_eq(VIRTIO_F_INDIRECT_DESC, VIRTIO_RING_F_INDIRECT_DESC);
    ck_assert_int_eq(VIRTIO_F_EVENT_IDX, VIRTIO_RING_F_EVENT_IDX);
    ck_assert_int_eq(VIRTIO_F_VERSION_1, 32);
    ck_assert_int_eq(VIRTIO_F_ACCESS_PLATFORM, 33);
    ck_assert_int_eq(VIRTIO_F_RING_PACKED, 34);
    ck_assert_int_eq(VIRTIO_F_IN_ORDER, 35);
    ck_assert_int_eq(VIRTIO_STATUS_ACKNOWLEDGE, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    ck_assert_int_eq(VIRTIO_STATUS_DRIVER, VIRTIO_CONFIG_S_DRIVER);
    ck_assert_int_eq(VIRTIO_STATUS_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
    ck_assert_int_eq(VIRTIO_STATUS_FEATURES_OK, VIRTIO_CONFIG_S_FEATURES_OK);
    ck_assert_int_eq(VIRTIO_STATUS_DEVICE_NEEDS_RESET, VIRTIO_CONFIG_S_NEEDS_RESET);
    ck_assert_int_eq(VIRTIO_STATUS_FAILED, VIRTIO_CONFIG_S_FAILED);
    ck_assert_int_eq(VIRTQ_DESC_SIZE, sizeof(struct vring_desc));
}
END_TEST

START_TEST(test_empty_queue)
{
    struct virtq_chain c;
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_EMPTY);
}
END_TEST

/* A request: one readable header, one writable status byte. */
START_TEST(test_readable_then_writable_chain)
{
    put_desc(DESC_GPA, 3, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 5);
    put_desc(DESC_GPA, 5, BUF_GPA + 0x100, 1, VIRTQ_DESC_F_WRITE, 0);
    offer(3);
    struct virtq_chain c;
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_OK);
    ck_assert_uint_eq(c.head, 3);
    ck_assert_uint_eq(c.num_segments, 2);
    ck_assert_ptr_eq(c.segments[0].host, at(BUF_GPA));
    ck_assert(!c.segments[0].device_writable);
    ck_assert(c.segments[1].device_writable);
    ck_assert_uint_eq(c.readable_len, 16);
    ck_assert_uint_eq(c.writable_len, 1);
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_EMPTY);
}
END_TEST

START_TEST(test_push_fills_used_ring)
{
    put_desc(DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    struct virtq_chain c;
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_OK);
    virtq_push(&q, c.head, 8);
    ck_assert_uint_eq(get16(USED_GPA + 2), 1);
    ck_assert_uint_eq(get32(USED_GPA + 4), 0);
    ck_assert_uint_eq(get32(USED_GPA + 8), 8);
    /* With EVENT_IDX the device tells the driver where to notify next. */
    ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * QSIZE), 1);
}
END_TEST

START_TEST(test_indirect_table)
{
    put_desc(INDIRECT_GPA, 0, BUF_GPA, 32, VIRTQ_DESC_F_NEXT, 1);
    put_desc(INDIRECT_GPA, 1, BUF_GPA + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
    put_desc(DESC_GPA, 2, INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(2);
    struct virtq_chain c;
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_OK);
    ck_assert_uint_eq(c.num_segments, 2);
    ck_assert_uint_eq(c.readable_len, 32);
    ck_assert_uint_eq(c.writable_len, 64);
}
END_TEST

static enum virtq_error pop_one(void)
{
    struct virtq_chain c;
    return virtq_pop(&q, &c);
}

START_TEST(test_head_out_of_range)
{
    offer(QSIZE);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
}
END_TEST

START_TEST(test_next_out_of_range)
{
    put_desc(DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 200);
    offer(0);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
}
END_TEST

START_TEST(test_loop_ends)
{
    put_desc(DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    put_desc(DESC_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
    offer(0);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
}
END_TEST

START_TEST(test_buffer_outside_ram)
{
    put_desc(DESC_GPA, 0, RAM_GPA + RAM_SIZE - 4, 8, 0, 0);
    offer(0);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
    put_desc(DESC_GPA, 1, RAM_GPA - 0x1000, 8, 0, 0);
    offer(1);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
}
END_TEST

START_TEST(test_buffer_address_wraps)
{
    put_desc(DESC_GPA, 0, UINT64_MAX - 3, 0x1000, 0, 0);
    offer(0);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
    put_desc(DESC_GPA, 1, BUF_GPA, UINT32_MAX, 0, 0);
    offer(1);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
}
END_TEST

START_TEST(test_readable_after_writable)
{
    put_desc(DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    put_desc(DESC_GPA, 1, BUF_GPA, 8, 0, 0);
    offer(0);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
}
END_TEST

START_TEST(test_bad_indirect_tables)
{
    /* INDIRECT together with NEXT */
    put_desc(DESC_GPA, 0, INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    offer(0);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
    /* a length that is not whole descriptors */
    put_desc(DESC_GPA, 1, INDIRECT_GPA, 20, VIRTQ_DESC_F_INDIRECT, 0);
    offer(1);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
    /* nested indirection */
    put_desc(INDIRECT_GPA, 0, INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc(DESC_GPA, 2, INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(2);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
    /* a table outside RAM */
    put_desc(DESC_GPA, 3, RAM_GPA + RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(3);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
    /* a loop inside the table */
    put_desc(INDIRECT_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    put_desc(INDIRECT_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
    put_desc(DESC_GPA, 4, INDIRECT_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(4);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_CHAIN);
}
END_TEST

START_TEST(test_avail_index_running_ahead)
{
    put16(AVAIL_GPA + 2, QSIZE + 1);
    ck_assert_int_eq(pop_one(), VIRTQ_BAD_INDEX);
}
END_TEST

START_TEST(test_bad_layouts)
{
    struct virtq other;
    ck_assert_int_eq(virtq_init(&other, &ram, 0, false, DESC_GPA, AVAIL_GPA, USED_GPA),
                     VIRTQ_BAD_LAYOUT);
    ck_assert_int_eq(virtq_init(&other, &ram, 6, false, DESC_GPA, AVAIL_GPA, USED_GPA),
                     VIRTQ_BAD_LAYOUT); /* not a power of two */
    ck_assert_int_eq(virtq_init(&other, &ram, QSIZE, false, DESC_GPA + 8, AVAIL_GPA, USED_GPA),
                     VIRTQ_BAD_LAYOUT);
    ck_assert_int_eq(virtq_init(&other, &ram, QSIZE, false, DESC_GPA, AVAIL_GPA + 1, USED_GPA),
                     VIRTQ_BAD_LAYOUT);
    ck_assert_int_eq(virtq_init(&other, &ram, QSIZE, false, DESC_GPA, AVAIL_GPA, USED_GPA + 2),
                     VIRTQ_BAD_LAYOUT);
    ck_assert_int_eq(virtq_init(&other, &ram, QSIZE, false, RAM_GPA + RAM_SIZE - 64, AVAIL_GPA,
                                USED_GPA),
                     VIRTQ_BAD_LAYOUT);
    ck_assert_int_eq(virtq_init(&other, &ram, QSIZE, false, 0x1000, AVAIL_GPA, USED_GPA),
                     VIRTQ_BAD_LAYOUT);
}
END_TEST

START_TEST(test_interrupt_suppression_without_event_idx)
{
    struct virtq plain;
    ck_assert_int_eq(virtq_init(&plain, &ram, QSIZE, false, DESC_GPA, AVAIL_GPA, USED_GPA),
                     VIRTQ_OK);
    virtq_push(&plain, 0, 0);
    ck_assert(virtq_should_interrupt(&plain, 0));
    put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    ck_assert(!virtq_should_interrupt(&plain, 0));
}
END_TEST

START_TEST(test_interrupt_with_event_idx)
{
    put16(AVAIL_GPA + 4 + 2 * QSIZE, 1); /* used_event: interrupt once entry 1 is used */
    virtq_push(&q, 0, 0);                /* used idx 0 -> 1 */
    ck_assert(!virtq_should_interrupt(&q, 0));
    virtq_push(&q, 0, 0);                /* 1 -> 2 passes used_event */
    ck_assert(virtq_should_interrupt(&q, 1));
}
END_TEST

/* The driver re-enabled interrupts (used_event = 0: "tell me when entry 0 is
 * used") but the device thread read the old used_event and held the interrupt
 * back; looking again from the vCPU thread finds it, once. */
START_TEST(test_held_back_interrupt_found_once)
{
    uint16_t looked = 0;
    put16(AVAIL_GPA + 4 + 2 * QSIZE, 5); /* the stale used_event the device saw */
    virtq_push(&q, 0, 0);
    ck_assert(!virtq_should_interrupt(&q, 0));
    put16(AVAIL_GPA + 4 + 2 * QSIZE, 0); /* the driver's store, now visible */
    ck_assert(virtq_interrupt_missed(&q, &looked, q.used_idx));
    ck_assert_uint_eq(looked, 1);
    ck_assert(!virtq_interrupt_missed(&q, &looked, q.used_idx)); /* nothing new: no second one */
}
END_TEST

/* Entries pushed in a batch whose decision the device has yet to make are
 * left to it. */
START_TEST(test_undecided_entries_left_to_the_device)
{
    uint16_t looked = 0;
    uint16_t decided = q.used_idx;
    virtq_push(&q, 0, 0); /* used_event 0 crossed, decision pending */
    ck_assert(!virtq_interrupt_missed(&q, &looked, decided));
    ck_assert(virtq_interrupt_missed(&q, &looked, q.used_idx)); /* decided: none raised */
}
END_TEST

/* Entries the driver did not ask to hear of (callbacks off, or an event further
 * on) are no missed interrupt, however often the guest idles. */
START_TEST(test_no_interrupt_the_driver_did_not_ask_for)
{
    uint16_t looked = 0;
    virtq_push(&q, 0, 0);
    ck_assert(virtq_interrupt_missed(&q, &looked, q.used_idx)); /* used_event 0: asked for */
    put16(AVAIL_GPA + 4 + 2 * QSIZE, 0); /* Linux's "callbacks off" with EVENT_IDX */
    virtq_push(&q, 0, 0);
    virtq_push(&q, 0, 0);
    ck_assert(!virtq_interrupt_missed(&q, &looked, q.used_idx));
    put16(AVAIL_GPA + 4 + 2 * QSIZE, 7); /* delayed callbacks: tell me at entry 7 */
    virtq_push(&q, 0, 0);
    ck_assert(!virtq_interrupt_missed(&q, &looked, q.used_idx));
    ck_assert(!virtq_interrupt_missed(&q, &looked, q.used_idx));
}
END_TEST

START_TEST(test_held_back_interrupt_without_event_idx)
{
    struct virtq plain;
    ck_assert_int_eq(virtq_init(&plain, &ram, QSIZE, false, DESC_GPA, AVAIL_GPA, USED_GPA),
                     VIRTQ_OK);
    uint16_t looked = 0;
    put16(AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    virtq_push(&plain, 0, 0);
    ck_assert(!virtq_should_interrupt(&plain, 0));
    ck_assert(!virtq_interrupt_missed(&plain, &looked, plain.used_idx)); /* still off: not missed */
    virtq_push(&plain, 0, 0);
    put16(AVAIL_GPA, 0);                                 /* the driver turns them on */
    ck_assert(virtq_interrupt_missed(&plain, &looked, plain.used_idx));
    ck_assert(!virtq_interrupt_missed(&plain, &looked, plain.used_idx));
}
END_TEST

/* The device took everything and asked to hear of the next entry (avail_event
 * 1); the driver added it but read an old avail_event and did not kick. */
START_TEST(test_skipped_kick_found_once)
{
    put_desc(DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    struct virtq_chain c;
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_OK);
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_EMPTY);
    uint16_t looked = virtq_driver_index(&q); /* 1: where the last kick left it */
    offer(0);
    ck_assert(virtq_kick_missed(&q, &looked));
    ck_assert(!virtq_kick_missed(&q, &looked));
    offer(0); /* past avail_event already: the device has it due, no kick asked */
    ck_assert(!virtq_kick_missed(&q, &looked));
}
END_TEST

/* A receive queue: the device takes buffers as packets come and has more it
 * has seen; the driver's refills need no kick and none is made up. */
START_TEST(test_no_kick_made_up_for_a_device_with_buffers)
{
    for (unsigned i = 0; i < 4; i++) {
        put_desc(DESC_GPA, i, BUF_GPA + 8 * i, 8, VIRTQ_DESC_F_WRITE, 0);
        offer((uint16_t)i);
    }
    uint16_t looked = 0;
    struct virtq_chain c;
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_OK); /* sees 4, asks for entry 1 */
    offer(0);
    offer(1);
    ck_assert(!virtq_kick_missed(&q, &looked));
}
END_TEST

/* Positions older than a queue's worth cannot hold what a waiting driver asked
 * about; after a wrap they would alias, so the look starts no earlier. */
START_TEST(test_look_reaches_back_a_queue_at_most)
{
    uint16_t looked = 0;
    put16(AVAIL_GPA + 4 + 2 * QSIZE, 50);
    ck_assert(!virtq_interrupt_missed(&q, &looked, 100)); /* 50 is long past */
    looked = 0;
    put16(AVAIL_GPA + 4 + 2 * QSIZE, 95);
    ck_assert(virtq_interrupt_missed(&q, &looked, 100));
}
END_TEST

/* A device short of 3 buffers with 1 there asks to hear of the third: the
 * driver's next addition (the second) would still leave it short. */
START_TEST(test_notify_when_enough_available)
{
    put_desc(DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
    offer(0);
    ck_assert_uint_eq(virtq_available(&q), 1);
    virtq_notify_when_available(&q, 3);
    ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * QSIZE), 2); /* entry 2 completes three */
    uint16_t looked = virtq_driver_index(&q);
    offer(0);                                   /* entry 1: no kick due */
    ck_assert(!virtq_kick_missed(&q, &looked));
    offer(0);                                   /* entry 2: the kick asked for */
    ck_assert(virtq_kick_missed(&q, &looked));
}
END_TEST

START_TEST(test_no_skipped_kick_without_event_idx)
{
    struct virtq plain;
    ck_assert_int_eq(virtq_init(&plain, &ram, QSIZE, false, DESC_GPA, AVAIL_GPA, USED_GPA),
                     VIRTQ_OK);
    uint16_t looked = 0;
    offer(0);
    ck_assert(!virtq_kick_missed(&plain, &looked)); /* such a driver always kicks */
}
END_TEST

/* A device waiting for several buffers counts them without taking any, and
 * with EVENT_IDX asks to hear of the next one the driver adds. */
START_TEST(test_available_and_notify_on_next)
{
    put_desc(DESC_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE, 0);
    put_desc(DESC_GPA, 1, BUF_GPA + 8, 8, VIRTQ_DESC_F_WRITE, 0);
    ck_assert_uint_eq(virtq_available(&q), 0);
    offer(0);
    offer(1);
    ck_assert_uint_eq(virtq_available(&q), 2);
    struct virtq_chain c;
    ck_assert_int_eq(virtq_pop(&q, &c), VIRTQ_OK);
    ck_assert_uint_eq(virtq_available(&q), 1);
    ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * QSIZE), 1); /* avail_event: the next pop */
    virtq_notify_on_next(&q);
    ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * QSIZE), 2); /* the driver's next addition */
    put16(AVAIL_GPA + 2, 1 + QSIZE + 1);                    /* a corrupt index shows */
    ck_assert_uint_eq(virtq_available(&q), QSIZE + 1);

    struct virtq plain;
    ck_assert_int_eq(virtq_init(&plain, &ram, QSIZE, false, DESC_GPA, AVAIL_GPA, USED_GPA),
                     VIRTQ_OK);
    put16(USED_GPA + 4 + 8 * QSIZE, 0x5555);
    virtq_notify_on_next(&plain); /* no EVENT_IDX: the field is not ours to write */
    ck_assert_uint_eq(get16(USED_GPA + 4 + 8 * QSIZE), 0x5555);
}
END_TEST

static Suite *virtqueue_suite(void)
{
    Suite *s = suite_create("virtqueue");
    TCase *good = tcase_create("well-formed");
    tcase_add_checked_fixture(good, setup, teardown);
    tcase_add_test(good, test_constants_match_linux);
    tcase_add_test(good, test_empty_queue);
    tcase_add_test(good, test_readable_then_writable_chain);
    tcase_add_test(good, test_push_fills_used_ring);
    tcase_add_test(good, test_indirect_table);
    tcase_add_test(good, test_interrupt_suppression_without_event_idx);
    tcase_add_test(good, test_interrupt_with_event_idx);
    tcase_add_test(good, test_held_back_interrupt_found_once);
    tcase_add_test(good, test_undecided_entries_left_to_the_device);
    tcase_add_test(good, test_no_interrupt_the_driver_did_not_ask_for);
    tcase_add_test(good, test_held_back_interrupt_without_event_idx);
    tcase_add_test(good, test_skipped_kick_found_once);
    tcase_add_test(good, test_no_kick_made_up_for_a_device_with_buffers);
    tcase_add_test(good, test_look_reaches_back_a_queue_at_most);
    tcase_add_test(good, test_notify_when_enough_available);
    tcase_add_test(good, test_no_skipped_kick_without_event_idx);
    tcase_add_test(good, test_available_and_notify_on_next);
    suite_add_tcase(s, good);
    TCase *bad = tcase_create("hostile");
    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, test_head_out_of_range);
    tcase_add_test(bad, test_next_out_of_range);
    tcase_add_test(bad, test_loop_ends);
    tcase_add_test(bad, test_buffer_outside_ram);
    tcase_add_test(bad, test_buffer_address_wraps);
    tcase_add_test(bad, test_readable_after_writable);
    tcase_add_test(bad, test_bad_indirect_tables);
    tcase_add_test(bad, test_avail_index_running_ahead);
    tcase_add_test(bad, test_bad_layouts);
    suite_add_tcase(s, bad);
    return s;
}

int main(void)
{
    return run_suite(virtqueue_suite());
}
