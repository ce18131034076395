/* Pausing a goal and limiting how many of its intents are claimed at once
 * (POST /admin/goals/<namespace>/<goal>/pause, /resume, /limit; see
 * admin.h). The store enforces both inside each claim's transaction; here
 * the request is checked, applied, answered, and parked claims are told. */
#include <string.h>

#include "bus/admin.h"
#include "bus/admin_json.h"
#include "bus/validate.h"
#include "util/clock.h"

/* Splits "<namespace>/<goal>": the namespace has no '/', so the goal is
 * everything after the first one (and may contain '/' itself). */
static enum bus_err read_goal_path(const char *path, struct goal_control_change *change,
                                   char namespace_[NAMESPACE_MAX + 1], struct bus_error *error)
{
    const char *slash = path ? strchr(path, '/') : NULL;
    if (slash == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_goal",
                             "the path needs a namespace and a goal: "
                             "/admin/goals/<namespace>/<goal>/<action>");
    size_t length = (size_t)(slash - path);
    if (length > NAMESPACE_MAX)
        length = 0;
    memcpy(namespace_, path, length);
    namespace_[length] = '\0';
    if (length == 0 || !validate_namespace(namespace_))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_namespace",
                             "namespace must be 1 to %d of A-Z a-z 0-9 . - _", NAMESPACE_MAX);
    if (!validate_goal(slash + 1))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_goal",
                             "goal must be 1 to %d characters of UTF-8, percent-encoded in the "
                             "path",
                             GOAL_MAX_CHARS);
    change->namespace_ = namespace_;
    change->goal = slash + 1;
    return BUS_OK;
}

/* {"max_claimed": N} with N a whole number from 1 to GOAL_MAX_CLAIMED_MAX,
 * or {"max_claimed": null} to remove the limit. */
static enum bus_err read_limit(const json_t *body, struct goal_control_change *change,
                               struct bus_error *error)
{
    if (!json_is_object(body))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL,
                             "body must be a JSON object: {\"max_claimed\": N or null}");
    const json_t *value = json_object_get(body, "max_claimed");
    change->set_limit = true;
    if (json_is_null(value)) {
        change->max_claimed = 0;
        return BUS_OK;
    }
    if (!json_is_integer(value) || json_integer_value(value) < 1 ||
        json_integer_value(value) > GOAL_MAX_CLAIMED_MAX)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_max_claimed",
                             "max_claimed must be a whole number from 1 to %d, or null to "
                             "remove the limit",
                             GOAL_MAX_CLAIMED_MAX);
    change->max_claimed = (long)json_integer_value(value);
    return BUS_OK;
}

/* Parked claims retry at once: a resumed goal, or one with more room,
 * may have intents they can take now. Which ones is not known here. */
static void notify_claimable_again(struct bus *bus)
{
    struct intent_event event = {.kind = INTENT_EVENT_CLAIMABLE, .due = clock_now()};
    bus_notify(bus, &event);
}

json_t *bus_goal_control_json(const struct goal_control *control)
{
    return json_pack("{s:s, s:s, s:b, s:o}", "namespace", control->namespace_, "goal",
                     control->goal, "paused", control->paused, "max_claimed",
                     control->max_claimed > 0 ? json_integer(control->max_claimed) : json_null());
}

enum bus_err bus_admin_goal_control(struct bus *bus, const char *path, enum goal_action action,
                                    const json_t *body, struct bus_reply *reply,
                                    struct bus_error *error)
{
    char namespace_[NAMESPACE_MAX + 1];
    struct goal_control_change change = {.now = clock_now()};
    enum bus_err err = read_goal_path(path, &change, namespace_, error);
    if (err == BUS_OK && action == GOAL_ACTION_LIMIT)
        err = read_limit(body, &change, error);
    if (err != BUS_OK)
        return err;
    change.pause = action == GOAL_ACTION_PAUSE    ? GOAL_PAUSE_SET
                   : action == GOAL_ACTION_RESUME ? GOAL_PAUSE_CLEAR
                                                  : GOAL_PAUSE_KEEP;
    struct goal_control control;
    err = bus->store->ops->goal_control_set(bus->store->backend, &change, &control);
    if (err != BUS_OK)
        return admin_store_failure(err, error);
    if (action != GOAL_ACTION_PAUSE)
        notify_claimable_again(bus);
    json_t *body_out = bus_goal_control_json(&control);
    json_object_set_new(body_out, "ok", json_true());
    return bus_reply_json(reply, 200, body_out, error);
}
