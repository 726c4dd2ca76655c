/* The emu backend as the machine drives it (hv_emu_ops): small programs run
 * through its real run loop, take exceptions into an EL1 vector and report
 * back through PSCI SYSTEM_OFF, so these tests see what the guest saw. They
 * check that EL0 cannot use the GIC CPU interface, that EL0 timer access
 * follows CNTKCTL_EL1, and that the guest is told AArch32 is absent. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/sysreg.h"
#include "hv/hv.h"
#include "psci.h"
#include "unit.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (2u << 20)
#define VBAR (RAM_BASE + 0x800)         /* EL0 synchronous vector at VBAR + 0x400 */
#define EL0_CODE (RAM_BASE + 0x1000)

#define A64_MSR(reg, rt) (0xd5000000u | ((reg) << 5) | (rt))
#define A64_MRS(rt, reg) (0xd5200000u | ((reg) << 5) | (rt))
#define A64_ERET 0xd69f03e0u
#define A64_HVC0 0xd4000002u
#define A64_SVC0 0xd4000001u
#define A64_MOVZ(rd, imm, hw) (0xd2800000u | ((uint32_t)(hw) << 21) | ((uint32_t)(imm) << 5) | (rd))
#define A64_MOVK(rd, imm, hw) (0xf2800000u | ((uint32_t)(hw) << 21) | ((uint32_t)(imm) << 5) | (rd))

#define VBAR_EL1 SYSREG(3, 0, 12, 0, 0)
#define ELR_EL1 SYSREG(3, 0, 4, 0, 1)
#define SPSR_EL1 SYSREG(3, 0, 4, 0, 0)
#define ESR_EL1 SYSREG(3, 0, 5, 2, 0)
#define CNTKCTL_EL1 SYSREG(3, 0, 14, 1, 0)
#define ID_AA64PFR0_EL1 SYSREG(3, 0, 0, 4, 0)

struct calls {
    int hypercalls;
    uint64_t args[4];
};

static enum hv_call_result on_hypercall(void *opaque, const uint64_t args[4], uint64_t *result)
{
    struct calls *c = opaque;
    c->hypercalls++;
    memcpy(c->args, args, sizeof(c->args));
    *result = 0;
    return args[0] == PSCI_SYSTEM_OFF ? HV_CALL_SYSTEM_OFF : HV_CALL_CONTINUE;
}

static bool no_device_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *value)
{
    (void)opaque, (void)gpa, (void)size;
    *value = 0;
    return false;
}

static bool no_device_write(void *opaque, uint64_t gpa, unsigned size, uint64_t value)
{
    (void)opaque, (void)gpa, (void)size, (void)value;
    return false;
}

/* EL1 prologue: x3 = ID_AA64PFR0_EL1, VBAR from x5, CNTKCTL from x7, then ERET to
 * EL0_CODE with DAIF clear. The EL0 sync vector reports ESR in x1 and x2/x3 as
 * they were, and powers off: the test reads them from the SYSTEM_OFF call. */
static const uint32_t el1_code[] = {
    A64_MRS(3, ID_AA64PFR0_EL1), A64_MSR(VBAR_EL1, 5), A64_MSR(CNTKCTL_EL1, 7), A64_MSR(ELR_EL1, 6),
    A64_MSR(SPSR_EL1, 31), A64_ERET,
};
static const uint32_t el0_vector[] = {
    A64_MRS(1, ESR_EL1), A64_MOVZ(0, 0x0008, 0), A64_MOVK(0, 0x8400, 1), A64_HVC0,
};

/* Runs el0_program at EL0 with the given CNTKCTL_EL1 until the guest powers off. */
static struct calls run_at_el0(const uint32_t *el0_program, size_t n, uint64_t cntkctl)
{
    struct calls calls = {0};
    struct hv_io io = {.opaque = &calls, .mmio_read = no_device_read,
                       .mmio_write = no_device_write, .hypercall = on_hypercall};
    struct hv_config config = {
        .num_vcpus = 1,
        .gic = {.dist_base = 0x08000000, .dist_size = 0x10000, .redist_base = 0x080a0000,
                .redist_size = 0x20000, .num_spis = 32},
        .mmio_limit = RAM_BASE,
        .io = &io,
    };
    char err[256];
    struct hv_vm *vm = hv_emu_ops.create(&config, err, sizeof(err));
    ck_assert_msg(vm != NULL, "%s", err);
    uint8_t *ram = aligned_alloc(4096, RAM_SIZE);
    ck_assert_ptr_nonnull(ram);
    memset(ram, 0, RAM_SIZE);
    memcpy(ram, el1_code, sizeof(el1_code));
    memcpy(ram + (VBAR + 0x400 - RAM_BASE), el0_vector, sizeof(el0_vector));
    memcpy(ram + (EL0_CODE - RAM_BASE), el0_program, n * sizeof(uint32_t));
    ck_assert_int_eq(hv_emu_ops.map_ram(vm, RAM_BASE, ram, RAM_SIZE), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(vm, 0, HV_REG_X0 + 5, VBAR), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(vm, 0, HV_REG_X0 + 6, EL0_CODE), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(vm, 0, HV_REG_X0 + 7, cntkctl), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(vm, 0, HV_REG_PC, RAM_BASE), 0);
    struct hv_exit exit;
    hv_emu_ops.run(vm, &exit);
    ck_assert_msg(exit.reason == HV_EXIT_SYSTEM_OFF, "run ended with %d: %s", exit.reason,
                  exit.message);
    hv_emu_ops.destroy(vm);
    free(ram);
    return calls;
}

static unsigned exception_class(const struct calls *c)
{
    return (unsigned)(c->args[1] >> 26);
}

/* An SVC from EL0 is the control: the vector runs and sees EC 0x15. */
START_TEST(test_el0_svc_reaches_el1_vector)
{
    const uint32_t program[] = {A64_MOVZ(2, 0x1234, 0), A64_SVC0};
    struct calls c = run_at_el0(program, 2, 0);
    ck_assert_int_eq(c.hypercalls, 1);
    ck_assert_uint_eq(exception_class(&c), 0x15);
    ck_assert_uint_eq(c.args[2], 0x1234);
}
END_TEST

START_TEST(test_el0_cannot_acknowledge_interrupts)
{
    const uint32_t program[] = {A64_MRS(2, ICC_IAR1_EL1), A64_SVC0};
    struct calls c = run_at_el0(program, 2, 0);
    ck_assert_uint_eq(exception_class(&c), 0x00); /* UNDEF, not the SVC after it */
}
END_TEST

START_TEST(test_el0_cannot_mask_interrupts_through_pmr)
{
    const uint32_t program[] = {A64_MSR(ICC_PMR_EL1, 31), A64_SVC0};
    struct calls c = run_at_el0(program, 2, 0);
    ck_assert_uint_eq(exception_class(&c), 0x00);
}
END_TEST

START_TEST(test_el0_counter_needs_cntkctl)
{
    const uint32_t program[] = {A64_MRS(2, CNTVCT_EL0), A64_SVC0};
    struct calls closed = run_at_el0(program, 2, 0);
    ck_assert_uint_eq(exception_class(&closed), 0x18); /* trapped system register */
    struct calls open = run_at_el0(program, 2, 1u << 1 /* EL0VCTEN */);
    ck_assert_uint_eq(exception_class(&open), 0x15);
}
END_TEST

START_TEST(test_el0_timer_control_needs_cntkctl)
{
    const uint32_t program[] = {A64_MSR(CNTV_CTL_EL0, 31), A64_SVC0};
    struct calls counter_only = run_at_el0(program, 2, 1u << 1);
    ck_assert_uint_eq(exception_class(&counter_only), 0x18);
}
END_TEST

/* x3 carries ID_AA64PFR0_EL1 as EL1 read it before dropping to EL0. */
START_TEST(test_guest_sees_no_aarch32)
{
    const uint32_t program[] = {A64_SVC0};
    struct calls c = run_at_el0(program, 1, 0);
    ck_assert_uint_eq(c.args[3] & 0xff, 0x11); /* EL0 and EL1: AArch64 only */
}
END_TEST

static Suite *emu_backend_suite(void)
{
    Suite *s = suite_create("emu_backend");
    TCase *el0 = tcase_create("el0");
    tcase_set_timeout(el0, 20);
    tcase_add_test(el0, test_el0_svc_reaches_el1_vector);
    tcase_add_test(el0, test_el0_cannot_acknowledge_interrupts);
    tcase_add_test(el0, test_el0_cannot_mask_interrupts_through_pmr);
    tcase_add_test(el0, test_el0_counter_needs_cntkctl);
    tcase_add_test(el0, test_el0_timer_control_needs_cntkctl);
    tcase_add_test(el0, test_guest_sees_no_aarch32);
    suite_add_tcase(s, el0);
    return s;
}

int main(void)
{
    return run_suite(emu_backend_suite());
}
