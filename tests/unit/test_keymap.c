/* The viewer's keyboard table: every code it gives is Linux's for that key
 * (linux_keymap.c), no two keys share a code, every key SDL defines is either
 * mapped or on the list below with the reason it is not, and every code is one
 * the guest's keyboard accepts. */
#include <SDL_keyboard.h>
#include <SDL_version.h>
#include <check.h>
#include <limits.h>
#include <stdbool.h>

#include "devices/virtio_input.h"
#include "keymap.h"
#include "linux_keymap.h"
#include "unit.h"

/* Keys SDL defines that the table leaves 0, and why. */
static const SDL_Scancode unmapped_keys[] = {
    /* Linux gives these the code of another key, which keeps it (see keymap.c). */
    SDL_SCANCODE_NONUSHASH,      /* KEY_BACKSLASH, kept by BACKSLASH */
    SDL_SCANCODE_KP_EQUALSAS400, /* KEY_KPEQUAL, kept by KP_EQUALS */
    SDL_SCANCODE_SYSREQ,         /* KEY_SYSRQ, kept by PRINTSCREEN */
    SDL_SCANCODE_CLEAR,          /* KEY_DELETE, kept by DELETE */
    SDL_SCANCODE_KP_CLEAR,       /* KEY_DELETE, kept by DELETE */
    SDL_SCANCODE_AUDIOMUTE,      /* KEY_MUTE, kept by MUTE */
    SDL_SCANCODE_AC_STOP,        /* KEY_STOP, kept by STOP */
    /* Linux has no key for these. */
    SDL_SCANCODE_INTERNATIONAL7, SDL_SCANCODE_INTERNATIONAL8, SDL_SCANCODE_INTERNATIONAL9,
    SDL_SCANCODE_LANG6, SDL_SCANCODE_LANG7, SDL_SCANCODE_LANG8, SDL_SCANCODE_LANG9,
    SDL_SCANCODE_PRIOR, SDL_SCANCODE_RETURN2, SDL_SCANCODE_SEPARATOR, SDL_SCANCODE_OUT,
    SDL_SCANCODE_OPER, SDL_SCANCODE_CLEARAGAIN, SDL_SCANCODE_CRSEL, SDL_SCANCODE_EXSEL,
    SDL_SCANCODE_KP_00, SDL_SCANCODE_KP_000, SDL_SCANCODE_THOUSANDSSEPARATOR,
    SDL_SCANCODE_DECIMALSEPARATOR, SDL_SCANCODE_CURRENCYUNIT, SDL_SCANCODE_CURRENCYSUBUNIT,
    SDL_SCANCODE_KP_LEFTBRACE, SDL_SCANCODE_KP_RIGHTBRACE, SDL_SCANCODE_KP_TAB,
    SDL_SCANCODE_KP_BACKSPACE, SDL_SCANCODE_KP_A, SDL_SCANCODE_KP_B, SDL_SCANCODE_KP_C,
    SDL_SCANCODE_KP_D, SDL_SCANCODE_KP_E, SDL_SCANCODE_KP_F, SDL_SCANCODE_KP_XOR,
    SDL_SCANCODE_KP_POWER, SDL_SCANCODE_KP_PERCENT, SDL_SCANCODE_KP_LESS,
    SDL_SCANCODE_KP_GREATER, SDL_SCANCODE_KP_AMPERSAND, SDL_SCANCODE_KP_DBLAMPERSAND,
    SDL_SCANCODE_KP_VERTICALBAR, SDL_SCANCODE_KP_DBLVERTICALBAR, SDL_SCANCODE_KP_COLON,
    SDL_SCANCODE_KP_HASH, SDL_SCANCODE_KP_SPACE, SDL_SCANCODE_KP_AT, SDL_SCANCODE_KP_EXCLAM,
    SDL_SCANCODE_KP_MEMSTORE, SDL_SCANCODE_KP_MEMRECALL, SDL_SCANCODE_KP_MEMCLEAR,
    SDL_SCANCODE_KP_MEMADD, SDL_SCANCODE_KP_MEMSUBTRACT, SDL_SCANCODE_KP_MEMMULTIPLY,
    SDL_SCANCODE_KP_MEMDIVIDE, SDL_SCANCODE_KP_CLEARENTRY, SDL_SCANCODE_KP_BINARY,
    SDL_SCANCODE_KP_OCTAL, SDL_SCANCODE_KP_DECIMAL, SDL_SCANCODE_KP_HEXADECIMAL,
    SDL_SCANCODE_MODE, /* AltGr on some X servers, which arrives as RALT as well */
#if SDL_VERSION_ATLEAST(2, 0, 22)
    SDL_SCANCODE_SOFTLEFT, SDL_SCANCODE_SOFTRIGHT,
    /* KEY_PICKUP_PHONE and KEY_HANGUP_PHONE lie beyond the guest's keyboard. */
    SDL_SCANCODE_CALL, SDL_SCANCODE_ENDCALL,
#endif
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool listed_unmapped(SDL_Scancode s)
{
    for (size_t i = 0; i < COUNT(unmapped_keys); i++)
        if (unmapped_keys[i] == s)
            return true;
    return false;
}

static bool expected_mapped(SDL_Scancode s)
{
    for (size_t i = 0; i < linux_keymap_expected_count; i++)
        if (linux_keymap_expected[i].scancode == s)
            return true;
    return false;
}

START_TEST(test_codes_match_linux)
{
    for (size_t i = 0; i < linux_keymap_expected_count; i++) {
        const struct keymap_expectation *e = &linux_keymap_expected[i];
        ck_assert_msg(keymap_evdev_from_sdl(e->scancode) == e->evdev,
                      "scancode %d gives %u, Linux's key is %u", (int)e->scancode,
                      keymap_evdev_from_sdl(e->scancode), e->evdev);
    }
}
END_TEST

/* A spot check in plain numbers, in case both lists drift together. */
START_TEST(test_known_codes)
{
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_A), 30);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_ESCAPE), 1);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_RETURN), 28);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_LGUI), 125);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_RGUI), 126);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_F24), 194);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_NONUSBACKSLASH), 86);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_MENU), 139);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_KBDILLUMUP), 230);
}
END_TEST

/* Whatever the table maps is on the list above, so the comparison covers it all. */
START_TEST(test_every_mapped_key_checked)
{
    for (int s = 0; s < SDL_NUM_SCANCODES; s++)
        if (keymap_evdev_from_sdl((SDL_Scancode)s))
            ck_assert_msg(expected_mapped((SDL_Scancode)s), "scancode %d is mapped but unchecked",
                          s);
}
END_TEST

START_TEST(test_injective)
{
    int scancode_of[256] = {0};
    for (int s = 0; s < SDL_NUM_SCANCODES; s++) {
        unsigned code = keymap_evdev_from_sdl((SDL_Scancode)s);
        if (!code)
            continue;
        ck_assert_uint_lt(code, COUNT(scancode_of));
        ck_assert_msg(scancode_of[code] == 0, "scancodes %d and %d both give %u",
                      scancode_of[code], s, code);
        scancode_of[code] = s;
    }
}
END_TEST

static void assert_mapped_or_listed(int s)
{
    bool mapped = keymap_evdev_from_sdl((SDL_Scancode)s) != 0;
    bool listed = listed_unmapped((SDL_Scancode)s);
    ck_assert_msg(mapped != listed, "scancode %d is %s", s,
                  mapped ? "mapped and listed as unmapped" : "neither mapped nor listed");
}

/* Keyboard usages SDL leaves out of its enum: the locking Caps, Num and Scroll
 * Lock (130..132, commented out in SDL_scancode.h) and the reserved run after ExSel. */
static bool sdl_undefined_usage(int s)
{
    return (s >= SDL_SCANCODE_VOLUMEDOWN + 1 && s <= SDL_SCANCODE_KP_COMMA - 1) ||
           (s > SDL_SCANCODE_EXSEL && s < SDL_SCANCODE_KP_00);
}

START_TEST(test_hid_keys_mapped_or_listed)
{
    for (int s = SDL_SCANCODE_A; s <= SDL_SCANCODE_KP_HEXADECIMAL; s++)
        if (!sdl_undefined_usage(s))
            assert_mapped_or_listed(s);
    for (int s = SDL_SCANCODE_LCTRL; s <= SDL_SCANCODE_RGUI; s++)
        assert_mapped_or_listed(s);
}
END_TEST

/* Above the modifiers SDL's scancodes are its own; every one it names counts. */
START_TEST(test_other_keys_mapped_or_listed)
{
    int named = 0;
    for (int s = SDL_SCANCODE_MODE; s < SDL_NUM_SCANCODES; s++) {
        if (SDL_GetScancodeName((SDL_Scancode)s)[0] == '\0')
            continue;
        named++;
        assert_mapped_or_listed(s);
    }
    ck_assert_int_ge(named, SDL_SCANCODE_AUDIOFASTFORWARD - SDL_SCANCODE_MODE + 1);
}
END_TEST

START_TEST(test_unnamed_scancodes_unmapped)
{
    for (int s = SDL_SCANCODE_A; s <= SDL_SCANCODE_KP_HEXADECIMAL; s++)
        if (sdl_undefined_usage(s))
            ck_assert_uint_eq(keymap_evdev_from_sdl((SDL_Scancode)s), 0);
    for (int s = SDL_SCANCODE_RGUI + 1; s < SDL_SCANCODE_MODE; s++)
        ck_assert_uint_eq(keymap_evdev_from_sdl((SDL_Scancode)s), 0);
    ck_assert_uint_eq(keymap_evdev_from_sdl(SDL_SCANCODE_UNKNOWN), 0);
}
END_TEST

/* vmmd refuses a key its guest keyboard does not advertise. */
START_TEST(test_codes_within_guest_keyboard)
{
    for (int s = 0; s < SDL_NUM_SCANCODES; s++) {
        unsigned code = keymap_evdev_from_sdl((SDL_Scancode)s);
        if (!code)
            continue;
        ck_assert_uint_le(code, linux_key_micmute);
        ck_assert_msg(virtio_input_keyboard_has_key(code),
                      "scancode %d gives %u, which the guest keyboard lacks", s, code);
    }
}
END_TEST

START_TEST(test_out_of_range_scancodes)
{
    ck_assert_uint_eq(keymap_evdev_from_sdl((SDL_Scancode)SDL_NUM_SCANCODES), 0);
    ck_assert_uint_eq(keymap_evdev_from_sdl((SDL_Scancode)(SDL_NUM_SCANCODES + 1)), 0);
    ck_assert_uint_eq(keymap_evdev_from_sdl((SDL_Scancode)-1), 0);
    ck_assert_uint_eq(keymap_evdev_from_sdl((SDL_Scancode)INT_MIN), 0);
    ck_assert_uint_eq(keymap_evdev_from_sdl((SDL_Scancode)INT_MAX), 0);
}
END_TEST

static Suite *keymap_suite(void)
{
    Suite *s = suite_create("keymap");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, test_codes_match_linux);
    tcase_add_test(tc, test_known_codes);
    tcase_add_test(tc, test_every_mapped_key_checked);
    tcase_add_test(tc, test_injective);
    tcase_add_test(tc, test_hid_keys_mapped_or_listed);
    tcase_add_test(tc, test_other_keys_mapped_or_listed);
    tcase_add_test(tc, test_unnamed_scancodes_unmapped);
    tcase_add_test(tc, test_codes_within_guest_keyboard);
    tcase_add_test(tc, test_out_of_range_scancodes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(keymap_suite());
}
