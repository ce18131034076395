/* Request bodies: JSON objects built with jansson from the caller's values
 * and JSON texts, serialized compactly once; those bytes are then both
 * signed and sent, never re-serialized. */
#ifndef CLIENT_BODY_H
#define CLIENT_BODY_H

#include <jansson.h>

#include "client/client.h"

/* Each body_set_*() adds one member to object and returns IB_OK, or the
 * error (recorded in client->last) that makes the request pointless. */

/* name: value as a JSON string; a NULL value adds nothing. Text that is not
 * UTF-8 is IB_ERR_INVALID_ARGUMENT. */
enum ib_err body_set_string(struct ib_client *client, json_t *object, const char *name,
                            const char *value);

/* name: the JSON value that json_text holds ("{\"a\":1}", "null", "\"x\"");
 * a NULL json_text adds nothing. Text that is not JSON is
 * IB_ERR_INVALID_ARGUMENT. */
enum ib_err body_set_json(struct ib_client *client, json_t *object, const char *name,
                          const char *json_text);

/* name: value, taking ownership of value (a NULL value means jansson ran out
 * of memory). For numbers: body_set_new(client, o, "ttl", json_integer(t)). */
enum ib_err body_set_new(struct ib_client *client, json_t *object, const char *name, json_t *value);

/* Serializes object compactly into *text (malloc'd, free() it) and releases
 * object, whatever happens. */
enum ib_err body_finish(struct ib_client *client, json_t *object, char **text);

/* A new empty object, or NULL after recording IB_ERR_NO_MEMORY. */
json_t *body_new(struct ib_client *client);

#endif
