/* The emulated generic timer: Linux's arm_arch_timer driver programs it through
 * TVAL/CVAL/CTL and takes the interrupt from the line; the emu loop sleeps until
 * the deadline. Time is injected, so every expectation is exact. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "devices/arch_timer.h"
#include "devices/sysreg.h"
#include "unit.h"

/* Deliberately not a multiple of 16 ns, so the counter's phase is exercised. */
#define T0 1000000007ull
#define NS(ticks) (T0 + (ticks) * ARCH_TIMER_NS_PER_TICK)

static struct arch_timer timer;

static void setup(void)
{
    arch_timer_init(&timer, T0);
}

static uint64_t rd(uint32_t reg, uint64_t now)
{
    uint64_t v = 0x5555555555555555ull;
    ck_assert_msg(arch_timer_read(&timer, reg, now, &v), "register 0x%x not handled", reg);
    return v;
}

static void wr(uint32_t reg, uint64_t now, uint64_t value)
{
    ck_assert_msg(arch_timer_write(&timer, reg, now, value), "register 0x%x not handled", reg);
}

START_TEST(test_counter_starts_at_zero)
{
    ck_assert_uint_eq(arch_timer_count(&timer, T0), 0);
    ck_assert_uint_eq(rd(CNTPCT_EL0, T0), 0);
    ck_assert_uint_eq(rd(CNTVCT_EL0, T0), 0);
}
END_TEST

START_TEST(test_counter_ticks_every_16ns)
{
    /* T0 is 7 ns into a tick: the next tick comes 9 ns later. */
    ck_assert_uint_eq(arch_timer_count(&timer, T0 + 8), 0);
    ck_assert_uint_eq(arch_timer_count(&timer, T0 + 9), 1);
    ck_assert_uint_eq(arch_timer_count(&timer, T0 + 9 + 16 * 99), 100);
    ck_assert_uint_eq(arch_timer_count(&timer, T0 + 1000000000ull), 62500000);
}
END_TEST

START_TEST(test_virtual_count_equals_physical)
{
    uint64_t now = NS(123456);
    ck_assert_uint_eq(rd(CNTVCT_EL0, now), 123456);
    ck_assert_uint_eq(rd(CNTPCT_EL0, now), 123456);
}
END_TEST

START_TEST(test_cntfrq_is_62_5_mhz)
{
    ck_assert_uint_eq(rd(CNTFRQ_EL0, T0), 62500000);
}
END_TEST

START_TEST(test_tval_read_is_distance_to_cval)
{
    wr(CNTV_CVAL_EL0, T0, 100);
    ck_assert_uint_eq(rd(CNTV_TVAL_EL0, NS(40)), 60);
    /* Past CVAL it counts down through zero: a signed 32-bit value. */
    ck_assert_int_eq((int32_t)rd(CNTV_TVAL_EL0, NS(150)), -50);
    ck_assert_uint_eq(rd(CNTV_TVAL_EL0, NS(150)) >> 32, 0); /* bits 63:32 RES0 */
}
END_TEST

START_TEST(test_tval_write_sets_cval)
{
    wr(CNTP_TVAL_EL0, NS(50), 1000);
    ck_assert_uint_eq(rd(CNTP_CVAL_EL0, NS(50)), 1050);
}
END_TEST

START_TEST(test_tval_write_is_sign_extended)
{
    wr(CNTP_TVAL_EL0, NS(50), 0xffffffffu); /* -1 */
    ck_assert_uint_eq(rd(CNTP_CVAL_EL0, NS(50)), 49);
    wr(CNTP_TVAL_EL0, NS(50), 0x80000000u); /* INT32_MIN */
    ck_assert_uint_eq(rd(CNTP_CVAL_EL0, NS(50)), 50 - 0x80000000ull);
}
END_TEST

START_TEST(test_tval_write_ignores_upper_bits)
{
    wr(CNTV_TVAL_EL0, NS(50), 0xabcd000000000005ull);
    ck_assert_uint_eq(rd(CNTV_CVAL_EL0, NS(50)), 55);
}
END_TEST

START_TEST(test_cval_round_trip)
{
    wr(CNTV_CVAL_EL0, T0, 0x123456789abcdefull);
    ck_assert_uint_eq(rd(CNTV_CVAL_EL0, T0), 0x123456789abcdefull);
}
END_TEST

START_TEST(test_ctl_istatus_computed)
{
    wr(CNTV_CVAL_EL0, T0, 100);
    wr(CNTV_CTL_EL0, T0, CNT_CTL_ENABLE);
    ck_assert_uint_eq(rd(CNTV_CTL_EL0, NS(99)), CNT_CTL_ENABLE);
    ck_assert_uint_eq(rd(CNTV_CTL_EL0, NS(100)), CNT_CTL_ENABLE | CNT_CTL_ISTATUS);
}
END_TEST

START_TEST(test_ctl_istatus_set_even_when_masked)
{
    /* Linux's handler reads ISTATUS with IMASK set after it masked the timer. */
    wr(CNTP_CVAL_EL0, T0, 10);
    wr(CNTP_CTL_EL0, T0, CNT_CTL_ENABLE | CNT_CTL_IMASK);
    ck_assert_uint_eq(rd(CNTP_CTL_EL0, NS(10)), CNT_CTL_ENABLE | CNT_CTL_IMASK | CNT_CTL_ISTATUS);
}
END_TEST

START_TEST(test_ctl_istatus_clear_when_disabled)
{
    wr(CNTP_CVAL_EL0, T0, 10);
    wr(CNTP_CTL_EL0, T0, 0);
    ck_assert_uint_eq(rd(CNTP_CTL_EL0, NS(20)) & CNT_CTL_ISTATUS, 0);
}
END_TEST

START_TEST(test_ctl_istatus_not_writable)
{
    wr(CNTV_CVAL_EL0, T0, 1000);
    wr(CNTV_CTL_EL0, T0, 0xffffffffffffffffull);
    ck_assert_uint_eq(rd(CNTV_CTL_EL0, NS(1)), CNT_CTL_ENABLE | CNT_CTL_IMASK);
}
END_TEST

START_TEST(test_line_needs_enable_unmasked_and_expired)
{
    struct arch_timer_channel c = {.ctl = CNT_CTL_ENABLE, .cval = 100};
    ck_assert(!arch_timer_line(&c, 99));
    ck_assert(arch_timer_line(&c, 100));
    ck_assert(arch_timer_line(&c, 101));
    c.ctl = CNT_CTL_ENABLE | CNT_CTL_IMASK;
    ck_assert(!arch_timer_line(&c, 200));
    c.ctl = 0;
    ck_assert(!arch_timer_line(&c, 200));
}
END_TEST

START_TEST(test_channels_independent)
{
    wr(CNTP_CVAL_EL0, T0, 10);
    wr(CNTP_CTL_EL0, T0, CNT_CTL_ENABLE);
    ck_assert(arch_timer_line(&timer.phys, arch_timer_count(&timer, NS(20))));
    ck_assert(!arch_timer_line(&timer.virt, arch_timer_count(&timer, NS(20))));
    ck_assert_uint_eq(rd(CNTV_CTL_EL0, NS(20)), 0);
    ck_assert_uint_eq(rd(CNTV_CVAL_EL0, NS(20)), 0);
}
END_TEST

START_TEST(test_deadline_none_when_disabled)
{
    wr(CNTV_CVAL_EL0, T0, 10);
    wr(CNTP_CVAL_EL0, T0, 10);
    ck_assert_uint_eq(arch_timer_next_deadline_ns(&timer, T0), UINT64_MAX);
}
END_TEST

START_TEST(test_deadline_none_when_masked)
{
    wr(CNTV_CVAL_EL0, T0, 10);
    wr(CNTV_CTL_EL0, T0, CNT_CTL_ENABLE | CNT_CTL_IMASK);
    ck_assert_uint_eq(arch_timer_next_deadline_ns(&timer, T0), UINT64_MAX);
}
END_TEST

/* A fired channel has no further deadline: an idle vCPU must not spin on it. */
START_TEST(test_deadline_none_when_fired)
{
    wr(CNTV_CVAL_EL0, T0, 10);
    wr(CNTV_CTL_EL0, T0, CNT_CTL_ENABLE);
    ck_assert_uint_eq(arch_timer_next_deadline_ns(&timer, NS(10)), UINT64_MAX);
    ck_assert_uint_eq(arch_timer_next_deadline_ns(&timer, NS(500) + 3), UINT64_MAX);
    ck_assert(arch_timer_line(&timer.virt, arch_timer_count(&timer, NS(10))));
}
END_TEST

START_TEST(test_el0_access_follows_cntkctl)
{
    ck_assert(!arch_timer_el0_allowed(CNTVCT_EL0, 0));
    ck_assert(arch_timer_el0_allowed(CNTVCT_EL0, CNTKCTL_EL0VCTEN));
    ck_assert(!arch_timer_el0_allowed(CNTPCT_EL0, CNTKCTL_EL0VCTEN));
    ck_assert(arch_timer_el0_allowed(CNTFRQ_EL0, CNTKCTL_EL0VCTEN));
    ck_assert(!arch_timer_el0_allowed(CNTV_CTL_EL0, CNTKCTL_EL0VCTEN | CNTKCTL_EL0PCTEN));
    ck_assert(arch_timer_el0_allowed(CNTV_CVAL_EL0, CNTKCTL_EL0VTEN));
    ck_assert(arch_timer_el0_allowed(CNTP_TVAL_EL0, CNTKCTL_EL0PTEN));
    ck_assert(!arch_timer_el0_allowed(SYSREG(3, 0, 1, 0, 0), ~0ull));
    ck_assert(arch_timer_owns(CNTV_TVAL_EL0));
    ck_assert(!arch_timer_owns(SYSREG(3, 0, 14, 1, 0))); /* CNTKCTL_EL1 is Unicorn's */
}
END_TEST

/* The deadline is the first nanosecond at which the counter reaches CVAL: any
 * earlier and the emu loop would wake to find nothing, any later is latency. */
static void assert_exact_deadline(uint64_t now, uint64_t cval)
{
    uint64_t d = arch_timer_next_deadline_ns(&timer, now);
    ck_assert_uint_gt(d, now);
    ck_assert_uint_ge(arch_timer_count(&timer, d), cval);
    ck_assert_uint_lt(arch_timer_count(&timer, d - 1), cval);
}

START_TEST(test_deadline_exact)
{
    wr(CNTP_CVAL_EL0, T0, 1000);
    wr(CNTP_CTL_EL0, T0, CNT_CTL_ENABLE);
    assert_exact_deadline(T0, 1000);
    assert_exact_deadline(NS(999), 1000);
    assert_exact_deadline(NS(500) + 11, 1000);
    ck_assert_uint_eq(arch_timer_next_deadline_ns(&timer, T0), NS(1000) - 7);
}
END_TEST

START_TEST(test_deadline_earliest_channel)
{
    wr(CNTP_CVAL_EL0, T0, 5000);
    wr(CNTP_CTL_EL0, T0, CNT_CTL_ENABLE);
    wr(CNTV_CVAL_EL0, T0, 300);
    wr(CNTV_CTL_EL0, T0, CNT_CTL_ENABLE);
    assert_exact_deadline(T0, 300);
    wr(CNTV_CTL_EL0, T0, CNT_CTL_ENABLE | CNT_CTL_IMASK);
    assert_exact_deadline(T0, 5000);
}
END_TEST

START_TEST(test_deadline_far_future_does_not_overflow)
{
    wr(CNTV_CVAL_EL0, T0, UINT64_MAX);
    wr(CNTV_CTL_EL0, T0, CNT_CTL_ENABLE);
    ck_assert_uint_eq(arch_timer_next_deadline_ns(&timer, T0), UINT64_MAX);
}
END_TEST

START_TEST(test_read_only_writes_ignored)
{
    uint64_t now = NS(777);
    wr(CNTPCT_EL0, now, 5);
    wr(CNTVCT_EL0, now, 5);
    wr(CNTFRQ_EL0, now, 1000);
    ck_assert_uint_eq(rd(CNTPCT_EL0, now), 777);
    ck_assert_uint_eq(rd(CNTVCT_EL0, now), 777);
    ck_assert_uint_eq(rd(CNTFRQ_EL0, now), 62500000);
}
END_TEST

START_TEST(test_unknown_register_not_handled)
{
    uint64_t v = 0;
    ck_assert(!arch_timer_read(&timer, ICC_IAR1_EL1, T0, &v));
    ck_assert(!arch_timer_write(&timer, ICC_IAR1_EL1, T0, 1));
    /* CNTKCTL_EL1 is a timer-ish register but not one this model owns. */
    ck_assert(!arch_timer_read(&timer, SYSREG(3, 0, 14, 1, 0), T0, &v));
}
END_TEST

static Suite *arch_timer_suite(void)
{
    Suite *s = suite_create("arch_timer");
    TCase *counter = tcase_create("counter");
    tcase_add_checked_fixture(counter, setup, NULL);
    tcase_add_test(counter, test_counter_starts_at_zero);
    tcase_add_test(counter, test_counter_ticks_every_16ns);
    tcase_add_test(counter, test_virtual_count_equals_physical);
    tcase_add_test(counter, test_cntfrq_is_62_5_mhz);
    tcase_add_test(counter, test_read_only_writes_ignored);
    tcase_add_test(counter, test_unknown_register_not_handled);
    suite_add_tcase(s, counter);

    TCase *regs = tcase_create("registers");
    tcase_add_checked_fixture(regs, setup, NULL);
    tcase_add_test(regs, test_tval_read_is_distance_to_cval);
    tcase_add_test(regs, test_tval_write_sets_cval);
    tcase_add_test(regs, test_tval_write_is_sign_extended);
    tcase_add_test(regs, test_tval_write_ignores_upper_bits);
    tcase_add_test(regs, test_cval_round_trip);
    tcase_add_test(regs, test_ctl_istatus_computed);
    tcase_add_test(regs, test_ctl_istatus_set_even_when_masked);
    tcase_add_test(regs, test_ctl_istatus_clear_when_disabled);
    tcase_add_test(regs, test_ctl_istatus_not_writable);
    tcase_add_test(regs, test_line_needs_enable_unmasked_and_expired);
    tcase_add_test(regs, test_channels_independent);
    suite_add_tcase(s, regs);

    TCase *deadline = tcase_create("deadline");
    tcase_add_checked_fixture(deadline, setup, NULL);
    tcase_add_test(deadline, test_deadline_none_when_disabled);
    tcase_add_test(deadline, test_deadline_none_when_masked);
    tcase_add_test(deadline, test_deadline_none_when_fired);
    tcase_add_test(deadline, test_el0_access_follows_cntkctl);
    tcase_add_test(deadline, test_deadline_exact);
    tcase_add_test(deadline, test_deadline_earliest_channel);
    tcase_add_test(deadline, test_deadline_far_future_does_not_overflow);
    suite_add_tcase(s, deadline);
    return s;
}

int main(void)
{
    return run_suite(arch_timer_suite());
}
