/* The device tree is the guest kernel's only description of the machine: each
 * check here is a property Linux's early boot or a driver probe reads. The tree
 * is built by fdt_build and read back with libfdt, as the kernel's own copy is. */
#include <check.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/devicetree.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "unit.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (512ull << 20)
#define GICD_BASE 0x08000000ull
#define GICR_BASE 0x080a0000ull
#define UART_BASE 0x09000000ull
#define RTC_BASE 0x09010000ull
#define INITRD_START 0x48000000ull
#define INITRD_END 0x48212345ull
#define KASLR_SEED 0x0123456789abcdefull
#define BOOTARGS "console=ttyAMA0 earlycon rdinit=/init"

static uint8_t dtb[FDT_MAX_SIZE];
static struct device *devices[2];
static struct fdt_machine machine;

static void ignore_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid, (void)level;
}

static int64_t fixed_clock(void)
{
    return 0;
}

static void setup(void)
{
    const struct irq_line uart_irq = {.set = ignore_irq, .intid = 32 + 1};
    const struct irq_line rtc_irq = {.set = ignore_irq, .intid = 32 + 2};
    devices[0] = pl011_create(UART_BASE, uart_irq, NULL, NULL);
    devices[1] = pl031_create(RTC_BASE, rtc_irq, fixed_clock);
    ck_assert_ptr_nonnull(devices[0]);
    ck_assert_ptr_nonnull(devices[1]);
    machine = (struct fdt_machine){
        .ram_base = RAM_BASE,
        .ram_size = RAM_SIZE,
        .gic = {.dist_base = GICD_BASE, .dist_size = 0x10000,
                .redist_base = GICR_BASE, .redist_size = 0x20000, .num_spis = 64},
        .devices = devices,
        .num_devices = 2,
        .stdout_device = devices[0],
        .bootargs = BOOTARGS,
        .initrd_start = INITRD_START,
        .initrd_end = INITRD_END,
        .kaslr_seed = KASLR_SEED,
    };
    for (unsigned i = 0; i < FDT_RNG_SEED_SIZE; i++)
        machine.rng_seed[i] = (uint8_t)(0xa5 ^ i);
    memset(dtb, 0xee, sizeof(dtb));
}

static void teardown(void)
{
    for (unsigned i = 0; i < 2; i++)
        devices[i]->ops->destroy(devices[i]);
}

static void build(void)
{
    int rc = fdt_build(&machine, dtb, sizeof(dtb));
    ck_assert_msg(rc == 0, "fdt_build: %s", fdt_strerror(rc));
}

/* ---- reading the tree back ------------------------------------------------------ */

static int node(const char *path)
{
    int off = fdt_path_offset(dtb, path);
    ck_assert_msg(off >= 0, "no node %s: %s", path, fdt_strerror(off));
    return off;
}

static const void *prop(const char *path, const char *name, int *len)
{
    const void *p = fdt_getprop(dtb, node(path), name, len);
    ck_assert_msg(p != NULL, "no property %s in %s", name, path);
    return p;
}

static bool has_prop(const char *path, const char *name)
{
    return fdt_getprop(dtb, node(path), name, NULL) != NULL;
}

/* Cell i of a property that must be exactly ncells 32-bit cells long. */
static uint32_t cell(const char *path, const char *name, int ncells, int i)
{
    int len;
    const fdt32_t *p = prop(path, name, &len);
    ck_assert_msg(len == 4 * ncells, "%s/%s is %d bytes, expected %d", path, name, len,
                  4 * ncells);
    return fdt32_ld(&p[i]);
}

static uint64_t u64_prop(const char *path, const char *name)
{
    int len;
    const fdt64_t *p = prop(path, name, &len);
    ck_assert_msg(len == 8, "%s/%s is %d bytes, not a u64", path, name, len);
    return fdt64_ld(p); /* properties are only 4-byte aligned */
}

static void assert_string(const char *path, const char *name, const char *expected)
{
    int len;
    const char *s = prop(path, name, &len);
    ck_assert_int_eq(len, (int)strlen(expected) + 1);
    ck_assert_str_eq(s, expected);
}

/* A stringlist property ("a\0b\0") with exactly these bytes. */
static void assert_stringlist(const char *path, const char *name, const char *expected,
                              size_t expected_len)
{
    int len;
    const char *s = prop(path, name, &len);
    ck_assert_int_eq(len, (int)expected_len);
    ck_assert_mem_eq(s, expected, expected_len);
}

static void assert_u64_pairs(const char *path, const char *name, const uint64_t *values,
                             int n)
{
    int len;
    const fdt64_t *p = prop(path, name, &len);
    ck_assert_int_eq(len, 8 * n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(fdt64_ld(&p[i]) == values[i], "%s/%s[%d] = 0x%llx, expected 0x%llx",
                      path, name, i, (unsigned long long)fdt64_ld(&p[i]),
                      (unsigned long long)values[i]);
}

static uint32_t phandle_of(const char *path)
{
    uint32_t ph = fdt_get_phandle(dtb, node(path));
    ck_assert_msg(ph != 0 && ph != ~0u, "%s has no phandle", path);
    return ph;
}

/* ---- tests ---------------------------------------------------------------------- */

START_TEST(test_tree_is_valid)
{
    build();
    ck_assert_int_eq(fdt_check_header(dtb), 0);
    ck_assert_int_eq(fdt_check_full(dtb, sizeof(dtb)), 0);
    ck_assert_uint_le(fdt_totalsize(dtb), sizeof(dtb));
}
END_TEST

START_TEST(test_root)
{
    build();
    assert_string("/", "compatible", "linux,dummy-virt");
    ck_assert_uint_eq(cell("/", "#address-cells", 1, 0), 2);
    ck_assert_uint_eq(cell("/", "#size-cells", 1, 0), 2);
}
END_TEST

START_TEST(test_memory)
{
    build();
    const uint64_t reg[] = {RAM_BASE, RAM_SIZE};
    assert_string("/memory@40000000", "device_type", "memory");
    assert_u64_pairs("/memory@40000000", "reg", reg, 2);
}
END_TEST

START_TEST(test_cpu_uses_psci)
{
    build();
    ck_assert_uint_eq(cell("/cpus", "#address-cells", 1, 0), 1);
    ck_assert_uint_eq(cell("/cpus", "#size-cells", 1, 0), 0);
    assert_string("/cpus/cpu@0", "device_type", "cpu");
    ck_assert_uint_eq(cell("/cpus/cpu@0", "reg", 1, 0), 0); /* MPIDR affinity 0 */
    assert_string("/cpus/cpu@0", "enable-method", "psci");
}
END_TEST

START_TEST(test_psci_node)
{
    build();
    assert_string("/psci", "method", "hvc");
    /* Linux matches "arm,psci-0.2" (and newer) to use the standard function IDs. */
    int off = node("/psci");
    ck_assert_int_eq(fdt_node_check_compatible(dtb, off, "arm,psci-0.2"), 0);
    ck_assert_int_eq(fdt_node_check_compatible(dtb, off, "arm,psci-1.0"), 0);
}
END_TEST

START_TEST(test_timer_ppis)
{
    build();
    /* Secure phys, non-secure phys, virtual, hypervisor; GIC_PPI, level high. */
    static const uint32_t ppis[4] = {13, 14, 11, 10};
    assert_string("/timer", "compatible", "arm,armv8-timer");
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(cell("/timer", "interrupts", 12, 3 * i), 1);
        ck_assert_uint_eq(cell("/timer", "interrupts", 12, 3 * i + 1), ppis[i]);
        ck_assert_uint_eq(cell("/timer", "interrupts", 12, 3 * i + 2), 4);
    }
}
END_TEST

START_TEST(test_gic)
{
    build();
    const char *intc = "/intc@8000000";
    const uint64_t reg[] = {GICD_BASE, 0x10000, GICR_BASE, 0x20000};
    assert_string(intc, "compatible", "arm,gic-v3");
    ck_assert_uint_eq(cell(intc, "#interrupt-cells", 1, 0), 3);
    ck_assert(has_prop(intc, "interrupt-controller"));
    assert_u64_pairs(intc, "reg", reg, 4);
}
END_TEST

/* SMP: one cpu node per vCPU, named and numbered by MPIDR affinity (KVM's
 * numbering: 16 to a cluster), and one redistributor frame each. */
START_TEST(test_smp_cpus_and_redistributors)
{
    machine.num_cpus = 18;
    build();
    for (unsigned n = 0; n < 18; n++) {
        char path[32];
        uint32_t aff = n < 16 ? n : 0x100 + (n - 16);
        snprintf(path, sizeof(path), "/cpus/cpu@%x", aff);
        assert_string(path, "device_type", "cpu");
        assert_string(path, "enable-method", "psci");
        ck_assert_uint_eq(cell(path, "reg", 1, 0), aff);
    }
    ck_assert_int_lt(fdt_path_offset(dtb, "/cpus/cpu@10"), 0); /* not 16 in Aff0 */
    const uint64_t reg[] = {GICD_BASE, 0x10000, GICR_BASE, 18 * 0x20000};
    assert_u64_pairs("/intc@8000000", "reg", reg, 4);
}
END_TEST

START_TEST(test_interrupt_parent_is_gic)
{
    build();
    ck_assert_uint_eq(cell("/", "interrupt-parent", 1, 0), phandle_of("/intc@8000000"));
}
END_TEST

START_TEST(test_pl011_node)
{
    build();
    const char *uart = "/pl011@9000000";
    const uint64_t reg[] = {UART_BASE, PL011_SIZE};
    static const char compatible[] = "arm,pl011\0arm,primecell";
    assert_stringlist(uart, "compatible", compatible, sizeof(compatible));
    assert_u64_pairs(uart, "reg", reg, 2);
    ck_assert_uint_eq(cell(uart, "interrupts", 3, 0), 0); /* GIC_SPI */
    ck_assert_uint_eq(cell(uart, "interrupts", 3, 1), 1); /* INTID 33 */
    ck_assert_uint_eq(cell(uart, "interrupts", 3, 2), 4); /* level high */
}
END_TEST

START_TEST(test_pl011_clocks)
{
    build();
    /* The AMBA bus enables "apb_pclk" before probing; the driver needs "uartclk". */
    const char *uart = "/pl011@9000000";
    uint32_t pclk = phandle_of("/apb-pclk");
    static const char names[] = "uartclk\0apb_pclk";
    ck_assert_uint_eq(cell(uart, "clocks", 2, 0), pclk);
    ck_assert_uint_eq(cell(uart, "clocks", 2, 1), pclk);
    assert_stringlist(uart, "clock-names", names, sizeof(names));
    assert_string("/apb-pclk", "compatible", "fixed-clock");
    ck_assert_uint_eq(cell("/apb-pclk", "#clock-cells", 1, 0), 0);
    ck_assert_uint_ne(cell("/apb-pclk", "clock-frequency", 1, 0), 0);
}
END_TEST

START_TEST(test_pl031_node)
{
    build();
    const char *rtc = "/pl031@9010000";
    const uint64_t reg[] = {RTC_BASE, PL031_SIZE};
    static const char compatible[] = "arm,pl031\0arm,primecell";
    assert_stringlist(rtc, "compatible", compatible, sizeof(compatible));
    assert_u64_pairs(rtc, "reg", reg, 2);
    ck_assert_uint_eq(cell(rtc, "interrupts", 3, 0), 0);
    ck_assert_uint_eq(cell(rtc, "interrupts", 3, 1), 2);
    ck_assert_uint_eq(cell(rtc, "interrupts", 3, 2), 4);
    ck_assert_uint_eq(cell(rtc, "clocks", 1, 0), phandle_of("/apb-pclk"));
}
END_TEST

START_TEST(test_chosen)
{
    build();
    assert_string("/chosen", "bootargs", BOOTARGS);
    /* The path must resolve to the UART's node, or earlycon finds nothing. */
    assert_string("/chosen", "stdout-path", "/pl011@9000000");
    int uart = fdt_path_offset(dtb, prop("/chosen", "stdout-path", NULL));
    ck_assert_int_ge(uart, 0);
    ck_assert_int_eq(fdt_node_check_compatible(dtb, uart, "arm,pl011"), 0);
    ck_assert_uint_eq(u64_prop("/chosen", "linux,initrd-start"), INITRD_START);
    ck_assert_uint_eq(u64_prop("/chosen", "linux,initrd-end"), INITRD_END);
    ck_assert_uint_eq(u64_prop("/chosen", "kaslr-seed"), KASLR_SEED);
    int len;
    const uint8_t *seed = prop("/chosen", "rng-seed", &len);
    ck_assert_int_eq(len, FDT_RNG_SEED_SIZE);
    ck_assert_mem_eq(seed, machine.rng_seed, FDT_RNG_SEED_SIZE);
}
END_TEST

START_TEST(test_no_initrd_properties_without_initrd)
{
    machine.initrd_start = machine.initrd_end = INITRD_START;
    build();
    ck_assert(!has_prop("/chosen", "linux,initrd-start"));
    ck_assert(!has_prop("/chosen", "linux,initrd-end"));
}
END_TEST

START_TEST(test_no_stdout_path_without_console)
{
    machine.stdout_device = NULL;
    machine.bootargs = NULL;
    build();
    ck_assert(!has_prop("/chosen", "stdout-path"));
    assert_string("/chosen", "bootargs", "");
}
END_TEST

START_TEST(test_too_small_buffer_fails)
{
    static const size_t sizes[] = {0, 16, 256, 1024};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int rc = fdt_build(&machine, dtb, sizes[i]);
        ck_assert_msg(rc < 0, "fdt_build into %zu bytes returned %d", sizes[i], rc);
    }
    /* Nothing past the buffer it was given was written. */
    for (size_t i = 1024; i < sizeof(dtb); i++)
        ck_assert_uint_eq(dtb[i], 0xee);
}
END_TEST

static Suite *devicetree_suite(void)
{
    Suite *s = suite_create("devicetree");
    TCase *tc = tcase_create("fdt_build");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_tree_is_valid);
    tcase_add_test(tc, test_root);
    tcase_add_test(tc, test_memory);
    tcase_add_test(tc, test_cpu_uses_psci);
    tcase_add_test(tc, test_psci_node);
    tcase_add_test(tc, test_timer_ppis);
    tcase_add_test(tc, test_gic);
    tcase_add_test(tc, test_smp_cpus_and_redistributors);
    tcase_add_test(tc, test_interrupt_parent_is_gic);
    tcase_add_test(tc, test_pl011_node);
    tcase_add_test(tc, test_pl011_clocks);
    tcase_add_test(tc, test_pl031_node);
    tcase_add_test(tc, test_chosen);
    tcase_add_test(tc, test_no_initrd_properties_without_initrd);
    tcase_add_test(tc, test_no_stdout_path_without_console);
    tcase_add_test(tc, test_too_small_buffer_fails);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(devicetree_suite());
}
