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
#define KVM_ARM_REG_SIZE_U64 0x0030000000000000ull
#define KVM_ARM_REG_CORE (0x0010ull << 16)
/* struct kvm_regs: user_pt_regs {x0..x30, sp (SP_EL0), pc, pstate}, then
 * sp_el1, elr_el1, spsr[5], ...; core register ids count 32-bit words. */
#define KVM_ARM_CORE_X0_WORD 0
#define KVM_ARM_CORE_SP_EL0_WORD 62
#define KVM_ARM_CORE_PC_WORD 64
#define KVM_ARM_CORE_PSTATE_WORD 66
#define KVM_ARM_CORE_SP_EL1_WORD 68

/* KVM_IRQ_LINE's irq field: vcpu2_index:4, irq_type:8, vcpu_index:8, irq_id:16. */
#define KVM_ARM_IRQ_TYPE_SHIFT_ 24
#define KVM_ARM_IRQ_TYPE_SPI_ 1

/* The smallest and largest guest-physical address spaces KVM/arm64 offers. */
#define KVM_ARM_MIN_IPA_BITS 32
#define KVM_ARM_DEFAULT_IPA_BITS 40

/* The ONE_REG id of a register hv.h names; 0 for one it does not. */
uint64_t kvm_arm_core_reg_id(enum hv_reg reg);

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
