/* Bench handles; see bench_http.h. */
#include "bench/bench_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/signing.h"

#define API_KEY_HEADER_MAX 600

static size_t keep_body(char *data, size_t size, size_t count, void *context)
{
    struct bench_conn *conn = context;
    size_t length = size * count;
    if (conn->size + length + 1 > conn->capacity) {
        size_t capacity = conn->capacity ? conn->capacity : 4096;
        while (capacity < conn->size + length + 1)
            capacity *= 2;
        char *grown = realloc(conn->body, capacity);
        if (grown == NULL)
            return 0; /* libcurl reports the write error */
        conn->body = grown;
        conn->capacity = capacity;
    }
    memcpy(conn->body + conn->size, data, length);
    conn->size += length;
    conn->body[conn->size] = '\0';
    return length;
}

struct curl_slist *bench_headers_new(const char *api_key)
{
    char key_header[API_KEY_HEADER_MAX];
    static const char *const fixed[] = {"Content-Type: application/json", "Expect:"};
    int length = snprintf(key_header, sizeof key_header, "X-API-KEY: %s", api_key);
    if (length < 0 || (size_t)length >= sizeof key_header)
        return NULL;
    struct curl_slist *headers = curl_slist_append(NULL, key_header);
    for (size_t i = 0; headers != NULL && i < sizeof fixed / sizeof fixed[0]; i++) {
        struct curl_slist *longer = curl_slist_append(headers, fixed[i]);
        if (longer == NULL) {
            curl_slist_free_all(headers);
            return NULL;
        }
        headers = longer;
    }
    return headers;
}

/* curl_easy_setopt is variadic: each call names its value's type. */
static bool set_options(struct bench_conn *conn, struct curl_slist *headers, const char *url,
                        bool post)
{
    CURL *curl = conn->curl;
    return curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK &&
           curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
           curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_body) == CURLE_OK &&
           curl_easy_setopt(curl, CURLOPT_WRITEDATA, conn) == CURLE_OK &&
           curl_easy_setopt(curl, CURLOPT_PRIVATE, conn) == CURLE_OK &&
           curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L) == CURLE_OK &&
           curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
           curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 70000L) == CURLE_OK &&
           /* The bus, never a proxy; and libcurl stops reading the proxy
            * variables from the environment on every request. */
           curl_easy_setopt(curl, CURLOPT_NOPROXY, "*") == CURLE_OK &&
           (post ? curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "")
                 : curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L)) == CURLE_OK;
}

int bench_conn_open(struct bench_conn *conn, void *owner, struct curl_slist *headers,
                    const char *url, bool post, const char *sign_key)
{
    memset(conn, 0, sizeof *conn);
    conn->owner = owner;
    conn->sign_key = sign_key;
    conn->headers = headers;
    conn->url = url;
    conn->curl = curl_easy_init();
    if (conn->curl != NULL && set_options(conn, headers, url, post))
        return 0;
    bench_conn_close(conn);
    return -1;
}

void bench_conn_close(struct bench_conn *conn)
{
    if (conn->curl != NULL)
        curl_easy_cleanup(conn->curl);
    curl_slist_free_all(conn->signed_headers);
    free(conn->body);
    memset(conn, 0, sizeof *conn);
}

/* The request-target of an absolute URL: "/claim?..." of "http://h:p/claim?...". */
static const char *path_of(const char *url)
{
    const char *host = strstr(url, "://");
    const char *path = host ? strchr(host + 3, '/') : NULL;
    return path ? path : "/";
}

/* This request's headers: the shared ones and a fresh signature. */
static int sign(struct bench_conn *conn, const char *body, size_t length)
{
    struct curl_slist *headers = NULL;
    for (const struct curl_slist *item = conn->headers; item; item = item->next) {
        struct curl_slist *longer = curl_slist_append(headers, item->data);
        if (longer == NULL) {
            curl_slist_free_all(headers);
            return -1;
        }
        headers = longer;
    }
    if (signing_append_headers(conn->sign_key, "POST", path_of(conn->url), body ? body : "",
                               body ? length : 0, &headers) != IB_OK ||
        curl_easy_setopt(conn->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK) {
        curl_slist_free_all(headers);
        return -1;
    }
    curl_slist_free_all(conn->signed_headers); /* libcurl now holds the new list */
    conn->signed_headers = headers;
    return 0;
}

int bench_conn_prepare(struct bench_conn *conn, const char *url, const char *body, size_t length)
{
    conn->size = 0;
    if (conn->body != NULL)
        conn->body[0] = '\0';
    if (url != NULL) {
        if (curl_easy_setopt(conn->curl, CURLOPT_URL, url) != CURLE_OK)
            return -1;
        conn->url = url;
    }
    if (conn->sign_key != NULL && sign(conn, body, length) != 0)
        return -1;
    if (body == NULL)
        return 0;
    if (curl_easy_setopt(conn->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
        curl_easy_setopt(conn->curl, CURLOPT_POSTFIELDSIZE, (long)length) != CURLE_OK)
        return -1;
    return 0;
}

long bench_conn_status(struct bench_conn *conn, CURLcode result)
{
    long status = -1;
    if (result != CURLE_OK ||
        curl_easy_getinfo(conn->curl, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        return -1;
    return status;
}
