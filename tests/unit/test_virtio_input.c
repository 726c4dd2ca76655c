/* virtio-input: the constants, checked against Linux's headers
 * (linux_virtio_input.c). */
#include <check.h>

#include "devices/evdev.h"
#include "devices/virtio.h"
#include "linux_virtio_input.h"
#include "unit.h"

/* ---- constants ------------------------------------------------------------------------- */

START_TEST(test_constants_match_linux)
{
    const struct linux_virtio_input *l = &linux_virtio_input;
    ck_assert_int_eq(VIRTIO_ID_INPUT, l->id_input);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_UNSET, l->cfg_unset);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_ID_NAME, l->cfg_id_name);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_ID_SERIAL, l->cfg_id_serial);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_ID_DEVIDS, l->cfg_id_devids);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_PROP_BITS, l->cfg_prop_bits);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_EV_BITS, l->cfg_ev_bits);
    ck_assert_int_eq(VIRTIO_INPUT_CFG_ABS_INFO, l->cfg_abs_info);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_OFF_SELECT, l->off_select);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_OFF_SUBSEL, l->off_subsel);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_OFF_SIZE, l->off_size);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_OFF_UNION, l->off_union);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_UNION_BYTES, l->union_bytes);
    ck_assert_uint_eq(VIRTIO_INPUT_CFG_BYTES, l->config_bytes);
    ck_assert_uint_eq(VIRTIO_INPUT_ABSINFO_BYTES, l->absinfo_bytes);
    ck_assert_uint_eq(VIRTIO_INPUT_DEVIDS_BYTES, l->devids_bytes);
    ck_assert_uint_eq(VIRTIO_INPUT_EVENT_BYTES, l->event_bytes);
    /* absinfo: le32 min, max, fuzz, flat, res in that order */
    ck_assert_uint_eq(l->absinfo_min, 0);
    ck_assert_uint_eq(l->absinfo_max, 4);
    ck_assert_uint_eq(l->absinfo_fuzz, 8);
    ck_assert_uint_eq(l->absinfo_flat, 12);
    ck_assert_uint_eq(l->absinfo_res, 16);
    ck_assert_int_eq(EVDEV_BUS_VIRTUAL, l->bus_virtual);
    ck_assert_int_eq(EVDEV_EV_SYN, l->ev_syn);
    ck_assert_int_eq(EVDEV_EV_KEY, l->ev_key);
    ck_assert_int_eq(EVDEV_EV_REL, l->ev_rel);
    ck_assert_int_eq(EVDEV_EV_ABS, l->ev_abs);
    ck_assert_int_eq(EVDEV_EV_LED, l->ev_led);
    ck_assert_int_eq(EVDEV_EV_REP, l->ev_rep);
    ck_assert_int_eq(EVDEV_SYN_REPORT, l->syn_report);
    ck_assert_int_eq(EVDEV_KEY_ESC, l->key_esc);
    ck_assert_int_eq(EVDEV_KEY_A, l->key_a);
    ck_assert_int_eq(EVDEV_KEY_KPDOT, l->key_kpdot);
    ck_assert_int_eq(EVDEV_KEY_ZENKAKUHANKAKU, l->key_zenkakuhankaku);
    ck_assert_int_eq(EVDEV_KEY_POWER, l->key_power);
    ck_assert_int_eq(EVDEV_KEY_F24, l->key_f24);
    ck_assert_int_eq(EVDEV_KEY_PLAYCD, l->key_playcd);
    ck_assert_int_eq(EVDEV_KEY_MICMUTE, l->key_micmute);
    ck_assert_int_eq(EVDEV_BTN_LEFT, l->btn_left);
    ck_assert_int_eq(EVDEV_BTN_RIGHT, l->btn_right);
    ck_assert_int_eq(EVDEV_BTN_MIDDLE, l->btn_middle);
    ck_assert_int_eq(EVDEV_REL_HWHEEL, l->rel_hwheel);
    ck_assert_int_eq(EVDEV_REL_WHEEL, l->rel_wheel);
    ck_assert_int_eq(EVDEV_ABS_X, l->abs_x);
    ck_assert_int_eq(EVDEV_ABS_Y, l->abs_y);
    ck_assert_int_eq(EVDEV_LED_NUML, l->led_numl);
    ck_assert_int_eq(EVDEV_LED_CAPSL, l->led_capsl);
    ck_assert_int_eq(EVDEV_LED_SCROLLL, l->led_scrolll);
    ck_assert_int_eq(EVDEV_REP_DELAY, l->rep_delay);
    ck_assert_int_eq(EVDEV_REP_PERIOD, l->rep_period);
}
END_TEST

static Suite *input_suite(void)
{
    Suite *s = suite_create("virtio_input");
    TCase *tables = tcase_create("tables");
    tcase_add_test(tables, test_constants_match_linux);
    suite_add_tcase(s, tables);
    return s;
}

int main(void)
{
    return run_suite(input_suite());
}
