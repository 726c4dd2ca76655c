#include "linux_virtio_blk.h"

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#define CFG(field) offsetof(struct virtio_blk_config, field)

const struct linux_virtio_blk linux_virtio_blk = {
    .id_block = VIRTIO_ID_BLOCK,
    .t_in = VIRTIO_BLK_T_IN, .t_out = VIRTIO_BLK_T_OUT, .t_flush = VIRTIO_BLK_T_FLUSH,
    .t_get_id = VIRTIO_BLK_T_GET_ID, .t_discard = VIRTIO_BLK_T_DISCARD,
    .t_write_zeroes = VIRTIO_BLK_T_WRITE_ZEROES,
    .s_ok = VIRTIO_BLK_S_OK, .s_ioerr = VIRTIO_BLK_S_IOERR, .s_unsupp = VIRTIO_BLK_S_UNSUPP,
    .id_bytes = VIRTIO_BLK_ID_BYTES,
    .write_zeroes_flag_unmap = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
    .dwz_segment_size = sizeof(struct virtio_blk_discard_write_zeroes),
    .outhdr_size = sizeof(struct virtio_blk_outhdr),
    .f_size_max = VIRTIO_BLK_F_SIZE_MAX, .f_seg_max = VIRTIO_BLK_F_SEG_MAX,
    .f_geometry = VIRTIO_BLK_F_GEOMETRY, .f_ro = VIRTIO_BLK_F_RO,
    .f_blk_size = VIRTIO_BLK_F_BLK_SIZE, .f_flush = VIRTIO_BLK_F_FLUSH,
    .f_topology = VIRTIO_BLK_F_TOPOLOGY, .f_config_wce = VIRTIO_BLK_F_CONFIG_WCE,
    .f_mq = VIRTIO_BLK_F_MQ, .f_discard = VIRTIO_BLK_F_DISCARD,
    .f_write_zeroes = VIRTIO_BLK_F_WRITE_ZEROES,
    .cfg_capacity = CFG(capacity), .cfg_seg_max = CFG(seg_max), .cfg_blk_size = CFG(blk_size),
    .cfg_physical_block_exp = CFG(physical_block_exp), .cfg_min_io_size = CFG(min_io_size),
    .cfg_num_queues = CFG(num_queues), .cfg_max_discard_sectors = CFG(max_discard_sectors),
    .cfg_discard_sector_alignment = CFG(discard_sector_alignment),
    .cfg_max_write_zeroes_seg = CFG(max_write_zeroes_seg),
    .cfg_write_zeroes_may_unmap = CFG(write_zeroes_may_unmap),
};
