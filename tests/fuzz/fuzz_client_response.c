/* Fuzzes libintentbus's reading of responses (which the CLI's commands go
 * through): every operation is answered by the fuzz input instead of a
 * server. This file replaces the library's transport (transport_send and
 * http_response_clear): linked before libintentbus.a, it keeps the
 * archive's transport.o out. The input's first byte picks the status, the
 * rest is the body. */
#include "fuzz_input.h"

#include <stdbool.h>

#include "client/client.h"
#include "client/transport.h"
#include "intentbus.h"

static const long statuses[] = {200, 201, 204, 400, 401, 404, 409, 413, 422, 429, 503, 507, 500};
static const uint8_t *answer_data;
static size_t answer_size;

enum ib_err transport_send(struct ib_client *client, const struct http_request *request,
                           struct http_response *response)
{
    (void)request;
    memset(response, 0, sizeof *response);
    if (answer_size == 0)
        return IB_ERR_TRANSPORT;
    response->status = statuses[answer_data[0] % (sizeof statuses / sizeof *statuses)];
    response->size = answer_size - 1;
    response->body = (char *)fuzz_string(answer_data + 1, response->size);
    if (response->body == NULL)
        return IB_ERR_NO_MEMORY;
    client->last.status = response->status;
    client->last.retry_after = answer_data[0] & 1 ? 30 : 0;
    return IB_OK;
}

void http_response_clear(struct http_response *response)
{
    free(response->body);
    response->body = NULL;
    response->size = 0;
}

static void every_operation(struct ib_client *client)
{
    char id[IB_ID_MAX + 1];
    struct ib_publish intent = {.goal = "g", .payload = "{}"};
    ib_publish(client, &intent, id);
    struct ib_claim claim = {.goal = "g"};
    struct ib_job *job = NULL;
    if (ib_claim(client, &claim, &job) == IB_OK)
        ib_job_free(job);
    double expires = 0;
    ib_extend(client, "0123456789abcdef0123456789abcdef", "token", 60, &expires);
    ib_fulfill(client, "0123456789abcdef0123456789abcdef", "token", "{}", "json");
    struct ib_fail_outcome outcome;
    ib_fail(client, "0123456789abcdef0123456789abcdef", "token", "boom", &outcome);
    char *text = NULL;
    enum ib_intent_status status;
    if (ib_result(client, "0123456789abcdef0123456789abcdef", 0, &text, &status) == IB_OK)
        ib_free(text);
    text = NULL;
    if (ib_status(client, "0123456789abcdef0123456789abcdef", &text, &status) == IB_OK)
        ib_free(text);
    text = NULL;
    if (ib_get(client, "key", &text) == IB_OK)
        ib_free(text);
    ib_set(client, "key", "1", 60, NULL);
    ib_last_error_code(client);
    ib_last_error_message(client);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ib_client *client;
    if (client == NULL) {
        struct ib_options options;
        ib_options_init(&options);
        options.base_url = "http://127.0.0.1:1";
        options.api_key = "key";
        client = ib_client_new(&options);
        if (client == NULL)
            abort();
    }
    answer_data = data;
    answer_size = size;
    every_operation(client);
    return 0;
}
