/* Opening the Unicorn engine the emu backend runs a guest on: the CPU model and
 * the translation buffer.
 *
 * Unicorn up to 2.1.2 never makes the initial allocation of its translation
 * buffer's one region (QEMU does it per vCPU thread; Unicorn's tcg_region_init
 * leaves it out). So the first time the buffer fills, tcg_tb_alloc "allocates"
 * that region: it starts writing code at the beginning of the buffer again
 * without flushing anything. Every block translated until then stays in the
 * block hash table, the jump cache, the page lists, the chained jumps and the
 * host-address tree while its code and header are overwritten. From then on
 * cpu_restore_state mostly cannot map the host address of a faulting access
 * back to its guest instruction, and the exception is reported at the PC last
 * written back to the CPU state: the start of the block, or the instruction of
 * the last MRS/SYS hook. A Linux guest that takes such a fault on a uaccess
 * instruction finds no exception-table entry for the reported PC and oopses
 * ("access to user memory outside uaccess routines"); a jump chained to a
 * stale block can crash the VMM. A guest fills the 1 GiB default buffer in
 * about 100 s of a JavaScript JIT's code churn.
 *
 * One flush before the first translation makes that allocation (a flush resets
 * the region and allocates it); every later fill is then a real flush. Unicorn
 * fixed it in 2.1.3 ("Init tcg region buffer"); the flush is harmless there. */
#include "emu_internal.h"

#include <pthread.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* Unicorn before 2.1.2 also zeroes the whole buffer at every flush, so the
 * start-up flush touches all of it: about 0.7 ms of CPU time and the memory
 * itself per MiB here. Booting to a shell fills about 64 MiB, a browser with
 * its JavaScript JIT about 10 MiB a second, most of it code already dropped.
 * The cap also bounds what a long-running guest's translations keep resident
 * (the default buffer ends up wholly resident). Later versions touch the
 * buffer only as code is written, and keep their default (1 GiB). */
#define ZEROED_BUFFER_BYTES (128u << 20)

static bool flush_zeroes_buffer(void)
{
    unsigned major, minor;
    unsigned patch = (uc_version(&major, &minor) >> 8) & 0xff;
    return major < 2 || (major == 2 && (minor < 1 || (minor == 1 && patch < 2)));
}

/* Unicorn asks for transparent huge pages over its buffer (madvise), so the
 * zeroing flush faults it in 2 MiB at a time. On the 2-core VM the benchmarks
 * run on, half of the opens measured that way took 0.5-3.3 s of wall time (up
 * to 1 s of CPU, nearly all of it the kernel clearing fresh huge pages), the
 * rest 0.04-0.06 s; with 4 KiB pages every open took 0.07-0.21 s. A guest's
 * boot waits for it, so the flush runs with huge pages off for the process
 * (the flag is read at fault time; khugepaged may still merge the pages
 * later). The lock keeps two engines opening at once from restoring each
 * other's setting. */
static pthread_mutex_t huge_page_lock = PTHREAD_MUTEX_INITIALIZER;

static uc_err flush_in_small_pages(uc_engine *uc)
{
#ifdef PR_SET_THP_DISABLE
    pthread_mutex_lock(&huge_page_lock);
    bool were_on = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) == 0;
    if (were_on)
        prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
    uc_err err = uc_ctl_flush_tb(uc);
    if (were_on)
        prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0);
    pthread_mutex_unlock(&huge_page_lock);
    return err;
#else
    return uc_ctl_flush_tb(uc);
#endif
}

int emu_engine_open(uc_engine **out, uint32_t buffer_bytes)
{
    uc_engine *uc;
    *out = NULL;
    if (uc_open(UC_ARCH_ARM64, UC_MODE_ARM, &uc) != UC_ERR_OK)
        return -1;
    bool zeroing = flush_zeroes_buffer();
    if (buffer_bytes == 0 && zeroing)
        buffer_bytes = ZEROED_BUFFER_BYTES;
    /* cortex-a57: "max" would bring PAuth/BTI/PAN paths and is much slower.
     * Both settings must precede the engine's initialisation, which the flush
     * (like any first use) triggers. */
    if (uc_ctl_set_cpu_model(uc, UC_CPU_ARM64_A57) != UC_ERR_OK ||
        (buffer_bytes && uc_ctl_set_tcg_buffer_size(uc, buffer_bytes) != UC_ERR_OK) ||
        (zeroing ? flush_in_small_pages(uc) : uc_ctl_flush_tb(uc)) != UC_ERR_OK) {
        uc_close(uc);
        return -1;
    }
    *out = uc;
    return 0;
}
