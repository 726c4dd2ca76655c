/* Virtual machine generation id: a 128-bit value that changes whenever the
 * machine becomes a new copy of itself (a restore, a clone), so the guest can
 * tell that it now shares its past with others. Linux's vmgenid driver (the DT
 * binding "microsoft,vmgenid", Linux 6.10 and later) reads it at probe, and on the
 * device's interrupt reads it again: a changed id is mixed into the kernel's RNG
 * at once (no two clones go on to draw the same random numbers) and announced to
 * user space by a uevent carrying NEW_VMGENID=1. */
#ifndef IGNITION_VMGENID_H
#define IGNITION_VMGENID_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"

#define VMGENID_SIZE 0x1000 /* the window: the id, then zeros */
#define VMGENID_ID_LEN 16   /* the id: the window's first bytes */

/* Fills buf with len cryptographically random bytes; injectable for tests. */
typedef void (*vmgenid_random_fn)(void *buf, size_t len);

/* A device holding a fresh random id; random NULL means vmgenid_host_random. */
struct device *vmgenid_create(uint64_t base, struct irq_line irq, vmgenid_random_fn random);
void vmgenid_host_random(void *buf, size_t len);

/* A new generation: a fresh random id, then a rising edge on the interrupt so the
 * guest reads it. For a machine whose RAM and devices have just been restored:
 * the edge stays pending in the interrupt controller until the guest runs. */
void vmgenid_new_generation(struct device *dev);

/* ---- snapshot state ----------------------------------------------------------------- */

struct vmgenid_state {
    uint8_t id[VMGENID_ID_LEN];
};

/* Fills out (any thread). Always 0. */
int vmgenid_save(struct device *dev, struct vmgenid_state *out);
/* Takes in's id (every value is valid). Always 0. A restore follows it with
 * vmgenid_new_generation: the copy must not keep the id of what it copies. */
int vmgenid_load(struct device *dev, const struct vmgenid_state *in);

/* The state as its message (proto/devices/vmgenid.proto). decode refuses an
 * id of another length (-EINVAL, reason in err). The device table's load
 * takes the decoded id and then starts a new generation, as a restore must. */
int vmgenid_state_encode(const struct vmgenid_state *in, struct device_state_bytes *out);
int vmgenid_state_decode(const uint8_t *state, size_t len, struct vmgenid_state *out,
                         char *err, size_t err_len);

#endif
