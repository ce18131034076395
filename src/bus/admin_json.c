/* See admin_json.h. */
#include "bus/admin_json.h"

#include <math.h>

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

enum bus_err admin_reply_json(struct bus_reply *reply, unsigned status, json_t *value,
                              struct bus_error *error)
{
    reply->status = status;
    reply->body = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    if (reply->body == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

enum bus_err admin_store_failure(enum bus_err err, struct bus_error *error)
{
    if (err == BUS_ERR_NOT_FOUND)
        return bus_error_set(error, err, NULL, "not found");
    return bus_error_set(error, err, NULL, "the database could not answer");
}
