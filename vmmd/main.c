/* vmmd: the ignition daemon. Plain `vmmd` is the supervisor (one per user,
 * driven by vmmctl); `vmmd run` runs one guest in the foreground with its
 * serial console on the terminal, the way `lkvm run` does, and is also what the
 * supervisor starts for each guest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv/hv.h"
#include "log.h"
#include "machine/machine.h"
#include "supervisor/supervisor.h"
#include "paths.h"
#include "supervisor/standby.h"
#include "worker/supervision.h"
#include "util.h"
#include "worker/worker.h"

#define WORKER_MAX_DISKS_TEXT "16"
_Static_assert(WORKER_MAX_DISKS == 16, "keep the text in step");

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vmmd [-d] [--service] [--home DIR] [--verbose]\n"
            "       vmmd run --kernel IMAGE [--initrd FILE] [--append ARGS] [--mem SIZE]\n"
            "                [--cpus N]\n"
            "                [--disk PATH[,OPTIONS]]... [--instance DIR | --keep-instance]\n"
            "                [--gpu | --no-gpu] [--socket PATH] [--display WxH]\n"
            "                [--scanouts N] [--gpu-memory SIZE]\n"
            "                [--backend emu|kvm|hvf|auto] [--verbose]\n"
            "                [--guest NAME] [--console-socket PATH] [--console-log PATH]\n"
            "                [--worker-log PATH]\n"
            "                [--lock PATH] [--exit-file PATH] [--ready-fd N]\n"
            "                [--control-socket PATH]\n"
            "                [--net user[,host-loopback][,publish=RULE]... | --net none]\n"
            "                [--publish [HOST_IP:]HOST_PORT:GUEST_PORT[/udp]]...\n"
            "       vmmd run --restore SNAPSHOT [--instance DIR] [other options as above]\n"
            "       vmmd disk export LAYER OUT\n"
            "\n"
            "vmmd alone is the supervisor: it keeps the registry of guests in the state\n"
            "directory and starts, stops and watches them for vmmctl. It stays in the\n"
            "foreground unless -d is given; --service is for launchd and systemd. When it\n"
            "exits, guests keep running, and the next vmmd takes them back.\n"
            "\n"
            "vmmd run runs one guest in the foreground with its serial console on this terminal\n"
            "(Ctrl-A x quits). Exits 0 when the guest powers off.\n"
            "\n"
            "  --kernel IMAGE   arm64 Linux Image (raw or gzip-compressed)\n"
            "  --initrd FILE    initramfs to load beside the kernel\n"
            "  --append ARGS    kernel command line (default: console=ttyAMA0)\n"
            "  --mem SIZE       guest memory, e.g. 512M or 2G (default: 1G)\n"
            "  --cpus N         vCPUs, 1 to " MACHINE_MAX_CPUS_TEXT " (default 1; more than one needs kvm)\n"
            "  --disk PATH[,ro][,cow=auto|clone|overlay][,serial=TEXT]\n"
            "                   a raw disk image as the next virtio disk (vda, vdb, ...).\n"
            "                   The image itself is never written: the guest's writes go\n"
            "                   to a copy-on-write layer in the instance directory. ro\n"
            "                   gives the guest a read-only disk\n"
            "  --instance DIR   the instance directory; a layer found there is used again\n"
            "                   (default: a new directory under the state directory,\n"
            "                   removed when the run ends)\n"
            "  --keep-instance  keep that new directory (vmmctl prune removes those left\n"
            "                   by runs that were killed)\n"
            "  --gpu, --no-gpu  a virtio-gpu display with a virtio keyboard and tablet,\n"
            "                   published to viewers (default: --gpu)\n"
            "  --socket PATH    where viewers attach (default: a socket under the state\n"
            "                   directory, printed at start; its directory must be 0700)\n"
            "  --display WxH    the display mode the guest is offered first (1280x800)\n"
            "  --scanouts N     displays the GPU has, 1 to 16 (default 1)\n"
            "  --gpu-memory SIZE  cap on host memory for the guest's GPU resources\n"
            "                   (default 256M)\n"
            "  --backend NAME   hypervisor backend (default: auto)\n"
            "  --verbose        log what the backend decides\n"
            "  --net user[,host-loopback][,publish=RULE]...\n"
            "                   a virtio-net on user-mode networking (libslirp; the\n"
            "                   default): NAT, DHCP (the guest is 10.0.2.15), DNS at\n"
            "                   10.0.2.3. host-loopback makes the host's 127.0.0.1\n"
            "                   reachable at 10.0.2.2 (by default it is not). --net none:\n"
            "                   no network device\n"
            "  --publish [HOST_IP:]HOST_PORT:GUEST_PORT[/udp]\n"
            "                   forwards a host port to the guest, like docker run -p\n"
            "                   (HOST_IP defaults to 127.0.0.1); repeatable\n"
            "  --cid N          the guest's vsock context id, 3 to 4294967294 (default 3;\n"
            "                   vmmd gives each of its guests and clones its own)\n"
            "  --vsock PATH     the Unix socket host processes reach the guest's vsock\n"
            "                   ports through (\"CONNECT <port>\\n\"); a guest's connection\n"
            "                   to CID 2 port P reaches PATH_P (default: NAME.vsock, or\n"
            "                   vmmd-PID.vsock, under the state directory's run directory)\n"
            "  --no-vsock       no virtio-vsock device\n"
            "\n"
            "Run by a supervisor (vmmd), a guest worker also takes:\n"
            "  --guest NAME     the guest's name, for viewers and the log\n"
            "  --console-socket PATH  the serial console on this Unix socket (raw bytes,\n"
            "                   up to 16 clients) instead of this terminal; SIGTERM then\n"
            "                   presses the guest's power button, a second SIGTERM or\n"
            "                   SIGINT stops it at once\n"
            "  --console-log PATH  all serial output appended here, rotated at 1M to\n"
            "                   PATH.1 and PATH.2\n"
            "  --worker-log PATH  the file this worker's stdout and stderr go to: rotated\n"
            "                   the same way\n"
            "  --lock PATH      held while running: a second worker with it refuses to start\n"
            "  --exit-file PATH written as the worker exits: poweroff, stopped or\n"
            "                   error: MESSAGE\n"
            "  --ready-fd N     \"ready\" is written to descriptor N (3 or more) once the\n"
            "                   guest and its sockets are up\n"
            "  --control-socket PATH  answers snapshot requests on this Unix socket\n"
            "\n"
            "Snapshots:\n"
            "  --restore SNAPSHOT  start the guest from a snapshot directory instead of\n"
            "                   booting: memory, disks and display are the snapshot's (so\n"
            "                   --mem and --disk are refused); its disk layers are copied\n"
            "                   into the instance directory. --kernel and --initrd are\n"
            "                   then only what a guest reset boots. The memory file's\n"
            "                   checksums are checked first, unless --memory-checked ID\n"
            "                   names it as it is (vmmd passes the ID of one it saw\n"
            "                   checked, so only a first or a changed file is read)\n"
            "  --host-loopback  with --restore: the host's 127.0.0.1 is reachable at\n"
            "                   10.0.2.2, though the snapshot's network did not have it\n"
            "\n"
            "vmmd disk export writes the disk a guest sees through LAYER (a disk layer\n"
            "from an instance directory) to OUT as a plain raw image.\n");
}

/* "1280x800": each side 1..16384, nothing else on the line. */
static int parse_display_mode(const char *text, uint32_t *width, uint32_t *height)
{
    char *end;
    unsigned long w = strtoul(text, &end, 10);
    if (end == text || (*end != 'x' && *end != 'X'))
        return -1;
    const char *h_text = end + 1;
    unsigned long h = strtoul(h_text, &end, 10);
    if (end == h_text || *end || w < 1 || w > 16384 || h < 1 || h > 16384)
        return -1;
    *width = (uint32_t)w;
    *height = (uint32_t)h;
    return 0;
}

/* A descriptor the parent left open for us, not one of stdin/stdout/stderr;
 * close-on-exec from now on. */
static int parse_ready_fd(const char *text, int *fd)
{
    char *end;
    long n = strtol(text, &end, 10);
    if (end == text || *end || n < 3 || n > INT_MAX || fcntl((int)n, F_GETFD) < 0)
        return -1;
    fcntl((int)n, F_SETFD, FD_CLOEXEC);
    *fd = (int)n;
    return 0;
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "vmmd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see vmmd --help)\n");
    return EXIT_USAGE;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option options[] = {
        {"kernel", required_argument, NULL, 'k'}, {"initrd", required_argument, NULL, 'i'},
        {"append", required_argument, NULL, 'a'}, {"mem", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'P'},
        {"backend", required_argument, NULL, 'b'}, {"verbose", no_argument, NULL, 'v'},
        {"disk", required_argument, NULL, 'd'},   {"instance", required_argument, NULL, 'I'},
        {"keep-instance", no_argument, NULL, 'E'},
        {"gpu", no_argument, NULL, 'G'},          {"no-gpu", no_argument, NULL, 'N'},
        {"socket", required_argument, NULL, 'S'}, {"display", required_argument, NULL, 'D'},
        {"scanouts", required_argument, NULL, 'n'},
        {"gpu-memory", required_argument, NULL, 'M'},
        {"guest", required_argument, NULL, 'g'},
        {"console-socket", required_argument, NULL, 'C'},
        {"console-log", required_argument, NULL, 'L'},
        {"worker-log", required_argument, NULL, 'W'},
        {"lock", required_argument, NULL, 'l'},
        {"exit-file", required_argument, NULL, 'x'},
        {"ready-fd", required_argument, NULL, 'r'},
        {"control-socket", required_argument, NULL, 'c'},
        {"restore", required_argument, NULL, 'R'},
        {"memory-checked", required_argument, NULL, 'K'},
        {"net", required_argument, NULL, 'e'},    {"publish", required_argument, NULL, 'p'},
        {"cid", required_argument, NULL, 'V'},    {"vsock", required_argument, NULL, 's'},
        {"no-vsock", no_argument, NULL, 'o'},
        {"host-loopback", no_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct worker_options o = {.backend = "auto", .ram_size = 1ull << 30, .gpu = true,
                               .num_scanouts = 1, .display_width = 1280,
                               .display_height = 800, .gpu_memory = 256ull << 20,
                               .ready_fd = -1, .cpus = 1, .net = {.mode = NET_USER},
                               .vsock = true, .vsock_cid = VSOCK_CID_MIN_GUEST};
    bool mem_given = false, net_given = false, vsock_given = false;
    const char *worker_log = NULL;
    int c;
    optind = 1;
    opterr = 0; /* our messages, not getopt's */
    while ((c = getopt_long(argc, argv, ":k:i:a:m:b:d:I:S:D:n:M:g:C:L:l:x:r:c:R:P:GNvh", options, NULL)) != -1) {
        switch (c) {
        case 'd': {
            char err[160];
            if (o.num_disks == WORKER_MAX_DISKS)
                return usage_error("more than %s disks", WORKER_MAX_DISKS_TEXT);
            if (disk_spec_parse(optarg, &o.disks[o.num_disks], err, sizeof(err)) < 0)
                return usage_error("--disk: %s", err);
            o.num_disks++;
            break;
        }
        case 'P': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || end == optarg || n < 1 || n > MACHINE_MAX_CPUS)
                return usage_error("--cpus %s: give 1 to " MACHINE_MAX_CPUS_TEXT, optarg);
            o.cpus = (unsigned)n;
            break;
        }
        case 'I': o.instance_dir = optarg; break;
        case 'E': o.keep_instance = true; break;
        case 'G': o.gpu = true; break;
        case 'N': o.gpu = false; break;
        case 'S': o.socket_path = optarg; break;
        case 'D':
            if (parse_display_mode(optarg, &o.display_width, &o.display_height) < 0)
                return usage_error("--display %s: give WIDTHxHEIGHT, each 1 to 16384", optarg);
            break;
        case 'n': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || end == optarg || n < 1 || n > 16)
                return usage_error("--scanouts %s: give 1 to 16", optarg);
            o.num_scanouts = (unsigned)n;
            break;
        }
        case 'M':
            if (parse_size(optarg, &o.gpu_memory) < 0 || o.gpu_memory < (16ull << 20))
                return usage_error("--gpu-memory %s: give a size of at least 16M", optarg);
            break;
        case 'g':
            if (!paths_guest_name_ok(optarg))
                return usage_error("--guest %s: a name is 1 to 32 letters, digits, '_', '.' "
                                   "or '-', starting with a letter or digit", optarg);
            o.guest_name = optarg;
            break;
        case 'C': o.console_socket = optarg; break;
        case 'L': o.console_log = optarg; break;
        case 'W': worker_log = optarg; break;
        case 'l': o.lock_path = optarg; break;
        case 'x': o.exit_file = optarg; break;
        case 'r':
            if (parse_ready_fd(optarg, &o.ready_fd) < 0)
                return usage_error("--ready-fd %s: give an open descriptor, 3 or more", optarg);
            break;
        case 'c': o.control_socket = optarg; break;
        case 'R': o.restore_dir = optarg; break;
        case 'K': o.memory_checked = optarg; break;
        case 'e': {
            char err[192];
            net_given = true;
            if (net_config_parse(optarg, &o.net, err, sizeof(err)) < 0)
                return usage_error("%s", err);
            break;
        }
        case 'p': {
            char err[192];
            if (o.net.num_publish == NET_MAX_PUBLISH)
                return usage_error("more than %s --publish rules", "16");
            if (net_publish_parse(optarg, &o.net.publish[o.net.num_publish], err,
                                  sizeof(err)) < 0)
                return usage_error("--%s", err);
            o.net.num_publish++;
            break;
        }
        case 'V': {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (*end || end == optarg || errno || n < VSOCK_CID_MIN_GUEST ||
                n > VSOCK_CID_MAX_GUEST)
                return usage_error("--cid %s: give 3 to 4294967294", optarg);
            o.vsock_cid = (uint32_t)n;
            break;
        }
        case 's': o.vsock_socket = optarg; vsock_given = true; break;
        case 'o': o.vsock = false; vsock_given = true; break;
        case 'O': o.restore_host_loopback = true; break;
        case 'k': o.kernel = optarg; break;
        case 'i': o.initrd = optarg; break;
        case 'a':
            if (strlen(optarg) >= MACHINE_MAX_CMDLINE)
                return usage_error("--append is longer than the kernel's %s-byte command line",
                                   MACHINE_MAX_CMDLINE_TEXT);
            o.append = optarg;
            break;
        case 'b': o.backend = optarg; break;
        case 'v': log_set_verbose(true); break;
        case 'h': usage(stdout); return 0;
        case 'm': {
            char err[128];
            mem_given = true;
            if (parse_size(optarg, &o.ram_size) < 0)
                return usage_error("--mem %s: not a size (try 512M or 2G)", optarg);
            if (machine_check_ram_size(o.ram_size, err, sizeof(err)) < 0) {
                fprintf(stderr, "vmmd: --mem %s: %s\n", optarg, err);
                return EXIT_USAGE;
            }
            break;
        }
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o.restore_dir && (mem_given || o.num_disks))
        return usage_error("%s", "--mem and --disk do not go with --restore: the snapshot's "
                                 "machine has its own");
    if (!o.kernel && !o.restore_dir)
        return usage_error("%s", "--kernel IMAGE is required");
    if (o.socket_path && !o.gpu)
        return usage_error("%s", "--socket has nothing to publish with --no-gpu");
    if (o.net.mode == NET_NONE && o.net.num_publish)
        return usage_error("%s", "--publish needs a network: not with --net none");
    if (o.restore_host_loopback && !o.restore_dir)
        return usage_error("%s", "--host-loopback is for --restore: a new guest says so with "
                                 "--net user,host-loopback");
    if (o.restore_dir && net_given)
        return usage_error("%s", "--net does not go with --restore: a restored guest keeps its "
                                 "snapshot's network mode (give --publish for its ports)");
    if (!o.vsock && o.vsock_socket)
        return usage_error("%s", "--vsock and --no-vsock: give one");
    if (o.restore_dir && vsock_given && !o.vsock)
        return usage_error("%s", "--no-vsock does not go with --restore: a restored guest has "
                                 "its snapshot's devices");
    if (o.guest_name) {
        static char prefix[48];
        snprintf(prefix, sizeof(prefix), "vmmd[%s]", o.guest_name);
        log_init(prefix);
    }
    if (worker_log) {
        int rc = log_rotate_stderr(worker_log, WORKER_LOG_LIMIT, WORKER_LOG_GENERATIONS);
        if (rc < 0)
            log_warn("--worker-log %s: %s; this log is not rotated", worker_log, strerror(-rc));
    }
    return worker_run_console(&o);
}

static int cmd_disk(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "export") != 0) {
        fprintf(stderr, "vmmd: usage: vmmd disk export LAYER OUT\n");
        return EXIT_USAGE;
    }
    char err[512];
    if (disk_export(argv[2], argv[3], err, sizeof(err)) < 0) {
        log_error("%s", err);
        return 1;
    }
    return 0;
}

static int cmd_supervisor(int argc, char **argv)
{
    static const struct option options[] = {
        {"daemon", no_argument, NULL, 'd'},  {"service", no_argument, NULL, 's'},
        {"home", required_argument, NULL, 'H'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},   {NULL, 0, NULL, 0},
    };
    struct supervisor_options o = {0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":dH:vh", options, NULL)) != -1) {
        switch (c) {
        case 'd': o.daemonize = true; break;
        case 's': o.service = true; break;
        case 'H':
            if (setenv("IGNITION_HOME", optarg, 1) < 0)
                return usage_error("--home %s: cannot set IGNITION_HOME", optarg);
            break;
        case 'v': log_set_verbose(true); break;
        case 'h': usage(stdout); return 0;
        case ':': return usage_error("%s needs a value", argv[optind - 1]);
        default: return usage_error("unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (o.daemonize && o.service)
        return usage_error("%s", "-d and --service do not go together: a service manager "
                                 "keeps vmmd in the foreground");
    return supervisor_run(&o);
}

/* What a worker would do first anyway, done while nobody waits for it. A
 * failure is the worker's to report, with its guest's name, once it has one. */
static void prepare_backend(void)
{
    char why[256], note[256], err[512];
    const struct hv_ops *hv = hv_select("auto", why, sizeof(why), note, sizeof(note));
    if (hv && hv->prepare && hv->prepare(err, sizeof(err)) < 0)
        log_warn("standby: %s", err);
}

/* The worker's descriptors as `vmmd run` under vmmd has them: its log on
 * stdout and stderr, its ready pipe on STANDBY_FD (which closes the socket). */
static int take_descriptors(struct standby_request *req)
{
    if (dup2(req->log_fd, STDOUT_FILENO) < 0 || dup2(req->log_fd, STDERR_FILENO) < 0 ||
        dup2(req->ready_fd, STANDBY_FD) < 0)
        return -1;
    if (req->log_fd > STANDBY_FD)
        close(req->log_fd);
    if (req->ready_fd > STANDBY_FD)
        close(req->ready_fd);
    return 0;
}

/* A worker started from a standby was never exec'd with its own command line:
 * its argument area (vmmd leaves room in it, see STANDBY_TITLE_ROOM) is
 * rewritten to start as that command line does, so that ps shows which
 * guest it runs. */
static void retitle(int argc, char **argv, char *const *worker_argv)
{
    char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
    size_t room = (size_t)(end - start), used = 0;
    memset(start, 0, room);
    for (int i = 0; worker_argv[i] && i < 4; i++) { /* path, run, --guest, NAME */
        size_t n = strlen(worker_argv[i]);
        if (used + n + 1 > room)
            break;
        memcpy(start + used, worker_argv[i], n);
        used += n + 1;
    }
}

/* `vmmd standby`, started by vmmd with its socket on STANDBY_FD: becomes the
 * worker of the next guest vmmd starts (standby.h). */
static int cmd_standby(int argc, char **argv)
{
    prepare_backend();
    struct standby_request req;
    char err[256];
    int rc = standby_receive(STANDBY_FD, &req, err, sizeof(err));
    if (rc == 0)
        return 0; /* vmmd went away before it needed us */
    if (rc < 0) {
        log_error("standby: %s", err);
        return 1;
    }
    if (req.argc < 2 || strcmp(req.argv[1], "run") != 0 || take_descriptors(&req) < 0) {
        log_error("standby: %s", req.argc < 2 || strcmp(req.argv[1], "run") != 0
                                     ? "asked for something other than a worker"
                                     : "cannot take the worker's descriptors");
        standby_request_free(&req);
        return 1;
    }
    retitle(argc, argv, req.argv);
    rc = cmd_run(req.argc - 1, req.argv + 1);
    standby_request_free(&req);
    return rc;
}

int main(int argc, char **argv)
{
    log_init("vmmd");
    if (argc >= 2 && strcmp(argv[1], "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "disk") == 0)
        return cmd_disk(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "standby") == 0)
        return cmd_standby(argc, argv);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("vmmd %s\n", IGNITION_VERSION);
        return 0;
    }
    if (argc == 1 || argv[1][0] == '-')
        return cmd_supervisor(argc, argv);
    usage(stderr);
    return EXIT_USAGE;
}
