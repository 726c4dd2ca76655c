/* Private to the emu backend: Unicorn's missing exception entry, done by hand.
 *
 * Unicorn reports guest exceptions (SVC, aborts, UDEF, BRK) to UC_HOOK_INTR but
 * never runs the architectural entry into EL1, and does not write ESR/FAR: their
 * values stay in its CPU state, which only uc_context_save exposes, at offsets
 * that depend on the library build. We find those offsets at start-up in scratch
 * engines and then prove by running code that a hand-made entry works. */
#ifndef IGNITION_EMU_INTERNAL_H
#define IGNITION_EMU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unicorn/unicorn.h>

#include "devices/sysreg.h"

/* QEMU's exception numbers as UC_HOOK_INTR reports them (target/arm/cpu.h). */
enum emu_excp {
    EMU_EXCP_UDEF = 1,
    EMU_EXCP_SWI = 2,
    EMU_EXCP_PREFETCH_ABORT = 3,
    EMU_EXCP_DATA_ABORT = 4,
    EMU_EXCP_BKPT = 7,
    EMU_EXCP_HVC = 11,
    EMU_EXCP_SMC = 13,
};

/* How to make Unicorn notice that the exception level changed. */
enum emu_entry_method {
    /* Unicorn >= 2.1: a PSTATE write followed by a CP_REG write rebuilds the
     * cached translation flags ("hflags"). */
    EMU_ENTRY_CPREG_REBUILD,
    /* Unicorn 2.0: patch the cached flags word in a saved context to the value
     * the guest's own EL1 last had, and restore the context. */
    EMU_ENTRY_PATCH_HFLAGS,
};

struct emu_layout {
    size_t context_size;
    size_t syndrome_offset; /* uint32_t: ESR value of the last exception */
    size_t vaddress_offset; /* uint64_t: FAR value of the last abort */
    size_t hflags_offset;   /* uint32_t: only for EMU_ENTRY_PATCH_HFLAGS */
    enum emu_entry_method method;
};

/* Finds the offsets and verifies an exception entry by running code in scratch
 * engines. Returns 0, or -1 with a sentence in err. */
int emu_discover_layout(struct emu_layout *layout, char *err, size_t err_len);

enum emu_vector { EMU_VECTOR_SYNC = 0x000, EMU_VECTOR_IRQ = 0x080 };

/* Per-engine state for entering exceptions. */
struct emu_entry {
    uc_engine *uc;
    const struct emu_layout *layout;
    uc_context *context;
    uint32_t el1_hflags; /* last seen while the guest ran at EL1h */
    bool have_el1_hflags;
};

int emu_entry_init(struct emu_entry *e, uc_engine *uc, const struct emu_layout *layout);
void emu_entry_destroy(struct emu_entry *e);

/* Called at slice boundaries: remembers the guest's EL1 flags while at EL1h. */
void emu_entry_observe(struct emu_entry *e, uint64_t pstate);

/* The cached translation flags, for saving and restoring a vCPU (patch method;
 * with the rebuild method restore just makes Unicorn rebuild them). */
int emu_entry_save_flags(struct emu_entry *e, uint32_t *current, uint32_t *el1);
int emu_entry_restore_flags(struct emu_entry *e, uint32_t current, uint32_t el1);

/* Reads the syndrome and fault address of the exception just reported. */
void emu_entry_fault_info(struct emu_entry *e, uint32_t *syndrome, uint64_t *far);

/* Takes an exception to EL1 as the architecture does (Arm ARM D1.10): SPSR, ELR,
 * ESR/FAR for synchronous ones, stack switch, PSTATE = EL1h with DAIF masked,
 * PC = VBAR_EL1 + vector offset for the level it came from. */
int emu_entry_take(struct emu_entry *e, enum emu_vector vector, uint64_t return_pc,
                   bool with_syndrome, uint32_t syndrome, bool with_far, uint64_t far);

/* Vector offset added for the level an exception is taken from. */
uint64_t emu_vector_base_offset(uint64_t pstate);

/* Stage-1 translation of a guest virtual address with the guest's EL1&0 regime
 * (4 KiB granule, as Linux uses). read_phys reads guest-physical memory. */
typedef bool (*emu_read_phys_fn)(void *opaque, uint64_t pa, uint64_t *value);
struct emu_mmu_regs {
    uint64_t sctlr, tcr, ttbr0, ttbr1;
};
bool emu_translate(const struct emu_mmu_regs *regs, uint64_t va, emu_read_phys_fn read_phys,
                   void *opaque, uint64_t *pa);

/* Guest RAM as mapped into Unicorn: one RAM block per region. */
#define MAX_RAM_REGIONS 4
struct emu_ram {
    uint64_t gpa, size;
    uint8_t *host;
};

/* Instruction-cache maintenance (emu_icache.c): IC IVAU, IC IALLU and IC
 * IALLUIS drop the translations they cover, from a SYS hook. The block hook
 * calls emu_icache_block while loop_running, the run loop emu_icache_slice_ended
 * after every slice. */
struct emu_icache {
    uc_engine *uc;
    const struct emu_ram *ram; /* the backend's RAM regions, *num_ram of them */
    const unsigned *num_ram;
    emu_read_phys_fn read_phys; /* for the table walk */
    void *opaque;
    uint64_t line_size; /* CTR_EL0.IminLine */
    bool loop_running;      /* only the block with the last IC IVAU has run since */
    bool loop_page_dropped; /* ... and it dropped all of loop_page */
    uint64_t loop_page;     /* virtual page of that IC IVAU */
    uint64_t loop_pa;       /* its physical page */
    uint64_t loop_pc;       /* the IC IVAU's address */
    uc_hook hook;
    struct {
        uint64_t ivau, all, dropped; /* dropped: ranges (line, page, RAM region) */
    } stats;
};

int emu_icache_init(struct emu_icache *ic, uc_engine *uc, const struct emu_ram *ram,
                    const unsigned *num_ram, emu_read_phys_fn read_phys, void *opaque);
void emu_icache_block(struct emu_icache *ic, uint64_t address, uint32_t size);
void emu_icache_slice_ended(struct emu_icache *ic);

/* Sysreg helpers over UC_ARM64_REG_CP_REG. */
int emu_cpreg_read(uc_engine *uc, uint32_t reg, uint64_t *value);
int emu_cpreg_write(uc_engine *uc, uint32_t reg, uint64_t value);

/* Registers not listed in sysreg.h that the backend needs. */
#define SYSREG_SCTLR_EL1 SYSREG(3, 0, 1, 0, 0)
#define SYSREG_TCR_EL1 SYSREG(3, 0, 2, 0, 2)
#define SYSREG_SPSR_EL1 SYSREG(3, 0, 4, 0, 0)
#define SYSREG_HCR_EL2 SYSREG(3, 4, 1, 1, 0)
#define SYSREG_SCR_EL3 SYSREG(3, 6, 1, 1, 0)
#define SYSREG_CNTKCTL_EL1 SYSREG(3, 0, 14, 1, 0)
#define SYSREG_ID_AA64PFR0_EL1 SYSREG(3, 0, 0, 4, 0)
#define SYSREG_CNTVOFF_EL2 SYSREG(3, 4, 14, 0, 3)
#define HCR_EL2_RW (1ull << 31)
#define HCR_EL2_IMO (1ull << 4)
#define HCR_EL2_VI (1ull << 7)

#define PSTATE_EL1H_MASKED 0x3c5u /* D, A, I, F masked; EL1 with SP_EL1 */
#define PSTATE_I (1u << 7)

/* Opens the arm64 engine a guest runs on (emu_engine.c): Cortex-A57, and a
 * translation buffer that is flushed when it fills (Unicorn <= 2.1.2 otherwise
 * overwrites live translations: see there). buffer_bytes 0: the backend's size. */
int emu_engine_open(uc_engine **uc, uint32_t buffer_bytes);

/* Puts a fresh engine into the state an EL1 kernel expects (pitfall: Unicorn
 * leaves SCR_EL3 and HCR_EL2 at zero, so EL1 would be AArch32 after an ERET). */
int emu_prepare_el1(uc_engine *uc);

#endif
