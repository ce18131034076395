/* ib_fulfill_many(): POST /fulfill (docs/PROTOCOL-EXTENSIONS.md "Batch
 * fulfil"). Each item's body is built by ib_fulfill()'s own code
 * (fulfill_object) with its "id" added; the reply items are read as the
 * batch publish's are. */
#include <stdlib.h>
#include <string.h>

#include "client/batch.h"
#include "client/body.h"
#include "client/call.h"
#include "client/errors.h"

static enum ib_err fulfill_item(struct ib_client *client, const struct ib_fulfill_item *item,
                                json_t **out)
{
    enum ib_err err =
        fulfill_object(client, item->id, item->claim_token, item->result, item->result_type, out);
    if (err == IB_OK)
        err = body_set_string(client, *out, "id", item->id);
    if (err != IB_OK) {
        json_decref(*out);
        *out = NULL;
    }
    return err;
}

/* {"items": [...]}. */
static enum ib_err batch_body(struct ib_client *client, const struct ib_fulfill_item *items,
                              size_t count, char **text)
{
    json_t *list = json_array();
    json_t *object = body_new(client);
    enum ib_err err = list && object ? IB_OK : IB_ERR_NO_MEMORY;
    for (size_t i = 0; i < count && err == IB_OK; i++) {
        json_t *item = NULL;
        err = fulfill_item(client, &items[i], &item);
        if (err == IB_OK && json_array_append_new(list, item) != 0)
            err = client_fail(client, IB_ERR_NO_MEMORY, "out of memory building the request");
    }
    if (err == IB_OK)
        err = body_set_new(client, object, "items", json_incref(list));
    json_decref(list);
    if (err != IB_OK) {
        json_decref(object);
        return err;
    }
    return body_finish(client, object, text);
}

static enum ib_err read_results(struct ib_client *client, const json_t *reply, size_t count,
                                struct ib_fulfill_result *results)
{
    const json_t *list = NULL;
    enum ib_err err = batch_results(client, reply, count, &list);
    for (size_t i = 0; i < count && err == IB_OK; i++) {
        const json_t *item = json_array_get(list, i);
        struct ib_fulfill_result *result = &results[i];
        memset(result, 0, sizeof *result);
        if (json_object_get(item, "error") != NULL)
            err = batch_item_error(client, item, &result->err, result->code, result->message);
        else if (!json_is_true(json_object_get(item, "ok")))
            err = client_fail(client, IB_ERR_PROTOCOL, "a batch item is neither ok nor an error");
    }
    return err;
}

enum ib_err ib_fulfill_many(struct ib_client *client, const struct ib_fulfill_item *items,
                            size_t count, struct ib_fulfill_result *results)
{
    if (client == NULL)
        return IB_ERR_INVALID_ARGUMENT;
    client_begin_call(client);
    if (items == NULL || results == NULL || count == 0 || count > IB_BATCH_MAX)
        return client_fail(client, IB_ERR_INVALID_ARGUMENT,
                           "1 to %d items and room for their results are required", IB_BATCH_MAX);
    char *body = NULL;
    enum ib_err err = batch_body(client, items, count, &body);
    if (err != IB_OK)
        return err;
    json_t *reply = NULL;
    err = batch_post(client, "/fulfill", body, &reply);
    if (err == IB_OK)
        err = read_results(client, reply, count, results);
    json_decref(reply);
    return err;
}
