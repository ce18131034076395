/* The SQLite backend's completion webhooks (struct webhook_record): their
 * table (schema version 8), the trigger that forgets a delivery with its
 * intent, and the delivery threads' operations. The statements that settle
 * an intent (fulfil, and the move to dead of a fail, the lease sweep or an
 * admin cancel) arm its delivery in their transaction (sqlite.c,
 * W_WEBHOOK_ARM). Statements here are prepared per call: only intents with
 * a notify_url and the delivery threads use them. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store/sqlite_internal.h"

/* The arming was once a trigger on intents (AFTER UPDATE OF status): the
 * trigger program then ran on every claim and fulfil, webhook or not, and
 * cost about a third of the bus's CPU per job at batch 100. It is dropped
 * here from a database that has it. */
static const char webhooks_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS webhooks ("
    " intent_id TEXT PRIMARY KEY, url TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('waiting','pending','delivered','failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0, last_status INTEGER, last_error TEXT,"
    " armed_at REAL, next_at REAL, lease_until REAL, delivered_at REAL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks (next_at) WHERE state = 'pending';"
    "DROP TRIGGER IF EXISTS webhooks_arm;"
    "CREATE TRIGGER IF NOT EXISTS webhooks_forget AFTER DELETE ON intents"
    " BEGIN DELETE FROM webhooks WHERE intent_id = OLD.id; END;"
    "PRAGMA user_version = 8;";

int sql_webhooks_schema(sqlite3 *db, char **message)
{
    return sqlite3_exec(db, webhooks_schema_sql, NULL, NULL, message);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        sql_map_error(db, SQLITE_ERROR, "prepare webhooks");
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

bool sql_webhooks_any(sqlite3 *db)
{
    sqlite3_stmt *stmt = prepare(db, "SELECT EXISTS (SELECT 1 FROM webhooks)");
    bool any = stmt == NULL || sqlite3_step(stmt) != SQLITE_ROW || sqlite3_column_int(stmt, 0) != 0;
    sqlite3_finalize(stmt);
    return any;
}

enum bus_err sql_webhook_insert(struct write_connection *conn, const struct intent_new *intent)
{
    if (intent->notify_url[0] == '\0')
        return BUS_OK;
    /* Before the row, and kept if it is rolled back: may, not does. */
    conn->webhooks_possible = true;
    sqlite3_stmt *stmt = prepare(conn->db, "INSERT INTO webhooks (intent_id, url, state)"
                                           " VALUES (?1, ?2, 'waiting')");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, intent->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, intent->notify_url, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? BUS_OK : sql_map_error(conn->db, rc, "webhook insert");
}

#define DUE_WHERE                                                                                  \
    " state = 'pending' AND next_at <= ?1 AND (lease_until IS NULL OR lease_until <= ?1)"

struct take_args {
    double now;
    double lease_until;
    struct webhook_delivery *out;
};

static enum bus_err take_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct take_args *args = arg;
    sqlite3_stmt *stmt =
        prepare(conn->db, "UPDATE webhooks SET lease_until = ?2 WHERE intent_id = (SELECT intent_id"
                          " FROM webhooks WHERE" DUE_WHERE " ORDER BY next_at LIMIT 1)"
                          " RETURNING intent_id, url, attempts, armed_at");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_double(stmt, 1, args->now);
    sqlite3_bind_double(stmt, 2, args->lease_until);
    int rc = sqlite3_step(stmt);
    enum bus_err err = BUS_ERR_EMPTY;
    if (rc == SQLITE_ROW) {
        sql_copy_column(stmt, 0, args->out->intent_id, sizeof args->out->intent_id);
        sql_copy_column(stmt, 1, args->out->url, sizeof args->out->url);
        args->out->attempts = sqlite3_column_int(stmt, 2);
        args->out->armed_at = sql_double_column(stmt, 3);
        err = BUS_OK;
        rc = sqlite3_step(stmt);
    }
    if (rc != SQLITE_DONE)
        err = sql_map_error(conn->db, rc, "webhook take");
    sqlite3_finalize(stmt);
    return err;
}

/* Whether anything is due, on a reader: the delivery threads look often,
 * and an idle look should not take the writer. */
static enum bus_err any_due(struct sqlite_backend *self, double now)
{
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt = prepare(reader->db, "SELECT 1 FROM webhooks WHERE" DUE_WHERE " LIMIT 1");
    enum bus_err err = BUS_ERR_INTERNAL;
    if (stmt != NULL) {
        sqlite3_bind_double(stmt, 1, now);
        int rc = sqlite3_step(stmt);
        err = rc == SQLITE_ROW    ? BUS_OK
              : rc == SQLITE_DONE ? BUS_ERR_EMPTY
                                  : sql_map_error(reader->db, rc, "webhook due");
        sqlite3_finalize(stmt);
    }
    sql_reader_release(self, reader);
    return err;
}

enum bus_err sql_webhook_take(void *backend, double now, double lease_until,
                              struct webhook_delivery *out)
{
    struct sqlite_backend *self = backend;
    enum bus_err err = any_due(self, now);
    if (err != BUS_OK)
        return err;
    struct take_args args = {now, lease_until, out};
    return writer_run(self->writer, take_op, &args);
}

static enum bus_err record_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    const struct webhook_outcome *outcome = arg;
    bool delivered = strcmp(outcome->state, "delivered") == 0;
    bool pending = strcmp(outcome->state, "pending") == 0;
    sqlite3_stmt *stmt =
        prepare(conn->db, "UPDATE webhooks SET state = ?3, attempts = ?4, last_status = ?5,"
                          " last_error = ?6, next_at = ?7, delivered_at = ?8, lease_until = NULL"
                          " WHERE intent_id = ?1 AND armed_at = ?2 AND state = 'pending'");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, outcome->intent_id, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, outcome->armed_at);
    sqlite3_bind_text(stmt, 3, outcome->state, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 4, outcome->attempts);
    if (outcome->last_status > 0)
        sqlite3_bind_int(stmt, 5, outcome->last_status);
    sql_bind_text(stmt, 6, outcome->last_error);
    if (pending)
        sqlite3_bind_double(stmt, 7, outcome->next_at);
    if (delivered)
        sqlite3_bind_double(stmt, 8, outcome->now);
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? BUS_OK : sql_map_error(conn->db, rc, "webhook record");
}

enum bus_err sql_webhook_record(void *backend, const struct webhook_outcome *outcome)
{
    struct sqlite_backend *self = backend;
    return writer_run(self->writer, record_op, (void *)outcome);
}

enum bus_err sql_webhook_get(void *backend, const char *intent_id, struct webhook_record *out)
{
    struct sqlite_backend *self = backend;
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt =
        prepare(reader->db, "SELECT url, state, attempts, last_status, last_error, armed_at,"
                            " next_at, delivered_at FROM webhooks WHERE intent_id = ?1");
    enum bus_err err = BUS_ERR_INTERNAL;
    if (stmt != NULL) {
        sqlite3_bind_text(stmt, 1, intent_id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(stmt);
        err = rc == SQLITE_ROW    ? BUS_OK
              : rc == SQLITE_DONE ? BUS_ERR_NOT_FOUND
                                  : sql_map_error(reader->db, rc, "webhook read");
        if (rc == SQLITE_ROW) {
            memset(out, 0, sizeof *out);
            sql_copy_column(stmt, 0, out->url, sizeof out->url);
            sql_copy_column(stmt, 1, out->state, sizeof out->state);
            out->attempts = sqlite3_column_int(stmt, 2);
            out->last_status = sqlite3_column_int(stmt, 3); /* NULL reads as 0 */
            sql_copy_column(stmt, 4, out->last_error, sizeof out->last_error);
            out->armed_at = sql_double_column(stmt, 5);
            out->next_at = strcmp(out->state, "pending") == 0 ? sql_double_column(stmt, 6) : NAN;
            out->delivered_at = sql_double_column(stmt, 7);
        }
        sqlite3_finalize(stmt);
    }
    sql_reader_release(self, reader);
    return err;
}

enum bus_err sql_webhook_pending(void *backend, long *count)
{
    struct sqlite_backend *self = backend;
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt =
        prepare(reader->db, "SELECT count(*) FROM webhooks WHERE state = 'pending'");
    enum bus_err err = BUS_ERR_INTERNAL;
    if (stmt != NULL) {
        int rc = sqlite3_step(stmt);
        *count = rc == SQLITE_ROW ? (long)sqlite3_column_int64(stmt, 0) : 0;
        err = rc == SQLITE_ROW ? BUS_OK : sql_map_error(reader->db, rc, "webhook count");
        sqlite3_finalize(stmt);
    }
    sql_reader_release(self, reader);
    return err;
}
