/* The three calls a worker makes on a claimed intent: ib_extend(),
 * ib_fulfill() and ib_fail() (spec 7.4-7.6). Each sends the claim token in
 * a JSON body; a 404 from any of them means the lease is lost for good. */
#include <stdlib.h>
#include <string.h>

#include "client/batch.h"
#include "client/body.h"
#include "client/call.h"
#include "client/url.h"

/* *object: a new body holding the claim token, or NULL on error. */
static enum ib_err lease_body(struct ib_client *client, const char *id, const char *claim_token,
                              json_t **object)
{
    *object = NULL;
    if (id == NULL || id[0] == '\0' || claim_token == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "id and claim_token are required");
    *object = body_new(client);
    if (*object == NULL)
        return IB_ERR_NO_MEMORY;
    enum ib_err err = body_set_string(client, *object, "claim_token", claim_token);
    if (err != IB_OK) {
        json_decref(*object);
        *object = NULL;
    }
    return err;
}

/* POST <prefix><id> with object as the body (taken); *reply as call_json(). */
static enum ib_err post_lease(struct ib_client *client, const char *prefix, const char *id,
                              json_t *object, json_t **reply)
{
    char *body = NULL;
    enum ib_err err = body_finish(client, object, &body);
    if (err != IB_OK)
        return err;
    char *target = url_path(prefix, id);
    if (target == NULL) {
        free(body);
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request");
    }
    struct http_request request = {
        .method = "POST", .path_and_query = target, .body = body, .body_len = strlen(body)};
    err = call_json(client, &request, reply);
    free(target);
    free(body);
    return err;
}

enum ib_err ib_extend(struct ib_client *client, const char *id, const char *claim_token,
                      unsigned seconds, double *claim_expires_at)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    json_t *object = NULL;
    enum ib_err err = lease_body(client, id, claim_token, &object);
    if (err == IB_OK && seconds > 0)
        err = body_set_new(client, object, "seconds", json_integer(seconds));
    json_t *reply = NULL;
    if (err == IB_OK)
        err = post_lease(client, "/extend_claim/", id, object, &reply);
    else
        json_decref(object);
    const json_t *expires = json_object_get(reply, "claim_expires_at");
    if (err == IB_OK && !json_is_number(expires))
        err = client_fail(client, IB_ERR_PROTOCOL, "the reply has no claim_expires_at");
    if (err == IB_OK && claim_expires_at != NULL)
        *claim_expires_at = json_number_value(expires);
    json_decref(reply);
    return err;
}

enum ib_err fulfill_object(struct ib_client *client, const char *id, const char *claim_token,
                           const char *result, const char *result_type, json_t **out)
{
    enum ib_err err = lease_body(client, id, claim_token, out);
    if (err == IB_OK)
        err = body_set_json(client, *out, "result", result);
    if (err == IB_OK)
        err = body_set_string(client, *out, "result_type", result_type);
    if (err != IB_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return err;
}

enum ib_err ib_fulfill(struct ib_client *client, const char *id, const char *claim_token,
                       const char *result, const char *result_type)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    json_t *object = NULL;
    enum ib_err err = fulfill_object(client, id, claim_token, result, result_type, &object);
    json_t *reply = NULL;
    if (err == IB_OK)
        err = post_lease(client, "/fulfill/", id, object, &reply);
    json_decref(reply);
    return err;
}

/* "open" or "dead" and the numbers of a /fail reply. */
static enum ib_err read_outcome(struct ib_client *client, const json_t *reply,
                                struct ib_fail_outcome *outcome)
{
    const char *status = call_reply_string(client, reply, "status");
    if (status == NULL)
        return IB_ERR_PROTOCOL;
    outcome->status = strcmp(status, "open") == 0   ? IB_STATUS_OPEN
                      : strcmp(status, "dead") == 0 ? IB_STATUS_DEAD
                                                    : IB_STATUS_UNKNOWN;
    outcome->claim_attempts = (int)json_integer_value(json_object_get(reply, "claim_attempts"));
    outcome->run_at = json_number_value(json_object_get(reply, "run_at")); /* null when dead */
    return IB_OK;
}

enum ib_err ib_fail(struct ib_client *client, const char *id, const char *claim_token,
                    const char *error, struct ib_fail_outcome *outcome)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    json_t *object = NULL;
    enum ib_err err = lease_body(client, id, claim_token, &object);
    if (err == IB_OK)
        err = body_set_string(client, object, "error", error);
    json_t *reply = NULL;
    if (err == IB_OK)
        err = post_lease(client, "/fail/", id, object, &reply);
    else
        json_decref(object);
    if (err == IB_OK && outcome != NULL)
        err = read_outcome(client, reply, outcome);
    json_decref(reply);
    return err;
}
