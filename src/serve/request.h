/* One HTTP request as the handlers see it, and the response they fill.
 * The HTTP glue (serve/http.c) owns both; handlers only read and fill. */
#ifndef SERVE_REQUEST_H
#define SERVE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "bus/bus.h"
#include "core/errors.h"
#include "core/intent.h"

struct server;
struct net_request;

struct http_request {
    struct server *server;
    struct net_request *exchange; /* the HTTP layer's handle (net/net.h) */
    const char *method;
    const char *path;
    const char *param; /* the <id> or <key> path segment, NULL for fixed paths */
    json_t *json;      /* the parsed body; NULL when the body was empty */
    struct principal caller;
    bool by_admin;     /* a key-or-admin route called with admin credentials, no key */
    /* A signed request's nonce, verified but not yet recorded (ACCESS_WRITE
     * routes: signing_record_nonce does it after the handler), and the time
     * the signature was checked. */
    const char *signed_nonce;
    double signed_at;
};

struct http_response {
    unsigned status;
    char *body;        /* owned JSON text; NULL for 204 */
    unsigned retry_after;   /* seconds for a Retry-After header; 0 = none */
    const char *allow;      /* Allow header for 405 */
    bool ask_for_password;  /* WWW-Authenticate: Basic, on admin 401s */
    const char *content_type; /* NULL = application/json */
    const char *content_security_policy; /* NULL = none */
    bool body_is_static;    /* body points at static data: do not free */
    struct waiter *suspended; /* parked by long-poll: answered later, not now */
    /* A write left to commit before the answer: the glue suspends the
     * connection, submits it, and answers once it is committed; it owns
     * the call from then on. started and who are set with it (by the
     * router), for the metrics and log line of that later answer. */
    struct bus_call *writing;
    /* The answer above is ready, and `writing` only records the signed
     * request's nonce: the glue sends it once that is committed, or the
     * replay's 403 instead (signing_record_nonce). */
    bool ready_but_nonce;
    /* A claim with wait=: the waiter to park if the write finds nothing
     * (owned by the glue with the write), and the event count read before
     * the write. */
    struct waiter *then_park;
    unsigned long park_sequence;
    /* To run on the offload thread (router_run_offloaded); the glue owns it. */
    struct router_offload *offloaded;
    double started;
    char who[sizeof((struct principal *)0)->label];
};

/* A header's value, or NULL. */
const char *request_header(const struct http_request *request, const char *name);

/* A query parameter's value, or NULL. */
const char *request_query(const struct http_request *request, const char *name);

/* Retry-After of the answers to a storage fault (full disk, read-only file
 * system, I/O error). */
#define STORAGE_RETRY_AFTER_SECONDS 30
/* database_busy: contention, or a PostgreSQL server restarting. */
#define DATABASE_BUSY_RETRY_AFTER_SECONDS 1

/* Fills response with status and body, compact; takes body (NULL, from a
 * failed json_pack, leaves no body: the glue then answers 500). */
void response_json(struct http_response *response, unsigned status, json_t *body);

/* Fills response with the error body of spec section 10. */
void response_error(struct http_response *response, const struct bus_error *error);

/* Fills response with an error body whose status and code are not a bus
 * error's (the HTTP edge's own refusals). Returns true. */
bool response_refuse(struct http_response *response, unsigned status, const char *code,
                     const char *message_format, ...) __attribute__((format(printf, 4, 5)));

/* Fills response from the result of a bus operation: the reply on BUS_OK,
 * 204 + Retry-After on BUS_ERR_EMPTY, the error body otherwise. Takes the
 * reply's body. */
void response_from_bus(struct http_response *response, enum bus_err err, struct bus_reply *reply,
                       const struct bus_error *error);

/* Leaves a begun call (bus.h) in response->writing: the HTTP glue
 * suspends the connection until its write is committed, so no request
 * thread waits for the writer (docs/ARCHITECTURE.md). A begin that failed
 * (begun != BUS_OK) gets its error body instead. */
void response_leave_write(struct http_response *response, enum bus_err begun, struct bus_call *call,
                          const struct bus_error *error);

#endif
