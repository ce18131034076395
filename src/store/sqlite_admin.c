/* The SQLite backend's tester keys and admin operations (spec section 8).
 * These run rarely, so their statements are prepared per call rather than
 * kept; writes still go through the writer thread like every other write. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

/* Prepares sql on db; NULL (logged) on failure. */
static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        sql_map_error(db, SQLITE_ERROR, "prepare");
        return NULL;
    }
    return stmt;
}

/* Runs a statement with up to one text and one number parameter (?1 text,
 * ?2 number; NULL text binds NULL; a statement that uses only ?2 still has
 * ?1, as SQLite counts parameters up to the highest index) and adds the
 * rows it changed. */
static enum bus_err execute(sqlite3 *db, const char *sql, const char *text, double number,
                            long *changes)
{
    sqlite3_stmt *stmt = prepare(db, sql);
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    if (sqlite3_bind_parameter_count(stmt) >= 1)
        sql_bind_text(stmt, 1, text);
    if (sqlite3_bind_parameter_count(stmt) >= 2)
        sqlite3_bind_double(stmt, 2, number);
    int rc = sqlite3_step(stmt);
    enum bus_err err = rc == SQLITE_DONE || rc == SQLITE_ROW ? BUS_OK
                                                              : sql_map_error(db, rc, "admin write");
    if (err == BUS_OK && changes != NULL)
        *changes += sqlite3_changes(db);
    sqlite3_finalize(stmt);
    return err;
}

/* ---- tester keys -------------------------------------------------------- */

struct key_args {
    const char *key_hash;
    const char *owner_in;
    char *owner_out;
    double now;
};

static enum bus_err key_create_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct key_args *args = arg;
    sqlite3_stmt *stmt = prepare(conn->db, "INSERT INTO api_keys (key_hash, owner, created_at)"
                                           " VALUES (?1, ?2, ?3)");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, args->key_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, args->owner_in, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 3, args->now);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? BUS_OK : sql_map_error(conn->db, rc, "key insert");
}

enum bus_err sql_key_create(void *backend, const char *key_hash, const char *owner, double now)
{
    struct sqlite_backend *self = backend;
    struct key_args args = {key_hash, owner, NULL, now};
    return writer_run(self->writer, key_create_op, &args);
}

static enum bus_err find_active_owner(sqlite3 *db, const char *key_hash, char *owner)
{
    sqlite3_stmt *stmt = prepare(db, sql_key_owner_query);
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    enum bus_err err = sql_key_owner(db, stmt, key_hash, owner);
    sqlite3_finalize(stmt);
    return err;
}

static enum bus_err key_revoke_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct key_args *args = arg;
    enum bus_err err = find_active_owner(conn->db, args->key_hash, args->owner_out);
    if (err == BUS_OK)
        err = execute(conn->db, "UPDATE api_keys SET revoked_at = ?2 WHERE key_hash = ?1",
                      args->key_hash, args->now, NULL);
    if (err == BUS_OK) /* a principal is the key's hash */
        err = execute(conn->db, "DELETE FROM idempotency WHERE principal = ?1", args->key_hash, 0,
                      NULL);
    /* The in-memory set keeps the key's nonces (by hash, not by principal)
     * until they age out of the window; a revoked key signs nothing more,
     * so none of them can be asked about again. */
    if (err == BUS_OK)
        err = execute(conn->db, "DELETE FROM nonces WHERE principal = ?1", args->key_hash, 0,
                      NULL);
    return err;
}

enum bus_err sql_key_revoke(void *backend, const char *key_hash, double now,
                            char owner[OWNER_MAX_BYTES + 1])
{
    struct sqlite_backend *self = backend;
    struct key_args args = {key_hash, NULL, owner, now};
    return writer_run(self->writer, key_revoke_op, &args);
}

/* Steps a read statement, calling row(stmt, context) per row. */
static enum bus_err for_each_row(struct sqlite_backend *self, const char *sql, const char *text,
                                 double number, void (*row)(sqlite3_stmt *, void *), void *context)
{
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt = prepare(reader->db, sql);
    enum bus_err err = BUS_ERR_INTERNAL;
    if (stmt != NULL) {
        if (sqlite3_bind_parameter_count(stmt) >= 1)
            sql_bind_text(stmt, 1, text);
        if (sqlite3_bind_parameter_count(stmt) >= 2)
            sqlite3_bind_double(stmt, 2, number);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            row(stmt, context);
        err = rc == SQLITE_DONE ? BUS_OK : sql_map_error(reader->db, rc, "admin read");
        sqlite3_finalize(stmt);
    }
    sql_reader_release(self, reader);
    return err;
}

struct key_rows {
    store_each_key each;
    void *context;
};

static void key_row(sqlite3_stmt *stmt, void *context)
{
    struct key_rows *rows = context;
    struct api_key_record key;
    sql_copy_column(stmt, 0, key.key_hash, sizeof key.key_hash);
    sql_copy_column(stmt, 1, key.owner, sizeof key.owner);
    key.created_at = sql_double_column(stmt, 2);
    key.revoked_at = sql_double_column(stmt, 3);
    key.open_intents = (long)sqlite3_column_int64(stmt, 4);
    rows->each(rows->context, &key);
}

enum bus_err sql_key_list(void *backend, store_each_key each, void *context)
{
    struct key_rows rows = {each, context};
    return for_each_row(backend,
                        "SELECT k.key_hash, k.owner, k.created_at, k.revoked_at,"
                        " (SELECT COUNT(*) FROM intents i WHERE i.publisher = k.key_hash"
                        "  AND i.status = 'open' AND i.capped = 1)"
                        " FROM api_keys k ORDER BY k.created_at DESC",
                        NULL, 0, key_row, &rows);
}

/* ---- queue views -------------------------------------------------------- */

struct count_rows {
    store_each_count each;
    void *context;
};

static void count_row(sqlite3_stmt *stmt, void *context)
{
    struct count_rows *rows = context;
    rows->each(rows->context, (const char *)sqlite3_column_text(stmt, 0),
               (const char *)sqlite3_column_text(stmt, 1), (long)sqlite3_column_int64(stmt, 2));
}

static void single_count(sqlite3_stmt *stmt, void *context)
{
    *(long *)context = (long)sqlite3_column_int64(stmt, 0);
}

enum bus_err sql_queue_counts(void *backend, double now, store_each_count each, void *context,
                              struct queue_totals *totals)
{
    struct count_rows rows = {each, context};
    memset(totals, 0, sizeof *totals);
    enum bus_err err = for_each_row(
        backend,
        "SELECT namespace, CASE WHEN status = 'claimed' AND claim_expires_at <= ?2"
        " THEN 'expired' ELSE status END AS state, COUNT(*) FROM intents"
        " GROUP BY namespace, state ORDER BY namespace, state",
        NULL, now, count_row, &rows);
    if (err == BUS_OK)
        err = for_each_row(backend, "SELECT COUNT(*) FROM dead_letters", NULL, 0, single_count,
                           &totals->dead_letters);
    if (err == BUS_OK)
        err = for_each_row(backend, "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL",
                           NULL, 0, single_count, &totals->active_keys);
    return err;
}

struct oldest_rows {
    store_each_oldest each;
    void *context;
};

static void oldest_row(sqlite3_stmt *stmt, void *context)
{
    struct oldest_rows *rows = context;
    rows->each(rows->context, (const char *)sqlite3_column_text(stmt, 0),
               (const char *)sqlite3_column_text(stmt, 1), sqlite3_column_double(stmt, 2));
}

/* Reads the open rows through the claim index (intents_open_scan: it
 * covers namespace, run_at, goal and status), so no table row is read; the cost
 * grows with the number of open intents, once per scrape. */
enum bus_err sql_oldest_open(void *backend, double now, int limit, store_each_oldest each,
                             void *context)
{
    struct oldest_rows rows = {each, context};
    char limit_text[16];
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    return for_each_row(backend,
                        "SELECT namespace, goal, MIN(run_at) AS since FROM intents"
                        " WHERE status = 'open' AND run_at <= ?2"
                        " GROUP BY namespace, goal ORDER BY since LIMIT CAST(?1 AS INTEGER)",
                        limit_text, now, oldest_row, &rows);
}

struct intent_rows {
    store_each_intent each;
    void *context;
};

static void intent_row(sqlite3_stmt *stmt, void *context)
{
    struct intent_rows *rows = context;
    struct intent_record record = {0};
    sql_read_record(stmt, &record);
    rows->each(rows->context, &record);
    intent_record_clear(&record);
}

/* Every filter is optional (NULL matches all). The id prefix is hex, checked
 * by the bus, so it holds no LIKE wildcard. */
#define INTENT_LIST_SQL                                                                         \
    "SELECT " INTENT_COLUMNS " FROM intents"                                                   \
    " WHERE (?1 IS NULL OR CASE ?1"                                                            \
    "  WHEN 'claimed' THEN status = 'claimed' AND claim_expires_at > ?12"                      \
    "  WHEN 'expired' THEN status = 'claimed' AND claim_expires_at <= ?12"                     \
    "  WHEN 'scheduled' THEN status = 'open' AND run_at > ?12"                                 \
    "  ELSE status = ?1 END)"                                                                   \
    " AND (?2 IS NULL OR namespace = ?2)"                                                       \
    " AND (?4 IS NULL OR goal = ?4)"                                                            \
    " AND (?5 IS NULL OR id LIKE ?5 || '%')"                                                    \
    " AND (?6 IS NULL OR publisher = ?6)"                                                       \
    " AND (?7 IS NULL OR publisher IN (SELECT key_hash FROM api_keys WHERE owner = ?7))"       \
    " AND (?8 IS NULL OR worker_id = ?8)"                                                       \
    " AND (?9 IS NULL OR instr(last_error, ?9) > 0)"                                            \
    " AND (?10 IS NULL OR (created_at, id) < (SELECT created_at, id FROM intents"              \
    "  WHERE id = ?10))"                                                                        \
    " ORDER BY created_at DESC, id DESC LIMIT ?3"

static void bind_filter(sqlite3_stmt *stmt, const struct intent_filter *filter)
{
    sql_bind_text(stmt, 1, filter->state);
    sql_bind_text(stmt, 2, filter->namespace_);
    sqlite3_bind_int(stmt, 3, filter->limit);
    sql_bind_text(stmt, 4, filter->goal);
    sql_bind_text(stmt, 5, filter->id_prefix);
    sql_bind_text(stmt, 6, filter->publisher);
    sql_bind_text(stmt, 7, filter->owner);
    sql_bind_text(stmt, 8, filter->worker_id);
    sql_bind_text(stmt, 9, filter->error_text);
    sql_bind_text(stmt, 10, filter->before);
    sqlite3_bind_double(stmt, 12, filter->now);
}

enum bus_err sql_intent_list(void *backend, const struct intent_filter *filter,
                             store_each_intent each, void *context)
{
    struct sqlite_backend *self = backend;
    struct intent_rows rows = {each, context};
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt = prepare(reader->db, INTENT_LIST_SQL);
    enum bus_err err = BUS_ERR_INTERNAL;
    if (stmt != NULL) {
        bind_filter(stmt, filter);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            intent_row(stmt, &rows);
        err = rc == SQLITE_DONE ? BUS_OK : sql_map_error(reader->db, rc, "intent list");
        sqlite3_finalize(stmt);
    }
    sql_reader_release(self, reader);
    return err;
}

/* ---- cancel, retry, purge ----------------------------------------------- */

struct intent_action_args {
    const char *id;
    double now;
};

struct cancel_args {
    const char *id;
    double now;
    struct goal_tallies *goals;
};

/* The cancelled intent's goal, read in the cancel's transaction. */
static enum bus_err tally_cancelled(sqlite3 *db, const char *id, struct goal_tallies *goals)
{
    sqlite3_stmt *stmt = prepare(db, "SELECT namespace, goal FROM intents WHERE id = ?1");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    enum bus_err err = BUS_ERR_NOT_FOUND;
    if (rc == SQLITE_ROW)
        err = goal_tallies_add(goals, (const char *)sqlite3_column_text(stmt, 0),
                               (const char *)sqlite3_column_text(stmt, 1), TALLY_CANCELLED);
    else if (rc != SQLITE_DONE)
        err = sql_map_error(db, rc, "intent cancel");
    sqlite3_finalize(stmt);
    return err;
}

static enum bus_err cancel_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct cancel_args *args = arg;
    goal_tallies_reset(args->goals);
    enum bus_err err = tally_cancelled(conn->db, args->id, args->goals);
    if (err != BUS_OK)
        return err;
    return sql_kill_intent(conn, args->id, "Cancelled by admin", "cancelled", args->now);
}

enum bus_err sql_intent_cancel(void *backend, const char *id, double now,
                               struct goal_tallies *goals)
{
    struct sqlite_backend *self = backend;
    struct cancel_args args = {id, now, goals};
    return writer_run(self->writer, cancel_op, &args);
}

/* Exactly spec 8's retry: a fresh start, and no dead letter left behind.
 * run_at is now and the TTL is renewed, or an old intent would be dead
 * again at once or expire unclaimable. */
static enum bus_err retry_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct intent_action_args *args = arg;
    long found = 0;
    /* Written before the intent forgets its last attempt: a lease held
     * until now is taken from its worker, and that attempt ends. */
    enum bus_err err = sql_end_attempt(conn, args->id, "released", "Retried by admin", args->now);
    if (err == BUS_OK)
        err = execute(
            conn->db,
            "UPDATE intents SET status = 'open', claim_attempts = 0, claim_token = NULL,"
            " claimed_by = NULL, claimed_at = NULL, claim_expires_at = NULL, result = NULL,"
            " result_type = NULL, completed_at = NULL, last_error = NULL, run_at = ?2,"
            " expires_at = MAX(expires_at, ?2 + 86400.0), updated_at = ?2 WHERE id = ?1",
            args->id, args->now, &found);
    if (err == BUS_OK && found == 0)
        return BUS_ERR_NOT_FOUND;
    if (err != BUS_OK)
        return err;
    return execute(conn->db, "DELETE FROM dead_letters WHERE intent_id = ?1", args->id, 0, NULL);
}

enum bus_err sql_intent_retry(void *backend, const char *id, double now)
{
    struct sqlite_backend *self = backend;
    struct intent_action_args args = {id, now};
    return writer_run(self->writer, retry_op, &args);
}

struct purge_args {
    const char *namespace_;
    struct purge_stats *stats;
};

static enum bus_err purge_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct purge_args *args = arg;
    struct purge_stats *stats = args->stats;
    memset(stats, 0, sizeof *stats);
    if (args->namespace_ != NULL) {
        enum bus_err err = execute(conn->db, "DELETE FROM intents WHERE namespace = ?1",
                                   args->namespace_, 0, &stats->intents_deleted);
        return err != BUS_OK ? err
                             : execute(conn->db, "DELETE FROM dead_letters WHERE namespace = ?1",
                                       args->namespace_, 0, &stats->dead_letters_deleted);
    }
    enum bus_err err = execute(conn->db, "DELETE FROM intents", NULL, 0, &stats->intents_deleted);
    if (err == BUS_OK)
        err = execute(conn->db, "DELETE FROM dead_letters", NULL, 0, &stats->dead_letters_deleted);
    if (err == BUS_OK)
        err = execute(conn->db, "DELETE FROM kv", NULL, 0, NULL);
    if (err == BUS_OK)
        err = execute(conn->db, "DELETE FROM idempotency", NULL, 0, NULL);
    if (err == BUS_OK)
        err = execute(conn->db, "DELETE FROM nonces", NULL, 0, NULL);
    if (err == BUS_OK) { /* the set decides replays: empty it too (hook_rollback) */
        nonce_set_clear(conn->nonces);
        conn->nonces_cleared = true;
    }
    return err;
}

enum bus_err sql_purge(void *backend, const char *namespace_, struct purge_stats *stats)
{
    struct sqlite_backend *self = backend;
    struct purge_args args = {namespace_, stats};
    return writer_run(self->writer, purge_op, &args);
}

/* ---- dead letters ------------------------------------------------------- */

#define DEAD_LETTER_COLUMNS                                                                     \
    "intent_id, namespace, goal, publisher, claim_attempts, max_attempts, reason, died_at,"     \
    " last_error, payload"

static void read_dead_letter(sqlite3_stmt *stmt, struct dead_letter *out)
{
    sql_copy_column(stmt, 0, out->intent_id, sizeof out->intent_id);
    sql_copy_column(stmt, 1, out->namespace_, sizeof out->namespace_);
    sql_copy_column(stmt, 2, out->goal, sizeof out->goal);
    sql_copy_column(stmt, 3, out->publisher, sizeof out->publisher);
    out->claim_attempts = sqlite3_column_int(stmt, 4);
    out->max_attempts = sqlite3_column_int(stmt, 5);
    sql_copy_column(stmt, 6, out->reason, sizeof out->reason);
    out->died_at = sql_double_column(stmt, 7);
    out->last_error = sql_dup_column(stmt, 8);
    out->payload_json = sql_dup_column(stmt, 9);
}

struct dead_rows {
    store_each_dead_letter each;
    void *context;
};

static void dead_row(sqlite3_stmt *stmt, void *context)
{
    struct dead_rows *rows = context;
    struct dead_letter letter = {0};
    read_dead_letter(stmt, &letter);
    rows->each(rows->context, &letter);
    dead_letter_clear(&letter);
}

#define DEAD_FILTER_SQL                                                                         \
    " (?1 IS NULL OR namespace = ?1) AND (?2 IS NULL OR goal = ?2)"                            \
    " AND (?3 IS NULL OR reason = ?3) AND (?4 IS NULL OR instr(last_error, ?4) > 0)"

static void bind_dead_filter(sqlite3_stmt *stmt, const struct dead_filter *filter)
{
    sql_bind_text(stmt, 1, filter->namespace_);
    sql_bind_text(stmt, 2, filter->goal);
    sql_bind_text(stmt, 3, filter->reason);
    sql_bind_text(stmt, 4, filter->error_text);
}

enum bus_err sql_dead_list(void *backend, const struct dead_filter *filter,
                           store_each_dead_letter each, void *context)
{
    struct sqlite_backend *self = backend;
    struct dead_rows rows = {each, context};
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt = prepare(reader->db, "SELECT " DEAD_LETTER_COLUMNS " FROM dead_letters"
                                             " WHERE" DEAD_FILTER_SQL
                                             " ORDER BY died_at DESC LIMIT ?5");
    enum bus_err err = BUS_ERR_INTERNAL;
    if (stmt != NULL) {
        bind_dead_filter(stmt, filter);
        sqlite3_bind_int(stmt, 5, filter->limit);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            dead_row(stmt, &rows);
        err = rc == SQLITE_DONE ? BUS_OK : sql_map_error(reader->db, rc, "dead list");
        sqlite3_finalize(stmt);
    }
    sql_reader_release(self, reader);
    return err;
}

struct dead_purge_args {
    const struct dead_filter *filter;
    long *deleted;
};

/* Runs one filtered statement; adds the rows it changed. */
static enum bus_err run_dead_filtered(sqlite3 *db, const char *sql,
                                      const struct dead_filter *filter, long *changes)
{
    sqlite3_stmt *stmt = prepare(db, sql);
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    bind_dead_filter(stmt, filter);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE && changes != NULL)
        *changes += sqlite3_changes(db);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? BUS_OK : sql_map_error(db, rc, "dead purge");
}

static enum bus_err dead_purge_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct dead_purge_args *args = arg;
    *args->deleted = 0;
    enum bus_err err = run_dead_filtered(
        conn->db,
        "DELETE FROM intents WHERE status = 'dead' AND id IN"
        " (SELECT intent_id FROM dead_letters WHERE" DEAD_FILTER_SQL ")",
        args->filter, NULL);
    return err != BUS_OK ? err
                         : run_dead_filtered(conn->db,
                                             "DELETE FROM dead_letters WHERE" DEAD_FILTER_SQL,
                                             args->filter, args->deleted);
}

enum bus_err sql_dead_purge(void *backend, const struct dead_filter *filter, long *deleted)
{
    struct sqlite_backend *self = backend;
    struct dead_purge_args args = {filter, deleted};
    return writer_run(self->writer, dead_purge_op, &args);
}

static void dead_one(sqlite3_stmt *stmt, void *context)
{
    struct dead_letter *out = context;
    dead_letter_clear(out);
    read_dead_letter(stmt, out);
}

enum bus_err sql_dead_get(void *backend, const char *id, struct dead_letter *out)
{
    memset(out, 0, sizeof *out);
    enum bus_err err = for_each_row(backend,
                                    "SELECT " DEAD_LETTER_COLUMNS " FROM dead_letters"
                                    " WHERE intent_id = ?1",
                                    id, 0, dead_one, out);
    if (err == BUS_OK && out->intent_id[0] == '\0')
        return BUS_ERR_NOT_FOUND;
    return err;
}

/* ---- audit log ---------------------------------------------------------- */

static enum bus_err audit_add_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    const struct audit_entry *entry = arg;
    sqlite3_stmt *stmt = prepare(conn->db, "INSERT INTO audit_log (at, who, address, action,"
                                           " target, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_double(stmt, 1, entry->at);
    sqlite3_bind_text(stmt, 2, entry->who, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, entry->address, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, entry->action, -1, SQLITE_STATIC);
    sql_bind_text(stmt, 5, entry->target);
    sql_bind_text(stmt, 6, entry->detail_json);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return sql_map_error(conn->db, rc, "audit insert");
    return execute(conn->db, "DELETE FROM audit_log WHERE id <= ?2", NULL,
                   (double)(sqlite3_last_insert_rowid(conn->db) - AUDIT_KEEP_ROWS), NULL);
}

enum bus_err sql_audit_add(void *backend, const struct audit_entry *entry)
{
    struct sqlite_backend *self = backend;
    return writer_run(self->writer, audit_add_op, (void *)entry);
}

struct audit_rows {
    store_each_audit each;
    void *context;
};

static void audit_row(sqlite3_stmt *stmt, void *context)
{
    struct audit_rows *rows = context;
    struct audit_entry entry = {0};
    entry.id = (long)sqlite3_column_int64(stmt, 0);
    entry.at = sqlite3_column_double(stmt, 1);
    sql_copy_column(stmt, 2, entry.who, sizeof entry.who);
    sql_copy_column(stmt, 3, entry.address, sizeof entry.address);
    sql_copy_column(stmt, 4, entry.action, sizeof entry.action);
    sql_copy_column(stmt, 5, entry.target, sizeof entry.target);
    entry.detail_json = (const char *)sqlite3_column_text(stmt, 6);
    rows->each(rows->context, &entry);
}

enum bus_err sql_audit_list(void *backend, int limit, long before, store_each_audit each,
                            void *context)
{
    struct audit_rows rows = {each, context};
    char limit_text[16];
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    return for_each_row(backend,
                        "SELECT id, at, who, address, action, target, detail FROM audit_log"
                        " WHERE (?2 <= 0 OR id < ?2) ORDER BY id DESC LIMIT CAST(?1 AS INTEGER)",
                        limit_text, (double)before, audit_row, &rows);
}

/* ---- per-goal counts ---------------------------------------------------- */

struct goal_count_rows {
    store_each_goal_count each;
    void *context;
};

static void goal_count_row(sqlite3_stmt *stmt, void *context)
{
    struct goal_count_rows *rows = context;
    rows->each(rows->context, (const char *)sqlite3_column_text(stmt, 0),
               (const char *)sqlite3_column_text(stmt, 1),
               (const char *)sqlite3_column_text(stmt, 2), (long)sqlite3_column_int64(stmt, 3),
               sql_double_column(stmt, 4));
}

enum bus_err sql_goal_counts(void *backend, double now, int limit, store_each_goal_count each,
                             void *context)
{
    struct goal_count_rows rows = {each, context};
    char limit_text[16];
    snprintf(limit_text, sizeof limit_text, "%d", limit);
    return for_each_row(
        backend,
        "SELECT namespace, goal, CASE"
        " WHEN status = 'claimed' AND claim_expires_at <= ?2 THEN 'expired'"
        " WHEN status = 'open' AND run_at > ?2 THEN 'scheduled' ELSE status END AS state,"
        " COUNT(*), MIN(CASE WHEN status = 'open' AND run_at <= ?2 THEN run_at END)"
        " FROM intents GROUP BY namespace, goal, state ORDER BY namespace, goal"
        " LIMIT CAST(?1 AS INTEGER)",
        limit_text, now, goal_count_row, &rows);
}

/* ---- a key by the start of its digest ----------------------------------- */

struct key_match {
    char key_hash[PRINCIPAL_LEN + 1];
    int count;
};

static void key_match_row(sqlite3_stmt *stmt, void *context)
{
    struct key_match *match = context;
    if (match->count++ == 0)
        sql_copy_column(stmt, 0, match->key_hash, sizeof match->key_hash);
}

enum bus_err sql_key_find(void *backend, const char *prefix, char key_hash[PRINCIPAL_LEN + 1])
{
    struct key_match match = {{0}, 0};
    enum bus_err err = for_each_row(backend,
                                    "SELECT key_hash FROM api_keys WHERE revoked_at IS NULL"
                                    " AND substr(key_hash, 1, length(?1)) = ?1 LIMIT 2",
                                    prefix, 0, key_match_row, &match);
    if (err == BUS_OK && match.count != 1)
        return BUS_ERR_NOT_FOUND;
    if (err == BUS_OK)
        snprintf(key_hash, PRINCIPAL_LEN + 1, "%s", match.key_hash);
    return err;
}

/* ---- leases per worker -------------------------------------------------- */

struct worker_lease_rows {
    store_each_worker_leases each;
    void *context;
};

static void worker_lease_row(sqlite3_stmt *stmt, void *context)
{
    struct worker_lease_rows *rows = context;
    rows->each(rows->context, (const char *)sqlite3_column_text(stmt, 0),
               (const char *)sqlite3_column_text(stmt, 1), (long)sqlite3_column_int64(stmt, 2),
               (long)sqlite3_column_int64(stmt, 3));
}

/* Through the lease index (claimed rows only), never the history. */
enum bus_err sql_worker_leases(void *backend, double now, store_each_worker_leases each,
                               void *context)
{
    struct worker_lease_rows rows = {each, context};
    return for_each_row(backend,
                        "SELECT COALESCE(worker_id, ''), claimed_by,"
                        " SUM(claim_expires_at > ?2), SUM(claim_expires_at <= ?2)"
                        " FROM intents WHERE status = 'claimed' GROUP BY 1, 2",
                        NULL, now, worker_lease_row, &rows);
}
