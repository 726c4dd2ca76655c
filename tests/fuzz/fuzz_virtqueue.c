/* libFuzzer harness: the split-virtqueue walker against arbitrary guest memory.
 * The input is the guest RAM holding the rings and buffers; the first bytes also
 * choose the queue size and whether EVENT_IDX is on. Every chain is walked and
 * returned, as a device would, until the queue is empty or refuses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtqueue.h"

#define RAM_GPA 0x40000000ull
#define RAM_SIZE 0x10000u

static struct virtq_chain chain;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram_bytes[RAM_SIZE];
    if (size < 2)
        return 0;
    uint16_t qsize = (uint16_t)(1u << (data[0] % 9)); /* 1 .. 256 */
    bool event_idx = data[1] & 1;
    memset(ram_bytes, 0, sizeof(ram_bytes));
    memcpy(ram_bytes, data + 2, size - 2 < RAM_SIZE ? size - 2 : RAM_SIZE);
    struct guest_ram ram = {.gpa = RAM_GPA, .size = RAM_SIZE, .host = ram_bytes};
    struct virtq q;
    /* The avail ring comes first so that short inputs already offer chains;
     * the descriptor table follows (up to 256 entries), then the used ring. */
    if (virtq_init(&q, &ram, qsize, event_idx, RAM_GPA + 0x400, RAM_GPA, RAM_GPA + 0x1800) !=
        VIRTQ_OK)
        return 0;
    for (unsigned i = 0; i < 2u * qsize + 2; i++) {
        uint16_t old_used = q.used_idx;
        enum virtq_error err = virtq_pop(&q, &chain);
        if (err != VIRTQ_OK)
            break;
        uint32_t written = 0;
        for (unsigned s = 0; s < chain.num_segments; s++) {
            if (chain.segments[s].device_writable) {
                memset(chain.segments[s].host, 0xa5, chain.segments[s].len);
                written += chain.segments[s].len;
            } else {
                volatile uint8_t sink = 0;
                for (uint32_t b = 0; b < chain.segments[s].len; b++)
                    sink ^= chain.segments[s].host[b];
                (void)sink;
            }
        }
        virtq_push(&q, chain.head, written);
        (void)virtq_should_interrupt(&q, old_used);
    }
    return 0;
}
