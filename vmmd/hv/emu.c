/* The emu backend: one arm64 vCPU on the Unicorn engine (QEMU's TCG as a library).
 *
 * Unicorn gives us a CPU and a memory map, nothing more, so this file supplies
 * what a hypervisor would: the GIC and generic timer (device models driven from
 * MRS/MSR hooks), exception entry into EL1 (emu_entry.c), interrupt delivery
 * (the GIC's output as QEMU's virtual IRQ line, see set_virq_line), WFI idling,
 * and PSCI calls forwarded to the machine.
 * Each of Unicorn's pitfalls is described where it is handled; docs/EMU-BACKEND.md
 * gives the overview. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "devices/arch_timer.h"
#include "devices/gicv3.h"
#include "emu_internal.h"
#include "hv.h"
#include "log.h"
#include "util.h"

#define A64_WFI 0xd503207fu

/* A slice runs until the next timer deadline, at most this long, so that the
 * run loop looks at the world regularly even when no timer is armed. */
#define SLICE_MAX_NS 10000000ull
/* The block hook reads the clock once every this many translation blocks:
 * a few microseconds of guest code, well under any timer's resolution. A
 * clock read costs as much as a dozen or more hook calls here (every 64
 * blocks it was 3-3.5 % of all the VMM's time in loop-heavy guest code,
 * docs/EMU-BACKEND.md). */
#define CLOCK_CHECK_BLOCKS 256u
/* What CNTKCTL_EL1 may open to EL0 beyond the virtual counter, which Unicorn
 * serves itself (see add_mrs_hooks). */
#define CNTKCTL_EL0_BEYOND_VIRTUAL_COUNT (CNTKCTL_EL0PCTEN | CNTKCTL_EL0VTEN | CNTKCTL_EL0PTEN)

/* A physical range that is neither RAM nor device space (see alias_read). */
struct emu_alias {
    struct hv_vm *vm;
    uint64_t base;
};

struct hv_vm {
    uc_engine *uc;
    struct hv_config config;
    struct hv_io io;
    struct emu_layout layout;
    struct emu_entry entry;
    struct emu_icache icache;
    struct gicv3 *gic;
    struct arch_timer timer;
    struct emu_ram ram[MAX_RAM_REGIONS];
    unsigned num_ram;
    struct emu_alias aliases[MAX_RAM_REGIONS + 1];
    unsigned num_aliases;
    bool memory_finalised;
    bool need_va_aliases; /* Unicorn < 2.1 checks virtual addresses as physical */
    uc_hook hook_intr, hook_msr, hook_block;
    /* MRS hooks, each over a range of code addresses (see add_mrs_hooks). */
    uc_hook hook_mrs[2];
    unsigned num_mrs_hooks;
    bool mrs_everywhere;        /* one hook over all code: EL0 may read more than the counter */
    bool mrs_everywhere_wanted; /* CNTKCTL_EL1 opened more than that: widen at the slice end */
    int pending_intno;          /* exception reported by the last slice, or -1 */
    /* Slice control, read by the block hook at the start of every translation
     * block: the only point where stopping Unicorn 2.0 is exact (stops inside a
     * block make it re-run the block's first instructions). */
    atomic_bool attention;      /* set by any thread: end the slice, look again */
    /* The GIC's output as Unicorn's virtual IRQ line (HCR_EL2.VI, see set_virq_line):
     * QEMU then takes the interrupt itself where the guest unmasks it. */
    bool virq_line;
    uint64_t hcr_el2; /* HCR_EL2 as the backend set it up, with IMO and without VI */
    uint64_t slice_deadline_ns; /* end the slice when the clock passes this */
    unsigned blocks_to_clock_check;
    int wake_fds[2];            /* written by other threads to end a WFI sleep */
    atomic_bool stop_requested;
    bool has_run; /* state may be set only before the first slice */
    unsigned unassigned_reports;
    uint64_t notifications_checked_ns; /* the last hv_io.recheck_notifications */
    struct emu_stats {
        uint64_t slices, irqs, exceptions, wfis, sleeps, last_report_ns;
    } stats;
};

static uint64_t read_u64(struct hv_vm *vm, int reg)
{
    uint64_t v = 0;
    uc_reg_read(vm->uc, reg, &v);
    return v;
}

/* ---- backend availability ----------------------------------------------------- */

static bool emu_usable(char *why, size_t why_len)
{
    /* Asking costs nothing; opening an engine to see took ~4 ms of every start. */
    if (!uc_arch_supported(UC_ARCH_ARM64)) {
        snprintf(why, why_len, "this Unicorn library has no arm64 support");
        return false;
    }
    return true;
}

/* Where this Unicorn keeps what exception entry needs depends on the library
 * alone, and finding out runs several scratch engines (~12 ms): found once
 * per process and kept, so a guest reset, and a standby worker that finds it
 * before it is handed a guest, do not pay again. */
static pthread_mutex_t layout_lock = PTHREAD_MUTEX_INITIALIZER;
static struct emu_layout process_layout;
static bool process_layout_known;

static int emu_layout_of_process(struct emu_layout *out, char *err, size_t err_len)
{
    pthread_mutex_lock(&layout_lock);
    int rc = 0;
    if (!process_layout_known) {
        rc = emu_discover_layout(&process_layout, err, err_len);
        process_layout_known = rc == 0;
    }
    if (rc == 0)
        *out = process_layout;
    pthread_mutex_unlock(&layout_lock);
    return rc;
}

/* An engine opened before it is needed: with Unicorn before 2.1.2 the open
 * zeroes the whole translation buffer (emu_engine.c), 128 MiB of fresh
 * memory, which took 90 ms to over 2 s of a restore on a loaded host. A
 * standby worker opens it while it waits; the first VM of the process takes
 * it, and the memory was going to be the guest's anyway. */
static uc_engine *spare_engine;
static pthread_mutex_t spare_engine_lock = PTHREAD_MUTEX_INITIALIZER;

static uc_engine *take_spare_engine(void)
{
    pthread_mutex_lock(&spare_engine_lock);
    uc_engine *uc = spare_engine;
    spare_engine = NULL;
    pthread_mutex_unlock(&spare_engine_lock);
    return uc;
}

static int open_engine(uc_engine **uc, char *err, size_t err_len)
{
    if (emu_engine_open(uc, 0) < 0) {
        snprintf(err, err_len, "cannot open a Unicorn arm64 engine");
        return -1;
    }
    return 0;
}

static int emu_prepare(char *err, size_t err_len)
{
    struct emu_layout layout;
    if (emu_layout_of_process(&layout, err, err_len) < 0)
        return -1;
    uc_engine *uc;
    if (open_engine(&uc, err, err_len) < 0)
        return -1;
    pthread_mutex_lock(&spare_engine_lock);
    uc_engine *old = spare_engine;
    spare_engine = uc;
    pthread_mutex_unlock(&spare_engine_lock);
    if (old)
        uc_close(old);
    return 0;
}

/* ---- memory ------------------------------------------------------------------- */

static void report_unassigned(struct hv_vm *vm, uint64_t gpa, bool write)
{
    if (vm->unassigned_reports++ < 8)
        log_warn("guest %s unassigned physical address 0x%llx (reads as zero)",
                 write ? "wrote" : "read", (unsigned long long)gpa);
}

static uint64_t device_space_read(uc_engine *uc, uint64_t gpa, unsigned size, void *opaque)
{
    (void)uc;
    struct hv_vm *vm = opaque;
    const struct hv_gic_layout *g = &vm->config.gic;
    if (gpa >= g->dist_base && gpa < g->dist_base + g->dist_size)
        return gicv3_dist_read(vm->gic, gpa - g->dist_base, size);
    if (gpa >= g->redist_base && gpa < g->redist_base + g->redist_size)
        return gicv3_redist_read(vm->gic, gpa - g->redist_base, size);
    uint64_t value = 0;
    if (!vm->io.mmio_read(vm->io.opaque, gpa, size, &value))
        report_unassigned(vm, gpa, false);
    return value;
}

static void device_space_write(uc_engine *uc, uint64_t gpa, unsigned size, uint64_t value,
                               void *opaque)
{
    (void)uc;
    struct hv_vm *vm = opaque;
    const struct hv_gic_layout *g = &vm->config.gic;
    if (gpa >= g->dist_base && gpa < g->dist_base + g->dist_size) {
        gicv3_dist_write(vm->gic, gpa - g->dist_base, size, value);
        return;
    }
    if (gpa >= g->redist_base && gpa < g->redist_base + g->redist_size) {
        gicv3_redist_write(vm->gic, gpa - g->redist_base, size, value);
        return;
    }
    if (!vm->io.mmio_write(vm->io.opaque, gpa, size, value))
        report_unassigned(vm, gpa, true);
}

/* Physical space above device space that is not RAM. Under Unicorn 2.0 these
 * regions also stand in for guest *virtual* addresses, which that version looks
 * up in the physical map before translating (fixed in 2.1.0). */
static uint64_t alias_read(uc_engine *uc, uint64_t offset, unsigned size, void *opaque)
{
    (void)uc, (void)size;
    const struct emu_alias *alias = opaque;
    report_unassigned(alias->vm, alias->base + offset, false);
    return 0;
}

static void alias_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
                        void *opaque)
{
    (void)uc, (void)size, (void)value;
    const struct emu_alias *alias = opaque;
    report_unassigned(alias->vm, alias->base + offset, true);
}

static int map_alias(struct hv_vm *vm, uint64_t start, uint64_t end)
{
    uint64_t size = end - start;
    if (vm->num_aliases == ARRAY_SIZE(vm->aliases))
        return -1;
    struct emu_alias *alias = &vm->aliases[vm->num_aliases++];
    *alias = (struct emu_alias){.vm = vm, .base = start};
    if (uc_mmio_map(vm->uc, start, size, alias_read, alias, alias_write, alias) != UC_ERR_OK)
        return -1;
    /* Executable, because user code and the vDSO are fetched at such addresses. */
    return uc_mem_protect(vm->uc, start, size, UC_PROT_ALL) == UC_ERR_OK ? 0 : -1;
}

static int compare_ram(const void *a, const void *b)
{
    const struct emu_ram *x = a, *y = b;
    return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/* Fills every gap of the 64-bit physical space above device space (see alias_read). */
static int finalise_memory(struct hv_vm *vm)
{
    if (vm->memory_finalised || !vm->need_va_aliases) {
        vm->memory_finalised = true;
        return 0;
    }
    if (uc_mem_protect(vm->uc, 0, vm->config.mmio_limit, UC_PROT_ALL) != UC_ERR_OK)
        return -1;
    qsort(vm->ram, vm->num_ram, sizeof(vm->ram[0]), compare_ram);
    uint64_t next = vm->config.mmio_limit;
    for (unsigned i = 0; i < vm->num_ram; i++) {
        if (vm->ram[i].gpa > next && map_alias(vm, next, vm->ram[i].gpa) < 0)
            return -1;
        next = vm->ram[i].gpa + vm->ram[i].size;
    }
    /* Unicorn cannot map the very last page (its end would wrap to zero). */
    if (map_alias(vm, next, UINT64_MAX - 0xfff) < 0)
        return -1;
    vm->memory_finalised = true;
    return 0;
}

static int emu_map_ram(struct hv_vm *vm, uint64_t gpa, void *host, uint64_t size)
{
    if (vm->num_ram == MAX_RAM_REGIONS || vm->memory_finalised)
        return -EBUSY;
    if ((gpa | size | (uintptr_t)host) & 0xfff || gpa < vm->config.mmio_limit)
        return -EINVAL;
    if (uc_mem_map_ptr(vm->uc, gpa, size, UC_PROT_ALL, host) != UC_ERR_OK)
        return -ENOMEM;
    vm->ram[vm->num_ram++] = (struct emu_ram){.gpa = gpa, .size = size, .host = host};
    return 0;
}

static bool read_phys_u64(void *opaque, uint64_t pa, uint64_t *value)
{
    struct hv_vm *vm = opaque;
    for (unsigned i = 0; i < vm->num_ram; i++) {
        const struct emu_ram *r = &vm->ram[i];
        if (pa >= r->gpa && r->size >= 8 && pa - r->gpa <= r->size - 8 && !(pa & 7)) {
            memcpy(value, r->host + (pa - r->gpa), 8);
            return true;
        }
    }
    return false;
}

/* ---- system registers: GIC CPU interface and generic timer --------------------- */

static uint32_t cp_reg_encoding(const uc_arm64_cp_reg *cp)
{
    return SYSREG(cp->op0, cp->op1, cp->crn, cp->crm, cp->op2);
}

/* Registers Unicorn does not know UNDEF at translation time; when our hook
 * handles one we must step over the instruction ourselves (for known ones
 * Unicorn advances PC). */
static void skip_unknown_sysreg(uc_engine *uc)
{
    uint64_t pc;
    uc_reg_read(uc, UC_ARM64_REG_PC, &pc);
    pc += 4;
    uc_reg_write(uc, UC_ARM64_REG_PC, &pc);
}

static void update_timer_lines(struct hv_vm *vm, uint64_t now_ns)
{
    uint64_t count = arch_timer_count(&vm->timer, now_ns);
    gicv3_set_line(vm->gic, ARCH_TIMER_INTID(ARCH_TIMER_PPI_VIRT),
                   arch_timer_line(&vm->timer.virt, count));
    gicv3_set_line(vm->gic, ARCH_TIMER_INTID(ARCH_TIMER_PPI_PHYS),
                   arch_timer_line(&vm->timer.phys, count));
}

static bool at_el0(uc_engine *uc)
{
    uint64_t pstate = 0;
    uc_reg_read(uc, UC_ARM64_REG_PSTATE, &pstate);
    return ((pstate >> 2) & 3) == 0;
}

/* Whether the hooks may serve reg for the current exception level. Our hook runs
 * before Unicorn's own access checks, so the architecture's rules for EL0 are
 * applied here: the CPU interface is EL1-only, and the timer is open to EL0 only
 * as CNTKCTL_EL1 says. A refused access falls through to Unicorn, which raises
 * the exception the architecture specifies. */
static bool access_allowed(struct hv_vm *vm, uint32_t reg)
{
    if (!at_el0(vm->uc))
        return true;
    if (sysreg_is_icc(reg))
        return false;
    uint64_t cntkctl = 0;
    emu_cpreg_read(vm->uc, SYSREG_CNTKCTL_EL1, &cntkctl);
    return arch_timer_el0_allowed(reg, cntkctl);
}

/* ID_AA64PFR0_EL1 as the guest sees it: AArch64 only at EL0 and EL1. The backend
 * enters exceptions by hand and only from AArch64 state, so the guest kernel must
 * not run 32-bit programs (it checks this register before it does). */
static uint64_t guest_id_aa64pfr0(uc_engine *uc)
{
    uint64_t v = 0;
    emu_cpreg_read(uc, SYSREG_ID_AA64PFR0_EL1, &v);
    return (v & ~0xffull) | 0x11;
}

/* Interrupts reach the guest through QEMU's own virtual IRQ: with HCR_EL2.IMO
 * set, HCR_EL2.VI pends an IRQ for EL1 that PSTATE.I masks, and QEMU's main
 * loop takes it (the architectural entry: SPSR_EL1, ELR_EL1, VBAR_EL1 + 0x280
 * or 0x480) whenever a block returns to it with the IRQ unmasked. Every
 * unmask does: MSR DAIFClr, MSR DAIF and ERET end their block and return to
 * the loop. So a pending interrupt is taken at the very instruction that
 * unmasks it, with no check before every block. Raising the line only sets
 * QEMU's interrupt_request (Unicorn's cpu_interrupt requests no exit), so it
 * is safe inside a hook; but a guest running unmasked would not look at it
 * until some block returns to the loop, so a hook that raises it also ends
 * the slice (attention), and the run loop enters an unmasked IRQ by hand. */
static int set_virq_line(struct hv_vm *vm, bool level)
{
    if (level == vm->virq_line)
        return 0;
    vm->virq_line = level;
    return emu_cpreg_write(vm->uc, SYSREG_HCR_EL2, vm->hcr_el2 | (level ? HCR_EL2_VI : 0));
}

/* From a hook, after the GIC's output may have changed. */
static void irq_output_changed(struct hv_vm *vm)
{
    bool asserted = gicv3_irq_asserted(vm->gic);
    if (asserted && !vm->virq_line)
        atomic_store_explicit(&vm->attention, true, memory_order_relaxed);
    set_virq_line(vm, asserted);
}

static uint32_t on_mrs(uc_engine *uc, uc_arm64_reg rt, const uc_arm64_cp_reg *cp, void *opaque)
{
    struct hv_vm *vm = opaque;
    uint32_t reg = cp_reg_encoding(cp);
    uint64_t value;
    bool known_to_unicorn = true;
    /* At EL0 the ID registers are UNDEF, as on hardware: Linux emulates the read
     * from its own (sanitised) copy. Served here at EL0, Unicorn ran the block
     * holding the MRS again from its start, for ever (Firefox's startup). */
    if (reg == SYSREG_ID_AA64PFR0_EL1 && !at_el0(uc)) {
        value = guest_id_aa64pfr0(uc);
    } else if (arch_timer_owns(reg)) {
        if (!access_allowed(vm, reg))
            return 0;
        arch_timer_read(&vm->timer, reg, monotonic_ns(), &value);
    } else if (sysreg_is_icc(reg) && access_allowed(vm, reg) &&
               gicv3_sysreg_read(vm->gic, reg, &value)) {
        known_to_unicorn = false;
        if (reg == ICC_IAR1_EL1) /* acknowledging changes what is still pending */
            irq_output_changed(vm);
    } else {
        return 0; /* Unicorn's own register, or UNDEF for the guest */
    }
    if (rt != UC_ARM64_REG_XZR)
        uc_reg_write(uc, rt, &value);
    if (!known_to_unicorn)
        skip_unknown_sysreg(uc);
    return 1;
}

static uint32_t on_msr(uc_engine *uc, uc_arm64_reg rt, const uc_arm64_cp_reg *cp, void *opaque)
{
    (void)rt;
    struct hv_vm *vm = opaque;
    uint32_t reg = cp_reg_encoding(cp);
    if (reg == SYSREG_CNTKCTL_EL1 && (cp->val & CNTKCTL_EL0_BEYOND_VIRTUAL_COUNT) &&
        !vm->mrs_everywhere && !at_el0(uc)) {
        /* Unicorn writes the register; EL0 code must not run before the MRS hook
         * covers it: the slice ends at the next block. */
        vm->mrs_everywhere_wanted = true;
        atomic_store_explicit(&vm->attention, true, memory_order_relaxed);
        return 0;
    }
    if (arch_timer_owns(reg)) {
        if (!access_allowed(vm, reg))
            return 0;
        uint64_t now = monotonic_ns();
        arch_timer_write(&vm->timer, reg, now, cp->val);
        /* A timer armed sooner than this slice ends must not fire late. */
        uint64_t deadline = arch_timer_next_deadline_ns(&vm->timer, now);
        if (deadline < vm->slice_deadline_ns)
            vm->slice_deadline_ns = deadline;
        update_timer_lines(vm, now);
        irq_output_changed(vm);
        return 1;
    }
    if (sysreg_is_icc(reg) && access_allowed(vm, reg) &&
        gicv3_sysreg_write(vm->gic, reg, cp->val)) {
        /* EOI, PMR and friends change which interrupt may be signalled. */
        irq_output_changed(vm);
        skip_unknown_sysreg(uc);
        return 1;
    }
    return 0;
}

/* Called before each translation block runs. uc_emu_stop here ends the slice
 * before any instruction of the block executes, so PC is exact. */
static void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *opaque)
{
    struct hv_vm *vm = opaque;
    if (vm->icache.loop_running)
        emu_icache_block(&vm->icache, address, size);
    if (atomic_load_explicit(&vm->attention, memory_order_relaxed)) {
        uc_emu_stop(uc);
        return;
    }
    if (--vm->blocks_to_clock_check == 0) {
        vm->blocks_to_clock_check = CLOCK_CHECK_BLOCKS;
        if (monotonic_ns() >= vm->slice_deadline_ns)
            uc_emu_stop(uc);
    }
}

static void on_interrupt(uc_engine *uc, uint32_t intno, void *opaque)
{
    struct hv_vm *vm = opaque;
    /* Handled after uc_emu_start returns: registers written from inside a hook
     * do not refresh Unicorn's cached state. */
    vm->pending_intno = (int)intno;
    uc_emu_stop(uc);
}

/* ---- where the MRS hook runs ------------------------------------------------------ */

/* Every MRS the hook covers becomes a call out of the translated code, and
 * programs read TPIDR_EL0 on every thread-local access (Firefox: on_mrs and
 * Unicorn's helper_uc_hooksys64 were 5.5 % of vmmd's time). Unicorn places the
 * hook by code address only (no register or exception-level filter), so it
 * covers where EL1 code runs and not where programs do: RAM's physical range
 * (the kernel before it turns its MMU on, and identity-mapped code) and the top
 * half of the address space (TTBR1: the kernel's own mappings). EL0 code runs
 * in the bottom half, where Unicorn's own registers then answer. What EL0 may
 * read of ours is the virtual counter (CNTVCT_EL0, CNTFRQ_EL0), which Unicorn
 * computes from the same host clock at the same rate once CNTVOFF_EL2 holds our
 * offset (sync_unicorn_counter); its ID registers and the CPU interface UNDEF
 * there, as the architecture wants. A kernel that opens more of the timer to
 * EL0 (CNTKCTL_EL1.EL0PCTEN/EL0VTEN/EL0PTEN, which Linux never sets) gets one
 * hook over all code instead. */
#define KERNEL_HALF_START (1ull << 63)

static int add_mrs_hook(struct hv_vm *vm, uint64_t begin, uint64_t end)
{
    if (vm->num_mrs_hooks == ARRAY_SIZE(vm->hook_mrs))
        return -1;
    return uc_hook_add(vm->uc, &vm->hook_mrs[vm->num_mrs_hooks++], UC_HOOK_INSN, (void *)on_mrs,
                       vm, begin, end, UC_ARM64_INS_MRS) == UC_ERR_OK ? 0 : -1;
}

static void remove_mrs_hooks(struct hv_vm *vm)
{
    while (vm->num_mrs_hooks > 0)
        uc_hook_del(vm->uc, vm->hook_mrs[--vm->num_mrs_hooks]);
}

/* Unicorn's virtual counter is the host's monotonic clock in 16 ns ticks minus
 * CNTVOFF_EL2, ours the same minus timer.offset: equal once the offsets are. */
static int sync_unicorn_counter(struct hv_vm *vm)
{
    return emu_cpreg_write(vm->uc, SYSREG_CNTVOFF_EL2, vm->timer.offset);
}

static bool el0_reads_beyond_virtual_count(struct hv_vm *vm)
{
    uint64_t cntkctl = 0;
    emu_cpreg_read(vm->uc, SYSREG_CNTKCTL_EL1, &cntkctl);
    return cntkctl & CNTKCTL_EL0_BEYOND_VIRTUAL_COUNT;
}

/* Installs the MRS hooks once RAM is mapped (the first run). */
static int add_mrs_hooks(struct hv_vm *vm)
{
    if (vm->mrs_everywhere || el0_reads_beyond_virtual_count(vm)) {
        vm->mrs_everywhere = true;
        return add_mrs_hook(vm, 1, 0);
    }
    uint64_t low = UINT64_MAX, high = 0;
    for (unsigned i = 0; i < vm->num_ram; i++) {
        low = vm->ram[i].gpa < low ? vm->ram[i].gpa : low;
        high = vm->ram[i].gpa + vm->ram[i].size > high ? vm->ram[i].gpa + vm->ram[i].size : high;
    }
    if (vm->num_ram > 0 && add_mrs_hook(vm, low, high - 1) < 0)
        return -1;
    return add_mrs_hook(vm, KERNEL_HALF_START, UINT64_MAX);
}

/* After the guest opened more of the timer to EL0: one hook over all code, and
 * the code translated without it is dropped. Rare (never with Linux), so the
 * cost of retranslating everything does not matter. */
static int widen_mrs_hooks(struct hv_vm *vm)
{
    vm->mrs_everywhere_wanted = false;
    if (vm->mrs_everywhere)
        return 0;
    remove_mrs_hooks(vm);
    vm->mrs_everywhere = true;
    if (add_mrs_hook(vm, 1, 0) < 0)
        return -1;
    return uc_ctl_flush_tb(vm->uc) == UC_ERR_OK ? 0 : -1;
}

/* ---- create / destroy ---------------------------------------------------------- */

static void emu_destroy(struct hv_vm *vm)
{
    if (!vm)
        return;
    emu_entry_destroy(&vm->entry);
    if (vm->uc)
        uc_close(vm->uc);
    gicv3_destroy(vm->gic);
    for (int i = 0; i < 2; i++)
        if (vm->wake_fds[i] >= 0)
            close(vm->wake_fds[i]);
    free(vm);
}

/* HCR_EL2.IMO makes HCR_EL2.VI an IRQ for EL1 (see set_virq_line). */
static int route_virtual_irq(struct hv_vm *vm)
{
    vm->hcr_el2 = HCR_EL2_RW | HCR_EL2_IMO;
    vm->virq_line = false;
    return emu_cpreg_write(vm->uc, SYSREG_HCR_EL2, vm->hcr_el2);
}

static bool unicorn_older_than(unsigned major, unsigned minor)
{
    unsigned int maj, min;
    uc_version(&maj, &min);
    return maj < major || (maj == major && min < minor);
}

static int create_engine(struct hv_vm *vm, char *err, size_t err_len)
{
    vm->uc = take_spare_engine();
    if (!vm->uc && open_engine(&vm->uc, err, err_len) < 0)
        return -1;
    /* An empty exit set: no "until" address that could stop the guest. */
    if (uc_ctl_exits_enable(vm->uc) != UC_ERR_OK ||
        uc_mmio_map(vm->uc, 0, vm->config.mmio_limit, device_space_read, vm,
                    device_space_write, vm) != UC_ERR_OK ||
        uc_hook_add(vm->uc, &vm->hook_intr, UC_HOOK_INTR, (void *)on_interrupt, vm, 1, 0) !=
            UC_ERR_OK ||
        uc_hook_add(vm->uc, &vm->hook_block, UC_HOOK_BLOCK, (void *)on_block, vm, 1, 0) !=
            UC_ERR_OK ||
        uc_hook_add(vm->uc, &vm->hook_msr, UC_HOOK_INSN, (void *)on_msr, vm, 1, 0,
                    UC_ARM64_INS_MSR) != UC_ERR_OK ||
        emu_icache_init(&vm->icache, vm->uc, vm->ram, &vm->num_ram, read_phys_u64, vm) < 0 ||
        emu_prepare_el1(vm->uc) < 0 || emu_entry_init(&vm->entry, vm->uc, &vm->layout) < 0 ||
        sync_unicorn_counter(vm) < 0 || route_virtual_irq(vm) < 0) {
        snprintf(err, err_len, "cannot set up the Unicorn engine (memory map or hooks)");
        return -1;
    }
    return 0;
}

static struct hv_vm *emu_create(const struct hv_config *config, char *err, size_t err_len)
{
    if (config->num_vcpus != 1) {
        snprintf(err, err_len, "the emu backend runs exactly one vCPU (asked for %u; more "
                 "need the kvm backend)", config->num_vcpus);
        return NULL;
    }
    if (config->mmio_limit == 0 || (config->mmio_limit & 0xfff)) {
        snprintf(err, err_len, "device space size must be a non-zero multiple of 4 KiB");
        return NULL;
    }
    struct hv_vm *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    vm->config = *config;
    vm->io = *config->io;
    vm->config.io = &vm->io;
    vm->wake_fds[0] = vm->wake_fds[1] = -1;
    vm->pending_intno = -1;
    vm->need_va_aliases = unicorn_older_than(2, 1);
    if (emu_layout_of_process(&vm->layout, err, err_len) < 0)
        goto fail;
    if (pipe(vm->wake_fds) < 0) {
        snprintf(err, err_len, "pipe: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < 2; i++)
        set_nonblock_cloexec(vm->wake_fds[i]);
    vm->gic = gicv3_create(config->gic.num_spis);
    if (!vm->gic) {
        snprintf(err, err_len, "cannot create the interrupt controller (%u SPIs)",
                 config->gic.num_spis);
        goto fail;
    }
    arch_timer_init(&vm->timer, monotonic_ns());
    if (create_engine(vm, err, err_len) < 0)
        goto fail;
    log_debug("emu: Unicorn %s, exception entry by %s (syndrome @%zu, far @%zu)",
              vm->need_va_aliases ? "< 2.1 (virtual-address aliases on)" : ">= 2.1",
              vm->layout.method == EMU_ENTRY_PATCH_HFLAGS ? "flag patch" : "register rebuild",
              vm->layout.syndrome_offset, vm->layout.vaddress_offset);
    return vm;
fail:
    emu_destroy(vm);
    return NULL;
}

/* ---- registers ------------------------------------------------------------------ */

static int uc_reg_for(enum hv_reg reg)
{
    unsigned n = (unsigned)reg;
    if (n <= 28)
        return UC_ARM64_REG_X0 + (int)n;
    if (n == 29)
        return UC_ARM64_REG_X29;
    if (n == 30)
        return UC_ARM64_REG_X30;
    switch (reg) {
    case HV_REG_SP: return UC_ARM64_REG_SP;
    case HV_REG_PC: return UC_ARM64_REG_PC;
    case HV_REG_PSTATE: return UC_ARM64_REG_PSTATE;
    default: return -1;
    }
}

static int emu_get_reg(struct hv_vm *vm, unsigned vcpu, enum hv_reg reg, uint64_t *value)
{
    int id = uc_reg_for(reg);
    if (vcpu != 0 || id < 0)
        return -EINVAL;
    *value = 0;
    if (uc_reg_read(vm->uc, id, value) != UC_ERR_OK)
        return -EIO;
    if (reg == HV_REG_PSTATE)
        *value &= 0xffffffffu;
    return 0;
}

static int emu_set_reg(struct hv_vm *vm, unsigned vcpu, enum hv_reg reg, uint64_t value)
{
    int id = uc_reg_for(reg);
    if (vcpu != 0 || id < 0)
        return -EINVAL;
    if (reg == HV_REG_PSTATE) {
        uint32_t v = (uint32_t)value;
        return uc_reg_write(vm->uc, id, &v) == UC_ERR_OK ? 0 : -EIO;
    }
    return uc_reg_write(vm->uc, id, &value) == UC_ERR_OK ? 0 : -EIO;
}

/* ---- whole-vCPU state ----------------------------------------------------------- */

#define EMU_STATE_MAGIC 0x31554d45u /* "EMU1" */
#define STATE_FIELD(f) offsetof(struct hv_vcpu_state, f)

/* Registers Unicorn names directly. */
static const struct {
    int id;
    size_t field;
} state_uc_regs[] = {
    {UC_ARM64_REG_ELR_EL1, STATE_FIELD(elr_el1)},     {UC_ARM64_REG_ESR_EL1, STATE_FIELD(esr_el1)},
    {UC_ARM64_REG_FAR_EL1, STATE_FIELD(far_el1)},     {UC_ARM64_REG_VBAR_EL1, STATE_FIELD(vbar_el1)},
    {UC_ARM64_REG_TTBR0_EL1, STATE_FIELD(ttbr0_el1)}, {UC_ARM64_REG_TTBR1_EL1, STATE_FIELD(ttbr1_el1)},
    {UC_ARM64_REG_MAIR_EL1, STATE_FIELD(mair_el1)},   {UC_ARM64_REG_CPACR_EL1, STATE_FIELD(cpacr_el1)},
    {UC_ARM64_REG_PAR_EL1, STATE_FIELD(par_el1)},     {UC_ARM64_REG_TPIDR_EL0, STATE_FIELD(tpidr_el0)},
    {UC_ARM64_REG_TPIDRRO_EL0, STATE_FIELD(tpidrro_el0)},
    {UC_ARM64_REG_TPIDR_EL1, STATE_FIELD(tpidr_el1)}, {UC_ARM64_REG_FPCR, STATE_FIELD(fpcr)},
    {UC_ARM64_REG_FPSR, STATE_FIELD(fpsr)},
};

/* Registers reached through UC_ARM64_REG_CP_REG. */
static const struct {
    uint32_t reg;
    size_t field;
} state_cp_regs[] = {
    {SYSREG_SCTLR_EL1, STATE_FIELD(sctlr_el1)},         {SYSREG_TCR_EL1, STATE_FIELD(tcr_el1)},
    {SYSREG_SPSR_EL1, STATE_FIELD(spsr_el1)},           {SYSREG(3, 0, 10, 3, 0), STATE_FIELD(amair_el1)},
    {SYSREG(3, 0, 13, 0, 1), STATE_FIELD(contextidr_el1)},
    {SYSREG_CNTKCTL_EL1, STATE_FIELD(cntkctl_el1)},     {SYSREG(3, 0, 5, 1, 0), STATE_FIELD(afsr0_el1)},
    {SYSREG(3, 0, 5, 1, 1), STATE_FIELD(afsr1_el1)},    {SYSREG(2, 0, 0, 2, 2), STATE_FIELD(mdscr_el1)},
    {SYSREG(3, 2, 0, 0, 0), STATE_FIELD(csselr_el1)},
};

static uint64_t *state_u64(struct hv_vcpu_state *st, size_t field)
{
    return (uint64_t *)(void *)((char *)st + field);
}

static bool on_sp_el1(uint64_t pstate)
{
    return ((pstate >> 2) & 3) != 0 && (pstate & 1);
}

static int emu_get_vcpu_state(struct hv_vm *vm, unsigned vcpu, struct hv_vcpu_state *st)
{
    if (vcpu != 0)
        return -EINVAL;
    memset(st, 0, sizeof(*st));
    for (int i = 0; i < 31; i++)
        st->x[i] = read_u64(vm, i <= 28 ? UC_ARM64_REG_X0 + i
                                        : (i == 29 ? UC_ARM64_REG_X29 : UC_ARM64_REG_X30));
    st->pc = read_u64(vm, UC_ARM64_REG_PC);
    st->pstate = read_u64(vm, UC_ARM64_REG_PSTATE) & 0xffffffffu;
    /* The live SP is the one PSTATE selects; the other is in its bank. */
    uint64_t sp = read_u64(vm, UC_ARM64_REG_SP);
    st->sp_el1 = on_sp_el1(st->pstate) ? sp : read_u64(vm, UC_ARM64_REG_SP_EL1);
    st->sp_el0 = on_sp_el1(st->pstate) ? read_u64(vm, UC_ARM64_REG_SP_EL0) : sp;
    for (size_t i = 0; i < ARRAY_SIZE(state_uc_regs); i++)
        *state_u64(st, state_uc_regs[i].field) = read_u64(vm, state_uc_regs[i].id);
    for (size_t i = 0; i < ARRAY_SIZE(state_cp_regs); i++)
        if (emu_cpreg_read(vm->uc, state_cp_regs[i].reg, state_u64(st, state_cp_regs[i].field)) < 0)
            return -EIO;
    for (int i = 0; i < 32; i++)
        if (uc_reg_read(vm->uc, UC_ARM64_REG_V0 + i, st->v[i]) != UC_ERR_OK)
            return -EIO;
    uint64_t now = monotonic_ns();
    st->cntv_ctl = vm->timer.virt.ctl;
    st->cntv_cval = vm->timer.virt.cval;
    st->cntp_ctl = vm->timer.phys.ctl;
    st->cntp_cval = vm->timer.phys.cval;
    st->counter = arch_timer_count(&vm->timer, now);
    st->counter_hz = ARCH_TIMER_HZ;
    unsigned int major, minor;
    st->backend[0] = EMU_STATE_MAGIC;
    st->backend[1] = uc_version(&major, &minor);
    return emu_entry_save_flags(&vm->entry, &st->backend[2], &st->backend[3]) < 0 ? -EIO : 0;
}

static int write_u64(struct hv_vm *vm, int reg, uint64_t value)
{
    return uc_reg_write(vm->uc, reg, &value) == UC_ERR_OK ? 0 : -1;
}

static int emu_set_vcpu_state(struct hv_vm *vm, unsigned vcpu, const struct hv_vcpu_state *st)
{
    unsigned int major, minor;
    if (vcpu != 0)
        return -EINVAL;
    if (vm->has_run)
        return -EBUSY;
    /* The cached-flags word means nothing to another Unicorn build; emu's one
     * vCPU is always on, and it keeps no register list. */
    if (st->backend[0] != EMU_STATE_MAGIC || st->backend[1] != uc_version(&major, &minor) ||
        st->power != HV_VCPU_ON || st->num_regs != 0 || st->counter_hz != ARCH_TIMER_HZ)
        return -EINVAL;
    struct hv_vcpu_state copy = *st;
    int rc = 0;
    for (size_t i = 0; i < ARRAY_SIZE(state_cp_regs); i++)
        rc |= emu_cpreg_write(vm->uc, state_cp_regs[i].reg, *state_u64(&copy, state_cp_regs[i].field));
    for (size_t i = 0; i < ARRAY_SIZE(state_uc_regs); i++)
        rc |= write_u64(vm, state_uc_regs[i].id, *state_u64(&copy, state_uc_regs[i].field));
    for (int i = 0; i < 31; i++)
        rc |= write_u64(vm, i <= 28 ? UC_ARM64_REG_X0 + i
                                    : (i == 29 ? UC_ARM64_REG_X29 : UC_ARM64_REG_X30), st->x[i]);
    for (int i = 0; i < 32; i++)
        rc |= uc_reg_write(vm->uc, UC_ARM64_REG_V0 + i, copy.v[i]) == UC_ERR_OK ? 0 : -1;
    rc |= write_u64(vm, UC_ARM64_REG_SP_EL0, st->sp_el0);
    rc |= write_u64(vm, UC_ARM64_REG_SP_EL1, st->sp_el1);
    uint32_t pstate = (uint32_t)st->pstate;
    rc |= uc_reg_write(vm->uc, UC_ARM64_REG_PSTATE, &pstate) == UC_ERR_OK ? 0 : -1;
    rc |= write_u64(vm, UC_ARM64_REG_SP, on_sp_el1(st->pstate) ? st->sp_el1 : st->sp_el0);
    rc |= write_u64(vm, UC_ARM64_REG_PC, st->pc);
    rc |= emu_entry_restore_flags(&vm->entry, st->backend[2], st->backend[3]);
    if (rc)
        return -EIO;
    vm->timer.virt = (struct arch_timer_channel){.ctl = st->cntv_ctl, .cval = st->cntv_cval};
    vm->timer.phys = (struct arch_timer_channel){.ctl = st->cntp_ctl, .cval = st->cntp_cval};
    arch_timer_set_count(&vm->timer, monotonic_ns(), st->counter);
    return sync_unicorn_counter(vm) < 0 ? -EIO : 0;
}

/* ---- interrupts and wake-ups ----------------------------------------------------- */

static void wake(struct hv_vm *vm)
{
    char byte = 1;
    ssize_t n = write(vm->wake_fds[1], &byte, 1);
    (void)n; /* a full pipe already means "wake up" */
}

static void drain_wakeups(struct hv_vm *vm)
{
    char buf[64];
    while (read(vm->wake_fds[0], buf, sizeof(buf)) > 0) {
    }
}

static int emu_set_irq(struct hv_vm *vm, unsigned intid, bool level)
{
    if (intid < GIC_NUM_PRIVATE || intid >= GIC_NUM_PRIVATE + vm->config.gic.num_spis)
        return -EINVAL;
    gicv3_set_line(vm->gic, intid, level);
    if (level) {
        atomic_store(&vm->attention, true);
        wake(vm);
    }
    return 0;
}

static void emu_stop(struct hv_vm *vm)
{
    atomic_store(&vm->stop_requested, true);
    atomic_store(&vm->attention, true);
    wake(vm);
}

static void emu_clear_stop(struct hv_vm *vm)
{
    atomic_store(&vm->stop_requested, false);
}

/* ---- interrupt controller state --------------------------------------------------- */

/* The userspace GICv3's own message (proto/devices/gicv3.proto). */
static int emu_save_irqchip(struct hv_vm *vm, struct device_state_bytes *out)
{
    struct gicv3_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int rc = gicv3_save(vm->gic, st);
    if (rc == 0)
        rc = gicv3_state_encode(st, out);
    free(st);
    return rc;
}

static int emu_load_irqchip(struct hv_vm *vm, const uint8_t *state, size_t len, char *err,
                            size_t err_len)
{
    if (vm->has_run)
        return -EBUSY;
    struct gicv3_state *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    int rc = gicv3_state_decode(state, len, st, err, err_len);
    if (rc == 0 && (rc = gicv3_load(vm->gic, st)) == -EINVAL)
        snprintf(err, err_len, "the interrupt controller's state has another number of "
                 "interrupts, or values no register write could produce");
    free(st);
    return rc;
}

/* ---- the run loop ---------------------------------------------------------------- */

static bool irq_deliverable(struct hv_vm *vm, uint64_t pstate)
{
    return !(pstate & PSTATE_I) && gicv3_irq_asserted(vm->gic);
}

/* A slice runs until the next timer deadline that has not fired yet (an already
 * fired timer's interrupt is pending and waits for the guest, not for time). */
static void plan_slice(struct hv_vm *vm, uint64_t now)
{
    uint64_t deadline = arch_timer_next_deadline_ns(&vm->timer, now);
    if (deadline <= now || deadline - now > SLICE_MAX_NS)
        deadline = now + SLICE_MAX_NS;
    vm->slice_deadline_ns = deadline;
    vm->blocks_to_clock_check = CLOCK_CHECK_BLOCKS;
}

/* Reads the guest instruction at virtual address va. */
static bool read_insn(struct hv_vm *vm, uint64_t va, uint32_t *insn)
{
    struct emu_mmu_regs regs = {
        .ttbr0 = read_u64(vm, UC_ARM64_REG_TTBR0_EL1),
        .ttbr1 = read_u64(vm, UC_ARM64_REG_TTBR1_EL1),
    };
    if (emu_cpreg_read(vm->uc, SYSREG_SCTLR_EL1, &regs.sctlr) < 0 ||
        emu_cpreg_read(vm->uc, SYSREG_TCR_EL1, &regs.tcr) < 0)
        return false;
    uint64_t pa, word;
    if (!emu_translate(&regs, va, read_phys_u64, vm, &pa) ||
        !read_phys_u64(vm, pa & ~7ull, &word))
        return false;
    *insn = (uint32_t)(word >> ((pa & 4) * 8));
    return true;
}

/* WFI leaves PC just past itself. */
static bool stopped_after_wfi(struct hv_vm *vm, uint64_t pc)
{
    uint32_t insn;
    return read_insn(vm, pc - 4, &insn) && insn == A64_WFI;
}

/* Sleeps until the next timer deadline or a wake-up from another thread.
 * lines_at is when the timer lines were last brought up to date: the deadline
 * is taken as of then, so that a timer firing since (the host may have
 * preempted us in between) ends the sleep at once. Taken as of later, it would
 * count as fired, its line as raised, and the sleep would last until some
 * device interrupted, which in an idle guest may be never. */
static void idle(struct hv_vm *vm, uint64_t lines_at)
{
    uint64_t deadline = arch_timer_next_deadline_ns(&vm->timer, lines_at);
    uint64_t now = monotonic_ns();
    if (deadline <= now)
        return;
    struct pollfd pfd = {.fd = vm->wake_fds[0], .events = POLLIN};
#ifdef __linux__
    /* Nanosecond timeout: waking late by a rounded-up millisecond would make the
     * guest's timer interrupts late. */
    struct timespec ts, *timeout = NULL;
    if (deadline != UINT64_MAX) {
        uint64_t ns = deadline - now;
        ts = (struct timespec){.tv_sec = (time_t)(ns / 1000000000u),
                               .tv_nsec = (long)(ns % 1000000000u)};
        timeout = &ts;
    }
    ppoll(&pfd, 1, timeout, NULL);
#else
    int timeout_ms = -1;
    if (deadline != UINT64_MAX) {
        uint64_t ms = (deadline - now + 999999) / 1000000;
        timeout_ms = ms > INT_MAX ? INT_MAX : (int)ms;
    }
    poll(&pfd, 1, timeout_ms);
#endif
    drain_wakeups(vm);
}

/* Unicorn turns the guest's DMB into no host fence (one vCPU, no CF_PARALLEL),
 * so device threads may miss the driver's last stores and it theirs
 * (virtqueue.h). The devices look again from this thread: whenever the guest
 * is about to sleep, and at most this long apart while it keeps running. */
#define NOTIFICATION_CHECK_NS (10 * 1000000ull)

static void recheck_notifications(struct hv_vm *vm, uint64_t now)
{
    vm->notifications_checked_ns = now;
    if (vm->io.recheck_notifications)
        vm->io.recheck_notifications(vm->io.opaque);
}

static void set_exit_error(struct hv_vm *vm, struct hv_exit *exit, const char *what)
{
    exit->reason = HV_EXIT_ERROR;
    snprintf(exit->message, sizeof(exit->message), "%s (pc 0x%llx, pstate 0x%llx)", what,
             (unsigned long long)read_u64(vm, UC_ARM64_REG_PC),
             (unsigned long long)read_u64(vm, UC_ARM64_REG_PSTATE) & 0xffffffffu);
}

static enum hv_call_result do_hypercall(struct hv_vm *vm)
{
    uint64_t args[4], result = 0;
    for (int i = 0; i < 4; i++)
        args[i] = read_u64(vm, UC_ARM64_REG_X0 + i);
    enum hv_call_result r = vm->io.hypercall(vm->io.opaque, args, &result);
    uc_reg_write(vm->uc, UC_ARM64_REG_X0, &result);
    return r;
}

static bool is_synchronous_exception(int intno)
{
    return intno == EMU_EXCP_UDEF || intno == EMU_EXCP_SWI ||
           intno == EMU_EXCP_PREFETCH_ABORT || intno == EMU_EXCP_DATA_ABORT ||
           intno == EMU_EXCP_BKPT;
}

/* Exception classes that only AArch32 state raises (Arm ARM D17.2.37). The guest
 * is told AArch32 is absent; a kernel that enters it anyway is stopped here. */
static bool syndrome_from_aarch32(uint32_t syndrome)
{
    switch (syndrome >> 26) {
    case 0x03: case 0x04: case 0x05: case 0x06: case 0x08: case 0x0c:
    case 0x11: case 0x12: case 0x13: case 0x28: case 0x38:
        return true;
    default:
        return false;
    }
}

/* Takes the exception the last slice reported. Returns false on an exit. */
static bool handle_exception(struct hv_vm *vm, int intno, struct hv_exit *exit)
{
    if (intno == EMU_EXCP_HVC || intno == EMU_EXCP_SMC) {
        switch (do_hypercall(vm)) {
        case HV_CALL_CONTINUE: return true;
        case HV_CALL_SYSTEM_OFF: exit->reason = HV_EXIT_SYSTEM_OFF; return false;
        case HV_CALL_SYSTEM_RESET: exit->reason = HV_EXIT_SYSTEM_RESET; return false;
        }
    }
    if (!is_synchronous_exception(intno)) {
        char what[64];
        snprintf(what, sizeof(what), "unsupported exception %d from the guest CPU", intno);
        set_exit_error(vm, exit, what);
        return false;
    }
    uint64_t pstate = read_u64(vm, UC_ARM64_REG_PSTATE);
    uint64_t pc = read_u64(vm, UC_ARM64_REG_PC);
    int rc;
    if (((pstate >> 2) & 3) == 0 && irq_deliverable(vm, pstate)) {
        /* Take the IRQ first and let the trapping instruction run again after it
         * (for SVC, PC is already past it): one slice instead of several. */
        rc = emu_entry_take(&vm->entry, EMU_VECTOR_IRQ, intno == EMU_EXCP_SWI ? pc - 4 : pc,
                            false, 0, false, 0);
    } else {
        uint32_t syndrome;
        uint64_t far;
        emu_entry_fault_info(&vm->entry, &syndrome, &far);
        if (syndrome_from_aarch32(syndrome)) {
            set_exit_error(vm, exit, "the guest ran 32-bit (AArch32) code, which the emu "
                                     "backend does not support");
            return false;
        }
        bool abort = intno == EMU_EXCP_DATA_ABORT || intno == EMU_EXCP_PREFETCH_ABORT;
        rc = emu_entry_take(&vm->entry, EMU_VECTOR_SYNC, pc, true, syndrome, abort, far);
    }
    if (rc < 0) {
        set_exit_error(vm, exit, "could not enter a guest exception");
        return false;
    }
    return true;
}

/* With --verbose, a line every few seconds says what the vCPU is doing. */
static void report_stats(struct hv_vm *vm, uint64_t now)
{
    struct emu_stats *st = &vm->stats;
    if (!log_is_verbose() || now - st->last_report_ns < 5000000000ull)
        return;
    uint64_t pc = read_u64(vm, UC_ARM64_REG_PC);
    uint32_t insn = 0, prev = 0;
    read_insn(vm, pc, &insn);
    read_insn(vm, pc - 4, &prev);
    log_debug("emu: pc 0x%llx [%08x %08x] irq %d pstate 0x%llx; slices %llu irqs %llu exceptions %llu wfi %llu "
              "sleeps %llu; ic ivau %llu iall %llu, ranges dropped %llu",
              (unsigned long long)pc, prev, insn, gicv3_irq_asserted(vm->gic),
              (unsigned long long)read_u64(vm, UC_ARM64_REG_PSTATE) & 0xffffffffu,
              (unsigned long long)st->slices, (unsigned long long)st->irqs,
              (unsigned long long)st->exceptions, (unsigned long long)st->wfis,
              (unsigned long long)st->sleeps, (unsigned long long)vm->icache.stats.ivau,
              (unsigned long long)vm->icache.stats.all,
              (unsigned long long)vm->icache.stats.dropped);
    *st = (struct emu_stats){.last_report_ns = now};
    memset(&vm->icache.stats, 0, sizeof(vm->icache.stats));
}

/* Delivers an asserted interrupt if the guest has IRQs unmasked. Returns -1 if
 * the entry failed, else whether an interrupt is still waiting. */
static int deliver_irq(struct hv_vm *vm)
{
    if (!gicv3_irq_asserted(vm->gic))
        return 0;
    if (read_u64(vm, UC_ARM64_REG_PSTATE) & PSTATE_I)
        return 1;
    if (emu_entry_take(&vm->entry, EMU_VECTOR_IRQ, read_u64(vm, UC_ARM64_REG_PC), false, 0,
                       false, 0) < 0)
        return -1;
    vm->stats.irqs++;
    return 1; /* asserted until the guest acknowledges it, which it does masked */
}

static int emu_run(struct hv_vm *vm, struct hv_exit *exit)
{
    memset(exit, 0, sizeof(*exit));
    if (finalise_memory(vm) < 0) {
        set_exit_error(vm, exit, "could not complete the memory map");
        return 0;
    }
    if (vm->num_mrs_hooks == 0 && add_mrs_hooks(vm) < 0) {
        set_exit_error(vm, exit, "could not hook the guest's system-register reads");
        return 0;
    }
    vm->has_run = true;
    /* The guest starts at EL1h: remember its flags now, in case it drops to EL0
     * and takes an exception before any slice has ended at EL1. */
    emu_entry_observe(&vm->entry, read_u64(vm, UC_ARM64_REG_PSTATE));
    for (;;) {
        /* Cleared before looking, so that anything arriving later ends the slice. */
        atomic_store(&vm->attention, false);
        if (atomic_load(&vm->stop_requested)) {
            exit->reason = HV_EXIT_STOPPED;
            return 0;
        }
        uint64_t now = monotonic_ns();
        report_stats(vm, now);
        if (now - vm->notifications_checked_ns >= NOTIFICATION_CHECK_NS)
            recheck_notifications(vm, now);
        update_timer_lines(vm, now);
        int waiting = deliver_irq(vm);
        if (waiting < 0) {
            set_exit_error(vm, exit, "could not deliver an interrupt");
            return 0;
        }
        if (set_virq_line(vm, waiting) < 0) {
            set_exit_error(vm, exit, "could not signal an interrupt");
            return 0;
        }
        plan_slice(vm, now);
        vm->pending_intno = -1;
        vm->stats.slices++;
        uc_err err = uc_emu_start(vm->uc, read_u64(vm, UC_ARM64_REG_PC), 0, 0, 0);
        if (err != UC_ERR_OK) {
            char what[128];
            snprintf(what, sizeof(what), "the CPU emulator stopped: %s", uc_strerror(err));
            set_exit_error(vm, exit, what);
            return 0;
        }
        emu_icache_slice_ended(&vm->icache);
        emu_entry_observe(&vm->entry, read_u64(vm, UC_ARM64_REG_PSTATE));
        if (vm->mrs_everywhere_wanted && widen_mrs_hooks(vm) < 0) {
            set_exit_error(vm, exit, "could not hook the guest's system-register reads");
            return 0;
        }
        if (vm->pending_intno >= 0) {
            vm->stats.exceptions++;
            if (!handle_exception(vm, vm->pending_intno, exit))
                return 0;
            continue;
        }
        if (!stopped_after_wfi(vm, read_u64(vm, UC_ARM64_REG_PC)))
            continue;
        /* WFI. With an interrupt pending it completes at once (Linux idles with
         * IRQs masked around it and unmasks next); otherwise sleep until a timer
         * deadline or a device wakes us. */
        vm->stats.wfis++;
        uint64_t lines_at = monotonic_ns();
        update_timer_lines(vm, lines_at);
        if (!gicv3_irq_asserted(vm->gic) && !atomic_load(&vm->attention)) {
            recheck_notifications(vm, lines_at);
            if (!gicv3_irq_asserted(vm->gic) && !atomic_load(&vm->attention)) {
                vm->stats.sleeps++;
                idle(vm, lines_at);
            }
        }
    }
}

const struct hv_ops hv_emu_ops = {
    .name = "emu",
    .usable = emu_usable,
    .prepare = emu_prepare,
    .create = emu_create,
    .destroy = emu_destroy,
    .map_ram = emu_map_ram,
    .get_reg = emu_get_reg,
    .set_reg = emu_set_reg,
    .get_vcpu_state = emu_get_vcpu_state,
    .set_vcpu_state = emu_set_vcpu_state,
    .run = emu_run,
    .set_irq = emu_set_irq,
    .stop = emu_stop,
    .clear_stop = emu_clear_stop,
    .save_irqchip = emu_save_irqchip,
    .load_irqchip = emu_load_irqchip,
};
