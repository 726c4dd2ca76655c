/* The host-independent half of the kvm backend: how hv.h's registers,
 * interrupt lines, MMIO data and system events are spelt in KVM's arm64 ABI
 * (Documentation/virt/kvm/api.rst, arch/arm64/include/uapi/asm/kvm.h). The
 * values are the kernel's ABI, written out here so that they build and are
 * unit-tested on any host; kvm.c checks them against the kernel's headers. */
#ifndef IGNITION_KVM_ARM_H
#define IGNITION_KVM_ARM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"

#define KVM_ARM_REG_ARM64 0x6000000000000000ull
#define KVM_ARM_REG_ARCH_MASK 0xff00000000000000ull
#define KVM_ARM_REG_SIZE_MASK 0x00f0000000000000ull
#define KVM_ARM_REG_SIZE_SHIFT 52
#define KVM_ARM_REG_SIZE_U32 0x0020000000000000ull
#define KVM_ARM_REG_SIZE_U64 0x0030000000000000ull
#define KVM_ARM_REG_SIZE_U128 0x0040000000000000ull
#define KVM_ARM_REG_CORE (0x0010ull << 16)
#define KVM_ARM_REG_SYSREG (0x0013ull << 16)
/* struct kvm_regs: user_pt_regs {x0..x30, sp (SP_EL0), pc, pstate}, then
 * sp_el1, elr_el1, spsr[5], ...; core register ids count 32-bit words. */
#define KVM_ARM_CORE_X0_WORD 0
#define KVM_ARM_CORE_SP_EL0_WORD 62
#define KVM_ARM_CORE_PC_WORD 64
#define KVM_ARM_CORE_PSTATE_WORD 66
#define KVM_ARM_CORE_SP_EL1_WORD 68
#define KVM_ARM_CORE_ELR_EL1_WORD 70
#define KVM_ARM_CORE_SPSR_EL1_WORD 72 /* spsr[KVM_SPSR_EL1], the first */
/* struct user_fpsimd_state { __uint128_t vregs[32]; __u32 fpsr, fpcr; }, 16-aligned. */
#define KVM_ARM_CORE_V0_WORD 84
#define KVM_ARM_CORE_FPSR_WORD 212
#define KVM_ARM_CORE_FPCR_WORD 213

/* A system register's ONE_REG id: ARM64_SYS_REG(op0, op1, CRn, CRm, op2). */
#define KVM_ARM_SYSREG(op0, op1, crn, crm, op2)                                              \
    (KVM_ARM_REG_ARM64 | KVM_ARM_REG_SIZE_U64 | KVM_ARM_REG_SYSREG |                          \
     (uint64_t)(op0) << 14 | (uint64_t)(op1) << 11 | (uint64_t)(crn) << 7 |                   \
     (uint64_t)(crm) << 3 | (uint64_t)(op2))
/* The generic timer as KVM names it. The ABI swaps CNT's and CVAL's encodings
 * against the architecture's (CNTVCT_EL0 is 3,3,14,0,2): these are the ABI's. */
#define KVM_ARM_TIMER_CTL KVM_ARM_SYSREG(3, 3, 14, 3, 1)
#define KVM_ARM_TIMER_CNT KVM_ARM_SYSREG(3, 3, 14, 3, 2)
#define KVM_ARM_TIMER_CVAL KVM_ARM_SYSREG(3, 3, 14, 0, 2)
#define KVM_ARM_PTIMER_CTL KVM_ARM_SYSREG(3, 3, 14, 2, 1)
#define KVM_ARM_PTIMER_CNT KVM_ARM_SYSREG(3, 3, 14, 0, 1)
#define KVM_ARM_PTIMER_CVAL KVM_ARM_SYSREG(3, 3, 14, 2, 2)

/* KVM_GET/SET_MP_STATE's values on arm64. */
#define KVM_ARM_MP_STATE_RUNNABLE 0
#define KVM_ARM_MP_STATE_STOPPED 5
#define KVM_ARM_MP_STATE_SUSPENDED 10

/* KVM_IRQ_LINE's irq field: vcpu2_index:4, irq_type:8, vcpu_index:8, irq_id:16. */
#define KVM_ARM_IRQ_TYPE_SHIFT_ 24
#define KVM_ARM_IRQ_TYPE_SPI_ 1

/* The smallest and largest guest-physical address spaces KVM/arm64 offers. */
#define KVM_ARM_MIN_IPA_BITS 32
#define KVM_ARM_DEFAULT_IPA_BITS 40

/* The ONE_REG id of a register hv.h names; 0 for one it does not. */
uint64_t kvm_arm_core_reg_id(enum hv_reg reg);

/* The bytes a ONE_REG value of this id takes (its size field), or 0 when a
 * snapshot cannot keep it: not an arm64 register, or wider than 128 bits
 * (SVE's, which ignition does not enable). */
unsigned kvm_arm_reg_bytes(uint64_t id);

/* Fills hv.h's named fields of st (core registers, the EL1 system registers,
 * SIMD, the timer) from st->regs, for a person and for the restore's clock;
 * fields the list lacks are left as they are. */
void kvm_arm_fill_named(struct hv_vcpu_state *st);

/* A saved register's value as a restore writes it: the virtual counter
 * continues from st->counter (the clock catch-up's), and the physical one
 * moves on by as much; every other register as saved. */
void kvm_arm_restore_value(const struct hv_vcpu_state *st, const struct hv_backend_reg *reg,
                           uint64_t out[2]);

/* Checks a saved register list against the ids this host's KVM lists for the
 * vCPU (KVM_GET_REG_LIST): each saved id must be one of them, of a size a
 * snapshot keeps, and named once. 0, or -EINVAL with the first offender in err. */
int kvm_arm_check_reg_list(const struct hv_vcpu_state *st, const uint64_t *host_ids,
                           size_t num_host_ids, char *err, size_t err_len);

/* The PSCI power state as KVM's mp_state and back; -1 for one ignition does
 * not know. */
int kvm_arm_mp_state(uint32_t power);
int kvm_arm_power(uint32_t mp_state);

/* KVM_IRQ_LINE's irq for SPI intid (32 .. 1019), or 0 for an intid that is no SPI. */
uint32_t kvm_arm_spi_line(unsigned intid);

/* kvm_run.mmio.data holds len (1, 2, 4 or 8) little-endian bytes. */
uint64_t kvm_arm_mmio_value(const uint8_t data[8], uint32_t len);
void kvm_arm_mmio_answer(uint8_t data[8], uint32_t len, uint64_t value);

/* A KVM_EXIT_SYSTEM_EVENT of this type as the exit the machine acts on:
 * true with exit filled in when the guest stops (off, reset, crash); false
 * for events that let it run on (a wakeup). */
bool kvm_arm_system_event(uint32_t type, struct hv_exit *exit);

/* The VM type KVM_CREATE_VM takes, given KVM_CAP_ARM_VM_IPA_SIZE (0: the host
 * cannot choose, 40 bits): the whole address space the host offers (less than
 * 40 bits on some hosts, so never assumed), which must reach address_top.
 * Returns the type, or -1 with a reason in err. */
long kvm_arm_vm_type(int ipa_cap, uint64_t address_top, char *err, size_t err_len);

#endif
