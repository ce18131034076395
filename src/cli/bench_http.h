/* One keep-alive HTTP connection of a bench thread (libcurl easy handle,
 * TCP_NODELAY), with the last response body kept for parsing. */
#ifndef CLI_BENCH_HTTP_H
#define CLI_BENCH_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

struct bench_conn {
    CURL *curl;
    struct curl_slist *headers;
    const char *base_url;
    char *body; /* the last response, NUL-terminated; owned */
    size_t size;
    size_t capacity;
};

/* Returns 0, or -1 when libcurl cannot make a handle. */
int bench_conn_open(struct bench_conn *conn, const char *base_url, const char *api_key);
void bench_conn_close(struct bench_conn *conn);

/* Sends method path (with query) and body (NULL: none). Returns the HTTP
 * status, or -1 when the request failed in transport; *seconds gets the
 * time it took. */
long bench_conn_request(struct bench_conn *conn, const char *method, const char *path,
                        const char *body, double *seconds);

#endif
