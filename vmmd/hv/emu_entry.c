/* Exception entry for the emu backend, and the start-up proof that it works.
 * See emu_internal.h for why this exists. */
#include "emu_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int emu_cpreg_read(uc_engine *uc, uint32_t reg, uint64_t *value)
{
    uc_arm64_cp_reg cp = {
        .op0 = sysreg_op0(reg), .op1 = sysreg_op1(reg), .crn = sysreg_crn(reg),
        .crm = sysreg_crm(reg), .op2 = sysreg_op2(reg),
    };
    if (uc_reg_read(uc, UC_ARM64_REG_CP_REG, &cp) != UC_ERR_OK)
        return -1;
    *value = cp.val;
    return 0;
}

int emu_cpreg_write(uc_engine *uc, uint32_t reg, uint64_t value)
{
    uc_arm64_cp_reg cp = {
        .op0 = sysreg_op0(reg), .op1 = sysreg_op1(reg), .crn = sysreg_crn(reg),
        .crm = sysreg_crm(reg), .op2 = sysreg_op2(reg), .val = value,
    };
    return uc_reg_write(uc, UC_ARM64_REG_CP_REG, &cp) == UC_ERR_OK ? 0 : -1;
}

int emu_prepare_el1(uc_engine *uc)
{
    /* SCR_EL3: RW (EL2 is AArch64), HCE (HVC enabled), NS. HCR_EL2.RW: EL1 is
     * AArch64. With HCE set an HVC reaches UC_HOOK_INTR as EXCP_HVC. */
    if (emu_cpreg_write(uc, SYSREG_SCR_EL3, 0x501) < 0 ||
        emu_cpreg_write(uc, SYSREG_HCR_EL2, 1ull << 31) < 0)
        return -1;
    uint32_t pstate = PSTATE_EL1H_MASKED;
    return uc_reg_write(uc, UC_ARM64_REG_PSTATE, &pstate) == UC_ERR_OK ? 0 : -1;
}

/* ---- entering an exception --------------------------------------------------- */

int emu_entry_init(struct emu_entry *e, uc_engine *uc, const struct emu_layout *layout)
{
    *e = (struct emu_entry){.uc = uc, .layout = layout};
    if (uc_context_alloc(uc, &e->context) != UC_ERR_OK)
        return -1;
    return 0;
}

void emu_entry_destroy(struct emu_entry *e)
{
    if (e->context)
        uc_context_free(e->context);
    e->context = NULL;
}

static uint32_t context_u32(const uc_context *ctx, size_t offset)
{
    uint32_t v;
    memcpy(&v, (const uint8_t *)ctx + offset, sizeof(v));
    return v;
}

static uint64_t context_u64(const uc_context *ctx, size_t offset)
{
    uint64_t v;
    memcpy(&v, (const uint8_t *)ctx + offset, sizeof(v));
    return v;
}

void emu_entry_observe(struct emu_entry *e, uint64_t pstate)
{
    if (e->layout->method != EMU_ENTRY_PATCH_HFLAGS || (pstate & 0xf) != 0x5)
        return;
    if (uc_context_save(e->uc, e->context) != UC_ERR_OK)
        return;
    e->el1_hflags = context_u32(e->context, e->layout->hflags_offset);
    e->have_el1_hflags = true;
}

int emu_entry_save_flags(struct emu_entry *e, uint32_t *current, uint32_t *el1)
{
    *current = *el1 = 0;
    if (e->layout->method != EMU_ENTRY_PATCH_HFLAGS)
        return 0;
    if (uc_context_save(e->uc, e->context) != UC_ERR_OK)
        return -1;
    *current = context_u32(e->context, e->layout->hflags_offset);
    *el1 = e->have_el1_hflags ? e->el1_hflags : *current;
    return 0;
}

int emu_entry_restore_flags(struct emu_entry *e, uint32_t current, uint32_t el1)
{
    if (e->layout->method == EMU_ENTRY_CPREG_REBUILD) {
        uint64_t spsr;
        if (emu_cpreg_read(e->uc, SYSREG_SPSR_EL1, &spsr) < 0)
            return -1;
        return emu_cpreg_write(e->uc, SYSREG_SPSR_EL1, spsr);
    }
    if (uc_context_save(e->uc, e->context) != UC_ERR_OK)
        return -1;
    memcpy((uint8_t *)e->context + e->layout->hflags_offset, &current, sizeof(current));
    if (uc_context_restore(e->uc, e->context) != UC_ERR_OK)
        return -1;
    e->el1_hflags = el1;
    e->have_el1_hflags = true;
    return 0;
}

void emu_entry_fault_info(struct emu_entry *e, uint32_t *syndrome, uint64_t *far)
{
    if (uc_context_save(e->uc, e->context) != UC_ERR_OK) {
        *syndrome = 0;
        *far = 0;
        return;
    }
    *syndrome = context_u32(e->context, e->layout->syndrome_offset);
    *far = context_u64(e->context, e->layout->vaddress_offset);
}

uint64_t emu_vector_base_offset(uint64_t pstate)
{
    unsigned el = (pstate >> 2) & 3;
    if (pstate & 0x10)
        return 0x600; /* lower EL, AArch32 */
    if (el == 0)
        return 0x400; /* lower EL, AArch64 */
    return (pstate & 1) ? 0x200 : 0x000; /* current EL with SP_ELx, or SP_EL0 */
}

static int write_reg(uc_engine *uc, int reg, uint64_t value)
{
    return uc_reg_write(uc, reg, &value) == UC_ERR_OK ? 0 : -1;
}

static int read_reg(uc_engine *uc, int reg, uint64_t *value)
{
    *value = 0;
    return uc_reg_read(uc, reg, value) == UC_ERR_OK ? 0 : -1;
}

/* Makes Unicorn's cached flags agree with the PSTATE we just wrote. */
static int refresh_hflags(struct emu_entry *e, bool from_el0)
{
    if (e->layout->method == EMU_ENTRY_CPREG_REBUILD) {
        uint64_t spsr;
        if (emu_cpreg_read(e->uc, SYSREG_SPSR_EL1, &spsr) < 0)
            return -1;
        return emu_cpreg_write(e->uc, SYSREG_SPSR_EL1, spsr);
    }
    if (!from_el0)
        return 0; /* EL1 to EL1: the cached flags already describe EL1 */
    if (!e->have_el1_hflags)
        return -1;
    if (uc_context_save(e->uc, e->context) != UC_ERR_OK)
        return -1;
    memcpy((uint8_t *)e->context + e->layout->hflags_offset, &e->el1_hflags, sizeof(uint32_t));
    return uc_context_restore(e->uc, e->context) == UC_ERR_OK ? 0 : -1;
}

int emu_entry_take(struct emu_entry *e, enum emu_vector vector, uint64_t return_pc,
                   bool with_syndrome, uint32_t syndrome, bool with_far, uint64_t far)
{
    uc_engine *uc = e->uc;
    uint64_t pstate, vbar, sp, sp_el1;
    if (read_reg(uc, UC_ARM64_REG_PSTATE, &pstate) < 0 ||
        read_reg(uc, UC_ARM64_REG_VBAR_EL1, &vbar) < 0)
        return -1;
    pstate &= 0xffffffffu;
    unsigned from_el = (pstate >> 2) & 3;
    bool on_sp_el0 = from_el == 0 || !(pstate & 1);

    if (emu_cpreg_write(uc, SYSREG_SPSR_EL1, pstate) < 0 ||
        write_reg(uc, UC_ARM64_REG_ELR_EL1, return_pc) < 0)
        return -1;
    if (with_syndrome && write_reg(uc, UC_ARM64_REG_ESR_EL1, syndrome) < 0)
        return -1;
    if (with_far && write_reg(uc, UC_ARM64_REG_FAR_EL1, far) < 0)
        return -1;
    if (on_sp_el0) {
        /* The live SP is SP_EL0: bank it and switch to SP_EL1. */
        if (read_reg(uc, UC_ARM64_REG_SP, &sp) < 0 ||
            read_reg(uc, UC_ARM64_REG_SP_EL1, &sp_el1) < 0 ||
            write_reg(uc, UC_ARM64_REG_SP_EL0, sp) < 0 ||
            write_reg(uc, UC_ARM64_REG_SP, sp_el1) < 0)
            return -1;
    }
    uint32_t new_pstate = PSTATE_EL1H_MASKED;
    if (uc_reg_write(uc, UC_ARM64_REG_PSTATE, &new_pstate) != UC_ERR_OK)
        return -1;
    if (refresh_hflags(e, from_el == 0) < 0)
        return -1;
    return write_reg(uc, UC_ARM64_REG_PC, vbar + emu_vector_base_offset(pstate) + vector);
}

/* ---- start-up discovery and verification --------------------------------------- */

#define SCRATCH_BASE 0x40000000ull
#define SCRATCH_SIZE 0x200000ull
#define SCRATCH_VBAR (SCRATCH_BASE + 0x800)
#define SCRATCH_L1 (SCRATCH_BASE + 0x1000)
#define SCRATCH_EL0 (SCRATCH_BASE + 0x2000)
#define SCRATCH_FAULT_VA 0x80000000ull /* unmapped by the scratch page table */
#define SCRATCH_SCTLR 0x30d00801ull    /* RES1 bits + M */

/* A64 encodings used by the scratch programs. */
#define A64_SVC(imm) (0xd4000001u | ((uint32_t)(imm) << 5))
#define A64_LDR_X0_XN(n) (0xf9400000u | ((uint32_t)(n) << 5))
#define A64_MRS(rt, reg) (0xd5200000u | ((reg) << 5) | (rt))
#define A64_MOV_X3_SP 0x910003e3u
#define A64_ERET 0xd69f03e0u
#define A64_B_SELF 0x14000000u
#define ESR_SVC64(imm) ((0x15u << 26) | (1u << 25) | (imm))

struct scratch {
    uc_engine *uc;
    uc_hook intr_hook;
    int last_intno;
};

static void scratch_on_interrupt(uc_engine *uc, uint32_t intno, void *opaque)
{
    struct scratch *s = opaque;
    s->last_intno = (int)intno;
    uc_emu_stop(uc);
}

static uint64_t alias_read(uc_engine *uc, uint64_t off, unsigned size, void *opaque)
{
    (void)uc, (void)off, (void)size, (void)opaque;
    return 0;
}

static void alias_write(uc_engine *uc, uint64_t off, unsigned size, uint64_t v, void *opaque)
{
    (void)uc, (void)off, (void)size, (void)v, (void)opaque;
}

static void scratch_close(struct scratch *s)
{
    if (s->uc)
        uc_close(s->uc);
    s->uc = NULL;
}

static int scratch_put(struct scratch *s, uint64_t addr, const uint32_t *insns, size_t n)
{
    return uc_mem_write(s->uc, addr, insns, n * sizeof(uint32_t)) == UC_ERR_OK ? 0 : -1;
}

/* A fresh engine with 2 MiB of RAM; with the MMU on it identity-maps that RAM
 * read-only (executable at EL0 and EL1) through one 1 GiB block and leaves
 * SCRATCH_FAULT_VA unmapped so that a load there takes a translation fault. */
static int scratch_open(struct scratch *s, bool mmu_on)
{
    *s = (struct scratch){.last_intno = -1};
    if (uc_open(UC_ARCH_ARM64, UC_MODE_ARM, &s->uc) != UC_ERR_OK)
        return -1;
    if (uc_ctl_set_cpu_model(s->uc, UC_CPU_ARM64_A57) != UC_ERR_OK ||
        uc_ctl_exits_enable(s->uc) != UC_ERR_OK ||
        uc_mem_map(s->uc, SCRATCH_BASE, SCRATCH_SIZE, UC_PROT_ALL) != UC_ERR_OK ||
        /* Backs the faulting VA so Unicorn 2.0's virtual-address presence check
         * lets the guest-visible translation fault happen. */
        uc_mmio_map(s->uc, SCRATCH_FAULT_VA, 0x100000, alias_read, NULL, alias_write,
                    NULL) != UC_ERR_OK ||
        uc_hook_add(s->uc, &s->intr_hook, UC_HOOK_INTR, (void *)scratch_on_interrupt, s, 1,
                    0) != UC_ERR_OK ||
        emu_prepare_el1(s->uc) < 0 ||
        write_reg(s->uc, UC_ARM64_REG_VBAR_EL1, SCRATCH_VBAR) < 0)
        goto fail;
    if (mmu_on) {
        uint64_t l1[4] = {0};
        /* Block at 1 GiB: AF | inner shareable | AP=RO at EL0 and EL1 | block. */
        l1[1] = SCRATCH_BASE | (1u << 10) | (3u << 8) | (3u << 6) | 0x1;
        uint64_t tcr = 25 | (1u << 8) | (1u << 10) | (3u << 12) | (1u << 23) | (2ull << 32);
        if (uc_mem_write(s->uc, SCRATCH_L1, l1, sizeof(l1)) != UC_ERR_OK ||
            write_reg(s->uc, UC_ARM64_REG_MAIR_EL1, 0xff) < 0 ||
            emu_cpreg_write(s->uc, SYSREG_TCR_EL1, tcr) < 0 ||
            write_reg(s->uc, UC_ARM64_REG_TTBR0_EL1, SCRATCH_L1) < 0 ||
            emu_cpreg_write(s->uc, SYSREG_SCTLR_EL1, SCRATCH_SCTLR) < 0)
            goto fail;
    }
    return 0;
fail:
    scratch_close(s);
    return -1;
}

/* Runs from pc until the first exception report (or count instructions). */
static int scratch_run(struct scratch *s, uint64_t pc, size_t count)
{
    s->last_intno = -1;
    uc_err err = uc_emu_start(s->uc, pc, 0, 0, count);
    return err == UC_ERR_OK ? s->last_intno : -1;
}

static uc_context *scratch_context(struct scratch *s)
{
    uc_context *ctx = NULL;
    if (uc_context_alloc(s->uc, &ctx) != UC_ERR_OK)
        return NULL;
    if (uc_context_save(s->uc, ctx) != UC_ERR_OK) {
        uc_context_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Context after one program ran to its first exception, or NULL. */
static uc_context *context_after(bool mmu_on, const uint32_t *prog, size_t n,
                                 const uint64_t *x, size_t nx, int expect_intno)
{
    struct scratch s;
    if (scratch_open(&s, mmu_on) < 0)
        return NULL;
    uc_context *ctx = NULL;
    bool ok = scratch_put(&s, SCRATCH_BASE, prog, n) == 0;
    for (size_t i = 0; ok && i < nx; i++)
        ok = write_reg(s.uc, UC_ARM64_REG_X0 + (int)i, x[i]) == 0;
    if (ok && scratch_run(&s, SCRATCH_BASE, 16) == expect_intno)
        ctx = scratch_context(&s);
    scratch_close(&s);
    return ctx;
}

/* Offsets where context a holds va and context b holds vb, as width-byte values.
 * The scan moves 4 bytes at a time whatever the width: the CPU state does not start
 * 8-aligned inside every Unicorn's context (2.1 put an int before it, so its 64-bit
 * fields sit at 4 mod 8). */
static size_t find_offsets(const uc_context *a, const uc_context *b, size_t size,
                           size_t width, uint64_t va, uint64_t vb, size_t *found, size_t max)
{
    size_t n = 0;
    for (size_t off = 0; off + width <= size && n < max; off += 4) {
        uint64_t x = width == 4 ? context_u32(a, off) : context_u64(a, off);
        uint64_t y = width == 4 ? context_u32(b, off) : context_u64(b, off);
        if (x == va && y == vb)
            found[n++] = off;
    }
    return n;
}

/* Runs two two-instruction programs to their first exception (registers x0..x2
 * preset) and finds the offset at which the saved contexts hold want_a and want_b. */
static int offset_holding(const struct emu_layout *l, bool mmu_on, int intno, size_t width,
                          const uint32_t prog_a[2], const uint64_t x_a[3], uint64_t want_a,
                          const uint32_t prog_b[2], const uint64_t x_b[3], uint64_t want_b,
                          size_t *offset)
{
    uc_context *a = context_after(mmu_on, prog_a, 2, x_a, 3, intno);
    uc_context *b = context_after(mmu_on, prog_b, 2, x_b, 3, intno);
    size_t found[4], n = 0;
    if (a && b)
        n = find_offsets(a, b, l->context_size, width, want_a, want_b, found, 4);
    if (a)
        uc_context_free(a);
    if (b)
        uc_context_free(b);
    if (n == 0)
        return -1;
    *offset = found[0];
    return 0;
}

/* ESR: two SVCs with different immediates. */
static int discover_syndrome(struct emu_layout *l)
{
    const uint32_t p1[] = {A64_SVC(0x1234), A64_B_SELF};
    const uint32_t p2[] = {A64_SVC(0x4321), A64_B_SELF};
    const uint64_t none[3] = {0};
    return offset_holding(l, false, EMU_EXCP_SWI, 4, p1, none, ESR_SVC64(0x1234), p2, none,
                          ESR_SVC64(0x4321), &l->syndrome_offset);
}

/* FAR: translation faults at two addresses, held in different registers so that
 * the register file itself cannot match both. */
static int discover_vaddress(struct emu_layout *l)
{
    const uint64_t va = SCRATCH_FAULT_VA + 0x1238, vb = SCRATCH_FAULT_VA + 0x45670;
    const uint32_t p1[] = {A64_LDR_X0_XN(1), A64_B_SELF};
    const uint32_t p2[] = {A64_LDR_X0_XN(2), A64_B_SELF};
    const uint64_t x1[3] = {0, va, 0}, x2[3] = {0, 0, vb};
    return offset_holding(l, true, EMU_EXCP_DATA_ABORT, 8, p1, x1, va, p2, x2, vb,
                          &l->vaddress_offset);
}

/* Runs EL1 code that ERETs to EL0, takes an SVC from EL0 by hand, and checks that
 * the vector ran at EL1 (it reads EL1-only registers) and returned to EL0. */
static bool verify_entry(const struct emu_layout *l)
{
    const uint64_t sp_el0 = SCRATCH_BASE + 0x180000, sp_el1 = SCRATCH_BASE + 0x1c0000;
    const uint32_t el1[] = {A64_SVC(1), A64_ERET};
    const uint32_t el0[] = {A64_SVC(7), A64_SVC(9), A64_B_SELF};
    const uint32_t vec[] = {
        A64_MRS(0, SYSREG_SCTLR_EL1), A64_MRS(1, SYSREG(3, 0, 5, 2, 0) /* ESR_EL1 */),
        A64_MRS(2, SYSREG(3, 0, 4, 0, 1) /* ELR_EL1 */), A64_MOV_X3_SP, A64_ERET,
    };
    struct scratch s;
    if (scratch_open(&s, true) < 0)
        return false;
    struct emu_entry e;
    bool ok = scratch_put(&s, SCRATCH_BASE, el1, 2) == 0 &&
              scratch_put(&s, SCRATCH_EL0, el0, 3) == 0 &&
              scratch_put(&s, SCRATCH_VBAR + 0x400, vec, 5) == 0 &&
              write_reg(s.uc, UC_ARM64_REG_SP, sp_el1) == 0 &&
              write_reg(s.uc, UC_ARM64_REG_SP_EL0, sp_el0) == 0 &&
              write_reg(s.uc, UC_ARM64_REG_ELR_EL1, SCRATCH_EL0) == 0 &&
              emu_cpreg_write(s.uc, SYSREG_SPSR_EL1, 0) == 0 &&
              emu_entry_init(&e, s.uc, l) == 0;
    if (!ok) {
        scratch_close(&s);
        return false;
    }
    uint64_t pstate = 0, pc = 0, x[4] = {0}, sp = 0;
    uint32_t syndrome = 0;
    uint64_t far = 0;
    /* 1: stop at EL1 so that the EL1 flags can be observed. */
    ok = scratch_run(&s, SCRATCH_BASE, 16) == EMU_EXCP_SWI &&
         read_reg(s.uc, UC_ARM64_REG_PSTATE, &pstate) == 0;
    if (ok)
        emu_entry_observe(&e, pstate);
    /* 2: ERET to EL0, which takes SVC #7. */
    ok = ok && scratch_run(&s, SCRATCH_BASE + 4, 16) == EMU_EXCP_SWI &&
         read_reg(s.uc, UC_ARM64_REG_PSTATE, &pstate) == 0 && ((pstate >> 2) & 3) == 0 &&
         read_reg(s.uc, UC_ARM64_REG_PC, &pc) == 0 && pc == SCRATCH_EL0 + 4;
    if (ok) {
        emu_entry_fault_info(&e, &syndrome, &far);
        ok = syndrome == ESR_SVC64(7) &&
             emu_entry_take(&e, EMU_VECTOR_SYNC, pc, true, syndrome, false, 0) == 0 &&
             read_reg(s.uc, UC_ARM64_REG_PC, &pc) == 0;
    }
    /* 3: the vector runs at EL1, ERETs, and EL0 takes SVC #9. */
    ok = ok && scratch_run(&s, pc, 16) == EMU_EXCP_SWI;
    for (int i = 0; ok && i < 4; i++)
        ok = read_reg(s.uc, UC_ARM64_REG_X0 + i, &x[i]) == 0;
    ok = ok && read_reg(s.uc, UC_ARM64_REG_PSTATE, &pstate) == 0 &&
         read_reg(s.uc, UC_ARM64_REG_PC, &pc) == 0 && read_reg(s.uc, UC_ARM64_REG_SP, &sp) == 0;
    ok = ok && ((pstate >> 2) & 3) == 0 && pc == SCRATCH_EL0 + 8 && x[0] == SCRATCH_SCTLR &&
         x[1] == ESR_SVC64(7) && x[2] == SCRATCH_EL0 + 4 && x[3] == sp_el1 && sp == sp_el0;
    emu_entry_destroy(&e);
    scratch_close(&s);
    return ok;
}

/* Words that look like QEMU's cached A64 flags (bit 31, AARCH64_STATE) and differ
 * between EL1 and EL0 (the MMU index field does). */
static size_t hflags_candidates(const struct emu_layout *l, size_t *found, size_t max)
{
    const uint32_t el1[] = {A64_SVC(1), A64_ERET};
    const uint32_t el0[] = {A64_SVC(2), A64_B_SELF};
    struct scratch s;
    size_t n = 0;
    if (scratch_open(&s, true) < 0)
        return 0;
    uc_context *a = NULL, *b = NULL;
    if (scratch_put(&s, SCRATCH_BASE, el1, 2) == 0 && scratch_put(&s, SCRATCH_EL0, el0, 2) == 0 &&
        write_reg(s.uc, UC_ARM64_REG_ELR_EL1, SCRATCH_EL0) == 0 &&
        emu_cpreg_write(s.uc, SYSREG_SPSR_EL1, 0) == 0 &&
        scratch_run(&s, SCRATCH_BASE, 16) == EMU_EXCP_SWI)
        a = scratch_context(&s);
    if (a && scratch_run(&s, SCRATCH_BASE + 4, 16) == EMU_EXCP_SWI)
        b = scratch_context(&s);
    for (size_t off = 0; a && b && off + 4 <= l->context_size && n < max; off += 4) {
        uint32_t x = context_u32(a, off), y = context_u32(b, off);
        if (x != y && (x & (1u << 31)) && (y & (1u << 31)) && ((x ^ y) & (0xfu << 24)))
            found[n++] = off;
    }
    if (a)
        uc_context_free(a);
    if (b)
        uc_context_free(b);
    scratch_close(&s);
    return n;
}

int emu_discover_layout(struct emu_layout *l, char *err, size_t err_len)
{
    unsigned int major, minor;
    unsigned int version = uc_version(&major, &minor);
    unsigned int patch = (version >> 8) & 0xff;
    struct scratch s;
    if (scratch_open(&s, false) < 0) {
        snprintf(err, err_len, "Unicorn %u.%u.%u cannot create an arm64 cortex-a57 engine",
                 major, minor, patch);
        return -1;
    }
    *l = (struct emu_layout){.context_size = uc_context_size(s.uc)};
    scratch_close(&s);

    if (discover_syndrome(l) < 0 || discover_vaddress(l) < 0) {
        snprintf(err, err_len,
                 "Unicorn %u.%u.%u: could not find where it keeps exception syndromes; "
                 "the emu backend cannot enter guest exceptions with this build",
                 major, minor, patch);
        return -1;
    }
    l->method = EMU_ENTRY_CPREG_REBUILD;
    if (verify_entry(l))
        return 0;
    size_t candidates[8];
    size_t n = hflags_candidates(l, candidates, 8);
    l->method = EMU_ENTRY_PATCH_HFLAGS;
    for (size_t i = 0; i < n; i++) {
        l->hflags_offset = candidates[i];
        if (verify_entry(l))
            return 0;
    }
    snprintf(err, err_len,
             "Unicorn %u.%u.%u: a hand-made exception entry from EL0 to EL1 did not work "
             "(%zu candidate flag words tried); refusing to run guests that would crash",
             major, minor, patch, n);
    return -1;
}
