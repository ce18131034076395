/* What bus.c shares with bus/batch.c (the batch publish and claim), so the
 * batch calls prepare, count and notify exactly as the single ones do.
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

#endif
