/* SDL scancode to Linux evdev key code, one table.
 *
 * SDL scancodes below 0xE8 are USB HID keyboard-page usages, so for those the
 * table follows what Linux's own USB keyboard driver reports for the same usage
 * (the hid_keyboard table in drivers/hid/hid-input.c): the guest then sees what it
 * would see from a real keyboard. The rest are SDL's consumer and system keys,
 * mapped by meaning.
 *
 * The table is injective, so the viewer can tell which guest keys are down from
 * the codes alone. Where Linux gives two usages one code, the usage SDL actually
 * produces for that key keeps it and the other stays 0:
 *   NONUSHASH     KEY_BACKSLASH: SDL reports the ISO key beside Return as BACKSLASH
 *                 on Linux, Windows and macOS alike.
 *   CLEAR         KEY_DELETE, kept by DELETE; KP_CLEAR likewise.
 *   SYSREQ        KEY_SYSRQ, kept by PRINTSCREEN: that is what SDL reports for the
 *                 key under X11 and Windows (SysRq is Alt+PrintScreen on a PC).
 *   KP_EQUALSAS400  KEY_KPEQUAL, kept by KP_EQUALS.
 *   AUDIOMUTE     KEY_MUTE, kept by MUTE.
 *   AC_STOP       KEY_STOP, kept by STOP.
 * Departures from Linux's HID table:
 *   MENU          KEY_MENU, not KEY_PROPS: SDL makes SDL_SCANCODE_MENU out of a
 *                 host's KEY_MENU and never produces it from KEY_PROPS, so the
 *                 menu key reaches the guest as the key the host saw.
 *   ALTERASE, CANCEL, KP_PLUSMINUS  Linux's HID table leaves these usages
 *                 unmapped; evdev has keys of the same name and SDL maps them to
 *                 these scancodes, so they are used.
 *
 * The guest's keyboard advertises exactly KEY_ESC (1) .. KEY_MICMUTE (248) and vmmd
 * refuses any other code, so keys whose Linux code lies above that stay 0: CALL
 * and ENDCALL (KEY_PICKUP_PHONE, KEY_HANGUP_PHONE), and CLEAR's own KEY_CLEAR. The
 * remaining zeros (INTERNATIONAL7..9, LANG6..9, PRIOR, RETURN2,
 * SEPARATOR, OUT, OPER, CLEARAGAIN, CRSEL, EXSEL, the separators and currency
 * keys, the calculator keypad from KP_00 on except its parentheses and
 * KP_PLUSMINUS, MODE, SOFTLEFT, SOFTRIGHT) are keys Linux has no code for.
 *
 * The numbers are Linux's uapi values (<linux/input-event-codes.h>), written out
 * because the viewer also builds where that header does not exist;
 * tests/unit/test_keymap.c checks each one against the header. */
#include "keymap.h"

static const unsigned char evdev_from_sdl[SDL_NUM_SCANCODES] = {
    /* Letters */
    [SDL_SCANCODE_A] = 30, /* KEY_A */
    [SDL_SCANCODE_B] = 48, /* KEY_B */
    [SDL_SCANCODE_C] = 46, /* KEY_C */
    [SDL_SCANCODE_D] = 32, /* KEY_D */
    [SDL_SCANCODE_E] = 18, /* KEY_E */
    [SDL_SCANCODE_F] = 33, /* KEY_F */
    [SDL_SCANCODE_G] = 34, /* KEY_G */
    [SDL_SCANCODE_H] = 35, /* KEY_H */
    [SDL_SCANCODE_I] = 23, /* KEY_I */
    [SDL_SCANCODE_J] = 36, /* KEY_J */
    [SDL_SCANCODE_K] = 37, /* KEY_K */
    [SDL_SCANCODE_L] = 38, /* KEY_L */
    [SDL_SCANCODE_M] = 50, /* KEY_M */
    [SDL_SCANCODE_N] = 49, /* KEY_N */
    [SDL_SCANCODE_O] = 24, /* KEY_O */
    [SDL_SCANCODE_P] = 25, /* KEY_P */
    [SDL_SCANCODE_Q] = 16, /* KEY_Q */
    [SDL_SCANCODE_R] = 19, /* KEY_R */
    [SDL_SCANCODE_S] = 31, /* KEY_S */
    [SDL_SCANCODE_T] = 20, /* KEY_T */
    [SDL_SCANCODE_U] = 22, /* KEY_U */
    [SDL_SCANCODE_V] = 47, /* KEY_V */
    [SDL_SCANCODE_W] = 17, /* KEY_W */
    [SDL_SCANCODE_X] = 45, /* KEY_X */
    [SDL_SCANCODE_Y] = 21, /* KEY_Y */
    [SDL_SCANCODE_Z] = 44, /* KEY_Z */

    /* Digits */
    [SDL_SCANCODE_1] = 2, /* KEY_1 */
    [SDL_SCANCODE_2] = 3, /* KEY_2 */
    [SDL_SCANCODE_3] = 4, /* KEY_3 */
    [SDL_SCANCODE_4] = 5, /* KEY_4 */
    [SDL_SCANCODE_5] = 6, /* KEY_5 */
    [SDL_SCANCODE_6] = 7, /* KEY_6 */
    [SDL_SCANCODE_7] = 8, /* KEY_7 */
    [SDL_SCANCODE_8] = 9, /* KEY_8 */
    [SDL_SCANCODE_9] = 10, /* KEY_9 */
    [SDL_SCANCODE_0] = 11, /* KEY_0 */

    /* Editing, whitespace and punctuation of the main block */
    [SDL_SCANCODE_RETURN] = 28, /* KEY_ENTER */
    [SDL_SCANCODE_ESCAPE] = 1, /* KEY_ESC */
    [SDL_SCANCODE_BACKSPACE] = 14, /* KEY_BACKSPACE */
    [SDL_SCANCODE_TAB] = 15, /* KEY_TAB */
    [SDL_SCANCODE_SPACE] = 57, /* KEY_SPACE */
    [SDL_SCANCODE_MINUS] = 12, /* KEY_MINUS */
    [SDL_SCANCODE_EQUALS] = 13, /* KEY_EQUAL */
    [SDL_SCANCODE_LEFTBRACKET] = 26, /* KEY_LEFTBRACE */
    [SDL_SCANCODE_RIGHTBRACKET] = 27, /* KEY_RIGHTBRACE */
    [SDL_SCANCODE_BACKSLASH] = 43, /* KEY_BACKSLASH */
    [SDL_SCANCODE_SEMICOLON] = 39, /* KEY_SEMICOLON */
    [SDL_SCANCODE_APOSTROPHE] = 40, /* KEY_APOSTROPHE */
    [SDL_SCANCODE_GRAVE] = 41, /* KEY_GRAVE */
    [SDL_SCANCODE_COMMA] = 51, /* KEY_COMMA */
    [SDL_SCANCODE_PERIOD] = 52, /* KEY_DOT */
    [SDL_SCANCODE_SLASH] = 53, /* KEY_SLASH */
    [SDL_SCANCODE_CAPSLOCK] = 58, /* KEY_CAPSLOCK */
    [SDL_SCANCODE_NONUSBACKSLASH] = 86, /* KEY_102ND */

    /* Function keys */
    [SDL_SCANCODE_F1] = 59, /* KEY_F1 */
    [SDL_SCANCODE_F2] = 60, /* KEY_F2 */
    [SDL_SCANCODE_F3] = 61, /* KEY_F3 */
    [SDL_SCANCODE_F4] = 62, /* KEY_F4 */
    [SDL_SCANCODE_F5] = 63, /* KEY_F5 */
    [SDL_SCANCODE_F6] = 64, /* KEY_F6 */
    [SDL_SCANCODE_F7] = 65, /* KEY_F7 */
    [SDL_SCANCODE_F8] = 66, /* KEY_F8 */
    [SDL_SCANCODE_F9] = 67, /* KEY_F9 */
    [SDL_SCANCODE_F10] = 68, /* KEY_F10 */
    [SDL_SCANCODE_F11] = 87, /* KEY_F11 */
    [SDL_SCANCODE_F12] = 88, /* KEY_F12 */
    [SDL_SCANCODE_F13] = 183, /* KEY_F13 */
    [SDL_SCANCODE_F14] = 184, /* KEY_F14 */
    [SDL_SCANCODE_F15] = 185, /* KEY_F15 */
    [SDL_SCANCODE_F16] = 186, /* KEY_F16 */
    [SDL_SCANCODE_F17] = 187, /* KEY_F17 */
    [SDL_SCANCODE_F18] = 188, /* KEY_F18 */
    [SDL_SCANCODE_F19] = 189, /* KEY_F19 */
    [SDL_SCANCODE_F20] = 190, /* KEY_F20 */
    [SDL_SCANCODE_F21] = 191, /* KEY_F21 */
    [SDL_SCANCODE_F22] = 192, /* KEY_F22 */
    [SDL_SCANCODE_F23] = 193, /* KEY_F23 */
    [SDL_SCANCODE_F24] = 194, /* KEY_F24 */

    /* Navigation and the keys above it */
    [SDL_SCANCODE_PRINTSCREEN] = 99, /* KEY_SYSRQ */
    [SDL_SCANCODE_SCROLLLOCK] = 70, /* KEY_SCROLLLOCK */
    [SDL_SCANCODE_PAUSE] = 119, /* KEY_PAUSE */
    [SDL_SCANCODE_INSERT] = 110, /* KEY_INSERT */
    [SDL_SCANCODE_HOME] = 102, /* KEY_HOME */
    [SDL_SCANCODE_PAGEUP] = 104, /* KEY_PAGEUP */
    [SDL_SCANCODE_DELETE] = 111, /* KEY_DELETE */
    [SDL_SCANCODE_END] = 107, /* KEY_END */
    [SDL_SCANCODE_PAGEDOWN] = 109, /* KEY_PAGEDOWN */
    [SDL_SCANCODE_RIGHT] = 106, /* KEY_RIGHT */
    [SDL_SCANCODE_LEFT] = 105, /* KEY_LEFT */
    [SDL_SCANCODE_DOWN] = 108, /* KEY_DOWN */
    [SDL_SCANCODE_UP] = 103, /* KEY_UP */

    /* Keypad */
    [SDL_SCANCODE_NUMLOCKCLEAR] = 69, /* KEY_NUMLOCK */
    [SDL_SCANCODE_KP_DIVIDE] = 98, /* KEY_KPSLASH */
    [SDL_SCANCODE_KP_MULTIPLY] = 55, /* KEY_KPASTERISK */
    [SDL_SCANCODE_KP_MINUS] = 74, /* KEY_KPMINUS */
    [SDL_SCANCODE_KP_PLUS] = 78, /* KEY_KPPLUS */
    [SDL_SCANCODE_KP_ENTER] = 96, /* KEY_KPENTER */
    [SDL_SCANCODE_KP_1] = 79, /* KEY_KP1 */
    [SDL_SCANCODE_KP_2] = 80, /* KEY_KP2 */
    [SDL_SCANCODE_KP_3] = 81, /* KEY_KP3 */
    [SDL_SCANCODE_KP_4] = 75, /* KEY_KP4 */
    [SDL_SCANCODE_KP_5] = 76, /* KEY_KP5 */
    [SDL_SCANCODE_KP_6] = 77, /* KEY_KP6 */
    [SDL_SCANCODE_KP_7] = 71, /* KEY_KP7 */
    [SDL_SCANCODE_KP_8] = 72, /* KEY_KP8 */
    [SDL_SCANCODE_KP_9] = 73, /* KEY_KP9 */
    [SDL_SCANCODE_KP_0] = 82, /* KEY_KP0 */
    [SDL_SCANCODE_KP_PERIOD] = 83, /* KEY_KPDOT */
    [SDL_SCANCODE_KP_EQUALS] = 117, /* KEY_KPEQUAL */
    [SDL_SCANCODE_KP_COMMA] = 121, /* KEY_KPCOMMA */
    [SDL_SCANCODE_KP_LEFTPAREN] = 179, /* KEY_KPLEFTPAREN */
    [SDL_SCANCODE_KP_RIGHTPAREN] = 180, /* KEY_KPRIGHTPAREN */
    [SDL_SCANCODE_KP_PLUSMINUS] = 118, /* KEY_KPPLUSMINUS */

    /* Modifiers */
    [SDL_SCANCODE_LCTRL] = 29, /* KEY_LEFTCTRL */
    [SDL_SCANCODE_LSHIFT] = 42, /* KEY_LEFTSHIFT */
    [SDL_SCANCODE_LALT] = 56, /* KEY_LEFTALT */
    [SDL_SCANCODE_LGUI] = 125, /* KEY_LEFTMETA */
    [SDL_SCANCODE_RCTRL] = 97, /* KEY_RIGHTCTRL */
    [SDL_SCANCODE_RSHIFT] = 54, /* KEY_RIGHTSHIFT */
    [SDL_SCANCODE_RALT] = 100, /* KEY_RIGHTALT */
    [SDL_SCANCODE_RGUI] = 126, /* KEY_RIGHTMETA */

    /* The keyboard page's system, editing and volume keys */
    [SDL_SCANCODE_APPLICATION] = 127, /* KEY_COMPOSE */
    [SDL_SCANCODE_POWER] = 116, /* KEY_POWER */
    [SDL_SCANCODE_EXECUTE] = 134, /* KEY_OPEN */
    [SDL_SCANCODE_HELP] = 138, /* KEY_HELP */
    [SDL_SCANCODE_MENU] = 139, /* KEY_MENU */
    [SDL_SCANCODE_SELECT] = 132, /* KEY_FRONT */
    [SDL_SCANCODE_STOP] = 128, /* KEY_STOP */
    [SDL_SCANCODE_AGAIN] = 129, /* KEY_AGAIN */
    [SDL_SCANCODE_UNDO] = 131, /* KEY_UNDO */
    [SDL_SCANCODE_CUT] = 137, /* KEY_CUT */
    [SDL_SCANCODE_COPY] = 133, /* KEY_COPY */
    [SDL_SCANCODE_PASTE] = 135, /* KEY_PASTE */
    [SDL_SCANCODE_FIND] = 136, /* KEY_FIND */
    [SDL_SCANCODE_MUTE] = 113, /* KEY_MUTE */
    [SDL_SCANCODE_VOLUMEUP] = 115, /* KEY_VOLUMEUP */
    [SDL_SCANCODE_VOLUMEDOWN] = 114, /* KEY_VOLUMEDOWN */
    [SDL_SCANCODE_ALTERASE] = 222, /* KEY_ALTERASE */
    [SDL_SCANCODE_CANCEL] = 223, /* KEY_CANCEL */

    /* International */
    [SDL_SCANCODE_INTERNATIONAL1] = 89, /* KEY_RO */
    [SDL_SCANCODE_INTERNATIONAL2] = 93, /* KEY_KATAKANAHIRAGANA */
    [SDL_SCANCODE_INTERNATIONAL3] = 124, /* KEY_YEN */
    [SDL_SCANCODE_INTERNATIONAL4] = 92, /* KEY_HENKAN */
    [SDL_SCANCODE_INTERNATIONAL5] = 94, /* KEY_MUHENKAN */
    [SDL_SCANCODE_INTERNATIONAL6] = 95, /* KEY_KPJPCOMMA */
    [SDL_SCANCODE_LANG1] = 122, /* KEY_HANGEUL */
    [SDL_SCANCODE_LANG2] = 123, /* KEY_HANJA */
    [SDL_SCANCODE_LANG3] = 90, /* KEY_KATAKANA */
    [SDL_SCANCODE_LANG4] = 91, /* KEY_HIRAGANA */
    [SDL_SCANCODE_LANG5] = 85, /* KEY_ZENKAKUHANKAKU */

    /* Media */
    [SDL_SCANCODE_AUDIONEXT] = 163, /* KEY_NEXTSONG */
    [SDL_SCANCODE_AUDIOPREV] = 165, /* KEY_PREVIOUSSONG */
    [SDL_SCANCODE_AUDIOSTOP] = 166, /* KEY_STOPCD */
    [SDL_SCANCODE_AUDIOPLAY] = 164, /* KEY_PLAYPAUSE */
    [SDL_SCANCODE_MEDIASELECT] = 226, /* KEY_MEDIA */
    [SDL_SCANCODE_AUDIOREWIND] = 168, /* KEY_REWIND */
    [SDL_SCANCODE_AUDIOFASTFORWARD] = 208, /* KEY_FASTFORWARD */
    [SDL_SCANCODE_EJECT] = 161, /* KEY_EJECTCD */

    /* Applications and browser control */
    [SDL_SCANCODE_WWW] = 150, /* KEY_WWW */
    [SDL_SCANCODE_MAIL] = 155, /* KEY_MAIL */
    [SDL_SCANCODE_CALCULATOR] = 140, /* KEY_CALC */
    [SDL_SCANCODE_COMPUTER] = 157, /* KEY_COMPUTER */
    [SDL_SCANCODE_AC_SEARCH] = 217, /* KEY_SEARCH */
    [SDL_SCANCODE_AC_HOME] = 172, /* KEY_HOMEPAGE */
    [SDL_SCANCODE_AC_BACK] = 158, /* KEY_BACK */
    [SDL_SCANCODE_AC_FORWARD] = 159, /* KEY_FORWARD */
    [SDL_SCANCODE_AC_REFRESH] = 173, /* KEY_REFRESH */
    [SDL_SCANCODE_AC_BOOKMARKS] = 156, /* KEY_BOOKMARKS */
    [SDL_SCANCODE_APP1] = 148, /* KEY_PROG1 */
    [SDL_SCANCODE_APP2] = 149, /* KEY_PROG2 */

    /* Display, keyboard light and power */
    [SDL_SCANCODE_BRIGHTNESSDOWN] = 224, /* KEY_BRIGHTNESSDOWN */
    [SDL_SCANCODE_BRIGHTNESSUP] = 225, /* KEY_BRIGHTNESSUP */
    [SDL_SCANCODE_DISPLAYSWITCH] = 227, /* KEY_SWITCHVIDEOMODE */
    [SDL_SCANCODE_KBDILLUMTOGGLE] = 228, /* KEY_KBDILLUMTOGGLE */
    [SDL_SCANCODE_KBDILLUMDOWN] = 229, /* KEY_KBDILLUMDOWN */
    [SDL_SCANCODE_KBDILLUMUP] = 230, /* KEY_KBDILLUMUP */
    [SDL_SCANCODE_SLEEP] = 142, /* KEY_SLEEP */
};

unsigned keymap_evdev_from_sdl(SDL_Scancode scancode)
{
    /* An enum can hold any int: a value SDL does not define must not index past the table. */
    if ((int)scancode < 0 || (int)scancode >= SDL_NUM_SCANCODES)
        return 0;
    return evdev_from_sdl[scancode];
}
