/* The Arm generic timer of one vCPU, for backends without an in-kernel one (emu).
 * The counter runs at 62.5 MHz from the host's monotonic clock minus an offset
 * (so a restored snapshot's time can continue from the host clock). */
#ifndef IGNITION_ARCH_TIMER_H
#define IGNITION_ARCH_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define ARCH_TIMER_HZ 62500000ull
#define ARCH_TIMER_NS_PER_TICK 16ull /* 1e9 / 62.5e6 */

/* PPIs as the DT's timer node lists them (secure phys, phys, virt, hyp). */
#define ARCH_TIMER_PPI_SEC_PHYS 13
#define ARCH_TIMER_PPI_PHYS 14
#define ARCH_TIMER_PPI_VIRT 11
#define ARCH_TIMER_PPI_HYP 10
#define ARCH_TIMER_INTID(ppi) (16 + (ppi))

#define CNT_CTL_ENABLE 1u
#define CNT_CTL_IMASK 2u
#define CNT_CTL_ISTATUS 4u

/* CNTKCTL_EL1 bits that open the timer to EL0 (Arm ARM D11.2.1). */
#define CNTKCTL_EL0PCTEN (1u << 0)
#define CNTKCTL_EL0VCTEN (1u << 1)
#define CNTKCTL_EL0VTEN (1u << 8)
#define CNTKCTL_EL0PTEN (1u << 9)

struct arch_timer_channel {
    uint64_t ctl;  /* ENABLE and IMASK; ISTATUS is computed on read */
    uint64_t cval; /* compare value in counter ticks */
};

struct arch_timer {
    uint64_t offset; /* counter = host ticks - offset */
    struct arch_timer_channel phys, virt;
};

/* Starts the counter at zero now. */
void arch_timer_init(struct arch_timer *t, uint64_t now_ns);
uint64_t arch_timer_count(const struct arch_timer *t, uint64_t now_ns);
/* Makes the counter read `count` at now_ns and run on from there (a restore). */
void arch_timer_set_count(struct arch_timer *t, uint64_t now_ns, uint64_t count);

/* CNT* register access; false when reg is not a timer register. */
bool arch_timer_read(const struct arch_timer *t, uint32_t reg, uint64_t now_ns, uint64_t *value);
bool arch_timer_write(struct arch_timer *t, uint32_t reg, uint64_t now_ns, uint64_t value);

/* Whether EL0 may access reg under the given CNTKCTL_EL1; false for registers
 * that are not timer registers. */
bool arch_timer_el0_allowed(uint32_t reg, uint64_t cntkctl);
bool arch_timer_owns(uint32_t reg);

/* Output line of a channel: ENABLE && !IMASK && count >= CVAL. */
bool arch_timer_line(const struct arch_timer_channel *c, uint64_t count);
/* Host monotonic time at which the next enabled, unmasked channel fires, or
 * UINT64_MAX. A channel that has already fired has no deadline: its interrupt is
 * pending and nothing changes with time until the guest reprograms it (so an
 * idle vCPU waiting on it must not spin). So ask as of the time the interrupt
 * lines were last set from arch_timer_line: as of a later time, a channel that
 * fired in between has neither a deadline nor a raised line. */
uint64_t arch_timer_next_deadline_ns(const struct arch_timer *t, uint64_t now_ns);

#endif
