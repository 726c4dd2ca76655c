/* The guest worker: one guest, its vCPU thread and its event loop. Used by
 * `vmmd run` in the foreground, and as the supervisor's per-guest worker
 * process (the same command with the supervised options). */
#ifndef IGNITION_WORKER_H
#define IGNITION_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/disk.h"
#include "worker/net_user.h"

#define WORKER_MAX_DISKS 16
/* --worker-log: rotated as the console log is (two viewer lines per attach
 * would otherwise grow it without end). */
#define WORKER_LOG_LIMIT (1u << 20)
#define WORKER_LOG_GENERATIONS 2

struct worker_options {
    const char *kernel;
    const char *initrd;
    const char *append;
    const char *backend; /* "emu", "kvm", "hvf" or "auto" */
    uint64_t ram_size;
    unsigned cpus; /* vCPUs, 1 .. MACHINE_MAX_CPUS (0 means 1) */
    struct disk_spec disks[WORKER_MAX_DISKS]; /* vda, vdb, ... */
    unsigned num_disks;
    const char *instance_dir; /* NULL: a new one under the state directory, */
    bool keep_instance;       /* removed when the run ends unless this is set */
    /* Display: a virtio-gpu with keyboard and tablet, published on a Unix socket
     * (socket_path, or NULL for one under the state directory). */
    bool gpu;
    const char *socket_path;
    unsigned num_scanouts;
    uint32_t display_width, display_height;
    uint64_t gpu_memory;
    /* The network: user-mode (libslirp) or none. A restore keeps the
     * snapshot's mode and host-loopback; its publishes are these. */
    struct net_config net;
    /* --host-loopback: a restore opens the host's loopback to the guest even
     * though its snapshot's network did not. */
    bool restore_host_loopback;
    /* virtio-vsock: the guest's CID and the host's Unix socket (NULL: one
     * named after the guest, or this process, in the run directory). A
     * restore has a vsock when its snapshot had one. */
    bool vsock;
    uint32_t vsock_cid;
    const char *vsock_socket;
    /* Run by a supervisor (each may be NULL / -1 alone): */
    const char *guest_name;     /* for viewers' Welcome and the log */
    const char *console_socket; /* the serial console served here, not on stdin/stdout;
                                 * SIGTERM then presses the guest's power button */
    const char *console_log;    /* all serial output appended here (rotated) */
    const char *lock_path;      /* held for the worker's life; one worker per guest */
    const char *exit_file;      /* one line as the worker exits: how it ended */
    int ready_fd;               /* "ready\n" once the machine exists and sockets listen */
    /* Snapshots: */
    const char *control_socket; /* answers SnapshotRequest (worker_control.h), or NULL */
    const char *restore_dir;    /* start from this snapshot instead of booting, or NULL:
                                 * the machine's config (memory, disks, display, command
                                 * line) is the snapshot's; kernel and initrd, if given,
                                 * are what a guest reset boots */
    const char *memory_checked; /* the snapshot_memory_id of a memory file whose
                                 * checksums were checked: the same file again is
                                 * not read through before the restore */
};

/* Runs the guest with its serial console on this process's stdin/stdout (or
 * the console socket) until it powers off or Ctrl-A x quits (returns 0), it
 * fails (1), or a signal stops it (128 + signal). A guest reset boots it again.
 * With a console socket the first SIGTERM asks the guest to power off (its
 * power button); a second SIGTERM, or SIGINT, stops it at once. */
int worker_run_console(const struct worker_options *options);

#endif
