/* Helpers shared by the fuzz harnesses: turning libFuzzer's bytes into the
 * NUL-terminated strings the code under test takes. */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A malloc'd NUL-terminated copy of the input (cut at its first NUL, as a
 * C string would be); NULL when out of memory. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text != NULL) {
        memcpy(text, data, size);
        text[size] = '\0';
    }
    return text;
}

/* Splits text in place at each '\n' into at most max fields; returns how
 * many. Fields past the last separator are left in the last one. */
static inline size_t fuzz_fields(char *text, char **fields, size_t max)
{
    size_t count = 0;
    while (count < max) {
        fields[count++] = text;
        char *newline = strchr(text, '\n');
        if (newline == NULL || count == max)
            break;
        *newline = '\0';
        text = newline + 1;
    }
    return count;
}

#endif
