/* The storage interface: everything the bus asks of a database, in terms of
 * the intent model, with no SQL and no HTTP. A backend (SQLite now,
 * PostgreSQL later) fills a struct store_ops; the bus only calls store_*().
 *
 * Every operation is atomic and thread-safe, and takes `now` from the
 * caller, so the lifecycle can be tested at any point in time. Write
 * operations return only once their effect is durable. */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>

#include "bus/errors.h"
#include "bus/intent.h"

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
};

struct store_ops {
    void (*close)(void *backend);
    /* Inserts the intent, or with idem != NULL replays or refuses: on
     * BUS_OK with replay->body != NULL nothing was inserted and the earlier
     * response is in *replay; a different fingerprint gives
     * BUS_ERR_IDEMPOTENCY_CONFLICT. response_body is remembered with idem. */
    enum bus_err (*publish)(void *backend, const struct intent_new *intent,
                            const struct idempotency *idem, unsigned response_status,
                            const char *response_body, struct stored_response *replay);
    /* Locks the first eligible intent (spec 6.4) for request->claimer with
     * request->token; BUS_ERR_EMPTY when none is eligible. */
    enum bus_err (*claim)(void *backend, const struct claim_request *request,
                          struct claimed_intent *out);
    /* BUS_ERR_NOT_FOUND unless ref names a claimed intent whose lease is
     * unexpired, held by ref->claimer with ref->token. */
    enum bus_err (*extend)(void *backend, const struct lease_ref *ref, double seconds,
                           double *claim_expires_at);
    enum bus_err (*fulfill)(void *backend, const struct lease_ref *ref, const char *result_json,
                            const char *result_type);
    /* jitter feeds backoff_delay(); the outcome says open or dead. */
    enum bus_err (*fail)(void *backend, const struct lease_ref *ref, const char *error_text,
                         double jitter, struct fail_outcome *out);
    enum bus_err (*get_intent)(void *backend, const char *id, struct intent_record *out);
    enum bus_err (*kv_set)(void *backend, const struct kv_write *write,
                           const struct idempotency *idem, unsigned response_status,
                           const char *response_body, struct stored_response *replay);
    /* BUS_ERR_NOT_FOUND when absent or expired. *value_json is malloc'd. */
    enum bus_err (*kv_get)(void *backend, const char *principal, const char *key, double now,
                           char **value_json);
    /* Dead-letters claimed intents whose lease expired with no attempts
     * left: cheap enough to run every second. */
    enum bus_err (*sweep_dead_leases)(void *backend, double now, long *dead_count);
    /* The full housekeeping pass of spec section 11. */
    enum bus_err (*cleanup)(void *backend, double now, struct cleanup_stats *stats);
};

struct store {
    const struct store_ops *ops;
    void *backend;
};

/* Opens the SQLite backend on path with reader_count read connections.
 * Returns NULL (and prints why on stderr) when the database cannot be
 * opened or is too old for UPDATE ... RETURNING. */
struct store *store_sqlite_open(const char *path, int reader_count);

void store_close(struct store *store);

#endif
