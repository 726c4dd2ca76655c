/* A userspace GICv3 for one CPU: distributor, one redistributor, and the CPU
 * interface system registers. Used by backends that cannot use an in-kernel GIC
 * (emu). Thread-safe: devices set lines from any thread, the vCPU thread reads
 * registers. Single security state (GICD_CTLR.DS = 1), as Linux at EL1 expects. */
#ifndef IGNITION_GICV3_H
#define IGNITION_GICV3_H

#include <stdbool.h>
#include <stdint.h>

#define GIC_NUM_PRIVATE 32       /* SGIs 0-15, PPIs 16-31 */
#define GIC_MAX_SPIS 988
#define GIC_SPURIOUS 1023

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

#endif
