/* ib_claim(): POST /claim (spec 7.3) and the job it returns. Parameters go
 * in the query string, added in key order so the request-target is already
 * canonical; there is no body. */
#include <stdlib.h>
#include <string.h>

#include "client/batch.h"
#include "client/call.h"
#include "client/url.h"

void ib_job_free(struct ib_job *job)
{
    if (job == NULL)
        return;
    free(job->id);
    free(job->namespace_);
    free(job->goal);
    free(job->payload);
    free(job->target_worker);
    free(job->required_capability);
    free(job->claim_token);
    free(job);
}

/* "/claim?capabilities=..&goal=..&max=..&namespace=..&publisher=..&wait=..&worker_id=.."
 * (max: 0 leaves it out, the single claim). */
char *claim_target(const struct ib_claim *claim, unsigned max)
{
    char *url = strdup("/claim");
    if (url != NULL && url_add_param(&url, "capabilities", claim->capabilities) &&
        url_add_param(&url, "goal", claim->goal) && url_add_count(&url, "max", max) &&
        url_add_param(&url, "namespace", claim->namespace_) &&
        url_add_param(&url, "publisher", claim->publisher) &&
        url_add_count(&url, "wait", claim->wait_seconds) &&
        url_add_param(&url, "worker_id", claim->worker_id))
        return url;
    free(url);
    return NULL;
}

/* Reads a claim reply into a job; the first failure is kept in err and
 * makes every later read a no-op. */
struct job_reader {
    struct ib_client *client;
    const json_t *reply;
    enum ib_err err;
};

/* A copy of a string member; a missing or null one is NULL, and an error
 * unless optional. */
static char *read_string(struct job_reader *reader, const char *name, bool optional)
{
    const json_t *value = json_object_get(reader->reply, name);
    if (reader->err != IB_OK || (optional && (value == NULL || json_is_null(value))))
        return NULL;
    if (!json_is_string(value)) {
        reader->err = client_fail(reader->client, IB_ERR_PROTOCOL,
                                  "the claim reply has no string \"%s\"", name);
        return NULL;
    }
    char *copy = strdup(json_string_value(value));
    if (copy == NULL)
        reader->err = client_fail(reader->client, IB_ERR_NO_MEMORY, "out of memory reading a job");
    return copy;
}

static json_int_t read_integer(struct job_reader *reader, const char *name)
{
    const json_t *value = json_object_get(reader->reply, name);
    if (reader->err == IB_OK && !json_is_integer(value))
        reader->err = client_fail(reader->client, IB_ERR_PROTOCOL,
                                  "the claim reply has no integer \"%s\"", name);
    return json_integer_value(value);
}

/* The payload, any JSON value, as compact text. */
static char *read_payload(struct job_reader *reader)
{
    const json_t *value = json_object_get(reader->reply, "payload");
    if (reader->err != IB_OK)
        return NULL;
    if (value == NULL) {
        reader->err =
            client_fail(reader->client, IB_ERR_PROTOCOL, "the claim reply has no payload");
        return NULL;
    }
    char *text = call_json_text(reader->client, value);
    if (text == NULL)
        reader->err = IB_ERR_NO_MEMORY;
    return text;
}

/* A job from the 200 reply, every field of spec 7.3 checked for its type. */
enum ib_err claim_read_job(struct ib_client *client, const json_t *reply, struct ib_job **out)
{
    struct ib_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory reading a job");
    struct job_reader reader = {client, reply, IB_OK};
    job->id = read_string(&reader, "id", false);
    job->namespace_ = read_string(&reader, "namespace", false);
    job->goal = read_string(&reader, "goal", false);
    job->payload = read_payload(&reader);
    job->claim_attempts = (int)read_integer(&reader, "claim_attempts");
    job->priority = (int)read_integer(&reader, "priority");
    job->target_worker = read_string(&reader, "target_worker", true);
    job->required_capability = read_string(&reader, "required_capability", true);
    job->claim_token = read_string(&reader, "claim_token", false);
    job->claim_timeout = (long)read_integer(&reader, "claim_timeout");
    /* Not in the spec's reply; this server adds it. */
    job->claim_expires_at = json_number_value(json_object_get(reply, "claim_expires_at"));
    if (reader.err != IB_OK) {
        ib_job_free(job);
        return reader.err;
    }
    *out = job;
    return IB_OK;
}

enum ib_err ib_claim(struct ib_client *client, const struct ib_claim *claim, struct ib_job **job)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (job == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "job is required");
    *job = NULL;
    static const struct ib_claim everything = {0};
    char *target = claim_target(claim ? claim : &everything, 0);
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
        err = claim_read_job(client, reply, job);
    json_decref(reply);
    return err;
}
