/* The emu backend as the machine drives it (hv_emu_ops): small programs run
 * through its real run loop, take exceptions into an EL1 vector and report
 * back through PSCI SYSTEM_OFF, so these tests see what the guest saw. They
 * check that EL0 cannot use the GIC CPU interface, that EL0 timer access
 * follows CNTKCTL_EL1, and that the guest is told AArch32 is absent. */
#include <check.h>
#include <errno.h>
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
    A64_ERET, /* where a restored guest resumes */
};

struct guest {
    struct hv_vm *vm;
    uint8_t *ram;
    struct calls calls;
    struct hv_io io;
};

/* A VM whose RAM holds the EL1 prologue, the EL0 vector and el0_program. */
static void guest_create(struct guest *g, const uint32_t *el0_program, size_t n)
{
    memset(g, 0, sizeof(*g));
    g->io = (struct hv_io){.opaque = &g->calls, .mmio_read = no_device_read,
                           .mmio_write = no_device_write, .hypercall = on_hypercall};
    struct hv_config config = {
        .num_vcpus = 1,
        .gic = {.dist_base = 0x08000000, .dist_size = 0x10000, .redist_base = 0x080a0000,
                .redist_size = 0x20000, .num_spis = 32},
        .mmio_limit = RAM_BASE,
        .io = &g->io,
    };
    char err[256];
    g->vm = hv_emu_ops.create(&config, err, sizeof(err));
    ck_assert_msg(g->vm != NULL, "%s", err);
    g->ram = aligned_alloc(4096, RAM_SIZE);
    ck_assert_ptr_nonnull(g->ram);
    memset(g->ram, 0, RAM_SIZE);
    memcpy(g->ram, el1_code, sizeof(el1_code));
    memcpy(g->ram + (VBAR + 0x400 - RAM_BASE), el0_vector, sizeof(el0_vector));
    memcpy(g->ram + (EL0_CODE - RAM_BASE), el0_program, n * sizeof(uint32_t));
    ck_assert_int_eq(hv_emu_ops.map_ram(g->vm, RAM_BASE, g->ram, RAM_SIZE), 0);
}

static void guest_run_until_off(struct guest *g)
{
    struct hv_exit exit;
    hv_emu_ops.run(g->vm, &exit);
    ck_assert_msg(exit.reason == HV_EXIT_SYSTEM_OFF, "run ended with %d: %s", exit.reason,
                  exit.message);
}

static void guest_destroy(struct guest *g)
{
    hv_emu_ops.destroy(g->vm);
    free(g->ram);
}

/* Runs el0_program at EL0 with the given CNTKCTL_EL1 until the guest powers off. */
static struct calls run_at_el0(const uint32_t *el0_program, size_t n, uint64_t cntkctl)
{
    struct guest g;
    guest_create(&g, el0_program, n);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 5, VBAR), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 6, EL0_CODE), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 7, cntkctl), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_PC, RAM_BASE), 0);
    guest_run_until_off(&g);
    struct calls calls = g.calls;
    guest_destroy(&g);
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

/* ---- whole-vCPU state ---------------------------------------------------------- */

#define A64_ADD_X2_1 0x91000442u
#define A64_B_BACK2 0x17fffffeu /* b .-8 */

/* A guest counting at EL0 (x2 += 1, then SVC) is stopped in its EL1 vector, its
 * state moved to a fresh VM with a copy of its memory, and the copy resumes: it
 * returns to EL0 (ERET with the restored ELR/SPSR, stacks and flags) and counts on. */
START_TEST(test_state_moves_a_running_guest)
{
    const uint32_t program[] = {A64_ADD_X2_1, A64_SVC0, A64_B_BACK2};
    const uint64_t sp_el0 = RAM_BASE + 0x180000, sp_el1 = RAM_BASE + 0x1c0000;
    struct guest a;
    guest_create(&a, program, 3);
    ck_assert_int_eq(hv_emu_ops.set_reg(a.vm, 0, HV_REG_X0 + 5, VBAR), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(a.vm, 0, HV_REG_X0 + 6, EL0_CODE), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(a.vm, 0, HV_REG_SP, sp_el1), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(a.vm, 0, HV_REG_PC, RAM_BASE), 0);
    guest_run_until_off(&a);
    ck_assert_uint_eq(a.calls.args[2], 1);

    struct hv_vcpu_state st;
    ck_assert_int_eq(hv_emu_ops.get_vcpu_state(a.vm, 0, &st), 0);
    ck_assert_uint_eq(st.pc, VBAR + 0x400 + 16); /* just past the HVC */
    ck_assert_uint_eq(st.pstate & 0xf, 0x5);     /* EL1h */
    ck_assert_uint_eq(st.elr_el1, EL0_CODE + 8); /* after the SVC */
    ck_assert_uint_eq(st.vbar_el1, VBAR);
    ck_assert_uint_eq(st.sp_el1, sp_el1);
    ck_assert_uint_eq(st.x[2], 1);
    ck_assert_int_eq(hv_emu_ops.set_vcpu_state(a.vm, 0, &st), -EBUSY); /* it has run */

    struct guest b;
    guest_create(&b, program, 3);
    memcpy(b.ram, a.ram, RAM_SIZE);
    ck_assert_int_eq(hv_emu_ops.set_vcpu_state(b.vm, 0, &st), 0);
    struct hv_vcpu_state back;
    ck_assert_int_eq(hv_emu_ops.get_vcpu_state(b.vm, 0, &back), 0);
    ck_assert_uint_eq(back.pc, st.pc);
    ck_assert_uint_eq(back.sp_el1, st.sp_el1);
    ck_assert_uint_eq(back.sp_el0, st.sp_el0);
    ck_assert_uint_eq(back.spsr_el1, st.spsr_el1);
    ck_assert(back.counter >= st.counter); /* the clock goes on from where it was */
    guest_run_until_off(&b);
    ck_assert_uint_eq(b.calls.args[2], 2);
    ck_assert_uint_eq(b.calls.args[1] >> 26, 0x15);
    (void)sp_el0;
    guest_destroy(&a);
    guest_destroy(&b);
}
END_TEST

START_TEST(test_state_from_another_build_is_refused)
{
    const uint32_t program[] = {A64_SVC0};
    struct guest g;
    guest_create(&g, program, 1);
    struct hv_vcpu_state st;
    ck_assert_int_eq(hv_emu_ops.get_vcpu_state(g.vm, 0, &st), 0);
    st.backend[1] ^= 1; /* another Unicorn version */
    ck_assert_int_eq(hv_emu_ops.set_vcpu_state(g.vm, 0, &st), -EINVAL);
    st.backend[1] ^= 1;
    ck_assert_int_eq(hv_emu_ops.set_vcpu_state(g.vm, 1, &st), -EINVAL); /* no vCPU 1 */
    ck_assert_int_eq(hv_emu_ops.set_vcpu_state(g.vm, 0, &st), 0);
    guest_destroy(&g);
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
    TCase *state = tcase_create("state");
    tcase_set_timeout(state, 20);
    tcase_add_test(state, test_state_moves_a_running_guest);
    tcase_add_test(state, test_state_from_another_build_is_refused);
    suite_add_tcase(s, state);
    return s;
}

int main(void)
{
    return run_suite(emu_backend_suite());
}
