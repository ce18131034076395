/* The batch publish and claim; see batch.h. */
#include "bus/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus_internal.h"
#include "bus/replies.h"
#include "bus/validate.h"
#include "util/clock.h"
#include "util/token.h"

#define BATCH_IDEMPOTENCY_SCOPE "POST /intents item"

/* ---- publish ------------------------------------------------------------ */

static enum bus_err item_idempotency_key(const json_t *item, const char **key,
                                         struct bus_error *error)
{
    const json_t *field = json_is_object(item) ? json_object_get(item, "idempotency_key") : NULL;
    *key = NULL;
    if (field == NULL || json_is_null(field))
        return BUS_OK;
    *key = validate_plain_string(field);
    if (*key == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_idempotency_key",
                             "idempotency_key must be a string");
    return BUS_OK;
}

/* Validates one item with the single publish's code and readies it. */
static enum bus_err prepare_item(struct bus *bus, const struct principal *caller,
                                 const json_t *body, struct publish_many_item *item,
                                 const struct idempotency **idem, double now)
{
    struct bus_error *error = &item->error;
    const char *key = NULL;
    enum bus_err err = validate_publish(body, &item->intent, error);
    if (err == BUS_OK)
        err = bus_take_notify_url(bus, body, &item->intent, error);
    if (err == BUS_OK)
        err = item_idempotency_key(body, &key, error);
    if (err == BUS_OK)
        err = bus_prepare_idempotency(caller, key, BATCH_IDEMPOTENCY_SCOPE, body, &item->idem, idem,
                                      error);
    if (err == BUS_OK && !token_time_ordered_hex(item->intent.id, INTENT_ID_LEN / 2, now))
        err = bus_error_set(error, BUS_ERR_INTERNAL, NULL, "no randomness available");
    if (err != BUS_OK)
        return err;
    bus_fill_new_intent(&item->intent, caller, now);
    item->response = reply_published(item->intent.id, item->intent.namespace_);
    if (item->response == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

static enum bus_err read_envelope(const json_t *body, const json_t **list, struct bus_error *error)
{
    *list = json_is_object(body) ? json_object_get(body, "intents") : NULL;
    if (!json_is_array(*list) || json_array_size(*list) == 0 ||
        json_array_size(*list) > BATCH_MAX_ITEMS)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_intents",
                             "body must be {\"intents\": [...]} with 1 to %d intents",
                             BATCH_MAX_ITEMS);
    return BUS_OK;
}

enum bus_err batch_publish_prepare(struct bus *bus, const struct principal *caller,
                                   const json_t *body, struct publish_many_call *call,
                                   struct bus_error *error)
{
    const json_t *list = NULL;
    enum bus_err err = read_envelope(body, &list, error);
    if (err != BUS_OK)
        return err;
    call->count = (int)json_array_size(list);
    call->items = calloc((size_t)call->count, sizeof *call->items);
    call->store_items = calloc((size_t)call->count, sizeof *call->store_items);
    if (call->items == NULL || call->store_items == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    double now = clock_now();
    int valid = 0;
    for (int i = 0; i < call->count; i++) {
        struct publish_many_item *item = &call->items[i];
        const struct idempotency *idem = NULL;
        err = prepare_item(bus, caller, json_array_get(list, (size_t)i), item, &idem, now);
        if (err == BUS_ERR_INTERNAL)
            return bus_error_set(error, err, NULL, "%s", item->error.message);
        item->valid = err == BUS_OK;
        if (!item->valid)
            continue;
        item->store_index = valid;
        call->store_items[valid++] = (struct store_publish_item){
            .intent = &item->intent, .idem = idem, .response_body = item->response};
    }
    call->store = (struct store_publish_many_call){
        .items = call->store_items,
        .count = valid,
        .open_limit = caller->is_tester ? TESTER_OPEN_INTENT_LIMIT : 0,
    };
    return BUS_OK;
}

json_t *batch_error_item(int index, const struct bus_error *error)
{
    return json_pack("{s:i, s:i, s:{s:s, s:s}}", "index", index, "http_status",
                     (int)bus_err_http_status(error->err), "error", "code", error->code, "message",
                     error->message);
}

/* A published (or replayed) item: its 201 body with index and status. */
static json_t *published_item(int index, const char *body, bool replayed)
{
    json_t *item = json_loads(body, 0, NULL);
    if (item == NULL)
        return NULL;
    json_object_set_new(item, "index", json_integer(index));
    json_object_set_new(item, "http_status", json_integer(201));
    if (replayed)
        json_object_set_new(item, "replayed", json_true());
    return item;
}

/* The result of a valid item as the store left it. */
static json_t *stored_item(struct bus *bus, int index, struct publish_many_item *item,
                           struct store_publish_item *stored)
{
    struct bus_error error;
    if (stored->result == BUS_ERR_IDEMPOTENCY_CONFLICT) {
        bus_error_set(&error, stored->result, NULL, "Key reused with different payload.");
        return batch_error_item(index, &error);
    }
    if (stored->result == BUS_ERR_LIMIT_EXCEEDED) {
        bus_error_set(&error, stored->result, NULL, "this key already has %d open intents",
                      TESTER_OPEN_INTENT_LIMIT);
        return batch_error_item(index, &error);
    }
    if (stored->replay.body != NULL)
        return published_item(index, stored->replay.body, true);
    bus_count_published(bus, &item->intent);
    return published_item(index, item->response, false);
}

enum bus_err batch_reply(struct bus *bus, void *call, int count, batch_item_fn item,
                         const char *done, struct bus_reply *reply, struct bus_error *error)
{
    json_t *results = json_array();
    int succeeded = 0;
    for (int i = 0; i < count && results != NULL; i++) {
        json_t *one = item(bus, call, i);
        if (one != NULL && json_object_get(one, "error") == NULL)
            succeeded++;
        if (one == NULL || json_array_append_new(results, one) != 0) {
            json_decref(results);
            results = NULL;
        }
    }
    json_t *body = results ? json_pack("{s:o, s:i, s:i}", "results", results, done, succeeded,
                                       "failed", count - succeeded)
                           : NULL;
    return bus_reply_json(reply, 200, body, error);
}

static json_t *publish_item_result(struct bus *bus, void *context, int index)
{
    struct publish_many_call *call = context;
    struct publish_many_item *item = &call->items[index];
    return item->valid ? stored_item(bus, index, item, &call->store_items[item->store_index])
                       : batch_error_item(index, &item->error);
}

enum bus_err batch_publish_finish(struct bus *bus, struct publish_many_call *call,
                                  enum bus_err result, struct bus_reply *reply,
                                  struct bus_error *error)
{
    if (result != BUS_OK)
        return bus_error_set(error, result, NULL, "the batch could not be stored");
    return batch_reply(bus, call, call->count, publish_item_result, "published", reply, error);
}

void batch_publish_clear(struct publish_many_call *call)
{
    for (int i = 0; call->items != NULL && i < call->count; i++) {
        intent_new_clear(&call->items[i].intent);
        free(call->items[i].response);
    }
    for (int i = 0; call->store_items != NULL && i < call->store.count; i++)
        stored_response_clear(&call->store_items[i].replay);
    free(call->items);
    free(call->store_items);
    call->items = NULL;
    call->store_items = NULL;
}

/* ---- claim -------------------------------------------------------------- */

enum bus_err batch_claim_prepare(const struct principal *caller, const struct claim_params *params,
                                 double lease_seconds, struct claim_many_call *call,
                                 struct bus_error *error)
{
    if (params->max < 1 || params->max > BATCH_MAX_ITEMS)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_max", "max must be 1 to %d",
                             BATCH_MAX_ITEMS);
    enum bus_err err = bus_fill_claim_request(caller, params, lease_seconds, &call->request, error);
    if (err != BUS_OK)
        return err;
    call->max = params->max;
    call->tokens = calloc((size_t)call->max, sizeof *call->tokens);
    call->claimed = calloc((size_t)call->max, sizeof *call->claimed);
    if (call->tokens == NULL || call->claimed == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    for (int i = 0; i < call->max; i++)
        if (!token_random_hex(call->tokens[i], CLAIM_TOKEN_LEN / 2))
            return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "no randomness available");
    call->store =
        (struct store_claim_many_call){.request = &call->request,
                                       .tokens = (const char(*)[CLAIM_TOKEN_LEN + 1]) call->tokens,
                                       .max = call->max,
                                       .out = call->claimed,
                                       .claimed = &call->count};
    return BUS_OK;
}

/* {"intents":[...]} from the single claim's replies, spliced as text (the
 * payloads are spliced so too: reply_claimed). */
static char *claimed_list(struct claim_many_call *call, double lease_seconds)
{
    static const char head[] = "{\"intents\":[";
    size_t size = sizeof head + 3;
    char *parts[BATCH_MAX_ITEMS] = {NULL};
    bool ok = true;
    for (int i = 0; i < call->count; i++) {
        parts[i] = reply_claimed(&call->claimed[i], lease_seconds);
        ok = ok && parts[i] != NULL;
        size += parts[i] ? strlen(parts[i]) + 1 : 0;
    }
    char *text = ok ? malloc(size) : NULL;
    if (text != NULL) {
        char *at = text + sprintf(text, "%s", head);
        for (int i = 0; i < call->count; i++)
            at += sprintf(at, "%s%s", i > 0 ? "," : "", parts[i]);
        strcpy(at, "]}");
    }
    for (int i = 0; i < call->count; i++)
        free(parts[i]);
    return text;
}

enum bus_err batch_claim_finish(struct bus *bus, struct claim_many_call *call, enum bus_err result,
                                struct bus_reply *reply, struct bus_error *error)
{
    if (result == BUS_OK || result == BUS_ERR_EMPTY)
        workers_saw_claim(bus->workers, &call->request, result == BUS_OK);
    if (result == BUS_ERR_EMPTY) {
        atomic_fetch_add(&bus->counters.empty_claims, 1);
        return result;
    }
    if (result != BUS_OK)
        return bus_error_set(error, result, NULL, "the claim could not be made");
    atomic_fetch_add(&bus->counters.claims, (unsigned long)call->count);
    for (int i = 0; i < call->count; i++) {
        bus_count_claim(bus, &call->claimed[i], call->request.now);
        memcpy(call->claimed[i].token, call->tokens[i], sizeof call->claimed[i].token);
    }
    reply->status = 200;
    reply->body = claimed_list(call, bus->settings.lease_seconds);
    if (reply->body == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

void batch_claim_clear(struct claim_many_call *call)
{
    claim_request_clear(&call->request);
    for (int i = 0; call->claimed != NULL && i < call->max; i++)
        claimed_intent_clear(&call->claimed[i]);
    free(call->claimed);
    free(call->tokens);
    call->claimed = NULL;
    call->tokens = NULL;
}
