/* The PostgreSQL backend's attempt history: the listing of one intent's
 * attempts (migration 4). The rows are written by the claim and the lease
 * operations in postgres.c and postgres_cleanup.c, in their statements.
 * The claiming key's owner is joined, not copied: an api_keys row keeps its
 * owner for good, a revoked key too. */
#include <string.h>

#include "store/postgres_rows.h"

/* The end time and outcome of attempt a of intent i: a fulfil leaves its
 * attempt's row open, and the intent says how and when it ended. */
#define ATTEMPT_ENDED_SQL                                                                          \
    " COALESCE(a.ended_at, CASE WHEN i.status = 'fulfilled' THEN i.completed_at END)"
#define ATTEMPT_OUTCOME_SQL                                                                        \
    " COALESCE(a.outcome, CASE WHEN i.status = 'fulfilled' THEN 'fulfilled' END)"

/* The newest ATTEMPTS_LIST_MAX, given oldest first. */
static const char attempt_list_sql[] =
    "SELECT * FROM (SELECT a.attempt, a.worker_id, a.claimer, k.owner, a.claimed_at,"
    " a.lease_expires_at," ATTEMPT_ENDED_SQL ", " ATTEMPT_OUTCOME_SQL ", a.error FROM attempts a"
    " LEFT JOIN api_keys k ON k.key_hash = a.claimer"
    " LEFT JOIN intents i ON i.id = a.intent_id WHERE a.intent_id = $1"
    " ORDER BY a.attempt DESC LIMIT $2::integer) AS newest ORDER BY attempt";

struct attempt_rows {
    store_each_attempt each;
    void *context;
};

static void attempt_row(const PGresult *res, int row, void *context)
{
    struct attempt_rows *rows = context;
    struct intent_attempt attempt;
    memset(&attempt, 0, sizeof attempt);
    attempt.attempt = (int)pg_long(res, row, 0);
    pg_copy(res, row, 1, attempt.worker_id, sizeof attempt.worker_id);
    pg_copy(res, row, 2, attempt.claimer, sizeof attempt.claimer);
    pg_copy(res, row, 3, attempt.owner, sizeof attempt.owner);
    attempt.claimed_at = pg_double(res, row, 4);
    attempt.lease_expires_at = pg_double(res, row, 5);
    attempt.ended_at = pg_double(res, row, 6);
    pg_copy(res, row, 7, attempt.outcome, sizeof attempt.outcome);
    attempt.error_text = pg_dup(res, row, 8);
    rows->each(rows->context, &attempt);
    intent_attempt_clear(&attempt);
}

enum bus_err pg_attempt_list(void *backend, const char *id, store_each_attempt each, void *context)
{
    char limit[24];
    const char *params[] = {id, pg_long_param(ATTEMPTS_LIST_MAX, limit)};
    struct attempt_rows rows = {each, context};
    return pg_read_rows(backend, "attempt list", attempt_list_sql, PG_PARAM_COUNT(params), params,
                        attempt_row, &rows);
}
