/* One simulated client's HTTP handle (a libcurl easy handle, TCP_NODELAY),
 * reused request after request so it stays on a keep-alive connection, with
 * the last response body kept for parsing. The handle does not perform
 * requests itself: an event loop (bench_loop.h) runs it. */
#ifndef BENCH_BENCH_HTTP_H
#define BENCH_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

struct bench_conn {
    CURL *curl;
    void *owner;    /* the simulated client this handle belongs to */
    /* Signing (--sign): the key, the shared headers, and this request's
     * copy of them with its X-Timestamp, X-Nonce and X-Signature (owned). */
    const char *sign_key;
    struct curl_slist *headers;
    struct curl_slist *signed_headers;
    const char *url; /* the last URL set: its path is signed */
    double sent_at; /* clock_monotonic() when the request in flight went out */
    bool in_flight; /* added to a loop's multi handle (bench_loop.c keeps it) */
    char *body;     /* the last response, NUL-terminated; owned */
    size_t size;
    size_t capacity;
};

/* The headers every bench request sends (API key, JSON, no Expect:).
 * Returns NULL when out of memory; free with curl_slist_free_all() after
 * every handle using it is closed. libcurl only reads it, so one list
 * serves every handle and every loop thread. */
struct curl_slist *bench_headers_new(const char *api_key);

/* Opens a handle for owner that sends headers to url; post chooses POST
 * (with the body of each request) or GET. With sign_key, every request is
 * signed (docs/SIGNING.md) as the CLI signs it. Returns 0, or -1 after
 * closing what it opened when libcurl refuses. */
int bench_conn_open(struct bench_conn *conn, void *owner, struct curl_slist *headers,
                    const char *url, bool post, const char *sign_key);
void bench_conn_close(struct bench_conn *conn);

/* Prepares the next request: url NULL keeps the last one (libcurl copies
 * and re-parses a URL on every set, so callers set it only when it
 * changes; it must stay put while it is the handle's); body (POST handles)
 * is not copied and must stay put until the request completes. Returns 0,
 * or -1 when libcurl refuses an option or the request cannot be signed. */
int bench_conn_prepare(struct bench_conn *conn, const char *url, const char *body, size_t length);

/* The HTTP status of the request that completed with result, or -1 when it
 * failed in transport. */
long bench_conn_status(struct bench_conn *conn, CURLcode result);

#endif
