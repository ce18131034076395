/* HTTP with libcurl. One easy handle per client: curl keeps the connection
 * of the last request open and reuses it for the next one to the same host
 * (keep-alive), which saves a TCP handshake per call. curl_easy_reset()
 * before each request clears every option but keeps that connection. A
 * progress callback lets another thread abort a transfer (ib_client_abort). */
#include "client/transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/signing.h"

#define MAX_RESPONSE_BYTES ((size_t)64 * 1024 * 1024) /* more is not a bus response */
#define MAX_CONNECT_MS 10000L

/* The response being received, for the curl callbacks. */
struct receiver {
    char *data;
    size_t size;
    size_t capacity;
    bool too_large;
    bool no_memory;
    unsigned retry_after;
};

static size_t receive_body(char *bytes, size_t one, size_t count, void *context)
{
    struct receiver *receiver = context;
    size_t length = one * count;
    if (receiver->size + length > MAX_RESPONSE_BYTES) {
        receiver->too_large = true;
        return 0;
    }
    if (receiver->size + length + 1 > receiver->capacity) {
        size_t capacity = receiver->capacity ? receiver->capacity : 1024;
        while (capacity < receiver->size + length + 1)
            capacity *= 2;
        char *grown = realloc(receiver->data, capacity);
        if (grown == NULL) {
            receiver->no_memory = true;
            return 0;
        }
        receiver->data = grown;
        receiver->capacity = capacity;
    }
    memcpy(receiver->data + receiver->size, bytes, length);
    receiver->size += length;
    receiver->data[receiver->size] = '\0';
    return length;
}

/* Keeps the seconds of a "Retry-After: N" header (the bus never sends the
 * HTTP-date form). */
static size_t receive_header(char *line, size_t one, size_t count, void *context)
{
    struct receiver *receiver = context;
    size_t length = one * count;
    static const char name[] = "retry-after:";
    if (length > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0) {
        unsigned long seconds = 0;
        size_t i = sizeof name - 1;
        while (i < length && (line[i] == ' ' || line[i] == '\t'))
            i++;
        while (i < length && line[i] >= '0' && line[i] <= '9' && seconds < 86400UL * 365)
            seconds = seconds * 10 + (unsigned long)(line[i++] - '0');
        receiver->retry_after = (unsigned)seconds;
    }
    return length;
}

/* libcurl calls this between waits on the socket (about once a second
 * while a long-poll is held, more often while data moves); non-zero stops
 * the transfer with CURLE_ABORTED_BY_CALLBACK. curl counts a transfer
 * aborted by a callback as premature and closes its connection rather than
 * keep it: that close is what tells the server the claim is withdrawn. */
static int check_abort(void *context, curl_off_t download_total, curl_off_t downloaded,
                       curl_off_t upload_total, curl_off_t uploaded)
{
    (void)download_total, (void)downloaded, (void)upload_total, (void)uploaded;
    struct ib_client *client = context;
    return atomic_load(&client->aborted) ? 1 : 0;
}

/* A header value must not hold a line break or other control byte, or it
 * could smuggle a header of its own. */
static bool header_value_is_safe(const char *value)
{
    for (const unsigned char *byte = (const unsigned char *)value; *byte; byte++) {
        if (*byte < 0x20 || *byte == 0x7f)
            return false;
    }
    return true;
}

/* Appends "name: value" to *headers. */
static enum ib_err add_header(struct ib_client *client, struct curl_slist **headers,
                              const char *name, const char *value)
{
    if (!header_value_is_safe(value))
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "%s holds a control character", name);
    size_t size = strlen(name) + strlen(value) + 3;
    char *line = malloc(size);
    if (line == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building headers");
    /* "Name;" is how curl sends a header with an empty value ("Name:"
     * would remove it): an empty Idempotency-Key goes to the server, which
     * says what is wrong with it. */
    snprintf(line, size, value[0] ? "%s: %s" : "%s;", name, value);
    struct curl_slist *grown = curl_slist_append(*headers, line);
    free(line);
    if (grown == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building headers");
    *headers = grown;
    return IB_OK;
}

/* "Name:" with no value tells curl not to send a header it would add. */
static enum ib_err remove_header(struct ib_client *client, struct curl_slist **headers,
                                 const char *name_and_colon)
{
    struct curl_slist *grown = curl_slist_append(*headers, name_and_colon);
    if (grown == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building headers");
    *headers = grown;
    return IB_OK;
}

/* Every header of the request but the curl defaults. */
static enum ib_err build_headers(struct ib_client *client, const struct http_request *request,
                                 struct curl_slist **headers)
{
    bool has_key = client->api_key != NULL && client->api_key[0] != '\0';
    enum ib_err err = add_header(client, headers, "Accept", "application/json");
    /* Without "Expect", curl would wait for a "100 Continue" before a larger
     * body, a round trip for nothing here; without "Content-Type", a POST
     * with no body would claim to be a form. */
    if (err == IB_OK)
        err = remove_header(client, headers, "Expect:");
    if (err == IB_OK && request->body == NULL)
        err = remove_header(client, headers, "Content-Type:");
    if (err == IB_OK)
        err = add_header(client, headers, "User-Agent", client->user_agent);
    if (err == IB_OK && request->body != NULL)
        err = add_header(client, headers, "Content-Type", "application/json");
    if (err == IB_OK && has_key)
        err = add_header(client, headers, "X-API-KEY", client->api_key);
    if (err == IB_OK && client->admin_token != NULL)
        err = add_header(client, headers, "X-Admin-Token", client->admin_token);
    if (err == IB_OK && request->idempotency_key != NULL)
        err = add_header(client, headers, "Idempotency-Key", request->idempotency_key);
    if (err == IB_OK && has_key && client->sign)
        err = signing_add_headers(client, request->method, request->path_and_query, request->body,
                                  request->body_len, headers);
    return err;
}

/* The method goes into the request line as is: uppercase letters only. */
static bool method_is_valid(const char *method)
{
    size_t length = strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    return length > 0 && length <= 16 && method[length] == '\0';
}

/* A request-target: "/" then visible ASCII, already percent-encoded. */
static bool path_is_valid(const char *path)
{
    if (path[0] != '/')
        return false;
    for (const unsigned char *byte = (const unsigned char *)path; *byte; byte++) {
        if (*byte <= 0x20 || *byte >= 0x7f)
            return false;
    }
    return true;
}

/* The method and body options; false when curl refuses one. */
static bool set_method(CURL *curl, const struct http_request *request)
{
    if (strcmp(request->method, "GET") == 0 && request->body == NULL)
        return curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    if (strcmp(request->method, "HEAD") == 0)
        return curl_easy_setopt(curl, CURLOPT_NOBODY, 1L) == CURLE_OK;
    /* POSTFIELDS is not copied: the body outlives the transfer. */
    curl_off_t size = request->body ? (curl_off_t)request->body_len : 0;
    bool ok = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, size) == CURLE_OK;
    ok = ok &&
         curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request->body ? request->body : "") == CURLE_OK;
    if (ok && strcmp(request->method, "POST") != 0)
        ok = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request->method) == CURLE_OK;
    return ok;
}

/* Every option of one transfer; curl_easy_reset() cleared the previous ones. */
static enum ib_err set_options(struct ib_client *client, const struct http_request *request,
                               const char *url, struct curl_slist *headers,
                               struct receiver *receiver, char *error_buffer)
{
    CURL *curl = client->curl;
    long timeout = client->timeout_ms + 1000L * (long)request->wait_seconds;
    long connect_timeout = timeout < MAX_CONNECT_MS ? timeout : MAX_CONNECT_MS;
    bool ok = curl_easy_setopt(curl, CURLOPT_URL, url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(curl, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS) == 0;
#endif
    ok = ok && curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, receive_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_WRITEDATA, receiver) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, receive_header) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_HEADERDATA, receiver) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, check_abort) == CURLE_OK;
    ok = ok && curl_easy_setopt(curl, CURLOPT_XFERINFODATA, client) == CURLE_OK;
    if (!ok || !set_method(curl, request))
        return client_fail(client, IB_ERR_NO_MEMORY, "curl refused an option (out of memory?)");
    return IB_OK;
}

/* After curl_easy_perform(): the outcome, and the response when one came. */
static enum ib_err finish(struct ib_client *client, CURLcode code, struct receiver *receiver,
                          const char *error_buffer, struct http_response *response)
{
    long connects = 0;
    if (curl_easy_getinfo(client->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK)
        client->connections += (unsigned long)connects;
    if (receiver->no_memory)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory reading the response");
    if (receiver->too_large)
        return client_fail(client, IB_ERR_PROTOCOL, "response larger than %zu bytes",
                           MAX_RESPONSE_BYTES);
    if (code == CURLE_ABORTED_BY_CALLBACK)
        return client_fail(client, IB_ERR_ABORTED, "aborted by ib_client_abort()");
    if (code != CURLE_OK)
        return client_fail(client, IB_ERR_TRANSPORT, "%s",
                           error_buffer[0] ? error_buffer : curl_easy_strerror(code));
    if (receiver->data == NULL && (receiver->data = calloc(1, 1)) == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory reading the response");
    curl_easy_getinfo(client->curl, CURLINFO_RESPONSE_CODE, &response->status);
    response->body = receiver->data;
    response->size = receiver->size;
    receiver->data = NULL;
    client->last.status = response->status;
    client->last.retry_after = receiver->retry_after;
    return IB_OK;
}

static enum ib_err check_request(struct ib_client *client, const struct http_request *request)
{
    if (request->method == NULL || !method_is_valid(request->method))
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "method must be uppercase letters");
    if (request->path_and_query == NULL || !path_is_valid(request->path_and_query))
        return client_fail(client, IB_ERR_INVALID_ARGUMENT,
                           "path must start with / and be percent-encoded visible ASCII");
    return IB_OK;
}

enum ib_err transport_send(struct ib_client *client, const struct http_request *request,
                           struct http_response *response)
{
    memset(response, 0, sizeof *response);
    if (atomic_load(&client->aborted))
        return client_fail(client, IB_ERR_ABORTED, "aborted by ib_client_abort()");
    enum ib_err err = check_request(client, request);
    if (err != IB_OK)
        return err;
    size_t url_size = strlen(client->base_url) + strlen(request->path_and_query) + 1;
    char *url = malloc(url_size);
    if (url == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the URL");
    snprintf(url, url_size, "%s%s", client->base_url, request->path_and_query);
    struct curl_slist *headers = NULL;
    struct receiver receiver = {0};
    char error_buffer[CURL_ERROR_SIZE] = "";
    curl_easy_reset(client->curl);
    err = build_headers(client, request, &headers);
    if (err == IB_OK)
        err = set_options(client, request, url, headers, &receiver, error_buffer);
    if (err == IB_OK)
        err = finish(client, curl_easy_perform(client->curl), &receiver, error_buffer, response);
    /* The handle must not keep pointers into what is freed below. */
    curl_easy_setopt(client->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(client->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    free(receiver.data);
    free(url);
    return err;
}

void http_response_clear(struct http_response *response)
{
    free(response->body);
    response->body = NULL;
    response->size = 0;
    response->status = 0;
}
