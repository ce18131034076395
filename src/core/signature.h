/* Request signing (spec 5.2): the canonical string of a request and its
 * HMAC-SHA256 under the API key. Pure functions with no server types, so the
 * server and a C client canonicalize the same way; the rules and a worked
 * example are in docs/SIGNING.md. The nonce store is not here: call it only
 * after signature_verify() returned SIGNATURE_OK. */
#ifndef CORE_SIGNATURE_H
#define CORE_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>

#define SIGNATURE_WINDOW_SECONDS 300 /* timestamps further from now are refused */
#define SIGNATURE_NONCE_MAX_LEN 128  /* bytes */
#define SIGNATURE_HEX_LEN 64         /* lowercase hex HMAC-SHA256, without the NUL */

/* One decoded query parameter. Lengths are explicit because a decoded value
 * may hold a NUL (%00). value is NULL when the parameter had no "=" ("?c");
 * it is signed as a blank value, "c=". */
struct signature_param {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

/* A raw query string split and percent-decoded by signature_query_parse(). */
struct signature_query {
    struct signature_param *params; /* in the order they appear */
    size_t count;
    char *storage; /* the decoded bytes params point into */
};

/* What is signed, besides the key. */
struct signature_request {
    const char *method;         /* any case; signed uppercase */
    const char *canonical_path; /* from signature_canonical_path() or ..._from_url() */
    const char *timestamp;      /* X-Timestamp exactly as sent; NULL when absent */
    const char *nonce;          /* X-Nonce exactly as sent; NULL when absent */
    const char *body;           /* the exact bytes sent; may be NULL when body_len is 0 */
    size_t body_len;
};

enum signature_result {
    SIGNATURE_OK,
    SIGNATURE_MISSING_HEADERS, /* not all of X-Timestamp, X-Nonce, X-Signature given */
    SIGNATURE_BAD_TIMESTAMP,   /* not a Unix time */
    SIGNATURE_STALE_TIMESTAMP, /* more than the window away from now */
    SIGNATURE_BAD_NONCE,       /* empty, too long, or not visible ASCII */
    SIGNATURE_MISMATCH,        /* the presented signature is not the HMAC */
    SIGNATURE_INTERNAL_ERROR,  /* OpenSSL failed (out of memory): not the client's fault */
};

/* RFC 3986 strict percent-encoding of len bytes: A-Z a-z 0-9 - . _ ~ stay,
 * every other byte becomes %XX with uppercase hex ("/" -> %2F, " " -> %20).
 * Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *signature_percent_encode(const char *text, size_t len);

/* The canonical query: each key and value percent-encoded, pairs sorted by
 * decoded key (bytewise) and, for a repeated key, left in the order they
 * came (a stable sort, as the original server and SDK sort), joined as k=v
 * with "&". A NULL
 * value signs as "k="; a pair with an empty key and a NULL value (what "&&"
 * yields) is not a parameter and is left out. Returns a malloc'd string
 * ("" for no parameters), or NULL when out of memory. */
char *signature_canonical_query(const struct signature_param *params, size_t count);

/* The canonical path from a decoded request path and its decoded query
 * parameters, as a server receives them: every byte of path but "/"
 * percent-encoded, then "?" and the canonical query if there is at least one
 * parameter. Returns a malloc'd string, or NULL when out of memory. */
char *signature_canonical_path(const char *path, const struct signature_param *params,
                               size_t count);

/* The same with the decoded path as it is, not encoded: the form the
 * original server and SDK sign ("/set/a b"). A server accepts either, so
 * clients of both keep working; they differ only when
 * signature_path_needs_encoding(path). */
char *signature_original_path(const char *path, const struct signature_param *params,
                              size_t count);

/* True when some byte of path other than "/" is not unreserved. */
bool signature_path_needs_encoding(const char *path);

/* Splits a raw query string (what follows "?", len bytes) on "&" and the first
 * "=" of each part, and percent-decodes keys and values; "+" decodes to a
 * space, as HTML forms and the server's HTTP library have it. Malformed
 * escapes ("%zz", a trailing "%") stay literal. Empty parts are skipped.
 * Returns false when out of memory; free *out with signature_query_free(). */
bool signature_query_parse(const char *query, size_t len, struct signature_query *out);

void signature_query_free(struct signature_query *query);

/* The canonical path of a request-target a client is about to send
 * ("/claim?b=2&a=1"): the path is percent-decoded ("+" stays a plus there)
 * and re-encoded, the query parsed as above; a "#fragment" is ignored.
 * Returns a malloc'd string, or NULL when out of memory. */
char *signature_canonical_path_from_url(const char *path_and_query);

/* "METHOD\nCANONICAL_PATH\nTIMESTAMP\nNONCE\nBODY". The body may hold NULs, so
 * the length is stored in *len; a NUL follows the last byte for printing.
 * timestamp and nonce must not be NULL. Returns a malloc'd buffer, or NULL
 * when out of memory. */
char *signature_string_to_sign(const struct signature_request *request, size_t *len);

/* Writes the lowercase hex HMAC-SHA256 of len bytes of data under key_len
 * bytes of key, and a NUL, into out. signature_compute_hex() is this over
 * the string to sign. */
void signature_hmac_hex(const void *key, size_t key_len, const void *data, size_t len,
                        char out[SIGNATURE_HEX_LEN + 1]);

/* Writes the lowercase hex HMAC-SHA256 of the string to sign, keyed with
 * key_len bytes of key, and a NUL into out. timestamp and nonce must not be
 * NULL. Returns false (out is then "") when out of memory. */
bool signature_compute_hex(const char *key, size_t key_len, const struct signature_request *request,
                           char out[SIGNATURE_HEX_LEN + 1]);

/* Parses an X-Timestamp: digits, optionally "." and more digits ("1795424655",
 * "1795424655.25"); no sign, exponent or spaces, at most 15 integer digits
 * and 32 characters. Returns false otherwise. A nonce store needs the value:
 * a replay is refused by the timestamp check only after timestamp +
 * SIGNATURE_WINDOW_SECONDS, up to 600 s from now, so keep a nonce until then. */
bool signature_parse_timestamp(const char *text, double *seconds);

/* True when nonce is 1 to SIGNATURE_NONCE_MAX_LEN bytes of visible ASCII
 * (0x21-0x7E; no spaces, which proxies may trim). */
bool signature_nonce_is_valid(const char *nonce);

/* Checks a request's signature headers with the key it presents (X-API-KEY),
 * in this order, returning the first failure: key, request->timestamp,
 * request->nonce and presented_hex all given (NULL means absent; none at all
 * is also SIGNATURE_MISSING_HEADERS, so unless signatures are required call
 * this only for requests carrying one of them); the timestamp within
 * SIGNATURE_WINDOW_SECONDS of now, either way, 300 itself accepted; the
 * nonce well-formed; the digest, lowercase hex, compared in constant time. */
enum signature_result signature_verify(const char *key, const struct signature_request *request,
                                       const char *presented_hex, double now);

#endif
