/* The bus: the protocol's operations (spec sections 3, 6, 7), between the
 * HTTP layer and the store. It validates requests, decides, asks the store
 * to persist atomically, and answers with the protocol's JSON body. It knows
 * nothing of HTTP: callers hand it parsed JSON and strings, and get back a
 * reply or a bus_error. */
#ifndef BUS_BUS_H
#define BUS_BUS_H

#include <stdatomic.h>

#include <jansson.h>

#include "core/errors.h"
#include "bus/goal_stats.h"
#include "bus/minute_ring.h"
#include "bus/workers.h"
#include "bus/housekeeping.h"
#include "core/intent.h"
#include "store/store.h"

/* Open intents a tester key may have at once (spec 11); the main key has
 * no cap. */
#define TESTER_OPEN_INTENT_LIMIT 2000

struct webhooks;

struct bus_settings {
    double lease_seconds;    /* claim_timeout */
    double cleanup_interval;  /* seconds between full cleanup passes */
    double retention_seconds; /* how long fulfilled and dead intents are kept */
};

/* Why an intent went to the dead-letter table. */
enum dead_reason { DEAD_FAILED, DEAD_LEASE_EXPIRED, DEAD_CANCELLED, DEAD_REASON_COUNT };

/* What the bus has done since it started, for /metrics. */
struct bus_counters {
    atomic_ulong published;
    atomic_ulong claims;
    atomic_ulong empty_claims;
    atomic_ulong fulfills;
    atomic_ulong failures;
    atomic_ulong retries;        /* failures and expired leases put back in the queue */
    atomic_ulong lease_expiries; /* leases found expired by the sweep or cleanup */
    atomic_ulong dead_letters[DEAD_REASON_COUNT];
    atomic_ulong cleanup_runs;
    atomic_ulong cleanup_failures;
    atomic_ulong schedule_fires; /* occurrences published by schedules */
    atomic_ulong schedule_skips; /* occurrences not published: overlap, cap, missed */
};

/* The bus tells a listener (long-poll) about every committed change, its
 * own and, through the store, those of other nodes on the same database. */
struct bus_listener {
    void (*notify)(void *context, const struct intent_event *event);
    void *context;
};

struct bus {
    struct store *store; /* borrowed */
    struct bus_listener listener; /* set before serving; notify may be NULL */
    struct bus_settings settings;
    struct housekeeping housekeeping;
    struct bus_counters counters;
    struct goal_stats *goals; /* per namespace/goal; NULL if it could not be allocated */
    struct minute_ring *minutes; /* the last day, per minute; NULL likewise */
    struct workers *workers;     /* the workers seen; NULL likewise */
    struct webhooks *webhooks;   /* completion webhooks (bus/webhooks.h); NULL = off */
};

/* A protocol response: a status (200, 201) and a malloc'd JSON body. */
struct bus_reply {
    unsigned status;
    char *body;
};

void bus_reply_clear(struct bus_reply *reply);

/* Serializes value (taken) into reply with status; BUS_ERR_INTERNAL in
 * *error when out of memory. */
enum bus_err bus_reply_json(struct bus_reply *reply, unsigned status, json_t *value,
                            struct bus_error *error);

/* What a worker sends to /claim, as raw strings (NULL = not given). */
struct claim_params {
    const char *namespace_;
    const char *goal;
    const char *worker_id;
    const char *capabilities;
    const char *publisher; /* an API key: only intents it published */
    bool as_admin;         /* admin credentials came too: publisher may be any key,
                            * and that publisher's private intents are claimable */
    int max;               /* 0: one claim, the original reply; 1-BATCH_MAX_ITEMS: a batch
                            * claim, {"intents": [...]} (bus/batch.h) */
};

void bus_init(struct bus *bus, struct store *store, const struct bus_settings *settings, double now);

/* Tells the listener about an event of this node (no-op without one), and
 * the other nodes on the same database through the store. */
void bus_notify(struct bus *bus, const struct intent_event *event);

/* Sets the one listener (before serving), and hears other nodes' events
 * for it when the store carries them; a listener with notify NULL stops
 * both (before what it points to is freed). A store that cannot listen is
 * logged: waits are then ended by the periodic re-check alone. */
void bus_set_listener(struct bus *bus, struct bus_listener listener);
void bus_destroy(struct bus *bus);
/* Tells the listener a newly published intent is claimable (at run_at). */
void bus_notify_published(struct bus *bus, const struct intent_new *intent);

/* Starts the sweep and cleanup duties that are due; called once per
 * request. They are queued to the store's writer and the caller does not
 * wait for them (bus/housekeeping_jobs.c). Failures are logged and retried
 * later, never reported to the caller. */
void bus_housekeeping(struct bus *bus, double now);

/* Runs the full cleanup pass now, waiting for it, and counts it (for an
 * admin, who is answered with what it did). */
enum bus_err bus_run_cleanup(struct bus *bus, double now, struct cleanup_stats *stats);

/* Adds what a background pass or a cancel reported per goal (the store's
 * tallies) to the per-goal counters and the minute ring at now. */
void bus_count_tallies(struct bus *bus, const struct goal_tallies *tallies, double now);

/* ---- the writes without blocking -------------------------------------
 * POST /intent, /claim, /fulfill/<id>, /extend_claim/<id> and /fail/<id>
 * (and the batches POST /intents and /fulfill), and POST /set/<key>,
 * come in two halves so that no request thread waits for the commit:
 * bus_*_begin validates and prepares on the caller's thread;
 * bus_call_submit queues the write; the writer thread reports the commit
 * through a callback; bus_call_finish, back on a request thread, counts,
 * tells the listener and builds the reply. One call is owned by its caller
 * from begin to bus_call_free. */
struct bus_call;

/* Called once the call's write is over (committed or failed), usually on
 * the store's writer thread: it may only wake the call's owner. */
typedef void (*bus_call_done_fn)(void *context);

/* The first half of each: validation. BUS_OK with *call set, or the
 * error (in *error) and no call. Replies: 201 for a publish, 200 for the
 * others; a claim with nothing eligible finishes with BUS_ERR_EMPTY. */
enum bus_err bus_publish_begin(struct bus *bus, const struct principal *caller, const json_t *body,
                               const char *idempotency_key, struct bus_call **call,
                               struct bus_error *error);
/* POST /intents: {"intents": [up to BATCH_MAX_ITEMS publish bodies]},
 * each with an optional "idempotency_key"; reply 200 with a result per
 * item (docs/PROTOCOL-EXTENSIONS.md). */
enum bus_err bus_publish_many_begin(struct bus *bus, const struct principal *caller,
                                    const json_t *body, struct bus_call **call,
                                    struct bus_error *error);
enum bus_err bus_claim_begin(struct bus *bus, const struct principal *caller,
                             const struct claim_params *params, struct bus_call **call,
                             struct bus_error *error);
enum bus_err bus_fulfill_begin(struct bus *bus, const struct principal *caller, const char *id,
                               const json_t *body, struct bus_call **call, struct bus_error *error);
/* POST /fulfill: {"items": [up to BATCH_MAX_ITEMS {"id", "claim_token",
 * "result"?, "result_type"?}]}; reply 200 with a result per item
 * (docs/PROTOCOL-EXTENSIONS.md). */
enum bus_err bus_fulfill_many_begin(struct bus *bus, const struct principal *caller,
                                    const json_t *body, struct bus_call **call,
                                    struct bus_error *error);
enum bus_err bus_extend_begin(struct bus *bus, const struct principal *caller, const char *id,
                              const json_t *body, struct bus_call **call, struct bus_error *error);
enum bus_err bus_fail_begin(struct bus *bus, const struct principal *caller, const char *id,
                            const json_t *body, struct bus_call **call, struct bus_error *error);

/* POST /set/<key>, scoped to the caller: {"value", "ttl"?}; reply 200. */
enum bus_err bus_kv_set_begin(struct bus *bus, const struct principal *caller, const char *key,
                              const json_t *body, const char *idempotency_key,
                              struct bus_call **call, struct bus_error *error);

/* For a signed request: records its nonce in the same transaction, just
 * before the call's write (and kept whatever the write does). A nonce seen
 * in the last NONCE_RETENTION_SECONDS makes it a replay: the write is not
 * made and the call finishes with BUS_ERR_INVALID_SIGNATURE. Call before
 * submitting; BUS_ERR_INTERNAL when out of memory. */
enum bus_err bus_call_record_nonce(struct bus_call *call, const char *principal, const char *nonce,
                                   double now);

/* A call that writes only a signed request's nonce, for a request whose
 * answer is ready (a read, or a write refused before it wrote): the
 * answer is sent once the nonce is committed, or a replay's 403 instead.
 * Its finish gives no reply: BUS_OK, or the error to answer. BUS_OK with
 * *call set, or BUS_ERR_INTERNAL when out of memory. */
enum bus_err bus_nonce_begin(struct bus *bus, const char *principal, const char *nonce, double now,
                             struct bus_call **call);

/* Queues the call's write and returns at once. done(context) is called
 * exactly once: after the commit, on the writer thread, or before this
 * returns when the write cannot be queued (finish then reports why). */
void bus_call_submit(struct bus_call *call, bus_call_done_fn done, void *context);

/* Runs the call's write and waits for its commit, on this thread. */
void bus_call_run(struct bus_call *call);

/* Once the write is over: counts it, tells the listener, and answers as
 * the matching bus_* operation would. Call at most once. */
enum bus_err bus_call_finish(struct bus_call *call, struct bus_reply *reply,
                             struct bus_error *error);

/* Frees a call. One whose write committed but was never finished (its
 * client went away) is counted and reported to the listener first. */
void bus_call_free(struct bus_call *call);

/* ---- the operations, each returning when it is done ------------------- */

/* POST /claim (the long-poll dispatcher's). BUS_ERR_EMPTY when nothing is
 * eligible. Reply 200. The other writes exist only as calls, above. */
enum bus_err bus_claim(struct bus *bus, const struct principal *caller,
                       const struct claim_params *params, struct bus_reply *reply,
                       struct bus_error *error);

/* GET /result/<id> (with_result) and GET /status/<id>. Only the publisher
 * and the current claimer see an intent; others get BUS_ERR_NOT_FOUND.
 * *status (may be NULL) gets the intent's state on BUS_OK. */
enum bus_err bus_read_intent(struct bus *bus, const struct principal *caller, const char *id,
                             bool with_result, struct bus_reply *reply, struct bus_error *error,
                             enum intent_status *status);

/* GET /get/<key>, scoped to the caller (POST /set/<key> is a call). */
enum bus_err bus_kv_get(struct bus *bus, const struct principal *caller, const char *key,
                        struct bus_reply *reply, struct bus_error *error);

#endif
