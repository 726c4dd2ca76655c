/* The kvm backend's host-independent half: the ids, lines and encodings it
 * hands KVM must be the kernel's ABI (Documentation/virt/kvm/api.rst). Each
 * expected value here is written out from the ABI, not computed the way the
 * code computes it; kvm.c also checks the constants against the kernel's
 * headers where it builds (arm64 Linux). */
#include <check.h>
#include <string.h>

#include "hv/kvm_arm.h"
#include "unit.h"

/* KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | offset in 32-bit words
 * of struct kvm_regs { struct user_pt_regs { x[31], sp, pc, pstate }, sp_el1 }. */
START_TEST(test_core_register_ids)
{
    ck_assert_uint_eq(kvm_arm_core_reg_id(HV_REG_X0), 0x6030000000100000ull);
    ck_assert_uint_eq(kvm_arm_core_reg_id(HV_REG_X0 + 1), 0x6030000000100002ull);
    ck_assert_uint_eq(kvm_arm_core_reg_id(HV_REG_X0 + 30), 0x603000000010003cull);
    ck_assert_uint_eq(kvm_arm_core_reg_id(HV_REG_PC), 0x6030000000100040ull);
    ck_assert_uint_eq(kvm_arm_core_reg_id(HV_REG_PSTATE), 0x6030000000100042ull);
    /* hv.h's SP is SP_EL1 (the kernel's stack at EL1h), not user_pt_regs.sp. */
    ck_assert_uint_eq(kvm_arm_core_reg_id(HV_REG_SP), 0x6030000000100044ull);
    ck_assert_uint_eq(kvm_arm_core_reg_id(HV_REG_COUNT), 0);
    ck_assert_uint_eq(kvm_arm_core_reg_id((enum hv_reg)1000), 0);
}
END_TEST

/* irq_type 1 (SPI) in bits 24..27, the INTID itself in bits 0..15. */
START_TEST(test_spi_lines)
{
    ck_assert_uint_eq(kvm_arm_spi_line(32), 0x01000020u);
    ck_assert_uint_eq(kvm_arm_spi_line(48 + 3), 0x01000033u);
    ck_assert_uint_eq(kvm_arm_spi_line(1019), 0x010003fbu);
    /* SGIs and PPIs are no device's lines; 1020.. are special INTIDs. */
    ck_assert_uint_eq(kvm_arm_spi_line(0), 0);
    ck_assert_uint_eq(kvm_arm_spi_line(27), 0);
    ck_assert_uint_eq(kvm_arm_spi_line(31), 0);
    ck_assert_uint_eq(kvm_arm_spi_line(1020), 0);
    ck_assert_uint_eq(kvm_arm_spi_line(~0u), 0);
}
END_TEST

START_TEST(test_mmio_data_is_little_endian)
{
    const uint8_t data[8] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
    ck_assert_uint_eq(kvm_arm_mmio_value(data, 1), 0x11);
    ck_assert_uint_eq(kvm_arm_mmio_value(data, 2), 0x2211);
    ck_assert_uint_eq(kvm_arm_mmio_value(data, 4), 0x44332211);
    ck_assert_uint_eq(kvm_arm_mmio_value(data, 8), 0x8877665544332211ull);
    /* A length the kernel never sends reads no more than the 8 bytes there are. */
    ck_assert_uint_eq(kvm_arm_mmio_value(data, 64), 0x8877665544332211ull);
}
END_TEST

START_TEST(test_mmio_answer_fills_only_len_bytes)
{
    uint8_t data[8];
    memset(data, 0xee, sizeof(data));
    kvm_arm_mmio_answer(data, 2, 0xa1b2c3d4);
    const uint8_t two[8] = {0xd4, 0xc3, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee};
    ck_assert_mem_eq(data, two, 8);
    kvm_arm_mmio_answer(data, 8, 0x0102030405060708ull);
    const uint8_t eight[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    ck_assert_mem_eq(data, eight, 8);
    kvm_arm_mmio_answer(data, 4096, 0); /* bounded by the buffer */
    const uint8_t zero[8] = {0};
    ck_assert_mem_eq(data, zero, 8);
}
END_TEST

/* KVM_SYSTEM_EVENT_SHUTDOWN 1, RESET 2, CRASH 3, WAKEUP 4. */
START_TEST(test_system_events)
{
    struct hv_exit e;
    memset(&e, 0, sizeof(e));
    ck_assert(kvm_arm_system_event(1, &e));
    ck_assert_int_eq(e.reason, HV_EXIT_SYSTEM_OFF);
    ck_assert(kvm_arm_system_event(2, &e));
    ck_assert_int_eq(e.reason, HV_EXIT_SYSTEM_RESET);
    ck_assert(kvm_arm_system_event(3, &e));
    ck_assert_int_eq(e.reason, HV_EXIT_ERROR);
    ck_assert_ptr_nonnull(strstr(e.message, "crash"));
    memset(&e, 0, sizeof(e));
    ck_assert(!kvm_arm_system_event(4, &e)); /* a wakeup runs on */
    ck_assert(kvm_arm_system_event(99, &e));
    ck_assert_int_eq(e.reason, HV_EXIT_ERROR);
    ck_assert_ptr_nonnull(strstr(e.message, "99"));
}
END_TEST

START_TEST(test_vm_type_is_the_hosts_address_space)
{
    char err[160];
    const uint64_t ram_top = 0x40000000ull + (1ull << 30); /* 1G at 1G: 31 bits */
    /* No KVM_CAP_ARM_VM_IPA_SIZE: the default type, 40 bits. */
    ck_assert_int_eq(kvm_arm_vm_type(0, ram_top, err, sizeof(err)), 0);
    ck_assert_int_eq(kvm_arm_vm_type(48, ram_top, err, sizeof(err)), 48);
    ck_assert_int_eq(kvm_arm_vm_type(52, ram_top, err, sizeof(err)), 52);
    /* Apple M1 under Linux offers 36 bits: less than the default, still enough. */
    ck_assert_int_eq(kvm_arm_vm_type(36, ram_top, err, sizeof(err)), 36);
    /* 64G of RAM at 1G needs 37 bits. */
    const uint64_t big_top = 0x40000000ull + (64ull << 30);
    ck_assert_int_eq(kvm_arm_vm_type(36, big_top, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "37"));
    ck_assert_int_eq(kvm_arm_vm_type(37, big_top, err, sizeof(err)), 37);
    ck_assert_int_eq(kvm_arm_vm_type(0, big_top, err, sizeof(err)), 0);
    /* Nonsense from the host is refused, not passed on. */
    ck_assert_int_eq(kvm_arm_vm_type(20, ram_top, err, sizeof(err)), -1);
    ck_assert_int_eq(kvm_arm_vm_type(64, ram_top, err, sizeof(err)), -1);
}
END_TEST

/* The device tree and the vGIC's redistributor order follow KVM's MPIDR
 * numbering: Aff0 = n % 16, Aff1 = n / 16 (arch/arm64/kvm/sys_regs.c). */
START_TEST(test_vcpu_affinity)
{
    ck_assert_uint_eq(hv_vcpu_affinity(0), 0);
    ck_assert_uint_eq(hv_vcpu_affinity(1), 1);
    ck_assert_uint_eq(hv_vcpu_affinity(15), 0xf);
    ck_assert_uint_eq(hv_vcpu_affinity(16), 0x100);
    ck_assert_uint_eq(hv_vcpu_affinity(63), 0x30f);
    ck_assert_uint_eq(hv_vcpu_affinity(4096), 0x10000);
}
END_TEST

static Suite *kvm_arm_suite(void)
{
    Suite *s = suite_create("kvm_arm");
    TCase *tc = tcase_create("abi");
    tcase_add_test(tc, test_core_register_ids);
    tcase_add_test(tc, test_spi_lines);
    tcase_add_test(tc, test_mmio_data_is_little_endian);
    tcase_add_test(tc, test_mmio_answer_fills_only_len_bytes);
    tcase_add_test(tc, test_system_events);
    tcase_add_test(tc, test_vm_type_is_the_hosts_address_space);
    tcase_add_test(tc, test_vcpu_affinity);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(kvm_arm_suite());
}
