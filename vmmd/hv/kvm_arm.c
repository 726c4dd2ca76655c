#include "hv/kvm_arm.h"

#include <stdio.h>

uint64_t kvm_arm_core_reg_id(enum hv_reg reg)
{
    unsigned word;
    if (reg >= HV_REG_X0 && reg <= HV_REG_X0 + 30)
        word = KVM_ARM_CORE_X0_WORD + 2 * (unsigned)(reg - HV_REG_X0);
    else if (reg == HV_REG_SP)
        word = KVM_ARM_CORE_SP_EL1_WORD;
    else if (reg == HV_REG_PC)
        word = KVM_ARM_CORE_PC_WORD;
    else if (reg == HV_REG_PSTATE)
        word = KVM_ARM_CORE_PSTATE_WORD;
    else
        return 0;
    return KVM_ARM_REG_ARM64 | KVM_ARM_REG_SIZE_U64 | KVM_ARM_REG_CORE | word;
}

uint32_t kvm_arm_spi_line(unsigned intid)
{
    if (intid < 32 || intid > 1019)
        return 0;
    return (uint32_t)KVM_ARM_IRQ_TYPE_SPI_ << KVM_ARM_IRQ_TYPE_SHIFT_ | intid;
}

static uint32_t clamp_len(uint32_t len)
{
    return len > 8 ? 8 : len;
}

uint64_t kvm_arm_mmio_value(const uint8_t data[8], uint32_t len)
{
    uint64_t value = 0;
    for (uint32_t i = 0; i < clamp_len(len); i++)
        value |= (uint64_t)data[i] << (8 * i);
    return value;
}

void kvm_arm_mmio_answer(uint8_t data[8], uint32_t len, uint64_t value)
{
    for (uint32_t i = 0; i < clamp_len(len); i++)
        data[i] = (uint8_t)(value >> (8 * i));
}

bool kvm_arm_system_event(uint32_t type, struct hv_exit *exit)
{
    switch (type) {
    case 1: /* KVM_SYSTEM_EVENT_SHUTDOWN: PSCI SYSTEM_OFF, or the last CPU_OFF */
        exit->reason = HV_EXIT_SYSTEM_OFF;
        return true;
    case 2: /* KVM_SYSTEM_EVENT_RESET: PSCI SYSTEM_RESET */
        exit->reason = HV_EXIT_SYSTEM_RESET;
        return true;
    case 3: /* KVM_SYSTEM_EVENT_CRASH */
        exit->reason = HV_EXIT_ERROR;
        snprintf(exit->message, sizeof(exit->message), "the guest reported a crash to PSCI");
        return true;
    case 4: /* KVM_SYSTEM_EVENT_WAKEUP: a vCPU leaves a suspend; run it again */
        return false;
    default:
        exit->reason = HV_EXIT_ERROR;
        snprintf(exit->message, sizeof(exit->message),
                 "KVM reported a system event of type %u, which ignition does not handle",
                 type);
        return true;
    }
}

static unsigned bits_for(uint64_t address_top)
{
    unsigned bits = 0;
    while (bits < 64 && (bits == 0 || (1ull << bits) < address_top))
        bits++;
    return bits;
}

long kvm_arm_vm_type(int ipa_cap, uint64_t address_top, char *err, size_t err_len)
{
    unsigned need = bits_for(address_top);
    unsigned have = ipa_cap > 0 ? (unsigned)ipa_cap : KVM_ARM_DEFAULT_IPA_BITS;
    if (ipa_cap > 0 && (ipa_cap < KVM_ARM_MIN_IPA_BITS || ipa_cap > 52)) {
        snprintf(err, err_len, "KVM offers a %d-bit guest address space, which no arm64 "
                 "host has", ipa_cap);
        return -1;
    }
    if (need > have) {
        snprintf(err, err_len, "the guest's memory reaches %u address bits; this host's KVM "
                 "offers %u (give the guest less memory)", need, have);
        return -1;
    }
    return ipa_cap > 0 ? (long)have : 0; /* KVM_VM_TYPE_ARM_IPA_SIZE(have), or the default */
}
