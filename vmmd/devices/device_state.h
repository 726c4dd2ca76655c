/* What every device's snapshot code shares (device.h explains the scheme):
 * packing its protobuf-c message into the bytes the manifest keeps, unpacking
 * them under an allocation budget, and saying why state is refused. The bytes
 * come from a file: unpacking checks the wire format only, and each device's
 * load checks the values. */
#ifndef IGNITION_DEVICE_STATE_H
#define IGNITION_DEVICE_STATE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"

/* One device's encoded state at most (the manifest holding all of them is
 * bounded by SNAPSHOT_BODY_MAX, snapshot_file.h). */
#define DEVICE_STATE_MAX (16u << 20)
/* What protobuf-c may allocate decoding one device's state, whatever its
 * bytes claim. */
#define DEVICE_STATE_DECODE_BUDGET (64u << 20)

/* Packs msg into out->data (malloc'd). 0; -E2BIG beyond DEVICE_STATE_MAX; -ENOMEM. */
int device_state_pack(const ProtobufCMessage *msg, struct device_state_bytes *out);

/* Unpacks a message of type desc from state, or NULL with the reason in err
 * (what names the device: "the UART's state does not decode"). Free the
 * message with device_state_free_unpacked. */
ProtobufCMessage *device_state_unpack(const ProtobufCMessageDescriptor *desc,
                                      const uint8_t *state, size_t len, const char *what,
                                      char *err, size_t err_len);
void device_state_free_unpacked(void *msg);

/* Writes the reason into err (when err_len > 0) and returns -EINVAL. */
int device_state_refuse(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void device_state_bytes_free(struct device_state_bytes *bytes);

#endif
