/* Creating and freeing a client, and what a client remembers of its last
 * call (ib_last_*). Everything that speaks HTTP is in transport.c. */
#include "client/client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_USER_AGENT "libintentbus/" IB_VERSION

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

/* curl_global_init() is not thread-safe in every libcurl, so it runs once,
 * whichever thread creates the first client; it is never undone, since
 * another client may be alive in another thread. */
static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ib_options_init(struct ib_options *options)
{
    if (options == NULL)
        return;
    memset(options, 0, sizeof *options);
    options->timeout_ms = DEFAULT_TIMEOUT_MS;
    options->sign = true;
}

/* strdup of NULL is NULL; *failed is set when a non-NULL copy failed. */
static char *copy_or_null(const char *text, bool *failed)
{
    if (text == NULL)
        return NULL;
    char *copy = strdup(text);
    if (copy == NULL)
        *failed = true;
    return copy;
}

/* "http://host:8080/" -> "http://host:8080": paths are appended with "/". */
static char *copy_base_url(const char *url)
{
    size_t length = strlen(url);
    while (length > 0 && url[length - 1] == '/')
        length--;
    return strndup(url, length);
}

struct ib_client *ib_client_new(const struct ib_options *options)
{
    if (options == NULL || options->base_url == NULL || options->base_url[0] == '\0')
        return NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK)
        return NULL;
    struct ib_client *client = calloc(1, sizeof *client);
    if (client == NULL)
        return NULL;
    bool failed = false;
    client->base_url = copy_base_url(options->base_url);
    client->api_key = copy_or_null(options->api_key, &failed);
    client->admin_token = copy_or_null(options->admin_token, &failed);
    client->user_agent =
        copy_or_null(options->user_agent ? options->user_agent : DEFAULT_USER_AGENT, &failed);
    client->timeout_ms = options->timeout_ms > 0 ? options->timeout_ms : DEFAULT_TIMEOUT_MS;
    client->sign = options->sign;
    atomic_init(&client->aborted, false);
    client->curl = curl_easy_init();
    if (failed || client->base_url == NULL || client->curl == NULL) {
        ib_client_free(client);
        return NULL;
    }
    return client;
}

/* Overwrites a secret before its memory goes back to the allocator. */
static void free_secret(char *secret)
{
    if (secret == NULL)
        return;
    volatile char *byte = secret;
    while (*byte)
        *byte++ = '\0';
    free(secret);
}

void ib_client_free(struct ib_client *client)
{
    if (client == NULL)
        return;
    if (client->curl != NULL)
        curl_easy_cleanup(client->curl);
    free(client->base_url);
    free_secret(client->api_key);
    free_secret(client->admin_token);
    free(client->user_agent);
    free(client);
}

void ib_client_abort(struct ib_client *client)
{
    if (client != NULL)
        atomic_store(&client->aborted, true);
}

void ib_client_reset_abort(struct ib_client *client)
{
    if (client != NULL)
        atomic_store(&client->aborted, false);
}

void client_begin_call(struct ib_client *client)
{
    memset(&client->last, 0, sizeof client->last);
}

enum ib_err client_fail(struct ib_client *client, enum ib_err err, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(client->last.message, sizeof client->last.message, format, args);
    va_end(args);
    return err;
}

const char *ib_last_error_code(const struct ib_client *client)
{
    return client ? client->last.code : "";
}

const char *ib_last_error_message(const struct ib_client *client)
{
    return client ? client->last.message : "";
}

long ib_last_status(const struct ib_client *client)
{
    return client ? client->last.status : 0;
}

unsigned ib_last_retry_after(const struct ib_client *client)
{
    return client ? client->last.retry_after : 0;
}

unsigned long ib_connections_opened(const struct ib_client *client)
{
    return client ? client->connections : 0;
}

void ib_free(void *text)
{
    free(text);
}
