/* PSCI as Linux's drivers/firmware/psci uses it at boot, at CPU bring-up and at
 * poweroff/reboot. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "machine/psci.h"
#include "unit.h"

#define SMCCC_VERSION 0x80000000u /* Linux asks PSCI_FEATURES about it */
#define RESULT_UNSET 0x5555555555555555ull

struct call {
    enum hv_call_result action;
    uint64_t x0;
};

static struct call call(uint64_t function, uint64_t arg1)
{
    const uint64_t args[4] = {function, arg1, 0, 0};
    struct call c = {.x0 = RESULT_UNSET};
    c.action = psci_call(args, &c.x0);
    return c;
}

START_TEST(test_version_is_1_0)
{
    struct call c = call(PSCI_VERSION, 0);
    ck_assert_uint_eq(c.x0, 0x10000);
    ck_assert_int_eq(c.action, HV_CALL_CONTINUE);
}
END_TEST

START_TEST(test_function_id_is_w0)
{
    /* SMCCC passes the function ID in w0; the upper half of x0 is not part of it. */
    struct call c = call(0xffffffff00000000ull | PSCI_VERSION, 0);
    ck_assert_uint_eq(c.x0, 0x10000);
}
END_TEST

START_TEST(test_features_of_supported_functions)
{
    const uint32_t supported[] = {PSCI_VERSION, PSCI_CPU_ON_64, PSCI_CPU_OFF,
                                  PSCI_AFFINITY_INFO_64, PSCI_MIGRATE_INFO_TYPE,
                                  PSCI_SYSTEM_OFF, PSCI_SYSTEM_RESET, PSCI_FEATURES};
    for (size_t i = 0; i < sizeof(supported) / sizeof(supported[0]); i++) {
        struct call c = call(PSCI_FEATURES, supported[i]);
        ck_assert_msg(c.x0 == PSCI_RET_SUCCESS, "FEATURES(0x%x) = 0x%llx", supported[i],
                      (unsigned long long)c.x0);
        ck_assert_int_eq(c.action, HV_CALL_CONTINUE);
    }
}
END_TEST

START_TEST(test_features_of_unknown_function)
{
    /* The sign-extended -1 in x0 is what Linux compares against. */
    ck_assert_uint_eq(call(PSCI_FEATURES, 0x84000042u).x0, UINT64_MAX);
    ck_assert_uint_eq(call(PSCI_FEATURES, SMCCC_VERSION).x0, (uint64_t)(int64_t)-1);
}
END_TEST

START_TEST(test_migrate_info_type_no_trusted_os)
{
    ck_assert_uint_eq(call(PSCI_MIGRATE_INFO_TYPE, 0).x0, 2);
}
END_TEST

START_TEST(test_cpu_on_boot_cpu_already_on)
{
    struct call c = call(PSCI_CPU_ON_64, 0);
    ck_assert_uint_eq(c.x0, (uint64_t)(int64_t)PSCI_RET_ALREADY_ON);
    ck_assert_int_eq(c.action, HV_CALL_CONTINUE);
}
END_TEST

START_TEST(test_cpu_on_other_cpu_invalid)
{
    ck_assert_uint_eq(call(PSCI_CPU_ON_64, 1).x0, (uint64_t)(int64_t)PSCI_RET_INVALID_PARAMS);
    ck_assert_uint_eq(call(PSCI_CPU_ON_64, 0x100).x0,
                      (uint64_t)(int64_t)PSCI_RET_INVALID_PARAMS);
}
END_TEST

START_TEST(test_affinity_info)
{
    ck_assert_uint_eq(call(PSCI_AFFINITY_INFO_64, 0).x0, 0); /* ON */
    ck_assert_uint_eq(call(PSCI_AFFINITY_INFO_64, 1).x0,
                      (uint64_t)(int64_t)PSCI_RET_INVALID_PARAMS);
}
END_TEST

START_TEST(test_system_off)
{
    ck_assert_int_eq(call(PSCI_SYSTEM_OFF, 0).action, HV_CALL_SYSTEM_OFF);
}
END_TEST

START_TEST(test_system_reset)
{
    ck_assert_int_eq(call(PSCI_SYSTEM_RESET, 0).action, HV_CALL_SYSTEM_RESET);
}
END_TEST

START_TEST(test_cpu_off_of_last_cpu_is_system_off)
{
    ck_assert_int_eq(call(PSCI_CPU_OFF, 0).action, HV_CALL_SYSTEM_OFF);
}
END_TEST

START_TEST(test_unknown_function_not_supported)
{
    struct call c = call(0x84000099u, 0);
    ck_assert_uint_eq(c.x0, (uint64_t)(int64_t)PSCI_RET_NOT_SUPPORTED);
    ck_assert_int_eq(c.action, HV_CALL_CONTINUE);
    /* SMC32 CPU_ON is not implemented either; Linux uses the 64-bit one. */
    c = call(0x84000003u, 0);
    ck_assert_uint_eq(c.x0, (uint64_t)(int64_t)PSCI_RET_NOT_SUPPORTED);
    ck_assert_int_eq(c.action, HV_CALL_CONTINUE);
}
END_TEST

static Suite *psci_suite(void)
{
    Suite *s = suite_create("psci");
    TCase *tc = tcase_create("calls");
    tcase_add_test(tc, test_version_is_1_0);
    tcase_add_test(tc, test_function_id_is_w0);
    tcase_add_test(tc, test_features_of_supported_functions);
    tcase_add_test(tc, test_features_of_unknown_function);
    tcase_add_test(tc, test_migrate_info_type_no_trusted_os);
    tcase_add_test(tc, test_cpu_on_boot_cpu_already_on);
    tcase_add_test(tc, test_cpu_on_other_cpu_invalid);
    tcase_add_test(tc, test_affinity_info);
    tcase_add_test(tc, test_system_off);
    tcase_add_test(tc, test_system_reset);
    tcase_add_test(tc, test_cpu_off_of_last_cpu_is_system_off);
    tcase_add_test(tc, test_unknown_function_not_supported);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(psci_suite());
}
