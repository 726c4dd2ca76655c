/* Which vGIC registers a snapshot keeps, in restore order, and their message
 * (see kvm_vgic.h). */
#include "hv/kvm_vgic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "hv/hv.h"
#include "kvm_vgic.pb-c.h"

typedef Ignition__Devices__KvmVgicState VgicMsg;

/* Distributor and redistributor (SGI_base frame) offsets, GICv3 spec. */
#define GICD_CTLR 0x0000
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ISPENDR 0x0200
#define GICD_ISACTIVER 0x0300
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000
#define GICR_SGI_BASE 0x10000
#define GICR_ICFGR1 (GICR_SGI_BASE + GICD_ICFGR + 4) /* PPIs; ICFGR0 (SGIs) is fixed */

/* ICC_*_EL1 as the CPU_SYSREGS group encodes them: op0:op1:CRn:CRm:op2. */
#define ICC(op0, op1, crn, crm, op2)                                                         \
    ((uint64_t)(op0) << 14 | (uint64_t)(op1) << 11 | (uint64_t)(crn) << 7 |                  \
     (uint64_t)(crm) << 3 | (uint64_t)(op2))
#define ICC_PMR_EL1 ICC(3, 0, 4, 6, 0)
#define ICC_BPR0_EL1 ICC(3, 0, 12, 8, 3)
#define ICC_AP0R_EL1(n) ICC(3, 0, 12, 8, 4 + (n))
#define ICC_AP1R_EL1(n) ICC(3, 0, 12, 9, (n))
#define ICC_BPR1_EL1 ICC(3, 0, 12, 12, 3)
#define ICC_CTLR_EL1 ICC(3, 0, 12, 12, 4)
#define ICC_SRE_EL1 ICC(3, 0, 12, 12, 5)
#define ICC_IGRPEN0_EL1 ICC(3, 0, 12, 12, 6)
#define ICC_IGRPEN1_EL1 ICC(3, 0, 12, 12, 7)

#define LEVEL_INFO_LINE_LEVEL 0 /* VGIC_LEVEL_INFO_LINE_LEVEL, in bits 10.. */

struct plan {
    struct kvm_vgic_slot *out;
    size_t n;
};

static void add(struct plan *p, uint32_t group, uint64_t attr, bool optional)
{
    p->out[p->n++] = (struct kvm_vgic_slot){.group = group, .attr = attr, .optional = optional};
}

static uint64_t mpidr_field(uint32_t vcpu)
{
    return (uint64_t)hv_vcpu_affinity(vcpu) << 32;
}

static uint64_t line_levels(uint64_t mpidr, uint32_t first_intid)
{
    return mpidr | (uint64_t)LEVEL_INFO_LINE_LEVEL << 10 | first_intid;
}

/* SGIs and PPIs of one vCPU: 14 entries. */
static void plan_redistributor(struct plan *p, uint32_t vcpu)
{
    uint64_t m = mpidr_field(vcpu);
    add(p, KVM_VGIC_GRP_REDIST_REGS, m | (GICR_SGI_BASE + GICD_IGROUPR), false);
    add(p, KVM_VGIC_GRP_REDIST_REGS, m | (GICR_SGI_BASE + GICD_ISENABLER), false);
    add(p, KVM_VGIC_GRP_REDIST_REGS, m | GICR_ICFGR1, false);
    add(p, KVM_VGIC_GRP_LEVEL_INFO, line_levels(m, 0), false);
    add(p, KVM_VGIC_GRP_REDIST_REGS, m | (GICR_SGI_BASE + GICD_ISPENDR), false);
    add(p, KVM_VGIC_GRP_REDIST_REGS, m | (GICR_SGI_BASE + GICD_ISACTIVER), false);
    for (unsigned k = 0; k < 8; k++)
        add(p, KVM_VGIC_GRP_REDIST_REGS, m | (GICR_SGI_BASE + GICD_IPRIORITYR + 4 * k), false);
}

/* SPIs 32 * block .. 32 * block + 31: KVM_VGIC_REGS_PER_SPI_BLOCK entries. */
static void plan_spi_block(struct plan *p, uint32_t block)
{
    const uint32_t d = KVM_VGIC_GRP_DIST_REGS;
    add(p, d, GICD_IGROUPR + 4 * block, false);
    add(p, d, GICD_ISENABLER + 4 * block, false);
    add(p, d, GICD_ICFGR + 8 * block, false);
    add(p, d, GICD_ICFGR + 8 * block + 4, false);
    add(p, KVM_VGIC_GRP_LEVEL_INFO, line_levels(0, 32 * block), false);
    add(p, d, GICD_ISPENDR + 4 * block, false);
    add(p, d, GICD_ISACTIVER + 4 * block, false);
    for (unsigned k = 0; k < 8; k++)
        add(p, d, GICD_IPRIORITYR + 32 * block + 4 * k, false);
    for (unsigned i = 0; i < 32; i++) {
        uint64_t route = GICD_IROUTER + 8ull * (32 * block + i);
        add(p, d, route, false);
        add(p, d, route + 4, false);
    }
}

/* One vCPU's CPU interface: 15 entries. */
static void plan_cpu_interface(struct plan *p, uint32_t vcpu)
{
    uint64_t m = mpidr_field(vcpu);
    const uint32_t g = KVM_VGIC_GRP_CPU_SYSREGS;
    static const uint64_t first[] = {ICC_SRE_EL1, ICC_CTLR_EL1, ICC_PMR_EL1, ICC_BPR0_EL1,
                                     ICC_BPR1_EL1, ICC_IGRPEN0_EL1, ICC_IGRPEN1_EL1};
    for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
        add(p, g, m | first[i], false);
    for (unsigned n = 0; n < 4; n++)
        add(p, g, m | ICC_AP0R_EL1(n), n > 0);
    for (unsigned n = 0; n < 4; n++)
        add(p, g, m | ICC_AP1R_EL1(n), n > 0);
}

size_t kvm_vgic_plan(uint32_t nr_irqs, uint32_t num_vcpus, struct kvm_vgic_slot *out)
{
    if (nr_irqs < KVM_VGIC_MIN_IRQS || nr_irqs > KVM_VGIC_MAX_IRQS || nr_irqs % 32 ||
        num_vcpus < 1 || num_vcpus > KVM_VGIC_MAX_VCPUS)
        return 0;
    struct plan p = {.out = out};
    add(&p, KVM_VGIC_GRP_DIST_REGS, GICD_CTLR, false);
    for (uint32_t v = 0; v < num_vcpus; v++)
        plan_redistributor(&p, v);
    for (uint32_t b = 1; b < nr_irqs / 32; b++)
        plan_spi_block(&p, b);
    for (uint32_t v = 0; v < num_vcpus; v++)
        plan_cpu_interface(&p, v);
    return p.n;
}

static const char *group_name(uint32_t group)
{
    switch (group) {
    case KVM_VGIC_GRP_DIST_REGS:
        return "distributor";
    case KVM_VGIC_GRP_REDIST_REGS:
        return "redistributor";
    case KVM_VGIC_GRP_CPU_SYSREGS:
        return "CPU interface";
    case KVM_VGIC_GRP_LEVEL_INFO:
        return "line level";
    default:
        return "unknown";
    }
}

/* Walks the registers along the plan: each must be the next slot, or one after
 * optional slots; no mandatory slot may be passed over. */
static int follow_plan(const struct kvm_vgic_state *s, const struct kvm_vgic_slot *plan,
                       size_t plan_len, char *err, size_t err_len)
{
    size_t at = 0;
    for (uint32_t i = 0; i < s->num_regs; i++) {
        const struct kvm_vgic_reg *r = &s->regs[i];
        while (at < plan_len && plan[at].optional &&
               (plan[at].group != r->group || plan[at].attr != r->attr))
            at++;
        if (at == plan_len || plan[at].group != r->group || plan[at].attr != r->attr)
            return device_state_refuse(err, err_len, "the vGIC's register %u (%s %#llx) is "
                                       "not the one expected there", i, group_name(r->group),
                                       (unsigned long long)r->attr);
        if (r->group != KVM_VGIC_GRP_CPU_SYSREGS && r->value > UINT32_MAX)
            return device_state_refuse(err, err_len, "the vGIC's register %u (%s %#llx) holds "
                                       "more than 32 bits", i, group_name(r->group),
                                       (unsigned long long)r->attr);
        at++;
    }
    for (; at < plan_len; at++)
        if (!plan[at].optional)
            return device_state_refuse(err, err_len, "the vGIC's state lacks its %s register "
                                       "%#llx", group_name(plan[at].group),
                                       (unsigned long long)plan[at].attr);
    return 0;
}

int kvm_vgic_check(const struct kvm_vgic_state *s, char *err, size_t err_len)
{
    if (s->num_regs > KVM_VGIC_MAX_REGS)
        return device_state_refuse(err, err_len, "the vGIC's state has %u registers, more "
                                   "than %d", s->num_regs, KVM_VGIC_MAX_REGS);
    struct kvm_vgic_slot *plan = malloc(KVM_VGIC_MAX_REGS * sizeof(*plan));
    if (!plan)
        return -ENOMEM;
    size_t n = kvm_vgic_plan(s->nr_irqs, s->num_vcpus, plan);
    int rc = n ? follow_plan(s, plan, n, err, err_len)
               : device_state_refuse(err, err_len, "a vGIC of %u interrupts and %u vCPUs is "
                                     "none KVM makes", s->nr_irqs, s->num_vcpus);
    free(plan);
    return rc;
}

int kvm_vgic_state_encode(const struct kvm_vgic_state *s, struct device_state_bytes *out)
{
    if (s->num_regs > KVM_VGIC_MAX_REGS)
        return -EINVAL;
    VgicMsg m = IGNITION__DEVICES__KVM_VGIC_STATE__INIT;
    size_t n = s->num_regs;
    uint32_t *groups = malloc((n ? n : 1) * sizeof(*groups));
    uint64_t *attrs = malloc((n ? n : 1) * sizeof(*attrs));
    uint64_t *values = malloc((n ? n : 1) * sizeof(*values));
    int rc = groups && attrs && values ? 0 : -ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            groups[i] = s->regs[i].group;
            attrs[i] = s->regs[i].attr;
            values[i] = s->regs[i].value;
        }
        m.nr_irqs = s->nr_irqs;
        m.num_vcpus = s->num_vcpus;
        m.n_groups = m.n_attrs = m.n_values = n;
        m.groups = groups, m.attrs = attrs, m.values = values;
        rc = device_state_pack(&m.base, out);
    }
    free(groups);
    free(attrs);
    free(values);
    return rc;
}

int kvm_vgic_state_decode(const uint8_t *bytes, size_t len, uint32_t nr_irqs,
                          uint32_t num_vcpus, struct kvm_vgic_state *out, char *err,
                          size_t err_len)
{
    out->num_regs = 0;
    VgicMsg *m = (VgicMsg *)device_state_unpack(&ignition__devices__kvm_vgic_state__descriptor,
                                                bytes, len, "the vGIC", err, err_len);
    if (!m)
        return -EINVAL;
    int rc = 0;
    if (m->nr_irqs != nr_irqs || m->num_vcpus != num_vcpus)
        rc = device_state_refuse(err, err_len, "the vGIC was saved with %u interrupts and %u "
                                 "vCPUs, this one has %u and %u", m->nr_irqs, m->num_vcpus,
                                 nr_irqs, num_vcpus);
    else if (m->n_groups != m->n_attrs || m->n_groups != m->n_values ||
             m->n_groups > KVM_VGIC_MAX_REGS)
        rc = device_state_refuse(err, err_len, "the vGIC's state has %zu groups, %zu "
                                 "attributes and %zu values (as many, at most %d)", m->n_groups,
                                 m->n_attrs, m->n_values, KVM_VGIC_MAX_REGS);
    if (rc == 0) {
        out->nr_irqs = m->nr_irqs;
        out->num_vcpus = m->num_vcpus;
        out->num_regs = (uint32_t)m->n_groups;
        for (size_t i = 0; i < m->n_groups; i++)
            out->regs[i] = (struct kvm_vgic_reg){m->groups[i], m->attrs[i], m->values[i]};
        rc = kvm_vgic_check(out, err, err_len);
    }
    if (rc < 0)
        out->num_regs = 0;
    device_state_free_unpacked(m);
    return rc;
}
