/* Signature checks; see signing.h. The canonical path is rebuilt from what
 * the HTTP layer decoded (path and query parameters in order), exactly as
 * docs/SIGNING.md tells clients to build it from what they send. */
#include "serve/signing.h"

#include <stdlib.h>
#include <string.h>

#include "net/net.h"

#include "auth/nonces.h"
#include "core/signature.h"
#include "serve/long_poll.h"
#include "serve/server.h"
#include "util/clock.h"

#define MAX_QUERY_PARAMS 64

struct param_list {
    struct signature_param items[MAX_QUERY_PARAMS];
    size_t count;
    bool overflow;
};

static bool collect_param(void *context, const char *key, size_t key_size, const char *value,
                          size_t value_size)
{
    struct param_list *list = context;
    if (list->count == MAX_QUERY_PARAMS) {
        list->overflow = true;
        return false;
    }
    list->items[list->count++] = (struct signature_param){key, key_size, value, value_size};
    return true;
}

/* A valid key with a request that is not signed as it must be: 403
 * invalid_signature, as the original server answers, not the 401 of a
 * missing or unknown key. */
static bool refuse(struct http_response *response, const char *message)
{
    struct bus_error error;
    bus_error_set(&error, BUS_ERR_INVALID_SIGNATURE, NULL, "%s", message);
    response_error(response, &error);
    return false;
}

/* The original server's messages, which its clients and tests look for. */
static const char *signature_problem(enum signature_result result)
{
    switch (result) {
    case SIGNATURE_MISSING_HEADERS:
        return "Missing required signature headers.";
    case SIGNATURE_BAD_TIMESTAMP:
        return "Invalid timestamp";
    case SIGNATURE_STALE_TIMESTAMP:
        return "Stale timestamp";
    case SIGNATURE_BAD_NONCE:
        return "Invalid nonce: 1 to 128 visible ASCII characters";
    case SIGNATURE_MISMATCH:
        return "Bad signature";
    default:
        return "the signature could not be checked";
    }
}

typedef char *canonical_path_fn(const char *, const struct signature_param *, size_t);

static enum signature_result verify_with(const struct http_request *request,
                                         const struct request_body *body,
                                         const struct param_list *params,
                                         canonical_path_fn *canonical, const char *signature,
                                         double now)
{
    char *canonical_path = canonical(request->path, params->items, params->count);
    if (canonical_path == NULL)
        return SIGNATURE_INTERNAL_ERROR;
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
    return result;
}

/* Verifies the HMAC; NULL on success, else what is wrong. The path is
 * signed percent-encoded (docs/SIGNING.md) or, as the original server and
 * SDK sign it, decoded: "/set/a b". Both name the same request, so either
 * is accepted; the second HMAC is computed only for a path where they
 * differ. */
static const char *verify(const struct http_request *request, const struct request_body *body,
                          const char *signature, double now)
{
    struct param_list params = {.count = 0};
    net_request_query_each(request->exchange, collect_param, &params);
    if (params.overflow)
        return "Bad signature: too many query parameters to sign";
    enum signature_result result =
        verify_with(request, body, &params, signature_canonical_path, signature, now);
    if (result == SIGNATURE_MISMATCH && signature_path_needs_encoding(request->path))
        result = verify_with(request, body, &params, signature_original_path, signature, now);
    return result == SIGNATURE_OK ? NULL : signature_problem(result);
}

/* Records the nonce now; false (and the 403 or 503 in response) when it
 * is a replay or cannot be recorded. */
static bool record_now(struct http_request *request, const char *nonce, double now,
                       struct http_response *response)
{
    struct server *server = request->server;
    bool fresh = false;
    enum bus_err err = auth_nonce_use(&server->auth, request->caller.id, nonce, now,
                                      NONCE_RETENTION_SECONDS, &fresh);
    if (err != BUS_OK) {
        struct bus_error error;
        bus_error_set(&error, err, NULL, "the nonce could not be recorded");
        response_error(response, &error);
        return false;
    }
    return fresh ? true : refuse(response, NONCE_REPLAY_MESSAGE);
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

/* The answer is ready and changed nothing: it waits (response's
 * ready_but_nonce) for its nonce as a write of its own, so the thread does
 * not. False when out of memory: the nonce is then recorded now. */
static bool nonce_as_write(struct http_request *request, struct http_response *response)
{
    struct bus_call *call = NULL;
    if (bus_nonce_begin(&request->server->bus, request->caller.id, request->signed_nonce,
                        request->signed_at, &call) != BUS_OK)
        return false;
    response->writing = call;
    response->ready_but_nonce = true;
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
    if (response->suspended == NULL && nonce_as_write(request, response))
        return;
    struct http_response refusal = {0};
    if (record_now(request, request->signed_nonce, request->signed_at, &refusal))
        return;
    if (!response->body_is_static)
        free(response->body);
    *response = refusal;
}
