/* Handlers of the per-key store: POST /set/<key> and GET /get/<key>. */
#include "serve/handlers.h"
#include "serve/server.h"

/* The set is a write the glue commits (response_leave_write). */
void handle_kv_set(struct http_request *request, struct http_response *response)
{
    struct bus_call *call = NULL;
    struct bus_error error;
    enum bus_err err =
        bus_kv_set_begin(&request->server->bus, &request->caller, request->param, request->json,
                         request_header(request, "Idempotency-Key"), &call, &error);
    response_leave_write(response, err, call, &error);
}

void handle_kv_get(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_kv_get(&request->server->bus, &request->caller, request->param, &reply,
                                  &error);
    response_from_bus(response, err, &reply, &error);
}
