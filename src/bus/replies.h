/* The protocol's JSON response bodies, built from the intent model. */
#ifndef BUS_REPLIES_H
#define BUS_REPLIES_H

#include <stdbool.h>

#include <jansson.h>

#include "core/intent.h"

/* Each returns a malloc'd JSON text, or NULL when out of memory. */
char *reply_published(const char *id, const char *namespace_);
char *reply_claimed(const struct claimed_intent *claimed, double claim_timeout);
char *reply_extended(const char *id, double seconds, double claim_expires_at);
char *reply_fulfilled(const char *id, double completed_at);
char *reply_failed(const char *id, const struct fail_outcome *outcome);
char *reply_intent(const struct intent_record *record, bool with_result);
/* reply_intent with the intent's "webhook" object (taken; NULL = none). */
char *reply_intent_webhook(const struct intent_record *record, bool with_result, json_t *webhook);
char *reply_kv_set(const char *key, double expires_at);
/* value_json is the stored JSON text of the value. */
char *reply_kv_value(const char *value_json);

#endif
