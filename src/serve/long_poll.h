/* Long-poll (docs/PROTOCOL-EXTENSIONS.md): POST /claim?wait=S and
 * GET /result/<id>?wait=S. A request that would be answered "nothing yet"
 * is parked instead: it stays pending (it holds no thread) and a
 * single dispatcher thread answers it the moment the bus reports an intent
 * it could claim, or its intent settled, or its deadline passed. Waiting
 * workers are served longest-waiting first. */
#ifndef SERVE_LONG_POLL_H
#define SERVE_LONG_POLL_H

#include <stdbool.h>

#include "bus/bus.h"
#include "serve/request.h"

#define LONG_POLL_MAX_WAIT 60.0

struct long_poll;
struct waiter;

/* Starts the dispatcher and subscribes it to the bus's events. NULL when
 * the thread cannot be started. */
struct long_poll *long_poll_start(struct server *server);

/* Answers every parked request (a claim with 204, a result with its current
 * state), resumes them, and stops the dispatcher; later requests are not
 * parked. Call before the HTTP layer stops, so their answers are sent. */
void long_poll_stop(struct long_poll *poll);

/* Frees what long_poll_stop left, once no request can reach the bus. */
void long_poll_free(struct long_poll *poll);

/* Reads `wait` from the query string: 0 when absent; false (and a 400 in
 * response) when it is not a number from 0 to 60. */
bool long_poll_read_wait(const struct http_request *request, double *wait,
                         struct http_response *response);

/* An event counter: read it before the first attempt, pass it when parking,
 * so an event between the two is not missed. */
unsigned long long_poll_sequence(struct long_poll *poll);

/* A claim with wait= comes in two steps. The handler makes its waiter
 * (copies of the filters; the deadline runs from now) along with the
 * claim's write; if the write finds nothing, the HTTP glue parks the
 * waiter: it stays pending and the dispatcher answers it.
 * NULL when out of memory. */
struct waiter *long_poll_claim_waiter(const struct http_request *request,
                                      const struct claim_params *params, double wait);

/* Parks a claim's waiter. False while the server stops: the waiter is
 * freed, and the caller answers 204 now. */
bool long_poll_park_claim(struct long_poll *poll, struct waiter *waiter, unsigned long sequence);

/* Parks a result read whose intent has not settled. */
void long_poll_park_result(struct long_poll *poll, struct http_request *request, double wait,
                           unsigned long sequence, struct http_response *response);

/* For the HTTP glue, once a parked request is resumed: its answer (the
 * waiter keeps ownership of the body) and when it was parked. */
struct http_response *waiter_response(struct waiter *waiter);
double waiter_parked_at(const struct waiter *waiter);
const char *waiter_who(const struct waiter *waiter);
void waiter_free(struct waiter *waiter);

/* How many claims and result reads are parked now, for /metrics. */
void long_poll_waiting(struct long_poll *poll, size_t *claims, size_t *results);

#endif
