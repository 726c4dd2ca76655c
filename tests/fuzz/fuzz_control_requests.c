/* libFuzzer harness: the request handlers of vmmd and of a guest worker, fed
 * through the control server they share (proto/control_server.h) as a client
 * would feed them: over a socket.
 *
 * The first input byte chooses whose (even: the worker's, odd: vmmd's); the
 * rest is what the client sends, frames and all (a Hello, then requests, or
 * anything else). The harness reads and drops the replies, shuts its side once
 * all is sent, and runs the loop until the server has closed the connection or
 * a bounded number of rounds has passed. Whatever comes in must end with
 * nothing out of bounds and nothing leaked.
 *
 * vmmd's handlers run on a real registry of guests in a private state
 * directory (removed at exit); the program its workers run is /bin/false, so
 * a start that gets that far fails as a broken install would, and nothing else
 * is started. The worker's snapshot callback takes no snapshot: it answers
 * from the path whether it could, so that both answers are reached. */
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "supervisor/supervisor.h"
#include "util.h"
#include "worker/worker_control.h"

#define MAX_ROUNDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_base *base;
static struct worker_control *worker;
static struct supervisor *vmmd;
static char state_dir[64] = "/tmp/ignition-fuzz-vmmd-XXXXXX";
static char run_dir[96];

static int harness_snapshot(void *opaque, const char *path, char *err, size_t err_len)
{
    (void)opaque;
    if (strlen(path) % 2) {
        set_message(err, err_len, "the harness takes no snapshots");
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

static void remove_state(void)
{
    supervisor_close(vmmd);
    worker_control_destroy(worker);
    event_base_free(base);
    nftw(state_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void init(void)
{
    char err[512];
    base = event_base_new();
    if (!base || !mkdtemp(state_dir))
        abort();
    snprintf(run_dir, sizeof(run_dir), "%s/run", state_dir);
    if (mkdir(run_dir, 0700) < 0)
        abort();
    const struct worker_control_ops ops = {.snapshot = harness_snapshot};
    worker = worker_control_create(base, NULL, &ops, err, sizeof(err));
    vmmd = supervisor_open(base, state_dir, run_dir, "/bin/false", err, sizeof(err));
    if (!worker || !vmmd) {
        fprintf(stderr, "fuzz_control_requests: %s\n", err);
        abort();
    }
    atexit(remove_state);
}

/* Reads what the server sent; false once it has closed its side. */
static bool drain(int fd)
{
    uint8_t buf[4096];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        return n < 0; /* EAGAIN: still open; 0: closed */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base)
        init();
    if (size < 1)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    bool to_vmmd = data[0] & 1;
    if (!(to_vmmd ? supervisor_adopt(vmmd, sv[1]) : worker_control_adopt(worker, sv[1]))) {
        close(sv[0]);
        return 0;
    }
    const uint8_t *at = data + 1, *end = data + size;
    bool open = true, shut = false;
    for (unsigned round = 0; round < MAX_ROUNDS && open; round++) {
        if (at < end) {
            ssize_t n = write(sv[0], at, (size_t)(end - at));
            if (n > 0)
                at += n;
        }
        if (at == end && !shut)
            shut = shutdown(sv[0], SHUT_WR) == 0;
        event_base_loop(base, EVLOOP_NONBLOCK);
        open = drain(sv[0]);
    }
    close(sv[0]);
    /* The server sees the close and lets go of the connection (one still
     * owed an answer keeps it until its guest settles). */
    for (int i = 0; i < 3; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    return 0;
}
