/* libFuzzer harness: the snapshot manifest's parser (snapshot_manifest_parse)
 * over arbitrary manifest files. The first input byte is a mode: when bit 0 is
 * set the harness makes the three checksums good before parsing, so that
 * mutated sizes and fields reach the checks behind the checksums instead of
 * stopping at the first mismatch; the rest of the input is the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "byteorder.h"
#include "storage/snapshot_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc_of(const uint8_t *p, uint64_t n)
{
    return (uint32_t)crc32_z(0, p, (z_size_t)n);
}

/* Fixes the checksums of whatever table and body the header claims, as far
 * as they lie inside the file. */
static void make_checksums_good(uint8_t *file, size_t size)
{
    if (size < SNAPSHOT_HEADER_SIZE)
        return;
    uint64_t table = (uint64_t)le32(file + SNAPSHOT_OFF_REGION_COUNT) * 4u;
    uint64_t body = le64(file + SNAPSHOT_OFF_BODY_LENGTH);
    uint64_t room = size - SNAPSHOT_HEADER_SIZE;
    if (table <= room) {
        le_put(file + SNAPSHOT_OFF_TABLE_CRC, crc_of(file + SNAPSHOT_HEADER_SIZE, table), 4);
        if (body <= room - table)
            le_put(file + SNAPSHOT_OFF_BODY_CRC,
                   crc_of(file + SNAPSHOT_HEADER_SIZE + table, body), 4);
    }
    le_put(file + SNAPSHOT_OFF_HEADER_CRC, crc_of(file, SNAPSHOT_OFF_HEADER_CRC), 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t len = size - 1;
    /* A copy of exactly the file's length, so that ASan sees any read past it. */
    uint8_t *file = malloc(len ? len : 1);
    if (!file)
        return 0;
    memcpy(file, data + 1, len);
    if (data[0] & 1)
        make_checksums_good(file, len);
    struct snapshot_manifest_info m;
    char err[256];
    if (snapshot_manifest_parse(file, len, &m, err, sizeof(err)) == 0) {
        /* Everything the parser vouched for must lie inside the file. */
        volatile uint32_t sink = 0;
        for (uint32_t i = 0; i < m.region_count; i++)
            sink ^= le32(m.region_crcs + 4u * i);
        for (uint64_t i = 0; i < m.body_length; i++)
            sink ^= m.body[i];
        if (m.body + m.body_length != file + len)
            abort();
        (void)sink;
    }
    free(file);
    return 0;
}
