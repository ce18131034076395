/* Strict auth on the server side (spec 5.2): checks a request's HMAC
 * signature headers whenever they are present, or always when
 * BUS_REQUIRE_SIGNATURES=true, and records each nonce so a replay is
 * refused. The canonicalization itself is core/signature.c, shared with
 * the C client. */
#ifndef SERVE_SIGNING_H
#define SERVE_SIGNING_H

#include <stdbool.h>

#include "serve/request.h"
#include "serve/router.h"

/* True when the request may go on; otherwise fills a 401 into response.
 * Call after the API key was authenticated (request->caller is set). The
 * nonce of a valid signature is recorded now, or with defer_nonce only
 * noted in request->signed_nonce for signing_record_nonce. */
bool signing_check(struct http_request *request, const struct request_body *body,
                   bool defer_nonce, struct http_response *response);

/* After the handler of a request whose nonce was deferred: hands the nonce
 * to the handler's write (response->writing), which records it in its own
 * transaction and refuses a replay. A handler that answered without a
 * write (a read, or a 400) gets a write of the nonce alone, and its answer
 * waits for it (response->ready_but_nonce); a replay's answer becomes the
 * 403. Only out of memory, or for a parked long-poll, is the nonce
 * recorded here and now. */
void signing_record_nonce(struct http_request *request, struct http_response *response);

#endif
