/* ib_publish(): POST /intent (spec 7.2). Fields left at zero are left out
 * of the body, so the server's defaults stay the only defaults. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/batch.h"
#include "client/body.h"
#include "client/call.h"

static const char *visibility_name(enum ib_visibility visibility)
{
    switch (visibility) {
    case IB_VISIBILITY_PRIVATE:
        return "private";
    case IB_VISIBILITY_PUBLIC:
        return "public";
    default:
        return NULL;
    }
}

/* The optional numbers: 0 is the default or out of range for each of them,
 * except priority, hence has_priority. */
static enum ib_err add_numbers(struct ib_client *client, json_t *object,
                               const struct ib_publish *intent)
{
    enum ib_err err = IB_OK;
    if (intent->has_priority)
        err = body_set_new(client, object, "priority", json_integer(intent->priority));
    if (err == IB_OK && intent->delay != 0)
        err = body_set_new(client, object, "delay", json_real(intent->delay));
    if (err == IB_OK && intent->max_attempts != 0)
        err = body_set_new(client, object, "max_attempts", json_integer(intent->max_attempts));
    if (err == IB_OK && intent->backoff_base != 0)
        err = body_set_new(client, object, "backoff_base", json_real(intent->backoff_base));
    return err;
}

/* The publish body as a JSON object (*out, owned by the caller). */
enum ib_err publish_object(struct ib_client *client, const struct ib_publish *intent,
                           json_t **out)
{
    json_t *object = body_new(client);
    if (object == NULL)
        return IB_ERR_NO_MEMORY;
    enum ib_err err = body_set_string(client, object, "goal", intent->goal);
    if (err == IB_OK)
        err = body_set_json(client, object, "payload", intent->payload);
    if (err == IB_OK)
        err = body_set_string(client, object, "namespace", intent->namespace_);
    if (err == IB_OK)
        err = body_set_string(client, object, "visibility", visibility_name(intent->visibility));
    if (err == IB_OK)
        err = add_numbers(client, object, intent);
    if (err == IB_OK)
        err = body_set_string(client, object, "target_worker", intent->target_worker);
    if (err == IB_OK)
        err = body_set_string(client, object, "required_capability", intent->required_capability);
    if (err == IB_OK)
        err = body_set_string(client, object, "notify_url", intent->notify_url);
    if (err != IB_OK) {
        json_decref(object);
        return err;
    }
    *out = object;
    return IB_OK;
}

static enum ib_err publish_body(struct ib_client *client, const struct ib_publish *intent,
                                char **text)
{
    json_t *object = NULL;
    enum ib_err err = publish_object(client, intent, &object);
    return err == IB_OK ? body_finish(client, object, text) : err;
}

/* Copies the reply's id into the caller's buffer. */
static enum ib_err read_id(struct ib_client *client, const json_t *reply, char id[IB_ID_MAX + 1])
{
    const char *value = call_reply_string(client, reply, "id");
    if (value == NULL)
        return IB_ERR_PROTOCOL;
    if (value[0] == '\0' || strlen(value) > IB_ID_MAX)
        return client_fail(client, IB_ERR_PROTOCOL, "the reply's id is empty or too long");
    snprintf(id, IB_ID_MAX + 1, "%s", value);
    return IB_OK;
}

enum ib_err ib_publish(struct ib_client *client, const struct ib_publish *intent,
                       char id[IB_ID_MAX + 1])
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (intent == NULL || intent->goal == NULL || intent->payload == NULL || id == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "goal, payload and id are required");
    id[0] = '\0';
    char *body = NULL;
    enum ib_err err = publish_body(client, intent, &body);
    if (err != IB_OK)
        return err;
    struct http_request request = {
        .method = "POST",
        .path_and_query = "/intent",
        .body = body,
        .body_len = strlen(body),
        .idempotency_key = intent->idempotency_key,
    };
    json_t *reply = NULL;
    err = call_json(client, &request, &reply);
    free(body);
    if (err == IB_OK)
        err = read_id(client, reply, id);
    json_decref(reply);
    return err;
}
