/* libFuzzer harness: the GIC's saved state (its message, proto/devices/
 * gicv3.proto) over arbitrary bytes: gicv3_state_decode, then gicv3_load into a
 * GIC of the machine's size, as a restore does through the backend. A state
 * that loads must read back exactly as given and encode into bytes that decode
 * to it again, and the GIC must then survive what a guest does with it:
 * acknowledging and ending every interrupt it offers, reading the CPU
 * interface and moving lines. The seeds are states of GICs programmed as
 * Linux programs them and of real snapshots (make_seeds_device_state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "devices/gicv3.h"
#include "devices/sysreg.h"
#include "machine/machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_state(const struct gicv3_state *a, const struct gicv3_state *b)
{
    return a->num_spis == b->num_spis && a->dist_ctlr == b->dist_ctlr &&
           a->redist_waker == b->redist_waker && a->icc_ctlr == b->icc_ctlr &&
           a->icc_pmr == b->icc_pmr && a->icc_bpr1 == b->icc_bpr1 &&
           a->icc_igrpen1 == b->icc_igrpen1 && a->active_depth == b->active_depth &&
           memcmp(a->active_stack, b->active_stack, sizeof(a->active_stack)) == 0 &&
           memcmp(a->irqs, b->irqs, sizeof(a->irqs)) == 0 &&
           memcmp(a->irouter, b->irouter, sizeof(a->irouter)) == 0;
}

static void read_cpu_interface(struct gicv3 *gic)
{
    static const uint32_t regs[] = {ICC_HPPIR1_EL1, ICC_RPR_EL1, ICC_AP1R0_EL1, ICC_PMR_EL1,
                                    ICC_CTLR_EL1};
    uint64_t v;
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        gicv3_sysreg_read(gic, regs[i], &v);
    (void)gicv3_irq_asserted(gic);
}

/* Bounded: each round either takes an interrupt off or stops. */
static void take_every_interrupt(struct gicv3 *gic)
{
    for (unsigned round = 0; round < GIC_MAX_NESTED + 4; round++) {
        uint64_t intid = GIC_SPURIOUS;
        gicv3_sysreg_read(gic, ICC_IAR1_EL1, &intid);
        read_cpu_interface(gic);
        if (intid == GIC_SPURIOUS)
            break;
        gicv3_set_line(gic, (unsigned)intid, false);
        gicv3_sysreg_write(gic, ICC_EOIR1_EL1, intid);
        gicv3_sysreg_write(gic, ICC_DIR_EL1, intid);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct gicv3_state in, out, again;
    char err[256];
    if (gicv3_state_decode(data, size, &in, err, sizeof(err)) != 0)
        return 0;
    struct gicv3 *gic = gicv3_create(MACHINE_NUM_SPIS);
    if (!gic)
        abort();
    if (gicv3_load(gic, &in) == 0) {
        gicv3_save(gic, &out);
        if (!same_state(&in, &out))
            abort();
        struct device_state_bytes bytes;
        if (gicv3_state_encode(&out, &bytes) != 0 ||
            gicv3_state_decode(bytes.data, bytes.len, &again, err, sizeof(err)) != 0 ||
            !same_state(&out, &again))
            abort();
        device_state_bytes_free(&bytes);
        read_cpu_interface(gic);
        for (uint64_t off = 0; off < 0x1000; off += 4)
            (void)gicv3_dist_read(gic, off, 4);
        take_every_interrupt(gic);
        for (unsigned intid = 16; intid < GIC_NUM_PRIVATE + MACHINE_NUM_SPIS; intid++)
            gicv3_set_line(gic, intid, true);
        take_every_interrupt(gic);
    }
    gicv3_destroy(gic);
    return 0;
}
