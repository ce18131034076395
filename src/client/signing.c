/* Request signing on the client side: a fresh timestamp and nonce, then the
 * HMAC over the canonical string of the bytes that will be sent. The nonce
 * comes from the kernel's CSPRNG: a predictable nonce would not stop a replay
 * any less, but a repeated one gets a genuine request refused. */
#include "client/signing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/signature.h"
#include "util/hex.h"
#include "util/random.h"

#define NONCE_BYTES 16

/* 2 * NONCE_BYTES lowercase hex digits and a NUL; false if the CSPRNG fails. */
static bool make_nonce(char out[2 * NONCE_BYTES + 1])
{
    unsigned char bytes[NONCE_BYTES];
    if (!random_fill(bytes, sizeof bytes))
        return false;
    hex_encode(bytes, sizeof bytes, out);
    return true;
}

/* Appends "name: value"; false when out of memory. */
static bool append_header(struct curl_slist **headers, const char *name, const char *value)
{
    char line[160];
    snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *grown = curl_slist_append(*headers, line);
    if (grown == NULL)
        return false;
    *headers = grown;
    return true;
}

enum ib_err signing_append_headers(const char *api_key, const char *method,
                                   const char *path_and_query, const char *body, size_t body_len,
                                   struct curl_slist **headers)
{
    char timestamp[32];
    char nonce[2 * NONCE_BYTES + 1];
    snprintf(timestamp, sizeof timestamp, "%lld", (long long)time(NULL));
    if (!make_nonce(nonce))
        return IB_ERR_CRYPTO;
    char *canonical_path = signature_canonical_path_from_url(path_and_query);
    if (canonical_path == NULL)
        return IB_ERR_NO_MEMORY;
    struct signature_request request = {
        .method = method,
        .canonical_path = canonical_path,
        .timestamp = timestamp,
        .nonce = nonce,
        .body = body,
        .body_len = body_len,
    };
    char signature[SIGNATURE_HEX_LEN + 1];
    bool signed_ok = signature_compute_hex(api_key, strlen(api_key), &request, signature);
    free(canonical_path);
    if (!signed_ok)
        return IB_ERR_CRYPTO;
    if (!append_header(headers, "X-Timestamp", timestamp) ||
        !append_header(headers, "X-Nonce", nonce) ||
        !append_header(headers, "X-Signature", signature))
        return IB_ERR_NO_MEMORY;
    return IB_OK;
}

enum ib_err signing_add_headers(struct ib_client *client, const char *method,
                                const char *path_and_query, const char *body, size_t body_len,
                                struct curl_slist **headers)
{
    enum ib_err err =
        signing_append_headers(client->api_key, method, path_and_query, body, body_len, headers);
    if (err == IB_ERR_CRYPTO)
        return client_fail(client, IB_ERR_CRYPTO, "the CSPRNG or HMAC-SHA256 failed signing");
    if (err == IB_ERR_NO_MEMORY)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory signing the request");
    return IB_OK;
}
