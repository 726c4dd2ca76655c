#include "control_client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "unixsock.h"
#include "util.h"
#include "wire.h"

int control_socket_path(char *out, size_t len, char *err, size_t err_len)
{
    char state[512], run[512];
    if (paths_state_dir(state, sizeof(state)) < 0 || paths_run_dir(state, run, sizeof(run)) < 0) {
        set_message(err, err_len, "cannot tell where ignition keeps its files (set IGNITION_HOME)");
        return -1;
    }
    if ((size_t)snprintf(out, len, "%s/%s", run, CONTROL_SOCKET_NAME) >= len) {
        set_message(err, err_len, "the control socket's path is too long: %s/%s", run,
                    CONTROL_SOCKET_NAME);
        return -1;
    }
    return 0;
}

/* Nothing listening is vmmd not running: no socket file, or one left over. */
static int connect_to_vmmd(const char *path, char *err, size_t err_len)
{
    if (access(path, F_OK) < 0 && errno == ENOENT) {
        set_message(err, err_len, "%s", CONTROL_NOT_RUNNING);
        return -ECONNREFUSED;
    }
    char why[256];
    errno = 0;
    int fd = unixsock_connect(path, why, sizeof(why));
    if (fd >= 0)
        return fd;
    int e = errno ? errno : EINVAL;
    if (e == ECONNREFUSED || e == ENOENT) {
        set_message(err, err_len, "%s", CONTROL_NOT_RUNNING);
        return -ECONNREFUSED;
    }
    set_message(err, err_len, "cannot reach vmmd: %s", why);
    return -e;
}

int control_connect(const char *client_name, char *err, size_t err_len)
{
    char path[600];
    if (control_socket_path(path, sizeof(path), err, err_len) < 0)
        return -ENAMETOOLONG;
    int fd = connect_to_vmmd(path, err, err_len);
    if (fd < 0)
        return fd;
    char why[256];
    int rc = wire_client_handshake(fd, client_name, CONTROL_TIMEOUT_MS, NULL, why, sizeof(why));
    if (rc < 0) {
        set_message(err, err_len, "vmmd did not accept us: %s", why);
        close(fd);
        return rc;
    }
    return fd;
}

int control_call(int fd, const Ignition__Envelope *req, Ignition__Envelope **reply,
                 int timeout_ms, char *err, size_t err_len)
{
    *reply = NULL;
    int rc = wire_send(fd, req, NULL, 0);
    if (rc < 0) {
        set_message(err, err_len, "cannot send to vmmd: %s", strerror(-rc));
        return rc;
    }
    Ignition__Envelope *env;
    rc = wire_recv(fd, &env, NULL, NULL, timeout_ms);
    if (rc == -ETIMEDOUT) {
        set_message(err, err_len, "vmmd did not answer within %d ms", timeout_ms);
        return rc;
    }
    if (rc < 0) {
        set_message(err, err_len, "vmmd closed the connection: %s",
                    rc == -ENOTCONN ? "no reply" : strerror(-rc));
        return rc;
    }
    if (env->body_case == IGNITION__ENVELOPE__BODY_ERROR) {
        wire_copy_printable(err, err_len, env->error->message);
        int code = env->error->code > 0 ? (int)env->error->code
                                        : IGNITION__ERROR__CODE__CODE_INTERNAL;
        ignition__envelope__free_unpacked(env, NULL);
        return code;
    }
    *reply = env;
    return 0;
}

static Ignition__Envelope attach_request(const char *guest, enum control_guest_socket which,
                                         Ignition__AttachRequest *attach,
                                         Ignition__ConsoleAttachRequest *console)
{
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    if (which == CONTROL_DISPLAY_SOCKET) {
        attach->name = (char *)guest;
        env.body_case = IGNITION__ENVELOPE__BODY_ATTACH;
        env.attach = attach;
    } else {
        console->name = (char *)guest;
        env.body_case = IGNITION__ENVELOPE__BODY_CONSOLE_ATTACH;
        env.console_attach = console;
    }
    return env;
}

/* The path the reply names, or why there is none. */
static int socket_from_reply(const Ignition__Envelope *reply, const char *guest,
                             enum control_guest_socket which, char *out, size_t out_len,
                             char *err, size_t err_len)
{
    if (reply->body_case != IGNITION__ENVELOPE__BODY_GUEST || !reply->guest->guest) {
        set_message(err, err_len, "vmmd answered with message %d, not the guest",
                    (int)reply->body_case);
        return -EPROTO;
    }
    const Ignition__GuestInfo *info = reply->guest->guest;
    const char *path = which == CONTROL_DISPLAY_SOCKET ? info->display_socket
                                                       : info->console_socket;
    if (info->state != IGNITION__GUEST_INFO__STATE__STATE_RUNNING &&
        info->state != IGNITION__GUEST_INFO__STATE__STATE_STARTING &&
        info->state != IGNITION__GUEST_INFO__STATE__STATE_PAUSED && (!path || !path[0])) {
        set_message(err, err_len, "guest %s is not running (vmmctl start %s starts it)", guest,
                    guest);
        return IGNITION__ERROR__CODE__CODE_BAD_STATE;
    }
    if (!path || !path[0]) {
        if (which == CONTROL_DISPLAY_SOCKET)
            set_message(err, err_len, "guest %s has no display (started with --no-gui)", guest);
        else
            set_message(err, err_len, "guest %s has no console socket", guest);
        return IGNITION__ERROR__CODE__CODE_UNSUPPORTED;
    }
    if (strlen(path) >= out_len) {
        set_message(err, err_len, "vmmd named a socket path longer than %zu bytes", out_len - 1);
        return -ENAMETOOLONG;
    }
    memcpy(out, path, strlen(path) + 1);
    return 0;
}

int control_guest_socket(int fd, const char *guest, enum control_guest_socket which, char *out,
                         size_t out_len, char *err, size_t err_len)
{
    Ignition__AttachRequest attach = IGNITION__ATTACH_REQUEST__INIT;
    Ignition__ConsoleAttachRequest console = IGNITION__CONSOLE_ATTACH_REQUEST__INIT;
    Ignition__Envelope req = attach_request(guest, which, &attach, &console);
    Ignition__Envelope *reply;
    int rc = control_call(fd, &req, &reply, CONTROL_TIMEOUT_MS, err, err_len);
    if (rc == IGNITION__ERROR__CODE__CODE_NOT_FOUND)
        set_message(err, err_len, "no guest named %s (vmmctl list shows the guests)", guest);
    if (rc != 0)
        return rc;
    rc = socket_from_reply(reply, guest, which, out, out_len, err, err_len);
    ignition__envelope__free_unpacked(reply, NULL);
    return rc;
}

/* A worker that ended or hung mid-write leaves the previous snapshot or the
 * new one, whole (the write is atomic): that is what the user needs to hear,
 * not how the socket ended. */
static void explain_snapshot_failure(int rc, const char *guest, const char *snapshot_path,
                                     char *err, size_t err_len)
{
    const char *slash = strrchr(snapshot_path, '/');
    const char *snap = slash ? slash + 1 : snapshot_path;
    if (rc == -ETIMEDOUT)
        set_message(err, err_len, "the guest's worker did not answer in time; snapshot %s is "
                    "the previous one or the new one, whole", snap);
    else if (rc == -ENOTCONN || rc == -ECONNRESET || rc == -EPIPE)
        set_message(err, err_len, "the guest's worker ended before answering (vmmctl status %s "
                    "says why); snapshot %s is the previous one or the new one, whole",
                    guest, snap);
}

int control_worker_snapshot(const char *control_socket, const char *client_name,
                            const char *guest, const char *snapshot_path, int timeout_ms,
                            char *err, size_t err_len)
{
    int fd = unixsock_connect(control_socket, err, err_len);
    if (fd < 0)
        return -ECONNREFUSED;
    int rc = wire_client_handshake(fd, client_name, CONTROL_TIMEOUT_MS, NULL, err, err_len);
    Ignition__Envelope *reply = NULL;
    if (rc == 0) {
        Ignition__SnapshotRequest req = IGNITION__SNAPSHOT_REQUEST__INIT;
        req.name = (char *)guest;
        req.path = (char *)snapshot_path;
        Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
        env.body_case = IGNITION__ENVELOPE__BODY_SNAPSHOT;
        env.snapshot = &req;
        rc = control_call(fd, &env, &reply, timeout_ms, err, err_len);
        explain_snapshot_failure(rc, guest, snapshot_path, err, err_len);
    }
    close(fd);
    if (reply)
        ignition__envelope__free_unpacked(reply, NULL);
    return rc;
}
