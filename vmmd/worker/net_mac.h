/* Each guest's MAC address: locally administered, unicast, derived from the
 * guest's name and a secret of this host's (so it is stable across restarts
 * of the guest, differs between guests and clones, and says nothing about the
 * host to anyone who sees it). */
#ifndef IGNITION_NET_MAC_H
#define IGNITION_NET_MAC_H

#include <stddef.h>
#include <stdint.h>

#define NET_MAC_SECRET_BYTES 32

/* HMAC-SHA256(secret, name), first six bytes, with the locally administered
 * bit set and the multicast bit clear. */
void net_mac_derive(const uint8_t secret[NET_MAC_SECRET_BYTES], const char *name,
                    uint8_t mac[6]);

/* The host's secret in state_dir/net-secret (0600), made from the host's
 * random source the first time. Returns 0 or -errno. */
int net_mac_secret(const char *state_dir, uint8_t secret[NET_MAC_SECRET_BYTES]);

/* A random locally administered MAC (a guest with no name). */
void net_mac_random(uint8_t mac[6]);

void net_mac_format(const uint8_t mac[6], char out[18]);

#endif
