/* The SQLite backend's attempt history: its table (schema version 7), the
 * view of every attempt (version 11) and the listing of one intent's
 * attempts. The rows are written by the lease operations in sqlite.c, in
 * their own transactions. */
#include <math.h>
#include <string.h>

#include "store/sqlite_internal.h"

/* One row per ended attempt, keyed by intent and attempt number, so an
 * intent's attempts are one range of the primary key: what the numbering
 * and the listing read. The trigger deletes them with their intent,
 * whichever statement deletes it (cleanup, purges), as foreign keys are
 * off on these connections. The claiming key's owner is not copied: an
 * api_keys row keeps its owner for good (a revoked key too), so the
 * listing joins it. */
static const char attempts_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS attempts ("
    " intent_id TEXT NOT NULL, attempt INTEGER NOT NULL, worker_id TEXT,"
    " claimer TEXT NOT NULL, claimed_at REAL NOT NULL, lease_expires_at REAL NOT NULL,"
    " ended_at REAL, outcome TEXT, error TEXT,"
    " PRIMARY KEY (intent_id, attempt)) WITHOUT ROWID;"
    "CREATE TRIGGER IF NOT EXISTS attempts_go_with_intents AFTER DELETE ON intents"
    " BEGIN DELETE FROM attempts WHERE intent_id = old.id; END;"
    "PRAGMA user_version = 7;";

int sql_attempts_schema(sqlite3 *db, char **message)
{
    return sqlite3_exec(db, attempts_schema_sql, NULL, NULL, message);
}

/* Version 11: an attempt's row is written when it ends, by whatever ends
 * it (W_ATTEMPT_END), never by the claim. The running attempt is the
 * intent's own claim (claimed_by, worker_id, claimed_at and the lease in
 * claim_expires_at, which an extend moves), and a fulfilled intent's last
 * attempt ended with its fulfil, which keeps the lease's end for it: a
 * job that succeeds at once writes no attempt row at all, where version 7
 * inserted one per claim and updated it per extend, about a tenth of the
 * server's instructions per job (docs/BENCHMARKS.md). running_attempts is
 * the attempt an intent's row holds, as a row of attempts, numbered after
 * the intent's ended ones and not yet ended unless fulfilled: what
 * W_ATTEMPT_END copies. attempt_history is every attempt, ended or not:
 * what the listing and `migrate --from` read. The upgrade drops the rows
 * of running attempts (their intent holds them now) and writes the end of
 * a fulfilled intent's open one, whose intent has no lease end to show. */
static const char attempt_history_sql[] =
    "BEGIN IMMEDIATE;"
    "DELETE FROM attempts WHERE outcome IS NULL"
    " AND (SELECT status FROM intents WHERE id = intent_id) = 'claimed';"
    "UPDATE attempts SET outcome = 'fulfilled',"
    " ended_at = (SELECT completed_at FROM intents WHERE id = intent_id)"
    " WHERE outcome IS NULL"
    " AND (SELECT status FROM intents WHERE id = intent_id) = 'fulfilled';"
    "CREATE VIEW IF NOT EXISTS running_attempts AS"
    " SELECT i.id AS intent_id, (SELECT COALESCE(MAX(a.attempt), 0) + 1 FROM attempts a"
    " WHERE a.intent_id = i.id) AS attempt, i.worker_id, i.claimed_by AS claimer,"
    " i.claimed_at, i.claim_expires_at AS lease_expires_at,"
    " CASE WHEN i.status = 'fulfilled' THEN i.completed_at END AS ended_at,"
    " CASE WHEN i.status = 'fulfilled' THEN 'fulfilled' END AS outcome, NULL AS error"
    " FROM intents i WHERE (i.status = 'claimed' OR i.status = 'fulfilled')"
    " AND i.claim_expires_at IS NOT NULL;"
    "CREATE VIEW IF NOT EXISTS attempt_history AS"
    " SELECT intent_id, attempt, worker_id, claimer, claimed_at, lease_expires_at, ended_at,"
    " outcome, error FROM attempts UNION ALL SELECT * FROM running_attempts;"
    "PRAGMA user_version = 11;"
    "COMMIT;";

int sql_attempt_history_schema(sqlite3 *db, char **message)
{
    int rc = sqlite3_exec(db, attempt_history_sql, NULL, NULL, message);
    if (rc != SQLITE_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The newest ATTEMPTS_LIST_MAX, given oldest first. */
static const char attempt_list_sql[] =
    "SELECT * FROM (SELECT a.attempt, a.worker_id, a.claimer, k.owner, a.claimed_at,"
    " a.lease_expires_at, a.ended_at, a.outcome, a.error FROM attempt_history a"
    " LEFT JOIN api_keys k ON k.key_hash = a.claimer WHERE a.intent_id = ?1"
    " ORDER BY a.attempt DESC LIMIT ?2) ORDER BY attempt";

static void read_attempt(sqlite3_stmt *stmt, struct intent_attempt *out)
{
    memset(out, 0, sizeof *out);
    out->attempt = sqlite3_column_int(stmt, 0);
    sql_copy_column(stmt, 1, out->worker_id, sizeof out->worker_id);
    sql_copy_column(stmt, 2, out->claimer, sizeof out->claimer);
    sql_copy_column(stmt, 3, out->owner, sizeof out->owner);
    out->claimed_at = sql_double_column(stmt, 4);
    out->lease_expires_at = sql_double_column(stmt, 5);
    out->ended_at = sql_double_column(stmt, 6);
    sql_copy_column(stmt, 7, out->outcome, sizeof out->outcome);
    out->error_text = sql_dup_column(stmt, 8);
}

static enum bus_err list_on(sqlite3 *db, const char *id, store_each_attempt each, void *context)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, attempt_list_sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        return sql_map_error(db, rc, "attempt list");
    }
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, ATTEMPTS_LIST_MAX);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct intent_attempt attempt;
        read_attempt(stmt, &attempt);
        each(context, &attempt);
        intent_attempt_clear(&attempt);
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? BUS_OK : sql_map_error(db, rc, "attempt list");
}

enum bus_err sql_attempt_list(void *backend, const char *id, store_each_attempt each, void *context)
{
    struct sqlite_backend *self = backend;
    struct read_connection *reader = sql_reader_acquire(self);
    enum bus_err err = list_on(reader->db, id, each, context);
    sql_reader_release(self, reader);
    return err;
}
