/* vmmctl send-keys: text becomes exactly the key presses a US keyboard makes
 * (Shift around capitals and symbols, Enter for '\n', Tab for '\t'), nothing
 * is sent when any character cannot be typed, and the call returns only once
 * the worker has read everything. */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fake_display.h"
#include "keytext.h"
#include "send_keys.h"
#include "unit.h"

#define SHIFT KEYTEXT_KEY_LEFTSHIFT

static char err[256];
static struct fake_display d;

static void setup(void)
{
    memset(&d, 0, sizeof(d));
    err[0] = '\0';
}

static void assert_keys(const struct fake_key *want, unsigned n)
{
    ck_assert_uint_eq(d.nkeys, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_msg(d.keys[i].code == want[i].code && d.keys[i].pressed == want[i].pressed,
                      "key %u: got %u/%d, want %u/%d", i, d.keys[i].code, d.keys[i].pressed,
                      want[i].code, want[i].pressed);
}

START_TEST(test_text_becomes_key_presses)
{
    fake_display_start(&d);
    int rc = send_keys_text(d.path, "aB!\n\t ", err, sizeof(err));
    fake_display_finish(&d);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_str_eq(d.client_name, "vmmctl");
    /* KEY_A 30, KEY_B 48, KEY_1 2, Enter 28, Tab 15, Space 57. */
    static const struct fake_key want[] = {
        {30, true},    {30, false},                                               /* a */
        {SHIFT, true}, {48, true},  {48, false}, {SHIFT, false},                  /* B */
        {SHIFT, true}, {2, true},   {2, false},  {SHIFT, false},                  /* ! */
        {28, true},    {28, false}, {15, true},  {15, false}, {57, true}, {57, false},
    };
    assert_keys(want, sizeof(want) / sizeof(want[0]));
    /* We ended our stream ourselves: the worker saw every key before it. */
    ck_assert(d.saw_end_of_stream);
}
END_TEST

START_TEST(test_untypable_text_sends_nothing)
{
    /* No server at all: the check comes before any connection. */
    ck_assert_int_eq(send_keys_text("/nonexistent/x.display", "ok\x01", err, sizeof(err)), -1);
    ck_assert_str_eq(err,
                     "cannot type byte 0x01 (character 3): only US-layout ASCII, \\n and \\t");
    ck_assert_int_eq(send_keys_text("/nonexistent/x.display", "caf\xc3\xa9", err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err,
                     "cannot type byte 0xc3 (character 4): only US-layout ASCII, \\n and \\t");
}
END_TEST

START_TEST(test_no_display)
{
    ck_assert_int_eq(send_keys_text("", "hi", err, sizeof(err)), -1);
    ck_assert_str_eq(err, "guest has no display (started with --no-gui)");
}
END_TEST

START_TEST(test_long_text_all_arrives)
{
    static char text[1001];
    for (int i = 0; i < 1000; i++)
        text[i] = "abcdefghij"[i % 10];
    fake_display_start(&d);
    send_keys_set_pace(0); /* the protocol only: no guest reads these */
    int rc = send_keys_text(d.path, text, err, sizeof(err));
    send_keys_set_pace(SEND_KEYS_PACE_NS);
    fake_display_finish(&d);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nkeys, 2000);
    /* The last character is 'j' (KEY_J 36): pressed, then released. */
    ck_assert_uint_eq(d.keys[1998].code, 36);
    ck_assert(d.keys[1998].pressed && !d.keys[1999].pressed);
}
END_TEST

/* Four transitions ("ab": press and release each) take at least four paces. */
START_TEST(test_keys_are_paced)
{
    struct timespec t0, t1;
    fake_display_start(&d);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = send_keys_text(d.path, "ab", err, sizeof(err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fake_display_finish(&d);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(d.nkeys, 4);
    long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    ck_assert_int_ge(ns, 4 * SEND_KEYS_PACE_NS);
}
END_TEST

START_TEST(test_worker_refusal_reported)
{
    d.error_after_hello = "key code 999 is not a key of the guest's keyboard";
    fake_display_start(&d);
    int rc = send_keys_text(d.path, "x", err, sizeof(err));
    fake_display_finish(&d);
    ck_assert_int_eq(rc, -1);
    ck_assert_str_eq(err, "the guest's display refused the keys: key code 999 is not a key of "
                          "the guest's keyboard");
}
END_TEST

static Suite *send_keys_suite(void)
{
    Suite *s = suite_create("vmmctl_send_keys");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_text_becomes_key_presses);
    tcase_add_test(tc, test_untypable_text_sends_nothing);
    tcase_add_test(tc, test_no_display);
    tcase_add_test(tc, test_long_text_all_arrives);
    tcase_add_test(tc, test_keys_are_paced);
    tcase_add_test(tc, test_worker_refusal_reported);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(send_keys_suite());
}
