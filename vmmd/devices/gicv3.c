/* Userspace GICv3 model (GICv3/v4 architecture specification, IHI 0069).
 *
 * Scope: what Linux's irq-gic-v3 driver uses on one CPU without LPIs: group-1
 * interrupts, priorities with a priority-drop stack, EOImode 0 and 1, SGIs to
 * self, level and edge configuration. The ITS and LPIs are absent (TYPER.LPIS=0).
 */
#include "gicv3.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "device_state.h"
#include "gicv3.pb-c.h"
#include "sysreg.h"
#include "util.h"

#define PRIORITY_MASK 0xf8u /* 5 implemented priority bits, like Arm's cores */
#define IDLE_PRIORITY 0xffu

/* Distributor (§12.9) and redistributor (§12.10) register offsets. */
enum {
    GICD_CTLR = 0x0000, GICD_TYPER = 0x0004, GICD_IIDR = 0x0008,
    GICD_IGROUPR = 0x0080, GICD_ISENABLER = 0x0100, GICD_ICENABLER = 0x0180,
    GICD_ISPENDR = 0x0200, GICD_ICPENDR = 0x0280, GICD_ISACTIVER = 0x0300,
    GICD_ICACTIVER = 0x0380, GICD_IPRIORITYR = 0x0400, GICD_ICFGR = 0x0c00,
    GICD_IROUTER = 0x6000, GICD_PIDR2 = 0xffe8,
    GICR_CTLR = 0x0000, GICR_IIDR = 0x0004, GICR_TYPER = 0x0008,
    GICR_WAKER = 0x0014, GICR_PIDR2 = 0xffe8, GICR_SGI_BASE = 0x10000,
};

#define GICD_CTLR_ENABLE_G1 (1u << 1)
#define GICD_CTLR_ARE (1u << 4)
#define GICD_CTLR_DS (1u << 6)
#define GICR_WAKER_PROCESSOR_SLEEP (1u << 1)
#define GICR_WAKER_CHILDREN_ASLEEP (1u << 2)
#define ICC_CTLR_EOIMODE (1u << 1)
#define ARM_IIDR 0x0300043bu /* implementer Arm (0x43b), product "GIC-600"-like */
#define PIDR2_GICV3 0x30u

struct gic_irq {
    uint8_t priority;
    bool enabled, group1, edge;
    bool line, latched, active;
};

struct gicv3 {
    pthread_mutex_t lock;
    unsigned num_irqs; /* 32 + SPIs */
    uint32_t dist_ctlr, waker, icc_ctlr, bpr1, pmr;
    bool igrpen1;
    uint64_t *irouter;
    unsigned active_stack[GIC_MAX_NESTED]; /* acknowledged, not yet priority-dropped */
    unsigned active_depth;
    struct gic_irq irqs[];
};

struct gicv3 *gicv3_create(unsigned num_spis)
{
    if (num_spis > GIC_MAX_SPIS)
        return NULL;
    num_spis = (num_spis + 31) / 32 * 32;
    unsigned n = GIC_NUM_PRIVATE + num_spis;
    struct gicv3 *gic = calloc(1, sizeof(*gic) + n * sizeof(struct gic_irq));
    if (!gic)
        return NULL;
    gic->irouter = calloc(n, sizeof(uint64_t));
    if (!gic->irouter) {
        free(gic);
        return NULL;
    }
    pthread_mutex_init(&gic->lock, NULL);
    gic->num_irqs = n;
    gic->dist_ctlr = GICD_CTLR_ARE | GICD_CTLR_DS;
    gic->waker = GICR_WAKER_PROCESSOR_SLEEP | GICR_WAKER_CHILDREN_ASLEEP;
    gic->pmr = 0;
    for (unsigned i = 0; i < 16; i++)
        gic->irqs[i].edge = true; /* SGIs are always edge-triggered */
    return gic;
}

void gicv3_destroy(struct gicv3 *gic)
{
    if (!gic)
        return;
    pthread_mutex_destroy(&gic->lock);
    free(gic->irouter);
    free(gic);
}

/* ---- interrupt state ---------------------------------------------------- */

static bool irq_pending(const struct gic_irq *irq)
{
    return irq->latched || (!irq->edge && irq->line);
}

static unsigned running_priority(const struct gicv3 *gic)
{
    if (gic->active_depth == 0)
        return IDLE_PRIORITY;
    return gic->irqs[gic->active_stack[gic->active_depth - 1]].priority;
}

/* Highest-priority pending, enabled, inactive group-1 interrupt, or spurious. */
static unsigned highest_pending(const struct gicv3 *gic)
{
    if (!(gic->dist_ctlr & GICD_CTLR_ENABLE_G1))
        return GIC_SPURIOUS;
    unsigned best = GIC_SPURIOUS, best_prio = 0x100;
    for (unsigned i = 0; i < gic->num_irqs; i++) {
        const struct gic_irq *irq = &gic->irqs[i];
        if (irq->enabled && irq->group1 && !irq->active && irq_pending(irq) &&
            irq->priority < best_prio) {
            best = i;
            best_prio = irq->priority;
        }
    }
    return best;
}

static bool can_signal(const struct gicv3 *gic, unsigned intid)
{
    if (intid == GIC_SPURIOUS || !gic->igrpen1)
        return false;
    unsigned prio = gic->irqs[intid].priority;
    return prio < gic->pmr && prio < running_priority(gic);
}

bool gicv3_irq_asserted(struct gicv3 *gic)
{
    pthread_mutex_lock(&gic->lock);
    bool asserted = can_signal(gic, highest_pending(gic));
    pthread_mutex_unlock(&gic->lock);
    return asserted;
}

void gicv3_set_line(struct gicv3 *gic, unsigned intid, bool level)
{
    if (intid < 16 || intid >= gic->num_irqs)
        return;
    pthread_mutex_lock(&gic->lock);
    struct gic_irq *irq = &gic->irqs[intid];
    if (irq->edge && level && !irq->line)
        irq->latched = true;
    irq->line = level;
    pthread_mutex_unlock(&gic->lock);
}

static unsigned acknowledge(struct gicv3 *gic)
{
    unsigned intid = highest_pending(gic);
    if (!can_signal(gic, intid) || gic->active_depth == GIC_MAX_NESTED)
        return GIC_SPURIOUS;
    struct gic_irq *irq = &gic->irqs[intid];
    irq->latched = false; /* a level interrupt stays pending while its line is high */
    irq->active = true;
    gic->active_stack[gic->active_depth++] = intid;
    return intid;
}

static void drop_priority(struct gicv3 *gic, unsigned intid)
{
    /* Normally intid is on top; tolerate out-of-order EOIs by removing it wherever
     * it is, since a confused guest must not corrupt our bookkeeping. */
    for (unsigned i = gic->active_depth; i-- > 0;) {
        if (gic->active_stack[i] == intid) {
            memmove(&gic->active_stack[i], &gic->active_stack[i + 1],
                    (gic->active_depth - i - 1) * sizeof(unsigned));
            gic->active_depth--;
            return;
        }
    }
}

static void deactivate(struct gicv3 *gic, unsigned intid)
{
    if (intid < gic->num_irqs)
        gic->irqs[intid].active = false;
}

static void send_sgi(struct gicv3 *gic, uint64_t value)
{
    unsigned intid = (value >> 24) & 0xf;
    bool to_others = value & (1ull << 40); /* IRM: everyone but us: nobody here */
    uint64_t affinity = value & ((0xffull << 16) | (0xffull << 32) | (0xffull << 48));
    unsigned range = (value >> 44) & 0xf; /* RS: target list covers CPUs 16*RS.. */
    if (!to_others && affinity == 0 && range == 0 && (value & 1))
        gic->irqs[intid].latched = true;
}

/* ---- bit-array registers shared by distributor and redistributor -------- */

enum bit_field { BIT_GROUP, BIT_ENABLE, BIT_PENDING, BIT_ACTIVE };

static bool bit_get(const struct gic_irq *irq, enum bit_field f)
{
    switch (f) {
    case BIT_GROUP: return irq->group1;
    case BIT_ENABLE: return irq->enabled;
    case BIT_PENDING: return irq_pending(irq);
    case BIT_ACTIVE: return irq->active;
    }
    return false;
}

static void bit_set(struct gic_irq *irq, enum bit_field f, bool on)
{
    switch (f) {
    case BIT_GROUP: irq->group1 = on; break;
    case BIT_ENABLE: irq->enabled = on; break;
    case BIT_PENDING: irq->latched = on; break;
    case BIT_ACTIVE: irq->active = on; break;
    }
}

static uint32_t bits_read(const struct gicv3 *gic, unsigned first, enum bit_field f)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 32 && first + i < gic->num_irqs; i++)
        v |= (uint32_t)bit_get(&gic->irqs[first + i], f) << i;
    return v;
}

/* set_clear: +1 for write-1-to-set registers, -1 for write-1-to-clear, 0 plain. */
static void bits_write(struct gicv3 *gic, unsigned first, enum bit_field f,
                       int set_clear, uint32_t v)
{
    for (unsigned i = 0; i < 32 && first + i < gic->num_irqs; i++) {
        bool bit = (v >> i) & 1;
        if (set_clear == 0)
            bit_set(&gic->irqs[first + i], f, bit);
        else if (bit)
            bit_set(&gic->irqs[first + i], f, set_clear > 0);
    }
}

/* Which bit array and direction a register offset inside [0x80, 0x400) is. */
static bool bit_register(uint64_t offset, enum bit_field *f, int *set_clear, unsigned *index)
{
    static const struct { uint32_t base; enum bit_field f; int sc; } map[] = {
        {GICD_IGROUPR, BIT_GROUP, 0},     {GICD_ISENABLER, BIT_ENABLE, 1},
        {GICD_ICENABLER, BIT_ENABLE, -1}, {GICD_ISPENDR, BIT_PENDING, 1},
        {GICD_ICPENDR, BIT_PENDING, -1},  {GICD_ISACTIVER, BIT_ACTIVE, 1},
        {GICD_ICACTIVER, BIT_ACTIVE, -1},
    };
    for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (offset >= map[i].base && offset < map[i].base + 0x80) {
            *f = map[i].f;
            *set_clear = map[i].sc;
            *index = (unsigned)(offset - map[i].base) / 4;
            return true;
        }
    }
    return false;
}

static uint32_t priority_read(const struct gicv3 *gic, unsigned first, unsigned size,
                              unsigned limit)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4 && first + i < limit; i++)
        v |= (uint32_t)gic->irqs[first + i].priority << (8 * i);
    return v;
}

static void priority_write(struct gicv3 *gic, unsigned first, unsigned size, uint64_t v,
                           unsigned limit)
{
    for (unsigned i = 0; i < size && i < 4 && first + i < limit; i++)
        gic->irqs[first + i].priority = (uint8_t)(v >> (8 * i)) & PRIORITY_MASK;
}

static uint32_t config_read(const struct gicv3 *gic, unsigned first)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 16 && first + i < gic->num_irqs; i++)
        v |= (uint32_t)gic->irqs[first + i].edge << (2 * i + 1);
    return v;
}

static void config_write(struct gicv3 *gic, unsigned first, uint32_t v)
{
    for (unsigned i = 0; i < 16 && first + i < gic->num_irqs; i++) {
        if (first + i < 16)
            continue; /* SGI configuration is read-only */
        gic->irqs[first + i].edge = (v >> (2 * i + 1)) & 1;
    }
}

/* Registers common to the distributor (SPIs, first = 32..) and the SGI frame of
 * the redistributor (first = 0). limit is the number of interrupts the frame owns. */
static bool irq_regs_read(struct gicv3 *gic, uint64_t off, unsigned size,
                          unsigned first_irq, unsigned limit, uint64_t *out)
{
    enum bit_field f;
    int sc;
    unsigned index;
    if (off >= GICD_IGROUPR && off < GICD_IPRIORITYR && size == 4 &&
        bit_register(off, &f, &sc, &index)) {
        unsigned first = index * 32;
        *out = (first >= first_irq && first < limit) ? bits_read(gic, first, f) : 0;
        return true;
    }
    if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + 0x400) {
        unsigned first = (unsigned)(off - GICD_IPRIORITYR);
        *out = (first >= first_irq && first < limit) ? priority_read(gic, first, size, limit) : 0;
        return true;
    }
    if (off >= GICD_ICFGR && off < GICD_ICFGR + 0x100 && size == 4) {
        unsigned first = (unsigned)(off - GICD_ICFGR) / 4 * 16;
        *out = (first + 16 > first_irq && first < limit) ? config_read(gic, first) : 0;
        return true;
    }
    return false;
}

static bool irq_regs_write(struct gicv3 *gic, uint64_t off, unsigned size,
                           unsigned first_irq, unsigned limit, uint64_t value)
{
    enum bit_field f;
    int sc;
    unsigned index;
    if (off >= GICD_IGROUPR && off < GICD_IPRIORITYR && size == 4 &&
        bit_register(off, &f, &sc, &index)) {
        unsigned first = index * 32;
        if (first >= first_irq && first < limit)
            bits_write(gic, first, f, sc, (uint32_t)value);
        return true;
    }
    if (off >= GICD_IPRIORITYR && off < GICD_IPRIORITYR + 0x400) {
        unsigned first = (unsigned)(off - GICD_IPRIORITYR);
        if (first >= first_irq && first < limit)
            priority_write(gic, first, size, value, limit);
        return true;
    }
    if (off >= GICD_ICFGR && off < GICD_ICFGR + 0x100 && size == 4) {
        unsigned first = (unsigned)(off - GICD_ICFGR) / 4 * 16;
        if (first + 16 > first_irq && first < limit)
            config_write(gic, first, (uint32_t)value);
        return true;
    }
    return false;
}

/* ---- distributor ---------------------------------------------------------- */

static uint64_t dist_read_locked(struct gicv3 *gic, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    if (irq_regs_read(gic, off, size, GIC_NUM_PRIVATE, gic->num_irqs, &v))
        return v;
    if (off >= GICD_IROUTER + 8 * GIC_NUM_PRIVATE && off < GICD_IROUTER + 8ull * gic->num_irqs) {
        unsigned intid = (unsigned)(off - GICD_IROUTER) / 8;
        v = gic->irouter[intid];
        return (off & 4) ? v >> 32 : (size == 4 ? (uint32_t)v : v);
    }
    switch (off) {
    case GICD_CTLR: return gic->dist_ctlr;
    case GICD_TYPER:
        /* ITLinesNumber, IDbits = 9 (10-bit INTIDs), no LPIs, no security ext. */
        return ((gic->num_irqs / 32) - 1) | (9u << 19);
    case GICD_IIDR: return ARM_IIDR;
    case GICD_PIDR2: return PIDR2_GICV3;
    default: return 0; /* reserved and unimplemented registers are RAZ/WI */
    }
}

static void dist_write_locked(struct gicv3 *gic, uint64_t off, unsigned size, uint64_t v)
{
    if (irq_regs_write(gic, off, size, GIC_NUM_PRIVATE, gic->num_irqs, v))
        return;
    if (off >= GICD_IROUTER + 8 * GIC_NUM_PRIVATE && off < GICD_IROUTER + 8ull * gic->num_irqs) {
        unsigned intid = (unsigned)(off - GICD_IROUTER) / 8;
        uint64_t *r = &gic->irouter[intid];
        if (size == 8)
            *r = v;
        else if (off & 4)
            *r = (*r & 0xffffffffull) | (v << 32);
        else
            *r = (*r & ~0xffffffffull) | (uint32_t)v;
        return;
    }
    if (off == GICD_CTLR)
        gic->dist_ctlr = ((uint32_t)v & (GICD_CTLR_ENABLE_G1 | 1u)) | GICD_CTLR_ARE | GICD_CTLR_DS;
}

uint64_t gicv3_dist_read(struct gicv3 *gic, uint64_t offset, unsigned size)
{
    pthread_mutex_lock(&gic->lock);
    uint64_t v = dist_read_locked(gic, offset, size);
    pthread_mutex_unlock(&gic->lock);
    return v;
}

void gicv3_dist_write(struct gicv3 *gic, uint64_t offset, unsigned size, uint64_t value)
{
    pthread_mutex_lock(&gic->lock);
    dist_write_locked(gic, offset, size, value);
    pthread_mutex_unlock(&gic->lock);
}

/* ---- redistributor ---------------------------------------------------------- */

static uint64_t redist_read_locked(struct gicv3 *gic, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    if (off >= GICR_SGI_BASE) {
        irq_regs_read(gic, off - GICR_SGI_BASE, size, 0, GIC_NUM_PRIVATE, &v);
        return v;
    }
    switch (off) {
    case GICR_CTLR: return 0;
    case GICR_IIDR: return ARM_IIDR;
    case GICR_TYPER: /* Last = 1; processor 0; affinity 0.0.0.0 */
        return size == 8 ? (1u << 4) : (1u << 4);
    case GICR_TYPER + 4: return 0;
    case GICR_WAKER: return gic->waker;
    case GICR_PIDR2: return PIDR2_GICV3;
    default: return 0;
    }
}

static void redist_write_locked(struct gicv3 *gic, uint64_t off, unsigned size, uint64_t v)
{
    if (off >= GICR_SGI_BASE) {
        irq_regs_write(gic, off - GICR_SGI_BASE, size, 0, GIC_NUM_PRIVATE, v);
        return;
    }
    if (off == GICR_WAKER) {
        /* The redistributor wakes (ChildrenAsleep follows ProcessorSleep) at once. */
        gic->waker = (uint32_t)v & GICR_WAKER_PROCESSOR_SLEEP;
        if (gic->waker)
            gic->waker |= GICR_WAKER_CHILDREN_ASLEEP;
    }
}

uint64_t gicv3_redist_read(struct gicv3 *gic, uint64_t offset, unsigned size)
{
    pthread_mutex_lock(&gic->lock);
    uint64_t v = redist_read_locked(gic, offset, size);
    pthread_mutex_unlock(&gic->lock);
    return v;
}

void gicv3_redist_write(struct gicv3 *gic, uint64_t offset, unsigned size, uint64_t value)
{
    pthread_mutex_lock(&gic->lock);
    redist_write_locked(gic, offset, size, value);
    pthread_mutex_unlock(&gic->lock);
}

/* ---- CPU interface ---------------------------------------------------------- */

static bool icc_read_locked(struct gicv3 *gic, uint32_t reg, uint64_t *v)
{
    switch (reg) {
    case ICC_IAR1_EL1: *v = acknowledge(gic); return true;
    case ICC_HPPIR1_EL1: {
        unsigned intid = highest_pending(gic);
        *v = gic->igrpen1 ? intid : GIC_SPURIOUS;
        return true;
    }
    case ICC_RPR_EL1: *v = running_priority(gic); return true;
    case ICC_PMR_EL1: *v = gic->pmr; return true;
    case ICC_CTLR_EL1:
        /* PRIbits = 4 (5 bits), IDbits = 0 (16-bit), A3V = 0, plus EOImode/CBPR. */
        *v = (4u << 8) | gic->icc_ctlr;
        return true;
    case ICC_SRE_EL1: *v = 0x7; return true; /* SRE, DFB, DIB: system registers only */
    case ICC_BPR1_EL1: *v = gic->bpr1; return true;
    case ICC_BPR0_EL1: *v = 2; return true;
    case ICC_IGRPEN1_EL1: *v = gic->igrpen1; return true;
    case ICC_IGRPEN0_EL1: *v = 0; return true;
    case ICC_IAR0_EL1: case ICC_HPPIR0_EL1: *v = GIC_SPURIOUS; return true;
    }
    if ((reg & ~7u) == (ICC_AP0R0_EL1 & ~7u) && sysreg_op2(reg) >= 4) {
        *v = 0;
        return true;
    }
    if ((reg & ~3u) == ICC_AP1R0_EL1) {
        /* One bit per active group priority; enough for save/restore by Linux. */
        *v = 0;
        for (unsigned i = 0; i < gic->active_depth && (reg & 3) == 0; i++)
            *v |= 1u << (gic->irqs[gic->active_stack[i]].priority >> 3);
        return true;
    }
    return false;
}

static bool icc_write_locked(struct gicv3 *gic, uint32_t reg, uint64_t v)
{
    switch (reg) {
    case ICC_EOIR1_EL1: {
        unsigned intid = (unsigned)v & 0xffffff;
        if (intid >= gic->num_irqs)
            return true;
        drop_priority(gic, intid);
        if (!(gic->icc_ctlr & ICC_CTLR_EOIMODE))
            deactivate(gic, intid);
        return true;
    }
    case ICC_DIR_EL1: deactivate(gic, (unsigned)v & 0xffffff); return true;
    case ICC_PMR_EL1: gic->pmr = (uint32_t)v & PRIORITY_MASK; return true;
    case ICC_CTLR_EL1: gic->icc_ctlr = (uint32_t)v & (ICC_CTLR_EOIMODE | 1u); return true;
    case ICC_BPR1_EL1: gic->bpr1 = (uint32_t)v & 7; return true;
    case ICC_IGRPEN1_EL1: gic->igrpen1 = v & 1; return true;
    case ICC_SGI1R_EL1: case ICC_ASGI1R_EL1: send_sgi(gic, v); return true;
    case ICC_SRE_EL1: case ICC_IGRPEN0_EL1: case ICC_BPR0_EL1: case ICC_EOIR0_EL1:
    case ICC_SGI0R_EL1:
        return true; /* fixed or group-0 only: ignored */
    }
    if ((reg & ~7u) == (ICC_AP0R0_EL1 & ~7u) && sysreg_op2(reg) >= 4)
        return true;
    if ((reg & ~3u) == ICC_AP1R0_EL1)
        return true; /* restoring active priorities is not modelled; Linux writes 0 */
    return false;
}

bool gicv3_sysreg_read(struct gicv3 *gic, uint32_t reg, uint64_t *value)
{
    pthread_mutex_lock(&gic->lock);
    bool known = icc_read_locked(gic, reg, value);
    pthread_mutex_unlock(&gic->lock);
    return known;
}

bool gicv3_sysreg_write(struct gicv3 *gic, uint32_t reg, uint64_t value)
{
    pthread_mutex_lock(&gic->lock);
    bool known = icc_write_locked(gic, reg, value);
    pthread_mutex_unlock(&gic->lock);
    return known;
}

unsigned gicv3_highest_pending(struct gicv3 *gic)
{
    pthread_mutex_lock(&gic->lock);
    unsigned intid = highest_pending(gic);
    pthread_mutex_unlock(&gic->lock);
    return intid;
}

/* ---- snapshot state ---------------------------------------------------------- */

#define DIST_CTLR_WRITABLE (GICD_CTLR_ENABLE_G1 | 1u)
#define ICC_CTLR_WRITABLE (ICC_CTLR_EOIMODE | 1u)

static struct gicv3_irq_state irq_to_state(const struct gic_irq *irq)
{
    return (struct gicv3_irq_state){
        .priority = irq->priority, .group1 = irq->group1, .enabled = irq->enabled,
        .active = irq->active, .edge = irq->edge, .pending = irq->latched, .line = irq->line,
    };
}

static struct gic_irq irq_from_state(const struct gicv3_irq_state *s)
{
    return (struct gic_irq){
        .priority = s->priority, .group1 = s->group1, .enabled = s->enabled,
        .active = s->active, .edge = s->edge, .latched = s->pending, .line = s->line,
    };
}

int gicv3_save(const struct gicv3 *gic, struct gicv3_state *out)
{
    /* The lock is not part of the GIC's value: saving changes nothing. */
    struct gicv3 *locked = (struct gicv3 *)gic;
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&locked->lock);
    out->num_spis = gic->num_irqs - GIC_NUM_PRIVATE;
    out->dist_ctlr = gic->dist_ctlr;
    out->redist_waker = gic->waker;
    out->icc_ctlr = gic->icc_ctlr;
    out->icc_pmr = gic->pmr;
    out->icc_bpr1 = gic->bpr1;
    out->icc_igrpen1 = gic->igrpen1;
    out->active_depth = gic->active_depth;
    for (unsigned i = 0; i < gic->active_depth; i++)
        out->active_stack[i] = gic->active_stack[i];
    for (unsigned i = 0; i < gic->num_irqs; i++) {
        out->irqs[i] = irq_to_state(&gic->irqs[i]);
        out->irouter[i] = gic->irouter[i];
    }
    pthread_mutex_unlock(&locked->lock);
    return 0;
}

static bool is_flag(uint8_t v)
{
    return v <= 1;
}

static bool irq_state_valid(const struct gicv3_irq_state *s, unsigned intid)
{
    if (!is_flag(s->group1) || !is_flag(s->enabled) || !is_flag(s->active) ||
        !is_flag(s->edge) || !is_flag(s->pending) || !is_flag(s->line))
        return false;
    if (s->priority & ~PRIORITY_MASK)
        return false;
    if (intid < 16) /* SGIs: fixed edge configuration, no input line */
        return s->edge && !s->line;
    return true;
}

static bool irq_state_unused(const struct gicv3_irq_state *s)
{
    static const struct gicv3_irq_state zero;
    return memcmp(s, &zero, sizeof(zero)) == 0;
}

/* Per interrupt, and the routing: SPIs take any route (it is only read back);
 * private interrupts and those beyond the GIC have none. */
static bool irqs_valid(const struct gicv3_state *in, unsigned num_irqs)
{
    for (unsigned i = 0; i < GIC_MAX_IRQS; i++) {
        bool used = i < num_irqs;
        if (used ? !irq_state_valid(&in->irqs[i], i) : !irq_state_unused(&in->irqs[i]))
            return false;
        if ((i < GIC_NUM_PRIVATE || !used) && in->irouter[i] != 0)
            return false;
    }
    return true;
}

/* Values only register writes can produce, as dist_write_locked,
 * redist_write_locked and icc_write_locked mask them. */
static bool registers_valid(const struct gicv3_state *in)
{
    if ((in->dist_ctlr & ~DIST_CTLR_WRITABLE) != (GICD_CTLR_ARE | GICD_CTLR_DS))
        return false;
    if (in->redist_waker != 0 &&
        in->redist_waker != (GICR_WAKER_PROCESSOR_SLEEP | GICR_WAKER_CHILDREN_ASLEEP))
        return false;
    return (in->icc_ctlr & ~ICC_CTLR_WRITABLE) == 0 && (in->icc_pmr & ~PRIORITY_MASK) == 0 &&
           in->icc_bpr1 <= 7 && is_flag(in->icc_igrpen1);
}

/* Stack entries are interrupts of this GIC; they need not be active (the guest
 * may have deactivated one through GICD_ICACTIVER before dropping its priority),
 * and the unused slots are zero. */
static bool active_stack_valid(const struct gicv3_state *in, unsigned num_irqs)
{
    if (in->active_depth > GIC_MAX_NESTED)
        return false;
    for (unsigned i = 0; i < GIC_MAX_NESTED; i++) {
        if (i < in->active_depth ? in->active_stack[i] >= num_irqs : in->active_stack[i] != 0)
            return false;
    }
    return true;
}

int gicv3_load(struct gicv3 *gic, const struct gicv3_state *in)
{
    unsigned num_irqs = gic->num_irqs;
    if (in->num_spis != num_irqs - GIC_NUM_PRIVATE || !registers_valid(in) ||
        !irqs_valid(in, num_irqs) || !active_stack_valid(in, num_irqs))
        return -EINVAL;
    pthread_mutex_lock(&gic->lock);
    gic->dist_ctlr = in->dist_ctlr;
    gic->waker = in->redist_waker;
    gic->icc_ctlr = in->icc_ctlr;
    gic->pmr = in->icc_pmr;
    gic->bpr1 = in->icc_bpr1;
    gic->igrpen1 = in->icc_igrpen1;
    gic->active_depth = in->active_depth;
    for (unsigned i = 0; i < in->active_depth; i++)
        gic->active_stack[i] = in->active_stack[i];
    for (unsigned i = 0; i < num_irqs; i++) {
        gic->irqs[i] = irq_from_state(&in->irqs[i]);
        gic->irouter[i] = in->irouter[i];
    }
    pthread_mutex_unlock(&gic->lock);
    return 0;
}

/* ---- the state as its message ---------------------------------------------------------- */

typedef Ignition__Devices__Gicv3State GicMsg;

#define GIC_MAX_SPI_SLOTS (GIC_MAX_IRQS - GIC_NUM_PRIVATE)

/* The per-interrupt fields, each an array of its own in the message. */
#define GIC_FLAG(name) {offsetof(struct gicv3_irq_state, name), offsetof(GicMsg, name)}
static const struct {
    size_t in_state, in_msg;
} gic_flags[] = {GIC_FLAG(priority), GIC_FLAG(group1),  GIC_FLAG(enabled), GIC_FLAG(active),
                 GIC_FLAG(edge),     GIC_FLAG(pending), GIC_FLAG(line)};
#define NUM_FLAGS ARRAY_SIZE(gic_flags)

static ProtobufCBinaryData *gic_column(GicMsg *m, size_t f)
{
    return (ProtobufCBinaryData *)((char *)m + gic_flags[f].in_msg);
}

static const ProtobufCBinaryData *gic_column_in(const GicMsg *m, size_t f)
{
    return (const ProtobufCBinaryData *)((const char *)m + gic_flags[f].in_msg);
}

int gicv3_state_encode(const struct gicv3_state *s, struct device_state_bytes *out)
{
    if (s->num_spis > GIC_MAX_SPI_SLOTS || s->active_depth > GIC_MAX_NESTED)
        return -EINVAL;
    size_t n = GIC_NUM_PRIVATE + s->num_spis;
    uint8_t *flags = calloc(NUM_FLAGS, n);
    if (!flags)
        return -ENOMEM;
    GicMsg m = IGNITION__DEVICES__GICV3_STATE__INIT;
    m.num_spis = s->num_spis;
    m.dist_ctlr = s->dist_ctlr;
    m.redist_waker = s->redist_waker;
    m.icc_ctlr = s->icc_ctlr, m.icc_pmr = s->icc_pmr, m.icc_bpr1 = s->icc_bpr1;
    m.icc_igrpen1 = s->icc_igrpen1;
    m.n_active_stack = s->active_depth;
    m.active_stack = (uint32_t *)(uintptr_t)s->active_stack;
    for (size_t f = 0; f < NUM_FLAGS; f++) {
        uint8_t *column = flags + f * n;
        for (size_t i = 0; i < n; i++)
            column[i] = *((const uint8_t *)&s->irqs[i] + gic_flags[f].in_state);
        *gic_column(&m, f) = (ProtobufCBinaryData){n, column};
    }
    m.n_irouter = n;
    m.irouter = (uint64_t *)(uintptr_t)s->irouter;
    int rc = device_state_pack(&m.base, out);
    free(flags);
    return rc;
}

static int check_message(const GicMsg *m, char *err, size_t err_len)
{
    if (m->num_spis > GIC_MAX_SPI_SLOTS)
        return device_state_refuse(err, err_len, "a GIC with %u SPIs, more than %d",
                                   m->num_spis, GIC_MAX_SPI_SLOTS);
    if (m->n_active_stack > GIC_MAX_NESTED)
        return device_state_refuse(err, err_len, "%zu nested active interrupts, more than %d",
                                   m->n_active_stack, GIC_MAX_NESTED);
    if (m->icc_igrpen1 > UINT8_MAX)
        return device_state_refuse(err, err_len, "ICC_IGRPEN1 %u out of range", m->icc_igrpen1);
    size_t n = GIC_NUM_PRIVATE + m->num_spis;
    for (size_t f = 0; f < NUM_FLAGS; f++)
        if (gic_column_in(m, f)->len != n)
            return device_state_refuse(err, err_len, "a GIC interrupt array of %zu entries, "
                                       "not %zu", gic_column_in(m, f)->len, n);
    if (m->n_irouter != n)
        return device_state_refuse(err, err_len, "%zu GIC routing entries, not %zu",
                                   m->n_irouter, n);
    return 0;
}

int gicv3_state_decode(const uint8_t *state, size_t len, struct gicv3_state *s, char *err,
                       size_t err_len)
{
    memset(s, 0, sizeof(*s));
    GicMsg *m = (GicMsg *)device_state_unpack(&ignition__devices__gicv3_state__descriptor, state,
                                              len, "the interrupt controller", err, err_len);
    if (!m)
        return -EINVAL;
    int rc = check_message(m, err, err_len);
    if (rc == 0) {
        size_t n = GIC_NUM_PRIVATE + m->num_spis;
        s->num_spis = m->num_spis;
        s->dist_ctlr = m->dist_ctlr;
        s->redist_waker = m->redist_waker;
        s->icc_ctlr = m->icc_ctlr, s->icc_pmr = m->icc_pmr, s->icc_bpr1 = m->icc_bpr1;
        s->icc_igrpen1 = (uint8_t)m->icc_igrpen1;
        s->active_depth = (uint32_t)m->n_active_stack;
        if (m->n_active_stack)
            memcpy(s->active_stack, m->active_stack,
                   m->n_active_stack * sizeof(*s->active_stack));
        for (size_t f = 0; f < NUM_FLAGS; f++)
            for (size_t i = 0; i < n; i++)
                *((uint8_t *)&s->irqs[i] + gic_flags[f].in_state) = gic_column_in(m, f)->data[i];
        memcpy(s->irouter, m->irouter, n * sizeof(*s->irouter));
    }
    device_state_free_unpacked(m);
    return rc;
}
