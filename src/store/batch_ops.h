/* The loops of the batch write operations, shared by the backends: each
 * item runs the backend's own single operation, in the batch's one
 * transaction, so an item follows every rule a single request does. */
#ifndef STORE_BATCH_OPS_H
#define STORE_BATCH_OPS_H

#include "store/store.h"
#include "store/writer.h"

/* Publishes call's items with publish (the backend's publish op, given a
 * struct store_publish_call). An item refused by design (an idempotency
 * conflict, the open-intent cap) keeps its error and the batch goes on;
 * any other error ends the batch with it. */
enum bus_err store_publish_each(void *connection, struct store_publish_many_call *call,
                                writer_op_fn publish);

/* Fulfils call's items with fulfill (the backend's fulfil op, given a
 * struct store_fulfill_call). An item whose lease is not held keeps its
 * BUS_ERR_NOT_FOUND and the batch goes on; any other error ends it. */
enum bus_err store_fulfill_each(void *connection, struct store_fulfill_many_call *call,
                                writer_op_fn fulfill);

#endif
