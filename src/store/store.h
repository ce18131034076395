/* The storage interface: everything the bus asks of a database, in terms of
 * the intent model, with no SQL and no HTTP. A backend (SQLite now,
 * PostgreSQL later) fills a struct store_ops; the bus only calls store_*().
 *
 * Every operation is atomic and thread-safe, and takes `now` from the
 * caller, so the lifecycle can be tested at any point in time. Write
 * operations return only once their effect is durable (the asynchronous
 * ones report it through a callback). */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>

#include "core/errors.h"
#include "core/event.h"
#include "core/intent.h"
#include "core/schedule.h"
#include "util/histogram.h"

/* An idempotent request: who, under which key, with which fingerprint
 * (canonical_json_fingerprint of method, path and body). */
struct idempotency {
    char principal[PRINCIPAL_LEN + 1];
    char key[256];
    char fingerprint[65];
};

/* A remembered response, replayed for a repeated idempotent request. */
struct stored_response {
    unsigned status;
    char *body; /* owned */
};

void stored_response_clear(struct stored_response *response);

struct kv_write {
    char principal[PRINCIPAL_LEN + 1];
    const char *key;
    const char *value_json;
    double expires_at;
    double now;
};

/* What a background pass (lease sweep, cleanup) or an admin cancel did to
 * the intents of one namespace and goal, handed back to the bus for its
 * per-goal counters: the store reports, the bus counts. */
struct goal_tally {
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    long lease_requeued; /* a lapsed lease put back in the queue */
    long lease_dead;     /* a lapsed lease with no attempts left: dead-lettered */
    long cancelled;      /* dead-lettered by an admin's cancel */
};

enum goal_tally_kind { TALLY_LEASE_REQUEUED, TALLY_LEASE_DEAD, TALLY_CANCELLED };

/* One tally per goal a pass touched; rows owned (goal_tallies_clear). */
struct goal_tallies {
    struct goal_tally *rows;
    size_t count;
    size_t capacity;
};

/* Counts one intent of namespace_/goal under kind. BUS_ERR_INTERNAL when
 * out of memory (nothing counted). */
enum bus_err goal_tallies_add(struct goal_tallies *tallies, const char *namespace_,
                              const char *goal, enum goal_tally_kind kind);
/* Empties the tallies, keeping their memory for the next pass. */
void goal_tallies_reset(struct goal_tallies *tallies);
void goal_tallies_clear(struct goal_tallies *tallies);

/* What one cleanup pass removed or moved (the spec's counters). */
struct cleanup_stats {
    long expired_open_deleted;
    long expired_claims_requeued;
    long expired_claims_dead;
    long fulfilled_deleted;
    long dead_deleted;
    long dead_letters_deleted;
    long store_deleted;
    long idempotency_deleted;
    long nonces_deleted;
    struct goal_tallies goals; /* the expired leases, per goal: the caller clears it */
};

#define OWNER_MAX_BYTES 256

/* A tester key as the admin sees it: never the key, only its digest. */
struct api_key_record {
    char key_hash[PRINCIPAL_LEN + 1];
    char owner[OWNER_MAX_BYTES + 1];
    double created_at;
    double revoked_at; /* NAN while active */
    long open_intents;
};

/* An archived dead intent. */
struct dead_letter {
    char intent_id[INTENT_ID_LEN + 1];
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    char publisher[PRINCIPAL_LEN + 1];
    int claim_attempts;
    int max_attempts;
    char reason[16];
    double died_at;
    char *last_error;   /* owned, NULL when none */
    char *payload_json; /* owned */
};

void dead_letter_clear(struct dead_letter *letter);

/* One claim of an intent, from the claim to its outcome: the attempt
 * history of the admin's job detail. Written in the transaction of the
 * claim, and closed in that of the fulfil, fail, lease expiry (sweep,
 * cleanup, or a claim taking the lapsed lease back: it ended when the
 * lease did), cancel or admin retry; an extend moves lease_expires_at.
 * Deleted with its intent. Bounded where its values come in: the error
 * text is cut to ERROR_TEXT_MAX_BYTES by /fail's validation, the worker id
 * is at most WORKER_NAME_MAX_BYTES, and an intent has at most max_attempts
 * (at most 20) rows per life, more only through admin retries. */
struct intent_attempt {
    int attempt; /* 1, 2, ... in claim order, going on after an admin retry */
    char worker_id[WORKER_NAME_MAX_BYTES + 1]; /* "" = claimed without one */
    char claimer[PRINCIPAL_LEN + 1];           /* the claiming key's digest */
    char owner[OWNER_MAX_BYTES + 1];           /* its tester key's owner, "" if none */
    double claimed_at;
    double lease_expires_at;
    double ended_at;  /* NAN while the lease is held */
    char outcome[16]; /* "" while held; fulfilled, failed, lease_expired, cancelled,
                       * released (an admin's retry took the lease back) */
    char *error_text; /* owned, NULL when none */
};

void intent_attempt_clear(struct intent_attempt *attempt);

/* At most this many attempts are listed per intent (the newest). */
#define ATTEMPTS_LIST_MAX 100

/* Which intents an admin listing shows; "" = any. state is a status or
 * one of the views "expired" (claimed, lease lapsed by now) and
 * "scheduled" (open, run_at still ahead); "claimed" then means a live
 * lease. Newest first; `before` (an id) continues a listing after it. */
struct intent_filter {
    int limit;
    double now;
    char state[16];
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    char id_prefix[INTENT_ID_LEN + 1];
    char publisher[PRINCIPAL_LEN + 1];    /* the publisher's key digest */
    char owner[OWNER_MAX_BYTES + 1];      /* published by a tester key of this owner */
    char worker_id[WORKER_NAME_MAX_BYTES + 1];
    char error_text[ERROR_TEXT_MAX_BYTES + 1]; /* found anywhere in the error */
    char before[INTENT_ID_LEN + 1];
};

/* Which dead letters a listing or bulk action takes; "" = any. */
struct dead_filter {
    int limit; /* listings only */
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    char reason[16]; /* failed, lease_expired, cancelled */
    char error_text[ERROR_TEXT_MAX_BYTES + 1];
};

struct queue_totals {
    long dead_letters;
    long active_keys;
};

struct purge_stats {
    long intents_deleted;
    long dead_letters_deleted;
};

/* One admin action in the audit log. */
struct audit_entry {
    long id; /* set by the store, increasing */
    double at;
    char who[32];
    char address[64];
    char action[32];
    char target[OWNER_MAX_BYTES + 1];
    const char *detail_json; /* NULL = none */
};

#define AUDIT_KEEP_ROWS 10000 /* older entries are dropped as new ones come */

/* Callbacks of the listing operations, called once per row. */
typedef void (*store_each_count)(void *context, const char *namespace_, const char *status,
                                 long count);
typedef void (*store_each_intent)(void *context, const struct intent_record *record);
typedef void (*store_each_dead_letter)(void *context, const struct dead_letter *letter);
typedef void (*store_each_key)(void *context, const struct api_key_record *key);
typedef void (*store_each_audit)(void *context, const struct audit_entry *entry);
typedef void (*store_each_attempt)(void *context, const struct intent_attempt *attempt);
/* worker_id "" = claimed without one; live and lapsed leases held. */
typedef void (*store_each_worker_leases)(void *context, const char *worker_id,
                                         const char *claimer, long live, long lapsed);
/* state: a status, or "expired" / "scheduled" (see intent_filter);
 * oldest_open: the earliest run_at of its claimable open intents, NAN if none. */
typedef void (*store_each_goal_count)(void *context, const char *namespace_, const char *goal,
                                      const char *state, long count, double oldest_open);
typedef void (*store_each_oldest)(void *context, const char *namespace_, const char *goal,
                                  double eligible_since);

/* How the database's writes are going, for /metrics. */
struct store_write_stats {
    struct histogram commit_seconds; /* one observation per transaction */
    atomic_ulong transactions;
    atomic_ulong operations;          /* requests' writes, many per transaction */
    atomic_ulong failed_transactions;
    /* Rolled back and run again without an operation that spoilt them
     * (PostgreSQL: no savepoint per operation; store/writer.h, after_op). */
    atomic_ulong redone_transactions;
    /* Rolled back after losing a conflict with another transaction (a
     * deadlock, a serialization failure: PostgreSQL, between writers or
     * nodes) and run again whole (store/writer.h, WRITER_RETRY). */
    atomic_ulong retried_transactions;
};

/* A signed request's nonce, recorded in the same transaction just before
 * the request's own write (and kept whatever that write does): a nonce
 * seen in the last `keep` seconds is a replay, and the write is not made;
 * its result is then BUS_ERR_INVALID_SIGNATURE. */
struct store_nonce_call {
    const char *principal;
    const char *nonce;
    double now;
    double keep;
};

/* The asynchronous publish, claim, fulfill, extend and fail: their
 * arguments (with the meaning of the synchronous operation's parameters
 * below) and results, in memory the caller keeps valid until done has been
 * called. */
struct store_publish_call {
    const struct store_nonce_call *nonce; /* NULL, or recorded first (below) */
    const struct intent_new *intent;
    long open_limit;
    const struct idempotency *idem; /* NULL = none */
    unsigned response_status;
    const char *response_body;
    struct stored_response *replay; /* out */
};

struct store_claim_call {
    const struct store_nonce_call *nonce;
    const struct claim_request *request;
    struct claimed_intent *out;
};

struct store_fulfill_call {
    const struct store_nonce_call *nonce;
    const struct lease_ref *ref;
    const char *result_json;
    const char *result_type;
};

struct store_extend_call {
    const struct store_nonce_call *nonce;
    const struct lease_ref *ref;
    double seconds;
    double *claim_expires_at; /* out */
};

struct store_fail_call {
    const struct store_nonce_call *nonce;
    const struct lease_ref *ref;
    const char *error_text;
    double jitter;
    struct fail_outcome *out;
};

/* A batch publish (POST /intents): every item in one transaction, each
 * as one publish (store_publish_call's meaning; status 201 remembered
 * with its idem). An item refused for its own reason (an idempotency key
 * reused with a different payload, the open-intent cap, which counts the
 * items inserted before it) gets that error in its result and the others
 * go on; a storage failure fails the whole batch, nothing kept. */
struct store_publish_item {
    const struct intent_new *intent;
    const struct idempotency *idem; /* NULL = none */
    const char *response_body;
    struct stored_response replay; /* out: body set when replayed */
    enum bus_err result;           /* out */
};

struct store_publish_many_call {
    const struct store_nonce_call *nonce;
    struct store_publish_item *items;
    int count;
    long open_limit;
};

/* A batch claim (POST /claim?max=K): up to max intents for one request,
 * each with its own token (tokens[i] goes to out[i]), in one transaction
 * and under every rule of a single claim, goal limits included (a limit
 * of 3 stops the batch at 3). *claimed says how many; BUS_ERR_EMPTY when
 * none. request->token is not used. */
struct store_claim_many_call {
    const struct store_nonce_call *nonce;
    const struct claim_request *request;
    const char (*tokens)[CLAIM_TOKEN_LEN + 1];
    int max;
    struct claimed_intent *out; /* max of them */
    int *claimed;               /* out */
};

/* A batch fulfil (POST /fulfill): every item in one transaction, each as
 * one fulfil (store_fulfill_call's meaning; an item's own nonce is not
 * read). An item whose lease is not held gets BUS_ERR_NOT_FOUND in
 * results[i] and writes nothing, and the others go on; a storage failure
 * fails the whole batch, nothing kept. */
struct store_fulfill_many_call {
    const struct store_nonce_call *nonce;
    struct store_fulfill_call *items;
    int count;
    enum bus_err *results; /* out: count of them */
};

/* A KV set (POST /set/<key>), with store_publish_call's idempotency:
 * response_body is remembered with idem, and a replay leaves the earlier
 * response in *replay and writes nothing. */
struct store_kv_set_call {
    const struct store_nonce_call *nonce;
    const struct kv_write *write;
    const struct idempotency *idem; /* NULL = none */
    unsigned response_status;
    const char *response_body;
    struct stored_response *replay; /* out */
};

/* The housekeeping a request triggers (spec 11: lazy, on traffic), queued
 * without anyone waiting for it: the sweep's and the cleanup's
 * arguments and results, in memory kept valid until done has been called.
 * The caller clears the tallies (goals, stats.goals). */
struct store_sweep_call {
    double now;
    long dead_count;           /* out */
    struct goal_tallies goals; /* out */
};

struct store_cleanup_call {
    double now;
    double retention_seconds;
    struct cleanup_stats stats; /* out */
};

/* Called once the write is committed, with the operation's result (or
 * BUS_ERR_DATABASE_BUSY when the commit failed and nothing was kept), on
 * the backend's writer thread: it must only record the result and wake
 * its owner, since every other write waits meanwhile. */
typedef void (*store_done_fn)(void *context, enum bus_err result);


/* ---- schedules ----------------------------------------------------------- */

typedef void (*store_each_schedule)(void *context, const struct schedule *schedule);
typedef void (*store_each_fire)(void *context, const struct schedule_fire_record *fire);

/* One step of a schedule, computed by the bus from a schedule it read
 * (name, revision, expected_next_at): publish `intent` for the occurrence
 * at fire_at (NAN: publish nothing), count `missed` occurrences as skipped,
 * and move next_at on. Atomic, and exactly once per occurrence even with
 * several nodes: the step applies only while the schedule still has that
 * revision and next_at, and the occurrence is a unique (schedule, fire_at)
 * row taken in the same transaction as the publish. */
struct store_schedule_step {
    const char *name;
    long revision;
    double expected_next_at;
    double fire_at;
    const struct intent_new *intent; /* NULL when fire_at is NAN */
    bool overlap_skip;               /* skip (SCHEDULE_SKIPPED_OVERLAP) while the schedule's
                                      * last published intent is open or claimed */
    long open_limit;                 /* > 0: the owner is a tester key: skip at its cap
                                      * (SCHEDULE_SKIPPED_LIMIT), and once it is revoked
                                      * (SCHEDULE_SKIPPED_REVOKED) */
    long missed;
    double next_at;                  /* NAN: the schedule never fires again */
    double now;
    enum schedule_outcome outcome;   /* out */
};

/* Called by a backend for a change another node announced; see listen. */
typedef void (*store_heard_fn)(void *context, const struct intent_event *event);

/* ---- goal controls: pause and concurrency limit ------------------------- */

/* A goal's controls. While paused, no claim takes its intents (publishes
 * are still accepted). With max_claimed > 0, no claim takes one of its
 * intents while max_claimed of them hold a live lease (status claimed,
 * claim_expires_at > now; a lapsed lease does not count), across every
 * worker and node. A goal with neither control has no record. */
struct goal_control {
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    bool paused;
    long max_claimed; /* 0 = no limit */
    double updated_at;
};

enum goal_pause_change { GOAL_PAUSE_KEEP, GOAL_PAUSE_SET, GOAL_PAUSE_CLEAR };

/* One change to a goal's controls; what it does not change is kept. */
struct goal_control_change {
    const char *namespace_;
    const char *goal;
    enum goal_pause_change pause;
    bool set_limit;
    long max_claimed; /* with set_limit: the new limit, 0 removes it */
    double now;
};

typedef void (*store_each_goal_control)(void *context, const struct goal_control *control);

/* ---- completion webhooks ------------------------------------------------- */

/* An intent's webhook (its notify_url) and how its delivery goes. The row
 * is written with the intent at publish (state "waiting"); the store arms
 * it (state "pending", attempts 0, armed_at = next_at = the transition's
 * time) in the same transaction as any move of the intent to fulfilled or
 * dead, and forgets it with the intent. */
#define WEBHOOK_STATE_MAX 12
#define WEBHOOK_ERROR_MAX 200
struct webhook_record {
    char url[NOTIFY_URL_MAX_BYTES + 1];
    char state[WEBHOOK_STATE_MAX]; /* waiting, pending, delivered, failed */
    int attempts;
    int last_status;                      /* the last HTTP status, 0 = none */
    char last_error[WEBHOOK_ERROR_MAX + 1]; /* "" = none */
    double armed_at;                      /* NAN while waiting */
    double next_at;                       /* the next attempt (pending), else NAN */
    double delivered_at;                  /* NAN unless delivered */
};

/* A due delivery, taken for one attempt. */
struct webhook_delivery {
    char intent_id[INTENT_ID_LEN + 1];
    char url[NOTIFY_URL_MAX_BYTES + 1];
    int attempts; /* made so far */
    double armed_at;
};

/* What one attempt came to. Applied only while the row is still pending
 * with the same armed_at (an intent retried and settled again meanwhile
 * has a new delivery). state: pending (retry at next_at), delivered or
 * failed (given up). */
struct webhook_outcome {
    const char *intent_id;
    double armed_at;
    const char *state;
    int attempts;
    int last_status;        /* 0 = none */
    const char *last_error; /* NULL = none */
    double next_at;         /* pending only */
    double now;
};

struct store_ops {
    void (*close)(void *backend);
    /* Events between the nodes (processes) sharing this database; both
     * NULL in a backend only one process uses. announce passes a committed
     * change on to every other node, without waiting and best effort (a
     * lost one is found by the long-poll's periodic re-check). listen makes
     * the backend call heard, on a thread of its own, for each change
     * another node announced, and with an unknown claimable event
     * (namespace_ NULL) whenever some may have been missed (a reconnect);
     * listen(backend, NULL, NULL) stops that, waiting for a call in
     * progress to return. */
    void (*announce)(void *backend, const struct intent_event *event);
    enum bus_err (*listen)(void *backend, store_heard_fn heard, void *context);
    /* Counts a request of principal at now against `limit` requests in any
     * `period` seconds, across every node: *allowed false when over (the
     * request is then not counted), with *retry_after the seconds until one
     * more would be allowed. NULL in a backend only one process uses: the
     * window is then kept in that process's memory. */
    enum bus_err (*rate_take)(void *backend, const char *principal, double now, int limit,
                              double period, bool *allowed, double *retry_after);
    const struct store_write_stats *(*write_stats)(void *backend);
    /* The read pool: how many connections it holds, how many serve a read
     * right now (for /metrics; the writer's one connection is not counted). */
    void (*pool_usage)(void *backend, long *size, long *in_use);
    /* Inserts the intent, or with idem != NULL replays or refuses: on
     * BUS_OK with replay->body != NULL nothing was inserted and the earlier
     * response is in *replay; a different fingerprint gives
     * BUS_ERR_IDEMPOTENCY_CONFLICT. response_body is remembered with idem.
     * open_limit > 0: BUS_ERR_LIMIT_EXCEEDED when the publisher already has
     * that many open intents (checked in the same transaction). */
    enum bus_err (*publish)(void *backend, const struct intent_new *intent, long open_limit,
                            const struct idempotency *idem, unsigned response_status,
                            const char *response_body, struct stored_response *replay);
    /* Locks the first eligible intent (spec 6.4) for request->claimer with
     * request->token; BUS_ERR_EMPTY when none is eligible. Intents of a goal
     * that is paused or at its limit (struct goal_control) are not eligible,
     * decided in the claim's own transaction, so that concurrent claims
     * never take a goal past max_claimed; claim_submit does the same. */
    enum bus_err (*claim)(void *backend, const struct claim_request *request,
                          struct claimed_intent *out);
    /* BUS_ERR_NOT_FOUND unless ref names a claimed intent whose lease is
     * unexpired, held by ref->claimer with ref->token. */
    enum bus_err (*extend)(void *backend, const struct lease_ref *ref, double seconds,
                           double *claim_expires_at);
    enum bus_err (*fulfill)(void *backend, const struct lease_ref *ref, const char *result_json,
                            const char *result_type);
    /* publish, claim and fulfill without waiting: they queue the write and
     * return at once. BUS_OK: done(context, result) will be called exactly
     * once, on another thread, after the commit. Anything else (out of
     * memory): nothing was queued and done will not be called. */
    enum bus_err (*publish_submit)(void *backend, struct store_publish_call *call,
                                   store_done_fn done, void *context);
    enum bus_err (*claim_submit)(void *backend, struct store_claim_call *call, store_done_fn done,
                                 void *context);
    enum bus_err (*fulfill_submit)(void *backend, struct store_fulfill_call *call,
                                   store_done_fn done, void *context);
    /* The batch publish and claim (store_publish_many_call,
     * store_claim_many_call), waiting and without waiting. */
    enum bus_err (*publish_many)(void *backend, struct store_publish_many_call *call);
    enum bus_err (*publish_many_submit)(void *backend, struct store_publish_many_call *call,
                                        store_done_fn done, void *context);
    enum bus_err (*claim_many)(void *backend, struct store_claim_many_call *call);
    enum bus_err (*claim_many_submit)(void *backend, struct store_claim_many_call *call,
                                      store_done_fn done, void *context);
    /* The batch fulfil (store_fulfill_many_call), waiting and not. */
    enum bus_err (*fulfill_many)(void *backend, struct store_fulfill_many_call *call);
    enum bus_err (*fulfill_many_submit)(void *backend, struct store_fulfill_many_call *call,
                                        store_done_fn done, void *context);
    /* jitter feeds backoff_delay(); the outcome says open or dead. */
    enum bus_err (*fail)(void *backend, const struct lease_ref *ref, const char *error_text,
                         double jitter, struct fail_outcome *out);
    /* extend and fail without waiting, as publish_submit. */
    enum bus_err (*extend_submit)(void *backend, struct store_extend_call *call,
                                  store_done_fn done, void *context);
    enum bus_err (*fail_submit)(void *backend, struct store_fail_call *call, store_done_fn done,
                                void *context);
    enum bus_err (*get_intent)(void *backend, const char *id, struct intent_record *out);
    enum bus_err (*kv_set)(void *backend, const struct kv_write *write,
                           const struct idempotency *idem, unsigned response_status,
                           const char *response_body, struct stored_response *replay);
    /* The same without waiting, as publish_submit. */
    enum bus_err (*kv_set_submit)(void *backend, struct store_kv_set_call *call, store_done_fn done,
                                  void *context);
    /* BUS_ERR_NOT_FOUND when absent or expired. *value_json is malloc'd. */
    enum bus_err (*kv_get)(void *backend, const char *principal, const char *key, double now,
                           char **value_json);
    /* The full housekeeping pass of spec section 11; fulfilled and dead
     * intents and dead letters older than retention_seconds go. */
    enum bus_err (*cleanup)(void *backend, double now, double retention_seconds,
                            struct cleanup_stats *stats);
    /* Dead-letters claimed intents whose lease expired with no attempts
     * left, without waiting (as publish_submit): cheap enough to run every
     * second. Their goals into call->goals (reset first; the caller clears
     * it). */
    enum bus_err (*sweep_submit)(void *backend, struct store_sweep_call *call, store_done_fn done,
                                 void *context);
    /* The cleanup without waiting. */
    enum bus_err (*cleanup_submit)(void *backend, struct store_cleanup_call *call,
                                   store_done_fn done, void *context);

    /* Records a signed request's nonce for principal. *fresh is false when
     * the same nonce was seen less than `keep` seconds ago (a replay). */
    enum bus_err (*nonce_use)(void *backend, const char *principal, const char *nonce, double now,
                              double keep, bool *fresh);
    /* The same without waiting, for a request whose answer is ready and
     * waits only for its nonce: done's result is BUS_OK, or
     * BUS_ERR_INVALID_SIGNATURE for a replay. call stays valid until done
     * has been called. */
    enum bus_err (*nonce_submit)(void *backend, const struct store_nonce_call *call,
                                 store_done_fn done, void *context);

    /* Tester keys, by the SHA-256 of the key. */
    enum bus_err (*key_create)(void *backend, const char *key_hash, const char *owner, double now);
    /* Revokes an active key and deletes its idempotency records and nonces;
     * BUS_ERR_NOT_FOUND for an unknown or revoked key. */
    enum bus_err (*key_revoke)(void *backend, const char *key_hash, double now,
                               char owner[OWNER_MAX_BYTES + 1]);
    /* BUS_OK with the owner for an active key, else BUS_ERR_NOT_FOUND. */
    enum bus_err (*key_lookup)(void *backend, const char *key_hash,
                               char owner[OWNER_MAX_BYTES + 1]);
    enum bus_err (*key_list)(void *backend, store_each_key each, void *context);
    /* The digest of the one active key whose digest starts with prefix
     * (hex); BUS_ERR_NOT_FOUND when none or several do. */
    enum bus_err (*key_find)(void *backend, const char *prefix,
                             char key_hash[PRINCIPAL_LEN + 1]);

    /* Admin views and actions (spec section 8). */
    /* Per namespace and status; a claimed intent whose lease ended by now
     * is counted as status "expired". */
    enum bus_err (*queue_counts)(void *backend, double now, store_each_count each, void *context,
                                 struct queue_totals *totals);
    /* Per namespace and goal with open intents claimable by now: since when
     * the longest-waiting one has been claimable (its run_at); longest
     * waits first, at most limit rows. */
    enum bus_err (*oldest_open)(void *backend, double now, int limit, store_each_oldest each,
                                void *context);
    /* The audit log: appends (keeping the last AUDIT_KEEP_ROWS), and lists
     * newest first, at most limit entries with ids below before (0 = any). */
    /* Intents per namespace, goal and state (at most limit rows), for the
     * dashboard's overview; reads every row. */
    enum bus_err (*goal_counts)(void *backend, double now, int limit,
                                store_each_goal_count each, void *context);
    /* Claimed intents per worker id and claimer, live and lapsed. */
    enum bus_err (*worker_leases)(void *backend, double now, store_each_worker_leases each,
                                  void *context);
    enum bus_err (*audit_add)(void *backend, const struct audit_entry *entry);
    enum bus_err (*audit_list)(void *backend, int limit, long before, store_each_audit each,
                               void *context);
    enum bus_err (*intent_list)(void *backend, const struct intent_filter *filter,
                                store_each_intent each, void *context);
    /* Dead-letters the intent (reason cancelled); its goal into *goals
     * (reset first; the caller clears it). */
    enum bus_err (*intent_cancel)(void *backend, const char *id, double now,
                                  struct goal_tallies *goals);
    /* The intent's attempts, oldest first, at most ATTEMPTS_LIST_MAX (the
     * newest ones); none for an unknown id. */
    enum bus_err (*attempt_list)(void *backend, const char *id, store_each_attempt each,
                                 void *context);
    enum bus_err (*intent_retry)(void *backend, const char *id, double now);
    /* Deletes the matching dead letters and their dead intents. */
    enum bus_err (*dead_purge)(void *backend, const struct dead_filter *filter, long *deleted);
    enum bus_err (*dead_list)(void *backend, const struct dead_filter *filter,
                              store_each_dead_letter each,
                              void *context);
    enum bus_err (*dead_get)(void *backend, const char *id, struct dead_letter *out);
    /* namespace_ NULL: everything (intents, dead letters, KV, idempotency). */
    enum bus_err (*purge)(void *backend, const char *namespace_, struct purge_stats *stats);

    /* Schedules (names are unique across keys). Creates the schedule, or
     * replaces the definition of the caller's schedule of that name
     * (*created false; counters, pause state and id stay);
     * BUS_ERR_FORBIDDEN when the name belongs to another owner. */
    enum bus_err (*schedule_put)(void *backend, const struct schedule *schedule, bool *created);
    /* BUS_ERR_NOT_FOUND when absent, or owner != NULL and not its owner. */
    enum bus_err (*schedule_get)(void *backend, const char *name, const char *owner,
                                 struct schedule *out);
    /* owner NULL: every schedule. By name. */
    enum bus_err (*schedule_list)(void *backend, const char *owner, store_each_schedule each,
                                  void *context);
    /* Pauses, or resumes with next_at as the next occurrence; revision+1.
     * BUS_ERR_NOT_FOUND as schedule_get. */
    enum bus_err (*schedule_set_paused)(void *backend, const char *name, const char *owner,
                                        bool paused, double next_at, double now);
    /* Deletes a schedule and its fire records. BUS_ERR_NOT_FOUND as schedule_get. */
    enum bus_err (*schedule_delete)(void *backend, const char *name, const char *owner);
    /* The unpaused schedules whose next_at <= now. */
    enum bus_err (*schedule_due)(void *backend, double now, store_each_schedule each,
                                 void *context);
    enum bus_err (*schedule_step)(void *backend, struct store_schedule_step *step);
    /* A schedule's most recent fire records, newest first. */
    enum bus_err (*schedule_fires)(void *backend, const char *schedule_id, int limit,
                                   store_each_fire each, void *context);

    /* Goal controls (struct goal_control). Applies change atomically,
     * serialised with claims (a claim committed after it honours it), and
     * gives the goal's controls after it in *out: when neither is left its
     * record is deleted and *out has paused false, max_claimed 0. Setting a
     * goal's controls needs no intent of that goal to exist. */
    enum bus_err (*goal_control_set)(void *backend, const struct goal_control_change *change,
                                     struct goal_control *out);
    /* Every goal with a control, by namespace then goal. */
    enum bus_err (*goal_control_list)(void *backend, store_each_goal_control each, void *context);
    /* Completion webhooks (struct webhook_record). webhook_take leases
     * the most overdue pending delivery (next_at <= now, no live lease)
     * until lease_until, so one node at a time attempts it: BUS_OK with
     * *out, or BUS_ERR_EMPTY when none is due. webhook_record applies an
     * attempt's outcome (struct webhook_outcome) and ends the lease. */
    enum bus_err (*webhook_take)(void *backend, double now, double lease_until,
                                 struct webhook_delivery *out);
    enum bus_err (*webhook_record)(void *backend, const struct webhook_outcome *outcome);
    /* The intent's webhook: BUS_ERR_NOT_FOUND when it has none. */
    enum bus_err (*webhook_get)(void *backend, const char *intent_id, struct webhook_record *out);
    /* Deliveries pending (armed, neither delivered nor given up). */
    enum bus_err (*webhook_pending)(void *backend, long *count);
};

struct store {
    const struct store_ops *ops;
    void *backend;
};

/* Opens the SQLite backend on path with reader_count read connections;
 * sync_full makes every commit survive power loss (BUS_SYNC=full), not only
 * a killed process. Returns NULL (and prints why on stderr) when the
 * database cannot be opened or is too old for UPDATE ... RETURNING. */
struct store *store_sqlite_open(const char *path, int reader_count, bool sync_full);

/* Opens the PostgreSQL backend on conninfo (a libpq URI or key=value
 * string) with reader_count read connections and writer_count writers
 * (each a thread and a connection; <= 0: the default, 2; at most 16),
 * applying any missing schema migration first. Returns NULL (and prints why
 * on stderr) when the database cannot be reached or migrated. */
struct store *store_postgres_open(const char *conninfo, int reader_count, int writer_count);

/* Applies the missing migrations to the database at conninfo and says on
 * stdout at which version it is: `intent-bus migrate`. 0, or -1 after
 * printing why on stderr. */
int store_postgres_migrate(const char *conninfo);

/* `intent-bus migrate --from FILE`: applies the migrations, then copies the
 * SQLite bus at sqlite_path into the database at conninfo, which must hold
 * no bus yet, in one transaction, saying what it copied on stdout. 0, or
 * -1 after printing why on stderr (nothing copied). */
int store_postgres_import_sqlite(const char *conninfo, const char *sqlite_path);

void store_close(struct store *store);

#endif
