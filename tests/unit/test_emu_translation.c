/* The engine the emu backend opens (emu_engine_open) keeps reporting the right
 * PC for a data abort after its translation buffer has filled and been reused.
 *
 * The scenario is the guest kernel's: EL1 code reads SP_EL0 (an MRS, which our
 * hook sees, so Unicorn writes that instruction's PC back to the CPU state) and
 * a few instructions later stores to a page it may not write, the store whose
 * exception-table entry Linux looks up by the reported PC. Between runs of that
 * code, thousands of other blocks are translated: far more than the test's
 * small buffer holds. On Unicorn 2.1.1 without the start-up flush the fault was
 * then reported at the MRS, or the VMM crashed patching a jump into a block
 * whose memory had been reused. */
#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hv/emu_internal.h"
#include "unit.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (4u << 20)
#define PAGE_TABLE (RAM_BASE + 0x1000)
#define FAULT_CODE (RAM_BASE + 0x2000)
#define FAULT_STORE (FAULT_CODE + 16) /* the STR below */
#define FILLER (RAM_BASE + 0x100000)
/* The filler comes in chunks, each a run of blocks of one or two instructions
 * ending in an HVC: a chunk is well under a tenth of the buffer, all of them
 * several buffers. The faulting code runs after every chunk, so some run falls
 * between the first time the buffer fills and the next. */
#define CHUNK_WORDS 0x800u
#define CHUNK_STRIDE (4 * (CHUNK_WORDS + 2))
#define CHUNKS 64u
#define TEST_BUFFER_BYTES (4u << 20)

#define A64_MOVZ(rd, imm) (0xd2800000u | ((uint32_t)(imm) << 5) | (rd))
#define A64_MRS_X3_SP_EL0 0xd5384103u
#define A64_ADD_X4_1 0x91000484u
#define A64_STR_X0_X1 0xf9000020u
#define A64_B_NEXT 0x14000001u      /* b .+4 */
#define A64_ADR_X9_8 0x10000049u    /* adr x9, .+8 */
#define A64_BR_X9 0xd61f0120u
#define A64_HVC0 0xd4000002u

#define SCTLR_MMU_ON 0x30d00801ull /* RES1 bits and M */
/* 39-bit VAs, 4 KiB granule, inner-shareable write-back walks. */
#define TCR_39BIT (25ull | (1u << 8) | (1u << 10) | (3u << 12) | (1u << 23) | (2ull << 32))
/* Level-1 block of 1 GiB at RAM_BASE: AF, inner shareable, read-only at EL1 and
 * EL0, MAIR index 0. Every store into RAM takes a permission fault. */
#define READ_ONLY_BLOCK (RAM_BASE | (1u << 10) | (3u << 8) | (3u << 6) | 0x1)

struct engine {
    uc_engine *uc;
    uint8_t *ram;
    uc_hook intr_hook, block_hook, mrs_hook;
    int intno;
    uint64_t intr_pc;
};

static void on_interrupt(uc_engine *uc, uint32_t intno, void *opaque)
{
    struct engine *e = opaque;
    e->intno = (int)intno;
    uc_reg_read(uc, UC_ARM64_REG_PC, &e->intr_pc);
    uc_emu_stop(uc);
}

/* As in the backend: a block hook and an MRS hook that leaves the register to
 * Unicorn. Both make Unicorn write PC back before they run. */
static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *opaque)
{
    (void)uc, (void)address, (void)size, (void)opaque;
}

static uint32_t on_mrs(uc_engine *uc, uc_arm64_reg rt, const uc_arm64_cp_reg *cp, void *opaque)
{
    (void)uc, (void)rt, (void)cp, (void)opaque;
    return 0;
}

static void put_insn(struct engine *e, uint64_t gpa, uint32_t insn)
{
    memcpy(e->ram + (gpa - RAM_BASE), &insn, sizeof(insn));
}

static void write_reg(uc_engine *uc, int reg, uint64_t value)
{
    ck_assert_int_eq(uc_reg_write(uc, reg, &value), UC_ERR_OK);
}

static void engine_create(struct engine *e)
{
    memset(e, 0, sizeof(*e));
    ck_assert_int_eq(emu_engine_open(&e->uc, TEST_BUFFER_BYTES), 0);
    e->ram = aligned_alloc(4096, RAM_SIZE);
    ck_assert_ptr_nonnull(e->ram);
    memset(e->ram, 0, RAM_SIZE);
    ck_assert_int_eq(uc_mem_map_ptr(e->uc, RAM_BASE, RAM_SIZE, UC_PROT_ALL, e->ram), UC_ERR_OK);
    ck_assert_int_eq(uc_hook_add(e->uc, &e->intr_hook, UC_HOOK_INTR, (void *)on_interrupt, e, 1, 0),
                     UC_ERR_OK);
    ck_assert_int_eq(uc_hook_add(e->uc, &e->block_hook, UC_HOOK_BLOCK, (void *)on_block, e, 1, 0),
                     UC_ERR_OK);
    ck_assert_int_eq(uc_hook_add(e->uc, &e->mrs_hook, UC_HOOK_INSN, (void *)on_mrs, e, 1, 0,
                                 UC_ARM64_INS_MRS),
                     UC_ERR_OK);
    ck_assert_int_eq(emu_prepare_el1(e->uc), 0);
    uint64_t block = READ_ONLY_BLOCK;
    memcpy(e->ram + (PAGE_TABLE - RAM_BASE) + 8, &block, sizeof(block)); /* L1[1] */
    write_reg(e->uc, UC_ARM64_REG_MAIR_EL1, 0xff);
    write_reg(e->uc, UC_ARM64_REG_TTBR0_EL1, PAGE_TABLE);
    ck_assert_int_eq(emu_cpreg_write(e->uc, SYSREG_TCR_EL1, TCR_39BIT), 0);
    ck_assert_int_eq(emu_cpreg_write(e->uc, SYSREG_SCTLR_EL1, SCTLR_MMU_ON), 0);

    const uint32_t fault_code[] = {A64_MOVZ(2, 1), A64_MRS_X3_SP_EL0, A64_MOVZ(4, 2),
                                   A64_ADD_X4_1, A64_STR_X0_X1};
    for (size_t i = 0; i < sizeof(fault_code) / sizeof(fault_code[0]); i++)
        put_insn(e, FAULT_CODE + 4 * i, fault_code[i]);
}

static void engine_destroy(struct engine *e)
{
    uc_close(e->uc);
    free(e->ram);
}

/* Runs from pc until the first exception; returns its number. */
static int run_from(struct engine *e, uint64_t pc)
{
    e->intno = -1;
    ck_assert_int_eq(uc_emu_start(e->uc, pc, 0, 0, 0), UC_ERR_OK);
    return e->intno;
}

static void assert_store_fault_reported_exactly(struct engine *e, int chunk)
{
    write_reg(e->uc, UC_ARM64_REG_X1, RAM_BASE + 0x3000);
    ck_assert_int_eq(run_from(e, FAULT_CODE), EMU_EXCP_DATA_ABORT);
    ck_assert_msg(e->intr_pc == FAULT_STORE, "after chunk %d: data abort reported at 0x%llx, not at "
                  "the store (0x%llx)", chunk, (unsigned long long)e->intr_pc,
                  (unsigned long long)FAULT_STORE);
}

/* Direct branches chain their blocks to each other; indirect ones return to
 * Unicorn's loop between blocks. */
static void write_filler(struct engine *e, bool indirect)
{
    for (uint32_t c = 0; c < CHUNKS; c++) {
        uint64_t chunk = FILLER + (uint64_t)c * CHUNK_STRIDE;
        for (uint32_t i = 0; i < CHUNK_WORDS; i += 2) {
            put_insn(e, chunk + 4 * i, indirect ? A64_ADR_X9_8 : A64_B_NEXT);
            put_insn(e, chunk + 4 * i + 4, indirect ? A64_BR_X9 : A64_B_NEXT);
        }
        put_insn(e, chunk + 4 * CHUNK_WORDS, A64_HVC0);
    }
}

static void check_after_fills(bool indirect)
{
    struct engine e;
    engine_create(&e);
    write_filler(&e, indirect);
    assert_store_fault_reported_exactly(&e, 0);
    for (uint32_t c = 0; c < CHUNKS; c++) {
        ck_assert_int_eq(run_from(&e, FILLER + (uint64_t)c * CHUNK_STRIDE), EMU_EXCP_HVC);
        assert_store_fault_reported_exactly(&e, (int)c + 1);
    }
    engine_destroy(&e);
}

START_TEST(test_abort_pc_after_buffer_refills_chained_blocks)
{
    check_after_fills(false);
}
END_TEST

START_TEST(test_abort_pc_after_buffer_refills_unchained_blocks)
{
    check_after_fills(true);
}
END_TEST

static Suite *emu_translation_suite(void)
{
    Suite *s = suite_create("emu_translation");
    TCase *tc = tcase_create("buffer");
    tcase_add_test(tc, test_abort_pc_after_buffer_refills_chained_blocks);
    tcase_add_test(tc, test_abort_pc_after_buffer_refills_unchained_blocks);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(emu_translation_suite());
}
