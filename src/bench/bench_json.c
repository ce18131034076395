/* In-place reading of claim responses; see bench_json.h. Values the bench
 * does not read are skipped by bracket depth, strings by their quotes. */
#include "bench/bench_json.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Past the closing quote of the string whose opening quote p is at, or
 * NULL when the text ends first. */
static const char *skip_string(const char *p)
{
    for (p++; *p != '"'; p++) {
        if (*p == '\0' || (*p == '\\' && *++p == '\0'))
            return NULL;
    }
    return p + 1;
}

/* At the ',' or '}' that ends the member value starting at p, or NULL. */
static const char *skip_value(const char *p)
{
    int depth = 0;
    while (p != NULL) {
        switch (*p) {
        case '\0':
            return NULL;
        case '"':
            p = skip_string(p);
            break;
        case '{':
        case '[':
            depth++, p++;
            break;
        case '}':
        case ']':
            if (depth == 0)
                return p;
            depth--, p++;
            break;
        case ',':
            if (depth == 0)
                return p;
            p++;
            break;
        default:
            p++;
        }
    }
    return NULL;
}

const char *bench_json_member(const char *text, const char *key)
{
    size_t key_length = strlen(key);
    const char *p = text != NULL ? skip_space(text) : NULL;
    if (p == NULL || *p != '{')
        return NULL;
    for (p++;; p++) {
        p = skip_space(p);
        const char *name = p + 1;
        const char *after_name = *p == '"' ? skip_string(p) : NULL;
        if (after_name == NULL)
            return NULL;
        p = skip_space(after_name);
        if (*p != ':')
            return NULL;
        p = skip_space(p + 1);
        bool match =
            (size_t)(after_name - 1 - name) == key_length && memcmp(name, key, key_length) == 0;
        if (match)
            return p;
        p = skip_value(p);
        if (p == NULL || *p != ',')
            return NULL;
    }
}

int bench_json_string(const char *value, const char **start)
{
    if (value == NULL || *value != '"')
        return -1;
    const char *end = strpbrk(value + 1, "\"\\");
    if (end == NULL || *end != '"')
        return -1;
    *start = value + 1;
    return (int)(end - *start);
}

double bench_json_number(const char *value)
{
    if (value == NULL)
        return 0;
    char *end = NULL;
    double number = strtod(value, &end);
    return end != value ? number : 0;
}
