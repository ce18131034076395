/* Strict auth on the server side (spec 5.2): checks a request's HMAC
 * signature headers whenever they are present, or always when
 * BUS_REQUIRE_SIGNATURES=true, and records each nonce so a replay is
 * refused. The canonicalization itself is auth/signature.c, shared with
 * the C client. */
#ifndef SERVE_SIGNING_H
#define SERVE_SIGNING_H

#include <stdbool.h>

#include "serve/request.h"
#include "serve/router.h"

/* True when the request may go on; otherwise fills a 401 into response.
 * Call after the API key was authenticated (request->caller is set). */
bool signing_check(struct http_request *request, const struct request_body *body,
                   struct http_response *response);

#endif
