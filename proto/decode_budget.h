/* Unpacking untrusted protobuf under a cap on what it may allocate.
 *
 * A few hundred bytes of protobuf can declare repeated fields whose decoding
 * asks for far more memory than the bytes themselves; every decoder of
 * untrusted bytes (the wire, the snapshot manifest, each device's state) gives
 * protobuf-c this allocator instead of the default one, and tells "too big"
 * from "malformed" by `exceeded`. It allocates with malloc, as protobuf-c's
 * default does, so a decoded message is freed as any other
 * (..._free_unpacked(m, NULL)). */
#ifndef IGNITION_DECODE_BUDGET_H
#define IGNITION_DECODE_BUDGET_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

struct decode_budget {
    size_t left;
    bool exceeded; /* an allocation was refused: the input asked for too much */
    ProtobufCAllocator allocator; /* pass &allocator to ..._unpack */
};

/* Sets budget up to allow `limit` bytes in all; it must outlive the unpack. */
void decode_budget_init(struct decode_budget *budget, size_t limit);

#endif
