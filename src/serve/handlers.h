/* The HTTP handlers, one file per area of the API. Each reads its input
 * from the request, calls the bus, and fills the response. */
#ifndef SERVE_HANDLERS_H
#define SERVE_HANDLERS_H

#include "serve/request.h"

/* serve/health.c */
void handle_health(struct http_request *request, struct http_response *response);

/* serve/intents.c */
void handle_publish(struct http_request *request, struct http_response *response);
void handle_claim(struct http_request *request, struct http_response *response);
void handle_extend(struct http_request *request, struct http_response *response);
void handle_fulfill(struct http_request *request, struct http_response *response);
void handle_fail(struct http_request *request, struct http_response *response);

/* serve/results.c */
void handle_result(struct http_request *request, struct http_response *response);
void handle_status(struct http_request *request, struct http_response *response);

/* serve/kv.c */
void handle_kv_set(struct http_request *request, struct http_response *response);
void handle_kv_get(struct http_request *request, struct http_response *response);

#endif
