/* The hypervisor seam: one small interface, one file per backend.
 *
 * A backend runs vCPUs and owns the interrupt controller and timer (in-kernel on
 * kvm/hvf, modelled in userspace on emu). Everything else (RAM allocation, device
 * models, the device tree, PSCI policy) belongs to the machine, which hands the
 * backend a table of callbacks (struct hv_io) for what only it can answer. */
#ifndef IGNITION_HV_H
#define IGNITION_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hv_vm;
struct device_state_bytes; /* devices/device.h */

/* What the machine answers for the backend. Called on the vCPU thread. */
struct hv_io {
    void *opaque;
    /* A load or store to guest-physical address outside RAM. Returns false if
     * no device claims it (the access then reads as zero and is logged). */
    bool (*mmio_read)(void *opaque, uint64_t gpa, unsigned size, uint64_t *value);
    bool (*mmio_write)(void *opaque, uint64_t gpa, unsigned size, uint64_t value);
    /* An HVC/SMC from the guest (PSCI). args are x0..x3; the result goes to x0. */
    enum hv_call_result {
        HV_CALL_CONTINUE,
        HV_CALL_SYSTEM_OFF,
        HV_CALL_SYSTEM_RESET,
    } (*hypercall)(void *opaque, const uint64_t args[4], uint64_t *result);
    /* Optional. A backend whose guest barrier instructions do not order the
     * guest's accesses against other host threads (emu) calls it on the vCPU
     * thread when the guest waits for an interrupt, before it sleeps, and
     * every few milliseconds of a guest that does not; the devices look for
     * notifications that got lost between a device thread and the driver
     * meanwhile (virtqueue.h), and may raise interrupts. */
    void (*recheck_notifications)(void *opaque);
};

/* Where the machine placed the interrupt controller, so a backend that models it
 * (emu) or creates it in the kernel (kvm/hvf) uses the addresses the DT names. */
struct hv_gic_layout {
    uint64_t dist_base, dist_size;
    uint64_t redist_base, redist_size; /* per vCPU */
    unsigned num_spis;                  /* SPIs 32 .. 32+num_spis-1 */
};

struct hv_config {
    unsigned num_vcpus;
    struct hv_gic_layout gic;
    /* [0, mmio_limit) is device space; RAM is mapped separately with map_ram. */
    uint64_t mmio_limit;
    const struct hv_io *io;
};

enum hv_exit_reason {
    HV_EXIT_SYSTEM_OFF,   /* PSCI SYSTEM_OFF */
    HV_EXIT_SYSTEM_RESET, /* PSCI SYSTEM_RESET */
    HV_EXIT_STOPPED,      /* hv_ops.stop() was called */
    HV_EXIT_ERROR,        /* the guest did something the backend cannot run */
};

struct hv_exit {
    enum hv_exit_reason reason;
    char message[256]; /* for HV_EXIT_ERROR: what happened, for a person */
};

/* Registers the machine sets at boot and reads for diagnostics/snapshots. */
enum hv_reg {
    HV_REG_X0 = 0,  /* .. HV_REG_X0 + 30 = x30 */
    HV_REG_SP = 31, /* SP_EL1 while at EL1h */
    HV_REG_PC,
    HV_REG_PSTATE,
    HV_REG_COUNT,
};

/* A vCPU's power state under PSCI: on (running or waiting in WFI), off
 * (never started, or CPU_OFF), or suspended (CPU_SUSPEND/SYSTEM_SUSPEND). */
enum hv_vcpu_power {
    HV_VCPU_ON = 0,
    HV_VCPU_OFF = 1,
    HV_VCPU_SUSPENDED = 2,
};

/* One register in the backend's own naming (kvm: a ONE_REG id), up to 128
 * bits: value[0] holds the low 64. */
struct hv_backend_reg {
    uint64_t id;
    uint64_t value[2];
};

/* Registers a backend's list holds at most (KVM lists a few hundred on arm64). */
#define HV_MAX_BACKEND_REGS 1024

/* Architectural state of one vCPU and its generic timer: what a snapshot keeps,
 * in a form every backend can produce and accept. */
struct hv_vcpu_state {
    uint64_t x[31];
    uint64_t sp_el0, sp_el1, pc, pstate;
    uint64_t elr_el1, spsr_el1, esr_el1, far_el1, vbar_el1;
    uint64_t sctlr_el1, tcr_el1, ttbr0_el1, ttbr1_el1, mair_el1, amair_el1;
    uint64_t contextidr_el1, cpacr_el1, cntkctl_el1, par_el1, afsr0_el1, afsr1_el1;
    uint64_t mdscr_el1, csselr_el1, tpidr_el0, tpidrro_el0, tpidr_el1;
    uint64_t fpcr, fpsr;
    uint64_t v[32][2]; /* SIMD/FP registers, low half first */
    /* Timer: the guest's view. On set, the counter continues from `counter`
     * (the backend chooses its offset from the host clock accordingly). */
    uint64_t cntv_ctl, cntv_cval, cntp_ctl, cntp_cval, counter;
    uint64_t counter_hz; /* the counter's frequency (CNTFRQ_EL0), which a restore keeps */
    /* Opaque to the machine: what only this backend needs to resume (emu: the
     * emulator's cached translation flags, valid for the same Unicorn build). */
    uint32_t backend[4];
    uint32_t power; /* enum hv_vcpu_power */
    /* Every register of the vCPU as the backend names them, for a backend
     * that saves its whole register file (kvm: KVM_GET_REG_LIST, in its
     * order). The fields above are then filled from it as well, for a person
     * and for the restore's clock; on set the list is what is written, with
     * the counter taken from `counter`. emu keeps none. */
    uint32_t num_regs;
    struct hv_backend_reg regs[HV_MAX_BACKEND_REGS];
};

struct hv_ops {
    const char *name;
    /* True when this backend can run on this host; otherwise why not. */
    bool (*usable)(char *why, size_t why_len);
    /* What every VM of this backend needs that depends only on the host and
     * its libraries, found now and kept for the process (create finds it
     * otherwise): a standby worker does it before it is given a guest. It may
     * also make ready what the process's first VM takes (emu: an engine). */
    int (*prepare)(char *err, size_t err_len);
    struct hv_vm *(*create)(const struct hv_config *config, char *err, size_t err_len);
    void (*destroy)(struct hv_vm *vm);
    /* Maps host memory as guest RAM at gpa (page aligned). Returns 0 or -errno. */
    int (*map_ram)(struct hv_vm *vm, uint64_t gpa, void *host, uint64_t size);
    /* Optional (NULL where every access traps anyway, emu): maps a device's
     * host memory read-only at gpa (page aligned) for the guest's loads; its
     * stores still reach hv_io.mmio_write. Returns 0 or -errno. */
    int (*map_device_memory)(struct hv_vm *vm, uint64_t gpa, void *host, uint64_t size);
    int (*get_reg)(struct hv_vm *vm, unsigned vcpu, enum hv_reg reg, uint64_t *value);
    int (*set_reg)(struct hv_vm *vm, unsigned vcpu, enum hv_reg reg, uint64_t value);
    /* Whole-vCPU state. set_vcpu_state is for a vCPU that has not run yet (a
     * restore); it returns -EBUSY otherwise, -EINVAL for state it cannot resume. */
    int (*get_vcpu_state)(struct hv_vm *vm, unsigned vcpu, struct hv_vcpu_state *state);
    int (*set_vcpu_state)(struct hv_vm *vm, unsigned vcpu, const struct hv_vcpu_state *state);
    /* Runs the guest until an exit the machine must act on: all its vCPUs,
     * vCPU 0 on the calling thread and any others on threads of the backend's
     * own that end before run() returns. The hv_io callbacks may then come
     * from several threads at once. */
    int (*run)(struct hv_vm *vm, struct hv_exit *exit);
    /* Thread-safe: sets an SPI (intid >= 32) line level. */
    int (*set_irq)(struct hv_vm *vm, unsigned intid, bool level);
    /* Thread-safe: makes run() return HV_EXIT_STOPPED soon. */
    void (*stop)(struct hv_vm *vm);
    /* Lets run() run the guest again after stop() made it return (a stop asks
     * until it is cleared). Only while run() is not running. */
    void (*clear_stop)(struct hv_vm *vm);
    /* The interrupt controller's state, for snapshots, while run() is not
     * running, as the bytes of the backend's own message: emu saves its
     * userspace GICv3 (proto/devices/gicv3.proto), kvm the in-kernel vGIC's
     * registers as KVM's device attributes name them
     * (proto/devices/kvm_vgic.proto); hvf would keep hv_gic_state's. A snapshot
     * names its backend, so no other reads them. load_irqchip is for a VM that
     * has not run yet (-EBUSY); it checks everything (the state comes from a
     * file): -EINVAL with a reason in err. */
    int (*save_irqchip)(struct hv_vm *vm, struct device_state_bytes *out);
    int (*load_irqchip)(struct hv_vm *vm, const uint8_t *state, size_t len, char *err,
                        size_t err_len);
};

/* Finds a backend by name ("emu", "kvm", "hvf") or picks one for "auto".
 * Returns NULL and explains in why when none fits. *note gets a sentence to print
 * when auto chose (e.g. why emu was picked). */
const struct hv_ops *hv_select(const char *name, char *why, size_t why_len,
                               char *note, size_t note_len);

/* vCPU n's affinity (MPIDR_EL1 Aff2.Aff1.Aff0, what the device tree's cpu
 * reg names): KVM's own numbering, 16 to a cluster, which the other backends
 * follow. */
static inline uint32_t hv_vcpu_affinity(unsigned n)
{
    return (n & 0xf) | ((n >> 4) & 0xff) << 8 | ((n >> 12) & 0xff) << 16;
}

extern const struct hv_ops hv_emu_ops;
extern const struct hv_ops hv_kvm_ops;

#endif
