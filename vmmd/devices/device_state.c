#include "device_state.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "decode_budget.h"

int device_state_refuse(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

int device_state_pack(const ProtobufCMessage *msg, struct device_state_bytes *out)
{
    *out = (struct device_state_bytes){0};
    size_t size = protobuf_c_message_get_packed_size(msg);
    if (size > DEVICE_STATE_MAX)
        return -E2BIG;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return -ENOMEM;
    out->len = protobuf_c_message_pack(msg, buf);
    out->data = buf;
    return 0;
}

ProtobufCMessage *device_state_unpack(const ProtobufCMessageDescriptor *desc,
                                      const uint8_t *state, size_t len, const char *what,
                                      char *err, size_t err_len)
{
    if (len > DEVICE_STATE_MAX) {
        device_state_refuse(err, err_len, "%s's state is %zu bytes, more than %u", what, len,
                            DEVICE_STATE_MAX);
        return NULL;
    }
    struct decode_budget budget;
    decode_budget_init(&budget, DEVICE_STATE_DECODE_BUDGET);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &budget.allocator, len, state);
    if (!m && budget.exceeded)
        device_state_refuse(err, err_len, "%s's %zu-byte state would take more than %u MiB to "
                            "decode", what, len, DEVICE_STATE_DECODE_BUDGET >> 20);
    else if (!m)
        device_state_refuse(err, err_len, "%s's %zu-byte state does not decode", what, len);
    return m;
}

void device_state_free_unpacked(void *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
}

void device_state_bytes_free(struct device_state_bytes *bytes)
{
    free(bytes->data);
    *bytes = (struct device_state_bytes){0};
}
