/* emu-barrier-litmus: does the guest's DMB order its memory accesses against
 * another host thread under Unicorn? The "store buffering" test: the guest
 * stores A then (after `dmb ish`) loads B; a host thread stores B then (after a
 * full host fence) loads A. With both barriers real, at least one of the two
 * loads sees the other side's store; the count of rounds in which both saw the
 * old value is what the guest's barrier failed to prevent. That is the
 * handshake a virtio driver and a device thread make over the event indexes
 * (vmmd/devices/virtqueue.h), which is why vmmd looks again as the guest idles.
 *
 *   emu-barrier-litmus [--membarrier] [ROUNDS]
 *
 * --membarrier makes the host side fence the vCPU thread too (Linux's
 * membarrier(2)), which forbids the outcome; it is slow (an inter-processor
 * interrupt a round: the time per round is printed), so it also leaves the
 * guest's store more time to drain, and a zero there is no proof of the
 * cause by itself. Run it on an otherwise quiet machine with two free cores. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicorn/unicorn.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

#define MEM_SIZE (8u << 20)
#define CODE 0x10000u
#define DATA 0x100000u
#define GO (DATA + 0)     /* the round the host has started */
#define A (DATA + 64)     /* the guest's flag */
#define B (DATA + 128)    /* the host's flag */
#define ACK (DATA + 192)  /* the round the guest has finished */
#define SEEN (DATA + 4096) /* what the guest's load saw, per round */
#define MAX_ROUNDS ((MEM_SIZE - SEEN) / 4 - 1)

/* x0 = &GO, x1 = &A, x2 = &B, x6 = &SEEN, x8 = &ACK, w4 = round (from 1), w7 = last. */
static const uint32_t guest_code[] = {
    0xb9400003, /* 0: ldr w3, [x0]           wait for the round */
    0x6b04007f, /*    cmp w3, w4 */
    0x54ffffc1, /*    b.ne 0 */
    0xb9000024, /*    str w4, [x1]           A = round */
    0xd5033bbf, /*    dmb ish */
    0xb9400045, /*    ldr w5, [x2]           what is B? */
    0xb82478c5, /*    str w5, [x6, x4, lsl #2] */
    0xb9000104, /*    str w4, [x8]           done with the round */
    0x11000484, /*    add w4, w4, #1 */
    0x6b07009f, /*    cmp w4, w7 */
    0x54fffec9, /*    b.ls 0 */
};
#define CODE_END (CODE + sizeof(guest_code))

struct litmus {
    uc_engine *uc;
    uint8_t *mem;
    uc_err err;
};

static _Atomic uint32_t *word(struct litmus *l, uint32_t addr)
{
    return (_Atomic uint32_t *)(void *)(l->mem + addr);
}

static void *run_vcpu(void *arg)
{
    struct litmus *l = arg;
    l->err = uc_emu_start(l->uc, CODE, CODE_END, 0, 0);
    return NULL;
}

static int fence_every_thread(void)
{
#ifdef __linux__
    return (int)syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static int set_up(struct litmus *l, uint32_t rounds)
{
    l->mem = aligned_alloc(4096, MEM_SIZE);
    if (!l->mem || uc_open(UC_ARCH_ARM64, UC_MODE_ARM, &l->uc) != UC_ERR_OK ||
        uc_mem_map_ptr(l->uc, 0, MEM_SIZE, UC_PROT_ALL, l->mem) != UC_ERR_OK)
        return -1;
    memset(l->mem, 0, MEM_SIZE);
    memcpy(l->mem + CODE, guest_code, sizeof(guest_code));
    const struct { int reg; uint64_t value; } regs[] = {
        {UC_ARM64_REG_X0, GO}, {UC_ARM64_REG_X1, A}, {UC_ARM64_REG_X2, B},
        {UC_ARM64_REG_X6, SEEN}, {UC_ARM64_REG_X8, ACK}, {UC_ARM64_REG_X4, 1},
        {UC_ARM64_REG_X7, rounds},
    };
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        if (uc_reg_write(l->uc, regs[i].reg, &regs[i].value) != UC_ERR_OK)
            return -1;
    return 0;
}

/* One round on the host's side: start it, wait a varying moment so that the
 * two sides meet at every offset, store B, fence, load A. */
static uint32_t host_round(struct litmus *l, uint32_t round, bool membarrier, unsigned *seed)
{
    atomic_store_explicit(word(l, GO), round, memory_order_release);
    *seed = *seed * 1103515245u + 12345u;
    for (volatile unsigned spin = (*seed >> 16) & 255; spin; spin--)
        ;
    atomic_store_explicit(word(l, B), round, memory_order_relaxed);
    if (membarrier)
        fence_every_thread();
    else
        atomic_thread_fence(memory_order_seq_cst);
    uint32_t seen_a = atomic_load_explicit(word(l, A), memory_order_relaxed);
    while (atomic_load_explicit(word(l, ACK), memory_order_acquire) != round)
        ;
    return seen_a;
}

int main(int argc, char **argv)
{
    bool membarrier = argc > 1 && strcmp(argv[1], "--membarrier") == 0;
    const char *count = argc > 1 + membarrier ? argv[1 + membarrier] : "200000";
    uint32_t rounds = (uint32_t)strtoul(count, NULL, 10);
    if (rounds == 0 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: emu-barrier-litmus [--membarrier] [ROUNDS, 1..%u]\n",
                (unsigned)MAX_ROUNDS);
        return 2;
    }
#ifdef __linux__
    if (membarrier &&
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) != 0) {
        perror("membarrier");
        return 1;
    }
#endif
    struct litmus l = {0};
    if (set_up(&l, rounds) < 0) {
        fprintf(stderr, "emu-barrier-litmus: could not set up the Unicorn engine\n");
        return 1;
    }
    uint32_t *host_saw = calloc(rounds + 1u, sizeof(uint32_t));
    pthread_t vcpu;
    if (!host_saw || pthread_create(&vcpu, NULL, run_vcpu, &l) != 0)
        return 1;
    unsigned seed = 1;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (uint32_t round = 1; round <= rounds; round++)
        host_saw[round] = host_round(&l, round, membarrier, &seed);
    clock_gettime(CLOCK_MONOTONIC, &end);
    pthread_join(vcpu, NULL);
    if (l.err != UC_ERR_OK) {
        fprintf(stderr, "emu-barrier-litmus: the guest stopped: %s\n", uc_strerror(l.err));
        return 1;
    }
    unsigned both_old = 0;
    for (uint32_t round = 1; round <= rounds; round++) {
        uint32_t guest_saw = atomic_load(word(&l, SEEN + 4u * round));
        both_old += host_saw[round] < round && guest_saw < round;
    }
    double us = ((double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec)) /
                1e3 / rounds;
    printf("%u rounds, host side %s: both loads saw the old value in %u (%.3f %%); "
           "%.1f us a round\n",
           rounds, membarrier ? "membarrier" : "fence", both_old, 100.0 * both_old / rounds, us);
    uc_close(l.uc);
    free(l.mem);
    free(host_saw);
    return 0;
}
