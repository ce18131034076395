/* The SQLite backend's attempt history: its table (schema version 7) and
 * the listing of one intent's attempts. The rows are written by the claim
 * and the lease operations in sqlite.c, in their own transactions. */
#include <math.h>
#include <string.h>

#include "store/sqlite_internal.h"

/* One row per claim, keyed by intent and attempt number, so an intent's
 * attempts are one range of the primary key: what the claim's numbering,
 * the closing UPDATE (outcome IS NULL) and the listing read. The trigger
 * deletes them with their intent, whichever statement deletes it
 * (cleanup, purges), as foreign keys are off on these connections. The
 * claiming key's owner is not copied: an api_keys row keeps its owner for
 * good (a revoked key too), so the listing joins it. */
/* A fulfil leaves its attempt's row as the claim wrote it: the hot path
 * writes one row less per job (docs/BENCHMARKS.md, "Batches"). The open
 * attempt of a fulfilled intent ended with the fulfil, so the listing reads
 * its end and outcome from the intent (an intent has at most one open
 * attempt, and a fulfilled one is claimed no more). The other ends (fail,
 * lapsed lease, cancel, admin retry) write theirs. */
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

/* The newest ATTEMPTS_LIST_MAX, given oldest first. */
static const char attempt_list_sql[] =
    "SELECT * FROM (SELECT a.attempt, a.worker_id, a.claimer, k.owner, a.claimed_at,"
    " a.lease_expires_at," ATTEMPT_ENDED_SQL ", " ATTEMPT_OUTCOME_SQL ", a.error FROM attempts a"
    " LEFT JOIN api_keys k ON k.key_hash = a.claimer"
    " LEFT JOIN intents i ON i.id = a.intent_id WHERE a.intent_id = ?1"
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
