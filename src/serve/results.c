/* Handlers of GET /result/<id> and GET /status/<id>. */
#include "serve/handlers.h"
#include "serve/long_poll.h"
#include "serve/server.h"

static enum bus_err read_intent(struct http_request *request, struct http_response *response,
                                bool with_result, enum intent_status *status)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_read_intent(&request->server->bus, &request->caller, request->param,
                                       with_result, &reply, &error, status);
    response_from_bus(response, err, &reply, &error);
    return err;
}

/* With ?wait=S, an intent that has not settled yet is answered when it
 * does, or with its state at the deadline (docs/PROTOCOL-EXTENSIONS.md). */
void handle_result(struct http_request *request, struct http_response *response)
{
    double wait = 0;
    enum intent_status status = INTENT_OPEN;
    if (!long_poll_read_wait(request, &wait, response))
        return;
    struct long_poll *poll = request->server->long_poll;
    unsigned long sequence = wait > 0 ? long_poll_sequence(poll) : 0;
    if (read_intent(request, response, true, &status) == BUS_OK && wait > 0 &&
        status != INTENT_FULFILLED && status != INTENT_DEAD)
        long_poll_park_result(poll, request, wait, sequence, response);
}

void handle_status(struct http_request *request, struct http_response *response)
{
    read_intent(request, response, false, NULL);
}
