/* Signature checks; see signing.h. The canonical path is rebuilt from what
 * libmicrohttpd decoded (path and query parameters in order), exactly as
 * docs/SIGNING.md tells clients to build it from what they send. */
#include "serve/signing.h"

#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "auth/signature.h"
#include "serve/long_poll.h"
#include "serve/server.h"
#include "util/clock.h"

#define MAX_QUERY_PARAMS 64

struct param_list {
    struct signature_param items[MAX_QUERY_PARAMS];
    size_t count;
    bool overflow;
};

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct param_list *list = cls;
    if (list->count == MAX_QUERY_PARAMS) {
        list->overflow = true;
        return MHD_NO;
    }
    list->items[list->count++] = (struct signature_param){key, key_size, value, value_size};
    return MHD_YES;
}

static bool refuse(struct http_response *response, const char *message)
{
    struct bus_error error;
    bus_error_set(&error, BUS_ERR_UNAUTHORIZED, NULL, "%s", message);
    response_error(response, &error);
    return false;
}

static const char *signature_problem(enum signature_result result)
{
    switch (result) {
    case SIGNATURE_MISSING_HEADERS:
        return "signed requests need X-Timestamp, X-Nonce and X-Signature";
    case SIGNATURE_BAD_TIMESTAMP:
        return "X-Timestamp is not a Unix time within 300 seconds of the server's";
    case SIGNATURE_BAD_NONCE:
        return "X-Nonce must be 1 to 128 visible ASCII characters";
    case SIGNATURE_MISMATCH:
        return "X-Signature does not match the request";
    default:
        return "the signature could not be checked";
    }
}

/* Verifies the HMAC; NULL on success, else what is wrong. */
static const char *verify(const struct http_request *request, const struct request_body *body,
                          const char *signature, double now)
{
    struct param_list params = {.count = 0};
    MHD_get_connection_values_n(request->connection, MHD_GET_ARGUMENT_KIND, collect_param,
                                &params);
    if (params.overflow)
        return "too many query parameters to sign";
    char *canonical_path = signature_canonical_path(request->path, params.items, params.count);
    if (canonical_path == NULL)
        return "the signature could not be checked";
    struct signature_request signed_request = {
        .method = request->method,
        .canonical_path = canonical_path,
        .timestamp = request_header(request, "X-Timestamp"),
        .nonce = request_header(request, "X-Nonce"),
        .body = body->data,
        .body_len = body->size,
    };
    enum signature_result result =
        signature_verify(request_header(request, "X-API-KEY"), &signed_request, signature, now);
    free(canonical_path);
    return result == SIGNATURE_OK ? NULL : signature_problem(result);
}

/* Records the nonce now; false (and the 401 or 503 in response) when it
 * is a replay or cannot be recorded. */
static bool record_now(struct http_request *request, const char *nonce, double now,
                       struct http_response *response)
{
    struct server *server = request->server;
    bool fresh = false;
    enum bus_err err = server->store->ops->nonce_use(server->store->backend, request->caller.id,
                                                     nonce, now, NONCE_RETENTION_SECONDS, &fresh);
    if (err != BUS_OK) {
        struct bus_error error;
        bus_error_set(&error, err, NULL, "the nonce could not be recorded");
        response_error(response, &error);
        return false;
    }
    return fresh ? true : refuse(response, "X-Nonce was already used in the last 600 seconds");
}

bool signing_check(struct http_request *request, const struct request_body *body,
                   bool defer_nonce, struct http_response *response)
{
    const char *signature = request_header(request, "X-Signature");
    bool signed_request = signature || request_header(request, "X-Timestamp") ||
                          request_header(request, "X-Nonce");
    struct server *server = request->server;
    if (!signed_request && !server->config.require_signatures)
        return true;
    double now = clock_now();
    const char *problem = verify(request, body, signature, now);
    if (problem != NULL)
        return refuse(response, problem);
    /* Only a valid signature's nonce is stored, so forgeries cannot fill
     * the table. */
    const char *nonce = request_header(request, "X-Nonce");
    if (!defer_nonce)
        return record_now(request, nonce, now, response);
    request->signed_nonce = nonce;
    request->signed_at = now;
    return true;
}

void signing_record_nonce(struct http_request *request, struct http_response *response)
{
    if (response->writing != NULL) {
        if (bus_call_record_nonce(response->writing, request->caller.id, request->signed_nonce,
                                  request->signed_at) == BUS_OK)
            return;
        /* Out of memory: the write is not made unchecked. */
        bus_call_free(response->writing);
        response->writing = NULL;
        waiter_free(response->then_park);
        response->then_park = NULL;
        struct bus_error error;
        bus_error_set(&error, BUS_ERR_INTERNAL, NULL, "out of memory");
        response_error(response, &error);
        return;
    }
    struct http_response refusal = {0};
    if (record_now(request, request->signed_nonce, request->signed_at, &refusal))
        return;
    if (!response->body_is_static)
        free(response->body);
    *response = refusal;
}
