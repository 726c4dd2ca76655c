/* The virtio-mmio transport's registers as a driver (and a hostile guest) uses
 * them: identification, feature negotiation, queue setup inside and outside
 * RAM, notifications, config space bounds, interrupts and reset. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio.h"
#include "devices/virtio_mmio.h"
#include "devices/virtqueue.h"
#include "unit.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x100000u

enum {
    MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, DEV_FEATURES = 0x010,
    DEV_FEATURES_SEL = 0x014, DRV_FEATURES = 0x020, DRV_FEATURES_SEL = 0x024,
    QUEUE_SEL = 0x030, QUEUE_NUM_MAX = 0x034, QUEUE_NUM = 0x038, QUEUE_READY = 0x044,
    QUEUE_NOTIFY = 0x050, INT_STATUS = 0x060, INT_ACK = 0x064, STATUS = 0x070, CONFIG_GEN = 0x0fc,
    DESC_LOW = 0x080, DRIVER_LOW = 0x090, DEVICE_LOW = 0x0a0, CONFIG = 0x100,
};

static uint8_t *mem;
static struct guest_ram ram;
static struct device *dev;
static int notified, edges, resets, queue_stops;
static uint8_t config[6] = {1, 2, 3, 4, 5, 6};

static void config_read(void *d, size_t off, uint8_t *out, size_t len)
{
    (void)d;
    memcpy(out, config + off, len);
}

static void config_write(void *d, size_t off, const uint8_t *in, size_t len)
{
    (void)d;
    memcpy(config + off, in, len);
}

static void on_notify(void *d, struct virtio_mmio *t, unsigned q)
{
    (void)d, (void)t, (void)q;
    notified++;
}

static void on_reset(void *d)
{
    (void)d;
    resets++;
}

static void on_queue_stop(void *d, unsigned q)
{
    (void)d;
    ck_assert_uint_eq(q, 1);
    queue_stops++;
}

static void on_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid;
    if (level)
        edges++;
}

static const struct virtio_device_ops test_ops = {
    .name = "test", .device_id = 42, .features = 1ull << 3, .num_queues = 2, .queue_max = 16,
    .config_size = sizeof(config), .config_read = config_read, .config_write = config_write,
    .notify = on_notify, .reset = on_reset, .queue_stop = on_queue_stop,
};

static void setup(void)
{
    mem = calloc(1, RAM_SIZE);
    ram = (struct guest_ram){.gpa = RAM_GPA, .size = RAM_SIZE, .host = mem};
    notified = edges = resets = queue_stops = 0;
    dev = virtio_mmio_create(0x0a000000, (struct irq_line){.set = on_irq, .intid = 48},
                             &test_ops, NULL, &ram);
    ck_assert_ptr_nonnull(dev);
}

static void teardown(void)
{
    dev->ops->destroy(dev);
    free(mem);
}

static uint64_t rd(uint64_t off) { return dev->ops->read(dev, off, 4); }
static void wr(uint64_t off, uint64_t v) { dev->ops->write(dev, off, 4, v); }

static void negotiate(uint64_t features)
{
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(DRV_FEATURES_SEL, 0);
    wr(DRV_FEATURES, (uint32_t)features);
    wr(DRV_FEATURES_SEL, 1);
    wr(DRV_FEATURES, (uint32_t)(features >> 32));
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

static void setup_queue(unsigned q, uint32_t num, uint64_t desc, uint64_t driver, uint64_t device)
{
    wr(QUEUE_SEL, q);
    wr(QUEUE_NUM, num);
    wr(DESC_LOW, (uint32_t)desc);
    wr(DESC_LOW + 4, (uint32_t)(desc >> 32));
    wr(DRIVER_LOW, (uint32_t)driver);
    wr(DRIVER_LOW + 4, (uint32_t)(driver >> 32));
    wr(DEVICE_LOW, (uint32_t)device);
    wr(DEVICE_LOW + 4, (uint32_t)(device >> 32));
    wr(QUEUE_READY, 1);
}

START_TEST(test_identification)
{
    ck_assert_uint_eq(rd(MAGIC), 0x74726976);
    ck_assert_uint_eq(rd(VERSION), 2);
    ck_assert_uint_eq(rd(DEVICE_ID), 42);
    ck_assert_uint_eq(dev->ops->read(dev, MAGIC, 2), 0); /* registers are 32-bit only */
}
END_TEST

START_TEST(test_features_offered)
{
    wr(DEV_FEATURES_SEL, 0);
    uint32_t low = (uint32_t)rd(DEV_FEATURES);
    ck_assert(low & (1u << 3));
    ck_assert(low & (1u << VIRTIO_F_INDIRECT_DESC));
    ck_assert(low & (1u << VIRTIO_F_EVENT_IDX));
    wr(DEV_FEATURES_SEL, 1);
    ck_assert_uint_eq(rd(DEV_FEATURES), 1); /* VERSION_1, nothing else */
    wr(DEV_FEATURES_SEL, 7);
    ck_assert_uint_eq(rd(DEV_FEATURES), 0);
}
END_TEST

START_TEST(test_features_ok_needs_version_1)
{
    negotiate(1ull << 3);
    ck_assert(!(rd(STATUS) & VIRTIO_STATUS_FEATURES_OK));
}
END_TEST

START_TEST(test_features_ok_refuses_unknown_bits)
{
    negotiate((1ull << VIRTIO_F_VERSION_1) | (1ull << 5));
    ck_assert(!(rd(STATUS) & VIRTIO_STATUS_FEATURES_OK));
}
END_TEST

START_TEST(test_features_ok_accepts_subset)
{
    negotiate((1ull << VIRTIO_F_VERSION_1) | (1ull << 3));
    ck_assert(rd(STATUS) & VIRTIO_STATUS_FEATURES_OK);
}
END_TEST

START_TEST(test_queue_in_ram_becomes_ready)
{
    negotiate(1ull << VIRTIO_F_VERSION_1);
    wr(QUEUE_SEL, 1);
    ck_assert_uint_eq(rd(QUEUE_NUM_MAX), 16);
    setup_queue(1, 16, RAM_GPA + 0x1000, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    ck_assert_uint_eq(rd(QUEUE_READY), 1);
    ck_assert(!(rd(STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
}
END_TEST

/* Switching a ready queue off or resetting it tells the device first, so work
 * it took from the old rings cannot complete into new ones. */
START_TEST(test_queue_stop_reaches_device)
{
    negotiate(1ull << VIRTIO_F_VERSION_1);
    setup_queue(1, 16, RAM_GPA + 0x1000, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    wr(QUEUE_READY, 0);
    ck_assert_int_eq(queue_stops, 1);
    wr(QUEUE_READY, 0); /* already off: nothing to stop */
    ck_assert_int_eq(queue_stops, 1);
    setup_queue(1, 16, RAM_GPA + 0x1000, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    wr(0x0c0 /* QueueReset */, 1);
    ck_assert_int_eq(queue_stops, 2);
    ck_assert_uint_eq(rd(QUEUE_READY), 0);
}
END_TEST

START_TEST(test_queue_outside_ram_needs_reset)
{
    negotiate(1ull << VIRTIO_F_VERSION_1);
    setup_queue(0, 16, RAM_GPA + RAM_SIZE - 16, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    ck_assert_uint_eq(rd(QUEUE_READY), 0);
    ck_assert(rd(STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    ck_assert_uint_eq(rd(INT_STATUS) & 2, 2); /* configuration change */
    ck_assert_int_eq(edges, 1);
}
END_TEST

START_TEST(test_queue_too_large_needs_reset)
{
    negotiate(1ull << VIRTIO_F_VERSION_1);
    setup_queue(0, 17, RAM_GPA + 0x1000, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    ck_assert_uint_eq(rd(QUEUE_READY), 0);
    ck_assert(rd(STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_queue_selector_out_of_range)
{
    wr(QUEUE_SEL, 9);
    ck_assert_uint_eq(rd(QUEUE_NUM_MAX), 0);
    wr(QUEUE_READY, 1);
    ck_assert_uint_eq(rd(QUEUE_READY), 0);
}
END_TEST

START_TEST(test_notify_only_ready_queues_after_driver_ok)
{
    negotiate(1ull << VIRTIO_F_VERSION_1);
    setup_queue(0, 8, RAM_GPA + 0x1000, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    wr(QUEUE_NOTIFY, 0);
    ck_assert_int_eq(notified, 0); /* not DRIVER_OK yet */
    wr(STATUS, rd(STATUS) | VIRTIO_STATUS_DRIVER_OK);
    wr(QUEUE_NOTIFY, 0);
    ck_assert_int_eq(notified, 1);
    wr(QUEUE_NOTIFY, 1); /* not set up */
    wr(QUEUE_NOTIFY, 500);
    ck_assert_int_eq(notified, 1);
}
END_TEST

START_TEST(test_config_space_any_width_in_bounds)
{
    ck_assert_uint_eq(dev->ops->read(dev, CONFIG + 1, 1), 2);
    ck_assert_uint_eq(dev->ops->read(dev, CONFIG + 2, 2), 0x0403);
    ck_assert_uint_eq(dev->ops->read(dev, CONFIG + 2, 4), 0x06050403);
    ck_assert_uint_eq(dev->ops->read(dev, CONFIG + 4, 4), 0); /* runs past the end */
    ck_assert_uint_eq(dev->ops->read(dev, CONFIG + 100, 1), 0);
    dev->ops->write(dev, CONFIG + 5, 1, 0xaa);
    ck_assert_uint_eq(config[5], 0xaa);
    dev->ops->write(dev, CONFIG + 5, 2, 0xbbbb); /* past the end: ignored */
    ck_assert_uint_eq(config[5], 0xaa);
}
END_TEST

START_TEST(test_reset_clears_everything)
{
    negotiate(1ull << VIRTIO_F_VERSION_1);
    setup_queue(0, 8, RAM_GPA + 0x1000, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    wr(STATUS, 0);
    ck_assert_uint_eq(rd(STATUS), 0);
    wr(QUEUE_SEL, 0);
    ck_assert_uint_eq(rd(QUEUE_READY), 0);
    ck_assert_int_eq(resets, 1);
}
END_TEST

START_TEST(test_interrupt_ack)
{
    negotiate(1ull << VIRTIO_F_VERSION_1);
    setup_queue(0, 16, RAM_GPA + RAM_SIZE - 16, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    ck_assert_uint_eq(rd(INT_STATUS), 2);
    wr(INT_ACK, 2);
    ck_assert_uint_eq(rd(INT_STATUS), 0);
}
END_TEST

START_TEST(test_config_changed_interrupts_after_driver_ok)
{
    uint32_t gen = (uint32_t)rd(CONFIG_GEN);
    virtio_mmio_config_changed(virtio_mmio_of(dev));
    ck_assert_uint_ne(rd(CONFIG_GEN), gen); /* a driver re-reading config sees it */
    ck_assert_int_eq(edges, 0);             /* but no interrupt before DRIVER_OK */
    negotiate(1ull << VIRTIO_F_VERSION_1);
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                   VIRTIO_STATUS_DRIVER_OK);
    virtio_mmio_config_changed(virtio_mmio_of(dev));
    ck_assert_int_eq(edges, 1);
    ck_assert_uint_eq(rd(INT_STATUS), 2);
}
END_TEST

/* What the vCPU thread does as the guest idles on a backend whose barriers are
 * not the host's: a used entry whose interrupt a device thread held back gets
 * one, and an entry the driver added without its kick reaches the device. */
START_TEST(test_recheck_catches_missed_notifications)
{
    negotiate((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX));
    setup_queue(0, 8, RAM_GPA + 0x1000, RAM_GPA + 0x2000, RAM_GPA + 0x3000);
    wr(STATUS, rd(STATUS) | VIRTIO_STATUS_DRIVER_OK);
    uint8_t *avail = mem + 0x2000, *used = mem + 0x3000;
    ck_assert_ptr_nonnull(dev->ops->recheck_notifications);
    dev->ops->recheck_notifications(dev);
    ck_assert_int_eq(edges, 0); /* nothing happened: nothing to catch */
    ck_assert_int_eq(notified, 0);

    avail[4 + 2 * 8] = 3;       /* the used_event the device thread read: stale */
    struct virtio_mmio *t = virtio_mmio_of(dev);
    virtio_mmio_lock(t);
    struct virtq *vq = virtio_mmio_queue(t, 0);
    virtq_push(vq, 0, 0);
    virtio_mmio_used(t, 0, 0);
    virtio_mmio_unlock(t);
    ck_assert_int_eq(edges, 0);
    avail[4 + 2 * 8] = 0;       /* the driver's store that it had not seen */
    dev->ops->recheck_notifications(dev);
    ck_assert_int_eq(edges, 1);
    ck_assert_uint_eq(rd(INT_STATUS), 1);
    dev->ops->recheck_notifications(dev);
    ck_assert_int_eq(edges, 1); /* once */

    avail[2] = 1;               /* an entry added; avail_event (0) asks for a kick */
    ck_assert_uint_eq(used[4 + 8 * 8], 0);
    dev->ops->recheck_notifications(dev);
    ck_assert_int_eq(notified, 1);
    wr(QUEUE_NOTIFY, 0);        /* a kick the driver did make covers its entries */
    avail[2] = 2;
    dev->ops->recheck_notifications(dev);
    ck_assert_int_eq(notified, 2);
}
END_TEST

static Suite *virtio_mmio_suite(void)
{
    Suite *s = suite_create("virtio_mmio");
    TCase *tc = tcase_create("registers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_identification);
    tcase_add_test(tc, test_features_offered);
    tcase_add_test(tc, test_features_ok_needs_version_1);
    tcase_add_test(tc, test_features_ok_refuses_unknown_bits);
    tcase_add_test(tc, test_features_ok_accepts_subset);
    tcase_add_test(tc, test_queue_in_ram_becomes_ready);
    tcase_add_test(tc, test_queue_stop_reaches_device);
    tcase_add_test(tc, test_queue_outside_ram_needs_reset);
    tcase_add_test(tc, test_queue_too_large_needs_reset);
    tcase_add_test(tc, test_queue_selector_out_of_range);
    tcase_add_test(tc, test_notify_only_ready_queues_after_driver_ok);
    tcase_add_test(tc, test_config_space_any_width_in_bounds);
    tcase_add_test(tc, test_reset_clears_everything);
    tcase_add_test(tc, test_interrupt_ack);
    tcase_add_test(tc, test_recheck_catches_missed_notifications);
    tcase_add_test(tc, test_config_changed_interrupts_after_driver_ok);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(virtio_mmio_suite());
}
