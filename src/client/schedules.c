/* ib_schedule_*(): recurring schedules, /schedules and
 * /schedules/<name>[/pause|/resume]. Definitions and answers stay JSON
 * text: the server validates, the caller reads what it needs. */
#include <stdlib.h>
#include <string.h>

#include "client/call.h"
#include "client/url.h"

/* Sends one schedule request and hands over the answer's text. */
static enum ib_err schedule_call(struct ib_client *client, const char *method, const char *target,
                                 const char *body, char **response)
{
    struct http_request request = {.method = method,
                                   .path_and_query = target,
                                   .body = body,
                                   .body_len = body ? strlen(body) : 0};
    char *text = NULL;
    enum ib_err err = call_text(client, &request, &text);
    if (response != NULL)
        *response = text;
    else
        free(text);
    return err;
}

/* "/schedules/<name><suffix>", the name percent-encoded; NULL when out of
 * memory. */
static char *schedule_target(const char *name, const char *suffix)
{
    char *path = url_path("/schedules/", name);
    if (path == NULL)
        return NULL;
    char *target = malloc(strlen(path) + strlen(suffix) + 1);
    if (target != NULL) {
        strcpy(target, path);
        strcat(target, suffix);
    }
    free(path);
    return target;
}

static enum ib_err named_call(struct ib_client *client, const char *method, const char *name,
                              const char *suffix, char **response)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (response != NULL)
        *response = NULL;
    if (name == NULL || name[0] == '\0')
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "a schedule name is required");
    char *target = schedule_target(name, suffix);
    if (target == NULL)
        return client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request");
    enum ib_err err = schedule_call(client, method, target, NULL, response);
    free(target);
    return err;
}

enum ib_err ib_schedule_put(struct ib_client *client, const char *definition_json, char **response)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (response != NULL)
        *response = NULL;
    if (definition_json == NULL)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT, "a definition is required");
    return schedule_call(client, "POST", "/schedules", definition_json, response);
}

enum ib_err ib_schedule_list(struct ib_client *client, char **response)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (response != NULL)
        *response = NULL;
    return schedule_call(client, "GET", "/schedules", NULL, response);
}

enum ib_err ib_schedule_get(struct ib_client *client, const char *name, char **response)
{
    return named_call(client, "GET", name, "", response);
}

enum ib_err ib_schedule_pause(struct ib_client *client, const char *name, bool paused,
                              char **response)
{
    return named_call(client, "POST", name, paused ? "/pause" : "/resume", response);
}

enum ib_err ib_schedule_delete(struct ib_client *client, const char *name)
{
    return named_call(client, "DELETE", name, "", NULL);
}
