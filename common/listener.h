/* A listening Unix socket's accept loop on libevent that survives running out of
 * file descriptors. accept() failing with EMFILE/ENFILE leaves the connection
 * queued, so a level-triggered listener would be woken again at once and spin
 * the process at full CPU for as long as the shortage lasts; this one stops
 * listening for a moment instead and tries again, so the process idles until
 * descriptors are free and then takes the queued connections. */
#ifndef IGNITION_LISTENER_H
#define IGNITION_LISTENER_H

#include <event2/event.h>

/* How long a listener out of descriptors waits before it tries again. */
#define LISTENER_RETRY_US 100000

/* Called with each accepted connection: non-blocking, close-on-exec, now the
 * callee's to keep or close. */
typedef void (*listener_accept_fn)(int fd, void *arg);

struct listener;

/* Watches listen_fd (which stays the caller's to close) on base and hands each
 * connection to on_accept. what names the socket in log lines ("display
 * socket"). Returns NULL when libevent cannot make its events. */
struct listener *listener_new(struct event_base *base, int listen_fd, const char *what,
                              listener_accept_fn on_accept, void *arg);

/* Stops watching; NULL is fine. */
void listener_free(struct listener *l);

/* How many times the listener has stopped for want of descriptors (for tests
 * and for status lines). */
unsigned long listener_pauses(const struct listener *l);

#endif
