/* Linux's <linux/virtio_blk.h> values, captured in their own translation unit:
 * its macro names are ours too, so the two headers cannot meet in one file. */
#ifndef IGNITION_TEST_LINUX_VIRTIO_BLK_H
#define IGNITION_TEST_LINUX_VIRTIO_BLK_H

#include <stddef.h>

struct linux_virtio_blk {
    int id_block;
    int t_in, t_out, t_flush, t_get_id, t_discard, t_write_zeroes;
    int s_ok, s_ioerr, s_unsupp, id_bytes, write_zeroes_flag_unmap;
    size_t dwz_segment_size, outhdr_size;
    int f_size_max, f_seg_max, f_geometry, f_ro, f_blk_size, f_flush, f_topology,
        f_config_wce, f_mq, f_discard, f_write_zeroes;
    size_t cfg_capacity, cfg_seg_max, cfg_blk_size, cfg_physical_block_exp, cfg_min_io_size,
        cfg_num_queues, cfg_max_discard_sectors, cfg_discard_sector_alignment,
        cfg_max_write_zeroes_seg, cfg_write_zeroes_may_unmap;
};

extern const struct linux_virtio_blk linux_virtio_blk;

#endif
