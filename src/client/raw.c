/* ib_request(): any request, for the admin API (docs/ADMIN.md) and
 * endpoints without a function here. The response is handed over whatever
 * its status, since an admin tool prints it either way. */
#include <stdlib.h>
#include <string.h>

#include "client/errors.h"
#include "client/transport.h"

enum ib_err ib_request(struct ib_client *client, const char *method, const char *path_and_query,
                       const char *body, long *status, char **response)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (status != NULL)
        *status = 0;
    if (response != NULL)
        *response = NULL;
    struct http_request request = {
        .method = method,
        .path_and_query = path_and_query,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
    struct http_response reply;
    enum ib_err err = transport_send(client, &request, &reply);
    if (err != IB_OK)
        return err;
    if (reply.status < 200 || reply.status > 299)
        err = errors_from_response(client, reply.status, reply.body, reply.size);
    if (status != NULL)
        *status = reply.status;
    if (response != NULL) {
        *response = reply.body;
        reply.body = NULL;
    }
    http_response_clear(&reply);
    return err;
}
