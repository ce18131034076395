/* GET /metrics: Prometheus text format (spec section 8 plus what an operator
 * needs). HTTP request counts and latencies are recorded here by the
 * router; the bus and the store keep their own counters, read when
 * rendering. */
#ifndef SERVE_METRICS_H
#define SERVE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>

#include "util/histogram.h"

#define METRICS_ROUTE_SLOTS 64 /* routes + one for "no route" */
#define METRICS_STATUS_SLOTS 14

struct http_metrics {
    atomic_ulong requests[METRICS_ROUTE_SLOTS][METRICS_STATUS_SLOTS];
    struct histogram durations[METRICS_ROUTE_SLOTS];
    struct histogram waits[METRICS_ROUTE_SLOTS]; /* parked long-polls, job bounds */
    double started_at;
};

struct http_request;
struct http_response;

void http_metrics_init(struct http_metrics *metrics, double now);

/* Counts one answered request; route is the route's index, or -1. A
 * long-poll that waited has its wait kept apart from request latencies. */
void http_metrics_record(struct http_metrics *metrics, int route, unsigned status,
                         double seconds, bool waited);

/* The handler of GET /metrics (credentials already checked). */
void handle_metrics(struct http_request *request, struct http_response *response);

#endif
