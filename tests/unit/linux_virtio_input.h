/* Linux's virtio-input and evdev values (<linux/virtio_input.h>, <linux/input.h>),
 * captured in their own translation unit: their names are ours too. */
#ifndef IGNITION_TEST_LINUX_VIRTIO_INPUT_H
#define IGNITION_TEST_LINUX_VIRTIO_INPUT_H

#include <stddef.h>

struct linux_virtio_input {
    int id_input;
    int cfg_unset, cfg_id_name, cfg_id_serial, cfg_id_devids, cfg_prop_bits, cfg_ev_bits,
        cfg_abs_info;
    size_t off_select, off_subsel, off_size, off_union, union_bytes, config_bytes;
    size_t absinfo_bytes, devids_bytes, event_bytes;
    size_t absinfo_min, absinfo_max, absinfo_fuzz, absinfo_flat, absinfo_res;
    int bus_virtual;
    int ev_syn, ev_key, ev_rel, ev_abs, ev_led, ev_rep, syn_report;
    int key_esc, key_a, key_kpdot, key_zenkakuhankaku, key_power, key_f24, key_playcd,
        key_micmute;
    int btn_left, btn_right, btn_middle, btn_misc, key_max;
    int rel_hwheel, rel_wheel, abs_x, abs_y;
    int led_numl, led_capsl, led_scrolll, rep_delay, rep_period;
};

extern const struct linux_virtio_input linux_virtio_input;

/* Every KEY_* code Linux defines from KEY_ESC through KEY_MICMUTE. */
extern const unsigned linux_keyboard_keys[];
extern const size_t linux_keyboard_keys_count;

#endif
