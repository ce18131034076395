/* Canonical JSON: one text per meaning, so two requests that differ only in
 * key order or whitespace compare equal (idempotency keys, spec 7). */
#ifndef BUS_CANONICAL_JSON_H
#define BUS_CANONICAL_JSON_H

#include <jansson.h>

/* Returns a malloc'd compact text with object keys sorted at every depth,
 * or NULL on allocation failure. The caller frees it. */
char *canonical_json_dump(const json_t *value);

/* Writes the hex SHA-256 of `scope` + "\n" + canonical(value) into out:
 * the fingerprint of one request, scope being e.g. "POST /intent".
 * Returns 0, or -1 on allocation failure. */
int canonical_json_fingerprint(const char *scope, const json_t *value, char out[65]);

#endif
