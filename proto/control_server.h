/* The server side of the control protocol (DESIGN.md section 4) on a Unix
 * socket, as vmmd and each guest worker serve it; control_client.h is the other
 * side. Only the server's own user may connect. A client says Hello within
 * CONTROL_HANDSHAKE_SECONDS and is Welcomed; then it sends one request at a
 * time, each answered (at once, or later) before the next is taken. A client
 * that sends what is no message, or no Hello, gets an Error saying so and is
 * closed; one that sits idle for CONTROL_IDLE_SECONDS is closed. One that
 * closes its side after a request still gets the answer.
 *
 * The server owns the connections; its owner answers the requests through a
 * handler (struct control_server_ops), on the event loop's thread. */
#ifndef IGNITION_CONTROL_SERVER_H
#define IGNITION_CONTROL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "ignition.pb-c.h"

#define CONTROL_HANDSHAKE_SECONDS 5
#define CONTROL_IDLE_SECONDS 60
#define CONTROL_CLOSE_SECONDS 5 /* for an Error to leave before the connection goes */

struct event_base;
struct control_server;
struct control_conn; /* one client */

struct control_server_ops {
    /* A new client, before its Hello: returns the owner's data for it (kept
     * as control_conn_data), or NULL to turn it away (out of memory).
     * Optional: the data is then NULL. */
    void *(*opened)(void *opaque, struct control_conn *conn);
    /* A greeted client's request (not a Hello). The handler answers with
     * control_conn_reply or control_conn_error before it returns, or calls
     * control_conn_wait and answers later. env is freed after the call. */
    void (*request)(void *opaque, struct control_conn *conn, const Ignition__Envelope *env);
    /* The client is gone: its data is the owner's to free, and conn is
     * invalid from now on. Called from the event loop only, never under a
     * call into the server. Optional. */
    void (*closed)(void *opaque, struct control_conn *conn, void *data);
    void *opaque;
};

struct control_server_options {
    const char *who;              /* "vmmd", "worker": "this vmmd serves only its own user" */
    unsigned max_clients;         /* at least 1 */
    Ignition__Error__Code full_code; /* what a client past max_clients gets, */
    const char *full_message;        /* and why */
    size_t queue_limit;           /* bytes of replies queued for one client */
};

/* Listens at path (see unixsock_listen for what it requires of the path);
 * NULL path: no socket, clients come through control_server_adopt. Returns
 * NULL with a one-line reason in err. */
struct control_server *control_server_create(struct event_base *base, const char *path,
                                             const struct control_server_options *options,
                                             const struct control_server_ops *ops, char *err,
                                             size_t err_len);

/* Serves fd (a connected stream socket, now the server's) as a client that
 * connected, without the peer check: for tests and fuzzing over a socketpair.
 * Returns the connection, or NULL (fd closed) when the server is full or out
 * of memory. */
struct control_conn *control_server_adopt(struct control_server *s, int fd);

/* Closes every client (ops.closed for each), the socket, and removes the
 * socket file. NULL is fine. */
void control_server_destroy(struct control_server *s);

void *control_conn_data(const struct control_conn *c);

/* The answer to the current request: an envelope, or an Error. Either ends a
 * wait (control_conn_wait). A connection that broke is freed later, from the
 * loop (ops.closed says when): the caller may still use conn and its data
 * until it returns to the loop, and what it sends meanwhile goes nowhere. */
void control_conn_reply(struct control_conn *c, const Ignition__Envelope *env);
void control_conn_error(struct control_conn *c, Ignition__Error__Code code, const char *message);
/* An Error, then the connection closes: for a client that broke the protocol. */
void control_conn_refuse(struct control_conn *c, Ignition__Error__Code code, const char *message);

/* waiting true: the current request is answered later (a start, a stop):
 * meanwhile the client has no idle deadline and a further request is refused
 * as one too many. false: nothing more is coming for it (without an answer). */
void control_conn_wait(struct control_conn *c, bool waiting);
bool control_conn_waiting(const struct control_conn *c);

#endif
