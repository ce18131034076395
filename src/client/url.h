/* Request-targets: path segments and query parameters percent-encoded the
 * strict RFC 3986 way (the signing module's encoder), so what is sent is
 * already in the form the signature canonicalizes to. */
#ifndef CLIENT_URL_H
#define CLIENT_URL_H

#include <stdbool.h>

/* prefix ("/fulfill/") followed by segment percent-encoded; NULL when out of
 * memory. The caller frees the result. */
char *url_path(const char *prefix, const char *segment);

/* Appends "?key=value" (or "&key=value" when *url already has a query) with
 * value percent-encoded (key is used as is); a NULL value appends nothing.
 * Returns false when out of memory, *url unchanged. Callers add parameters
 * in key order, so the target is its own canonical form. */
bool url_add_param(char **url, const char *key, const char *value);

/* url_add_param() of a number, appended only when it is greater than 0. */
bool url_add_count(char **url, const char *key, unsigned value);

#endif
