#include "worker/worker_snapshot.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "devices/arch_timer.h"
#include "log.h"
#include "util.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The layer's file name in the snapshot is its name in the instance directory
 * ("disk0.img", "disk0.cow"): the kind of layer travels with the name, and a
 * restore puts it back where disk_open looks for it. */
static int layer_name(const char *layer_path, char *out, size_t out_len)
{
    const char *slash = strrchr(layer_path, '/');
    const char *name = slash ? slash + 1 : layer_path;
    if (!name[0] || strlen(name) >= out_len)
        return -1;
    snprintf(out, out_len, "%s", name);
    return 0;
}

static int write_disks(struct machine *m, struct snapshot_machine_config *config,
                       struct snapshot_writer *writer, char *err, size_t err_len)
{
    for (unsigned i = 0; i < config->num_disks; i++) {
        struct snapshot_disk_config *d = &config->disks[i];
        const char *layer = NULL;
        int rc = machine_flush_disk(m, i, &layer);
        if (rc < 0) {
            set_message(err, err_len, "disk %u: cannot flush its layer: %s", i, strerror(-rc));
            return -1;
        }
        d->layer[0] = '\0';
        d->layer_summed = false;
        if (!layer)
            continue; /* read-only: the image itself, used in place */
        if (layer_name(layer, d->layer, sizeof(d->layer)) < 0) {
            set_message(err, err_len, "disk %u: the layer %s has no usable name", i, layer);
            return -1;
        }
        if (snapshot_writer_file(writer, d->layer, layer, &d->layer_crc32, err, err_len) < 0)
            return -1;
        d->layer_summed = true;
    }
    return 0;
}

static int write_memory(struct machine *m, struct snapshot_writer *writer, char *err,
                        size_t err_len)
{
    uint64_t size;
    const void *ram = machine_ram(m, &size);
    int fd = machine_ram_fd(m);
    if (fd >= 0)
        return snapshot_writer_memory_file(writer, ram, fd, size, err, err_len);
    return snapshot_writer_memory(writer, ram, size, err, err_len);
}

static int write_manifest(const struct snapshot_machine_config *config,
                          const struct machine_snapshot *state, struct snapshot_writer *writer,
                          char *err, size_t err_len)
{
    uint8_t *body = NULL;
    size_t len = 0;
    if (snapshot_manifest_encode(config, state, &body, &len, err, err_len) < 0)
        return -1;
    int rc = snapshot_writer_manifest(writer, body, len, err, err_len);
    free(body);
    return rc;
}

int worker_snapshot_write(struct machine *m, struct snapshot_machine_config *config,
                          const char *path, char *err, size_t err_len)
{
    double t0 = now_ms();
    struct machine_snapshot *state = calloc(1, sizeof(*state));
    if (!state) {
        set_message(err, err_len, "out of memory");
        return -1;
    }
    if (machine_save(m, state, err, err_len) < 0) {
        free(state);
        return -1;
    }
    double t_save = now_ms();
    struct snapshot_writer *writer = NULL;
    int rc = -1;
    if (snapshot_writer_begin(path, &writer, err, err_len) < 0)
        goto out;
    if (write_memory(m, writer, err, err_len) < 0)
        goto out;
    double t_memory = now_ms();
    if (write_disks(m, config, writer, err, err_len) < 0)
        goto out;
    double t_disks = now_ms();
    if (write_manifest(config, state, writer, err, err_len) < 0)
        goto out;
    uint64_t data = snapshot_writer_memory_data(writer);
    struct snapshot_writer *committing = writer;
    writer = NULL; /* commit frees it, whatever happens */
    if (snapshot_writer_commit(committing, err, err_len) < 0)
        goto out;
    double t_end = now_ms();
    log_info("snapshot %s: save %.1f ms, memory %.1f ms (%llu KiB of data), disks %.1f ms, "
             "manifest and commit %.1f ms, total %.1f ms",
             path, t_save - t0, t_memory - t_save, (unsigned long long)(data >> 10),
             t_disks - t_memory, t_end - t_disks, t_end - t0);
    rc = 0;
out:
    snapshot_writer_abort(writer);
    machine_snapshot_free(state);
    free(state);
    return rc;
}

/* ---- restore ----------------------------------------------------------------------------- */

/* Disk i's layer must be where disk_open looks for disk i's: another name
 * would leave the disk a fresh layer and the guest's writes behind. */
static bool layer_name_fits(const char *layer, unsigned index)
{
    char clone[32], overlay[32];
    snprintf(clone, sizeof(clone), "disk%u.img", index);
    snprintf(overlay, sizeof(overlay), "disk%u.cow", index);
    return strcmp(layer, clone) == 0 || strcmp(layer, overlay) == 0;
}

/* The disks as the snapshot's machine had them; each writable one's layer
 * was copied into the instance directory under the name disk_open looks for,
 * which also says its kind. */
static int fill_disk_specs(struct worker_restore *r, char *err, size_t err_len)
{
    for (unsigned i = 0; i < r->config.num_disks; i++) {
        const struct snapshot_disk_config *d = &r->config.disks[i];
        if (!d->read_only && !layer_name_fits(d->layer, i)) {
            set_message(err, err_len,
                        "the snapshot's disk %u is writable but its layer is not disk%u.img "
                        "or disk%u.cow",
                        i, i, i);
            return -1;
        }
        r->disks[i] = (struct disk_spec){
            .path = d->base_path, .read_only = d->read_only, .cow = DISK_COW_AUTO,
            .serial = d->serial[0] ? d->serial : NULL,
        };
    }
    return 0;
}

struct worker_restore *worker_restore_open(const char *dir, char *err, size_t err_len)
{
    struct worker_restore *r = calloc(1, sizeof(*r));
    if (!r) {
        set_message(err, err_len, "out of memory");
        return NULL;
    }
    for (unsigned i = 0; i < SNAPSHOT_MAX_DISKS; i++)
        r->unsynced[i] = -1;
    char why[512];
    if (snapshot_open(dir, &r->reader, why, sizeof(why)) < 0) {
        set_message(err, err_len, "cannot restore: %s", why); /* why names the snapshot */
        goto fail;
    }
    const uint8_t *body;
    size_t len;
    snapshot_manifest(r->reader, &body, &len);
    if (snapshot_manifest_decode(body, len, &r->config, &r->state, why, sizeof(why)) < 0) {
        set_message(err, err_len, "cannot restore %s: its manifest: %s", dir, why);
        goto fail;
    }
    if (r->config.ram_size != snapshot_memory_size(r->reader)) {
        set_message(err, err_len,
                    "cannot restore %s: its manifest names %llu bytes of RAM, its memory "
                    "file holds %llu",
                    dir, (unsigned long long)r->config.ram_size,
                    (unsigned long long)snapshot_memory_size(r->reader));
        goto fail;
    }
    if (fill_disk_specs(r, why, sizeof(why)) < 0) {
        set_message(err, err_len, "cannot restore %s: %s", dir, why);
        goto fail;
    }
    if (snapshot_map_memory(r->reader, &r->ram, &r->ram_size, why, sizeof(why)) < 0 ||
        snapshot_map_saved_memory(r->reader, &r->saved_ram, why, sizeof(why)) < 0) {
        set_message(err, err_len, "cannot restore %s: %s", dir, why);
        goto fail;
    }
    return r;
fail:
    worker_restore_free(r);
    return NULL;
}

int worker_restore_check_memory(struct worker_restore *r, const char *checked_id,
                                bool *read_through, char *err, size_t err_len)
{
    char id[SNAPSHOT_MEMORY_ID_LEN];
    *read_through = false;
    if (checked_id && snapshot_memory_id(r->reader, id, sizeof(id)) == 0 &&
        strcmp(id, checked_id) == 0)
        return 0;
    *read_through = true;
    char why[512];
    if (snapshot_verify_memory(r->reader, why, sizeof(why)) < 0) {
        set_message(err, err_len, "cannot restore: %s", why); /* why names the snapshot */
        return -1;
    }
    return 0;
}

int worker_restore_disks(struct worker_restore *r, const char *instance_dir, char *err,
                         size_t err_len)
{
    for (unsigned i = 0; i < r->config.num_disks; i++) {
        const char *name = r->config.disks[i].layer;
        if (r->config.disks[i].read_only)
            continue;
        char to[4096 + 80];
        snprintf(to, sizeof(to), "%s/%s", instance_dir, name);
        if (access(to, F_OK) == 0) {
            set_message(err, err_len,
                        "the instance directory %s already has %s: restore into a new one",
                        instance_dir, name);
            return -1;
        }
        const struct snapshot_disk_config *d = &r->config.disks[i];
        if (snapshot_copy_out_unsynced(r->reader, name, to,
                                       d->layer_summed ? &d->layer_crc32 : NULL,
                                       &r->unsynced[i], err, err_len) < 0)
            return -1;
    }
    return 0;
}

/* fsync and close each unsynced layer; the first error, or 0. */
static int sync_layers(struct worker_restore *r)
{
    int first = 0;
    for (unsigned i = 0; i < SNAPSHOT_MAX_DISKS; i++) {
        if (r->unsynced[i] < 0)
            continue;
        if (fsync(r->unsynced[i]) < 0 && first == 0)
            first = -errno;
        close(r->unsynced[i]);
        r->unsynced[i] = -1;
    }
    return first;
}

static void *syncer_main(void *arg)
{
    struct worker_restore *r = arg;
    double t0 = now_ms();
    int rc = sync_layers(r);
    if (rc < 0)
        log_error("snapshot %s: the disk layers copied out of it could not be made durable "
                  "(%s): a host crash may lose them",
                  snapshot_dir(r->reader), strerror(-rc));
    else
        log_info("snapshot %s: disk layers durable in %.1f ms, beside the running guest",
                 snapshot_dir(r->reader), now_ms() - t0);
    return NULL;
}

void worker_restore_sync_disks(struct worker_restore *r)
{
    bool any = false;
    for (unsigned i = 0; i < SNAPSHOT_MAX_DISKS; i++)
        any |= r->unsynced[i] >= 0;
    if (!any || r->syncing)
        return;
    if (pthread_create(&r->syncer, NULL, syncer_main, r) == 0) {
        r->syncing = true;
        return;
    }
    syncer_main(r);
}

uint64_t worker_restore_catch_up_clock(struct worker_restore *r, int64_t now_realtime_ns)
{
    int64_t saved = r->config.host_realtime_ns;
    if (now_realtime_ns <= saved)
        return 0;
    /* Both are int64: the difference fits in a uint64 without overflow. */
    uint64_t away_ns = (uint64_t)now_realtime_ns - (uint64_t)saved;
    uint64_t hz = r->state.vcpus[0].counter_hz ? r->state.vcpus[0].counter_hz : ARCH_TIMER_HZ;
    unsigned __int128 wide = (unsigned __int128)away_ns * hz / 1000000000u;
    uint64_t ticks = wide > UINT64_MAX ? UINT64_MAX : (uint64_t)wide;
    /* One counter for the machine, read by each vCPU as it was saved: each
     * moves on by the same time. */
    uint64_t moved = 0;
    for (unsigned i = 0; i < r->state.num_vcpus && i < MACHINE_MAX_CPUS; i++) {
        uint64_t *counter = &r->state.vcpus[i].counter;
        uint64_t step = ticks > UINT64_MAX - *counter ? UINT64_MAX - *counter : ticks;
        *counter += step;
        if (i == 0)
            moved = step;
    }
    return moved;
}

void worker_restore_free(struct worker_restore *r)
{
    if (!r)
        return;
    if (r->syncing)
        pthread_join(r->syncer, NULL);
    else
        sync_layers(r); /* copied, but the guest never ran: still made durable */
    if (r->ram)
        munmap(r->ram, r->ram_size);
    if (r->saved_ram)
        munmap((void *)r->saved_ram, r->ram_size);
    snapshot_manifest_free(&r->state);
    snapshot_close(r->reader);
    free(r);
}
