/* The housekeeping duties of spec section 11, as the bus runs them: lazy,
 * triggered by request traffic (bus/housekeeping.h says when), but queued
 * to the store's writer with no one waiting, so that the request that
 * happens to trigger a duty is not held up by it, nor, on its thread, are
 * the other connections. What a duty did is counted when it is over, on
 * the writer's thread. An admin's cleanup (bus_run_cleanup) waits: it
 * answers with what the pass did. */
#include <stdio.h>
#include <stdlib.h>

#include "bus/bus.h"

void bus_count_tallies(struct bus *bus, const struct goal_tallies *tallies, double now)
{
    for (size_t i = 0; i < tallies->count; i++) {
        const struct goal_tally *row = &tallies->rows[i];
        struct goal_series *series = goal_stats_series(bus->goals, row->namespace_, row->goal);
        long expired = row->lease_requeued + row->lease_dead;
        for (long n = 0; n < expired; n++) {
            goal_series_count(series, GOAL_LEASE_EXPIRED);
            /* A lapsed lease is an attempt that failed: the charts count it so. */
            minute_ring_count(bus->minutes, MINUTE_FAILED, now);
        }
        for (long n = 0; n < row->lease_dead + row->cancelled; n++)
            goal_series_count(series, GOAL_DEAD);
    }
}

/* Counts a cleanup pass that ended with err. */
static enum bus_err count_cleanup(struct bus *bus, enum bus_err err,
                                  const struct cleanup_stats *stats, double now)
{
    atomic_fetch_add(&bus->counters.cleanup_runs, 1);
    if (err != BUS_OK) {
        atomic_fetch_add(&bus->counters.cleanup_failures, 1);
        return err;
    }
    unsigned long expired =
        (unsigned long)(stats->expired_claims_requeued + stats->expired_claims_dead);
    atomic_fetch_add(&bus->counters.lease_expiries, expired);
    atomic_fetch_add(&bus->counters.retries, (unsigned long)stats->expired_claims_requeued);
    atomic_fetch_add(&bus->counters.dead_letters[DEAD_LEASE_EXPIRED],
                     (unsigned long)stats->expired_claims_dead);
    bus_count_tallies(bus, &stats->goals, now);
    return BUS_OK;
}

enum bus_err bus_run_cleanup(struct bus *bus, double now, struct cleanup_stats *stats)
{
    enum bus_err err =
        bus->store->ops->cleanup(bus->store->backend, now, bus->settings.retention_seconds, stats);
    return count_cleanup(bus, err, stats, now);
}

/* A duty on its way through the writer: the store's arguments and results. */
struct housekeeping_job {
    struct bus *bus;
    union {
        struct store_sweep_call sweep;
        struct store_cleanup_call pass;
    };
};

/* The writer's callback of a sweep. The job is freed before the bus hears
 * it is over: bus_destroy may go on from then. */
static void sweep_over(void *context, enum bus_err result)
{
    struct housekeeping_job *job = context;
    struct bus *bus = job->bus;
    if (result != BUS_OK) {
        fprintf(stderr, "intent-bus: lease sweep failed; retrying on later traffic\n");
    } else {
        bus_count_tallies(bus, &job->sweep.goals, job->sweep.now);
        atomic_fetch_add(&bus->counters.lease_expiries, (unsigned long)job->sweep.dead_count);
        atomic_fetch_add(&bus->counters.dead_letters[DEAD_LEASE_EXPIRED],
                         (unsigned long)job->sweep.dead_count);
    }
    goal_tallies_clear(&job->sweep.goals);
    free(job);
    housekeeping_sweep_done(&bus->housekeeping);
}

static void cleanup_over(void *context, enum bus_err result)
{
    struct housekeeping_job *job = context;
    struct bus *bus = job->bus;
    double taken = job->pass.now;
    enum bus_err err = count_cleanup(bus, result, &job->pass.stats, taken);
    if (err != BUS_OK)
        fprintf(stderr, "intent-bus: cleanup failed (%s); retrying in %.0f s\n", bus_err_code(err),
                HOUSEKEEPING_RETRY_AFTER_FAILURE);
    goal_tallies_clear(&job->pass.stats.goals);
    free(job);
    housekeeping_cleanup_done(&bus->housekeeping, err == BUS_OK, taken);
}

static void start_sweep(struct bus *bus, double now)
{
    struct housekeeping_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        fprintf(stderr, "intent-bus: lease sweep skipped: out of memory\n");
        housekeeping_sweep_done(&bus->housekeeping);
        return;
    }
    job->bus = bus;
    job->sweep.now = now;
    enum bus_err err =
        bus->store->ops->sweep_submit(bus->store->backend, &job->sweep, sweep_over, job);
    if (err != BUS_OK)
        sweep_over(job, err);
}

static void start_cleanup(struct bus *bus, double now)
{
    struct housekeeping_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        fprintf(stderr, "intent-bus: cleanup skipped: out of memory\n");
        housekeeping_cleanup_done(&bus->housekeeping, false, now);
        return;
    }
    job->bus = bus;
    job->pass.now = now;
    job->pass.retention_seconds = bus->settings.retention_seconds;
    enum bus_err err =
        bus->store->ops->cleanup_submit(bus->store->backend, &job->pass, cleanup_over, job);
    if (err != BUS_OK)
        cleanup_over(job, err);
}

void bus_housekeeping(struct bus *bus, double now)
{
    struct housekeeping_due due = housekeeping_take(&bus->housekeeping, now);
    if (due.sweep)
        start_sweep(bus, now);
    if (due.cleanup)
        start_cleanup(bus, now);
}
