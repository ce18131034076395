/* What bus.c shares with bus/batch.c and bus/batch_fulfill.c (the batch
 * publish, claim and fulfil), so the batch calls prepare, count and notify
 * exactly as the single ones do; and with bus/kv.c, the KV set's call.
 * Not for other layers. */
#ifndef BUS_BUS_INTERNAL_H
#define BUS_BUS_INTERNAL_H

#include "bus/bus.h"

/* Prepares an idempotency record for key (NULL: *use stays NULL). */
enum bus_err bus_prepare_idempotency(const struct principal *caller, const char *key,
                                     const char *scope, const json_t *body,
                                     struct idempotency *idem, const struct idempotency **use,
                                     struct bus_error *error);

/* Takes the optional notify_url of a publish body into intent, if the
 * operator's webhook allow-list permits it. */
enum bus_err bus_take_notify_url(struct bus *bus, const json_t *body, struct intent_new *intent,
                                 struct bus_error *error);

/* Sets publisher and times of a validated intent published now. */
void bus_fill_new_intent(struct intent_new *intent, const struct principal *caller, double now);

/* The claim request of params (namespace, filters, claimer, capabilities,
 * one fresh token); validation errors in *error. */
enum bus_err bus_fill_claim_request(const struct principal *caller,
                                    const struct claim_params *params, double lease_seconds,
                                    struct claim_request *request, struct bus_error *error);

/* Counts a committed publish (not a replay) and tells the listener. */
void bus_count_published(struct bus *bus, const struct intent_new *intent);

/* Counts a committed claim in its goal's series. */
void bus_count_claim(struct bus *bus, const struct claimed_intent *claimed, double now);

/* One fulfil: its lease, the facts the store finds, its validated result
 * and the store's arguments (pointing into itself: it must not move once
 * prepared). */
struct fulfill_call {
    struct lease_ref ref;
    struct lease_facts facts;
    char *result_json; /* owned */
    char result_type[8];
    struct store_fulfill_call store;
};

/* Validates a fulfil of intent id with body (claim_token, result,
 * result_type) and readies fulfill->store; errors as POST /fulfill/<id>. */
enum bus_err bus_prepare_fulfill(const struct principal *caller, const char *id,
                                 const json_t *body, struct fulfill_call *fulfill,
                                 struct bus_error *error);
void bus_fulfill_clear(struct fulfill_call *fulfill);

/* After the store's result for one fulfil: on BUS_OK counts it and wakes
 * its result waiters; else the error the single route answers. */
enum bus_err bus_settle_fulfill(struct bus *bus, const struct fulfill_call *fulfill,
                                enum bus_err err, struct bus_error *error);

/* Turns the store's result of an idempotent write into the reply: body
 * (taken) with status, or the replayed response, or the error. */
enum bus_err bus_finish_idempotent(enum bus_err err, struct stored_response *replay,
                                   unsigned status, char *body, struct bus_reply *reply,
                                   struct bus_error *error);

/* One KV set (POST /set/<key>): what it writes, its idempotency record,
 * its reply and the store's arguments (pointing into itself: it must not
 * move once prepared). */
struct kv_set_call {
    struct kv_write write; /* key and value_json point at the two below */
    char *key;             /* owned */
    char *value_json;      /* owned */
    struct idempotency idem;
    char *response; /* owned until finished: the 200 body, stored with a key */
    struct stored_response replay;
    struct store_kv_set_call store;
};

/* Validates a set of key to body for caller and readies kv->store; the
 * errors of POST /set/<key>. */
enum bus_err bus_kv_prepare(const struct principal *caller, const char *key, const json_t *body,
                            const char *idempotency_key, struct kv_set_call *kv,
                            struct bus_error *error);
void bus_kv_clear(struct kv_set_call *kv);
/* After the store's result: the reply, the earlier one for a replay. */
enum bus_err bus_kv_finish(struct kv_set_call *kv, enum bus_err err, struct bus_reply *reply,
                           struct bus_error *error);

#endif
