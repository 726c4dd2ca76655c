/* The emu backend's hand-made exception entry (emu_internal.h): the vector
 * offsets, the stage-1 walk it uses to read guest instructions, the start-up
 * layout discovery on this machine's Unicorn, and one real SVC taken into an EL1
 * vector and returned from. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/emu_internal.h"
#include "unit.h"

/* ---- vector offsets ---------------------------------------------------------------------- */

START_TEST(test_vector_offset_from_el0)
{
    ck_assert_uint_eq(emu_vector_base_offset(0x0), 0x400);
    ck_assert_uint_eq(emu_vector_base_offset(0x3c0), 0x400); /* DAIF do not matter */
}
END_TEST

START_TEST(test_vector_offset_from_el1h)
{
    ck_assert_uint_eq(emu_vector_base_offset(0x5), 0x200);
    ck_assert_uint_eq(emu_vector_base_offset(0x600003c5), 0x200);
}
END_TEST

START_TEST(test_vector_offset_from_el1t)
{
    ck_assert_uint_eq(emu_vector_base_offset(0x4), 0x000);
}
END_TEST

/* ---- stage-1 walk -------------------------------------------------------------------------- */

/* Guest-physical memory holding the test's page tables, one 4 KiB page each. */
#define PT_BASE 0x80000000ull
#define PT_L0 (PT_BASE + 0x0000)
#define PT_L1 (PT_BASE + 0x1000)
#define PT_L2 (PT_BASE + 0x2000)
#define PT_L3 (PT_BASE + 0x3000)
#define PT_L1_UPPER (PT_BASE + 0x4000)
#define PT_PAGES 5

#define DESC_VALID 0x1ull
#define DESC_TABLE 0x3ull
#define DESC_BLOCK 0x1ull
#define DESC_PAGE 0x3ull
#define DESC_AF (1ull << 10)
#define DESC_PXN (1ull << 53)
#define DESC_UXN (1ull << 54)

#define TCR_T0SZ(n) ((uint64_t)(n))
#define TCR_T1SZ(n) ((uint64_t)(n) << 16)
#define TCR_EPD0 (1ull << 7)
#define TCR_TG0_64K (1ull << 14)
#define TCR_TG1_4K (2ull << 30)
#define TCR_39BIT (TCR_T0SZ(25) | TCR_T1SZ(25) | TCR_TG1_4K)
#define SCTLR_M 1ull

static struct {
    uint64_t words[PT_PAGES * 512];
    unsigned reads;
} phys;

static bool read_phys(void *opaque, uint64_t pa, uint64_t *value)
{
    ck_assert_ptr_eq(opaque, &phys);
    phys.reads++;
    if (pa < PT_BASE || pa >= PT_BASE + sizeof(phys.words) || (pa & 7))
        return false;
    *value = phys.words[(pa - PT_BASE) / 8];
    return true;
}

static void set_desc(uint64_t table, unsigned index, uint64_t desc)
{
    phys.words[(table - PT_BASE) / 8 + index] = desc;
}

/* The tables Linux-like code would build, with T0SZ = 25 (39-bit VAs, walks
 * starting at level 1):
 *   VA 0x0000_5000 -> L1[0] -> L2[0] -> L3[5] page -> PA 0x1234_5000
 *   VA 0x0020_0000 -> L1[0] -> L2[1] 2 MiB block   -> PA 0x1220_0000
 *   VA 0x4000_0000 -> L1[1] 1 GiB block            -> PA 0xc000_0000
 * and invalid or reserved entries next to each. */
static void build_tables(void)
{
    memset(&phys, 0, sizeof(phys));
    set_desc(PT_L0, 0, PT_L1 | DESC_TABLE);
    set_desc(PT_L0, 1, 0xc0000000ull | DESC_BLOCK | DESC_AF); /* no L0 blocks with 4K */
    set_desc(PT_L1, 0, PT_L2 | DESC_TABLE);
    set_desc(PT_L1, 1, 0xc0000000ull | DESC_BLOCK | DESC_AF);
    set_desc(PT_L1, 3, 0x100000000ull | DESC_TABLE); /* a table outside memory */
    set_desc(PT_L2, 0, PT_L3 | DESC_TABLE);
    set_desc(PT_L2, 1, 0x12200000ull | DESC_BLOCK | DESC_AF);
    set_desc(PT_L3, 5, 0x12345000ull | DESC_PAGE | DESC_AF | DESC_PXN | DESC_UXN);
    set_desc(PT_L3, 7, 0x22222000ull | DESC_VALID); /* reserved encoding at level 3 */
    set_desc(PT_L1_UPPER, 0x100, 0x40000000ull | DESC_BLOCK | DESC_AF);
}

static struct emu_mmu_regs mmu_39bit(void)
{
    return (struct emu_mmu_regs){
        .sctlr = SCTLR_M, .tcr = TCR_39BIT, .ttbr0 = PT_L1, .ttbr1 = PT_L1_UPPER};
}

static bool translate(const struct emu_mmu_regs *regs, uint64_t va, uint64_t *pa)
{
    *pa = 0xbadbadbadull;
    return emu_translate(regs, va, read_phys, &phys, pa);
}

static void assert_translates(const struct emu_mmu_regs *regs, uint64_t va, uint64_t expected)
{
    uint64_t pa;
    ck_assert_msg(translate(regs, va, &pa), "VA 0x%llx did not translate",
                  (unsigned long long)va);
    ck_assert_msg(pa == expected, "VA 0x%llx -> PA 0x%llx, expected 0x%llx",
                  (unsigned long long)va, (unsigned long long)pa, (unsigned long long)expected);
}

static void assert_faults(const struct emu_mmu_regs *regs, uint64_t va)
{
    uint64_t pa;
    ck_assert_msg(!translate(regs, va, &pa), "VA 0x%llx translated to 0x%llx, expected a fault",
                  (unsigned long long)va, (unsigned long long)pa);
}

START_TEST(test_walk_level3_page)
{
    struct emu_mmu_regs regs = mmu_39bit();
    assert_translates(&regs, 0x5abc, 0x12345abc);
    ck_assert_uint_eq(phys.reads, 3); /* levels 1, 2 and 3 */
}
END_TEST

START_TEST(test_walk_level2_block)
{
    struct emu_mmu_regs regs = mmu_39bit();
    assert_translates(&regs, 0x2abcde, 0x122abcde);
}
END_TEST

START_TEST(test_walk_level1_block)
{
    struct emu_mmu_regs regs = mmu_39bit();
    assert_translates(&regs, 0x40000000, 0xc0000000);
    assert_translates(&regs, 0x7ffffffc, 0xfffffffc);
}
END_TEST

START_TEST(test_walk_invalid_entries_fault)
{
    struct emu_mmu_regs regs = mmu_39bit();
    assert_faults(&regs, 0x6000);     /* L3[6] empty */
    assert_faults(&regs, 0x7000);     /* L3[7] reserved */
    assert_faults(&regs, 0x80000000); /* L1[2] empty */
    assert_faults(&regs, 0xc0000000); /* L1[3] table outside memory */
}
END_TEST

START_TEST(test_walk_upper_range_uses_ttbr1)
{
    struct emu_mmu_regs regs = mmu_39bit();
    assert_translates(&regs, 0xffffffc000001234ull, 0x40001234);
}
END_TEST

START_TEST(test_walk_48bit_starts_at_level0)
{
    struct emu_mmu_regs regs = {
        .sctlr = SCTLR_M, .tcr = TCR_T0SZ(16) | (TCR_39BIT & ~0x3full), .ttbr0 = PT_L0};
    assert_translates(&regs, 0x5abc, 0x12345abc);
    ck_assert_uint_eq(phys.reads, 4);
    assert_faults(&regs, 0x8000000000ull); /* L0[1] is a block: invalid at level 0 */
}
END_TEST

START_TEST(test_walk_mmu_off_is_identity)
{
    struct emu_mmu_regs regs = mmu_39bit();
    regs.sctlr = 0;
    assert_translates(&regs, 0xffff000012345678ull, 0xffff000012345678ull);
    ck_assert_uint_eq(phys.reads, 0);
}
END_TEST

START_TEST(test_walk_epd0_faults)
{
    struct emu_mmu_regs regs = mmu_39bit();
    regs.tcr |= TCR_EPD0;
    assert_faults(&regs, 0x5abc);
    ck_assert_uint_eq(phys.reads, 0);
}
END_TEST

START_TEST(test_walk_other_granule_refused)
{
    struct emu_mmu_regs regs = mmu_39bit();
    regs.tcr |= TCR_TG0_64K;
    assert_faults(&regs, 0x5abc);
}
END_TEST

/* Regression: VA bits above the configured size must fault. */
START_TEST(test_walk_va_outside_range_faults)
{
    struct emu_mmu_regs regs = mmu_39bit();
    assert_faults(&regs, 0x8000005abcull);
}
END_TEST

/* ---- Unicorn: discovery and a real exception ---------------------------------------------- */

static struct emu_layout layout;
static bool layout_found;
static char layout_err[256];

/* Runs once, in the parent, so that each test does not redo the discovery. */
static void discover(void)
{
    layout_found = emu_discover_layout(&layout, layout_err, sizeof(layout_err)) == 0;
}

START_TEST(test_discover_layout)
{
    ck_assert_msg(layout_found, "emu_discover_layout: %s", layout_err);
    ck_assert_uint_gt(layout.context_size, 0);
    ck_assert_uint_le(layout.syndrome_offset + sizeof(uint32_t), layout.context_size);
    ck_assert_uint_le(layout.vaddress_offset + sizeof(uint64_t), layout.context_size);
    if (layout.method == EMU_ENTRY_PATCH_HFLAGS)
        ck_assert_uint_le(layout.hflags_offset + sizeof(uint32_t), layout.context_size);
    else
        ck_assert_int_eq(layout.method, EMU_ENTRY_CPREG_REBUILD);
}
END_TEST

#define RAM_BASE 0x40000000ull
#define RAM_SIZE 0x200000ull
#define VBAR (RAM_BASE + 0x800)
#define STACK (RAM_BASE + 0x100000)
#define PSTATE_BEFORE 0x60000005ull /* EL1h, Z and C set, DAIF clear */

#define INSN_SVC_5 0xd40000a1u
#define INSN_MOVZ_X1_0x77 0xd2800ee1u
#define INSN_SVC_6 0xd40000c1u
#define INSN_B_SELF 0x14000000u
#define INSN_MRS_X0_ESR_EL1 0xd5385200u
#define INSN_ERET 0xd69f03e0u
#define ESR_SVC64_5 0x56000005u /* EC 0x15 (SVC from AArch64), IL, imm16 5 */

struct guest {
    uc_engine *uc;
    uc_hook hook;
    int intno;
    struct emu_entry entry;
};

static struct guest g;

static void on_interrupt(uc_engine *uc, uint32_t intno, void *opaque)
{
    struct guest *guest = opaque;
    guest->intno = (int)intno;
    uc_emu_stop(uc);
}

static uint64_t reg(int id)
{
    uint64_t v = 0;
    ck_assert_int_eq(uc_reg_read(g.uc, id, &v), UC_ERR_OK);
    return v;
}

static void set_reg(int id, uint64_t v)
{
    ck_assert_int_eq(uc_reg_write(g.uc, id, &v), UC_ERR_OK);
}

static void put(uint64_t addr, const uint32_t *insns, size_t n)
{
    ck_assert_int_eq(uc_mem_write(g.uc, addr, insns, n * sizeof(uint32_t)), UC_ERR_OK);
}

/* Runs from pc until the first exception the hook sees; returns its number. */
static int run(uint64_t pc, size_t max_insns)
{
    g.intno = -1;
    ck_assert_int_eq(uc_emu_start(g.uc, pc, 0, 0, max_insns), UC_ERR_OK);
    return g.intno;
}

/* An A57 at EL1h with 2 MiB of RAM, a program at RAM_BASE and a vector that
 * reads ESR_EL1 into x0 and returns. */
static void guest_open(void)
{
    ck_assert_msg(layout_found, "emu_discover_layout: %s", layout_err);
    memset(&g, 0, sizeof(g));
    ck_assert_int_eq(uc_open(UC_ARCH_ARM64, UC_MODE_ARM, &g.uc), UC_ERR_OK);
    ck_assert_int_eq(uc_ctl_set_cpu_model(g.uc, UC_CPU_ARM64_A57), UC_ERR_OK);
    ck_assert_int_eq(uc_mem_map(g.uc, RAM_BASE, RAM_SIZE, UC_PROT_ALL), UC_ERR_OK);
    ck_assert_int_eq(uc_hook_add(g.uc, &g.hook, UC_HOOK_INTR, (void *)on_interrupt, &g, 1, 0),
                     UC_ERR_OK);
    ck_assert_int_eq(emu_prepare_el1(g.uc), 0);
    set_reg(UC_ARM64_REG_VBAR_EL1, VBAR);
    set_reg(UC_ARM64_REG_SP, STACK);
    const uint32_t program[] = {INSN_SVC_5, INSN_MOVZ_X1_0x77, INSN_SVC_6, INSN_B_SELF};
    const uint32_t vector[] = {INSN_MRS_X0_ESR_EL1, INSN_ERET};
    put(RAM_BASE, program, 4);
    put(VBAR + 0x200, vector, 2); /* current EL with SP_ELx, synchronous */
    ck_assert_int_eq(emu_entry_init(&g.entry, g.uc, &layout), 0);
}

static void guest_close(void)
{
    emu_entry_destroy(&g.entry);
    if (g.uc)
        uc_close(g.uc);
    g.uc = NULL;
}

/* Runs to the first SVC and takes it into the EL1 vector by hand, as the emu
 * backend's run loop does. */
static void take_svc(void)
{
    uint32_t pstate = (uint32_t)PSTATE_BEFORE;
    ck_assert_int_eq(uc_reg_write(g.uc, UC_ARM64_REG_PSTATE, &pstate), UC_ERR_OK);
    ck_assert_int_eq(run(RAM_BASE, 16), EMU_EXCP_SWI);
    uint64_t return_pc = reg(UC_ARM64_REG_PC);
    ck_assert_uint_eq(return_pc, RAM_BASE + 4); /* SVC returns past itself */
    uint32_t syndrome;
    uint64_t far;
    emu_entry_fault_info(&g.entry, &syndrome, &far);
    ck_assert_uint_eq(syndrome, ESR_SVC64_5);
    ck_assert_int_eq(emu_entry_take(&g.entry, EMU_VECTOR_SYNC, return_pc, true, syndrome, false, 0),
                     0);
}

START_TEST(test_svc_entry_state)
{
    guest_open();
    take_svc();
    ck_assert_uint_eq(reg(UC_ARM64_REG_PC), VBAR + 0x200);
    ck_assert_uint_eq(reg(UC_ARM64_REG_ELR_EL1), RAM_BASE + 4);
    ck_assert_uint_eq(reg(UC_ARM64_REG_ESR_EL1) & 0xffffffffu, ESR_SVC64_5);
    uint64_t spsr;
    ck_assert_int_eq(emu_cpreg_read(g.uc, SYSREG_SPSR_EL1, &spsr), 0);
    ck_assert_uint_eq(spsr, PSTATE_BEFORE);
    ck_assert_uint_eq(reg(UC_ARM64_REG_PSTATE) & 0xffffffffu, PSTATE_EL1H_MASKED);
    ck_assert_uint_eq(reg(UC_ARM64_REG_SP), STACK); /* EL1h to EL1h: same stack */
    guest_close();
}
END_TEST

START_TEST(test_svc_vector_runs_and_returns)
{
    guest_open();
    take_svc();
    /* The vector reads ESR_EL1 and ERETs; the program then sets x1 and traps again. */
    ck_assert_int_eq(run(reg(UC_ARM64_REG_PC), 16), EMU_EXCP_SWI);
    ck_assert_uint_eq(reg(UC_ARM64_REG_X0), ESR_SVC64_5);
    ck_assert_uint_eq(reg(UC_ARM64_REG_X1), 0x77);
    ck_assert_uint_eq(reg(UC_ARM64_REG_PC), RAM_BASE + 12); /* past the second SVC */
    ck_assert_uint_eq(reg(UC_ARM64_REG_PSTATE) & 0xffffffffu, PSTATE_BEFORE);
    guest_close();
}
END_TEST

static Suite *emu_entry_suite(void)
{
    Suite *s = suite_create("emu_entry");
    TCase *vec = tcase_create("vectors");
    tcase_add_test(vec, test_vector_offset_from_el0);
    tcase_add_test(vec, test_vector_offset_from_el1h);
    tcase_add_test(vec, test_vector_offset_from_el1t);
    suite_add_tcase(s, vec);

    TCase *walk = tcase_create("translate");
    tcase_add_checked_fixture(walk, build_tables, NULL);
    tcase_add_test(walk, test_walk_level3_page);
    tcase_add_test(walk, test_walk_level2_block);
    tcase_add_test(walk, test_walk_level1_block);
    tcase_add_test(walk, test_walk_invalid_entries_fault);
    tcase_add_test(walk, test_walk_upper_range_uses_ttbr1);
    tcase_add_test(walk, test_walk_48bit_starts_at_level0);
    tcase_add_test(walk, test_walk_mmu_off_is_identity);
    tcase_add_test(walk, test_walk_epd0_faults);
    tcase_add_test(walk, test_walk_other_granule_refused);
    tcase_add_test(walk, test_walk_va_outside_range_faults);
    suite_add_tcase(s, walk);

    TCase *uc = tcase_create("unicorn");
    tcase_set_timeout(uc, 30);
    tcase_add_unchecked_fixture(uc, discover, NULL);
    tcase_add_test(uc, test_discover_layout);
    tcase_add_test(uc, test_svc_entry_state);
    tcase_add_test(uc, test_svc_vector_runs_and_returns);
    suite_add_tcase(s, uc);
    return s;
}

int main(void)
{
    return run_suite(emu_entry_suite());
}
