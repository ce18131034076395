/* Per-key request rate limits (spec 11: 60 requests/minute per tester
 * key), as an exact sliding window: a key may make `limit` requests in any
 * `period` seconds. Kept in the store when it is shared by several nodes
 * (the limit then holds across all of them), else in memory: a restart
 * forgetting it errs on the side of the client. */
#ifndef AUTH_RATE_LIMIT_H
#define AUTH_RATE_LIMIT_H

#include <pthread.h>
#include <stdbool.h>

#include "core/intent.h"
#include "store/store.h"

/* Spec 11: tester keys get 60 requests a minute; the main key is exempt. */
#define TESTER_REQUESTS_PER_MINUTE 60

struct rate_window;

struct rate_limiter {
    pthread_mutex_t lock;
    int limit;
    double period;
    struct rate_window *windows; /* owned array */
    size_t count;
    size_t capacity;
    struct store *store; /* borrowed; its rate_take, when it has one, decides */
};

void rate_limiter_init(struct rate_limiter *limiter, int limit, double period,
                       struct store *store);
void rate_limiter_destroy(struct rate_limiter *limiter);

/* Counts one request of principal at now. False when it is over the limit;
 * then *retry_after is the seconds until one more would be allowed. */
bool rate_limit_take(struct rate_limiter *limiter, const char *principal, double now,
                     double *retry_after);

/* Forgets a principal's window (its key was revoked). */
void rate_limit_forget(struct rate_limiter *limiter, const char *principal);

/* Drops windows idle for a whole period; returns how many. */
long rate_limit_prune(struct rate_limiter *limiter, double now);

#endif
