/* The PostgreSQL backend's tester keys and admin operations (spec section
 * 8), with the SQLite backend's semantics (sqlite_admin.c). They run
 * rarely: plain statements with text parameters, no prepared ones. Reads
 * use the pool; writes go through the writer like every other write. Dead
 * letters are in postgres_dead.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres_rows.h"

/* ---- tester keys -------------------------------------------------------- */

struct key_args {
    const char *key_hash;
    const char *owner_in;
    char *owner_out;
    double now;
};

static enum bus_err key_create_op(void *connection, void *arg)
{
    struct key_args *args = arg;
    char now[32];
    const char *params[] = {args->key_hash, args->owner_in, pg_double_param(args->now, now)};
    return pg_run(connection, "key insert",
                  "INSERT INTO api_keys (key_hash, owner, created_at) VALUES ($1, $2, $3)",
                  PG_PARAM_COUNT(params), params, NULL);
}

enum bus_err pg_key_create(void *backend, const char *key_hash, const char *owner, double now)
{
    struct key_args args = {key_hash, owner, NULL, now};
    return pg_write(backend, key_create_op, &args);
}

/* One statement finds and revokes the key, so two nodes revoking it at
 * once cannot both succeed: the second waits for the first's row lock and
 * then sees it revoked. */
static enum bus_err key_revoke_op(void *connection, void *arg)
{
    struct key_args *args = arg;
    char now[32];
    const char *params[] = {args->key_hash, pg_double_param(args->now, now)};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(connection, "key revoke",
                               "UPDATE api_keys SET revoked_at = $2"
                               " WHERE key_hash = $1 AND revoked_at IS NULL RETURNING owner",
                               PG_PARAM_COUNT(params), params, &res);
    if (err != BUS_OK)
        return err;
    bool found = PQntuples(res) == 1;
    if (found)
        pg_copy(res, 0, 0, args->owner_out, OWNER_MAX_BYTES + 1);
    PQclear(res);
    if (!found)
        return BUS_ERR_NOT_FOUND;
    /* a principal is the key's hash */
    err = pg_run(connection, "key revoke", "DELETE FROM idempotency WHERE principal = $1", 1,
                 params, NULL);
    if (err == BUS_OK)
        err = pg_run(connection, "key revoke", "DELETE FROM nonces WHERE principal = $1", 1, params,
                     NULL);
    return err;
}

enum bus_err pg_key_revoke(void *backend, const char *key_hash, double now,
                           char owner[OWNER_MAX_BYTES + 1])
{
    struct key_args args = {key_hash, NULL, owner, now};
    return pg_write(backend, key_revoke_op, &args);
}

struct key_rows {
    store_each_key each;
    void *context;
};

static void key_row(const PGresult *res, int row, void *context)
{
    struct key_rows *rows = context;
    struct api_key_record key;
    pg_copy(res, row, 0, key.key_hash, sizeof key.key_hash);
    pg_copy(res, row, 1, key.owner, sizeof key.owner);
    key.created_at = pg_double(res, row, 2);
    key.revoked_at = pg_double(res, row, 3);
    key.open_intents = pg_long(res, row, 4);
    rows->each(rows->context, &key);
}

enum bus_err pg_key_list(void *backend, store_each_key each, void *context)
{
    struct key_rows rows = {each, context};
    return pg_read_rows(backend, "key list",
                        "SELECT k.key_hash, k.owner, k.created_at, k.revoked_at,"
                        " (SELECT COUNT(*) FROM intents i WHERE i.publisher = k.key_hash"
                        "  AND i.status = 'open')"
                        " FROM api_keys k ORDER BY k.created_at DESC",
                        0, NULL, key_row, &rows);
}

struct key_match {
    char key_hash[PRINCIPAL_LEN + 1];
    int count;
};

static void key_match_row(const PGresult *res, int row, void *context)
{
    struct key_match *match = context;
    if (match->count++ == 0)
        pg_copy(res, row, 0, match->key_hash, sizeof match->key_hash);
}

/* starts_with, not LIKE: the prefix is the caller's text. */
enum bus_err pg_key_find(void *backend, const char *prefix, char key_hash[PRINCIPAL_LEN + 1])
{
    struct key_match match = {{0}, 0};
    const char *params[] = {prefix};
    enum bus_err err = pg_read_rows(backend, "key find",
                                    "SELECT key_hash FROM api_keys WHERE revoked_at IS NULL"
                                    " AND starts_with(key_hash, $1::text) LIMIT 2",
                                    PG_PARAM_COUNT(params), params, key_match_row, &match);
    if (err == BUS_OK && match.count != 1)
        return BUS_ERR_NOT_FOUND;
    if (err == BUS_OK)
        snprintf(key_hash, PRINCIPAL_LEN + 1, "%s", match.key_hash);
    return err;
}

/* ---- queue views -------------------------------------------------------- */

/* Text is ordered COLLATE "C" (by bytes, as SQLite does): the database's
 * own collation is whatever its creator chose, and a listing's order (and
 * which rows a LIMIT keeps) must not depend on it. */

struct count_rows {
    store_each_count each;
    void *context;
};

static void count_row(const PGresult *res, int row, void *context)
{
    struct count_rows *rows = context;
    rows->each(rows->context, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
               pg_long(res, row, 2));
}

static void single_count(const PGresult *res, int row, void *context)
{
    *(long *)context = pg_long(res, row, 0);
}

enum bus_err pg_queue_counts(void *backend, double now, store_each_count each, void *context,
                             struct queue_totals *totals)
{
    struct count_rows rows = {each, context};
    memset(totals, 0, sizeof *totals);
    char now_text[32];
    const char *params[] = {pg_double_param(now, now_text)};
    enum bus_err err = pg_read_rows(
        backend, "queue counts",
        "SELECT namespace COLLATE \"C\" AS namespace, (CASE WHEN status = 'claimed'"
        " AND claim_expires_at <= $1::float8 THEN 'expired' ELSE status END) COLLATE \"C\""
        " AS state, COUNT(*) FROM intents GROUP BY namespace, state ORDER BY namespace, state",
        PG_PARAM_COUNT(params), params, count_row, &rows);
    if (err == BUS_OK)
        err = pg_read_rows(backend, "queue counts", "SELECT COUNT(*) FROM dead_letters", 0, NULL,
                           single_count, &totals->dead_letters);
    if (err == BUS_OK)
        err = pg_read_rows(backend, "queue counts",
                           "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL", 0, NULL,
                           single_count, &totals->active_keys);
    return err;
}

struct oldest_rows {
    store_each_oldest each;
    void *context;
};

static void oldest_row(const PGresult *res, int row, void *context)
{
    struct oldest_rows *rows = context;
    rows->each(rows->context, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
               pg_double(res, row, 2));
}

/* The status IN (...) term matches the claim index's predicate, so the
 * open rows are read through it rather than the whole history. */
enum bus_err pg_oldest_open(void *backend, double now, int limit, store_each_oldest each,
                            void *context)
{
    struct oldest_rows rows = {each, context};
    char limit_text[24], now_text[32];
    const char *params[] = {pg_long_param(limit, limit_text), pg_double_param(now, now_text)};
    return pg_read_rows(backend, "oldest open",
                        "SELECT namespace, goal, MIN(run_at) AS since FROM intents"
                        " WHERE status IN ('open','claimed') AND status = 'open'"
                        " AND run_at <= $2::float8"
                        " GROUP BY namespace, goal ORDER BY since LIMIT $1::integer",
                        PG_PARAM_COUNT(params), params, oldest_row, &rows);
}

struct goal_count_rows {
    store_each_goal_count each;
    void *context;
};

static void goal_count_row(const PGresult *res, int row, void *context)
{
    struct goal_count_rows *rows = context;
    rows->each(rows->context, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
               PQgetvalue(res, row, 2), pg_long(res, row, 3), pg_double(res, row, 4));
}

/* Ordered by state too: SQLite's grouping returns the groups so. */
enum bus_err pg_goal_counts(void *backend, double now, int limit, store_each_goal_count each,
                            void *context)
{
    struct goal_count_rows rows = {each, context};
    char limit_text[24], now_text[32];
    const char *params[] = {pg_long_param(limit, limit_text), pg_double_param(now, now_text)};
    return pg_read_rows(
        backend, "goal counts",
        "SELECT namespace COLLATE \"C\" AS namespace, goal COLLATE \"C\" AS goal, (CASE"
        " WHEN status = 'claimed' AND claim_expires_at <= $2::float8 THEN 'expired'"
        " WHEN status = 'open' AND run_at > $2::float8 THEN 'scheduled' ELSE status END)"
        " COLLATE \"C\" AS state,"
        " COUNT(*), MIN(CASE WHEN status = 'open' AND run_at <= $2::float8 THEN run_at END)"
        " FROM intents GROUP BY namespace, goal, state ORDER BY namespace, goal, state"
        " LIMIT $1::integer",
        PG_PARAM_COUNT(params), params, goal_count_row, &rows);
}

struct worker_lease_rows {
    store_each_worker_leases each;
    void *context;
};

static void worker_lease_row(const PGresult *res, int row, void *context)
{
    struct worker_lease_rows *rows = context;
    rows->each(rows->context, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
               pg_long(res, row, 2), pg_long(res, row, 3));
}

/* Claimed rows only (the lease index), never the history. */
enum bus_err pg_worker_leases(void *backend, double now, store_each_worker_leases each,
                              void *context)
{
    struct worker_lease_rows rows = {each, context};
    char now_text[32];
    const char *params[] = {pg_double_param(now, now_text)};
    return pg_read_rows(backend, "worker leases",
                        "SELECT COALESCE(worker_id, '') COLLATE \"C\", claimed_by,"
                        " COUNT(*) FILTER (WHERE claim_expires_at > $1::float8),"
                        " COUNT(*) FILTER (WHERE claim_expires_at <= $1::float8)"
                        " FROM intents WHERE status = 'claimed' GROUP BY 1, 2 ORDER BY 1, 2",
                        PG_PARAM_COUNT(params), params, worker_lease_row, &rows);
}

/* ---- the intent listing ------------------------------------------------- */

struct intent_rows {
    store_each_intent each;
    void *context;
};

static void intent_row(const PGresult *res, int row, void *context)
{
    struct intent_rows *rows = context;
    struct intent_record record = {0};
    pg_read_record(res, row, &record);
    rows->each(rows->context, &record);
    intent_record_clear(&record);
}

/* Every filter is optional (NULL matches all). The id prefix and the error
 * text are matched with starts_with and strpos, so no character in them is
 * a wildcard. */
#define INTENT_LIST_SQL                                                                            \
    "SELECT " PG_INTENT_COLUMNS " FROM intents"                                                    \
    " WHERE ($1::text IS NULL OR CASE $1::text"                                                    \
    "  WHEN 'claimed' THEN status = 'claimed' AND claim_expires_at > $11::float8"                  \
    "  WHEN 'expired' THEN status = 'claimed' AND claim_expires_at <= $11::float8"                 \
    "  WHEN 'scheduled' THEN status = 'open' AND run_at > $11::float8"                             \
    "  ELSE status = $1::text END)"                                                                \
    " AND ($2::text IS NULL OR namespace = $2::text)"                                              \
    " AND ($4::text IS NULL OR goal = $4::text)"                                                   \
    " AND ($5::text IS NULL OR starts_with(id, $5::text))"                                         \
    " AND ($6::text IS NULL OR publisher = $6::text)"                                              \
    " AND ($7::text IS NULL OR publisher IN (SELECT key_hash FROM api_keys"                        \
    "  WHERE owner = $7::text))"                                                                   \
    " AND ($8::text IS NULL OR worker_id = $8::text)"                                              \
    " AND ($9::text IS NULL OR strpos(last_error, $9::text) > 0)"                                  \
    " AND ($10::text IS NULL OR (created_at, id) < (SELECT created_at, id FROM intents"            \
    "  WHERE id = $10::text))"                                                                     \
    " ORDER BY created_at DESC, id DESC LIMIT $3::integer"

enum bus_err pg_intent_list(void *backend, const struct intent_filter *filter,
                            store_each_intent each, void *context)
{
    struct intent_rows rows = {each, context};
    char limit[24], now[32];
    const char *params[] = {
        pg_text_param(filter->state),        pg_text_param(filter->namespace_),
        pg_long_param(filter->limit, limit), pg_text_param(filter->goal),
        pg_text_param(filter->id_prefix),    pg_text_param(filter->publisher),
        pg_text_param(filter->owner),        pg_text_param(filter->worker_id),
        pg_text_param(filter->error_text),   pg_text_param(filter->before),
        pg_double_param(filter->now, now),
    };
    return pg_read_rows(backend, "intent list", INTENT_LIST_SQL, PG_PARAM_COUNT(params), params,
                        intent_row, &rows);
}

/* ---- cancel, retry, purge ----------------------------------------------- */

struct intent_action_args {
    const char *id;
    double now;
};

/* The update finds the intent and locks its row until the commit, so a
 * claim on another node cannot take it meanwhile. */
struct cancel_args {
    const char *id;
    double now;
    struct goal_tallies *goals;
};

static enum bus_err cancel_op(void *connection, void *arg)
{
    struct cancel_args *args = arg;
    goal_tallies_reset(args->goals);
    char now[32];
    const char *params[] = {args->id, pg_double_param(args->now, now)};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(connection, "intent cancel",
                               "UPDATE intents SET updated_at = $2::float8 WHERE id = $1"
                               " RETURNING namespace, goal",
                               PG_PARAM_COUNT(params), params, &res);
    if (err != BUS_OK)
        return err;
    err = PQntuples(res) == 0 ? BUS_ERR_NOT_FOUND
                              : goal_tallies_add(args->goals, PQgetvalue(res, 0, 0),
                                                 PQgetvalue(res, 0, 1), TALLY_CANCELLED);
    PQclear(res);
    if (err != BUS_OK)
        return err;
    return pg_kill_intent(connection, args->id, "Cancelled by admin", "cancelled", args->now);
}

enum bus_err pg_intent_cancel(void *backend, const char *id, double now,
                              struct goal_tallies *goals)
{
    struct cancel_args args = {id, now, goals};
    return pg_write(backend, cancel_op, &args);
}

/* Exactly spec 8's retry: a fresh start, and no dead letter left behind.
 * run_at is now and the TTL is renewed, or an old intent would be dead
 * again at once or expire unclaimable. */
static enum bus_err retry_op(void *connection, void *arg)
{
    struct intent_action_args *args = arg;
    char now[32];
    const char *params[] = {args->id, pg_double_param(args->now, now)};
    long found = 0;
    enum bus_err err =
        pg_run(connection, "intent retry",
               "UPDATE intents SET status = 'open', claim_attempts = 0, claim_token = NULL,"
               " claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL, result = NULL,"
               " result_type = NULL, completed_at = NULL, last_error = NULL, run_at = $2::float8,"
               " expires_at = GREATEST(expires_at, $2::float8 + 86400.0), updated_at = $2::float8"
               " WHERE id = $1",
               PG_PARAM_COUNT(params), params, &found);
    if (err == BUS_OK && found == 0)
        return BUS_ERR_NOT_FOUND;
    /* A lease held until now is taken from its worker: that attempt ends. */
    if (err == BUS_OK)
        err = pg_run(connection, "intent retry",
                     "UPDATE attempts SET outcome = 'released', error = 'Retried by admin',"
                     " ended_at = $2::float8 WHERE intent_id = $1 AND outcome IS NULL",
                     PG_PARAM_COUNT(params), params, NULL);
    if (err != BUS_OK)
        return err;
    return pg_run(connection, "intent retry", "DELETE FROM dead_letters WHERE intent_id = $1", 1,
                  params, NULL);
}

enum bus_err pg_intent_retry(void *backend, const char *id, double now)
{
    struct intent_action_args args = {id, now};
    return pg_write(backend, retry_op, &args);
}

struct purge_args {
    const char *namespace_;
    struct purge_stats *stats;
};

static enum bus_err purge_namespace(PGconn *conn, const char *namespace_, struct purge_stats *stats)
{
    const char *params[] = {namespace_};
    enum bus_err err = pg_run(conn, "purge", "DELETE FROM intents WHERE namespace = $1", 1, params,
                              &stats->intents_deleted);
    if (err == BUS_OK)
        err = pg_run(conn, "purge", "DELETE FROM dead_letters WHERE namespace = $1", 1, params,
                     &stats->dead_letters_deleted);
    return err;
}

static enum bus_err purge_op(void *connection, void *arg)
{
    struct purge_args *args = arg;
    struct purge_stats *stats = args->stats;
    memset(stats, 0, sizeof *stats);
    if (args->namespace_ != NULL)
        return purge_namespace(connection, args->namespace_, stats);
    enum bus_err err =
        pg_run(connection, "purge", "DELETE FROM intents", 0, NULL, &stats->intents_deleted);
    if (err == BUS_OK)
        err = pg_run(connection, "purge", "DELETE FROM dead_letters", 0, NULL,
                     &stats->dead_letters_deleted);
    if (err == BUS_OK)
        err = pg_run(connection, "purge", "DELETE FROM kv", 0, NULL, NULL);
    if (err == BUS_OK)
        err = pg_run(connection, "purge", "DELETE FROM idempotency", 0, NULL, NULL);
    if (err == BUS_OK)
        err = pg_run(connection, "purge", "DELETE FROM nonces", 0, NULL, NULL);
    return err;
}

enum bus_err pg_purge(void *backend, const char *namespace_, struct purge_stats *stats)
{
    struct purge_args args = {namespace_, stats};
    return pg_write(backend, purge_op, &args);
}

/* ---- audit log ---------------------------------------------------------- */

/* Keeps the newest AUDIT_KEEP_ROWS ids. Ids come from a sequence shared by
 * every node, so they increase across nodes; a rolled-back insert leaves a
 * gap, which only makes the kept window a little shorter. */
static enum bus_err audit_add_op(void *connection, void *arg)
{
    const struct audit_entry *entry = arg;
    char at[32];
    const char *params[] = {
        pg_double_param(entry->at, at), entry->who,        entry->address, entry->action,
        pg_text_param(entry->target),   entry->detail_json};
    PGresult *res = NULL;
    enum bus_err err = pg_exec(connection, "audit insert",
                               "INSERT INTO audit_log (at, who, address, action, target, detail)"
                               " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                               PG_PARAM_COUNT(params), params, &res);
    if (err != BUS_OK)
        return err;
    char oldest_gone[24];
    const char *trim[] = {pg_long_param(pg_long(res, 0, 0) - AUDIT_KEEP_ROWS, oldest_gone)};
    PQclear(res);
    return pg_run(connection, "audit trim", "DELETE FROM audit_log WHERE id <= $1::bigint", 1, trim,
                  NULL);
}

enum bus_err pg_audit_add(void *backend, const struct audit_entry *entry)
{
    return pg_write(backend, audit_add_op, (void *)entry);
}

struct audit_rows {
    store_each_audit each;
    void *context;
};

static void audit_row(const PGresult *res, int row, void *context)
{
    struct audit_rows *rows = context;
    struct audit_entry entry = {0};
    entry.id = pg_long(res, row, 0);
    entry.at = pg_double(res, row, 1);
    pg_copy(res, row, 2, entry.who, sizeof entry.who);
    pg_copy(res, row, 3, entry.address, sizeof entry.address);
    pg_copy(res, row, 4, entry.action, sizeof entry.action);
    pg_copy(res, row, 5, entry.target, sizeof entry.target);
    entry.detail_json = PQgetisnull(res, row, 6) ? NULL : PQgetvalue(res, row, 6);
    rows->each(rows->context, &entry);
}

enum bus_err pg_audit_list(void *backend, int limit, long before, store_each_audit each,
                           void *context)
{
    struct audit_rows rows = {each, context};
    char limit_text[24], before_text[24];
    const char *params[] = {pg_long_param(limit, limit_text), pg_long_param(before, before_text)};
    return pg_read_rows(backend, "audit list",
                        "SELECT id, at, who, address, action, target, detail FROM audit_log"
                        " WHERE ($2::bigint <= 0 OR id < $2::bigint)"
                        " ORDER BY id DESC LIMIT $1::integer",
                        PG_PARAM_COUNT(params), params, audit_row, &rows);
}
