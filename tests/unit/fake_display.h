/* A guest worker's display socket played by a thread, for tests of clients:
 * it accepts one connection, answers Hello, announces what the test set up,
 * then records what the client sends until the client ends its stream. */
#ifndef IGNITION_TEST_FAKE_DISPLAY_H
#define IGNITION_TEST_FAKE_DISPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ignition.pb-c.h"

#define FAKE_DISPLAY_MAX_KEYS 4096

struct fake_key {
    uint32_t code;
    bool pressed;
};

struct fake_display {
    /* set up by the test before fake_display_start */
    bool announce;                    /* send info (with fd) and a full-frame Damage */
    Ignition__ScanoutInfo info;
    int fd;                           /* the scanout's object (the test closes it) */
    const char *error_after_hello;    /* send this Error instead of announcing */
    /* what the client did */
    struct fake_key keys[FAKE_DISPLAY_MAX_KEYS];
    unsigned nkeys;
    char client_name[80];
    bool saw_end_of_stream;
    /* inner workings */
    char dir[64], path[96];
    int listen_fd;
    pthread_t thread;
};

/* Listens in a new private directory (path is fd->path) and starts serving. */
void fake_display_start(struct fake_display *d);

/* Waits for the serving thread and removes the socket and directory. */
void fake_display_finish(struct fake_display *d);

#endif
