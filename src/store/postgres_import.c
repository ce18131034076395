/* Moving house: copies a SQLite bus into an empty PostgreSQL database
 * (`intent-bus migrate --from FILE --database URL`), in one PostgreSQL
 * transaction, so a bus that outgrew one machine keeps its queue: intents
 * in every state, dead letters, tester keys, KV, idempotency records,
 * nonces, the audit log, schedules and goal controls (pause, limits).
 *
 * Both schemas use the same table and column names, so each table is
 * copied by name: the columns both sides have (an older SQLite file may
 * lack a later column, which then takes PostgreSQL's default). Real
 * numbers travel as %.17g, which a double survives exactly. */
#include "store/postgres_import.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/postgres_libpq.h"

#define MAX_COLUMNS 40

/* In the order foreign data needs: attempts and webhooks refer to their
 * intent (the foreign keys); intents before dead letters reads best in a
 * report. */
static const char *const tables[] = {"api_keys",    "intents",   "attempts", "webhooks",
                                     "dead_letters", "kv",       "idempotency", "nonces",
                                     "audit_log",   "schedules", "schedule_fires",
                                     "goal_controls"};

struct columns {
    int count;
    char *names[MAX_COLUMNS];
};

static void columns_clear(struct columns *columns)
{
    for (int i = 0; i < columns->count; i++)
        free(columns->names[i]);
    columns->count = 0;
}

static bool pg_ok(PGconn *pg, PGresult *res, ExecStatusType want, const char *what)
{
    if (PQresultStatus(res) == want)
        return true;
    fprintf(stderr, "intent-bus: migrate: %s: %s", what, PQerrorMessage(pg));
    return false;
}

static bool pg_command(PGconn *pg, const char *sql, const char *what)
{
    PGresult *res = PQexec(pg, sql);
    bool ok = pg_ok(pg, res, PGRES_COMMAND_OK, what);
    PQclear(res);
    return ok;
}

static bool sqlite_has(sqlite3 *db, const char *type, const char *name)
{
    sqlite3_stmt *stmt = NULL;
    bool found = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = ?1 AND name = ?2",
                                    -1, &stmt, NULL) == SQLITE_OK &&
                 sqlite3_bind_text(stmt, 1, type, -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC) == SQLITE_OK &&
                 sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    return found;
}

static bool sqlite_has_table(sqlite3 *db, const char *table)
{
    return sqlite_has(db, "table", table);
}

static bool pg_has_column(PGconn *pg, const char *table, const char *column)
{
    const char *params[] = {table, column};
    PGresult *res = PQexecParams(pg,
                                 "SELECT 1 FROM information_schema.columns WHERE table_schema ="
                                 " current_schema() AND table_name = $1 AND column_name = $2",
                                 2, NULL, params, NULL, NULL, 0);
    bool found = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    PQclear(res);
    return found;
}

/* The columns of table that both databases have. */
static bool shared_columns(sqlite3 *db, PGconn *pg, const char *table, struct columns *out)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s')", table);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return false;
    bool ok = true;
    while (ok && sqlite3_step(stmt) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);
        if (name == NULL || !pg_has_column(pg, table, name))
            continue;
        ok = out->count < MAX_COLUMNS && (out->names[out->count] = strdup(name)) != NULL;
        out->count += ok;
    }
    sqlite3_finalize(stmt);
    return ok && out->count > 0;
}

/* Where SQLite's rows of table are read from. Since schema 11 an
 * attempt's row is written when it ends, and the running one (or a
 * fulfilled intent's last) is read from its intent: the view
 * attempt_history has them all, as PostgreSQL's table does. */
static const char *copy_source(sqlite3 *db, const char *table)
{
    bool history = strcmp(table, "attempts") == 0 && sqlite_has(db, "view", "attempt_history");
    return history ? "attempt_history" : table;
}

/* The SQLite expression a column is read with: a fulfilled intent keeps
 * its last lease's end (schema 11), which PostgreSQL's intents have only
 * while claimed. */
static const char *column_format(const char *table, const char *column, bool newest)
{
    if (newest && strcmp(column, "seen_at") == 0)
        return "%smax(\"%s\")";
    if (strcmp(table, "intents") == 0 && strcmp(column, "claim_expires_at") == 0)
        return "%sCASE WHEN status = 'claimed' THEN \"%s\" END";
    return "%s\"%s\"";
}

/* "SELECT a, b FROM source" for SQLite, or "INSERT INTO t (a, b) VALUES
 * ($1, $2)" for PostgreSQL (source NULL). */
static char *copy_sql(const char *table, const char *source, const struct columns *columns)
{
    bool insert = source == NULL;
    size_t size = 160 + strlen(table) + (source ? strlen(source) : 0);
    for (int i = 0; i < columns->count; i++)
        size += strlen(columns->names[i]) + 48; /* room for column_format() */
    char *sql = malloc(size);
    if (sql == NULL)
        return NULL;
    /* SQLite's nonces (version 9) are a log, where a nonce used again
     * after the window has an older row too; PostgreSQL keys them by
     * principal and nonce: the newest row of each is the one. */
    bool newest = !insert && strcmp(table, "nonces") == 0;
    size_t used = (size_t)snprintf(sql, size, insert ? "INSERT INTO %s (" : "SELECT ", table);
    for (int i = 0; i < columns->count; i++) {
        used +=
            (size_t)snprintf(sql + used, size - used,
                             insert ? "%s\"%s\"" : column_format(table, columns->names[i], newest),
                             i ? ", " : "", columns->names[i]);
    }
    if (!insert) {
        snprintf(sql + used, size - used, " FROM %s%s", source,
                 newest ? " GROUP BY principal, nonce" : "");
        return sql;
    }
    used += (size_t)snprintf(sql + used, size - used, ") VALUES (");
    for (int i = 0; i < columns->count; i++)
        used += (size_t)snprintf(sql + used, size - used, "%s$%d", i ? ", " : "", i + 1);
    snprintf(sql + used, size - used, ")");
    return sql;
}

/* One SQLite row as text parameters (NULL for NULL) in buffers of 32. */
static void row_params(sqlite3_stmt *stmt, int count, const char **params, char (*numbers)[32])
{
    for (int i = 0; i < count; i++) {
        switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_NULL:
            params[i] = NULL;
            break;
        case SQLITE_INTEGER:
            snprintf(numbers[i], 32, "%lld", (long long)sqlite3_column_int64(stmt, i));
            params[i] = numbers[i];
            break;
        case SQLITE_FLOAT:
            snprintf(numbers[i], 32, "%.17g", sqlite3_column_double(stmt, i));
            params[i] = numbers[i];
            break;
        default:
            params[i] = (const char *)sqlite3_column_text(stmt, i);
        }
    }
}

static bool copy_rows(sqlite3 *db, PGconn *pg, const char *table, const struct columns *columns,
                      long *copied)
{
    char *select = copy_sql(table, copy_source(db, table), columns);
    char *insert = copy_sql(table, NULL, columns);
    sqlite3_stmt *stmt = NULL;
    bool ok = select && insert && sqlite3_prepare_v2(db, select, -1, &stmt, NULL) == SQLITE_OK;
    if (ok) {
        PGresult *res = PQprepare(pg, table, insert, columns->count, NULL);
        ok = pg_ok(pg, res, PGRES_COMMAND_OK, table);
        PQclear(res);
    }
    const char *params[MAX_COLUMNS];
    char numbers[MAX_COLUMNS][32];
    int rc = SQLITE_ROW;
    while (ok && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        row_params(stmt, columns->count, params, numbers);
        PGresult *res = PQexecPrepared(pg, table, columns->count, params, NULL, NULL, 0);
        ok = pg_ok(pg, res, PGRES_COMMAND_OK, table);
        PQclear(res);
        *copied += ok;
    }
    if (ok && rc != SQLITE_DONE) {
        fprintf(stderr, "intent-bus: migrate: reading %s: %s\n", table, sqlite3_errmsg(db));
        ok = false;
    }
    sqlite3_finalize(stmt);
    free(select);
    free(insert);
    return ok;
}

/* An identity column goes on after the highest id copied. */
static bool advance_identity(PGconn *pg, const char *table)
{
    if (!pg_has_column(pg, table, "id"))
        return true;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT pg_get_serial_sequence('%s', 'id')", table);
    PGresult *res = PQexec(pg, sql);
    bool ok = pg_ok(pg, res, PGRES_TUPLES_OK, "identity");
    bool identity = ok && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0);
    PQclear(res);
    if (!identity)
        return ok;
    snprintf(sql, sizeof sql,
             "SELECT setval(pg_get_serial_sequence('%s', 'id'), max(id)) FROM %s"
             " HAVING max(id) IS NOT NULL",
             table, table);
    res = PQexec(pg, sql);
    ok = pg_ok(pg, res, PGRES_TUPLES_OK, "identity");
    PQclear(res);
    return ok;
}

static bool copy_table(sqlite3 *db, PGconn *pg, const char *table, FILE *report)
{
    if (!sqlite_has_table(db, table))
        return true; /* an older bus: nothing of this kind yet */
    struct columns columns = {0};
    long copied = 0;
    bool ok = shared_columns(db, pg, table, &columns) &&
              copy_rows(db, pg, table, &columns, &copied) && advance_identity(pg, table);
    columns_clear(&columns);
    if (ok)
        fprintf(report, "  %-15s %ld rows\n", table, copied);
    else
        fprintf(stderr, "intent-bus: migrate: copying %s failed\n", table);
    return ok;
}

/* Only into an empty bus: merging two queues is not a copy. */
static bool target_empty(PGconn *pg)
{
    PGresult *res =
        PQexec(pg, "SELECT EXISTS (SELECT 1 FROM intents) OR EXISTS (SELECT 1 FROM dead_letters)"
                   " OR EXISTS (SELECT 1 FROM api_keys) OR EXISTS (SELECT 1 FROM kv)"
                   " OR EXISTS (SELECT 1 FROM schedules)");
    bool empty = pg_ok(pg, res, PGRES_TUPLES_OK, "checking the target") &&
                 strcmp(PQgetvalue(res, 0, 0), "f") == 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && !empty)
        fprintf(stderr, "intent-bus: migrate: the PostgreSQL database already holds a bus;"
                        " --from copies only into an empty one\n");
    PQclear(res);
    return empty;
}

int pg_import_sqlite(const char *sqlite_path, PGconn *pg, FILE *report)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(sqlite_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        !sqlite_has_table(db, "intents")) {
        fprintf(stderr, "intent-bus: migrate: %s is not an Intent Bus database%s%s\n",
                sqlite_path, db ? ": " : "", db ? sqlite3_errmsg(db) : "");
        sqlite3_close(db);
        return -1;
    }
    /* One read transaction: a consistent picture even if a bus still runs. */
    bool ok = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
              pg_command(pg, "BEGIN", "begin") && target_empty(pg);
    if (ok)
        fprintf(report, "Copying %s:\n", sqlite_path);
    for (size_t i = 0; ok && i < sizeof tables / sizeof tables[0]; i++)
        ok = copy_table(db, pg, tables[i], report);
    ok = ok && pg_command(pg, "COMMIT", "commit");
    if (!ok)
        pg_command(pg, "ROLLBACK", "rollback");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(db);
    return ok ? 0 : -1;
}
