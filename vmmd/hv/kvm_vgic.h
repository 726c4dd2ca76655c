/* The in-kernel vGICv3's state for snapshots, host-independent: which of its
 * registers a snapshot keeps and in what order a restore writes them
 * (Documentation/virt/kvm/devices/arm-vgic-v3.rst), and their message
 * (proto/devices/kvm_vgic.proto). kvm.c reads and writes them with
 * KVM_GET/SET_DEVICE_ATTR.
 *
 * The order (the "plan"): the distributor's control; each vCPU's
 * redistributor (SGIs and PPIs: group, enable, configuration, line levels,
 * then pending and active, priorities); then per 32 SPIs the same, and their
 * routing; last each vCPU's CPU interface (ICC_SRE and ICC_CTLR before the
 * rest, as they shape it). Configuration comes before pending state so that
 * level and edge are told apart; line levels before pending so that a level
 * interrupt's latch is its own. A restore writes into a vGIC just made, whose
 * registers are all reset, so the set-registers (ISENABLER...) set exactly
 * what is saved. */
#ifndef IGNITION_KVM_VGIC_H
#define IGNITION_KVM_VGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"

/* KVM's device attribute groups (arch/arm64/include/uapi/asm/kvm.h). */
#define KVM_VGIC_GRP_DIST_REGS 1
#define KVM_VGIC_GRP_REDIST_REGS 5
#define KVM_VGIC_GRP_CPU_SYSREGS 6
#define KVM_VGIC_GRP_LEVEL_INFO 7

#define KVM_VGIC_MIN_IRQS 64
#define KVM_VGIC_MAX_IRQS 1024
#define KVM_VGIC_MAX_VCPUS 64
/* Per 32 SPIs: group, enable, 2 config, level, pending, active, 8 priority, 64 route words. */
#define KVM_VGIC_REGS_PER_SPI_BLOCK 79
/* Per vCPU: 14 redistributor entries, 15 CPU interface registers. */
#define KVM_VGIC_REGS_PER_VCPU 29
#define KVM_VGIC_MAX_REGS                                                                     \
    (1 + KVM_VGIC_REGS_PER_SPI_BLOCK * (KVM_VGIC_MAX_IRQS / 32 - 1) +                         \
     KVM_VGIC_REGS_PER_VCPU * KVM_VGIC_MAX_VCPUS)

struct kvm_vgic_reg {
    uint32_t group;
    uint64_t attr;
    uint64_t value;
};

/* One step of the plan: a register, and whether the host may lack it (the
 * active-priority registers beyond the first, which exist only with 6 or 7
 * bits of priority). */
struct kvm_vgic_slot {
    uint32_t group;
    uint64_t attr;
    bool optional;
};

struct kvm_vgic_state {
    uint32_t nr_irqs, num_vcpus;
    uint32_t num_regs;
    struct kvm_vgic_reg regs[KVM_VGIC_MAX_REGS];
};

/* The plan for a vGIC of nr_irqs interrupts (64 .. 1024, a multiple of 32) and
 * num_vcpus vCPUs (1 .. 64, MPIDRs as hv_vcpu_affinity gives them), into out
 * (KVM_VGIC_MAX_REGS slots). Returns the number of slots, or 0 for sizes out
 * of range. */
size_t kvm_vgic_plan(uint32_t nr_irqs, uint32_t num_vcpus, struct kvm_vgic_slot *out);

/* 0 when state's registers are the plan's for its sizes, in its order, with
 * only optional slots left out, and each value fits its register (32 bits
 * for all but the CPU interface's); -EINVAL with the reason in err. */
int kvm_vgic_check(const struct kvm_vgic_state *state, char *err, size_t err_len);

/* The state as its message. encode: -EINVAL for counts past the arrays.
 * decode checks the structure and kvm_vgic_check, and that the sizes are
 * nr_irqs and num_vcpus (the VM's): -EINVAL with the reason in err. */
int kvm_vgic_state_encode(const struct kvm_vgic_state *state, struct device_state_bytes *out);
int kvm_vgic_state_decode(const uint8_t *bytes, size_t len, uint32_t nr_irqs,
                          uint32_t num_vcpus, struct kvm_vgic_state *out, char *err,
                          size_t err_len);

#endif
