/* Per-goal counters and the queue-wait and run-time histograms of /metrics,
 * one series per namespace and goal. Clients choose goals, so the number
 * of series is capped: past GOAL_SERIES_MAX distinct pairs, the rest share
 * one series labelled namespace="_other", goal="_other". */
#ifndef BUS_GOAL_STATS_H
#define BUS_GOAL_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/intent.h"
#include "util/histogram.h"

#define GOAL_SERIES_MAX 200
#define GOAL_OTHER "_other"

enum goal_counter {
    GOAL_PUBLISHED,
    GOAL_CLAIMED,
    GOAL_FULFILLED,
    GOAL_FAILED,        /* a worker's /fail, requeued or not */
    GOAL_DEAD,          /* moved to the dead-letter table: a worker's last /fail, a lapsed
                         * lease with no attempts left, an admin's cancel */
    GOAL_RECLAIMED,     /* a claim took back a lapsed lease */
    GOAL_LEASE_EXPIRED, /* the sweep or cleanup found a lapsed lease (requeued or dead) */
    GOAL_COUNTER_COUNT
};

struct goal_series {
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
    atomic_ulong counters[GOAL_COUNTER_COUNT];
    struct histogram queue_wait; /* claimable -> claimed, job_bounds */
    struct histogram run_time;   /* claimed -> fulfilled or failed, job_bounds */
};

#define GOAL_TABLE_SLOTS 512 /* open addressing, over twice GOAL_SERIES_MAX */

struct goal_stats {
    pthread_mutex_t lock;          /* guards adding a series; counts are atomic */
    atomic_size_t count;           /* series in use, the _other one not included */
    short slots[GOAL_TABLE_SLOTS]; /* index + 1 into series, 0 = empty */
    struct goal_series other;
    struct goal_series series[GOAL_SERIES_MAX];
};

/* NULL when out of memory (the bus then keeps no per-goal series). */
struct goal_stats *goal_stats_new(void);
void goal_stats_free(struct goal_stats *stats);

/* The series of namespace_/goal, added on first sight, or the _other one
 * when the cap is reached. stats may be NULL (then NULL). */
struct goal_series *goal_stats_series(struct goal_stats *stats, const char *namespace_,
                                      const char *goal);

void goal_series_count(struct goal_series *series, enum goal_counter counter);
void goal_series_wait(struct goal_series *series, double seconds);
void goal_series_run(struct goal_series *series, double seconds);

/* Calls each(context, series) for every series in use, _other last when
 * it has seen anything. */
void goal_stats_each(struct goal_stats *stats, void (*each)(void *, const struct goal_series *),
                     void *context);

#endif
