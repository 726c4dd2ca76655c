/* Snapshots of virtio devices (virtio_mmio_save/virtio_mmio_load): for each
 * device a driver brings it up, some requests complete, its state is saved and
 * loaded into a fresh device over the same guest RAM, which saves the same
 * bytes and serves the next request where the first left off: the right
 * descriptor, used index and interrupt. And every field a snapshot file could
 * get wrong is refused, leaving the device reset and usable. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/evdev.h"
#include "devices/virtio.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio_state.h"
#include "devices/virtio_rng.h"
#include "unit.h"
#include "virtio_driver.h"

#define RAM_SIZE 0x40000u
#define Q0 (VD_RAM_GPA + 0x1000)
#define Q1 (VD_RAM_GPA + 0x3000)
#define BUF (VD_RAM_GPA + 0x10000)
#define BASE 0x0a000000
#define VIRTIO_ID_ENTROPY 4 /* §5 */
#define VIRTIO_ID_CONSOLE 3

static struct vd_guest guest;
static struct device *dev, *dev2;
static struct vd_queue q0, q1;
static struct virtio_mmio_state saved, again;

static void setup(void)
{
    vd_guest_init(&guest, RAM_SIZE);
    dev = dev2 = NULL;
    /* Poisoned, so that save must fill all of it; the device part is owned
     * and starts empty. */
    memset(&saved, 0xa5, sizeof(saved));
    memset(&again, 0x5a, sizeof(again));
    saved.device = again.device = (struct device_state_bytes){0};
}

static void destroy(struct device **d)
{
    if (*d)
        (*d)->ops->destroy(*d);
    *d = NULL;
}

static void teardown(void)
{
    destroy(&dev);
    destroy(&dev2);
    virtio_mmio_state_free(&saved);
    virtio_mmio_state_free(&again);
    vd_guest_free(&guest);
}

static char err[256];

static const uint64_t VERSION_1 = 1ull << VIRTIO_F_VERSION_1;
static const uint64_t EVENT_IDX = 1ull << VIRTIO_F_EVENT_IDX;

/* Loads saved into d, saves it again: the same bytes, the device's own part
 * included. */
static void load_and_compare(struct device *d)
{
    ck_assert_msg(virtio_mmio_load(d, &saved, err, sizeof(err)) == 0, "%s", err);
    virtio_mmio_state_free(&again);
    ck_assert_int_eq(virtio_mmio_save(d, &again), 0);
    ck_assert_mem_eq(&saved, &again, offsetof(struct virtio_mmio_state, device));
    ck_assert_uint_eq(saved.device.len, again.device.len);
    if (saved.device.len)
        ck_assert_mem_eq(saved.device.data, again.device.data, saved.device.len);
}

/* What a driver reads back from both devices is the same. */
static void check_same_registers(struct device *a, struct device *b, unsigned num_queues)
{
    static const uint64_t regs[] = {VD_DEVICE_ID, VD_STATUS, VD_INT_STATUS, VD_CONFIG_GEN};
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        ck_assert_uint_eq(vd_read(a, regs[i]), vd_read(b, regs[i]));
    for (unsigned q = 0; q < num_queues; q++) {
        vd_write(a, VD_QUEUE_SEL, q);
        vd_write(b, VD_QUEUE_SEL, q);
        ck_assert_uint_eq(vd_read(a, VD_QUEUE_READY), vd_read(b, VD_QUEUE_READY));
        ck_assert_uint_eq(vd_read(a, VD_QUEUE_NUM_MAX), vd_read(b, VD_QUEUE_NUM_MAX));
    }
}

static void check_used(const struct vd_queue *q, uint16_t i, uint32_t want_id, uint32_t want_len)
{
    uint32_t id, len;
    vd_used_elem(&guest, q, i, &id, &len);
    ck_assert_uint_eq(id, want_id);
    ck_assert_uint_eq(len, want_len);
}

/* ---- virtio-rng, and the transport's own fields ------------------------------------------- */

#define RNG_QSIZE 8

static struct device *new_rng(void)
{
    struct device *d = virtio_rng_create(BASE, vd_irq(&guest, 48), &guest.ram);
    ck_assert_ptr_nonnull(d);
    return d;
}

static void rng_bring_up(uint64_t features)
{
    dev = new_rng();
    vd_negotiate(dev, VERSION_1 | features);
    q0 = vd_queue_at(Q0, RNG_QSIZE);
    vd_enable_queue(dev, 0, &q0);
    vd_driver_ok(dev);
}

/* Request i: 16 writable bytes at BUF + 0x100 * i, in descriptor i % size. */
static void rng_request(struct device *d, unsigned i)
{
    memset(vd_at(&guest, BUF + 0x100u * i), 0, 16);
    vd_put_desc(&guest, &q0, i % RNG_QSIZE, BUF + 0x100u * i, 16, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &q0, (uint16_t)(i % RNG_QSIZE));
    vd_write(d, VD_QUEUE_NOTIFY, 0);
}

static bool filled(unsigned i)
{
    static const uint8_t zero[16];
    return memcmp(vd_at(&guest, BUF + 0x100u * i), zero, 16) != 0;
}

static void rng_saved_after(unsigned requests)
{
    rng_bring_up(0);
    for (unsigned i = 0; i < requests; i++)
        rng_request(dev, i);
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), requests);
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
}

START_TEST(test_rng_state_fields)
{
    rng_saved_after(5);
    ck_assert_uint_eq(saved.device_id, VIRTIO_ID_ENTROPY);
    ck_assert_uint_eq(saved.status, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                        VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
    ck_assert_uint_eq(saved.driver_features, VERSION_1);
    ck_assert_uint_eq(saved.driver_features_sel, 1);
    ck_assert_uint_eq(saved.interrupt_status, 1); /* used buffer, not acknowledged */
    const struct virtio_mmio_queue_state *q = &saved.queues[0];
    ck_assert_uint_eq(q->num, RNG_QSIZE);
    ck_assert_uint_eq(q->ready, 1);
    ck_assert_uint_eq(q->desc, q0.desc);
    ck_assert_uint_eq(q->driver, q0.avail);
    ck_assert_uint_eq(q->device, q0.used);
    ck_assert_uint_eq(q->last_avail, 5);
    ck_assert_uint_eq(q->used_idx, 5);
    ck_assert_uint_eq(q->event_idx, 0);
    static const struct virtio_mmio_queue_state empty;
    for (unsigned i = 1; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        ck_assert_mem_eq(&saved.queues[i], &empty, sizeof(empty));
}
END_TEST

/* The queue carries on across the ring's end, into the same used ring. */
START_TEST(test_rng_round_trip)
{
    rng_saved_after(5);
    dev2 = new_rng();
    load_and_compare(dev2);
    check_same_registers(dev, dev2, 1);
    int edges = vd_edges(&guest);
    for (unsigned i = 5; i < 10; i++) {
        rng_request(dev2, i);
        ck_assert_uint_eq(vd_used_idx(&guest, &q0), i + 1);
        check_used(&q0, (uint16_t)i, i % RNG_QSIZE, 16);
        ck_assert(filled(i));
    }
    ck_assert_int_eq(vd_edges(&guest), edges + 5);
}
END_TEST

/* EVENT_IDX survives: the device keeps publishing avail_event and honours
 * used_event. */
START_TEST(test_rng_event_idx_round_trip)
{
    rng_bring_up(EVENT_IDX);
    vd_set_used_event(&guest, &q0, 100); /* no interrupts for now */
    rng_request(dev, 0);
    rng_request(dev, 1);
    ck_assert_int_eq(vd_edges(&guest), 0);
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
    ck_assert_uint_eq(saved.queues[0].event_idx, 1);
    dev2 = new_rng();
    load_and_compare(dev2);
    rng_request(dev2, 2);
    ck_assert_int_eq(vd_edges(&guest), 0);
    uint16_t avail_event;
    memcpy(&avail_event, vd_at(&guest, q0.used + 4 + 8u * RNG_QSIZE), 2);
    ck_assert_uint_eq(avail_event, 3);
    vd_set_used_event(&guest, &q0, 3); /* the next one interrupts */
    rng_request(dev2, 3);
    ck_assert_int_eq(vd_edges(&guest), 1);
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), 4);
}
END_TEST

/* A snapshot taken after a device thread held back an interrupt the driver
 * asked for (the driver's store not yet seen), before the guest's next look:
 * the restored device's first look still finds it, once. */
START_TEST(test_held_back_interrupt_caught_after_restore)
{
    rng_bring_up(EVENT_IDX);
    vd_set_used_event(&guest, &q0, 100); /* what the device read */
    rng_request(dev, 0);
    rng_request(dev, 1);
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
    dev2 = new_rng();
    load_and_compare(dev2);
    vd_set_used_event(&guest, &q0, 1);   /* the driver's store it had not seen */
    ck_assert_ptr_nonnull(dev2->ops->recheck_notifications);
    dev2->ops->recheck_notifications(dev2);
    ck_assert_int_eq(vd_edges(&guest), 1);
    dev2->ops->recheck_notifications(dev2);
    ck_assert_int_eq(vd_edges(&guest), 1);
}
END_TEST

START_TEST(test_config_generation_and_interrupts_kept)
{
    rng_saved_after(1);
    virtio_mmio_config_changed(virtio_mmio_of(dev));
    virtio_mmio_config_changed(virtio_mmio_of(dev));
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
    ck_assert_uint_eq(saved.config_generation, 2);
    ck_assert_uint_eq(saved.interrupt_status, 3);
    int edges = vd_edges(&guest);
    dev2 = new_rng();
    load_and_compare(dev2);
    ck_assert_int_eq(vd_edges(&guest), edges); /* the interrupt controller keeps edges */
    ck_assert_uint_eq(vd_read(dev2, VD_CONFIG_GEN), 2);
    ck_assert_uint_eq(vd_read(dev2, VD_INT_STATUS), 3);
    vd_write(dev2, VD_INT_ACK, 3);
    ck_assert_uint_eq(vd_read(dev2, VD_INT_STATUS), 0);
}
END_TEST

/* A driver midway through set-up: a queue given a size and rings but not yet
 * enabled, the status short of DRIVER_OK. Loading it, the driver goes on. */
START_TEST(test_half_set_up_round_trip)
{
    dev = new_rng();
    vd_negotiate(dev, VERSION_1);
    q0 = vd_queue_at(Q0, RNG_QSIZE);
    vd_write(dev, VD_QUEUE_SEL, 0);
    vd_write(dev, VD_QUEUE_NUM, 3); /* not yet the size it will be */
    vd_write(dev, VD_DESC_LOW, (uint32_t)q0.desc);
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
    ck_assert_uint_eq(saved.queues[0].num, 3);
    ck_assert_uint_eq(saved.queues[0].ready, 0);
    dev2 = new_rng();
    load_and_compare(dev2);
    vd_enable_queue(dev2, 0, &q0);
    vd_driver_ok(dev2);
    rng_request(dev2, 0);
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), 1);
}
END_TEST

/* ---- refusals ----------------------------------------------------------------------------- */

struct bad_field {
    const char *what;
    void (*spoil)(struct virtio_mmio_state *s);
};

static void other_device(struct virtio_mmio_state *s) { s->device_id = VIRTIO_ID_GPU; }
static void unknown_device(struct virtio_mmio_state *s) { s->device_id = 0xdead; }
static void status_past_byte(struct virtio_mmio_state *s) { s->status |= 0x100; }
static void features_not_offered(struct virtio_mmio_state *s) { s->driver_features |= 1ull << 40; }
static void features_not_modern(struct virtio_mmio_state *s) { s->driver_features = 0; }
static void unknown_interrupt(struct virtio_mmio_state *s) { s->interrupt_status |= 4; }
static void size_not_power_of_two(struct virtio_mmio_state *s) { s->queues[0].num = 6; }
static void size_above_max(struct virtio_mmio_state *s) { s->queues[0].num = 128; }
static void size_zero(struct virtio_mmio_state *s) { s->queues[0].num = 0; }
static void size_wraps_16_bits(struct virtio_mmio_state *s) { s->queues[0].num = 0x10008; }
static void desc_past_ram(struct virtio_mmio_state *s)
{
    s->queues[0].desc = VD_RAM_GPA + RAM_SIZE - 16;
}
static void avail_below_ram(struct virtio_mmio_state *s) { s->queues[0].driver = VD_RAM_GPA - 64; }
static void used_wraps(struct virtio_mmio_state *s) { s->queues[0].device = UINT64_MAX - 3; }
static void desc_misaligned(struct virtio_mmio_state *s) { s->queues[0].desc += 8; }
static void too_many_taken(struct virtio_mmio_state *s)
{
    s->queues[0].last_avail = (uint16_t)(s->queues[0].used_idx + RNG_QSIZE + 1);
}
static void used_ahead(struct virtio_mmio_state *s)
{
    s->queues[0].used_idx = (uint16_t)(s->queues[0].last_avail + 1);
}
static void ready_not_bool(struct virtio_mmio_state *s) { s->queues[0].ready = 2; }
static void event_idx_not_bool(struct virtio_mmio_state *s) { s->queues[0].event_idx = 2; }
static void positions_on_stopped_queue(struct virtio_mmio_state *s) { s->queues[0].ready = 0; }
static void queue_device_lacks(struct virtio_mmio_state *s) { s->queues[1].num = 8; }
static void last_queue_set(struct virtio_mmio_state *s)
{
    s->queues[VIRTIO_MMIO_MAX_QUEUES - 1].desc = Q1;
}

static const struct bad_field BAD_FIELDS[] = {
    {"another device's state", other_device},
    {"an unknown device type", unknown_device},
    {"status bits past the byte", status_past_byte},
    {"FEATURES_OK with a feature never offered", features_not_offered},
    {"FEATURES_OK without VERSION_1", features_not_modern},
    {"an interrupt reason the transport never raises", unknown_interrupt},
    {"a ready queue size not a power of two", size_not_power_of_two},
    {"a ready queue larger than QueueNumMax", size_above_max},
    {"a ready queue of size 0", size_zero},
    {"a ready queue size past 16 bits", size_wraps_16_bits},
    {"a descriptor table past the end of RAM", desc_past_ram},
    {"an avail ring below RAM", avail_below_ram},
    {"a used ring whose end wraps around", used_wraps},
    {"a misaligned descriptor table", desc_misaligned},
    {"more entries taken than the ring holds", too_many_taken},
    {"a used index ahead of the entries taken", used_ahead},
    {"ready neither 0 nor 1", ready_not_bool},
    {"event_idx neither 0 nor 1", event_idx_not_bool},
    {"positions on a queue not ready", positions_on_stopped_queue},
    {"a queue the device does not have", queue_device_lacks},
    {"the last queue slot set", last_queue_set},
};

/* Refused, and the device is reset (as the guest would find a fresh one);
 * the good state still loads afterwards. */
static void check_refused(struct device *d, const struct virtio_mmio_state *bad, const char *what)
{
    ck_assert_msg(virtio_mmio_load(d, bad, err, sizeof(err)) == -EINVAL, "accepted %s", what);
    ck_assert_msg(vd_read(d, VD_STATUS) == 0, "not reset after %s", what);
    vd_write(d, VD_QUEUE_SEL, 0);
    ck_assert_uint_eq(vd_read(d, VD_QUEUE_READY), 0);
    ck_assert_uint_eq(vd_read(d, VD_INT_STATUS), 0);
    ck_assert_int_eq(virtio_mmio_load(d, &saved, err, sizeof(err)), 0);
}

START_TEST(test_transport_bad_fields)
{
    rng_saved_after(3);
    dev2 = new_rng();
    for (size_t i = 0; i < sizeof(BAD_FIELDS) / sizeof(BAD_FIELDS[0]); i++) {
        struct virtio_mmio_state bad = saved;
        BAD_FIELDS[i].spoil(&bad);
        check_refused(dev2, &bad, BAD_FIELDS[i].what);
    }
    rng_request(dev2, 3); /* usable after all that */
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), 4);
    check_used(&q0, 3, 3, 16);
}
END_TEST

/* ---- virtio-blk -------------------------------------------------------------------------- */

#define DISK_BYTES (64u * 1024u)
#define BLK_QSIZE 16

static char dir[64], base_path[128];

static void blk_setup(void)
{
    setup();
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-blkstate-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(base_path, sizeof(base_path), "%s/base.img", dir);
    static uint8_t image[DISK_BYTES];
    for (size_t i = 0; i < sizeof(image); i++)
        image[i] = (uint8_t)(i / 512); /* each sector holds its own number */
    int fd = open(base_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_eq(write(fd, image, sizeof(image)), (ssize_t)sizeof(image));
    close(fd);
}

static void blk_teardown(void)
{
    teardown();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct device *new_blk(unsigned index)
{
    struct disk_spec spec = {.path = base_path, .read_only = true, .serial = "state"};
    char err[512] = "";
    struct disk *disk = disk_open(&spec, dir, index, err, sizeof(err));
    ck_assert_msg(disk != NULL, "%s", err);
    struct device *d = virtio_blk_create(BASE, vd_irq(&guest, 49), &guest.ram, disk);
    ck_assert_ptr_nonnull(d);
    return d;
}

static void blk_bring_up(void)
{
    dev = new_blk(0);
    vd_negotiate(dev, VERSION_1);
    q0 = vd_queue_at(Q0, BLK_QSIZE);
    vd_enable_queue(dev, 0, &q0);
    vd_driver_ok(dev);
}

/* Request i reads one sector through descriptors 3k..3k+2 (k = i % 4):
 * header, 512 bytes of data, status. */
static void blk_offer_read(unsigned i, uint64_t sector)
{
    unsigned k = i % 4;
    uint64_t b = BUF + 0x1000ull * k;
    uint32_t type = VIRTIO_BLK_T_IN, reserved = 0;
    memcpy(vd_at(&guest, b), &type, 4);
    memcpy(vd_at(&guest, b + 4), &reserved, 4);
    memcpy(vd_at(&guest, b + 8), &sector, 8);
    memset(vd_at(&guest, b + 0x200), 0xaa, 512);
    *vd_at(&guest, b + 0x800) = 0xee;
    vd_put_desc(&guest, &q0, 3 * k, b, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * k + 1));
    vd_put_desc(&guest, &q0, 3 * k + 1, b + 0x200, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
                (uint16_t)(3 * k + 2));
    vd_put_desc(&guest, &q0, 3 * k + 2, b + 0x800, 1, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &q0, (uint16_t)(3 * k));
}

static void check_blk_read(unsigned i, uint64_t sector)
{
    unsigned k = i % 4;
    uint64_t b = BUF + 0x1000ull * k;
    check_used(&q0, (uint16_t)i, 3 * k, 513);
    ck_assert_uint_eq(*vd_at(&guest, b + 0x800), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(*vd_at(&guest, b + 0x200), sector);
    ck_assert_uint_eq(*vd_at(&guest, b + 0x200 + 511), sector);
}

START_TEST(test_blk_round_trip)
{
    blk_bring_up();
    blk_offer_read(0, 3);
    vd_write(dev, VD_QUEUE_NOTIFY, 0);
    ck_assert(vd_wait_used(&guest, &q0, 1));
    blk_offer_read(1, 4);
    vd_write(dev, VD_QUEUE_NOTIFY, 0);
    ck_assert(vd_wait_used(&guest, &q0, 2));
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
    ck_assert_uint_eq(saved.device_id, VIRTIO_ID_BLOCK);
    ck_assert_uint_eq(saved.queues[0].last_avail, 2);
    ck_assert_uint_eq(saved.queues[0].used_idx, 2);
    dev2 = new_blk(1);
    load_and_compare(dev2);
    check_same_registers(dev, dev2, 1);
    ck_assert_uint_eq(dev2->ops->read(dev2, VD_CONFIG + VIRTIO_BLK_CFG_CAPACITY, 4),
                      DISK_BYTES / 512);
    int edges = vd_edges(&guest);
    blk_offer_read(2, 7);
    vd_write(dev2, VD_QUEUE_NOTIFY, 0);
    ck_assert(vd_wait_used(&guest, &q0, 3));
    check_blk_read(2, 7);
    for (int i = 0; i < 2000 && vd_edges(&guest) == edges; i++)
        usleep(1000); /* the interrupt follows the used index */
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
}
END_TEST

/* Saving right after a notification waits for the I/O thread: every request
 * it was kicked for is complete in the snapshot, none in flight. */
START_TEST(test_blk_save_waits_for_requests)
{
    blk_bring_up();
    for (unsigned i = 0; i < 4; i++)
        blk_offer_read(i, i + 10);
    vd_write(dev, VD_QUEUE_NOTIFY, 0);
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
    ck_assert_uint_eq(saved.queues[0].last_avail, 4);
    ck_assert_uint_eq(saved.queues[0].used_idx, 4);
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), 4);
    for (unsigned i = 0; i < 4; i++)
        check_blk_read(i, i + 10);
}
END_TEST

/* ---- virtio-console ---------------------------------------------------------------------- */

#define CON_QSIZE 8
#define RX_BUF (BUF + 0x8000)
#define TX_BUF (BUF + 0x9000)

static int host_a[2], host_b[2];
static struct vd_queue txq;

static void console_setup(void)
{
    setup();
    ck_assert_int_eq(pipe(host_a), 0);
    ck_assert_int_eq(pipe(host_b), 0);
}

static void console_teardown(void)
{
    teardown();
    for (int i = 0; i < 2; i++) {
        close(host_a[i]);
        close(host_b[i]);
    }
}

static struct device *new_console(int fd)
{
    struct device *d = virtio_console_create(BASE, vd_irq(&guest, 50), &guest.ram, fd);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* Guest output i: two bytes from TX_BUF + 16 i, in descriptor i % size. */
static void transmit(struct device *d, unsigned i, const char *two)
{
    memcpy(vd_at(&guest, TX_BUF + 16u * i), two, 2);
    vd_put_desc(&guest, &txq, i % CON_QSIZE, TX_BUF + 16u * i, 2, 0, 0);
    vd_offer(&guest, &txq, (uint16_t)(i % CON_QSIZE));
    vd_write(d, VD_QUEUE_NOTIFY, 1);
}

static void check_host_got(int fd, const char *two)
{
    char got[3] = "";
    ck_assert_int_eq(read(fd, got, 2), 2);
    ck_assert_str_eq(got, two);
}

START_TEST(test_console_round_trip)
{
    dev = new_console(host_a[1]);
    vd_negotiate(dev, VERSION_1);
    q0 = vd_queue_at(Q0, CON_QSIZE);
    txq = vd_queue_at(Q1, CON_QSIZE);
    vd_enable_queue(dev, 0, &q0);
    vd_enable_queue(dev, 1, &txq);
    vd_driver_ok(dev);
    transmit(dev, 0, "ab");
    check_host_got(host_a[0], "ab");
    vd_put_desc(&guest, &q0, 0, RX_BUF, 16, VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &q0, 0); /* a receive buffer waits over the snapshot */
    vd_write(dev, VD_QUEUE_NOTIFY, 0);
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
    ck_assert_uint_eq(saved.device_id, VIRTIO_ID_CONSOLE);
    ck_assert_uint_eq(saved.queues[1].used_idx, 1);
    ck_assert_uint_eq(saved.queues[0].last_avail, 0);

    dev2 = new_console(host_b[1]);
    load_and_compare(dev2);
    check_same_registers(dev, dev2, 2);
    ck_assert_uint_eq(virtio_console_input(dev2, (const uint8_t *)"xyz", 3), 3);
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), 1);
    check_used(&q0, 0, 0, 3);
    ck_assert_mem_eq(vd_at(&guest, RX_BUF), "xyz", 3);
    transmit(dev2, 1, "cd");
    check_host_got(host_b[0], "cd");
    ck_assert_uint_eq(vd_used_idx(&guest, &txq), 2);
    check_used(&txq, 1, 1, 0);
}
END_TEST

/* ---- virtio-input ------------------------------------------------------------------------ */

#define EVT_QSIZE 8
#define EVT_BUF (BUF + 0xa000)
#define STS_BUF (BUF + 0xb000)

static struct device *new_input(enum virtio_input_kind kind)
{
    struct device *d = virtio_input_create(BASE, vd_irq(&guest, 51), &guest.ram, kind, "state");
    ck_assert_ptr_nonnull(d);
    return d;
}

/* Event buffers ids [first, first + n), 8 bytes each, notified. */
static void post_event_buffers(struct device *d, unsigned first, unsigned n)
{
    for (unsigned i = first; i < first + n; i++) {
        memset(vd_at(&guest, EVT_BUF + 8u * i), 0xee, 8);
        vd_put_desc(&guest, &q0, i % EVT_QSIZE, EVT_BUF + 8u * i, 8, VIRTQ_DESC_F_WRITE, 0);
        vd_offer(&guest, &q0, (uint16_t)(i % EVT_QSIZE));
    }
    vd_write(d, VD_QUEUE_NOTIFY, VIRTIO_INPUT_EVENTQ);
}

static void check_event(uint16_t used, uint16_t type, uint16_t code, uint32_t value)
{
    uint32_t id, len;
    vd_used_elem(&guest, &q0, used, &id, &len);
    ck_assert_uint_eq(len, 8);
    uint8_t want[8];
    memcpy(want, &type, 2);
    memcpy(want + 2, &code, 2);
    memcpy(want + 4, &value, 4);
    ck_assert_mem_eq(vd_at(&guest, EVT_BUF + 8u * id), want, 8);
}

static void led_status(struct device *d, uint16_t code, uint32_t value)
{
    uint16_t type = EVDEV_EV_LED;
    uint8_t *p = vd_at(&guest, STS_BUF);
    memcpy(p, &type, 2);
    memcpy(p + 2, &code, 2);
    memcpy(p + 4, &value, 4);
    vd_put_desc(&guest, &q1, 0, STS_BUF, 8, 0, 0);
    vd_offer(&guest, &q1, 0);
    vd_write(d, VD_QUEUE_NOTIFY, VIRTIO_INPUT_STATUSQ);
}

/* A keyboard that delivered one key, took a Caps Lock LED, has its config
 * selector on EV_BITS/EV_KEY, and holds two sequences for want of buffers. */
static void keyboard_saved(void)
{
    dev = new_input(VIRTIO_INPUT_KEYBOARD);
    vd_negotiate(dev, VERSION_1);
    q0 = vd_queue_at(Q0, EVT_QSIZE);
    q1 = vd_queue_at(Q1, EVT_QSIZE);
    vd_enable_queue(dev, VIRTIO_INPUT_EVENTQ, &q0);
    vd_enable_queue(dev, VIRTIO_INPUT_STATUSQ, &q1);
    vd_driver_ok(dev);
    post_event_buffers(dev, 0, 2);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_A, true), 0);
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), 2);
    led_status(dev, EVDEV_LED_CAPSL, 1);
    ck_assert_uint_eq(virtio_input_leds(dev), 1u << EVDEV_LED_CAPSL);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_ESC, true), 0);
    ck_assert_int_eq(virtio_input_key(dev, EVDEV_KEY_ESC, false), 0);
    dev->ops->write(dev, VD_CONFIG + VIRTIO_INPUT_CFG_OFF_SELECT, 1, VIRTIO_INPUT_CFG_EV_BITS);
    dev->ops->write(dev, VD_CONFIG + VIRTIO_INPUT_CFG_OFF_SUBSEL, 1, EVDEV_EV_KEY);
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
}

static struct virtio_input_state input_state;

static void decode_input(const struct virtio_mmio_state *st, struct virtio_input_state *out)
{
    ck_assert_msg(virtio_input_state_decode(st->device.data, st->device.len, out, err,
                                            sizeof(err)) == 0, "%s", err);
}

START_TEST(test_input_state_fields)
{
    keyboard_saved();
    const struct virtio_input_state *s = &input_state;
    decode_input(&saved, &input_state);
    ck_assert_uint_eq(saved.device_id, VIRTIO_ID_INPUT);
    ck_assert_uint_eq(s->kind, VIRTIO_INPUT_KEYBOARD);
    ck_assert_uint_eq(s->select, VIRTIO_INPUT_CFG_EV_BITS);
    ck_assert_uint_eq(s->subsel, EVDEV_EV_KEY);
    ck_assert_uint_eq(s->leds, 1u << EVDEV_LED_CAPSL);
    ck_assert_uint_eq(s->num_sequences, 2);
    ck_assert_uint_eq(s->lengths[0], 2);
    ck_assert_uint_eq(s->lengths[1], 2);
    ck_assert_uint_eq(s->num_events, 4);
    ck_assert_uint_eq(s->events[0].code, EVDEV_KEY_ESC);
    ck_assert_int_eq(s->events[0].value, 1);
    ck_assert_uint_eq(s->events[1].type, EVDEV_EV_SYN);
    ck_assert_int_eq(s->events[2].value, 0);
    ck_assert_uint_eq(saved.queues[VIRTIO_INPUT_EVENTQ].used_idx, 2);
    ck_assert_uint_eq(saved.queues[VIRTIO_INPUT_STATUSQ].used_idx, 1);
}
END_TEST

START_TEST(test_input_round_trip)
{
    keyboard_saved();
    dev2 = new_input(VIRTIO_INPUT_KEYBOARD);
    load_and_compare(dev2);
    check_same_registers(dev, dev2, 2);
    for (unsigned i = 0; i < VIRTIO_INPUT_CFG_BYTES; i++)
        ck_assert_uint_eq(vd_config_byte(dev2, i), vd_config_byte(dev, i));
    ck_assert_uint_eq(vd_config_byte(dev2, VIRTIO_INPUT_CFG_OFF_SIZE),
                      vd_config_byte(dev, VIRTIO_INPUT_CFG_OFF_SIZE));
    ck_assert_uint_ne(vd_config_byte(dev2, VIRTIO_INPUT_CFG_OFF_SIZE), 0);
    ck_assert_uint_eq(virtio_input_leds(dev2), 1u << EVDEV_LED_CAPSL);
    int edges = vd_edges(&guest);
    post_event_buffers(dev2, 2, 4); /* the waiting sequences go out, in order */
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), 6);
    check_event(2, EVDEV_EV_KEY, EVDEV_KEY_ESC, 1);
    check_event(3, EVDEV_EV_SYN, EVDEV_SYN_REPORT, 0);
    check_event(4, EVDEV_EV_KEY, EVDEV_KEY_ESC, 0);
    check_event(5, EVDEV_EV_SYN, EVDEV_SYN_REPORT, 0);
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
    led_status(dev2, EVDEV_LED_CAPSL, 0); /* the status queue continues too */
    ck_assert_uint_eq(vd_used_idx(&guest, &q1), 2);
    ck_assert_uint_eq(virtio_input_leds(dev2), 0);
}
END_TEST

static void input_tablet_kind(struct virtio_input_state *s) { s->kind = VIRTIO_INPUT_TABLET; }
static void input_unknown_kind(struct virtio_input_state *s) { s->kind = 7; }
static void input_led_not_advertised(struct virtio_input_state *s) { s->leds |= 1u << 5; }
/* Counts past the arrays do not decode at all (test_device_state.c). */
static void input_sequence_without_event(struct virtio_input_state *s) { s->lengths[0] = 1; }
static void input_sequence_too_long(struct virtio_input_state *s)
{
    s->lengths[0] = VIRTIO_INPUT_MAX_SEQUENCE + 2;
    s->num_events = VIRTIO_INPUT_MAX_SEQUENCE + 4;
}
static void input_lengths_short_of_events(struct virtio_input_state *s) { s->num_events = 5; }
static void input_lengths_past_events(struct virtio_input_state *s) { s->num_events = 3; }
static void input_bad_key_value(struct virtio_input_state *s) { s->events[0].value = 2; }
static void input_key_not_advertised(struct virtio_input_state *s) { s->events[0].code = 84; }
static void input_no_syn_report(struct virtio_input_state *s) { s->events[1] = s->events[0]; }
static void input_syn_with_value(struct virtio_input_state *s) { s->events[3].value = 1; }

static void (*const BAD_INPUT[])(struct virtio_input_state *) = {
    input_tablet_kind, input_unknown_kind, input_led_not_advertised, input_sequence_without_event,
    input_sequence_too_long, input_lengths_short_of_events, input_lengths_past_events,
    input_bad_key_value, input_key_not_advertised, input_no_syn_report, input_syn_with_value,
};

START_TEST(test_input_bad_fields)
{
    keyboard_saved();
    dev2 = new_input(VIRTIO_INPUT_KEYBOARD);
    for (size_t i = 0; i < sizeof(BAD_INPUT) / sizeof(BAD_INPUT[0]); i++) {
        struct virtio_mmio_state bad = saved;
        decode_input(&saved, &input_state);
        BAD_INPUT[i](&input_state);
        ck_assert_int_eq(virtio_input_state_encode(&input_state, &bad.device), 0);
        char what[32];
        snprintf(what, sizeof(what), "input field %zu", i);
        check_refused(dev2, &bad, what);
        ck_assert_msg(strstr(err, "LEDs or waiting input") || strstr(err, "of kind"),
                      "%s: %s", what, err);
        virtio_mmio_state_free(&bad);
    }
    ck_assert_uint_eq(virtio_input_leds(dev2), 1u << EVDEV_LED_CAPSL);
    destroy(&dev2);
    dev2 = new_input(VIRTIO_INPUT_TABLET); /* a keyboard's state into a tablet */
    ck_assert_int_eq(virtio_mmio_load(dev2, &saved, err, sizeof(err)), -EINVAL);
    ck_assert_uint_eq(vd_read(dev2, VD_STATUS), 0);
}
END_TEST

/* ---- virtio-gpu: the transport with the gpu's own part inside ------------------------------- */

#define GPU_QSIZE 8
#define GPU_REQ (BUF + 0xc000)
#define GPU_RESP (BUF + 0xd000)

static struct device *new_gpu(void)
{
    struct device *d = virtio_gpu_create(BASE, vd_irq(&guest, 52), &guest.ram, NULL);
    ck_assert_ptr_nonnull(d);
    return d;
}

/* GET_DISPLAY_INFO as request i, in descriptors 2k, 2k + 1 (k = i % 4). */
static void get_display_info(struct device *d, unsigned i)
{
    unsigned k = i % 4;
    uint8_t *req = vd_at(&guest, GPU_REQ);
    memset(req, 0, VIRTIO_GPU_HDR_SIZE);
    uint32_t type = VIRTIO_GPU_CMD_GET_DISPLAY_INFO;
    memcpy(req + VIRTIO_GPU_HDR_TYPE, &type, 4);
    memset(vd_at(&guest, GPU_RESP), 0, VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE);
    vd_put_desc(&guest, &q0, 2 * k, GPU_REQ, VIRTIO_GPU_HDR_SIZE, VIRTQ_DESC_F_NEXT,
                (uint16_t)(2 * k + 1));
    vd_put_desc(&guest, &q0, 2 * k + 1, GPU_RESP, VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE,
                VIRTQ_DESC_F_WRITE, 0);
    vd_offer(&guest, &q0, (uint16_t)(2 * k));
    vd_write(d, VD_QUEUE_NOTIFY, VIRTIO_GPU_CONTROLQ);
}

static void check_display_info(unsigned i)
{
    check_used(&q0, (uint16_t)i, 2 * (i % 4), VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE);
    uint32_t type, width;
    memcpy(&type, vd_at(&guest, GPU_RESP + VIRTIO_GPU_HDR_TYPE), 4);
    memcpy(&width, vd_at(&guest, GPU_RESP + VIRTIO_GPU_HDR_SIZE + 8), 4);
    ck_assert_uint_eq(type, VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    ck_assert_uint_eq(width, VIRTIO_GPU_DEFAULT_WIDTH);
}

START_TEST(test_gpu_transport_round_trip)
{
    dev = new_gpu();
    vd_negotiate(dev, VERSION_1 | EVENT_IDX);
    q0 = vd_queue_at(Q0, GPU_QSIZE);
    q1 = vd_queue_at(Q1, GPU_QSIZE);
    vd_enable_queue(dev, VIRTIO_GPU_CONTROLQ, &q0);
    vd_enable_queue(dev, VIRTIO_GPU_CURSORQ, &q1);
    vd_driver_ok(dev);
    for (unsigned i = 0; i < 3; i++) {
        get_display_info(dev, i);
        check_display_info(i);
    }
    ck_assert_int_eq(virtio_mmio_save(dev, &saved), 0);
    ck_assert_uint_eq(saved.device_id, VIRTIO_ID_GPU);
    ck_assert_uint_eq(saved.queues[VIRTIO_GPU_CONTROLQ].used_idx, 3);
    ck_assert_uint_gt(saved.device.len, 0); /* the gpu's own part: its scanout */

    dev2 = new_gpu();
    load_and_compare(dev2);
    check_same_registers(dev, dev2, 2);
    vd_set_used_event(&guest, &q0, 3);
    int edges = vd_edges(&guest);
    get_display_info(dev2, 3);
    ck_assert_uint_eq(vd_used_idx(&guest, &q0), 4);
    check_display_info(3);
    ck_assert_int_eq(vd_edges(&guest), edges + 1);
}
END_TEST

static Suite *state_suite(void)
{
    Suite *s = suite_create("virtio_mmio_state");
    TCase *transport = tcase_create("transport");
    tcase_add_checked_fixture(transport, setup, teardown);
    tcase_add_test(transport, test_rng_state_fields);
    tcase_add_test(transport, test_rng_round_trip);
    tcase_add_test(transport, test_rng_event_idx_round_trip);
    tcase_add_test(transport, test_held_back_interrupt_caught_after_restore);
    tcase_add_test(transport, test_config_generation_and_interrupts_kept);
    tcase_add_test(transport, test_half_set_up_round_trip);
    tcase_add_test(transport, test_transport_bad_fields);
    suite_add_tcase(s, transport);
    TCase *blk = tcase_create("virtio_blk");
    tcase_add_checked_fixture(blk, blk_setup, blk_teardown);
    tcase_add_test(blk, test_blk_round_trip);
    tcase_add_test(blk, test_blk_save_waits_for_requests);
    suite_add_tcase(s, blk);
    TCase *console = tcase_create("virtio_console");
    tcase_add_checked_fixture(console, console_setup, console_teardown);
    tcase_add_test(console, test_console_round_trip);
    suite_add_tcase(s, console);
    TCase *input = tcase_create("virtio_input");
    tcase_add_checked_fixture(input, setup, teardown);
    tcase_add_test(input, test_input_state_fields);
    tcase_add_test(input, test_input_round_trip);
    tcase_add_test(input, test_input_bad_fields);
    suite_add_tcase(s, input);
    TCase *gpu = tcase_create("virtio_gpu");
    tcase_add_checked_fixture(gpu, setup, teardown);
    tcase_add_test(gpu, test_gpu_transport_round_trip);
    suite_add_tcase(s, gpu);
    return s;
}

int main(void)
{
    return run_suite(state_suite());
}
