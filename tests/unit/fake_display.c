#include "fake_display.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unixsock.h"
#include "wire.h"

#define SERVE_MS 10000

static int accept_one(int listen_fd)
{
    struct pollfd p = {.fd = listen_fd, .events = POLLIN};
    if (poll(&p, 1, SERVE_MS) != 1)
        return -1;
    int fd = unixsock_accept(listen_fd);
    if (fd < 0)
        return -1;
    /* The blocking helpers below wait with poll: non-blocking is fine. */
    return fd;
}

static void send_welcome(int sock)
{
    Ignition__Welcome w = IGNITION__WELCOME__INIT;
    w.protocol_version = IGNITION__PROTOCOL_VERSION__PROTOCOL_VERSION_CURRENT;
    w.server_version = "test";
    w.guest_name = "fake";
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_WELCOME;
    env.welcome = &w;
    wire_send(sock, &env, NULL, 0);
}

static void announce(struct fake_display *d, int sock)
{
    Ignition__Envelope env = IGNITION__ENVELOPE__INIT;
    env.body_case = IGNITION__ENVELOPE__BODY_SCANOUT_INFO;
    env.scanout_info = &d->info;
    wire_send(sock, &env, d->info.enabled ? &d->fd : NULL, d->info.enabled ? 1 : 0);
    if (!d->info.enabled)
        return;
    Ignition__Rect rect = IGNITION__RECT__INIT;
    rect.width = d->info.width;
    rect.height = d->info.height;
    Ignition__Rect *rects[] = {&rect};
    Ignition__Damage damage = IGNITION__DAMAGE__INIT;
    damage.scanout_id = d->info.scanout_id;
    damage.sequence = 1;
    damage.n_rects = 1;
    damage.rects = rects;
    env.body_case = IGNITION__ENVELOPE__BODY_DAMAGE;
    env.damage = &damage;
    wire_send(sock, &env, NULL, 0);
}

static void record_until_end(struct fake_display *d, int sock)
{
    for (;;) {
        Ignition__Envelope *env;
        int rc = wire_recv(sock, &env, NULL, NULL, SERVE_MS);
        if (rc == -ENOTCONN)
            d->saw_end_of_stream = true;
        if (rc < 0)
            return;
        if (env->body_case == IGNITION__ENVELOPE__BODY_KEY_EVENT &&
            d->nkeys < FAKE_DISPLAY_MAX_KEYS)
            d->keys[d->nkeys++] =
                (struct fake_key){env->key_event->evdev_code, env->key_event->pressed};
        ignition__envelope__free_unpacked(env, NULL);
    }
}

static void *serve(void *arg)
{
    struct fake_display *d = arg;
    int sock = accept_one(d->listen_fd);
    if (sock < 0)
        return NULL;
    Ignition__Envelope *hello;
    if (wire_recv(sock, &hello, NULL, NULL, SERVE_MS) == 0) {
        if (hello->body_case == IGNITION__ENVELOPE__BODY_HELLO)
            snprintf(d->client_name, sizeof(d->client_name), "%s", hello->hello->client_name);
        ignition__envelope__free_unpacked(hello, NULL);
        send_welcome(sock);
        if (d->error_after_hello)
            wire_send_error(sock, IGNITION__ERROR__CODE__CODE_BAD_MESSAGE, d->error_after_hello);
        else if (d->announce)
            announce(d, sock);
        record_until_end(d, sock);
    }
    close(sock);
    return NULL;
}

void fake_display_start(struct fake_display *d)
{
    snprintf(d->dir, sizeof(d->dir), "/tmp/ignition-test-display-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(d->dir));
    snprintf(d->path, sizeof(d->path), "%s/fake.display", d->dir);
    char err[256];
    d->listen_fd = unixsock_listen(d->path, err, sizeof(err));
    ck_assert_msg(d->listen_fd >= 0, "%s", err);
    ck_assert_int_eq(pthread_create(&d->thread, NULL, serve, d), 0);
}

void fake_display_finish(struct fake_display *d)
{
    pthread_join(d->thread, NULL);
    close(d->listen_fd);
    unlink(d->path);
    rmdir(d->dir);
}
