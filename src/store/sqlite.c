/* The SQLite backend of store.h, and every SQL statement it runs.
 *
 * One write connection belongs to the writer thread (store/writer.c), which
 * batches operations into BEGIN IMMEDIATE transactions; IMMEDIATE takes the
 * write lock up front, so a transaction never fails half-way on an upgrade.
 * Reads (/result, /status, /get) use a pool of read-only connections, which
 * WAL lets run beside the writer without waiting for it. */
#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/backoff.h"
#include "core/intent.h"
#include "store/batch_ops.h"
#include "store/sqlite_checkpoint.h"
#include "store/sqlite_internal.h"
#include "store/sqlite_read_only.h"
#include "store/sqlite_wal_buffer.h"
#include "store/store.h"
#include "store/writer.h"
#include "util/clock.h"
#include "util/token.h"

#define MAX_BATCH 256
/* The writer waits up to this long for a batch as large as its last one
 * (writer_gather): at `bench heavy` 20 operations a commit instead of 5-7,
 * 8 % less of the server's CPU per job, P99 no worse; 500 and 1,000 us
 * gave fewer jobs/s (docs/BENCHMARKS.md). */
#define GATHER_MICROSECONDS 250
/* Checkpoints run on a thread of their own (sqlite_checkpoint.c). Should
 * it not start, the writer checkpoints the WAL after every 200 pages
 * (SQLite's default is 1000): a checkpoint holds up every write queued
 * behind it for its copy and sync, and smaller ones kept the request P99
 * of `bench heavy` at 6-9 ms where 1000 pages gave 10-12 and 2000 gave
 * 13-14 (docs/BENCHMARKS.md). */
#define WAL_AUTOCHECKPOINT "PRAGMA wal_autocheckpoint = 200;"
#define BUSY_TIMEOUT_MS 5000
/* The nonce set's bound: 2^24 slots of 16 bytes (256 MiB) hold 12 million
 * nonces, 20,000 signed requests a second for the 600 s window; past it
 * signed requests get 503 until nonces age out (nonce_set.h). */
#define NONCE_SET_MOST_SLOTS ((size_t)1 << 24)

/* A CHECK of `status IN (four values)` makes SQLite build and drop a
 * temporary b-tree for the list on every row written (lists of more than
 * two constants are looked up, not compared); the same test as ORs costs
 * four comparisons. Version 2 databases are upgraded in place. */
#define STATUS_CHECK_V2 "status IN ('open','claimed','fulfilled','dead')"
#define STATUS_CHECK                                                                            \
    "status = 'open' OR status = 'claimed' OR status = 'fulfilled' OR status = 'dead'"

/* The claim index is partial: only open rows are candidates (version 10,
 * open_scan_sql; lapsed leases come from the lease index), so fulfilled and
 * dead history and the leases being worked on never slow a claim, and its
 * column order is the selection order of spec 6.4, so the scan stops at
 * the first eligible row. Its goal column lets the scan pass over rows of
 * other goals without reading the table row; with status (a constant
 * here, which the planner does not know) a scrape's oldest open intents
 * read the index alone (sql_oldest_open). The other indexes
 * are partial too, each holding only the rows of the one status its
 * queries ask for: a publish, claim or fulfil then touches a few b-trees
 * instead of seven, and every page it dirties is written to the WAL at
 * commit. (Version 1 had full indexes on (status, ...); they are dropped
 * on open.) */
#define SCHEMA_VERSION "4"
/* schema_sql (with add_worker_column()) makes version 4; the schedules'
 * tables (sqlite_schedules.c), created after it, make version 5; the goal
 * controls' table (sqlite_goals.c) version 6; the attempts' table
 * (sqlite_attempts.c) version 7; the webhooks' table and triggers
 * (sqlite_webhooks.c) version 8; the nonces' table in time order
 * (sqlite_nonces.c, rewritten from version 8's) version 9; the claim
 * index of open rows only (open_scan_sql) version 10; attempt rows written
 * when attempts end (sqlite_attempts.c) version 11; the cap's index of
 * capped intents (capped_sql) version 12. Each step is
 * CREATE ... IF NOT EXISTS, so an older database upgrades in place by
 * running them all. */
#define SCHEMA_LATEST 12
static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS intents ("
    " id TEXT PRIMARY KEY, namespace TEXT NOT NULL, goal TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " visibility TEXT NOT NULL CHECK (visibility IN ('private','public')),"
    " publisher TEXT NOT NULL, priority INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (" STATUS_CHECK "),"
    " claim_attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,"
    " backoff_base REAL NOT NULL, target_worker TEXT, required_capability TEXT,"
    " claim_token TEXT, claimed_by TEXT, claimed_at REAL, claim_expires_at REAL,"
    " run_at REAL NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,"
    " last_error TEXT, result TEXT, result_type TEXT, completed_at REAL,"
    " updated_at REAL NOT NULL);"
    "DROP INDEX IF EXISTS intents_claim_order;"
    "DROP INDEX IF EXISTS intents_leases;"
    "DROP INDEX IF EXISTS intents_history;"
    "DROP INDEX IF EXISTS intents_by_publisher;"
    "CREATE INDEX IF NOT EXISTS intents_lease_ends ON intents (claim_expires_at)"
    " WHERE status = 'claimed';"
    "CREATE INDEX IF NOT EXISTS intents_fulfilled_age ON intents (updated_at)"
    " WHERE status = 'fulfilled';"
    "CREATE INDEX IF NOT EXISTS intents_dead_age ON intents (updated_at) WHERE status = 'dead';"
    "CREATE TABLE IF NOT EXISTS dead_letters ("
    " intent_id TEXT PRIMARY KEY, namespace TEXT NOT NULL, goal TEXT NOT NULL,"
    " payload TEXT NOT NULL, publisher TEXT NOT NULL, claim_attempts INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL, last_error TEXT, reason TEXT NOT NULL,"
    " died_at REAL NOT NULL);"
    "CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (died_at);"
    "CREATE TABLE IF NOT EXISTS kv ("
    " principal TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " expires_at REAL NOT NULL, updated_at REAL NOT NULL,"
    " PRIMARY KEY (principal, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS kv_by_expiry ON kv (expires_at);"
    "CREATE TABLE IF NOT EXISTS idempotency ("
    " principal TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    " status INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL,"
    " PRIMARY KEY (principal, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS idempotency_by_time ON idempotency (created_at);"
    "CREATE INDEX IF NOT EXISTS intents_by_creation ON intents (created_at);"
    "CREATE TABLE IF NOT EXISTS api_keys ("
    " key_hash TEXT PRIMARY KEY, owner TEXT NOT NULL, created_at REAL NOT NULL,"
    " revoked_at REAL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS audit_log ("
    " id INTEGER PRIMARY KEY, at REAL NOT NULL, who TEXT NOT NULL, address TEXT NOT NULL,"
    " action TEXT NOT NULL, target TEXT, detail TEXT);"
    "PRAGMA user_version = " SCHEMA_VERSION ";";

/* Version 10: the claim index holds the open rows alone. Version 4's
 * (intents_claim_scan) held the claimed ones too, so a claim changed its
 * entry (status and lease are in the key) and a fulfil or an extend
 * removed or moved it; now a claim deletes the entry and a fulfil leaves
 * the index alone, one b-tree write less per job and no claimed rows for
 * the claim's scan to pass over. About 10 % of the server's instructions
 * per job (docs/BENCHMARKS.md). Lapsed leases are found through
 * intents_lease_ends instead (CLAIM_FIND_LAPSED_SQL). Building it on a
 * large database takes a while, once, at the first start. */
static const char open_scan_sql[] =
    "DROP INDEX IF EXISTS intents_claim_scan;"
    "CREATE INDEX IF NOT EXISTS intents_open_scan ON intents"
    " (namespace, priority DESC, run_at, claim_attempts, created_at, id, goal, status)"
    " WHERE status = 'open';"
    "PRAGMA user_version = 10;";

/* Version 12: the open-intent cap's index holds the rows it counts, those
 * published under a cap (a tester key's, intents.capped), where version
 * 4's (intents_open_by_publisher) held every open row, so each publish
 * and each claim of the main key's intents wrote it: 2.4 % of the
 * server's instructions and 18 % of the WAL's bytes per job, one job per
 * commit (docs/BENCHMARKS.md). The upgrade marks the intents of every
 * tester key, as the bus would have published them since. */
static const char capped_sql[] =
    "BEGIN IMMEDIATE;"
    "UPDATE intents SET capped = 1 WHERE capped = 0"
    " AND publisher IN (SELECT key_hash FROM api_keys);"
    "DROP INDEX IF EXISTS intents_open_by_publisher;"
    "CREATE INDEX IF NOT EXISTS intents_open_capped ON intents (publisher)"
    " WHERE status = 'open' AND capped = 1;"
    "PRAGMA user_version = 12;"
    "COMMIT;";

/* Adds column to intents unless it is there. A column added by ALTER
 * TABLE takes its default in existing rows. */
static int add_intents_column(sqlite3 *db, const char *column, const char *declaration,
                              char **message)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT COUNT(*) FROM pragma_table_info('intents') WHERE name = ?1", -1, &stmt, NULL);
    bool present = rc == SQLITE_OK &&
                   sqlite3_bind_text(stmt, 1, column, -1, SQLITE_STATIC) == SQLITE_OK &&
                   sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) > 0;
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK || present)
        return rc;
    char sql[160];
    snprintf(sql, sizeof sql, "ALTER TABLE intents ADD COLUMN %s %s", column, declaration);
    return sqlite3_exec(db, sql, NULL, NULL, message);
}

/* Version 4 added intents.worker_id (the last claim's X-Worker-ID, for the
 * admin's filters) and the audit_log table; NULL in older rows. */
static int add_worker_column(sqlite3 *db, char **message)
{
    return add_intents_column(db, "worker_id", "TEXT", message);
}

/* Version 12's intents.capped, 0 in older rows until capped_sql marks them. */
static int add_capped(sqlite3 *db, char **message)
{
    int rc = add_intents_column(db, "capped", "INTEGER NOT NULL DEFAULT 0", message);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_exec(db, capped_sql, NULL, NULL, message);
    if (rc != SQLITE_OK)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The eligibility rules of spec 6.4, in the order of the claim index. The
 * lease check sits in the WHERE clause so an expired lease is claimable at
 * once, without waiting for any cleanup pass. The claim is this SELECT and
 * then an UPDATE by id, in the same transaction: an UPDATE ... RETURNING
 * buffers its output in a temporary b-tree that SQLite builds and tears
 * down on every call, a fifth of the claim's time in perf.
 *
 * Goal controls (sqlite_goals.c): the goals of the namespace that are
 * paused or hold max_claimed live leases are skipped. Both subqueries are
 * uncorrelated with the scanned row, so SQLite runs each at most once per
 * claim; with no control anywhere, the first is one look at an empty table
 * and the second never runs, which keeps the claim's cost when nobody uses
 * the feature. A live lease is counted through intents_lease_ends, reading
 * each live lease's row for its namespace and goal: with a limit in the
 * claim's namespace and 40 leases held, the claim's SELECT took about
 * 16 µs instead of 6 (Python's sqlite3 on a 2,000-row queue), and a
 * control in another namespace about 9. No index was added for it, since
 * every claim and fulfil would then write one more b-tree. */
#define CLAIM_BLOCKED_GOALS_SQL                                                                \
    "SELECT c.goal FROM goal_controls c WHERE c.namespace = ?1"                                 \
    " AND (?3 IS NULL OR c.goal = ?3)"                                                         \
    " AND (c.paused = 1 OR c.max_claimed <= (SELECT COUNT(*) FROM intents l"                   \
    "      WHERE l.status = 'claimed' AND l.claim_expires_at > ?2"                             \
    "      AND l.namespace = c.namespace AND l.goal = c.goal))"
/* What makes a row claimable besides its status and lease (spec 6.4). */
#define CLAIM_FILTER_SQL                                                                           \
    " AND run_at <= ?2 AND expires_at > ?2 AND claim_attempts < max_attempts"                      \
    " AND (?3 IS NULL OR goal = ?3)"                                                               \
    " AND (visibility = 'public' OR publisher = ?4 OR ?7 = publisher)"                             \
    " AND (target_worker IS NULL OR target_worker = ?5)"                                           \
    " AND (required_capability IS NULL"                                                            \
    "      OR required_capability IN (SELECT value FROM json_each(?6)))"                           \
    " AND (?7 IS NULL OR publisher = ?7)"                                                          \
    " AND (NOT EXISTS (SELECT 1 FROM goal_controls)"                                               \
    "      OR goal NOT IN (" CLAIM_BLOCKED_GOALS_SQL "))"
/* What read_claimed reads, up to its last two (eligible since, reclaimed).
 * The rowid lets the take update the row without a search of the id's
 * index (take_claimed). */
#define CLAIM_COLUMNS_SQL                                                                          \
    "SELECT id, namespace, goal, payload, claim_attempts, max_attempts, priority,"                 \
    " target_worker, required_capability, rowid,"
/* The open rows through intents_open_scan, already in the claim order:
 * no sort, and the first row found is the one. */
#define CLAIM_FIND_OPEN_SQL                                                                        \
    CLAIM_COLUMNS_SQL                                                                              \
    " run_at, 0, run_at AS order_run_at, created_at AS order_created_at FROM intents"              \
    " WHERE namespace = ?1 AND status = 'open'" CLAIM_FILTER_SQL
#define CLAIM_ORDER_SQL                                                                            \
    " ORDER BY priority DESC, order_run_at, claim_attempts, order_created_at, id"
/* The same and the lapsed leases, through intents_lease_ends, merged in
 * the claim order (EXPLAIN QUERY PLAN: a MERGE of the two arms, the open
 * one read in index order). The lapsed arm is sorted in a temporary
 * b-tree, which SQLite builds and frees on every run, about as dear as
 * what the open-only index saves; so this runs only while some lease has
 * lapsed (lease_lapsed: one look at intents_lease_ends, none before the
 * earliest lease end it last found): until a claim
 * takes it again, or the cleanup pass requeues it (the sweep settles only
 * the exhausted). Meanwhile a claim costs about what it did before
 * version 10 (callgrind: 1 % more in all). */
#define CLAIM_FIND_LAPSED_SQL                                                                      \
    CLAIM_FIND_OPEN_SQL                                                                            \
    " UNION ALL " CLAIM_COLUMNS_SQL " claim_expires_at, 1, run_at, created_at"                     \
    " FROM intents WHERE status = 'claimed' AND claim_expires_at <= ?2"                            \
    " AND namespace = ?1" CLAIM_FILTER_SQL

static const char *const writer_sql[W_STATEMENT_COUNT] = {
    [W_BEGIN] = "BEGIN IMMEDIATE",
    [W_COMMIT] = "COMMIT",
    [W_ROLLBACK] = "ROLLBACK",
    [W_SAVEPOINT] = "SAVEPOINT op",
    [W_RELEASE] = "RELEASE op",
    [W_ROLLBACK_TO] = "ROLLBACK TO op",
    [W_INSERT_INTENT] =
        "INSERT INTO intents (id, namespace, goal, payload, visibility, publisher, priority,"
        " status, claim_attempts, max_attempts, backoff_base, target_worker,"
        " required_capability, run_at, created_at, expires_at, updated_at, capped)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open', 0, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?13,"
        " ?15)",
    [W_IDEMPOTENCY_GET] = "SELECT fingerprint, status, body FROM idempotency"
                          " WHERE principal = ?1 AND key = ?2 AND created_at > ?3",
    [W_IDEMPOTENCY_PUT] = "INSERT OR REPLACE INTO idempotency"
                          " (principal, key, fingerprint, status, body, created_at)"
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [W_CLAIM_FIND] = CLAIM_FIND_OPEN_SQL CLAIM_ORDER_SQL " LIMIT 1",
    [W_CLAIM_FIND_LAPSED] = CLAIM_FIND_LAPSED_SQL CLAIM_ORDER_SQL " LIMIT 1",
    /* A batch claim's candidates, read in one scan of the claim index. */
    [W_CLAIM_FIND_MANY] = CLAIM_FIND_OPEN_SQL CLAIM_ORDER_SQL " LIMIT ?8",
    [W_CLAIM_FIND_MANY_LAPSED] = CLAIM_FIND_LAPSED_SQL CLAIM_ORDER_SQL " LIMIT ?8",
    /* The first entry of intents_lease_ends; NULL with no lease held. */
    [W_FIRST_LEASE_END] = "SELECT min(claim_expires_at) FROM intents WHERE status = 'claimed'",
    [W_GOAL_LIMITS] = "SELECT 1 FROM goal_controls WHERE namespace = ?1"
                      " AND max_claimed IS NOT NULL LIMIT 1",
    /* By the rowid the find or the lease check read in the same
     * transaction: no search of the id's index; the id is checked too. */
    [W_CLAIM_TAKE] = "UPDATE intents SET status = 'claimed', claim_attempts = ?2,"
                     " claim_token = ?3, claimed_by = ?4, claimed_at = ?5,"
                     " claim_expires_at = ?6, updated_at = ?5, worker_id = ?7"
                     " WHERE rowid = ?8 AND id = ?1",
    [W_LEASE_GET] = "SELECT status, claim_token, claimed_by, claim_expires_at, claim_attempts,"
                    " max_attempts, backoff_base, namespace, goal, claimed_at, rowid FROM intents"
                    " WHERE id = ?1",
    [W_EXTEND] = "UPDATE intents SET claim_expires_at = ?2, updated_at = ?3"
                 " WHERE rowid = ?4 AND id = ?1",
    /* claim_expires_at stays: the fulfilled attempt's lease (version 11). */
    [W_FULFILL] = "UPDATE intents SET status = 'fulfilled', result = ?2, result_type = ?3,"
                  " completed_at = ?4, updated_at = ?4, claim_token = NULL"
                  " WHERE rowid = ?5 AND id = ?1",
    [W_REQUEUE] = "UPDATE intents SET status = 'open', run_at = ?2, last_error = ?3,"
                  " claim_token = NULL, claimed_by = NULL, claim_expires_at = NULL,"
                  " updated_at = ?4 WHERE id = ?1",
    [W_KILL] = "UPDATE intents SET status = 'dead', last_error = ?2, claim_token = NULL,"
               " claim_expires_at = NULL, updated_at = ?3 WHERE id = ?1",
    [W_ARCHIVE] = "INSERT OR REPLACE INTO dead_letters (intent_id, namespace, goal, payload,"
                  " publisher, claim_attempts, max_attempts, last_error, reason, died_at)"
                  " SELECT id, namespace, goal, payload, publisher, claim_attempts,"
                  " max_attempts, last_error, ?2, ?3 FROM intents WHERE id = ?1",
    [W_KV_SET] = "INSERT INTO kv (principal, key, value, expires_at, updated_at)"
                 " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (principal, key) DO UPDATE SET"
                 " value = excluded.value, expires_at = excluded.expires_at,"
                 " updated_at = excluded.updated_at",
    [W_EXPIRED_LEASES] = "SELECT id, claim_attempts, max_attempts, backoff_base, namespace, goal"
                         " FROM intents WHERE status = 'claimed' AND claim_expires_at <= ?1",
    [W_EXHAUSTED_LEASES] = "SELECT id, claim_attempts, max_attempts, backoff_base, namespace, goal"
                           " FROM intents WHERE status = 'claimed'"
                           " AND claim_expires_at <= ?1 AND claim_attempts >= max_attempts",
    /* The attempt the intent holds, as a row (sql_end_attempt): a
     * fulfilled one as it ended, else ending now. Its number goes on from
     * the intent's last row (a look at its few rows of the primary key),
     * not from claim_attempts, which an admin retry sets back to 0. A
     * lapsed lease ended when it ran out, whenever found. */
    [W_ATTEMPT_END] = "INSERT INTO attempts (intent_id, attempt, worker_id, claimer, claimed_at,"
                      " lease_expires_at, ended_at, outcome, error) SELECT intent_id, attempt,"
                      " worker_id, claimer, claimed_at, lease_expires_at, COALESCE(ended_at,"
                      " CASE WHEN ?2 = 'lease_expired' THEN MIN(lease_expires_at, ?4) ELSE ?4 END),"
                      " COALESCE(outcome, ?2), CASE WHEN outcome IS NULL THEN ?3 END"
                      " FROM running_attempts WHERE intent_id = ?1",
    /* An intent settles (fulfilled or dead): its webhook, if it has one, is
     * due now. A re-armed row (an admin retry settled again) starts over;
     * an intent dead already (an admin cancel of a dead one) is no new
     * event. Run before the intent's own update in the kill. */
    [W_WEBHOOK_ARM] = "UPDATE webhooks SET state = 'pending', attempts = 0, last_status = NULL,"
                      " last_error = NULL, armed_at = ?2, next_at = ?2, lease_until = NULL,"
                      " delivered_at = NULL WHERE intent_id = ?1"
                      " AND (SELECT status FROM intents WHERE id = ?1) <> 'dead'",
    /* Scans the claim index: open rows only, never the history. */
    [W_DELETE_EXPIRED_OPEN] = "DELETE FROM intents WHERE status = 'open' AND expires_at <= ?1",
    [W_DELETE_FULFILLED] = "DELETE FROM intents WHERE status = 'fulfilled' AND updated_at <= ?1",
    [W_DELETE_DEAD] = "DELETE FROM intents WHERE status = 'dead' AND updated_at <= ?1",
    [W_DELETE_DEAD_LETTERS] = "DELETE FROM dead_letters WHERE died_at <= ?1",
    [W_DELETE_KV] = "DELETE FROM kv WHERE expires_at <= ?1",
    [W_DELETE_IDEMPOTENCY] = "DELETE FROM idempotency WHERE created_at <= ?1",
    [W_NONCE_APPEND] = "INSERT INTO nonces (principal, nonce, seen_at) VALUES (?1, ?2, ?3)",
    /* The rows before the first one still in the window: they were
     * appended in time order (give or take the few milliseconds by which
     * requests overtake each other), and the scan stops there. */
    [W_DELETE_NONCES] = "DELETE FROM nonces WHERE id < coalesce("
                        "(SELECT id FROM nonces WHERE seen_at > ?1 ORDER BY id LIMIT 1),"
                        " (SELECT max(id) + 1 FROM nonces))",
    [W_COUNT_OPEN] = "SELECT COUNT(*) FROM intents WHERE publisher = ?1 AND status = 'open'"
                     " AND capped = 1",
};

static const char reader_get_intent_sql[] = "SELECT " INTENT_COLUMNS " FROM intents WHERE id = ?1";
static const char reader_kv_get_sql[] =
    "SELECT value FROM kv WHERE principal = ?1 AND key = ?2 AND expires_at > ?3";
const char sql_key_owner_query[] =
    "SELECT owner FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL";

/* ---- small helpers ------------------------------------------------------ */

/* Opening and closing (at the end of this file). */
static int open_writer(struct write_connection *conn);
static void close_writer(struct write_connection *conn);
static int open_reader(struct read_connection *reader, const struct write_connection *writes);
static void close_reader(struct read_connection *reader);

/* A storage fault (full disk, read-only file system, I/O error) is logged
 * once per episode, not once per request: its first failure says what it
 * is, the first commit after it says it is over. Process-wide, as the disk
 * is. Holds the SQLite primary result code of the fault, 0 = none. */
static atomic_int storage_fault;
static atomic_ulong storage_failures; /* every failure, counted: see hook_commit */

static enum bus_err storage_error(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return BUS_ERR_STORAGE_FULL;
    case SQLITE_READONLY:
        return BUS_ERR_STORAGE_READ_ONLY;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
        return BUS_ERR_STORAGE_IO;
    }
    return BUS_OK;
}

enum bus_err sql_map_error(sqlite3 *db, int rc, const char *what)
{
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return BUS_ERR_DATABASE_BUSY;
    enum bus_err storage = storage_error(rc);
    if (storage == BUS_OK) {
        fprintf(stderr, "intent-bus: sqlite %s failed: %s\n", what, sqlite3_errmsg(db));
        return BUS_ERR_INTERNAL;
    }
    atomic_fetch_add(&storage_failures, 1);
    if (atomic_exchange(&storage_fault, rc & 0xff) != (rc & 0xff))
        fprintf(stderr, "intent-bus: storage fault, writes refused until it clears: %s\n",
                sqlite3_errmsg(db));
    return storage;
}

/* A commit went through: a storage fault, if any, is over. */
static void storage_recovered(void)
{
    if (atomic_exchange(&storage_fault, 0) != 0)
        fprintf(stderr, "intent-bus: storage fault cleared, writes accepted again\n");
}

/* What ended a transaction that SQLite rolled back by itself (it may, on a
 * full disk or an I/O error): the fault of the episode. */
static enum bus_err lost_transaction(void)
{
    enum bus_err err = storage_error(atomic_load(&storage_fault));
    return err != BUS_OK ? err : BUS_ERR_DATABASE_BUSY;
}

/* A writer statement, reset and unbound, ready for new parameters. */
static sqlite3_stmt *statement(struct write_connection *conn, enum writer_statement id)
{
    sqlite3_stmt *stmt = conn->statements[id];
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return stmt;
}

/* Steps a statement that returns no rows; resets it. */
static enum bus_err run_statement(struct write_connection *conn, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return BUS_OK;
    return sql_map_error(conn->db, rc, "write");
}

/* An update of the one row a read of the same transaction found (by
 * rowid and id): any other count means the two disagree, which the
 * single writer rules out; an error rather than a lease nobody holds. */
static enum bus_err run_row_update(struct write_connection *conn, sqlite3_stmt *stmt)
{
    enum bus_err err = run_statement(conn, stmt);
    if (err != BUS_OK)
        return err;
    int changed = sqlite3_changes(conn->db);
    assert(changed == 1);
    return changed == 1 ? BUS_OK : BUS_ERR_INTERNAL;
}

struct nonce_args {
    const char *principal;
    const char *nonce;
    double now;
    double keep;
    bool *fresh;
};

static enum bus_err nonce_op(void *connection, void *arg);

/* A write's prelude: its request's nonce (see store_nonce_call). */
static enum bus_err nonce_gate_op(void *connection, void *arg)
{
    const struct store_nonce_call *call = arg;
    bool fresh = false;
    struct nonce_args args = {call->principal, call->nonce, call->now, call->keep, &fresh};
    enum bus_err err = nonce_op(connection, &args);
    return err != BUS_OK ? err : fresh ? BUS_OK : BUS_ERR_INVALID_SIGNATURE;
}

/* Queues a write; a signed request's nonce (non-NULL) is recorded first,
 * in the same transaction, and a replay stops the write. */
static enum bus_err submit_gated(struct sqlite_backend *self, const struct store_nonce_call *nonce,
                                 writer_op_fn op, void *call, store_done_fn done, void *context)
{
    return writer_submit_prelude(self->writer, nonce != NULL ? nonce_gate_op : NULL,
                                 (void *)nonce, op, call, done, context);
}

void sql_bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL || text[0] == '\0')
        sqlite3_bind_null(stmt, index);
    else
        sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
}

void sql_copy_column(sqlite3_stmt *stmt, int column, char *out, size_t size)
{
    /* snprintf(out, size, "%s", text) by hand: its format machinery cost
     * more than the copy, several times per claim. */
    assert(size > 0);
    const char *text = (const char *)sqlite3_column_text(stmt, column);
    size_t length = text ? strnlen(text, size - 1) : 0;
    if (length > 0)
        memcpy(out, text, length);
    out[length] = '\0';
}

/* A malloc'd copy of a text column, NULL for SQL NULL. */
char *sql_dup_column(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);
    return text ? strdup((const char *)text) : NULL;
}

double sql_double_column(sqlite3_stmt *stmt, int column)
{
    if (sqlite3_column_type(stmt, column) == SQLITE_NULL)
        return NAN;
    return sqlite3_column_double(stmt, column);
}

/* ---- transaction hooks for the writer ----------------------------------- */

/* The hooks return BUS_OK or the bus_err of the failure (writer.h). Once
 * SQLite has rolled the batch's transaction back by itself, nothing more
 * may run: a SAVEPOINT would open a transaction of its own and commit the
 * rest of the batch piecemeal, and a ROLLBACK or COMMIT would only fail
 * again ("no transaction is active"). */
static int hook_exec(void *connection, enum writer_statement id)
{
    struct write_connection *conn = connection;
    return (int)run_statement(conn, statement(conn, id));
}

static bool transaction_lost(void *connection)
{
    return sqlite3_get_autocommit(((struct write_connection *)connection)->db) != 0;
}

/* Storage failures and rows changed before this batch: only a batch that
 * changed rows and had no failure of its own proves a fault over (one that
 * wrote nothing, or whose every write failed, commits too). Read and
 * written on the writer thread alone. */
static unsigned long failures_at_begin;
static sqlite3_int64 changes_at_begin;

/* Every read connection, out of the pool, with the pool's lock held:
 * requests wait meanwhile (each holds one for a single query). */
static void take_all_readers(struct sqlite_backend *self)
{
    pthread_mutex_lock(&self->readers_lock);
    self->reopening = true;
    for (;;) {
        int idle = 0;
        for (const struct read_connection *r = self->free_readers; r != NULL; r = r->next_free)
            idle++;
        if (idle == self->reader_count)
            return;
        /* Timed: a release wakes one waiter, maybe a request, not this. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 10 * 1000 * 1000;
        if (until.tv_nsec >= 1000 * 1000 * 1000) {
            until.tv_sec++;
            until.tv_nsec -= 1000 * 1000 * 1000;
        }
        pthread_cond_timedwait(&self->reader_returned, &self->readers_lock, &until);
    }
}

/* A database opened read-only (its storage could not be written at start)
 * is opened again read-write once it can be, at most once a second: the
 * fault is over without a restart. Every connection of the process closes
 * first: SQLite shares one mapping of the -shm file among them, read-only
 * while any read-only one is open. Runs on the writer thread before a
 * batch, so no statement of the writer is in use. */
static void reopen_if_writable(struct write_connection *conn)
{
    double now = clock_monotonic();
    if (!conn->read_only || now < conn->next_reopen)
        return;
    conn->next_reopen = now + 1;
    if (sql_storage_read_only(conn->path))
        return;
    struct sqlite_backend *self = conn->backend;
    take_all_readers(self);
    for (int i = 0; i < self->reader_count; i++)
        close_reader(&self->readers[i]);
    close_writer(conn);
    conn->read_only = false;
    if (open_writer(conn) != 0) {
        close_writer(conn); /* and as it was: read-only */
        conn->read_only = true;
        if (open_writer(conn) != 0)
            fprintf(stderr, "intent-bus: cannot open %s again; writes fail\n", conn->path);
    }
    for (int i = 0; i < self->reader_count; i++)
        if (open_reader(&self->readers[i], conn) != 0)
            fprintf(stderr, "intent-bus: a read connection to %s failed; its reads fail\n",
                    conn->path);
    self->reopening = false;
    pthread_cond_broadcast(&self->reader_returned);
    pthread_mutex_unlock(&self->readers_lock);
    if (!conn->read_only)
        fprintf(stderr, "intent-bus: %s can be written again, opened read-write\n", conn->path);
}

/* What a rolled-back transaction wrote is gone, and what it removed may
 * be back (a lease its fulfil ended): lease_lapsed's bound is not known. */
static void forget_lease_ends(struct write_connection *conn)
{
    conn->leases_end_from = 0;
}

/* The nonce set follows the transaction: room made before it (a rebuild
 * moves slots, so never inside one), its nonces kept at the commit and
 * taken back at a rollback. */
static int hook_begin(void *connection)
{
    struct write_connection *conn = connection;
    reopen_if_writable(conn);
    nonce_set_reserve(conn->nonces, MAX_BATCH);
    failures_at_begin = atomic_load(&storage_failures);
    changes_at_begin = sqlite3_total_changes64(((struct write_connection *)connection)->db);
    return hook_exec(connection, W_BEGIN);
}

static int hook_commit(void *connection)
{
    struct write_connection *conn = connection;
    if (transaction_lost(connection)) {
        forget_lease_ends(conn);
        return (int)lost_transaction();
    }
    int err = hook_exec(connection, W_COMMIT);
    if (err == BUS_OK) {
        nonce_set_commit(conn->nonces);
        conn->nonces_cleared = false;
    } else {
        forget_lease_ends(conn);
    }
    if (err == BUS_OK && atomic_load(&storage_failures) == failures_at_begin &&
        sqlite3_total_changes64(((struct write_connection *)connection)->db) > changes_at_begin)
        storage_recovered();
    return err;
}

static void hook_rollback(void *connection)
{
    struct write_connection *conn = connection;
    forget_lease_ends(conn);
    if (!transaction_lost(connection))
        hook_exec(connection, W_ROLLBACK);
    if (!conn->nonces_cleared) {
        nonce_set_rollback(conn->nonces);
        return;
    }
    /* A purge's clear cannot be undone slot by slot: the table, rolled
     * back, has the nonces it had. */
    nonce_set_clear(conn->nonces);
    conn->nonces_cleared = false;
    if (sql_nonces_load(conn->db, conn->nonces, clock_now()) != SQLITE_OK)
        fprintf(stderr, "intent-bus: cannot reload the nonces after a rollback: %s\n",
                sqlite3_errmsg(conn->db));
}

static int hook_savepoint(void *connection)
{
    if (transaction_lost(connection))
        return (int)lost_transaction();
    return hook_exec(connection, W_SAVEPOINT);
}

static void hook_release(void *connection, int undo)
{
    if (undo)
        forget_lease_ends(connection);
    if (transaction_lost(connection))
        return;
    if (undo)
        hook_exec(connection, W_ROLLBACK_TO);
    hook_exec(connection, W_RELEASE);
}

static enum bus_err publish_again_op(void *connection, void *arg);
static enum bus_err claim_again_op(void *connection, void *arg);
static enum bus_err fulfill_op(void *connection, void *arg);

/* The hot path's writes (a request's publish, claim and fulfil, and a
 * signed one's nonce) may run twice, so a batch of only them needs no
 * savepoint each (writer_hooks.rerunnable); the other operations were not
 * written to run twice and keep theirs. */
static bool hook_rerunnable(writer_op_fn op)
{
    return op == publish_again_op || op == claim_again_op || op == fulfill_op ||
           op == nonce_gate_op;
}

/* Every row written counts in sqlite3_total_changes64, triggers' too; a
 * failed statement's rows are undone and not counted. */
static long long hook_changes(void *connection)
{
    if (transaction_lost(connection))
        return -1;
    return (long long)sqlite3_total_changes64(((struct write_connection *)connection)->db);
}

static const struct writer_hooks sqlite_writer_hooks = {
    .begin = hook_begin,
    .commit = hook_commit,
    .rollback = hook_rollback,
    .savepoint = hook_savepoint,
    .release = hook_release,
    .rerunnable = hook_rerunnable,
    .changes = hook_changes,
};

/* ---- idempotency -------------------------------------------------------- */

/* BUS_OK with replay->body set when the key was used for the same request,
 * BUS_ERR_IDEMPOTENCY_CONFLICT for a different one, BUS_ERR_EMPTY if unused. */
static enum bus_err idempotency_lookup(struct write_connection *conn, const struct idempotency *idem,
                                       double now, struct stored_response *replay)
{
    sqlite3_stmt *stmt = statement(conn, W_IDEMPOTENCY_GET);
    sqlite3_bind_text(stmt, 1, idem->principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, idem->key, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 3, now - IDEMPOTENCY_RETENTION_SECONDS);
    int rc = sqlite3_step(stmt);
    enum bus_err err = BUS_ERR_EMPTY;
    if (rc == SQLITE_ROW) {
        const char *fingerprint = (const char *)sqlite3_column_text(stmt, 0);
        if (!token_equal(fingerprint ? fingerprint : "", idem->fingerprint)) {
            err = BUS_ERR_IDEMPOTENCY_CONFLICT;
        } else {
            replay->status = (unsigned)sqlite3_column_int(stmt, 1);
            replay->body = sql_dup_column(stmt, 2);
            err = replay->body ? BUS_OK : BUS_ERR_INTERNAL;
        }
    } else if (rc != SQLITE_DONE) {
        err = sql_map_error(conn->db, rc, "idempotency lookup");
    }
    sqlite3_reset(stmt);
    return err;
}

static enum bus_err idempotency_remember(struct write_connection *conn,
                                         const struct idempotency *idem, unsigned status,
                                         const char *body, double now)
{
    sqlite3_stmt *stmt = statement(conn, W_IDEMPOTENCY_PUT);
    sqlite3_bind_text(stmt, 1, idem->principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, idem->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, idem->fingerprint, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, (int)status);
    sqlite3_bind_text(stmt, 5, body, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 6, now);
    return run_statement(conn, stmt);
}

/* Runs write(conn, arg) once per idempotent request: replays or refuses a
 * repeated key, and remembers the response of a first one, all inside the
 * caller's transaction so the write and the record commit together. */
static enum bus_err idempotent_write(struct write_connection *conn, const struct idempotency *idem,
                                     double now, unsigned status, const char *body,
                                     struct stored_response *replay,
                                     enum bus_err (*write)(struct write_connection *, const void *),
                                     const void *arg)
{
    if (idem != NULL) {
        enum bus_err err = idempotency_lookup(conn, idem, now, replay);
        if (err != BUS_ERR_EMPTY)
            return err;
    }
    enum bus_err err = write(conn, arg);
    if (err == BUS_OK && idem != NULL)
        err = idempotency_remember(conn, idem, status, body, now);
    return err;
}

/* ---- publish ------------------------------------------------------------ */

enum bus_err sql_insert_intent(struct write_connection *conn, const struct intent_new *intent,
                               long open_limit)
{
    sqlite3_stmt *stmt = statement(conn, W_INSERT_INTENT);
    sqlite3_bind_text(stmt, 1, intent->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, intent->namespace_, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, intent->goal, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, intent->payload_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, intent->is_public ? "public" : "private", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, intent->publisher, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 7, intent->priority);
    sqlite3_bind_int(stmt, 8, intent->max_attempts);
    sqlite3_bind_double(stmt, 9, intent->backoff_base);
    sql_bind_text(stmt, 10, intent->target_worker);
    sql_bind_text(stmt, 11, intent->required_capability);
    sqlite3_bind_double(stmt, 12, intent->run_at);
    sqlite3_bind_double(stmt, 13, intent->created_at);
    sqlite3_bind_double(stmt, 14, intent->expires_at);
    sqlite3_bind_int(stmt, 15, open_limit > 0);
    enum bus_err err = run_statement(conn, stmt);
    return err == BUS_OK ? sql_webhook_insert(conn, intent) : err;
}

/* A publish's insert (idempotent_write's write). */
static enum bus_err insert_published(struct write_connection *conn, const void *arg)
{
    const struct store_publish_call *args = arg;
    return sql_insert_intent(conn, args->intent, args->open_limit);
}

/* The open-intent cap, counted inside the publishing transaction so
 * concurrent publishes cannot overshoot it. */
static enum bus_err check_open_limit(struct write_connection *conn, const char *publisher,
                                     long open_limit)
{
    if (open_limit <= 0)
        return BUS_OK;
    sqlite3_stmt *stmt = statement(conn, W_COUNT_OPEN);
    sqlite3_bind_text(stmt, 1, publisher, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    long open_count = rc == SQLITE_ROW ? (long)sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW)
        return sql_map_error(conn->db, rc, "open intent count");
    return open_count >= open_limit ? BUS_ERR_LIMIT_EXCEEDED : BUS_OK;
}

enum bus_err sql_check_open_limit(struct write_connection *conn, const char *publisher,
                                  long open_limit)
{
    return check_open_limit(conn, publisher, open_limit);
}

static enum bus_err publish_op(void *connection, void *arg)
{
    struct store_publish_call *args = arg;
    /* A replayed idempotent request is answered even at the cap: it
     * creates nothing. */
    struct stored_response probe = {0, NULL};
    if (args->idem == NULL || idempotency_lookup(connection, args->idem,
                                                 args->intent->created_at, &probe) == BUS_ERR_EMPTY) {
        enum bus_err err = check_open_limit(connection, args->intent->publisher, args->open_limit);
        if (err != BUS_OK)
            return err;
    }
    stored_response_clear(&probe);
    return idempotent_write(connection, args->idem, args->intent->created_at, args->response_status,
                            args->response_body, args->replay, insert_published, args);
}

static enum bus_err sqlite_publish(void *backend, const struct intent_new *intent, long open_limit,
                                   const struct idempotency *idem, unsigned response_status,
                                   const char *response_body, struct stored_response *replay)
{
    struct sqlite_backend *self = backend;
    struct store_publish_call args = {.intent = intent,
                                      .open_limit = open_limit,
                                      .idem = idem,
                                      .response_status = response_status,
                                      .response_body = response_body,
                                      .replay = replay};
    return writer_run(self->writer, publish_op, &args);
}

/* publish_op that may run twice: a first run's replayed response goes. */
static enum bus_err publish_again_op(void *connection, void *arg)
{
    struct store_publish_call *args = arg;
    assert(args->replay != NULL); /* an out of every publish call (store.h) */
    stored_response_clear(args->replay);
    return publish_op(connection, arg);
}

/* A request's publish: its call (bus.c) starts zeroed, so replay->body is
 * NULL or a first run's. */
static enum bus_err sqlite_publish_submit(void *backend, struct store_publish_call *call,
                                          store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return submit_gated(self, call->nonce, publish_again_op, call, done, context);
}

/* ---- claim -------------------------------------------------------------- */

/* One claimable row into out, and its rowid into *row. */
static void read_claimed(sqlite3_stmt *stmt, struct claimed_intent *out, sqlite3_int64 *row)
{
    sql_copy_column(stmt, 0, out->id, sizeof out->id);
    sql_copy_column(stmt, 1, out->namespace_, sizeof out->namespace_);
    sql_copy_column(stmt, 2, out->goal, sizeof out->goal);
    out->payload_json = sql_dup_column(stmt, 3);
    out->claim_attempts = sqlite3_column_int(stmt, 4);
    out->max_attempts = sqlite3_column_int(stmt, 5);
    out->priority = sqlite3_column_int(stmt, 6);
    sql_copy_column(stmt, 7, out->target_worker, sizeof out->target_worker);
    sql_copy_column(stmt, 8, out->required_capability, sizeof out->required_capability);
    *row = sqlite3_column_int64(stmt, 9);
    out->eligible_since = sqlite3_column_double(stmt, 10);
    out->reclaimed = sqlite3_column_int(stmt, 11) != 0;
}

static void bind_claim_find(sqlite3_stmt *stmt, const struct claim_request *request)
{
    sqlite3_bind_text(stmt, 1, request->namespace_, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, request->now);
    sql_bind_text(stmt, 3, request->goal);
    sqlite3_bind_text(stmt, 4, request->claimer, -1, SQLITE_STATIC);
    sql_bind_text(stmt, 5, request->worker_id);
    sqlite3_bind_text(stmt, 6, request->capabilities_json ? request->capabilities_json : "[]", -1,
                      SQLITE_STATIC);
    sql_bind_text(stmt, 7, request->publisher);
}

/* Whether a lease has lapsed that no sweep has settled yet; on an error,
 * true, so that the find that follows reads everything (and meets the
 * error itself). Before the earliest lease end known, without a look:
 * while no lease lapses, a claim costs one statement less. */
static bool lease_lapsed(struct write_connection *conn, double now)
{
    if (now < conn->leases_end_from)
        return false;
    sqlite3_stmt *stmt = statement(conn, W_FIRST_LEASE_END);
    int rc = sqlite3_step(stmt);
    bool lapsed = true;
    if (rc == SQLITE_ROW) {
        double first =
            sqlite3_column_type(stmt, 0) == SQLITE_NULL ? INFINITY : sqlite3_column_double(stmt, 0);
        conn->leases_end_from = first;
        lapsed = first <= now;
    }
    sqlite3_reset(stmt);
    return lapsed;
}

/* A lease this connection has just written (a claim, an extend), ending
 * at end: lease_lapsed's bound comes down to it. */
static void note_lease_end(struct write_connection *conn, double end)
{
    if (end < conn->leases_end_from)
        conn->leases_end_from = end;
}

/* The find of a claim (one, or many): of the open rows alone unless a
 * lease has lapsed (CLAIM_FIND_LAPSED_SQL). */
static sqlite3_stmt *claim_find(struct write_connection *conn, const struct claim_request *request,
                                bool many)
{
    bool lapsed = lease_lapsed(conn, request->now);
    if (many)
        return statement(conn, lapsed ? W_CLAIM_FIND_MANY_LAPSED : W_CLAIM_FIND_MANY);
    return statement(conn, lapsed ? W_CLAIM_FIND_LAPSED : W_CLAIM_FIND);
}

/* The first eligible intent into out and its rowid into *row: BUS_OK,
 * BUS_ERR_EMPTY or an error. */
static enum bus_err find_claimable(struct write_connection *conn,
                                   const struct claim_request *request, struct claimed_intent *out,
                                   sqlite3_int64 *row)
{
    sqlite3_stmt *stmt = claim_find(conn, request, false);
    bind_claim_find(stmt, request);
    int rc = sqlite3_step(stmt);
    enum bus_err err = BUS_ERR_EMPTY;
    if (rc == SQLITE_ROW) {
        read_claimed(stmt, out, row);
        err = out->payload_json ? BUS_OK : BUS_ERR_INTERNAL;
    } else if (rc != SQLITE_DONE) {
        err = sql_map_error(conn->db, rc, "claim");
    }
    sqlite3_reset(stmt);
    return err;
}

/* The intent just moved to fulfilled or dead: arms its webhook delivery,
 * if it has one, in the same transaction. A statement here rather than a
 * trigger on intents: a trigger made every status update of intents run a
 * trigger program, about a third of the bus's CPU per job at batch 100
 * (docs/BENCHMARKS.md, "Batches"); this costs one look at an index, and
 * nothing while no intent has named a notify_url (webhooks_possible). */
static enum bus_err arm_webhook(struct write_connection *conn, const char *id, double now)
{
    if (!conn->webhooks_possible)
        return BUS_OK;
    sqlite3_stmt *stmt = statement(conn, W_WEBHOOK_ARM);
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, now);
    return run_statement(conn, stmt);
}

enum bus_err sql_end_attempt(struct write_connection *conn, const char *id, const char *outcome,
                             const char *error_text, double now)
{
    sqlite3_stmt *stmt = statement(conn, W_ATTEMPT_END);
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, outcome, -1, SQLITE_STATIC);
    sql_bind_text(stmt, 3, error_text);
    sqlite3_bind_double(stmt, 4, now);
    return run_statement(conn, stmt);
}

/* Takes the intent found into out, at rowid row, for request, with token. */
static enum bus_err take_claimed(struct write_connection *conn, const struct claim_request *request,
                                 const char *token, struct claimed_intent *out, sqlite3_int64 row)
{
    /* A lapsed lease taken back: its attempt is written before this
     * claim's replaces it in the intent's row. */
    if (out->reclaimed) {
        enum bus_err err =
            sql_end_attempt(conn, out->id, "lease_expired", "lease expired", out->eligible_since);
        if (err != BUS_OK)
            return err;
    }
    out->claim_attempts++;
    out->claim_expires_at = request->now + request->lease_seconds;
    sqlite3_stmt *stmt = statement(conn, W_CLAIM_TAKE);
    sqlite3_bind_text(stmt, 1, out->id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, out->claim_attempts);
    sqlite3_bind_text(stmt, 3, token, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, request->claimer, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 5, request->now);
    sqlite3_bind_double(stmt, 6, out->claim_expires_at);
    sql_bind_text(stmt, 7, request->worker_id);
    sqlite3_bind_int64(stmt, 8, row);
    enum bus_err err = run_row_update(conn, stmt);
    if (err == BUS_OK)
        note_lease_end(conn, out->claim_expires_at);
    return err;
}

static enum bus_err claim_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct store_claim_call *args = arg;
    sqlite3_int64 row = 0;
    enum bus_err err = find_claimable(conn, args->request, args->out, &row);
    return err == BUS_OK ? take_claimed(conn, args->request, args->request->token, args->out, row)
                         : err;
}

static enum bus_err sqlite_claim(void *backend, const struct claim_request *request,
                                 struct claimed_intent *out)
{
    struct sqlite_backend *self = backend;
    struct store_claim_call args = {NULL, request, out};
    return writer_run(self->writer, claim_op, &args);
}

/* claim_op that may run twice: a first run's payload goes. */
static enum bus_err claim_again_op(void *connection, void *arg)
{
    struct store_claim_call *args = arg;
    free(args->out->payload_json);
    args->out->payload_json = NULL;
    return claim_op(connection, arg);
}

/* A request's claim: its call (bus.c) starts zeroed, so out->payload_json
 * is NULL or a first run's. */
static enum bus_err sqlite_claim_submit(void *backend, struct store_claim_call *call,
                                        store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return submit_gated(self, call->nonce, claim_again_op, call, done, context);
}

/* ---- batch publish and claim -------------------------------------------- */

/* Each item is a publish of its own (publish_op), so it follows every rule
 * a single one does; the open-intent count sees the items inserted before
 * it in this transaction. An item's refusal writes nothing, so it needs no
 * savepoint of its own. */
static enum bus_err publish_many_op(void *connection, void *arg)
{
    return store_publish_each(connection, arg, publish_op);
}

static enum bus_err sqlite_publish_many(void *backend, struct store_publish_many_call *call)
{
    struct sqlite_backend *self = backend;
    return writer_run(self->writer, publish_many_op, call);
}

static enum bus_err sqlite_publish_many_submit(void *backend, struct store_publish_many_call *call,
                                               store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return submit_gated(self, call->nonce, publish_many_op, call, done, context);
}

/* One claim_op after another in the same transaction: each sees the ones
 * before it, so goal limits hold for the batch as for single claims, and
 * the single writer means no other claim runs in between. Each find scans
 * past every live lease ahead of it in the claim index, so this is for
 * namespaces with a goal limit only (claim_many_op). */
static enum bus_err claim_each(void *connection, struct store_claim_many_call *call)
{
    struct claim_request item = *call->request; /* shares capabilities_json: not cleared */
    *call->claimed = 0;
    for (int i = 0; i < call->max; i++) {
        memcpy(item.token, call->tokens[i], sizeof item.token);
        struct store_claim_call one = {NULL, &item, &call->out[i]};
        enum bus_err err = claim_op(connection, &one);
        if (err == BUS_ERR_EMPTY)
            break;
        if (err != BUS_OK)
            return err;
        (*call->claimed)++;
    }
    return *call->claimed > 0 ? BUS_OK : BUS_ERR_EMPTY;
}

/* Whether a goal of the namespace has a claim limit (*limited). */
static enum bus_err namespace_limited(struct write_connection *conn, const char *namespace_,
                                      bool *limited)
{
    sqlite3_stmt *stmt = statement(conn, W_GOAL_LIMITS);
    sqlite3_bind_text(stmt, 1, namespace_, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    *limited = rc == SQLITE_ROW;
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? BUS_OK : sql_map_error(conn->db, rc, "claim");
}

/* The batch's candidates: up to max eligible intents in claim order, in
 * one scan (K finds of one row would each start the scan again: with the
 * claim index of version 4, which held the live leases too, and 2,000
 * jobs held, a claim of 100 took 17 ms). Read to the
 * end before any is taken, so the scan never sees its own updates. Paused
 * goals are passed over by the find itself. */
static enum bus_err find_many(struct write_connection *conn, struct store_claim_many_call *call,
                              sqlite3_int64 *rows, int *found)
{
    sqlite3_stmt *stmt = claim_find(conn, call->request, true);
    bind_claim_find(stmt, call->request);
    sqlite3_bind_int(stmt, 8, call->max);
    int rc = SQLITE_DONE;
    enum bus_err err = BUS_OK;
    *found = 0;
    while (err == BUS_OK && *found < call->max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        read_claimed(stmt, &call->out[*found], &rows[*found]);
        err = call->out[(*found)++].payload_json ? BUS_OK : BUS_ERR_INTERNAL;
    }
    if (err == BUS_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = sql_map_error(conn->db, rc, "claim");
    sqlite3_reset(stmt);
    return err;
}

/* A batch claim: one scan for the candidates, then a take of each, unless
 * a goal of the namespace has a limit, which one scan could take past its
 * limit: then one claim at a time (claim_each). */
static enum bus_err claim_many_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct store_claim_many_call *call = arg;
    bool limited = false;
    int found = 0;
    *call->claimed = 0;
    enum bus_err err = namespace_limited(conn, call->request->namespace_, &limited);
    if (err != BUS_OK)
        return err;
    if (limited)
        return claim_each(connection, call);
    assert(call->max > 0);
    sqlite3_int64 *rows = malloc(sizeof *rows * (size_t)call->max);
    if (rows == NULL)
        return BUS_ERR_INTERNAL;
    err = find_many(conn, call, rows, &found);
    for (int i = 0; err == BUS_OK && i < found; i++)
        err = take_claimed(conn, call->request, call->tokens[i], &call->out[i], rows[i]);
    free(rows);
    if (err != BUS_OK)
        return err;
    *call->claimed = found;
    return found > 0 ? BUS_OK : BUS_ERR_EMPTY;
}

static enum bus_err sqlite_claim_many(void *backend, struct store_claim_many_call *call)
{
    struct sqlite_backend *self = backend;
    return writer_run(self->writer, claim_many_op, call);
}

static enum bus_err sqlite_claim_many_submit(void *backend, struct store_claim_many_call *call,
                                             store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return submit_gated(self, call->nonce, claim_many_op, call, done, context);
}

/* ---- lease operations: extend, fulfill, fail ---------------------------- */

struct lease_row {
    int claim_attempts;
    int max_attempts;
    double backoff_base;
    sqlite3_int64 rowid; /* for an update in the same transaction */
};

/* BUS_OK only when ref holds the current, unexpired lease. The token is
 * compared in C, in constant time, rather than in a WHERE clause. */
static enum bus_err check_lease(struct write_connection *conn, const struct lease_ref *ref,
                                struct lease_row *row)
{
    sqlite3_stmt *stmt = statement(conn, W_LEASE_GET);
    sqlite3_bind_text(stmt, 1, ref->id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    enum bus_err err = BUS_ERR_NOT_FOUND;
    if (rc == SQLITE_ROW) {
        const char *status = (const char *)sqlite3_column_text(stmt, 0);
        const char *token = (const char *)sqlite3_column_text(stmt, 1);
        const char *claimer = (const char *)sqlite3_column_text(stmt, 2);
        bool held =
            lease_is_held(ref, status, token, claimer, sqlite3_column_double(stmt, 3));
        row->claim_attempts = sqlite3_column_int(stmt, 4);
        row->max_attempts = sqlite3_column_int(stmt, 5);
        row->backoff_base = sqlite3_column_double(stmt, 6);
        row->rowid = sqlite3_column_int64(stmt, 10);
        if (held && ref->facts != NULL) {
            sql_copy_column(stmt, 7, ref->facts->namespace_, sizeof ref->facts->namespace_);
            sql_copy_column(stmt, 8, ref->facts->goal, sizeof ref->facts->goal);
            ref->facts->claimed_at = sqlite3_column_double(stmt, 9);
        }
        err = held ? BUS_OK : BUS_ERR_NOT_FOUND;
    } else if (rc != SQLITE_DONE) {
        err = sql_map_error(conn->db, rc, "lease lookup");
    }
    sqlite3_reset(stmt);
    return err;
}

static enum bus_err extend_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct store_extend_call *args = arg;
    struct lease_row row;
    enum bus_err err = check_lease(conn, args->ref, &row);
    if (err != BUS_OK)
        return err;
    *args->claim_expires_at = args->ref->now + args->seconds;
    sqlite3_stmt *stmt = statement(conn, W_EXTEND);
    sqlite3_bind_text(stmt, 1, args->ref->id, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, *args->claim_expires_at);
    sqlite3_bind_double(stmt, 3, args->ref->now);
    sqlite3_bind_int64(stmt, 4, row.rowid);
    err = run_row_update(conn, stmt);
    /* A shorter lease than it had may now end first. */
    if (err == BUS_OK)
        note_lease_end(conn, *args->claim_expires_at);
    return err;
}

static enum bus_err sqlite_extend(void *backend, const struct lease_ref *ref, double seconds,
                                  double *claim_expires_at)
{
    struct sqlite_backend *self = backend;
    struct store_extend_call args = {NULL, ref, seconds, claim_expires_at};
    return writer_run(self->writer, extend_op, &args);
}

static enum bus_err sqlite_extend_submit(void *backend, struct store_extend_call *call,
                                         store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return submit_gated(self, call->nonce, extend_op, call, done, context);
}

static enum bus_err fulfill_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct store_fulfill_call *args = arg;
    struct lease_row row;
    enum bus_err err = check_lease(conn, args->ref, &row);
    if (err != BUS_OK)
        return err;
    sqlite3_stmt *stmt = statement(conn, W_FULFILL);
    sqlite3_bind_text(stmt, 1, args->ref->id, -1, SQLITE_STATIC);
    sql_bind_text(stmt, 2, args->result_json);
    sql_bind_text(stmt, 3, args->result_json ? args->result_type : NULL);
    sqlite3_bind_double(stmt, 4, args->ref->now);
    sqlite3_bind_int64(stmt, 5, row.rowid);
    err = run_row_update(conn, stmt);
    /* The attempt needs no row: the intent keeps it, with its lease's end
     * (sqlite_attempts.c). */
    return err == BUS_OK ? arm_webhook(conn, args->ref->id, args->ref->now) : err;
}

static enum bus_err sqlite_fulfill(void *backend, const struct lease_ref *ref,
                                   const char *result_json, const char *result_type)
{
    struct sqlite_backend *self = backend;
    struct store_fulfill_call args = {NULL, ref, result_json, result_type};
    return writer_run(self->writer, fulfill_op, &args);
}

static enum bus_err sqlite_fulfill_submit(void *backend, struct store_fulfill_call *call,
                                          store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return submit_gated(self, call->nonce, fulfill_op, call, done, context);
}

/* The batch fulfil: one fulfill_op per item, in the same transaction, so
 * each follows every rule a single fulfil does. An item whose lease is not held
 * is refused by check_lease before fulfill_op writes anything, so it needs
 * no savepoint of its own. */
static enum bus_err fulfill_many_op(void *connection, void *arg)
{
    return store_fulfill_each(connection, arg, fulfill_op);
}

static enum bus_err sqlite_fulfill_many(void *backend, struct store_fulfill_many_call *call)
{
    struct sqlite_backend *self = backend;
    return writer_run(self->writer, fulfill_many_op, call);
}

static enum bus_err sqlite_fulfill_many_submit(void *backend, struct store_fulfill_many_call *call,
                                          store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return submit_gated(self, call->nonce, fulfill_many_op, call, done, context);
}

/* Moves an intent to dead and copies it into the dead-letter table; its
 * attempt ends with reason as outcome (a fulfilled one's ended with its
 * fulfil: an admin cancel of a fulfilled intent keeps that). The attempt
 * is written first: the kill forgets the lease. */
enum bus_err sql_kill_intent(struct write_connection *conn, const char *id,
                                const char *error_text, const char *reason, double now)
{
    enum bus_err err = sql_end_attempt(conn, id, reason, error_text, now);
    if (err == BUS_OK)
        err = arm_webhook(conn, id, now); /* before the update: it looks at the old status */
    if (err != BUS_OK)
        return err;
    sqlite3_stmt *stmt = statement(conn, W_KILL);
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sql_bind_text(stmt, 2, error_text);
    sqlite3_bind_double(stmt, 3, now);
    err = run_statement(conn, stmt);
    if (err != BUS_OK)
        return err;
    stmt = statement(conn, W_ARCHIVE);
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, reason, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 3, now);
    return run_statement(conn, stmt);
}

/* Puts a claimed intent back in the queue; its attempt ends with outcome. */
static enum bus_err requeue_intent(struct write_connection *conn, const char *id,
                                   const char *outcome, const char *error_text, double run_at,
                                   double now)
{
    enum bus_err err = sql_end_attempt(conn, id, outcome, error_text, now);
    if (err != BUS_OK)
        return err;
    sqlite3_stmt *stmt = statement(conn, W_REQUEUE);
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, run_at);
    sql_bind_text(stmt, 3, error_text);
    sqlite3_bind_double(stmt, 4, now);
    return run_statement(conn, stmt);
}

static enum bus_err fail_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct store_fail_call *args = arg;
    struct lease_row row;
    enum bus_err err = check_lease(conn, args->ref, &row);
    if (err != BUS_OK)
        return err;
    args->out->claim_attempts = row.claim_attempts;
    if (row.claim_attempts >= row.max_attempts) {
        args->out->status = INTENT_DEAD;
        args->out->run_at = NAN;
        return sql_kill_intent(conn, args->ref->id, args->error_text, "failed", args->ref->now);
    }
    args->out->status = INTENT_OPEN;
    args->out->run_at =
        args->ref->now + backoff_delay(row.backoff_base, row.claim_attempts, args->jitter);
    return requeue_intent(conn, args->ref->id, "failed", args->error_text, args->out->run_at,
                          args->ref->now);
}

static enum bus_err sqlite_fail(void *backend, const struct lease_ref *ref, const char *error_text,
                                double jitter, struct fail_outcome *out)
{
    struct sqlite_backend *self = backend;
    struct store_fail_call args = {NULL, ref, error_text, jitter, out};
    return writer_run(self->writer, fail_op, &args);
}

static enum bus_err sqlite_fail_submit(void *backend, struct store_fail_call *call,
                                       store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return submit_gated(self, call->nonce, fail_op, call, done, context);
}

/* ---- nonces of signed requests ----------------------------------------- */

/* The in-memory set decides (sqlite_nonces.c); a fresh nonce is also
 * appended to the table, for the next start, and taken out of the set
 * again when that fails. */
static enum bus_err nonce_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct nonce_args *args = arg;
    enum bus_err err = nonce_set_use(conn->nonces, args->principal, args->nonce, args->now,
                                     args->keep, args->fresh);
    if (err != BUS_OK || !*args->fresh)
        return err;
    sqlite3_stmt *stmt = statement(conn, W_NONCE_APPEND);
    sqlite3_bind_text(stmt, 1, args->principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, args->nonce, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 3, args->now);
    err = run_statement(conn, stmt);
    if (err != BUS_OK) {
        nonce_set_undo_last(conn->nonces);
        *args->fresh = false;
    }
    return err;
}

static enum bus_err sqlite_nonce_use(void *backend, const char *principal, const char *nonce,
                                     double now, double keep, bool *fresh)
{
    struct sqlite_backend *self = backend;
    struct nonce_args args = {principal, nonce, now, keep, fresh};
    return writer_run(self->writer, nonce_op, &args);
}

static enum bus_err sqlite_nonce_submit(void *backend, const struct store_nonce_call *call,
                                        store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return writer_submit(self->writer, nonce_gate_op, (void *)call, done, context);
}

/* ---- key-value store ---------------------------------------------------- */

static enum bus_err write_kv(struct write_connection *conn, const void *arg)
{
    const struct kv_write *write = arg;
    sqlite3_stmt *stmt = statement(conn, W_KV_SET);
    sqlite3_bind_text(stmt, 1, write->principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, write->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, write->value_json, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 4, write->expires_at);
    sqlite3_bind_double(stmt, 5, write->now);
    return run_statement(conn, stmt);
}

static enum bus_err kv_set_op(void *connection, void *arg)
{
    struct store_kv_set_call *call = arg;
    return idempotent_write(connection, call->idem, call->write->now, call->response_status,
                            call->response_body, call->replay, write_kv, call->write);
}

static enum bus_err sqlite_kv_set(void *backend, const struct kv_write *write,
                                  const struct idempotency *idem, unsigned response_status,
                                  const char *response_body, struct stored_response *replay)
{
    struct sqlite_backend *self = backend;
    struct store_kv_set_call call = {.write = write,
                                     .idem = idem,
                                     .response_status = response_status,
                                     .response_body = response_body,
                                     .replay = replay};
    return writer_run(self->writer, kv_set_op, &call);
}

static enum bus_err sqlite_kv_set_submit(void *backend, struct store_kv_set_call *call,
                                         store_done_fn done, void *context)
{
    return submit_gated(backend, call->nonce, kv_set_op, call, done, context);
}

/* ---- expired leases and cleanup ---------------------------------------- */

/* One expired lease, read before any of them is changed: rows must not be
 * updated while the SELECT that finds them is still stepping. */
struct expired_lease {
    char id[INTENT_ID_LEN + 1];
    int claim_attempts;
    int max_attempts;
    double backoff_base;
    char namespace_[NAMESPACE_MAX + 1];
    char goal[GOAL_MAX_BYTES + 1];
};

#define EXPIRED_LEASES_PER_PASS 1024

static enum bus_err read_expired_leases(struct write_connection *conn, enum writer_statement query,
                                        double now, struct expired_lease *out, int *count)
{
    sqlite3_stmt *stmt = statement(conn, query);
    sqlite3_bind_double(stmt, 1, now);
    int rc;
    *count = 0;
    while (*count < EXPIRED_LEASES_PER_PASS && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct expired_lease *lease = &out[(*count)++];
        sql_copy_column(stmt, 0, lease->id, sizeof lease->id);
        lease->claim_attempts = sqlite3_column_int(stmt, 1);
        lease->max_attempts = sqlite3_column_int(stmt, 2);
        lease->backoff_base = sqlite3_column_double(stmt, 3);
        sql_copy_column(stmt, 4, lease->namespace_, sizeof lease->namespace_);
        sql_copy_column(stmt, 5, lease->goal, sizeof lease->goal);
    }
    if (*count < EXPIRED_LEASES_PER_PASS && rc != SQLITE_DONE) {
        sqlite3_reset(stmt);
        return sql_map_error(conn->db, rc, "expired lease scan");
    }
    sqlite3_reset(stmt);
    return BUS_OK;
}

/* Dead-letters or requeues one lapsed lease, counting it for its goal. */
static enum bus_err settle_lease(struct write_connection *conn, const struct expired_lease *lease,
                                 double now, struct goal_tallies *goals)
{
    bool dead = lease->claim_attempts >= lease->max_attempts;
    enum bus_err err = goal_tallies_add(goals, lease->namespace_, lease->goal,
                                        dead ? TALLY_LEASE_DEAD : TALLY_LEASE_REQUEUED);
    if (err != BUS_OK)
        return err;
    if (dead)
        return sql_kill_intent(conn, lease->id, "lease expired", "lease_expired", now);
    double delay =
        backoff_delay(lease->backoff_base, lease->claim_attempts, backoff_random_jitter());
    return requeue_intent(conn, lease->id, "lease_expired", "lease expired", now + delay, now);
}

/* Settles up to a pass's worth of the lapsed leases query finds. */
static enum bus_err settle_leases(struct write_connection *conn, enum writer_statement query,
                                  double now, struct goal_tallies *goals, long *dead,
                                  long *requeued)
{
    struct expired_lease *leases = malloc(EXPIRED_LEASES_PER_PASS * sizeof *leases);
    if (leases == NULL)
        return BUS_ERR_INTERNAL;
    int count = 0;
    enum bus_err err = read_expired_leases(conn, query, now, leases, &count);
    for (int i = 0; err == BUS_OK && i < count; i++) {
        err = settle_lease(conn, &leases[i], now, goals);
        if (leases[i].claim_attempts >= leases[i].max_attempts)
            (*dead)++;
        else
            (*requeued)++;
    }
    free(leases);
    return err;
}

static enum bus_err sweep_op(void *connection, void *arg)
{
    struct store_sweep_call *call = arg;
    long requeued = 0;
    call->dead_count = 0;
    goal_tallies_reset(&call->goals);
    enum bus_err err = settle_leases(connection, W_EXHAUSTED_LEASES, call->now, &call->goals,
                                     &call->dead_count, &requeued);
    assert(requeued == 0);
    if (err != BUS_OK)
        call->dead_count = 0;
    return err;
}

static enum bus_err sqlite_sweep_submit(void *backend, struct store_sweep_call *call,
                                        store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return writer_submit(self->writer, sweep_op, call, done, context);
}

/* Runs one DELETE with its cut-off time and adds the rows removed. */
static enum bus_err delete_before(struct write_connection *conn, enum writer_statement id,
                                  double cutoff, long *counter)
{
    sqlite3_stmt *stmt = statement(conn, id);
    sqlite3_bind_double(stmt, 1, cutoff);
    enum bus_err err = run_statement(conn, stmt);
    if (err == BUS_OK)
        *counter += sqlite3_changes(conn->db);
    return err;
}

static enum bus_err cleanup_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct store_cleanup_call *call = arg;
    double now = call->now;
    struct cleanup_stats *stats = &call->stats;
    struct goal_tallies goals = stats->goals;
    memset(stats, 0, sizeof *stats);
    stats->goals = goals;
    goal_tallies_reset(&stats->goals);
    enum bus_err err = delete_before(conn, W_DELETE_EXPIRED_OPEN, now, &stats->expired_open_deleted);
    if (err == BUS_OK)
        err = settle_leases(conn, W_EXPIRED_LEASES, now, &stats->goals, &stats->expired_claims_dead,
                            &stats->expired_claims_requeued);
    double retained_since = now - call->retention_seconds;
    if (err == BUS_OK)
        err = delete_before(conn, W_DELETE_FULFILLED, retained_since, &stats->fulfilled_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, W_DELETE_DEAD, retained_since, &stats->dead_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, W_DELETE_DEAD_LETTERS, retained_since,
                            &stats->dead_letters_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, W_DELETE_KV, now, &stats->store_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, W_DELETE_IDEMPOTENCY, now - IDEMPOTENCY_RETENTION_SECONDS,
                            &stats->idempotency_deleted);
    if (err == BUS_OK)
        err = delete_before(conn, W_DELETE_NONCES, now - NONCE_RETENTION_SECONDS,
                            &stats->nonces_deleted);
    return err;
}

static enum bus_err sqlite_cleanup(void *backend, double now, double retention_seconds,
                                   struct cleanup_stats *stats)
{
    struct sqlite_backend *self = backend;
    struct store_cleanup_call call = {
        .now = now, .retention_seconds = retention_seconds, .stats = *stats};
    enum bus_err err = writer_run(self->writer, cleanup_op, &call);
    *stats = call.stats;
    return err;
}

static enum bus_err sqlite_cleanup_submit(void *backend, struct store_cleanup_call *call,
                                          store_done_fn done, void *context)
{
    struct sqlite_backend *self = backend;
    return writer_submit(self->writer, cleanup_op, call, done, context);
}

/* ---- reads, on the pool of read-only connections ------------------------ */

struct read_connection *sql_reader_acquire(struct sqlite_backend *self)
{
    pthread_mutex_lock(&self->readers_lock);
    while (self->free_readers == NULL || self->reopening)
        pthread_cond_wait(&self->reader_returned, &self->readers_lock);
    struct read_connection *reader = self->free_readers;
    self->free_readers = reader->next_free;
    pthread_mutex_unlock(&self->readers_lock);
    return reader;
}

void sql_reader_release(struct sqlite_backend *self, struct read_connection *reader)
{
    pthread_mutex_lock(&self->readers_lock);
    reader->next_free = self->free_readers;
    self->free_readers = reader;
    pthread_cond_signal(&self->reader_returned);
    pthread_mutex_unlock(&self->readers_lock);
}

static void sqlite_pool_usage(void *backend, long *size, long *in_use)
{
    struct sqlite_backend *self = backend;
    pthread_mutex_lock(&self->readers_lock);
    long idle = 0;
    for (const struct read_connection *r = self->free_readers; r != NULL; r = r->next_free)
        idle++;
    *size = self->reader_count;
    *in_use = self->reader_count - idle;
    pthread_mutex_unlock(&self->readers_lock);
}

void sql_read_record(sqlite3_stmt *stmt, struct intent_record *out)
{
    char status[16];
    sql_copy_column(stmt, 0, out->id, sizeof out->id);
    sql_copy_column(stmt, 1, out->namespace_, sizeof out->namespace_);
    sql_copy_column(stmt, 2, out->goal, sizeof out->goal);
    sql_copy_column(stmt, 3, status, sizeof status);
    if (!intent_status_parse(status, &out->status))
        out->status = INTENT_DEAD;
    out->is_public = strcmp((const char *)sqlite3_column_text(stmt, 4), "public") == 0;
    out->priority = sqlite3_column_int(stmt, 5);
    out->claim_attempts = sqlite3_column_int(stmt, 6);
    out->max_attempts = sqlite3_column_int(stmt, 7);
    out->backoff_base = sqlite3_column_double(stmt, 8);
    sql_copy_column(stmt, 9, out->target_worker, sizeof out->target_worker);
    sql_copy_column(stmt, 10, out->required_capability, sizeof out->required_capability);
    sql_copy_column(stmt, 11, out->publisher, sizeof out->publisher);
    sql_copy_column(stmt, 12, out->claimed_by, sizeof out->claimed_by);
    out->run_at = sql_double_column(stmt, 13);
    out->created_at = sql_double_column(stmt, 14);
    out->expires_at = sql_double_column(stmt, 15);
    out->claimed_at = sql_double_column(stmt, 16);
    out->claim_expires_at = sql_double_column(stmt, 17);
    out->completed_at = sql_double_column(stmt, 18);
    sql_copy_column(stmt, 19, out->result_type, sizeof out->result_type);
    out->payload_json = sql_dup_column(stmt, 20);
    out->result_json = sql_dup_column(stmt, 21);
    out->last_error = sql_dup_column(stmt, 22);
    sql_copy_column(stmt, 23, out->worker_id, sizeof out->worker_id);
}

static enum bus_err sqlite_get_intent(void *backend, const char *id, struct intent_record *out)
{
    struct sqlite_backend *self = backend;
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt = reader->get_intent;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    enum bus_err err = BUS_ERR_NOT_FOUND;
    if (rc == SQLITE_ROW) {
        sql_read_record(stmt, out);
        err = out->payload_json ? BUS_OK : BUS_ERR_INTERNAL;
    } else if (rc != SQLITE_DONE) {
        err = sql_map_error(reader->db, rc, "intent read");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    sql_reader_release(self, reader);
    return err;
}

static enum bus_err sqlite_kv_get(void *backend, const char *principal, const char *key,
                                  double now, char **value_json)
{
    struct sqlite_backend *self = backend;
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt = reader->kv_get;
    sqlite3_bind_text(stmt, 1, principal, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 3, now);
    int rc = sqlite3_step(stmt);
    enum bus_err err = BUS_ERR_NOT_FOUND;
    *value_json = NULL;
    if (rc == SQLITE_ROW) {
        *value_json = sql_dup_column(stmt, 0);
        err = *value_json ? BUS_OK : BUS_ERR_INTERNAL;
    } else if (rc != SQLITE_DONE) {
        err = sql_map_error(reader->db, rc, "kv read");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    sql_reader_release(self, reader);
    return err;
}

enum bus_err sql_key_owner(sqlite3 *db, sqlite3_stmt *stmt, const char *key_hash,
                           char owner[OWNER_MAX_BYTES + 1])
{
    sqlite3_bind_text(stmt, 1, key_hash, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    enum bus_err err = BUS_ERR_NOT_FOUND;
    if (rc == SQLITE_ROW) {
        sql_copy_column(stmt, 0, owner, OWNER_MAX_BYTES + 1);
        err = BUS_OK;
    } else if (rc != SQLITE_DONE) {
        err = sql_map_error(db, rc, "key lookup");
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return err;
}

static enum bus_err sqlite_key_lookup(void *backend, const char *key_hash,
                                      char owner[OWNER_MAX_BYTES + 1])
{
    struct sqlite_backend *self = backend;
    struct read_connection *reader = sql_reader_acquire(self);
    enum bus_err err = sql_key_owner(reader->db, reader->key_lookup, key_hash, owner);
    sql_reader_release(self, reader);
    return err;
}

/* ---- opening and closing ------------------------------------------------ */

/* NORMAL in WAL mode syncs at checkpoints, not at every commit: a commit
 * survives the process being killed, though not a power cut. FULL syncs the
 * WAL at every commit (once per group-commit batch): it survives both. */
static int configure_connection(sqlite3 *db, bool sync_full)
{
    sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
    return sqlite3_exec(db,
                        sync_full ? "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF;"
                                  : "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;",
                        NULL, NULL, NULL);
}

/* The stored schema gets a new schema_version after a hand edit, or other
 * connections would go on with the old definition. */
static int bump_schema_version(sqlite3 *db, char **message)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA schema_version", -1, &stmt, NULL);
    long long version = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        version = sqlite3_column_int64(stmt, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK)
        return rc;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA schema_version = %lld", version + 1);
    return sqlite3_exec(db, sql, NULL, NULL, message);
}

/* Swaps the version 2 status CHECK for its equivalent in the table's
 * stored definition, as SQLite's documentation allows for a constraint
 * every row already meets: the file format does not change. */
static int upgrade_status_check(sqlite3 *db, char **message)
{
    static const char rewrite[] = "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2)"
                                  " WHERE type = 'table' AND name = 'intents' AND instr(sql, ?1) > 0";
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE; PRAGMA writable_schema = ON;", NULL, NULL, message);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, rewrite, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, STATUS_CHECK_V2, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, STATUS_CHECK, -1, SQLITE_STATIC);
        rc = sqlite3_step(stmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    }
    bool changed = rc == SQLITE_OK && sqlite3_changes(db) > 0;
    sqlite3_finalize(stmt);
    if (rc == SQLITE_OK && changed)
        rc = bump_schema_version(db, message);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA writable_schema = RESET; COMMIT;", NULL, NULL, message);
    if (rc != SQLITE_OK)
        sqlite3_exec(db, "PRAGMA writable_schema = RESET; ROLLBACK;", NULL, NULL, NULL);
    return rc;
}

/* The schema, unless the file has it already: running it writes (if only
 * user_version), and a database on a full disk must still open, so that
 * what was acknowledged can be read. */
static int create_schema(sqlite3 *db, char **message)
{
    sqlite3_stmt *stmt = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    if (version == SCHEMA_LATEST)
        return SQLITE_OK;
    int rc = sqlite3_exec(db, schema_sql, NULL, NULL, message);
    if (rc == SQLITE_OK)
        rc = add_worker_column(db, message);
    if (rc == SQLITE_OK)
        rc = sql_schedules_schema(db, message);
    if (rc == SQLITE_OK)
        rc = sql_goals_schema(db, message);
    if (rc == SQLITE_OK)
        rc = sql_attempts_schema(db, message);
    if (rc == SQLITE_OK)
        rc = sql_webhooks_schema(db, message);
    if (rc == SQLITE_OK)
        rc = sql_nonces_schema(db, message);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, open_scan_sql, NULL, NULL, message);
    if (rc == SQLITE_OK)
        rc = sql_attempt_history_schema(db, message);
    return rc == SQLITE_OK ? add_capped(db, message) : rc;
}

/* The name and flags to open conn's database with: read-only (a URI,
 * malloc'd in *uri) when its storage cannot be written, so that the
 * server still starts and serves reads. -1 when out of memory. */
static int open_how(const struct write_connection *conn, char **uri, int *flags)
{
    *uri = NULL;
    *flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (!conn->read_only)
        return 0;
    *flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;
    *uri = sql_read_only_uri(conn->path);
    return *uri != NULL ? 0 : -1;
}

/* Opens conn->path for the writer; read-only (conn->read_only) its schema
 * must be the latest already, as nothing can be written. */
static int open_writer(struct write_connection *conn)
{
    char *message = NULL, *uri = NULL;
    int flags = 0;
    forget_lease_ends(conn);
    if (open_how(conn, &uri, &flags) != 0)
        return -1;
    /* Only the writer appends to the WAL, so only its connection needs the
     * buffering VFS: one write per commit (sqlite_wal_buffer.c). */
    int rc = sqlite3_open_v2(uri ? uri : conn->path, &conn->db, flags, sql_wal_buffer_vfs());
    free(uri);
    if (rc != SQLITE_OK || configure_connection(conn->db, conn->sync_full) != SQLITE_OK ||
        (!conn->read_only &&
         sqlite3_exec(conn->db, "PRAGMA journal_mode = WAL; " WAL_AUTOCHECKPOINT, NULL, NULL,
                      &message) != SQLITE_OK) ||
        create_schema(conn->db, &message) != SQLITE_OK ||
        (!conn->read_only && upgrade_status_check(conn->db, &message) != SQLITE_OK)) {
        fprintf(stderr, "intent-bus: cannot open database %s%s: %s\n", conn->path,
                conn->read_only ? " (read-only)" : "",
                message ? message : sqlite3_errmsg(conn->db));
        sqlite3_free(message);
        return -1;
    }
    for (int i = 0; i < W_STATEMENT_COUNT; i++) {
        if (sqlite3_prepare_v3(conn->db, writer_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &conn->statements[i], NULL) != SQLITE_OK) {
            fprintf(stderr, "intent-bus: cannot prepare statement %d: %s\n", i,
                    sqlite3_errmsg(conn->db));
            return -1;
        }
    }
    conn->webhooks_possible = sql_webhooks_any(conn->db);
    return 0;
}

/* Closes what open_writer opened, leaving conn ready to open again. */
static void close_writer(struct write_connection *conn)
{
    for (int i = 0; i < W_STATEMENT_COUNT; i++) {
        sqlite3_finalize(conn->statements[i]);
        conn->statements[i] = NULL;
    }
    sqlite3_close(conn->db);
    conn->db = NULL;
}

/* Opens a read connection as the writer's is (writes: both read-only
 * when the storage is, see open_how). */
static int open_reader(struct read_connection *reader, const struct write_connection *writes)
{
    char *uri = NULL;
    int flags = 0;
    if (open_how(writes, &uri, &flags) != 0)
        return -1;
    flags = (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY;
    int rc = sqlite3_open_v2(uri ? uri : writes->path, &reader->db, flags, NULL);
    free(uri);
    if (rc != SQLITE_OK ||
        configure_connection(reader->db, false) != SQLITE_OK ||
        sqlite3_prepare_v3(reader->db, reader_get_intent_sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &reader->get_intent, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(reader->db, reader_kv_get_sql, -1, SQLITE_PREPARE_PERSISTENT,
                           &reader->kv_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(reader->db, sql_key_owner_query, -1, SQLITE_PREPARE_PERSISTENT,
                           &reader->key_lookup, NULL) != SQLITE_OK) {
        fprintf(stderr, "intent-bus: cannot open read connection to %s: %s\n", writes->path,
                sqlite3_errmsg(reader->db));
        return -1;
    }
    return 0;
}

/* Closes what open_reader opened, leaving reader ready to open again
 * (its place in the pool, next_free, is kept). */
static void close_reader(struct read_connection *reader)
{
    sqlite3_finalize(reader->get_intent);
    sqlite3_finalize(reader->kv_get);
    sqlite3_finalize(reader->key_lookup);
    sqlite3_close(reader->db);
    reader->get_intent = reader->kv_get = reader->key_lookup = NULL;
    reader->db = NULL;
}

static void sqlite_close(void *backend)
{
    struct sqlite_backend *self = backend;
    writer_stop(self->writer);
    sqlite_checkpointer_stop(self->checkpointer, self->writes.db);
    for (int i = 0; i < self->reader_count; i++)
        close_reader(&self->readers[i]);
    close_writer(&self->writes);
    nonce_set_free(self->writes.nonces);
    if (self->owner_fd >= 0) /* only now: every connection to the file is closed */
        close(self->owner_fd);
    free(self->readers);
    free(self->path);
    pthread_cond_destroy(&self->reader_returned);
    pthread_mutex_destroy(&self->readers_lock);
    free(self);
}

static const struct store_write_stats *sqlite_write_stats(void *backend)
{
    struct sqlite_backend *self = backend;
    return writer_stats(self->writer);
}

static const struct store_ops sqlite_ops = {
    .close = sqlite_close,
    .write_stats = sqlite_write_stats,
    .pool_usage = sqlite_pool_usage,
    .publish = sqlite_publish,
    .claim = sqlite_claim,
    .extend = sqlite_extend,
    .fulfill = sqlite_fulfill,
    .publish_submit = sqlite_publish_submit,
    .claim_submit = sqlite_claim_submit,
    .publish_many = sqlite_publish_many,
    .publish_many_submit = sqlite_publish_many_submit,
    .claim_many = sqlite_claim_many,
    .claim_many_submit = sqlite_claim_many_submit,
    .fulfill_submit = sqlite_fulfill_submit,
    .fulfill_many = sqlite_fulfill_many,
    .fulfill_many_submit = sqlite_fulfill_many_submit,
    .fail = sqlite_fail,
    .extend_submit = sqlite_extend_submit,
    .fail_submit = sqlite_fail_submit,
    .get_intent = sqlite_get_intent,
    .kv_set = sqlite_kv_set,
    .kv_set_submit = sqlite_kv_set_submit,
    .kv_get = sqlite_kv_get,
    .cleanup = sqlite_cleanup,
    .sweep_submit = sqlite_sweep_submit,
    .cleanup_submit = sqlite_cleanup_submit,
    .nonce_use = sqlite_nonce_use,
    .nonce_submit = sqlite_nonce_submit,
    .key_create = sql_key_create,
    .key_revoke = sql_key_revoke,
    .key_lookup = sqlite_key_lookup,
    .key_list = sql_key_list,
    .queue_counts = sql_queue_counts,
    .oldest_open = sql_oldest_open,
    .goal_counts = sql_goal_counts,
    .key_find = sql_key_find,
    .worker_leases = sql_worker_leases,
    .audit_add = sql_audit_add,
    .audit_list = sql_audit_list,
    .intent_list = sql_intent_list,
    .intent_cancel = sql_intent_cancel,
    .attempt_list = sql_attempt_list,
    .intent_retry = sql_intent_retry,
    .dead_list = sql_dead_list,
    .dead_purge = sql_dead_purge,
    .dead_get = sql_dead_get,
    .purge = sql_purge,
    .schedule_put = sql_schedule_put,
    .schedule_get = sql_schedule_get,
    .schedule_list = sql_schedule_list,
    .schedule_set_paused = sql_schedule_set_paused,
    .schedule_delete = sql_schedule_delete,
    .schedule_due = sql_schedule_due,
    .schedule_step = sql_schedule_step,
    .schedule_fires = sql_schedule_fires,
    .goal_control_set = sql_goal_control_set,
    .goal_control_list = sql_goal_control_list,
    .webhook_take = sql_webhook_take,
    .webhook_record = sql_webhook_record,
    .webhook_get = sql_webhook_get,
    .webhook_pending = sql_webhook_pending,
};

static bool load_nonces(struct write_connection *conn)
{
    if (sql_nonces_load(conn->db, conn->nonces, clock_now()) == SQLITE_OK)
        return true;
    fprintf(stderr, "intent-bus: cannot read the nonces of %s: %s\n", conn->path,
            sqlite3_errmsg(conn->db));
    return false;
}

static int open_readers(struct sqlite_backend *self, int count)
{
    self->readers = calloc((size_t)count, sizeof *self->readers);
    if (self->readers == NULL)
        return -1;
    for (int i = 0; i < count; i++) {
        if (open_reader(&self->readers[i], &self->writes) != 0) {
            self->reader_count = i + 1;
            return -1;
        }
        self->readers[i].next_free = self->free_readers;
        self->free_readers = &self->readers[i];
    }
    self->reader_count = count;
    return 0;
}

/* SQLite counts every allocation under a process-wide mutex unless told
 * not to; nothing here reads those counts (sqlite3_memory_used), and the
 * lock and unlock around each malloc and free were about 2 % of the
 * server's CPU per job (docs/BENCHMARKS.md, "Server CPU per job, third
 * step"). Only possible before SQLite's first use in the process: a later
 * call is refused (SQLITE_MISUSE) and changes nothing, which is harmless. */
static void configure_library_once(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct store *store_sqlite_open(const char *path, int reader_count, bool sync_full)
{
    if (sqlite3_libversion_number() < 3035000) {
        fprintf(stderr, "intent-bus: SQLite %s is too old: 3.35.0 or newer is required\n",
                sqlite3_libversion());
        return NULL;
    }
    static pthread_once_t library_configured = PTHREAD_ONCE_INIT;
    pthread_once(&library_configured, configure_library_once);
    struct sqlite_backend *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    pthread_mutex_init(&self->readers_lock, NULL);
    pthread_cond_init(&self->reader_returned, NULL);
    self->store.ops = &sqlite_ops;
    self->store.backend = self;
    self->writes.path = self->path = strdup(path);
    self->writes.sync_full = sync_full;
    self->writes.backend = self;
    self->writes.read_only = self->path != NULL && sql_storage_read_only(path);
    if (self->writes.read_only)
        fprintf(stderr, "intent-bus: %s cannot be written: serving reads, writes refused until "
                        "it can\n", path);
    /* The lock first (it creates the file), then the writer, so readers
     * find the schema; the nonces of the last window before any request. */
    self->owner_fd = sql_owner_lock(path);
    self->writes.nonces = nonce_set_new(NONCE_RETENTION_SECONDS, NONCE_SET_MOST_SLOTS);
    bool opened = self->path != NULL && self->owner_fd >= 0 && self->writes.nonces != NULL &&
                  open_writer(&self->writes) == 0 && load_nonces(&self->writes) &&
                  open_readers(self, reader_count > 0 ? reader_count : 1) == 0;
    /* Without its thread the writer keeps SQLite's autocheckpoint (as it
     * does once a read-only database becomes writable). */
    if (opened && !self->writes.read_only)
        self->checkpointer = sqlite_checkpointer_start(path, sync_full, self->writes.db,
                                                       &sqlite_checkpoint_default_sizes);
    if (opened)
        self->writer = writer_start(&self->writes, &sqlite_writer_hooks, MAX_BATCH);
    if (self->writer != NULL)
        writer_gather(self->writer, GATHER_MICROSECONDS);
    if (self->writer == NULL) {
        sqlite_close(self);
        return NULL;
    }
    return &self->store;
}
