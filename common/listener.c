#include "listener.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "unixsock.h"

struct listener {
    struct event *readable, *retry;
    listener_accept_fn on_accept;
    void *arg;
    unsigned long pauses;
    bool paused_reported; /* said so once per shortage, not ten times a second */
    char what[48];
};

static void pause_listening(struct listener *l)
{
    if (!l->paused_reported)
        log_warn("%s: out of file descriptors; taking no connections for a moment", l->what);
    l->paused_reported = true;
    l->pauses++;
    event_del(l->readable);
    struct timeval retry = {.tv_usec = LISTENER_RETRY_US};
    evtimer_add(l->retry, &retry);
}

static void on_readable(evutil_socket_t listen_fd, short what, void *arg)
{
    (void)what;
    struct listener *l = arg;
    int fd = unixsock_accept((int)listen_fd);
    if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
        pause_listening(l);
        return;
    }
    if (fd < 0) {
        if (fd != -EAGAIN && fd != -EWOULDBLOCK && fd != -ECONNABORTED)
            log_warn("%s: accept failed: %s", l->what, strerror(-fd));
        return;
    }
    if (l->paused_reported) {
        log_info("%s: taking connections again", l->what);
        l->paused_reported = false;
    }
    l->on_accept(fd, l->arg);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct listener *l = arg;
    event_add(l->readable, NULL);
}

struct listener *listener_new(struct event_base *base, int listen_fd, const char *what,
                              listener_accept_fn on_accept, void *arg)
{
    struct listener *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->on_accept = on_accept;
    l->arg = arg;
    snprintf(l->what, sizeof(l->what), "%s", what);
    l->readable = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_readable, l);
    l->retry = evtimer_new(base, on_retry, l);
    if (!l->readable || !l->retry || event_add(l->readable, NULL) < 0) {
        listener_free(l);
        return NULL;
    }
    return l;
}

void listener_free(struct listener *l)
{
    if (!l)
        return;
    if (l->readable)
        event_free(l->readable);
    if (l->retry)
        event_free(l->retry);
    free(l);
}

unsigned long listener_pauses(const struct listener *l)
{
    return l->pauses;
}
