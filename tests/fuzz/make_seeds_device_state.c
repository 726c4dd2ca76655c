/* Writes the seeds of the device-state harnesses (fuzz_*_state), each state
 * encoded by its device's own encoder: states saved from devices programmed the
 * way Linux programs them, so that mutations start from values that load and
 * reach what follows; and every device's state in the real snapshots given
 * after the seeds directory (named "real-", the snapshot's directory name and
 * the device's kind), split out of their manifests.
 *   make_seeds_device_state SEEDS_DIR [SNAPSHOT_DIR...]   (tests/fuzz/seeds) */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/device_state.h"
#include "devices/gicv3.h"
#include "hv/kvm_vgic.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/sysreg.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio_state.h"
#include "devices/vmgenid.h"
#include "machine/machine.h"
#include "storage/snapshot_file.h"
#include "storage/snapshot_manifest.h"

#define GICD_CTLR 0x0000
#define GICD_IGROUPR 0x0080
#define GICD_ISENABLER 0x0100
#define GICD_ISPENDR 0x0200
#define GICD_IPRIORITYR 0x0400
#define GICD_ICFGR 0x0c00
#define GICD_IROUTER 0x6000
#define GICR_WAKER 0x0014
#define GICR_SGI 0x10000
#define TIMER_PPI 27
#define UART_SPI 33
#define BLK_SPI 40

static const char *seeds_dir;

/* prefix (prefix_len bytes) then data. */
static void write_prefixed_seed(const char *harness, const char *name, const void *prefix,
                                size_t prefix_len, const void *data, size_t size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/fuzz_%s/%s", seeds_dir, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(prefix, 1, prefix_len, f) != prefix_len ||
        fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void write_seed(const char *harness, const char *name, const void *data, size_t size)
{
    write_prefixed_seed(harness, name, "", 0, data, size);
}

static void write_encoded(const char *harness, const char *name, int rc,
                          struct device_state_bytes *bytes)
{
    if (rc != 0) {
        fprintf(stderr, "make_seeds_device_state: %s: cannot encode %s\n", harness, name);
        exit(1);
    }
    write_seed(harness, name, bytes->data, bytes->len);
    device_state_bytes_free(bytes);
}

/* A device's state as the device table saves it. */
static void write_saved(const char *harness, const char *name, struct device *d)
{
    struct device_state_bytes bytes;
    write_encoded(harness, name, d->ops->save(d, &bytes), &bytes);
    d->ops->destroy(d);
}

/* ---- the kvm backend's vGIC --------------------------------------------------------- */

/* A vGIC as Linux leaves one: every interrupt group 1, the timer PPI and a
 * few SPIs enabled, one pending, routed to vCPU 0, the CPU interfaces on. The
 * first byte is the harness's vCPU choice (vcpus - 1). */
static void vgic_seed(uint32_t vcpus, bool all_active_priority_regs, const char *name)
{
    static struct kvm_vgic_slot plan[KVM_VGIC_MAX_REGS];
    static struct kvm_vgic_state st;
    uint32_t nr_irqs = (32 + MACHINE_NUM_SPIS + 31) / 32 * 32;
    size_t n = kvm_vgic_plan(nr_irqs, vcpus, plan);
    memset(&st, 0, sizeof(st));
    st.nr_irqs = nr_irqs, st.num_vcpus = vcpus;
    for (size_t i = 0; i < n; i++) {
        if (plan[i].optional && !all_active_priority_regs)
            continue;
        uint64_t offset = plan[i].attr & 0xffffffffu, value = 0;
        if (plan[i].group == KVM_VGIC_GRP_DIST_REGS && offset == 0)
            value = 0x12; /* ARE, EnableGrp1A */
        else if ((offset & 0xff80) == 0x80)
            value = 0xffffffffu; /* IGROUPR */
        else if (offset == 0x10100)
            value = 1u << 27; /* the virtual timer */
        else if (offset == 0x104)
            value = 0x0000000fu; /* the first SPIs */
        else if (offset == 0x204)
            value = 0x2u;
        else if (plan[i].group == KVM_VGIC_GRP_CPU_SYSREGS)
            value = (offset & 0xffff) == 0xc665 ? 7 : (offset & 0xffff) == 0xc230 ? 0xf0 : 0;
        else if ((offset & 0xfc00) == 0x0400 || (offset & 0x1fc00) == 0x10400)
            value = 0xa0a0a0a0u; /* priorities */
        st.regs[st.num_regs++] = (struct kvm_vgic_reg){plan[i].group, plan[i].attr, value};
    }
    struct device_state_bytes bytes;
    if (kvm_vgic_state_encode(&st, &bytes) != 0) {
        fprintf(stderr, "make_seeds_device_state: cannot encode %s\n", name);
        exit(1);
    }
    uint8_t choice = (uint8_t)(vcpus - 1);
    write_prefixed_seed("kvm_vgic_state", name, &choice, 1, bytes.data, bytes.len);
    device_state_bytes_free(&bytes);
}

static void vgic_seeds(void)
{
    vgic_seed(1, false, "linux-1cpu");
    vgic_seed(2, false, "linux-2cpus");
    vgic_seed(4, true, "linux-4cpus-7-priority-bits");
}

/* ---- GIC ---------------------------------------------------------------------- */

static void gic_enable(struct gicv3 *gic, unsigned intid, uint8_t prio)
{
    if (intid < 32) {
        gicv3_redist_write(gic, GICR_SGI + GICD_IPRIORITYR + intid, 1, prio);
        gicv3_redist_write(gic, GICR_SGI + GICD_ISENABLER, 4, 1u << intid);
    } else {
        gicv3_dist_write(gic, GICD_IPRIORITYR + intid, 1, prio);
        gicv3_dist_write(gic, GICD_ISENABLER + intid / 32 * 4, 4, 1u << (intid % 32));
    }
}

/* gic_dist_init, gic_cpu_init and the timer and UART interrupts requested. */
static struct gicv3 *gic_as_linux(void)
{
    struct gicv3 *gic = gicv3_create(MACHINE_NUM_SPIS);
    if (!gic)
        exit(1);
    gicv3_dist_write(gic, GICD_CTLR, 4, (1u << 4) | (1u << 1));
    gicv3_redist_write(gic, GICR_WAKER, 4, 0);
    gicv3_redist_write(gic, GICR_SGI + GICD_IGROUPR, 4, 0xffffffffu);
    for (unsigned i = 1; i < (32 + MACHINE_NUM_SPIS) / 32; i++)
        gicv3_dist_write(gic, GICD_IGROUPR + 4 * i, 4, 0xffffffffu);
    for (unsigned i = 32; i < 32 + MACHINE_NUM_SPIS; i++)
        gicv3_dist_write(gic, GICD_IROUTER + 8 * i, 8, 0);
    gicv3_sysreg_write(gic, ICC_PMR_EL1, 0xf0);
    gicv3_sysreg_write(gic, ICC_BPR1_EL1, 0);
    gicv3_sysreg_write(gic, ICC_IGRPEN1_EL1, 1);
    gic_enable(gic, TIMER_PPI, 0xa0);
    gic_enable(gic, UART_SPI, 0xa0);
    gic_enable(gic, 1, 0xa0); /* the IPIs Linux sets up even on one CPU */
    return gic;
}

static void save_gic(struct gicv3 *gic, const char *name)
{
    static struct gicv3_state st;
    struct device_state_bytes bytes;
    gicv3_save(gic, &st);
    write_encoded("gicv3_state", name, gicv3_state_encode(&st, &bytes), &bytes);
    gicv3_destroy(gic);
}

static void gic_seeds(void)
{
    save_gic(gic_as_linux(), "linux-idle");

    /* In the timer's handler, a disk completion pending behind it, the UART's
     * line high, an IPI sent: what a snapshot taken mid-interrupt holds. */
    struct gicv3 *gic = gic_as_linux();
    gicv3_dist_write(gic, GICD_ICFGR + BLK_SPI / 16 * 4, 4, 1u << (2 * (BLK_SPI % 16) + 1));
    gic_enable(gic, BLK_SPI, 0xb0);
    gicv3_set_line(gic, TIMER_PPI, true);
    uint64_t intid;
    gicv3_sysreg_read(gic, ICC_IAR1_EL1, &intid);
    gicv3_set_line(gic, BLK_SPI, true);
    gicv3_set_line(gic, UART_SPI, true);
    gicv3_sysreg_write(gic, ICC_SGI1R_EL1, (1ull << 24) | 1);
    save_gic(gic, "in-timer-handler");

    /* EOImode 1: a handler interrupted by a higher-priority one, whose priority
     * is dropped but which is not yet deactivated. */
    gic = gic_as_linux();
    gicv3_sysreg_write(gic, ICC_CTLR_EL1, 1u << 1);
    gic_enable(gic, BLK_SPI, 0x80);
    gicv3_dist_write(gic, GICD_ISPENDR + UART_SPI / 32 * 4, 4, 1u << (UART_SPI % 32));
    gicv3_sysreg_read(gic, ICC_IAR1_EL1, &intid);
    gicv3_dist_write(gic, GICD_ISPENDR + BLK_SPI / 32 * 4, 4, 1u << (BLK_SPI % 32));
    gicv3_sysreg_read(gic, ICC_IAR1_EL1, &intid);
    gicv3_sysreg_write(gic, ICC_EOIR1_EL1, intid);
    gicv3_set_line(gic, TIMER_PPI, true);
    save_gic(gic, "nested-eoimode1");
}

/* ---- PL011 ---------------------------------------------------------------------- */

static void no_output(void *opaque, const uint8_t *data, size_t len)
{
    (void)opaque, (void)data, (void)len;
}

static void save_uart(struct device *uart, const char *name)
{
    write_saved("pl011_state", name, uart);
}

static struct device *uart_as_linux(void)
{
    struct device *uart = pl011_create(0x09000000, (struct irq_line){0}, no_output, NULL);
    if (!uart)
        exit(1);
    uart->ops->write(uart, 0x024, 4, 13);   /* IBRD: 115200 from 24 MHz */
    uart->ops->write(uart, 0x028, 4, 1);    /* FBRD */
    uart->ops->write(uart, 0x02c, 4, 0x70); /* LCR_H: 8N1, FIFOs */
    uart->ops->write(uart, 0x034, 4, 0x12); /* IFLS */
    uart->ops->write(uart, 0x030, 4, 0x301); /* CR: UARTEN, TXE, RXE */
    uart->ops->write(uart, 0x038, 4, 0x50);  /* IMSC: RX, RT */
    return uart;
}

static void uart_seeds(void)
{
    save_uart(uart_as_linux(), "idle-115200");
    struct device *uart = uart_as_linux();
    uart->ops->write(uart, 0x000, 4, '#');
    const char typed[] = "echo counter=$i\r";
    pl011_receive(uart, (const uint8_t *)typed, sizeof(typed) - 1);
    save_uart(uart, "input-waiting");
}

/* ---- PL031 ---------------------------------------------------------------------- */

static int64_t seed_clock(void)
{
    return 1700000000;
}

static void save_rtc(struct device *rtc, const char *name)
{
    write_saved("pl031_state", name, rtc);
}

static void rtc_seeds(void)
{
    struct device *rtc = pl031_create(0x09010000, (struct irq_line){0}, seed_clock);
    if (!rtc)
        exit(1);
    save_rtc(rtc, "host-time");

    rtc = pl031_create(0x09010000, (struct irq_line){0}, seed_clock);
    rtc->ops->write(rtc, 0x008, 4, 1700003600); /* LR: an hour ahead */
    rtc->ops->write(rtc, 0x004, 4, 1700003660); /* MR: a minute later */
    rtc->ops->write(rtc, 0x010, 4, 1);          /* IMSC */
    save_rtc(rtc, "alarm-armed");

    rtc = pl031_create(0x09010000, (struct irq_line){0}, seed_clock);
    rtc->ops->write(rtc, 0x004, 4, 1699999000); /* MR in the past: fires */
    rtc->ops->write(rtc, 0x010, 4, 1);
    save_rtc(rtc, "alarm-fired");
}

/* ---- vmgenid, virtio-input, virtio-gpu ------------------------------------------------- */

static void fixed_random(void *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = (uint8_t)(0x5a ^ i);
}

static void genid_seeds(void)
{
    struct device *genid = vmgenid_create(0x09020000, (struct irq_line){0}, fixed_random);
    if (!genid)
        exit(1);
    write_saved("vmgenid_state", "fresh", genid);
}

/* Keys pressed while the guest had no buffers: sequences waiting. */
static void input_seeds(void)
{
    static struct virtio_input_state in;
    struct device_state_bytes bytes;
    static const uint8_t keyboard = 0, tablet = 1;
    memset(&in, 0, sizeof(in));
    in.kind = VIRTIO_INPUT_KEYBOARD;
    in.select = 0x11, in.subsel = 1; /* EV_BITS, EV_KEY */
    in.leds = 1u << 1;               /* Caps Lock */
    in.num_sequences = 2, in.lengths[0] = in.lengths[1] = 2, in.num_events = 4;
    in.events[0] = (struct virtio_input_event_host){1, 30, 1};
    in.events[2] = (struct virtio_input_event_host){1, 30, 0};
    if (virtio_input_state_encode(&in, &bytes) != 0)
        exit(1);
    write_prefixed_seed("virtio_input_state", "keyboard-keys-waiting", &keyboard, 1, bytes.data,
                        bytes.len);
    device_state_bytes_free(&bytes);
    memset(&in, 0, sizeof(in));
    in.kind = VIRTIO_INPUT_TABLET;
    in.num_sequences = 1, in.lengths[0] = 3, in.num_events = 3;
    in.events[0] = (struct virtio_input_event_host){3, 0, 100};
    in.events[1] = (struct virtio_input_event_host){3, 1, 200};
    if (virtio_input_state_encode(&in, &bytes) != 0)
        exit(1);
    write_prefixed_seed("virtio_input_state", "tablet-move-waiting", &tablet, 1, bytes.data,
                        bytes.len);
    device_state_bytes_free(&bytes);
}

/* A 64x64 cursor-sized resource backed at the start of fuzz_virtio_gpu_state's
 * RAM, shown on the one scanout. */
static void gpu_seeds(void)
{
    struct virtio_gpu_backing_entry backing = {0x40000000, 64 * 64 * 4};
    struct virtio_gpu_resource_state resource = {1, 2, 64, 64, 1, &backing};
    struct virtio_gpu_state g = {.num_scanouts = 1, .num_resources = 1, .resources = &resource};
    g.scanouts[0] = (struct virtio_gpu_scanout_state){true, 1280, 800, 1, {0, 0, 64, 64},
                                                      {0, 0, 0, 0, 0}};
    struct device_state_bytes bytes;
    write_encoded("virtio_gpu_state", "one-resource-in-ram", virtio_gpu_state_encode(&g, &bytes),
                  &bytes);
}

/* ---- real snapshots ------------------------------------------------------------------ */

/* fuzz_virtio_mmio_state's device choice, by kind; -1 for none of its. */
static int transport_choice(const char *kind)
{
    static const char *const kinds[] = {"virtio-rng", "virtio-console", "virtio-input-keyboard",
                                        "virtio-input-tablet", "virtio-gpu"};
    for (int i = 0; i < 5; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return i;
    return -1;
}

static void split_virtio(const char *snapshot, const struct machine_device_state *d)
{
    char name[256];
    int choice = transport_choice(d->kind);
    if (choice < 0 || d->state.len > 0xffff)
        return;
    snprintf(name, sizeof(name), "real-%s-%s", snapshot, d->kind);
    uint8_t prefix[3] = {(uint8_t)choice, (uint8_t)d->state.len, (uint8_t)(d->state.len >> 8)};
    write_prefixed_seed("virtio_mmio_state", name, prefix, sizeof(prefix), d->state.data,
                        d->state.len);
    struct virtio_mmio_state t;
    char err[256];
    if (virtio_mmio_state_decode(d->state.data, d->state.len, &t, d->kind, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", snapshot, err);
        exit(1);
    }
    uint8_t tablet = choice == 3;
    if (choice == 2 || choice == 3)
        write_prefixed_seed("virtio_input_state", name, &tablet, 1, t.device.data, t.device.len);
    if (choice == 4)
        write_seed("virtio_gpu_state", name, t.device.data, t.device.len);
    virtio_mmio_state_free(&t);
}

static void split_snapshot(const char *dir)
{
    static struct machine_snapshot state;
    static struct snapshot_machine_config config;
    struct snapshot_reader *r;
    char err[512], copy[4096], name[256];
    const uint8_t *body;
    size_t len;
    if (snapshot_open(dir, &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", dir, err);
        exit(1);
    }
    snapshot_manifest(r, &body, &len);
    if (snapshot_manifest_decode(body, len, &config, &state, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", dir, err);
        exit(1);
    }
    snprintf(copy, sizeof(copy), "%s", dir);
    const char *snapshot = basename(copy);
    /* The interrupt controller's state is the backend's own message. */
    bool kvm = strcmp(config.backend, "kvm") == 0;
    static const char *const platform[][2] = {{"gicv3", "gicv3_state"}, {"pl011", "pl011_state"},
                                              {"pl031", "pl031_state"},
                                              {"vmgenid", "vmgenid_state"}};
    for (unsigned i = 0; i < state.num_devices; i++) {
        const struct machine_device_state *d = &state.devices[i];
        for (unsigned p = 0; p < sizeof(platform) / sizeof(platform[0]); p++) {
            if (strcmp(d->kind, platform[p][0]) != 0)
                continue;
            snprintf(name, sizeof(name), "real-%s", snapshot);
            if (kvm && p == 0) {
                uint8_t choice = (uint8_t)(state.num_vcpus - 1);
                write_prefixed_seed("kvm_vgic_state", name, &choice, 1, d->state.data,
                                    d->state.len);
            } else {
                write_seed(platform[p][1], name, d->state.data, d->state.len);
            }
        }
        split_virtio(snapshot, d);
    }
    snapshot_manifest_free(&state);
    snapshot_close(r);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SEEDS_DIR [SNAPSHOT_DIR...]\n", argv[0]);
        return 2;
    }
    seeds_dir = argv[1];
    gic_seeds();
    vgic_seeds();
    uart_seeds();
    rtc_seeds();
    genid_seeds();
    input_seeds();
    gpu_seeds();
    for (int i = 2; i < argc; i++)
        split_snapshot(argv[i]);
    return 0;
}
