/* The SQLite backend's schedules: their tables (schema version 5) and
 * operations. A step (one occurrence) runs on the writer thread in one
 * transaction: the schedule's guarded advance, its unique fire record and
 * the intent it publishes commit together or not at all. Statements are
 * prepared per call: a schedule steps at most once a second. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite_internal.h"

static const char schedules_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS schedules ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,"
    " cron TEXT, every REAL, timezone TEXT NOT NULL, intent TEXT NOT NULL,"
    " overlap TEXT NOT NULL CHECK (overlap = 'skip' OR overlap = 'allow'),"
    " catch_up TEXT NOT NULL CHECK (catch_up = 'one' OR catch_up = 'none'),"
    " paused INTEGER NOT NULL DEFAULT 0, revision INTEGER NOT NULL, next_at REAL,"
    " created_at REAL NOT NULL, updated_at REAL NOT NULL,"
    " fires INTEGER NOT NULL DEFAULT 0, skips INTEGER NOT NULL DEFAULT 0,"
    " last_fire_at REAL, last_intent_id TEXT, open_limit INTEGER NOT NULL DEFAULT 0)"
    " WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS schedules_due ON schedules (next_at) WHERE paused = 0;"
    "CREATE INDEX IF NOT EXISTS schedules_by_owner ON schedules (owner, name);"
    /* The occurrence's uniqueness: one row per (schedule, fire time). */
    "CREATE TABLE IF NOT EXISTS schedule_fires ("
    " schedule_id TEXT NOT NULL, fire_at REAL NOT NULL, outcome TEXT NOT NULL,"
    " intent_id TEXT, recorded_at REAL NOT NULL,"
    " PRIMARY KEY (schedule_id, fire_at)) WITHOUT ROWID;"
    "PRAGMA user_version = 5;";

#define SCHEDULE_COLUMNS                                                                           \
    "id, name, owner, cron, every, timezone, intent, overlap, catch_up, paused, revision,"         \
    " next_at, created_at, updated_at, fires, skips, last_fire_at, last_intent_id, open_limit"

int sql_schedules_schema(sqlite3 *db, char **message)
{
    return sqlite3_exec(db, schedules_schema_sql, NULL, NULL, message);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        sql_map_error(db, SQLITE_ERROR, "prepare schedule statement");
        sqlite3_finalize(stmt);
        return NULL;
    }
    return stmt;
}

/* Binds a double, or NULL for NAN. */
static void bind_time(sqlite3_stmt *stmt, int index, double value)
{
    if (isnan(value))
        sqlite3_bind_null(stmt, index);
    else
        sqlite3_bind_double(stmt, index, value);
}

/* Steps a write statement to its end; adds the rows it changed. */
static enum bus_err finish(sqlite3 *db, sqlite3_stmt *stmt, int *changes)
{
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    int rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sql_map_error(db, rc, "schedule write");
    if (changes != NULL)
        *changes = sqlite3_changes(db);
    return BUS_OK;
}

static void read_schedule(sqlite3_stmt *stmt, struct schedule *out)
{
    memset(out, 0, sizeof *out);
    sql_copy_column(stmt, 0, out->id, sizeof out->id);
    sql_copy_column(stmt, 1, out->name, sizeof out->name);
    sql_copy_column(stmt, 2, out->owner, sizeof out->owner);
    sql_copy_column(stmt, 3, out->cron, sizeof out->cron);
    out->every = sqlite3_column_double(stmt, 4);
    sql_copy_column(stmt, 5, out->timezone, sizeof out->timezone);
    out->intent_json = sql_dup_column(stmt, 6);
    out->overlap_skip = strcmp((const char *)sqlite3_column_text(stmt, 7), "skip") == 0;
    out->catch_up_one = strcmp((const char *)sqlite3_column_text(stmt, 8), "one") == 0;
    out->paused = sqlite3_column_int(stmt, 9) != 0;
    out->revision = (long)sqlite3_column_int64(stmt, 10);
    out->next_at = sql_double_column(stmt, 11);
    out->created_at = sqlite3_column_double(stmt, 12);
    out->updated_at = sqlite3_column_double(stmt, 13);
    out->fires = (long)sqlite3_column_int64(stmt, 14);
    out->skips = (long)sqlite3_column_int64(stmt, 15);
    out->last_fire_at = sql_double_column(stmt, 16);
    sql_copy_column(stmt, 17, out->last_intent_id, sizeof out->last_intent_id);
    out->open_limit = (long)sqlite3_column_int64(stmt, 18);
}

/* ---- reads ------------------------------------------------------------- */

/* Runs a read on a pooled connection: bind(stmt, args), then row(stmt,
 * context) per row. */
static enum bus_err read_rows(struct sqlite_backend *self, const char *sql,
                              void (*bind)(sqlite3_stmt *, const void *), const void *args,
                              void (*row)(sqlite3_stmt *, void *), void *context)
{
    struct read_connection *reader = sql_reader_acquire(self);
    sqlite3_stmt *stmt = prepare(reader->db, sql);
    enum bus_err err = BUS_ERR_INTERNAL;
    if (stmt != NULL) {
        bind(stmt, args);
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            row(stmt, context);
        err = rc == SQLITE_DONE ? BUS_OK : sql_map_error(reader->db, rc, "schedule read");
        sqlite3_finalize(stmt);
    }
    sql_reader_release(self, reader);
    return err;
}

struct name_owner {
    const char *name;
    const char *owner; /* NULL = any */
};

static void bind_name_owner(sqlite3_stmt *stmt, const void *args)
{
    const struct name_owner *key = args;
    sql_bind_text(stmt, 1, key->name);
    sql_bind_text(stmt, 2, key->owner);
}

struct schedule_rows {
    store_each_schedule each;
    void *context;
    bool found;
};

static void schedule_row(sqlite3_stmt *stmt, void *context)
{
    struct schedule_rows *rows = context;
    struct schedule schedule;
    read_schedule(stmt, &schedule);
    rows->found = true;
    rows->each(rows->context, &schedule);
    schedule_clear(&schedule);
}

static void keep_schedule(void *context, const struct schedule *schedule)
{
    struct schedule *out = context;
    *out = *schedule;
    out->intent_json = schedule->intent_json ? strdup(schedule->intent_json) : NULL;
}

enum bus_err sql_schedule_get(void *backend, const char *name, const char *owner,
                              struct schedule *out)
{
    struct name_owner key = {name, owner};
    struct schedule_rows rows = {keep_schedule, out, false};
    enum bus_err err = read_rows(backend,
                                 "SELECT " SCHEDULE_COLUMNS " FROM schedules"
                                 " WHERE name = ?1 AND (?2 IS NULL OR owner = ?2)",
                                 bind_name_owner, &key, schedule_row, &rows);
    if (err == BUS_OK && !rows.found)
        return BUS_ERR_NOT_FOUND;
    if (err == BUS_OK && out->intent_json == NULL)
        return BUS_ERR_INTERNAL; /* out of memory copying it */
    return err;
}

enum bus_err sql_schedule_list(void *backend, const char *owner, store_each_schedule each,
                               void *context)
{
    struct name_owner key = {NULL, owner};
    struct schedule_rows rows = {each, context, false};
    return read_rows(backend,
                     "SELECT " SCHEDULE_COLUMNS " FROM schedules"
                     " WHERE ?1 IS NULL AND (?2 IS NULL OR owner = ?2) ORDER BY name",
                     bind_name_owner, &key, schedule_row, &rows);
}

static void bind_now(sqlite3_stmt *stmt, const void *args)
{
    sqlite3_bind_double(stmt, 1, *(const double *)args);
}

enum bus_err sql_schedule_due(void *backend, double now, store_each_schedule each, void *context)
{
    struct schedule_rows rows = {each, context, false};
    return read_rows(backend,
                     "SELECT " SCHEDULE_COLUMNS " FROM schedules"
                     " WHERE paused = 0 AND next_at <= ?1 ORDER BY next_at",
                     bind_now, &now, schedule_row, &rows);
}

struct fire_query {
    const char *schedule_id;
    int limit;
};

static void bind_fire_query(sqlite3_stmt *stmt, const void *args)
{
    const struct fire_query *query = args;
    sqlite3_bind_text(stmt, 1, query->schedule_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, query->limit);
}

struct fire_rows {
    store_each_fire each;
    void *context;
};

static void fire_row(sqlite3_stmt *stmt, void *context)
{
    struct fire_rows *rows = context;
    struct schedule_fire_record fire;
    fire.fire_at = sqlite3_column_double(stmt, 0);
    sql_copy_column(stmt, 1, fire.outcome, sizeof fire.outcome);
    sql_copy_column(stmt, 2, fire.intent_id, sizeof fire.intent_id);
    fire.recorded_at = sqlite3_column_double(stmt, 3);
    rows->each(rows->context, &fire);
}

enum bus_err sql_schedule_fires(void *backend, const char *schedule_id, int limit,
                                store_each_fire each, void *context)
{
    struct fire_query query = {schedule_id, limit};
    struct fire_rows rows = {each, context};
    return read_rows(backend,
                     "SELECT fire_at, outcome, intent_id, recorded_at FROM schedule_fires"
                     " WHERE schedule_id = ?1 ORDER BY fire_at DESC LIMIT ?2",
                     bind_fire_query, &query, fire_row, &rows);
}

/* ---- definition writes ---------------------------------------------------- */

struct put_args {
    const struct schedule *schedule;
    bool *created;
};

static void bind_definition(sqlite3_stmt *stmt, const struct schedule *s)
{
    sqlite3_bind_text(stmt, 1, s->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, s->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, s->owner, -1, SQLITE_STATIC);
    sql_bind_text(stmt, 4, s->cron);
    sqlite3_bind_double(stmt, 5, s->every);
    sqlite3_bind_text(stmt, 6, s->timezone, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 7, s->intent_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 8, s->overlap_skip ? "skip" : "allow", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 9, s->catch_up_one ? "one" : "none", -1, SQLITE_STATIC);
    bind_time(stmt, 10, s->next_at);
    sqlite3_bind_double(stmt, 11, s->updated_at);
    sqlite3_bind_int64(stmt, 12, s->open_limit);
}

static enum bus_err owner_of(sqlite3 *db, const char *name, char owner[PRINCIPAL_LEN + 1])
{
    sqlite3_stmt *stmt = prepare(db, "SELECT owner FROM schedules WHERE name = ?1");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        sql_copy_column(stmt, 0, owner, PRINCIPAL_LEN + 1);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_ROW)
        return BUS_OK;
    return rc == SQLITE_DONE ? BUS_ERR_NOT_FOUND : sql_map_error(db, rc, "schedule owner");
}

static enum bus_err put_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct put_args *args = arg;
    char owner[PRINCIPAL_LEN + 1];
    enum bus_err err = owner_of(conn->db, args->schedule->name, owner);
    if (err == BUS_OK && strcmp(owner, args->schedule->owner) != 0)
        return BUS_ERR_FORBIDDEN;
    if (err != BUS_OK && err != BUS_ERR_NOT_FOUND)
        return err;
    *args->created = err == BUS_ERR_NOT_FOUND;
    sqlite3_stmt *stmt = prepare(
        conn->db, *args->created
                      ? "INSERT INTO schedules (id, name, owner, cron, every, timezone, intent,"
                        " overlap, catch_up, next_at, updated_at, created_at, revision, open_limit)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, 1, ?12)"
                      : "UPDATE schedules SET cron = ?4, every = ?5, timezone = ?6, intent = ?7,"
                        " overlap = ?8, catch_up = ?9, next_at = ?10, updated_at = ?11,"
                        " open_limit = ?12, revision = revision + 1"
                        " WHERE name = ?2 AND owner = ?3");
    if (stmt != NULL)
        bind_definition(stmt, args->schedule);
    return finish(conn->db, stmt, NULL);
}

enum bus_err sql_schedule_put(void *backend, const struct schedule *schedule, bool *created)
{
    struct sqlite_backend *self = backend;
    struct put_args args = {schedule, created};
    return writer_run(self->writer, put_op, &args);
}

struct state_args {
    const char *name;
    const char *owner;
    bool paused;
    double next_at;
    double now;
    bool remove;
};

static enum bus_err state_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct state_args *args = arg;
    sqlite3_stmt *stmt = prepare(
        conn->db, args->remove
                      ? "DELETE FROM schedules WHERE name = ?1 AND (?2 IS NULL OR owner = ?2)"
                        " RETURNING id"
                      : "UPDATE schedules SET paused = ?3, revision = revision + 1,"
                        " next_at = CASE WHEN ?3 THEN next_at ELSE ?4 END, updated_at = ?5"
                        " WHERE name = ?1 AND (?2 IS NULL OR owner = ?2) RETURNING id");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sql_bind_text(stmt, 1, args->name);
    sql_bind_text(stmt, 2, args->owner);
    if (!args->remove) {
        sqlite3_bind_int(stmt, 3, args->paused);
        bind_time(stmt, 4, args->next_at);
        sqlite3_bind_double(stmt, 5, args->now);
    }
    char id[SCHEDULE_ID_LEN + 1] = "";
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        sql_copy_column(stmt, 0, id, sizeof id);
    enum bus_err err = BUS_OK;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
        err = sql_map_error(conn->db, rc, "schedule state");
    sqlite3_finalize(stmt);
    if (err == BUS_OK && id[0] == '\0')
        return BUS_ERR_NOT_FOUND;
    if (err != BUS_OK || !args->remove)
        return err;
    stmt = prepare(conn->db, "DELETE FROM schedule_fires WHERE schedule_id = ?1");
    if (stmt != NULL)
        sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
    return finish(conn->db, stmt, NULL);
}

enum bus_err sql_schedule_set_paused(void *backend, const char *name, const char *owner,
                                     bool paused, double next_at, double now)
{
    struct sqlite_backend *self = backend;
    struct state_args args = {name, owner, paused, next_at, now, false};
    return writer_run(self->writer, state_op, &args);
}

enum bus_err sql_schedule_delete(void *backend, const char *name, const char *owner)
{
    struct sqlite_backend *self = backend;
    struct state_args args = {name, owner, false, NAN, 0, true};
    return writer_run(self->writer, state_op, &args);
}

/* ---- one occurrence ------------------------------------------------------- */

/* Moves next_at on, if the schedule is still the one the step was computed
 * from; *id gets its id. BUS_ERR_EMPTY when it is not (changed, paused,
 * deleted, or stepped by someone else). */
static enum bus_err advance(sqlite3 *db, const struct store_schedule_step *step,
                            char id[SCHEDULE_ID_LEN + 1])
{
    sqlite3_stmt *stmt = prepare(db, "UPDATE schedules SET next_at = ?4, skips = skips + ?5"
                                     " WHERE name = ?1 AND revision = ?2 AND next_at = ?3"
                                     " AND paused = 0 RETURNING id");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, step->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, step->revision);
    sqlite3_bind_double(stmt, 3, step->expected_next_at);
    bind_time(stmt, 4, step->next_at);
    sqlite3_bind_int64(stmt, 5, step->missed);
    id[0] = '\0';
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        sql_copy_column(stmt, 0, id, SCHEDULE_ID_LEN + 1);
        rc = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return sql_map_error(db, rc, "schedule advance");
    return id[0] ? BUS_OK : BUS_ERR_EMPTY;
}

/* Takes the occurrence's unique row; BUS_ERR_EMPTY when it is taken. */
static enum bus_err take_occurrence(sqlite3 *db, const char *id,
                                    const struct store_schedule_step *step)
{
    sqlite3_stmt *stmt = prepare(db, "INSERT INTO schedule_fires"
                                     " (schedule_id, fire_at, outcome, recorded_at)"
                                     " VALUES (?1, ?2, 'pending', ?3) ON CONFLICT DO NOTHING");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, step->fire_at);
    sqlite3_bind_double(stmt, 3, step->now);
    int changes = 0;
    enum bus_err err = finish(db, stmt, &changes);
    return err == BUS_OK && changes == 0 ? BUS_ERR_EMPTY : err;
}

/* Whether the schedule's last published intent is still open or claimed. */
static enum bus_err previous_still_running(sqlite3 *db, const char *id, bool *running)
{
    sqlite3_stmt *stmt = prepare(db, "SELECT 1 FROM schedules s JOIN intents i"
                                     " ON i.id = s.last_intent_id WHERE s.id = ?1"
                                     " AND (i.status = 'open' OR i.status = 'claimed')");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    *running = rc == SQLITE_ROW;
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? BUS_OK : sql_map_error(db, rc, "overlap check");
}

/* A tester key's schedule (open_limit > 0) stops publishing once the key
 * is revoked; the main key is not in api_keys. */
static enum bus_err owner_revoked(sqlite3 *db, const struct store_schedule_step *step,
                                  bool *revoked)
{
    *revoked = false;
    if (step->open_limit <= 0)
        return BUS_OK;
    sqlite3_stmt *stmt = prepare(db, sql_key_owner_query);
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    char owner[OWNER_MAX_BYTES + 1];
    enum bus_err err = sql_key_owner(db, stmt, step->intent->publisher, owner);
    sqlite3_finalize(stmt);
    *revoked = err == BUS_ERR_NOT_FOUND;
    return *revoked ? BUS_OK : err;
}

static enum bus_err decide(struct write_connection *conn, const char *id,
                           struct store_schedule_step *step)
{
    bool running = false, revoked = false;
    enum bus_err err = owner_revoked(conn->db, step, &revoked);
    if (err != BUS_OK || revoked) {
        step->outcome = SCHEDULE_SKIPPED_REVOKED;
        return err;
    }
    if (step->overlap_skip)
        err = previous_still_running(conn->db, id, &running);
    if (err != BUS_OK || running) {
        step->outcome = SCHEDULE_SKIPPED_OVERLAP;
        return err;
    }
    err = sql_check_open_limit(conn, step->intent->publisher, step->open_limit);
    if (err == BUS_ERR_LIMIT_EXCEEDED) {
        step->outcome = SCHEDULE_SKIPPED_LIMIT;
        return BUS_OK;
    }
    if (err == BUS_OK)
        err = sql_insert_intent(conn, step->intent, step->open_limit);
    if (err == BUS_OK)
        step->outcome = SCHEDULE_FIRED;
    return err;
}

/* Writes what became of the occurrence into its row and the counters. */
static enum bus_err record_outcome(sqlite3 *db, const char *id,
                                   const struct store_schedule_step *step)
{
    bool fired = step->outcome == SCHEDULE_FIRED;
    sqlite3_stmt *stmt = prepare(db, "UPDATE schedule_fires SET outcome = ?3, intent_id = ?4"
                                     " WHERE schedule_id = ?1 AND fire_at = ?2");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, step->fire_at);
    sqlite3_bind_text(stmt, 3, schedule_outcome_name(step->outcome), -1, SQLITE_STATIC);
    sql_bind_text(stmt, 4, fired ? step->intent->id : NULL);
    enum bus_err err = finish(db, stmt, NULL);
    if (err != BUS_OK)
        return err;
    /* A skip leaves last_fire_at and last_intent_id as they were. */
    stmt = prepare(db, "UPDATE schedules SET fires = fires + ?2, skips = skips + 1 - ?2,"
                       " last_fire_at = coalesce(?3, last_fire_at),"
                       " last_intent_id = coalesce(?4, last_intent_id) WHERE id = ?1");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, fired);
    bind_time(stmt, 3, fired ? step->fire_at : NAN);
    sql_bind_text(stmt, 4, fired ? step->intent->id : NULL);
    err = finish(db, stmt, NULL);
    if (err != BUS_OK)
        return err;
    stmt = prepare(db, "DELETE FROM schedule_fires WHERE schedule_id = ?1 AND fire_at < ?2");
    if (stmt == NULL)
        return BUS_ERR_INTERNAL;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_double(stmt, 2, step->now - SCHEDULE_FIRE_RETENTION);
    return finish(db, stmt, NULL);
}

static enum bus_err step_op(void *connection, void *arg)
{
    struct write_connection *conn = connection;
    struct store_schedule_step *step = arg;
    char id[SCHEDULE_ID_LEN + 1];
    enum bus_err err = advance(conn->db, step, id);
    if (err == BUS_OK && !isnan(step->fire_at))
        err = take_occurrence(conn->db, id, step);
    if (err == BUS_ERR_EMPTY) {
        step->outcome = SCHEDULE_ALREADY_HANDLED;
        return BUS_OK;
    }
    if (err != BUS_OK || isnan(step->fire_at))
        return err;
    err = decide(conn, id, step);
    if (err == BUS_OK)
        err = record_outcome(conn->db, id, step);
    return err;
}

enum bus_err sql_schedule_step(void *backend, struct store_schedule_step *step)
{
    struct sqlite_backend *self = backend;
    return writer_run(self->writer, step_op, step);
}
