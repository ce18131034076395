/* The PostgreSQL backend's housekeeping: dead-lettering lapsed leases with
 * no attempts left (every second) and the full cleanup pass of spec
 * section 11. Every node runs them; rows another node's transaction holds
 * are skipped (SKIP LOCKED), not waited for: that node settles them, or
 * the next pass does. */
#include <stdlib.h>
#include <string.h>

#include "core/backoff.h"
#include "store/postgres_internal.h"

/* Longer than the tester limit's one-minute window. */
#define RATE_HITS_KEEP_SECONDS 3600.0

/* Leases settled per pass and kind: a backlog takes several passes, each
 * a bounded transaction. */
#define EXPIRED_LEASES_PER_PASS "1024"

/* Rows a command changed. */
static long changed(PGresult *res)
{
    long count = strtol(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return count;
}

/* Dead-letters, in one statement, up to a pass's worth of claimed intents
 * whose lease ended by $1 with no attempts left, ending their attempts;
 * the letters written give each one's goal. */
static enum bus_err kill_exhausted(PGconn *conn, double now, long *count,
                                   struct goal_tallies *goals)
{
    char now_text[32];
    const char *params[] = {pg_double_param(now, now_text)};
    PGresult *res = NULL;
    *count = 0;
    enum bus_err err =
        pg_exec(conn, "lease sweep",
                "WITH lapsed AS (SELECT id FROM intents WHERE status = 'claimed'"
                " AND claim_expires_at <= $1::float8 AND claim_attempts >= max_attempts"
                " LIMIT " EXPIRED_LEASES_PER_PASS " FOR UPDATE SKIP LOCKED),"
                " closed AS (UPDATE attempts SET outcome = 'lease_expired',"
                " error = 'lease expired', ended_at = LEAST(lease_expires_at, $1::float8)"
                " FROM lapsed"
                " WHERE attempts.intent_id = lapsed.id AND attempts.outcome IS NULL),"
                " killed AS (UPDATE intents SET status = 'dead', last_error = 'lease expired',"
                " claim_token = NULL, claim_expires_at = NULL, updated_at = $1::float8 FROM lapsed"
                " WHERE intents.id = lapsed.id RETURNING intents.id, namespace, goal, payload,"
                " publisher, claim_attempts, max_attempts, last_error)"
                PG_ARCHIVE_KILLED("'lease_expired'", "$1::float8") " RETURNING namespace, goal",
                1, params, &res);
    if (err != BUS_OK)
        return err;
    for (int row = 0; err == BUS_OK && row < PQntuples(res); row++)
        err = goal_tallies_add(goals, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
                               TALLY_LEASE_DEAD);
    *count = err == BUS_OK ? PQntuples(res) : 0;
    PQclear(res);
    return err;
}

static enum bus_err sweep_op(void *connection, void *arg)
{
    struct store_sweep_call *call = arg;
    goal_tallies_reset(&call->goals);
    return kill_exhausted(connection, call->now, &call->dead_count, &call->goals);
}

enum bus_err pg_sweep_submit(void *backend, struct store_sweep_call *call, store_done_fn done,
                             void *context)
{
    return writer_submit(pg_writer_pick(backend, NULL), sweep_op, call, done, context);
}

/* Requeues, each with its own backoff, the lapsed leases that have
 * attempts left. */
static enum bus_err requeue_lapsed(PGconn *conn, double now, struct cleanup_stats *stats)
{
    char now_text[32];
    const char *params[] = {pg_double_param(now, now_text)};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "expired lease scan",
                               "SELECT id, claim_attempts, backoff_base, namespace, goal"
                               " FROM intents"
                               " WHERE status = 'claimed' AND claim_expires_at <= $1::float8"
                               " AND claim_attempts < max_attempts"
                               " LIMIT " EXPIRED_LEASES_PER_PASS " FOR UPDATE SKIP LOCKED",
                               1, params, &res);
    if (err != BUS_OK)
        return err;
    for (int row = 0; err == BUS_OK && row < PQntuples(res); row++) {
        double delay = backoff_delay(pg_double(res, row, 2), (int)pg_long(res, row, 1),
                                     backoff_random_jitter());
        err = pg_requeue_intent(conn, PQgetvalue(res, row, 0), "lease_expired", "lease expired",
                                now + delay, now);
        if (err == BUS_OK)
            err = goal_tallies_add(&stats->goals, PQgetvalue(res, row, 3),
                                   PQgetvalue(res, row, 4), TALLY_LEASE_REQUEUED);
        if (err == BUS_OK)
            stats->expired_claims_requeued++;
    }
    PQclear(res);
    return err;
}

/* Runs one DELETE with its cut-off time and adds the rows removed. */
static enum bus_err delete_before(PGconn *conn, const char *sql, double cutoff, long *counter)
{
    char cutoff_text[32];
    const char *params[] = {pg_double_param(cutoff, cutoff_text)};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(conn, "cleanup delete", sql, 1, params, &res);
    if (err == BUS_OK)
        *counter += changed(res);
    return err;
}

static enum bus_err cleanup_op(void *connection, void *arg)
{
    PGconn *conn = connection;
    struct store_cleanup_call *call = arg;
    double now = call->now;
    double retained_since = now - call->retention_seconds;
    struct cleanup_stats *stats = &call->stats;
    struct goal_tallies goals = stats->goals;
    memset(stats, 0, sizeof *stats);
    stats->goals = goals;
    goal_tallies_reset(&stats->goals);
    enum bus_err err = delete_before(
        conn, "DELETE FROM intents WHERE status = 'open' AND expires_at <= $1::float8", now,
        &stats->expired_open_deleted);
    if (err == BUS_OK)
        err = kill_exhausted(conn, now, &stats->expired_claims_dead, &stats->goals);
    if (err == BUS_OK)
        err = requeue_lapsed(conn, now, stats);
    if (err == BUS_OK)
        err = delete_before(
            conn, "DELETE FROM intents WHERE status = 'fulfilled' AND updated_at <= $1::float8",
            retained_since, &stats->fulfilled_deleted);
    if (err == BUS_OK)
        err = delete_before(
            conn, "DELETE FROM intents WHERE status = 'dead' AND updated_at <= $1::float8",
            retained_since, &stats->dead_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, "DELETE FROM dead_letters WHERE died_at <= $1::float8",
                            retained_since, &stats->dead_letters_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, "DELETE FROM kv WHERE expires_at <= $1::float8", now,
                            &stats->store_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, "DELETE FROM idempotency WHERE created_at <= $1::float8",
                            now - IDEMPOTENCY_RETENTION_SECONDS, &stats->idempotency_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, "DELETE FROM nonces WHERE seen_at <= $1::float8",
                            now - NONCE_RETENTION_SECONDS, &stats->nonces_deleted);
    /* Request windows of keys that went quiet (a key's own requests prune
     * the rest): older than any window the limit looks at. */
    long windows_deleted = 0;
    if (err == BUS_OK)
        err = delete_before(conn, "DELETE FROM rate_hits WHERE at <= $1::float8",
                            now - RATE_HITS_KEEP_SECONDS, &windows_deleted);
    return err;
}

enum bus_err pg_cleanup(void *backend, double now, double retention_seconds,
                        struct cleanup_stats *stats)
{
    struct store_cleanup_call call = {
        .now = now, .retention_seconds = retention_seconds, .stats = *stats};
    enum bus_err err = pg_write(backend, cleanup_op, &call);
    *stats = call.stats;
    return err;
}

enum bus_err pg_cleanup_submit(void *backend, struct store_cleanup_call *call, store_done_fn done,
                               void *context)
{
    return writer_submit(pg_writer_pick(backend, NULL), cleanup_op, call, done, context);
}
