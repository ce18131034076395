/* The PostgreSQL backend's connections: opening and reopening them, running
 * SQL with text parameters and mapping its failures onto enum bus_err, the
 * pool of read connections, and the writer's transaction hooks.
 *
 * A lost server (restart, failover, network) is not an error of the bus:
 * the operation answers BUS_ERR_DATABASE_BUSY (503 with Retry-After), and
 * the next use of the connection reconnects by itself. */
#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/postgres_internal.h"

/* Set while the database is unreachable: the loss and the recovery are
 * logged once each, not once per request. */
static atomic_bool database_lost;

static void note_lost(PGconn *conn)
{
    if (!atomic_exchange(&database_lost, true))
        fprintf(stderr,
                "intent-bus: database connection lost, requests answer 503 until it"
                " is back: %s",
                PQerrorMessage(conn));
}

static void note_back(void)
{
    if (atomic_exchange(&database_lost, false))
        fprintf(stderr, "intent-bus: database reachable again\n");
}

/* ---- running SQL -------------------------------------------------------- */

static bool sqlstate_class(const char *state, const char *class_)
{
    return state != NULL && strncmp(state, class_, 2) == 0;
}

/* What a failed command means for its caller (see pg_exec). */
static enum bus_err map_failure(PGconn *conn, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(conn) == CONNECTION_BAD || state == NULL || sqlstate_class(state, "08") ||
        sqlstate_class(state, "57")) {
        note_lost(conn);
        return BUS_ERR_DATABASE_BUSY;
    }
    if (strcmp(state, "53100") == 0)
        return BUS_ERR_STORAGE_FULL;
    if (strcmp(state, "58030") == 0)
        return BUS_ERR_STORAGE_IO;
    /* A standby after a failover takes no writes until it is promoted. */
    if (strcmp(state, "25006") == 0)
        return BUS_ERR_STORAGE_READ_ONLY;
    /* Serialization failures, deadlocks, lock timeouts, too many connections:
     * the same request may well succeed a moment later. */
    if (sqlstate_class(state, "40") || sqlstate_class(state, "53") || strcmp(state, "55P03") == 0)
        return BUS_ERR_DATABASE_BUSY;
    fprintf(stderr, "intent-bus: postgres %s failed (%s): %s", what, state,
            PQresultErrorMessage(res));
    return BUS_ERR_INTERNAL;
}

/* ---- prepared statements ------------------------------------------------ */

/* A statement sent unnamed is planned every time it runs: planning the
 * claim took 1.5 ms where running it took 0.08 (EXPLAIN ANALYZE,
 * PostgreSQL 15), and the writer runs one statement at a time. So each
 * connection prepares a statement the first time it runs it and reuses it
 * afterwards. The cache is keyed by the SQL text (built SQL works too; past
 * STATEMENT_CACHE_SIZE texts, the rest run unnamed), lives with the
 * connection (libpq instance data), is forgotten when the connection is
 * reset (the new session has no statements) and freed with it. */
#define STATEMENT_CACHE_SIZE 128

struct statement_cache {
    int count;
    char *sql[STATEMENT_CACHE_SIZE]; /* owned; statement i is named "ib<i>" */
};

static void statement_cache_clear(struct statement_cache *cache)
{
    for (int i = 0; i < cache->count; i++)
        free(cache->sql[i]);
    cache->count = 0;
}

static int statement_cache_event(PGEventId event, void *info, void *pass_through)
{
    (void)pass_through;
    PGconn *conn = NULL;
    if (event == PGEVT_CONNRESET)
        conn = ((PGEventConnReset *)info)->conn;
    else if (event == PGEVT_CONNDESTROY)
        conn = ((PGEventConnDestroy *)info)->conn;
    struct statement_cache *cache = conn ? PQinstanceData(conn, statement_cache_event) : NULL;
    if (cache != NULL) {
        statement_cache_clear(cache);
        if (event == PGEVT_CONNDESTROY)
            free(cache);
    }
    return 1; /* success: libpq fails a reset whose event procedure says otherwise */
}

/* Gives conn a statement cache; without one (out of memory) it runs every
 * statement unnamed. */
static void statement_cache_attach(PGconn *conn)
{
    struct statement_cache *cache = calloc(1, sizeof *cache);
    if (cache == NULL)
        return;
    if (!PQregisterEventProc(conn, statement_cache_event, "intent-bus statements", NULL) ||
        !PQsetInstanceData(conn, statement_cache_event, cache))
        free(cache);
}

/* Runs sql as conn's prepared statement, preparing it first if new. */
static PGresult *run_statement(PGconn *conn, const char *sql, int param_count,
                               const char *const *params)
{
    struct statement_cache *cache = PQinstanceData(conn, statement_cache_event);
    int index = -1;
    for (int i = 0; cache != NULL && i < cache->count && index < 0; i++)
        if (strcmp(cache->sql[i], sql) == 0)
            index = i;
    char name[16];
    if (index < 0 && cache != NULL && cache->count < STATEMENT_CACHE_SIZE) {
        char *copy = strdup(sql);
        if (copy == NULL)
            return PQexecParams(conn, sql, param_count, NULL, params, NULL, NULL, 0);
        snprintf(name, sizeof name, "ib%d", cache->count);
        PGresult *res = PQprepare(conn, name, sql, param_count, NULL);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            free(copy);
            return res; /* the failure, for pg_exec to map */
        }
        PQclear(res);
        index = cache->count;
        cache->sql[cache->count++] = copy;
    }
    if (index < 0)
        return PQexecParams(conn, sql, param_count, NULL, params, NULL, NULL, 0);
    snprintf(name, sizeof name, "ib%d", index);
    return PQexecPrepared(conn, name, param_count, params, NULL, NULL, 0);
}

/* ---- running SQL, continued --------------------------------------------- */

enum bus_err pg_exec(PGconn *conn, const char *what, const char *sql, int param_count,
                     const char *const *params, PGresult **out)
{
    if (out != NULL)
        *out = NULL;
    PGresult *res = run_statement(conn, sql, param_count, params);
    ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        if (out != NULL)
            *out = res;
        else
            PQclear(res);
        return BUS_OK;
    }
    enum bus_err err = map_failure(conn, res, what);
    PQclear(res);
    return err;
}

const char *pg_double_param(double value, char *buf)
{
    if (isnan(value))
        return NULL;
    snprintf(buf, 32, "%.17g", value);
    return buf;
}

const char *pg_long_param(long value, char *buf)
{
    snprintf(buf, 24, "%ld", value);
    return buf;
}

const char *pg_text_param(const char *text)
{
    return text == NULL || text[0] == '\0' ? NULL : text;
}

/* ---- reading columns ---------------------------------------------------- */

double pg_double(const PGresult *res, int row, int column)
{
    if (PQgetisnull(res, row, column))
        return NAN;
    return strtod(PQgetvalue(res, row, column), NULL);
}

long pg_long(const PGresult *res, int row, int column)
{
    if (PQgetisnull(res, row, column))
        return 0;
    return strtol(PQgetvalue(res, row, column), NULL, 10);
}

void pg_copy(const PGresult *res, int row, int column, char *out, size_t size)
{
    snprintf(out, size, "%s", PQgetisnull(res, row, column) ? "" : PQgetvalue(res, row, column));
}

char *pg_dup(const PGresult *res, int row, int column)
{
    if (PQgetisnull(res, row, column))
        return NULL;
    return strdup(PQgetvalue(res, row, column));
}

void pg_read_record(const PGresult *res, int row, struct intent_record *out)
{
    char status[16];
    pg_copy(res, row, 0, out->id, sizeof out->id);
    pg_copy(res, row, 1, out->namespace_, sizeof out->namespace_);
    pg_copy(res, row, 2, out->goal, sizeof out->goal);
    pg_copy(res, row, 3, status, sizeof status);
    if (!intent_status_parse(status, &out->status))
        out->status = INTENT_DEAD;
    out->is_public = strcmp(PQgetvalue(res, row, 4), "public") == 0;
    out->priority = (int)pg_long(res, row, 5);
    out->claim_attempts = (int)pg_long(res, row, 6);
    out->max_attempts = (int)pg_long(res, row, 7);
    out->backoff_base = pg_double(res, row, 8);
    pg_copy(res, row, 9, out->target_worker, sizeof out->target_worker);
    pg_copy(res, row, 10, out->required_capability, sizeof out->required_capability);
    pg_copy(res, row, 11, out->publisher, sizeof out->publisher);
    pg_copy(res, row, 12, out->claimed_by, sizeof out->claimed_by);
    out->run_at = pg_double(res, row, 13);
    out->created_at = pg_double(res, row, 14);
    out->expires_at = pg_double(res, row, 15);
    out->claimed_at = pg_double(res, row, 16);
    out->claim_expires_at = pg_double(res, row, 17);
    out->completed_at = pg_double(res, row, 18);
    pg_copy(res, row, 19, out->result_type, sizeof out->result_type);
    out->payload_json = pg_dup(res, row, 20);
    out->result_json = pg_dup(res, row, 21);
    out->last_error = pg_dup(res, row, 22);
    pg_copy(res, row, 23, out->worker_id, sizeof out->worker_id);
}

/* ---- connections -------------------------------------------------------- */

PGconn *pg_connect(const char *conninfo)
{
    if (!pg_libpq_load())
        return NULL;
    /* Later keywords win: the operator's URL overrides these defaults. A
     * server that stops answering over TCP (a partition, a dead host) is
     * found out within about half a minute by the keepalives and the user
     * timeout, instead of holding the writer for the kernel's two hours. */
    const char *const keywords[] = {"application_name",
                                    "connect_timeout",
                                    "keepalives_idle",
                                    "keepalives_interval",
                                    "keepalives_count",
                                    "tcp_user_timeout",
                                    "options",
                                    "dbname",
                                    NULL};
    const char *const values[] = {
        "intent-bus", "10", "10", "5", "3", "30000", "-c client_min_messages=warning",
        conninfo,     NULL};
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (conn == NULL) {
        fprintf(stderr, "intent-bus: cannot connect to the database: out of memory\n");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "intent-bus: cannot connect to the database: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    statement_cache_attach(conn);
    return conn;
}

bool pg_reconnect(PGconn *conn)
{
    if (PQstatus(conn) == CONNECTION_OK)
        return true;
    PQreset(conn);
    if (PQstatus(conn) != CONNECTION_OK)
        return false;
    note_back();
    return true;
}

PGconn *pg_reader_acquire(struct pg_backend *self)
{
    pthread_mutex_lock(&self->readers_lock);
    while (self->free_readers == NULL)
        pthread_cond_wait(&self->reader_returned, &self->readers_lock);
    struct pg_reader *reader = self->free_readers;
    self->free_readers = reader->next_free;
    pthread_mutex_unlock(&self->readers_lock);
    pg_reconnect(reader->conn); /* if it fails, the query says so: 503 */
    return reader->conn;
}

void pg_reader_release(struct pg_backend *self, PGconn *conn)
{
    struct pg_reader *reader = NULL;
    for (int i = 0; i < self->reader_count && reader == NULL; i++)
        if (self->readers[i].conn == conn)
            reader = &self->readers[i];
    assert(reader != NULL);
    if (reader == NULL)
        return; /* not one of the pool's: nothing to give back */
    pthread_mutex_lock(&self->readers_lock);
    reader->next_free = self->free_readers;
    self->free_readers = reader;
    pthread_cond_signal(&self->reader_returned);
    pthread_mutex_unlock(&self->readers_lock);
}

enum bus_err pg_write(struct pg_backend *self, writer_op_fn op, void *arg)
{
    return writer_run(self->writer, op, arg);
}

/* ---- the writer's transaction hooks ------------------------------------- */

/* BEGIN, SAVEPOINT and RELEASE cost a round trip each if sent alone, and a
 * batch has a savepoint per operation. They are deferred and sent with the
 * next one that must go: "BEGIN; SAVEPOINT op" before the first operation,
 * "RELEASE op; SAVEPOINT op" between two, and COMMIT (which releases) at
 * the end: one round trip per operation besides its own statements.
 * The state is the writer thread's own (each writer has one thread). */
enum pending { PENDING_NONE, PENDING_RELEASE, PENDING_UNDO };

/* The writer's statements run with generic plans. A prepared statement is
 * planned for its parameters (a custom plan) until PostgreSQL judges its
 * generic plan no dearer, and for the claim it never did: the claim was
 * planned again on every call, which cost more than running it (EXPLAIN
 * ANALYZE: 0.5-1.3 ms planning; the generic plan has the same shape, the
 * claim index scanned in order). Forcing generic plans more than halved the
 * database's CPU per job (docs/BENCHMARKS.md, "PostgreSQL speed"). SET
 * LOCAL: only the writer's transactions, set again in each (it rides with
 * BEGIN, no round trip of its own), so a reset connection needs nothing
 * redone. The writer's statements find rows by key or through a partial
 * index, which a generic plan does as well as a custom one. */
#define BEGIN_SQL "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; "

static _Thread_local struct {
    bool begin_pending; /* BEGIN not yet sent */
    bool failed;        /* the transaction cannot commit: the batch fails */
    enum pending pending;
} batch;

/* A command whose failure fails the batch: 0, or the enum bus_err. */
static int run_control(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : (int)map_failure(conn, res, sql);
    PQclear(res);
    return rc;
}

static int hook_begin(void *connection)
{
    PGconn *conn = connection;
    batch.begin_pending = true;
    batch.failed = false;
    batch.pending = PENDING_NONE;
    if (!pg_reconnect(conn)) {
        note_lost(conn);
        return -1;
    }
    return 0;
}

static int hook_savepoint(void *connection)
{
    PGconn *conn = connection;
    if (batch.failed)
        return -1;
    static const char *const prefix[] = {[PENDING_NONE] = "",
                                         [PENDING_RELEASE] = "RELEASE op; ",
                                         [PENDING_UNDO] = "ROLLBACK TO op; RELEASE op; "};
    char sql[128];
    snprintf(sql, sizeof sql, "%s%sSAVEPOINT op", batch.begin_pending ? BEGIN_SQL : "",
             prefix[batch.pending]);
    int rc = run_control(conn, sql);
    /* A connection that broke while idle is found out here, before anything
     * of the batch was sent: reconnect and start again, once. */
    if (rc != 0 && batch.begin_pending && PQstatus(conn) == CONNECTION_BAD && pg_reconnect(conn))
        rc = run_control(conn, sql);
    batch.begin_pending = false;
    batch.pending = PENDING_NONE;
    batch.failed = rc != 0;
    return rc;
}

static void hook_release(void *connection, int undo)
{
    (void)connection;
    batch.pending = undo ? PENDING_UNDO : PENDING_RELEASE;
}

/* COMMIT of a transaction that an error aborted answers ROLLBACK, with
 * success: only the command tag tells them apart. */
static int hook_commit(void *connection)
{
    PGconn *conn = connection;
    if (batch.failed)
        return -1;
    if (batch.begin_pending)
        return 0; /* nothing was sent */
    PGresult *res =
        PQexec(conn, batch.pending == PENDING_UNDO ? "ROLLBACK TO op; COMMIT" : "COMMIT");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = (int)map_failure(conn, res, "commit");
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = -1;
    PQclear(res);
    batch.pending = PENDING_NONE;
    return rc;
}

static void hook_rollback(void *connection)
{
    PGconn *conn = connection;
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    batch.begin_pending = false;
    batch.pending = PENDING_NONE;
}

const struct writer_hooks pg_writer_hooks = {
    .begin = hook_begin,
    .commit = hook_commit,
    .rollback = hook_rollback,
    .savepoint = hook_savepoint,
    .release = hook_release,
};
