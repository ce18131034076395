/* The protocol's operations; see bus.h. Each one: validate, fill a typed
 * request, let the store apply it atomically, render the reply. */
#include "bus/bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "bus/batch.h"
#include "bus/bus_internal.h"
#include "bus/canonical_json.h"
#include "bus/replies.h"
#include "bus/webhooks.h"
#include "util/token.h"
#include "bus/validate.h"
#include "util/clock.h"

void bus_reply_clear(struct bus_reply *reply)
{
    free(reply->body);
    reply->body = NULL;
}

void bus_init(struct bus *bus, struct store *store, const struct bus_settings *settings, double now)
{
    memset(&bus->counters, 0, sizeof bus->counters);
    bus->listener = (struct bus_listener){NULL, NULL};
    bus->store = store;
    bus->webhooks = NULL;
    bus->settings = *settings;
    housekeeping_init(&bus->housekeeping, settings->cleanup_interval, now);
    bus->goals = goal_stats_new();
    bus->workers = workers_new();
    bus->minutes = malloc(sizeof *bus->minutes);
    if (bus->minutes != NULL)
        minute_ring_init(bus->minutes);
}

void bus_destroy(struct bus *bus)
{
    housekeeping_wait_idle(&bus->housekeeping); /* a queued sweep counts into the below */
    housekeeping_destroy(&bus->housekeeping);
    goal_stats_free(bus->goals);
    bus->goals = NULL;
    if (bus->minutes != NULL)
        minute_ring_destroy(bus->minutes);
    free(bus->minutes);
    bus->minutes = NULL;
    workers_free(bus->workers);
    bus->workers = NULL;
}

/* Hands an event to this node's listener: this node's own events (from
 * bus_notify) and, as the store's heard callback, other nodes' (which are
 * not announced again). */
static void tell_listener(void *context, const struct intent_event *event)
{
    struct bus *bus = context;
    if (bus->listener.notify != NULL)
        bus->listener.notify(bus->listener.context, event);
}

void bus_notify(struct bus *bus, const struct intent_event *event)
{
    tell_listener(bus, event);
    if (event->kind == INTENT_EVENT_SETTLED)
        webhooks_poke(bus->webhooks); /* its delivery, if it has one, is due now */
    if (bus->store->ops->announce != NULL)
        bus->store->ops->announce(bus->store->backend, event);
}

void bus_set_listener(struct bus *bus, struct bus_listener listener)
{
    const struct store_ops *ops = bus->store->ops;
    if (listener.notify == NULL) {
        if (ops->listen != NULL)
            ops->listen(bus->store->backend, NULL, NULL);
        bus->listener = listener;
        return;
    }
    bus->listener = listener;
    if (ops->listen != NULL && ops->listen(bus->store->backend, tell_listener, bus) != BUS_OK)
        fprintf(stderr, "intent-bus: cannot hear other nodes' events; long-polls rely on the "
                        "periodic re-check\n");
}

static void notify_settled(struct bus *bus, const char *id)
{
    struct intent_event event = {.kind = INTENT_EVENT_SETTLED, .id = id};
    bus_notify(bus, &event);
}

/* An intent became claimable at `due`, but its attributes are not at hand. */
static void notify_some_claimable(struct bus *bus, const char *id, double due)
{
    struct intent_event event = {.kind = INTENT_EVENT_CLAIMABLE, .id = id, .due = due};
    bus_notify(bus, &event);
}

static void notify_published(struct bus *bus, const struct intent_new *intent)
{
    struct intent_event event = {
        .kind = INTENT_EVENT_CLAIMABLE,
        .id = intent->id,
        .namespace_ = intent->namespace_,
        .goal = intent->goal,
        .publisher = intent->publisher,
        .target_worker = intent->target_worker,
        .required_capability = intent->required_capability,
        .is_public = intent->is_public,
        .due = intent->run_at,
    };
    bus_notify(bus, &event);
}

/* Sets the reply, or reports an allocation failure. */
static enum bus_err set_reply(struct bus_reply *reply, unsigned status, char *body,
                              struct bus_error *error)
{
    reply->status = status;
    reply->body = body;
    if (body == NULL)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    return BUS_OK;
}

/* Prepares an idempotency record, or leaves *use NULL without a key. */
enum bus_err bus_prepare_idempotency(const struct principal *caller, const char *key,
                                        const char *scope, const json_t *body,
                                        struct idempotency *idem, const struct idempotency **use,
                                        struct bus_error *error)
{
    *use = NULL;
    if (key == NULL)
        return BUS_OK;
    if (!validate_idempotency_key(key))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_idempotency_key",
                             "Idempotency-Key must be 1 to %d printable ASCII characters",
                             IDEMPOTENCY_KEY_MAX);
    strcpy(idem->principal, caller->id);
    strcpy(idem->key, key);
    if (canonical_json_fingerprint(scope, body, idem->fingerprint) != 0)
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    *use = idem;
    return BUS_OK;
}

enum bus_err bus_finish_idempotent(enum bus_err err, struct stored_response *replay,
                                   unsigned status, char *body, struct bus_reply *reply,
                                   struct bus_error *error)
{
    if (err == BUS_ERR_IDEMPOTENCY_CONFLICT) {
        free(body);
        return bus_error_set(error, err, NULL,
                             "Key reused with different payload.");
    }
    if (err == BUS_ERR_LIMIT_EXCEEDED) {
        free(body);
        return bus_error_set(error, err, NULL, "this key already has %d open intents",
                             TESTER_OPEN_INTENT_LIMIT);
    }
    if (err != BUS_OK) {
        free(body);
        return bus_error_set(error, err, NULL, "the request could not be stored");
    }
    if (replay->body != NULL) {
        free(body);
        status = replay->status;
        body = replay->body;
        replay->body = NULL;
    }
    return set_reply(reply, status, body, error);
}

void bus_fill_new_intent(struct intent_new *intent, const struct principal *caller, double now)
{
    strcpy(intent->publisher, caller->id);
    intent->created_at = now;
    intent->run_at = now + intent->delay;
    intent->expires_at = intent->run_at + DEFAULT_TTL_SECONDS;
}

enum bus_err bus_fill_claim_request(const struct principal *caller,
                                       const struct claim_params *params, double lease_seconds,
                                       struct claim_request *request, struct bus_error *error)
{
    const char *namespace_ = params->namespace_ ? params->namespace_ : DEFAULT_NAMESPACE;
    if (!validate_namespace(namespace_))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_namespace",
                             "namespace must be 1 to %d of A-Z a-z 0-9 . - _", NAMESPACE_MAX);
    if (params->goal && !validate_goal(params->goal))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_goal",
                             "goal must be 1 to %d characters", GOAL_MAX_CHARS);
    if (params->worker_id && !validate_worker_id(params->worker_id))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_worker_id",
                             "worker id must be 1 to %d characters", WORKER_NAME_MAX_CHARS);
    strcpy(request->namespace_, namespace_);
    strcpy(request->goal, params->goal ? params->goal : "");
    strcpy(request->worker_id, params->worker_id ? params->worker_id : "");
    strcpy(request->claimer, caller->id);
    if (params->publisher != NULL) {
        char wanted[PRINCIPAL_LEN + 1];
        token_sha256_hex(params->publisher, strlen(params->publisher), wanted);
        if (!params->as_admin && !token_equal(wanted, caller->id))
            return bus_error_set(error, BUS_ERR_FORBIDDEN, NULL,
                                 "publisher filtering is restricted: a tester key may only name itself");
        strcpy(request->publisher, wanted);
    }
    request->lease_seconds = lease_seconds;
    request->now = clock_now();
    if (!token_random_hex(request->token, CLAIM_TOKEN_LEN / 2))
        return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "no randomness available");
    return validate_capabilities(params->capabilities, &request->capabilities_json, error);
}

static enum bus_err lease_lost(struct bus_error *error)
{
    return bus_error_set(error, BUS_ERR_NOT_FOUND, NULL,
                         "Intent not found, not owned by you, or invalid claim_token.");
}

/* The common prologue of extend, fulfill and fail. */
static enum bus_err prepare_lease(const struct principal *caller, const char *id,
                                  const json_t *body, struct lease_ref *ref,
                                  struct bus_error *error)
{
    if (body == NULL) /* no body at all: what the original server says */
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL, "Missing claim_token.");
    if (!json_is_object(body))
        return bus_error_set(error, BUS_ERR_INVALID_REQUEST, NULL,
                             "body must be a JSON object with claim_token");
    enum bus_err err = validate_claim_token(body, ref->token, error);
    if (err != BUS_OK)
        return err;
    if (!token_is_hex(id, INTENT_ID_LEN))
        return lease_lost(error);
    strcpy(ref->id, id);
    strcpy(ref->claimer, caller->id);
    ref->now = clock_now();
    return BUS_OK;
}

/* Maps a lease operation's store result onto the error a client sees. */
static enum bus_err lease_store_error(enum bus_err err, struct bus_error *error)
{
    if (err == BUS_ERR_NOT_FOUND)
        return lease_lost(error);
    return bus_error_set(error, err, NULL, "the lease operation could not be stored");
}

/* ---- the hot writes as calls ------------------------------------------- */

enum call_kind {
    CALL_PUBLISH,
    CALL_CLAIM,
    CALL_FULFILL,
    CALL_EXTEND,
    CALL_FAIL,
    CALL_PUBLISH_MANY,
    CALL_CLAIM_MANY,
    CALL_FULFILL_MANY,
    CALL_KV_SET,
    CALL_NONCE /* a signed request's nonce alone: its answer is ready */
};

struct publish_call {
    struct intent_new intent;
    struct idempotency idem;
    char *response; /* the 201 body, stored with an idempotency key */
    struct stored_response replay;
    struct store_publish_call store;
};

struct claim_call {
    struct claim_request request;
    struct claimed_intent claimed;
    struct store_claim_call store;
};

struct extend_call {
    struct lease_ref ref;
    double claim_expires_at;
    struct store_extend_call store;
};

struct fail_call {
    struct lease_ref ref;
    struct lease_facts facts;
    char *error_text;
    struct fail_outcome outcome;
    struct store_fail_call store;
};

/* A signed request's nonce, recorded just before the call's write. */
struct call_nonce {
    char principal[PRINCIPAL_LEN + 1];
    char *nonce; /* owned; NULL when the request was not signed */
    struct store_nonce_call store;
};

/* Everything of one operation that must outlive the caller's stack while
 * the writer commits it: the store reads its arguments from here and
 * writes its results here. */
struct bus_call {
    struct bus *bus;
    enum call_kind kind;
    struct call_nonce nonce;
    enum bus_err result; /* the store's, once `over` */
    bool over;           /* the write ran (or could not be queued) */
    bool counted;        /* counters and listener were told */
    bus_call_done_fn done;
    void *done_context;
    union {
        struct publish_call publish;
        struct claim_call claim;
        struct fulfill_call fulfill;
        struct extend_call extend;
        struct fail_call fail;
        struct publish_many_call publish_many;
        struct claim_many_call claim_many;
        struct fulfill_many_call fulfill_many;
        struct kv_set_call kv_set;
    };
};

static struct bus_call *call_new(struct bus *bus, enum call_kind kind, struct bus_error *error)
{
    struct bus_call *call = calloc(1, sizeof *call);
    if (call == NULL) {
        bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
        return NULL;
    }
    call->bus = bus;
    call->kind = kind;
    return call;
}

static void call_clear(struct bus_call *call)
{
    switch (call->kind) {
    case CALL_PUBLISH:
        intent_new_clear(&call->publish.intent);
        free(call->publish.response);
        stored_response_clear(&call->publish.replay);
        break;
    case CALL_CLAIM:
        claim_request_clear(&call->claim.request);
        claimed_intent_clear(&call->claim.claimed);
        break;
    case CALL_FULFILL:
        bus_fulfill_clear(&call->fulfill);
        break;
    case CALL_EXTEND:
        break;
    case CALL_FAIL:
        free(call->fail.error_text);
        break;
    case CALL_PUBLISH_MANY:
        batch_publish_clear(&call->publish_many);
        break;
    case CALL_CLAIM_MANY:
        batch_claim_clear(&call->claim_many);
        break;
    case CALL_FULFILL_MANY:
        batch_fulfill_clear(&call->fulfill_many);
        break;
    case CALL_KV_SET:
        bus_kv_clear(&call->kv_set);
        break;
    case CALL_NONCE:
        break;
    }
}

void bus_call_free(struct bus_call *call)
{
    if (call == NULL)
        return;
    if (call->over && !call->counted) {
        struct bus_reply unsent = {0, NULL};
        struct bus_error error;
        bus_call_finish(call, &unsent, &error);
        bus_reply_clear(&unsent);
    }
    call_clear(call);
    free(call->nonce.nonce);
    free(call);
}

/* A begin that failed: free the call (validation may have filled part of
 * it) and pass the error on. */
static enum bus_err abandon(struct bus_call **call, enum bus_err err)
{
    bus_call_free(*call);
    *call = NULL;
    return err;
}

/* The optional notify_url (bus/webhooks.h): a string the operator's
 * allow-list permits. Checked here rather than in validate_publish, which
 * knows no configuration (and serves schedules, which carry no webhook). */
enum bus_err bus_take_notify_url(struct bus *bus, const json_t *body, struct intent_new *intent,
                                 struct bus_error *error)
{
    const json_t *value = json_object_get(body, "notify_url");
    if (value == NULL || json_is_null(value))
        return BUS_OK;
    /* A NUL inside would cut the URL short where C reads it. */
    if (!json_is_string(value) || strlen(json_string_value(value)) != json_string_length(value))
        return bus_error_set(error, BUS_ERR_INVALID_FIELD, "invalid_notify_url",
                             "notify_url must be a string (an http or https URL)");
    enum bus_err err = webhooks_check_url(bus->webhooks, json_string_value(value), error);
    if (err == BUS_OK)
        snprintf(intent->notify_url, sizeof intent->notify_url, "%s", json_string_value(value));
    return err;
}

enum bus_err bus_publish_begin(struct bus *bus, const struct principal *caller, const json_t *body,
                               const char *idempotency_key, struct bus_call **call,
                               struct bus_error *error)
{
    *call = call_new(bus, CALL_PUBLISH, error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    struct publish_call *publish = &(*call)->publish;
    const struct idempotency *use_idem = NULL;
    enum bus_err err = validate_publish(body, &publish->intent, error);
    if (err == BUS_OK)
        err = bus_take_notify_url(bus, body, &publish->intent, error);
    if (err == BUS_OK)
        err = bus_prepare_idempotency(caller, idempotency_key, "POST /intent", body, &publish->idem,
                                  &use_idem, error);
    if (err == BUS_OK &&
        !token_time_ordered_hex(publish->intent.id, INTENT_ID_LEN / 2, clock_now()))
        err = bus_error_set(error, BUS_ERR_INTERNAL, NULL, "no randomness available");
    if (err == BUS_OK) {
        bus_fill_new_intent(&publish->intent, caller, clock_now());
        publish->response = reply_published(publish->intent.id, publish->intent.namespace_);
        if (publish->response == NULL)
            err = bus_error_set(error, BUS_ERR_INTERNAL, NULL, "out of memory");
    }
    if (err != BUS_OK)
        return abandon(call, err);
    publish->store = (struct store_publish_call){
        .intent = &publish->intent,
        .open_limit = caller->is_tester ? TESTER_OPEN_INTENT_LIMIT : 0,
        .idem = use_idem,
        .response_status = 201,
        .response_body = publish->response,
        .replay = &publish->replay,
    };
    return BUS_OK;
}

enum bus_err bus_claim_begin(struct bus *bus, const struct principal *caller,
                             const struct claim_params *params, struct bus_call **call,
                             struct bus_error *error)
{
    if (params->max > 0) {
        *call = call_new(bus, CALL_CLAIM_MANY, error);
        if (*call == NULL)
            return BUS_ERR_INTERNAL;
        enum bus_err err = batch_claim_prepare(caller, params, bus->settings.lease_seconds,
                                               &(*call)->claim_many, error);
        return err == BUS_OK ? BUS_OK : abandon(call, err);
    }
    *call = call_new(bus, CALL_CLAIM, error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    struct claim_call *claim = &(*call)->claim;
    enum bus_err err =
        bus_fill_claim_request(caller, params, bus->settings.lease_seconds, &claim->request, error);
    if (err != BUS_OK)
        return abandon(call, err);
    claim->store = (struct store_claim_call){.request = &claim->request, .out = &claim->claimed};
    return BUS_OK;
}

enum bus_err bus_publish_many_begin(struct bus *bus, const struct principal *caller,
                                    const json_t *body, struct bus_call **call,
                                    struct bus_error *error)
{
    *call = call_new(bus, CALL_PUBLISH_MANY, error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    enum bus_err err = batch_publish_prepare(bus, caller, body, &(*call)->publish_many, error);
    return err == BUS_OK ? BUS_OK : abandon(call, err);
}

enum bus_err bus_prepare_fulfill(const struct principal *caller, const char *id,
                                 const json_t *body, struct fulfill_call *fulfill,
                                 struct bus_error *error)
{
    enum bus_err err = prepare_lease(caller, id, body, &fulfill->ref, error);
    fulfill->ref.facts = &fulfill->facts;
    if (err == BUS_OK)
        err = validate_fulfill(body, &fulfill->result_json, fulfill->result_type, error);
    if (err != BUS_OK)
        return err;
    fulfill->store = (struct store_fulfill_call){
        .ref = &fulfill->ref, .result_json = fulfill->result_json,
        .result_type = fulfill->result_type};
    return BUS_OK;
}

void bus_fulfill_clear(struct fulfill_call *fulfill)
{
    free(fulfill->result_json);
    fulfill->result_json = NULL;
}

enum bus_err bus_fulfill_begin(struct bus *bus, const struct principal *caller, const char *id,
                               const json_t *body, struct bus_call **call, struct bus_error *error)
{
    *call = call_new(bus, CALL_FULFILL, error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    enum bus_err err = bus_prepare_fulfill(caller, id, body, &(*call)->fulfill, error);
    return err == BUS_OK ? BUS_OK : abandon(call, err);
}

enum bus_err bus_fulfill_many_begin(struct bus *bus, const struct principal *caller,
                                    const json_t *body, struct bus_call **call,
                                    struct bus_error *error)
{
    *call = call_new(bus, CALL_FULFILL_MANY, error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    enum bus_err err = batch_fulfill_prepare(caller, body, &(*call)->fulfill_many, error);
    return err == BUS_OK ? BUS_OK : abandon(call, err);
}

enum bus_err bus_extend_begin(struct bus *bus, const struct principal *caller, const char *id,
                              const json_t *body, struct bus_call **call, struct bus_error *error)
{
    *call = call_new(bus, CALL_EXTEND, error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    struct extend_call *extend = &(*call)->extend;
    double seconds = 0;
    enum bus_err err = prepare_lease(caller, id, body, &extend->ref, error);
    if (err == BUS_OK)
        err = validate_extend_seconds(body, &seconds, error);
    if (err != BUS_OK)
        return abandon(call, err);
    extend->store = (struct store_extend_call){
        .ref = &extend->ref, .seconds = seconds, .claim_expires_at = &extend->claim_expires_at};
    return BUS_OK;
}

enum bus_err bus_kv_set_begin(struct bus *bus, const struct principal *caller, const char *key,
                              const json_t *body, const char *idempotency_key,
                              struct bus_call **call, struct bus_error *error)
{
    *call = call_new(bus, CALL_KV_SET, error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    enum bus_err err = bus_kv_prepare(caller, key, body, idempotency_key, &(*call)->kv_set, error);
    return err == BUS_OK ? BUS_OK : abandon(call, err);
}

enum bus_err bus_fail_begin(struct bus *bus, const struct principal *caller, const char *id,
                            const json_t *body, struct bus_call **call, struct bus_error *error)
{
    *call = call_new(bus, CALL_FAIL, error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    struct fail_call *fail = &(*call)->fail;
    enum bus_err err = prepare_lease(caller, id, body, &fail->ref, error);
    fail->ref.facts = &fail->facts;
    if (err == BUS_OK)
        err = validate_fail_error(body, &fail->error_text, error);
    if (err != BUS_OK)
        return abandon(call, err);
    fail->store = (struct store_fail_call){.ref = &fail->ref,
                                           .error_text = fail->error_text,
                                           .jitter = backoff_random_jitter(),
                                           .out = &fail->outcome};
    return BUS_OK;
}

/* The store call's nonce field, whatever the kind. */
static const struct store_nonce_call **nonce_slot(struct bus_call *call)
{
    switch (call->kind) {
    case CALL_PUBLISH:
        return &call->publish.store.nonce;
    case CALL_CLAIM:
        return &call->claim.store.nonce;
    case CALL_FULFILL:
        return &call->fulfill.store.nonce;
    case CALL_EXTEND:
        return &call->extend.store.nonce;
    case CALL_FAIL:
        return &call->fail.store.nonce;
    case CALL_PUBLISH_MANY:
        return &call->publish_many.store.nonce;
    case CALL_CLAIM_MANY:
        return &call->claim_many.store.nonce;
    case CALL_FULFILL_MANY:
        return &call->fulfill_many.store.nonce;
    case CALL_KV_SET:
        return &call->kv_set.store.nonce;
    case CALL_NONCE:
        break; /* the nonce is the whole call: call->nonce.store */
    }
    return NULL;
}

enum bus_err bus_call_record_nonce(struct bus_call *call, const char *principal, const char *nonce,
                                   double now)
{
    call->nonce.nonce = strdup(nonce);
    if (call->nonce.nonce == NULL)
        return BUS_ERR_INTERNAL;
    snprintf(call->nonce.principal, sizeof call->nonce.principal, "%s", principal);
    call->nonce.store = (struct store_nonce_call){
        call->nonce.principal, call->nonce.nonce, now, NONCE_RETENTION_SECONDS};
    const struct store_nonce_call **slot = nonce_slot(call);
    if (slot != NULL)
        *slot = &call->nonce.store;
    return BUS_OK;
}

enum bus_err bus_nonce_begin(struct bus *bus, const char *principal, const char *nonce, double now,
                             struct bus_call **call)
{
    struct bus_error error;
    *call = call_new(bus, CALL_NONCE, &error);
    if (*call == NULL)
        return BUS_ERR_INTERNAL;
    enum bus_err err = bus_call_record_nonce(*call, principal, nonce, now);
    if (err != BUS_OK) {
        bus_call_free(*call);
        *call = NULL;
    }
    return err;
}

/* The store's callback, on the writer thread: record, then wake the
 * owner, after which the call may be freed at any moment. */
static void call_over(void *context, enum bus_err result)
{
    struct bus_call *call = context;
    call->result = result;
    call->over = true;
    call->done(call->done_context);
}

void bus_call_submit(struct bus_call *call, bus_call_done_fn done, void *context)
{
    const struct store_ops *ops = call->bus->store->ops;
    void *backend = call->bus->store->backend;
    call->done = done;
    call->done_context = context;
    enum bus_err err = BUS_ERR_INTERNAL;
    switch (call->kind) {
    case CALL_PUBLISH:
        err = ops->publish_submit(backend, &call->publish.store, call_over, call);
        break;
    case CALL_CLAIM:
        err = ops->claim_submit(backend, &call->claim.store, call_over, call);
        break;
    case CALL_FULFILL:
        err = ops->fulfill_submit(backend, &call->fulfill.store, call_over, call);
        break;
    case CALL_EXTEND:
        err = ops->extend_submit(backend, &call->extend.store, call_over, call);
        break;
    case CALL_FAIL:
        err = ops->fail_submit(backend, &call->fail.store, call_over, call);
        break;
    case CALL_PUBLISH_MANY:
        err = ops->publish_many_submit(backend, &call->publish_many.store, call_over, call);
        break;
    case CALL_CLAIM_MANY:
        err = ops->claim_many_submit(backend, &call->claim_many.store, call_over, call);
        break;
    case CALL_FULFILL_MANY:
        err = ops->fulfill_many_submit(backend, &call->fulfill_many.store, call_over, call);
        break;
    case CALL_KV_SET:
        err = ops->kv_set_submit(backend, &call->kv_set.store, call_over, call);
        break;
    case CALL_NONCE:
        err = ops->nonce_submit(backend, &call->nonce.store, call_over, call);
        break;
    }
    if (err != BUS_OK)
        call_over(call, err);
}

void bus_call_run(struct bus_call *call)
{
    const struct store_ops *ops = call->bus->store->ops;
    void *backend = call->bus->store->backend;
    const struct store_publish_call *publish = &call->publish.store;
    const struct store_claim_call *claim = &call->claim.store;
    const struct store_fulfill_call *fulfill = &call->fulfill.store;
    const struct store_extend_call *extend = &call->extend.store;
    const struct store_fail_call *fail = &call->fail.store;
    if (call->nonce.nonce != NULL) {
        const struct store_nonce_call *nonce = &call->nonce.store;
        bool fresh = false;
        call->result = ops->nonce_use(backend, nonce->principal, nonce->nonce, nonce->now,
                                      nonce->keep, &fresh);
        if (call->result == BUS_OK && !fresh)
            call->result = BUS_ERR_INVALID_SIGNATURE;
        if (call->result != BUS_OK) {
            call->over = true;
            return;
        }
    }
    switch (call->kind) {
    case CALL_PUBLISH:
        call->result = ops->publish(backend, publish->intent, publish->open_limit, publish->idem,
                                    publish->response_status, publish->response_body,
                                    publish->replay);
        break;
    case CALL_CLAIM:
        call->result = ops->claim(backend, claim->request, claim->out);
        break;
    case CALL_FULFILL:
        call->result =
            ops->fulfill(backend, fulfill->ref, fulfill->result_json, fulfill->result_type);
        break;
    case CALL_EXTEND:
        call->result = ops->extend(backend, extend->ref, extend->seconds, extend->claim_expires_at);
        break;
    case CALL_FAIL:
        call->result = ops->fail(backend, fail->ref, fail->error_text, fail->jitter, fail->out);
        break;
    case CALL_PUBLISH_MANY:
        call->result = ops->publish_many(backend, &call->publish_many.store);
        break;
    case CALL_CLAIM_MANY:
        call->result = ops->claim_many(backend, &call->claim_many.store);
        break;
    case CALL_FULFILL_MANY:
        call->result = ops->fulfill_many(backend, &call->fulfill_many.store);
        break;
    case CALL_KV_SET: {
        const struct store_kv_set_call *kv = &call->kv_set.store;
        call->result = ops->kv_set(backend, kv->write, kv->idem, kv->response_status,
                                   kv->response_body, kv->replay);
        break;
    }
    case CALL_NONCE:
        break; /* recorded above */
    }
    call->over = true;
}

/* The claimed intent's goal series: claims, reclaimed leases, queue wait. */
void bus_count_claim(struct bus *bus, const struct claimed_intent *claimed, double now)
{
    struct goal_series *series = goal_stats_series(bus->goals, claimed->namespace_, claimed->goal);
    goal_series_count(series, GOAL_CLAIMED);
    minute_ring_count(bus->minutes, MINUTE_CLAIMED, now);
    if (claimed->reclaimed)
        goal_series_count(series, GOAL_RECLAIMED);
    goal_series_wait(series, now - claimed->eligible_since);
}

/* A fulfil or fail of a lease the store found held: its run time. */
static void count_settled(struct bus *bus, const struct lease_ref *ref, enum goal_counter what,
                          bool dead)
{
    struct goal_series *series =
        goal_stats_series(bus->goals, ref->facts->namespace_, ref->facts->goal);
    goal_series_count(series, what);
    minute_ring_count(bus->minutes, what == GOAL_FULFILLED ? MINUTE_FULFILLED : MINUTE_FAILED,
                      ref->now);
    if (dead)
        goal_series_count(series, GOAL_DEAD);
    goal_series_run(series, ref->now - ref->facts->claimed_at);
}

void bus_count_published(struct bus *bus, const struct intent_new *intent)
{
    atomic_fetch_add(&bus->counters.published, 1);
    goal_series_count(goal_stats_series(bus->goals, intent->namespace_, intent->goal),
                      GOAL_PUBLISHED);
    minute_ring_count(bus->minutes, MINUTE_PUBLISHED, intent->created_at);
    notify_published(bus, intent);
}

static enum bus_err finish_publish(struct bus *bus, struct publish_call *publish, enum bus_err err,
                                   struct bus_reply *reply, struct bus_error *error)
{
    if (err == BUS_OK && publish->replay.body == NULL)
        bus_count_published(bus, &publish->intent);
    char *response = publish->response;
    publish->response = NULL; /* bus_finish_idempotent takes it */
    return bus_finish_idempotent(err, &publish->replay, 201, response, reply, error);
}

static enum bus_err finish_claim(struct bus *bus, struct claim_call *claim, enum bus_err err,
                                 struct bus_reply *reply, struct bus_error *error)
{
    if (err == BUS_OK || err == BUS_ERR_EMPTY)
        workers_saw_claim(bus->workers, &claim->request, err == BUS_OK);
    if (err == BUS_OK) {
        atomic_fetch_add(&bus->counters.claims, 1);
        bus_count_claim(bus, &claim->claimed, claim->request.now);
        strcpy(claim->claimed.token, claim->request.token);
        return set_reply(reply, 200, reply_claimed(&claim->claimed, bus->settings.lease_seconds),
                         error);
    }
    if (err == BUS_ERR_EMPTY)
        atomic_fetch_add(&bus->counters.empty_claims, 1);
    else
        bus_error_set(error, err, NULL, "the claim could not be made");
    return err;
}

enum bus_err bus_settle_fulfill(struct bus *bus, const struct fulfill_call *fulfill,
                                enum bus_err err, struct bus_error *error)
{
    if (err != BUS_OK)
        return lease_store_error(err, error);
    atomic_fetch_add(&bus->counters.fulfills, 1);
    count_settled(bus, &fulfill->ref, GOAL_FULFILLED, false);
    notify_settled(bus, fulfill->ref.id);
    return BUS_OK;
}

static enum bus_err finish_fulfill(struct bus *bus, struct fulfill_call *fulfill, enum bus_err err,
                                   struct bus_reply *reply, struct bus_error *error)
{
    err = bus_settle_fulfill(bus, fulfill, err, error);
    if (err != BUS_OK)
        return err;
    return set_reply(reply, 200, reply_fulfilled(fulfill->ref.id, fulfill->ref.now), error);
}

static enum bus_err finish_extend(struct extend_call *extend, enum bus_err err,
                                  struct bus_reply *reply, struct bus_error *error)
{
    if (err != BUS_OK)
        return lease_store_error(err, error);
    return set_reply(reply, 200,
                     reply_extended(extend->ref.id, extend->store.seconds, extend->claim_expires_at),
                     error);
}

static enum bus_err finish_fail(struct bus *bus, struct fail_call *fail, enum bus_err err,
                                struct bus_reply *reply, struct bus_error *error)
{
    if (err != BUS_OK)
        return lease_store_error(err, error);
    bool dead = fail->outcome.status == INTENT_DEAD;
    atomic_fetch_add(&bus->counters.failures, 1);
    count_settled(bus, &fail->ref, GOAL_FAILED, dead);
    atomic_fetch_add(dead ? &bus->counters.dead_letters[DEAD_FAILED] : &bus->counters.retries, 1);
    if (dead)
        notify_settled(bus, fail->ref.id);
    else
        notify_some_claimable(bus, fail->ref.id, fail->outcome.run_at);
    return set_reply(reply, 200, reply_failed(fail->ref.id, &fail->outcome), error);
}

enum bus_err bus_call_finish(struct bus_call *call, struct bus_reply *reply,
                             struct bus_error *error)
{
    call->counted = true;
    /* Only a replayed nonce refuses a write here: the key and the
     * signature were checked before. */
    if (call->result == BUS_ERR_INVALID_SIGNATURE)
        return bus_error_set(error, BUS_ERR_INVALID_SIGNATURE, NULL, "%s", NONCE_REPLAY_MESSAGE);
    switch (call->kind) {
    case CALL_PUBLISH:
        return finish_publish(call->bus, &call->publish, call->result, reply, error);
    case CALL_CLAIM:
        return finish_claim(call->bus, &call->claim, call->result, reply, error);
    case CALL_FULFILL:
        return finish_fulfill(call->bus, &call->fulfill, call->result, reply, error);
    case CALL_EXTEND:
        return finish_extend(&call->extend, call->result, reply, error);
    case CALL_FAIL:
        return finish_fail(call->bus, &call->fail, call->result, reply, error);
    case CALL_PUBLISH_MANY:
        return batch_publish_finish(call->bus, &call->publish_many, call->result, reply, error);
    case CALL_CLAIM_MANY:
        return batch_claim_finish(call->bus, &call->claim_many, call->result, reply, error);
    case CALL_FULFILL_MANY:
        return batch_fulfill_finish(call->bus, &call->fulfill_many, call->result, reply, error);
    case CALL_KV_SET:
        return bus_kv_finish(&call->kv_set, call->result, reply, error);
    case CALL_NONCE:
        if (call->result != BUS_OK)
            return bus_error_set(error, call->result, NULL, "the nonce could not be recorded");
        return BUS_OK; /* no reply of its own: the request's answer was ready */
    }
    return bus_error_set(error, BUS_ERR_INTERNAL, NULL, "unknown call");
}

/* A call from begin to free, on this thread. */
static enum bus_err run_call(enum bus_err begun, struct bus_call *call, struct bus_reply *reply,
                             struct bus_error *error)
{
    if (begun != BUS_OK)
        return begun;
    bus_call_run(call);
    enum bus_err err = bus_call_finish(call, reply, error);
    bus_call_free(call);
    return err;
}

enum bus_err bus_claim(struct bus *bus, const struct principal *caller,
                       const struct claim_params *params, struct bus_reply *reply,
                       struct bus_error *error)
{
    struct bus_call *call = NULL;
    enum bus_err err = bus_claim_begin(bus, caller, params, &call, error);
    return run_call(err, call, reply, error);
}

/* The publisher, the claimer and the main key (the admin role, as in the
 * original server) may read an intent (spec 7.4). The claimer stays the
 * claimer once it has fulfilled or failed the intent for good, as in the
 * original, so a worker can read back what it did; a requeue clears it. */
static bool may_read(const struct intent_record *record, const struct principal *caller)
{
    return !caller->is_tester || token_equal(record->publisher, caller->id) ||
           (record->claimed_by[0] != '\0' && token_equal(record->claimed_by, caller->id));
}

enum bus_err bus_read_intent(struct bus *bus, const struct principal *caller, const char *id,
                             bool with_result, struct bus_reply *reply, struct bus_error *error,
                             enum intent_status *status)
{
    struct intent_record record = {0};
    enum bus_err err = BUS_ERR_NOT_FOUND;
    if (token_is_hex(id, INTENT_ID_LEN))
        err = bus->store->ops->get_intent(bus->store->backend, id, &record);
    /* Another key's intent is 403, as the spec's table ("valid key but
     * insufficient permission") and the original server have it. */
    if (err == BUS_OK && !may_read(&record, caller))
        err = BUS_ERR_FORBIDDEN;
    if (err == BUS_OK && status != NULL)
        *status = record.status;
    if (err == BUS_OK)
        err = set_reply(reply, 200,
                        reply_intent_webhook(&record, with_result,
                                             webhooks_state_json(bus, record.id)),
                        error);
    else if (err == BUS_ERR_NOT_FOUND)
        bus_error_set(error, err, NULL, "Intent not found.");
    else if (err == BUS_ERR_FORBIDDEN)
        bus_error_set(error, err, NULL, "Access denied.");
    else
        bus_error_set(error, err, NULL, "the intent could not be read");
    intent_record_clear(&record);
    return err;
}

void bus_notify_published(struct bus *bus, const struct intent_new *intent)
{
    notify_published(bus, intent);
}

enum bus_err bus_reply_json(struct bus_reply *reply, unsigned status, json_t *value,
                            struct bus_error *error)
{
    char *body = value ? json_dumps(value, JSON_COMPACT) : NULL;
    json_decref(value);
    return set_reply(reply, status, body, error);
}
