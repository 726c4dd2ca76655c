/* The host's end of a guest's virtio-vsock, on the worker's libevent loop,
 * as Firecracker lays it out (docs/VSOCK.md):
 *
 * - Host to guest: a process connects to the Unix socket PATH (0600, its
 *   user only), writes "CONNECT <port>\n" and, once the guest's listener on
 *   that port accepts, reads "OK <hostport>\n"; the connection is then a
 *   byte stream to the guest's socket. A guest that refuses, or does not
 *   answer within VSOCK_HOST_CONNECT_TIMEOUT_MS, gets the connection closed.
 * - Guest to host: a guest connecting to CID 2 port P reaches the Unix socket
 *   PATH_P (a listener the host's user made); nothing there is a refusal.
 *
 * Memory is bounded: at most VSOCK_HOST_MAX_CONNECTIONS connections, each
 * holding at most VSOCK_HOST_BUFFER bytes from the guest (the credit it is
 * offered; a guest sending beyond it is reset). Host bytes are read only as
 * far as the guest's credit and receive buffers allow, so a guest that never
 * reads holds its host peer back through the socket, not through memory. */
#ifndef IGNITION_VSOCK_HOST_H
#define IGNITION_VSOCK_HOST_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct device;

#define VSOCK_HOST_MAX_CONNECTIONS 64
#define VSOCK_HOST_BUFFER (256u << 10)
#define VSOCK_HOST_CONNECT_TIMEOUT_MS 10000
/* The first port the host end of a host-initiated connection gets (the
 * "hostport" of the OK line); they count up from here, as Firecracker's do. */
#define VSOCK_HOST_FIRST_LOCAL_PORT (1u << 30)

/* "CONNECT <port>\n", at most this long. */
#define VSOCK_HOST_LINE_MAX 32

/* Parses the line (without its newline) a host process sends. 0 with *port
 * set, or -1. Pure: unit-tested. */
int vsock_host_parse_connect(const char *line, size_t len, uint32_t *port);

struct vsock_host;

/* Listens at socket_path. Returns NULL with a reason in err. */
struct vsock_host *vsock_host_create(struct event_base *base, const char *socket_path,
                                     char *err, size_t err_len);
/* What the device's backend kick calls (any thread). */
void vsock_host_kick(void *opaque);
/* The machine's virtio-vsock, once it exists (NULL: detached; every
 * connection is closed). Loop thread. */
void vsock_host_attach(struct vsock_host *h, struct device *vsock);
/* A restored guest: its connections from before the snapshot have no host
 * end here. Tells it (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET, as soon as it has
 * an event buffer), so that its sockets fail instead of waiting. Loop thread. */
void vsock_host_transport_reset(struct vsock_host *h);
const char *vsock_host_path(const struct vsock_host *h);
void vsock_host_destroy(struct vsock_host *h);

#endif
