/* The loops of the batch write operations (batch_ops.h). */
#include "store/batch_ops.h"

enum bus_err store_publish_each(void *connection, struct store_publish_many_call *call,
                                writer_op_fn publish)
{
    for (int i = 0; i < call->count; i++) {
        struct store_publish_item *item = &call->items[i];
        struct store_publish_call one = {.intent = item->intent,
                                         .open_limit = call->open_limit,
                                         .idem = item->idem,
                                         .response_status = 201,
                                         .response_body = item->response_body,
                                         .replay = &item->replay};
        item->result = publish(connection, &one);
        if (item->result != BUS_OK && item->result != BUS_ERR_IDEMPOTENCY_CONFLICT &&
            item->result != BUS_ERR_LIMIT_EXCEEDED)
            return item->result;
    }
    return BUS_OK;
}

enum bus_err store_fulfill_each(void *connection, struct store_fulfill_many_call *call,
                                writer_op_fn fulfill)
{
    for (int i = 0; i < call->count; i++) {
        call->results[i] = fulfill(connection, &call->items[i]);
        if (call->results[i] != BUS_OK && call->results[i] != BUS_ERR_NOT_FOUND)
            return call->results[i];
    }
    return BUS_OK;
}
