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
    json_t *body = json_pack("{s:b, s:f, s:s}", "ok", 1, "ts", clock_now(), "version",
                             INTENT_BUS_API_VERSION);
    response->status = 200;
    response->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
}

void handle_root(struct http_request *request, struct http_response *response)
{
    (void)request;
    char name[64];
    snprintf(name, sizeof name, "Intent Bus V%s", INTENT_BUS_API_VERSION);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "version",
                             INTENT_BUS_API_VERSION, "server", INTENT_BUS_VERSION, "protocol",
                             INTENT_PROTOCOL_VERSION);
    response->status = 200;
    response->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
}
