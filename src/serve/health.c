/* GET /health: liveness, no authentication (spec 7.1); GET /: what answers
 * here, as the original server names itself there. */
#include <stdio.h>

#include <jansson.h>

#include "serve/handlers.h"
#include "util/clock.h"
#include "version.h"

void handle_health(struct http_request *request, struct http_response *response)
{
    (void)request;
    response_json(response, 200,
                  json_pack("{s:b, s:f, s:s}", "ok", 1, "ts", clock_now(), "version",
                            INTENT_BUS_API_VERSION));
}

void handle_root(struct http_request *request, struct http_response *response)
{
    (void)request;
    char name[64];
    snprintf(name, sizeof name, "Intent Bus V%s", INTENT_BUS_API_VERSION);
    response_json(response, 200,
                  json_pack("{s:s, s:s, s:s, s:s}", "name", name, "version", INTENT_BUS_API_VERSION,
                            "server", INTENT_BUS_VERSION, "protocol", INTENT_PROTOCOL_VERSION));
}
