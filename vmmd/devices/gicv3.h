/* A userspace GICv3 for one CPU: distributor, one redistributor, and the CPU
 * interface system registers. Used by backends that cannot use an in-kernel GIC
 * (emu). Thread-safe: devices set lines from any thread, the vCPU thread reads
 * registers. Single security state (GICD_CTLR.DS = 1), as Linux at EL1 expects. */
#ifndef IGNITION_GICV3_H
#define IGNITION_GICV3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"

#define GIC_NUM_PRIVATE 32       /* SGIs 0-15, PPIs 16-31 */
#define GIC_MAX_SPIS 988
#define GIC_SPURIOUS 1023
#define GIC_MAX_IRQS (GIC_NUM_PRIVATE + (GIC_MAX_SPIS + 31) / 32 * 32)
#define GIC_MAX_NESTED 32 /* acknowledged interrupts awaiting their priority drop */

#define GICD_SIZE 0x10000
#define GICR_SIZE 0x20000 /* RD_base + SGI_base frames */

struct gicv3;

struct gicv3 *gicv3_create(unsigned num_spis);
void gicv3_destroy(struct gicv3 *gic);

uint64_t gicv3_dist_read(struct gicv3 *gic, uint64_t offset, unsigned size);
void gicv3_dist_write(struct gicv3 *gic, uint64_t offset, unsigned size, uint64_t value);
uint64_t gicv3_redist_read(struct gicv3 *gic, uint64_t offset, unsigned size);
void gicv3_redist_write(struct gicv3 *gic, uint64_t offset, unsigned size, uint64_t value);

/* CPU interface: returns false when reg is not an ICC register we implement. */
bool gicv3_sysreg_read(struct gicv3 *gic, uint32_t reg, uint64_t *value);
bool gicv3_sysreg_write(struct gicv3 *gic, uint32_t reg, uint64_t value);

/* Input line of interrupt intid (PPI or SPI). Edge-triggered interrupts latch
 * pending on a rising edge; level-triggered ones are pending while high. */
void gicv3_set_line(struct gicv3 *gic, unsigned intid, bool level);

/* True when the CPU's IRQ signal is asserted: a pending, enabled group-1
 * interrupt beats the priority mask and the running priority. */
bool gicv3_irq_asserted(struct gicv3 *gic);
/* The interrupt IAR would return if priorities allowed it (for diagnostics). */
unsigned gicv3_highest_pending(struct gicv3 *gic);

/* ---- snapshot state ----------------------------------------------------------------- */

/* One interrupt. The flags are 0 or 1; they are bytes rather than bools so that a
 * state read from a file cannot hold a bool with another value. */
struct gicv3_irq_state {
    uint8_t priority; /* the 5 implemented bits, as GICD_IPRIORITYR reads */
    uint8_t group1, enabled, active;
    uint8_t edge;    /* GICD_ICFGR: edge-triggered (always 1 for SGIs) */
    uint8_t pending; /* latched: an edge, GICD_ISPENDR or an SGI; a level
                        interrupt is pending besides while its line is 1 */
    uint8_t line;    /* the input line's level (PPIs and SPIs; 0 for SGIs) */
};

/* Everything the guest can observe. Not saved, because it follows from what is:
 * GICD_TYPER (from num_spis), the ID registers, ICC_SRE/BPR0/IGRPEN0 and the
 * group-0 registers (fixed with one security state), ICC_RPR and ICC_AP1R0 (from
 * the active stack), the CPU's IRQ signal (from all of it). Entries at and above
 * 32 + num_spis are zero. */
struct gicv3_state {
    uint32_t num_spis; /* as the GIC was created, rounded up to a multiple of 32 */
    uint32_t dist_ctlr;
    uint32_t redist_waker;
    uint32_t icc_ctlr, icc_pmr, icc_bpr1;
    uint8_t icc_igrpen1;
    /* Acknowledged interrupts not yet priority-dropped, oldest first: the top
     * one's priority is the running priority. */
    uint32_t active_depth;
    uint32_t active_stack[GIC_MAX_NESTED];
    struct gicv3_irq_state irqs[GIC_MAX_IRQS];
    uint64_t irouter[GIC_MAX_IRQS]; /* GICD_IROUTER<n>, for SPIs only */
};

/* Fills out (any thread). Always 0. */
int gicv3_save(const struct gicv3 *gic, struct gicv3_state *out);

/* Replaces the whole state with in (meant for a GIC just created with the same
 * number of SPIs, before the guest runs). in comes from a file: on -EINVAL
 * (another size, a value no register write could produce, an index out of
 * range) the GIC is left unchanged. */
int gicv3_load(struct gicv3 *gic, const struct gicv3_state *in);

/* The state as its message (proto/devices/gicv3.proto), which the machine's
 * device table carries through the backend's irqchip operations
 * (hv/irqchip.c). encode refuses counts beyond the arrays (-EINVAL); decode
 * what does not decode or breaks a count or width (-EINVAL, reason in err).
 * The values are gicv3_load's to check. */
int gicv3_state_encode(const struct gicv3_state *in, struct device_state_bytes *out);
int gicv3_state_decode(const uint8_t *state, size_t len, struct gicv3_state *out, char *err,
                       size_t err_len);

#endif
