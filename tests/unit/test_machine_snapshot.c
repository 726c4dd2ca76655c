/* The machine saves itself and a new machine restores from it, with the real
 * guest that tools/build-guest makes: it boots to its shell on the emu backend,
 * stops, is saved, and a second machine built from the state and a private
 * copy of its RAM answers at the shell prompt; the first one, told to go on,
 * answers too. A machine that is not the snapshot's is refused. Without the
 * guest assets the suite says so and runs nothing. A guest that stops making
 * progress (once seen: a fresh boot silent after "modules loaded") fails with
 * where it stands: its PC and exception registers, both timers' deadlines and
 * the interrupt controller's pending state. */
#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "devices/gicv3.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/virtio_gpu.h"
#include "devices/virtio_mmio_state.h"
#include "devices/vmgenid.h"
#include "machine/machine.h"
#include "unit.h"

#define RAM_SIZE (256ull << 20)
#define BOOT_TIMEOUT_S 240 /* a quiet machine boots in ~10 s; CI machines are loaded */
#define ANSWER_TIMEOUT_S 60
#define SERIAL_MAX (1u << 20)

static char guest_dir[4096];
static char kernel_path[4200], initrd_path[4200];

/* What one machine wrote to its serial console. */
struct serial {
    pthread_mutex_t lock;
    char text[SERIAL_MAX];
    size_t len;
};

static void serial_output(void *opaque, const uint8_t *data, size_t len)
{
    struct serial *s = opaque;
    pthread_mutex_lock(&s->lock);
    if (len > SERIAL_MAX - 1 - s->len)
        len = SERIAL_MAX - 1 - s->len;
    memcpy(s->text + s->len, data, len);
    s->len += len;
    s->text[s->len] = '\0';
    pthread_mutex_unlock(&s->lock);
}

static void serial_init(struct serial *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
}

/* Waits until needle appears at or after *from; moves *from past it. */
static bool serial_wait(struct serial *s, const char *needle, size_t *from, int timeout_s)
{
    for (int waited_ms = 0; waited_ms < timeout_s * 1000; waited_ms += 20) {
        pthread_mutex_lock(&s->lock);
        const char *hit = *from <= s->len ? strstr(s->text + *from, needle) : NULL;
        if (hit)
            *from = (size_t)(hit - s->text) + strlen(needle);
        pthread_mutex_unlock(&s->lock);
        if (hit)
            return true;
        usleep(20000);
    }
    return false;
}

static size_t serial_length(struct serial *s)
{
    pthread_mutex_lock(&s->lock);
    size_t len = s->len;
    pthread_mutex_unlock(&s->lock);
    return len;
}

/* A machine and the thread running its vCPU. */
struct runner {
    struct machine *m;
    pthread_t thread;
    struct hv_exit exit;
    struct serial serial;
    bool thread_done; /* joined already (by describe_stall) */
};

static void *run_vcpu(void *opaque)
{
    struct runner *r = opaque;
    machine_run(r->m, &r->exit);
    return NULL;
}

static void runner_start(struct runner *r)
{
    r->thread_done = false;
    ck_assert_int_eq(pthread_create(&r->thread, NULL, run_vcpu, r), 0);
}

static void runner_stop(struct runner *r)
{
    machine_stop(r->m);
    if (!r->thread_done)
        pthread_join(r->thread, NULL);
    ck_assert_msg(r->exit.reason == HV_EXIT_STOPPED, "the vCPU ended with %d: %s",
                  r->exit.reason, r->exit.message);
}

static void type(struct runner *r, const char *text)
{
    size_t len = strlen(text), done = 0;
    for (int tries = 0; done < len && tries < 1000; tries++) {
        done += machine_console_input(r->m, (const uint8_t *)text + done, len - done);
        if (done < len)
            usleep(10000);
    }
    ck_assert_uint_eq(done, len);
}

/* Types a shell command and waits for the line it prints. */
static void expect_serial(struct runner *r, const char *needle, size_t *from, int timeout_s,
                          const char *what);

static void expect_answer(struct runner *r, const char *command, const char *answer)
{
    size_t from = serial_length(&r->serial);
    type(r, command);
    expect_serial(r, answer, &from, ANSWER_TIMEOUT_S, command);
}

static struct machine_config base_config(struct serial *serial)
{
    return (struct machine_config){
        .kernel_path = kernel_path, .initrd_path = initrd_path,
        .cmdline = "console=ttyAMA0 quiet", .ram_size = RAM_SIZE, .hv = &hv_emu_ops,
        .console_output = serial_output, .console_opaque = serial, .hvc_fd = -1,
        .gpu = true, .num_scanouts = 1, .display_width = 1024, .display_height = 768,
        .gpu_memory = 64ull << 20,
    };
}

/* A private copy of guest RAM, as a snapshot's memory would be mapped. */
static void *ram_copy(const void *from)
{
    void *p = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(p, MAP_FAILED);
    if (from)
        memcpy(p, from, RAM_SIZE);
    return p;
}

/* ---- the booted, saved guest all tests start from --------------------------------- */

static struct runner first;
static struct machine_snapshot saved;
static void *saved_ram; /* a copy: the first machine's own RAM moves on when it runs */

/* ---- where a guest that stopped making progress stands ------------------------- */

#define COUNTER_HZ 62500000ull /* the generic timer's counter (arch_timer.h) */
#define STOP_WAIT_S 5

static int append(char *out, size_t len, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int append(char *out, size_t len, size_t *at, const char *fmt, ...)
{
    if (*at >= len)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at += (size_t)n < len - *at ? (size_t)n : len - *at - 1;
    return n;
}

/* One timer's state: enabled, masked, and how far its deadline is from now. */
static void describe_timer(char *out, size_t len, size_t *at, const char *name, uint64_t ctl,
                           uint64_t cval, uint64_t counter)
{
    int64_t ahead = (int64_t)(cval - counter);
    append(out, len, at, "  %s: ctl 0x%llx (%s%s%s), cval 0x%llx = %+.3f ms from now\n", name,
           (unsigned long long)ctl, ctl & 1 ? "enabled" : "disabled",
           ctl & 2 ? ", masked" : "", ctl & 4 ? ", firing" : "", (unsigned long long)cval,
           (double)ahead * 1000.0 / (double)COUNTER_HZ);
}

static void describe_gic(char *out, size_t len, size_t *at, const struct gicv3_state *g)
{
    append(out, len, at,
           "  GIC: dist_ctlr 0x%x, waker 0x%x, icc_pmr 0x%x, icc_igrpen1 %u, "
           "active depth %u%s",
           g->dist_ctlr, g->redist_waker, g->icc_pmr, g->icc_igrpen1, g->active_depth,
           g->active_depth ? " (top " : "");
    if (g->active_depth)
        append(out, len, at, "%u)", g->active_stack[g->active_depth - 1]);
    append(out, len, at, "\n  pending or raised (intid: prio group enabled active edge "
                         "pending line):");
    unsigned shown = 0, total = GIC_NUM_PRIVATE + g->num_spis;
    for (unsigned i = 0; i < total && i < GIC_MAX_IRQS; i++) {
        const struct gicv3_irq_state *q = &g->irqs[i];
        if (!q->pending && !q->line && !q->active)
            continue;
        append(out, len, at, "%s %u: 0x%x %u %u %u %u %u %u", shown++ % 4 ? "," : "\n   ", i,
               q->priority, q->group1, q->enabled, q->active, q->edge, q->pending, q->line);
    }
    append(out, len, at, "%s\n", shown ? "" : " none");
}

/* Stops the vCPU (waiting at most STOP_WAIT_S: a thread that does not stop is
 * itself the answer) and says where the guest stands: its PC and exception
 * state, both timers' deadlines, the interrupt controller's pending state. */
static void describe_stall(struct runner *r, char *out, size_t len)
{
    size_t at = 0;
    machine_stop(r->m);
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += STOP_WAIT_S;
    if (pthread_timedjoin_np(r->thread, NULL, &limit) != 0) {
        append(out, len, &at, "the vCPU thread did not stop within %d s: it is stuck in the "
               "host (a lock, a device call), not in the guest\n", STOP_WAIT_S);
        return;
    }
    r->thread_done = true;
    static struct machine_snapshot st; /* large: 64 vCPUs */
    char err[256];
    if (machine_save(r->m, &st, err, sizeof(err)) < 0) {
        append(out, len, &at, "the vCPU stopped (exit %d) but the machine cannot be saved: %s\n",
               r->exit.reason, err);
        return;
    }
    const struct hv_vcpu_state *v = &st.vcpus[0];
    append(out, len, &at,
           "where the guest stands (vCPU exit %d):\n"
           "  pc 0x%llx, pstate 0x%llx (EL%llu, DAIF %llx), sp_el1 0x%llx, lr 0x%llx\n"
           "  elr_el1 0x%llx, esr_el1 0x%llx, far_el1 0x%llx, vbar_el1 0x%llx\n"
           "  counter 0x%llx (%.3f s since it started)\n",
           r->exit.reason, (unsigned long long)v->pc, (unsigned long long)v->pstate,
           (unsigned long long)((v->pstate >> 2) & 3), (unsigned long long)((v->pstate >> 6) & 0xf),
           (unsigned long long)v->sp_el1, (unsigned long long)v->x[30],
           (unsigned long long)v->elr_el1, (unsigned long long)v->esr_el1,
           (unsigned long long)v->far_el1, (unsigned long long)v->vbar_el1,
           (unsigned long long)v->counter, (double)v->counter / (double)COUNTER_HZ);
    describe_timer(out, len, &at, "virtual timer", v->cntv_ctl, v->cntv_cval, v->counter);
    describe_timer(out, len, &at, "physical timer", v->cntp_ctl, v->cntp_cval, v->counter);
    static struct gicv3_state gic; /* large */
    bool have_gic = false;
    for (unsigned i = 0; i < st.num_devices && !have_gic; i++)
        have_gic = !strcmp(st.devices[i].kind, "gicv3") &&
                   gicv3_state_decode(st.devices[i].state.data, st.devices[i].state.len, &gic,
                                      err, sizeof(err)) == 0;
    if (have_gic)
        describe_gic(out, len, &at, &gic);
    else
        append(out, len, &at, "  GIC: its saved state cannot be read\n");
    machine_snapshot_free(&st);
}

/* Waits for needle as serial_wait does; when it does not come, the assertion
 * message says where the guest stopped, after what it last wrote. */
static void expect_serial(struct runner *r, const char *needle, size_t *from, int timeout_s,
                          const char *what)
{
    if (serial_wait(&r->serial, needle, from, timeout_s))
        return;
    static char where[16384];
    describe_stall(r, where, sizeof(where));
    size_t len = serial_length(&r->serial);
    ck_abort_msg("%s: no \"%s\" within %d s; the serial console ends:\n%s\n%s", what, needle,
                 timeout_s, r->serial.text + (len > 3000 ? len - 3000 : 0), where);
}

static void boot_and_save(void)
{
    serial_init(&first.serial);
    struct machine_config c = base_config(&first.serial);
    char err[256];
    first.m = machine_create(&c, err, sizeof(err));
    ck_assert_msg(first.m != NULL, "%s", err);
    runner_start(&first);
    size_t from = 0;
    expect_serial(&first, "GUEST: shell ready", &from, BOOT_TIMEOUT_S,
                  "the guest did not reach its shell");
    expect_serial(&first, "# ", &from, ANSWER_TIMEOUT_S, "the guest did not show its prompt");
    runner_stop(&first);
    ck_assert_msg(machine_save(first.m, &saved, err, sizeof(err)) == 0, "%s", err);
    uint64_t size;
    const void *ram = machine_ram(first.m, &size);
    ck_assert_uint_eq(size, RAM_SIZE);
    ck_assert_int_ge(machine_ram_fd(first.m), 0);
    saved_ram = ram_copy(ram);
}

static void release_saved(void)
{
    machine_destroy(first.m);
    machine_snapshot_free(&saved);
    munmap(saved_ram, RAM_SIZE);
}

static struct machine *restore(struct serial *serial, const struct machine_snapshot *s,
                               char *err, size_t err_len)
{
    struct machine_config c = base_config(serial);
    c.kernel_path = "/nonexistent"; /* a restore loads no kernel */
    c.restore = s;
    c.restore_ram = ram_copy(saved_ram);
    return machine_create(&c, err, err_len);
}

/* ---- reading the devices' state, each through its own decoder -------------------- */

/* The machine's devices with state, in table order. */
static const struct {
    const char *kind;
    uint64_t base;
} expected_devices[] = {
    {"gicv3", MACHINE_GICD_BASE},
    {"pl011", MACHINE_UART_BASE},
    {"pl031", MACHINE_RTC_BASE},
    {"vmgenid", MACHINE_GENID_BASE},
    {"virtio-rng", MACHINE_VIRTIO_BASE},
    {"virtio-gpu", MACHINE_VIRTIO_BASE + 0x200},
    {"virtio-input-keyboard", MACHINE_VIRTIO_BASE + 0x400},
    {"virtio-input-tablet", MACHINE_VIRTIO_BASE + 0x600},
};
#define NUM_DEVICES (sizeof(expected_devices) / sizeof(expected_devices[0]))
enum { GIC, UART, RTC, GENID, RNG, GPU, KEYBOARD, TABLET };

static struct device_state_bytes *bytes_of(struct machine_snapshot *s, unsigned i)
{
    ck_assert_uint_lt(i, s->num_devices);
    return &s->devices[i].state;
}

static void decode_gic(struct machine_snapshot *s, struct gicv3_state *out)
{
    char err[256] = "";
    struct device_state_bytes *b = bytes_of(s, GIC);
    ck_assert_msg(gicv3_state_decode(b->data, b->len, out, err, sizeof(err)) == 0, "%s", err);
}

static void decode_transport(struct machine_snapshot *s, unsigned i, struct virtio_mmio_state *out)
{
    char err[256] = "";
    struct device_state_bytes *b = bytes_of(s, i);
    ck_assert_msg(virtio_mmio_state_decode(b->data, b->len, out, "virtio", err, sizeof(err)) == 0,
                  "%s", err);
}

static void decode_gpu(struct machine_snapshot *s, struct virtio_gpu_state *out)
{
    static struct virtio_mmio_state t;
    char err[256] = "";
    decode_transport(s, GPU, &t);
    ck_assert_msg(virtio_gpu_state_decode(t.device.data, t.device.len, out, err, sizeof(err)) == 0,
                  "%s", err);
    virtio_mmio_state_free(&t);
}

/* A copy of s whose device i holds other bytes (s keeps its own). */
static void replace_state(struct machine_snapshot *copy, const struct machine_snapshot *s,
                          unsigned i, struct device_state_bytes bytes)
{
    *copy = *s;
    copy->devices[i].state = bytes;
}

static struct gicv3_state gic_saved, gic_again;

/* ---- tests ----------------------------------------------------------------------- */

START_TEST(test_saved_state_is_a_running_guest)
{
    ck_assert_uint_eq(saved.num_devices, NUM_DEVICES);
    for (unsigned i = 0; i < NUM_DEVICES; i++) {
        ck_assert_str_eq(saved.devices[i].kind, expected_devices[i].kind);
        ck_assert_uint_eq(saved.devices[i].base, expected_devices[i].base);
    }
    static const uint32_t virtio_ids[] = {4, 16, 18, 18}; /* rng, gpu, keyboard, tablet */
    for (unsigned n = 0; n < 4; n++) {
        struct virtio_mmio_state t;
        decode_transport(&saved, RNG + n, &t);
        ck_assert_uint_eq(t.device_id, virtio_ids[n]);
        ck_assert_uint_eq(t.status & 0x4, 0x4); /* DRIVER_OK */
        virtio_mmio_state_free(&t);
    }
    struct virtio_gpu_state gpu;
    decode_gpu(&saved, &gpu);
    ck_assert_uint_ge(gpu.num_resources, 1); /* the console's framebuffer */
    ck_assert_uint_eq(gpu.scanouts[0].enabled, 1);
    ck_assert_uint_ne(gpu.scanouts[0].resource_id, 0);
    virtio_gpu_state_free(&gpu);
    decode_gic(&saved, &gic_saved);
    ck_assert_uint_eq(gic_saved.num_spis, MACHINE_NUM_SPIS);
    ck_assert_uint_eq(gic_saved.icc_igrpen1, 1);
    ck_assert_uint_eq(saved.vcpus[0].sctlr_el1 & 1, 1); /* the MMU is on */
    /* Stopped in the kernel, or in a user process at EL0 (the shell, say):
     * where the guest was is a matter of timing, but it is one or the other. */
    bool at_el0 = (saved.vcpus[0].pstate & 0xf) == 0;
    if (at_el0)
        ck_assert_uint_lt(saved.vcpus[0].pc, 0x0001000000000000ull);
    else
        ck_assert_uint_ge(saved.vcpus[0].pc, 0xffff000000000000ull);
}
END_TEST

static void assert_same_bytes(struct machine_snapshot *a, struct machine_snapshot *b, unsigned i)
{
    struct device_state_bytes *x = bytes_of(a, i), *y = bytes_of(b, i);
    ck_assert_msg(x->len == y->len && memcmp(x->data, y->data, x->len) == 0,
                  "the %s's state differs", expected_devices[i].kind);
}

/* Saved again before it runs, the restored machine holds what was saved. */
START_TEST(test_restored_machine_holds_the_saved_state)
{
    static struct serial serial;
    static struct machine_snapshot again;
    serial_init(&serial);
    char err[256];
    struct machine *m = restore(&serial, &saved, err, sizeof(err));
    ck_assert_msg(m != NULL, "%s", err);
    ck_assert_int_eq(machine_ram_fd(m), -1);
    ck_assert_msg(machine_save(m, &again, err, sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(again.num_devices, saved.num_devices);
    /* One difference: the restore is a new generation, whose edge waits in
     * the GIC for the guest (its driver configured the line edge-triggered). */
    decode_gic(&saved, &gic_saved);
    decode_gic(&again, &gic_again);
    struct gicv3_irq_state *genid = &gic_again.irqs[MACHINE_GENID_INTID];
    ck_assert_uint_eq(genid->edge, 1);
    ck_assert_uint_eq(genid->pending, 1);
    ck_assert_uint_eq(genid->line, 0);
    genid->pending = gic_saved.irqs[MACHINE_GENID_INTID].pending;
    ck_assert_mem_eq(&gic_again, &gic_saved, sizeof(gic_saved));
    struct vmgenid_state id_saved, id_again;
    struct device_state_bytes *b = bytes_of(&saved, GENID);
    ck_assert_int_eq(vmgenid_state_decode(b->data, b->len, &id_saved, err, sizeof(err)), 0);
    b = bytes_of(&again, GENID);
    ck_assert_int_eq(vmgenid_state_decode(b->data, b->len, &id_again, err, sizeof(err)), 0);
    ck_assert_mem_ne(id_again.id, id_saved.id, sizeof(id_saved.id));
    assert_same_bytes(&again, &saved, UART);
    assert_same_bytes(&again, &saved, RTC);
    assert_same_bytes(&again, &saved, RNG);
    assert_same_bytes(&again, &saved, KEYBOARD);
    assert_same_bytes(&again, &saved, TABLET);
    struct virtio_mmio_state t_saved, t_again;
    decode_transport(&saved, GPU, &t_saved);
    decode_transport(&again, GPU, &t_again);
    ck_assert_mem_eq(&t_again, &t_saved, offsetof(struct virtio_mmio_state, device));
    virtio_mmio_state_free(&t_saved);
    virtio_mmio_state_free(&t_again);
    ck_assert_mem_eq(again.vcpus[0].x, saved.vcpus[0].x, sizeof(saved.vcpus[0].x));
    ck_assert_uint_eq(again.vcpus[0].pc, saved.vcpus[0].pc);
    ck_assert_uint_eq(again.vcpus[0].ttbr1_el1, saved.vcpus[0].ttbr1_el1);
    ck_assert_uint_ge(again.vcpus[0].counter, saved.vcpus[0].counter);
    static struct virtio_gpu_state gpu_saved, gpu_again;
    decode_gpu(&saved, &gpu_saved);
    decode_gpu(&again, &gpu_again);
    ck_assert_uint_eq(gpu_again.num_resources, gpu_saved.num_resources);
    ck_assert_mem_eq(gpu_again.scanouts, gpu_saved.scanouts, sizeof(gpu_saved.scanouts));
    virtio_gpu_state_free(&gpu_saved);
    virtio_gpu_state_free(&gpu_again);
    machine_snapshot_free(&again);
    machine_destroy(m);
}
END_TEST

START_TEST(test_restored_machine_answers_at_its_shell)
{
    static struct runner second;
    serial_init(&second.serial);
    char err[256];
    second.m = restore(&second.serial, &saved, err, sizeof(err));
    ck_assert_msg(second.m != NULL, "%s", err);
    runner_start(&second);
    expect_answer(&second, "echo RESTORED-$((6*7))\n", "RESTORED-42");
    runner_stop(&second);
    machine_destroy(second.m);
}
END_TEST

START_TEST(test_saved_machine_continues_after_clear_stop)
{
    struct hv_exit exit;
    machine_run(first.m, &exit); /* the stop still holds */
    ck_assert_int_eq(exit.reason, HV_EXIT_STOPPED);
    machine_clear_stop(first.m);
    runner_start(&first);
    expect_answer(&first, "echo CONTINUED-$((6*7))\n", "CONTINUED-42");
    runner_stop(&first);
}
END_TEST

static void assert_refused(const struct machine_config *c, const char *reason)
{
    char err[256] = "";
    struct machine *m = machine_create(c, err, sizeof(err));
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err, reason) != NULL, "error \"%s\" does not say \"%s\"", err, reason);
}

START_TEST(test_machine_without_the_gpu_is_refused)
{
    static struct serial serial;
    struct machine_config c = base_config(&serial);
    c.gpu = false;
    c.restore = &saved;
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, "the snapshot's machine has 8 devices, this one 5");
}
END_TEST

START_TEST(test_device_of_another_type_is_refused)
{
    static struct serial serial;
    static struct machine_snapshot other;
    other = saved;
    snprintf(other.devices[GPU].kind, sizeof(other.devices[GPU].kind), "virtio-blk");
    struct machine_config c = base_config(&serial);
    c.restore = &other;
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, "the snapshot holds a virtio-blk at 0xa000200 where this machine has a "
                   "virtio-gpu");
}
END_TEST

/* Refused by the device itself: the manifest's kind is right, the bytes are
 * another device's. */
START_TEST(test_state_of_another_device_is_refused)
{
    static struct serial serial;
    static struct machine_snapshot other;
    replace_state(&other, &saved, GPU, saved.devices[RNG].state);
    struct machine_config c = base_config(&serial);
    c.restore = &other;
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, "cannot restore the virtio-gpu at 0xa000200: the snapshot holds virtio "
                   "device id 4 here, not 16");
}
END_TEST

static struct device_state_bytes encoded(int rc, struct device_state_bytes b)
{
    ck_assert_int_eq(rc, 0);
    return b;
}

static void assert_state_refused(unsigned i, struct device_state_bytes bad, const char *reason)
{
    static struct serial serial;
    static struct machine_snapshot copy;
    struct machine_config c = base_config(&serial);
    replace_state(&copy, &saved, i, bad);
    c.restore = &copy;
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, reason);
    free(bad.data);
}

/* Each device's load checks what it is given; the message names the device. */
START_TEST(test_bad_device_state_is_refused_by_name)
{
    static struct gicv3_state gic;
    static struct pl011_state uart;
    struct pl031_state rtc;
    struct virtio_mmio_state t;
    struct virtio_gpu_state gpu;
    struct device_state_bytes b;
    char err[256];

    decode_gic(&saved, &gic);
    gic.num_spis = 96; /* a count the format holds, but not this machine's */
    assert_state_refused(GIC, encoded(gicv3_state_encode(&gic, &b), b),
                         "cannot restore the gicv3");

    b = *bytes_of(&saved, UART);
    ck_assert_int_eq(pl011_state_decode(b.data, b.len, &uart, err, sizeof(err)), 0);
    uart.rx_count = 5; /* bytes waiting, but no receive interrupt raised */
    assert_state_refused(UART, encoded(pl011_state_encode(&uart, &b), b),
                         "cannot restore the pl011");

    b = *bytes_of(&saved, RTC);
    ck_assert_int_eq(pl031_state_decode(b.data, b.len, &rtc, err, sizeof(err)), 0);
    rtc.imsc = 0xff;
    assert_state_refused(RTC, encoded(pl031_state_encode(&rtc, &b), b),
                         "cannot restore the pl031");

    decode_transport(&saved, KEYBOARD, &t);
    t.queues[0].desc = 0x1000; /* outside guest RAM */
    assert_state_refused(KEYBOARD, encoded(virtio_mmio_state_encode(&t, &b), b),
                         "cannot restore the virtio-input-keyboard at 0xa000400");
    virtio_mmio_state_free(&t);

    decode_gpu(&saved, &gpu);
    gpu.scanouts[0].resource_id = 0xdead;
    decode_transport(&saved, GPU, &t);
    free(t.device.data);
    t.device = encoded(virtio_gpu_state_encode(&gpu, &b), b);
    assert_state_refused(GPU, encoded(virtio_mmio_state_encode(&t, &b), b),
                         "cannot restore the virtio-gpu");
    virtio_mmio_state_free(&t);
    virtio_gpu_state_free(&gpu);

    static struct serial serial;
    static struct machine_snapshot bad;
    struct machine_config c = base_config(&serial);
    bad = saved;
    bad.vcpus[0].backend[0] = 0;
    c.restore = &bad;
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, "cannot restore vCPU 0");

    /* Another number of vCPUs, and a register list emu never keeps. */
    bad = saved;
    bad.num_vcpus = 2;
    bad.vcpus[1] = saved.vcpus[0];
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, "the snapshot's machine has 2 vCPUs, this one 1");
    bad = saved;
    bad.vcpus[0].num_regs = 1;
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, "cannot restore vCPU 0");
    bad = saved;
    bad.vcpus[0].power = HV_VCPU_OFF;
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, "cannot restore vCPU 0");
}
END_TEST

START_TEST(test_memory_without_state_is_refused)
{
    static struct serial serial;
    struct machine_config c = base_config(&serial);
    c.restore_ram = ram_copy(NULL);
    assert_refused(&c, "no snapshot state");
}
END_TEST

/* ---- the guest assets ------------------------------------------------------------- */

static bool find_guest(void)
{
    const char *candidates[3] = {getenv("IGNITION_GUEST_DIR"), IGNITION_GUEST_DIR,
                                 IGNITION_GUEST_DIR_FALLBACK};
    for (int i = 0; i < 3; i++) {
        if (!candidates[i])
            continue;
        snprintf(kernel_path, sizeof(kernel_path), "%s/Image", candidates[i]);
        snprintf(initrd_path, sizeof(initrd_path), "%s/initramfs.cpio.gz", candidates[i]);
        if (access(kernel_path, R_OK) == 0 && access(initrd_path, R_OK) == 0) {
            snprintf(guest_dir, sizeof(guest_dir), "%s", candidates[i]);
            return true;
        }
    }
    return false;
}

static Suite *machine_snapshot_suite(bool with_guest)
{
    Suite *s = suite_create("machine_snapshot");
    if (!with_guest)
        return s;
    TCase *tc = tcase_create("real_guest");
    /* Booted once, before Check forks for each test: each test gets its own copy
     * of the stopped machine and its saved state. */
    tcase_add_unchecked_fixture(tc, boot_and_save, release_saved);
    tcase_set_timeout(tc, BOOT_TIMEOUT_S + 2 * ANSWER_TIMEOUT_S);
    tcase_add_test(tc, test_saved_state_is_a_running_guest);
    tcase_add_test(tc, test_restored_machine_holds_the_saved_state);
    tcase_add_test(tc, test_restored_machine_answers_at_its_shell);
    tcase_add_test(tc, test_saved_machine_continues_after_clear_stop);
    tcase_add_test(tc, test_machine_without_the_gpu_is_refused);
    tcase_add_test(tc, test_device_of_another_type_is_refused);
    tcase_add_test(tc, test_state_of_another_device_is_refused);
    tcase_add_test(tc, test_bad_device_state_is_refused_by_name);
    tcase_add_test(tc, test_memory_without_state_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    bool with_guest = find_guest();
    if (with_guest)
        printf("machine_snapshot: guest from %s\n", guest_dir);
    else
        printf("machine_snapshot: NOT RUN - no Image and initramfs.cpio.gz in "
               "$IGNITION_GUEST_DIR, %s or %s (run tools/build-guest)\n",
               IGNITION_GUEST_DIR, IGNITION_GUEST_DIR_FALLBACK);
    fflush(stdout); /* before Check forks, or the line is printed once per test */
    return run_suite(machine_snapshot_suite(with_guest));
}
