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
