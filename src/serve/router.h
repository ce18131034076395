/* Routing: method and path to handler, and the checks every request passes
 * on its way there (size, authentication, JSON body, lazy housekeeping). */
#ifndef SERVE_ROUTER_H
#define SERVE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "serve/request.h"

#define REQUEST_BODY_MAX 8192
/* POST /intents carries up to 100 intents (docs/PROTOCOL-EXTENSIONS.md). */
#define REQUEST_BATCH_BODY_MAX (1024 * 1024)

struct server;
struct net_request;

/* The body as received; too_large when it passed REQUEST_BODY_MAX (the
 * excess is not kept). */
struct request_body {
    const char *data;
    size_t size;
    bool too_large;
    size_t limit; /* router_body_limit's */
};

/* The largest body a request to path may carry: REQUEST_BODY_MAX but for
 * the batch publish. */
size_t router_body_limit(const char *method, const char *path);

/* The route table, for labels in /metrics. */
int router_route_count(void);
/* "/fulfill/{id}", "/admin/intents/{id}/retry" ... */
void router_route_label(int index, char *out, size_t size);
const char *router_route_method(int index);

/* Counts and logs an answered request (router_dispatch does it itself,
 * except for parked long-polls and suspended writes, which the glue
 * reports when answered).
 * who: the caller's label, NULL when no longer known. */
void router_observe(struct server *server, struct net_request *exchange, const char *method,
                    const char *path, unsigned status, double seconds, const char *who);
/* The same for a parked long-poll answered at last: seconds is its wait,
 * kept out of the request-latency histogram. */
void router_observe_wait(struct server *server, struct net_request *exchange,
                         const char *method, const char *path, unsigned status, double seconds,
                         const char *who);

/* Who sent the request: the peer's address, or the first X-Forwarded-For
 * hop when BUS_TRUST_PROXY says the peer is our proxy ("-" if unknown). */
void router_client_address(struct server *server, struct net_request *exchange, char *out,
                           size_t size);

/* Answers one request into *response (whose body the caller frees), or
 * leaves it suspended (a long-poll) or writing (a write to commit first);
 * or, when may_offload, offloaded: a route whose handler waits for the
 * writer or scans the database is left in response->offloaded, for the
 * glue to run on the offload thread (serve/offload.h) with
 * router_run_offloaded. */
void router_dispatch(struct server *server, struct net_request *exchange, const char *method,
                     const char *path, const struct request_body *body, bool may_offload,
                     struct http_response *response);

struct router_offload;

/* Runs the offloaded request's pipeline into *response (as router_dispatch
 * would have, started and who set for the glue's count of the answer;
 * never offloaded again) and frees offload. Any thread. */
void router_run_offloaded(struct router_offload *offload, struct http_response *response);

#endif
