/* The signature headers of one request (spec 5.2, docs/SIGNING.md), made
 * with the server's own canonicalization (src/core/signature.c) so the two
 * cannot disagree on what is signed. */
#ifndef CLIENT_SIGNING_H
#define CLIENT_SIGNING_H

#include <stddef.h>

#include <curl/curl.h>

#include "client/client.h"

/* Appends X-Timestamp (integer Unix seconds), X-Nonce (16 random bytes in
 * hex) and X-Signature for a request about to be sent with exactly these
 * method, request-target and body bytes, keyed with client->api_key (not
 * NULL). On failure *headers may have grown; the caller frees it either way. */
enum ib_err signing_add_headers(struct ib_client *client, const char *method,
                                const char *path_and_query, const char *body, size_t body_len,
                                struct curl_slist **headers);

/* The same for any holder of a key (the bench signs without a client):
 * IB_OK, IB_ERR_CRYPTO or IB_ERR_NO_MEMORY, with no message kept. */
enum ib_err signing_append_headers(const char *api_key, const char *method,
                                   const char *path_and_query, const char *body, size_t body_len,
                                   struct curl_slist **headers);

#endif
