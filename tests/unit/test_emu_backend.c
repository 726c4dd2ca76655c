/* The emu backend as the machine drives it (hv_emu_ops): small programs run
 * through its real run loop, take exceptions into an EL1 vector and report
 * back through PSCI SYSTEM_OFF, so these tests see what the guest saw. They
 * check that EL0 cannot use the GIC CPU interface, that EL0 timer access
 * follows CNTKCTL_EL1, that the guest is told AArch32 is absent, and that
 * instruction-cache maintenance drops code a device rewrote behind the CPU. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/arch_timer.h"
#include "devices/device_state.h"
#include "devices/gicv3.h"
#include "devices/sysreg.h"
#include "hv/hv.h"
#include "machine/psci.h"
#include "unit.h"
#include "util.h"

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
    /* When set, a load from device space calls it (inside the slice, as an MMIO
     * read does) with the guest's RAM: a device completing DMA. */
    void (*on_device_read)(uint8_t *ram, unsigned reads);
    uint8_t *ram;
    unsigned device_reads;
};

static enum hv_call_result on_hypercall(void *opaque, const uint64_t args[4], uint64_t *result)
{
    struct calls *c = opaque;
    c->hypercalls++;
    memcpy(c->args, args, sizeof(c->args));
    *result = 0;
    return args[0] == PSCI_SYSTEM_OFF ? HV_CALL_SYSTEM_OFF : HV_CALL_CONTINUE;
}

static bool device_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *value)
{
    (void)gpa, (void)size;
    struct calls *c = opaque;
    *value = 0;
    if (!c->on_device_read)
        return false;
    c->on_device_read(c->ram, ++c->device_reads);
    return true;
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
    g->io = (struct hv_io){.opaque = &g->calls, .mmio_read = device_read,
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
    g->calls.ram = g->ram;
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

/* EL0 reads of ID registers are UNDEF on hardware: Linux takes the trap and answers
 * with its sanitised view. Served at EL0 by our hook instead, Unicorn ran the block
 * holding the MRS again from its start, for ever (the guest never got past it). */
START_TEST(test_el0_id_register_read_traps_to_el1)
{
    const uint32_t program[] = {A64_MOVZ(2, 0x1234, 0), A64_MRS(3, ID_AA64PFR0_EL1), A64_SVC0};
    struct calls c = run_at_el0(program, 3, 0);
    ck_assert_uint_eq(exception_class(&c), 0x00); /* UNDEF, not the SVC after it */
    ck_assert_uint_eq(c.args[2], 0x1234);
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

/* Values a running Linux guest could hold, different in every register. */
static void fill_state(struct hv_vcpu_state *st)
{
    for (int i = 0; i < 31; i++)
        st->x[i] = 0x0101010101010101ull * (uint64_t)(i + 1);
    for (int i = 0; i < 32; i++) {
        st->v[i][0] = 0x1000000000000000ull + (uint64_t)i;
        st->v[i][1] = 0x2000000000000000ull + (uint64_t)i;
    }
    st->sp_el0 = RAM_BASE + 0x180000;
    st->sp_el1 = RAM_BASE + 0x1c0000;
    st->pc = RAM_BASE + 0x3000;
    st->pstate = 0x3c5; /* EL1h, DAIF masked */
    st->elr_el1 = 0xffff800008012340ull;
    st->spsr_el1 = 0x60000000ull;
    st->esr_el1 = 0x56000000ull;
    st->far_el1 = 0x0000aaaabbbbc000ull;
    st->vbar_el1 = VBAR;
    st->tcr_el1 = 0x00000034b5193519ull;
    st->ttbr0_el1 = 0x0001000041234000ull;
    st->ttbr1_el1 = 0x0000000042345000ull;
    st->mair_el1 = 0x000000040044ffffull;
    st->amair_el1 = 0;
    st->contextidr_el1 = 0x77;
    st->cpacr_el1 = 0x300000;
    st->cntkctl_el1 = 0xd6;
    st->par_el1 = 0x800;
    st->tpidr_el0 = 0x0000ffff12345670ull;
    st->tpidrro_el0 = 0x1111;
    st->tpidr_el1 = 0xffff00007fbd0000ull;
    st->mdscr_el1 = 0x1000;
    st->csselr_el1 = 2;
    st->fpcr = 0x03000000;
    st->fpsr = 0x10;
    st->cntv_ctl = CNT_CTL_ENABLE;
    st->cntp_ctl = CNT_CTL_ENABLE | CNT_CTL_IMASK;
    st->cntp_cval = 0x123456789ull;
}

#define SAVED_COUNT (1ull << 40) /* about 4.9 hours at 62.5 MHz */
#define TEN_SECONDS_OF_TICKS (10 * ARCH_TIMER_HZ)

/* Every field comes back as it went in, the counter from where it was set. */
START_TEST(test_state_round_trips_every_field)
{
    const uint32_t program[] = {A64_SVC0};
    struct guest g;
    guest_create(&g, program, 1);
    struct hv_vcpu_state st;
    ck_assert_int_eq(hv_emu_ops.get_vcpu_state(g.vm, 0, &st), 0);
    fill_state(&st);
    st.counter = SAVED_COUNT;
    st.cntv_cval = SAVED_COUNT + ARCH_TIMER_HZ;
    ck_assert_int_eq(hv_emu_ops.set_vcpu_state(g.vm, 0, &st), 0);
    struct hv_vcpu_state back;
    ck_assert_int_eq(hv_emu_ops.get_vcpu_state(g.vm, 0, &back), 0);
    ck_assert_uint_ge(back.counter, SAVED_COUNT);
    ck_assert_uint_lt(back.counter, SAVED_COUNT + TEN_SECONDS_OF_TICKS);
    back.counter = st.counter;
    const uint64_t *want = (const uint64_t *)(const void *)&st;
    const uint64_t *got = (const uint64_t *)(const void *)&back;
    for (size_t i = 0; i < offsetof(struct hv_vcpu_state, backend) / 8; i++)
        ck_assert_msg(want[i] == got[i], "word %zu of the state: 0x%llx went in, 0x%llx came back",
                      i, (unsigned long long)want[i], (unsigned long long)got[i]);
    ck_assert_mem_eq(st.backend, back.backend, sizeof(st.backend));
    guest_destroy(&g);
}
END_TEST

/* The restored guest itself reads the counter on from the saved value (not from
 * zero, nor from the host's clock) and sees its timers as they were saved. */
START_TEST(test_state_guest_counter_continues)
{
    const uint32_t read_timer[] = {
        A64_MRS(1, CNTVCT_EL0), A64_MRS(2, CNTV_CVAL_EL0), A64_MRS(3, CNTV_CTL_EL0),
        A64_MOVZ(0, 0x0008, 0), A64_MOVK(0, 0x8400, 1), A64_HVC0,
    };
    const uint32_t program[] = {A64_SVC0};
    struct guest g;
    guest_create(&g, program, 1);
    memcpy(g.ram + 0x3000, read_timer, sizeof(read_timer));
    struct hv_vcpu_state st;
    ck_assert_int_eq(hv_emu_ops.get_vcpu_state(g.vm, 0, &st), 0);
    fill_state(&st);
    st.counter = SAVED_COUNT;
    st.cntv_cval = SAVED_COUNT + 100 * ARCH_TIMER_HZ; /* far off: no interrupt */
    ck_assert_int_eq(hv_emu_ops.set_vcpu_state(g.vm, 0, &st), 0);
    guest_run_until_off(&g);
    ck_assert_uint_ge(g.calls.args[1], SAVED_COUNT);
    ck_assert_uint_lt(g.calls.args[1], SAVED_COUNT + TEN_SECONDS_OF_TICKS);
    ck_assert_uint_eq(g.calls.args[2], SAVED_COUNT + 100 * ARCH_TIMER_HZ);
    ck_assert_uint_eq(g.calls.args[3], CNT_CTL_ENABLE); /* not yet fired: ISTATUS 0 */
    guest_destroy(&g);
}
END_TEST

/* ---- instruction-cache maintenance ---------------------------------------- */

/* A function the guest calls (movz x0, #n; ret); the host rewrites it through
 * the RAM pointer between two calls, as a device writing by DMA would. It ends
 * its page, away from where a loop over the page starts. */
#define FUNC (RAM_BASE + 0x10ff8)
#define FUNC_PAGE (FUNC & ~0xfffull)
#define TABLES (RAM_BASE + 0x20000) /* level-1 table for the MMU case */
#define ALIAS_OFFSET 0x40000000ull  /* FUNC + this: the same page, never executable */

#define SYS_IC_IVAU SYSREG(1, 3, 7, 5, 1)
#define SYS_IC_IALLU SYSREG(1, 0, 7, 5, 0)
#define SYS_DC_CVAU SYSREG(1, 3, 7, 11, 1)
#define CTR_EL0 SYSREG(3, 3, 0, 0, 1)
#define SCTLR_EL1 SYSREG(3, 0, 1, 0, 0)
#define TCR_EL1 SYSREG(3, 0, 2, 0, 2)
#define TTBR0_EL1 SYSREG(3, 0, 2, 0, 0)
#define MAIR_EL1 SYSREG(3, 0, 10, 2, 0)

#define A64_SYS(op, rt) A64_MSR(op, rt) /* SYS is MSR with op0 = 1 */
#define A64_DSB_ISH 0xd5033b9fu
#define A64_ISB 0xd5033fdfu
#define A64_RET 0xd65f03c0u
#define A64_BLR_X20 0xd63f0280u
#define A64_MOV(rd, rm) (0xaa0003e0u | ((uint32_t)(rm) << 16) | (rd)) /* orr rd, xzr, rm */
#define A64_ORR_X9_X9_X10 0xaa0a0129u

/* x20 = FUNC; x21 = the address the maintenance names. */
static const uint32_t maintain_by_va[] = {
    A64_SYS(SYS_DC_CVAU, 21), A64_DSB_ISH, A64_SYS(SYS_IC_IVAU, 21), A64_DSB_ISH, A64_ISB,
};
/* Linux's loop: every 64-byte line of the page from x21 up to x4. */
static const uint32_t maintain_page_by_lines[] = {
    A64_SYS(SYS_IC_IVAU, 21), 0x910102b5u /* add x21, x21, #64 */, 0xeb0402bfu /* cmp x21, x4 */,
    0x54ffffa3u /* b.lo .-12 */, A64_DSB_ISH, A64_ISB,
};
static const uint32_t maintain_all[] = {
    A64_SYS(SYS_DC_CVAU, 21), A64_DSB_ISH, A64_SYS(SYS_IC_IALLU, 31), A64_DSB_ISH, A64_ISB,
};
/* MMU on from x10..x13 (SCTLR bits, MAIR, TCR, TTBR0), identity-mapped code. */
static const uint32_t mmu_on[] = {
    A64_MSR(MAIR_EL1, 11), A64_MSR(TCR_EL1, 12), A64_MSR(TTBR0_EL1, 13), A64_ISB,
    A64_MRS(9, SCTLR_EL1), A64_ORR_X9_X9_X10, A64_MSR(SCTLR_EL1, 9), A64_ISB,
};
/* Call FUNC and power off with its result in x1 and CTR_EL0 in x2. */
static const uint32_t call_and_report[] = {
    A64_BLR_X20, A64_MOV(1, 0), A64_MRS(2, CTR_EL0),
    A64_MOVZ(0, 0x0008, 0), A64_MOVK(0, 0x8400, 1), A64_HVC0,
};

struct refill_result {
    uint64_t before, after, ctr;
};

static size_t append(uint32_t *program, size_t n, const uint32_t *insns, size_t count)
{
    memcpy(program + n, insns, count * sizeof(uint32_t));
    return n + count;
}

static void write_function(struct guest *g, uint16_t result)
{
    const uint32_t function[] = {A64_MOVZ(0, result, 0), A64_RET};
    memcpy(g->ram + (FUNC - RAM_BASE), function, sizeof(function));
}

/* One level-1 table (39-bit addresses, 4 KiB granule): 1 GiB at RAM_BASE mapped
 * to itself and executable, and the same 1 GiB again one GiB higher with PXN
 * and UXN, as Linux's linear map is. */
static void enable_mmu(struct guest *g)
{
    uint64_t *l1 = (uint64_t *)(void *)(g->ram + (TABLES - RAM_BASE));
    const uint64_t block = RAM_BASE | (1u << 10) /* AF */ | (3u << 8) /* inner shareable */ | 1;
    l1[RAM_BASE >> 30] = block;
    l1[(RAM_BASE + ALIAS_OFFSET) >> 30] = block | (3ull << 53); /* PXN, UXN */
    const uint64_t tcr = 25 | (1u << 8) | (1u << 10) | (3u << 12) /* T0SZ, WB, inner shareable */
                         | (25u << 16) | (1u << 23) | (2ull << 30); /* T1SZ, EPD1, TG1 4K */
    ck_assert_int_eq(hv_emu_ops.set_reg(g->vm, 0, HV_REG_X0 + 10, 0x1005), 0); /* M, C, I */
    ck_assert_int_eq(hv_emu_ops.set_reg(g->vm, 0, HV_REG_X0 + 11, 0xff), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g->vm, 0, HV_REG_X0 + 12, tcr), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g->vm, 0, HV_REG_X0 + 13, TABLES), 0);
}

/* At EL1: call FUNC (returns 1), stop; the host rewrites FUNC to return 2; the
 * guest runs the maintenance sequence on x21 (x4: x21 + 4 KiB) and calls FUNC
 * again. */
static struct refill_result run_refill(const uint32_t *maintenance, size_t count, bool mmu,
                                       uint64_t maintained)
{
    uint32_t program[64];
    size_t n = 0;
    if (mmu)
        n = append(program, n, mmu_on, ARRAY_SIZE(mmu_on));
    n = append(program, n, call_and_report, ARRAY_SIZE(call_and_report));
    n = append(program, n, maintenance, count);
    n = append(program, n, call_and_report, ARRAY_SIZE(call_and_report));
    struct guest g;
    guest_create(&g, program, n); /* entered directly, so it runs at EL1 */
    write_function(&g, 1);
    if (mmu)
        enable_mmu(&g);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 20, FUNC), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 21, maintained), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 4, maintained + 0x1000), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_PC, EL0_CODE), 0);
    struct refill_result r = {0};
    guest_run_until_off(&g);
    r.before = g.calls.args[1];
    r.ctr = g.calls.args[2];
    write_function(&g, 2);
    guest_run_until_off(&g); /* resumes after the HVC */
    r.after = g.calls.args[1];
    guest_destroy(&g);
    return r;
}

/* MMU off: IC IVAU names the rewritten line by its (identical) physical address.
 * CTR_EL0.DIC is 0, so Linux does issue IC IVAU before executing a page. */
START_TEST(test_ic_ivau_drops_code_rewritten_behind_the_cpu)
{
    struct refill_result r = run_refill(maintain_by_va, ARRAY_SIZE(maintain_by_va), false, FUNC + 4);
    ck_assert_uint_eq(r.before, 1);
    ck_assert_uint_eq(r.after, 2);
    ck_assert_uint_eq((r.ctr >> 29) & 1, 0); /* DIC */
}
END_TEST

/* MMU on, and the maintenance goes through a non-executable alias of the page,
 * as Linux's does (its linear map): the translations still go. */
START_TEST(test_ic_ivau_through_a_non_executable_alias)
{
    struct refill_result r = run_refill(maintain_by_va, ARRAY_SIZE(maintain_by_va), true,
                                        FUNC + ALIAS_OFFSET);
    ck_assert_uint_eq(r.before, 1);
    ck_assert_uint_eq(r.after, 2);
}
END_TEST

/* The whole page, line by line, through the alias: the backend drops the first
 * line alone and the rest of the page at the second. */
START_TEST(test_ic_ivau_loop_over_a_page)
{
    struct refill_result r = run_refill(maintain_page_by_lines, ARRAY_SIZE(maintain_page_by_lines),
                                        true, FUNC_PAGE + ALIAS_OFFSET);
    ck_assert_uint_eq(r.before, 1);
    ck_assert_uint_eq(r.after, 2);
}
END_TEST

/* IC IALLU names no address: every translation goes. */
START_TEST(test_ic_iallu_drops_all_code)
{
    struct refill_result r = run_refill(maintain_all, ARRAY_SIZE(maintain_all), true,
                                        FUNC + ALIAS_OFFSET);
    ck_assert_uint_eq(r.before, 1);
    ck_assert_uint_eq(r.after, 2);
}
END_TEST

#define A64_BL(from, to) (0x94000000u | ((uint32_t)((to) - (from)) & 0x3ffffffu))
#define A64_LDR_W3_X22 0xb94002c3u
#define DEVICE_REGISTER 0x09000000ull

/* Each device read rewrites FUNC to return one more than before. */
static void rewrite_function(uint8_t *ram, unsigned reads)
{
    const uint32_t function[] = {A64_MOVZ(0, reads + 1, 0), A64_RET};
    memcpy(ram + (FUNC - RAM_BASE), function, sizeof(function));
}

/* All in one slice: call FUNC, let the device rewrite it, maintain the page
 * through a subroutine, call FUNC; then once more through the same IC IVAU.
 * The backend skips repeated IC IVAUs to a page it just dropped while only
 * their own loop runs; the second round must not be mistaken for that. */
START_TEST(test_ic_ivau_again_after_another_rewrite)
{
    enum { MAINTAIN = 15 };
    const uint32_t program[] = {
        A64_BLR_X20, A64_MOV(19, 0), A64_LDR_W3_X22, A64_BL(3, MAINTAIN),
        A64_BLR_X20, A64_MOV(23, 0), A64_LDR_W3_X22, A64_BL(7, MAINTAIN),
        A64_BLR_X20, A64_MOV(3, 0), A64_MOV(1, 19), A64_MOV(2, 23),
        A64_MOVZ(0, 0x0008, 0), A64_MOVK(0, 0x8400, 1), A64_HVC0,
        /* MAINTAIN: */ A64_SYS(SYS_IC_IVAU, 21), A64_DSB_ISH, A64_ISB, A64_RET,
    };
    struct guest g;
    guest_create(&g, program, ARRAY_SIZE(program));
    write_function(&g, 1);
    g.calls.on_device_read = rewrite_function;
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 20, FUNC), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 21, FUNC + 4), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 22, DEVICE_REGISTER), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_PC, EL0_CODE), 0);
    guest_run_until_off(&g);
    ck_assert_uint_eq(g.calls.device_reads, 2);
    ck_assert_uint_eq(g.calls.args[1], 1);
    ck_assert_uint_eq(g.calls.args[2], 2);
    ck_assert_uint_eq(g.calls.args[3], 3);
    guest_destroy(&g);
}
END_TEST

/* The hook leaves the architecture's checks to Unicorn: EL0 may use IC IVAU
 * only when SCTLR_EL1.UCI is set, which it is not here. */
START_TEST(test_el0_ic_ivau_needs_uci)
{
    const uint32_t program[] = {A64_SYS(SYS_IC_IVAU, 6), A64_SVC0};
    struct calls c = run_at_el0(program, 2, 0);
    ck_assert_uint_eq(exception_class(&c), 0x18);
}
END_TEST

/* ---- stop and continue, interrupt controller state ------------------------------ */

/* A stop stays asked for until it is cleared: a snapshot taken between two runs
 * must not see the guest move, and the guest must be able to go on after it. */
START_TEST(test_clear_stop_lets_the_guest_continue)
{
    const uint32_t program[] = {A64_MOVZ(2, 0x77, 0), A64_SVC0};
    struct guest g;
    guest_create(&g, program, 2);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 5, VBAR), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 6, EL0_CODE), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_PC, RAM_BASE), 0);
    hv_emu_ops.stop(g.vm);
    struct hv_exit exit;
    for (int i = 0; i < 2; i++) {
        hv_emu_ops.run(g.vm, &exit);
        ck_assert_int_eq(exit.reason, HV_EXIT_STOPPED);
    }
    ck_assert_int_eq(g.calls.hypercalls, 0);
    hv_emu_ops.clear_stop(g.vm);
    guest_run_until_off(&g);
    ck_assert_uint_eq(g.calls.args[2], 0x77);
    guest_destroy(&g);
}
END_TEST

static struct gicv3_state gic_a, gic_b;
static const uint32_t unused_program[] = {A64_SVC0};

/* The backend's irqchip state, as the GICv3's own message gives it. */
static int save_gic(struct hv_vm *vm, struct gicv3_state *out)
{
    struct device_state_bytes bytes = {0};
    char err[256];
    int rc = hv_emu_ops.save_irqchip(vm, &bytes);
    if (rc == 0)
        rc = gicv3_state_decode(bytes.data, bytes.len, out, err, sizeof(err));
    device_state_bytes_free(&bytes);
    return rc;
}

static int load_gic(struct hv_vm *vm, const struct gicv3_state *in)
{
    struct device_state_bytes bytes = {0};
    char err[256];
    int rc = gicv3_state_encode(in, &bytes);
    if (rc == 0)
        rc = hv_emu_ops.load_irqchip(vm, bytes.data, bytes.len, err, sizeof(err));
    device_state_bytes_free(&bytes);
    return rc;
}

/* An asserted SPI line and an enabled one survive the move to a fresh VM. */
START_TEST(test_irqchip_state_moves_to_a_new_vm)
{
    struct guest a, b;
    guest_create(&a, unused_program, 1);
    ck_assert_int_eq(hv_emu_ops.set_irq(a.vm, 40, true), 0);
    ck_assert_int_eq(save_gic(a.vm, &gic_a), 0);
    ck_assert_uint_eq(gic_a.num_spis, 32);
    ck_assert_uint_eq(gic_a.irqs[40].line, 1);
    ck_assert_uint_eq(gic_a.irqs[41].line, 0);
    gic_a.irqs[40].enabled = 1;
    guest_create(&b, unused_program, 1);
    ck_assert_int_eq(load_gic(b.vm, &gic_a), 0);
    ck_assert_int_eq(save_gic(b.vm, &gic_b), 0);
    ck_assert_mem_eq(&gic_a, &gic_b, sizeof(gic_a));
    guest_destroy(&a);
    guest_destroy(&b);
}
END_TEST

START_TEST(test_irqchip_state_of_another_size_is_refused)
{
    struct guest g;
    guest_create(&g, unused_program, 1);
    ck_assert_int_eq(save_gic(g.vm, &gic_a), 0);
    gic_a.num_spis = 64;
    ck_assert_int_eq(load_gic(g.vm, &gic_a), -EINVAL);
    guest_destroy(&g);
}
END_TEST

/* Loading is for a VM that has not run: a running guest's GIC is its own. */
START_TEST(test_irqchip_load_after_run_is_refused)
{
    const uint32_t program[] = {A64_SVC0};
    struct guest g;
    guest_create(&g, program, 1);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 5, VBAR), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 6, EL0_CODE), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_PC, RAM_BASE), 0);
    guest_run_until_off(&g);
    ck_assert_int_eq(save_gic(g.vm, &gic_a), 0);
    ck_assert_int_eq(load_gic(g.vm, &gic_a), -EBUSY);
    guest_destroy(&g);
}
END_TEST

/* ---- EL0 code where the MRS hook does not reach ----------------------------------- */

/* Programs run in the bottom half of the address space, outside RAM's physical
 * range; the MRS hook covers neither (docs/EMU-BACKEND.md), so what EL0 reads
 * there comes from Unicorn's own registers and must still be what ours say. */
#define EL0_LOW_VA (EL0_CODE - RAM_BASE)
#define EL1_MMU_CODE (RAM_BASE + 0x3000)

/* Turns the MMU on (enable_mmu's tables, plus the first GiB of virtual space
 * mapped to RAM for EL0), then runs the usual prologue into el0_program at
 * EL0_LOW_VA. The guest's counter starts at `counter`, its virtual timer's
 * compare value is `cval` (disabled: no interrupt). */
static struct calls run_at_low_el0(const uint32_t *el0_program, size_t n, uint64_t cntkctl,
                                   uint64_t counter, uint64_t cval)
{
    uint32_t el1[ARRAY_SIZE(mmu_on) + ARRAY_SIZE(el1_code)];
    size_t m = append(el1, 0, mmu_on, ARRAY_SIZE(mmu_on));
    m = append(el1, m, el1_code, ARRAY_SIZE(el1_code));
    struct guest g;
    guest_create(&g, el0_program, n);
    memcpy(g.ram + (EL1_MMU_CODE - RAM_BASE), el1, m * sizeof(uint32_t));
    enable_mmu(&g);
    uint64_t *l1 = (uint64_t *)(void *)(g.ram + (TABLES - RAM_BASE));
    l1[0] = RAM_BASE | (1u << 10) | (3u << 8) | (1u << 6) /* AP: EL0 too */ | 1;
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 5, VBAR), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 6, EL0_LOW_VA), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 7, cntkctl), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_PC, EL1_MMU_CODE), 0);
    struct hv_vcpu_state st;
    ck_assert_int_eq(hv_emu_ops.get_vcpu_state(g.vm, 0, &st), 0);
    st.counter = counter;
    st.cntv_cval = cval;
    st.cntv_ctl = 0;
    ck_assert_int_eq(hv_emu_ops.set_vcpu_state(g.vm, 0, &st), 0);
    guest_run_until_off(&g);
    struct calls calls = g.calls;
    guest_destroy(&g);
    return calls;
}

/* The vDSO's clock: EL0 reads the counter the guest's own timer runs on, from a
 * restored value on (not the host's clock). */
START_TEST(test_el0_counter_outside_the_mrs_hook)
{
    const uint32_t program[] = {A64_MRS(2, CNTVCT_EL0), A64_SVC0};
    struct calls c = run_at_low_el0(program, 2, CNTKCTL_EL0VCTEN, SAVED_COUNT, 0);
    ck_assert_uint_eq(exception_class(&c), 0x15);
    ck_assert_uint_ge(c.args[2], SAVED_COUNT);
    ck_assert_uint_lt(c.args[2], SAVED_COUNT + TEN_SECONDS_OF_TICKS);
}
END_TEST

/* Opening the timer itself to EL0 brings the hook to all code: EL0 reads our
 * compare value, not Unicorn's. */
START_TEST(test_el0_timer_opened_by_cntkctl_outside_the_mrs_hook)
{
    const uint32_t program[] = {A64_MRS(2, CNTV_CVAL_EL0), A64_SVC0};
    const uint64_t cval = SAVED_COUNT + 100 * ARCH_TIMER_HZ;
    struct calls c = run_at_low_el0(program, 2, CNTKCTL_EL0VCTEN | CNTKCTL_EL0VTEN, SAVED_COUNT,
                                    cval);
    ck_assert_uint_eq(exception_class(&c), 0x15);
    ck_assert_uint_eq(c.args[2], cval);
}
END_TEST

START_TEST(test_el0_id_register_and_cpu_interface_outside_the_mrs_hook)
{
    const uint32_t id_read[] = {A64_MOVZ(2, 0x1234, 0), A64_MRS(3, ID_AA64PFR0_EL1), A64_SVC0};
    struct calls c = run_at_low_el0(id_read, 3, 0, SAVED_COUNT, 0);
    ck_assert_uint_eq(exception_class(&c), 0x00); /* UNDEF, not the SVC after it */
    ck_assert_uint_eq(c.args[2], 0x1234);
    ck_assert_uint_eq(c.args[3] & 0xff, 0x11); /* what EL1 read before: no AArch32 */
    const uint32_t ack[] = {A64_MRS(2, ICC_IAR1_EL1), A64_SVC0};
    c = run_at_low_el0(ack, 2, 0, SAVED_COUNT, 0);
    ck_assert_uint_eq(exception_class(&c), 0x00);
}
END_TEST

/* ---- interrupt delivery ------------------------------------------------------------ */

#define A64_DAIFCLR_I 0xd50342ffu /* msr daifclr, #2 */
#define A64_ADD_X4_1 0x91000484u
#define IRQ_VECTOR (VBAR + 0x280) /* IRQ from the current EL with SP_EL1 */
#define SPI 40
#define VIRT_TIMER_INTID ARCH_TIMER_INTID(ARCH_TIMER_PPI_VIRT)

/* A guest whose GIC signals SPI and the virtual timer's PPI (enabled, group 1,
 * priority above the mask), running program at EL1 with interrupts masked and
 * vector at its IRQ vector. */
static void guest_with_gic(struct guest *g, const uint32_t *program, size_t n,
                           const uint32_t *vector, size_t vector_n)
{
    guest_create(g, program, n);
    memcpy(g->ram + (IRQ_VECTOR - RAM_BASE), vector, vector_n * sizeof(uint32_t));
    static struct gicv3_state st;
    ck_assert_int_eq(save_gic(g->vm, &st), 0);
    st.dist_ctlr |= 1u << 1; /* EnableGrp1 */
    st.icc_igrpen1 = 1;
    st.icc_pmr = 0xf8;
    const unsigned intids[] = {SPI, VIRT_TIMER_INTID};
    for (size_t i = 0; i < ARRAY_SIZE(intids); i++) {
        st.irqs[intids[i]].enabled = 1;
        st.irqs[intids[i]].group1 = 1;
        st.irqs[intids[i]].priority = 0x80;
    }
    ck_assert_int_eq(load_gic(g->vm, &st), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g->vm, 0, HV_REG_X0 + 5, VBAR), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g->vm, 0, HV_REG_PC, EL0_CODE), 0);
}

/* Powers off with ELR_EL1 in x1 and the acknowledged INTID in x3. */
static const uint32_t irq_vector_reporting[] = {
    A64_MRS(1, ELR_EL1), A64_MRS(3, ICC_IAR1_EL1), A64_MOVZ(0, 0x0008, 0), A64_MOVK(0, 0x8400, 1),
    A64_HVC0,
};
static const uint32_t power_off[] = {A64_MOVZ(0, 0x0008, 0), A64_MOVK(0, 0x8400, 1), A64_HVC0};

/* An interrupt that arrived while the guest had IRQs masked is taken at the
 * instruction right after the one that unmasks them, before anything else runs. */
START_TEST(test_irq_taken_where_the_guest_unmasks)
{
    uint32_t program[16];
    const uint32_t body[] = {A64_MSR(VBAR_EL1, 5), A64_MOVZ(2, 1, 0), A64_DAIFCLR_I,
                             A64_MOVZ(2, 0x55, 0)};
    size_t n = append(program, 0, body, ARRAY_SIZE(body));
    n = append(program, n, power_off, ARRAY_SIZE(power_off));
    struct guest g;
    guest_with_gic(&g, program, n, irq_vector_reporting, ARRAY_SIZE(irq_vector_reporting));
    ck_assert_int_eq(hv_emu_ops.set_irq(g.vm, SPI, true), 0);
    guest_run_until_off(&g);
    ck_assert_uint_eq(g.calls.args[1], EL0_CODE + 3 * 4); /* ELR: the MOVZ x2, #0x55 */
    ck_assert_uint_eq(g.calls.args[2], 1);
    ck_assert_uint_eq(g.calls.args[3], SPI);
    guest_destroy(&g);
}
END_TEST

/* With IRQs unmasked, a timer the guest arms to fire at once interrupts the
 * very next instruction (the line rises inside the MSR hook). */
START_TEST(test_irq_raised_by_the_guest_taken_at_once)
{
    uint32_t program[16];
    const uint32_t body[] = {A64_MSR(VBAR_EL1, 5), A64_DAIFCLR_I, A64_MSR(CNTV_CVAL_EL0, 31),
                             A64_MOVZ(9, CNT_CTL_ENABLE, 0), A64_MSR(CNTV_CTL_EL0, 9),
                             A64_MOVZ(2, 0x55, 0)};
    size_t n = append(program, 0, body, ARRAY_SIZE(body));
    n = append(program, n, power_off, ARRAY_SIZE(power_off));
    struct guest g;
    guest_with_gic(&g, program, n, irq_vector_reporting, ARRAY_SIZE(irq_vector_reporting));
    guest_run_until_off(&g);
    ck_assert_uint_eq(g.calls.args[1], EL0_CODE + 5 * 4);
    ck_assert_uint_eq(g.calls.args[2], 0);
    ck_assert_uint_eq(g.calls.args[3], VIRT_TIMER_INTID);
    guest_destroy(&g);
}
END_TEST

/* Acknowledging the only pending interrupt lowers the CPU's IRQ input at once:
 * the handler returns (without EOI, so the interrupt stays active) to unmasked
 * code, which must not be interrupted again. Counted in x4. */
START_TEST(test_irq_acknowledged_is_not_taken_again)
{
    const uint32_t vector[] = {A64_MRS(3, ICC_IAR1_EL1), A64_ADD_X4_1, A64_ERET};
    uint32_t program[16];
    const uint32_t body[] = {A64_MSR(VBAR_EL1, 5), A64_DAIFCLR_I, A64_MOVZ(2, 0x55, 0),
                             A64_ADD_X2_1};
    size_t n = append(program, 0, body, ARRAY_SIZE(body));
    n = append(program, n, power_off, ARRAY_SIZE(power_off));
    struct guest g;
    guest_with_gic(&g, program, n, vector, ARRAY_SIZE(vector));
    ck_assert_int_eq(hv_emu_ops.set_irq(g.vm, SPI, true), 0);
    guest_run_until_off(&g);
    ck_assert_uint_eq(g.calls.args[3], SPI);
    ck_assert_uint_eq(g.calls.args[2], 0x56);
    uint64_t taken = 0;
    ck_assert_int_eq(hv_emu_ops.get_reg(g.vm, 0, HV_REG_X0 + 4, &taken), 0);
    ck_assert_uint_eq(taken, 1);
    guest_destroy(&g);
}
END_TEST

/* ---- WFI and the host's clock ----------------------------------------------------- */

#ifdef EMU_TEST_CLOCK
/* The host clock as the emu backend reads it: the test binary is linked with
 * --wrap=monotonic_ns. A stepped clock moves a fixed step at every read, so
 * that time passes between any two reads, as it does on a loaded host whose
 * scheduler preempts the vCPU thread anywhere. */
uint64_t __real_monotonic_ns(void);
static uint64_t clock_step_ns, clock_now_ns;

uint64_t __wrap_monotonic_ns(void)
{
    if (!clock_step_ns)
        return __real_monotonic_ns();
    return clock_now_ns += clock_step_ns;
}

/* Stops the guest if it has not powered off within the limit: a lost wake-up
 * would otherwise sleep for ever. */
struct watchdog {
    pthread_t thread;
    int fds[2];
    struct hv_vm *vm;
};

static void *watchdog_main(void *arg)
{
    struct watchdog *w = arg;
    struct pollfd pfd = {.fd = w->fds[0], .events = POLLIN};
    if (poll(&pfd, 1, 10000) == 0)
        hv_emu_ops.stop(w->vm);
    return NULL;
}

#define A64_WFI 0xd503207fu
#define A64_ADD_X1_X1_X11 0x8b0b0021u
#define A64_ADD_X11_X11_X10 0x8b0a016bu
#define A64_ADD_X13_1 0x910005adu
#define A64_CMP_X3_SPURIOUS 0xf10ffc7fu /* cmp x3, #1023 */
#define A64_CMP_X11_X12 0xeb0c017fu
#define A64_B_EQ(insns) (0x54000000u | (((uint32_t)(insns) & 0x7ffff) << 5))
#define A64_B_LE(insns) (0x5400000du | (((uint32_t)(insns) & 0x7ffff) << 5))

/* Linux's idle: with IRQs masked, the guest arms its virtual timer and waits in
 * WFI until the timer's interrupt is pending, then acknowledges it. Each round
 * arms the timer half a clock step further out, so that some round's deadline
 * falls between the run loop's last look at the timer lines and its sleep. A
 * sleep that reckoned the deadline from a later clock read than the lines saw
 * the timer as fired already with its line low: no deadline, no wake-up. */
START_TEST(test_wfi_wakes_for_a_timer_that_fires_just_before_the_sleep)
{
    const uint64_t step_ns = 1000000, step_ticks = step_ns / ARCH_TIMER_NS_PER_TICK;
    const uint32_t body[] = {
        A64_MSR(VBAR_EL1, 5),
        /* round: */ A64_MRS(1, CNTVCT_EL0), A64_ADD_X1_X1_X11, A64_MSR(CNTV_CVAL_EL0, 1),
        A64_MOVZ(9, CNT_CTL_ENABLE, 0), A64_MSR(CNTV_CTL_EL0, 9),
        /* wait: */ A64_WFI, A64_MRS(3, ICC_IAR1_EL1), A64_CMP_X3_SPURIOUS, A64_B_EQ(-3),
        A64_MSR(CNTV_CTL_EL0, 31), A64_MSR(ICC_EOIR1_EL1, 3), A64_ADD_X13_1,
        A64_ADD_X11_X11_X10, A64_CMP_X11_X12, A64_B_LE(-14),
        A64_MOVZ(0, 0x0008, 0), A64_MOVK(0, 0x8400, 1), A64_HVC0,
    };
    struct guest g;
    guest_with_gic(&g, body, ARRAY_SIZE(body), power_off, ARRAY_SIZE(power_off));
    const unsigned rounds = 24;
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 10, step_ticks / 2), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 11, step_ticks / 2), 0);
    ck_assert_int_eq(hv_emu_ops.set_reg(g.vm, 0, HV_REG_X0 + 12, rounds * step_ticks / 2), 0);
    struct watchdog w = {.vm = g.vm};
    ck_assert_int_eq(pipe(w.fds), 0);
    ck_assert_int_eq(pthread_create(&w.thread, NULL, watchdog_main, &w), 0);
    clock_now_ns = __real_monotonic_ns();
    clock_step_ns = step_ns;
    struct hv_exit exit;
    hv_emu_ops.run(g.vm, &exit);
    clock_step_ns = 0;
    ck_assert_int_eq(write(w.fds[1], "x", 1), 1);
    pthread_join(w.thread, NULL);
    close(w.fds[0]);
    close(w.fds[1]);
    uint64_t taken = 0;
    ck_assert_int_eq(hv_emu_ops.get_reg(g.vm, 0, HV_REG_X0 + 13, &taken), 0);
    ck_assert_msg(exit.reason == HV_EXIT_SYSTEM_OFF,
                  "the guest slept through its timer after %llu of %u rounds (exit %d)",
                  (unsigned long long)taken, rounds, exit.reason);
    ck_assert_uint_eq(taken, rounds);
    ck_assert_uint_eq(g.calls.args[3], VIRT_TIMER_INTID);
    guest_destroy(&g);
}
END_TEST
#endif

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
    tcase_add_test(el0, test_el0_id_register_read_traps_to_el1);
    tcase_add_test(el0, test_el0_counter_outside_the_mrs_hook);
    tcase_add_test(el0, test_el0_timer_opened_by_cntkctl_outside_the_mrs_hook);
    tcase_add_test(el0, test_el0_id_register_and_cpu_interface_outside_the_mrs_hook);
    suite_add_tcase(s, el0);
    TCase *state = tcase_create("state");
    tcase_set_timeout(state, 20);
    tcase_add_test(state, test_state_moves_a_running_guest);
    tcase_add_test(state, test_state_from_another_build_is_refused);
    tcase_add_test(state, test_state_round_trips_every_field);
    tcase_add_test(state, test_state_guest_counter_continues);
    suite_add_tcase(s, state);
    TCase *icache = tcase_create("icache");
    tcase_set_timeout(icache, 20);
    tcase_add_test(icache, test_ic_ivau_drops_code_rewritten_behind_the_cpu);
    tcase_add_test(icache, test_ic_ivau_through_a_non_executable_alias);
    tcase_add_test(icache, test_ic_ivau_loop_over_a_page);
    tcase_add_test(icache, test_ic_iallu_drops_all_code);
    tcase_add_test(icache, test_ic_ivau_again_after_another_rewrite);
    tcase_add_test(icache, test_el0_ic_ivau_needs_uci);
    suite_add_tcase(s, icache);
    TCase *irq = tcase_create("irq");
    tcase_set_timeout(irq, 20);
    tcase_add_test(irq, test_irq_taken_where_the_guest_unmasks);
    tcase_add_test(irq, test_irq_raised_by_the_guest_taken_at_once);
    tcase_add_test(irq, test_irq_acknowledged_is_not_taken_again);
#ifdef EMU_TEST_CLOCK
    tcase_add_test(irq, test_wfi_wakes_for_a_timer_that_fires_just_before_the_sleep);
#endif
    suite_add_tcase(s, irq);
    TCase *snapshot = tcase_create("snapshot");
    tcase_set_timeout(snapshot, 20);
    tcase_add_test(snapshot, test_clear_stop_lets_the_guest_continue);
    tcase_add_test(snapshot, test_irqchip_state_moves_to_a_new_vm);
    tcase_add_test(snapshot, test_irqchip_state_of_another_size_is_refused);
    tcase_add_test(snapshot, test_irqchip_load_after_run_is_refused);
    suite_add_tcase(s, snapshot);
    return s;
}

int main(void)
{
    return run_suite(emu_backend_suite());
}
