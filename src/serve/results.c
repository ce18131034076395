/* Handlers of GET /result/<id> and GET /status/<id>. */
#include "serve/handlers.h"
#include "serve/server.h"

static void read_intent(struct http_request *request, struct http_response *response,
                        bool with_result)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_read_intent(&request->server->bus, &request->caller, request->param,
                                       with_result, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_result(struct http_request *request, struct http_response *response)
{
    read_intent(request, response, true);
}

void handle_status(struct http_request *request, struct http_response *response)
{
    read_intent(request, response, false);
}
