/* The intent model: what a publish request becomes, what a claim hands out,
 * and what a stored intent looks like. Shared by the bus and every store.
 * Strings the protocol bounds live in fixed buffers (no ownership to track);
 * JSON texts of unbounded shape are heap strings owned by the struct. */
#ifndef CORE_INTENT_H
#define CORE_INTENT_H

#include <stdbool.h>

#define INTENT_ID_LEN 32        /* hex characters */
#define CLAIM_TOKEN_LEN 32      /* hex characters: 16 random bytes */
#define PRINCIPAL_LEN 64        /* hex SHA-256 of an API key */
#define GOAL_MAX_CHARS 256
#define GOAL_MAX_BYTES (GOAL_MAX_CHARS * 4)
#define NAMESPACE_MAX 64
#define WORKER_NAME_MAX_CHARS 128
#define WORKER_NAME_MAX_BYTES (WORKER_NAME_MAX_CHARS * 4)
#define PAYLOAD_MAX_BYTES 7168
#define ERROR_TEXT_MAX_BYTES 2000
#define NOTIFY_URL_MAX_BYTES 2048 /* a completion webhook's URL */

/* Protocol defaults and bounds (spec section 4). */
#define DEFAULT_NAMESPACE "default"
#define DEFAULT_PRIORITY 100
#define DEFAULT_MAX_ATTEMPTS 3
#define DEFAULT_BACKOFF_BASE 5.0
#define DEFAULT_TTL_SECONDS 86400.0
#define RETENTION_SECONDS (7.0 * 86400.0) /* the spec's; BUS_RETENTION_SECONDS may change it */
#define IDEMPOTENCY_RETENTION_SECONDS 86400.0
/* A signed request's timestamp may be 300 s old or 300 s ahead, so a nonce
 * must be remembered for the whole 600 s in which it could be replayed. */
#define NONCE_RETENTION_SECONDS 600.0
/* The message of a replayed nonce's 403, the original server's words. */
#define NONCE_REPLAY_MESSAGE "Replay detected"

enum intent_status { INTENT_OPEN, INTENT_CLAIMED, INTENT_FULFILLED, INTENT_DEAD };

const char *intent_status_name(enum intent_status status);
/* Returns false for a name that is not a status. */
bool intent_status_parse(const char *name, enum intent_status *out);

/* Who is calling: the SHA-256 of the API key, never the key itself. */
struct principal {
    char id[PRINCIPAL_LEN + 1];
    bool is_tester; /* a tk_ key: rate-limited and capped; the main key is not */
    char label[65]; /* for logs: "main" or the tester key's owner, never the key */
};

/* A validated publish request, ready to store. */
struct intent_new {
    char id[INTENT_ID_LEN + 1];
    char goal[GOAL_MAX_BYTES + 1];
    char namespace_[NAMESPACE_MAX + 1];
    bool is_public;
    int priority;
    double delay;
    int max_attempts;
    double backoff_base;
    char target_worker[WORKER_NAME_MAX_BYTES + 1];       /* "" = none */
    char required_capability[WORKER_NAME_MAX_BYTES + 1]; /* "" = none */
    char *payload_json;                                  /* owned */
    char publisher[PRINCIPAL_LEN + 1];
    double created_at;
    double run_at;
    double expires_at;
    /* "" = none; else checked by the bus (bus/webhook_target.c): the
     * store keeps a delivery (struct webhook_delivery) for it. */
    char notify_url[NOTIFY_URL_MAX_BYTES + 1];
};

void intent_new_clear(struct intent_new *intent);

/* What a worker asks for on /claim. */
struct claim_request {
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];              /* "" = any goal */
    char worker_id[WORKER_NAME_MAX_BYTES + 1];  /* "" = anonymous worker */
    char *capabilities_json;                    /* owned JSON array of strings, NULL = [] */
    char claimer[PRINCIPAL_LEN + 1];
    char publisher[PRINCIPAL_LEN + 1];          /* "" = any publisher */
    char token[CLAIM_TOKEN_LEN + 1];            /* the fresh token to hand out */
    double lease_seconds;
    double now;
};

void claim_request_clear(struct claim_request *request);

/* What a successful claim returns to the worker. */
struct claimed_intent {
    char id[INTENT_ID_LEN + 1];
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    char *payload_json; /* owned */
    int claim_attempts;
    int max_attempts;
    int priority;
    char target_worker[WORKER_NAME_MAX_BYTES + 1];
    char required_capability[WORKER_NAME_MAX_BYTES + 1];
    double claim_expires_at;
    char token[CLAIM_TOKEN_LEN + 1];
    /* For the queue-wait histogram: since when it was claimable (its run_at,
     * or the end of the lapsed lease it is taken back from), and whether
     * it was such a lapsed lease. */
    double eligible_since;
    bool reclaimed;
};

void claimed_intent_clear(struct claimed_intent *claimed);

/* Identifies a held lease for extend / fulfill / fail. */
/* What the store tells about a held lease, for the per-goal metrics. */
struct lease_facts {
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    double claimed_at;
};

struct lease_ref {
    char id[INTENT_ID_LEN + 1];
    char token[CLAIM_TOKEN_LEN + 1];
    char claimer[PRINCIPAL_LEN + 1];
    double now;
    struct lease_facts *facts; /* out, may be NULL: filled when the lease is held */
};

/* Whether ref holds the lease of a stored intent whose status, claim
 * token, claimer and lease end are these (NULL for SQL NULL): claimed, by
 * ref's claimer with ref's token, both compared in constant time, and
 * not expired at ref->now. The one rule of every backend's lease check. */
bool lease_is_held(const struct lease_ref *ref, const char *status, const char *token,
                   const char *claimer, double expires_at);

struct fail_outcome {
    enum intent_status status; /* INTENT_OPEN or INTENT_DEAD */
    int claim_attempts;
    double run_at;
};

/* A stored intent, as /result, /status and admin views read it.
 * Doubles that the protocol reports as null are NAN here. */
struct intent_record {
    char id[INTENT_ID_LEN + 1];
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    enum intent_status status;
    bool is_public;
    int priority;
    int claim_attempts;
    int max_attempts;
    double backoff_base;
    char target_worker[WORKER_NAME_MAX_BYTES + 1];
    char required_capability[WORKER_NAME_MAX_BYTES + 1];
    char publisher[PRINCIPAL_LEN + 1];
    char claimed_by[PRINCIPAL_LEN + 1];
    double run_at;
    double created_at;
    double expires_at;
    double claimed_at;
    double claim_expires_at;
    double completed_at;
    char result_type[8];  /* "" when there is no result */
    char *payload_json;   /* owned */
    char *result_json;    /* owned, NULL when no result */
    char *last_error;     /* owned, NULL when none */
    char worker_id[WORKER_NAME_MAX_BYTES + 1]; /* the last claim's X-Worker-ID, "" = none */
};

void intent_record_clear(struct intent_record *record);

#endif
