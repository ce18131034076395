/* From an HTTP error response to an enum ib_err: the error body's code
 * decides ("invalid_goal" is IB_ERR_INVALID_FIELD), the status when the body
 * has none (a proxy's 502 page). */
#ifndef CLIENT_ERRORS_H
#define CLIENT_ERRORS_H

#include <stddef.h>

#include "client/client.h"

/* Maps a response whose status is not 2xx, copying the code and message of
 * its {"error":{"code","message"}} body, when it has one, into
 * client->last. Never returns IB_OK. */
enum ib_err errors_from_response(struct ib_client *client, long status, const char *body,
                                 size_t size);

/* The error a server's error code (with the status it came with) means:
 * for the per-item errors of a batch publish. */
enum ib_err errors_from_code(const char *code, long status);

#endif
