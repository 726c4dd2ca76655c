/* The snapshot manifest's body (proto/snapshot.proto): the machine's
 * configuration and state, encoded for snapshot_writer_manifest and decoded
 * from what snapshot_manifest gives back (snapshot_file.h).
 *
 * Decoding is where a snapshot's bytes become C structures, so it checks the
 * structure: the format version, every count and array length against the C
 * structures' bounds, every value against the width of the field it goes into,
 * and strings against their buffers. Each device's state stays the bytes its
 * save gave: the device's own load decodes them and checks every value (a
 * register no write could produce, a queue address outside RAM) when the
 * restore loads it. Nothing here names a device. */
#ifndef IGNITION_SNAPSHOT_MANIFEST_H
#define IGNITION_SNAPSHOT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine/machine.h"
#include "machine/machine_snapshot.h"

/* The body's format; a decoder refuses any other (SNAPSHOT_FORMAT_VERSION is
 * the container's). Version 2: each device's state is its own message. */
#define SNAPSHOT_MANIFEST_VERSION 2u

#define SNAPSHOT_MAX_DISKS 16
#define SNAPSHOT_BACKEND_NAME_MAX 15 /* "emu", "kvm", "hvf" */
#define SNAPSHOT_DISK_SERIAL_MAX 20  /* virtio-blk's ID bytes */
#define SNAPSHOT_LAYER_NAME_MAX 63   /* a file name inside the snapshot directory */
#define SNAPSHOT_BASE_PATH_MAX 1023
/* The counter frequency of snapshots that name none: emu's generic timer. */
#define SNAPSHOT_EMU_COUNTER_HZ 62500000u
/* What protobuf-c may allocate decoding one body, whatever its bytes claim. */
#define SNAPSHOT_MANIFEST_DECODE_BUDGET (64u << 20)

struct snapshot_disk_config {
    bool read_only;
    char serial[SNAPSHOT_DISK_SERIAL_MAX + 1]; /* "" for none */
    /* The layer's file name inside the snapshot directory; "" for a read-only
     * disk, which is used in place. Never a path: no '/', not "." or "..". */
    char layer[SNAPSHOT_LAYER_NAME_MAX + 1];
    char base_path[SNAPSHOT_BASE_PATH_MAX + 1]; /* the image it was made from */
    /* The layer's CRC-32 (snapshot_writer_file), when summed: older
     * snapshots' layers were not. */
    bool layer_summed;
    uint32_t layer_crc32;
};

/* What rebuilds the same machine (struct machine_config's parts that shape
 * what the guest sees), and when and by what the snapshot was taken. */
/* The guest's network mode, as a clone keeps it (its port publishes are its own). */
#define SNAPSHOT_NET_NONE 0 /* also every snapshot older than networking */
#define SNAPSHOT_NET_USER 1
#define SNAPSHOT_NET_USER_HOST_LOOPBACK 2

struct snapshot_machine_config {
    char backend[SNAPSHOT_BACKEND_NAME_MAX + 1];
    uint64_t created_unix_ms;
    /* The host's clocks at the save: a restore tells from them how long the
     * snapshot waited (the monotonic one only on the same boot of the host). */
    uint64_t host_monotonic_ns;
    int64_t host_realtime_ns;
    uint64_t ram_size;
    char cmdline[MACHINE_MAX_CMDLINE];
    unsigned num_disks;
    struct snapshot_disk_config disks[SNAPSHOT_MAX_DISKS];
    bool gpu, keyboard;
    unsigned num_scanouts;
    uint32_t display_width, display_height;
    uint64_t gpu_memory;
    uint8_t net; /* SNAPSHOT_NET_*: what a restore or clone keeps */
    bool vsock;  /* a virtio-vsock (a clone has a CID of its own) */
    /* Filled by decode (the state's num_vcpus, for those that look at the
     * configuration only); encode takes the count from the state. */
    unsigned num_cpus;
};

/* Encodes config and state into a new buffer (*out, *len; the caller frees
 * it). Returns 0; -EINVAL with a reason when a count or string does not fit
 * the format or the body would exceed SNAPSHOT_BODY_MAX; -ENOMEM. */
int snapshot_manifest_encode(const struct snapshot_machine_config *config,
                             const struct machine_snapshot *state, uint8_t **out, size_t *len,
                             char *err, size_t err_len);

/* Decodes a body into config and state (overwritten whole; entries past each
 * count are zero). On success the state owns its devices' bytes: release it
 * with snapshot_manifest_free. Returns 0; -EINVAL with a reason for another
 * format version (an older one: "take the snapshot again") or a body that does
 * not decode or breaks a bound, leaving nothing to free; -ENOMEM. */
int snapshot_manifest_decode(const uint8_t *body, size_t len,
                             struct snapshot_machine_config *config,
                             struct machine_snapshot *state, char *err, size_t err_len);

/* Frees what decode allocated in state (safe on a zeroed state, and twice). */
void snapshot_manifest_free(struct machine_snapshot *state);

#endif
