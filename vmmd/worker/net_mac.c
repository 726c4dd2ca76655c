#include "worker/net_mac.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "paths.h"
#ifdef __linux__
#include <sys/random.h>
#endif

static void make_local_unicast(uint8_t mac[6])
{
    mac[0] = (uint8_t)((mac[0] & ~0x01u) | 0x02u); /* I/G bit 0, U/L bit 1 */
}

void net_mac_derive(const uint8_t secret[NET_MAC_SECRET_BYTES], const char *name,
                    uint8_t mac[6])
{
    GHmac *h = g_hmac_new(G_CHECKSUM_SHA256, secret, NET_MAC_SECRET_BYTES);
    g_hmac_update(h, (const guchar *)name, (gssize)strlen(name));
    uint8_t digest[32];
    gsize len = sizeof(digest);
    g_hmac_get_digest(h, digest, &len);
    g_hmac_unref(h);
    memcpy(mac, digest, 6);
    make_local_unicast(mac);
}

static int random_fill(uint8_t *buf, size_t len)
{
#ifdef __linux__
    while (len) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        buf += n;
        len -= (size_t)n;
    }
#else
    arc4random_buf(buf, len);
#endif
    return 0;
}

void net_mac_random(uint8_t mac[6])
{
    if (random_fill(mac, 6) < 0)
        memset(mac, 0x5a, 6);
    make_local_unicast(mac);
}

void net_mac_format(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
}

static int read_secret(const char *path, uint8_t secret[NET_MAC_SECRET_BYTES])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, secret, NET_MAC_SECRET_BYTES);
    int saved = errno;
    close(fd);
    if (n < 0)
        return -saved;
    return n == NET_MAC_SECRET_BYTES ? 0 : -EINVAL;
}

/* Written beside its name and linked into place: two workers starting at once
 * agree on whichever got there first. */
static int create_secret(const char *path, uint8_t secret[NET_MAC_SECRET_BYTES])
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
    if (random_fill(secret, NET_MAC_SECRET_BYTES) < 0)
        return -EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    bool ok = write(fd, secret, NET_MAC_SECRET_BYTES) == NET_MAC_SECRET_BYTES && fsync(fd) == 0;
    close(fd);
    int rc = ok ? link(tmp, path) : -1;
    int saved = errno;
    unlink(tmp);
    if (!ok)
        return -EIO;
    if (rc < 0 && saved != EEXIST)
        return -saved;
    return read_secret(path, secret);
}

int net_mac_secret(const char *state_dir, uint8_t secret[NET_MAC_SECRET_BYTES])
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/net-secret", state_dir) >= sizeof(path))
        return -ENAMETOOLONG;
    int rc = read_secret(path, secret);
    if (rc == -ENOENT && (rc = paths_make_dirs(state_dir, 0700)) == 0)
        rc = create_secret(path, secret);
    return rc;
}
