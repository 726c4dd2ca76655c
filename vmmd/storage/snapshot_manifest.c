/* The manifest's body: struct machine_snapshot and the machine's configuration
 * to and from proto/snapshot.proto. Encoding builds protobuf-c messages that
 * point into the state (or into a pool for what must be rearranged) and packs
 * them; decoding unpacks under an allocation budget and copies field by field,
 * checking every count and width on the way. Devices are opaque here: a kind,
 * a base and the bytes each device's own save gave. */
#include "storage/snapshot_manifest.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "decode_budget.h"
#include "snapshot.pb-c.h"
#include "storage/snapshot_file.h"
#include "util.h"

typedef Ignition__Snapshot__Manifest ManifestMsg;
typedef Ignition__Snapshot__MachineConfig ConfigMsg;
typedef Ignition__Snapshot__Disk DiskMsg;
typedef Ignition__Snapshot__MachineState StateMsg;
typedef Ignition__Snapshot__Vcpu VcpuMsg;
typedef Ignition__Snapshot__Timer TimerMsg;
typedef Ignition__Snapshot__DeviceState DeviceMsg;
typedef Ignition__Snapshot__BackendRegister RegMsg;

#define NUM_X 31
#define SIMD_BYTES (32u * 16u)
#define NUM_BACKEND_WORDS 4

static int refuse(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static int out_of_memory(char *err, size_t err_len)
{
    if (err && err_len)
        snprintf(err, err_len, "out of memory");
    return -ENOMEM;
}

/* ---- encoding ------------------------------------------------------------------------- */

/* Everything an encoding allocates, freed together once it is packed. */
struct pool {
    void **blocks;
    size_t num, cap;
};

/* count zeroed elements of size bytes (never NULL for count 0 while memory
 * lasts, so NULL always means out of memory). */
static void *pool_alloc(struct pool *p, size_t count, size_t size)
{
    if (p->num == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        void **blocks = realloc(p->blocks, cap * sizeof(*blocks));
        if (!blocks)
            return NULL;
        p->blocks = blocks;
        p->cap = cap;
    }
    void *b = calloc(count ? count : 1, size);
    if (b)
        p->blocks[p->num++] = b;
    return b;
}

static void pool_free(struct pool *p)
{
    for (size_t i = 0; i < p->num; i++)
        free(p->blocks[i]);
    free(p->blocks);
}

/* protobuf-c's message fields are not const; packing only reads them. */
static char *text(const char *s)
{
    return (char *)(uintptr_t)s;
}

static bool terminated(const char *buf, size_t size)
{
    return strnlen(buf, size) < size;
}

static DiskMsg *encode_disk(struct pool *p, const struct snapshot_disk_config *d)
{
    DiskMsg *m = pool_alloc(p, 1, sizeof(*m));
    if (!m)
        return NULL;
    ignition__snapshot__disk__init(m);
    m->read_only = d->read_only;
    m->serial = text(d->serial);
    m->layer = text(d->layer);
    m->base_path = text(d->base_path);
    m->layer_summed = d->layer_summed;
    m->layer_crc32 = d->layer_summed ? d->layer_crc32 : 0;
    return m;
}

static bool disk_strings_fit(const struct snapshot_disk_config *d)
{
    return terminated(d->serial, sizeof(d->serial)) && terminated(d->layer, sizeof(d->layer)) &&
           terminated(d->base_path, sizeof(d->base_path));
}

static int encode_config(struct pool *p, const struct snapshot_machine_config *c, ConfigMsg *m,
                         char *err, size_t err_len)
{
    if (c->num_disks > SNAPSHOT_MAX_DISKS)
        return refuse(err, err_len, "%u disks, more than %d", c->num_disks, SNAPSHOT_MAX_DISKS);
    if (!terminated(c->cmdline, sizeof(c->cmdline)))
        return refuse(err, err_len, "the kernel command line is not terminated");
    m->ram_size = c->ram_size;
    m->cmdline = text(c->cmdline);
    m->gpu = c->gpu;
    m->keyboard = c->keyboard;
    m->num_scanouts = c->num_scanouts;
    m->display_width = c->display_width;
    m->display_height = c->display_height;
    m->gpu_memory = c->gpu_memory;
    m->net = c->net;
    m->vsock = c->vsock;
    m->disks = pool_alloc(p, c->num_disks, sizeof(*m->disks));
    if (!m->disks)
        return out_of_memory(err, err_len);
    for (unsigned i = 0; i < c->num_disks; i++) {
        if (!disk_strings_fit(&c->disks[i]))
            return refuse(err, err_len, "disk %u: a string is not terminated", i);
        if (!(m->disks[i] = encode_disk(p, &c->disks[i])))
            return out_of_memory(err, err_len);
    }
    m->n_disks = c->num_disks;
    return 0;
}

static void encode_simd(const uint64_t v[32][2], uint8_t *out)
{
    for (unsigned i = 0; i < 32; i++) {
        le_put(out + 16 * i, v[i][0], 8);
        le_put(out + 16 * i + 8, v[i][1], 8);
    }
}

/* The register list: one message each, in the list's order. */
static int encode_registers(struct pool *p, const struct hv_vcpu_state *s, VcpuMsg *m)
{
    RegMsg **regs = pool_alloc(p, s->num_regs, sizeof(*regs));
    RegMsg *all = pool_alloc(p, s->num_regs, sizeof(*all));
    if (!regs || !all)
        return -ENOMEM;
    for (uint32_t i = 0; i < s->num_regs; i++) {
        ignition__snapshot__backend_register__init(&all[i]);
        all[i].id = s->regs[i].id;
        all[i].value = s->regs[i].value[0];
        all[i].value_high = s->regs[i].value[1];
        regs[i] = &all[i];
    }
    m->registers = regs;
    m->n_registers = s->num_regs;
    return 0;
}

static VcpuMsg *encode_vcpu(struct pool *p, const struct hv_vcpu_state *s)
{
    VcpuMsg *m = pool_alloc(p, 1, sizeof(*m));
    TimerMsg *t = pool_alloc(p, 1, sizeof(*t));
    uint8_t *simd = pool_alloc(p, SIMD_BYTES, 1);
    if (!m || !t || !simd)
        return NULL;
    ignition__snapshot__vcpu__init(m);
    ignition__snapshot__timer__init(t);
    m->n_x = NUM_X;
    m->x = (uint64_t *)(uintptr_t)s->x;
    m->sp_el0 = s->sp_el0, m->sp_el1 = s->sp_el1, m->pc = s->pc, m->pstate = s->pstate;
    m->elr_el1 = s->elr_el1, m->spsr_el1 = s->spsr_el1, m->esr_el1 = s->esr_el1;
    m->far_el1 = s->far_el1, m->vbar_el1 = s->vbar_el1;
    m->sctlr_el1 = s->sctlr_el1, m->tcr_el1 = s->tcr_el1;
    m->ttbr0_el1 = s->ttbr0_el1, m->ttbr1_el1 = s->ttbr1_el1;
    m->mair_el1 = s->mair_el1, m->amair_el1 = s->amair_el1;
    m->contextidr_el1 = s->contextidr_el1, m->cpacr_el1 = s->cpacr_el1;
    m->cntkctl_el1 = s->cntkctl_el1, m->par_el1 = s->par_el1;
    m->afsr0_el1 = s->afsr0_el1, m->afsr1_el1 = s->afsr1_el1;
    m->mdscr_el1 = s->mdscr_el1, m->csselr_el1 = s->csselr_el1;
    m->tpidr_el0 = s->tpidr_el0, m->tpidrro_el0 = s->tpidrro_el0, m->tpidr_el1 = s->tpidr_el1;
    m->fpcr = s->fpcr, m->fpsr = s->fpsr;
    encode_simd(s->v, simd);
    m->v = (ProtobufCBinaryData){SIMD_BYTES, simd};
    t->cntv_ctl = s->cntv_ctl, t->cntv_cval = s->cntv_cval;
    t->cntp_ctl = s->cntp_ctl, t->cntp_cval = s->cntp_cval, t->counter = s->counter;
    t->counter_hz = s->counter_hz;
    m->timer = t;
    m->n_backend = NUM_BACKEND_WORDS;
    m->backend = (uint32_t *)(uintptr_t)s->backend;
    m->power = s->power;
    return encode_registers(p, s, m) == 0 ? m : NULL;
}

static DeviceMsg *encode_device(struct pool *p, const struct machine_device_state *d)
{
    DeviceMsg *m = pool_alloc(p, 1, sizeof(*m));
    if (!m)
        return NULL;
    ignition__snapshot__device_state__init(m);
    m->kind = text(d->kind);
    m->mmio_base = d->base;
    m->state = (ProtobufCBinaryData){d->state.len, d->state.data};
    return m;
}

static int encode_state(struct pool *p, const struct machine_snapshot *s, StateMsg *m, char *err,
                        size_t err_len)
{
    if (s->num_devices > MACHINE_SNAPSHOT_MAX_DEVICES)
        return refuse(err, err_len, "%u devices, more than %d", s->num_devices,
                      MACHINE_SNAPSHOT_MAX_DEVICES);
    if (s->num_vcpus < 1 || s->num_vcpus > MACHINE_MAX_CPUS)
        return refuse(err, err_len, "%u vCPUs, not 1 to %d", s->num_vcpus, MACHINE_MAX_CPUS);
    for (unsigned i = 0; i < s->num_vcpus; i++)
        if (s->vcpus[i].num_regs > HV_MAX_BACKEND_REGS)
            return refuse(err, err_len, "vCPU %u: %u registers, more than %d", i,
                          s->vcpus[i].num_regs, HV_MAX_BACKEND_REGS);
    m->vcpu = encode_vcpu(p, &s->vcpus[0]);
    m->secondary_vcpus = pool_alloc(p, s->num_vcpus - 1, sizeof(*m->secondary_vcpus));
    m->devices = pool_alloc(p, s->num_devices, sizeof(*m->devices));
    if (!m->vcpu || !m->secondary_vcpus || !m->devices)
        return out_of_memory(err, err_len);
    for (unsigned i = 1; i < s->num_vcpus; i++)
        if (!(m->secondary_vcpus[i - 1] = encode_vcpu(p, &s->vcpus[i])))
            return out_of_memory(err, err_len);
    m->n_secondary_vcpus = s->num_vcpus - 1;
    for (unsigned i = 0; i < s->num_devices; i++) {
        if (!terminated(s->devices[i].kind, sizeof(s->devices[i].kind)))
            return refuse(err, err_len, "device %u: its kind is not terminated", i);
        if (!(m->devices[i] = encode_device(p, &s->devices[i])))
            return out_of_memory(err, err_len);
    }
    m->n_devices = s->num_devices;
    return 0;
}

static int pack(const ManifestMsg *m, uint8_t **out, size_t *len, char *err, size_t err_len)
{
    size_t size = ignition__snapshot__manifest__get_packed_size(m);
    if (size > SNAPSHOT_BODY_MAX)
        return refuse(err, err_len, "the machine's state takes %zu bytes, more than a manifest "
                      "holds (%u)", size, SNAPSHOT_BODY_MAX);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return out_of_memory(err, err_len);
    *len = ignition__snapshot__manifest__pack(m, buf);
    *out = buf;
    return 0;
}

int snapshot_manifest_encode(const struct snapshot_machine_config *config,
                             const struct machine_snapshot *state, uint8_t **out, size_t *len,
                             char *err, size_t err_len)
{
    if (!terminated(config->backend, sizeof(config->backend)))
        return refuse(err, err_len, "the backend's name is not terminated");
    struct pool pool = {0};
    ManifestMsg m = IGNITION__SNAPSHOT__MANIFEST__INIT;
    ConfigMsg cm = IGNITION__SNAPSHOT__MACHINE_CONFIG__INIT;
    StateMsg sm = IGNITION__SNAPSHOT__MACHINE_STATE__INIT;
    m.format_version = SNAPSHOT_MANIFEST_VERSION;
    m.created_unix_ms = config->created_unix_ms;
    m.host_monotonic_ns = config->host_monotonic_ns;
    m.host_realtime_ns = config->host_realtime_ns;
    m.backend = text(config->backend);
    m.config = &cm;
    m.state = &sm;
    int rc = encode_config(&pool, config, &cm, err, err_len);
    if (rc == 0)
        rc = encode_state(&pool, state, &sm, err, err_len);
    cm.num_cpus = state->num_vcpus;
    if (rc == 0)
        rc = pack(&m, out, len, err, err_len);
    pool_free(&pool);
    return rc;
}

/* ---- decoding ------------------------------------------------------------------------- */

/* Copies a string into a buffer of size bytes; false when it does not fit. */
static bool copy_text(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* A file name inside the snapshot directory, or empty: never a way out of it. */
static bool plain_file_name(const char *name)
{
    return !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int decode_disk(const DiskMsg *m, unsigned i, struct snapshot_disk_config *d, char *err,
                       size_t err_len)
{
    d->read_only = m->read_only;
    if (!copy_text(d->serial, sizeof(d->serial), m->serial))
        return refuse(err, err_len, "disk %u: a serial longer than %d bytes", i,
                      SNAPSHOT_DISK_SERIAL_MAX);
    if (!copy_text(d->layer, sizeof(d->layer), m->layer) || !plain_file_name(d->layer))
        return refuse(err, err_len, "disk %u: the layer's name is not a file name of at most "
                      "%d bytes", i, SNAPSHOT_LAYER_NAME_MAX);
    if (!copy_text(d->base_path, sizeof(d->base_path), m->base_path))
        return refuse(err, err_len, "disk %u: a base image path longer than %d bytes", i,
                      SNAPSHOT_BASE_PATH_MAX);
    d->layer_summed = m->layer_summed && d->layer[0];
    d->layer_crc32 = d->layer_summed ? m->layer_crc32 : 0;
    return 0;
}

static int decode_config(const ManifestMsg *mm, struct snapshot_machine_config *c, char *err,
                         size_t err_len)
{
    const ConfigMsg *m = mm->config;
    if (!m)
        return refuse(err, err_len, "the manifest has no machine configuration");
    if (!copy_text(c->backend, sizeof(c->backend), mm->backend) || !c->backend[0])
        return refuse(err, err_len, "the manifest names no backend of at most %d bytes",
                      SNAPSHOT_BACKEND_NAME_MAX);
    c->created_unix_ms = mm->created_unix_ms;
    c->host_monotonic_ns = mm->host_monotonic_ns;
    c->host_realtime_ns = mm->host_realtime_ns;
    c->ram_size = m->ram_size;
    if (!copy_text(c->cmdline, sizeof(c->cmdline), m->cmdline))
        return refuse(err, err_len, "a kernel command line longer than %d bytes",
                      MACHINE_MAX_CMDLINE - 1);
    if (m->n_disks > SNAPSHOT_MAX_DISKS)
        return refuse(err, err_len, "%zu disks, more than %d", m->n_disks, SNAPSHOT_MAX_DISKS);
    for (size_t i = 0; i < m->n_disks; i++) {
        int rc = decode_disk(m->disks[i], (unsigned)i, &c->disks[i], err, err_len);
        if (rc < 0)
            return rc;
    }
    c->num_disks = (unsigned)m->n_disks;
    c->gpu = m->gpu;
    c->keyboard = m->keyboard;
    c->num_scanouts = m->num_scanouts;
    c->display_width = m->display_width;
    c->display_height = m->display_height;
    c->gpu_memory = m->gpu_memory;
    if (m->net > SNAPSHOT_NET_USER_HOST_LOOPBACK)
        return refuse(err, err_len, "network mode %u is unknown", m->net);
    c->net = (uint8_t)m->net;
    c->vsock = m->vsock;
    return 0;
}

static void decode_simd(const uint8_t *in, uint64_t v[32][2])
{
    for (unsigned i = 0; i < 32; i++) {
        v[i][0] = le64(in + 16 * i);
        v[i][1] = le64(in + 16 * i + 8);
    }
}

/* The list as it is: the backend that loads it checks each id and value. */
static int decode_registers(const VcpuMsg *m, unsigned n, struct hv_vcpu_state *s, char *err,
                            size_t err_len)
{
    if (m->n_registers > HV_MAX_BACKEND_REGS)
        return refuse(err, err_len, "vCPU %u: %zu registers, more than %d", n, m->n_registers,
                      HV_MAX_BACKEND_REGS);
    for (size_t i = 0; i < m->n_registers; i++) {
        const RegMsg *r = m->registers[i];
        s->regs[i] = (struct hv_backend_reg){.id = r->id, .value = {r->value, r->value_high}};
    }
    s->num_regs = (uint32_t)m->n_registers;
    return 0;
}

static int decode_vcpu(const VcpuMsg *m, unsigned n, struct hv_vcpu_state *s, char *err,
                       size_t err_len)
{
    if (m->n_x != NUM_X || m->v.len != SIMD_BYTES || m->n_backend != NUM_BACKEND_WORDS)
        return refuse(err, err_len, "vCPU %u has %zu general registers, %zu bytes of "
                      "SIMD registers and %zu backend words (not %d, %u and %d)", n, m->n_x,
                      m->v.len, m->n_backend, NUM_X, SIMD_BYTES, NUM_BACKEND_WORDS);
    if (m->power > HV_VCPU_SUSPENDED)
        return refuse(err, err_len, "vCPU %u: power state %u is unknown", n, m->power);
    memcpy(s->x, m->x, sizeof(s->x));
    s->sp_el0 = m->sp_el0, s->sp_el1 = m->sp_el1, s->pc = m->pc, s->pstate = m->pstate;
    s->elr_el1 = m->elr_el1, s->spsr_el1 = m->spsr_el1, s->esr_el1 = m->esr_el1;
    s->far_el1 = m->far_el1, s->vbar_el1 = m->vbar_el1;
    s->sctlr_el1 = m->sctlr_el1, s->tcr_el1 = m->tcr_el1;
    s->ttbr0_el1 = m->ttbr0_el1, s->ttbr1_el1 = m->ttbr1_el1;
    s->mair_el1 = m->mair_el1, s->amair_el1 = m->amair_el1;
    s->contextidr_el1 = m->contextidr_el1, s->cpacr_el1 = m->cpacr_el1;
    s->cntkctl_el1 = m->cntkctl_el1, s->par_el1 = m->par_el1;
    s->afsr0_el1 = m->afsr0_el1, s->afsr1_el1 = m->afsr1_el1;
    s->mdscr_el1 = m->mdscr_el1, s->csselr_el1 = m->csselr_el1;
    s->tpidr_el0 = m->tpidr_el0, s->tpidrro_el0 = m->tpidrro_el0, s->tpidr_el1 = m->tpidr_el1;
    s->fpcr = m->fpcr, s->fpsr = m->fpsr;
    decode_simd(m->v.data, s->v);
    if (m->timer) {
        const TimerMsg *t = m->timer;
        s->cntv_ctl = t->cntv_ctl, s->cntv_cval = t->cntv_cval;
        s->cntp_ctl = t->cntp_ctl, s->cntp_cval = t->cntp_cval, s->counter = t->counter;
        s->counter_hz = t->counter_hz;
    }
    if (s->counter_hz == 0)
        s->counter_hz = SNAPSHOT_EMU_COUNTER_HZ; /* what every snapshot before it ran at */
    memcpy(s->backend, m->backend, sizeof(s->backend));
    s->power = m->power;
    return decode_registers(m, n, s, err, err_len);
}

static int decode_device(const DeviceMsg *m, unsigned i, struct machine_device_state *d,
                         char *err, size_t err_len)
{
    if (!copy_text(d->kind, sizeof(d->kind), m->kind) || !d->kind[0])
        return refuse(err, err_len, "device %u: no kind of at most %d bytes", i,
                      MACHINE_DEVICE_KIND_MAX);
    d->base = m->mmio_base;
    if (m->state.len == 0)
        return 0;
    d->state.data = malloc(m->state.len);
    if (!d->state.data)
        return out_of_memory(err, err_len);
    memcpy(d->state.data, m->state.data, m->state.len);
    d->state.len = m->state.len;
    return 0;
}

static int decode_state(const ManifestMsg *mm, struct machine_snapshot *s, char *err,
                        size_t err_len)
{
    const StateMsg *m = mm->state;
    if (!m)
        return refuse(err, err_len, "the manifest has no machine state");
    if (!m->vcpu)
        return refuse(err, err_len, "the machine state lacks the vCPU");
    const ConfigMsg *c = mm->config;
    size_t num_cpus = c->num_cpus ? c->num_cpus : 1;
    if (num_cpus > MACHINE_MAX_CPUS || m->n_secondary_vcpus != num_cpus - 1)
        return refuse(err, err_len, "the machine has %zu vCPUs and the state %zu (at most %d)",
                      num_cpus, m->n_secondary_vcpus + 1, MACHINE_MAX_CPUS);
    int rc = decode_vcpu(m->vcpu, 0, &s->vcpus[0], err, err_len);
    for (size_t i = 1; rc == 0 && i < num_cpus; i++)
        rc = decode_vcpu(m->secondary_vcpus[i - 1], (unsigned)i, &s->vcpus[i], err, err_len);
    if (rc < 0)
        return rc;
    s->num_vcpus = (unsigned)num_cpus;
    if (m->n_devices > MACHINE_SNAPSHOT_MAX_DEVICES)
        return refuse(err, err_len, "%zu devices, more than %d", m->n_devices,
                      MACHINE_SNAPSHOT_MAX_DEVICES);
    for (size_t i = 0; i < m->n_devices; i++, s->num_devices++)
        if ((rc = decode_device(m->devices[i], (unsigned)i, &s->devices[i], err, err_len)) < 0)
            return rc;
    return 0;
}

/* There are no snapshots of older formats to migrate: one is refused with
 * what to do about it. */
static int check_version(uint32_t version, char *err, size_t err_len)
{
    if (version == SNAPSHOT_MANIFEST_VERSION)
        return 0;
    if (version > SNAPSHOT_MANIFEST_VERSION)
        return refuse(err, err_len, "the snapshot is format version %u, from a newer ignition "
                      "(this one reads version %u)", version, SNAPSHOT_MANIFEST_VERSION);
    if (version == 0)
        return refuse(err, err_len, "the snapshot is format version 0; this ignition reads "
                      "version %u only", SNAPSHOT_MANIFEST_VERSION);
    return refuse(err, err_len, "the snapshot is format version %u, made by an older ignition; "
                  "this one reads version %u only: take the snapshot again", version,
                  SNAPSHOT_MANIFEST_VERSION);
}

static ManifestMsg *unpack(const uint8_t *body, size_t len, char *err, size_t err_len)
{
    struct decode_budget budget;
    decode_budget_init(&budget, SNAPSHOT_MANIFEST_DECODE_BUDGET);
    ManifestMsg *m = ignition__snapshot__manifest__unpack(&budget.allocator, len, body);
    if (!m && budget.exceeded)
        refuse(err, err_len, "the %zu-byte manifest would take more than %u MiB to decode", len,
               SNAPSHOT_MANIFEST_DECODE_BUDGET >> 20);
    else if (!m)
        refuse(err, err_len, "the %zu-byte manifest does not decode", len);
    return m;
}

int snapshot_manifest_decode(const uint8_t *body, size_t len,
                             struct snapshot_machine_config *config,
                             struct machine_snapshot *state, char *err, size_t err_len)
{
    memset(config, 0, sizeof(*config));
    memset(state, 0, sizeof(*state));
    if (len > SNAPSHOT_BODY_MAX)
        return refuse(err, err_len, "a %zu-byte manifest, more than %u", len, SNAPSHOT_BODY_MAX);
    ManifestMsg *m = unpack(body, len, err, err_len);
    if (!m)
        return -EINVAL;
    int rc = check_version(m->format_version, err, err_len);
    if (rc == 0)
        rc = decode_config(m, config, err, err_len);
    if (rc == 0)
        rc = decode_state(m, state, err, err_len);
    config->num_cpus = state->num_vcpus;
    ignition__snapshot__manifest__free_unpacked(m, NULL);
    if (rc < 0) {
        snapshot_manifest_free(state);
        memset(config, 0, sizeof(*config));
        memset(state, 0, sizeof(*state));
    }
    return rc;
}

void snapshot_manifest_free(struct machine_snapshot *state)
{
    machine_snapshot_free(state);
}
