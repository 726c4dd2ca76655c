#include "session.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "unixsock.h"
#include "util.h"

#define RETRY_MS 500
/* Messages handed to the main thread and not yet handled: beyond this the
 * reader stops reading, so a slow window costs bounded memory and the socket
 * pushes back on the worker (which then merges its notices). One session per
 * process, so one counter. */
#define MAX_IN_FLIGHT 256
static _Atomic unsigned messages_in_flight;
#define HANDSHAKE_TIMEOUT_MS 5000

struct session {
    char path[SESSION_MAX_PATH]; /* "" until resolved */
    session_resolve_fn resolve;  /* NULL: path is fixed */
    void *resolve_ctx;
    Uint32 event_type;
    pthread_t reader;
    bool reader_started;

    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t wake;
    int sock;    /* -1 when not connected */
    bool ready;  /* handshake done: input may be sent */
    bool stopping;
    Ignition__Welcome *welcome; /* from a connect not yet announced */
    bool dropped_input_logged;
};

struct session *session_new(const char *socket_path, Uint32 event_type)
{
    struct session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (socket_path && strlen(socket_path) >= sizeof(s->path)) {
        free(s);
        return NULL;
    }
    if (socket_path)
        memcpy(s->path, socket_path, strlen(socket_path) + 1);
    s->event_type = event_type;
    s->sock = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    return s;
}

static void post(struct session *s, enum session_event code, void *data)
{
    SDL_Event ev = {0};
    ev.type = s->event_type;
    ev.user.code = code;
    ev.user.data1 = data;
    if (SDL_PushEvent(&ev) != 1) {
        /* The queue is full or SDL is gone: nobody will free it otherwise. */
        session_event_free(&ev.user);
    }
}

static void post_text(struct session *s, enum session_event code, const char *text)
{
    char *copy = strdup(text);
    if (copy)
        post(s, code, copy);
}

/* Publishes sock so session_free can wake a handshake blocked on it. */
static bool publish_sock(struct session *s, int sock)
{
    pthread_mutex_lock(&s->lock);
    bool stopping = s->stopping;
    if (!stopping)
        s->sock = sock;
    pthread_mutex_unlock(&s->lock);
    return !stopping;
}

static void drop_sock(struct session *s)
{
    pthread_mutex_lock(&s->lock);
    int sock = s->sock;
    s->sock = -1;
    s->ready = false;
    pthread_mutex_unlock(&s->lock);
    if (sock >= 0)
        close(sock);
}

void session_set_resolver(struct session *s, session_resolve_fn resolve, void *ctx)
{
    s->resolve = resolve;
    s->resolve_ctx = ctx;
}

int session_connect(struct session *s, char *err, size_t err_len)
{
    char why[256];
    /* Asked again on every attempt: a restarted guest may listen elsewhere. */
    if (s->resolve) {
        int rc = s->resolve(s->resolve_ctx, s->path, sizeof(s->path), err, err_len);
        if (rc < 0)
            return rc;
    }
    int sock = unixsock_connect(s->path, why, sizeof(why));
    if (sock < 0) {
        set_message(err, err_len, "%s", why);
        return -ENOENT;
    }
    if (!publish_sock(s, sock)) {
        close(sock);
        return -ECANCELED;
    }
    Ignition__Welcome *welcome = NULL;
    int rc = wire_client_handshake(sock, "ignition-view", HANDSHAKE_TIMEOUT_MS, &welcome, why,
                                   sizeof(why));
    if (rc < 0) {
        set_message(err, err_len, "%s: %s", s->path, why);
        drop_sock(s);
        return rc;
    }
    pthread_mutex_lock(&s->lock);
    s->ready = true;
    s->welcome = welcome;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* Sleeps RETRY_MS unless stopped meanwhile. Returns false when stopping. */
static bool wait_to_retry(struct session *s)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += RETRY_MS * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    while (!s->stopping && pthread_cond_timedwait(&s->wake, &s->lock, &until) == 0)
        ;
    bool go_on = !s->stopping;
    pthread_mutex_unlock(&s->lock);
    return go_on;
}

static bool is_stopping(struct session *s)
{
    pthread_mutex_lock(&s->lock);
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stopping;
}

/* Connects, retrying until it works or the worker refuses us. */
static bool connect_with_retry(struct session *s)
{
    char err[512];
    for (;;) {
        int rc = session_connect(s, err, sizeof(err));
        if (rc == 0)
            return true;
        if (rc == -EPROTO || rc == -ESRCH) {
            post_text(s, rc == -ESRCH ? SESSION_GONE : SESSION_FATAL, err);
            return false;
        }
        if (!wait_to_retry(s))
            return false;
    }
}

static void announce_connected(struct session *s)
{
    pthread_mutex_lock(&s->lock);
    Ignition__Welcome *welcome = s->welcome;
    s->welcome = NULL;
    pthread_mutex_unlock(&s->lock);
    if (welcome)
        post(s, SESSION_CONNECTED, welcome);
}

/* Reads messages until the connection ends. */
static void read_messages(struct session *s, int sock)
{
    for (;;) {
        struct session_message *m = calloc(1, sizeof(*m));
        if (!m) {
            post_text(s, SESSION_LOST, "out of memory");
            return;
        }
        while (messages_in_flight >= MAX_IN_FLIGHT && !is_stopping(s))
            nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
        int rc = wire_recv(sock, &m->env, m->fds, &m->nfds, -1);
        if (rc < 0) {
            free(m);
            if (!is_stopping(s))
                post_text(s, SESSION_LOST, rc == -ENOTCONN ? "the guest closed the connection"
                                                           : strerror(-rc));
            return;
        }
        messages_in_flight++;
        post(s, SESSION_MESSAGE, m);
    }
}

static void *reader_main(void *arg)
{
    struct session *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int sock = s->sock;
        pthread_mutex_unlock(&s->lock);
        if (sock < 0) {
            if (!connect_with_retry(s))
                return NULL;
            continue;
        }
        announce_connected(s);
        read_messages(s, sock);
        drop_sock(s);
        /* A worker that takes us and drops us at once must not be hammered. */
        if (is_stopping(s) || !wait_to_retry(s))
            return NULL;
    }
}

int session_start(struct session *s)
{
    int rc = pthread_create(&s->reader, NULL, reader_main, s);
    if (rc)
        return -rc;
    s->reader_started = true;
    return 0;
}

/* Room for a small message right now? A worker that stopped reading must not
 * stall the window. */
static bool has_room(int sock)
{
    struct pollfd p = {.fd = sock, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLOUT);
}

bool session_send(struct session *s, const Ignition__Envelope *env)
{
    bool sent = false;
    pthread_mutex_lock(&s->lock);
    /* Held across the send so that the reader cannot close the socket under it. */
    if (s->ready && s->sock >= 0) {
        if (has_room(s->sock)) {
            int rc = wire_send(s->sock, env, NULL, 0);
            if (rc < 0)
                log_debug("send: %s", strerror(-rc));
            sent = rc == 0;
        } else if (!s->dropped_input_logged) {
            log_warn("the guest is not reading input; dropping events");
            s->dropped_input_logged = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return sent;
}

void session_free(struct session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    if (s->sock >= 0)
        shutdown(s->sock, SHUT_RDWR);
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->lock);
    if (s->reader_started)
        pthread_join(s->reader, NULL);
    drop_sock(s);
    if (s->welcome)
        ignition__welcome__free_unpacked(s->welcome, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void session_event_free(const SDL_UserEvent *event)
{
    if (!event->data1)
        return;
    switch ((enum session_event)event->code) {
    case SESSION_CONNECTED:
        ignition__welcome__free_unpacked(event->data1, NULL);
        break;
    case SESSION_MESSAGE: {
        struct session_message *m = event->data1;
        messages_in_flight--;
        for (unsigned i = 0; i < m->nfds; i++)
            if (m->fds[i] >= 0)
                close(m->fds[i]);
        if (m->env)
            ignition__envelope__free_unpacked(m->env, NULL);
        free(m);
        break;
    }
    case SESSION_LOST:
    case SESSION_FATAL:
    case SESSION_GONE:
        free(event->data1);
        break;
    }
}
