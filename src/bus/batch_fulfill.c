/* The batch fulfil (POST /fulfill); see batch.h. Each item is prepared,
 * stored and settled by the single fulfil's own code (bus.c); this file
 * reads the envelope and builds the per-item replies. */
#include <stdlib.h>

#include "bus/batch.h"
#include "bus/bus_internal.h"
#include "bus/replies.h"
#include "bus/validate.h"

static enum bus_err read_items(const json_t *body, const json_t **list, struct bus_error *error)
{
    *list = json_is_object(body) ? json_object_get(body, "items") : NULL;
    if (!json_is_array(*list) || json_array_size(*list) == 0 ||
        json_array_size(*list) > BATCH_MAX_ITEMS)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_items",
                             "body must be {\"items\": [...]} with 1 to %d items", BATCH_MAX_ITEMS);
    return BUS_OK;
}

/* The item's "id", which the single route takes from its path. Only a
 * missing or non-string id is the item's own error here: a string that
 * names no intent is refused as the single route refuses it. */
static enum bus_err item_id(const json_t *item, const char **id, struct bus_error *error)
{
    const json_t *field = json_is_object(item) ? json_object_get(item, "id") : NULL;
    *id = field ? validate_plain_string(field) : NULL;
    if (json_is_object(item) && *id == NULL)
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_id",
                             "each item needs an \"id\" string");
    return BUS_OK;
}

/* An item holds no more than a single fulfil's body may: its compact
 * form (json_dumpb with no buffer only measures) within that limit. */
static enum bus_err item_size(const json_t *item, struct bus_error *error)
{
    if (json_dumpb(item, NULL, 0, JSON_COMPACT) <= BATCH_ITEM_BODY_MAX)
        return BUS_OK;
    return bus_error_set(error, BUS_ERR_PAYLOAD_TOO_LARGE, NULL,
                         "an item may hold at most %d bytes, as a single fulfil's body",
                         BATCH_ITEM_BODY_MAX);
}

static enum bus_err prepare_item(const struct principal *caller, const json_t *body,
                                 struct fulfill_call *fulfill, struct bus_error *error)
{
    const char *id = NULL;
    enum bus_err err = item_size(body, error);
    if (err == BUS_OK)
        err = item_id(body, &id, error);
    if (err != BUS_OK)
        return err;
    /* Not an object: prepare_lease says so, as the single route does. */
    return bus_prepare_fulfill(caller, id ? id : "", body, fulfill, error);
}

enum bus_err batch_fulfill_prepare(const struct principal *caller, const json_t *body,
                                   struct fulfill_many_call *call, struct bus_error *error)
{
    const json_t *list = NULL;
    enum bus_err err = read_items(body, &list, error);
    if (err != BUS_OK)
        return err;
    call->count = (int)json_array_size(list);
    call->items = calloc((size_t)call->count, sizeof *call->items);
    call->fulfills = calloc((size_t)call->count, sizeof *call->fulfills);
    call->store_items = calloc((size_t)call->count, sizeof *call->store_items);
    call->store_results = calloc((size_t)call->count, sizeof *call->store_results);
    if (!call->items || !call->fulfills || !call->store_items || !call->store_results)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    int valid = 0;
    for (int i = 0; i < call->count; i++) {
        struct fulfill_many_item *item = &call->items[i];
        err =
            prepare_item(caller, json_array_get(list, (size_t)i), &call->fulfills[i], &item->error);
        if (err == BUS_ERR_INTERNAL)
            return bus_error_set(error, err, NULL, "%s", item->error.message);
        item->valid = err == BUS_OK;
        if (!item->valid)
            continue;
        item->store_index = valid;
        call->store_items[valid++] = call->fulfills[i].store;
    }
    call->store = (struct store_fulfill_many_call){
        .items = call->store_items, .count = valid, .results = call->store_results};
    return BUS_OK;
}

/* A fulfilled item: the single fulfil's 200 body with index and status. */
static json_t *fulfilled_item(int index, const struct fulfill_call *fulfill)
{
    char *text = reply_fulfilled(fulfill->ref.id, fulfill->ref.now);
    json_t *item = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (item == NULL)
        return NULL;
    json_object_set_new(item, "index", json_integer(index));
    json_object_set_new(item, "http_status", json_integer(200));
    return item;
}

static json_t *item_result(struct bus *bus, void *context, int index)
{
    struct fulfill_many_call *call = context;
    struct fulfill_many_item *item = &call->items[index];
    if (!item->valid)
        return batch_error_item(index, &item->error);
    struct bus_error error;
    enum bus_err stored = call->store_results[item->store_index];
    if (bus_settle_fulfill(bus, &call->fulfills[index], stored, &error) != BUS_OK)
        return batch_error_item(index, &error);
    return fulfilled_item(index, &call->fulfills[index]);
}

enum bus_err batch_fulfill_finish(struct bus *bus, struct fulfill_many_call *call,
                                  enum bus_err result, struct bus_reply *reply,
                                  struct bus_error *error)
{
    if (result != BUS_OK)
        return bus_error_set(error, result, NULL, "the batch could not be stored");
    return batch_reply(bus, call, call->count, item_result, "fulfilled", reply, error);
}

void batch_fulfill_clear(struct fulfill_many_call *call)
{
    for (int i = 0; call->fulfills != NULL && i < call->count; i++)
        bus_fulfill_clear(&call->fulfills[i]);
    free(call->items);
    free(call->fulfills);
    free(call->store_items);
    free(call->store_results);
    call->items = NULL;
    call->fulfills = NULL;
    call->store_items = NULL;
    call->store_results = NULL;
}
