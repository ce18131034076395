/* Building responses: the one place a bus_error becomes an error body. */
#include <stdarg.h>
#include <stdio.h>

#include "net/net.h"

#include "serve/request.h"

const char *request_header(const struct http_request *request, const char *name)
{
    return net_request_header(request->exchange, name);
}

const char *request_query(const struct http_request *request, const char *name)
{
    return net_request_query(request->exchange, name);
}

void response_json(struct http_response *response, unsigned status, json_t *body)
{
    response->status = status;
    response->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
}

static void error_body(struct http_response *response, unsigned status, const char *code,
                       const char *message)
{
    response_json(response, status,
                  json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

void response_error(struct http_response *response, const struct bus_error *error)
{
    error_body(response, bus_err_http_status(error->err), error->code, error->message);
    /* A storage fault lasts until someone frees space or remounts: a
     * client should wait, not hammer. */
    if (error->err == BUS_ERR_STORAGE_FULL || error->err == BUS_ERR_STORAGE_READ_ONLY ||
        error->err == BUS_ERR_STORAGE_IO)
        response->retry_after = STORAGE_RETRY_AFTER_SECONDS;
    else if (error->err == BUS_ERR_DATABASE_BUSY)
        response->retry_after = DATABASE_BUSY_RETRY_AFTER_SECONDS;
}

bool response_refuse(struct http_response *response, unsigned status, const char *code,
                     const char *message_format, ...)
{
    char message[160];
    va_list arguments;
    va_start(arguments, message_format);
    vsnprintf(message, sizeof message, message_format, arguments);
    va_end(arguments);
    error_body(response, status, code, message);
    return true;
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

void response_leave_write(struct http_response *response, enum bus_err begun, struct bus_call *call,
                          const struct bus_error *error)
{
    if (begun == BUS_OK)
        response->writing = call;
    else
        response_error(response, error);
}
