/* The snapshot manifest's body: a machine state with every field set to a value
 * of its own, and a configuration, come back exactly; every structural fault a
 * file could hold (counts past the C arrays, arrays of the wrong length, values
 * wider than their field, missing parts, a version from the future) is refused
 * with a reason and leaves nothing allocated. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/virtio.h"
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

static void fill_vcpu(struct hv_vcpu_state *v)
{
    uint64_t *words = (uint64_t *)v;
    size_t n = offsetof(struct hv_vcpu_state, backend) / sizeof(uint64_t);
    for (size_t i = 0; i < n; i++)
        words[i] = next();
    for (unsigned i = 0; i < 4; i++)
        v->backend[i] = (uint32_t)next();
}

static void fill_gic(struct gicv3_state *g)
{
    g->num_spis = 64;
    g->dist_ctlr = (uint32_t)next(), g->redist_waker = (uint32_t)next();
    g->icc_ctlr = (uint32_t)next(), g->icc_pmr = (uint32_t)next(), g->icc_bpr1 = (uint32_t)next();
    g->icc_igrpen1 = (uint8_t)next();
    g->active_depth = 3;
    for (unsigned i = 0; i < g->active_depth; i++)
        g->active_stack[i] = (uint32_t)next();
    for (unsigned i = 0; i < GIC_NUM_PRIVATE + g->num_spis; i++) {
        struct gicv3_irq_state *q = &g->irqs[i];
        q->priority = (uint8_t)next(), q->group1 = (uint8_t)next(), q->enabled = (uint8_t)next();
        q->active = (uint8_t)next(), q->edge = (uint8_t)next(), q->pending = (uint8_t)next();
        q->line = (uint8_t)next();
        g->irouter[i] = next();
    }
}

static void fill_uart_rtc(struct pl011_state *u, struct pl031_state *r)
{
    u->ibrd = (uint32_t)next(), u->fbrd = (uint32_t)next(), u->lcr_h = (uint32_t)next();
    u->cr = (uint32_t)next(), u->ifls = (uint32_t)next(), u->imsc = (uint32_t)next();
    u->dmacr = (uint32_t)next(), u->ilpr = (uint32_t)next(), u->ris = (uint32_t)next();
    u->rx_count = 100;
    for (unsigned i = 0; i < u->rx_count; i++)
        u->rx[i] = (uint8_t)next();
    r->offset = -(int64_t)(next() >> 24);
    r->load = (uint32_t)next(), r->match = (uint32_t)next(), r->imsc = (uint32_t)next();
    r->armed = (uint8_t)next(), r->match_raw = (uint8_t)next();
}

static void fill_queue(struct virtio_mmio_queue_state *q)
{
    q->num = (uint32_t)next(), q->ready = (uint8_t)next();
    q->desc = next(), q->driver = next(), q->device = next();
    q->last_avail = (uint16_t)next(), q->used_idx = (uint16_t)next();
    q->event_idx = (uint8_t)next();
}

static void fill_input(struct virtio_input_state *in)
{
    in->kind = (uint32_t)next(), in->select = (uint8_t)next(), in->subsel = (uint8_t)next();
    in->leds = (uint32_t)next();
    in->num_sequences = VIRTIO_INPUT_PENDING_SEQUENCES;
    for (unsigned i = 0; i < in->num_sequences; i++)
        in->lengths[i] = (uint8_t)next();
    in->num_events = VIRTIO_INPUT_PENDING_EVENTS;
    for (unsigned i = 0; i < in->num_events; i++)
        in->events[i] = (struct virtio_input_event_host){(uint16_t)next(), (uint16_t)next(),
                                                         (int32_t)next()};
}

/* Slot i has i % (queues + 1) queues; every third one is an input device. */
static void fill_virtio(struct machine_snapshot *s)
{
    s->num_virtio = MACHINE_SNAPSHOT_MAX_VIRTIO;
    for (unsigned i = 0; i < s->num_virtio; i++) {
        struct virtio_mmio_state *t = &s->virtio[i].transport;
        s->virtio[i].base = next();
        t->device_id = i % 3 == 0 ? VIRTIO_ID_INPUT : (uint32_t)next() | 0x100;
        t->status = (uint32_t)next(), t->driver_features = next();
        t->device_features_sel = (uint32_t)next(), t->driver_features_sel = (uint32_t)next();
        t->queue_sel = (uint32_t)next(), t->interrupt_status = (uint32_t)next();
        t->config_generation = (uint32_t)next();
        for (unsigned q = 0; q < i % (VIRTIO_MMIO_MAX_QUEUES + 1); q++)
            fill_queue(&t->queues[q]);
        if (t->device_id == VIRTIO_ID_INPUT)
            fill_input(&t->device.input);
    }
}

/* Resource i has i backing entries. */
static void fill_gpu(struct virtio_gpu_state *g, size_t num_resources)
{
    g->num_scanouts = DISPLAY_MAX_SCANOUTS;
    g->events_read = (uint32_t)next();
    for (unsigned i = 0; i < g->num_scanouts; i++) {
        struct virtio_gpu_scanout_state *s = &g->scanouts[i];
        s->enabled = i % 2;
        s->width = (uint32_t)next(), s->height = (uint32_t)next();
        s->resource_id = (uint32_t)next();
        s->rect = (struct display_rect){(uint32_t)next(), (uint32_t)next(), (uint32_t)next(),
                                        (uint32_t)next()};
        s->cursor = (struct virtio_gpu_cursor_state){(uint32_t)next(), (uint32_t)next(),
                                                     (uint32_t)next(), (uint32_t)next(),
                                                     (uint32_t)next()};
    }
    g->num_resources = num_resources;
    g->resources = calloc(num_resources, sizeof(*g->resources));
    ck_assert_ptr_nonnull(g->resources);
    for (size_t i = 0; i < num_resources; i++) {
        struct virtio_gpu_resource_state *r = &g->resources[i];
        r->id = (uint32_t)next(), r->format = (uint32_t)next();
        r->width = (uint32_t)next(), r->height = (uint32_t)next();
        r->num_backing = (uint32_t)i;
        r->backing = i ? calloc(i, sizeof(*r->backing)) : NULL;
        for (size_t b = 0; b < i; b++)
            r->backing[b] = (struct virtio_gpu_backing_entry){next(), (uint32_t)next()};
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
}

static void setup(void)
{
    counter = 0;
    memset(&state, 0, sizeof(state));
    memset(&decoded, 0x5a, sizeof(decoded)); /* decode must set all of it */
    memset(&config, 0, sizeof(config));
    memset(&decoded_config, 0x5a, sizeof(decoded_config));
    fill_vcpu(&state.vcpu);
    fill_gic(&state.gic);
    fill_uart_rtc(&state.uart, &state.rtc);
    fill_virtio(&state);
    state.has_genid = true;
    for (unsigned i = 0; i < VMGENID_ID_LEN; i++)
        state.genid.id[i] = (uint8_t)(0xa0 + i);
    state.has_gpu = true;
    fill_gpu(&state.gpu, 6);
    fill_config(&config);
    err[0] = 0;
}

static void teardown(void)
{
    virtio_gpu_state_free(&state.gpu);
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

static void assert_gpu_equal(const struct virtio_gpu_state *a, const struct virtio_gpu_state *b)
{
    ck_assert_uint_eq(a->num_scanouts, b->num_scanouts);
    ck_assert_uint_eq(a->events_read, b->events_read);
    for (unsigned i = 0; i < a->num_scanouts; i++) {
        const struct virtio_gpu_scanout_state *x = &a->scanouts[i], *y = &b->scanouts[i];
        ck_assert_int_eq(x->enabled, y->enabled);
        ck_assert_uint_eq(x->width, y->width);
        ck_assert_uint_eq(x->height, y->height);
        ck_assert_uint_eq(x->resource_id, y->resource_id);
        ck_assert_mem_eq(&x->rect, &y->rect, sizeof(x->rect));
        ck_assert_mem_eq(&x->cursor, &y->cursor, sizeof(x->cursor));
    }
    ck_assert_uint_eq(a->num_resources, b->num_resources);
    for (size_t i = 0; i < a->num_resources; i++) {
        const struct virtio_gpu_resource_state *x = &a->resources[i], *y = &b->resources[i];
        ck_assert_uint_eq(x->id, y->id);
        ck_assert_uint_eq(x->format, y->format);
        ck_assert_uint_eq(x->width, y->width);
        ck_assert_uint_eq(x->height, y->height);
        ck_assert_uint_eq(x->num_backing, y->num_backing);
        for (uint32_t e = 0; e < x->num_backing; e++) {
            ck_assert_uint_eq(x->backing[e].gpa, y->backing[e].gpa);
            ck_assert_uint_eq(x->backing[e].len, y->backing[e].len);
        }
    }
}

START_TEST(every_field_comes_back)
{
    ck_assert_int_eq(round_trip(), 0);
    ck_assert_mem_eq(&decoded.vcpu, &state.vcpu, sizeof(state.vcpu));
    ck_assert_mem_eq(&decoded.gic, &state.gic, sizeof(state.gic));
    ck_assert_mem_eq(&decoded.uart, &state.uart, sizeof(state.uart));
    ck_assert_mem_eq(&decoded.rtc, &state.rtc, sizeof(state.rtc));
    ck_assert(decoded.has_genid);
    ck_assert_mem_eq(decoded.genid.id, state.genid.id, VMGENID_ID_LEN);
    ck_assert_uint_eq(decoded.num_virtio, state.num_virtio);
    ck_assert_mem_eq(decoded.virtio, state.virtio, sizeof(state.virtio));
    ck_assert(decoded.has_gpu);
    assert_gpu_equal(&decoded.gpu, &state.gpu);
    ck_assert_mem_eq(&decoded_config, &config, sizeof(config));
    snapshot_manifest_free(&decoded);
    snapshot_manifest_free(&decoded); /* twice is harmless */
}
END_TEST

START_TEST(a_machine_without_gpu_or_devices_comes_back)
{
    virtio_gpu_state_free(&state.gpu);
    state.has_gpu = false;
    memset(&state.gpu, 0, sizeof(state.gpu));
    config.gpu = false;
    state.num_virtio = 0;
    memset(state.virtio, 0, sizeof(state.virtio));
    config.num_disks = 0;
    memset(config.disks, 0, sizeof(config.disks));
    ck_assert_int_eq(round_trip(), 0);
    ck_assert_mem_eq(&decoded, &state, sizeof(state));
    ck_assert_mem_eq(&decoded_config, &config, sizeof(config));
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
        ck_assert(!decoded.has_gpu);
        ck_assert_uint_eq(decoded.num_virtio, 0);
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

START_TEST(other_format_versions_are_refused)
{
    assert_refused(future_version, "from a newer ignition");
    assert_refused(no_version, "format version 0");
}
END_TEST

static void one_slot_too_many(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__MachineState *s = m->state;
    s->virtio = grow(s->virtio, s->n_virtio + 1, sizeof(*s->virtio));
    s->virtio[s->n_virtio] = malloc(sizeof(**s->virtio));
    ignition__snapshot__virtio_slot__init(s->virtio[s->n_virtio++]);
}

START_TEST(too_many_virtio_slots_are_refused)
{
    assert_refused(one_slot_too_many, "25 virtio devices, more than 24");
}
END_TEST

static void one_queue_too_many(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__VirtioSlot *slot = m->state->virtio[8]; /* has all 8 queues */
    ck_assert_uint_eq(slot->n_queues, VIRTIO_MMIO_MAX_QUEUES);
    slot->queues = grow(slot->queues, slot->n_queues + 1, sizeof(*slot->queues));
    slot->queues[slot->n_queues] = malloc(sizeof(**slot->queues));
    ignition__snapshot__virtio_queue__init(slot->queues[slot->n_queues++]);
}

static void last_avail_too_wide(Ignition__Snapshot__Manifest *m)
{
    m->state->virtio[8]->queues[7]->last_avail = 0x10000;
}

START_TEST(too_many_queues_are_refused)
{
    assert_refused(one_queue_too_many, "virtio slot 8: 9 queues, more than 8");
    assert_refused(last_avail_too_wide, "virtio slot 8 queue 7: a value out of range");
}
END_TEST

static void short_priority_array(Ignition__Snapshot__Manifest *m)
{
    m->state->gic->priority.len--;
}

static void long_line_array(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__Gic *g = m->state->gic;
    g->line.data = grow(g->line.data, g->line.len + 1, 1);
    g->line.data[g->line.len++] = 1;
}

static void extra_router(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__Gic *g = m->state->gic;
    g->irouter = grow(g->irouter, g->n_irouter + 1, sizeof(*g->irouter));
    g->irouter[g->n_irouter++] = 1;
}

static void too_many_spis(Ignition__Snapshot__Manifest *m)
{
    m->state->gic->num_spis = GIC_MAX_IRQS;
}

static void deep_active_stack(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__Gic *g = m->state->gic;
    g->active_stack = grow(g->active_stack, GIC_MAX_NESTED + 1, sizeof(*g->active_stack));
    g->n_active_stack = GIC_MAX_NESTED + 1;
    memset(g->active_stack, 0, g->n_active_stack * sizeof(*g->active_stack));
}

START_TEST(gic_arrays_of_the_wrong_length_are_refused)
{
    assert_refused(short_priority_array, "a GIC interrupt array of 95 entries, not 96");
    assert_refused(long_line_array, "a GIC interrupt array of 97 entries, not 96");
    assert_refused(extra_router, "97 GIC routing entries, not 96");
    assert_refused(too_many_spis, "a GIC with 1024 SPIs, more than 992");
    assert_refused(deep_active_stack, "33 nested active interrupts, more than 32");
}
END_TEST

static void long_rx(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__Uart *u = m->state->uart;
    u->rx.data = grow(u->rx.data, PL011_RX_BUFFER + 1, 1);
    memset(u->rx.data, 'x', PL011_RX_BUFFER + 1);
    u->rx.len = PL011_RX_BUFFER + 1;
}

START_TEST(rx_longer_than_the_uart_buffer_is_refused)
{
    assert_refused(long_rx, "the UART holds 4097 received bytes, more than its 4096");
}
END_TEST

START_TEST(huge_backing_counts_are_refused)
{
    /* The encoder keeps what it is given; the decoder bounds what it allocates. */
    struct virtio_gpu_resource_state *r = &state.gpu.resources[1];
    free(r->backing);
    r->num_backing = SNAPSHOT_MAX_GPU_BACKING - 13; /* + 14 in the other resources */
    r->backing = calloc(r->num_backing, sizeof(*r->backing));
    ck_assert_ptr_nonnull(r->backing);
    for (uint32_t i = 0; i < r->num_backing; i++)
        r->backing[i] = (struct virtio_gpu_backing_entry){0x40000000 + 4096ull * i, 4096};
    ck_assert_int_eq(round_trip(), -EINVAL);
    ck_assert_str_eq(err, "gpu resources with more than 524288 backing entries in all");
    r->num_backing--;
    ck_assert_int_eq(round_trip(), 0);
    ck_assert_uint_eq(decoded.gpu.resources[1].num_backing, SNAPSHOT_MAX_GPU_BACKING - 14);
    snapshot_manifest_free(&decoded);
}
END_TEST

static void too_many_resources(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__Gpu *g = m->state->gpu;
    g->resources = grow(g->resources, VIRTIO_GPU_MAX_RESOURCES + 1, sizeof(*g->resources));
    for (size_t i = g->n_resources; i <= VIRTIO_GPU_MAX_RESOURCES; i++) {
        g->resources[i] = malloc(sizeof(**g->resources));
        ignition__snapshot__gpu_resource__init(g->resources[i]);
    }
    g->n_resources = VIRTIO_GPU_MAX_RESOURCES + 1;
}

static void too_many_scanouts(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__Gpu *g = m->state->gpu;
    g->scanouts = grow(g->scanouts, g->n_scanouts + 1, sizeof(*g->scanouts));
    g->scanouts[g->n_scanouts] = malloc(sizeof(**g->scanouts));
    ignition__snapshot__gpu_scanout__init(g->scanouts[g->n_scanouts++]);
}

START_TEST(too_many_gpu_resources_or_scanouts_are_refused)
{
    assert_refused(too_many_resources, "513 gpu resources, more than 512");
    assert_refused(too_many_scanouts, "17 gpu scanouts, more than 16");
}
END_TEST

static void input_past_its_queue(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__VirtioInput *in = m->state->virtio[0]->input;
    in->lengths.data = grow(in->lengths.data, VIRTIO_INPUT_PENDING_SEQUENCES + 1, 1);
    in->lengths.len = VIRTIO_INPUT_PENDING_SEQUENCES + 1;
}

static void input_state_on_a_disk(Ignition__Snapshot__Manifest *m)
{
    m->state->virtio[0]->device_id = 2;
}

static void input_without_state(Ignition__Snapshot__Manifest *m)
{
    Ignition__Snapshot__VirtioSlot *slot = m->state->virtio[0];
    ignition__snapshot__virtio_input__free_unpacked(slot->input, NULL);
    slot->input = NULL;
}

static void wide_event_code(Ignition__Snapshot__Manifest *m)
{
    m->state->virtio[3]->input->events[1023]->code = 0x10000;
}

START_TEST(bad_input_parts_are_refused)
{
    assert_refused(input_past_its_queue, "virtio slot 0: 65 waiting input sequences");
    assert_refused(input_state_on_a_disk, "virtio slot 0: input state for something other than");
    assert_refused(input_without_state, "virtio slot 0: input state missing for an input device");
    assert_refused(wide_event_code, "virtio slot 3: input event 1023 out of range");
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

static void no_gpu_state(Ignition__Snapshot__Manifest *m)
{
    ignition__snapshot__gpu__free_unpacked(m->state->gpu, NULL);
    m->state->gpu = NULL;
}

static void short_genid(Ignition__Snapshot__Manifest *m)
{
    m->state->genid->id.len = VMGENID_ID_LEN - 1;
}

static void no_genid(Ignition__Snapshot__Manifest *m)
{
    ignition__snapshot__vm_gen_id__free_unpacked(m->state->genid, NULL);
    m->state->genid = NULL;
}

/* A snapshot from before the generation id device still restores: without one. */
START_TEST(a_snapshot_without_generation_id_comes_back_without)
{
    ck_assert_int_eq(decode_edited(no_genid), 0);
    ck_assert(!decoded.has_genid);
    ck_assert_mem_eq(&decoded.rtc, &state.rtc, sizeof(state.rtc));
    snapshot_manifest_free(&decoded);
}
END_TEST

static void wide_rtc_flag(Ignition__Snapshot__Manifest *m)
{
    m->state->rtc->armed = 0x100;
}

START_TEST(missing_or_misshapen_parts_are_refused)
{
    assert_refused(no_vcpu, "the machine state lacks the vCPU");
    assert_refused(short_simd, "511 bytes of SIMD registers");
    assert_refused(missing_register, "30 general registers");
    assert_refused(no_gpu_state, "the machine has a gpu but the state none");
    assert_refused(wide_rtc_flag, "an RTC flag out of range");
    assert_refused(short_genid, "the generation id is 15 bytes, not 16");
}
END_TEST

static void replace_text(char **field, const char *value)
{
    free(*field);
    *field = strdup(value);
}

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
    ck_assert_str_eq(err, "the snapshot is format version 0; this ignition reads version 1 only");
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
    state.num_virtio = MACHINE_SNAPSHOT_MAX_VIRTIO + 1;
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "25 virtio devices, more than 24");
    state.num_virtio = 1;
    state.uart.rx_count = PL011_RX_BUFFER + 1;
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    state.uart.rx_count = 0;
    memset(config.backend, 'e', sizeof(config.backend));
    ck_assert_int_eq(snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_null(body);
}
END_TEST

/* What a desktop's state costs: 6 devices, two resources with one backing entry
 * per page of a 1280x800 framebuffer. Printed, not asserted. */
START_TEST(a_typical_state_is_measured)
{
    virtio_gpu_state_free(&state.gpu);
    fill_gpu(&state.gpu, 0);
    free(state.gpu.resources);
    state.gpu.num_scanouts = 1;
    state.gpu.num_resources = 2;
    state.gpu.resources = calloc(2, sizeof(*state.gpu.resources));
    for (unsigned i = 0; i < 2; i++) {
        struct virtio_gpu_resource_state *r = &state.gpu.resources[i];
        *r = (struct virtio_gpu_resource_state){i + 1, 2, 1280, 800, 1000, NULL};
        r->backing = calloc(r->num_backing, sizeof(*r->backing));
        for (uint32_t p = 0; p < r->num_backing; p++)
            r->backing[p] = (struct virtio_gpu_backing_entry){0x48000000ull + 4096 * (3 * p), 4096};
    }
    state.num_virtio = 6;
    for (unsigned i = 0; i < 6; i++)
        if (state.virtio[i].transport.device_id == VIRTIO_ID_INPUT)
            state.virtio[i].transport.device.input.num_sequences =
                state.virtio[i].transport.device.input.num_events = 0;
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
    tcase_add_test(tc, too_many_virtio_slots_are_refused);
    tcase_add_test(tc, too_many_queues_are_refused);
    tcase_add_test(tc, gic_arrays_of_the_wrong_length_are_refused);
    tcase_add_test(tc, rx_longer_than_the_uart_buffer_is_refused);
    tcase_add_test(tc, huge_backing_counts_are_refused);
    tcase_add_test(tc, too_many_gpu_resources_or_scanouts_are_refused);
    tcase_add_test(tc, bad_input_parts_are_refused);
    tcase_add_test(tc, missing_or_misshapen_parts_are_refused);
    tcase_add_test(tc, a_snapshot_without_generation_id_comes_back_without);
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
