/* Virtual machine generation id (Microsoft's "Virtual Machine Generation ID"
 * paper; Linux's Documentation/devicetree/bindings/rng/microsoft,vmgenid.yaml).
 *
 * The guest maps the window as device memory and copies the id out of it with
 * whatever loads its memcpy picks, so every offset and access size reads the id's
 * bytes as little-endian memory would; past the id reads 0. The id is the
 * host's to change: guest writes are ignored. The interrupt is edge-triggered,
 * one pulse per new generation. */
#include "vmgenid.h"

#include <errno.h>
#include <libfdt.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/random.h>
#endif

#include "device_state.h"
#include "util.h"
#include "vmgenid.pb-c.h"

struct vmgenid {
    struct device dev;
    pthread_mutex_t lock;
    vmgenid_random_fn random;
    uint8_t id[VMGENID_ID_LEN];
};

static struct vmgenid *to_vmgenid(struct device *dev)
{
    return container_of(dev, struct vmgenid, dev);
}

void vmgenid_host_random(void *buf, size_t len)
{
#ifdef __linux__
    uint8_t *p = buf;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n <= 0)
            continue; /* EINTR; getrandom without flags blocks, never fails otherwise */
        p += n;
        len -= (size_t)n;
    }
#else
    arc4random_buf(buf, len);
#endif
}

static uint64_t vmgenid_read(struct device *dev, uint64_t off, unsigned size)
{
    struct vmgenid *g = to_vmgenid(dev);
    uint64_t v = 0;
    if (off >= VMGENID_ID_LEN || size > sizeof(v))
        return 0;
    pthread_mutex_lock(&g->lock);
    for (unsigned i = 0; i < size && off + i < VMGENID_ID_LEN; i++)
        v |= (uint64_t)g->id[off + i] << (8 * i);
    pthread_mutex_unlock(&g->lock);
    return v;
}

static void vmgenid_write(struct device *dev, uint64_t off, unsigned size, uint64_t value)
{
    (void)dev, (void)off, (void)size, (void)value;
}

void vmgenid_new_generation(struct device *dev)
{
    struct vmgenid *g = to_vmgenid(dev);
    pthread_mutex_lock(&g->lock);
    g->random(g->id, sizeof(g->id));
    pthread_mutex_unlock(&g->lock);
    irq_line_set(&dev->irq, true);
    irq_line_set(&dev->irq, false);
}

/* ---- snapshot state ---------------------------------------------------------- */

int vmgenid_save(struct device *dev, struct vmgenid_state *out)
{
    struct vmgenid *g = to_vmgenid(dev);
    pthread_mutex_lock(&g->lock);
    memcpy(out->id, g->id, sizeof(out->id));
    pthread_mutex_unlock(&g->lock);
    return 0;
}

int vmgenid_load(struct device *dev, const struct vmgenid_state *in)
{
    struct vmgenid *g = to_vmgenid(dev);
    pthread_mutex_lock(&g->lock);
    memcpy(g->id, in->id, sizeof(g->id));
    pthread_mutex_unlock(&g->lock);
    return 0;
}

int vmgenid_state_encode(const struct vmgenid_state *in, struct device_state_bytes *out)
{
    Ignition__Devices__VmGenIdState m = IGNITION__DEVICES__VM_GEN_ID_STATE__INIT;
    m.id = (ProtobufCBinaryData){sizeof(in->id), (uint8_t *)(uintptr_t)in->id};
    return device_state_pack(&m.base, out);
}

int vmgenid_state_decode(const uint8_t *state, size_t len, struct vmgenid_state *out,
                         char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    Ignition__Devices__VmGenIdState *m = (Ignition__Devices__VmGenIdState *)device_state_unpack(
        &ignition__devices__vm_gen_id_state__descriptor, state, len, "the generation id", err,
        err_len);
    if (!m)
        return -EINVAL;
    int rc = 0;
    if (m->id.len != sizeof(out->id))
        rc = device_state_refuse(err, err_len, "the generation id is %zu bytes, not %zu",
                                 m->id.len, sizeof(out->id));
    else
        memcpy(out->id, m->id.data, sizeof(out->id));
    device_state_free_unpacked(m);
    return rc;
}

static int vmgenid_save_bytes(struct device *dev, struct device_state_bytes *out)
{
    struct vmgenid_state st;
    vmgenid_save(dev, &st);
    return vmgenid_state_encode(&st, out);
}

/* Whatever the snapshot was, the machine it is loaded into is a new copy of
 * it: the id moves on at once (the edge waits in the interrupt controller,
 * loaded before this device, until the guest runs). */
static int vmgenid_load_bytes(struct device *dev, const uint8_t *state, size_t len, char *err,
                              size_t err_len)
{
    struct vmgenid_state st;
    int rc = vmgenid_state_decode(state, len, &st, err, err_len);
    if (rc < 0)
        return rc;
    vmgenid_load(dev, &st);
    vmgenid_new_generation(dev);
    return 0;
}

static int vmgenid_fdt_node(struct device *dev, void *fdt, const struct fdt_phandles *ph)
{
    (void)ph;
    int err = device_fdt_begin(fdt, "vmgenid", dev->base, dev->size);
    if (!err)
        err = fdt_property_string(fdt, "compatible", "microsoft,vmgenid");
    if (!err)
        err = device_fdt_spi(fdt, dev->irq.intid, true);
    if (!err)
        err = fdt_end_node(fdt);
    return err;
}

static void vmgenid_destroy(struct device *dev)
{
    struct vmgenid *g = to_vmgenid(dev);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static const struct device_ops vmgenid_ops = {
    .name = "vmgenid",
    .read = vmgenid_read,
    .write = vmgenid_write,
    .fdt_node = vmgenid_fdt_node,
    .destroy = vmgenid_destroy,
    .save = vmgenid_save_bytes,
    .load = vmgenid_load_bytes,
};

struct device *vmgenid_create(uint64_t base, struct irq_line irq, vmgenid_random_fn random)
{
    struct vmgenid *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->dev = (struct device){.ops = &vmgenid_ops, .base = base, .size = VMGENID_SIZE,
                             .irq = irq};
    pthread_mutex_init(&g->lock, NULL);
    g->random = random ? random : vmgenid_host_random;
    g->random(g->id, sizeof(g->id));
    return &g->dev;
}
