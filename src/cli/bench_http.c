/* Bench connections; see bench_http.h. */
#include "cli/bench_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

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

int bench_conn_open(struct bench_conn *conn, const char *base_url, const char *api_key)
{
    char key_header[600];
    memset(conn, 0, sizeof *conn);
    conn->curl = curl_easy_init();
    if (conn->curl == NULL)
        return -1;
    conn->base_url = base_url;
    snprintf(key_header, sizeof key_header, "X-API-KEY: %s", api_key);
    conn->headers = curl_slist_append(conn->headers, key_header);
    conn->headers = curl_slist_append(conn->headers, "Content-Type: application/json");
    conn->headers = curl_slist_append(conn->headers, "Expect:");
    curl_easy_setopt(conn->curl, CURLOPT_HTTPHEADER, conn->headers);
    curl_easy_setopt(conn->curl, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(conn->curl, CURLOPT_WRITEDATA, conn);
    curl_easy_setopt(conn->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(conn->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(conn->curl, CURLOPT_TIMEOUT_MS, 70000L);
    return 0;
}

void bench_conn_close(struct bench_conn *conn)
{
    if (conn->curl != NULL)
        curl_easy_cleanup(conn->curl);
    curl_slist_free_all(conn->headers);
    free(conn->body);
    memset(conn, 0, sizeof *conn);
}

long bench_conn_request(struct bench_conn *conn, const char *method, const char *path,
                        const char *body, double *seconds)
{
    char url[1024];
    long status = -1;
    snprintf(url, sizeof url, "%s%s", conn->base_url, path);
    conn->size = 0;
    if (conn->body != NULL)
        conn->body[0] = '\0';
    curl_easy_setopt(conn->curl, CURLOPT_URL, url);
    curl_easy_setopt(conn->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(conn->curl, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(conn->curl, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(conn->curl, CURLOPT_HTTPGET, 1L);
    double started = clock_monotonic();
    if (curl_easy_perform(conn->curl) == CURLE_OK)
        curl_easy_getinfo(conn->curl, CURLINFO_RESPONSE_CODE, &status);
    *seconds = clock_monotonic() - started;
    return status;
}
