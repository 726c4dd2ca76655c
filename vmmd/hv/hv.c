/* Backend table and selection. kvm and hvf slot in here as entries. */
#include "hv.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Accelerated backends that ignition knows of but that are not built yet: named
 * so that `--backend kvm` gets an answer a person can act on, not "unknown". */
static const struct {
    const char *name;
    const char *host;
} hv_planned[] = {
    {"kvm", "Linux arm64 hosts with /dev/kvm"},
    {"hvf", "macOS on Apple Silicon"},
};

static const struct hv_ops *const hv_backends[] = {
    &hv_emu_ops,
};

const struct hv_ops *hv_select(const char *name, char *why, size_t why_len,
                               char *note, size_t note_len)
{
    if (note_len)
        note[0] = '\0';
    if (strcmp(name, "auto") == 0) {
        bool have_kvm = access("/dev/kvm", R_OK | W_OK) == 0;
        snprintf(note, note_len, "backend auto: using emu (%s)",
                 have_kvm ? "the kvm backend is not built in this version"
                          : "no /dev/kvm or Hypervisor.framework here");
        name = "emu";
    }
    for (size_t i = 0; i < ARRAY_SIZE(hv_backends); i++) {
        if (strcmp(hv_backends[i]->name, name) != 0)
            continue;
        if (!hv_backends[i]->usable(why, why_len))
            return NULL;
        return hv_backends[i];
    }
    for (size_t i = 0; i < ARRAY_SIZE(hv_planned); i++) {
        if (strcmp(hv_planned[i].name, name) == 0) {
            snprintf(why, why_len,
                     "the %s backend (for %s) is not built in this version; use --backend emu",
                     name, hv_planned[i].host);
            return NULL;
        }
    }
    snprintf(why, why_len, "unknown backend '%s' (choose emu, kvm, hvf or auto)", name);
    return NULL;
}
