/* Handlers of the admin API (spec section 8, docs/ADMIN.md). The router
 * has checked admin credentials before any of these runs. */
#include <stdlib.h>
#include <string.h>

#include "bus/admin.h"
#include "bus/audit.h"
#include "bus/schedules.h"
#include "bus/validate.h"
#include "serve/handlers.h"
#include "serve/router.h"
#include "serve/server.h"
#include "util/clock.h"

void admin_audit(struct http_request *request, const struct http_response *response,
                 const char *action, const char *target, bool with_reply)
{
    if (response->status < 200 || response->status >= 300)
        return;
    char address[64];
    router_client_address(request->server, request->exchange, address, sizeof address);
    json_t *detail = with_reply && response->body ? json_loads(response->body, 0, NULL) : NULL;
    bus_audit_record(&request->server->bus, request->caller.label, address, action, target,
                     detail);
}

/* The id inside /admin/intents/<id>/<action> (the router gives "<id>/..."). */
static void copy_id(const char *param, char id[INTENT_ID_LEN + 2])
{
    size_t length = strcspn(param, "/");
    if (length > INTENT_ID_LEN)
        length = INTENT_ID_LEN + 1; /* too long: can never be an id */
    memcpy(id, param, length);
    id[length] = '\0';
}

void handle_admin_stats(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_admin_stats(&request->server->bus, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_admin_intents(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    const char *state = request_query(request, "state");
    struct admin_intent_query query = {
        .limit = request_query(request, "limit"),
        .state = state && state[0] ? state : request_query(request, "status"),
        .namespace_ = request_query(request, "namespace"),
        .goal = request_query(request, "goal"),
        .id = request_query(request, "id"),
        .owner = request_query(request, "owner"),
        .worker = request_query(request, "worker"),
        .error = request_query(request, "error"),
        .before = request_query(request, "before"),
        .main_principal = request->server->auth.main_key_hash,
    };
    enum bus_err err = bus_admin_list_intents(&request->server->bus, &query, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_admin_intent(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_admin_intent(&request->server->bus, request->param, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_admin_cancel(struct http_request *request, struct http_response *response)
{
    char id[INTENT_ID_LEN + 2];
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    copy_id(request->param, id);
    enum bus_err err = bus_admin_cancel(&request->server->bus, id, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    admin_audit(request, response, "cancel", id, false);
}

void handle_admin_retry(struct http_request *request, struct http_response *response)
{
    char id[INTENT_ID_LEN + 2];
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    copy_id(request->param, id);
    enum bus_err err = bus_admin_retry(&request->server->bus, id, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    admin_audit(request, response, "retry", id, false);
}

void handle_admin_dead_list(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    struct admin_dead_query query = {
        request_query(request, "namespace"), request_query(request, "goal"),
        request_query(request, "reason"), request_query(request, "error")};
    enum bus_err err = bus_admin_dead_list(&request->server->bus, &query, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_admin_dead(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_admin_dead(&request->server->bus, request->param, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_admin_keys(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_admin_keys(&request->server->bus, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

/* Key management bodies must be JSON objects, like every other body. */
static bool refuse_non_object(const struct http_request *request, struct http_response *response)
{
    if (json_is_object(request->json))
        return false;
    struct bus_error error;
    bus_error_set(&error, BUS_ERR_INVALID_REQUEST, NULL, "body must be a JSON object");
    response_error(response, &error);
    return true;
}

void handle_admin_generate_key(struct http_request *request, struct http_response *response)
{
    struct bus_error error;
    const char *owner = validate_plain_string(json_object_get(request->json, "owner"));
    char key[TESTER_KEY_LEN + 1];
    if (refuse_non_object(request, response))
        return;
    if (owner == NULL || !validate_owner(owner)) {
        bus_error_set(&error, BUS_ERR_INVALID_FIELD, "invalid_owner",
                      "owner must be 1 to 64 characters without control characters");
        response_error(response, &error);
    } else if (auth_generate_key(&request->server->auth, owner, key, &error) != BUS_OK) {
        response_error(response, &error);
    } else {
        response_json(response, 201, json_pack("{s:s, s:s}", "api_key", key, "owner", owner));
        admin_audit(request, response, "generate_key", owner, false); /* never the key */
    }
}

/* A key id as GET /admin/keys shows it: 12 to 64 lowercase hex digits. */
static bool is_key_id(const char *text)
{
    size_t length = text ? strlen(text) : 0;
    return length >= 12 && length <= PRINCIPAL_LEN && strspn(text, "0123456789abcdef") == length;
}

/* {"api_key": "tk_..."} as the spec has it, or {"key_id": ...}: the
 * dashboard knows keys by id only. */
void handle_admin_revoke_key(struct http_request *request, struct http_response *response)
{
    struct bus_error error;
    const char *key = validate_plain_string(json_object_get(request->json, "api_key"));
    const char *key_id = validate_plain_string(json_object_get(request->json, "key_id"));
    char owner[OWNER_MAX_BYTES + 1];
    char principal[PRINCIPAL_LEN + 1];
    enum bus_err err;
    if (refuse_non_object(request, response))
        return;
    if (key != NULL && strncmp(key, TESTER_KEY_PREFIX, strlen(TESTER_KEY_PREFIX)) == 0)
        err = auth_revoke_key(&request->server->auth, key, owner, principal, &error);
    else if (key == NULL && is_key_id(key_id))
        err = auth_revoke_key_id(&request->server->auth, key_id, owner, principal, &error);
    else
        err = bus_error_set(&error, BUS_ERR_INVALID_FIELD, "invalid_api_key",
                            "api_key must be a tester key (tk_...), or key_id its id");
    if (err != BUS_OK) {
        response_error(response, &error);
        return;
    }
    rate_limit_forget(&request->server->rate_limits, principal);
    response_json(response, 200,
                  json_pack("{s:b, s:b, s:s}", "ok", 1, "revoked", 1, "owner", owner));
    admin_audit(request, response, "revoke_key", owner, false);
}

void handle_admin_purge(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_admin_purge(&request->server->bus, request->json, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    const char *namespace_ = json_string_value(json_object_get(request->json, "namespace"));
    admin_audit(request, response, "purge", namespace_ ? namespace_ : "*", true);
}

void handle_admin_cleanup(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    long rate_limits_deleted = rate_limit_prune(&request->server->rate_limits, clock_now());
    enum bus_err err =
        bus_admin_cleanup(&request->server->bus, rate_limits_deleted, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    admin_audit(request, response, "cleanup", NULL, true);
}

void handle_admin_audit(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_audit_list(&request->server->bus, request_query(request, "limit"),
                                      request_query(request, "before"), &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

/* What the dashboard needs to know of its user: whether to offer actions. */
void handle_admin_whoami(struct http_request *request, struct http_response *response)
{
    bool viewer = strcmp(request->caller.label, "viewer") == 0;
    response_json(response, 200,
                  json_pack("{s:s, s:b}", "role", viewer ? "viewer" : "admin", "may_act", !viewer));
}

void handle_admin_history(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err =
        bus_admin_history(&request->server->bus, request_query(request, "minutes"), &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

void handle_admin_goals(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_admin_goals(&request->server->bus, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

static void dead_bulk(struct http_request *request, struct http_response *response, bool purge)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err =
        bus_admin_dead_bulk(&request->server->bus, purge, request->json, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    /* The target says which dead letters: the filters as sent. */
    json_t *filters = json_deep_copy(request->json);
    json_object_del(filters, "confirm");
    char *target = filters ? json_dumps(filters, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(filters);
    admin_audit(request, response, purge ? "dead_purge" : "dead_retry", target, true);
    free(target);
}

void handle_admin_dead_retry(struct http_request *request, struct http_response *response)
{
    dead_bulk(request, response, false);
}

void handle_admin_dead_purge(struct http_request *request, struct http_response *response)
{
    dead_bulk(request, response, true);
}

void handle_admin_workers(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err =
        bus_admin_workers(&request->server->bus, request_query(request, "since"),
                          request->server->auth.main_key_hash, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

/* At most OWNER_MAX_BYTES of text, cut on a UTF-8 character boundary: an
 * audit target is that long, and must stay valid UTF-8 to be listed. */
static void copy_target(char *out, const char *text, size_t length)
{
    if (length > OWNER_MAX_BYTES) {
        length = OWNER_MAX_BYTES;
        while (length > 0 && ((unsigned char)text[length] & 0xC0) == 0x80)
            length--;
    }
    memcpy(out, text, length);
    out[length] = '\0';
}

/* The router gives "<namespace>/<goal><suffix>", percent-decoded. */
static void goal_control(struct http_request *request, struct http_response *response,
                         enum goal_action action, const char *suffix, const char *audit_action)
{
    size_t length = strlen(request->param) - strlen(suffix);
    char *path = malloc(length + 1);
    if (path == NULL) {
        struct bus_error error;
        bus_error_set(&error, BUS_ERR_INTERNAL, NULL, "out of memory");
        response_error(response, &error);
        return;
    }
    memcpy(path, request->param, length);
    path[length] = '\0';
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err =
        bus_admin_goal_control(&request->server->bus, path, action, request->json, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    char target[OWNER_MAX_BYTES + 1];
    copy_target(target, path, length);
    admin_audit(request, response, audit_action, target, true);
    free(path);
}

void handle_admin_goal_pause(struct http_request *request, struct http_response *response)
{
    goal_control(request, response, GOAL_ACTION_PAUSE, "/pause", "goal_pause");
}

void handle_admin_goal_resume(struct http_request *request, struct http_response *response)
{
    goal_control(request, response, GOAL_ACTION_RESUME, "/resume", "goal_resume");
}

void handle_admin_goal_limit(struct http_request *request, struct http_response *response)
{
    goal_control(request, response, GOAL_ACTION_LIMIT, "/limit", "goal_limit");
}

void handle_admin_schedules(struct http_request *request, struct http_response *response)
{
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err = bus_admin_schedules(&request->server->bus,
                                           request->server->auth.main_key_hash, &reply, &error);
    response_from_bus(response, err, &reply, &error);
}

/* The router gives "<name>/pause" or "<name>/resume"; a name has no '/'. */
static void schedule_pause(struct http_request *request, struct http_response *response,
                           bool paused)
{
    char name[SCHEDULE_NAME_MAX + 2];
    size_t length = strcspn(request->param, "/");
    if (length > SCHEDULE_NAME_MAX)
        length = SCHEDULE_NAME_MAX + 1; /* too long: no schedule has it */
    memcpy(name, request->param, length);
    name[length] = '\0';
    struct bus_reply reply = {0, NULL};
    struct bus_error error;
    enum bus_err err =
        bus_admin_schedule_pause(&request->server->bus, name, paused, &reply, &error);
    response_from_bus(response, err, &reply, &error);
    admin_audit(request, response, paused ? "schedule_pause" : "schedule_resume", name, false);
}

void handle_admin_schedule_pause(struct http_request *request, struct http_response *response)
{
    schedule_pause(request, response, true);
}

void handle_admin_schedule_resume(struct http_request *request, struct http_response *response)
{
    schedule_pause(request, response, false);
}
