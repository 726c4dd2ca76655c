/* A small stage-1 table walk (Arm ARM D5.2, VMSAv8-64, 4 KiB granule).
 *
 * Unicorn's memory API takes physical addresses while its hooks report virtual
 * ones; the backend needs the instruction before PC to recognise a WFI, so it
 * walks the guest's own tables. Only what Linux configures is supported: 4 KiB
 * granule, 39- to 48-bit address spaces, table/block/page descriptors. */
#include "emu_internal.h"

#define DESC_ADDR_MASK 0x0000fffffffff000ull
#define TCR_EPD0 (1ull << 7)
#define TCR_EPD1 (1ull << 23)

bool emu_translate(const struct emu_mmu_regs *regs, uint64_t va, emu_read_phys_fn read_phys,
                   void *opaque, uint64_t *pa)
{
    if (!(regs->sctlr & 1)) {
        *pa = va;
        return true;
    }
    bool upper = (va >> 55) & 1;
    unsigned tsz = upper ? (regs->tcr >> 16) & 63 : regs->tcr & 63;
    unsigned granule = upper ? (regs->tcr >> 30) & 3 : (regs->tcr >> 14) & 3;
    if ((regs->tcr & (upper ? TCR_EPD1 : TCR_EPD0)) || granule != (upper ? 2u : 0u))
        return false;
    if (tsz < 16 || tsz > 39)
        return false;
    unsigned va_bits = 64 - tsz;
    /* Bits above the address space must be all zeros (TTBR0) or all ones (TTBR1),
     * ignoring the top byte, which Linux tags (TBI). */
    uint64_t above = (va << 8) >> (8 + va_bits);
    if (above != (upper ? (~0ull >> (8 + va_bits)) : 0))
        return false;
    uint64_t table = (upper ? regs->ttbr1 : regs->ttbr0) & DESC_ADDR_MASK;
    unsigned level = 4 - (va_bits - 12 + 8) / 9;
    for (; level <= 3; level++) {
        unsigned shift = 12 + 9 * (3 - level);
        unsigned index_bits = va_bits - shift < 9 ? va_bits - shift : 9;
        uint64_t index = (va >> shift) & ((1ull << index_bits) - 1);
        uint64_t desc;
        if (!read_phys(opaque, table + index * 8, &desc) || !(desc & 1))
            return false;
        bool is_table_or_page = (desc & 3) == 3;
        if (level == 3) {
            if (!is_table_or_page)
                return false;
            *pa = (desc & DESC_ADDR_MASK) | (va & 0xfff);
            return true;
        }
        if (!is_table_or_page) { /* block */
            if (level == 0)
                return false;
            uint64_t span = (1ull << shift) - 1;
            *pa = (desc & DESC_ADDR_MASK & ~span) | (va & span);
            return true;
        }
        table = desc & DESC_ADDR_MASK;
    }
    return false;
}
