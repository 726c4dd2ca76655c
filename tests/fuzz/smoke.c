/* Runs a fuzz harness without libFuzzer, for CI: every seed in a directory,
 * then a fixed number of mutations of them (bit flips, byte overwrites with
 * boundary values, truncation, duplication, splices). Deterministic, so that
 * a failure in CI reproduces with the same command; bounded by a count and a
 * time limit. Under AddressSanitizer and UBSan this is a short smoke test;
 * tools/fuzz runs the real coverage-guided fuzzer.
 *   smoke SEED_DIR [MUTATIONS] [SECONDS] */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define SMOKE_MAX_INPUT (256u * 1024u)
#define MAX_SEEDS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
    uint8_t *data;
    size_t size;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t next_random(void)
{
    /* xorshift64*: plenty for choosing mutations. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t below(size_t n)
{
    return n ? (size_t)(next_random() % n) : 0;
}

static int load_seeds(const char *dir, struct input *seeds)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < MAX_SEEDS) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        seeds[n].data = malloc(SMOKE_MAX_INPUT);
        seeds[n].size = fread(seeds[n].data, 1, SMOKE_MAX_INPUT, f);
        fclose(f);
        n++;
    }
    closedir(d);
    return n;
}

static size_t mutate(uint8_t *buf, size_t size, const struct input *other)
{
    static const uint8_t boundary[] = {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff};
    switch (below(6)) {
    case 0: /* flip a few bits */
        for (int i = 0, n = 1 + (int)below(8); i < n && size; i++)
            buf[below(size)] ^= (uint8_t)(1u << below(8));
        return size;
    case 1: /* boundary bytes, where lengths and ids live */
        for (int i = 0, n = 1 + (int)below(4); i < n && size; i++)
            buf[below(size)] = boundary[below(sizeof(boundary))];
        return size;
    case 2: /* a 32-bit field set to an extreme */
        if (size >= 4) {
            uint32_t v = below(2) ? 0xffffffffu : (uint32_t)next_random();
            memcpy(buf + below(size - 3), &v, 4);
        }
        return size;
    case 3: /* truncate */
        return below(size + 1);
    case 4: { /* duplicate a slice at the end */
        size_t from = below(size), len = below(size - from + 1);
        if (size + len > SMOKE_MAX_INPUT)
            return size;
        memmove(buf + size, buf + from, len);
        return size + len;
    }
    default: { /* splice in part of another seed */
        size_t at = below(size + 1), len = below(other->size + 1);
        if (at + len > SMOKE_MAX_INPUT)
            len = SMOKE_MAX_INPUT - at;
        memcpy(buf + at, other->data, len);
        return at + len > size ? at + len : size;
    }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SEED_DIR [MUTATIONS] [SECONDS]\n", argv[0]);
        return 2;
    }
    long mutations = argc > 2 ? atol(argv[2]) : 20000;
    double seconds = argc > 3 ? atof(argv[3]) : 30;
    static struct input seeds[MAX_SEEDS];
    int n = load_seeds(argv[1], seeds);
    if (n <= 0) {
        fprintf(stderr, "%s: no seeds\n", argv[1]);
        return 1;
    }
    for (int i = 0; i < n; i++)
        LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].size);
    /* The seeds' warnings show; the mutants' thousands of refusals would bury
     * a sanitizer's report. */
    log_set_quiet(true);
    uint8_t *buf = malloc(SMOKE_MAX_INPUT);
    time_t start = time(NULL);
    long done = 0;
    for (; done < mutations && difftime(time(NULL), start) < seconds; done++) {
        const struct input *s = &seeds[below((size_t)n)];
        memcpy(buf, s->data, s->size);
        size_t size = s->size;
        for (int k = 0, rounds = 1 + (int)below(4); k < rounds; k++)
            size = mutate(buf, size, &seeds[below((size_t)n)]);
        /* An exact-size copy, so reads past the end are caught by ASan. */
        uint8_t *exact = malloc(size ? size : 1);
        memcpy(exact, buf, size);
        LLVMFuzzerTestOneInput(exact, size);
        free(exact);
    }
    printf("%d seeds, %ld mutations: no crash\n", n, done);
    free(buf);
    for (int i = 0; i < n; i++)
        free(seeds[i].data);
    return 0;
}
