/* Typing text on a US-layout keyboard: which evdev key (and whether Shift is
 * held) makes each printable ASCII character, so that tools can type into a
 * guest through its virtio keyboard. */
#ifndef IGNITION_KEYTEXT_H
#define IGNITION_KEYTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Linux evdev codes (input-event-codes.h) of the keys typing needs besides
 * the character keys the table yields. */
#define KEYTEXT_KEY_TAB 15
#define KEYTEXT_KEY_ENTER 28
#define KEYTEXT_KEY_LEFTSHIFT 42
#define KEYTEXT_KEY_SPACE 57

/* The key for c and whether Shift goes with it: printable ASCII, space, '\n'
 * (Enter) and '\t' (Tab). False for anything a US keyboard cannot type. */
bool keytext_key_for(char c, uint32_t *code, bool *shift);

/* The offset of the first byte of text[0 .. len) that cannot be typed, or len
 * when every byte can. */
size_t keytext_first_untypable(const char *text, size_t len);

#endif
