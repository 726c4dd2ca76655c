#include "printable.h"

#define ESC 0x1b
#define BEL 0x07

/* After ESC: how many bytes the escape sequence at s (s[0] == ESC) takes,
 * ECMA-48 style, up to the end of the text for one left unterminated. */
static size_t escape_length(const unsigned char *s)
{
    size_t i = 1;
    switch (s[1]) {
    case '[': /* CSI: parameters, intermediates, one final byte */
        for (i = 2; s[i] >= 0x20 && s[i] <= 0x3f; i++)
            ;
        return s[i] >= 0x40 && s[i] <= 0x7e ? i + 1 : i;
    case ']': /* OSC, DCS, SOS, PM, APC: a string up to ST (ESC \) or BEL */
    case 'P':
    case 'X':
    case '^':
    case '_':
        for (i = 2; s[i]; i++) {
            if (s[i] == BEL)
                return i + 1;
            if (s[i] == ESC && s[i + 1] == '\\')
                return i + 2;
        }
        return i;
    default: /* intermediates, then one final byte */
        while (s[i] >= 0x20 && s[i] <= 0x2f)
            i++;
        return s[i] >= 0x30 && s[i] <= 0x7e ? i + 1 : i;
    }
}

static void copy_filtered(char *out, size_t out_len, const char *text, bool lines)
{
    if (!out || !out_len)
        return;
    size_t n = 0;
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    while (*s && n + 1 < out_len) {
        unsigned char ch = *s;
        if (ch == ESC) {
            s += escape_length(s);
            continue;
        }
        s++;
        if (lines && ch == '\r')
            continue;
        if (ch >= 0x20 && ch < 0x7f)
            out[n++] = (char)ch;
        else if (lines && (ch == '\n' || ch == '\t'))
            out[n++] = (char)ch;
        else
            out[n++] = '?';
    }
    out[n] = '\0';
}

void printable_copy(char *out, size_t out_len, const char *text)
{
    copy_filtered(out, out_len, text, false);
}

void printable_copy_lines(char *out, size_t out_len, const char *text)
{
    copy_filtered(out, out_len, text, true);
}
