/* The kvm backend's snapshot parts that need no host with KVM: ONE_REG ids
 * and sizes, the named fields taken from a register list, the counter a
 * restore writes, the check of a saved list against the host's, the power
 * states, and the vGIC's register plan and message (order, omissions,
 * widths, sizes). Expected ids are written out from the ABI
 * (arch/arm64/include/uapi/asm/kvm.h), not computed the way the code does. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "hv/kvm_arm.h"
#include "hv/kvm_vgic.h"
#include "unit.h"

static struct hv_vcpu_state st;
static char err[256];

static void add_reg(uint64_t id, uint64_t lo, uint64_t hi)
{
    st.regs[st.num_regs++] = (struct hv_backend_reg){.id = id, .value = {lo, hi}};
}

START_TEST(test_register_ids_and_sizes)
{
    /* SCTLR_EL1 (3,0,1,0,0) and the timer as the ABI spells them. */
    ck_assert_uint_eq(KVM_ARM_SYSREG(3, 0, 1, 0, 0), 0x603000000013c080ull);
    ck_assert_uint_eq(KVM_ARM_TIMER_CTL, 0x603000000013df19ull);
    ck_assert_uint_eq(KVM_ARM_TIMER_CNT, 0x603000000013df1aull);
    ck_assert_uint_eq(KVM_ARM_TIMER_CVAL, 0x603000000013df02ull);
    ck_assert_uint_eq(kvm_arm_reg_bytes(0x6030000000100000ull), 8);   /* x0 */
    ck_assert_uint_eq(kvm_arm_reg_bytes(0x6040000000100054ull), 16);  /* v0 */
    ck_assert_uint_eq(kvm_arm_reg_bytes(0x60200000001000d4ull), 4);   /* fpsr */
    ck_assert_uint_eq(kvm_arm_reg_bytes(0x6080000000150000ull), 0);   /* SVE z0: 256 bytes */
    ck_assert_uint_eq(kvm_arm_reg_bytes(0x4030000000100000ull), 0);   /* not arm64 */
}
END_TEST

START_TEST(test_named_fields_come_from_the_list)
{
    memset(&st, 0, sizeof(st));
    add_reg(0x6030000000100000ull, 0x1111, 0);                 /* x0 */
    add_reg(0x603000000010003cull, 0x3030, 0);                 /* x30 */
    add_reg(0x603000000010003eull, 0x5e0, 0);                  /* sp (SP_EL0) */
    add_reg(0x6030000000100040ull, 0xffff800080001000ull, 0);  /* pc */
    add_reg(0x6030000000100042ull, 0x3c5, 0);                  /* pstate */
    add_reg(0x6030000000100044ull, 0x5e1, 0);                  /* sp_el1 */
    add_reg(0x6030000000100046ull, 0xe11, 0);                  /* elr_el1 */
    add_reg(0x6030000000100048ull, 0x5b5, 0);                  /* spsr[EL1] */
    add_reg(0x6040000000100054ull, 1, 2);                      /* v0 */
    add_reg(0x60400000001000d0ull, 3, 4);                      /* v31 */
    add_reg(0x60200000001000d4ull, 0xf5, 0);                   /* fpsr */
    add_reg(0x60200000001000d5ull, 0xfc, 0);                   /* fpcr */
    add_reg(0x603000000013c080ull, 0x30d0198d, 0);             /* SCTLR_EL1 */
    add_reg(0x603000000013c101ull, 0x7777, 0);                 /* TTBR1_EL1 */
    add_reg(KVM_ARM_TIMER_CNT, 123456789, 0);
    add_reg(KVM_ARM_TIMER_CVAL, 123999999, 0);
    add_reg(KVM_ARM_TIMER_CTL, 1, 0);
    add_reg(0x603000000013c000ull, 0x410fd083, 0);             /* MIDR: no field */
    kvm_arm_fill_named(&st);
    ck_assert_uint_eq(st.x[0], 0x1111);
    ck_assert_uint_eq(st.x[30], 0x3030);
    ck_assert_uint_eq(st.sp_el0, 0x5e0);
    ck_assert_uint_eq(st.pc, 0xffff800080001000ull);
    ck_assert_uint_eq(st.pstate, 0x3c5);
    ck_assert_uint_eq(st.sp_el1, 0x5e1);
    ck_assert_uint_eq(st.elr_el1, 0xe11);
    ck_assert_uint_eq(st.spsr_el1, 0x5b5);
    ck_assert_uint_eq(st.v[0][0], 1);
    ck_assert_uint_eq(st.v[0][1], 2);
    ck_assert_uint_eq(st.v[31][1], 4);
    ck_assert_uint_eq(st.fpsr, 0xf5);
    ck_assert_uint_eq(st.fpcr, 0xfc);
    ck_assert_uint_eq(st.sctlr_el1, 0x30d0198d);
    ck_assert_uint_eq(st.ttbr1_el1, 0x7777);
    ck_assert_uint_eq(st.counter, 123456789);
    ck_assert_uint_eq(st.cntv_cval, 123999999);
    ck_assert_uint_eq(st.cntv_ctl, 1);
    ck_assert_uint_eq(st.x[1], 0);
}
END_TEST

/* The virtual counter continues from `counter` (moved on by the restore's
 * catch-up); the physical one moves on by as much; others are as saved. */
START_TEST(test_restore_values_continue_the_counter)
{
    memset(&st, 0, sizeof(st));
    add_reg(KVM_ARM_TIMER_CNT, 1000, 0);
    add_reg(KVM_ARM_PTIMER_CNT, 5000, 0);
    add_reg(0x6040000000100054ull, 7, 8);
    st.counter = 1000 + 625;
    uint64_t v[2];
    kvm_arm_restore_value(&st, &st.regs[0], v);
    ck_assert_uint_eq(v[0], 1625);
    kvm_arm_restore_value(&st, &st.regs[1], v);
    ck_assert_uint_eq(v[0], 5625);
    kvm_arm_restore_value(&st, &st.regs[2], v);
    ck_assert_uint_eq(v[0], 7);
    ck_assert_uint_eq(v[1], 8);
    /* A counter near the top wraps as the hardware's does. */
    st.regs[1].value[0] = UINT64_MAX;
    kvm_arm_restore_value(&st, &st.regs[1], v);
    ck_assert_uint_eq(v[0], 624);
}
END_TEST

START_TEST(test_saved_lists_are_checked_against_the_hosts)
{
    static const uint64_t host[] = {0x6030000000100000ull, 0x6030000000100040ull,
                                    KVM_ARM_TIMER_CNT, 0x6040000000100054ull};
    memset(&st, 0, sizeof(st));
    add_reg(KVM_ARM_TIMER_CNT, 1, 0);
    add_reg(0x6030000000100000ull, 2, 0);
    ck_assert_int_eq(kvm_arm_check_reg_list(&st, host, 4, err, sizeof(err)), 0);
    add_reg(0x603000000013c000ull, 3, 0);
    ck_assert_int_eq(kvm_arm_check_reg_list(&st, host, 4, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "register 0x603000000013c000 is not one this host's KVM has");
    st.regs[2].id = 0x6030000000100000ull;
    ck_assert_int_eq(kvm_arm_check_reg_list(&st, host, 4, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "register 0x6030000000100000 is named twice");
    st.regs[2].id = 0x6080000000150000ull;
    ck_assert_int_eq(kvm_arm_check_reg_list(&st, host, 4, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "register 0x6080000000150000 is none a snapshot keeps");
    st.num_regs = HV_MAX_BACKEND_REGS + 1;
    ck_assert_int_eq(kvm_arm_check_reg_list(&st, host, 4, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_power_states)
{
    ck_assert_int_eq(kvm_arm_mp_state(HV_VCPU_ON), 0);
    ck_assert_int_eq(kvm_arm_mp_state(HV_VCPU_OFF), 5);
    ck_assert_int_eq(kvm_arm_mp_state(HV_VCPU_SUSPENDED), 10);
    ck_assert_int_eq(kvm_arm_mp_state(3), -1);
    ck_assert_int_eq(kvm_arm_power(0), HV_VCPU_ON);
    ck_assert_int_eq(kvm_arm_power(5), HV_VCPU_OFF);
    ck_assert_int_eq(kvm_arm_power(10), HV_VCPU_SUSPENDED);
    ck_assert_int_eq(kvm_arm_power(3), -1); /* HALTED: not arm64's */
}
END_TEST

/* ---- the vGIC --------------------------------------------------------------------- */

static struct kvm_vgic_slot plan[KVM_VGIC_MAX_REGS];
static struct kvm_vgic_state vgic, back;

/* The machine's vGIC: 96 interrupts, two vCPUs; every slot saved but the
 * optional ones (a host with 5 bits of priority). */
static size_t fill_vgic(void)
{
    size_t n = kvm_vgic_plan(96, 2, plan);
    memset(&vgic, 0, sizeof(vgic));
    vgic.nr_irqs = 96, vgic.num_vcpus = 2;
    for (size_t i = 0; i < n; i++)
        if (!plan[i].optional)
            vgic.regs[vgic.num_regs++] =
                (struct kvm_vgic_reg){plan[i].group, plan[i].attr, (uint32_t)(i * 2654435761u)};
    return n;
}

START_TEST(test_vgic_plan)
{
    size_t n = fill_vgic();
    ck_assert_uint_eq(n, 1 + 2 * KVM_VGIC_REGS_PER_VCPU + 2 * KVM_VGIC_REGS_PER_SPI_BLOCK);
    /* GICD_CTLR first; vCPU 1's redistributor by its MPIDR (Aff0 = 1). */
    ck_assert_uint_eq(plan[0].group, KVM_VGIC_GRP_DIST_REGS);
    ck_assert_uint_eq(plan[0].attr, 0);
    ck_assert_uint_eq(plan[1].attr, 0x10080);             /* GICR_IGROUPR0 */
    ck_assert_uint_eq(plan[15].attr, 0x100010080ull);     /* vCPU 1's */
    ck_assert_uint_eq(plan[4].group, KVM_VGIC_GRP_LEVEL_INFO);
    /* SPIs 32..63: configuration before levels before pending. */
    ck_assert_uint_eq(plan[29].attr, 0x84);   /* GICD_IGROUPR1 */
    ck_assert_uint_eq(plan[31].attr, 0xc08);  /* GICD_ICFGR2 */
    ck_assert_uint_eq(plan[33].group, KVM_VGIC_GRP_LEVEL_INFO);
    ck_assert_uint_eq(plan[33].attr, 32);
    ck_assert_uint_eq(plan[34].attr, 0x204);  /* GICD_ISPENDR1 */
    ck_assert_uint_eq(plan[44].attr, 0x6100); /* GICD_IROUTER32, low word */
    ck_assert_uint_eq(plan[45].attr, 0x6104);
    /* The CPU interfaces last: ICC_SRE_EL1 (3,0,12,12,5), then ICC_CTLR_EL1. */
    size_t cpu = n - 2 * 15;
    ck_assert_uint_eq(plan[cpu].group, KVM_VGIC_GRP_CPU_SYSREGS);
    ck_assert_uint_eq(plan[cpu].attr, 0xc665);
    ck_assert_uint_eq(plan[cpu + 1].attr, 0xc664);
    ck_assert(!plan[cpu + 7].optional && plan[cpu + 8].optional); /* AP0R0, AP0R1 */
    ck_assert_uint_eq(kvm_vgic_plan(96, 0, plan), 0);
    ck_assert_uint_eq(kvm_vgic_plan(100, 1, plan), 0);
    ck_assert_uint_eq(kvm_vgic_plan(2048, 1, plan), 0);
    ck_assert_uint_eq(kvm_vgic_plan(KVM_VGIC_MAX_IRQS, KVM_VGIC_MAX_VCPUS, plan),
                      KVM_VGIC_MAX_REGS);
}
END_TEST

START_TEST(test_vgic_state_round_trips)
{
    fill_vgic();
    ck_assert_int_eq(kvm_vgic_check(&vgic, err, sizeof(err)), 0);
    struct device_state_bytes bytes = {0};
    ck_assert_int_eq(kvm_vgic_state_encode(&vgic, &bytes), 0);
    ck_assert_int_eq(kvm_vgic_state_decode(bytes.data, bytes.len, 96, 2, &back, err,
                                           sizeof(err)), 0);
    ck_assert_uint_eq(back.num_regs, vgic.num_regs);
    ck_assert_mem_eq(back.regs, vgic.regs, vgic.num_regs * sizeof(vgic.regs[0]));
    /* Another machine's vGIC is not this one's. */
    ck_assert_int_eq(kvm_vgic_state_decode(bytes.data, bytes.len, 96, 4, &back, err,
                                           sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "the vGIC was saved with 96 interrupts and 2 vCPUs, this one has 96 "
                     "and 4");
    ck_assert_uint_eq(back.num_regs, 0);
    ck_assert_int_eq(kvm_vgic_state_decode(bytes.data, bytes.len / 2, 96, 2, &back, err,
                                           sizeof(err)), -EINVAL);
    device_state_bytes_free(&bytes);
}
END_TEST

START_TEST(test_vgic_states_off_the_plan_are_refused)
{
    fill_vgic();
    struct kvm_vgic_reg r = vgic.regs[3];
    vgic.regs[3] = vgic.regs[4], vgic.regs[4] = r; /* levels before configuration */
    ck_assert_int_eq(kvm_vgic_check(&vgic, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "the vGIC's register 3 (line level 0) is not the one expected there");
    fill_vgic();
    vgic.num_regs--; /* vCPU 1's ICC_AP1R0_EL1 missing */
    ck_assert_int_eq(kvm_vgic_check(&vgic, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "the vGIC's state lacks its CPU interface register 0x10000c648");
    fill_vgic();
    vgic.regs[10].value = 1ull << 32;
    ck_assert_int_eq(kvm_vgic_check(&vgic, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "the vGIC's register 10 (redistributor 0x1040c) holds more than 32 "
                     "bits");
    fill_vgic();
    vgic.regs[vgic.num_regs - 1].value = 1ull << 40; /* CPU interface registers are 64-bit */
    ck_assert_int_eq(kvm_vgic_check(&vgic, err, sizeof(err)), 0);
    vgic.regs[0].group = 2; /* GICv2's CPU registers */
    ck_assert_int_eq(kvm_vgic_check(&vgic, err, sizeof(err)), -EINVAL);
    fill_vgic();
    vgic.num_vcpus = 65;
    ck_assert_int_eq(kvm_vgic_check(&vgic, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "a vGIC of 96 interrupts and 65 vCPUs is none KVM makes");
}
END_TEST

static Suite *kvm_snapshot_suite(void)
{
    Suite *s = suite_create("kvm_snapshot");
    TCase *tc = tcase_create("state");
    tcase_add_test(tc, test_register_ids_and_sizes);
    tcase_add_test(tc, test_named_fields_come_from_the_list);
    tcase_add_test(tc, test_restore_values_continue_the_counter);
    tcase_add_test(tc, test_saved_lists_are_checked_against_the_hosts);
    tcase_add_test(tc, test_power_states);
    tcase_add_test(tc, test_vgic_plan);
    tcase_add_test(tc, test_vgic_state_round_trips);
    tcase_add_test(tc, test_vgic_states_off_the_plan_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(kvm_snapshot_suite());
}
