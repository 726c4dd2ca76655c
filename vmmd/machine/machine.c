#include "machine/machine.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/random.h>
#endif

#include "machine/boot.h"
#include "devices/device_state.h"
#include "devices/gicv3.h"
#include "devices/pl031.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_console.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_input.h"
#include "devices/virtio_mmio.h"
#include "devices/virtio_rng.h"
#include "devices/vmgenid.h"
#include "hv/irqchip.h"
#include "machine/devicetree.h"
#include "log.h"
#include "memfile.h"
#include "machine/psci.h"
#include "util.h"

#define MAX_KERNEL_FILE (256u << 20)
#define MAX_INITRD_FILE (1u << 30)
#define DTB_RESERVE (2u << 20) /* the DTB sits in its own 2 MiB at the top of RAM */

struct machine {
    const struct hv_ops *hv;
    struct hv_vm *vm;
    struct hv_io io;
    uint8_t *ram;
    uint64_t ram_size;
    unsigned num_cpus;
    int ram_fd;
    struct device *devices[MACHINE_MAX_DEVICES];
    unsigned num_devices;
    struct device *uart;
    struct device *hvc; /* or NULL */
    struct device *gpu, *keyboard, *tablet; /* or NULL */
    struct device *net;                     /* or NULL */
    struct device *vsock;                   /* or NULL */
    struct disk *disks[MACHINE_MAX_DEVICES]; /* owned by their virtio-blk devices */
    unsigned num_disks;
    struct guest_ram guest_ram; /* what virtio devices may address */
    struct guest_ram saved_ram; /* a restore's RAM as saved (host NULL: none) */
    unsigned num_virtio;
    uint64_t entry, dtb_addr;
    atomic_bool running; /* inside machine_run: no saving */
};

struct device *machine_gpu(struct machine *m)
{
    return m->gpu;
}

struct device *machine_keyboard(struct machine *m)
{
    return m->keyboard;
}

struct device *machine_tablet(struct machine *m)
{
    return m->tablet;
}

struct device *machine_net(struct machine *m)
{
    return m->net;
}

struct device *machine_vsock(struct machine *m)
{
    return m->vsock;
}

int machine_check_ram_size(uint64_t bytes, char *err, size_t err_len)
{
    if (bytes < MACHINE_MIN_RAM || bytes > MACHINE_MAX_RAM) {
        snprintf(err, err_len, "memory size must be between %lluM and %lluG",
                 MACHINE_MIN_RAM >> 20, MACHINE_MAX_RAM >> 30);
        return -1;
    }
    if (bytes & ((2u << 20) - 1)) {
        snprintf(err, err_len, "memory size must be a multiple of 2M");
        return -1;
    }
    return 0;
}

/* ---- device dispatch --------------------------------------------------------- */

static struct device *device_at(struct machine *m, uint64_t gpa)
{
    for (unsigned i = 0; i < m->num_devices; i++) {
        struct device *d = m->devices[i];
        if (gpa >= d->base && gpa - d->base < d->size)
            return d;
    }
    return NULL;
}

static bool mmio_read(void *opaque, uint64_t gpa, unsigned size, uint64_t *value)
{
    struct device *d = device_at(opaque, gpa);
    if (!d)
        return false;
    *value = d->ops->read(d, gpa - d->base, size);
    return true;
}

static bool mmio_write(void *opaque, uint64_t gpa, unsigned size, uint64_t value)
{
    struct device *d = device_at(opaque, gpa);
    if (!d)
        return false;
    d->ops->write(d, gpa - d->base, size, value);
    return true;
}

static void recheck_notifications(void *opaque)
{
    struct machine *m = opaque;
    for (unsigned i = 0; i < m->num_devices; i++) {
        struct device *d = m->devices[i];
        if (d->ops->recheck_notifications)
            d->ops->recheck_notifications(d);
    }
}

static enum hv_call_result hypercall(void *opaque, const uint64_t args[4], uint64_t *result)
{
    (void)opaque;
    return psci_call(args, result);
}

static void set_irq(void *opaque, unsigned intid, bool level)
{
    struct machine *m = opaque;
    m->hv->set_irq(m->vm, intid, level);
}

static int add_device(struct machine *m, struct device *d)
{
    if (!d || m->num_devices == MACHINE_MAX_DEVICES)
        return -1;
    m->devices[m->num_devices++] = d;
    return 0;
}

static struct irq_line irq_for(struct machine *m, unsigned intid)
{
    return (struct irq_line){.set = set_irq, .opaque = m, .intid = intid};
}

/* virtio-mmio devices take consecutive 0x200 windows and SPIs. */
static uint64_t next_virtio_slot(struct machine *m, struct irq_line *irq)
{
    unsigned n = m->num_virtio++;
    *irq = irq_for(m, MACHINE_VIRTIO_INTID(n));
    return MACHINE_VIRTIO_BASE + (uint64_t)n * VIRTIO_MMIO_SIZE;
}

static void describe_disk(unsigned index, const struct disk_spec *spec, const struct disk *d)
{
    if (disk_read_only(d))
        log_info("disk %u: %s, read-only", index, spec->path);
    else
        log_info("disk %u: %s, copy-on-write (%s) in %s", index, spec->path,
                 disk_layer_kind(d), disk_layer_path(d));
}

static int add_disks(struct machine *m, const struct machine_config *c, char *err,
                     size_t err_len)
{
    for (unsigned i = 0; i < c->num_disks; i++) {
        struct disk *d = disk_open(&c->disks[i], c->instance_dir, i, err, err_len);
        if (!d)
            return -1;
        if (c->announce_disks)
            describe_disk(i, &c->disks[i], d);
        struct irq_line irq;
        uint64_t base = next_virtio_slot(m, &irq);
        if (add_device(m, virtio_blk_create(base, irq, &m->guest_ram, d)) < 0) {
            snprintf(err, err_len, "cannot create the device for disk %s", c->disks[i].path);
            return -1;
        }
        m->disks[m->num_disks++] = d;
    }
    return 0;
}

/* The display devices come after the disks, so disks keep their slots (and the
 * guest's names for them) whether or not there is a display. */
static int add_display(struct machine *m, const struct machine_config *c, char *err,
                       size_t err_len)
{
    struct irq_line irq;
    uint64_t base;
    if (c->gpu) {
        struct virtio_gpu_options gpu = {
            .num_scanouts = c->num_scanouts, .width = c->display_width,
            .height = c->display_height, .max_host_bytes = c->gpu_memory,
            .display = c->display, .display_opaque = c->display_opaque,
            .saved_ram = m->saved_ram.host ? &m->saved_ram : NULL,
        };
        base = next_virtio_slot(m, &irq);
        m->gpu = virtio_gpu_create(base, irq, &m->guest_ram, &gpu);
        if (add_device(m, m->gpu) < 0)
            goto fail;
    }
    if (!c->gpu && !c->keyboard)
        return 0;
    base = next_virtio_slot(m, &irq);
    m->keyboard = virtio_input_create(base, irq, &m->guest_ram, VIRTIO_INPUT_KEYBOARD, "kbd0");
    if (add_device(m, m->keyboard) < 0)
        goto fail;
    if (!c->gpu)
        return 0;
    base = next_virtio_slot(m, &irq);
    m->tablet = virtio_input_create(base, irq, &m->guest_ram, VIRTIO_INPUT_TABLET, "tablet0");
    if (add_device(m, m->tablet) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, err_len, "cannot create the display devices");
    return -1;
}

static int add_virtio_devices(struct machine *m, const struct machine_config *c, char *err,
                              size_t err_len)
{
    struct irq_line irq;
    uint64_t base = next_virtio_slot(m, &irq);
    if (add_device(m, virtio_rng_create(base, irq, &m->guest_ram)) < 0)
        goto fail;
    if (c->hvc_fd >= 0) {
        base = next_virtio_slot(m, &irq);
        m->hvc = virtio_console_create(base, irq, &m->guest_ram, c->hvc_fd);
        if (add_device(m, m->hvc) < 0)
            goto fail;
    }
    if (add_disks(m, c, err, err_len) < 0 || add_display(m, c, err, err_len) < 0)
        return -1;
    /* Last, so that machines without it keep their slots (and old snapshots
     * theirs). */
    if (c->net) {
        base = next_virtio_slot(m, &irq);
        m->net = virtio_net_create(base, irq, &m->guest_ram, c->net_mac, &c->net_backend);
        if (add_device(m, m->net) < 0)
            goto fail;
    }
    if (c->vsock) {
        base = next_virtio_slot(m, &irq);
        m->vsock = virtio_vsock_create(base, irq, &m->guest_ram, c->vsock_cid,
                                       &c->vsock_backend);
        if (add_device(m, m->vsock) < 0)
            goto fail;
    }
    return 0;
fail:
    snprintf(err, err_len, "cannot create the machine's devices");
    return -1;
}

/* ---- memory and boot ------------------------------------------------------------ */

static int allocate_ram(struct machine *m, uint64_t size, char *err, size_t err_len)
{
    m->ram_fd = memfile_create("ignition-ram", size);
    if (m->ram_fd < 0) {
        snprintf(err, err_len, "cannot create %lluM of guest memory: %s",
                 (unsigned long long)(size >> 20), strerror(-m->ram_fd));
        return -1;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->ram_fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, err_len, "cannot map %lluM of guest memory: %s",
                 (unsigned long long)(size >> 20), strerror(errno));
        return -1;
    }
    m->ram = p;
    m->ram_size = size;
    m->guest_ram = (struct guest_ram){.gpa = MACHINE_RAM_BASE, .size = size, .host = p};
    return 0;
}

/* A restore's RAM is the snapshot's memory, mapped by the caller. */
static int adopt_ram(struct machine *m, void *ram, uint64_t size, char *err, size_t err_len)
{
    if (!ram || ((uintptr_t)ram & 0xfff)) {
        snprintf(err, err_len, "a restore needs the snapshot's memory, mapped page aligned");
        return -1;
    }
    m->ram = ram;
    m->ram_size = size;
    m->guest_ram = (struct guest_ram){.gpa = MACHINE_RAM_BASE, .size = size, .host = ram};
    return 0;
}

/* read_whole_file's errors in words a person can act on. */
static const char *file_error_text(int rc, const char *limit)
{
    static _Thread_local char text[64];
    if (rc == -EFBIG) {
        snprintf(text, sizeof(text), "larger than %s", limit);
        return text;
    }
    if (rc == -EINVAL)
        return "not a regular file";
    return strerror(-rc);
}

static int load_kernel(struct machine *m, const char *path, uint64_t *kernel_end, char *err,
                       size_t err_len)
{
    uint8_t *data;
    size_t len;
    int rc = read_whole_file(path, &data, &len, MAX_KERNEL_FILE);
    if (rc < 0) {
        snprintf(err, err_len, "kernel %s: %s", path, file_error_text(rc, "256M"));
        return -1;
    }
    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        uint8_t *raw;
        size_t raw_len;
        char why[128];
        if (gunzip_buffer(data, len, MAX_KERNEL_FILE, &raw, &raw_len, why, sizeof(why)) < 0) {
            free(data);
            snprintf(err, err_len, "kernel %s: %s", path, why);
            return -1;
        }
        free(data);
        data = raw;
        len = raw_len;
    }
    struct arm64_image image;
    char why[160];
    if (arm64_image_parse(data, len, &image, why, sizeof(why)) < 0) {
        free(data);
        snprintf(err, err_len, "kernel %s: %s", path, why);
        return -1;
    }
    uint64_t need = image.text_offset + (image.image_size > len ? image.image_size : len);
    if (need + DTB_RESERVE > m->ram_size) {
        free(data);
        snprintf(err, err_len, "kernel %s needs %lluM; give the guest more memory (--mem)", path,
                 (unsigned long long)((need + DTB_RESERVE) >> 20) + 1);
        return -1;
    }
    memcpy(m->ram + image.text_offset, data, len);
    free(data);
    m->entry = MACHINE_RAM_BASE + image.text_offset;
    *kernel_end = MACHINE_RAM_BASE + need;
    return 0;
}

static int load_initrd(struct machine *m, const char *path, uint64_t kernel_end,
                       uint64_t *start, uint64_t *end, char *err, size_t err_len)
{
    *start = *end = 0;
    if (!path)
        return 0;
    uint8_t *data;
    size_t len;
    int rc = read_whole_file(path, &data, &len, MAX_INITRD_FILE);
    if (rc < 0) {
        snprintf(err, err_len, "initrd %s: %s", path, file_error_text(rc, "1G"));
        return -1;
    }
    uint64_t top = m->dtb_addr;
    uint64_t at = (top - len) & ~0xfffull;
    if (len > top - MACHINE_RAM_BASE || at < kernel_end) {
        free(data);
        snprintf(err, err_len, "initrd %s (%zuM) does not fit beside the kernel; give the "
                 "guest more memory (--mem)", path, len >> 20);
        return -1;
    }
    memcpy(m->ram + (at - MACHINE_RAM_BASE), data, len);
    free(data);
    *start = at;
    *end = at + len;
    return 0;
}

static void random_bytes(void *buf, size_t len)
{
#ifdef __linux__
    uint8_t *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n <= 0)
            continue;
        p += n;
        len -= (size_t)n;
    }
#else
    arc4random_buf(buf, len);
#endif
}

static int build_dtb(struct machine *m, const struct machine_config *c, uint64_t initrd_start,
                     uint64_t initrd_end, char *err, size_t err_len)
{
    struct fdt_machine desc = {
        .ram_base = MACHINE_RAM_BASE,
        .ram_size = m->ram_size,
        .num_cpus = m->num_cpus,
        .gic = {.dist_base = MACHINE_GICD_BASE, .dist_size = GICD_SIZE,
                .redist_base = MACHINE_GICR_BASE, .redist_size = GICR_SIZE,
                .num_spis = MACHINE_NUM_SPIS},
        .devices = m->devices,
        .num_devices = m->num_devices,
        .stdout_device = m->uart,
        .bootargs = c->cmdline,
        .initrd_start = initrd_start,
        .initrd_end = initrd_end,
    };
    random_bytes(desc.rng_seed, sizeof(desc.rng_seed));
    random_bytes(&desc.kaslr_seed, sizeof(desc.kaslr_seed));
    int rc = fdt_build(&desc, m->ram + (m->dtb_addr - MACHINE_RAM_BASE), FDT_MAX_SIZE);
    if (rc < 0) {
        snprintf(err, err_len, "cannot build the device tree (libfdt error %d)", rc);
        return -1;
    }
    return 0;
}

/* ---- snapshots ------------------------------------------------------------------ */

/* Every device saves and loads itself (devices/device.h); the machine only
 * walks its table, which is in the same order in every machine built from the
 * same configuration. */

static int save_failed(char *err, size_t err_len, const char *what, int rc)
{
    snprintf(err, err_len, "cannot save %s: %s", what, strerror(-rc));
    return rc;
}

static void describe(const struct device *d, char *what, size_t len)
{
    snprintf(what, len, "the %s at %#llx", device_kind(d), (unsigned long long)d->base);
}

static int save_device(struct device *d, struct machine_device_state *out, char *err,
                       size_t err_len)
{
    char what[64];
    describe(d, what, sizeof(what));
    if (strlen(device_kind(d)) > MACHINE_DEVICE_KIND_MAX)
        return save_failed(err, err_len, what, -ENAMETOOLONG);
    int rc = d->ops->save(d, &out->state);
    if (rc < 0)
        return save_failed(err, err_len, what, rc);
    snprintf(out->kind, sizeof(out->kind), "%s", device_kind(d));
    out->base = d->base;
    return 0;
}

/* The devices that keep state, in table order, into out->devices. */
static int save_devices(struct machine *m, struct machine_snapshot *out, char *err,
                        size_t err_len)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->num_devices; i++)
        n += m->devices[i]->ops->save != NULL;
    if (n > MACHINE_SNAPSHOT_MAX_DEVICES)
        return save_failed(err, err_len, "more devices than a snapshot holds", -E2BIG);
    out->num_devices = n;
    for (unsigned i = m->num_devices; i-- > 0;) {
        struct device *d = m->devices[i];
        if (!d->ops->save)
            continue;
        int rc = save_device(d, &out->devices[--n], err, err_len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int machine_save(struct machine *m, struct machine_snapshot *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    if (atomic_load(&m->running)) {
        snprintf(err, err_len, "cannot save a machine whose vCPU is running; stop it first");
        return -EBUSY;
    }
    int rc = save_devices(m, out, err, err_len);
    for (unsigned i = 0; rc == 0 && i < m->num_cpus; i++) {
        if ((rc = m->hv->get_vcpu_state(m->vm, i, &out->vcpus[i])) < 0) {
            char what[32];
            snprintf(what, sizeof(what), "vCPU %u", i);
            save_failed(err, err_len, what, rc);
        }
    }
    out->num_vcpus = m->num_cpus;
    if (rc < 0)
        machine_snapshot_free(out);
    return rc;
}

void machine_snapshot_free(struct machine_snapshot *s)
{
    for (unsigned i = 0; i < s->num_devices && i < MACHINE_SNAPSHOT_MAX_DEVICES; i++)
        device_state_bytes_free(&s->devices[i].state);
    s->num_devices = 0;
}

static const struct machine_device_state *state_for(const struct machine_snapshot *s,
                                                    unsigned n)
{
    return n < s->num_devices ? &s->devices[n] : NULL;
}

/* The snapshot must be of a machine built like this one: the same devices in
 * the same places. Each device's load would refuse another's state too, but
 * this says what to change. */
static int check_same_devices(struct machine *m, const struct machine_snapshot *s, char *err,
                              size_t err_len)
{
    unsigned n = 0;
    for (unsigned i = 0; i < m->num_devices; i++)
        n += m->devices[i]->ops->load != NULL;
    if (s->num_devices != n) {
        snprintf(err, err_len, "the snapshot's machine has %u devices, this one %u: give it "
                 "the same disks, display and consoles", s->num_devices, n);
        return -1;
    }
    n = 0;
    for (unsigned i = 0; i < m->num_devices; i++) {
        const struct device *d = m->devices[i];
        if (!d->ops->load)
            continue;
        const struct machine_device_state *st = state_for(s, n++);
        if (strcmp(st->kind, device_kind(d)) != 0 || st->base != d->base) {
            snprintf(err, err_len, "the snapshot holds a %s at %#llx where this machine has a "
                     "%s at %#llx: give the machine the same disks, display and consoles",
                     st->kind, (unsigned long long)st->base, device_kind(d),
                     (unsigned long long)d->base);
            return -1;
        }
    }
    return 0;
}

static int load_failed(char *err, size_t err_len, const char *what, int rc, const char *why)
{
    snprintf(err, err_len, "snapshot: cannot restore %s: %s", what,
             why[0] ? why
             : rc == -EINVAL ? "its saved state is invalid or inconsistent" : strerror(-rc));
    return -1;
}

/* In table order: the interrupt controller first, so that the lines devices
 * set as they load land in it; the vCPUs last, as they may run from then on. */
static int load_state(struct machine *m, const struct machine_snapshot *s, char *err,
                      size_t err_len)
{
    if (s->num_vcpus != m->num_cpus) {
        snprintf(err, err_len, "the snapshot's machine has %u vCPUs, this one %u", s->num_vcpus,
                 m->num_cpus);
        return -1;
    }
    if (check_same_devices(m, s, err, err_len) < 0)
        return -1;
    unsigned n = 0;
    for (unsigned i = 0; i < m->num_devices; i++) {
        struct device *d = m->devices[i];
        if (!d->ops->load)
            continue;
        const struct machine_device_state *st = state_for(s, n++);
        char why[256] = "", what[64];
        int rc = d->ops->load(d, st->state.data, st->state.len, why, sizeof(why));
        if (rc < 0) {
            describe(d, what, sizeof(what));
            return load_failed(err, err_len, what, rc, why);
        }
    }
    for (unsigned i = 0; i < s->num_vcpus; i++) {
        int rc = m->hv->set_vcpu_state(m->vm, i, &s->vcpus[i]);
        if (rc < 0) {
            char what[32];
            snprintf(what, sizeof(what), "vCPU %u", i);
            return load_failed(err, err_len, what, rc, "");
        }
    }
    return 0;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static int create_vm(struct machine *m, char *err, size_t err_len)
{
    m->io = (struct hv_io){.opaque = m, .mmio_read = mmio_read, .mmio_write = mmio_write,
                           .hypercall = hypercall, .recheck_notifications = recheck_notifications};
    struct hv_config hc = {
        .num_vcpus = m->num_cpus,
        .gic = {.dist_base = MACHINE_GICD_BASE, .dist_size = GICD_SIZE,
                .redist_base = MACHINE_GICR_BASE, .redist_size = GICR_SIZE,
                .num_spis = MACHINE_NUM_SPIS},
        .mmio_limit = MACHINE_DEVICE_LIMIT,
        .io = &m->io,
    };
    m->vm = m->hv->create(&hc, err, err_len);
    if (!m->vm)
        return -1;
    int rc = m->hv->map_ram(m->vm, MACHINE_RAM_BASE, m->ram, m->ram_size);
    if (rc < 0) {
        snprintf(err, err_len, "cannot map guest memory into the %s backend: %s", m->hv->name,
                 strerror(-rc));
        return -1;
    }
    return 0;
}

static int set_boot_registers(struct machine *m)
{
    /* booting.rst: x0 = DTB address, x1..x3 = 0, PC = image start, EL1h, masked. */
    if (m->hv->set_reg(m->vm, 0, HV_REG_X0, m->dtb_addr) < 0)
        return -1;
    for (enum hv_reg r = HV_REG_X0 + 1; r <= HV_REG_X0 + 3; r++)
        if (m->hv->set_reg(m->vm, 0, r, 0) < 0)
            return -1;
    return m->hv->set_reg(m->vm, 0, HV_REG_PC, m->entry);
}

/* A fresh boot: the kernel and initrd in RAM now, the device tree once the
 * devices exist (boot_registers). */
static int load_boot_images(struct machine *m, const struct machine_config *c,
                            uint64_t initrd[2], char *err, size_t err_len)
{
    uint64_t kernel_end;
    m->dtb_addr = MACHINE_RAM_BASE + m->ram_size - DTB_RESERVE;
    if (load_kernel(m, c->kernel_path, &kernel_end, err, err_len) < 0)
        return -1;
    return load_initrd(m, c->initrd_path, kernel_end, &initrd[0], &initrd[1], err, err_len);
}

static int boot_registers(struct machine *m, const struct machine_config *c,
                          const uint64_t initrd[2], char *err, size_t err_len)
{
    if (build_dtb(m, c, initrd[0], initrd[1], err, err_len) < 0)
        return -1;
    if (set_boot_registers(m) < 0) {
        snprintf(err, err_len, "cannot set the boot registers");
        return -1;
    }
    return 0;
}

/* The interrupt controller is first: a restore loads it before the devices
 * that set lines in it (load_state). */
static int add_devices(struct machine *m, const struct machine_config *c, char *err,
                       size_t err_len)
{
    if (add_device(m, hv_irqchip_create(m->hv, m->vm, MACHINE_GICD_BASE)) < 0)
        goto fail;
    m->uart = pl011_create(MACHINE_UART_BASE, irq_for(m, MACHINE_UART_INTID), c->console_output,
                           c->console_opaque);
    if (add_device(m, m->uart) < 0)
        goto fail;
    if (add_device(m, pl031_create(MACHINE_RTC_BASE, irq_for(m, MACHINE_RTC_INTID), NULL)) < 0)
        goto fail;
    if (add_device(m, vmgenid_create(MACHINE_GENID_BASE, irq_for(m, MACHINE_GENID_INTID),
                                     NULL)) < 0)
        goto fail;
    return add_virtio_devices(m, c, err, err_len);
fail:
    snprintf(err, err_len, "cannot create the machine's devices");
    return -1;
}

/* Windows the guest reads like memory are memory where the backend needs
 * that (hv_ops.map_device_memory). */
static int map_device_memory(struct machine *m, char *err, size_t err_len)
{
    if (!m->hv->map_device_memory)
        return 0;
    for (unsigned i = 0; i < m->num_devices; i++) {
        struct device *d = m->devices[i];
        void *host = d->ops->guest_memory ? d->ops->guest_memory(d) : NULL;
        if (!host)
            continue;
        int rc = m->hv->map_device_memory(m->vm, d->base, host, d->size);
        if (rc < 0) {
            snprintf(err, err_len, "cannot map the %s's window into the %s backend: %s",
                     d->ops->name, m->hv->name, strerror(-rc));
            return -1;
        }
    }
    return 0;
}

static int check_restore_config(const struct machine_config *c, char *err, size_t err_len)
{
    if (c->restore_ram && !c->restore) {
        snprintf(err, err_len, "guest memory to restore, but no snapshot state");
        return -1;
    }
    if (c->num_cpus > MACHINE_MAX_CPUS) {
        snprintf(err, err_len, "a machine has 1 to %s vCPUs", MACHINE_MAX_CPUS_TEXT);
        return -1;
    }
    return machine_check_ram_size(c->ram_size, err, err_len);
}

struct machine *machine_create(const struct machine_config *c, char *err, size_t err_len)
{
    struct machine *m = NULL;
    if (check_restore_config(c, err, err_len) < 0)
        goto fail_early;
    m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, err_len, "out of memory");
        goto fail_early;
    }
    m->hv = c->hv;
    m->num_cpus = c->num_cpus ? c->num_cpus : 1;
    m->ram_fd = -1;
    uint64_t initrd[2] = {0, 0};
    if (c->restore) {
        if (adopt_ram(m, c->restore_ram, c->ram_size, err, err_len) < 0)
            goto fail_early;
        if (c->restore_saved_ram)
            m->saved_ram = (struct guest_ram){.gpa = MACHINE_RAM_BASE, .size = c->ram_size,
                                              .host = (uint8_t *)c->restore_saved_ram};
    } else if (allocate_ram(m, c->ram_size, err, err_len) < 0 ||
               load_boot_images(m, c, initrd, err, err_len) < 0) {
        goto fail;
    }
    if (create_vm(m, err, err_len) < 0 || add_devices(m, c, err, err_len) < 0 ||
        map_device_memory(m, err, err_len) < 0)
        goto fail;
    if (c->restore ? load_state(m, c->restore, err, err_len) < 0
                   : boot_registers(m, c, initrd, err, err_len) < 0)
        goto fail;
    return m;
fail_early:
    /* Ours to release whether or not a machine came to own it; but a size
     * that is no machine's cannot be the mapping's, and unmapping by it could
     * take the caller's other memory along. */
    if (c->restore_ram && machine_check_ram_size(c->ram_size, NULL, 0) == 0)
        munmap(c->restore_ram, c->ram_size);
    free(m);
    return NULL;
fail:
    machine_destroy(m);
    return NULL;
}

void machine_destroy(struct machine *m)
{
    if (!m)
        return;
    if (m->vm)
        m->hv->destroy(m->vm);
    for (unsigned i = 0; i < m->num_devices; i++)
        m->devices[i]->ops->destroy(m->devices[i]);
    if (m->ram)
        munmap(m->ram, m->ram_size);
    if (m->ram_fd >= 0)
        close(m->ram_fd);
    free(m);
}

int machine_run(struct machine *m, struct hv_exit *exit)
{
    atomic_store(&m->running, true);
    int rc = m->hv->run(m->vm, exit);
    atomic_store(&m->running, false);
    return rc;
}

void machine_stop(struct machine *m)
{
    m->hv->stop(m->vm);
}

void machine_clear_stop(struct machine *m)
{
    m->hv->clear_stop(m->vm);
}

const void *machine_ram(const struct machine *m, uint64_t *size)
{
    *size = m->ram_size;
    return m->ram;
}

int machine_ram_fd(const struct machine *m)
{
    return m->ram_fd;
}

int machine_flush_disk(struct machine *m, unsigned index, const char **layer_path)
{
    if (index >= m->num_disks)
        return -EINVAL;
    if (atomic_load(&m->running))
        return -EBUSY; /* the guest could be writing */
    *layer_path = disk_layer_path(m->disks[index]);
    return disk_flush(m->disks[index]);
}

size_t machine_console_input(struct machine *m, const uint8_t *data, size_t len)
{
    return pl011_receive(m->uart, data, len);
}

size_t machine_hvc_input(struct machine *m, const uint8_t *data, size_t len)
{
    return m->hvc ? virtio_console_input(m->hvc, data, len) : 0;
}
