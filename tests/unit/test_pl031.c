/* The PL031 RTC as Linux's rtc-pl031 driver uses it: read the time from DR, set
 * it through LR, and an alarm through MR/IMSC/ICR. The clock is injected. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pl031.h"
#include "unit.h"

#define RTC_BASE 0x09010000ull
#define RTC_INTID 34
#define HOST_EPOCH 1700000000 /* Nov 2023 */

/* Register offsets (PL031 TRM, DDI 0224, 3.2). */
#define RTCDR 0x000
#define RTCMR 0x004
#define RTCLR 0x008
#define RTCCR 0x00c
#define RTCIMSC 0x010
#define RTCRIS 0x014
#define RTCMIS 0x018
#define RTCICR 0x01c
#define RTCPERIPHID0 0xfe0

static int64_t host_now;
static int irq_level; /* -1: never set */
static unsigned irq_intid;
static struct device *rtc;

static int64_t fake_clock(void)
{
    return host_now;
}

static void record_irq(void *opaque, unsigned intid, bool level)
{
    (void)opaque;
    irq_level = level;
    irq_intid = intid;
}

static void setup(void)
{
    host_now = HOST_EPOCH;
    irq_level = -1;
    struct irq_line irq = {.set = record_irq, .intid = RTC_INTID};
    rtc = pl031_create(RTC_BASE, irq, fake_clock);
    ck_assert_ptr_nonnull(rtc);
}

static void teardown(void)
{
    rtc->ops->destroy(rtc);
}

static uint32_t rd(uint64_t off)
{
    return (uint32_t)rtc->ops->read(rtc, off, 4);
}

static void wr(uint64_t off, uint32_t value)
{
    rtc->ops->write(rtc, off, 4, value);
}

START_TEST(test_window)
{
    ck_assert_uint_eq(rtc->base, RTC_BASE);
    ck_assert_uint_eq(rtc->size, PL031_SIZE);
    ck_assert_str_eq(rtc->ops->name, "pl031");
}
END_TEST

START_TEST(test_data_register_is_the_clock)
{
    ck_assert_uint_eq(rd(RTCDR), HOST_EPOCH);
    host_now += 61;
    ck_assert_uint_eq(rd(RTCDR), HOST_EPOCH + 61);
}
END_TEST

START_TEST(test_load_register_sets_time)
{
    /* hwclock -w: the guest's time then runs on from what it wrote. */
    wr(RTCLR, 1000);
    ck_assert_uint_eq(rd(RTCDR), 1000);
    host_now += 5;
    ck_assert_uint_eq(rd(RTCDR), 1005);
}
END_TEST

START_TEST(test_load_register_can_move_forward)
{
    wr(RTCLR, 0xfffffff0u); /* near the end of the 32-bit counter */
    host_now += 3;
    ck_assert_uint_eq(rd(RTCDR), 0xfffffff3u);
}
END_TEST

START_TEST(test_control_reads_started)
{
    /* rtc-pl031 starts the clock only if CR.RTCStart reads 0. */
    ck_assert_uint_eq(rd(RTCCR) & 1, 1);
}
END_TEST

START_TEST(test_amba_id_registers)
{
    static const uint8_t id[8] = {0x31, 0x10, 0x04, 0x00, 0x0d, 0xf0, 0x05, 0xb1};
    for (unsigned i = 0; i < 8; i++)
        ck_assert_msg(rd(RTCPERIPHID0 + 4 * i) == id[i], "ID register 0x%x reads 0x%x",
                      RTCPERIPHID0 + 4 * i, rd(RTCPERIPHID0 + 4 * i));
}
END_TEST

START_TEST(test_match_register_round_trip)
{
    wr(RTCMR, HOST_EPOCH + 100);
    ck_assert_uint_eq(rd(RTCMR), HOST_EPOCH + 100);
}
END_TEST

START_TEST(test_alarm_raises_irq_when_time_passes_match)
{
    wr(RTCMR, HOST_EPOCH + 10);
    wr(RTCIMSC, 1);
    ck_assert_int_eq(irq_level, 0);
    ck_assert_uint_eq(rd(RTCRIS), 0);
    host_now += 9;
    ck_assert_uint_eq(rd(RTCRIS), 0);
    ck_assert_int_eq(irq_level, 0);
    host_now += 1;
    ck_assert_uint_eq(rd(RTCRIS), 1);
    ck_assert_uint_eq(rd(RTCMIS), 1);
    ck_assert_int_eq(irq_level, 1);
    ck_assert_uint_eq(irq_intid, RTC_INTID);
}
END_TEST

START_TEST(test_alarm_masked_sets_raw_only)
{
    wr(RTCMR, HOST_EPOCH + 10);
    host_now += 20;
    ck_assert_uint_eq(rd(RTCRIS), 1);
    ck_assert_uint_eq(rd(RTCMIS), 0);
    ck_assert_int_eq(irq_level, 0);
}
END_TEST

/* Regression: ICR must clear a fired alarm for good. */
START_TEST(test_icr_clears_alarm)
{
    wr(RTCMR, HOST_EPOCH + 10);
    wr(RTCIMSC, 1);
    host_now += 10;
    ck_assert_uint_eq(rd(RTCRIS), 1);
    ck_assert_int_eq(irq_level, 1);
    wr(RTCICR, 1);
    ck_assert_int_eq(irq_level, 0);
    ck_assert_uint_eq(rd(RTCRIS), 0);
    ck_assert_int_eq(irq_level, 0);
}
END_TEST

START_TEST(test_masking_lowers_irq)
{
    wr(RTCMR, HOST_EPOCH + 1);
    wr(RTCIMSC, 1);
    host_now += 1;
    rd(RTCRIS);
    ck_assert_int_eq(irq_level, 1);
    wr(RTCIMSC, 0); /* alarm_irq_enable(0) */
    ck_assert_int_eq(irq_level, 0);
    ck_assert_uint_eq(rd(RTCMIS), 0);
}
END_TEST

/* Only ICR clears the raw status (PL031 TRM); a new match value re-arms. */
START_TEST(test_new_match_rearms_alarm)
{
    wr(RTCMR, HOST_EPOCH + 1);
    host_now += 1;
    ck_assert_uint_eq(rd(RTCRIS), 1);
    wr(RTCMR, HOST_EPOCH + 100);
    ck_assert_uint_eq(rd(RTCRIS), 1);
    wr(RTCICR, 1);
    ck_assert_uint_eq(rd(RTCRIS), 0);
    host_now = HOST_EPOCH + 100;
    ck_assert_uint_eq(rd(RTCRIS), 1);
}
END_TEST

/* ---- snapshot state ------------------------------------------------------------------------- */

static struct device *copy; /* the RTC a state is loaded into */
static struct pl031_state saved, again;

static void setup_state(void)
{
    setup();
    copy = pl031_create(RTC_BASE, (struct irq_line){.set = record_irq, .intid = RTC_INTID},
                        fake_clock);
    ck_assert_ptr_nonnull(copy);
}

static void teardown_state(void)
{
    copy->ops->destroy(copy);
    teardown();
}

static uint32_t rd_on(struct device *d, uint64_t off)
{
    return (uint32_t)d->ops->read(d, off, 4);
}

/* A guest that set its clock (hwclock -w) and an alarm a minute ahead. */
static void program_busy(void)
{
    wr(RTCLR, 1000);
    wr(RTCMR, 1060);
    wr(RTCIMSC, 1);
}

START_TEST(test_state_round_trip)
{
    program_busy();
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    ck_assert_int_eq(saved.offset, 1000 - (int64_t)HOST_EPOCH);
    ck_assert_uint_eq(saved.load, 1000);
    ck_assert_uint_eq(saved.match, 1060);
    ck_assert_uint_eq(saved.imsc, 1);
    ck_assert_uint_eq(saved.armed, 1);
    ck_assert_uint_eq(saved.match_raw, 0);
    ck_assert_int_eq(pl031_load(copy, &saved), 0);
    static const uint64_t regs[] = {RTCDR, RTCMR, RTCLR, RTCCR, RTCIMSC, RTCRIS, RTCMIS};
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        ck_assert_uint_eq(rd_on(rtc, regs[i]), rd_on(copy, regs[i]));
    ck_assert_int_eq(pl031_save(copy, &again), 0);
    ck_assert_mem_eq(&saved, &again, sizeof(saved));
}
END_TEST

/* Restored an hour later, the guest's clock reads an hour on: it follows the
 * host's clock, not the moment of the snapshot. */
START_TEST(test_state_time_follows_host_clock)
{
    program_busy();
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    host_now += 3600;
    ck_assert_int_eq(pl031_load(copy, &saved), 0);
    ck_assert_uint_eq(rd_on(copy, RTCDR), 1000 + 3600);
    host_now += 5;
    ck_assert_uint_eq(rd_on(copy, RTCDR), 1000 + 3605);
}
END_TEST

START_TEST(test_state_alarm_fires_after_restore)
{
    program_busy();
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    ck_assert_int_eq(pl031_load(copy, &saved), 0);
    ck_assert_int_eq(irq_level, 0);
    host_now += 59;
    ck_assert_uint_eq(rd_on(copy, RTCRIS), 0);
    host_now += 1;
    ck_assert_uint_eq(rd_on(copy, RTCRIS), 1);
    ck_assert_int_eq(irq_level, 1);
    copy->ops->write(copy, RTCICR, 4, 1);
    ck_assert_int_eq(irq_level, 0);
}
END_TEST

START_TEST(test_state_alarm_due_while_away_fires_on_load)
{
    program_busy();
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    host_now += 120;
    irq_level = -1;
    ck_assert_int_eq(pl031_load(copy, &saved), 0);
    ck_assert_int_eq(irq_level, 1);
    ck_assert_uint_eq(rd_on(copy, RTCMIS), 1);
}
END_TEST

START_TEST(test_state_fired_alarm_stays_raised)
{
    wr(RTCMR, HOST_EPOCH + 1);
    host_now += 1;
    ck_assert_uint_eq(rd(RTCRIS), 1);
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    ck_assert_uint_eq(saved.match_raw, 1);
    ck_assert_uint_eq(saved.armed, 0);
    ck_assert_int_eq(pl031_load(copy, &saved), 0);
    ck_assert_uint_eq(rd_on(copy, RTCRIS), 1);
    ck_assert_uint_eq(rd_on(copy, RTCMIS), 0); /* masked */
    ck_assert_int_eq(irq_level, 0);
}
END_TEST

START_TEST(test_state_extreme_offsets_accepted)
{
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    saved.offset = PL031_MAX_OFFSET;
    ck_assert_int_eq(pl031_load(copy, &saved), 0);
    ck_assert_uint_eq(rd_on(copy, RTCDR), (uint32_t)(HOST_EPOCH + PL031_MAX_OFFSET));
    saved.offset = -PL031_MAX_OFFSET;
    ck_assert_int_eq(pl031_load(copy, &saved), 0);
    ck_assert_uint_eq(rd_on(copy, RTCDR), (uint32_t)(HOST_EPOCH - PL031_MAX_OFFSET));
}
END_TEST

static void corrupt(struct pl031_state *st, int which)
{
    switch (which) {
    case 0: st->offset = PL031_MAX_OFFSET + 1; break;
    case 1: st->offset = -PL031_MAX_OFFSET - 1; break;
    case 2: st->offset = INT64_MAX; break;
    case 3: st->offset = INT64_MIN; break;
    case 4: st->imsc = 2; break;
    case 5: st->armed = 2; break;
    case 6: st->match_raw = 0xff; break;
    }
}
#define NUM_CORRUPTIONS 7

START_TEST(test_state_bad_field_refused)
{
    static struct pl031_state reset;
    ck_assert_int_eq(pl031_save(copy, &reset), 0);
    program_busy();
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    corrupt(&saved, _i);
    irq_level = -1;
    ck_assert_int_eq(pl031_load(copy, &saved), -EINVAL);
    ck_assert_int_eq(irq_level, -1);
    ck_assert_int_eq(pl031_save(copy, &again), 0);
    ck_assert_mem_eq(&reset, &again, sizeof(reset));
    ck_assert_uint_eq(rd_on(copy, RTCDR), HOST_EPOCH);
}
END_TEST

/* ---- the state as bytes: the device table's save and load ------------------------------- */

START_TEST(test_state_bytes_round_trip)
{
    struct device_state_bytes first, second;
    program_busy();
    ck_assert_int_eq(rtc->ops->save(rtc, &first), 0);
    char err[128] = "";
    ck_assert_msg(copy->ops->load(copy, first.data, first.len, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(copy->ops->save(copy, &second), 0);
    ck_assert_uint_eq(first.len, second.len);
    ck_assert_mem_eq(first.data, second.data, first.len);
    ck_assert_int_eq(pl031_state_decode(second.data, second.len, &again, err, sizeof(err)), 0);
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    ck_assert_mem_eq(&saved, &again, sizeof(saved));
    free(first.data);
    free(second.data);
}
END_TEST

/* Every check of the state holds for its bytes too, and says what it refused. */
START_TEST(test_state_bad_bytes_refused)
{
    static struct pl031_state reset;
    struct device_state_bytes bytes;
    ck_assert_int_eq(pl031_save(copy, &reset), 0);
    program_busy();
    ck_assert_int_eq(pl031_save(rtc, &saved), 0);
    corrupt(&saved, _i);
    ck_assert_int_eq(pl031_state_encode(&saved, &bytes), 0);
    char err[128] = "";
    irq_level = -1;
    ck_assert_int_eq(copy->ops->load(copy, bytes.data, bytes.len, err, sizeof(err)), -EINVAL);
    ck_assert_msg(strstr(err, "RTC") != NULL, "\"%s\" does not name the RTC", err);
    ck_assert_int_eq(irq_level, -1);
    ck_assert_int_eq(pl031_save(copy, &again), 0);
    ck_assert_mem_eq(&reset, &again, sizeof(reset));
    free(bytes.data);
}
END_TEST

/* Bytes that are no Pl031State, or a flag wider than its field, never load. */
START_TEST(test_state_undecodable_bytes_refused)
{
    static const uint8_t truncated[] = {0x08};         /* field 1, varint missing */
    static const uint8_t wrong_type[] = {0x0a, 0x05};  /* field 1 as bytes, too short */
    static const uint8_t wide_flag[] = {0x28, 0x80, 0x02}; /* armed = 256 */
    const struct {
        const uint8_t *data;
        size_t len;
        const char *says;
    } cases[] = {{truncated, sizeof(truncated), "does not decode"},
                 {wrong_type, sizeof(wrong_type), "does not decode"},
                 {wide_flag, sizeof(wide_flag), "out of range"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[128] = "";
        ck_assert_int_eq(copy->ops->load(copy, cases[i].data, cases[i].len, err, sizeof(err)),
                         -EINVAL);
        ck_assert_msg(strstr(err, cases[i].says) != NULL, "case %zu: \"%s\"", i, err);
    }
    ck_assert_uint_eq(rd_on(copy, RTCDR), HOST_EPOCH);
}
END_TEST

static Suite *pl031_suite(void)
{
    Suite *s = suite_create("pl031");
    TCase *clock = tcase_create("clock");
    tcase_add_checked_fixture(clock, setup, teardown);
    tcase_add_test(clock, test_window);
    tcase_add_test(clock, test_data_register_is_the_clock);
    tcase_add_test(clock, test_load_register_sets_time);
    tcase_add_test(clock, test_load_register_can_move_forward);
    tcase_add_test(clock, test_control_reads_started);
    tcase_add_test(clock, test_amba_id_registers);
    suite_add_tcase(s, clock);

    TCase *alarm = tcase_create("alarm");
    tcase_add_checked_fixture(alarm, setup, teardown);
    tcase_add_test(alarm, test_match_register_round_trip);
    tcase_add_test(alarm, test_alarm_raises_irq_when_time_passes_match);
    tcase_add_test(alarm, test_alarm_masked_sets_raw_only);
    tcase_add_test(alarm, test_icr_clears_alarm);
    tcase_add_test(alarm, test_masking_lowers_irq);
    tcase_add_test(alarm, test_new_match_rearms_alarm);
    suite_add_tcase(s, alarm);

    TCase *state = tcase_create("state");
    tcase_add_checked_fixture(state, setup_state, teardown_state);
    tcase_add_test(state, test_state_round_trip);
    tcase_add_test(state, test_state_time_follows_host_clock);
    tcase_add_test(state, test_state_alarm_fires_after_restore);
    tcase_add_test(state, test_state_alarm_due_while_away_fires_on_load);
    tcase_add_test(state, test_state_fired_alarm_stays_raised);
    tcase_add_test(state, test_state_extreme_offsets_accepted);
    tcase_add_loop_test(state, test_state_bad_field_refused, 0, NUM_CORRUPTIONS);
    tcase_add_test(state, test_state_bytes_round_trip);
    tcase_add_loop_test(state, test_state_bad_bytes_refused, 0, NUM_CORRUPTIONS);
    tcase_add_test(state, test_state_undecodable_bytes_refused);
    suite_add_tcase(s, state);
    return s;
}

int main(void)
{
    return run_suite(pl031_suite());
}
