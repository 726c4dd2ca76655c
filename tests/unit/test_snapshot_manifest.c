/* The snapshot manifest's body: a machine state with every field set to a value
 * of its own (the vCPU, and a list of devices whose state is bytes the manifest
 * does not read), and a configuration, come back exactly; every structural
 * fault a file could hold (counts past the C arrays, arrays of the wrong length,
 * values wider than their field, missing parts, a version from the future or
 * the past) is refused with a reason and leaves nothing allocated. Each
 * device's own state is tested through its encoder (test_device_state.c). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "snapshot.pb-c.h"
#include "storage/snapshot_file.h"
#include "storage/snapshot_manifest.h"
#include "unit.h"

static struct machine_snapshot state, decoded;
static struct snapshot_machine_config config, decoded_config;
static uint64_t counter;
static char err[256];

/* A value no other field has (within its width). */
static uint64_t next(void)
{
    counter++;
    return counter * 0x9e3779b97f4a7c15ull;
}

/* Every field, and a register list of num_regs entries (some 128 bits wide). */
static void fill_vcpu_regs(struct hv_vcpu_state *v, uint32_t num_regs)
{
    uint64_t *words = (uint64_t *)v;
    size_t n = offsetof(struct hv_vcpu_state, backend) / sizeof(uint64_t);
    for (size_t i = 0; i < n; i++)
        words[i] = next();
    for (unsigned i = 0; i < 4; i++)
        v->backend[i] = (uint32_t)next();
    v->power = (uint32_t)(next() % 3);
    v->num_regs = num_regs;
    for (uint32_t i = 0; i < num_regs; i++)
        v->regs[i] = (struct hv_backend_reg){.id = next(), .value = {next(), i % 3 ? 0 : next()}};
}

static void fill_vcpu(struct hv_vcpu_state *v)
{
    fill_vcpu_regs(v, 7);
}

/* Device i has a kind and base of its own and 37 * i bytes of state (device 0
 * none). */
static void fill_devices(struct machine_snapshot *s, unsigned n)
{
    s->num_devices = n;
    for (unsigned i = 0; i < n; i++) {
        struct machine_device_state *d = &s->devices[i];
        snprintf(d->kind, sizeof(d->kind), "device-%llx", (unsigned long long)(next() >> 20));
        d->base = next();
        d->state.len = 37 * i;
        d->state.data = d->state.len ? malloc(d->state.len) : NULL;
        for (size_t b = 0; b < d->state.len; b++)
            d->state.data[b] = (uint8_t)next();
    }
}

static void assert_devices_equal(const struct machine_snapshot *a,
                                 const struct machine_snapshot *b)
{
    ck_assert_uint_eq(a->num_devices, b->num_devices);
    for (unsigned i = 0; i < a->num_devices; i++) {
        const struct machine_device_state *x = &a->devices[i], *y = &b->devices[i];
        ck_assert_mem_eq(x->kind, y->kind, sizeof(x->kind));
        ck_assert_uint_eq(x->base, y->base);
        ck_assert_uint_eq(x->state.len, y->state.len);
        if (x->state.len)
            ck_assert_mem_eq(x->state.data, y->state.data, x->state.len);
    }
}

static void fill_config(struct snapshot_machine_config *c)
{
    snprintf(c->backend, sizeof(c->backend), "emu");
    c->created_unix_ms = next(), c->host_monotonic_ns = next();
    c->host_realtime_ns = -(int64_t)(next() >> 1);
    c->ram_size = next();
    snprintf(c->cmdline, sizeof(c->cmdline), "console=ttyAMA0 root=/dev/vda rw quiet %llx",
             (unsigned long long)next());
    c->num_disks = SNAPSHOT_MAX_DISKS;
    for (unsigned i = 0; i < c->num_disks; i++) {
        struct snapshot_disk_config *d = &c->disks[i];
        d->read_only = i % 2;
        snprintf(d->serial, sizeof(d->serial), "%.20llx", (unsigned long long)next());
        if (!d->read_only) {
            snprintf(d->layer, sizeof(d->layer), "disk%u.img", i);
            d->layer_summed = true;
            d->layer_crc32 = (uint32_t)next();
        }
        snprintf(d->base_path, sizeof(d->base_path), "/var/lib/ignition/images/%u.raw", i);
    }
    c->gpu = true, c->keyboard = true;
    c->num_scanouts = (uint32_t)next(), c->display_width = (uint32_t)next();
    c->display_height = (uint32_t)next(), c->gpu_memory = next();
    c->net = SNAPSHOT_NET_USER_HOST_LOOPBACK, c->vsock = true;
}

static void setup(void)
{
    counter = 0;
    memset(&state, 0, sizeof(state));
    memset(&decoded, 0x5a, sizeof(decoded)); /* decode must set all of it */
    memset(&config, 0, sizeof(config));
    memset(&decoded_config, 0x5a, sizeof(decoded_config));
    state.num_vcpus = 1;
    fill_vcpu(&state.vcpus[0]);
    fill_devices(&state, 12);
    fill_config(&config);
    config.num_cpus = 1; /* what decode reports */
    err[0] = 0;
}

static void teardown(void)
{
    machine_snapshot_free(&state);
}

static int round_trip(void)
{
    uint8_t *body;
    size_t len;
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)), 0);
    int rc = snapshot_manifest_decode(body, len, &decoded_config, &decoded, err, sizeof(err));
    free(body);
    return rc;
}

START_TEST(every_field_comes_back)
{
    ck_assert_int_eq(round_trip(), 0);
    ck_assert_uint_eq(decoded.num_vcpus, 1);
    ck_assert_mem_eq(&decoded.vcpus[0], &state.vcpus[0], sizeof(state.vcpus[0]));
    assert_devices_equal(&decoded, &state);
    ck_assert_mem_eq(&decoded_config, &config, sizeof(config));
    snapshot_manifest_free(&decoded);
    snapshot_manifest_free(&decoded); /* twice is harmless */
}
END_TEST

START_TEST(a_machine_without_gpu_or_devices_comes_back)
{
    machine_snapshot_free(&state);
    memset(state.devices, 0, sizeof(state.devices));
    config.gpu = false;
    config.num_disks = 0;
    memset(config.disks, 0, sizeof(config.disks));
    ck_assert_int_eq(round_trip(), 0);
    ck_assert_mem_eq(&decoded, &state, sizeof(state));
    ck_assert_mem_eq(&decoded_config, &config, sizeof(config));
}
END_TEST

/* As many vCPUs as a machine has, each with its own registers; one with as
 * long a register list as a backend may keep, one with none. */
START_TEST(every_vcpu_comes_back)
{
    state.num_vcpus = MACHINE_MAX_CPUS;
    for (unsigned i = 1; i < MACHINE_MAX_CPUS; i++)
        fill_vcpu_regs(&state.vcpus[i], i == 1 ? HV_MAX_BACKEND_REGS : i == 2 ? 0 : 300);
    config.num_cpus = MACHINE_MAX_CPUS;
    ck_assert_int_eq(round_trip(), 0);
    ck_assert_uint_eq(decoded.num_vcpus, MACHINE_MAX_CPUS);
    ck_assert_uint_eq(decoded_config.num_cpus, MACHINE_MAX_CPUS);
    for (unsigned i = 0; i < MACHINE_MAX_CPUS; i++)
        ck_assert_mem_eq(&decoded.vcpus[i], &state.vcpus[i], sizeof(state.vcpus[i]));
    snapshot_manifest_free(&decoded);
}
END_TEST

/* As many devices as a machine has, each with as much state as one may hold. */
START_TEST(a_full_device_table_comes_back)
{
    machine_snapshot_free(&state);
    fill_devices(&state, MACHINE_SNAPSHOT_MAX_DEVICES);
    struct device_state_bytes *big = &state.devices[5].state;
    big->data = realloc(big->data, 1u << 20);
    ck_assert_ptr_nonnull(big->data);
    memset(big->data, 0xee, 1u << 20);
    big->len = 1u << 20;
    memset(state.devices[7].kind, 'k', MACHINE_DEVICE_KIND_MAX);
    ck_assert_int_eq(round_trip(), 0);
    assert_devices_equal(&decoded, &state);
    snapshot_manifest_free(&decoded);
}
END_TEST

/* ---- faults, made by editing a good body as protobuf messages --------------------------- */

typedef void (*edit_fn)(Ignition__Snapshot__Manifest *m);

/* Encodes the state, edits it, and decodes the result: the error. */
static int decode_edited(edit_fn edit)
{
    uint8_t *body;
    size_t len;
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)), 0);
    Ignition__Snapshot__Manifest *m = ignition__snapshot__manifest__unpack(NULL, len, body);
    ck_assert_ptr_nonnull(m);
    free(body);
    edit(m);
    len = ignition__snapshot__manifest__get_packed_size(m);
    body = malloc(len);
    ignition__snapshot__manifest__pack(m, body);
    ignition__snapshot__manifest__free_unpacked(m, NULL);
    int rc = snapshot_manifest_decode(body, len, &decoded_config, &decoded, err, sizeof(err));
    free(body);
    if (rc < 0) {
        /* Nothing to free, and nothing half-decoded left behind. */
        ck_assert_uint_eq(decoded.num_devices, 0);
        ck_assert_ptr_null(decoded.devices[0].state.data);
        ck_assert_uint_eq(decoded_config.num_disks, 0);
    }
    return rc;
}

static void assert_refused(edit_fn edit, const char *reason)
{
    ck_assert_int_eq(decode_edited(edit), -EINVAL);
    ck_assert_msg(strstr(err, reason), "\"%s\" does not say \"%s\"", err, reason);
}

static void *grow(void *array, size_t count, size_t size)
{
    void *a = realloc(array, count * size);
    ck_assert_ptr_nonnull(a);
    return a;
}

static void future_version(Ignition__Snapshot__Manifest *m)
{
    m->format_version = SNAPSHOT_MANIFEST_VERSION + 1;
}

static void no_version(Ignition__Snapshot__Manifest *m)
{
    m->format_version = 0;
}

/* The format before each device kept its own state: there is nothing to
 * migrate, and the message says what to do. */
static void first_version(Ignition__Snapshot__Manifest *m)
{
    m->format_version = 1;
}

START_TEST(other_format_versions_are_refused)
{
    assert_refused(future_version, "from a newer ignition");
    assert_refused(no_version, "format version 0");
    assert_refused(first_version, "the snapshot is format version 1, made by an older ignition; "
                   "this one reads version 2 only: take the snapshot again");
}
END_TEST

static void one_device_too_many(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__MachineState *s = m->state;
    s->devices = grow(s->devices, MACHINE_SNAPSHOT_MAX_DEVICES + 1, sizeof(*s->devices));
    for (size_t i = s->n_devices; i <= MACHINE_SNAPSHOT_MAX_DEVICES; i++) {
        s->devices[i] = malloc(sizeof(**s->devices));
        ignition__snapshot__device_state__init(s->devices[i]);
        s->devices[i]->kind = strdup("extra");
    }
    s->n_devices = MACHINE_SNAPSHOT_MAX_DEVICES + 1;
}

static void replace_text(char **field, const char *value)
{
    free(*field);
    *field = strdup(value);
}

static void device_without_kind(Ignition__Snapshot__Manifest *m)
{
    replace_text(&m->state->devices[3]->kind, "");
}

static void device_kind_too_long(Ignition__Snapshot__Manifest *m)
{
    replace_text(&m->state->devices[4]->kind, "virtio-input-keyboard-with-a-long-name");
}

START_TEST(bad_device_lists_are_refused)
{
    assert_refused(one_device_too_many, "33 devices, more than 32");
    assert_refused(device_without_kind, "device 3: no kind of at most 31 bytes");
    assert_refused(device_kind_too_long, "device 4: no kind of at most 31 bytes");
}
END_TEST

static void no_vcpu(Ignition__Snapshot__Manifest *m)
{
    ignition__snapshot__vcpu__free_unpacked(m->state->vcpu, NULL);
    m->state->vcpu = NULL;
}

static void short_simd(Ignition__Snapshot__Manifest *m)
{
    m->state->vcpu->v.len--;
}

static void missing_register(Ignition__Snapshot__Manifest *m)
{
    m->state->vcpu->n_x--;
}

static void no_state(Ignition__Snapshot__Manifest *m)
{
    ignition__snapshot__machine_state__free_unpacked(m->state, NULL);
    m->state = NULL;
}

static void more_cpus_than_vcpus(Ignition__Snapshot__Manifest *m)
{
    m->config->num_cpus = 2;
}

static void too_many_cpus(Ignition__Snapshot__Manifest *m)
{
    m->config->num_cpus = MACHINE_MAX_CPUS + 1;
}

static void unknown_power_state(Ignition__Snapshot__Manifest *m)
{
    m->state->vcpu->power = 3;
}

static void too_many_registers(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__Vcpu *v = m->state->vcpu;
    v->registers = grow(v->registers, HV_MAX_BACKEND_REGS + 1, sizeof(*v->registers));
    for (size_t i = v->n_registers; i <= HV_MAX_BACKEND_REGS; i++) {
        v->registers[i] = malloc(sizeof(**v->registers));
        ignition__snapshot__backend_register__init(v->registers[i]);
    }
    v->n_registers = HV_MAX_BACKEND_REGS + 1;
}

/* A snapshot from before the vCPU count and the counter's frequency were kept:
 * one vCPU at emu's 62.5 MHz. */
static void older_snapshot(Ignition__Snapshot__Manifest *m)
{
    m->config->num_cpus = 0;
    m->state->vcpu->timer->counter_hz = 0;
}

START_TEST(older_snapshots_have_one_vcpu_at_emus_frequency)
{
    ck_assert_int_eq(decode_edited(older_snapshot), 0);
    ck_assert_uint_eq(decoded.num_vcpus, 1);
    ck_assert_uint_eq(decoded_config.num_cpus, 1);
    ck_assert_uint_eq(decoded.vcpus[0].counter_hz, 62500000u);
    snapshot_manifest_free(&decoded);
}
END_TEST

START_TEST(missing_or_misshapen_parts_are_refused)
{
    assert_refused(more_cpus_than_vcpus, "the machine has 2 vCPUs and the state 1");
    assert_refused(too_many_cpus, "the machine has 65 vCPUs and the state 1 (at most 64)");
    assert_refused(unknown_power_state, "vCPU 0: power state 3 is unknown");
    assert_refused(too_many_registers, "vCPU 0: 1025 registers, more than 1024");
    assert_refused(no_vcpu, "the machine state lacks the vCPU");
    assert_refused(short_simd, "511 bytes of SIMD registers");
    assert_refused(missing_register, "30 general registers");
    assert_refused(no_state, "the manifest has no machine state");
}
END_TEST

static void layer_outside(Ignition__Snapshot__Manifest *m)
{
    replace_text(&m->config->disks[0]->layer, "../../home/someone/disk.img");
}

static void layer_dotdot(Ignition__Snapshot__Manifest *m)
{
    replace_text(&m->config->disks[0]->layer, "..");
}

static void long_serial(Ignition__Snapshot__Manifest *m)
{
    replace_text(&m->config->disks[3]->serial, "123456789012345678901");
}

static void seventeen_disks(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__MachineConfig *c = m->config;
    c->disks = grow(c->disks, c->n_disks + 1, sizeof(*c->disks));
    c->disks[c->n_disks] = malloc(sizeof(**c->disks));
    ignition__snapshot__disk__init(c->disks[c->n_disks++]);
}

static void no_backend(Ignition__Snapshot__Manifest *m)
{
    replace_text(&m->backend, "");
}

static void no_config(Ignition__Snapshot__Manifest *m)
{
    ignition__snapshot__machine_config__free_unpacked(m->config, NULL);
    m->config = NULL;
}

START_TEST(bad_configurations_are_refused)
{
    assert_refused(layer_outside, "disk 0: the layer's name is not a file name");
    assert_refused(layer_dotdot, "disk 0: the layer's name is not a file name");
    assert_refused(long_serial, "disk 3: a serial longer than 20 bytes");
    assert_refused(seventeen_disks, "17 disks, more than 16");
    assert_refused(no_backend, "names no backend");
    assert_refused(no_config, "no machine configuration");
}
END_TEST

START_TEST(bytes_that_are_not_a_manifest_are_refused)
{
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    ck_assert_int_eq(snapshot_manifest_decode(garbage, sizeof(garbage), &decoded_config, &decoded,
                                              err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "the 7-byte manifest does not decode");
    ck_assert_int_eq(snapshot_manifest_decode(garbage, 0, &decoded_config, &decoded, err,
                                              sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "the snapshot is format version 0; this ignition reads version 2 only");
    ck_assert_int_eq(snapshot_manifest_decode(garbage, SNAPSHOT_BODY_MAX + 1, &decoded_config,
                                              &decoded, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "a 16777217-byte manifest, more than 16777216");
}
END_TEST

START_TEST(states_past_the_formats_bounds_are_not_encoded)
{
    uint8_t *body = NULL;
    size_t len;
    unsigned n = state.num_devices;
    state.num_devices = MACHINE_SNAPSHOT_MAX_DEVICES + 1;
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "33 devices, more than 32");
    state.num_devices = n;
    memset(state.devices[2].kind, 'k', sizeof(state.devices[2].kind));
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "device 2: its kind is not terminated");
    state.devices[2].kind[0] = 0;
    state.num_vcpus = 0;
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "0 vCPUs, not 1 to 64");
    state.num_vcpus = MACHINE_MAX_CPUS + 1;
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    state.num_vcpus = 1;
    state.vcpus[0].num_regs = HV_MAX_BACKEND_REGS + 1;
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "vCPU 0: 1025 registers, more than 1024");
    state.vcpus[0].num_regs = 0;
    memset(config.backend, 'e', sizeof(config.backend));
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_null(body);
}
END_TEST

/* What a desktop's state costs: 8 devices, one of them a gpu holding two
 * resources with one backing entry per page of a 1280x800 framebuffer (about
 * 12 bytes each). Printed, not asserted. */
START_TEST(a_typical_state_is_measured)
{
    machine_snapshot_free(&state);
    fill_devices(&state, 8);
    struct device_state_bytes *gpu = &state.devices[5].state;
    gpu->data = realloc(gpu->data, 24000);
    ck_assert_ptr_nonnull(gpu->data);
    memset(gpu->data, 0x5a, 24000);
    gpu->len = 24000;
    enum { ROUNDS = 200 };
    struct timespec t0, t1;
    size_t len = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < ROUNDS; i++) {
        uint8_t *body;
        ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                         0);
        ck_assert_int_eq(snapshot_manifest_decode(body, len, &decoded_config, &decoded, err,
                                                  sizeof(err)),
                         0);
        snapshot_manifest_free(&decoded);
        free(body);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) /
                ROUNDS;
    printf("snapshot manifest: a typical state takes %zu bytes; encode + decode %.1f us\n", len, us);
}
END_TEST

static Suite *snapshot_manifest_suite(void)
{
    Suite *s = suite_create("snapshot_manifest");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_field_comes_back);
    tcase_add_test(tc, a_machine_without_gpu_or_devices_comes_back);
    tcase_add_test(tc, other_format_versions_are_refused);
    tcase_add_test(tc, a_full_device_table_comes_back);
    tcase_add_test(tc, every_vcpu_comes_back);
    tcase_add_test(tc, older_snapshots_have_one_vcpu_at_emus_frequency);
    tcase_add_test(tc, bad_device_lists_are_refused);
    tcase_add_test(tc, missing_or_misshapen_parts_are_refused);
    tcase_add_test(tc, bad_configurations_are_refused);
    tcase_add_test(tc, bytes_that_are_not_a_manifest_are_refused);
    tcase_add_test(tc, states_past_the_formats_bounds_are_not_encoded);
    tcase_add_test(tc, a_typical_state_is_measured);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(snapshot_manifest_suite());
}
