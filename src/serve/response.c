/* Building responses: the one place a bus_error becomes an error body. */
#include <microhttpd.h>

#include "serve/request.h"

const char *request_header(const struct http_request *request, const char *name)
{
    return MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND, name);
}

const char *request_query(const struct http_request *request, const char *name)
{
    return MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, name);
}

void response_error(struct http_response *response, const struct bus_error *error)
{
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", error->code, "message",
                             error->message);
    response->status = bus_err_http_status(error->err);
    response->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
}

void response_from_bus(struct http_response *response, enum bus_err err, struct bus_reply *reply,
                       const struct bus_error *error)
{
    if (err == BUS_OK) {
        response->status = reply->status;
        response->body = reply->body;
        reply->body = NULL;
    } else if (err == BUS_ERR_EMPTY) {
        response->status = 204;
        response->retry_after = 1;
    } else {
        response_error(response, error);
    }
}
