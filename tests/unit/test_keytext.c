/* keytext: every character a US keyboard types maps to the key (and Shift)
 * Linux's input codes name for it, and nothing else is typable. */
#include <check.h>
#include <string.h>

#include "keytext.h"
#include "linux_keytext.h"
#include "unit.h"

START_TEST(test_every_typable_character_matches_linux)
{
    /* 94 printable characters besides space, plus space, Enter and Tab. */
    ck_assert_uint_eq(linux_keytext_expected_count, 94 + 3);
    for (size_t i = 0; i < linux_keytext_expected_count; i++) {
        const struct keytext_expectation *e = &linux_keytext_expected[i];
        uint32_t code = 0;
        bool shift = !e->shift;
        ck_assert_msg(keytext_key_for(e->c, &code, &shift), "'%c' is not typable", e->c);
        ck_assert_msg(code == e->evdev && shift == e->shift, "'%c' gives key %u shift %d", e->c,
                      code, shift);
    }
}
END_TEST

START_TEST(test_special_key_codes_match_linux)
{
    ck_assert_uint_eq(KEYTEXT_KEY_LEFTSHIFT, linux_key_leftshift);
}
END_TEST

START_TEST(test_only_printable_ascii_and_enter_tab_are_typable)
{
    size_t typable = 0;
    for (int c = 0; c < 256; c++) {
        uint32_t code;
        bool shift;
        if (keytext_key_for((char)c, &code, &shift)) {
            typable++;
            ck_assert_msg((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t', "byte %d typable",
                          c);
        }
    }
    ck_assert_uint_eq(typable, 97);
}
END_TEST

START_TEST(test_first_untypable)
{
    ck_assert_uint_eq(keytext_first_untypable("echo hi\n", 8), 8);
    ck_assert_uint_eq(keytext_first_untypable("ab\x1b" "c", 4), 2);
    ck_assert_uint_eq(keytext_first_untypable("caf\xc3\xa9", 5), 3);
    /* A NUL inside the counted bytes is not typable either. */
    ck_assert_uint_eq(keytext_first_untypable("a\0b", 3), 1);
    ck_assert_uint_eq(keytext_first_untypable("", 0), 0);
}
END_TEST

static Suite *keytext_suite(void)
{
    Suite *s = suite_create("keytext");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_every_typable_character_matches_linux);
    tcase_add_test(tc, test_special_key_codes_match_linux);
    tcase_add_test(tc, test_only_printable_ascii_and_enter_tab_are_typable);
    tcase_add_test(tc, test_first_untypable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(keytext_suite());
}
