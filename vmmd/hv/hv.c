/* Backend table and selection. hvf slots in here as an entry. */
#include "hv.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

/* Accelerated backends that ignition knows of but that this build lacks:
 * named so that `--backend kvm` gets an answer a person can act on, not
 * "unknown". */
static const struct {
    const char *name;
    const char *host;
} hv_known[] = {
    {"emu", "any host; this build was made with -Demu=false"},
    {"kvm", "Linux arm64 hosts with /dev/kvm"},
    {"hvf", "macOS on Apple Silicon"},
};

/* In the order auto tries them: an accelerated backend first. */
static const struct hv_ops *const hv_backends[] = {
#ifdef IGNITION_HAVE_KVM
    &hv_kvm_ops,
#endif
#ifdef IGNITION_HAVE_EMU
    &hv_emu_ops,
#endif
};

static const struct hv_ops *find_built(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(hv_backends); i++)
        if (strcmp(hv_backends[i]->name, name) == 0)
            return hv_backends[i];
    return NULL;
}

/* The first built backend that is usable here; note says which and why the
 * ones before it were passed over. */
static const struct hv_ops *select_auto(char *why, size_t why_len, char *note, size_t note_len)
{
    char passed[256] = "";
#ifndef IGNITION_HAVE_KVM
    /* What a person on an x86 or a macOS host wants to know first. */
    snprintf(passed, sizeof(passed), "kvm: not built for this host");
#endif
    for (size_t i = 0; i < ARRAY_SIZE(hv_backends); i++) {
        char reason[192];
        if (hv_backends[i]->usable(reason, sizeof(reason))) {
            if (passed[0])
                snprintf(note, note_len, "backend auto: using %s (%s)", hv_backends[i]->name,
                         passed);
            else
                snprintf(note, note_len, "backend auto: using %s", hv_backends[i]->name);
            return hv_backends[i];
        }
        size_t used = strlen(passed);
        snprintf(passed + used, sizeof(passed) - used, "%s%s: %s", used ? "; " : "",
                 hv_backends[i]->name, reason);
    }
    snprintf(why, why_len, "no backend can run here (%s)", passed);
    return NULL;
}

const struct hv_ops *hv_select(const char *name, char *why, size_t why_len,
                               char *note, size_t note_len)
{
    if (note_len)
        note[0] = '\0';
    if (strcmp(name, "auto") == 0)
        return select_auto(why, why_len, note, note_len);
    const struct hv_ops *hv = find_built(name);
    if (hv)
        return hv->usable(why, why_len) ? hv : NULL;
    for (size_t i = 0; i < ARRAY_SIZE(hv_known); i++) {
        if (strcmp(hv_known[i].name, name) == 0) {
            snprintf(why, why_len, "the %s backend (for %s) is not built in this version%s",
                     name, hv_known[i].host, find_built("emu") ? "; use --backend emu" : "");
            return NULL;
        }
    }
    snprintf(why, why_len, "unknown backend '%s' (choose emu, kvm, hvf or auto)", name);
    return NULL;
}
