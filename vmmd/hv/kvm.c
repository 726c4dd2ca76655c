/* The kvm backend: arm64 Linux hosts with /dev/kvm (Documentation/virt/kvm/api.rst
 * and devices/arm-vgic-v3.rst).
 *
 * The kernel runs what it can: the vGICv3 (at the machine's distributor and
 * redistributor addresses), the generic timer, WFI, and PSCI 0.2+ (CPU_ON and
 * CPU_OFF stay in the kernel; SYSTEM_OFF and SYSTEM_RESET come back as system
 * events). Userspace sees MMIO to device space and those events. Every vCPU
 * has a thread while run() runs: vCPU 0 on the caller's, the others on threads
 * run() starts and joins; the first exit the machine must act on stops them
 * all. A stop reaches a thread inside KVM_RUN by a signal whose handler does
 * nothing (KVM_RUN returns -EINTR), and immediate_exit covers the window
 * before it enters. */
#include "hv/hv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/gicv3.h"
#include "hv/kvm_arm.h"
#include "hv/kvm_vgic.h"
#include "log.h"
#include "util.h"

/* kvm_arm.h spells the ABI out for hosts without these headers: the same values. */
_Static_assert(KVM_ARM_REG_ARM64 == KVM_REG_ARM64, "KVM_REG_ARM64");
_Static_assert(KVM_ARM_REG_SIZE_U64 == KVM_REG_SIZE_U64, "KVM_REG_SIZE_U64");
_Static_assert(KVM_ARM_REG_CORE == KVM_REG_ARM_CORE, "KVM_REG_ARM_CORE");
_Static_assert(KVM_ARM_CORE_SP_EL0_WORD == KVM_REG_ARM_CORE_REG(regs.sp), "sp");
_Static_assert(KVM_ARM_CORE_PC_WORD == KVM_REG_ARM_CORE_REG(regs.pc), "pc");
_Static_assert(KVM_ARM_CORE_PSTATE_WORD == KVM_REG_ARM_CORE_REG(regs.pstate), "pstate");
_Static_assert(KVM_ARM_CORE_SP_EL1_WORD == KVM_REG_ARM_CORE_REG(sp_el1), "sp_el1");
_Static_assert(KVM_ARM_IRQ_TYPE_SHIFT_ == KVM_ARM_IRQ_TYPE_SHIFT, "irq type shift");
_Static_assert(KVM_ARM_IRQ_TYPE_SPI_ == KVM_ARM_IRQ_TYPE_SPI, "irq type spi");
_Static_assert(KVM_ARM_REG_ARCH_MASK == KVM_REG_ARCH_MASK, "KVM_REG_ARCH_MASK");
_Static_assert(KVM_ARM_REG_SIZE_MASK == KVM_REG_SIZE_MASK, "KVM_REG_SIZE_MASK");
_Static_assert(KVM_ARM_REG_SIZE_SHIFT == KVM_REG_SIZE_SHIFT, "KVM_REG_SIZE_SHIFT");
_Static_assert(KVM_ARM_REG_SIZE_U32 == KVM_REG_SIZE_U32, "KVM_REG_SIZE_U32");
_Static_assert(KVM_ARM_REG_SIZE_U128 == KVM_REG_SIZE_U128, "KVM_REG_SIZE_U128");
_Static_assert(KVM_ARM_REG_SYSREG == KVM_REG_ARM64_SYSREG, "KVM_REG_ARM64_SYSREG");
_Static_assert(KVM_ARM_CORE_ELR_EL1_WORD == KVM_REG_ARM_CORE_REG(elr_el1), "elr_el1");
_Static_assert(KVM_ARM_CORE_SPSR_EL1_WORD == KVM_REG_ARM_CORE_REG(spsr[KVM_SPSR_EL1]), "spsr");
_Static_assert(KVM_ARM_CORE_V0_WORD == KVM_REG_ARM_CORE_REG(fp_regs.vregs[0]), "v0");
_Static_assert(KVM_ARM_CORE_FPSR_WORD == KVM_REG_ARM_CORE_REG(fp_regs.fpsr), "fpsr");
_Static_assert(KVM_ARM_CORE_FPCR_WORD == KVM_REG_ARM_CORE_REG(fp_regs.fpcr), "fpcr");
_Static_assert(KVM_ARM_TIMER_CTL == KVM_REG_ARM_TIMER_CTL, "timer ctl");
_Static_assert(KVM_ARM_TIMER_CNT == KVM_REG_ARM_TIMER_CNT, "timer cnt");
_Static_assert(KVM_ARM_TIMER_CVAL == KVM_REG_ARM_TIMER_CVAL, "timer cval");
_Static_assert(KVM_ARM_PTIMER_CTL == KVM_REG_ARM_PTIMER_CTL, "ptimer ctl");
_Static_assert(KVM_ARM_PTIMER_CNT == KVM_REG_ARM_PTIMER_CNT, "ptimer cnt");
_Static_assert(KVM_ARM_PTIMER_CVAL == KVM_REG_ARM_PTIMER_CVAL, "ptimer cval");
_Static_assert(KVM_ARM_MP_STATE_RUNNABLE == KVM_MP_STATE_RUNNABLE &&
               KVM_ARM_MP_STATE_STOPPED == KVM_MP_STATE_STOPPED &&
               KVM_ARM_MP_STATE_SUSPENDED == KVM_MP_STATE_SUSPENDED, "mp states");
_Static_assert(KVM_VGIC_GRP_DIST_REGS == KVM_DEV_ARM_VGIC_GRP_DIST_REGS &&
               KVM_VGIC_GRP_REDIST_REGS == KVM_DEV_ARM_VGIC_GRP_REDIST_REGS &&
               KVM_VGIC_GRP_CPU_SYSREGS == KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS &&
               KVM_VGIC_GRP_LEVEL_INFO == KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, "vgic groups");
_Static_assert(KVM_SYSTEM_EVENT_SHUTDOWN == 1 && KVM_SYSTEM_EVENT_RESET == 2 &&
               KVM_SYSTEM_EVENT_CRASH == 3 && KVM_SYSTEM_EVENT_WAKEUP == 4,
               "system event types");

#define KVM_DEVICE_PATH "/dev/kvm"
#define KVM_KICK_SIGNAL SIGUSR2
#define KVM_MAX_VCPUS 64
#define KVM_RAM_SLOT 0
#define KVM_MAX_SLOTS 32 /* RAM and device windows: KVM offers far more */

struct kvm_vcpu {
    struct hv_vm *vm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool has_thread;   /* thread is in run()'s loop and may be signalled */
    bool unassigned_logged;
    bool mmio_pending; /* an MMIO exit answered, which the next KVM_RUN completes */
};

struct hv_vm {
    int kvm_fd, vm_fd, gic_fd;
    size_t run_size;
    const struct hv_io *io;
    uint64_t mmio_limit;
    unsigned num_vcpus;
    unsigned next_slot;   /* device windows take slots from 1 */
    unsigned ipa_bits;    /* the guest-physical address space */
    uint32_t nr_irqs;     /* the vGIC's interrupts, SGIs and PPIs included */
    bool has_run;         /* a vCPU has entered the guest: no more state loads */
    pthread_mutex_t lock;  /* the fields below but halt, and the threads to kick */
    atomic_bool halt;      /* this run's vCPU loops return at their next chance */
    bool stop_requested;   /* hv_ops.stop(): holds until clear_stop */
    bool have_exit;        /* exit is this run's outcome */
    struct hv_exit exit;   /* the first exit that stopped the vCPUs */
    struct kvm_vcpu vcpus[];
};

/* ---- host checks --------------------------------------------------------------- */

static void on_kick(int sig)
{
    (void)sig; /* its only job is to make KVM_RUN return -EINTR */
}

static int install_kick_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_kick;
    sa.sa_flags = SA_RESTART; /* other syscalls carry on; KVM_RUN still returns -EINTR */
    sigemptyset(&sa.sa_mask);
    return sigaction(KVM_KICK_SIGNAL, &sa, NULL) == 0 ? 0 : -errno;
}

static int open_kvm(char *why, size_t why_len)
{
    int fd = open(KVM_DEVICE_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open %s: %s", KVM_DEVICE_PATH, strerror(errno));
        return -1;
    }
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        snprintf(why, why_len, "%s speaks KVM API %d, not %d", KVM_DEVICE_PATH, version,
                 KVM_API_VERSION);
        close(fd);
        return -1;
    }
    return fd;
}

/* The VM type for this host: its whole guest address space, which must reach
 * address_top. -1 with why. */
static long host_vm_type(int kvm_fd, uint64_t address_top, char *why, size_t why_len)
{
    int ipa = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_VM_IPA_SIZE);
    return kvm_arm_vm_type(ipa, address_top, why, why_len);
}

/* The lowest RAM address a machine needs: device space, then 64M of RAM. */
#define KVM_MIN_ADDRESS_TOP(mmio_limit) ((mmio_limit) + (64ull << 20))

/* Works: a VM of the type create() asks for can be created and takes an
 * in-kernel GICv3, what every guest needs. */
static bool kvm_usable(char *why, size_t why_len)
{
    int fd = open_kvm(why, why_len);
    if (fd < 0)
        return false;
    bool ok = false;
    long type = host_vm_type(fd, KVM_MIN_ADDRESS_TOP(0x40000000ull), why, why_len);
    int vm = type < 0 ? -1 : ioctl(fd, KVM_CREATE_VM, (unsigned long)type);
    if (type < 0) {
        close(fd);
        return false;
    }
    if (vm < 0) {
        snprintf(why, why_len, "KVM cannot create a VM here: %s", strerror(errno));
    } else {
        struct kvm_create_device probe = {.type = KVM_DEV_TYPE_ARM_VGIC_V3,
                                          .flags = KVM_CREATE_DEVICE_TEST};
        ok = ioctl(vm, KVM_CREATE_DEVICE, &probe) == 0;
        if (!ok)
            snprintf(why, why_len, "this host's KVM has no in-kernel GICv3: %s",
                     strerror(errno));
        close(vm);
    }
    close(fd);
    return ok;
}

static int kvm_prepare(char *err, size_t err_len)
{
    int rc = install_kick_handler();
    if (rc < 0)
        snprintf(err, err_len, "cannot install the vCPU kick handler: %s", strerror(-rc));
    return rc;
}

/* ---- creation ------------------------------------------------------------------ */

static int fail_errno(char *err, size_t err_len, const char *what)
{
    int e = errno;
    snprintf(err, err_len, "%s: %s", what, strerror(e));
    return -e;
}

static int create_vm_fd(struct hv_vm *vm, const struct hv_config *c, char *err, size_t err_len)
{
    /* RAM starts where device space ends; a RAM size the host's address space
     * cannot hold is refused when it is mapped (map_ram). */
    long type = host_vm_type(vm->kvm_fd, KVM_MIN_ADDRESS_TOP(c->mmio_limit), err, err_len);
    if (type < 0)
        return -EINVAL;
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, (unsigned long)type);
    if (vm->vm_fd < 0)
        return fail_errno(err, err_len, "KVM_CREATE_VM");
    vm->ipa_bits = type ? (unsigned)type : KVM_ARM_DEFAULT_IPA_BITS;
    log_debug("kvm: VM with a %u-bit guest address space", vm->ipa_bits);
    /* An access KVM cannot decode comes to us with its address, where the
     * kernel would otherwise fail KVM_RUN with ENOSYS and say nothing. */
    struct kvm_enable_cap nisv = {.cap = KVM_CAP_ARM_NISV_TO_USER};
    if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_NISV_TO_USER) > 0 &&
        ioctl(vm->vm_fd, KVM_ENABLE_CAP, &nisv) < 0)
        log_debug("kvm: cannot enable KVM_CAP_ARM_NISV_TO_USER: %s", strerror(errno));
    return 0;
}

static int set_gic_attr(struct hv_vm *vm, uint32_t group, uint64_t attr, const void *value)
{
    struct kvm_device_attr a = {.group = group, .attr = attr, .addr = (uintptr_t)value};
    return ioctl(vm->gic_fd, KVM_SET_DEVICE_ATTR, &a) == 0 ? 0 : -errno;
}

/* The vGICv3 where the device tree says it is; initialised once the vCPUs exist. */
static int create_gic(struct hv_vm *vm, const struct hv_gic_layout *g, char *err,
                      size_t err_len)
{
    struct kvm_create_device dev = {.type = KVM_DEV_TYPE_ARM_VGIC_V3};
    if (ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &dev) < 0)
        return fail_errno(err, err_len, "cannot create the in-kernel GICv3");
    vm->gic_fd = (int)dev.fd;
    uint64_t dist = g->dist_base, redist = g->redist_base;
    int rc = set_gic_attr(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
    if (rc == 0)
        rc = set_gic_attr(vm, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist);
    if (rc < 0) {
        snprintf(err, err_len, "cannot place the GICv3 at 0x%llx/0x%llx: %s",
                 (unsigned long long)dist, (unsigned long long)redist, strerror(-rc));
        return rc;
    }
    return 0;
}

static int init_gic(struct hv_vm *vm, const struct hv_gic_layout *g, char *err, size_t err_len)
{
    /* SGIs and PPIs, then the SPIs, rounded up to what the GIC counts in (32). */
    uint32_t nr_irqs = (32 + g->num_spis + 31) / 32 * 32;
    vm->nr_irqs = nr_irqs;
    int rc = set_gic_attr(vm, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
    if (rc == 0)
        rc = set_gic_attr(vm, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
    if (rc < 0) {
        snprintf(err, err_len, "cannot initialise the in-kernel GICv3 (%u interrupts): %s",
                 nr_irqs, strerror(-rc));
        return rc;
    }
    return 0;
}

/* vCPU 0 starts at the kernel's entry; the others wait, off, for PSCI CPU_ON. */
static int create_vcpu(struct hv_vm *vm, unsigned index, const struct kvm_vcpu_init *target,
                       char *err, size_t err_len)
{
    struct kvm_vcpu *v = &vm->vcpus[index];
    *v = (struct kvm_vcpu){.vm = vm, .index = index, .fd = -1};
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (v->fd < 0)
        return fail_errno(err, err_len, "KVM_CREATE_VCPU");
    void *run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (run == MAP_FAILED)
        return fail_errno(err, err_len, "cannot map the vCPU's kvm_run");
    v->run = run;
    struct kvm_vcpu_init init = *target;
    init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
    if (index > 0)
        init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
    if (ioctl(v->fd, KVM_ARM_VCPU_INIT, &init) < 0)
        return fail_errno(err, err_len, "KVM_ARM_VCPU_INIT (PSCI 0.2)");
    return 0;
}

static int create_vcpus(struct hv_vm *vm, char *err, size_t err_len)
{
    int size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size < (int)sizeof(struct kvm_run))
        return fail_errno(err, err_len, "KVM_GET_VCPU_MMAP_SIZE");
    vm->run_size = (size_t)size;
    struct kvm_vcpu_init target;
    memset(&target, 0, sizeof(target));
    if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &target) < 0)
        return fail_errno(err, err_len, "KVM_ARM_PREFERRED_TARGET");
    for (unsigned i = 0; i < vm->num_vcpus; i++) {
        int rc = create_vcpu(vm, i, &target, err, err_len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void kvm_destroy(struct hv_vm *vm)
{
    if (!vm)
        return;
    /* kvm_run first, then the vCPUs, then the VM: each holds the next open. */
    for (unsigned i = 0; i < vm->num_vcpus; i++) {
        if (vm->vcpus[i].run)
            munmap(vm->vcpus[i].run, vm->run_size);
        if (vm->vcpus[i].fd >= 0)
            close(vm->vcpus[i].fd);
    }
    if (vm->gic_fd >= 0)
        close(vm->gic_fd);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    pthread_mutex_destroy(&vm->lock);
    free(vm);
}

static struct hv_vm *kvm_create(const struct hv_config *c, char *err, size_t err_len)
{
    if (c->num_vcpus < 1 || c->num_vcpus > KVM_MAX_VCPUS) {
        snprintf(err, err_len, "the kvm backend runs 1 to %d vCPUs, not %u", KVM_MAX_VCPUS,
                 c->num_vcpus);
        return NULL;
    }
    int rc = install_kick_handler();
    if (rc < 0) {
        snprintf(err, err_len, "cannot install the vCPU kick handler: %s", strerror(-rc));
        return NULL;
    }
    struct hv_vm *vm = calloc(1, sizeof(*vm) + c->num_vcpus * sizeof(vm->vcpus[0]));
    if (!vm) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    vm->vm_fd = vm->gic_fd = -1;
    vm->io = c->io;
    vm->mmio_limit = c->mmio_limit;
    pthread_mutex_init(&vm->lock, NULL);
    vm->kvm_fd = open_kvm(err, err_len);
    if (vm->kvm_fd < 0 || create_vm_fd(vm, c, err, err_len) < 0 ||
        create_gic(vm, &c->gic, err, err_len) < 0)
        goto fail;
    vm->num_vcpus = c->num_vcpus;
    for (unsigned i = 0; i < vm->num_vcpus; i++)
        vm->vcpus[i].fd = -1;
    if (create_vcpus(vm, err, err_len) < 0 || init_gic(vm, &c->gic, err, err_len) < 0)
        goto fail;
    return vm;
fail:
    kvm_destroy(vm);
    return NULL;
}

static int kvm_map_ram(struct hv_vm *vm, uint64_t gpa, void *host, uint64_t size)
{
    if (vm->ipa_bits < 64 && (gpa >= 1ull << vm->ipa_bits || size > (1ull << vm->ipa_bits) - gpa)) {
        log_error("kvm: guest memory up to 0x%llx is beyond this host's %u-bit guest "
                  "address space; give the guest less memory",
                  (unsigned long long)(gpa + size), vm->ipa_bits);
        return -EINVAL;
    }
    struct kvm_userspace_memory_region region = {
        .slot = KVM_RAM_SLOT, .guest_phys_addr = gpa, .memory_size = size,
        .userspace_addr = (uintptr_t)host,
    };
    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) == 0 ? 0 : -errno;
}

static int kvm_map_device_memory(struct hv_vm *vm, uint64_t gpa, void *host, uint64_t size)
{
    if (vm->next_slot == 0)
        vm->next_slot = KVM_RAM_SLOT + 1;
    if (vm->next_slot >= KVM_MAX_SLOTS)
        return -ENOSPC;
    struct kvm_userspace_memory_region region = {
        .slot = vm->next_slot, .flags = KVM_MEM_READONLY, .guest_phys_addr = gpa,
        .memory_size = size, .userspace_addr = (uintptr_t)host,
    };
    if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return -errno;
    vm->next_slot++;
    return 0;
}

/* ---- registers ------------------------------------------------------------------ */

static int one_reg(struct hv_vm *vm, unsigned vcpu, enum hv_reg reg, uint64_t *value,
                   unsigned long request)
{
    uint64_t id = kvm_arm_core_reg_id(reg);
    if (vcpu >= vm->num_vcpus || id == 0)
        return -EINVAL;
    struct kvm_one_reg r = {.id = id, .addr = (uintptr_t)value};
    return ioctl(vm->vcpus[vcpu].fd, request, &r) == 0 ? 0 : -errno;
}

static int kvm_get_reg(struct hv_vm *vm, unsigned vcpu, enum hv_reg reg, uint64_t *value)
{
    return one_reg(vm, vcpu, reg, value, KVM_GET_ONE_REG);
}

static int kvm_set_reg(struct hv_vm *vm, unsigned vcpu, enum hv_reg reg, uint64_t value)
{
    return one_reg(vm, vcpu, reg, &value, KVM_SET_ONE_REG);
}

/* ---- snapshots ---------------------------------------------------------------------- */

/* The guest's counter frequency: the host's, which KVM passes on. */
static uint64_t host_counter_hz(void)
{
    uint64_t hz;
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(hz));
    return hz;
}

/* The vCPU's registers as KVM lists them (*ids malloc'd). 0 or -errno. */
static int reg_list(const struct kvm_vcpu *v, uint64_t **ids, size_t *n)
{
    struct kvm_reg_list probe = {.n = 0};
    if (ioctl(v->fd, KVM_GET_REG_LIST, &probe) == 0 || errno != E2BIG)
        return errno ? -errno : -EIO;
    struct kvm_reg_list *list = malloc(sizeof(*list) + probe.n * sizeof(list->reg[0]));
    if (!list)
        return -ENOMEM;
    list->n = probe.n;
    if (ioctl(v->fd, KVM_GET_REG_LIST, list) < 0) {
        int e = errno;
        free(list);
        return -e;
    }
    *n = list->n;
    *ids = malloc((*n ? *n : 1) * sizeof(**ids));
    if (*ids)
        memcpy(*ids, list->reg, *n * sizeof(**ids));
    free(list);
    return *ids ? 0 : -ENOMEM;
}

static int read_regs(const struct kvm_vcpu *v, struct hv_vcpu_state *st)
{
    uint64_t *ids;
    size_t n;
    int rc = reg_list(v, &ids, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned bytes = kvm_arm_reg_bytes(ids[i]);
        if (bytes == 0 || bytes > 16 || st->num_regs == HV_MAX_BACKEND_REGS) {
            log_error("kvm: vCPU %u has register %#llx (%u bytes) or more than %d registers, "
                      "which a snapshot cannot keep", v->index, (unsigned long long)ids[i],
                      bytes, HV_MAX_BACKEND_REGS);
            rc = -E2BIG;
            break;
        }
        struct hv_backend_reg *r = &st->regs[st->num_regs];
        *r = (struct hv_backend_reg){.id = ids[i]};
        struct kvm_one_reg one = {.id = ids[i], .addr = (uintptr_t)r->value};
        if (ioctl(v->fd, KVM_GET_ONE_REG, &one) < 0) {
            rc = -errno;
            log_error("kvm: vCPU %u: cannot read register %#llx: %s", v->index,
                      (unsigned long long)ids[i], strerror(errno));
        }
        st->num_regs++;
    }
    free(ids);
    return rc;
}

/* Every register KVM lists, the named fields filled from them, and the PSCI
 * power state. */
static int kvm_get_vcpu_state(struct hv_vm *vm, unsigned vcpu, struct hv_vcpu_state *st)
{
    if (vcpu >= vm->num_vcpus)
        return -EINVAL;
    struct kvm_vcpu *v = &vm->vcpus[vcpu];
    memset(st, 0, sizeof(*st));
    int rc = read_regs(v, st);
    if (rc < 0)
        return rc;
    struct kvm_mp_state mp;
    if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) < 0)
        return -errno;
    int power = kvm_arm_power(mp.mp_state);
    if (power < 0) {
        log_error("kvm: vCPU %u is in mp_state %u, which ignition does not know", vcpu,
                  mp.mp_state);
        return -ENOTSUP;
    }
    st->power = (uint32_t)power;
    kvm_arm_fill_named(st);
    st->counter_hz = host_counter_hz();
    return 0;
}

/* Checks the saved list against this vCPU's own, then writes it in its order:
 * KVM checks each value (a register no write could produce is refused). */
static int write_regs(const struct kvm_vcpu *v, const struct hv_vcpu_state *st)
{
    uint64_t *ids;
    size_t n;
    char why[160];
    int rc = reg_list(v, &ids, &n);
    if (rc < 0)
        return rc;
    rc = kvm_arm_check_reg_list(st, ids, n, why, sizeof(why));
    free(ids);
    if (rc < 0) {
        log_error("kvm: vCPU %u's saved state: %s", v->index, why);
        return rc;
    }
    for (uint32_t i = 0; i < st->num_regs; i++) {
        uint64_t value[2];
        kvm_arm_restore_value(st, &st->regs[i], value);
        struct kvm_one_reg one = {.id = st->regs[i].id, .addr = (uintptr_t)value};
        if (ioctl(v->fd, KVM_SET_ONE_REG, &one) < 0) {
            log_error("kvm: vCPU %u: the kernel refuses the saved value of register %#llx: %s",
                      v->index, (unsigned long long)st->regs[i].id, strerror(errno));
            return -EINVAL;
        }
    }
    return 0;
}

static int kvm_set_vcpu_state(struct hv_vm *vm, unsigned vcpu, const struct hv_vcpu_state *st)
{
    if (vcpu >= vm->num_vcpus)
        return -EINVAL;
    if (vm->has_run)
        return -EBUSY;
    if (st->counter_hz != host_counter_hz()) {
        log_error("kvm: the snapshot's counter ran at %llu Hz, this host's at %llu: the guest "
                  "would keep the wrong time", (unsigned long long)st->counter_hz,
                  (unsigned long long)host_counter_hz());
        return -EINVAL;
    }
    int mp_state = kvm_arm_mp_state(st->power);
    if (mp_state < 0 || st->num_regs == 0)
        return -EINVAL; /* a kvm vCPU's state always has its registers */
    struct kvm_vcpu *v = &vm->vcpus[vcpu];
    int rc = write_regs(v, st);
    if (rc < 0)
        return rc;
    struct kvm_mp_state mp = {.mp_state = (uint32_t)mp_state};
    return ioctl(v->fd, KVM_SET_MP_STATE, &mp) == 0 ? 0 : -errno;
}

static int vgic_attr(struct hv_vm *vm, unsigned long request, uint32_t group, uint64_t attr,
                     uint64_t *value)
{
    /* CPU interface registers are 64 bits; the other groups' 32. */
    uint32_t narrow = (uint32_t)*value;
    bool wide = group == KVM_VGIC_GRP_CPU_SYSREGS;
    struct kvm_device_attr a = {.group = group, .attr = attr,
                                .addr = wide ? (uintptr_t)value : (uintptr_t)&narrow};
    if (ioctl(vm->gic_fd, request, &a) < 0)
        return -errno;
    if (!wide)
        *value = narrow;
    return 0;
}

/* Every register of the plan that this host has (kvm_vgic.h). */
static int kvm_save_irqchip(struct hv_vm *vm, struct device_state_bytes *out)
{
    struct kvm_vgic_state *s = calloc(1, sizeof(*s));
    struct kvm_vgic_slot *plan = malloc(KVM_VGIC_MAX_REGS * sizeof(*plan));
    int rc = s && plan ? 0 : -ENOMEM;
    size_t n = rc == 0 ? kvm_vgic_plan(vm->nr_irqs, vm->num_vcpus, plan) : 0;
    if (rc == 0 && n == 0)
        rc = -EINVAL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        uint64_t value = 0;
        int e = vgic_attr(vm, KVM_GET_DEVICE_ATTR, plan[i].group, plan[i].attr, &value);
        if (e < 0 && plan[i].optional)
            continue;
        if (e < 0) {
            log_error("kvm: cannot read the vGIC's register %#llx of group %u: %s",
                      (unsigned long long)plan[i].attr, plan[i].group, strerror(-e));
            rc = e;
            break;
        }
        s->regs[s->num_regs++] = (struct kvm_vgic_reg){plan[i].group, plan[i].attr, value};
    }
    if (rc == 0) {
        s->nr_irqs = vm->nr_irqs;
        s->num_vcpus = vm->num_vcpus;
        rc = kvm_vgic_state_encode(s, out);
    }
    free(plan);
    free(s);
    return rc;
}

static int kvm_load_irqchip(struct hv_vm *vm, const uint8_t *state, size_t len, char *err,
                            size_t err_len)
{
    if (vm->has_run)
        return -EBUSY;
    struct kvm_vgic_state *s = malloc(sizeof(*s));
    if (!s)
        return -ENOMEM;
    int rc = kvm_vgic_state_decode(state, len, vm->nr_irqs, vm->num_vcpus, s, err, err_len);
    for (uint32_t i = 0; rc == 0 && i < s->num_regs; i++) {
        const struct kvm_vgic_reg *r = &s->regs[i];
        uint64_t value = r->value;
        int e = vgic_attr(vm, KVM_SET_DEVICE_ATTR, r->group, r->attr, &value);
        if (e < 0) {
            snprintf(err, err_len, "the kernel refuses the vGIC's saved register %#llx of "
                     "group %u: %s", (unsigned long long)r->attr, r->group, strerror(-e));
            rc = -EINVAL;
        }
    }
    free(s);
    return rc;
}

/* ---- interrupts and stops ------------------------------------------------------- */

static int kvm_set_irq(struct hv_vm *vm, unsigned intid, bool level)
{
    uint32_t line = kvm_arm_spi_line(intid);
    if (line == 0)
        return -EINVAL;
    struct kvm_irq_level irq = {.irq = line, .level = level};
    return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) == 0 ? 0 : -errno;
}

/* With vm->lock held: every vCPU leaves KVM_RUN, or does not enter it again. */
static void kick_all_locked(struct hv_vm *vm)
{
    atomic_store(&vm->halt, true);
    for (unsigned i = 0; i < vm->num_vcpus; i++) {
        struct kvm_vcpu *v = &vm->vcpus[i];
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        if (v->has_thread)
            pthread_kill(v->thread, KVM_KICK_SIGNAL);
    }
}

static void kvm_stop(struct hv_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->stop_requested = true;
    kick_all_locked(vm);
    pthread_mutex_unlock(&vm->lock);
}

static void kvm_clear_stop(struct hv_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->stop_requested = false;
    pthread_mutex_unlock(&vm->lock);
}

/* The first exit the machine must act on wins (a power-off beats a stop
 * that came meanwhile); it stops the other vCPUs. */
static void record_exit(struct hv_vm *vm, const struct hv_exit *exit)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->have_exit) {
        vm->exit = *exit;
        vm->have_exit = true;
    }
    kick_all_locked(vm);
    pthread_mutex_unlock(&vm->lock);
}

static void PRINTF_LIKE(3, 4) record_error(struct hv_vm *vm, unsigned vcpu, const char *fmt, ...)
{
    struct hv_exit e = {.reason = HV_EXIT_ERROR};
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    snprintf(e.message, sizeof(e.message), "vCPU %u: %s", vcpu, what);
    record_exit(vm, &e);
}

/* ---- the vCPU loop --------------------------------------------------------------- */

static void handle_mmio(struct kvm_vcpu *v)
{
    struct hv_vm *vm = v->vm;
    struct kvm_run *run = v->run;
    uint64_t gpa = run->mmio.phys_addr;
    uint32_t len = run->mmio.len;
    bool claimed;
    if (run->mmio.is_write) {
        claimed = vm->io->mmio_write(vm->io->opaque, gpa, len,
                                     kvm_arm_mmio_value(run->mmio.data, len));
    } else {
        uint64_t value = 0;
        claimed = vm->io->mmio_read(vm->io->opaque, gpa, len, &value);
        kvm_arm_mmio_answer(run->mmio.data, len, claimed ? value : 0);
    }
    if (!claimed && !v->unassigned_logged) {
        /* Once per vCPU: a guest probing empty space must not flood the log. */
        log_warn("kvm: vCPU %u %s unassigned address 0x%llx (reads as zero; logged once)",
                 v->index, run->mmio.is_write ? "wrote" : "read", (unsigned long long)gpa);
        v->unassigned_logged = true;
    }
}

/* Acts on one exit from KVM_RUN. Returns false when this vCPU's loop ends. */
static bool handle_exit(struct kvm_vcpu *v)
{
    struct kvm_run *run = v->run;
    struct hv_exit e = {0};
    switch (run->exit_reason) {
    case KVM_EXIT_MMIO:
        handle_mmio(v);
        v->mmio_pending = true;
        return true;
    case KVM_EXIT_INTR:
        return true; /* the loop looks at the stop request */
    case KVM_EXIT_SYSTEM_EVENT:
        if (!kvm_arm_system_event(run->system_event.type, &e))
            return true;
        if (e.reason == HV_EXIT_ERROR)
            log_error("kvm: vCPU %u stopped the guest", v->index);
        record_exit(v->vm, &e);
        return false;
    case KVM_EXIT_ARM_NISV: {
        uint64_t pc = 0;
        kvm_get_reg(v->vm, v->index, HV_REG_PC, &pc);
        record_error(v->vm, v->index, "the guest accessed 0x%llx outside memory with an "
                     "instruction KVM cannot emulate (pc 0x%llx)",
                     (unsigned long long)run->arm_nisv.fault_ipa, (unsigned long long)pc);
        return false;
    }
    case KVM_EXIT_FAIL_ENTRY:
        record_error(v->vm, v->index, "KVM could not enter the guest (hardware reason 0x%llx)",
                     (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        record_error(v->vm, v->index, "KVM internal error (suberror %u)",
                     run->internal.suberror);
        return false;
    default:
        record_error(v->vm, v->index, "KVM exit reason %u, which ignition does not handle",
                     run->exit_reason);
        return false;
    }
}

/* A vCPU that stops right after an MMIO exit has not taken the access's
 * result or moved past it: the kernel does both on the next KVM_RUN, which
 * immediate_exit then ends before the guest runs. So a stopped vCPU is
 * always between instructions, and its saved state never repeats an access. */
static void settle(struct kvm_vcpu *v)
{
    if (!v->mmio_pending)
        return;
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (ioctl(v->fd, KVM_RUN, 0) < 0 && errno != EINTR)
        log_warn("kvm: vCPU %u: cannot complete its last MMIO access: %s", v->index,
                 strerror(errno));
    v->mmio_pending = false;
}

static void vcpu_loop(struct kvm_vcpu *v)
{
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, KVM_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
    while (!atomic_load(&v->vm->halt)) {
        int rc = ioctl(v->fd, KVM_RUN, 0);
        v->mmio_pending = false; /* completed by that KVM_RUN, whatever it returned */
        if (rc < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            record_error(v->vm, v->index, "KVM_RUN failed: %s", strerror(errno));
            break;
        }
        if (!handle_exit(v))
            break;
    }
    settle(v);
}

static void *vcpu_thread(void *arg)
{
    vcpu_loop(arg);
    return NULL;
}

/* This run's state: a stop asked for before it holds; then threads for vCPUs
 * 1.. (vCPU 0 runs on the caller's), each registered under the lock, so that
 * a stop that comes meanwhile reaches it. */
static int start_threads(struct hv_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    vm->have_exit = false;
    vm->has_run = true;
    atomic_store(&vm->halt, vm->stop_requested);
    for (unsigned i = 0; i < vm->num_vcpus; i++)
        vm->vcpus[i].run->immediate_exit = vm->stop_requested;
    vm->vcpus[0].thread = pthread_self();
    vm->vcpus[0].has_thread = true;
    int rc = 0;
    for (unsigned i = 1; i < vm->num_vcpus && rc == 0; i++) {
        struct kvm_vcpu *v = &vm->vcpus[i];
        rc = -pthread_create(&v->thread, NULL, vcpu_thread, v);
        v->has_thread = rc == 0;
    }
    if (rc < 0) {
        struct hv_exit e = {.reason = HV_EXIT_ERROR};
        snprintf(e.message, sizeof(e.message), "cannot start a vCPU thread: %s", strerror(-rc));
        vm->exit = e;
        vm->have_exit = true;
        kick_all_locked(vm);
    }
    pthread_mutex_unlock(&vm->lock);
    return rc;
}

/* After kick_all: the loops are ending. They are no longer signalled (a
 * joined thread must not be), and halt with immediate_exit ends them anyway. */
static void join_threads(struct hv_vm *vm)
{
    bool joinable[KVM_MAX_VCPUS];
    pthread_mutex_lock(&vm->lock);
    for (unsigned i = 0; i < vm->num_vcpus; i++) {
        joinable[i] = i > 0 && vm->vcpus[i].has_thread;
        vm->vcpus[i].has_thread = false;
    }
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 1; i < vm->num_vcpus; i++)
        if (joinable[i])
            pthread_join(vm->vcpus[i].thread, NULL);
}

static int kvm_run_vm(struct hv_vm *vm, struct hv_exit *exit)
{
    if (start_threads(vm) == 0)
        vcpu_loop(&vm->vcpus[0]);
    /* vCPU 0's loop ended: by an exit one vCPU recorded (which kicked all),
     * or by a stop; either way the others end too. */
    pthread_mutex_lock(&vm->lock);
    kick_all_locked(vm);
    pthread_mutex_unlock(&vm->lock);
    join_threads(vm);
    pthread_mutex_lock(&vm->lock);
    *exit = vm->have_exit ? vm->exit : (struct hv_exit){.reason = HV_EXIT_STOPPED};
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

const struct hv_ops hv_kvm_ops = {
    .name = "kvm",
    .usable = kvm_usable,
    .prepare = kvm_prepare,
    .create = kvm_create,
    .destroy = kvm_destroy,
    .map_ram = kvm_map_ram,
    .map_device_memory = kvm_map_device_memory,
    .get_reg = kvm_get_reg,
    .set_reg = kvm_set_reg,
    .get_vcpu_state = kvm_get_vcpu_state,
    .set_vcpu_state = kvm_set_vcpu_state,
    .run = kvm_run_vm,
    .set_irq = kvm_set_irq,
    .stop = kvm_stop,
    .clear_stop = kvm_clear_stop,
    .save_irqchip = kvm_save_irqchip,
    .load_irqchip = kvm_load_irqchip,
};
