/* What the guest worker does with snapshots (snapshot_file.h's container,
 * snapshot_manifest.h's body): writing one of its stopped machine, and
 * preparing a restore from one: the machine's configuration, state and
 * memory, and the disk layers cloned into the new instance directory. */
#ifndef IGNITION_WORKER_SNAPSHOT_H
#define IGNITION_WORKER_SNAPSHOT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/disk.h"
#include "machine/machine.h"
#include "storage/snapshot_file.h"
#include "storage/snapshot_manifest.h"

/* Writes the machine (its vCPU stopped: machine_run returned HV_EXIT_STOPPED)
 * as the snapshot path, which replaces any snapshot there only once complete.
 * config describes the machine; its disks' layer names are filled here. Logs
 * how long each phase took. Returns 0, or -1 with a one-line reason in err
 * (nothing is left of the new snapshot then). The guest may run again as soon
 * as this returns. */
int worker_snapshot_write(struct machine *m, struct snapshot_machine_config *config,
                          const char *path, char *err, size_t err_len);

/* A snapshot opened for a restore. The disk specs point into config. */
struct worker_restore {
    struct snapshot_reader *reader;
    struct snapshot_machine_config config;
    struct machine_snapshot state;
    struct disk_spec disks[SNAPSHOT_MAX_DISKS];
    void *ram; /* the memory file mapped private; NULL once handed over */
    uint64_t ram_size;
    /* The memory file mapped read-only (ram_size bytes): RAM as it was saved,
     * for what the machine reads after its guest runs (machine_config's
     * restore_saved_ram). Kept until worker_restore_free. */
    const void *saved_ram;
    /* Layers copied but not yet durable (-1: none), and the thread that
     * makes them so (worker_restore_sync_disks). */
    int unsynced[SNAPSHOT_MAX_DISKS];
    pthread_t syncer;
    bool syncing;
};

/* Opens and checks the snapshot at dir, decodes its manifest and maps its
 * memory. Returns a restore to free with worker_restore_free, or NULL with a
 * one-line reason in err. */
struct worker_restore *worker_restore_open(const char *dir, char *err, size_t err_len);

/* Copies each writable disk's layer out of the snapshot into instance_dir,
 * where disk_open finds it; the snapshot itself is never written. Refuses an
 * instance directory that has layers of its own. Returns 0, or -1 with a
 * reason. */
/* Reads the snapshot's memory file through and checks its checksums, unless
 * checked_id (or NULL) is the file's snapshot_memory_id as it is now: a file
 * checked before and not changed since. *read_through says which. Returns 0,
 * or -1 with a reason naming the snapshot and the bad region. */
int worker_restore_check_memory(struct worker_restore *r, const char *checked_id,
                                bool *read_through, char *err, size_t err_len);

int worker_restore_disks(struct worker_restore *r, const char *instance_dir, char *err,
                         size_t err_len);

/* The copied layers are checked (their CRC-32 against the manifest's) before
 * worker_restore_disks returns, but made durable only now, on a thread of
 * its own, once the guest runs: an fsync took 8 to 17 ms here, which the
 * guest need not wait for (its own flushes sync the same files). The thread
 * logs when they are durable, or why not; worker_restore_free waits for it.
 * Where no thread can be had they are synced before this returns. */
void worker_restore_sync_disks(struct worker_restore *r);

/* A clone's time continues from the host's, not from the moment of the save:
 * the saved counter moves on by the host's wall-clock time since then (at the
 * generic timer's 62.5 MHz), so the guest's own clocks, monotonic and wall,
 * read as if it had run all along. Linux takes the jump without soft-lockup or
 * RCU-stall reports (docs/CLONE-IDENTITY.md has the evidence). A host clock that
 * went back leaves the counter as saved; the counter saturates rather than
 * wraps. now_realtime_ns is the host's CLOCK_REALTIME. Returns the ticks added. */
uint64_t worker_restore_catch_up_clock(struct worker_restore *r, int64_t now_realtime_ns);

/* Waits for the disks' sync, unmaps the memory unless it was handed to a
 * machine (set r->ram to NULL then) and frees the rest. NULL is fine. */
void worker_restore_free(struct worker_restore *r);

#endif
