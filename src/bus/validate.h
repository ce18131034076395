/* Request validation: turns untrusted JSON and query strings into the bus's
 * typed requests, or into the precise invalid_* error a client can act on.
 * Nothing here touches storage or HTTP. */
#ifndef BUS_VALIDATE_H
#define BUS_VALIDATE_H

#include <stdbool.h>

#include <jansson.h>

#include "core/errors.h"
#include "core/intent.h"

#define DELAY_MAX_SECONDS 2592000.0 /* 30 days */
#define EXTEND_MIN_SECONDS 10.0
#define EXTEND_MAX_SECONDS 3600.0
#define EXTEND_DEFAULT_SECONDS 60.0
#define KV_KEY_MAX_BYTES 256
#define KV_TTL_DEFAULT 600.0
#define KV_TTL_MAX 86400.0
#define IDEMPOTENCY_KEY_MAX 255

/* Fills the client-given fields of *out (all but id, publisher and times)
 * from a publish body. On failure fills *error and leaves nothing owned. */
enum bus_err validate_publish(const json_t *body, struct intent_new *out,
                              struct bus_error *error);

/* The text of a JSON string that holds no NUL character, else NULL (bodies
 * are parsed with NUL allowed so payloads may carry "\u0000"). */
const char *validate_plain_string(const json_t *value);

/* 1-256 Unicode characters. */
bool validate_goal(const char *goal);

/* 1-64 of A-Z a-z 0-9 . - _ */
bool validate_namespace(const char *namespace_);

/* 1-128 characters with no control characters. */
bool validate_worker_id(const char *worker_id);

#define OWNER_MAX_CHARS 64
/* A tester key's owner: 1-64 characters with no control characters. */
bool validate_owner(const char *owner);

/* Splits a comma-separated capability list into a malloc'd JSON array text
 * (tokens trimmed of spaces, empty ones dropped); no capability at all (a
 * NULL or empty list, or only separators) leaves *json_out NULL, which
 * the stores read as the empty array. */
enum bus_err validate_capabilities(const char *list, char **json_out, struct bus_error *error);

/* Reads the required claim_token of a lease operation. A token of the wrong
 * shape can never match, so it is BUS_ERR_NOT_FOUND like a stale one. */
enum bus_err validate_claim_token(const json_t *body, char out[CLAIM_TOKEN_LEN + 1],
                                  struct bus_error *error);

/* `seconds` of /extend_claim: 10-3600, default 60. */
enum bus_err validate_extend_seconds(const json_t *body, double *seconds, struct bus_error *error);

/* `result` and `result_type` of /fulfill. *result_json is malloc'd or NULL. */
enum bus_err validate_fulfill(const json_t *body, char **result_json, char result_type[8],
                              struct bus_error *error);

/* `error` of /fail, truncated to ERROR_TEXT_MAX_BYTES. *text is malloc'd or NULL. */
enum bus_err validate_fail_error(const json_t *body, char **text, struct bus_error *error);

/* A KV key from the URL: 1-256 bytes of UTF-8 with no control characters. */
bool validate_kv_key(const char *key);

/* `value` (required, any JSON) and `ttl` (1-86400, default 600) of /set. */
enum bus_err validate_kv_set(const json_t *body, char **value_json, double *ttl,
                             struct bus_error *error);

/* An Idempotency-Key header: 1-255 printable ASCII characters. */
bool validate_idempotency_key(const char *key);

#endif
