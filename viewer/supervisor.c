#include "supervisor.h"

#include <SDL_events.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control_client.h"
#include "log.h"
#include "paths.h"
#include "snapshot_name.h"
#include "util.h"
#include "wire.h"

/* vmmd stops the guest before it answers; a guest that ignores the power key
 * is stopped by vmmd after its own timeout, so this only bounds a stuck vmmd. */
#define STOP_REPLY_MS 120000
/* The guest is paused while its memory and disk layers are written. */
#define SNAPSHOT_REPLY_MS (10 * 60 * 1000)
/* A forced stop (vmmd kills after 5 s) and a restore, bounded by vmmd's own
 * start timeout. */
#define RELAUNCH_REPLY_MS 120000

int supervisor_resolve_display(void *ctx, char *path, size_t len, char *err, size_t err_len)
{
    const char *guest = ctx;
    int fd = control_connect(SUPERVISOR_CLIENT_NAME, err, err_len);
    if (fd < 0)
        return fd == -EPROTO ? -EPROTO : -ENOENT;
    int rc = control_guest_socket(fd, guest, CONTROL_DISPLAY_SOCKET, path, len, err, err_len);
    close(fd);
    if (rc == 0)
        return 0;
    /* A guest that is there but not running may be started again; one that
     * is not there at all (never was, or was removed) will not come back. */
    if (rc == IGNITION__ERROR__CODE__CODE_NOT_FOUND)
        return -ESRCH;
    bool never = rc == IGNITION__ERROR__CODE__CODE_UNSUPPORTED || rc == -ENAMETOOLONG;
    return never ? -EPROTO : -ENOENT;
}

enum job_kind { JOB_STOP, JOB_SNAPSHOT, JOB_RELAUNCH };

/* One request to vmmd, made on a thread of its own so that the window keeps
 * drawing while vmmd (and the worker) take their time. */
struct job {
    enum job_kind kind;
    char guest[PATHS_GUEST_NAME_MAX + 1];
    char snapshot[PATHS_GUEST_NAME_MAX + 1]; /* JOB_SNAPSHOT: the name to give it */
    Uint32 event_type;
    int done_code;   /* < 0: success is not told */
    int failed_code;
};

static void post_outcome(const struct job *job, int code, const char *text)
{
    SDL_Event ev = {0};
    ev.type = job->event_type;
    ev.user.code = code;
    ev.user.data1 = strdup(text);
    if (!ev.user.data1 || SDL_PushEvent(&ev) != 1)
        free(ev.user.data1);
}

/* One request and its reply on a connection of its own. */
static int call_vmmd(Ignition__Envelope *req, int timeout_ms, Ignition__Envelope **reply,
                     char *err, size_t err_len)
{
    *reply = NULL;
    int fd = control_connect(SUPERVISOR_CLIENT_NAME, err, err_len);
    if (fd < 0)
        return -1;
    int rc = control_call(fd, req, reply, timeout_ms, err, err_len);
    close(fd);
    return rc == 0 ? 0 : -1;
}

/* The guest a GuestReply describes, or NULL after saying why in err. */
static const Ignition__GuestInfo *guest_of(const Ignition__Envelope *reply, char *err,
                                           size_t err_len)
{
    if (reply->body_case == IGNITION__ENVELOPE__BODY_GUEST && reply->guest->guest)
        return reply->guest->guest;
    set_message(err, err_len, "vmmd answered with message %d, not the guest",
                (int)reply->body_case);
    return NULL;
}

static int request_stop(const char *guest, bool force, char *out, size_t out_len)
{
    Ignition__StopRequest stop = IGNITION__STOP_REQUEST__INIT;
    stop.name = (char *)guest;
    stop.force = force;
    Ignition__Envelope req = IGNITION__ENVELOPE__INIT;
    req.body_case = IGNITION__ENVELOPE__BODY_STOP;
    req.stop = &stop;
    Ignition__Envelope *reply;
    if (call_vmmd(&req, STOP_REPLY_MS, &reply, out, out_len) < 0)
        return -1;
    ignition__envelope__free_unpacked(reply, NULL);
    set_message(out, out_len, "guest %s stopped", guest);
    return 0;
}

static int ask_to_stop(const struct job *job, char *out, size_t out_len)
{
    return request_stop(job->guest, false, out, out_len);
}

int supervisor_stop_guest_now(const char *guest, char *err, size_t err_len)
{
    if (!guest || !paths_guest_name_ok(guest)) {
        set_message(err, err_len, "no guest name to stop");
        return -1;
    }
    return request_stop(guest, true, err, err_len);
}

/* As vmmctl snapshot does: vmmd says where, the worker writes it. */
static int ask_for_snapshot(const struct job *job, char *out, size_t out_len)
{
    Ignition__SnapshotRequest snap = IGNITION__SNAPSHOT_REQUEST__INIT;
    snap.name = (char *)job->guest;
    snap.path = (char *)job->snapshot;
    Ignition__Envelope req = IGNITION__ENVELOPE__INIT;
    req.body_case = IGNITION__ENVELOPE__BODY_SNAPSHOT;
    req.snapshot = &snap;
    Ignition__Envelope *reply;
    if (call_vmmd(&req, CONTROL_TIMEOUT_MS, &reply, out, out_len) < 0)
        return -1;
    const Ignition__GuestInfo *g = guest_of(reply, out, out_len);
    int rc = g ? control_worker_snapshot(g->control_socket, SUPERVISOR_CLIENT_NAME, job->guest,
                                         g->snapshot_path, SNAPSHOT_REPLY_MS, out, out_len)
               : -1;
    ignition__envelope__free_unpacked(reply, NULL);
    if (rc != 0)
        return -1;
    set_message(out, out_len, "snapshot %s taken", job->snapshot);
    return 0;
}

static int ask_to_relaunch(const struct job *job, char *out, size_t out_len)
{
    Ignition__RelaunchRequest relaunch = IGNITION__RELAUNCH_REQUEST__INIT;
    relaunch.name = (char *)job->guest;
    Ignition__Envelope req = IGNITION__ENVELOPE__INIT;
    req.body_case = IGNITION__ENVELOPE__BODY_RELAUNCH;
    req.relaunch = &relaunch;
    Ignition__Envelope *reply;
    if (call_vmmd(&req, RELAUNCH_REPLY_MS, &reply, out, out_len) < 0)
        return -1;
    const Ignition__GuestInfo *g = guest_of(reply, out, out_len);
    int rc = -1;
    if (g && g->state == IGNITION__GUEST_INFO__STATE__STATE_RUNNING) {
        char snap[PATHS_GUEST_NAME_MAX + 1];
        wire_copy_printable(snap, sizeof(snap), g->last_snapshot);
        set_message(out, out_len, "relaunched from snapshot %s", snap);
        rc = 0;
    } else if (g) {
        char why[200];
        wire_copy_printable(why, sizeof(why), g->exit_reason);
        set_message(out, out_len, "guest %s did not start again: %s", job->guest, why);
    }
    ignition__envelope__free_unpacked(reply, NULL);
    return rc;
}

static void *job_main(void *arg)
{
    struct job *job = arg;
    char text[512];
    int rc = -1;
    switch (job->kind) {
    case JOB_STOP: rc = ask_to_stop(job, text, sizeof(text)); break;
    case JOB_SNAPSHOT: rc = ask_for_snapshot(job, text, sizeof(text)); break;
    case JOB_RELAUNCH: rc = ask_to_relaunch(job, text, sizeof(text)); break;
    }
    if (rc < 0) {
        log_warn("%s: %s", job->guest, text);
        post_outcome(job, job->failed_code, text);
    } else if (job->done_code >= 0) {
        log_info("%s: %s", job->guest, text);
        post_outcome(job, job->done_code, text);
    }
    free(job);
    return NULL;
}

static int start_job(struct job *job)
{
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, job_main, job);
    pthread_attr_destroy(&attr);
    if (rc) {
        free(job);
        return -1;
    }
    return 0;
}

static struct job *new_job(enum job_kind kind, const char *guest, Uint32 event_type,
                           int done_code, int failed_code)
{
    if (!guest || !paths_guest_name_ok(guest))
        return NULL;
    struct job *job = calloc(1, sizeof(*job));
    if (!job)
        return NULL;
    job->kind = kind;
    memcpy(job->guest, guest, strlen(guest) + 1);
    job->event_type = event_type;
    job->done_code = done_code;
    job->failed_code = failed_code;
    return job;
}

int supervisor_stop_guest(const char *guest, Uint32 event_type, int code)
{
    struct job *job = new_job(JOB_STOP, guest, event_type, -1, code);
    return job ? start_job(job) : -1;
}

int supervisor_snapshot_guest(const char *guest, Uint32 event_type, int done_code,
                              int failed_code)
{
    struct job *job = new_job(JOB_SNAPSHOT, guest, event_type, done_code, failed_code);
    if (!job)
        return -1;
    if (snapshot_name_for(guest, time(NULL), job->snapshot, sizeof(job->snapshot)) < 0) {
        free(job);
        return -1;
    }
    return start_job(job);
}

int supervisor_relaunch_guest(const char *guest, Uint32 event_type, int done_code,
                              int failed_code)
{
    struct job *job = new_job(JOB_RELAUNCH, guest, event_type, done_code, failed_code);
    return job ? start_job(job) : -1;
}
