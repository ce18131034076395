/* Completion webhooks, the service (docs/PROTOCOL-EXTENSIONS.md
 * "Completion webhooks"): an intent published with a notify_url gets one
 * signed POST when it is fulfilled or goes dead, retried with exponential
 * backoff for up to a day. The deliveries live in the store (armed in the
 * transaction that settles the intent, so they survive a restart); a few
 * threads of their own take the due ones (leased, so one node at a time
 * sends each), POST them and record the outcome through the writer. No
 * request thread and no writer ever waits on a receiver. */
#ifndef BUS_WEBHOOKS_H
#define BUS_WEBHOOKS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/errors.h"
#include "core/signature.h"

#define WEBHOOK_RETRY_BASE_DEFAULT 5.0 /* seconds before the first retry */
#define WEBHOOK_GIVE_UP_AFTER 86400.0  /* seconds after the event */
#define WEBHOOK_TIMEOUT 10.0           /* seconds per attempt */
#define WEBHOOK_THREADS 2

struct bus;
struct bus_reply;
struct principal;
struct webhooks;

struct webhook_settings {
    const char *allow;  /* BUS_WEBHOOK_ALLOW: host[:port] patterns */
    bool allow_private; /* BUS_WEBHOOK_ALLOW_PRIVATE=1 */
    const char *secret; /* BUS_WEBHOOK_SECRET or derived: each key's secret is made from it */
    double retry_base;  /* BUS_WEBHOOK_RETRY_BASE_MS / 1000 */
};

/* What the deliveries have done since the start, for /metrics. */
struct webhook_counters {
    atomic_ulong succeeded; /* attempts answered 2xx */
    atomic_ulong failed;    /* attempts that failed and will be retried */
    atomic_ulong given_up;  /* deliveries abandoned (a day of failures, or refused) */
};

/* Loads libcurl, parses the allow-list and starts the delivery threads
 * over bus (which must outlive them). NULL after writing why into why. */
struct webhooks *webhooks_start(struct bus *bus, const struct webhook_settings *settings, char *why,
                                size_t why_size);

/* Stops the threads (after any attempt in progress) and frees; NULL is fine. */
void webhooks_stop(struct webhooks *webhooks);

/* Wakes the threads: an intent just settled (its delivery may be due). */
void webhooks_poke(struct webhooks *webhooks);

/* The secret that signs the events of intents published by principal (an
 * API key's id): the hex HMAC-SHA256, under the bus's webhook secret, of
 * that id. Each key gets its own, from GET /webhooks/secret, so one key's
 * receivers cannot forge another key's events. */
void webhooks_key_secret(const struct webhooks *webhooks, const char *principal,
                         char secret[SIGNATURE_HEX_LEN + 1]);

/* GET /webhooks/secret: the caller's key's secret (webhooks_key_secret),
 * {"secret","header"}; 404 webhooks_off when the operator allows none. */
enum bus_err bus_webhook_secret(struct bus *bus, const struct principal *caller,
                                struct bus_reply *reply, struct bus_error *error);

/* Whether url may be an intent's notify_url (webhooks NULL: they are off);
 * BUS_ERR_INVALID_FIELD with invalid_notify_url or webhook_not_allowed. */
enum bus_err webhooks_check_url(const struct webhooks *webhooks, const char *url,
                                struct bus_error *error);

/* The intent's webhook as /result, /status and the admin show it, or NULL
 * when it has none (or webhooks are off: no lookup is made then). */
json_t *webhooks_state_json(struct bus *bus, const char *intent_id);

const struct webhook_counters *webhooks_counters(const struct webhooks *webhooks);

/* Deliveries pending in the store; BUS_OK or the store's error. */
enum bus_err webhooks_pending(struct bus *bus, long *count);

#endif
