/* Each device's snapshot state through its own encoder (the messages in
 * proto/devices/): a state with every field set to a value of its own comes
 * back exactly, and every structural fault a file could hold (counts past the
 * C arrays, arrays of the wrong length, values wider than their field, bytes
 * that are no message) is refused with a reason naming the device. Whether the
 * values make sense for a device is its load's to check: the devices' own
 * suites test that. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "devices/gicv3.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio_state.h"
#include "devices/vmgenid.h"
#include "gicv3.pb-c.h"
#include "pl011.pb-c.h"
#include "pl031.pb-c.h"
#include "unit.h"
#include "virtio_gpu.pb-c.h"
#include "virtio_input.pb-c.h"
#include "virtio_mmio.pb-c.h"
#include "vmgenid.pb-c.h"

static uint64_t counter;
static char err[256];
static struct device_state_bytes bytes;

/* A value no other field has (within its width). */
static uint64_t next(void)
{
    counter++;
    return counter * 0x9e3779b97f4a7c15ull;
}

static void setup(void)
{
    counter = 0;
    err[0] = 0;
    bytes = (struct device_state_bytes){0};
}

static void teardown(void)
{
    device_state_bytes_free(&bytes);
}

/* ---- editing good bytes as their message ------------------------------------------------ */

typedef void (*edit_fn)(ProtobufCMessage *m);

/* bytes, unpacked as desc, edited and packed again. */
static void edit_bytes(const ProtobufCMessageDescriptor *desc, edit_fn edit)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, bytes.len, bytes.data);
    ck_assert_ptr_nonnull(m);
    edit(m);
    device_state_bytes_free(&bytes);
    bytes.len = protobuf_c_message_get_packed_size(m);
    bytes.data = malloc(bytes.len ? bytes.len : 1);
    protobuf_c_message_pack(m, bytes.data);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void *grow(void *array, size_t count, size_t size)
{
    void *a = realloc(array, count * size);
    ck_assert_ptr_nonnull(a);
    return a;
}

#define ASSERT_SAYS(reason) \
    ck_assert_msg(strstr(err, reason), "\"%s\" does not say \"%s\"", err, reason)

/* ---- the GIC ------------------------------------------------------------------------------- */

static struct gicv3_state gic, gic_back;

static void fill_gic(struct gicv3_state *g)
{
    memset(g, 0, sizeof(*g));
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

START_TEST(gic_state_comes_back)
{
    fill_gic(&gic);
    ck_assert_int_eq(gicv3_state_encode(&gic, &bytes), 0);
    memset(&gic_back, 0x5a, sizeof(gic_back)); /* decode must set all of it */
    ck_assert_int_eq(gicv3_state_decode(bytes.data, bytes.len, &gic_back, err, sizeof(err)), 0);
    ck_assert_mem_eq(&gic_back, &gic, sizeof(gic));
}
END_TEST

static void short_priority_array(ProtobufCMessage *m)
{
    ((Ignition__Devices__Gicv3State *)m)->priority.len--;
}

static void long_line_array(ProtobufCMessage *m)
{
    Ignition__Devices__Gicv3State *g = (Ignition__Devices__Gicv3State *)m;
    g->line.data = grow(g->line.data, g->line.len + 1, 1);
    g->line.data[g->line.len++] = 1;
}

static void extra_router(ProtobufCMessage *m)
{
    Ignition__Devices__Gicv3State *g = (Ignition__Devices__Gicv3State *)m;
    g->irouter = grow(g->irouter, g->n_irouter + 1, sizeof(*g->irouter));
    g->irouter[g->n_irouter++] = 1;
}

static void too_many_spis(ProtobufCMessage *m)
{
    ((Ignition__Devices__Gicv3State *)m)->num_spis = GIC_MAX_IRQS;
}

static void deep_active_stack(ProtobufCMessage *m)
{
    Ignition__Devices__Gicv3State *g = (Ignition__Devices__Gicv3State *)m;
    g->active_stack = grow(g->active_stack, GIC_MAX_NESTED + 1, sizeof(*g->active_stack));
    g->n_active_stack = GIC_MAX_NESTED + 1;
    memset(g->active_stack, 0, g->n_active_stack * sizeof(*g->active_stack));
}

static void wide_igrpen1(ProtobufCMessage *m)
{
    ((Ignition__Devices__Gicv3State *)m)->icc_igrpen1 = 0x100;
}

static void assert_gic_refused(edit_fn edit, const char *reason)
{
    fill_gic(&gic);
    ck_assert_int_eq(gicv3_state_encode(&gic, &bytes), 0);
    edit_bytes(&ignition__devices__gicv3_state__descriptor, edit);
    ck_assert_int_eq(gicv3_state_decode(bytes.data, bytes.len, &gic_back, err, sizeof(err)),
                     -EINVAL);
    ASSERT_SAYS(reason);
    device_state_bytes_free(&bytes);
}

START_TEST(gic_arrays_of_the_wrong_length_are_refused)
{
    assert_gic_refused(short_priority_array, "a GIC interrupt array of 95 entries, not 96");
    assert_gic_refused(long_line_array, "a GIC interrupt array of 97 entries, not 96");
    assert_gic_refused(extra_router, "97 GIC routing entries, not 96");
    assert_gic_refused(too_many_spis, "a GIC with 1024 SPIs, more than 992");
    assert_gic_refused(deep_active_stack, "33 nested active interrupts, more than 32");
    assert_gic_refused(wide_igrpen1, "ICC_IGRPEN1 256 out of range");
}
END_TEST

START_TEST(gic_counts_past_the_arrays_are_not_encoded)
{
    fill_gic(&gic);
    gic.num_spis = GIC_MAX_IRQS;
    ck_assert_int_eq(gicv3_state_encode(&gic, &bytes), -EINVAL);
    fill_gic(&gic);
    gic.active_depth = GIC_MAX_NESTED + 1;
    ck_assert_int_eq(gicv3_state_encode(&gic, &bytes), -EINVAL);
    ck_assert_ptr_null(bytes.data);
}
END_TEST

/* ---- the UART, the RTC and the generation id -------------------------------------------------- */

static struct pl011_state uart, uart_back;

static void fill_uart(struct pl011_state *u)
{
    memset(u, 0, sizeof(*u));
    u->ibrd = (uint32_t)next(), u->fbrd = (uint32_t)next(), u->lcr_h = (uint32_t)next();
    u->cr = (uint32_t)next(), u->ifls = (uint32_t)next(), u->imsc = (uint32_t)next();
    u->dmacr = (uint32_t)next(), u->ilpr = (uint32_t)next(), u->ris = (uint32_t)next();
    u->rx_count = 100;
    for (unsigned i = 0; i < u->rx_count; i++)
        u->rx[i] = (uint8_t)next();
}

START_TEST(uart_rtc_and_genid_states_come_back)
{
    fill_uart(&uart);
    ck_assert_int_eq(pl011_state_encode(&uart, &bytes), 0);
    memset(&uart_back, 0x5a, sizeof(uart_back));
    ck_assert_int_eq(pl011_state_decode(bytes.data, bytes.len, &uart_back, err, sizeof(err)), 0);
    ck_assert_mem_eq(&uart_back, &uart, sizeof(uart));
    device_state_bytes_free(&bytes);

    struct pl031_state rtc = {0}, rtc_back;
    rtc.offset = -(int64_t)(next() >> 24);
    rtc.load = (uint32_t)next(), rtc.match = (uint32_t)next(), rtc.imsc = (uint32_t)next();
    rtc.armed = (uint8_t)next(), rtc.match_raw = (uint8_t)next();
    ck_assert_int_eq(pl031_state_encode(&rtc, &bytes), 0);
    memset(&rtc_back, 0x5a, sizeof(rtc_back));
    ck_assert_int_eq(pl031_state_decode(bytes.data, bytes.len, &rtc_back, err, sizeof(err)), 0);
    ck_assert_mem_eq(&rtc_back, &rtc, sizeof(rtc));
    device_state_bytes_free(&bytes);

    struct vmgenid_state id, id_back;
    for (unsigned i = 0; i < VMGENID_ID_LEN; i++)
        id.id[i] = (uint8_t)(0xa0 + i);
    ck_assert_int_eq(vmgenid_state_encode(&id, &bytes), 0);
    ck_assert_int_eq(vmgenid_state_decode(bytes.data, bytes.len, &id_back, err, sizeof(err)), 0);
    ck_assert_mem_eq(&id_back, &id, sizeof(id));
}
END_TEST

static void long_rx(ProtobufCMessage *m)
{
    Ignition__Devices__Pl011State *u = (Ignition__Devices__Pl011State *)m;
    u->rx.data = grow(u->rx.data, PL011_RX_BUFFER + 1, 1);
    memset(u->rx.data, 'x', PL011_RX_BUFFER + 1);
    u->rx.len = PL011_RX_BUFFER + 1;
}

static void wide_rtc_flag(ProtobufCMessage *m)
{
    ((Ignition__Devices__Pl031State *)m)->armed = 0x100;
}

static void short_genid(ProtobufCMessage *m)
{
    ((Ignition__Devices__VmGenIdState *)m)->id.len = VMGENID_ID_LEN - 1;
}

START_TEST(misshapen_uart_rtc_and_genid_states_are_refused)
{
    fill_uart(&uart);
    ck_assert_int_eq(pl011_state_encode(&uart, &bytes), 0);
    edit_bytes(&ignition__devices__pl011_state__descriptor, long_rx);
    ck_assert_int_eq(pl011_state_decode(bytes.data, bytes.len, &uart_back, err, sizeof(err)),
                     -EINVAL);
    ASSERT_SAYS("the UART holds 4097 received bytes, more than its 4096");
    device_state_bytes_free(&bytes);
    uart.rx_count = PL011_RX_BUFFER + 1;
    ck_assert_int_eq(pl011_state_encode(&uart, &bytes), -EINVAL);

    struct pl031_state rtc = {0};
    ck_assert_int_eq(pl031_state_encode(&rtc, &bytes), 0);
    edit_bytes(&ignition__devices__pl031_state__descriptor, wide_rtc_flag);
    ck_assert_int_eq(pl031_state_decode(bytes.data, bytes.len, &rtc, err, sizeof(err)), -EINVAL);
    ASSERT_SAYS("an RTC flag out of range");
    device_state_bytes_free(&bytes);

    struct vmgenid_state id = {{0}};
    ck_assert_int_eq(vmgenid_state_encode(&id, &bytes), 0);
    edit_bytes(&ignition__devices__vm_gen_id_state__descriptor, short_genid);
    ck_assert_int_eq(vmgenid_state_decode(bytes.data, bytes.len, &id, err, sizeof(err)), -EINVAL);
    ASSERT_SAYS("the generation id is 15 bytes, not 16");
}
END_TEST

/* ---- the virtio transport and the devices inside it ------------------------------------------ */

static struct virtio_mmio_state transport, transport_back;

static void fill_transport(struct virtio_mmio_state *t, unsigned num_queues)
{
    memset(t, 0, sizeof(*t));
    t->device_id = (uint32_t)next();
    t->status = (uint32_t)next(), t->driver_features = next();
    t->device_features_sel = (uint32_t)next(), t->driver_features_sel = (uint32_t)next();
    t->queue_sel = (uint32_t)next(), t->interrupt_status = (uint32_t)next();
    t->config_generation = (uint32_t)next();
    for (unsigned i = 0; i < num_queues; i++) {
        struct virtio_mmio_queue_state *q = &t->queues[i];
        q->num = (uint32_t)next(), q->ready = (uint8_t)next();
        q->desc = next(), q->driver = next(), q->device = next();
        q->last_avail = (uint16_t)next(), q->used_idx = (uint16_t)next();
        q->event_idx = (uint8_t)next();
    }
}

/* Every number of queues, with and without a device part. */
START_TEST(transport_state_comes_back)
{
    static const uint8_t device_part[] = {1, 2, 3, 0, 5};
    for (unsigned n = 0; n <= VIRTIO_MMIO_MAX_QUEUES; n++) {
        fill_transport(&transport, n);
        if (n % 2)
            transport.device = (struct device_state_bytes){(uint8_t *)device_part,
                                                           sizeof(device_part)};
        ck_assert_int_eq(virtio_mmio_state_encode(&transport, &bytes), 0);
        memset(&transport_back, 0x5a, sizeof(transport_back));
        ck_assert_int_eq(virtio_mmio_state_decode(bytes.data, bytes.len, &transport_back, "slot",
                                                  err, sizeof(err)),
                         0);
        ck_assert_mem_eq(&transport_back, &transport, offsetof(struct virtio_mmio_state, device));
        ck_assert_uint_eq(transport_back.device.len, transport.device.len);
        if (n % 2)
            ck_assert_mem_eq(transport_back.device.data, device_part, sizeof(device_part));
        virtio_mmio_state_free(&transport_back);
        device_state_bytes_free(&bytes);
    }
}
END_TEST

static void one_queue_too_many(ProtobufCMessage *m)
{
    Ignition__Devices__VirtioMmioState *t = (Ignition__Devices__VirtioMmioState *)m;
    ck_assert_uint_eq(t->n_queues, VIRTIO_MMIO_MAX_QUEUES);
    t->queues = grow(t->queues, t->n_queues + 1, sizeof(*t->queues));
    t->queues[t->n_queues] = malloc(sizeof(**t->queues));
    ignition__devices__virtio_queue__init(t->queues[t->n_queues++]);
}

static void last_avail_too_wide(ProtobufCMessage *m)
{
    ((Ignition__Devices__VirtioMmioState *)m)->queues[7]->last_avail = 0x10000;
}

static void ready_too_wide(ProtobufCMessage *m)
{
    ((Ignition__Devices__VirtioMmioState *)m)->queues[2]->ready = 0x100;
}

static void assert_transport_refused(edit_fn edit, const char *reason)
{
    fill_transport(&transport, VIRTIO_MMIO_MAX_QUEUES);
    ck_assert_int_eq(virtio_mmio_state_encode(&transport, &bytes), 0);
    edit_bytes(&ignition__devices__virtio_mmio_state__descriptor, edit);
    ck_assert_int_eq(virtio_mmio_state_decode(bytes.data, bytes.len, &transport_back, "slot 8",
                                              err, sizeof(err)),
                     -EINVAL);
    ASSERT_SAYS(reason);
    ck_assert_ptr_null(transport_back.device.data); /* nothing left to free */
    device_state_bytes_free(&bytes);
}

START_TEST(too_many_or_too_wide_queues_are_refused)
{
    assert_transport_refused(one_queue_too_many, "slot 8: 9 queues, more than 8");
    assert_transport_refused(last_avail_too_wide, "slot 8: queue 7: a value out of range");
    assert_transport_refused(ready_too_wide, "slot 8: queue 2: a value out of range");
}
END_TEST

static struct virtio_input_state input, input_back;

static void fill_input(struct virtio_input_state *in)
{
    memset(in, 0, sizeof(*in));
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

START_TEST(input_state_comes_back)
{
    fill_input(&input);
    ck_assert_int_eq(virtio_input_state_encode(&input, &bytes), 0);
    memset(&input_back, 0x5a, sizeof(input_back));
    ck_assert_int_eq(virtio_input_state_decode(bytes.data, bytes.len, &input_back, err,
                                               sizeof(err)),
                     0);
    ck_assert_mem_eq(&input_back, &input, sizeof(input));
}
END_TEST

static void input_past_its_queue(ProtobufCMessage *m)
{
    Ignition__Devices__VirtioInputState *in = (Ignition__Devices__VirtioInputState *)m;
    in->lengths.data = grow(in->lengths.data, VIRTIO_INPUT_PENDING_SEQUENCES + 1, 1);
    in->lengths.len = VIRTIO_INPUT_PENDING_SEQUENCES + 1;
}

static void wide_event_code(ProtobufCMessage *m)
{
    ((Ignition__Devices__VirtioInputState *)m)->events[1023]->code = 0x10000;
}

static void wide_selector(ProtobufCMessage *m)
{
    ((Ignition__Devices__VirtioInputState *)m)->subsel = 0x100;
}

static void assert_input_refused(edit_fn edit, const char *reason)
{
    fill_input(&input);
    ck_assert_int_eq(virtio_input_state_encode(&input, &bytes), 0);
    edit_bytes(&ignition__devices__virtio_input_state__descriptor, edit);
    ck_assert_int_eq(virtio_input_state_decode(bytes.data, bytes.len, &input_back, err,
                                               sizeof(err)),
                     -EINVAL);
    ASSERT_SAYS(reason);
    device_state_bytes_free(&bytes);
}

START_TEST(bad_input_parts_are_refused)
{
    assert_input_refused(input_past_its_queue, "65 waiting input sequences");
    assert_input_refused(wide_event_code, "event 1023 out of range");
    assert_input_refused(wide_selector, "a config selector out of range");
    fill_input(&input);
    input.num_events = VIRTIO_INPUT_PENDING_EVENTS + 1;
    ck_assert_int_eq(virtio_input_state_encode(&input, &bytes), -EINVAL);
}
END_TEST

static struct virtio_gpu_state gpu, gpu_back;

/* Resource i has i backing entries. */
static void fill_gpu(struct virtio_gpu_state *g, size_t num_resources)
{
    memset(g, 0, sizeof(*g));
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
    g->resources = calloc(num_resources ? num_resources : 1, sizeof(*g->resources));
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

static void gpu_teardown(void)
{
    virtio_gpu_state_free(&gpu);
    virtio_gpu_state_free(&gpu_back);
    teardown();
}

START_TEST(gpu_state_comes_back)
{
    fill_gpu(&gpu, 6);
    ck_assert_int_eq(virtio_gpu_state_encode(&gpu, &bytes), 0);
    ck_assert_int_eq(virtio_gpu_state_decode(bytes.data, bytes.len, &gpu_back, err, sizeof(err)),
                     0);
    assert_gpu_equal(&gpu_back, &gpu);
}
END_TEST

START_TEST(huge_backing_counts_are_refused)
{
    /* The encoder keeps what it is given; the decoder bounds what it allocates. */
    fill_gpu(&gpu, 6);
    struct virtio_gpu_resource_state *r = &gpu.resources[1];
    free(r->backing);
    r->num_backing = VIRTIO_GPU_STATE_MAX_BACKING - 13; /* + 14 in the other resources */
    r->backing = calloc(r->num_backing, sizeof(*r->backing));
    ck_assert_ptr_nonnull(r->backing);
    for (uint32_t i = 0; i < r->num_backing; i++)
        r->backing[i] = (struct virtio_gpu_backing_entry){0x40000000 + 4096ull * i, 4096};
    ck_assert_int_eq(virtio_gpu_state_encode(&gpu, &bytes), 0);
    ck_assert_int_eq(virtio_gpu_state_decode(bytes.data, bytes.len, &gpu_back, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "gpu resources with more than 524288 backing entries in all");
    device_state_bytes_free(&bytes);
    r->num_backing--;
    ck_assert_int_eq(virtio_gpu_state_encode(&gpu, &bytes), 0);
    ck_assert_int_eq(virtio_gpu_state_decode(bytes.data, bytes.len, &gpu_back, err, sizeof(err)),
                     0);
    ck_assert_uint_eq(gpu_back.resources[1].num_backing, VIRTIO_GPU_STATE_MAX_BACKING - 14);
}
END_TEST

static void too_many_resources(ProtobufCMessage *m)
{
    Ignition__Devices__VirtioGpuState *g = (Ignition__Devices__VirtioGpuState *)m;
    g->resources = grow(g->resources, VIRTIO_GPU_MAX_RESOURCES + 1, sizeof(*g->resources));
    for (size_t i = g->n_resources; i <= VIRTIO_GPU_MAX_RESOURCES; i++) {
        g->resources[i] = malloc(sizeof(**g->resources));
        ignition__devices__gpu_resource__init(g->resources[i]);
    }
    g->n_resources = VIRTIO_GPU_MAX_RESOURCES + 1;
}

static void too_many_scanouts(ProtobufCMessage *m)
{
    Ignition__Devices__VirtioGpuState *g = (Ignition__Devices__VirtioGpuState *)m;
    g->scanouts = grow(g->scanouts, g->n_scanouts + 1, sizeof(*g->scanouts));
    g->scanouts[g->n_scanouts] = malloc(sizeof(**g->scanouts));
    ignition__devices__gpu_scanout__init(g->scanouts[g->n_scanouts++]);
}

static void assert_gpu_refused(edit_fn edit, const char *reason)
{
    fill_gpu(&gpu, 6);
    ck_assert_int_eq(virtio_gpu_state_encode(&gpu, &bytes), 0);
    virtio_gpu_state_free(&gpu);
    edit_bytes(&ignition__devices__virtio_gpu_state__descriptor, edit);
    ck_assert_int_eq(virtio_gpu_state_decode(bytes.data, bytes.len, &gpu_back, err, sizeof(err)),
                     -EINVAL);
    ASSERT_SAYS(reason);
    ck_assert_ptr_null(gpu_back.resources); /* nothing left to free */
    device_state_bytes_free(&bytes);
}

START_TEST(too_many_gpu_resources_or_scanouts_are_refused)
{
    assert_gpu_refused(too_many_resources, "513 gpu resources, more than 512");
    assert_gpu_refused(too_many_scanouts, "17 gpu scanouts, more than 16");
}
END_TEST

/* ---- bytes that are no message at all ------------------------------------------------------ */

START_TEST(bytes_that_are_no_state_are_refused_by_name)
{
    static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    ck_assert_int_eq(gicv3_state_decode(garbage, sizeof(garbage), &gic_back, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "the interrupt controller's 7-byte state does not decode");
    ck_assert_int_eq(pl011_state_decode(garbage, sizeof(garbage), &uart_back, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "the UART's 7-byte state does not decode");
    ck_assert_int_eq(virtio_mmio_state_decode(garbage, sizeof(garbage), &transport_back,
                                              "virtio-rng", err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "virtio-rng's 7-byte state does not decode");
    ck_assert_int_eq(virtio_gpu_state_decode(garbage, sizeof(garbage), &gpu_back, err,
                                             sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "the virtio-gpu's 7-byte state does not decode");
    ck_assert_int_eq(virtio_input_state_decode(garbage, DEVICE_STATE_MAX + 1, &input_back, err,
                                               sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "virtio-input's state is 16777217 bytes, more than 16777216");
}
END_TEST

static Suite *device_state_suite(void)
{
    Suite *s = suite_create("device_state");
    TCase *tc = tcase_create("encoders");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, gic_state_comes_back);
    tcase_add_test(tc, gic_arrays_of_the_wrong_length_are_refused);
    tcase_add_test(tc, gic_counts_past_the_arrays_are_not_encoded);
    tcase_add_test(tc, uart_rtc_and_genid_states_come_back);
    tcase_add_test(tc, misshapen_uart_rtc_and_genid_states_are_refused);
    tcase_add_test(tc, transport_state_comes_back);
    tcase_add_test(tc, too_many_or_too_wide_queues_are_refused);
    tcase_add_test(tc, input_state_comes_back);
    tcase_add_test(tc, bad_input_parts_are_refused);
    tcase_add_test(tc, bytes_that_are_no_state_are_refused_by_name);
    suite_add_tcase(s, tc);
    TCase *g = tcase_create("gpu");
    tcase_add_checked_fixture(g, setup, gpu_teardown);
    tcase_set_timeout(g, 60);
    tcase_add_test(g, gpu_state_comes_back);
    tcase_add_test(g, huge_backing_counts_are_refused);
    tcase_add_test(g, too_many_gpu_resources_or_scanouts_are_refused);
    suite_add_tcase(s, g);
    return s;
}

int main(void)
{
    return run_suite(device_state_suite());
}
