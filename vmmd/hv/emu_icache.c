/* Instruction-cache maintenance for the emu backend.
 *
 * QEMU's translator notices guest stores to pages that hold translated code,
 * but not writes made through the host pointer of RAM mapped with
 * uc_mem_map_ptr. A device that fills a page by DMA (the page cache of a
 * program read from a virtio disk) would leave translations of the page's old
 * contents in place. Real hardware has the same problem with its instruction
 * cache, and the guest already solves it: before executing such a page it
 * cleans the data cache and invalidates the instruction cache for it (Linux
 * does whenever CTR_EL0.DIC is 0, as on the emulated Cortex-A57). Unicorn
 * treats IC IVAU, IC IALLU and IC IALLUIS as NOPs; a SYS hook gives them back
 * their meaning by dropping the translations they cover. */
#include "emu_internal.h"

#define SYS_IC_IALLUIS SYSREG(1, 0, 7, 1, 0)
#define SYS_IC_IALLU SYSREG(1, 0, 7, 5, 0)
#define SYS_IC_IVAU SYSREG(1, 3, 7, 5, 1)
#define SYSREG_CTR_EL0 SYSREG(3, 3, 0, 0, 1)

#define SCTLR_M 1ull
#define TCR_TBI0 (1ull << 37)
#define TCR_TBID0 (1ull << 51)
#define PAGE_MASK 0xfffull
/* A top byte no address the guest uses can carry (see drop_physical). */
#define PRIVATE_TAG (0x0full << 56)

static bool at_el0(uc_engine *uc)
{
    uint64_t pstate = 0;
    uc_reg_read(uc, UC_ARM64_REG_PSTATE, &pstate);
    return ((pstate >> 2) & 3) == 0;
}

static bool translate(struct emu_icache *ic, uint64_t va, uint64_t *pa)
{
    struct emu_mmu_regs regs = {0};
    uc_reg_read(ic->uc, UC_ARM64_REG_TTBR0_EL1, &regs.ttbr0);
    uc_reg_read(ic->uc, UC_ARM64_REG_TTBR1_EL1, &regs.ttbr1);
    if (emu_cpreg_read(ic->uc, SYSREG_SCTLR_EL1, &regs.sctlr) < 0 ||
        emu_cpreg_read(ic->uc, SYSREG_TCR_EL1, &regs.tcr) < 0)
        return false;
    return emu_translate(&regs, va, ic->read_phys, ic->opaque, pa);
}

static bool in_ram(const struct emu_icache *ic, uint64_t pa, uint64_t len)
{
    for (unsigned i = 0; i < *ic->num_ram; i++) {
        const struct emu_ram *r = &ic->ram[i];
        if (pa >= r->gpa && len <= r->size && pa - r->gpa <= r->size - len)
            return true;
    }
    return false;
}

/* Drops the translations made from guest-physical [pa, pa + len), which lies in
 * one RAM region (one Unicorn RAM block).
 *
 * uc_ctl_remove_cache takes a *virtual* address and translates it as an
 * instruction fetch with the guest's current MMU state (get_page_addr_code).
 * The address IC IVAU names is often not executable (Linux maintains pages
 * through its non-executable linear map): Unicorn's fetch translation then
 * faults, swallows the fault, invalidates nothing, and leaves the fault pending,
 * so the guest later takes a spurious instruction abort. So, for the duration of
 * the call, stage 1 is off (the address is its own physical one) and the top
 * byte is ignored, and the address carries PRIVATE_TAG: Unicorn strips tags
 * from every address the guest itself uses when TBI is on, and refuses tagged
 * ones when it is off, so no entry of the guest's matches it in Unicorn's TLB,
 * and the identity entry made here is one the guest can never hit. That saves
 * flushing TLB entries around the call, which Unicorn does for the whole TLB
 * whenever the guest has block mappings. The register writes are raw (no side
 * effects) and restore the guest's values.
 *
 * Invalidating is what Unicorn does itself when a guest store hits translated
 * code, so it is safe inside a hook: the block running now finishes from its
 * old translation (allowed: new instructions need an ISB, which ends blocks). */
static void drop_physical(struct emu_icache *ic, uint64_t pa, uint64_t len)
{
    uint64_t sctlr, tcr, start = PRIVATE_TAG | pa, end = start + len;
    if (!in_ram(ic, pa, len))
        return; /* no translations come from elsewhere */
    if (emu_cpreg_read(ic->uc, SYSREG_SCTLR_EL1, &sctlr) < 0 ||
        emu_cpreg_read(ic->uc, SYSREG_TCR_EL1, &tcr) < 0)
        return;
    ic->stats.dropped++;
    emu_cpreg_write(ic->uc, SYSREG_SCTLR_EL1, sctlr & ~SCTLR_M);
    emu_cpreg_write(ic->uc, SYSREG_TCR_EL1, (tcr | TCR_TBI0) & ~TCR_TBID0);
    uc_ctl_remove_cache(ic->uc, start, end);
    emu_cpreg_write(ic->uc, SYSREG_TCR_EL1, tcr);
    emu_cpreg_write(ic->uc, SYSREG_SCTLR_EL1, sctlr);
}

/* Not uc_ctl's TB flush: Unicorn 2.0 runs it synchronously, so from a hook the
 * execution loop would then patch a jump into the freed block it just left; and
 * it zeroes the whole translation buffer (1 GiB, faulted in on first use). */
static void drop_all(struct emu_icache *ic)
{
    ic->stats.all++;
    for (unsigned i = 0; i < *ic->num_ram; i++)
        drop_physical(ic, ic->ram[i].gpa, ic->ram[i].size);
}

/* Linux maintains a page one line at a time, 64 IC IVAUs in a loop. The first
 * drops its line; the second one in the same page drops the rest of the page
 * (more than asked, which is always allowed); the others are skipped while
 * nothing but the loop has run, since no translation of the page can since have
 * been made from data older than that. Single lines (code patching) stay cheap
 * and do not throw away the translations around them. */
static void ic_ivau(struct emu_icache *ic, uint64_t va)
{
    uint64_t page = va & ~PAGE_MASK, line = va & ~(ic->line_size - 1), pa;
    ic->stats.ivau++;
    if (ic->loop_running && page == ic->loop_page) {
        if (!ic->loop_page_dropped)
            drop_physical(ic, ic->loop_pa, PAGE_MASK + 1);
        ic->loop_page_dropped = true;
        return;
    }
    /* The walk covers what Linux configures; anything else drops everything
     * rather than leave stale code behind. */
    if (!translate(ic, line, &pa)) {
        drop_all(ic);
        return;
    }
    drop_physical(ic, pa, ic->line_size);
    ic->loop_running = true;
    ic->loop_page_dropped = false;
    ic->loop_page = page;
    ic->loop_pa = pa & ~PAGE_MASK;
    uc_reg_read(ic->uc, UC_ARM64_REG_PC, &ic->loop_pc); /* Unicorn synced it for the hook */
}

/* Runs for every SYS instruction the guest executes (op0 = 1: cache, TLB and
 * address-translation maintenance), before Unicorn's own access checks. */
static uint32_t on_sys(uc_engine *uc, uc_arm64_reg rt, const uc_arm64_cp_reg *cp, void *opaque)
{
    (void)rt;
    struct emu_icache *ic = opaque;
    uint32_t op = SYSREG(cp->op0, cp->op1, cp->crn, cp->crm, cp->op2);
    /* At EL0 Unicorn may still refuse them after we return (IC IVAU without
     * SCTLR_EL1.UCI, the IALL forms always); the work done here is then merely
     * early for IC IVAU, and skipped for the costly IALL forms. */
    if (op == SYS_IC_IVAU)
        ic_ivau(ic, cp->val);
    else if ((op == SYS_IC_IALLU || op == SYS_IC_IALLUIS) && !at_el0(uc))
        drop_all(ic);
    /* 0: Unicorn goes on with its own handling (access checks, then the NOP),
     * and PC advances as for any instruction it knows. */
    return 0;
}

int emu_icache_init(struct emu_icache *ic, uc_engine *uc, const struct emu_ram *ram,
                    const unsigned *num_ram, emu_read_phys_fn read_phys, void *opaque)
{
    *ic = (struct emu_icache){.uc = uc, .ram = ram, .num_ram = num_ram,
                              .read_phys = read_phys, .opaque = opaque};
    /* CTR_EL0.IminLine: log2 of the smallest instruction-cache line, in words. */
    uint64_t ctr;
    if (emu_cpreg_read(uc, SYSREG_CTR_EL0, &ctr) < 0)
        return -1;
    ic->line_size = 4ull << (ctr & 0xf);
    return uc_hook_add(uc, &ic->hook, UC_HOOK_INSN, (void *)on_sys, ic, 1, 0,
                       UC_ARM64_INS_SYS) == UC_ERR_OK ? 0 : -1;
}

/* A block that does not hold the IC IVAU ends the loop: from then on the guest
 * may have learnt that a device rewrote a page it maintained before. */
void emu_icache_block(struct emu_icache *ic, uint64_t address, uint32_t size)
{
    if (ic->loop_pc - address >= size)
        ic->loop_running = false;
}

/* So does a slice boundary, where interrupts are taken. */
void emu_icache_slice_ended(struct emu_icache *ic)
{
    ic->loop_running = false;
}
