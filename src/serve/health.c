/* GET /health: liveness, no authentication (spec 7.1). */
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
