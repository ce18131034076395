/* Building request bodies; see body.h. */
#include "client/body.h"

#include <stdlib.h>

json_t *body_new(struct ib_client *client)
{
    json_t *object = json_object();
    if (object == NULL)
        client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request body");
    return object;
}

enum ib_err body_set_new(struct ib_client *client, json_t *object, const char *name, json_t *value)
{
    /* json_object_set_new() releases value even when it fails. */
    if (value == NULL || json_object_set_new(object, name, value) != 0)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request body");
    return IB_OK;
}

enum ib_err body_set_string(struct ib_client *client, json_t *object, const char *name,
                            const char *value)
{
    if (value == NULL)
        return IB_OK;
    /* json_string() refuses invalid UTF-8, which is by far the likelier
     * reason for a NULL than running out of memory. */
    json_t *string = json_string(value);
    if (string == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "%s is not valid UTF-8", name);
    return body_set_new(client, object, name, string);
}

enum ib_err body_set_json(struct ib_client *client, json_t *object, const char *name,
                          const char *json_text)
{
    if (json_text == NULL)
        return IB_OK;
    json_error_t error;
    /* JSON_ALLOW_NUL: "\u0000" inside strings is valid JSON and the bus
     * stores it. */
    json_t *value = json_loads(json_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (value == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "%s is not JSON: %s", name, error.text);
    return body_set_new(client, object, name, value);
}

enum ib_err body_finish(struct ib_client *client, json_t *object, char **text)
{
    *text = json_dumps(object, JSON_COMPACT);
    json_decref(object);
    if (*text == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory serializing the body");
    return IB_OK;
}
