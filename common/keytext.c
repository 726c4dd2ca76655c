#include "keytext.h"

#include <string.h>

/* The four rows of character keys, unshifted and shifted; a row's keys have
 * consecutive evdev codes starting at its first code. */
struct key_row {
    const char *plain;
    const char *shifted;
    uint32_t first_code;
};

static const struct key_row rows[] = {
    {"1234567890-=", "!@#$%^&*()_+", 2},
    {"qwertyuiop[]", "QWERTYUIOP{}", 16},
    {"asdfghjkl;'`", "ASDFGHJKL:\"~", 30},
    {"\\zxcvbnm,./", "|ZXCVBNM<>?", 43},
};

static bool special_key_for(char c, uint32_t *code)
{
    switch (c) {
    case ' ': *code = KEYTEXT_KEY_SPACE; return true;
    case '\n': *code = KEYTEXT_KEY_ENTER; return true;
    case '\t': *code = KEYTEXT_KEY_TAB; return true;
    default: return false;
    }
}

bool keytext_key_for(char c, uint32_t *code, bool *shift)
{
    *shift = false;
    if (special_key_for(c, code))
        return true;
    /* strchr finds the terminator for '\0': it is never a key. */
    if (c == '\0')
        return false;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        const char *at = strchr(rows[r].plain, c);
        if (at) {
            *code = rows[r].first_code + (uint32_t)(at - rows[r].plain);
            return true;
        }
        at = strchr(rows[r].shifted, c);
        if (at) {
            *code = rows[r].first_code + (uint32_t)(at - rows[r].shifted);
            *shift = true;
            return true;
        }
    }
    return false;
}

size_t keytext_first_untypable(const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint32_t code;
        bool shift;
        if (!keytext_key_for(text[i], &code, &shift))
            return i;
    }
    return len;
}
