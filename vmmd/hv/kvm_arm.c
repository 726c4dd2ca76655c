#include "hv/kvm_arm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A 64-bit core register's id, as a constant for tables. */
#define core_id_const(word) (KVM_ARM_REG_ARM64 | KVM_ARM_REG_SIZE_U64 | KVM_ARM_REG_CORE | (word))

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

/* ---- the register file ------------------------------------------------------------ */

unsigned kvm_arm_reg_bytes(uint64_t id)
{
    if ((id & KVM_ARM_REG_ARCH_MASK) != KVM_ARM_REG_ARM64)
        return 0;
    unsigned shift = (unsigned)((id & KVM_ARM_REG_SIZE_MASK) >> KVM_ARM_REG_SIZE_SHIFT);
    return shift <= 4 ? 1u << shift : 0; /* U8 .. U128 */
}

/* hv.h's named 64-bit fields and the registers that hold them. */
static const struct {
    uint64_t id;
    size_t field;
} named_regs[] = {
    {KVM_ARM_SYSREG(3, 0, 1, 0, 0), offsetof(struct hv_vcpu_state, sctlr_el1)},
    {KVM_ARM_SYSREG(3, 0, 2, 0, 2), offsetof(struct hv_vcpu_state, tcr_el1)},
    {KVM_ARM_SYSREG(3, 0, 2, 0, 0), offsetof(struct hv_vcpu_state, ttbr0_el1)},
    {KVM_ARM_SYSREG(3, 0, 2, 0, 1), offsetof(struct hv_vcpu_state, ttbr1_el1)},
    {KVM_ARM_SYSREG(3, 0, 10, 2, 0), offsetof(struct hv_vcpu_state, mair_el1)},
    {KVM_ARM_SYSREG(3, 0, 10, 3, 0), offsetof(struct hv_vcpu_state, amair_el1)},
    {KVM_ARM_SYSREG(3, 0, 12, 0, 0), offsetof(struct hv_vcpu_state, vbar_el1)},
    {KVM_ARM_SYSREG(3, 0, 5, 2, 0), offsetof(struct hv_vcpu_state, esr_el1)},
    {KVM_ARM_SYSREG(3, 0, 6, 0, 0), offsetof(struct hv_vcpu_state, far_el1)},
    {KVM_ARM_SYSREG(3, 0, 13, 0, 1), offsetof(struct hv_vcpu_state, contextidr_el1)},
    {KVM_ARM_SYSREG(3, 0, 1, 0, 2), offsetof(struct hv_vcpu_state, cpacr_el1)},
    {KVM_ARM_SYSREG(3, 0, 14, 1, 0), offsetof(struct hv_vcpu_state, cntkctl_el1)},
    {KVM_ARM_SYSREG(3, 0, 7, 4, 0), offsetof(struct hv_vcpu_state, par_el1)},
    {KVM_ARM_SYSREG(3, 0, 5, 1, 0), offsetof(struct hv_vcpu_state, afsr0_el1)},
    {KVM_ARM_SYSREG(3, 0, 5, 1, 1), offsetof(struct hv_vcpu_state, afsr1_el1)},
    {KVM_ARM_SYSREG(2, 0, 0, 2, 2), offsetof(struct hv_vcpu_state, mdscr_el1)},
    {KVM_ARM_SYSREG(3, 2, 0, 0, 0), offsetof(struct hv_vcpu_state, csselr_el1)},
    {KVM_ARM_SYSREG(3, 3, 13, 0, 2), offsetof(struct hv_vcpu_state, tpidr_el0)},
    {KVM_ARM_SYSREG(3, 3, 13, 0, 3), offsetof(struct hv_vcpu_state, tpidrro_el0)},
    {KVM_ARM_SYSREG(3, 0, 13, 0, 4), offsetof(struct hv_vcpu_state, tpidr_el1)},
    {KVM_ARM_TIMER_CTL, offsetof(struct hv_vcpu_state, cntv_ctl)},
    {KVM_ARM_TIMER_CVAL, offsetof(struct hv_vcpu_state, cntv_cval)},
    {KVM_ARM_TIMER_CNT, offsetof(struct hv_vcpu_state, counter)},
    {KVM_ARM_PTIMER_CTL, offsetof(struct hv_vcpu_state, cntp_ctl)},
    {KVM_ARM_PTIMER_CVAL, offsetof(struct hv_vcpu_state, cntp_cval)},
    {core_id_const(KVM_ARM_CORE_SP_EL0_WORD), offsetof(struct hv_vcpu_state, sp_el0)},
    {core_id_const(KVM_ARM_CORE_PC_WORD), offsetof(struct hv_vcpu_state, pc)},
    {core_id_const(KVM_ARM_CORE_PSTATE_WORD), offsetof(struct hv_vcpu_state, pstate)},
    {core_id_const(KVM_ARM_CORE_SP_EL1_WORD), offsetof(struct hv_vcpu_state, sp_el1)},
    {core_id_const(KVM_ARM_CORE_ELR_EL1_WORD), offsetof(struct hv_vcpu_state, elr_el1)},
    {core_id_const(KVM_ARM_CORE_SPSR_EL1_WORD), offsetof(struct hv_vcpu_state, spsr_el1)},
};

/* Fills one named field from reg, if reg is one; false otherwise. */
static bool fill_from(struct hv_vcpu_state *st, const struct hv_backend_reg *reg)
{
    uint64_t id = reg->id;
    uint64_t core_words = id & ~(KVM_ARM_REG_SIZE_MASK | 0xffffull);
    if (core_words == (KVM_ARM_REG_ARM64 | KVM_ARM_REG_CORE)) {
        unsigned word = (unsigned)(id & 0xffff);
        uint64_t size = id & KVM_ARM_REG_SIZE_MASK;
        if (size == KVM_ARM_REG_SIZE_U64 && word <= 60 && word % 2 == 0) {
            st->x[word / 2] = reg->value[0];
            return true;
        }
        if (size == KVM_ARM_REG_SIZE_U128 && word >= KVM_ARM_CORE_V0_WORD &&
            word < KVM_ARM_CORE_V0_WORD + 4 * 32 && (word - KVM_ARM_CORE_V0_WORD) % 4 == 0) {
            unsigned v = (word - KVM_ARM_CORE_V0_WORD) / 4;
            st->v[v][0] = reg->value[0], st->v[v][1] = reg->value[1];
            return true;
        }
        if (size == KVM_ARM_REG_SIZE_U32 && word == KVM_ARM_CORE_FPSR_WORD) {
            st->fpsr = reg->value[0];
            return true;
        }
        if (size == KVM_ARM_REG_SIZE_U32 && word == KVM_ARM_CORE_FPCR_WORD) {
            st->fpcr = reg->value[0];
            return true;
        }
    }
    for (size_t i = 0; i < sizeof(named_regs) / sizeof(named_regs[0]); i++) {
        if (named_regs[i].id == id) {
            memcpy((uint8_t *)st + named_regs[i].field, &reg->value[0], sizeof(uint64_t));
            return true;
        }
    }
    return false;
}

void kvm_arm_fill_named(struct hv_vcpu_state *st)
{
    for (uint32_t i = 0; i < st->num_regs && i < HV_MAX_BACKEND_REGS; i++)
        fill_from(st, &st->regs[i]);
}

/* The virtual counter's value in the list, if it has one. */
static bool saved_virtual_count(const struct hv_vcpu_state *st, uint64_t *count)
{
    for (uint32_t i = 0; i < st->num_regs && i < HV_MAX_BACKEND_REGS; i++) {
        if (st->regs[i].id == KVM_ARM_TIMER_CNT) {
            *count = st->regs[i].value[0];
            return true;
        }
    }
    return false;
}

void kvm_arm_restore_value(const struct hv_vcpu_state *st, const struct hv_backend_reg *reg,
                           uint64_t out[2])
{
    out[0] = reg->value[0], out[1] = reg->value[1];
    uint64_t saved;
    if (reg->id == KVM_ARM_TIMER_CNT)
        out[0] = st->counter;
    else if (reg->id == KVM_ARM_PTIMER_CNT && saved_virtual_count(st, &saved))
        out[0] = reg->value[0] + (st->counter - saved); /* modulo 2^64, as the counter wraps */
}

static int compare_ids(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int kvm_arm_check_reg_list(const struct hv_vcpu_state *st, const uint64_t *host_ids,
                           size_t num_host_ids, char *err, size_t err_len)
{
    if (st->num_regs > HV_MAX_BACKEND_REGS) {
        snprintf(err, err_len, "%u registers, more than %d", st->num_regs, HV_MAX_BACKEND_REGS);
        return -EINVAL;
    }
    uint64_t *saved = malloc((st->num_regs ? st->num_regs : 1) * sizeof(*saved));
    uint64_t *host = malloc((num_host_ids ? num_host_ids : 1) * sizeof(*host));
    int rc = saved && host ? 0 : -ENOMEM;
    if (rc == 0) {
        for (uint32_t i = 0; i < st->num_regs; i++)
            saved[i] = st->regs[i].id;
        memcpy(host, host_ids, num_host_ids * sizeof(*host));
        qsort(saved, st->num_regs, sizeof(*saved), compare_ids);
        qsort(host, num_host_ids, sizeof(*host), compare_ids);
    }
    for (uint32_t i = 0; rc == 0 && i < st->num_regs; i++) {
        uint64_t id = saved[i];
        if (kvm_arm_reg_bytes(id) == 0 || kvm_arm_reg_bytes(id) > 16) {
            snprintf(err, err_len, "register %#llx is none a snapshot keeps",
                     (unsigned long long)id);
            rc = -EINVAL;
        } else if (i > 0 && saved[i - 1] == id) {
            snprintf(err, err_len, "register %#llx is named twice", (unsigned long long)id);
            rc = -EINVAL;
        } else if (!bsearch(&id, host, num_host_ids, sizeof(*host), compare_ids)) {
            snprintf(err, err_len, "register %#llx is not one this host's KVM has",
                     (unsigned long long)id);
            rc = -EINVAL;
        }
    }
    free(saved);
    free(host);
    return rc;
}

int kvm_arm_mp_state(uint32_t power)
{
    switch (power) {
    case HV_VCPU_ON:
        return KVM_ARM_MP_STATE_RUNNABLE;
    case HV_VCPU_OFF:
        return KVM_ARM_MP_STATE_STOPPED;
    case HV_VCPU_SUSPENDED:
        return KVM_ARM_MP_STATE_SUSPENDED;
    default:
        return -1;
    }
}

int kvm_arm_power(uint32_t mp_state)
{
    switch (mp_state) {
    case KVM_ARM_MP_STATE_RUNNABLE:
        return HV_VCPU_ON;
    case KVM_ARM_MP_STATE_STOPPED:
        return HV_VCPU_OFF;
    case KVM_ARM_MP_STATE_SUSPENDED:
        return HV_VCPU_SUSPENDED;
    default:
        return -1;
    }
}
