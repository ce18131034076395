/* ib_publish_many() and ib_claim_many(): POST /intents and POST
 * /claim?max=K (docs/PROTOCOL-EXTENSIONS.md "Batch publish and claim").
 * Items are built and read by the single calls' code (batch.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/batch.h"
#include "client/body.h"
#include "client/call.h"
#include "client/errors.h"

/* {"intents": [...]} with each intent's idempotency key as its field. */
static enum ib_err batch_body(struct ib_client *client, const struct ib_publish *intents,
                              size_t count, char **text)
{
    json_t *list = json_array();
    json_t *object = body_new(client);
    enum ib_err err = list && object ? IB_OK : IB_ERR_NO_MEMORY;
    for (size_t i = 0; i < count && err == IB_OK; i++) {
        json_t *item = NULL;
        if (intents[i].goal == NULL || intents[i].payload == NULL)
            err = client_fail(client, IB_ERR_INVALID_ARGUMENT,
                              "intent %zu: goal and payload are required", i);
        if (err == IB_OK)
            err = publish_object(client, &intents[i], &item);
        if (err == IB_OK)
            err = body_set_string(client, item, "idempotency_key", intents[i].idempotency_key);
        if (err == IB_OK && json_array_append_new(list, item) != 0)
            err = client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request");
        else if (err != IB_OK)
            json_decref(item);
    }
    if (err == IB_OK)
        err = body_set_new(client, object, "intents", json_incref(list));
    json_decref(list);
    if (err != IB_OK) {
        json_decref(object);
        return err;
    }
    return body_finish(client, object, text);
}

enum ib_err batch_item_error(struct ib_client *client, const json_t *item, enum ib_err *err,
                             char code[48], char message[160])
{
    const json_t *error = json_object_get(item, "error");
    const char *text = json_string_value(json_object_get(error, "code"));
    const char *said = json_string_value(json_object_get(error, "message"));
    long status = (long)json_integer_value(json_object_get(item, "http_status"));
    if (text == NULL)
        return client_fail(client, IB_ERR_PROTOCOL, "a batch item's error has no code");
    *err = errors_from_code(text, status);
    snprintf(code, 48, "%s", text);
    snprintf(message, 160, "%s", said ? said : "");
    return IB_OK;
}

enum ib_err batch_results(struct ib_client *client, const json_t *reply, size_t count,
                          const json_t **list)
{
    *list = json_object_get(reply, "results");
    if (!json_is_array(*list) || json_array_size(*list) != count)
        return client_fail(client, IB_ERR_PROTOCOL, "the batch reply has not one result per item");
    return IB_OK;
}

/* One item of the reply into its result. */
static enum ib_err read_result(struct ib_client *client, const json_t *item,
                               struct ib_publish_result *result)
{
    const char *id = json_string_value(json_object_get(item, "id"));
    memset(result, 0, sizeof *result);
    if (json_object_get(item, "error") != NULL)
        return batch_item_error(client, item, &result->err, result->code, result->message);
    if (id == NULL || id[0] == '\0' || strlen(id) > IB_ID_MAX)
        return client_fail(client, IB_ERR_PROTOCOL, "a batch item has neither id nor error");
    result->err = IB_OK;
    snprintf(result->id, sizeof result->id, "%s", id);
    result->replayed = json_is_true(json_object_get(item, "replayed"));
    return IB_OK;
}

static enum ib_err read_results(struct ib_client *client, const json_t *reply, size_t count,
                                struct ib_publish_result *results)
{
    const json_t *list = NULL;
    enum ib_err err = batch_results(client, reply, count, &list);
    for (size_t i = 0; i < count && err == IB_OK; i++)
        err = read_result(client, json_array_get(list, i), &results[i]);
    return err;
}

enum ib_err batch_post(struct ib_client *client, const char *path, char *body, json_t **reply)
{
    struct http_request request = {
        .method = "POST",
        .path_and_query = path,
        .body = body,
        .body_len = strlen(body),
    };
    enum ib_err err = call_json(client, &request, reply);
    free(body);
    return err;
}

enum ib_err ib_publish_many(struct ib_client *client, const struct ib_publish *intents,
                            size_t count, struct ib_publish_result *results)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (intents == NULL || results == NULL || count == 0 || count > IB_BATCH_MAX)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT,
                           "1 to %d intents and room for their results are required", IB_BATCH_MAX);
    char *body = NULL;
    enum ib_err err = batch_body(client, intents, count, &body);
    if (err != IB_OK)
        return err;
    json_t *reply = NULL;
    err = batch_post(client, "/intents", body, &reply);
    if (err == IB_OK)
        err = read_results(client, reply, count, results);
    json_decref(reply);
    return err;
}

void ib_jobs_free(struct ib_job **jobs, size_t count)
{
    if (jobs == NULL)
        return;
    for (size_t i = 0; i < count; i++)
        ib_job_free(jobs[i]);
    free(jobs);
}

static enum ib_err read_jobs(struct ib_client *client, const json_t *reply, unsigned max,
                             struct ib_job ***jobs, size_t *count)
{
    const json_t *list = json_object_get(reply, "intents");
    size_t size = json_array_size(list);
    if (!json_is_array(list) || size == 0 || size > max)
        return client_fail(client, IB_ERR_PROTOCOL, "the claim reply has no list of 1 to %u", max);
    *jobs = calloc(size, sizeof(struct ib_job *));
    if (*jobs == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory reading jobs");
    enum ib_err err = IB_OK;
    for (size_t i = 0; i < size && err == IB_OK; i++)
        err = claim_read_job(client, json_array_get(list, i), &(*jobs)[i]);
    if (err != IB_OK) {
        ib_jobs_free(*jobs, size);
        *jobs = NULL;
        return err;
    }
    *count = size;
    return IB_OK;
}

enum ib_err ib_claim_many(struct ib_client *client, const struct ib_claim *claim, unsigned max,
                          struct ib_job ***jobs, size_t *count)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (jobs == NULL || count == NULL || max == 0 || max > IB_BATCH_MAX)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT,
                           "jobs, count and a max of 1 to %d are required", IB_BATCH_MAX);
    *jobs = NULL;
    *count = 0;
    static const struct ib_claim everything = {0};
    char *target = claim_target(claim ? claim : &everything, max);
    if (target == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request");
    struct http_request request = {
        .method = "POST",
        .path_and_query = target,
        .wait_seconds = claim ? claim->wait_seconds : 0,
    };
    json_t *reply = NULL;
    enum ib_err err = call_json_or_empty(client, &request, &reply);
    free(target);
    if (err == IB_OK)
        err = read_jobs(client, reply, max, jobs, count);
    json_decref(reply);
    return err;
}
