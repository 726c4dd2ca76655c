/* virtio-blk requests as Linux sends them and as a hostile guest might: reads,
 * writes, flush, get-id, discard and write-zeroes; sectors past the end (with
 * overflow), partial sectors, a read-only disk, unknown types, bad flags, no
 * room for a status. And the whole device through the transport: config
 * space, a request served by the I/O thread, its interrupt, and reset. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_mmio.h"
#include "linux_virtio_blk.h"
#include "paths.h"
#include "unit.h"

#define DISK_BYTES (64u * 1024u)
#define SECTORS (DISK_BYTES / 512u)

static char dir[64], base_path[128];
static struct disk *disk;
static uint8_t header[16], data[8192], status, tail[64];
static struct virtq_chain chain;

static struct disk *open_test_disk(bool read_only)
{
    struct disk_spec spec = {.path = base_path, .read_only = read_only,
                             .cow = DISK_COW_OVERLAY, .serial = "unit-serial"};
    char err[512] = "";
    struct disk *d = disk_open(&spec, dir, 0, err, sizeof(err));
    ck_assert_msg(d != NULL, "%s", err);
    return d;
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-blk-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(base_path, sizeof(base_path), "%s/base.img", dir);
    static uint8_t image[DISK_BYTES];
    for (size_t i = 0; i < sizeof(image); i++)
        image[i] = (uint8_t)(i / 512); /* each sector holds its own number */
    int fd = open(base_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert_int_eq(write(fd, image, sizeof(image)), (ssize_t)sizeof(image));
    close(fd);
    disk = open_test_disk(false);
}

static void teardown(void)
{
    disk_close(disk);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- building chains ----------------------------------------------------------------- */

static void put_header(uint32_t type, uint64_t sector)
{
    memset(header, 0, sizeof(header));
    memcpy(header, &type, 4);
    memcpy(header + 8, &sector, 8);
}

static void add(void *host, uint32_t len, bool writable)
{
    chain.segments[chain.num_segments++] =
        (struct virtq_segment){.host = host, .len = len, .device_writable = writable};
    if (writable)
        chain.writable_len += len;
    else
        chain.readable_len += len;
}

/* header, then data in the given direction, then the status byte */
static void request(uint32_t type, uint64_t sector, uint32_t data_len, bool data_writable)
{
    memset(&chain, 0, sizeof(chain));
    put_header(type, sector);
    add(header, sizeof(header), false);
    if (data_len)
        add(data, data_len, data_writable);
    status = 0xee;
    add(&status, 1, true);
}

static int handle(void)
{
    return virtio_blk_handle(disk, &chain);
}

/* ---- requests -------------------------------------------------------------------------- */

START_TEST(test_read_sectors)
{
    request(VIRTIO_BLK_T_IN, 3, 1024, true);
    ck_assert_int_eq(handle(), 1025);
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(data[0], 3);
    ck_assert_uint_eq(data[1023], 4);
}
END_TEST

START_TEST(test_write_then_read_back)
{
    request(VIRTIO_BLK_T_OUT, 10, 512, false);
    memset(data, 0x77, 512);
    ck_assert_int_eq(handle(), 1); /* only the status is written for OUT */
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);
    request(VIRTIO_BLK_T_IN, 10, 512, true);
    memset(data, 0, 512);
    ck_assert_int_eq(handle(), 513);
    ck_assert_uint_eq(data[0], 0x77);
    ck_assert_uint_eq(data[511], 0x77);
}
END_TEST

/* A driver may split the header and data anywhere (§2.6.4): one readable
 * segment holding header and data, data in several odd-sized pieces. */
START_TEST(test_framing_is_free)
{
    static uint8_t combined[16 + 512];
    memset(&chain, 0, sizeof(chain));
    uint32_t type = VIRTIO_BLK_T_OUT;
    uint64_t sector = 20;
    memset(combined, 0, sizeof(combined));
    memcpy(combined, &type, 4);
    memcpy(combined + 8, &sector, 8);
    memset(combined + 16, 0x42, 512);
    add(combined, 10, false);
    add(combined + 10, sizeof(combined) - 10, false);
    add(&status, 1, true);
    ck_assert_int_eq(handle(), 1);
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);

    memset(&chain, 0, sizeof(chain));
    put_header(VIRTIO_BLK_T_IN, 20);
    add(header, 16, false);
    add(data, 100, true);
    add(data + 100, 412, true);
    add(&status, 1, true);
    memset(data, 0, 512);
    ck_assert_int_eq(handle(), 513);
    ck_assert_uint_eq(data[0], 0x42);
    ck_assert_uint_eq(data[511], 0x42);
}
END_TEST

START_TEST(test_out_of_range_sectors)
{
    request(VIRTIO_BLK_T_IN, SECTORS - 1, 1024, true); /* one past the end */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
    request(VIRTIO_BLK_T_OUT, UINT64_MAX, 512, false); /* sector * 512 overflows */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
    request(VIRTIO_BLK_T_IN, SECTORS - 1, 512, true); /* the last sector is fine */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_partial_sector_refused)
{
    request(VIRTIO_BLK_T_IN, 0, 100, true);
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
    request(VIRTIO_BLK_T_OUT, 0, 513, false);
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
}
END_TEST

START_TEST(test_read_only_disk_write_is_ioerr)
{
    disk_close(disk);
    disk = open_test_disk(true);
    request(VIRTIO_BLK_T_OUT, 0, 512, false);
    ck_assert_int_eq(handle(), 1);
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
    request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false);
    memset(data, 0, 16);
    data[8] = 1; /* one sector */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
    request(VIRTIO_BLK_T_IN, 0, 512, true);
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_flush)
{
    request(VIRTIO_BLK_T_FLUSH, 0, 0, false);
    ck_assert_int_eq(handle(), 1);
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);
}
END_TEST

START_TEST(test_get_id)
{
    request(VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES, true);
    memset(data, 0xff, 32);
    ck_assert_int_eq(handle(), VIRTIO_BLK_ID_BYTES + 1);
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);
    ck_assert(memcmp(data, "unit-serial\0\0\0\0\0\0\0\0\0", VIRTIO_BLK_ID_BYTES) == 0);
    ck_assert_uint_eq(data[VIRTIO_BLK_ID_BYTES], 0xff); /* nothing past the id */
    request(VIRTIO_BLK_T_GET_ID, 0, 4, true); /* a short buffer gets what fits */
    ck_assert_int_eq(handle(), 5);
    ck_assert(memcmp(data, "unit", 4) == 0);
}
END_TEST

static void put_range(unsigned i, uint64_t sector, uint32_t count, uint32_t flags)
{
    memcpy(data + 16 * i, &sector, 8);
    memcpy(data + 16 * i + 8, &count, 4);
    memcpy(data + 16 * i + 12, &flags, 4);
}

START_TEST(test_write_zeroes_and_discard)
{
    request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 32, false);
    put_range(0, 1, 2, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
    put_range(1, 8, 1, 0);
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);
    request(VIRTIO_BLK_T_DISCARD, 0, 16, false);
    put_range(0, 100, 4, 0);
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_OK);
    request(VIRTIO_BLK_T_IN, 0, 4096, true);
    handle();
    ck_assert_uint_eq(data[0], 0);   /* sector 0 untouched */
    ck_assert_uint_eq(data[512], 0); /* sector 1 zeroed (it was 1) */
    ck_assert_uint_eq(data[1024], 0);
    ck_assert_uint_eq(data[1536], 3);
    request(VIRTIO_BLK_T_IN, 100, 512, true);
    handle();
    ck_assert_uint_eq(data[0], 0); /* discarded sectors read as zeroes here */
}
END_TEST

START_TEST(test_discard_checks)
{
    request(VIRTIO_BLK_T_DISCARD, 0, 16, false);
    put_range(0, 0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP); /* unmap: write-zeroes only */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_UNSUPP);
    request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false);
    put_range(0, 0, 1, 0x80); /* a reserved flag */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_UNSUPP);
    request(VIRTIO_BLK_T_DISCARD, 0, 12, false); /* not whole ranges */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_UNSUPP);
    request(VIRTIO_BLK_T_DISCARD, 0, 0, false); /* no range at all */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_UNSUPP);
    request(VIRTIO_BLK_T_DISCARD, 0, 16, false);
    put_range(0, SECTORS - 1, 2, 0); /* past the end */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
    request(VIRTIO_BLK_T_DISCARD, 0, 16, false);
    put_range(0, UINT64_MAX - 1, 4, 0); /* wraps */
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
    request(VIRTIO_BLK_T_DISCARD, 0, 16 * 33, false); /* more ranges than advertised */
    memset(data, 0, 16 * 33);
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_UNSUPP);
}
END_TEST

START_TEST(test_unknown_type_unsupported)
{
    request(99, 0, 0, false);
    ck_assert_int_eq(handle(), 1);
    ck_assert_uint_eq(status, VIRTIO_BLK_S_UNSUPP);
}
END_TEST

START_TEST(test_short_header_is_ioerr)
{
    memset(&chain, 0, sizeof(chain));
    add(header, 8, false);
    add(&status, 1, true);
    handle();
    ck_assert_uint_eq(status, VIRTIO_BLK_S_IOERR);
}
END_TEST

START_TEST(test_no_status_byte)
{
    memset(&chain, 0, sizeof(chain));
    put_header(VIRTIO_BLK_T_IN, 0);
    add(header, 16, false);
    ck_assert_int_eq(handle(), -1);
    add(tail, 0, true); /* a zero-length writable segment is no room either */
    ck_assert_int_eq(handle(), -1);
}
END_TEST

/* ---- the device through the transport ----------------------------------------------- */

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x40000u
#define DESC (RAM_GPA + 0x1000)
#define AVAIL (RAM_GPA + 0x2000)
#define USED (RAM_GPA + 0x3000)
#define BUF (RAM_GPA + 0x10000)

enum { DEV_FEATURES = 0x010, DEV_FEATURES_SEL = 0x014, DRV_FEATURES = 0x020,
       DRV_FEATURES_SEL = 0x024, QUEUE_SEL = 0x030, QUEUE_NUM = 0x038, QUEUE_READY = 0x044,
       QUEUE_NOTIFY = 0x050, STATUS = 0x070, DESC_LOW = 0x080, DRIVER_LOW = 0x090,
       DEVICE_LOW = 0x0a0, CONFIG = 0x100 };

static uint8_t *mem;
static struct guest_ram ram;
static struct device *dev;
static int edges;

static void on_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid;
    if (level)
        __atomic_add_fetch(&edges, 1, __ATOMIC_SEQ_CST);
}

static uint8_t *at(uint64_t gpa) { return mem + (gpa - RAM_GPA); }
static uint64_t rd(uint64_t off, unsigned size) { return dev->ops->read(dev, off, size); }
static void wr(uint64_t off, uint64_t v) { dev->ops->write(dev, off, 4, v); }

static void device_setup(void)
{
    setup();
    mem = calloc(1, RAM_SIZE);
    ram = (struct guest_ram){.gpa = RAM_GPA, .size = RAM_SIZE, .host = mem};
    edges = 0;
    dev = virtio_blk_create(0x0a000000, (struct irq_line){.set = on_irq, .intid = 50}, &ram,
                            disk);
    ck_assert_ptr_nonnull(dev);
    disk = NULL; /* the device owns it now */
}

static void device_teardown(void)
{
    dev->ops->destroy(dev);
    free(mem);
    teardown();
}

static void driver_init(void)
{
    uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BLK_F_FLUSH;
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(DRV_FEATURES_SEL, 0);
    wr(DRV_FEATURES, (uint32_t)f);
    wr(DRV_FEATURES_SEL, 1);
    wr(DRV_FEATURES, (uint32_t)(f >> 32));
    wr(STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    wr(QUEUE_SEL, 0);
    wr(QUEUE_NUM, 8);
    wr(DESC_LOW, (uint32_t)DESC);
    wr(DRIVER_LOW, (uint32_t)AVAIL);
    wr(DEVICE_LOW, (uint32_t)USED);
    wr(QUEUE_READY, 1);
    wr(STATUS, rd(STATUS, 4) | VIRTIO_STATUS_DRIVER_OK);
}

static void put_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = at(DESC + 16ull * i);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

static uint16_t used_idx(void)
{
    return __atomic_load_n((uint16_t *)at(USED + 2), __ATOMIC_ACQUIRE);
}

static bool wait_used(uint16_t want)
{
    for (int i = 0; i < 2000 && used_idx() != want; i++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    return used_idx() == want;
}

START_TEST(test_config_space)
{
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_BLK_CFG_CAPACITY, 4), SECTORS);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_BLK_CFG_CAPACITY + 4, 4), 0);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_BLK_CFG_BLK_SIZE, 4), 512);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_BLK_CFG_SEG_MAX, 4), 254);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP, 1), 3);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP, 1), 1);
    ck_assert_uint_eq(rd(CONFIG + VIRTIO_BLK_CFG_SIZE, 1), 0); /* past the end */
    wr(DEV_FEATURES_SEL, 0);
    uint32_t f = (uint32_t)rd(DEV_FEATURES, 4);
    ck_assert(f & (1u << VIRTIO_BLK_F_FLUSH));
    ck_assert(f & (1u << VIRTIO_BLK_F_DISCARD));
    ck_assert(!(f & (1u << VIRTIO_BLK_F_RO)));
}
END_TEST

/* One read request end to end: served on the I/O thread, used ring updated,
 * an interrupt raised. */
START_TEST(test_request_through_queue)
{
    driver_init();
    uint32_t type = VIRTIO_BLK_T_IN;
    uint64_t sector = 5;
    memcpy(at(BUF), &type, 4);
    memcpy(at(BUF + 8), &sector, 8);
    *at(BUF + 0x1000) = 0xee;
    put_desc(0, BUF, 16, 1 /* NEXT */, 1);
    put_desc(1, BUF + 0x100, 512, 1 | 2 /* NEXT, WRITE */, 2);
    put_desc(2, BUF + 0x1000, 1, 2, 0);
    uint16_t one = 1, zero = 0;
    memcpy(at(AVAIL + 4), &zero, 2);
    __atomic_store_n((uint16_t *)at(AVAIL + 2), one, __ATOMIC_RELEASE);
    wr(QUEUE_NOTIFY, 0);
    ck_assert(wait_used(1));
    ck_assert_uint_eq(*at(BUF + 0x1000), VIRTIO_BLK_S_OK);
    ck_assert_uint_eq(*at(BUF + 0x100), 5);
    uint32_t written;
    memcpy(&written, at(USED + 4 + 4), 4);
    ck_assert_uint_eq(written, 513);
    ck_assert_int_ge(__atomic_load_n(&edges, __ATOMIC_SEQ_CST), 1);
    wr(STATUS, 0); /* reset with the I/O thread idle */
    ck_assert_uint_eq(rd(STATUS, 4), 0);
}
END_TEST

/* A request whose chain has no room for a status breaks the device. */
START_TEST(test_chain_without_status_needs_reset)
{
    driver_init();
    uint32_t type = VIRTIO_BLK_T_IN;
    memcpy(at(BUF), &type, 4);
    put_desc(0, BUF, 16, 0, 0);
    uint16_t one = 1;
    __atomic_store_n((uint16_t *)at(AVAIL + 2), one, __ATOMIC_RELEASE);
    wr(QUEUE_NOTIFY, 0);
    for (int i = 0; i < 2000 && !(rd(STATUS, 4) & VIRTIO_STATUS_DEVICE_NEEDS_RESET); i++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    ck_assert(rd(STATUS, 4) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}
END_TEST

START_TEST(test_constants_match_linux)
{
    const struct linux_virtio_blk *l = &linux_virtio_blk;
    ck_assert_int_eq(VIRTIO_ID_BLOCK, l->id_block);
    ck_assert_int_eq(VIRTIO_BLK_T_IN, l->t_in);
    ck_assert_int_eq(VIRTIO_BLK_T_OUT, l->t_out);
    ck_assert_int_eq(VIRTIO_BLK_T_FLUSH, l->t_flush);
    ck_assert_int_eq(VIRTIO_BLK_T_GET_ID, l->t_get_id);
    ck_assert_int_eq(VIRTIO_BLK_T_DISCARD, l->t_discard);
    ck_assert_int_eq(VIRTIO_BLK_T_WRITE_ZEROES, l->t_write_zeroes);
    ck_assert_int_eq(VIRTIO_BLK_S_OK, l->s_ok);
    ck_assert_int_eq(VIRTIO_BLK_S_IOERR, l->s_ioerr);
    ck_assert_int_eq(VIRTIO_BLK_S_UNSUPP, l->s_unsupp);
    ck_assert_int_eq(VIRTIO_BLK_ID_BYTES, l->id_bytes);
    ck_assert_int_eq(VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, l->write_zeroes_flag_unmap);
    ck_assert_int_eq(VIRTIO_BLK_DWZ_SEGMENT_SIZE, l->dwz_segment_size);
    ck_assert_int_eq(VIRTIO_BLK_REQ_HEADER_SIZE, l->outhdr_size);
    ck_assert_int_eq(VIRTIO_BLK_F_SIZE_MAX, l->f_size_max);
    ck_assert_int_eq(VIRTIO_BLK_F_SEG_MAX, l->f_seg_max);
    ck_assert_int_eq(VIRTIO_BLK_F_GEOMETRY, l->f_geometry);
    ck_assert_int_eq(VIRTIO_BLK_F_RO, l->f_ro);
    ck_assert_int_eq(VIRTIO_BLK_F_BLK_SIZE, l->f_blk_size);
    ck_assert_int_eq(VIRTIO_BLK_F_FLUSH, l->f_flush);
    ck_assert_int_eq(VIRTIO_BLK_F_TOPOLOGY, l->f_topology);
    ck_assert_int_eq(VIRTIO_BLK_F_CONFIG_WCE, l->f_config_wce);
    ck_assert_int_eq(VIRTIO_BLK_F_MQ, l->f_mq);
    ck_assert_int_eq(VIRTIO_BLK_F_DISCARD, l->f_discard);
    ck_assert_int_eq(VIRTIO_BLK_F_WRITE_ZEROES, l->f_write_zeroes);
    ck_assert_int_eq(VIRTIO_BLK_CFG_CAPACITY, l->cfg_capacity);
    ck_assert_int_eq(VIRTIO_BLK_CFG_SEG_MAX, l->cfg_seg_max);
    ck_assert_int_eq(VIRTIO_BLK_CFG_BLK_SIZE, l->cfg_blk_size);
    ck_assert_int_eq(VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP, l->cfg_physical_block_exp);
    ck_assert_int_eq(VIRTIO_BLK_CFG_MIN_IO_SIZE, l->cfg_min_io_size);
    ck_assert_int_eq(VIRTIO_BLK_CFG_NUM_QUEUES, l->cfg_num_queues);
    ck_assert_int_eq(VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS, l->cfg_max_discard_sectors);
    ck_assert_int_eq(VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT, l->cfg_discard_sector_alignment);
    ck_assert_int_eq(VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG, l->cfg_max_write_zeroes_seg);
    ck_assert_int_eq(VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP, l->cfg_write_zeroes_may_unmap);
}
END_TEST

static Suite *blk_suite(void)
{
    Suite *s = suite_create("virtio_blk");
    TCase *req = tcase_create("requests");
    tcase_add_checked_fixture(req, setup, teardown);
    tcase_add_test(req, test_read_sectors);
    tcase_add_test(req, test_write_then_read_back);
    tcase_add_test(req, test_framing_is_free);
    tcase_add_test(req, test_out_of_range_sectors);
    tcase_add_test(req, test_partial_sector_refused);
    tcase_add_test(req, test_read_only_disk_write_is_ioerr);
    tcase_add_test(req, test_flush);
    tcase_add_test(req, test_get_id);
    tcase_add_test(req, test_write_zeroes_and_discard);
    tcase_add_test(req, test_discard_checks);
    tcase_add_test(req, test_unknown_type_unsupported);
    tcase_add_test(req, test_short_header_is_ioerr);
    tcase_add_test(req, test_no_status_byte);
    tcase_add_test(req, test_constants_match_linux);
    suite_add_tcase(s, req);
    TCase *device = tcase_create("device");
    tcase_add_checked_fixture(device, device_setup, device_teardown);
    tcase_add_test(device, test_config_space);
    tcase_add_test(device, test_request_through_queue);
    tcase_add_test(device, test_chain_without_status_needs_reset);
    suite_add_tcase(s, device);
    return s;
}

int main(void)
{
    return run_suite(blk_suite());
}
