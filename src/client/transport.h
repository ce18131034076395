/* One HTTP exchange over the client's curl handle: headers (key, admin
 * token, idempotency key, signature), the body, the response. The handle is
 * reset, not recreated, between requests, so its open connection is reused. */
#ifndef CLIENT_TRANSPORT_H
#define CLIENT_TRANSPORT_H

#include <stddef.h>

#include "client/client.h"

struct http_request {
    const char *method;         /* uppercase: "GET", "POST" */
    const char *path_and_query; /* "/claim?goal=x": starts with "/", already encoded */
    const char *body;           /* the exact bytes to send and sign; NULL: none */
    size_t body_len;
    const char *idempotency_key; /* Idempotency-Key header, NULL: none */
    unsigned wait_seconds;       /* a long-poll's wait, added to the timeout */
};

struct http_response {
    long status;
    char *body; /* malloc'd, NUL-terminated (JSON never holds a raw NUL); "" when empty */
    size_t size;
};

/* Sends request and reads the whole response into *response (free it with
 * http_response_clear()). Returns IB_OK when a response arrived, whatever
 * its status; client->last.status and .retry_after are then set. Otherwise
 * IB_ERR_TRANSPORT (curl's message in client->last), IB_ERR_INVALID_ARGUMENT
 * (a header value with a line break, a malformed method or path),
 * IB_ERR_NO_MEMORY, IB_ERR_CRYPTO, or IB_ERR_ABORTED (the client was
 * aborted before or during the transfer; nothing is sent once it is), and
 * *response is empty. */
enum ib_err transport_send(struct ib_client *client, const struct http_request *request,
                           struct http_response *response);

void http_response_clear(struct http_response *response);

#endif
