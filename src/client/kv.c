/* ib_set() and ib_get(): the per-key store, POST /set/<key> and GET
 * /get/<key> (spec 7.9). The key is one percent-encoded path segment, so
 * any bytes, "/" and spaces included, reach the server as they were. */
#include <stdlib.h>
#include <string.h>

#include "client/body.h"
#include "client/call.h"
#include "client/url.h"

static enum ib_err set_body(struct ib_client *client, const char *value, unsigned ttl_seconds,
                            char **text)
{
    json_t *object = body_new(client);
    if (object == NULL)
        return IB_ERR_NO_MEMORY;
    enum ib_err err = body_set_json(client, object, "value", value);
    if (err == IB_OK && ttl_seconds > 0)
        err = body_set_new(client, object, "ttl", json_integer(ttl_seconds));
    if (err != IB_OK) {
        json_decref(object);
        return err;
    }
    return body_finish(client, object, text);
}

enum ib_err ib_set(struct ib_client *client, const char *key, const char *value,
                   unsigned ttl_seconds, const char *idempotency_key)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (key == NULL || key[0] == '\0' || value == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "key and value are required");
    char *body = NULL;
    enum ib_err err = set_body(client, value, ttl_seconds, &body);
    if (err != IB_OK)
        return err;
    char *target = url_path("/set/", key);
    if (target == NULL) {
        free(body);
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request");
    }
    struct http_request request = {.method = "POST",
                                   .path_and_query = target,
                                   .body = body,
                                   .body_len = strlen(body),
                                   .idempotency_key = idempotency_key};
    json_t *reply = NULL;
    err = call_json(client, &request, &reply);
    json_decref(reply);
    free(target);
    free(body);
    return err;
}

enum ib_err ib_get(struct ib_client *client, const char *key, char **value)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (value == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "value is required");
    *value = NULL;
    if (key == NULL || key[0] == '\0')
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "key is required");
    char *target = url_path("/get/", key);
    if (target == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request");
    struct http_request request = {.method = "GET", .path_and_query = target};
    json_t *reply = NULL;
    enum ib_err err = call_json(client, &request, &reply);
    free(target);
    const json_t *stored = json_object_get(reply, "value");
    if (err == IB_OK && stored == NULL)
        err = client_fail(client, IB_ERR_PROTOCOL, "the reply has no value");
    if (err == IB_OK && (*value = call_json_text(client, stored)) == NULL)
        err = IB_ERR_NO_MEMORY;
    json_decref(reply);
    return err;
}
