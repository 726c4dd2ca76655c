/* Generic timer registers (Arm ARM D11.2, "The AArch64 view of the Generic Timer"). */
#include "arch_timer.h"

#include "sysreg.h"

static uint64_t host_ticks(uint64_t now_ns)
{
    return now_ns / ARCH_TIMER_NS_PER_TICK;
}

void arch_timer_init(struct arch_timer *t, uint64_t now_ns)
{
    *t = (struct arch_timer){.offset = host_ticks(now_ns)};
}

uint64_t arch_timer_count(const struct arch_timer *t, uint64_t now_ns)
{
    return host_ticks(now_ns) - t->offset;
}

void arch_timer_set_count(struct arch_timer *t, uint64_t now_ns, uint64_t count)
{
    t->offset = host_ticks(now_ns) - count;
}

bool arch_timer_line(const struct arch_timer_channel *c, uint64_t count)
{
    return (c->ctl & CNT_CTL_ENABLE) && !(c->ctl & CNT_CTL_IMASK) && count >= c->cval;
}

static uint64_t channel_ctl(const struct arch_timer_channel *c, uint64_t count)
{
    bool fired = (c->ctl & CNT_CTL_ENABLE) && count >= c->cval;
    return c->ctl | (fired ? CNT_CTL_ISTATUS : 0);
}

/* TVAL is the signed 32-bit distance from now to CVAL. */
static uint64_t channel_tval(const struct arch_timer_channel *c, uint64_t count)
{
    return (uint32_t)(c->cval - count);
}

static void channel_set_tval(struct arch_timer_channel *c, uint64_t count, uint64_t v)
{
    c->cval = count + (uint64_t)(int64_t)(int32_t)(uint32_t)v;
}

bool arch_timer_read(const struct arch_timer *t, uint32_t reg, uint64_t now_ns, uint64_t *value)
{
    uint64_t count = arch_timer_count(t, now_ns);
    switch (reg) {
    case CNTFRQ_EL0: *value = ARCH_TIMER_HZ; return true;
    case CNTPCT_EL0: /* no CNTVOFF: the virtual and physical counts agree */
    case CNTVCT_EL0: *value = count; return true;
    case CNTP_CTL_EL0: *value = channel_ctl(&t->phys, count); return true;
    case CNTP_CVAL_EL0: *value = t->phys.cval; return true;
    case CNTP_TVAL_EL0: *value = channel_tval(&t->phys, count); return true;
    case CNTV_CTL_EL0: *value = channel_ctl(&t->virt, count); return true;
    case CNTV_CVAL_EL0: *value = t->virt.cval; return true;
    case CNTV_TVAL_EL0: *value = channel_tval(&t->virt, count); return true;
    default: return false;
    }
}

bool arch_timer_write(struct arch_timer *t, uint32_t reg, uint64_t now_ns, uint64_t value)
{
    uint64_t count = arch_timer_count(t, now_ns);
    switch (reg) {
    case CNTFRQ_EL0: return true; /* writable only at EL3; ignore */
    case CNTP_CTL_EL0: t->phys.ctl = value & (CNT_CTL_ENABLE | CNT_CTL_IMASK); return true;
    case CNTP_CVAL_EL0: t->phys.cval = value; return true;
    case CNTP_TVAL_EL0: channel_set_tval(&t->phys, count, value); return true;
    case CNTV_CTL_EL0: t->virt.ctl = value & (CNT_CTL_ENABLE | CNT_CTL_IMASK); return true;
    case CNTV_CVAL_EL0: t->virt.cval = value; return true;
    case CNTV_TVAL_EL0: channel_set_tval(&t->virt, count, value); return true;
    case CNTPCT_EL0: case CNTVCT_EL0: return true; /* read-only */
    default: return false;
    }
}

static uint64_t channel_deadline_ns(const struct arch_timer *t,
                                    const struct arch_timer_channel *c, uint64_t now_ns)
{
    if (!(c->ctl & CNT_CTL_ENABLE) || (c->ctl & CNT_CTL_IMASK))
        return UINT64_MAX;
    uint64_t count = arch_timer_count(t, now_ns);
    if (c->cval <= count)
        return UINT64_MAX; /* fired: the line is high until the guest acts */
    uint64_t ticks = c->cval - count;
    if (ticks > (UINT64_MAX - now_ns) / ARCH_TIMER_NS_PER_TICK)
        return UINT64_MAX;
    /* Round up so that at the deadline the counter has reached CVAL. */
    uint64_t target_ticks = host_ticks(now_ns) + ticks;
    return target_ticks * ARCH_TIMER_NS_PER_TICK;
}

uint64_t arch_timer_next_deadline_ns(const struct arch_timer *t, uint64_t now_ns)
{
    uint64_t p = channel_deadline_ns(t, &t->phys, now_ns);
    uint64_t v = channel_deadline_ns(t, &t->virt, now_ns);
    return p < v ? p : v;
}

bool arch_timer_owns(uint32_t reg)
{
    switch (reg) {
    case CNTFRQ_EL0: case CNTPCT_EL0: case CNTVCT_EL0:
    case CNTP_CTL_EL0: case CNTP_CVAL_EL0: case CNTP_TVAL_EL0:
    case CNTV_CTL_EL0: case CNTV_CVAL_EL0: case CNTV_TVAL_EL0:
        return true;
    default:
        return false;
    }
}

bool arch_timer_el0_allowed(uint32_t reg, uint64_t cntkctl)
{
    switch (reg) {
    case CNTFRQ_EL0: return cntkctl & (CNTKCTL_EL0PCTEN | CNTKCTL_EL0VCTEN);
    case CNTPCT_EL0: return cntkctl & CNTKCTL_EL0PCTEN;
    case CNTVCT_EL0: return cntkctl & CNTKCTL_EL0VCTEN;
    case CNTP_CTL_EL0: case CNTP_CVAL_EL0: case CNTP_TVAL_EL0:
        return cntkctl & CNTKCTL_EL0PTEN;
    case CNTV_CTL_EL0: case CNTV_CVAL_EL0: case CNTV_TVAL_EL0:
        return cntkctl & CNTKCTL_EL0VTEN;
    default:
        return false;
    }
}
