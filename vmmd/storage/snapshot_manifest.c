/* The manifest's body: struct machine_snapshot and the machine's configuration
 * to and from proto/snapshot.proto. Encoding builds protobuf-c messages that
 * point into the state (or into a pool for what must be rearranged) and packs
 * them; decoding unpacks under an allocation budget and copies field by field,
 * checking every count and width on the way. */
#include "storage/snapshot_manifest.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "devices/virtio.h"
#include "snapshot.pb-c.h"
#include "storage/snapshot_file.h"
#include "util.h"

typedef Ignition__Snapshot__Manifest ManifestMsg;
typedef Ignition__Snapshot__MachineConfig ConfigMsg;
typedef Ignition__Snapshot__Disk DiskMsg;
typedef Ignition__Snapshot__MachineState StateMsg;
typedef Ignition__Snapshot__Vcpu VcpuMsg;
typedef Ignition__Snapshot__Timer TimerMsg;
typedef Ignition__Snapshot__Gic GicMsg;
typedef Ignition__Snapshot__Uart UartMsg;
typedef Ignition__Snapshot__Rtc RtcMsg;
typedef Ignition__Snapshot__VmGenId GenIdMsg;
typedef Ignition__Snapshot__VirtioSlot SlotMsg;
typedef Ignition__Snapshot__VirtioQueue QueueMsg;
typedef Ignition__Snapshot__VirtioInput InputMsg;
typedef Ignition__Snapshot__InputEvent EventMsg;
typedef Ignition__Snapshot__Gpu GpuMsg;
typedef Ignition__Snapshot__GpuScanout ScanoutMsg;
typedef Ignition__Snapshot__GpuRect RectMsg;
typedef Ignition__Snapshot__GpuCursor CursorMsg;
typedef Ignition__Snapshot__GpuResource ResourceMsg;
typedef Ignition__Snapshot__GpuBacking BackingMsg;

#define NUM_X 31
#define SIMD_BYTES (32u * 16u)
#define NUM_BACKEND_WORDS 4
#define GIC_MAX_SPI_SLOTS (GIC_MAX_IRQS - GIC_NUM_PRIVATE)

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
    m->timer = t;
    m->n_backend = NUM_BACKEND_WORDS;
    m->backend = (uint32_t *)(uintptr_t)s->backend;
    return m;
}

/* The per-interrupt fields, each an array of its own in the schema. */
#define GIC_FLAG(name) {offsetof(struct gicv3_irq_state, name), offsetof(GicMsg, name)}
static const struct {
    size_t in_state, in_msg;
} gic_flags[] = {GIC_FLAG(priority), GIC_FLAG(group1),  GIC_FLAG(enabled), GIC_FLAG(active),
                 GIC_FLAG(edge),     GIC_FLAG(pending), GIC_FLAG(line)};
#define NUM_FLAGS ARRAY_SIZE(gic_flags)

static ProtobufCBinaryData *gic_column(GicMsg *m, size_t f)
{
    return (ProtobufCBinaryData *)((char *)m + gic_flags[f].in_msg);
}

static const ProtobufCBinaryData *gic_column_in(const GicMsg *m, size_t f)
{
    return (const ProtobufCBinaryData *)((const char *)m + gic_flags[f].in_msg);
}

static GicMsg *encode_gic(struct pool *p, const struct gicv3_state *s)
{
    size_t n = GIC_NUM_PRIVATE + s->num_spis;
    GicMsg *m = pool_alloc(p, 1, sizeof(*m));
    uint8_t *flags = pool_alloc(p, NUM_FLAGS, n);
    if (!m || !flags)
        return NULL;
    ignition__snapshot__gic__init(m);
    m->num_spis = s->num_spis;
    m->dist_ctlr = s->dist_ctlr;
    m->redist_waker = s->redist_waker;
    m->icc_ctlr = s->icc_ctlr, m->icc_pmr = s->icc_pmr, m->icc_bpr1 = s->icc_bpr1;
    m->icc_igrpen1 = s->icc_igrpen1;
    m->n_active_stack = s->active_depth;
    m->active_stack = (uint32_t *)(uintptr_t)s->active_stack;
    for (size_t f = 0; f < NUM_FLAGS; f++) {
        uint8_t *column = flags + f * n;
        for (size_t i = 0; i < n; i++)
            column[i] = *((const uint8_t *)&s->irqs[i] + gic_flags[f].in_state);
        *gic_column(m, f) = (ProtobufCBinaryData){n, column};
    }
    m->n_irouter = n;
    m->irouter = (uint64_t *)(uintptr_t)s->irouter;
    return m;
}

static UartMsg *encode_uart(struct pool *p, const struct pl011_state *s)
{
    UartMsg *m = pool_alloc(p, 1, sizeof(*m));
    if (!m)
        return NULL;
    ignition__snapshot__uart__init(m);
    m->ibrd = s->ibrd, m->fbrd = s->fbrd, m->lcr_h = s->lcr_h, m->cr = s->cr;
    m->ifls = s->ifls, m->imsc = s->imsc, m->dmacr = s->dmacr, m->ilpr = s->ilpr;
    m->ris = s->ris;
    m->rx = (ProtobufCBinaryData){s->rx_count, (uint8_t *)(uintptr_t)s->rx};
    return m;
}

static RtcMsg *encode_rtc(struct pool *p, const struct pl031_state *s)
{
    RtcMsg *m = pool_alloc(p, 1, sizeof(*m));
    if (!m)
        return NULL;
    ignition__snapshot__rtc__init(m);
    m->offset = s->offset;
    m->load = s->load, m->match = s->match, m->imsc = s->imsc;
    m->armed = s->armed, m->match_raw = s->match_raw;
    return m;
}

static GenIdMsg *encode_genid(struct pool *p, const struct vmgenid_state *s)
{
    GenIdMsg *m = pool_alloc(p, 1, sizeof(*m));
    if (!m)
        return NULL;
    ignition__snapshot__vm_gen_id__init(m);
    m->id = (ProtobufCBinaryData){sizeof(s->id), (uint8_t *)(uintptr_t)s->id};
    return m;
}

static bool queue_is_zero(const struct virtio_mmio_queue_state *q)
{
    return !q->num && !q->ready && !q->desc && !q->driver && !q->device && !q->last_avail &&
           !q->used_idx && !q->event_idx;
}

static QueueMsg *encode_queue(struct pool *p, const struct virtio_mmio_queue_state *q)
{
    QueueMsg *m = pool_alloc(p, 1, sizeof(*m));
    if (!m)
        return NULL;
    ignition__snapshot__virtio_queue__init(m);
    m->num = q->num, m->ready = q->ready;
    m->desc = q->desc, m->driver = q->driver, m->device = q->device;
    m->last_avail = q->last_avail, m->used_idx = q->used_idx, m->event_idx = q->event_idx;
    return m;
}

static InputMsg *encode_input(struct pool *p, const struct virtio_input_state *s)
{
    InputMsg *m = pool_alloc(p, 1, sizeof(*m));
    EventMsg *events = pool_alloc(p, s->num_events, sizeof(*events));
    EventMsg **list = pool_alloc(p, s->num_events, sizeof(*list));
    if (!m || !events || !list)
        return NULL;
    ignition__snapshot__virtio_input__init(m);
    m->kind = s->kind, m->select = s->select, m->subsel = s->subsel, m->leds = s->leds;
    m->lengths = (ProtobufCBinaryData){s->num_sequences, (uint8_t *)(uintptr_t)s->lengths};
    for (uint32_t i = 0; i < s->num_events; i++) {
        ignition__snapshot__input_event__init(&events[i]);
        events[i].type = s->events[i].type;
        events[i].code = s->events[i].code;
        events[i].value = s->events[i].value;
        list[i] = &events[i];
    }
    m->n_events = s->num_events;
    m->events = list;
    return m;
}

static SlotMsg *encode_slot(struct pool *p, const struct machine_snapshot_virtio *v)
{
    const struct virtio_mmio_state *t = &v->transport;
    SlotMsg *m = pool_alloc(p, 1, sizeof(*m));
    QueueMsg **queues = pool_alloc(p, VIRTIO_MMIO_MAX_QUEUES, sizeof(*queues));
    if (!m || !queues)
        return NULL;
    ignition__snapshot__virtio_slot__init(m);
    m->mmio_base = v->base;
    m->device_id = t->device_id, m->status = t->status;
    m->driver_features = t->driver_features;
    m->device_features_sel = t->device_features_sel;
    m->driver_features_sel = t->driver_features_sel;
    m->queue_sel = t->queue_sel;
    m->interrupt_status = t->interrupt_status;
    m->config_generation = t->config_generation;
    size_t n = VIRTIO_MMIO_MAX_QUEUES;
    while (n && queue_is_zero(&t->queues[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++)
        if (!(queues[i] = encode_queue(p, &t->queues[i])))
            return NULL;
    m->n_queues = n;
    m->queues = queues;
    if (t->device_id == VIRTIO_ID_INPUT && !(m->input = encode_input(p, &t->device.input)))
        return NULL;
    return m;
}

static ScanoutMsg *encode_scanout(struct pool *p, const struct virtio_gpu_scanout_state *s)
{
    ScanoutMsg *m = pool_alloc(p, 1, sizeof(*m));
    RectMsg *r = pool_alloc(p, 1, sizeof(*r));
    CursorMsg *c = pool_alloc(p, 1, sizeof(*c));
    if (!m || !r || !c)
        return NULL;
    ignition__snapshot__gpu_scanout__init(m);
    ignition__snapshot__gpu_rect__init(r);
    ignition__snapshot__gpu_cursor__init(c);
    m->enabled = s->enabled, m->width = s->width, m->height = s->height;
    m->resource_id = s->resource_id;
    r->x = s->rect.x, r->y = s->rect.y, r->width = s->rect.width, r->height = s->rect.height;
    c->resource_id = s->cursor.resource_id;
    c->hot_x = s->cursor.hot_x, c->hot_y = s->cursor.hot_y;
    c->x = s->cursor.x, c->y = s->cursor.y;
    m->rect = r;
    m->cursor = c;
    return m;
}

static ResourceMsg *encode_resource(struct pool *p, const struct virtio_gpu_resource_state *s)
{
    ResourceMsg *m = pool_alloc(p, 1, sizeof(*m));
    BackingMsg *entries = pool_alloc(p, s->num_backing, sizeof(*entries));
    BackingMsg **list = pool_alloc(p, s->num_backing, sizeof(*list));
    if (!m || !entries || !list)
        return NULL;
    ignition__snapshot__gpu_resource__init(m);
    m->id = s->id, m->format = s->format, m->width = s->width, m->height = s->height;
    for (uint32_t i = 0; i < s->num_backing; i++) {
        ignition__snapshot__gpu_backing__init(&entries[i]);
        entries[i].gpa = s->backing[i].gpa;
        entries[i].len = s->backing[i].len;
        list[i] = &entries[i];
    }
    m->n_backing = s->num_backing;
    m->backing = list;
    return m;
}

static GpuMsg *encode_gpu(struct pool *p, const struct virtio_gpu_state *s)
{
    GpuMsg *m = pool_alloc(p, 1, sizeof(*m));
    ScanoutMsg **scanouts = pool_alloc(p, s->num_scanouts, sizeof(*scanouts));
    ResourceMsg **resources = pool_alloc(p, s->num_resources, sizeof(*resources));
    if (!m || !scanouts || !resources)
        return NULL;
    ignition__snapshot__gpu__init(m);
    m->events_read = s->events_read;
    for (unsigned i = 0; i < s->num_scanouts; i++)
        if (!(scanouts[i] = encode_scanout(p, &s->scanouts[i])))
            return NULL;
    for (size_t i = 0; i < s->num_resources; i++)
        if (!(resources[i] = encode_resource(p, &s->resources[i])))
            return NULL;
    m->n_scanouts = s->num_scanouts;
    m->scanouts = scanouts;
    m->n_resources = s->num_resources;
    m->resources = resources;
    return m;
}

/* The counts encoding trusts to index the state's arrays. */
static int check_counts(const struct machine_snapshot *s, char *err, size_t err_len)
{
    if (s->gic.num_spis > GIC_MAX_SPI_SLOTS || s->gic.active_depth > GIC_MAX_NESTED)
        return refuse(err, err_len, "the GIC state's counts are out of range");
    if (s->uart.rx_count > PL011_RX_BUFFER)
        return refuse(err, err_len, "the UART holds %u bytes, more than %u", s->uart.rx_count,
                      PL011_RX_BUFFER);
    if (s->num_virtio > MACHINE_SNAPSHOT_MAX_VIRTIO)
        return refuse(err, err_len, "%u virtio devices, more than %d", s->num_virtio,
                      MACHINE_SNAPSHOT_MAX_VIRTIO);
    for (unsigned i = 0; i < s->num_virtio; i++) {
        const struct virtio_mmio_state *t = &s->virtio[i].transport;
        if (t->device_id == VIRTIO_ID_INPUT &&
            (t->device.input.num_sequences > VIRTIO_INPUT_PENDING_SEQUENCES ||
             t->device.input.num_events > VIRTIO_INPUT_PENDING_EVENTS))
            return refuse(err, err_len, "virtio slot %u: the input queue's counts are out of range",
                          i);
    }
    if (s->has_gpu && (s->gpu.num_scanouts > DISPLAY_MAX_SCANOUTS ||
                       s->gpu.num_resources > VIRTIO_GPU_MAX_RESOURCES))
        return refuse(err, err_len, "the gpu state's counts are out of range");
    return 0;
}

static int encode_state(struct pool *p, const struct machine_snapshot *s, StateMsg *m, char *err,
                        size_t err_len)
{
    int rc = check_counts(s, err, err_len);
    if (rc < 0)
        return rc;
    m->vcpu = encode_vcpu(p, &s->vcpu);
    m->gic = encode_gic(p, &s->gic);
    m->uart = encode_uart(p, &s->uart);
    m->rtc = encode_rtc(p, &s->rtc);
    m->virtio = pool_alloc(p, s->num_virtio, sizeof(*m->virtio));
    if (!m->vcpu || !m->gic || !m->uart || !m->rtc || !m->virtio)
        return out_of_memory(err, err_len);
    for (unsigned i = 0; i < s->num_virtio; i++)
        if (!(m->virtio[i] = encode_slot(p, &s->virtio[i])))
            return out_of_memory(err, err_len);
    m->n_virtio = s->num_virtio;
    if (s->has_gpu && !(m->gpu = encode_gpu(p, &s->gpu)))
        return out_of_memory(err, err_len);
    if (s->has_genid && !(m->genid = encode_genid(p, &s->genid)))
        return out_of_memory(err, err_len);
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
    if (rc == 0)
        rc = pack(&m, out, len, err, err_len);
    pool_free(&pool);
    return rc;
}

/* ---- decoding ------------------------------------------------------------------------- */

struct decode_budget {
    size_t left;
    bool exceeded;
};

/* malloc, so that the message is freed as any other (free_unpacked(m, NULL)). */
static void *budget_alloc(void *data, size_t size)
{
    struct decode_budget *budget = data;
    if (size > budget->left) {
        budget->exceeded = true;
        return NULL;
    }
    budget->left -= size;
    return malloc(size);
}

static void budget_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}

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
    return 0;
}

static void decode_simd(const uint8_t *in, uint64_t v[32][2])
{
    for (unsigned i = 0; i < 32; i++) {
        v[i][0] = le64(in + 16 * i);
        v[i][1] = le64(in + 16 * i + 8);
    }
}

static int decode_vcpu(const VcpuMsg *m, struct hv_vcpu_state *s, char *err, size_t err_len)
{
    if (m->n_x != NUM_X || m->v.len != SIMD_BYTES || m->n_backend != NUM_BACKEND_WORDS)
        return refuse(err, err_len, "the vCPU state has %zu general registers, %zu bytes of "
                      "SIMD registers and %zu backend words (not %d, %u and %d)", m->n_x,
                      m->v.len, m->n_backend, NUM_X, SIMD_BYTES, NUM_BACKEND_WORDS);
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
    }
    memcpy(s->backend, m->backend, sizeof(s->backend));
    return 0;
}

static int decode_gic(const GicMsg *m, struct gicv3_state *s, char *err, size_t err_len)
{
    if (m->num_spis > GIC_MAX_SPI_SLOTS)
        return refuse(err, err_len, "a GIC with %u SPIs, more than %d", m->num_spis,
                      GIC_MAX_SPI_SLOTS);
    if (m->n_active_stack > GIC_MAX_NESTED)
        return refuse(err, err_len, "%zu nested active interrupts, more than %d",
                      m->n_active_stack, GIC_MAX_NESTED);
    if (m->icc_igrpen1 > UINT8_MAX)
        return refuse(err, err_len, "ICC_IGRPEN1 %u out of range", m->icc_igrpen1);
    size_t n = GIC_NUM_PRIVATE + m->num_spis;
    for (size_t f = 0; f < NUM_FLAGS; f++)
        if (gic_column_in(m, f)->len != n)
            return refuse(err, err_len, "a GIC interrupt array of %zu entries, not %zu",
                          gic_column_in(m, f)->len, n);
    if (m->n_irouter != n)
        return refuse(err, err_len, "%zu GIC routing entries, not %zu", m->n_irouter, n);
    s->num_spis = m->num_spis;
    s->dist_ctlr = m->dist_ctlr;
    s->redist_waker = m->redist_waker;
    s->icc_ctlr = m->icc_ctlr, s->icc_pmr = m->icc_pmr, s->icc_bpr1 = m->icc_bpr1;
    s->icc_igrpen1 = (uint8_t)m->icc_igrpen1;
    s->active_depth = (uint32_t)m->n_active_stack;
    if (m->n_active_stack)
        memcpy(s->active_stack, m->active_stack, m->n_active_stack * sizeof(*s->active_stack));
    for (size_t f = 0; f < NUM_FLAGS; f++)
        for (size_t i = 0; i < n; i++)
            *((uint8_t *)&s->irqs[i] + gic_flags[f].in_state) = gic_column_in(m, f)->data[i];
    memcpy(s->irouter, m->irouter, n * sizeof(*s->irouter));
    return 0;
}

static int decode_uart(const UartMsg *m, struct pl011_state *s, char *err, size_t err_len)
{
    if (m->rx.len > PL011_RX_BUFFER)
        return refuse(err, err_len, "the UART holds %zu received bytes, more than its %u",
                      m->rx.len, PL011_RX_BUFFER);
    s->ibrd = m->ibrd, s->fbrd = m->fbrd, s->lcr_h = m->lcr_h, s->cr = m->cr;
    s->ifls = m->ifls, s->imsc = m->imsc, s->dmacr = m->dmacr, s->ilpr = m->ilpr;
    s->ris = m->ris;
    s->rx_count = (uint32_t)m->rx.len;
    if (m->rx.len)
        memcpy(s->rx, m->rx.data, m->rx.len);
    return 0;
}

static int decode_rtc(const RtcMsg *m, struct pl031_state *s, char *err, size_t err_len)
{
    if (m->armed > UINT8_MAX || m->match_raw > UINT8_MAX)
        return refuse(err, err_len, "an RTC flag out of range");
    s->offset = m->offset;
    s->load = m->load, s->match = m->match, s->imsc = m->imsc;
    s->armed = (uint8_t)m->armed, s->match_raw = (uint8_t)m->match_raw;
    return 0;
}

static int decode_genid(const GenIdMsg *m, struct vmgenid_state *s, char *err, size_t err_len)
{
    if (m->id.len != sizeof(s->id))
        return refuse(err, err_len, "the generation id is %zu bytes, not %zu", m->id.len,
                      sizeof(s->id));
    memcpy(s->id, m->id.data, sizeof(s->id));
    return 0;
}

static int decode_queue(const QueueMsg *m, unsigned slot, size_t i,
                        struct virtio_mmio_queue_state *q, char *err, size_t err_len)
{
    if (m->ready > UINT8_MAX || m->event_idx > UINT8_MAX || m->last_avail > UINT16_MAX ||
        m->used_idx > UINT16_MAX)
        return refuse(err, err_len, "virtio slot %u queue %zu: a value out of range", slot, i);
    q->num = m->num, q->ready = (uint8_t)m->ready;
    q->desc = m->desc, q->driver = m->driver, q->device = m->device;
    q->last_avail = (uint16_t)m->last_avail, q->used_idx = (uint16_t)m->used_idx;
    q->event_idx = (uint8_t)m->event_idx;
    return 0;
}

static int decode_input(const InputMsg *m, unsigned slot, struct virtio_input_state *s,
                        char *err, size_t err_len)
{
    if (m->select > UINT8_MAX || m->subsel > UINT8_MAX)
        return refuse(err, err_len, "virtio slot %u: an input config selector out of range", slot);
    if (m->lengths.len > VIRTIO_INPUT_PENDING_SEQUENCES || m->n_events > VIRTIO_INPUT_PENDING_EVENTS)
        return refuse(err, err_len, "virtio slot %u: %zu waiting input sequences of %zu events, "
                      "more than %d or %d", slot, m->lengths.len, m->n_events,
                      VIRTIO_INPUT_PENDING_SEQUENCES, VIRTIO_INPUT_PENDING_EVENTS);
    s->kind = m->kind, s->select = (uint8_t)m->select, s->subsel = (uint8_t)m->subsel;
    s->leds = m->leds;
    s->num_sequences = (uint32_t)m->lengths.len;
    if (m->lengths.len)
        memcpy(s->lengths, m->lengths.data, m->lengths.len);
    for (size_t i = 0; i < m->n_events; i++) {
        const EventMsg *e = m->events[i];
        if (e->type > UINT16_MAX || e->code > UINT16_MAX)
            return refuse(err, err_len, "virtio slot %u: input event %zu out of range", slot, i);
        s->events[i] = (struct virtio_input_event_host){(uint16_t)e->type, (uint16_t)e->code,
                                                        e->value};
    }
    s->num_events = (uint32_t)m->n_events;
    return 0;
}

static int decode_slot(const SlotMsg *m, unsigned slot, struct machine_snapshot_virtio *v,
                       char *err, size_t err_len)
{
    struct virtio_mmio_state *t = &v->transport;
    if (m->n_queues > VIRTIO_MMIO_MAX_QUEUES)
        return refuse(err, err_len, "virtio slot %u: %zu queues, more than %d", slot, m->n_queues,
                      VIRTIO_MMIO_MAX_QUEUES);
    if ((m->device_id == VIRTIO_ID_INPUT) != (m->input != NULL))
        return refuse(err, err_len, "virtio slot %u: input state %s an input device", slot,
                      m->input ? "for something other than" : "missing for");
    v->base = m->mmio_base;
    t->device_id = m->device_id, t->status = m->status;
    t->driver_features = m->driver_features;
    t->device_features_sel = m->device_features_sel;
    t->driver_features_sel = m->driver_features_sel;
    t->queue_sel = m->queue_sel;
    t->interrupt_status = m->interrupt_status;
    t->config_generation = m->config_generation;
    for (size_t i = 0; i < m->n_queues; i++) {
        int rc = decode_queue(m->queues[i], slot, i, &t->queues[i], err, err_len);
        if (rc < 0)
            return rc;
    }
    return m->input ? decode_input(m->input, slot, &t->device.input, err, err_len) : 0;
}

static void decode_scanout(const ScanoutMsg *m, struct virtio_gpu_scanout_state *s)
{
    s->enabled = m->enabled;
    s->width = m->width, s->height = m->height;
    s->resource_id = m->resource_id;
    if (m->rect)
        s->rect = (struct display_rect){m->rect->x, m->rect->y, m->rect->width, m->rect->height};
    if (m->cursor) {
        const CursorMsg *c = m->cursor;
        s->cursor = (struct virtio_gpu_cursor_state){c->resource_id, c->hot_x, c->hot_y, c->x,
                                                     c->y};
    }
}

static int decode_resource(const ResourceMsg *m, struct virtio_gpu_resource_state *r)
{
    r->id = m->id, r->format = m->format, r->width = m->width, r->height = m->height;
    if (m->n_backing == 0)
        return 0;
    r->backing = calloc(m->n_backing, sizeof(*r->backing));
    if (!r->backing)
        return -ENOMEM;
    for (size_t i = 0; i < m->n_backing; i++)
        r->backing[i] = (struct virtio_gpu_backing_entry){m->backing[i]->gpa, m->backing[i]->len};
    r->num_backing = (uint32_t)m->n_backing;
    return 0;
}

static int check_gpu_counts(const GpuMsg *m, char *err, size_t err_len)
{
    if (m->n_scanouts > DISPLAY_MAX_SCANOUTS)
        return refuse(err, err_len, "%zu gpu scanouts, more than %d", m->n_scanouts,
                      DISPLAY_MAX_SCANOUTS);
    if (m->n_resources > VIRTIO_GPU_MAX_RESOURCES)
        return refuse(err, err_len, "%zu gpu resources, more than %u", m->n_resources,
                      VIRTIO_GPU_MAX_RESOURCES);
    size_t backing = 0;
    for (size_t i = 0; i < m->n_resources; i++) {
        if (m->resources[i]->n_backing > SNAPSHOT_MAX_GPU_BACKING - backing)
            return refuse(err, err_len, "gpu resources with more than %u backing entries in all",
                          SNAPSHOT_MAX_GPU_BACKING);
        backing += m->resources[i]->n_backing;
    }
    return 0;
}

static int decode_gpu(const GpuMsg *m, struct virtio_gpu_state *s, char *err, size_t err_len)
{
    int rc = check_gpu_counts(m, err, err_len);
    if (rc < 0)
        return rc;
    s->events_read = m->events_read;
    for (size_t i = 0; i < m->n_scanouts; i++)
        decode_scanout(m->scanouts[i], &s->scanouts[i]);
    s->num_scanouts = (unsigned)m->n_scanouts;
    if (m->n_resources == 0)
        return 0;
    s->resources = calloc(m->n_resources, sizeof(*s->resources));
    if (!s->resources)
        return out_of_memory(err, err_len);
    s->num_resources = m->n_resources;
    for (size_t i = 0; i < m->n_resources; i++)
        if (decode_resource(m->resources[i], &s->resources[i]) < 0)
            return out_of_memory(err, err_len);
    return 0;
}

static int decode_devices(const StateMsg *m, struct machine_snapshot *s, char *err, size_t err_len)
{
    if (!m->vcpu || !m->gic || !m->uart || !m->rtc)
        return refuse(err, err_len, "the machine state lacks the %s",
                      !m->vcpu ? "vCPU" : !m->gic ? "GIC" : !m->uart ? "UART" : "RTC");
    int rc = decode_vcpu(m->vcpu, &s->vcpu, err, err_len);
    if (rc == 0)
        rc = decode_gic(m->gic, &s->gic, err, err_len);
    if (rc == 0)
        rc = decode_uart(m->uart, &s->uart, err, err_len);
    if (rc == 0)
        rc = decode_rtc(m->rtc, &s->rtc, err, err_len);
    s->has_genid = m->genid != NULL;
    if (rc == 0 && m->genid)
        rc = decode_genid(m->genid, &s->genid, err, err_len);
    return rc;
}

static int decode_state(const ManifestMsg *mm, bool config_gpu, struct machine_snapshot *s,
                        char *err, size_t err_len)
{
    const StateMsg *m = mm->state;
    if (!m)
        return refuse(err, err_len, "the manifest has no machine state");
    int rc = decode_devices(m, s, err, err_len);
    if (rc < 0)
        return rc;
    if (m->n_virtio > MACHINE_SNAPSHOT_MAX_VIRTIO)
        return refuse(err, err_len, "%zu virtio devices, more than %d", m->n_virtio,
                      MACHINE_SNAPSHOT_MAX_VIRTIO);
    for (size_t i = 0; i < m->n_virtio; i++)
        if ((rc = decode_slot(m->virtio[i], (unsigned)i, &s->virtio[i], err, err_len)) < 0)
            return rc;
    s->num_virtio = (unsigned)m->n_virtio;
    if ((m->gpu != NULL) != config_gpu)
        return refuse(err, err_len, "the machine %s a gpu but the state %s",
                      config_gpu ? "has" : "has no", config_gpu ? "none" : "one");
    s->has_gpu = m->gpu != NULL;
    return m->gpu ? decode_gpu(m->gpu, &s->gpu, err, err_len) : 0;
}

static int check_version(uint32_t version, char *err, size_t err_len)
{
    if (version == SNAPSHOT_MANIFEST_VERSION)
        return 0;
    if (version > SNAPSHOT_MANIFEST_VERSION)
        return refuse(err, err_len, "the snapshot is format version %u, from a newer ignition "
                      "(this one reads version %u)", version, SNAPSHOT_MANIFEST_VERSION);
    return refuse(err, err_len, "the snapshot is format version %u; this ignition reads "
                  "version %u only", version, SNAPSHOT_MANIFEST_VERSION);
}

static ManifestMsg *unpack(const uint8_t *body, size_t len, char *err, size_t err_len)
{
    struct decode_budget budget = {.left = SNAPSHOT_MANIFEST_DECODE_BUDGET};
    ProtobufCAllocator allocator = {
        .alloc = budget_alloc, .free = budget_free, .allocator_data = &budget};
    ManifestMsg *m = ignition__snapshot__manifest__unpack(&allocator, len, body);
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
        rc = decode_state(m, config->gpu, state, err, err_len);
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
    if (state->has_gpu)
        virtio_gpu_state_free(&state->gpu);
}
