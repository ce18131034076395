/* The error enum's descriptions, and the one table from the protocol's error
 * codes (src/core/errors.c on the server side) to enum ib_err. */
#include "client/errors.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

static const char *const descriptions[] = {
    [IB_OK] = "success",
    [IB_ERR_EMPTY] = "nothing to claim",
    [IB_ERR_UNAUTHORIZED] = "unauthorized: wrong API key or signature",
    [IB_ERR_FORBIDDEN] = "forbidden",
    [IB_ERR_NOT_FOUND] = "not found (for a claimed intent: the lease is lost)",
    [IB_ERR_METHOD_NOT_ALLOWED] = "method not allowed",
    [IB_ERR_INVALID_REQUEST] = "invalid request",
    [IB_ERR_INVALID_JSON] = "the request body is not valid JSON",
    [IB_ERR_INVALID_FIELD] = "invalid field",
    [IB_ERR_PAYLOAD_TOO_LARGE] = "payload too large",
    [IB_ERR_IDEMPOTENCY_CONFLICT] = "idempotency key reused with another request",
    [IB_ERR_RATE_LIMITED] = "rate limited",
    [IB_ERR_LIMIT_EXCEEDED] = "open intent limit exceeded",
    [IB_ERR_DATABASE_BUSY] = "database busy",
    [IB_ERR_MAINTENANCE] = "the bus is in maintenance mode",
    [IB_ERR_SERVER] = "server error",
    [IB_ERR_TRANSPORT] = "transport error: no HTTP response",
    [IB_ERR_PROTOCOL] = "unexpected response from the server",
    [IB_ERR_NO_MEMORY] = "out of memory",
    [IB_ERR_INVALID_ARGUMENT] = "invalid argument",
    [IB_ERR_CRYPTO] = "request signing failed",
    [IB_ERR_ABORTED] = "aborted by ib_client_abort()",
};

const char *ib_strerror(enum ib_err err)
{
    if ((unsigned)err >= sizeof descriptions / sizeof descriptions[0] || !descriptions[err])
        return "unknown error";
    return descriptions[err];
}

struct code_row {
    const char *code;
    enum ib_err err;
};

static const struct code_row codes[] = {
    {"unauthorized", IB_ERR_UNAUTHORIZED},
    {"invalid_signature", IB_ERR_UNAUTHORIZED}, /* 403: the key is good, the signature not */
    {"forbidden", IB_ERR_FORBIDDEN},
    {"not_found", IB_ERR_NOT_FOUND},
    {"method_not_allowed", IB_ERR_METHOD_NOT_ALLOWED},
    {"invalid_request", IB_ERR_INVALID_REQUEST},
    {"invalid_json", IB_ERR_INVALID_JSON},
    {"payload_too_large", IB_ERR_PAYLOAD_TOO_LARGE},
    {"idempotency_conflict", IB_ERR_IDEMPOTENCY_CONFLICT},
    {"rate_limited", IB_ERR_RATE_LIMITED},
    {"limit_exceeded", IB_ERR_LIMIT_EXCEEDED},
    {"database_busy", IB_ERR_DATABASE_BUSY},
    /* Storage faults: like contention, nothing was stored; retry later. */
    {"insufficient_storage", IB_ERR_DATABASE_BUSY},
    {"storage_read_only", IB_ERR_DATABASE_BUSY},
    {"storage_io_error", IB_ERR_DATABASE_BUSY},
    {"maintenance", IB_ERR_MAINTENANCE},
    {"internal_error", IB_ERR_SERVER},
};

/* The error a status means when the body names no known code. */
static enum ib_err from_status(long status)
{
    switch (status) {
    case 400:
        return IB_ERR_INVALID_REQUEST;
    case 401:
        return IB_ERR_UNAUTHORIZED;
    case 403:
        return IB_ERR_FORBIDDEN;
    case 404:
        return IB_ERR_NOT_FOUND;
    case 405:
        return IB_ERR_METHOD_NOT_ALLOWED;
    case 413:
        return IB_ERR_PAYLOAD_TOO_LARGE;
    case 422:
        return IB_ERR_IDEMPOTENCY_CONFLICT;
    case 429:
        return IB_ERR_RATE_LIMITED;
    }
    return status >= 500 && status <= 599 ? IB_ERR_SERVER : IB_ERR_PROTOCOL;
}

/* Every other "invalid_<field>" code is a field rule (spec section 7). */
enum ib_err errors_from_code(const char *code, long status)
{
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (strcmp(code, codes[i].code) == 0)
            return codes[i].err;
    }
    if (strncmp(code, "invalid_", 8) == 0 && status == 400)
        return IB_ERR_INVALID_FIELD;
    return from_status(status);
}

/* Copies the error body's code and message into client->last; false when
 * the body is not the protocol's error shape. */
static bool read_error_body(struct ib_client *client, const char *body, size_t size)
{
    json_t *root = size ? json_loadb(body, size, 0, NULL) : NULL;
    json_t *error = json_object_get(root, "error");
    const char *code = json_string_value(json_object_get(error, "code"));
    const char *message = json_string_value(json_object_get(error, "message"));
    bool found = code != NULL;
    if (found) {
        snprintf(client->last.code, sizeof client->last.code, "%s", code);
        snprintf(client->last.message, sizeof client->last.message, "%s", message ? message : "");
    }
    json_decref(root);
    return found;
}

enum ib_err errors_from_response(struct ib_client *client, long status, const char *body,
                                 size_t size)
{
    if (read_error_body(client, body, size))
        return errors_from_code(client->last.code, status);
    enum ib_err err = from_status(status);
    client_fail(client, err, "HTTP %ld without an error body", status);
    return err;
}
