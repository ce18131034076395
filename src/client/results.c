/* ib_result() and ib_status(): GET /result/<id> and /status/<id> (spec
 * 7.7, 7.8). The caller gets the response's JSON text as sent, every field
 * of it, plus the one field nearly every caller branches on, parsed. */
#include <stdlib.h>
#include <string.h>

#include "client/call.h"
#include "client/url.h"

static const char *const status_names[] = {
    [IB_STATUS_UNKNOWN] = "unknown",     [IB_STATUS_OPEN] = "open", [IB_STATUS_CLAIMED] = "claimed",
    [IB_STATUS_FULFILLED] = "fulfilled", [IB_STATUS_DEAD] = "dead",
};

const char *ib_intent_status_name(enum ib_intent_status status)
{
    if ((unsigned)status >= sizeof status_names / sizeof status_names[0])
        return "unknown";
    return status_names[status];
}

static enum ib_intent_status status_from_name(const char *name)
{
    for (size_t i = 1; i < sizeof status_names / sizeof status_names[0]; i++) {
        if (strcmp(name, status_names[i]) == 0)
            return (enum ib_intent_status)i;
    }
    return IB_STATUS_UNKNOWN;
}

/* The "status" member of the response text. */
static enum ib_err read_status(struct ib_client *client, const char *text,
                               enum ib_intent_status *status)
{
    json_t *reply = json_loads(text, JSON_ALLOW_NUL, NULL);
    const char *name = call_reply_string(client, reply, "status");
    enum ib_err err = name ? IB_OK : IB_ERR_PROTOCOL;
    if (name != NULL && status != NULL)
        *status = status_from_name(name);
    json_decref(reply);
    return err;
}

/* GET <prefix><id>[?wait=N] into *response. */
static enum ib_err read_intent(struct ib_client *client, const char *prefix, const char *id,
                               unsigned wait_seconds, char **response,
                               enum ib_intent_status *status)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (response == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "response is required");
    *response = NULL;
    if (status != NULL)
        *status = IB_STATUS_UNKNOWN;
    if (id == NULL || id[0] == '\0')
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "id is required");
    char *target = url_path(prefix, id);
    if (target == NULL || !url_add_count(&target, "wait", wait_seconds)) {
        free(target);
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request");
    }
    struct http_request request = {
        .method = "GET", .path_and_query = target, .wait_seconds = wait_seconds};
    enum ib_err err = call_text(client, &request, response);
    free(target);
    if (err == IB_OK)
        err = read_status(client, *response, status);
    if (err != IB_OK) {
        free(*response);
        *response = NULL;
    }
    return err;
}

enum ib_err ib_result(struct ib_client *client, const char *id, unsigned wait_seconds,
                      char **response, enum ib_intent_status *status)
{
    return read_intent(client, "/result/", id, wait_seconds, response, status);
}

enum ib_err ib_status(struct ib_client *client, const char *id, char **response,
                      enum ib_intent_status *status)
{
    return read_intent(client, "/status/", id, 0, response, status);
}
