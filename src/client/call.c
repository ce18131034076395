/* Sending a request and reading its reply; see call.h. */
#include "client/call.h"

#include <stdlib.h>

#include "client/errors.h"

/* The status of a response that arrived: IB_OK for 2xx but 204, which is
 * IB_ERR_EMPTY where the endpoint may send it and a protocol error elsewhere. */
static enum ib_err check_status(struct ib_client *client, const struct http_response *response,
                                bool empty_allowed)
{
    if (response->status == 204)
        return empty_allowed ? IB_ERR_EMPTY
                             : client_fail(client, IB_ERR_PROTOCOL, "204 from this endpoint");
    if (response->status < 200 || response->status > 299)
        return errors_from_response(client, response->status, response->body, response->size);
    return IB_OK;
}

/* Sends request; on IB_OK *response holds a 2xx response other than 204. */
static enum ib_err exchange(struct ib_client *client, const struct http_request *request,
                            bool empty_allowed, struct http_response *response)
{
    enum ib_err err = transport_send(client, request, response);
    if (err == IB_OK)
        err = check_status(client, response, empty_allowed);
    if (err != IB_OK)
        http_response_clear(response);
    return err;
}

enum ib_err call_text(struct ib_client *client, const struct http_request *request, char **text)
{
    struct http_response response;
    enum ib_err err = exchange(client, request, false, &response);
    *text = response.body; /* NULL unless IB_OK */
    return err;
}

/* call_json() and call_json_or_empty(). */
static enum ib_err json_reply(struct ib_client *client, const struct http_request *request,
                              bool empty_allowed, json_t **reply)
{
    *reply = NULL;
    struct http_response response;
    enum ib_err err = exchange(client, request, empty_allowed, &response);
    if (err != IB_OK)
        return err;
    json_error_t error;
    *reply = json_loadb(response.body, response.size, JSON_ALLOW_NUL, &error);
    http_response_clear(&response);
    if (*reply != NULL && json_is_object(*reply))
        return IB_OK;
    json_decref(*reply);
    *reply = NULL;
    return client_fail(client, IB_ERR_PROTOCOL, "HTTP %ld with a body that is not a JSON object",
                       client->last.status);
}

enum ib_err call_json(struct ib_client *client, const struct http_request *request, json_t **reply)
{
    return json_reply(client, request, false, reply);
}

enum ib_err call_json_or_empty(struct ib_client *client, const struct http_request *request,
                               json_t **reply)
{
    return json_reply(client, request, true, reply);
}

const char *call_reply_string(struct ib_client *client, const json_t *reply, const char *name)
{
    const char *value = json_string_value(json_object_get(reply, name));
    if (value == NULL)
        client_fail(client, IB_ERR_PROTOCOL, "the reply has no string \"%s\"", name);
    return value;
}

char *call_json_text(struct ib_client *client, const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        client_fail(client, IB_ERR_NO_MEMORY, "out of memory copying a JSON value");
    return text;
}
