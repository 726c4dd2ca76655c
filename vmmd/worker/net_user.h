/* User-mode networking for a guest's virtio-net: libslirp (the stack behind
 * QEMU's -netdev user) driven from the worker's libevent loop, its timers and
 * its sockets. NAT of the guest's TCP and UDP, DHCP (the guest is 10.0.2.15),
 * DNS at 10.0.2.3, IPv6 where libslirp offers it; ports published on the
 * host like `docker run -p`. The host's loopback is reachable from the guest
 * (at 10.0.2.2) only with host_loopback. */
#ifndef IGNITION_NET_USER_H
#define IGNITION_NET_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct event_base;
struct device;

#define NET_MAX_PUBLISH 16

/* [HOST_IP:]HOST_PORT:GUEST_PORT[/udp]; HOST_IP defaults to 127.0.0.1. */
struct net_publish {
    bool udp;
    struct in_addr host_addr;
    uint16_t host_port, guest_port;
};

enum net_mode { NET_NONE = 0, NET_USER = 1 };

struct net_config {
    enum net_mode mode;
    bool host_loopback;
    unsigned num_publish;
    struct net_publish publish[NET_MAX_PUBLISH];
};

/* Parses one publish rule. Returns 0, or -1 with a reason in err. */
int net_publish_parse(const char *text, struct net_publish *out, char *err, size_t err_len);
/* Parses --net: "none", or "user" followed by ",host-loopback" and
 * ",publish=RULE" items. Publishes add to what out already holds (so that
 * --publish options and --net publish= items combine). Returns 0 or -1. */
int net_config_parse(const char *text, struct net_config *out, char *err, size_t err_len);
/* The rule as text, as net_publish_parse takes it. */
void net_publish_format(const struct net_publish *p, char *out, size_t out_len);

/* Whether a frame the guest sent may go to libslirp. Without host_loopback
 * nothing reaches the host's own services: frames for the host's loopback or
 * "this host" addresses (127.0.0.0/8, 0.0.0.0/8, ::1, ::, their IPv4-mapped
 * forms), which libslirp would connect to as they are; TCP connection
 * attempts (a SYN without ACK) and UDP for the host at 10.0.2.2 (but DHCP)
 * and at every address of fec0::/64 but the DNS alias, which libslirp would
 * connect to the host's loopback; and anything for the DNS alias 10.0.2.3 or
 * fec0::3 but DNS (libslirp forwards the alias to the host's resolver, which
 * may be a loopback address). What is refused is answered as net_refuse.h
 * says. Pure: unit-tested and fuzzed. */
bool net_frame_allowed(const uint8_t *frame, size_t len, bool host_loopback);

/* Whether an Ethernet frame is a TCP segment that carries nothing but an ACK
 * (IPv4 unfragmented or IPv6 without extension headers; no payload; no flag
 * but ACK): what the user network lets wait briefly on its way to the guest. */
bool net_frame_is_pure_ack(const uint8_t *frame, size_t len);

struct net_user;

/* The stack for one guest, not yet attached to a device. Returns NULL with a
 * reason in err (a port that cannot be published, among others). */
struct net_user *net_user_create(struct event_base *base, const struct net_config *config,
                                 char *err, size_t err_len);
/* What the device's backend kick calls (any thread). */
void net_user_kick(void *opaque);
/* The machine's virtio-net, once it exists (NULL: detached, e.g. while the
 * machine is rebuilt after a reset). Loop thread. */
void net_user_attach(struct net_user *nu, struct device *net);
/* A restored or cloned guest has a new MAC and this new stack: its link goes
 * down until the driver has seen it down, then up again, so that the guest
 * takes the new address and asks DHCP again. Loop thread. */
void net_user_bounce_link(struct net_user *nu);
/* After a restore, once the vCPU runs. A guest whose MAC is the one it had
 * (the same guest restored) keeps its address and is asked to announce itself
 * (GUEST_ANNOUNCE: gratuitous ARP, so the new stack knows it at once); a clone
 * with a new MAC, or a driver without the feature, gets the link bounce. */
void net_user_restored(struct net_user *nu, bool same_mac);
void net_user_destroy(struct net_user *nu);

#endif
