/* The ignition arm64 machine: RAM, the device list, the device tree and the
 * boot state, on top of one hv backend. */
#ifndef IGNITION_MACHINE_H
#define IGNITION_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/pl011.h"
#include "storage/disk.h"
#include "devices/display.h"
#include "devices/virtio_net.h"
#include "devices/virtio_vsock.h"
#include "hv/hv.h"
#include "machine/machine_snapshot.h"

/* Guest-physical layout (addresses as QEMU's "virt" board uses them, which is
 * what people and tools expect of an arm64 VM). */
#define MACHINE_GICD_BASE 0x08000000ull
#define MACHINE_GICR_BASE 0x080a0000ull
#define MACHINE_UART_BASE 0x09000000ull
#define MACHINE_RTC_BASE 0x09010000ull
#define MACHINE_GENID_BASE 0x09020000ull
#define MACHINE_VIRTIO_BASE 0x0a000000ull /* 0x200 per device */
#define MACHINE_VIRTIO_INTID(n) (32 + 16 + (n))
#define MACHINE_DEVICE_LIMIT 0x40000000ull
#define MACHINE_RAM_BASE 0x40000000ull
#define MACHINE_UART_INTID (32 + 1)
#define MACHINE_RTC_INTID (32 + 2)
#define MACHINE_GENID_INTID (32 + 3)
#define MACHINE_NUM_SPIS 64

/* One redistributor frame each between MACHINE_GICR_BASE and the UART. */

#define MACHINE_MIN_RAM (64ull << 20)
#define MACHINE_MAX_RAM (64ull << 30)
#define MACHINE_MAX_DEVICES 32
/* Linux/arm64's COMMAND_LINE_SIZE, terminating NUL included. */
#define MACHINE_MAX_CMDLINE 2048
#define MACHINE_MAX_CMDLINE_TEXT "2048"

struct machine_config {
    const char *kernel_path;
    const char *initrd_path; /* or NULL */
    const char *cmdline;
    uint64_t ram_size;
    unsigned num_cpus; /* 1 .. MACHINE_MAX_CPUS; 0 means 1 */
    const struct hv_ops *hv;
    pl011_output_fn console_output;
    void *console_opaque;
    int hvc_fd; /* host end of the virtio console (hvc0), or -1 for none */
    const struct disk_spec *disks; /* virtio-blk disks, vda first */
    unsigned num_disks;
    const char *instance_dir; /* where writable disks keep their layers */
    bool announce_disks;      /* log what each disk is (once per run, not per reset) */
    /* A virtio-gpu with a keyboard and a tablet (virtio-input), reporting to
     * display (may be NULL). Their virtio slots follow the disks': gpu,
     * keyboard, tablet. */
    bool gpu;
    /* The keyboard even without a GPU (the power button of a supervised guest),
     * then in the slot after the disks. */
    bool keyboard;
    unsigned num_scanouts;
    uint32_t display_width, display_height; /* the first scanout's initial mode */
    uint64_t gpu_memory;                    /* cap on host memory for guest resources */
    const struct display_ops *display;
    void *display_opaque;
    /* A virtio-net with this MAC, in the slot after the display's devices,
     * kicking this backend (worker/net_user.c). */
    bool net;
    uint8_t net_mac[6];
    struct virtio_net_backend net_backend;
    /* A virtio-vsock with this CID, in the slot after virtio-net's, kicking
     * this backend (worker/vsock_host.c). */
    bool vsock;
    uint64_t vsock_cid;
    struct virtio_vsock_backend vsock_backend;
    /* Restore instead of boot. The rest of the config must describe the
     * snapshot's machine (the same disks count, gpu, keyboard, scanouts and
     * hvc0): its devices are created as the config says, checked against the
     * snapshot's virtio slots, and take the snapshot's state. restore_ram (page
     * aligned, ram_size bytes, holding the snapshot's memory: typically
     * snapshot_map_memory's MAP_PRIVATE mapping) becomes guest RAM as it is;
     * no kernel, initrd or device tree is loaded. machine_create owns
     * restore_ram from the call on, also when it fails: it is munmapped.
     * restore_saved_ram (optional, the caller's, mapped as long as the
     * machine): the snapshot's memory read-only as it was saved, which devices
     * read what they load lazily from. */
    const struct machine_snapshot *restore;
    void *restore_ram;
    const void *restore_saved_ram;
};

struct machine;

/* Builds the machine and loads the kernel; nothing runs yet. Returns NULL with a
 * one-line reason in err. */
struct machine *machine_create(const struct machine_config *config, char *err, size_t err_len);
void machine_destroy(struct machine *m);

/* Runs the guest's vCPUs until it powers off, resets, fails or is stopped. */
int machine_run(struct machine *m, struct hv_exit *exit);
/* Thread-safe: asks machine_run to return soon (HV_EXIT_STOPPED). The request
 * holds, so machine_run returns at once again, until machine_clear_stop. */
void machine_stop(struct machine *m);
/* After a stop (e.g. to save the machine): machine_run then continues the same
 * guest where it stopped. Only while machine_run is not running. */
void machine_clear_stop(struct machine *m);

/* Saves the machine's state while its vCPU is not running (machine_run has
 * returned HV_EXIT_STOPPED): every device in its table, from the last to the
 * first (virtio devices are quiesced, completing the requests they took, before
 * the interrupt controller, first in the table, saves what those raised), then
 * the vCPU. Guest RAM is not copied: it is
 * machine_ram's, as it stands until the guest runs again. Returns 0, or -errno
 * with a one-line reason in err (out then holds nothing to free). Release out
 * with machine_snapshot_free. */
int machine_save(struct machine *m, struct machine_snapshot *out, char *err, size_t err_len);
void machine_snapshot_free(struct machine_snapshot *s);

/* Guest RAM (machine_save's counterpart in a snapshot), size bytes at
 * MACHINE_RAM_BASE. machine_ram_fd is the memfd it maps, for writers that skip
 * its holes; -1 for a restored machine, whose RAM maps the snapshot. */
const void *machine_ram(const struct machine *m, uint64_t *size);
int machine_ram_fd(const struct machine *m);
/* Disk number index (vda first) while the vCPU is stopped and its queues are
 * quiesced (after machine_save): makes what the guest wrote durable in the
 * disk's copy-on-write layer, so the layer can be copied as the disk stood.
 * *layer_path is NULL for a read-only disk. Returns 0 or -errno. */
int machine_flush_disk(struct machine *m, unsigned index, const char **layer_path);
/* Thread-safe: host input for the serial console. Returns bytes accepted. */
size_t machine_console_input(struct machine *m, const uint8_t *data, size_t len);

/* Thread-safe: host input for hvc0. Returns bytes accepted (0 without hvc0). */
size_t machine_hvc_input(struct machine *m, const uint8_t *data, size_t len);

/* The machine's virtio-gpu, keyboard and tablet, or NULL where there is none. */
struct device *machine_gpu(struct machine *m);
struct device *machine_keyboard(struct machine *m);
struct device *machine_tablet(struct machine *m);
struct device *machine_net(struct machine *m);
struct device *machine_vsock(struct machine *m);

/* Checks a RAM size against what the machine supports. */
int machine_check_ram_size(uint64_t bytes, char *err, size_t err_len);

#endif
