/* The userspace GICv3 as Linux's irq-gic-v3 driver uses it on one CPU: the probe
 * (PIDR2, TYPER, the redistributor walk and wake-up), per-interrupt
 * configuration, and the CPU interface's acknowledge/EOI/priority rules. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "devices/gicv3.h"
#include "devices/sysreg.h"
#include "unit.h"

/* Register offsets from the GICv3 architecture specification (IHI 0069, 12.9 and
 * 12.10), spelled as the spec does; the model keeps its own copy private. */
#define GICD_CTLR 0x0000
#define GICD_TYPER 0x0004
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ICENABLER 0x0180
#define GICD_ISPENDR 0x0200
#define GICD_ICPENDR 0x0280
#define GICD_ISACTIVER 0x0300
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000
#define GICD_PIDR2 0xffe8
#define GICR_CTLR 0x0000
#define GICR_TYPER 0x0008
#define GICR_WAKER 0x0014
#define GICR_PIDR2 0xffe8
#define GICR_SGI 0x10000 /* SGI_base frame: same layout as the distributor's */

#define CTLR_ENABLE_GRP1 (1u << 1)
#define CTLR_ARE (1u << 4)
#define CTLR_RWP (1u << 31)
#define WAKER_PROCESSOR_SLEEP (1u << 1)
#define WAKER_CHILDREN_ASLEEP (1u << 2)
#define ICC_CTLR_EOIMODE (1u << 1)
#define GICR_TYPER_LAST (1u << 4)

#define NUM_SPIS 64
#define SPI(n) (32u + (n))
#define PRIO_DEFAULT 0xa0 /* what Linux programs everywhere */
#define PMR_LINUX 0xf0

static struct gicv3 *gic;

/* ---- register helpers ------------------------------------------------------------- */

static uint32_t dist_rd(uint64_t off)
{
    return (uint32_t)gicv3_dist_read(gic, off, 4);
}

static void dist_wr(uint64_t off, uint32_t v)
{
    gicv3_dist_write(gic, off, 4, v);
}

static uint64_t icc_rd(uint32_t reg)
{
    uint64_t v = 0xdeaddeadull;
    ck_assert_msg(gicv3_sysreg_read(gic, reg, &v), "ICC register 0x%x not handled", reg);
    return v;
}

static void icc_wr(uint32_t reg, uint64_t v)
{
    ck_assert_msg(gicv3_sysreg_write(gic, reg, v), "ICC register 0x%x not handled", reg);
}

/* Bit-array registers (32 interrupts each): SGIs/PPIs live in the redistributor's
 * SGI frame, SPIs in the distributor, as with GICD_CTLR.ARE = 1. */
static uint32_t bits_rd(uint64_t base, unsigned intid)
{
    if (intid < 32)
        return (uint32_t)gicv3_redist_read(gic, GICR_SGI + base, 4);
    return dist_rd(base + intid / 32 * 4);
}

static void bit_wr(uint64_t base, unsigned intid)
{
    uint32_t v = 1u << (intid % 32);
    if (intid < 32)
        gicv3_redist_write(gic, GICR_SGI + base, 4, v);
    else
        dist_wr(base + intid / 32 * 4, v);
}

static bool bit_rd(uint64_t base, unsigned intid)
{
    return (bits_rd(base, intid) >> (intid % 32)) & 1;
}

static void set_priority(unsigned intid, uint8_t prio)
{
    /* Linux writes priorities a byte at a time (gic_irq_set_prio: writeb). */
    if (intid < 32)
        gicv3_redist_write(gic, GICR_SGI + GICD_IPRIORITYR + intid, 1, prio);
    else
        gicv3_dist_write(gic, GICD_IPRIORITYR + intid, 1, prio);
}

static void set_edge(unsigned intid)
{
    uint64_t off = GICD_ICFGR + intid / 16 * 4;
    uint32_t bit = 1u << (2 * (intid % 16) + 1);
    if (intid < 32)
        gicv3_redist_write(gic, GICR_SGI + off,
                           4, (uint32_t)gicv3_redist_read(gic, GICR_SGI + off, 4) | bit);
    else
        dist_wr(off, dist_rd(off) | bit);
}

static void enable(unsigned intid, uint8_t prio)
{
    set_priority(intid, prio);
    bit_wr(GICD_ISENABLER, intid);
}

static unsigned ack(void)
{
    return (unsigned)icc_rd(ICC_IAR1_EL1);
}

static void eoi(unsigned intid)
{
    icc_wr(ICC_EOIR1_EL1, intid);
}

/* ---- fixtures ------------------------------------------------------------------------ */

static void create(void)
{
    gic = gicv3_create(NUM_SPIS);
    ck_assert_ptr_nonnull(gic);
}

/* The state gic_dist_init/gic_cpu_init leave: everything group 1, distributor
 * and CPU interface enabled, PMR at Linux's default, EOImode 0. */
static void create_as_linux(void)
{
    create();
    dist_wr(GICD_CTLR, CTLR_ARE | CTLR_ENABLE_GRP1);
    gicv3_redist_write(gic, GICR_SGI + GICD_IGROUPR, 4, 0xffffffffu);
    for (unsigned i = 1; i < (32 + NUM_SPIS) / 32; i++)
        dist_wr(GICD_IGROUPR + 4 * i, 0xffffffffu);
    icc_wr(ICC_PMR_EL1, PMR_LINUX);
    icc_wr(ICC_IGRPEN1_EL1, 1);
}

static void destroy(void)
{
    gicv3_destroy(gic);
    gic = NULL;
}

/* ---- probe: what Linux reads before it trusts the GIC ------------------------------ */

START_TEST(test_dist_pidr2_is_gicv3)
{
    ck_assert_uint_eq(dist_rd(GICD_PIDR2) & 0xf0, 0x30);
}
END_TEST

START_TEST(test_dist_typer_itlines_for_64_spis)
{
    uint32_t typer = dist_rd(GICD_TYPER);
    /* Linux: gic_irqs = 32 * (ITLinesNumber + 1). */
    ck_assert_uint_eq(32 * ((typer & 0x1f) + 1), 32 + NUM_SPIS);
    ck_assert_uint_eq(typer & (1u << 17), 0); /* no LPIs */
    ck_assert_uint_ge((typer >> 19) & 0x1f, 9); /* IDbits: at least 1020 INTIDs */
}
END_TEST

START_TEST(test_dist_typer_rounds_spis_up)
{
    gicv3_destroy(gic);
    gic = gicv3_create(33);
    ck_assert_ptr_nonnull(gic);
    ck_assert_uint_eq(32 * ((dist_rd(GICD_TYPER) & 0x1f) + 1), 32 + 64);
}
END_TEST

START_TEST(test_too_many_spis_refused)
{
    ck_assert_ptr_null(gicv3_create(GIC_MAX_SPIS + 1));
    struct gicv3 *big = gicv3_create(GIC_MAX_SPIS);
    ck_assert_ptr_nonnull(big);
    gicv3_destroy(big);
}
END_TEST

START_TEST(test_dist_ctlr)
{
    uint32_t ctlr = dist_rd(GICD_CTLR);
    ck_assert_uint_eq(ctlr & CTLR_RWP, 0); /* Linux polls RWP until it clears */
    ck_assert_uint_eq(ctlr & CTLR_ARE, CTLR_ARE);
    dist_wr(GICD_CTLR, CTLR_ARE | CTLR_ENABLE_GRP1);
    ck_assert_uint_eq(dist_rd(GICD_CTLR) & CTLR_ENABLE_GRP1, CTLR_ENABLE_GRP1);
    dist_wr(GICD_CTLR, 0);
    ck_assert_uint_eq(dist_rd(GICD_CTLR) & CTLR_ENABLE_GRP1, 0);
}
END_TEST

START_TEST(test_redist_pidr2_is_gicv3)
{
    ck_assert_uint_eq(gicv3_redist_read(gic, GICR_PIDR2, 4) & 0xf0, 0x30);
}
END_TEST

START_TEST(test_redist_typer_last)
{
    /* gic_iterate_rdists stops at Last; affinity 0.0.0.0 matches MPIDR 0. */
    uint64_t typer = gicv3_redist_read(gic, GICR_TYPER, 8);
    ck_assert_uint_eq(typer & GICR_TYPER_LAST, GICR_TYPER_LAST);
    ck_assert_uint_eq(typer >> 32, 0);
    ck_assert_uint_eq(typer & 1, 0); /* PLPIS */
    ck_assert_uint_eq(gicv3_redist_read(gic, GICR_TYPER, 4) & GICR_TYPER_LAST, GICR_TYPER_LAST);
    ck_assert_uint_eq(gicv3_redist_read(gic, GICR_TYPER + 4, 4), 0);
}
END_TEST

START_TEST(test_redist_ctlr_rwp_clear)
{
    ck_assert_uint_eq(gicv3_redist_read(gic, GICR_CTLR, 4) & (1u << 3), 0);
}
END_TEST

START_TEST(test_redist_waker_handshake)
{
    uint32_t waker = (uint32_t)gicv3_redist_read(gic, GICR_WAKER, 4);
    ck_assert_uint_eq(waker & (WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP),
                      WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP);
    /* gic_enable_redist: clear ProcessorSleep, wait for ChildrenAsleep to clear. */
    gicv3_redist_write(gic, GICR_WAKER, 4, waker & ~WAKER_PROCESSOR_SLEEP);
    waker = (uint32_t)gicv3_redist_read(gic, GICR_WAKER, 4);
    ck_assert_uint_eq(waker & (WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP), 0);
    /* And back to sleep (suspend path). */
    gicv3_redist_write(gic, GICR_WAKER, 4, WAKER_PROCESSOR_SLEEP);
    ck_assert_uint_eq(gicv3_redist_read(gic, GICR_WAKER, 4) & WAKER_CHILDREN_ASLEEP,
                      WAKER_CHILDREN_ASLEEP);
}
END_TEST

START_TEST(test_icc_sre_enabled)
{
    /* gic_enable_sre: Linux refuses the GIC if SRE does not read back as 1. */
    icc_wr(ICC_SRE_EL1, 1);
    ck_assert_uint_eq(icc_rd(ICC_SRE_EL1) & 1, 1);
}
END_TEST

START_TEST(test_priority_bits_consistent)
{
    /* ICC_CTLR.PRIbits tells Linux how many priority bits IPRIORITYR keeps. */
    unsigned pribits = (unsigned)((icc_rd(ICC_CTLR_EL1) >> 8) & 7) + 1;
    gicv3_dist_write(gic, GICD_IPRIORITYR + SPI(0), 1, 0xff);
    uint8_t kept = (uint8_t)gicv3_dist_read(gic, GICD_IPRIORITYR + SPI(0), 1);
    ck_assert_uint_eq((unsigned)__builtin_popcount(kept), pribits);
    ck_assert_uint_eq(kept, (uint8_t)(0xff00 >> pribits)); /* the top bits */
}
END_TEST

START_TEST(test_unknown_sysreg_not_handled)
{
    uint64_t v;
    ck_assert(!gicv3_sysreg_read(gic, CNTFRQ_EL0, &v));
    ck_assert(!gicv3_sysreg_write(gic, CNTFRQ_EL0, 0));
}
END_TEST

/* ---- per-interrupt configuration ------------------------------------------------------ */

START_TEST(test_enable_set_and_clear)
{
    bit_wr(GICD_ISENABLER, SPI(1));
    ck_assert(bit_rd(GICD_ISENABLER, SPI(1)));
    ck_assert(bit_rd(GICD_ICENABLER, SPI(1)));
    ck_assert(!bit_rd(GICD_ISENABLER, SPI(2)));
    bit_wr(GICD_ICENABLER, SPI(1));
    ck_assert(!bit_rd(GICD_ISENABLER, SPI(1)));
}
END_TEST

START_TEST(test_enable_writes_only_set_bits)
{
    /* Write-1-to-set: zeros leave other interrupts' enables alone. */
    bit_wr(GICD_ISENABLER, SPI(3));
    bit_wr(GICD_ISENABLER, SPI(4));
    ck_assert_uint_eq(bits_rd(GICD_ISENABLER, SPI(0)), (1u << 3) | (1u << 4));
    bit_wr(GICD_ICENABLER, SPI(3));
    ck_assert_uint_eq(bits_rd(GICD_ISENABLER, SPI(0)), 1u << 4);
}
END_TEST

START_TEST(test_ppi_enable_in_redistributor)
{
    bit_wr(GICD_ISENABLER, 27);
    ck_assert(bit_rd(GICD_ISENABLER, 27));
    /* With ARE the distributor's copies for SGIs/PPIs are RAZ/WI. */
    ck_assert_uint_eq(dist_rd(GICD_ISENABLER), 0);
    dist_wr(GICD_ISENABLER, 1u << 26);
    ck_assert(!bit_rd(GICD_ISENABLER, 26));
}
END_TEST

START_TEST(test_pending_set_and_clear)
{
    bit_wr(GICD_ISPENDR, SPI(8));
    ck_assert(bit_rd(GICD_ISPENDR, SPI(8)));
    ck_assert(bit_rd(GICD_ICPENDR, SPI(8)));
    bit_wr(GICD_ICPENDR, SPI(8));
    ck_assert(!bit_rd(GICD_ISPENDR, SPI(8)));
}
END_TEST

START_TEST(test_priority_byte_access)
{
    set_priority(SPI(1), 0xa0);
    set_priority(SPI(2), 0x48);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IPRIORITYR + SPI(1), 1), 0xa0);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IPRIORITYR + SPI(2), 1), 0x48);
    /* The word holding SPIs 0-3 shows both bytes in place, neighbours zero. */
    ck_assert_uint_eq(dist_rd(GICD_IPRIORITYR + SPI(0)), 0x0048a000u);
}
END_TEST

START_TEST(test_priority_word_access)
{
    dist_wr(GICD_IPRIORITYR + SPI(4), 0x10203040u);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IPRIORITYR + SPI(5), 1), 0x30);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IPRIORITYR + SPI(7), 1), 0x10);
}
END_TEST

START_TEST(test_ppi_priority_in_redistributor)
{
    set_priority(27, 0x80);
    ck_assert_uint_eq(gicv3_redist_read(gic, GICR_SGI + GICD_IPRIORITYR + 27, 1), 0x80);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IPRIORITYR + 27, 1), 0); /* RAZ */
}
END_TEST

START_TEST(test_icfgr_edge_read_back)
{
    set_edge(SPI(8));
    ck_assert_uint_eq(dist_rd(GICD_ICFGR + SPI(0) / 16 * 4), 1u << 17);
    /* SGIs are edge-triggered and their configuration is read-only. */
    ck_assert_uint_eq(gicv3_redist_read(gic, GICR_SGI + GICD_ICFGR, 4), 0xaaaaaaaau);
    gicv3_redist_write(gic, GICR_SGI + GICD_ICFGR, 4, 0);
    ck_assert_uint_eq(gicv3_redist_read(gic, GICR_SGI + GICD_ICFGR, 4), 0xaaaaaaaau);
}
END_TEST

START_TEST(test_irouter_round_trip)
{
    gicv3_dist_write(gic, GICD_IROUTER + 8 * SPI(5), 8, 0x0000000100000203ull);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IROUTER + 8 * SPI(5), 8), 0x0000000100000203ull);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IROUTER + 8 * SPI(5), 4), 0x203);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IROUTER + 8 * SPI(5) + 4, 4), 1);
}
END_TEST

/* ---- acknowledge and priority ---------------------------------------------------------- */

START_TEST(test_iar_spurious_when_nothing_pending)
{
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    ck_assert(!gicv3_irq_asserted(gic));
}
END_TEST

START_TEST(test_iar_returns_pending_interrupt)
{
    enable(SPI(1), PRIO_DEFAULT);
    gicv3_set_line(gic, SPI(1), true);
    ck_assert(gicv3_irq_asserted(gic));
    ck_assert_uint_eq(icc_rd(ICC_HPPIR1_EL1), SPI(1)); /* HPPIR does not acknowledge */
    ck_assert_uint_eq(ack(), SPI(1));
    ck_assert(bit_rd(GICD_ISACTIVER, SPI(1)));
    ck_assert(!gicv3_irq_asserted(gic));
}
END_TEST

START_TEST(test_iar_highest_priority_first)
{
    enable(SPI(1), 0xa0);
    enable(SPI(2), 0x80);
    enable(SPI(3), 0xc0);
    bit_wr(GICD_ISPENDR, SPI(1));
    bit_wr(GICD_ISPENDR, SPI(2));
    bit_wr(GICD_ISPENDR, SPI(3));
    ck_assert_uint_eq(gicv3_highest_pending(gic), SPI(2));
    ck_assert_uint_eq(ack(), SPI(2));
    eoi(SPI(2));
    ck_assert_uint_eq(ack(), SPI(1));
    eoi(SPI(1));
    ck_assert_uint_eq(ack(), SPI(3));
}
END_TEST

START_TEST(test_iar_needs_enable)
{
    set_priority(SPI(1), PRIO_DEFAULT);
    bit_wr(GICD_ISPENDR, SPI(1));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    bit_wr(GICD_ISENABLER, SPI(1));
    ck_assert_uint_eq(ack(), SPI(1));
}
END_TEST

START_TEST(test_iar_needs_igrpen1)
{
    enable(SPI(1), PRIO_DEFAULT);
    bit_wr(GICD_ISPENDR, SPI(1));
    icc_wr(ICC_IGRPEN1_EL1, 0);
    ck_assert_uint_eq(icc_rd(ICC_IGRPEN1_EL1), 0);
    ck_assert(!gicv3_irq_asserted(gic));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    icc_wr(ICC_IGRPEN1_EL1, 1);
    ck_assert_uint_eq(ack(), SPI(1));
}
END_TEST

START_TEST(test_iar_needs_distributor_group1_enable)
{
    enable(SPI(1), PRIO_DEFAULT);
    bit_wr(GICD_ISPENDR, SPI(1));
    dist_wr(GICD_CTLR, CTLR_ARE);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    dist_wr(GICD_CTLR, CTLR_ARE | CTLR_ENABLE_GRP1);
    ck_assert_uint_eq(ack(), SPI(1));
}
END_TEST

START_TEST(test_iar_needs_group1)
{
    enable(SPI(1), PRIO_DEFAULT);
    bit_wr(GICD_ISPENDR, SPI(1));
    dist_wr(GICD_IGROUPR + 4, 0); /* SPIs 0-31 to group 0 */
    ck_assert(!bit_rd(GICD_IGROUPR, SPI(1)));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    dist_wr(GICD_IGROUPR + 4, 0xffffffffu);
    ck_assert_uint_eq(ack(), SPI(1));
}
END_TEST

START_TEST(test_pmr_masks_equal_and_lower_priority)
{
    enable(SPI(1), 0xa0);
    bit_wr(GICD_ISPENDR, SPI(1));
    icc_wr(ICC_PMR_EL1, 0xa0); /* only priorities strictly higher than PMR pass */
    ck_assert_uint_eq(icc_rd(ICC_PMR_EL1), 0xa0);
    ck_assert(!gicv3_irq_asserted(gic));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    icc_wr(ICC_PMR_EL1, 0xa8);
    ck_assert(gicv3_irq_asserted(gic));
    ck_assert_uint_eq(ack(), SPI(1));
}
END_TEST

START_TEST(test_pmr_zero_at_reset_masks_everything)
{
    gicv3_destroy(gic);
    create();
    dist_wr(GICD_CTLR, CTLR_ARE | CTLR_ENABLE_GRP1);
    dist_wr(GICD_IGROUPR + 4, 0xffffffffu);
    icc_wr(ICC_IGRPEN1_EL1, 1);
    enable(SPI(1), 0);
    bit_wr(GICD_ISPENDR, SPI(1));
    ck_assert_uint_eq(icc_rd(ICC_PMR_EL1), 0);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
}
END_TEST

/* ---- end of interrupt ------------------------------------------------------------------ */

START_TEST(test_eoi_mode0_drops_and_deactivates)
{
    enable(SPI(1), 0xa0);
    bit_wr(GICD_ISPENDR, SPI(1));
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0xff); /* idle */
    ck_assert_uint_eq(ack(), SPI(1));
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0xa0);
    eoi(SPI(1));
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0xff);
    ck_assert(!bit_rd(GICD_ISACTIVER, SPI(1)));
    ck_assert(!bit_rd(GICD_ISPENDR, SPI(1)));
}
END_TEST

START_TEST(test_eoi_mode1_needs_dir_to_deactivate)
{
    /* Linux uses EOImode 1 when it runs at EL2 or for threaded/forwarded irqs. */
    icc_wr(ICC_CTLR_EL1, ICC_CTLR_EOIMODE);
    ck_assert_uint_eq(icc_rd(ICC_CTLR_EL1) & ICC_CTLR_EOIMODE, ICC_CTLR_EOIMODE);
    set_edge(SPI(1));
    enable(SPI(1), 0xa0);
    gicv3_set_line(gic, SPI(1), true);
    ck_assert_uint_eq(ack(), SPI(1));
    eoi(SPI(1));
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0xff); /* priority dropped */
    ck_assert(bit_rd(GICD_ISACTIVER, SPI(1)));     /* but still active */
    /* A new edge makes it pending, but an active interrupt is not taken again. */
    gicv3_set_line(gic, SPI(1), false);
    gicv3_set_line(gic, SPI(1), true);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    icc_wr(ICC_DIR_EL1, SPI(1));
    ck_assert(!bit_rd(GICD_ISACTIVER, SPI(1)));
    ck_assert_uint_eq(ack(), SPI(1));
}
END_TEST

START_TEST(test_eoi_mode1_lets_lower_priority_in_after_drop)
{
    icc_wr(ICC_CTLR_EL1, ICC_CTLR_EOIMODE);
    enable(SPI(1), 0x80);
    enable(SPI(2), 0xc0);
    bit_wr(GICD_ISPENDR, SPI(1));
    ck_assert_uint_eq(ack(), SPI(1));
    bit_wr(GICD_ISPENDR, SPI(2));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS); /* running priority 0x80 blocks 0xc0 */
    eoi(SPI(1));
    ck_assert_uint_eq(ack(), SPI(2));
}
END_TEST

START_TEST(test_level_stays_pending_while_high)
{
    enable(SPI(1), PRIO_DEFAULT);
    gicv3_set_line(gic, SPI(1), true);
    ck_assert(bit_rd(GICD_ISPENDR, SPI(1)));
    ck_assert_uint_eq(ack(), SPI(1));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS); /* active: not taken twice */
    eoi(SPI(1));
    /* The device did not lower its line, so the interrupt comes back. */
    ck_assert(gicv3_irq_asserted(gic));
    ck_assert_uint_eq(ack(), SPI(1));
    gicv3_set_line(gic, SPI(1), false);
    eoi(SPI(1));
    ck_assert(!bit_rd(GICD_ISPENDR, SPI(1)));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
}
END_TEST

START_TEST(test_level_pulse_not_latched)
{
    enable(SPI(1), PRIO_DEFAULT);
    gicv3_set_line(gic, SPI(1), true);
    gicv3_set_line(gic, SPI(1), false);
    ck_assert(!bit_rd(GICD_ISPENDR, SPI(1)));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
}
END_TEST

START_TEST(test_edge_latches_on_rising_edge_only)
{
    set_edge(SPI(1));
    enable(SPI(1), PRIO_DEFAULT);
    gicv3_set_line(gic, SPI(1), true);
    ck_assert_uint_eq(ack(), SPI(1));
    eoi(SPI(1));
    /* Still high, but no new edge: nothing pending. */
    gicv3_set_line(gic, SPI(1), true);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    gicv3_set_line(gic, SPI(1), false);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    gicv3_set_line(gic, SPI(1), true);
    ck_assert_uint_eq(ack(), SPI(1));
}
END_TEST

START_TEST(test_edge_pulse_stays_pending)
{
    set_edge(SPI(1));
    enable(SPI(1), PRIO_DEFAULT);
    gicv3_set_line(gic, SPI(1), true);
    gicv3_set_line(gic, SPI(1), false);
    ck_assert(bit_rd(GICD_ISPENDR, SPI(1)));
    ck_assert_uint_eq(ack(), SPI(1));
}
END_TEST

START_TEST(test_ppi_line)
{
    /* The virtual timer's PPI, as the emu backend raises it. */
    enable(27, PRIO_DEFAULT);
    gicv3_set_line(gic, 27, true);
    ck_assert_uint_eq(ack(), 27);
    eoi(27);
    gicv3_set_line(gic, 27, false);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
}
END_TEST

/* ---- SGIs -------------------------------------------------------------------------------- */

START_TEST(test_sgi_to_self)
{
    enable(3, PRIO_DEFAULT);
    /* INTID in bits 27:24, target list bit 0 = Aff0 0, Aff1..3 = 0. */
    icc_wr(ICC_SGI1R_EL1, (3ull << 24) | 1);
    ck_assert(bit_rd(GICD_ISPENDR, 3));
    ck_assert_uint_eq(ack(), 3);
    eoi(3);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
}
END_TEST

START_TEST(test_sgi_to_other_cpus_ignored)
{
    enable(3, PRIO_DEFAULT);
    icc_wr(ICC_SGI1R_EL1, (3ull << 24) | 2);              /* Aff0 1 */
    icc_wr(ICC_SGI1R_EL1, (3ull << 24) | (1ull << 16) | 1); /* Aff1 1 */
    icc_wr(ICC_SGI1R_EL1, (3ull << 24) | (1ull << 40));   /* IRM: all but self */
    ck_assert(!bit_rd(GICD_ISPENDR, 3));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
}
END_TEST

/* ---- nesting ------------------------------------------------------------------------------ */

START_TEST(test_higher_priority_preempts)
{
    enable(SPI(1), 0xa0);
    enable(SPI(2), 0x80);
    bit_wr(GICD_ISPENDR, SPI(1));
    ck_assert_uint_eq(ack(), SPI(1));
    bit_wr(GICD_ISPENDR, SPI(2));
    ck_assert(gicv3_irq_asserted(gic));
    ck_assert_uint_eq(ack(), SPI(2));
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0x80);
    eoi(SPI(2));
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0xa0); /* back to the interrupted one */
    eoi(SPI(1));
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0xff);
}
END_TEST

START_TEST(test_equal_or_lower_priority_waits)
{
    enable(SPI(1), 0xa0);
    enable(SPI(2), 0xa0);
    enable(SPI(3), 0xc0);
    bit_wr(GICD_ISPENDR, SPI(1));
    ck_assert_uint_eq(ack(), SPI(1));
    bit_wr(GICD_ISPENDR, SPI(2));
    bit_wr(GICD_ISPENDR, SPI(3));
    ck_assert(!gicv3_irq_asserted(gic));
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    eoi(SPI(1));
    ck_assert_uint_eq(ack(), SPI(2));
}
END_TEST

START_TEST(test_active_priorities_register)
{
    /* Linux saves/restores ICC_AP1R0 around suspend; it must show what is active. */
    enable(SPI(1), 0xa0);
    bit_wr(GICD_ISPENDR, SPI(1));
    ck_assert_uint_eq(icc_rd(ICC_AP1R0_EL1), 0);
    ack();
    ck_assert_uint_eq(icc_rd(ICC_AP1R0_EL1), 1u << (0xa0 >> 3));
    eoi(SPI(1));
    ck_assert_uint_eq(icc_rd(ICC_AP1R0_EL1), 0);
}
END_TEST

/* ---- robustness: a guest poking at nonsense must not hurt us ----------------------------- */

START_TEST(test_out_of_range_offsets_raz_wi)
{
    static const uint64_t offsets[] = {0x10000, 0x20000, 0xfffc, 0x7ffc, 0xffffffffull,
                                       0xfffffffffffffff8ull};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        gicv3_dist_write(gic, offsets[i], 4, 0xffffffffu);
        gicv3_redist_write(gic, offsets[i], 4, 0xffffffffu);
        gicv3_redist_write(gic, GICR_SGI + offsets[i] % 0x10000, 4, 0);
        ck_assert_uint_eq(gicv3_dist_read(gic, offsets[i], 4), 0);
    }
    ck_assert_uint_eq(gicv3_redist_read(gic, 0x30000, 4), 0);
    ck_assert_uint_eq(gicv3_redist_read(gic, 0xfffffffffffffff8ull, 8), 0);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
}
END_TEST

START_TEST(test_registers_beyond_implemented_spis_raz_wi)
{
    /* 64 SPIs: INTIDs 96 and up do not exist. */
    dist_wr(GICD_ISENABLER + 12, 0xffffffffu);
    dist_wr(GICD_ISPENDR + 12, 0xffffffffu);
    dist_wr(GICD_IPRIORITYR + 200, 0xffffffffu);
    gicv3_dist_write(gic, GICD_IPRIORITYR + 1019, 1, 0xff);
    dist_wr(GICD_ICFGR + 63 * 4, 0xffffffffu);
    gicv3_dist_write(gic, GICD_IROUTER + 8 * 1019, 8, ~0ull);
    ck_assert_uint_eq(dist_rd(GICD_ISENABLER + 12), 0);
    ck_assert_uint_eq(dist_rd(GICD_ISPENDR + 12), 0);
    ck_assert_uint_eq(dist_rd(GICD_IPRIORITYR + 200), 0);
    ck_assert_uint_eq(dist_rd(GICD_ICFGR + 63 * 4), 0);
    ck_assert_uint_eq(gicv3_dist_read(gic, GICD_IROUTER + 8 * 1019, 8), 0);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
    /* While the last implemented word (INTIDs 64-95) is fully backed. */
    dist_wr(GICD_ISENABLER + 8, 0xffffffffu);
    ck_assert_uint_eq(dist_rd(GICD_ISENABLER + 8), 0xffffffffu);
}
END_TEST

START_TEST(test_out_of_range_intids_harmless)
{
    gicv3_set_line(gic, 96, true);
    gicv3_set_line(gic, 5000, true);
    gicv3_set_line(gic, ~0u, true);
    gicv3_set_line(gic, 3, true); /* SGIs have no line */
    icc_wr(ICC_EOIR1_EL1, 5000);
    icc_wr(ICC_EOIR1_EL1, GIC_SPURIOUS);
    icc_wr(ICC_DIR_EL1, 5000);
    icc_wr(ICC_DIR_EL1, ~0ull);
    icc_wr(ICC_SGI1R_EL1, ~0ull);
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0xff);
    ck_assert_uint_eq(bits_rd(GICD_ISPENDR, 0) & 0xffff, 0);
    ck_assert_uint_eq(ack(), GIC_SPURIOUS);
}
END_TEST

START_TEST(test_eoi_of_spurious_keeps_active_one)
{
    enable(SPI(1), 0xa0);
    bit_wr(GICD_ISPENDR, SPI(1));
    ck_assert_uint_eq(ack(), SPI(1));
    icc_wr(ICC_EOIR1_EL1, GIC_SPURIOUS);
    ck_assert_uint_eq(icc_rd(ICC_RPR_EL1), 0xa0);
    ck_assert(bit_rd(GICD_ISACTIVER, SPI(1)));
}
END_TEST

/* ---- snapshot state ------------------------------------------------------------------------- */

#define ROUTE_SPI5 0x0000000100000203ull

static struct gicv3 *copy; /* the GIC a state is loaded into */
static struct gicv3_state saved, again;

static unsigned ack_on(struct gicv3 *g)
{
    uint64_t v = 0;
    ck_assert(gicv3_sysreg_read(g, ICC_IAR1_EL1, &v));
    return (unsigned)v;
}

static void eoi_on(struct gicv3 *g, unsigned intid)
{
    ck_assert(gicv3_sysreg_write(g, ICC_EOIR1_EL1, intid));
}

/* A GIC in use: Linux's set-up plus the redistributor awake, BPR1 0, a level SPI
 * held high, an edge SPI routed and acknowledged (active, the running
 * priority), an SPI pended by software behind it, a PPI and an SGI enabled. */
static void create_busy(void)
{
    create_as_linux();
    gicv3_redist_write(gic, GICR_WAKER, 4, 0);
    icc_wr(ICC_BPR1_EL1, 0);
    enable(SPI(1), 0xa0);
    gicv3_set_line(gic, SPI(1), true);
    set_edge(SPI(5));
    enable(SPI(5), 0x80);
    gicv3_dist_write(gic, GICD_IROUTER + 8 * SPI(5), 8, ROUTE_SPI5);
    gicv3_set_line(gic, SPI(5), true);
    enable(SPI(7), 0xc0);
    bit_wr(GICD_ISPENDR, SPI(7));
    enable(27, 0xa0);
    enable(3, 0x90);
    ck_assert_uint_eq(ack(), SPI(5));
    copy = gicv3_create(NUM_SPIS);
    ck_assert_ptr_nonnull(copy);
}

static void destroy_busy(void)
{
    gicv3_destroy(copy);
    copy = NULL;
    destroy();
}

/* ICC registers without side effects on read (not IAR). */
static const uint32_t icc_readable[] = {
    ICC_PMR_EL1, ICC_CTLR_EL1, ICC_BPR1_EL1, ICC_BPR0_EL1, ICC_IGRPEN1_EL1, ICC_IGRPEN0_EL1,
    ICC_SRE_EL1, ICC_RPR_EL1, ICC_HPPIR1_EL1, ICC_HPPIR0_EL1, ICC_AP1R0_EL1,
    ICC_AP1R0_EL1 + 1, ICC_AP1R0_EL1 + 2, ICC_AP1R0_EL1 + 3, ICC_AP0R0_EL1,
    ICC_AP0R0_EL1 + 3,
};

static void assert_same_registers(struct gicv3 *a, struct gicv3 *b)
{
    for (uint64_t off = 0; off < GICD_SIZE; off += 4)
        ck_assert_msg(gicv3_dist_read(a, off, 4) == gicv3_dist_read(b, off, 4),
                      "GICD offset 0x%llx differs", (unsigned long long)off);
    for (unsigned i = 0; i < 32 + NUM_SPIS; i++)
        ck_assert_uint_eq(gicv3_dist_read(a, GICD_IROUTER + 8 * i, 8),
                          gicv3_dist_read(b, GICD_IROUTER + 8 * i, 8));
    for (uint64_t off = 0; off < GICR_SIZE; off += 4)
        ck_assert_msg(gicv3_redist_read(a, off, 4) == gicv3_redist_read(b, off, 4),
                      "GICR offset 0x%llx differs", (unsigned long long)off);
    for (size_t i = 0; i < sizeof(icc_readable) / sizeof(icc_readable[0]); i++) {
        uint64_t va = 0, vb = 1;
        ck_assert(gicv3_sysreg_read(a, icc_readable[i], &va));
        ck_assert(gicv3_sysreg_read(b, icc_readable[i], &vb));
        ck_assert_msg(va == vb, "ICC register 0x%x: 0x%llx vs 0x%llx", icc_readable[i],
                      (unsigned long long)va, (unsigned long long)vb);
    }
    ck_assert_uint_eq(gicv3_highest_pending(a), gicv3_highest_pending(b));
    ck_assert_int_eq(gicv3_irq_asserted(a), gicv3_irq_asserted(b));
}

START_TEST(test_state_round_trip_registers)
{
    ck_assert_int_eq(gicv3_save(gic, &saved), 0);
    ck_assert_uint_eq(saved.num_spis, NUM_SPIS);
    ck_assert_int_eq(gicv3_load(copy, &saved), 0);
    assert_same_registers(gic, copy);
    /* What the copy shows is the busy GIC's, not a fresh one's. */
    ck_assert_uint_eq(gicv3_dist_read(copy, GICD_ISACTIVER + 4, 4), 1u << 5);
    ck_assert_uint_eq(gicv3_dist_read(copy, GICD_ISPENDR + 4, 4), (1u << 1) | (1u << 7));
    ck_assert_uint_eq(gicv3_dist_read(copy, GICD_IROUTER + 8 * SPI(5), 8), ROUTE_SPI5);
    ck_assert_uint_eq(gicv3_redist_read(copy, GICR_WAKER, 4), 0);
    ck_assert_uint_eq(gicv3_redist_read(copy, GICR_SGI + GICD_ISENABLER, 4),
                      (1u << 27) | (1u << 3));
    uint64_t rpr = 0, pmr = 0;
    ck_assert(gicv3_sysreg_read(copy, ICC_RPR_EL1, &rpr));
    ck_assert(gicv3_sysreg_read(copy, ICC_PMR_EL1, &pmr));
    ck_assert_uint_eq(rpr, 0x80);
    ck_assert_uint_eq(pmr, PMR_LINUX);
    ck_assert_int_eq(gicv3_save(copy, &again), 0);
    ck_assert_mem_eq(&saved, &again, sizeof(saved));
}
END_TEST

/* Both GICs go on alike: the running priority holds the others back until the
 * EOI, the level SPI is pending while its line is high, and the edge SPI's line
 * is still high, so raising it again is no new edge. */
START_TEST(test_state_round_trip_behaviour)
{
    ck_assert_int_eq(gicv3_save(gic, &saved), 0);
    ck_assert_int_eq(gicv3_load(copy, &saved), 0);
    struct gicv3 *both[] = {gic, copy};
    for (unsigned i = 0; i < 2; i++) {
        struct gicv3 *g = both[i];
        ck_assert_uint_eq(ack_on(g), GIC_SPURIOUS);
        eoi_on(g, SPI(5));
        ck_assert_uint_eq(ack_on(g), SPI(1));
        gicv3_set_line(g, SPI(1), false);
        eoi_on(g, SPI(1));
        ck_assert_uint_eq(ack_on(g), SPI(7));
        eoi_on(g, SPI(7));
        gicv3_set_line(g, SPI(5), true);
        ck_assert_uint_eq(ack_on(g), GIC_SPURIOUS);
        ck_assert_uint_eq(gicv3_highest_pending(g), GIC_SPURIOUS);
    }
    assert_same_registers(gic, copy);
}
END_TEST

START_TEST(test_state_of_fresh_gic_loads)
{
    struct gicv3 *fresh = gicv3_create(NUM_SPIS);
    ck_assert_ptr_nonnull(fresh);
    ck_assert_int_eq(gicv3_save(fresh, &saved), 0);
    ck_assert_int_eq(gicv3_load(copy, &saved), 0);
    assert_same_registers(fresh, copy);
    gicv3_destroy(fresh);
}
END_TEST

START_TEST(test_state_num_spis_rounded_up)
{
    struct gicv3 *odd = gicv3_create(33);
    ck_assert_ptr_nonnull(odd);
    ck_assert_int_eq(gicv3_save(odd, &saved), 0);
    ck_assert_uint_eq(saved.num_spis, 64);
    ck_assert_int_eq(gicv3_load(copy, &saved), 0); /* created with 64 */
    gicv3_destroy(odd);
}
END_TEST

/* One bad field each; NUM_SPIS = 64, so INTID 96 is beyond the GIC. The busy
 * state has one entry on the active stack. */
static void corrupt(struct gicv3_state *st, int which)
{
    switch (which) {
    case 0: st->num_spis = NUM_SPIS + 32; break;
    case 1: st->num_spis = 0; break;
    case 2: st->dist_ctlr &= ~CTLR_ARE; break;
    case 3: st->dist_ctlr |= 1u << 8; break;
    case 4: st->redist_waker = WAKER_PROCESSOR_SLEEP; break;
    case 5: st->icc_ctlr |= 1u << 5; break;
    case 6: st->icc_pmr = 0xf1; break;
    case 7: st->icc_bpr1 = 8; break;
    case 8: st->icc_igrpen1 = 2; break;
    case 9: st->active_depth = GIC_MAX_NESTED + 1; break;
    case 10: st->active_depth = UINT32_MAX; break;
    case 11: st->active_stack[0] = 32 + NUM_SPIS; break;
    case 12: st->active_stack[0] = UINT32_MAX; break;
    case 13: st->active_stack[1] = SPI(1); break; /* beyond the depth */
    case 14: st->irqs[SPI(1)].priority = 0xa1; break;
    case 15: st->irqs[SPI(1)].enabled = 2; break;
    case 16: st->irqs[SPI(1)].line = 0xff; break;
    case 17: st->irqs[SPI(1)].pending = 3; break;
    case 18: st->irqs[SPI(1)].active = 0x80; break;
    case 19: st->irqs[SPI(1)].group1 = 2; break;
    case 20: st->irqs[SPI(5)].edge = 2; break;
    case 21: st->irqs[3].edge = 0; break; /* SGIs are edge-triggered */
    case 22: st->irqs[3].line = 1; break; /* and have no line */
    case 23: st->irqs[32 + NUM_SPIS].enabled = 1; break;
    case 24: st->irqs[GIC_MAX_IRQS - 1].priority = 0x80; break;
    case 25: st->irouter[27] = 1; break; /* private: no routing */
    case 26: st->irouter[32 + NUM_SPIS] = 1; break;
    }
}
#define NUM_CORRUPTIONS 27

START_TEST(test_state_bad_field_refused)
{
    static struct gicv3_state reset;
    ck_assert_int_eq(gicv3_save(copy, &reset), 0);
    ck_assert_int_eq(gicv3_save(gic, &saved), 0);
    ck_assert_uint_eq(saved.active_depth, 1);
    corrupt(&saved, _i);
    ck_assert_int_eq(gicv3_load(copy, &saved), -EINVAL);
    /* Nothing of it was taken: the copy is as created, and still works. */
    ck_assert_int_eq(gicv3_save(copy, &again), 0);
    ck_assert_mem_eq(&reset, &again, sizeof(reset));
    ck_assert_int_eq(gicv3_save(gic, &saved), 0);
    ck_assert_int_eq(gicv3_load(copy, &saved), 0);
}
END_TEST

static Suite *gicv3_suite(void)
{
    Suite *s = suite_create("gicv3");
    TCase *probe = tcase_create("probe");
    tcase_add_checked_fixture(probe, create, destroy);
    tcase_add_test(probe, test_dist_pidr2_is_gicv3);
    tcase_add_test(probe, test_dist_typer_itlines_for_64_spis);
    tcase_add_test(probe, test_dist_typer_rounds_spis_up);
    tcase_add_test(probe, test_too_many_spis_refused);
    tcase_add_test(probe, test_dist_ctlr);
    tcase_add_test(probe, test_redist_pidr2_is_gicv3);
    tcase_add_test(probe, test_redist_typer_last);
    tcase_add_test(probe, test_redist_ctlr_rwp_clear);
    tcase_add_test(probe, test_redist_waker_handshake);
    tcase_add_test(probe, test_icc_sre_enabled);
    tcase_add_test(probe, test_priority_bits_consistent);
    tcase_add_test(probe, test_unknown_sysreg_not_handled);
    suite_add_tcase(s, probe);

    TCase *config = tcase_create("config");
    tcase_add_checked_fixture(config, create, destroy);
    tcase_add_test(config, test_enable_set_and_clear);
    tcase_add_test(config, test_enable_writes_only_set_bits);
    tcase_add_test(config, test_ppi_enable_in_redistributor);
    tcase_add_test(config, test_pending_set_and_clear);
    tcase_add_test(config, test_priority_byte_access);
    tcase_add_test(config, test_priority_word_access);
    tcase_add_test(config, test_ppi_priority_in_redistributor);
    tcase_add_test(config, test_icfgr_edge_read_back);
    tcase_add_test(config, test_irouter_round_trip);
    suite_add_tcase(s, config);

    TCase *cpu = tcase_create("cpu_interface");
    tcase_add_checked_fixture(cpu, create_as_linux, destroy);
    tcase_add_test(cpu, test_iar_spurious_when_nothing_pending);
    tcase_add_test(cpu, test_iar_returns_pending_interrupt);
    tcase_add_test(cpu, test_iar_highest_priority_first);
    tcase_add_test(cpu, test_iar_needs_enable);
    tcase_add_test(cpu, test_iar_needs_igrpen1);
    tcase_add_test(cpu, test_iar_needs_distributor_group1_enable);
    tcase_add_test(cpu, test_iar_needs_group1);
    tcase_add_test(cpu, test_pmr_masks_equal_and_lower_priority);
    tcase_add_test(cpu, test_pmr_zero_at_reset_masks_everything);
    tcase_add_test(cpu, test_eoi_mode0_drops_and_deactivates);
    tcase_add_test(cpu, test_eoi_mode1_needs_dir_to_deactivate);
    tcase_add_test(cpu, test_eoi_mode1_lets_lower_priority_in_after_drop);
    tcase_add_test(cpu, test_level_stays_pending_while_high);
    tcase_add_test(cpu, test_level_pulse_not_latched);
    tcase_add_test(cpu, test_edge_latches_on_rising_edge_only);
    tcase_add_test(cpu, test_edge_pulse_stays_pending);
    tcase_add_test(cpu, test_ppi_line);
    tcase_add_test(cpu, test_sgi_to_self);
    tcase_add_test(cpu, test_sgi_to_other_cpus_ignored);
    tcase_add_test(cpu, test_higher_priority_preempts);
    tcase_add_test(cpu, test_equal_or_lower_priority_waits);
    tcase_add_test(cpu, test_active_priorities_register);
    suite_add_tcase(s, cpu);

    TCase *robust = tcase_create("robustness");
    tcase_add_checked_fixture(robust, create_as_linux, destroy);
    tcase_add_test(robust, test_out_of_range_offsets_raz_wi);
    tcase_add_test(robust, test_registers_beyond_implemented_spis_raz_wi);
    tcase_add_test(robust, test_out_of_range_intids_harmless);
    tcase_add_test(robust, test_eoi_of_spurious_keeps_active_one);
    suite_add_tcase(s, robust);

    TCase *state = tcase_create("state");
    tcase_add_checked_fixture(state, create_busy, destroy_busy);
    tcase_add_test(state, test_state_round_trip_registers);
    tcase_add_test(state, test_state_round_trip_behaviour);
    tcase_add_test(state, test_state_of_fresh_gic_loads);
    tcase_add_test(state, test_state_num_spis_rounded_up);
    tcase_add_loop_test(state, test_state_bad_field_refused, 0, NUM_CORRUPTIONS);
    suite_add_tcase(s, state);
    return s;
}

int main(void)
{
    return run_suite(gicv3_suite());
}
