/* Handlers of /intent, /claim, /extend_claim, /fulfill and /fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/batch.h"
#include "bus/validate.h"
#include "serve/handlers.h"
#include "serve/long_poll.h"
#include "serve/router.h"
#include "serve/server.h"

/* Publish, claim, fulfill, extend and fail leave their write to the glue
 * (response_leave_write). */
void handle_publish(struct http_request *request, struct http_response *response)
{
    struct bus_call *call = NULL;
    struct bus_error error;
    enum bus_err err = bus_publish_begin(&request->server->bus, &request->caller, request->json,
                                         request_header(request, "Idempotency-Key"), &call, &error);
    response_leave_write(response, err, call, &error);
}

/* POST /intents: the batch publish (bus/batch.h). Idempotency keys are
 * per item; an Idempotency-Key header is not read here. */
void handle_publish_many(struct http_request *request, struct http_response *response)
{
    struct bus_call *call = NULL;
    struct bus_error error;
    enum bus_err err = bus_publish_many_begin(&request->server->bus, &request->caller,
                                              request->json, &call, &error);
    response_leave_write(response, err, call, &error);
}

/* ?max=K of a batch claim: plain decimal digits, 1 to BATCH_MAX_ITEMS;
 * absent = 0, the single claim. */
static bool read_claim_max(const struct http_request *request, int *max, struct bus_error *error)
{
    const char *text = request_query(request, "max");
    *max = 0;
    if (text == NULL)
        return true;
    long value = 0;
    size_t length = strlen(text);
    bool digits = length > 0 && length <= 3 && strspn(text, "0123456789") == length;
    if (digits)
        value = strtol(text, NULL, 10);
    if (!digits || value < 1 || value > BATCH_MAX_ITEMS) {
        bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_max",
                      "max must be a whole number from 1 to %d", BATCH_MAX_ITEMS);
        return false;
    }
    *max = (int)value;
    return true;
}

/* A blank header or query value means "not given", as in the original
 * server: its clients send "?worker_id=&capabilities=" for a worker with
 * neither. (The blank values are still part of the signed path.) */
static const char *given(const char *value)
{
    return value != NULL && value[0] != '\0' ? value : NULL;
}

/* Reads one claim parameter: the header first (where the spec names one),
 * then the query string, then a field of a JSON body. A body field that is
 * not a string is refused rather than ignored, so {"namespace": 5} cannot
 * quietly claim from the default namespace. */
static bool claim_param(const struct http_request *request, const char *header, const char *name,
                        const char **out, struct bus_error *error)
{
    *out = header ? given(request_header(request, header)) : NULL;
    if (*out == NULL)
        *out = given(request_query(request, name));
    const json_t *field = json_object_get(request->json, name);
    if (*out != NULL || field == NULL || json_is_null(field))
        return true;
    *out = validate_plain_string(field);
    if (*out != NULL)
        return true;
    bus_error_set(error, BUS_ERR_INVALID_FIELD, NULL, "%s must be a string", name);
    snprintf(error->code, sizeof error->code, "invalid_%s", name);
    return false;
}

static bool read_claim_params(const struct http_request *request, struct claim_params *params,
                              struct bus_error *error)
{
    if (request->json != NULL && !json_is_object(request->json)) {
        bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "a claim body must be a JSON object");
        return false;
    }
    if (!claim_param(request, NULL, "namespace", &params->namespace_, error) ||
        !claim_param(request, NULL, "goal", &params->goal, error) ||
        !claim_param(request, "X-Worker-ID", "worker_id", &params->worker_id, error) ||
        !claim_param(request, "X-Worker-Capabilities", "capabilities", &params->capabilities,
                     error) ||
        !claim_param(request, NULL, "publisher", &params->publisher, error))
        return false;
    /* The singular spellings the original server also reads. */
    if (params->capabilities == NULL &&
        !claim_param(request, "X-Worker-Capability", "capability", &params->capabilities, error))
        return false;
    return true;
}

/* With ?wait=S, a claim that finds nothing is parked until an intent it
 * may claim appears, or 204 at the deadline (docs/PROTOCOL-EXTENSIONS.md).
 * Its first attempt is a write like any claim's; the glue parks the waiter
 * made here if that write finds nothing. */
void handle_claim(struct http_request *request, struct http_response *response)
{
    struct claim_params params = {0};
    struct bus_error error;
    double wait = 0;
    if (!read_claim_params(request, &params, &error) ||
        !read_claim_max(request, &params.max, &error)) {
        response_error(response, &error);
        return;
    }
    if (!long_poll_read_wait(request, &wait, response))
        return;
    /* The main key has the admin role here, as in the original server: its
     * SDK's claim(publisher=...) has no way to send admin credentials. */
    params.as_admin =
        params.publisher != NULL &&
        (!request->caller.is_tester ||
         admin_may_act(admin_auth_check(&request->server->admin,
                                        request_header(request, "X-Admin-Token"),
                                        request_header(request, "Authorization"))));
    /* Read before the attempt, so a publish between it and parking is seen. */
    unsigned long sequence = wait > 0 ? long_poll_sequence(request->server->long_poll) : 0;
    struct bus_call *call = NULL;
    enum bus_err err =
        bus_claim_begin(&request->server->bus, &request->caller, &params, &call, &error);
    response_leave_write(response, err, call, &error);
    if (err != BUS_OK || wait <= 0)
        return;
    response->then_park = long_poll_claim_waiter(request, &params, wait);
    response->park_sequence = sequence;
}

typedef enum bus_err (*lease_begin)(struct bus *, const struct principal *, const char *,
                                    const json_t *, struct bus_call **, struct bus_error *);

static void handle_lease(struct http_request *request, struct http_response *response,
                         lease_begin begin)
{
    struct bus_call *call = NULL;
    struct bus_error error;
    enum bus_err err = begin(&request->server->bus, &request->caller, request->param,
                             request->json, &call, &error);
    response_leave_write(response, err, call, &error);
}

void handle_extend(struct http_request *request, struct http_response *response)
{
    handle_lease(request, response, bus_extend_begin);
}

void handle_fulfill(struct http_request *request, struct http_response *response)
{
    handle_lease(request, response, bus_fulfill_begin);
}

_Static_assert(BATCH_ITEM_BODY_MAX == REQUEST_BODY_MAX, "a batch item holds a single body's bytes");

/* POST /fulfill: the batch fulfil (bus/batch.h), one write for all. */
void handle_fulfill_many(struct http_request *request, struct http_response *response)
{
    struct bus_call *call = NULL;
    struct bus_error error;
    enum bus_err err = bus_fulfill_many_begin(&request->server->bus, &request->caller,
                                              request->json, &call, &error);
    response_leave_write(response, err, call, &error);
}

void handle_fail(struct http_request *request, struct http_response *response)
{
    handle_lease(request, response, bus_fail_begin);
}
