/* The batch publish, claim and fulfil (POST /intents, POST /claim?max=K,
 * POST /fulfill): many intents in one request and one transaction. Each
 * item is validated and stored as a single publish, claim or fulfil would
 * be (validate.c, the store's own operations); only the envelope and the
 * replies are new here (batch.c, batch_fulfill.c).
 * Used by bus.c, whose calls own these structs. */
#ifndef BUS_BATCH_H
#define BUS_BATCH_H

#include <stdbool.h>

#include <jansson.h>

#include "bus/bus.h"

#define BATCH_MAX_ITEMS 100
/* The single fulfil's body limit (REQUEST_BODY_MAX, serve/router.h), held
 * by each item of a batch fulfil. */
#define BATCH_ITEM_BODY_MAX 8192

/* One item of a batch publish: either refused by validation (error) or
 * prepared for the store. */
struct publish_many_item {
    bool valid;
    struct bus_error error;
    struct intent_new intent;
    struct idempotency idem;
    char *response;  /* its 201 body, remembered with its idempotency key */
    int store_index; /* its place in store_items, when valid */
};

struct publish_many_call {
    int count;
    struct publish_many_item *items;        /* count of them */
    struct store_publish_item *store_items; /* the valid ones */
    struct store_publish_many_call store;
};

/* Validates the envelope (an object with "intents": 1 to BATCH_MAX_ITEMS
 * items; else BUS_ERR_INVALID_FIELD invalid_intents) and each item. An
 * invalid item is not an error of the request: it gets its own. */
enum bus_err batch_publish_prepare(struct bus *bus, const struct principal *caller,
                                   const json_t *body, struct publish_many_call *call,
                                   struct bus_error *error);
/* Counts, notifies and answers once the store is done with result. */
enum bus_err batch_publish_finish(struct bus *bus, struct publish_many_call *call,
                                  enum bus_err result, struct bus_reply *reply,
                                  struct bus_error *error);
void batch_publish_clear(struct publish_many_call *call);

struct claim_many_call {
    struct claim_request request;
    int max;
    char (*tokens)[CLAIM_TOKEN_LEN + 1]; /* max of them */
    struct claimed_intent *claimed;      /* max of them */
    int count;
    struct store_claim_many_call store;
};

/* params->max (1 to BATCH_MAX_ITEMS) claims with params' filters. */
enum bus_err batch_claim_prepare(const struct principal *caller, const struct claim_params *params,
                                 double lease_seconds, struct claim_many_call *call,
                                 struct bus_error *error);
/* BUS_ERR_EMPTY when nothing was claimed, else 200 {"intents": [...]},
 * each item as a single claim's reply. */
enum bus_err batch_claim_finish(struct bus *bus, struct claim_many_call *call, enum bus_err result,
                                struct bus_reply *reply, struct bus_error *error);
void batch_claim_clear(struct claim_many_call *call);

/* One item of a batch fulfil: refused by validation (error), or a fulfil
 * prepared for the store. */
struct fulfill_many_item {
    bool valid;
    struct bus_error error;
    int store_index; /* its place in store_items, when valid */
};

struct fulfill_many_call {
    int count;
    struct fulfill_many_item *items;        /* count of them */
    struct fulfill_call *fulfills;          /* count of them, items[i]'s */
    struct store_fulfill_call *store_items; /* the valid ones */
    enum bus_err *store_results;            /* one per store item */
    struct store_fulfill_many_call store;
};

/* Validates the envelope (an object with "items": 1 to BATCH_MAX_ITEMS;
 * else BUS_ERR_INVALID_FIELD invalid_items) and each item as the single
 * fulfil does, its id read from the item's "id". An invalid item is not
 * an error of the request: it gets its own. */
enum bus_err batch_fulfill_prepare(const struct principal *caller, const json_t *body,
                                   struct fulfill_many_call *call, struct bus_error *error);
/* Counts, wakes result waiters and answers once the store is done. */
enum bus_err batch_fulfill_finish(struct bus *bus, struct fulfill_many_call *call,
                                  enum bus_err result, struct bus_reply *reply,
                                  struct bus_error *error);
void batch_fulfill_clear(struct fulfill_many_call *call);

/* An item's error in a batch reply: {"index", "http_status", "error"}. */
json_t *batch_error_item(int index, const struct bus_error *error);

/* Each item's result of a stored batch, made by item (a result object, or
 * NULL when out of memory): the reply {"results":[...], <done>: N,
 * "failed": M}, where N counts the items whose result has no "error". */
typedef json_t *(*batch_item_fn)(struct bus *bus, void *call, int index);
enum bus_err batch_reply(struct bus *bus, void *call, int count, batch_item_fn item,
                         const char *done, struct bus_reply *reply, struct bus_error *error);

#endif
