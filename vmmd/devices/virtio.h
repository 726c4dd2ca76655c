/* Virtio constants, written from the specification (Virtual I/O Device
 * (VIRTIO) Version 1.2, OASIS), each with its section. tests/unit/test_virtqueue.c
 * checks them against Linux's <linux/virtio_*.h> where those exist. */
#ifndef IGNITION_VIRTIO_H
#define IGNITION_VIRTIO_H

/* §2.1 Device Status Field */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

/* §6 Reserved Feature Bits */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35

/* §2.7.5 The Virtqueue Descriptor Table */
#define VIRTQ_DESC_F_NEXT 1u
#define VIRTQ_DESC_F_WRITE 2u
#define VIRTQ_DESC_F_INDIRECT 4u
#define VIRTQ_DESC_SIZE 16u

/* §2.7.6 The Virtqueue Available Ring, §2.7.8 The Virtqueue Used Ring */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQ_USED_F_NO_NOTIFY 1u

/* §2.7 Split Virtqueues: "Queue Size ... maximum ... is 32768" */
#define VIRTQ_MAX_SIZE 32768u

/* §2.7 alignment of the three parts of a split virtqueue */
#define VIRTQ_DESC_ALIGN 16u
#define VIRTQ_AVAIL_ALIGN 2u
#define VIRTQ_USED_ALIGN 4u

/* §5 Device Types */
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_GPU 16
#define VIRTIO_ID_INPUT 18

/* §5.2.3 Block Device: Feature bits */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* §5.2.4 Block Device: Device configuration layout (byte offsets) */
#define VIRTIO_BLK_CFG_CAPACITY 0
#define VIRTIO_BLK_CFG_SIZE_MAX 8
#define VIRTIO_BLK_CFG_SEG_MAX 12
#define VIRTIO_BLK_CFG_GEOMETRY 16
#define VIRTIO_BLK_CFG_BLK_SIZE 20
#define VIRTIO_BLK_CFG_PHYSICAL_BLOCK_EXP 24
#define VIRTIO_BLK_CFG_ALIGNMENT_OFFSET 25
#define VIRTIO_BLK_CFG_MIN_IO_SIZE 26
#define VIRTIO_BLK_CFG_OPT_IO_SIZE 28
#define VIRTIO_BLK_CFG_WRITEBACK 32
#define VIRTIO_BLK_CFG_NUM_QUEUES 34
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT 44
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS 48
#define VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG 52
#define VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP 56
#define VIRTIO_BLK_CFG_SIZE 60 /* through write_zeroes_may_unmap and its padding */

/* §5.2.6 Block Device: Device Operation */
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_T_DISCARD 11u
#define VIRTIO_BLK_T_WRITE_ZEROES 13u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u
#define VIRTIO_BLK_ID_BYTES 20u
#define VIRTIO_BLK_REQ_HEADER_SIZE 16u /* le32 type, le32 reserved, le64 sector */
#define VIRTIO_BLK_DWZ_SEGMENT_SIZE 16u /* le64 sector, le32 num_sectors, le32 flags */
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1u

/* §5.7.2 GPU Device: Virtqueues */
#define VIRTIO_GPU_CONTROLQ 0
#define VIRTIO_GPU_CURSORQ 1

/* §5.7.3 GPU Device: Feature bits */
#define VIRTIO_GPU_F_VIRGL 0
#define VIRTIO_GPU_F_EDID 1
#define VIRTIO_GPU_F_RESOURCE_UUID 2
#define VIRTIO_GPU_F_RESOURCE_BLOB 3
#define VIRTIO_GPU_F_CONTEXT_INIT 4

/* §5.7.4 GPU Device: Device configuration layout (byte offsets) */
#define VIRTIO_GPU_CFG_EVENTS_READ 0
#define VIRTIO_GPU_CFG_EVENTS_CLEAR 4
#define VIRTIO_GPU_CFG_NUM_SCANOUTS 8
#define VIRTIO_GPU_CFG_NUM_CAPSETS 12
#define VIRTIO_GPU_CFG_SIZE 16
#define VIRTIO_GPU_EVENT_DISPLAY 1u

/* §5.7.6.7 Device Operation: Request header (enum virtio_gpu_ctrl_type) */
#define VIRTIO_GPU_CMD_GET_DISPLAY_INFO 0x0100u
#define VIRTIO_GPU_CMD_RESOURCE_CREATE_2D 0x0101u
#define VIRTIO_GPU_CMD_RESOURCE_UNREF 0x0102u
#define VIRTIO_GPU_CMD_SET_SCANOUT 0x0103u
#define VIRTIO_GPU_CMD_RESOURCE_FLUSH 0x0104u
#define VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D 0x0105u
#define VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING 0x0106u
#define VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING 0x0107u
#define VIRTIO_GPU_CMD_GET_CAPSET_INFO 0x0108u
#define VIRTIO_GPU_CMD_GET_CAPSET 0x0109u
#define VIRTIO_GPU_CMD_GET_EDID 0x010au
#define VIRTIO_GPU_CMD_RESOURCE_ASSIGN_UUID 0x010bu
#define VIRTIO_GPU_CMD_RESOURCE_CREATE_BLOB 0x010cu
#define VIRTIO_GPU_CMD_SET_SCANOUT_BLOB 0x010du
#define VIRTIO_GPU_CMD_CTX_CREATE 0x0200u
#define VIRTIO_GPU_CMD_CTX_DESTROY 0x0201u
#define VIRTIO_GPU_CMD_CTX_ATTACH_RESOURCE 0x0202u
#define VIRTIO_GPU_CMD_CTX_DETACH_RESOURCE 0x0203u
#define VIRTIO_GPU_CMD_RESOURCE_CREATE_3D 0x0204u
#define VIRTIO_GPU_CMD_TRANSFER_TO_HOST_3D 0x0205u
#define VIRTIO_GPU_CMD_TRANSFER_FROM_HOST_3D 0x0206u
#define VIRTIO_GPU_CMD_SUBMIT_3D 0x0207u
#define VIRTIO_GPU_CMD_RESOURCE_MAP_BLOB 0x0208u
#define VIRTIO_GPU_CMD_RESOURCE_UNMAP_BLOB 0x0209u
#define VIRTIO_GPU_CMD_UPDATE_CURSOR 0x0300u
#define VIRTIO_GPU_CMD_MOVE_CURSOR 0x0301u
#define VIRTIO_GPU_RESP_OK_NODATA 0x1100u
#define VIRTIO_GPU_RESP_OK_DISPLAY_INFO 0x1101u
#define VIRTIO_GPU_RESP_OK_CAPSET_INFO 0x1102u
#define VIRTIO_GPU_RESP_OK_CAPSET 0x1103u
#define VIRTIO_GPU_RESP_OK_EDID 0x1104u
#define VIRTIO_GPU_RESP_OK_RESOURCE_UUID 0x1105u
#define VIRTIO_GPU_RESP_OK_MAP_INFO 0x1106u
#define VIRTIO_GPU_RESP_ERR_UNSPEC 0x1200u
#define VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY 0x1201u
#define VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID 0x1202u
#define VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID 0x1203u
#define VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID 0x1204u
#define VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER 0x1205u
#define VIRTIO_GPU_FLAG_FENCE 1u
#define VIRTIO_GPU_FLAG_INFO_RING_IDX 2u

/* §5.7.6.7 struct virtio_gpu_ctrl_hdr: le32 type, le32 flags, le64 fence_id,
 * le32 ctx_id, u8 ring_idx, u8 padding[3] (byte offsets) */
#define VIRTIO_GPU_HDR_TYPE 0
#define VIRTIO_GPU_HDR_FLAGS 4
#define VIRTIO_GPU_HDR_FENCE_ID 8
#define VIRTIO_GPU_HDR_CTX_ID 16
#define VIRTIO_GPU_HDR_RING_IDX 20
#define VIRTIO_GPU_HDR_SIZE 24

/* §5.7.6.8 Device Operation: controlq. Every request starts with the header;
 * the offsets below count from the start of the request. A struct
 * virtio_gpu_rect is le32 x, y, width, height. */
#define VIRTIO_GPU_MAX_SCANOUTS 16
#define VIRTIO_GPU_RECT_SIZE 16
/* struct virtio_gpu_resp_display_info: pmodes[16] of {rect r, le32 enabled, le32 flags} */
#define VIRTIO_GPU_DISPLAY_ONE_SIZE 24
#define VIRTIO_GPU_DISPLAY_ONE_ENABLED 16
#define VIRTIO_GPU_RESP_DISPLAY_INFO_SIZE \
    (VIRTIO_GPU_HDR_SIZE + VIRTIO_GPU_MAX_SCANOUTS * VIRTIO_GPU_DISPLAY_ONE_SIZE)
/* struct virtio_gpu_get_edid: le32 scanout, le32 padding */
#define VIRTIO_GPU_GET_EDID_SCANOUT 24
#define VIRTIO_GPU_GET_EDID_SIZE 32
/* struct virtio_gpu_resp_edid: le32 size, le32 padding, u8 edid[1024] */
#define VIRTIO_GPU_RESP_EDID_SIZE_FIELD 24
#define VIRTIO_GPU_RESP_EDID_DATA 32
#define VIRTIO_GPU_EDID_BYTES 1024
#define VIRTIO_GPU_RESP_EDID_SIZE (VIRTIO_GPU_RESP_EDID_DATA + VIRTIO_GPU_EDID_BYTES)
/* struct virtio_gpu_resource_create_2d: le32 resource_id, format, width, height */
#define VIRTIO_GPU_CREATE_2D_RESOURCE_ID 24
#define VIRTIO_GPU_CREATE_2D_FORMAT 28
#define VIRTIO_GPU_CREATE_2D_WIDTH 32
#define VIRTIO_GPU_CREATE_2D_HEIGHT 36
#define VIRTIO_GPU_CREATE_2D_SIZE 40
/* struct virtio_gpu_resource_unref / _detach_backing: le32 resource_id, le32 padding */
#define VIRTIO_GPU_UNREF_RESOURCE_ID 24
#define VIRTIO_GPU_UNREF_SIZE 32
#define VIRTIO_GPU_DETACH_BACKING_RESOURCE_ID 24
#define VIRTIO_GPU_DETACH_BACKING_SIZE 32
/* struct virtio_gpu_set_scanout: rect r, le32 scanout_id, le32 resource_id */
#define VIRTIO_GPU_SET_SCANOUT_RECT 24
#define VIRTIO_GPU_SET_SCANOUT_SCANOUT_ID 40
#define VIRTIO_GPU_SET_SCANOUT_RESOURCE_ID 44
#define VIRTIO_GPU_SET_SCANOUT_SIZE 48
/* struct virtio_gpu_resource_flush: rect r, le32 resource_id, le32 padding */
#define VIRTIO_GPU_FLUSH_RECT 24
#define VIRTIO_GPU_FLUSH_RESOURCE_ID 40
#define VIRTIO_GPU_FLUSH_SIZE 48
/* struct virtio_gpu_transfer_to_host_2d: rect r, le64 offset, le32 resource_id, le32 padding */
#define VIRTIO_GPU_TRANSFER_RECT 24
#define VIRTIO_GPU_TRANSFER_OFFSET 40
#define VIRTIO_GPU_TRANSFER_RESOURCE_ID 48
#define VIRTIO_GPU_TRANSFER_SIZE 56
/* struct virtio_gpu_resource_attach_backing: le32 resource_id, le32 nr_entries,
 * then nr_entries struct virtio_gpu_mem_entry: le64 addr, le32 length, le32 padding */
#define VIRTIO_GPU_ATTACH_BACKING_RESOURCE_ID 24
#define VIRTIO_GPU_ATTACH_BACKING_NR_ENTRIES 28
#define VIRTIO_GPU_ATTACH_BACKING_SIZE 32
#define VIRTIO_GPU_MEM_ENTRY_ADDR 0
#define VIRTIO_GPU_MEM_ENTRY_LENGTH 8
#define VIRTIO_GPU_MEM_ENTRY_SIZE 16

/* §5.7.6.8 enum virtio_gpu_formats: named by byte order in memory, 4 bytes a pixel */
#define VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM 1u
#define VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM 2u
#define VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM 3u
#define VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM 4u
#define VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM 67u
#define VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM 68u
#define VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM 121u
#define VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM 134u

/* §5.7.6.10 Device Operation: cursorq. struct virtio_gpu_update_cursor:
 * cursor_pos {le32 scanout_id, x, y, padding}, le32 resource_id, hot_x, hot_y, padding */
#define VIRTIO_GPU_CURSOR_SCANOUT_ID 24
#define VIRTIO_GPU_CURSOR_X 28
#define VIRTIO_GPU_CURSOR_Y 32
#define VIRTIO_GPU_CURSOR_RESOURCE_ID 40
#define VIRTIO_GPU_CURSOR_HOT_X 44
#define VIRTIO_GPU_CURSOR_HOT_Y 48
#define VIRTIO_GPU_UPDATE_CURSOR_SIZE 56

/* §5.8.2 Input Device: Virtqueues */
#define VIRTIO_INPUT_EVENTQ 0
#define VIRTIO_INPUT_STATUSQ 1

/* §5.8.4 Input Device: Device configuration layout. The driver writes select
 * and subsel; the device answers with size and the union. */
#define VIRTIO_INPUT_CFG_UNSET 0x00
#define VIRTIO_INPUT_CFG_ID_NAME 0x01
#define VIRTIO_INPUT_CFG_ID_SERIAL 0x02
#define VIRTIO_INPUT_CFG_ID_DEVIDS 0x03
#define VIRTIO_INPUT_CFG_PROP_BITS 0x10
#define VIRTIO_INPUT_CFG_EV_BITS 0x11
#define VIRTIO_INPUT_CFG_ABS_INFO 0x12
/* byte offsets: u8 select, u8 subsel, u8 size, u8 reserved[5], then the union */
#define VIRTIO_INPUT_CFG_OFF_SELECT 0
#define VIRTIO_INPUT_CFG_OFF_SUBSEL 1
#define VIRTIO_INPUT_CFG_OFF_SIZE 2
#define VIRTIO_INPUT_CFG_OFF_UNION 8
#define VIRTIO_INPUT_CFG_UNION_BYTES 128 /* string, bitmap, absinfo or devids */
#define VIRTIO_INPUT_CFG_BYTES (VIRTIO_INPUT_CFG_OFF_UNION + VIRTIO_INPUT_CFG_UNION_BYTES)
/* struct virtio_input_absinfo: le32 min, max, fuzz, flat, res */
#define VIRTIO_INPUT_ABSINFO_BYTES 20
/* struct virtio_input_devids: le16 bustype, vendor, product, version */
#define VIRTIO_INPUT_DEVIDS_BYTES 8

/* §5.8.6 Input Device: Device Operation. struct virtio_input_event is
 * le16 type, le16 code, le32 value: one per eventq and statusq buffer. */
#define VIRTIO_INPUT_EVENT_BYTES 8

#endif
