/* Handler of GET /webhooks/secret: the calling key's webhook signing
 * secret, so the owner of any key (a tester key too) can verify the
 * events of the intents it published (docs/PROTOCOL-EXTENSIONS.md
 * "Completion webhooks"). */
#include "bus/webhooks.h"
#include "serve/handlers.h"
#include "serve/server.h"

void handle_webhook_secret(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_webhook_secret(&request->server->bus, &request->caller, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}
