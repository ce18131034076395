/* See admin_json.h. */
#include "bus/admin_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bus/validate.h"

json_t *admin_time_or_null(double seconds)
{
    return isnan(seconds) ? json_null() : json_real(seconds);
}

json_t *admin_text_or_null(const char *text)
{
    return text && text[0] ? json_string(text) : json_null();
}

json_t *admin_stored_json(const char *text)
{
    json_t *value = text ? json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL) : NULL;
    return value ? value : json_null();
}

enum bus_err admin_store_failure(enum bus_err err, struct bus_error *error)
{
    if (err == BUS_ERR_NOT_FOUND)
        return bus_error_set(error, err, NULL, "not found");
    return bus_error_set(error, err, NULL, "the database could not answer");
}

bool admin_given(const char *value)
{
    return value != NULL && value[0] != '\0';
}

enum bus_err admin_read_names(const char *namespace_, const char *goal, const char *error_text,
                              char namespace_out[NAMESPACE_MAX + 1],
                              char goal_out[GOAL_MAX_BYTES + 1],
                              char error_out[ERROR_TEXT_MAX_BYTES + 1], struct bus_error *error)
{
    if (admin_given(namespace_) && !validate_namespace(namespace_))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_namespace",
                             "namespace must be 1 to %d of A-Z a-z 0-9 . - _", NAMESPACE_MAX);
    if (admin_given(goal) && !validate_goal(goal))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_goal",
                             "goal must be 1 to %d characters", GOAL_MAX_CHARS);
    if (admin_given(error_text) && strlen(error_text) > ERROR_TEXT_MAX_BYTES)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_error",
                             "error must be at most %d bytes", ERROR_TEXT_MAX_BYTES);
    snprintf(namespace_out, NAMESPACE_MAX + 1, "%s", admin_given(namespace_) ? namespace_ : "");
    snprintf(goal_out, GOAL_MAX_BYTES + 1, "%s", admin_given(goal) ? goal : "");
    snprintf(error_out, ERROR_TEXT_MAX_BYTES + 1, "%s", admin_given(error_text) ? error_text : "");
    return BUS_OK;
}
