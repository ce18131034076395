/* Admin views and actions; see admin.h. Listings are built row by row from
 * the store's callbacks into one JSON document. */
#include "bus/admin.h"
#include "bus/webhooks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bus/admin_json.h"
#include "bus/replies.h"
#include "util/token.h"
#include "bus/validate.h"
#include "util/clock.h"

static void add_count(void *context, const char *namespace_, const char *status, long count)
{
    json_t *namespaces = context;
    json_t *counts = json_object_get(namespaces, namespace_);
    if (counts == NULL) {
        counts = json_pack("{s:i, s:i, s:i, s:i, s:i}", "open", 0, "claimed", 0, "expired", 0,
                           "fulfilled", 0, "dead", 0);
        json_object_set_new(namespaces, namespace_, counts);
    }
    json_object_set_new(counts, status, json_integer(count));
}

enum bus_err bus_admin_stats(struct bus *bus, struct bus_reply *reply, struct bus_error *error)
{
    json_t *namespaces = json_object();
    struct queue_totals totals;
    enum bus_err err = bus->store->ops->queue_counts(bus->store->backend, clock_now(), add_count,
                                                     namespaces, &totals);
    if (err != BUS_OK) {
        json_decref(namespaces);
        return admin_store_failure(err, error);
    }
    return bus_reply_json(reply, 200,
                          json_pack("{s:o, s:I, s:I, s:f}", "namespaces", namespaces,
                                    "dead_letters", (json_int_t)totals.dead_letters, "tester_keys",
                                    (json_int_t)totals.active_keys, "server_time", clock_now()),
                          error);
}

/* A claimed intent's lease: who holds it, until when, and whether that
 * time has passed (a stuck job the claim path has not yet taken back). */
static void add_lease(json_t *item, const struct intent_record *record, double now)
{
    bool claimed = record->status == INTENT_CLAIMED;
    json_object_set_new(item, "claimed_by",
                        claimed ? admin_text_or_null(record->claimed_by) : json_null());
    json_object_set_new(item, "claim_expires_at",
                        claimed ? admin_time_or_null(record->claim_expires_at) : json_null());
    json_object_set_new(item, "lease_expired",
                        json_boolean(claimed && record->claim_expires_at <= now));
}

static void add_intent_summary(void *context, const struct intent_record *record)
{
    json_t *item = json_pack(
        "{s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:o, s:o, s:o, s:o}", "id", record->id,
        "namespace", record->namespace_, "goal", record->goal, "status",
        intent_status_name(record->status), "priority", record->priority, "visibility",
        record->is_public ? "public" : "private", "claim_attempts", record->claim_attempts,
        "max_attempts", record->max_attempts, "created_at", admin_time_or_null(record->created_at),
        "run_at", admin_time_or_null(record->run_at), "completed_at",
        admin_time_or_null(record->completed_at), "error", admin_text_or_null(record->last_error));
    if (item != NULL) {
        add_lease(item, record, clock_now());
        json_object_set_new(item, "publisher", json_string(record->publisher));
        json_object_set_new(item, "worker_id", admin_text_or_null(record->worker_id));
    }
    json_array_append_new(context, item);
}

static bool is_state(const char *state)
{
    static const char *const states[] = {"open",    "scheduled", "claimed",
                                         "expired", "fulfilled", "dead"};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (strcmp(state, states[i]) == 0)
            return true;
    }
    return false;
}

/* 1 to 32 hex digits (an id or its prefix), lowercased into out. */
static bool read_id_prefix(const char *text, size_t max, char *out)
{
    size_t length = strlen(text);
    if (length == 0 || length > max)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = (char)(text[i] >= 'A' && text[i] <= 'F' ? text[i] - 'A' + 'a' : text[i]);
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        out[i] = c;
    }
    out[length] = '\0';
    return true;
}

static enum bus_err read_limit(const char *limit, struct intent_filter *filter,
                               struct bus_error *error)
{
    char *end = NULL;
    filter->limit = ADMIN_INTENT_LIST_DEFAULT;
    if (!admin_given(limit))
        return BUS_OK;
    long value = strtol(limit, &end, 10);
    if (end == limit || *end != '\0' || value < 1 || value > ADMIN_INTENT_LIST_MAX)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_limit",
                             "limit must be 1 to %d", ADMIN_INTENT_LIST_MAX);
    filter->limit = (int)value;
    return BUS_OK;
}

/* The publisher's owner: "main" is the main key, anything else a tester
 * key's owner. */
static enum bus_err read_owner(const struct admin_intent_query *query,
                               struct intent_filter *filter, struct bus_error *error)
{
    if (!admin_given(query->owner))
        return BUS_OK;
    if (!validate_owner(query->owner))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_owner",
                             "owner must be 1 to 64 characters without control characters");
    if (strcmp(query->owner, "main") == 0)
        snprintf(filter->publisher, sizeof filter->publisher, "%s", query->main_principal);
    else
        snprintf(filter->owner, sizeof filter->owner, "%s", query->owner);
    return BUS_OK;
}

static enum bus_err read_names(const struct admin_intent_query *query, struct intent_filter *filter,
                               struct bus_error *error)
{
    if (admin_given(query->worker) && !validate_worker_id(query->worker))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_worker_id",
                             "worker must be a valid worker id");
    snprintf(filter->worker_id, sizeof filter->worker_id, "%s",
             admin_given(query->worker) ? query->worker : "");
    return admin_read_names(query->namespace_, query->goal, query->error, filter->namespace_,
                            filter->goal, filter->error_text, error);
}

static enum bus_err read_filter(const struct admin_intent_query *query,
                                struct intent_filter *filter, struct bus_error *error)
{
    memset(filter, 0, sizeof *filter);
    filter->now = clock_now();
    enum bus_err err = read_limit(query->limit, filter, error);
    if (err == BUS_OK && admin_given(query->state) && !is_state(query->state))
        err = bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_status",
                            "status must be open, scheduled, claimed, expired, fulfilled or dead");
    if (err == BUS_OK && admin_given(query->id) &&
        !read_id_prefix(query->id, INTENT_ID_LEN, filter->id_prefix))
        err = bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_id",
                            "id must be 1 to %d hex digits", INTENT_ID_LEN);
    if (err == BUS_OK && admin_given(query->before) &&
        !(strlen(query->before) == INTENT_ID_LEN &&
          read_id_prefix(query->before, INTENT_ID_LEN, filter->before)))
        err = bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_before",
                            "before must be an intent id");
    if (err == BUS_OK)
        err = read_owner(query, filter, error);
    if (err == BUS_OK)
        err = read_names(query, filter, error);
    if (err == BUS_OK && admin_given(query->state))
        snprintf(filter->state, sizeof filter->state, "%s", query->state);
    return err;
}

enum bus_err bus_admin_list_intents(struct bus *bus, const struct admin_intent_query *query,
                                    struct bus_reply *reply, struct bus_error *error)
{
    struct intent_filter filter;
    enum bus_err err = read_filter(query, &filter, error);
    if (err != BUS_OK)
        return err;
    json_t *intents = json_array();
    err = bus->store->ops->intent_list(bus->store->backend, &filter, add_intent_summary, intents);
    if (err != BUS_OK) {
        json_decref(intents);
        return admin_store_failure(err, error);
    }
    size_t count = json_array_size(intents);
    json_t *next = count == (size_t)filter.limit
                       ? json_deep_copy(json_object_get(json_array_get(intents, count - 1), "id"))
                       : json_null();
    return bus_reply_json(reply, 200, json_pack("{s:o, s:o}", "intents", intents, "next", next),
                          error);
}

/* One attempt of the job detail; the key's digest stays whole, as the
 * detail's publisher and claimed_by do. */
static void add_attempt(void *context, const struct intent_attempt *attempt)
{
    json_t *attempt_json = json_pack(
        "{s:i, s:o, s:s, s:o, s:o, s:o, s:o, s:s, s:o}", "attempt", attempt->attempt, "worker_id",
        admin_text_or_null(attempt->worker_id), "claimed_by", attempt->claimer, "owner",
        admin_text_or_null(attempt->owner), "claimed_at", admin_time_or_null(attempt->claimed_at),
        "lease_expires_at", admin_time_or_null(attempt->lease_expires_at), "ended_at",
        admin_time_or_null(attempt->ended_at), "outcome",
        attempt->outcome[0] ? attempt->outcome : "running", "error",
        admin_text_or_null(attempt->error_text));
    json_array_append_new(context, attempt_json);
}

enum bus_err bus_admin_intent(struct bus *bus, const char *id, struct bus_reply *reply,
                              struct bus_error *error)
{
    struct intent_record record = {0};
    enum bus_err err = token_is_hex(id, INTENT_ID_LEN)
                           ? bus->store->ops->get_intent(bus->store->backend, id, &record)
                           : BUS_ERR_NOT_FOUND;
    if (err != BUS_OK) {
        intent_record_clear(&record);
        return admin_store_failure(err, error);
    }
    char *text = reply_intent(&record, true);
    json_t *detail = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (detail != NULL) {
        json_object_set_new(detail, "payload", admin_stored_json(record.payload_json));
        json_object_set_new(detail, "publisher", json_string(record.publisher));
        add_lease(detail, &record, clock_now());
        json_object_set_new(detail, "worker_id", admin_text_or_null(record.worker_id));
        json_object_set_new(detail, "backoff_base", json_real(record.backoff_base));
        json_object_set_new(detail, "claimed_at", admin_time_or_null(record.claimed_at));
        json_object_set_new(detail, "error", admin_text_or_null(record.last_error));
        json_t *webhook = webhooks_state_json(bus, record.id);
        if (webhook != NULL)
            json_object_set_new(detail, "webhook", webhook);
    }
    intent_record_clear(&record);
    json_t *attempts = json_array();
    err = bus->store->ops->attempt_list(bus->store->backend, id, add_attempt, attempts);
    if (err != BUS_OK) {
        json_decref(attempts);
        json_decref(detail);
        return admin_store_failure(err, error);
    }
    if (detail != NULL)
        json_object_set_new(detail, "attempts", attempts);
    else
        json_decref(attempts);
    return bus_reply_json(reply, 200, detail, error);
}

typedef enum bus_err (*intent_action)(void *backend, const char *id, double now);

static enum bus_err admin_action(struct bus *bus, const char *id, intent_action action,
                                 const char *new_status, struct bus_reply *reply,
                                 struct bus_error *error)
{
    enum bus_err err = token_is_hex(id, INTENT_ID_LEN)
                           ? action(bus->store->backend, id, clock_now())
                           : BUS_ERR_NOT_FOUND;
    if (err != BUS_OK)
        return admin_store_failure(err, error);
    return bus_reply_json(
        reply, 200, json_pack("{s:b, s:s, s:s}", "ok", 1, "id", id, "status", new_status), error);
}

enum bus_err bus_admin_cancel(struct bus *bus, const char *id, struct bus_reply *reply,
                              struct bus_error *error)
{
    double now = clock_now();
    struct goal_tallies goals = {0};
    enum bus_err err = token_is_hex(id, INTENT_ID_LEN)
                           ? bus->store->ops->intent_cancel(bus->store->backend, id, now, &goals)
                           : BUS_ERR_NOT_FOUND;
    if (err == BUS_OK)
        bus_count_tallies(bus, &goals, now);
    goal_tallies_clear(&goals);
    if (err != BUS_OK)
        return admin_store_failure(err, error);
    atomic_fetch_add(&bus->counters.dead_letters[DEAD_CANCELLED], 1);
    struct intent_event event = {.kind = INTENT_EVENT_SETTLED, .id = id};
    bus_notify(bus, &event);
    return bus_reply_json(
        reply, 200, json_pack("{s:b, s:s, s:s}", "ok", 1, "id", id, "status", "dead"), error);
}

void bus_admin_retried(struct bus *bus, const char *id)
{
    struct intent_event event = {.kind = INTENT_EVENT_CLAIMABLE, .id = id, .due = clock_now()};
    bus_notify(bus, &event);
}

enum bus_err bus_admin_retry(struct bus *bus, const char *id, struct bus_reply *reply,
                             struct bus_error *error)
{
    enum bus_err err = admin_action(bus, id, bus->store->ops->intent_retry, "open", reply, error);
    if (err == BUS_OK)
        bus_admin_retried(bus, id);
    return err;
}

static void add_key(void *context, const struct api_key_record *key)
{
    char key_id[13];
    snprintf(key_id, sizeof key_id, "%.12s", key->key_hash);
    json_array_append_new(context,
                          json_pack("{s:s, s:s, s:o, s:o, s:I}", "key_id", key_id, "owner",
                                    key->owner, "created_at", admin_time_or_null(key->created_at),
                                    "revoked_at", admin_time_or_null(key->revoked_at),
                                    "open_intents", (json_int_t)key->open_intents));
}

enum bus_err bus_admin_keys(struct bus *bus, struct bus_reply *reply, struct bus_error *error)
{
    json_t *keys = json_array();
    enum bus_err err = bus->store->ops->key_list(bus->store->backend, add_key, keys);
    if (err != BUS_OK) {
        json_decref(keys);
        return admin_store_failure(err, error);
    }
    return bus_reply_json(reply, 200, json_pack("{s:o}", "keys", keys), error);
}

enum bus_err bus_admin_purge(struct bus *bus, const json_t *body, struct bus_reply *reply,
                             struct bus_error *error)
{
    if (!json_is_object(body) || !json_is_true(json_object_get(body, "confirm")))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL,
                             "purge needs {\"confirm\": true}");
    const json_t *field = json_object_get(body, "namespace");
    const char *namespace_ = NULL;
    if (field != NULL && !json_is_null(field)) {
        namespace_ = validate_plain_string(field);
        if (namespace_ == NULL || !validate_namespace(namespace_))
            return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_namespace",
                                 "namespace must be 1 to %d of A-Z a-z 0-9 . - _", NAMESPACE_MAX);
    }
    struct purge_stats stats;
    enum bus_err err = bus->store->ops->purge(bus->store->backend, namespace_, &stats);
    if (err != BUS_OK)
        return admin_store_failure(err, error);
    return bus_reply_json(reply, 200,
                          json_pack("{s:b, s:I, s:I}", "ok", 1, "intents_deleted",
                                    (json_int_t)stats.intents_deleted, "dead_letters_deleted",
                                    (json_int_t)stats.dead_letters_deleted),
                          error);
}

enum bus_err bus_admin_cleanup(struct bus *bus, long rate_limits_deleted,
                               struct bus_reply *reply, struct bus_error *error)
{
    struct cleanup_stats stats = {0};
    enum bus_err err = bus_run_cleanup(bus, clock_now(), &stats);
    goal_tallies_clear(&stats.goals);
    if (err != BUS_OK)
        return admin_store_failure(err, error);
    return bus_reply_json(
        reply, 200,
        json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "expired_open_deleted",
            (json_int_t)stats.expired_open_deleted, "expired_claims_requeued",
            (json_int_t)stats.expired_claims_requeued, "expired_claims_dead",
            (json_int_t)stats.expired_claims_dead, "fulfilled_deleted",
            (json_int_t)stats.fulfilled_deleted, "dead_deleted", (json_int_t)stats.dead_deleted,
            "dead_letters_deleted", (json_int_t)stats.dead_letters_deleted, "store_deleted",
            (json_int_t)stats.store_deleted, "rate_limits_deleted", (json_int_t)rate_limits_deleted,
            "idempotency_deleted", (json_int_t)stats.idempotency_deleted, "nonces_deleted",
            (json_int_t)stats.nonces_deleted),
        error);
}
