/* The dead-letter views and bulk actions of the admin API; see admin.h. */
#include <stdlib.h>
#include <string.h>

#include "bus/admin.h"
#include "bus/admin_json.h"
#include "util/token.h"
#include "bus/validate.h"
#include "util/clock.h"

/* The failure in words, as the original server puts it in "reason": the
 * worker's own error, or what the bus did. The store keeps a short code,
 * which stays readable as "reason_code". */
static const char *dead_reason_text(const struct dead_letter *letter)
{
    if (strcmp(letter->reason, "cancelled") == 0)
        return "Cancelled by admin";
    if (strcmp(letter->reason, "lease_expired") == 0)
        return "Max retries exceeded";
    return letter->last_error && letter->last_error[0] ? letter->last_error : "unknown";
}

/* The original's fields (intent_id, namespace, goal, attempts, reason,
 * created_at = when it died) and ours beside them. */
static json_t *dead_letter_json(const struct dead_letter *letter, bool with_payload)
{
    json_t *item = json_pack(
        "{s:s, s:s, s:s, s:i, s:s, s:o, s:i, s:i, s:o, s:s, s:o}", "intent_id", letter->intent_id,
        "namespace", letter->namespace_, "goal", letter->goal, "attempts", letter->claim_attempts,
        "reason", dead_reason_text(letter), "created_at", admin_time_or_null(letter->died_at),
        "claim_attempts", letter->claim_attempts, "max_attempts", letter->max_attempts, "error",
        admin_text_or_null(letter->last_error), "reason_code", letter->reason, "died_at",
        admin_time_or_null(letter->died_at));
    if (item != NULL && with_payload) {
        json_object_set_new(item, "payload", admin_stored_json(letter->payload_json));
        json_object_set_new(item, "publisher", json_string(letter->publisher));
    }
    return item;
}

static void add_dead_letter(void *context, const struct dead_letter *letter)
{
    json_array_append_new(context, dead_letter_json(letter, false));
}

static enum bus_err read_dead_filter(const struct admin_dead_query *query,
                                     struct dead_filter *filter, struct bus_error *error)
{
    memset(filter, 0, sizeof *filter);
    filter->limit = ADMIN_DEAD_LIST_LIMIT;
    const char *reason = admin_given(query->reason) ? query->reason : NULL;
    if (reason != NULL && strcmp(reason, "failed") != 0 &&
        strcmp(reason, "lease_expired") != 0 && strcmp(reason, "cancelled") != 0)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_reason",
                             "reason must be failed, lease_expired or cancelled");
    snprintf(filter->reason, sizeof filter->reason, "%s", reason != NULL ? reason : "");
    return admin_read_names(query->namespace_, query->goal, query->error, filter->namespace_,
                            filter->goal, filter->error_text, error);
}

enum bus_err bus_admin_dead_list(struct bus *bus, const struct admin_dead_query *query,
                                 struct bus_reply *reply, struct bus_error *error)
{
    struct dead_filter filter;
    enum bus_err err = read_dead_filter(query, &filter, error);
    if (err != BUS_OK)
        return err;
    json_t *letters = json_array();
    err = bus->store->ops->dead_list(bus->store->backend, &filter, add_dead_letter, letters);
    if (err != BUS_OK) {
        json_decref(letters);
        return admin_store_failure(err, error);
    }
    return bus_reply_json(reply, 200, letters, error); /* a bare list, as the original answers */
}

static void add_dead_id(void *context, const struct dead_letter *letter)
{
    json_array_append_new(context, json_string(letter->intent_id));
}

/* Retries each listed intent; one gone meanwhile is skipped. */
static enum bus_err retry_each(struct bus *bus, const struct dead_filter *filter, long *retried)
{
    json_t *ids = json_array();
    enum bus_err err = bus->store->ops->dead_list(bus->store->backend, filter, add_dead_id, ids);
    *retried = 0;
    size_t index;
    json_t *id;
    json_array_foreach(ids, index, id)
    {
        if (err != BUS_OK)
            break;
        enum bus_err one =
            bus->store->ops->intent_retry(bus->store->backend, json_string_value(id), clock_now());
        if (one == BUS_OK) {
            bus_admin_retried(bus, json_string_value(id));
            (*retried)++;
        } else if (one != BUS_ERR_NOT_FOUND) {
            err = one;
        }
    }
    json_decref(ids);
    return err;
}

/* A filter field of a bulk action's body: absent or null is "any"; any
 * other non-string is refused, never read as "any" (a purge must not
 * widen because of a typo). */
static enum bus_err body_field(const json_t *body, const char *name, const char **out,
                               struct bus_error *error)
{
    const json_t *value = json_object_get(body, name);
    *out = value == NULL || json_is_null(value) ? NULL : validate_plain_string(value);
    if (value != NULL && !json_is_null(value) && *out == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, NULL, "%s must be a string", name);
    return BUS_OK;
}

static enum bus_err body_filter(const json_t *body, struct admin_dead_query *query,
                                struct bus_error *error)
{
    enum bus_err err = body_field(body, "namespace", &query->namespace_, error);
    if (err == BUS_OK)
        err = body_field(body, "goal", &query->goal, error);
    if (err == BUS_OK)
        err = body_field(body, "reason", &query->reason, error);
    if (err == BUS_OK)
        err = body_field(body, "error", &query->error, error);
    return err;
}

enum bus_err bus_admin_dead_bulk(struct bus *bus, bool purge, const json_t *body,
                                 struct bus_reply *reply, struct bus_error *error)
{
    if (!json_is_object(body) || !json_is_true(json_object_get(body, "confirm")))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL,
                             "a bulk action needs {\"confirm\": true}");
    struct admin_dead_query query;
    enum bus_err err = body_filter(body, &query, error);
    struct dead_filter filter;
    if (err == BUS_OK)
        err = read_dead_filter(&query, &filter, error);
    if (err != BUS_OK)
        return err;
    long count = 0;
    filter.limit = ADMIN_DEAD_BULK_MAX;
    err = purge ? bus->store->ops->dead_purge(bus->store->backend, &filter, &count)
                : retry_each(bus, &filter, &count);
    if (err != BUS_OK)
        return admin_store_failure(err, error);
    return bus_reply_json(
        reply, 200,
        json_pack("{s:b, s:I}", "ok", 1, purge ? "purged" : "retried", (json_int_t)count), error);
}

enum bus_err bus_admin_dead(struct bus *bus, const char *id, struct bus_reply *reply,
                            struct bus_error *error)
{
    struct dead_letter letter = {0};
    enum bus_err err = token_is_hex(id, INTENT_ID_LEN)
                           ? bus->store->ops->dead_get(bus->store->backend, id, &letter)
                           : BUS_ERR_NOT_FOUND;
    json_t *item = err == BUS_OK ? dead_letter_json(&letter, true) : NULL;
    dead_letter_clear(&letter);
    if (err != BUS_OK)
        return admin_store_failure(err, error);
    return bus_reply_json(reply, 200, item, error);
}
