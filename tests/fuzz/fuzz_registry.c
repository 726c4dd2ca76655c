/* libFuzzer harness: a guest.json from the state directory, which a user may
 * have edited or a crash may have cut short. The registry must load a whole,
 * sensible record or refuse the text, never crash or leak; what it loads must
 * format and load again to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "supervisor/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct guest_record record;
    char err[256];
    if (registry_parse(text, &record, err, sizeof(err)) == 0) {
        char *again = registry_format(&record);
        struct guest_record second;
        if (!again || registry_parse(again, &second, err, sizeof(err)) != 0)
            abort();
        if (strcmp(second.name, record.name) != 0 || second.state != record.state ||
            second.config.num_disks != record.config.num_disks ||
            second.config.mem_bytes != record.config.mem_bytes)
            abort();
        guest_record_clear(&second);
        free(again);
        guest_record_clear(&record);
    }
    free(text);
    return 0;
}
