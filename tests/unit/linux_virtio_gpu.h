/* Linux's <linux/virtio_gpu.h> values, captured in their own translation unit:
 * its macro and enum names are ours too, so the two cannot meet in one file. */
#ifndef IGNITION_TEST_LINUX_VIRTIO_GPU_H
#define IGNITION_TEST_LINUX_VIRTIO_GPU_H

#include <stddef.h>

struct linux_virtio_gpu {
    int id_gpu;
    int f_virgl, f_edid, f_resource_uuid, f_resource_blob, f_context_init;
    int event_display, max_scanouts, flag_fence, flag_info_ring_idx;
    /* the command and response codes, in the order of our table in the test */
    int codes[39];
    int formats[8];
    size_t cfg_events_read, cfg_events_clear, cfg_num_scanouts, cfg_num_capsets, cfg_size;
    size_t hdr_type, hdr_flags, hdr_fence_id, hdr_ctx_id, hdr_ring_idx, hdr_size;
    size_t rect_size, display_one_size, display_one_enabled, resp_display_info_size;
    size_t get_edid_scanout, get_edid_size, resp_edid_size_field, resp_edid_data,
        resp_edid_size, edid_bytes;
    size_t create_2d_resource_id, create_2d_format, create_2d_width, create_2d_height,
        create_2d_size;
    size_t unref_resource_id, unref_size, detach_resource_id, detach_size;
    size_t set_scanout_rect, set_scanout_scanout_id, set_scanout_resource_id, set_scanout_size;
    size_t flush_rect, flush_resource_id, flush_size;
    size_t transfer_rect, transfer_offset, transfer_resource_id, transfer_size;
    size_t attach_resource_id, attach_nr_entries, attach_size;
    size_t mem_entry_addr, mem_entry_length, mem_entry_size;
    size_t cursor_scanout_id, cursor_x, cursor_y, cursor_resource_id, cursor_hot_x,
        cursor_hot_y, update_cursor_size;
};

extern const struct linux_virtio_gpu linux_virtio_gpu;

#endif
