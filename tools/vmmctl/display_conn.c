#include "display_conn.h"

#include <unistd.h>

#include "unixsock.h"
#include "util.h"
#include "wire.h"

int display_conn_open(const char *display_socket, char *err, size_t err_len)
{
    if (!display_socket || !display_socket[0]) {
        set_message(err, err_len, "guest has no display (started with --no-gui)");
        return -1;
    }
    char why[256];
    int sock = unixsock_connect(display_socket, why, sizeof(why));
    if (sock < 0) {
        set_message(err, err_len, "cannot reach the guest's display: %s", why);
        return -1;
    }
    if (wire_client_handshake(sock, DISPLAY_CONN_CLIENT_NAME, DISPLAY_CONN_HANDSHAKE_MS, NULL, why,
                              sizeof(why)) < 0) {
        set_message(err, err_len, "the guest's display refused us: %s", why);
        close(sock);
        return -1;
    }
    return sock;
}

int display_conn_ms_left(unsigned long long deadline_ns)
{
    uint64_t now = monotonic_ns();
    if (now >= deadline_ns)
        return 0;
    uint64_t ms = (deadline_ns - now + 999999) / 1000000;
    return ms > 60000 ? 60000 : (int)ms;
}
