/* Handlers of /intent, /claim, /extend_claim, /fulfill and /fail. */
#include "serve/handlers.h"
#include "serve/server.h"

void handle_publish(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_publish(&request->server->bus, &request->caller, request->json,
                                   request_header(request, "Idempotency-Key"), &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

/* A claim parameter: the header first (where the spec names one), then the
 * query string, then a field of a JSON body. */
static const char *claim_param(const struct http_request *request, const char *header,
                               const char *name)
{
    const char *value = header ? request_header(request, header) : NULL;
    if (value == NULL)
        value = request_query(request, name);
    if (value == NULL && json_is_object(request->json))
        value = json_string_value(json_object_get(request->json, name));
    return value;
}

void handle_claim(struct http_request *request, struct http_response *response)
{
    struct claim_params params = {
        .namespace_ = claim_param(request, NULL, "namespace"),
        .goal = claim_param(request, NULL, "goal"),
        .worker_id = claim_param(request, "X-Worker-ID", "worker_id"),
        .capabilities = claim_param(request, "X-Worker-Capabilities", "capabilities"),
    };
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_claim(&request->server->bus, &request->caller, &params, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

typedef enum bus_err (*lease_operation)(struct bus *, const struct principal *, const char *,
                                        const json_t *, struct bus_reply *, struct bus_error *);

static void handle_lease(struct http_request *request, struct http_response *response,
                         lease_operation operation)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = operation(&request->server->bus, &request->caller, request->param,
                                 request->json, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_extend(struct http_request *request, struct http_response *response)
{
    handle_lease(request, response, bus_extend);
}

void handle_fulfill(struct http_request *request, struct http_response *response)
{
    handle_lease(request, response, bus_fulfill);
}

void handle_fail(struct http_request *request, struct http_response *response)
{
    handle_lease(request, response, bus_fail);
}
