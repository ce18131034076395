/* The tester keys' request windows in PostgreSQL (store_ops.rate_take), so
 * that a key's limit holds across every node: an exact sliding window, a
 * row per counted request, at most `limit` rows per key. The key's
 * transaction-scoped advisory lock makes the count-then-insert atomic
 * across nodes; it is held until the writer's batch commits. */
#include <math.h>
#include <stdlib.h>

#include "store/postgres_internal.h"

struct rate_args {
    const char *principal;
    double now;
    int limit;
    double period;
    bool allowed;      /* out */
    double retry_after; /* out */
};

static enum bus_err rate_op(void *connection, void *arg)
{
    PGconn *conn = connection;
    struct rate_args *args = arg;
    char now[32], since[32];
    const char *lock[] = {args->principal};
    enum bus_err err = pg_exec(conn, "rate window lock",
                               "SELECT pg_advisory_xact_lock(hashtextextended('rate:' || $1, 0))",
                               1, lock, NULL);
    const char *forget[] = {args->principal, pg_double_param(args->now - args->period, since)};
    if (err == BUS_OK)
        err = pg_exec(conn, "rate window prune",
                      "DELETE FROM rate_hits WHERE principal = $1 AND at <= $2", 2, forget, NULL);
    PGresult *res = NULL;
    if (err == BUS_OK)
        err = pg_exec(conn, "rate window count",
                      "SELECT count(*), min(at) FROM rate_hits WHERE principal = $1", 1, lock,
                      &res);
    if (err != BUS_OK)
        return err;
    long taken = pg_long(res, 0, 0);
    double oldest = pg_double(res, 0, 1);
    PQclear(res);
    args->allowed = taken < args->limit;
    if (!args->allowed) {
        args->retry_after = isnan(oldest) ? args->period : oldest + args->period - args->now;
        return BUS_OK;
    }
    const char *hit[] = {args->principal, pg_double_param(args->now, now)};
    return pg_exec(conn, "rate window hit",
                   "INSERT INTO rate_hits (principal, at) VALUES ($1, $2)", 2, hit, NULL);
}

enum bus_err pg_rate_take(void *backend, const char *principal, double now, int limit,
                          double period, bool *allowed, double *retry_after)
{
    struct rate_args args = {principal, now, limit, period, true, 0};
    enum bus_err err = pg_write_as(backend, principal, rate_op, &args);
    *allowed = args.allowed;
    *retry_after = args.retry_after;
    return err;
}
