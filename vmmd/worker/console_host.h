/* The host end of the guest's serial line when a supervisor runs the worker:
 * a Unix socket where console clients attach (raw bytes both ways, no
 * framing), and a log file of everything the guest printed.
 *
 * Output comes from the vCPU thread and never waits: it is appended to the log
 * at once and handed to the event loop, which copies it to every client. A
 * client that cannot keep up loses what does not fit in its buffer; the log
 * keeps everything. Input from any client goes to the guest through the
 * caller's buffered path; while that path is full, clients are not read, so
 * the pressure reaches whoever is typing (a paste is delayed, not cut short). */
#ifndef IGNITION_CONSOLE_HOST_H
#define IGNITION_CONSOLE_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONSOLE_HOST_MAX_CLIENTS 16
#define CONSOLE_HOST_CLIENT_BUFFER (256u << 10)
#define CONSOLE_HOST_LOG_LIMIT (1u << 20)
#define CONSOLE_HOST_LOG_GENERATIONS 2 /* PATH.1 and PATH.2 */

struct event_base;
struct console_host;

struct console_host_options {
    const char *socket_path; /* NULL: no clients (only the log) */
    const char *log_path;    /* NULL: no log */
    uint64_t log_limit;      /* the log is rotated before it grows past this */
    size_t client_buffer;    /* output kept for a client that is not reading */
    uid_t allowed_uid;       /* connections from any other user are refused */
    /* Where typed bytes go, on the event loop's thread: input_room says how
     * many input may take now; when it says 0, clients wait for
     * console_host_input_ready. */
    size_t (*input_room)(void *opaque);
    void (*input)(void *opaque, const uint8_t *data, size_t len);
    void *opaque;
};

/* Opens the log (appending) and listens at socket_path (its directory must be
 * ours and 0700). Returns NULL with a one-line reason in err. */
struct console_host *console_host_create(struct event_base *base,
                                         const struct console_host_options *options,
                                         char *err, size_t err_len);
/* Disconnects every client, removes the socket and closes the log. */
void console_host_destroy(struct console_host *h);

/* The guest's serial output, from any thread; never blocks on a client. */
void console_host_output(struct console_host *h, const uint8_t *data, size_t len);

/* The input path has room again: clients are read again. Event loop thread. */
void console_host_input_ready(struct console_host *h);

/* Clients attached right now, and output bytes lost by slow clients so far
 * (for tests and status). */
unsigned console_host_client_count(const struct console_host *h);
uint64_t console_host_dropped(const struct console_host *h);

#endif
