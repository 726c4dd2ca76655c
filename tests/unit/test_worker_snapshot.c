/* worker_snapshot's restore side: a snapshot opened for a restore gives back
 * the machine's config, disk specs that point at the snapshot's base images,
 * and its memory mapped private; each writable disk's layer is copied into the
 * new instance directory under the name disk_open looks for, leaving the
 * snapshot as it was; a snapshot whose manifest and memory disagree, or whose
 * layer is named for another disk, is refused with the reason. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/snapshot_file.h"
#include "storage/snapshot_manifest.h"
#include "unit.h"
#include "worker/worker_snapshot.h"

#define RAM_SIZE (2u * SNAPSHOT_REGION_SIZE)
#define LAYER_TEXT "the guest's writes"

static char dir[64], snap[128], layer_src[128], instance[128];
static struct snapshot_machine_config config;
static struct machine_snapshot state; /* a zero vCPU: only the container matters here */
static uint8_t *ram;

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ignition-test-wsnap-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(snap, sizeof(snap), "%s/snap", dir);
    snprintf(layer_src, sizeof(layer_src), "%s/layer", dir);
    snprintf(instance, sizeof(instance), "%s/instance", dir);
    ck_assert_int_eq(mkdir(instance, 0700), 0);
    write_text(layer_src, LAYER_TEXT);
    memset(&config, 0, sizeof(config));
    memset(&state, 0, sizeof(state));
    state.num_vcpus = 1;
    snprintf(config.backend, sizeof(config.backend), "emu");
    config.ram_size = RAM_SIZE;
    snprintf(config.cmdline, sizeof(config.cmdline), "console=ttyAMA0 root=/dev/vda");
    config.num_disks = 2;
    snprintf(config.disks[0].base_path, sizeof(config.disks[0].base_path), "/images/root.ext4");
    snprintf(config.disks[0].serial, sizeof(config.disks[0].serial), "ignition-root");
    snprintf(config.disks[0].layer, sizeof(config.disks[0].layer), "disk0.cow");
    config.disks[1].read_only = true;
    snprintf(config.disks[1].base_path, sizeof(config.disks[1].base_path), "/images/data.img");
    ram = calloc(1, RAM_SIZE);
    ck_assert_ptr_nonnull(ram);
    ram[5000] = 0xa5;
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(ram);
}

/* A snapshot as the worker writes one, with memory_size bytes of memory. */
static void write_snapshot(uint64_t memory_size)
{
    char err[256];
    struct snapshot_writer *w;
    ck_assert_msg(snapshot_writer_begin(snap, &w, err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(snapshot_writer_memory(w, ram, memory_size, err, sizeof(err)) == 0, "%s", err);
    if (config.disks[0].layer[0])
        ck_assert_msg(snapshot_writer_file(w, config.disks[0].layer, layer_src, NULL, err,
                                           sizeof(err)) == 0, "%s", err);
    uint8_t *body;
    size_t len;
    ck_assert_msg(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_msg(snapshot_writer_manifest(w, body, len, err, sizeof(err)) == 0, "%s", err);
    free(body);
    ck_assert_msg(snapshot_writer_commit(w, err, sizeof(err)) == 0, "%s", err);
}

static void read_text(const char *path, char *out, size_t len)
{
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    ck_assert_int_ge(n, 0);
    out[n] = '\0';
}

START_TEST(opened_snapshot_gives_config_disks_and_memory)
{
    write_snapshot(RAM_SIZE);
    char err[512];
    struct worker_restore *r = worker_restore_open(snap, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_str_eq(r->config.backend, "emu");
    ck_assert_str_eq(r->config.cmdline, "console=ttyAMA0 root=/dev/vda");
    ck_assert_uint_eq(r->ram_size, RAM_SIZE);
    ck_assert_uint_eq(((const uint8_t *)r->ram)[5000], 0xa5);
    ck_assert_uint_eq(((const uint8_t *)r->ram)[5001], 0);
    ck_assert_str_eq(r->disks[0].path, "/images/root.ext4");
    ck_assert_str_eq(r->disks[0].serial, "ignition-root");
    ck_assert(!r->disks[0].read_only);
    ck_assert_str_eq(r->disks[1].path, "/images/data.img");
    ck_assert_ptr_null(r->disks[1].serial); /* the default serial, as at the snapshot */
    ck_assert(r->disks[1].read_only);
    worker_restore_free(r);
}
END_TEST

START_TEST(layers_copied_into_instance_snapshot_untouched)
{
    write_snapshot(RAM_SIZE);
    char err[512], text[64], path[192];
    struct worker_restore *r = worker_restore_open(snap, err, sizeof(err));
    ck_assert_msg(r != NULL, "%s", err);
    ck_assert_msg(worker_restore_disks(r, instance, err, sizeof(err)) == 0, "%s", err);
    snprintf(path, sizeof(path), "%s/disk0.cow", instance);
    read_text(path, text, sizeof(text));
    ck_assert_str_eq(text, LAYER_TEXT);
    /* The copy is the instance's own: writing it leaves the snapshot's. */
    write_text(path, "changed");
    snprintf(path, sizeof(path), "%s/disk0.cow", snap);
    read_text(path, text, sizeof(text));
    ck_assert_str_eq(text, LAYER_TEXT);
    /* Nothing is copied for the read-only disk, and a second restore into the
     * same instance directory is refused rather than mixing layers. */
    snprintf(path, sizeof(path), "%s/disk1.img", instance);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert_int_eq(worker_restore_disks(r, instance, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "already has disk0.cow"), "%s", err);
    /* The copy is made durable beside the guest (a clone already is), and
     * the restore waits for that before it goes. */
    ck_assert_int_eq(r->unsynced[1], -1);
    worker_restore_sync_disks(r);
    worker_restore_free(r);
}
END_TEST

START_TEST(memory_of_another_size_refused)
{
    write_snapshot(RAM_SIZE - SNAPSHOT_PAGE_SIZE);
    char err[512];
    ck_assert_ptr_null(worker_restore_open(snap, err, sizeof(err)));
    ck_assert_msg(strstr(err, "names 2097152 bytes of RAM, its memory file holds 2093056"),
                  "%s", err);
}
END_TEST

START_TEST(layer_of_another_disk_refused)
{
    snprintf(config.disks[0].layer, sizeof(config.disks[0].layer), "disk1.cow");
    write_snapshot(RAM_SIZE);
    char err[512];
    ck_assert_ptr_null(worker_restore_open(snap, err, sizeof(err)));
    ck_assert_msg(strstr(err, "disk 0 is writable but its layer is not disk0.img or disk0.cow"),
                  "%s", err);
}
END_TEST

START_TEST(writable_disk_without_layer_refused)
{
    config.disks[0].layer[0] = '\0';
    write_snapshot(RAM_SIZE);
    char err[512];
    ck_assert_ptr_null(worker_restore_open(snap, err, sizeof(err)));
    ck_assert_msg(strstr(err, "disk 0 is writable"), "%s", err);
}
END_TEST

START_TEST(missing_snapshot_refused)
{
    char err[512];
    ck_assert_ptr_null(worker_restore_open(snap, err, sizeof(err)));
    ck_assert_msg(strstr(err, "cannot restore: ") == err, "%s", err);
}
END_TEST

/* ---- the guest's clock after a restore ------------------------------------------ */

#define SAVED_AT 1795000000000000000ll /* host CLOCK_REALTIME at the save, in ns */

static struct worker_restore r; /* large: a state for 64 vCPUs */

/* Two vCPUs at emu's 62.5 MHz, which read the counter a little apart. */
static void clock_restore(uint64_t counter)
{
    memset(&r, 0, sizeof(r));
    r.config.host_realtime_ns = SAVED_AT;
    r.state.num_vcpus = 2;
    r.state.vcpus[0].counter = counter;
    r.state.vcpus[1].counter = counter + 3;
    r.state.vcpus[0].counter_hz = r.state.vcpus[1].counter_hz = 62500000u;
}

START_TEST(counter_moves_on_by_the_time_away)
{
    clock_restore(1000);
    /* 30 s at 62.5 MHz, plus 15 ns: less than a tick, dropped. */
    ck_assert_uint_eq(worker_restore_catch_up_clock(&r, SAVED_AT + 30000000015ll),
                      1875000000u);
    ck_assert_uint_eq(r.state.vcpus[0].counter, 1000u + 1875000000u);
    ck_assert_uint_eq(r.state.vcpus[1].counter, 1003u + 1875000000u);
}
END_TEST

/* A kvm host's counter runs at its own frequency (25 MHz here). */
START_TEST(counter_moves_on_at_the_snapshots_frequency)
{
    clock_restore(1000);
    r.state.vcpus[0].counter_hz = r.state.vcpus[1].counter_hz = 25000000u;
    ck_assert_uint_eq(worker_restore_catch_up_clock(&r, SAVED_AT + 30000000015ll), 750000000u);
    ck_assert_uint_eq(r.state.vcpus[1].counter, 1003u + 750000000u);
}
END_TEST

START_TEST(counter_stays_when_the_host_clock_went_back)
{
    clock_restore(1000);
    ck_assert_uint_eq(worker_restore_catch_up_clock(&r, SAVED_AT), 0);
    ck_assert_uint_eq(worker_restore_catch_up_clock(&r, SAVED_AT - 5000000000ll), 0);
    ck_assert_uint_eq(worker_restore_catch_up_clock(&r, INT64_MIN), 0);
    ck_assert_uint_eq(r.state.vcpus[0].counter, 1000u);
}
END_TEST

/* Extreme clocks from a tampered manifest: no signed overflow, no wrap. */
START_TEST(counter_saturates_instead_of_wrapping)
{
    clock_restore(UINT64_MAX - 10);
    ck_assert_uint_eq(worker_restore_catch_up_clock(&r, SAVED_AT + 1000000ll), 10);
    ck_assert_uint_eq(r.state.vcpus[0].counter, UINT64_MAX);
    ck_assert_uint_eq(r.state.vcpus[1].counter, UINT64_MAX);
    clock_restore(5);
    r.config.host_realtime_ns = INT64_MIN;
    ck_assert_uint_eq(worker_restore_catch_up_clock(&r, INT64_MAX), UINT64_MAX / 16);
    ck_assert_uint_eq(r.state.vcpus[0].counter, 5 + UINT64_MAX / 16);
}
END_TEST

static Suite *worker_snapshot_suite(void)
{
    Suite *s = suite_create("worker_snapshot");
    TCase *tc = tcase_create("restore");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, opened_snapshot_gives_config_disks_and_memory);
    tcase_add_test(tc, layers_copied_into_instance_snapshot_untouched);
    tcase_add_test(tc, memory_of_another_size_refused);
    tcase_add_test(tc, layer_of_another_disk_refused);
    tcase_add_test(tc, writable_disk_without_layer_refused);
    tcase_add_test(tc, missing_snapshot_refused);
    suite_add_tcase(s, tc);
    TCase *clock = tcase_create("clock");
    tcase_add_test(clock, counter_moves_on_by_the_time_away);
    tcase_add_test(clock, counter_moves_on_at_the_snapshots_frequency);
    tcase_add_test(clock, counter_stays_when_the_host_clock_went_back);
    tcase_add_test(clock, counter_saturates_instead_of_wrapping);
    suite_add_tcase(s, clock);
    return s;
}

int main(void)
{
    return run_suite(worker_snapshot_suite());
}
