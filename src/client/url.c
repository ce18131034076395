/* Building request-targets; see url.h. */
#include "client/url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/signature.h"

char *url_path(const char *prefix, const char *segment)
{
    char *encoded = signature_percent_encode(segment, strlen(segment));
    if (encoded == NULL)
        return NULL;
    size_t size = strlen(prefix) + strlen(encoded) + 1;
    char *path = malloc(size);
    if (path != NULL)
        snprintf(path, size, "%s%s", prefix, encoded);
    free(encoded);
    return path;
}

bool url_add_param(char **url, const char *key, const char *value)
{
    if (value == NULL)
        return true;
    char *encoded = signature_percent_encode(value, strlen(value));
    if (encoded == NULL)
        return false;
    size_t size = strlen(*url) + strlen(key) + strlen(encoded) + 3;
    char *grown = malloc(size);
    if (grown != NULL) {
        snprintf(grown, size, "%s%c%s=%s", *url, strchr(*url, '?') ? '&' : '?', key, encoded);
        free(*url);
        *url = grown;
    }
    free(encoded);
    return grown != NULL;
}

bool url_add_count(char **url, const char *key, unsigned value)
{
    if (value == 0)
        return true;
    char digits[16];
    snprintf(digits, sizeof digits, "%u", value);
    return url_add_param(url, key, digits);
}
