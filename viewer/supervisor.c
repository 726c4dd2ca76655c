#include "supervisor.h"

#include <SDL_events.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control_client.h"
#include "log.h"
#include "util.h"

/* vmmd stops the guest before it answers; a guest that ignores the power key
 * is stopped by vmmd after its own timeout, so this only bounds a stuck vmmd. */
#define STOP_REPLY_MS 120000

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
    /* A guest that is there but not running may be started again. */
    bool never = rc == IGNITION__ERROR__CODE__CODE_NOT_FOUND ||
                 rc == IGNITION__ERROR__CODE__CODE_UNSUPPORTED || rc == -ENAMETOOLONG;
    return never ? -EPROTO : -ENOENT;
}

struct stop_job {
    char guest[64];
    Uint32 event_type;
    int code;
};

static void post_failure(const struct stop_job *job, const char *why)
{
    SDL_Event ev = {0};
    ev.type = job->event_type;
    ev.user.code = job->code;
    ev.user.data1 = strdup(why);
    if (!ev.user.data1 || SDL_PushEvent(&ev) != 1)
        free(ev.user.data1);
}

static int ask_to_stop(const char *guest, char *err, size_t err_len)
{
    int fd = control_connect(SUPERVISOR_CLIENT_NAME, err, err_len);
    if (fd < 0)
        return -1;
    Ignition__StopRequest stop = IGNITION__STOP_REQUEST__INIT;
    stop.name = (char *)guest;
    Ignition__Envelope req = IGNITION__ENVELOPE__INIT;
    req.body_case = IGNITION__ENVELOPE__BODY_STOP;
    req.stop = &stop;
    Ignition__Envelope *reply;
    int rc = control_call(fd, &req, &reply, STOP_REPLY_MS, err, err_len);
    close(fd);
    if (rc == 0)
        ignition__envelope__free_unpacked(reply, NULL);
    return rc == 0 ? 0 : -1;
}

static void *stop_main(void *arg)
{
    struct stop_job *job = arg;
    char err[256];
    if (ask_to_stop(job->guest, err, sizeof(err)) < 0) {
        log_warn("stopping %s: %s", job->guest, err);
        post_failure(job, err);
    }
    free(job);
    return NULL;
}

int supervisor_stop_guest(const char *guest, Uint32 event_type, int code)
{
    struct stop_job *job = calloc(1, sizeof(*job));
    if (!job || strlen(guest) >= sizeof(job->guest)) {
        free(job);
        return -1;
    }
    memcpy(job->guest, guest, strlen(guest) + 1);
    job->event_type = event_type;
    job->code = code;
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, stop_main, job);
    pthread_attr_destroy(&attr);
    if (rc) {
        free(job);
        return -1;
    }
    return 0;
}
