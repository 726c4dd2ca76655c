/* The name Ctrl+Alt+S gives a snapshot: the guest's name and the UTC time,
 * always a valid snapshot name, however long the guest's name. */
#include <check.h>
#include <string.h>

#include "paths.h"
#include "snapshot_name.h"
#include "unit.h"

/* 2026-11-22 21:47:05 UTC */
#define WHEN ((time_t)1795384025)

START_TEST(test_name_and_utc_time)
{
    char out[PATHS_GUEST_NAME_MAX + 1];
    ck_assert_int_eq(snapshot_name_for("demo", WHEN, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "demo-20261122-214705");
    ck_assert(paths_guest_name_ok(out));
}
END_TEST

/* A 32-character guest name keeps its first 16 characters. */
START_TEST(test_long_name_is_cut_to_fit)
{
    char out[PATHS_GUEST_NAME_MAX + 1];
    ck_assert_int_eq(snapshot_name_for("abcdefghijklmnopqrstuvwxyz012345", WHEN, out,
                                       sizeof(out)),
                     0);
    ck_assert_str_eq(out, "abcdefghijklmnop-20261122-214705");
    ck_assert_uint_eq(strlen(out), PATHS_GUEST_NAME_MAX);
    ck_assert(paths_guest_name_ok(out));
    ck_assert_int_eq(snapshot_name_for("web-2.b", WHEN, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "web-2.b-20261122-214705");
}
END_TEST

START_TEST(test_refusals)
{
    char out[PATHS_GUEST_NAME_MAX + 1], small[8];
    ck_assert_int_eq(snapshot_name_for("../etc", WHEN, out, sizeof(out)), -1);
    ck_assert_int_eq(snapshot_name_for("", WHEN, out, sizeof(out)), -1);
    ck_assert_int_eq(snapshot_name_for(NULL, WHEN, out, sizeof(out)), -1);
    ck_assert_int_eq(snapshot_name_for("demo", WHEN, small, sizeof(small)), -1);
}
END_TEST

static Suite *snapshot_name_suite(void)
{
    Suite *s = suite_create("viewer_snapshot_name");
    TCase *tc = tcase_create("snapshot_name");
    tcase_add_test(tc, test_name_and_utc_time);
    tcase_add_test(tc, test_long_name_is_cut_to_fit);
    tcase_add_test(tc, test_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(snapshot_name_suite());
}
