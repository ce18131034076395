/* One API call from request to parsed reply: send, map an error status to
 * an enum ib_err, parse a success body as the JSON object every endpoint of
 * the protocol answers with. */
#ifndef CLIENT_CALL_H
#define CLIENT_CALL_H

#include <jansson.h>

#include "client/transport.h"

/* Sends request; on a 2xx response with a JSON object body, *reply is that
 * object (json_decref() it) and the result IB_OK. An error status is its
 * enum ib_err; a 204 or a success body that is not a JSON object is
 * IB_ERR_PROTOCOL. *reply is NULL unless IB_OK. */
enum ib_err call_json(struct ib_client *client, const struct http_request *request, json_t **reply);

/* call_json() for /claim, where 204 means nothing to claim: IB_ERR_EMPTY. */
enum ib_err call_json_or_empty(struct ib_client *client, const struct http_request *request,
                               json_t **reply);

/* Sends request; on a 2xx response but 204, *text is the body (malloc'd,
 * free() it) and the result IB_OK; otherwise as call_json(), *text NULL. */
enum ib_err call_text(struct ib_client *client, const struct http_request *request, char **text);

/* The string member name of reply, or NULL after recording IB_ERR_PROTOCOL:
 * for replies whose fields the protocol guarantees. */
const char *call_reply_string(struct ib_client *client, const json_t *reply, const char *name);

/* A malloc'd copy of the compact JSON text of value (JSON_ENCODE_ANY), or
 * NULL after recording IB_ERR_NO_MEMORY. */
char *call_json_text(struct ib_client *client, const json_t *value);

#endif
