#include "linux_virtio_input.h"

#include <linux/input.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_input.h>

#define CFG(field) offsetof(struct virtio_input_config, field)
#define ABS(field) offsetof(struct virtio_input_absinfo, field)

const struct linux_virtio_input linux_virtio_input = {
    .id_input = VIRTIO_ID_INPUT,
    .cfg_unset = VIRTIO_INPUT_CFG_UNSET, .cfg_id_name = VIRTIO_INPUT_CFG_ID_NAME,
    .cfg_id_serial = VIRTIO_INPUT_CFG_ID_SERIAL, .cfg_id_devids = VIRTIO_INPUT_CFG_ID_DEVIDS,
    .cfg_prop_bits = VIRTIO_INPUT_CFG_PROP_BITS, .cfg_ev_bits = VIRTIO_INPUT_CFG_EV_BITS,
    .cfg_abs_info = VIRTIO_INPUT_CFG_ABS_INFO,
    .off_select = CFG(select), .off_subsel = CFG(subsel), .off_size = CFG(size),
    .off_union = CFG(u), .union_bytes = sizeof(((struct virtio_input_config *)0)->u),
    .config_bytes = sizeof(struct virtio_input_config),
    .absinfo_bytes = sizeof(struct virtio_input_absinfo),
    .devids_bytes = sizeof(struct virtio_input_devids),
    .event_bytes = sizeof(struct virtio_input_event),
    .absinfo_min = ABS(min), .absinfo_max = ABS(max), .absinfo_fuzz = ABS(fuzz),
    .absinfo_flat = ABS(flat), .absinfo_res = ABS(res),
    .bus_virtual = BUS_VIRTUAL,
    .ev_syn = EV_SYN, .ev_key = EV_KEY, .ev_rel = EV_REL, .ev_abs = EV_ABS, .ev_led = EV_LED,
    .ev_rep = EV_REP, .syn_report = SYN_REPORT,
    .key_esc = KEY_ESC, .key_a = KEY_A, .key_kpdot = KEY_KPDOT,
    .key_zenkakuhankaku = KEY_ZENKAKUHANKAKU, .key_power = KEY_POWER, .key_f24 = KEY_F24,
    .key_playcd = KEY_PLAYCD, .key_micmute = KEY_MICMUTE,
    .btn_left = BTN_LEFT, .btn_right = BTN_RIGHT, .btn_middle = BTN_MIDDLE,
    .btn_misc = BTN_MISC, .key_max = KEY_MAX,
    .rel_hwheel = REL_HWHEEL, .rel_wheel = REL_WHEEL, .abs_x = ABS_X, .abs_y = ABS_Y,
    .led_numl = LED_NUML, .led_capsl = LED_CAPSL, .led_scrolll = LED_SCROLLL,
    .rep_delay = REP_DELAY, .rep_period = REP_PERIOD,
};

const unsigned linux_keyboard_keys[] = {
    KEY_ESC, KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9, KEY_0, KEY_MINUS,
    KEY_EQUAL, KEY_BACKSPACE, KEY_TAB, KEY_Q, KEY_W, KEY_E, KEY_R, KEY_T, KEY_Y, KEY_U, KEY_I,
    KEY_O, KEY_P, KEY_LEFTBRACE, KEY_RIGHTBRACE, KEY_ENTER, KEY_LEFTCTRL, KEY_A, KEY_S, KEY_D,
    KEY_F, KEY_G, KEY_H, KEY_J, KEY_K, KEY_L, KEY_SEMICOLON, KEY_APOSTROPHE, KEY_GRAVE,
    KEY_LEFTSHIFT, KEY_BACKSLASH, KEY_Z, KEY_X, KEY_C, KEY_V, KEY_B, KEY_N, KEY_M, KEY_COMMA,
    KEY_DOT, KEY_SLASH, KEY_RIGHTSHIFT, KEY_KPASTERISK, KEY_LEFTALT, KEY_SPACE, KEY_CAPSLOCK,
    KEY_F1, KEY_F2, KEY_F3, KEY_F4, KEY_F5, KEY_F6, KEY_F7, KEY_F8, KEY_F9, KEY_F10,
    KEY_NUMLOCK, KEY_SCROLLLOCK, KEY_KP7, KEY_KP8, KEY_KP9, KEY_KPMINUS, KEY_KP4, KEY_KP5,
    KEY_KP6, KEY_KPPLUS, KEY_KP1, KEY_KP2, KEY_KP3, KEY_KP0, KEY_KPDOT, KEY_ZENKAKUHANKAKU,
    KEY_102ND, KEY_F11, KEY_F12, KEY_RO, KEY_KATAKANA, KEY_HIRAGANA, KEY_HENKAN,
    KEY_KATAKANAHIRAGANA, KEY_MUHENKAN, KEY_KPJPCOMMA, KEY_KPENTER, KEY_RIGHTCTRL, KEY_KPSLASH,
    KEY_SYSRQ, KEY_RIGHTALT, KEY_LINEFEED, KEY_HOME, KEY_UP, KEY_PAGEUP, KEY_LEFT, KEY_RIGHT,
    KEY_END, KEY_DOWN, KEY_PAGEDOWN, KEY_INSERT, KEY_DELETE, KEY_MACRO, KEY_MUTE,
    KEY_VOLUMEDOWN, KEY_VOLUMEUP, KEY_POWER, KEY_KPEQUAL, KEY_KPPLUSMINUS, KEY_PAUSE, KEY_SCALE,
    KEY_KPCOMMA, KEY_HANGEUL, KEY_HANJA, KEY_YEN, KEY_LEFTMETA, KEY_RIGHTMETA, KEY_COMPOSE,
    KEY_STOP, KEY_AGAIN, KEY_PROPS, KEY_UNDO, KEY_FRONT, KEY_COPY, KEY_OPEN, KEY_PASTE,
    KEY_FIND, KEY_CUT, KEY_HELP, KEY_MENU, KEY_CALC, KEY_SETUP, KEY_SLEEP, KEY_WAKEUP, KEY_FILE,
    KEY_SENDFILE, KEY_DELETEFILE, KEY_XFER, KEY_PROG1, KEY_PROG2, KEY_WWW, KEY_MSDOS,
    KEY_COFFEE, KEY_ROTATE_DISPLAY, KEY_CYCLEWINDOWS, KEY_MAIL, KEY_BOOKMARKS, KEY_COMPUTER,
    KEY_BACK, KEY_FORWARD, KEY_CLOSECD, KEY_EJECTCD, KEY_EJECTCLOSECD, KEY_NEXTSONG,
    KEY_PLAYPAUSE, KEY_PREVIOUSSONG, KEY_STOPCD, KEY_RECORD, KEY_REWIND, KEY_PHONE, KEY_ISO,
    KEY_CONFIG, KEY_HOMEPAGE, KEY_REFRESH, KEY_EXIT, KEY_MOVE, KEY_EDIT, KEY_SCROLLUP,
    KEY_SCROLLDOWN, KEY_KPLEFTPAREN, KEY_KPRIGHTPAREN, KEY_NEW, KEY_REDO, KEY_F13, KEY_F14,
    KEY_F15, KEY_F16, KEY_F17, KEY_F18, KEY_F19, KEY_F20, KEY_F21, KEY_F22, KEY_F23, KEY_F24,
    KEY_PLAYCD, KEY_PAUSECD, KEY_PROG3, KEY_PROG4, KEY_ALL_APPLICATIONS, KEY_SUSPEND, KEY_CLOSE,
    KEY_PLAY, KEY_FASTFORWARD, KEY_BASSBOOST, KEY_PRINT, KEY_HP, KEY_CAMERA, KEY_SOUND,
    KEY_QUESTION, KEY_EMAIL, KEY_CHAT, KEY_SEARCH, KEY_CONNECT, KEY_FINANCE, KEY_SPORT,
    KEY_SHOP, KEY_ALTERASE, KEY_CANCEL, KEY_BRIGHTNESSDOWN, KEY_BRIGHTNESSUP, KEY_MEDIA,
    KEY_SWITCHVIDEOMODE, KEY_KBDILLUMTOGGLE, KEY_KBDILLUMDOWN, KEY_KBDILLUMUP, KEY_SEND,
    KEY_REPLY, KEY_FORWARDMAIL, KEY_SAVE, KEY_DOCUMENTS, KEY_BATTERY, KEY_BLUETOOTH, KEY_WLAN,
    KEY_UWB, KEY_UNKNOWN, KEY_VIDEO_NEXT, KEY_VIDEO_PREV, KEY_BRIGHTNESS_CYCLE,
    KEY_BRIGHTNESS_AUTO, KEY_DISPLAY_OFF, KEY_WWAN, KEY_RFKILL, KEY_MICMUTE,
};
const size_t linux_keyboard_keys_count =
    sizeof(linux_keyboard_keys) / sizeof(linux_keyboard_keys[0]);
