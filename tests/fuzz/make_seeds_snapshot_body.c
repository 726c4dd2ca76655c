/* Writes the seeds of fuzz_snapshot_body: manifest bodies of machines as
 * ignition builds them, with the GIC, UART and RTC states saved from devices
 * and the rest shaped as a booted Linux leaves it, so that mutations start
 * from bodies the decoder accepts.
 *   make_seeds_snapshot_body SEEDS_DIR   (tests/fuzz/seeds) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio.h"
#include "machine/machine.h"
#include "storage/snapshot_manifest.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_ENTROPY 4
#define FRAMEBUFFER_GPA 0x48000000ull

static const char *seeds_dir;
static struct machine_snapshot state;
static struct snapshot_machine_config config;

static void no_output(void *opaque, const uint8_t *data, size_t len)
{
    (void)opaque, (void)data, (void)len;
}

static int64_t seed_clock(void)
{
    return 1700000000;
}

static void save_devices(void)
{
    struct gicv3 *gic = gicv3_create(MACHINE_NUM_SPIS);
    struct device *uart = pl011_create(MACHINE_UART_BASE, (struct irq_line){0}, no_output, NULL);
    struct device *rtc = pl031_create(MACHINE_RTC_BASE, (struct irq_line){0}, seed_clock);
    if (!gic || !uart || !rtc)
        exit(1);
    pl011_receive(uart, (const uint8_t *)"ls\n", 3);
    gicv3_save(gic, &state.gic);
    pl011_save(uart, &state.uart);
    pl031_save(rtc, &state.rtc);
    gicv3_destroy(gic);
    uart->ops->destroy(uart);
    rtc->ops->destroy(rtc);
}

/* A kernel idling at EL1 with its MMU on. */
static void vcpu_at_idle(struct hv_vcpu_state *v)
{
    for (unsigned i = 0; i < 31; i++)
        v->x[i] = i < 4 ? 0 : 0xffff800080000000ull + 0x1000 * i;
    v->sp_el1 = 0xffff800082003e80ull, v->pc = 0xffff800080e1c2a4ull, v->pstate = 0x3c5;
    v->vbar_el1 = 0xffff800080010800ull, v->sctlr_el1 = 0x30d4d91d, v->tcr_el1 = 0x34b5593519;
    v->ttbr0_el1 = 0x41c2c000, v->ttbr1_el1 = 0x4214b000, v->mair_el1 = 0x40044ff00;
    v->cpacr_el1 = 0x300000, v->tpidr_el1 = 0xffff00003f7c0000ull, v->fpcr = 0, v->fpsr = 0x10;
    v->v[0][0] = 0x3ff0000000000000ull, v->v[31][1] = 0xdeadbeef;
    v->cntv_ctl = 1, v->cntv_cval = 0x2faf080, v->counter = 0x2f00000;
    v->backend[0] = 0x5;
}

static void add_slot(uint32_t device_id, unsigned num_queues)
{
    unsigned i = state.num_virtio++;
    struct virtio_mmio_state *t = &state.virtio[i].transport;
    state.virtio[i].base = MACHINE_VIRTIO_BASE + 0x200ull * i;
    t->device_id = device_id;
    t->status = 0xf; /* ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK */
    t->driver_features = 1ull << 32;
    for (unsigned q = 0; q < num_queues; q++) {
        struct virtio_mmio_queue_state *qs = &t->queues[q];
        uint64_t ring = 0x7f000000ull - 0x10000ull * (4 * i + q);
        *qs = (struct virtio_mmio_queue_state){256, 1, ring, ring + 0x1000, ring + 0x2000,
                                              (uint16_t)(17 * i + q), (uint16_t)(17 * i + q), 1};
    }
    if (device_id == VIRTIO_ID_INPUT) {
        struct virtio_input_state *in = &t->device.input;
        in->kind = i % 2;
        in->num_sequences = 1;
        in->lengths[0] = 2;
        in->num_events = 2;
        in->events[0] = (struct virtio_input_event_host){1, 30, 1}; /* EV_KEY KEY_A */
        in->events[1] = (struct virtio_input_event_host){0, 0, 0};  /* SYN_REPORT */
    }
}

static void gpu_showing_console(struct virtio_gpu_state *g)
{
    g->num_scanouts = 1;
    g->scanouts[0] = (struct virtio_gpu_scanout_state){
        true, 1280, 800, 1, {0, 0, 1280, 800}, {2, 0, 0, 640, 400}};
    g->num_resources = 2;
    g->resources = calloc(2, sizeof(*g->resources));
    g->resources[0] = (struct virtio_gpu_resource_state){1, 2, 1280, 800, 4, NULL};
    g->resources[1] = (struct virtio_gpu_resource_state){2, 2, 64, 64, 1, NULL};
    g->resources[0].backing = calloc(4, sizeof(struct virtio_gpu_backing_entry));
    g->resources[1].backing = calloc(1, sizeof(struct virtio_gpu_backing_entry));
    for (unsigned i = 0; i < 4; i++)
        g->resources[0].backing[i] =
            (struct virtio_gpu_backing_entry){FRAMEBUFFER_GPA + 0x100000ull * i, 1024000};
    g->resources[1].backing[0] = (struct virtio_gpu_backing_entry){0x4f000000, 16384};
}

static void machine(bool gpu, unsigned num_disks)
{
    memset(&state, 0, sizeof(state));
    memset(&config, 0, sizeof(config));
    snprintf(config.backend, sizeof(config.backend), "emu");
    config.created_unix_ms = 1700000000123ull;
    config.host_monotonic_ns = 987654321000ull;
    config.host_realtime_ns = 1700000000123456789ll;
    config.ram_size = 512ull << 20;
    snprintf(config.cmdline, sizeof(config.cmdline), "console=ttyAMA0 root=/dev/vda rw");
    config.num_disks = num_disks;
    for (unsigned i = 0; i < num_disks; i++) {
        snprintf(config.disks[i].serial, sizeof(config.disks[i].serial), "disk%u", i);
        snprintf(config.disks[i].layer, sizeof(config.disks[i].layer), "disk%u.img", i);
        snprintf(config.disks[i].base_path, sizeof(config.disks[i].base_path),
                 "/srv/images/rootfs%u.img", i);
        add_slot(VIRTIO_ID_BLOCK, 1);
    }
    config.gpu = config.keyboard = gpu;
    config.num_scanouts = 1;
    config.display_width = 1280, config.display_height = 800;
    config.gpu_memory = 256ull << 20;
    vcpu_at_idle(&state.vcpu);
    save_devices();
    add_slot(VIRTIO_ID_ENTROPY, 1);
    add_slot(VIRTIO_ID_CONSOLE, 2);
    if (gpu) {
        add_slot(VIRTIO_ID_GPU, 2);
        add_slot(VIRTIO_ID_INPUT, 2);
        add_slot(VIRTIO_ID_INPUT, 2);
        state.has_gpu = true;
        gpu_showing_console(&state.gpu);
    }
}

static void write_seed(const char *name)
{
    uint8_t *body;
    size_t len;
    char err[256], path[4096];
    if (snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", name, err);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/fuzz_snapshot_body/%s", seeds_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(body, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    free(body);
    snapshot_manifest_free(&state);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds_snapshot_body SEEDS_DIR\n");
        return 2;
    }
    seeds_dir = argv[1];
    machine(true, 1);
    write_seed("desktop");
    machine(false, 2);
    write_seed("headless-two-disks");
    machine(false, 0);
    write_seed("no-disks");
    return 0;
}
