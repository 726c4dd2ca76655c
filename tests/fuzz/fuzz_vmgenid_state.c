/* libFuzzer harness: the generation id's saved state (its message,
 * proto/devices/vmgenid.proto) over arbitrary bytes, through the device
 * table's load as a restore does. Exactly what decodes loads, and a state that
 * loads leaves a new generation: a fresh random id (not the one given),
 * announced by an edge on the interrupt line, and readable in the window. The seeds are the states of real snapshots
 * (make_seeds_device_state). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vmgenid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int edges;

static void count_edges(void *opaque, unsigned intid, bool level)
{
    (void)opaque, (void)intid;
    edges += level;
}

static uint8_t last_random[VMGENID_ID_LEN];

static void counting_random(void *buf, size_t len)
{
    static uint8_t next;
    memset(buf, ++next, len);
    memcpy(last_random, buf, len < sizeof(last_random) ? len : sizeof(last_random));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmgenid_state in, out;
    char err[256];
    struct device *genid = vmgenid_create(0x09020000, (struct irq_line){.set = count_edges},
                                          counting_random);
    if (!genid)
        abort();
    edges = 0;
    bool decodes = vmgenid_state_decode(data, size, &in, err, sizeof(err)) == 0;
    bool loads = genid->ops->load(genid, data, size, err, sizeof(err)) == 0;
    if (decodes != loads)
        abort();
    if (loads) {
        vmgenid_save(genid, &out);
        if (edges != 1 || memcmp(last_random, out.id, sizeof(out.id)) != 0)
            abort();
        for (unsigned off = 0; off < VMGENID_ID_LEN; off++)
            if (genid->ops->read(genid, off, 1) != out.id[off])
                abort();
    }
    genid->ops->destroy(genid);
    return 0;
}
