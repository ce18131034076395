/* libintentbus: the C client of Intent Bus, speaking the Intent Protocol v2.1
 * (docs/PROTOCOL.md). One opaque client per thread holds one keep-alive HTTP
 * connection; every operation returns an enum ib_err, and the client keeps
 * the details of the last call (HTTP status, the server's error code and
 * message, Retry-After) until the next one. Another thread may abort a
 * client's calls (ib_client_abort()), to stop a long-poll at once.
 *
 * Ownership: whatever the library hands over is the caller's to free, with
 * ib_free() (strings) or ib_job_free() (jobs). Strings passed in are only
 * read during the call. */
#ifndef INTENTBUS_H
#define INTENTBUS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IB_VERSION "1.0.0"
#define IB_ID_MAX 64 /* longest intent id accepted (this server's are 32 hex) */

/* Every outcome of a call. The server's errors map one-to-one onto its error
 * codes; the last few are the client's own. */
enum ib_err {
    IB_OK = 0,
    IB_ERR_EMPTY,                /* 204 on /claim: nothing to claim now */
    IB_ERR_UNAUTHORIZED,         /* 401 unauthorized (wrong key), or 403 invalid_signature
                                    (bad, stale, replayed or missing signature) */
    IB_ERR_FORBIDDEN,            /* 403 forbidden */
    IB_ERR_NOT_FOUND,            /* 404 not_found; on extend/fulfill/fail: the lease is lost */
    IB_ERR_METHOD_NOT_ALLOWED,   /* 405 method_not_allowed */
    IB_ERR_INVALID_REQUEST,      /* 400 invalid_request: a required field is missing */
    IB_ERR_INVALID_JSON,         /* 400 invalid_json */
    IB_ERR_INVALID_FIELD,        /* 400 invalid_<field>: see ib_last_error_code() */
    IB_ERR_PAYLOAD_TOO_LARGE,    /* 413 payload_too_large */
    IB_ERR_IDEMPOTENCY_CONFLICT, /* 422 idempotency_conflict */
    IB_ERR_RATE_LIMITED,         /* 429 rate_limited: see ib_last_retry_after() */
    IB_ERR_LIMIT_EXCEEDED,       /* 429 limit_exceeded: too many open intents */
    IB_ERR_DATABASE_BUSY,        /* 503 database_busy; also a storage fault: 507
                                    insufficient_storage, 503 storage_read_only,
                                    503 storage_io_error (nothing stored; retry) */
    IB_ERR_MAINTENANCE,          /* 503 maintenance */
    IB_ERR_SERVER,               /* 500 or another status the protocol does not define */
    IB_ERR_TRANSPORT,            /* no HTTP response: connection refused, timeout (curl) */
    IB_ERR_PROTOCOL,             /* a response this library cannot understand */
    IB_ERR_NO_MEMORY,            /* out of memory */
    IB_ERR_INVALID_ARGUMENT,     /* refused before sending: NULL where a value is needed,
                                    text that is not JSON or not UTF-8 */
    IB_ERR_CRYPTO,               /* OpenSSL failed to make a nonce or a signature */
    IB_ERR_ABORTED,              /* ib_client_abort() was called: nothing more is read */
};

/* A short English description of err ("rate limited"); never NULL. */
const char *ib_strerror(enum ib_err err);

/* How to reach the bus. Start from ib_options_init(): a zeroed struct means
 * sign = false. */
struct ib_options {
    const char *base_url;    /* "http://127.0.0.1:8080" (a trailing "/" is ignored); required */
    const char *api_key;     /* X-API-KEY; NULL sends none (only /health and admin calls work) */
    const char *admin_token; /* X-Admin-Token on every request when not NULL (BUS_ADMIN_SECRET) */
    const char *user_agent;  /* NULL: "libintentbus/1.0.0" */
    long timeout_ms;         /* whole request, on top of any long-poll wait; 0: 30000 */
    bool sign;               /* HMAC-sign every request (docs/SIGNING.md); default true */
};

/* Fills *options with the defaults: sign = true, timeout_ms = 30000, every
 * string NULL. */
void ib_options_init(struct ib_options *options);

struct ib_client;

/* A client for one bus. It holds one curl handle whose connection is kept
 * alive and reused from call to call. A client is not thread-safe: use one
 * per thread (clients share nothing; libcurl's global init runs once, on
 * the first ib_client_new(), whatever the thread); ib_client_abort() is the
 * one function another thread may call. The options' strings are
 * copied. Returns NULL when options or options->base_url is NULL or empty,
 * or out of memory. */
struct ib_client *ib_client_new(const struct ib_options *options);

/* Closes the connection and frees the client; NULL is a no-op. */
void ib_client_free(struct ib_client *client);

/* Aborts the client's calls; callable from any thread, and from a signal
 * handler (it only sets an atomic flag). The abort is a state of the
 * client, not an event, so it cannot slip in between two calls:
 * - the call under way, if any, returns IB_ERR_ABORTED within about a
 *   second (libcurl checks the flag that often while a long-poll waits,
 *   more often while data moves), and its connection is closed, never
 *   reused: a server holding a long-poll claim sees the close and hands
 *   its next job to another worker;
 * - every later call returns IB_ERR_ABORTED at once, sending nothing,
 *   until ib_client_reset_abort().
 * A call whose whole response had arrived returns it as usual (a claimed
 * job included). An abort after the request reached the server and before
 * its response was read leaves what the server did unseen: a job claimed
 * in that instant is delivered again when its lease runs out.
 * The client must stay alive until this returns; NULL is a no-op. */
void ib_client_abort(struct ib_client *client);

/* Ends an abort: later calls are sent again. Call it from the thread that
 * uses the client, between calls; NULL is a no-op. */
void ib_client_reset_abort(struct ib_client *client);

/* Details of the client's last call, valid until its next call. After a
 * server error: its error code ("invalid_priority") and message. After an
 * error found on this side (IB_ERR_TRANSPORT, IB_ERR_INVALID_ARGUMENT...):
 * code "" and a message saying what went wrong (curl's, for a transport
 * error). After success: "" and "". Never NULL. */
const char *ib_last_error_code(const struct ib_client *client);
const char *ib_last_error_message(const struct ib_client *client);

/* The HTTP status of the last call's response, or 0 when none arrived. */
long ib_last_status(const struct ib_client *client);

/* The seconds of the last response's Retry-After header (429, 503, 204), or
 * 0 when it had none. */
unsigned ib_last_retry_after(const struct ib_client *client);

/* How many TCP connections this client has opened so far. With keep-alive
 * this stays at 1 while the server keeps the connection open. */
unsigned long ib_connections_opened(const struct ib_client *client);

/* Frees a string this library handed over; NULL is a no-op. */
void ib_free(void *text);

enum ib_visibility {
    IB_VISIBILITY_DEFAULT = 0, /* not sent: the server's default, private */
    IB_VISIBILITY_PRIVATE,
    IB_VISIBILITY_PUBLIC,
};

/* An intent to publish (spec 6.1). Zero or NULL leaves a field out, so the
 * server's default applies; priority is sent only when has_priority, since 0
 * is a valid priority. Values are not range-checked here: the server does it
 * and answers IB_ERR_INVALID_FIELD with the exact code. */
struct ib_publish {
    const char *goal;       /* required, 1-256 characters */
    const char *payload;    /* required JSON text: "{\"n\":1}", "null", "\"hi\"" */
    const char *namespace_; /* NULL: "default" */
    enum ib_visibility visibility;
    bool has_priority;
    int priority;                    /* 0-1000, default 100 */
    double delay;                    /* seconds before it can be claimed; 0: none */
    int max_attempts;                /* 1-20; 0: 3 */
    double backoff_base;             /* seconds, 1.0-3600.0; 0: 5.0 */
    const char *target_worker;       /* only this worker id may claim it */
    const char *required_capability; /* only workers advertising it may claim it */
    const char *idempotency_key;     /* Idempotency-Key: a retry replays the first answer */
    /* A URL the bus POSTs a signed event to once the intent is fulfilled or
     * dead, if its operator allows the target (docs/PROTOCOL-EXTENSIONS.md
     * "Completion webhooks"). */
    const char *notify_url;
};

/* Publishes an intent; on IB_OK writes its id and a NUL into id (the bus
 * says "id": a 32-hex string). */
enum ib_err ib_publish(struct ib_client *client, const struct ib_publish *intent,
                       char id[IB_ID_MAX + 1]);

/* What to claim (spec 7.3). NULL or 0 leaves a parameter out. */
struct ib_claim {
    const char *goal;         /* only intents with this goal */
    const char *namespace_;   /* NULL: "default" */
    const char *worker_id;    /* matched against target_worker */
    const char *capabilities; /* comma-separated, matched against required_capability */
    const char *publisher;    /* only intents published by this API key */
    unsigned wait_seconds;    /* long-poll, 0-60: sent as ?wait=N only when > 0 */
};

/* A claimed intent. Strings are NUL-terminated and owned by the job;
 * target_worker and required_capability are NULL when the intent has none. */
struct ib_job {
    char *id;
    char *namespace_;
    char *goal;
    char *payload; /* compact JSON text */
    int claim_attempts;
    int priority;
    char *target_worker;
    char *required_capability;
    char *claim_token;       /* needed by ib_extend, ib_fulfill, ib_fail */
    long claim_timeout;      /* seconds of the lease */
    double claim_expires_at; /* Unix time the lease ends; 0 if the server did not say */
};

/* Claims the best eligible intent. With wait_seconds > 0 a server with the
 * long-poll extension (docs/PROTOCOL-EXTENSIONS.md) holds the request until
 * an intent arrives or the wait runs out; the client's timeout is extended
 * by the wait. IB_OK: *job is a new job, free it with ib_job_free().
 * IB_ERR_EMPTY: nothing eligible (back off, see ib_last_retry_after()).
 * *job is NULL on any error. request may be NULL: any intent of "default". */
enum ib_err ib_claim(struct ib_client *client, const struct ib_claim *request, struct ib_job **job);

/* Frees a job from ib_claim(); NULL is a no-op. */
void ib_job_free(struct ib_job *job);

/* ---- batches (docs/PROTOCOL-EXTENSIONS.md "Batch publish and claim") ---- */

#define IB_BATCH_MAX 100

/* One intent's outcome in ib_publish_many(). */
struct ib_publish_result {
    enum ib_err err;        /* IB_OK: published, or replayed (its key was used before) */
    char id[IB_ID_MAX + 1]; /* with IB_OK */
    bool replayed;
    char code[48];     /* otherwise the server's error code ("invalid_goal") */
    char message[160]; /* and message */
};

/* Publishes count (1 to IB_BATCH_MAX) intents in one request and one
 * transaction; each intent's idempotency_key travels with it. IB_OK: the
 * server answered every item, results[i] says what became of intents[i]
 * (some may have failed on their own). Any other error: the request as a
 * whole failed (nothing was published) and results are not set. */
enum ib_err ib_publish_many(struct ib_client *client, const struct ib_publish *intents,
                            size_t count, struct ib_publish_result *results);

/* Claims up to max (1 to IB_BATCH_MAX) intents at once, each with its own
 * claim token and lease; with request->wait_seconds it returns as soon as
 * at least one is there. IB_OK: *jobs is an array of *count (>= 1) jobs,
 * free it with ib_jobs_free(). IB_ERR_EMPTY: nothing eligible. */
enum ib_err ib_claim_many(struct ib_client *client, const struct ib_claim *request, unsigned max,
                          struct ib_job ***jobs, size_t *count);

/* Frees the jobs of ib_claim_many() and the array; NULL is a no-op. */
void ib_jobs_free(struct ib_job **jobs, size_t count);

/* Extends the lease of a claimed intent to now + seconds (10-3600; 0: the
 * server's default, 60). On IB_OK writes the new lease end into
 * *claim_expires_at when it is not NULL. IB_ERR_NOT_FOUND means the lease is
 * lost for good: do not retry. */
enum ib_err ib_extend(struct ib_client *client, const char *id, const char *claim_token,
                      unsigned seconds, double *claim_expires_at);

/* Marks a claimed intent fulfilled. result: JSON text to store, or NULL for
 * none; result_type: "json", "text" (the result must then be a JSON string,
 * "\"done\"") or NULL (the server's default, "json"). IB_ERR_NOT_FOUND: the
 * lease is lost; do not retry. */
enum ib_err ib_fulfill(struct ib_client *client, const char *id, const char *claim_token,
                       const char *result, const char *result_type);

/* One fulfil of ib_fulfill_many(), with ib_fulfill()'s arguments. */
struct ib_fulfill_item {
    const char *id;
    const char *claim_token;
    const char *result;      /* JSON text, or NULL for none */
    const char *result_type; /* "json", "text" or NULL */
};

/* One item's outcome in ib_fulfill_many(). */
struct ib_fulfill_result {
    enum ib_err err;   /* IB_OK: fulfilled; IB_ERR_NOT_FOUND: the lease is lost */
    char code[48];     /* otherwise the server's error code ("not_found") */
    char message[160]; /* and message */
};

/* Fulfils count (1 to IB_BATCH_MAX) claimed intents in one request and one
 * transaction (docs/PROTOCOL-EXTENSIONS.md "Batch fulfil"). IB_OK: the
 * server answered every item and results[i] says what became of items[i]
 * (some may have failed on their own, as ib_fulfill() would). Any other
 * error: the request as a whole failed (nothing was fulfilled) and results
 * are not set. */
enum ib_err ib_fulfill_many(struct ib_client *client, const struct ib_fulfill_item *items,
                            size_t count, struct ib_fulfill_result *results);

enum ib_intent_status {
    IB_STATUS_UNKNOWN = 0, /* a status this library does not know */
    IB_STATUS_OPEN,
    IB_STATUS_CLAIMED,
    IB_STATUS_FULFILLED,
    IB_STATUS_DEAD,
};

/* "open", "claimed", "fulfilled", "dead" or "unknown"; never NULL. */
const char *ib_intent_status_name(enum ib_intent_status status);

/* What became of a failed intent. */
struct ib_fail_outcome {
    enum ib_intent_status status; /* IB_STATUS_OPEN (requeued) or IB_STATUS_DEAD */
    int claim_attempts;
    double run_at; /* when it can be claimed again; 0 when dead */
};

/* Fails a claimed intent with an error text (NULL: none); the bus requeues
 * it with backoff or moves it to dead. Fills *outcome when it is not NULL.
 * IB_ERR_NOT_FOUND: the lease is lost; do not retry. */
enum ib_err ib_fail(struct ib_client *client, const char *id, const char *claim_token,
                    const char *error, struct ib_fail_outcome *outcome);

/* GET /result/<id>: on IB_OK *response is the response's JSON text (free
 * with ib_free) and *status the intent's status (status may be NULL).
 * wait_seconds > 0 (0-60, sent as ?wait=N) asks the server to answer when
 * the intent is fulfilled or dead, or at the end of the wait with its
 * current state. IB_ERR_NOT_FOUND: no such intent, or not the caller's.
 * *response is NULL on any error. */
enum ib_err ib_result(struct ib_client *client, const char *id, unsigned wait_seconds,
                      char **response, enum ib_intent_status *status);

/* GET /status/<id>: like ib_result() without the result. */
enum ib_err ib_status(struct ib_client *client, const char *id, char **response,
                      enum ib_intent_status *status);

/* Stores a JSON value under key (keys are per API key) for ttl_seconds
 * (1-86400; 0: the server's default, 600). idempotency_key may be NULL. */
enum ib_err ib_set(struct ib_client *client, const char *key, const char *value,
                   unsigned ttl_seconds, const char *idempotency_key);

/* Reads a value: on IB_OK *value is its compact JSON text (free with
 * ib_free); IB_ERR_NOT_FOUND when absent or expired. */
enum ib_err ib_get(struct ib_client *client, const char *key, char **value);

/* Any request, for admin calls and endpoints this library has no function
 * for. method: uppercase ("GET", "POST"); path_and_query: "/admin/stats",
 * already percent-encoded; body: JSON text sent as is, or NULL. The
 * client's key, admin token and signature are sent as for every call.
 * Whenever a response arrives, *status gets its HTTP status and *response
 * its body ("" when empty; free with ib_free), whatever the status: the
 * return value is IB_OK for any 2xx (204 included), else the error the
 * status and error body map to. Either out pointer may be NULL. */
enum ib_err ib_request(struct ib_client *client, const char *method, const char *path_and_query,
                       const char *body, long *status, char **response);

/* Recurring schedules (docs/PROTOCOL-EXTENSIONS.md, "Recurring
 * schedules"). Each gives the server's JSON answer in *response (free with
 * ib_free; response may be NULL when not wanted). A refused definition is
 * IB_ERR_INVALID_FIELD with its code (invalid_cron, invalid_timezone...)
 * in ib_last_error_code(); another key's schedule is IB_ERR_NOT_FOUND. */

/* POST /schedules with definition_json, the JSON object {"name", "cron" or
 * "every", "timezone", "intent", "overlap", "catch_up"}: creates the
 * schedule, or replaces the caller's schedule of that name. */
enum ib_err ib_schedule_put(struct ib_client *client, const char *definition_json,
                            char **response);
/* GET /schedules: {"schedules": [...]}, each with next_runs. */
enum ib_err ib_schedule_list(struct ib_client *client, char **response);
/* GET /schedules/<name>: the schedule with its recent_fires. */
enum ib_err ib_schedule_get(struct ib_client *client, const char *name, char **response);
/* POST /schedules/<name>/pause (paused true) or /resume (false). */
enum ib_err ib_schedule_pause(struct ib_client *client, const char *name, bool paused,
                              char **response);
/* DELETE /schedules/<name>. */
enum ib_err ib_schedule_delete(struct ib_client *client, const char *name);

#ifdef __cplusplus
}
#endif

#endif
