/* The vmgenid device as Linux's vmgenid driver uses it: the 16-byte id copied out
 * of the window with loads of any size at any offset, and an edge on the
 * interrupt whenever the id changes. Randomness is injected: a counter, so every
 * new id is known. */
#include <check.h>
#include <libfdt.h>
#include <string.h>
#include <unistd.h>

#include "devices/vmgenid.h"
#include "unit.h"

#define GENID_BASE 0x09020000ull
#define GENID_INTID 35

static uint8_t next_byte; /* the fake random source: 0, 1, 2, ... */
static unsigned rising_edges, falling_edges;
static bool line_level;
static struct device *genid;

static void counting_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = next_byte++;
}

static void record_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque;
    ck_assert_uint_eq(intid, GENID_INTID);
    if (level && !line_level)
        rising_edges++;
    if (!level && line_level)
        falling_edges++;
    line_level = level;
}

static void setup(void)
{
    next_byte = 0;
    rising_edges = falling_edges = 0;
    line_level = false;
    struct irq_line irq = {.set = record_irq, .intid = GENID_INTID};
    genid = vmgenid_create(GENID_BASE, irq, counting_random);
    ck_assert_ptr_nonnull(genid);
}

static void teardown(void)
{
    genid->ops->destroy(genid);
}

static uint64_t rd(uint64_t off, unsigned size)
{
    return genid->ops->read(genid, off, size);
}

/* The id as the guest copies it: 8-byte loads, as its memcpy does. */
static void guest_id(uint8_t id[VMGENID_ID_LEN])
{
    for (unsigned i = 0; i < VMGENID_ID_LEN; i += 8) {
        uint64_t v = rd(i, 8);
        for (unsigned b = 0; b < 8; b++)
            id[i + b] = (uint8_t)(v >> (8 * b));
    }
}

START_TEST(test_window)
{
    ck_assert_uint_eq(genid->base, GENID_BASE);
    /* 4K, or the host's page where that is larger (it is mapped as memory). */
    long page = sysconf(_SC_PAGESIZE);
    ck_assert_uint_eq(genid->size, page > 0x1000 ? (uint64_t)page : 0x1000);
    ck_assert_str_eq(genid->ops->name, "vmgenid");
}
END_TEST

/* What kvm maps for the guest's loads holds what the registers read: the id,
 * then zeros to the window's end, and a new generation's id at once. */
START_TEST(test_guest_memory_is_the_window)
{
    const uint8_t *page = genid->ops->guest_memory(genid);
    ck_assert_ptr_nonnull(page);
    ck_assert_uint_eq((uintptr_t)page % 4096, 0);
    uint8_t id[VMGENID_ID_LEN];
    guest_id(id);
    ck_assert_mem_eq(page, id, VMGENID_ID_LEN);
    for (uint64_t i = VMGENID_ID_LEN; i < genid->size; i++)
        ck_assert_uint_eq(page[i], 0);
    vmgenid_new_generation(genid);
    guest_id(id);
    ck_assert_mem_eq(page, id, VMGENID_ID_LEN);
    genid->ops->write(genid, 0, 8, ~0ull); /* the guest cannot change it */
    ck_assert_mem_eq(page, id, VMGENID_ID_LEN);
}
END_TEST

START_TEST(test_id_is_random_at_creation)
{
    static const uint8_t want[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    uint8_t id[VMGENID_ID_LEN];
    guest_id(id);
    ck_assert_mem_eq(id, want, sizeof(want));
    ck_assert_uint_eq(rising_edges, 0); /* nothing to tell a guest that has not looked */
}
END_TEST

/* Every offset and size within the id reads its bytes little-endian, including
 * unaligned loads and those that run past its end (the tail reads as zeros). */
START_TEST(test_every_offset_and_size)
{
    static const unsigned sizes[] = {1, 2, 4, 8};
    for (unsigned s = 0; s < 4; s++) {
        for (uint64_t off = 0; off < VMGENID_ID_LEN; off++) {
            uint64_t want = 0;
            for (unsigned b = 0; b < sizes[s] && off + b < VMGENID_ID_LEN; b++)
                want |= (off + b) << (8 * b);
            ck_assert_msg(rd(off, sizes[s]) == want, "offset %llu size %u",
                          (unsigned long long)off, sizes[s]);
        }
    }
    ck_assert_uint_eq(rd(12, 8), 0x0f0e0d0cull);
}
END_TEST

START_TEST(test_past_the_id_reads_zero)
{
    ck_assert_uint_eq(rd(16, 8), 0);
    ck_assert_uint_eq(rd(0x20, 4), 0);
    ck_assert_uint_eq(rd(0xff8, 8), 0);
    ck_assert_uint_eq(rd(0xfff, 1), 0);
    ck_assert_uint_eq(rd(UINT64_MAX, 8), 0); /* no offset + size wraps into the id */
    ck_assert_uint_eq(rd(UINT64_MAX - 3, 8), 0);
}
END_TEST

START_TEST(test_writes_are_ignored)
{
    genid->ops->write(genid, 0, 8, 0xdeadbeefdeadbeefull);
    genid->ops->write(genid, 8, 4, 0);
    genid->ops->write(genid, 15, 1, 0xff);
    genid->ops->write(genid, 0x800, 8, 1);
    ck_assert_uint_eq(rd(0, 8), 0x0706050403020100ull);
    ck_assert_uint_eq(rd(8, 8), 0x0f0e0d0c0b0a0908ull);
    ck_assert_uint_eq(rising_edges, 0);
}
END_TEST

START_TEST(test_new_generation_changes_id_and_pulses_irq)
{
    uint8_t before[VMGENID_ID_LEN], after[VMGENID_ID_LEN];
    guest_id(before);
    vmgenid_new_generation(genid);
    guest_id(after);
    ck_assert_uint_eq(after[0], 16);
    ck_assert_uint_eq(after[15], 31);
    ck_assert_mem_ne(before, after, sizeof(after));
    ck_assert_uint_eq(rising_edges, 1);
    ck_assert_uint_eq(falling_edges, 1); /* an edge: the line is low again */
    ck_assert(!line_level);
}
END_TEST

START_TEST(test_save_load_round_trip)
{
    struct vmgenid_state saved;
    ck_assert_int_eq(vmgenid_save(genid, &saved), 0);
    ck_assert_uint_eq(saved.id[0], 0);
    ck_assert_uint_eq(saved.id[15], 15);

    struct irq_line irq = {.set = record_irq, .intid = GENID_INTID};
    struct device *copy = vmgenid_create(GENID_BASE, irq, counting_random);
    ck_assert_uint_eq(copy->ops->read(copy, 0, 1), 16); /* its own id, until loaded */
    ck_assert_int_eq(vmgenid_load(copy, &saved), 0);
    ck_assert_uint_eq(copy->ops->read(copy, 0, 8), 0x0706050403020100ull);
    ck_assert_uint_eq(copy->ops->read(copy, 8, 8), 0x0f0e0d0c0b0a0908ull);
    struct vmgenid_state again;
    vmgenid_save(copy, &again);
    ck_assert_mem_eq(again.id, saved.id, sizeof(saved.id));
    ck_assert_uint_eq(rising_edges, 0); /* loading alone tells the guest nothing */
    copy->ops->destroy(copy);
}
END_TEST

/* Two restores of one snapshot: each ends with an id of its own, neither the
 * snapshot's. */
START_TEST(test_restored_copies_get_distinct_ids)
{
    struct vmgenid_state saved, first, second;
    vmgenid_save(genid, &saved);
    vmgenid_load(genid, &saved);
    vmgenid_new_generation(genid);
    vmgenid_save(genid, &first);
    vmgenid_load(genid, &saved);
    vmgenid_new_generation(genid);
    vmgenid_save(genid, &second);
    ck_assert_mem_ne(first.id, saved.id, sizeof(saved.id));
    ck_assert_mem_ne(second.id, saved.id, sizeof(saved.id));
    ck_assert_mem_ne(first.id, second.id, sizeof(saved.id));
    ck_assert_uint_eq(rising_edges, 2);
}
END_TEST

START_TEST(test_host_random_fills)
{
    uint8_t a[32] = {0}, b[32] = {0};
    vmgenid_host_random(a, sizeof(a));
    vmgenid_host_random(b, sizeof(b));
    ck_assert_mem_ne(a, b, sizeof(a)); /* 2^-256 to fail by chance */
}
END_TEST

/* The node Linux's driver binds to: compatible "microsoft,vmgenid", the window as
 * reg, one edge-triggered SPI. */
START_TEST(test_fdt_node)
{
    static uint8_t fdt[4096];
    const struct fdt_phandles ph = {.gic = 1, .apb_pclk = 2};
    ck_assert_int_eq(fdt_create(fdt, sizeof(fdt)), 0);
    ck_assert_int_eq(fdt_finish_reservemap(fdt), 0);
    ck_assert_int_eq(fdt_begin_node(fdt, ""), 0);
    ck_assert_int_eq(genid->ops->fdt_node(genid, fdt, &ph), 0);
    ck_assert_int_eq(fdt_end_node(fdt), 0);
    ck_assert_int_eq(fdt_finish(fdt), 0);

    int node = fdt_path_offset(fdt, "/vmgenid@9020000");
    ck_assert_int_ge(node, 0);
    int len;
    const char *compatible = fdt_getprop(fdt, node, "compatible", &len);
    ck_assert_ptr_nonnull(compatible);
    ck_assert_int_eq(len, (int)sizeof("microsoft,vmgenid"));
    ck_assert_str_eq(compatible, "microsoft,vmgenid");
    const fdt64_t *reg = fdt_getprop(fdt, node, "reg", &len);
    ck_assert_int_eq(len, 16);
    ck_assert_uint_eq(fdt64_to_cpu(reg[0]), GENID_BASE);
    ck_assert_uint_eq(fdt64_to_cpu(reg[1]), 0x1000);
    const fdt32_t *irq = fdt_getprop(fdt, node, "interrupts", &len);
    ck_assert_int_eq(len, 12);
    ck_assert_uint_eq(fdt32_to_cpu(irq[0]), 0);                /* SPI */
    ck_assert_uint_eq(fdt32_to_cpu(irq[1]), GENID_INTID - 32); /* its number */
    ck_assert_uint_eq(fdt32_to_cpu(irq[2]), 1);                /* rising edge */
}
END_TEST

static Suite *vmgenid_suite(void)
{
    Suite *s = suite_create("vmgenid");
    TCase *regs = tcase_create("registers");
    tcase_add_checked_fixture(regs, setup, teardown);
    tcase_add_test(regs, test_window);
    tcase_add_test(regs, test_guest_memory_is_the_window);
    tcase_add_test(regs, test_id_is_random_at_creation);
    tcase_add_test(regs, test_every_offset_and_size);
    tcase_add_test(regs, test_past_the_id_reads_zero);
    tcase_add_test(regs, test_writes_are_ignored);
    tcase_add_test(regs, test_new_generation_changes_id_and_pulses_irq);
    tcase_add_test(regs, test_host_random_fills);
    tcase_add_test(regs, test_fdt_node);
    suite_add_tcase(s, regs);

    TCase *state = tcase_create("state");
    tcase_add_checked_fixture(state, setup, teardown);
    tcase_add_test(state, test_save_load_round_trip);
    tcase_add_test(state, test_restored_copies_get_distinct_ids);
    suite_add_tcase(s, state);
    return s;
}

int main(void)
{
    return run_suite(vmgenid_suite());
}
