/* The SQLite backend's goal controls (pause and concurrency limit): their
 * table (schema version 6) and operations. The claim honours them in its
 * own statement (CLAIM_BLOCKED_GOALS_SQL in sqlite.c); here they are set and read.
 * Statements are prepared per call: an operator changes a control rarely. */
#include <stdio.h>
#include <string.h>

#include "store/sqlite_internal.h"

/* One row per goal with a control; a goal with neither has none, so an
 * empty table tells a claim there is nothing to check. */
static const char goals_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS goal_controls ("
    " namespace TEXT NOT NULL, goal TEXT NOT NULL,"
    " paused INTEGER NOT NULL DEFAULT 0 CHECK (paused = 0 OR paused = 1),"
    " max_claimed INTEGER CHECK (max_claimed IS NULL OR max_claimed >= 1),"
    " updated_at REAL NOT NULL,"
    " PRIMARY KEY (namespace, goal)) WITHOUT ROWID;"
    "PRAGMA user_version = 6;";

int sql_goals_schema(sqlite3 *db, char **message)
{
    return sqlite3_exec(db, goals_schema_sql, NULL, NULL, message);
}

/* ?3: 0 keeps paused, 1 sets it, 2 clears it; ?4: whether to set the
 * limit to ?5 (0 = none). */
static const char upsert_sql[] =
    "INSERT INTO goal_controls (namespace, goal, paused, max_claimed, updated_at)"
    " VALUES (?1, ?2, ?3 = 1, CASE WHEN ?4 THEN NULLIF(?5, 0) END, ?6)"
    " ON CONFLICT (namespace, goal) DO UPDATE SET"
    " paused = CASE ?3 WHEN 0 THEN paused WHEN 1 THEN 1 ELSE 0 END,"
    " max_claimed = CASE WHEN ?4 THEN NULLIF(?5, 0) ELSE max_claimed END,"
    " updated_at = ?6";
static const char drop_empty_sql[] = "DELETE FROM goal_controls WHERE namespace = ?1 AND goal = ?2"
                                     " AND paused = 0 AND max_claimed IS NULL";

struct control_args {
    const struct goal_control_change *change;
    struct goal_control *out;
};

/* Prepares sql and binds the goal's namespace (?1) and name (?2). */
static sqlite3_stmt *prepare_for_goal(sqlite3 *db, const char *sql,
                                      const struct goal_control_change *change)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        sql_map_error(db, SQLITE_ERROR, "prepare");
        sqlite3_finalize(stmt);
        return NULL;
    }
    sqlite3_bind_text(stmt, 1, change->namespace_, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, change->goal, -1, SQLITE_STATIC);
    return stmt;
}

/* Steps a prepared statement (NULL: it failed to prepare), then frees it. */
static enum bus_err step_once(sqlite3 *db, sqlite3_stmt *stmt, const char *what)
{
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? BUS_OK : sql_map_error(db, rc, what);
}

static void read_control(sqlite3_stmt *stmt, struct goal_control *out)
{
    sql_copy_column(stmt, 0, out->namespace_, sizeof out->namespace_);
    sql_copy_column(stmt, 1, out->goal, sizeof out->goal);
    out->paused = sqlite3_column_int(stmt, 2) != 0;
    out->max_claimed = (long)sqlite3_column_int64(stmt, 3); /* NULL reads as 0 */
    out->updated_at = sqlite3_column_double(stmt, 4);
}

/* The goal's controls after the change; none left reads as both off. */
static enum bus_err read_back(sqlite3 *db, const struct goal_control_change *change,
                              struct goal_control *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->namespace_, sizeof out->namespace_, "%s", change->namespace_);
    snprintf(out->goal, sizeof out->goal, "%s", change->goal);
    out->updated_at = change->now;
    sqlite3_stmt *stmt = prepare_for_goal(
        db,
        "SELECT namespace, goal, paused, max_claimed, updated_at FROM goal_controls"
        " WHERE namespace = ?1 AND goal = ?2",
        change);
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        read_control(stmt, out);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? BUS_OK : sql_map_error(db, rc, "goal control");
}

static enum bus_err control_set_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    const struct control_args *args = arg;
    const struct goal_control_change *change = args->change;
    sqlite3_stmt *stmt = prepare_for_goal(conn->db, upsert_sql, change);
    if (stmt != NULL) {
        sqlite3_bind_int(stmt, 3, (int)change->pause);
        sqlite3_bind_int(stmt, 4, change->set_limit);
        sqlite3_bind_int64(stmt, 5, change->max_claimed);
        sqlite3_bind_double(stmt, 6, change->now);
    }
    enum bus_err err = step_once(conn->db, stmt, "goal control");
    if (err == BUS_OK)
        err =
            step_once(conn->db, prepare_for_goal(conn->db, drop_empty_sql, change), "goal control");
    return err == BUS_OK ? read_back(conn->db, change, args->out) : err;
}

enum bus_err sql_goal_control_set(void *backend, const struct goal_control_change *change,
                                  struct goal_control *out)
{
    struct sqlite_backend *self = backend;
    struct control_args args = {change, out};
    return writer_run(self->writer, control_set_op, &args);
}

enum bus_err sql_goal_control_list(void *backend, store_each_goal_control each, void *context)
{
    struct sqlite_backend *self = backend;
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt = NULL;
    enum bus_err err = BUS_ERR_INTERNAL;
    if (sqlite3_prepare_v2(reader->db,
                           "SELECT namespace, goal, paused, max_claimed, updated_at"
                           " FROM goal_controls ORDER BY namespace, goal",
                           -1, &stmt, NULL) == SQLITE_OK) {
        int rc;
        struct goal_control control;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            read_control(stmt, &control);
            each(context, &control);
        }
        err = rc == SQLITE_DONE ? BUS_OK : sql_map_error(reader->db, rc, "goal controls");
    } else {
        sql_map_error(reader->db, SQLITE_ERROR, "prepare");
    }
    sqlite3_finalize(stmt);
    sql_reader_release(self, reader);
    return err;
}
