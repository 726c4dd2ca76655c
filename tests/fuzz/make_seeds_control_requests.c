/* Writes the seeds of fuzz_control_requests: conversations a client has with
 * vmmd or a guest worker (the harness's first byte, then the frames), each a
 * Hello followed by the requests vmmctl sends, so that mutations start from
 * what the handlers take and reach past the handshake.
 *   make_seeds_control_requests SEEDS_DIR   (tests/fuzz/seeds) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ignition.pb-c.h"
#include "wire.h"

#define TO_WORKER 0
#define TO_VMMD 1

static const char *seeds_dir;
static uint8_t conversation[1 << 16];
static size_t used;

static void begin(uint8_t whom)
{
    conversation[0] = whom;
    used = 1;
}

static void add(const Ignition__Envelope *env)
{
    uint8_t *frame;
    size_t len;
    int rc = wire_encode(env, &frame, &len);
    if (rc < 0 || len > sizeof(conversation) - used) {
        fprintf(stderr, "make_seeds_control_requests: cannot encode a request (%d)\n", rc);
        exit(1);
    }
    memcpy(conversation + used, frame, len);
    used += len;
    free(frame);
}

static void hello(void)
{
    Ignition__Hello h = IGNITION__HELLO__INIT;
    h.protocol_version = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    h.client_name = "vmmctl";
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    add(&env);
}

static void write_seed(const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/fuzz_control_requests/%s", seeds_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(conversation, 1, used, f) != used || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Requests that name a guest, one per case of the Envelope. */
static void named(Ignition__Envelope__BodyCase which, const char *name)
{
    Ignition__StopRequest stop = IGNITION__STOP_REQUEST__INIT;
    Ignition__StatusRequest status = IGNITION__STATUS_REQUEST__INIT;
    Ignition__RemoveRequest remove = IGNITION__REMOVE_REQUEST__INIT;
    Ignition__AttachRequest attach = IGNITION__ATTACH_REQUEST__INIT;
    Ignition__ConsoleAttachRequest console = IGNITION__CONSOLE_ATTACH_REQUEST__INIT;
    Ignition__RelaunchRequest relaunch = IGNITION__RELAUNCH_REQUEST__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    stop.name = status.name = remove.name = attach.name = console.name = relaunch.name =
        (char *)name;
    stop.timeout_ms = 1000;
    env.body_case = which;
    switch (which) { /* the body is a oneof: one member of a union */
    case IGNITION__ENVELOPE__BODY_STOP: env.stop = &stop; break;
    case IGNITION__ENVELOPE__BODY_STATUS: env.status = &status; break;
    case IGNITION__ENVELOPE__BODY_REMOVE: env.remove = &remove; break;
    case IGNITION__ENVELOPE__BODY_ATTACH: env.attach = &attach; break;
    case IGNITION__ENVELOPE__BODY_CONSOLE_ATTACH: env.console_attach = &console; break;
    default: env.relaunch = &relaunch; break;
    }
    add(&env);
}

static void list(void)
{
    Ignition__ListRequest l = IGNITION__LIST_REQUEST__INIT;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_LIST;
    env.list = &l;
    add(&env);
}

static void start(const char *name)
{
    static char *disks[] = {"/srv/images/rootfs.ext4,ro", "/srv/images/data.img"};
    Ignition__GuestConfig c = IGNITION__GUEST_CONFIG__INIT;
    c.kernel = "/srv/images/Image";
    c.initrd = "/srv/images/initramfs.cpio.gz";
    c.append = "console=ttyAMA0 root=/dev/vda";
    c.n_disks = 2, c.disks = disks;
    c.mem_bytes = 512ull << 20, c.cpus = 1, c.backend = "emu", c.gui = true;
    c.display_width = 1280, c.display_height = 800;
    Ignition__StartRequest s = IGNITION__START_REQUEST__INIT;
    s.name = (char *)name, s.config = &c, s.config_given = true;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_START;
    env.start = &s;
    add(&env);
}

static void snapshot(const char *name, const char *path)
{
    Ignition__SnapshotRequest s = IGNITION__SNAPSHOT_REQUEST__INIT;
    s.name = (char *)name, s.path = (char *)path;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_SNAPSHOT;
    env.snapshot = &s;
    add(&env);
}

static void from_snapshot(Ignition__Envelope__BodyCase which, const char *path)
{
    Ignition__RestoreRequest r = IGNITION__RESTORE_REQUEST__INIT;
    Ignition__FanoutRequest f = IGNITION__FANOUT_REQUEST__INIT;
    Ignition__RemoveSnapshotRequest rm = IGNITION__REMOVE_SNAPSHOT_REQUEST__INIT;
    r.name = "warm-1", r.path = f.path = rm.path = (char *)path;
    f.prefix = "clone-", f.count = 4;
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = which;
    if (which == IGNITION__ENVELOPE__BODY_RESTORE)
        env.restore = &r;
    else if (which == IGNITION__ENVELOPE__BODY_FANOUT)
        env.fanout = &f;
    else
        env.remove_snapshot = &rm;
    add(&env);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds_control_requests SEEDS_DIR\n");
        return 2;
    }
    seeds_dir = argv[1];

    begin(TO_WORKER), hello(), snapshot("", "/var/lib/ignition/snapshots/warm");
    write_seed("worker-snapshot");
    begin(TO_WORKER), hello(), snapshot("", "relative/path"), list();
    write_seed("worker-refusals");
    begin(TO_WORKER), snapshot("", "/before/hello");
    write_seed("worker-no-hello");

    begin(TO_VMMD), hello(), list(), named(IGNITION__ENVELOPE__BODY_STATUS, "demo");
    write_seed("vmmd-list-status");
    begin(TO_VMMD), hello(), start("demo"), named(IGNITION__ENVELOPE__BODY_STATUS, "demo");
    write_seed("vmmd-start");
    begin(TO_VMMD), hello(), named(IGNITION__ENVELOPE__BODY_STOP, "demo"),
        named(IGNITION__ENVELOPE__BODY_REMOVE, "demo");
    write_seed("vmmd-stop-remove");
    begin(TO_VMMD), hello(), named(IGNITION__ENVELOPE__BODY_ATTACH, "demo"),
        named(IGNITION__ENVELOPE__BODY_CONSOLE_ATTACH, "demo");
    write_seed("vmmd-attach");
    begin(TO_VMMD), hello(), snapshot("demo", "warm"),
        from_snapshot(IGNITION__ENVELOPE__BODY_RESTORE, "warm");
    write_seed("vmmd-snapshot-restore");
    begin(TO_VMMD), hello(), from_snapshot(IGNITION__ENVELOPE__BODY_FANOUT, "warm"),
        from_snapshot(IGNITION__ENVELOPE__BODY_REMOVE_SNAPSHOT, "warm");
    write_seed("vmmd-fanout-rm-snapshot");
    begin(TO_VMMD), hello(), named(IGNITION__ENVELOPE__BODY_RELAUNCH, "demo");
    write_seed("vmmd-relaunch");
    return 0;
}
