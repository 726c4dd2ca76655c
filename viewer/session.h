/* The connection to a guest worker: connect and handshake, a reader thread
 * that turns each message into an SDL event for the main thread, and
 * reconnection every half second when the worker goes away. */
#ifndef IGNITION_VIEWER_SESSION_H
#define IGNITION_VIEWER_SESSION_H

#include <SDL_events.h>
#include <stdbool.h>
#include <stddef.h>

#include "ignition.pb-c.h"
#include "wire.h"

/* user.code of the SDL events a session posts (type: the one given to
 * session_new). The main thread owns data1 and frees it with session_event_free. */
enum session_event {
    SESSION_CONNECTED, /* data1: Ignition__Welcome */
    SESSION_MESSAGE,   /* data1: struct session_message */
    SESSION_LOST,      /* data1: a reason, malloc'd text */
    SESSION_FATAL,     /* data1: what to tell the user, malloc'd text; exit 1 */
    SESSION_GONE,      /* data1: the resolver's -ESRCH reason, malloc'd text */
};

struct session_message {
    Ignition__Envelope *env;
    int fds[WIRE_MAX_FDS];
    unsigned nfds;
};

struct session;

#define SESSION_MAX_PATH 512

/* socket_path may be NULL when a resolver is set before the first connect. */
struct session *session_new(const char *socket_path, Uint32 event_type);

/* Finds the socket to connect to, before every attempt: fills path (room for
 * len bytes) and returns 0; -ENOENT when it cannot now but may later (the
 * guest or vmmd not running: retried); -ESRCH when there is no such guest
 * (SESSION_GONE: a guest that was there has been removed); -EPROTO when it
 * never will for another reason (fatal). err says why. Runs on whichever
 * thread connects. */
typedef int (*session_resolve_fn)(void *ctx, char *path, size_t len, char *err, size_t err_len);
void session_set_resolver(struct session *s, session_resolve_fn resolve, void *ctx);

/* One attempt to resolve (when a resolver is set), connect and handshake,
 * from the calling thread. Returns 0; -ENOENT when no guest listens there;
 * -ESRCH when the resolver finds no such guest; -EPROTO when the worker
 * refused us or the resolver says it never will (err: the reason); another
 * -errno otherwise. */
int session_connect(struct session *s, char *err, size_t err_len);

/* Starts the reader thread; it connects (retrying) when not yet connected. */
int session_start(struct session *s);

/* Sends a small input message without ever waiting on the worker: when the
 * socket has no room (a worker that stopped reading) or there is no
 * connection, the message is dropped. Main thread only. */
bool session_send(struct session *s, const Ignition__Envelope *env);

/* Stops the reader thread and closes the connection. */
void session_free(struct session *s);

/* Frees what a session event carries (and closes any fds it still holds). */
void session_event_free(const SDL_UserEvent *event);

#endif
