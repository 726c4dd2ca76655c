/* Writes the seeds of fuzz_snapshot_body: manifest bodies of machines as
 * ignition builds them, with the GIC, UART, RTC and generation id states saved
 * from devices and the rest shaped as a booted Linux leaves it, each device's
 * state encoded by its own encoder, so that mutations start from bodies the
 * decoder accepts; and the bodies of real snapshots given after the seeds
 * directory (named after their directory).
 *   make_seeds_snapshot_body SEEDS_DIR [SNAPSHOT_DIR...]   (tests/fuzz/seeds) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libgen.h>

#include "devices/device_state.h"
#include "devices/gicv3.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/virtio.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio_state.h"
#include "devices/vmgenid.h"
#include "hv/kvm_arm.h"
#include "hv/kvm_vgic.h"
#include "machine/machine.h"
#include "storage/snapshot_file.h"
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

/* The same seeds on every run. */
static void seed_random(void *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = (uint8_t)(0xa5 ^ i);
}

static struct machine_device_state *add_entry(const char *kind, uint64_t base)
{
    struct machine_device_state *d = &state.devices[state.num_devices++];
    snprintf(d->kind, sizeof(d->kind), "%s", kind);
    d->base = base;
    return d;
}

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "make_seeds_snapshot_body: cannot encode %s\n", what);
        exit(1);
    }
}

/* The interrupt controller and the platform devices, saved from devices. */
static void save_devices(void)
{
    static struct gicv3_state gic_state;
    struct gicv3 *gic = gicv3_create(MACHINE_NUM_SPIS);
    struct device *uart = pl011_create(MACHINE_UART_BASE, (struct irq_line){0}, no_output, NULL);
    struct device *rtc = pl031_create(MACHINE_RTC_BASE, (struct irq_line){0}, seed_clock);
    struct device *genid = vmgenid_create(MACHINE_GENID_BASE, (struct irq_line){0}, seed_random);
    if (!gic || !uart || !rtc || !genid)
        exit(1);
    pl011_receive(uart, (const uint8_t *)"ls\n", 3);
    gicv3_save(gic, &gic_state);
    check(gicv3_state_encode(&gic_state, &add_entry("gicv3", MACHINE_GICD_BASE)->state), "gic");
    struct device *devices[] = {uart, rtc, genid};
    for (unsigned i = 0; i < 3; i++) {
        struct device *d = devices[i];
        check(d->ops->save(d, &add_entry(device_kind(d), d->base)->state), device_kind(d));
        d->ops->destroy(d);
    }
    gicv3_destroy(gic);
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

static unsigned num_virtio;

static void add_slot(const char *kind, uint32_t device_id, unsigned num_queues,
                     struct device_state_bytes device_part)
{
    unsigned i = num_virtio++;
    struct virtio_mmio_state st = {0}, *t = &st;
    t->device_id = device_id;
    t->status = 0xf; /* ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK */
    t->driver_features = 1ull << 32;
    for (unsigned q = 0; q < num_queues; q++) {
        struct virtio_mmio_queue_state *qs = &t->queues[q];
        uint64_t ring = 0x7f000000ull - 0x10000ull * (4 * i + q);
        *qs = (struct virtio_mmio_queue_state){256, 1, ring, ring + 0x1000, ring + 0x2000,
                                              (uint16_t)(17 * i + q), (uint16_t)(17 * i + q), 1};
    }
    t->device = device_part;
    check(virtio_mmio_state_encode(t, &add_entry(kind, MACHINE_VIRTIO_BASE + 0x200ull * i)->state),
          kind);
    device_state_bytes_free(&t->device);
}

static struct device_state_bytes input_waiting(unsigned kind)
{
    static struct virtio_input_state in;
    struct device_state_bytes bytes;
    memset(&in, 0, sizeof(in));
    in.kind = kind;
    in.num_sequences = 1;
    in.lengths[0] = 2;
    in.num_events = 2;
    in.events[0] = (struct virtio_input_event_host){1, 30, 1}; /* EV_KEY KEY_A */
    in.events[1] = (struct virtio_input_event_host){0, 0, 0};  /* SYN_REPORT */
    check(virtio_input_state_encode(&in, &bytes), "an input device");
    return bytes;
}

static const struct device_state_bytes none;

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

static struct device_state_bytes gpu_part(void)
{
    struct virtio_gpu_state g = {0};
    struct device_state_bytes bytes;
    gpu_showing_console(&g);
    check(virtio_gpu_state_encode(&g, &bytes), "the gpu");
    virtio_gpu_state_free(&g);
    return bytes;
}

static void machine(bool gpu, unsigned num_disks)
{
    memset(&state, 0, sizeof(state));
    num_virtio = 0;
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
    }
    config.gpu = config.keyboard = gpu;
    config.num_scanouts = 1;
    config.display_width = 1280, config.display_height = 800;
    config.gpu_memory = 256ull << 20;
    state.num_vcpus = 1;
    vcpu_at_idle(&state.vcpus[0]);
    save_devices();
    add_slot("virtio-rng", VIRTIO_ID_ENTROPY, 1, none);
    add_slot("virtio-console", VIRTIO_ID_CONSOLE, 2, none);
    for (unsigned i = 0; i < num_disks; i++)
        add_slot("virtio-blk", VIRTIO_ID_BLOCK, 1, none);
    if (gpu) {
        add_slot("virtio-gpu", VIRTIO_ID_GPU, 2, gpu_part());
        add_slot("virtio-input-keyboard", VIRTIO_ID_INPUT, 2, input_waiting(0));
        add_slot("virtio-input-tablet", VIRTIO_ID_INPUT, 2, input_waiting(1));
    }
}

static void write_file(const char *name, const uint8_t *body, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/fuzz_snapshot_body/%s", seeds_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(body, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void write_seed(const char *name)
{
    uint8_t *body;
    size_t len;
    char err[256];
    if (snapshot_manifest_encode(&config, &state, &body, &len, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", name, err);
        exit(1);
    }
    write_file(name, body, len);
    free(body);
    snapshot_manifest_free(&state);
}

/* A real snapshot's body as it is, named "real-" and its directory's name. */
static void write_real_seed(const char *dir)
{
    struct snapshot_reader *r;
    char err[512], name[256], copy[4096];
    if (snapshot_open(dir, &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", dir, err);
        exit(1);
    }
    const uint8_t *body;
    size_t len;
    snapshot_manifest(r, &body, &len);
    snprintf(copy, sizeof(copy), "%s", dir);
    snprintf(name, sizeof(name), "real-%s", basename(copy));
    write_file(name, body, len);
    snapshot_close(r);
}

/* A kvm machine with two vCPUs, the second off: each with a register list
 * shaped like KVM's (core registers, a few system registers, the timer),
 * and the vGIC's state in place of the userspace GIC's. */
static void kvm_vcpu(struct hv_vcpu_state *v, uint32_t power)
{
    vcpu_at_idle(v);
    memset(v->backend, 0, sizeof(v->backend));
    v->power = power;
    v->counter_hz = 62500000u;
    for (unsigned i = 0; i < 31; i++)
        v->regs[v->num_regs++] = (struct hv_backend_reg){0x6030000000100000ull + 2 * i, {v->x[i]}};
    v->regs[v->num_regs++] = (struct hv_backend_reg){0x6030000000100040ull, {v->pc}};
    v->regs[v->num_regs++] = (struct hv_backend_reg){0x6030000000100042ull, {v->pstate}};
    v->regs[v->num_regs++] = (struct hv_backend_reg){0x6040000000100054ull, {1, 2}};
    v->regs[v->num_regs++] = (struct hv_backend_reg){KVM_ARM_SYSREG(3, 0, 1, 0, 0), {v->sctlr_el1}};
    v->regs[v->num_regs++] = (struct hv_backend_reg){KVM_ARM_TIMER_CTL, {v->cntv_ctl}};
    v->regs[v->num_regs++] = (struct hv_backend_reg){KVM_ARM_TIMER_CNT, {v->counter}};
    v->regs[v->num_regs++] = (struct hv_backend_reg){KVM_ARM_TIMER_CVAL, {v->cntv_cval}};
}

static void kvm_machine(void)
{
    static struct kvm_vgic_slot plan[KVM_VGIC_MAX_REGS];
    static struct kvm_vgic_state vgic;
    machine(false, 1);
    snprintf(config.backend, sizeof(config.backend), "kvm");
    state.num_vcpus = 2;
    kvm_vcpu(&state.vcpus[0], HV_VCPU_ON);
    kvm_vcpu(&state.vcpus[1], HV_VCPU_OFF);
    size_t n = kvm_vgic_plan(96, 2, plan);
    memset(&vgic, 0, sizeof(vgic));
    vgic.nr_irqs = 96, vgic.num_vcpus = 2;
    for (size_t i = 0; i < n; i++)
        if (!plan[i].optional)
            vgic.regs[vgic.num_regs++] = (struct kvm_vgic_reg){plan[i].group, plan[i].attr, 0};
    struct device_state_bytes *gic = &state.devices[0].state;
    device_state_bytes_free(gic);
    check(kvm_vgic_state_encode(&vgic, gic), "vgic");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: make_seeds_snapshot_body SEEDS_DIR [SNAPSHOT_DIR...]\n");
        return 2;
    }
    seeds_dir = argv[1];
    machine(true, 1);
    write_seed("desktop");
    machine(false, 2);
    write_seed("headless-two-disks");
    machine(false, 0);
    write_seed("no-disks");
    kvm_machine();
    write_seed("kvm-two-vcpus");
    for (int i = 2; i < argc; i++)
        write_real_seed(argv[i]);
    return 0;
}
