/* The guest worker: one guest, its vCPU thread and its event loop. Used by
 * `vmmd run` in the foreground now, and by the supervisor's per-guest worker
 * processes later. */
#ifndef IGNITION_WORKER_H
#define IGNITION_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "disk.h"

#define WORKER_MAX_DISKS 16

struct worker_options {
    const char *kernel;
    const char *initrd;
    const char *append;
    const char *backend; /* "emu", "kvm", "hvf" or "auto" */
    uint64_t ram_size;
    struct disk_spec disks[WORKER_MAX_DISKS]; /* vda, vdb, ... */
    unsigned num_disks;
    const char *instance_dir; /* NULL: a new one under the state directory */
    /* Display: a virtio-gpu with keyboard and tablet, published on a Unix socket
     * (socket_path, or NULL for one under the state directory). */
    bool gpu;
    const char *socket_path;
    unsigned num_scanouts;
    uint32_t display_width, display_height;
    uint64_t gpu_memory;
};

/* Runs the guest with its serial console on this process's stdin/stdout until it
 * powers off or Ctrl-A x quits (returns 0), it fails (1), or a signal stops it
 * (128 + signal). A guest reset boots it again. */
int worker_run_console(const struct worker_options *options);

#endif
