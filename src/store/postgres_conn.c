/* The PostgreSQL backend's connections: opening and reopening them, running
 * SQL with text parameters and mapping its failures onto enum bus_err, the
 * pool of read connections, and the writer's transaction hooks.
 *
 * A lost server (restart, failover, network) is not an error of the bus:
 * the operation answers BUS_ERR_DATABASE_BUSY (503 with Retry-After), and
 * the next use of the connection reconnects by itself. */
#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Looks sql up in cache: its index, or -1. */
static int statement_cache_find(const struct statement_cache *cache, const char *sql)
{
    for (int i = 0; cache != NULL && i < cache->count; i++)
        if (strcmp(cache->sql[i], sql) == 0)
            return i;
    return -1;
}

static struct statement_cache *statement_cache_of(PGconn *conn)
{
    return PQinstanceData(conn, statement_cache_event);
}

/* Runs sql as conn's prepared statement, preparing it first if new. */
static PGresult *run_statement(PGconn *conn, const char *sql, int param_count,
                               const char *const *params)
{
    struct statement_cache *cache = statement_cache_of(conn);
    int index = statement_cache_find(cache, sql);
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

/* ---- one round trip: transaction control and a statement ---------------- */

/* Reads one command's result of a pipeline, and the NULL that ends it.
 * NULL when the connection failed. */
static PGresult *pipeline_result(PGconn *conn)
{
    PGresult *res = PQgetResult(conn);
    if (res != NULL)
        for (PGresult *extra; (extra = PQgetResult(conn)) != NULL;)
            PQclear(extra); /* none expected: one statement per command */
    return res;
}

/* Back to ordinary commands after a pipeline. A pipeline cut short (a
 * send failed, the connection broke) cannot always be left: a broken
 * connection is reset by the next pg_reconnect (which leaves pipeline mode
 * too); one still up, in a state nothing here expects, is reset now. */
static void leave_pipeline(PGconn *conn)
{
    if (!PQexitPipelineMode(conn) && PQstatus(conn) == CONNECTION_OK)
        PQreset(conn);
}

/* A pipeline's outcome (run_pipelined). */
struct pipelined {
    PGresult *res;   /* the first failure's result, else the statement's; NULL: lost */
    bool control_ok; /* every control statement succeeded */
};

/* Sends the statement at the end of a pipeline: as conn's prepared
 * statement, preparing it first if new (*copy then holds its text, for the
 * cache once the prepare succeeded); unnamed if the cache is full. The
 * number of commands sent (0 to 2), or -1 when a send failed. */
static int send_statement(PGconn *conn, const char *sql, int param_count,
                          const char *const *params, char **copy)
{
    struct statement_cache *cache = statement_cache_of(conn);
    int index = statement_cache_find(cache, sql);
    int sent = 0;
    char name[16];
    *copy = NULL;
    if (index < 0 && cache != NULL && cache->count < STATEMENT_CACHE_SIZE &&
        (*copy = strdup(sql)) != NULL) {
        index = cache->count;
        snprintf(name, sizeof name, "ib%d", index);
        if (!PQsendPrepare(conn, name, sql, param_count, NULL))
            return -1;
        sent++;
    }
    if (index < 0) {
        if (!PQsendQueryParams(conn, sql, param_count, NULL, params, NULL, NULL, 0))
            return -1;
        return sent + 1;
    }
    snprintf(name, sizeof name, "ib%d", index);
    if (!PQsendQueryPrepared(conn, name, param_count, params, NULL, NULL, 0))
        return -1;
    return sent + 1;
}

/* Runs the control statements and then sql in one pipeline: one round
 * trip. A failure skips the rest (PostgreSQL aborts the pipeline), so
 * control_ok says whether sql ran. */
static struct pipelined run_pipelined(PGconn *conn, const char *const *control, int control_count,
                                      const char *sql, int param_count,
                                      const char *const *params)
{
    struct pipelined out = {NULL, false};
    if (!PQenterPipelineMode(conn))
        return out;
    bool ok = true;
    for (int i = 0; i < control_count && ok; i++)
        ok = PQsendQueryParams(conn, control[i], 0, NULL, NULL, NULL, NULL, 0) == 1;
    char *copy = NULL;
    int statement_commands = ok ? send_statement(conn, sql, param_count, params, &copy) : -1;
    ok = statement_commands > 0 && PQpipelineSync(conn) == 1;
    if (!ok) {
        /* Nothing was synced: the connection is broken (or out of memory);
         * nothing of it can be trusted, and the batch fails. */
        free(copy);
        leave_pipeline(conn);
        return out;
    }
    out.control_ok = true;
    for (int i = 0; i < control_count + statement_commands; i++) {
        PGresult *res = pipeline_result(conn);
        if (res == NULL) {
            out.control_ok = out.control_ok && i >= control_count;
            break; /* the connection failed */
        }
        ExecStatusType status = PQresultStatus(res);
        bool failed = status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK;
        if (i < control_count && failed)
            out.control_ok = false;
        bool is_prepare = copy != NULL && i == control_count;
        if (is_prepare && !failed) {
            struct statement_cache *cache = PQinstanceData(conn, statement_cache_event);
            cache->sql[cache->count++] = copy;
            copy = NULL;
        }
        /* Keep the first failure, or the statement's own result. */
        if ((failed && out.res == NULL) ||
            (i == control_count + statement_commands - 1 && out.res == NULL)) {
            out.res = res;
        } else {
            PQclear(res);
        }
    }
    free(copy);
    PGresult *sync = PQgetResult(conn);
    bool synced = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    if (!synced) {
        out.control_ok = false; /* the connection failed: what ran is unknown */
        PQclear(out.res);
        out.res = NULL;
    }
    leave_pipeline(conn);
    return out;
}

/* ---- running SQL, continued --------------------------------------------- */

/* True when conn is the writer's, in a batch, and owes its BEGIN: then
 * *res is sql's result, sent with the BEGIN (below). */
static bool writer_statement(PGconn *conn, const char *sql, int param_count,
                             const char *const *params, PGresult **res);
/* Notes a writer statement's success: did it change anything? (below) */
static void writer_statement_done(PGconn *conn, const char *sql, const PGresult *res);
/* Notes a writer statement's failure: a lost conflict? (below) */
static void writer_statement_failed(PGconn *conn, const PGresult *res);

enum bus_err pg_exec(PGconn *conn, const char *what, const char *sql, int param_count,
                     const char *const *params, PGresult **out)
{
    if (out != NULL)
        *out = NULL;
    PGresult *res = NULL;
    if (!writer_statement(conn, sql, param_count, params, &res))
        res = run_statement(conn, sql, param_count, params);
    ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        writer_statement_done(conn, sql, res);
        if (out != NULL)
            *out = res;
        else
            PQclear(res);
        return BUS_OK;
    }
    writer_statement_failed(conn, res);
    enum bus_err err = map_failure(conn, res, what);
    PQclear(res);
    return err;
}

enum bus_err pg_exec_indexed(PGconn *conn, const char *what, const char *sql, int param_count,
                             const char *const *params, PGresult **out)
{
    bool first = statement_cache_find(statement_cache_of(conn), sql) < 0;
    enum bus_err err = BUS_OK;
    if (first)
        err = pg_exec(conn, what, "SET LOCAL enable_seqscan = off", 0, NULL, NULL);
    if (err == BUS_OK)
        err = pg_exec(conn, what, sql, param_count, params, out);
    if (first && err == BUS_OK) {
        err = pg_exec(conn, what, "SET LOCAL enable_seqscan TO DEFAULT", 0, NULL, NULL);
        if (err != BUS_OK && out != NULL) {
            PQclear(*out);
            *out = NULL;
        }
    }
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

static const char *text_or_null(const PGresult *res, int row, int column)
{
    return PQgetisnull(res, row, column) ? NULL : PQgetvalue(res, row, column);
}

bool pg_lease_held(const PGresult *res, int row, int first, const struct lease_ref *ref)
{
    return lease_is_held(ref, text_or_null(res, row, first), text_or_null(res, row, first + 1),
                         text_or_null(res, row, first + 2), pg_double(res, row, first + 3));
}

void pg_lease_facts(const PGresult *res, int row, int first, const struct lease_ref *ref)
{
    if (ref->facts == NULL)
        return;
    pg_copy(res, row, first, ref->facts->namespace_, sizeof ref->facts->namespace_);
    pg_copy(res, row, first + 1, ref->facts->goal, sizeof ref->facts->goal);
    ref->facts->claimed_at = pg_double(res, row, first + 2);
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

void pg_pool_usage(void *backend, long *size, long *in_use)
{
    struct pg_backend *self = backend;
    pthread_mutex_lock(&self->readers_lock);
    long idle = 0;
    for (const struct pg_reader *r = self->free_readers; r != NULL; r = r->next_free)
        idle++;
    *size = self->reader_count;
    *in_use = self->reader_count - idle;
    pthread_mutex_unlock(&self->readers_lock);
}

/* FNV-1a: any stable spread of principals over the writers will do. */
static unsigned principal_hash(const char *principal)
{
    unsigned hash = 2166136261u;
    for (const unsigned char *c = (const unsigned char *)principal; *c; c++)
        hash = (hash ^ *c) * 16777619u;
    return hash;
}

/* The least busy writer spreads the load and keeps a request from waiting
 * behind a long batch while another writer idles. The search starts at a
 * rotating writer, so equally busy writers (idle ones) take turns. A
 * principal's locked operations keep to one writer instead: two writers'
 * batches each holding one principal's lock and wanting the other's would
 * deadlock, which PostgreSQL finds only after deadlock_timeout (1 s). */
struct writer *pg_writer_pick(struct pg_backend *self, const char *principal)
{
    assert(self->writer_count > 0);
    if (principal != NULL)
        return self->writers[principal_hash(principal) % (unsigned)self->writer_count];
    unsigned start = atomic_fetch_add(&self->next_writer, 1);
    struct writer *best = NULL;
    long best_load = 0;
    for (int i = 0; i < self->writer_count; i++) {
        struct writer *writer = self->writers[(start + (unsigned)i) % (unsigned)self->writer_count];
        long load = writer_load(writer);
        if (best == NULL || load < best_load) {
            best = writer;
            best_load = load;
        }
    }
    return best;
}

enum bus_err pg_write(struct pg_backend *self, writer_op_fn op, void *arg)
{
    return writer_run(pg_writer_pick(self, NULL), op, arg);
}

enum bus_err pg_write_as(struct pg_backend *self, const char *principal, writer_op_fn op,
                         void *arg)
{
    return writer_run(pg_writer_pick(self, principal), op, arg);
}

/* ---- the writer's transaction hooks ------------------------------------- */

/* A batch runs in one transaction with no savepoint per operation: half
 * of the writer's statements were SAVEPOINT and RELEASE, each a
 * subtransaction for PostgreSQL to start and end (docs/BENCHMARKS.md,
 * "PostgreSQL speed", 2026-12-02). Without them a failed statement aborts
 * the whole transaction, so after each operation the writer asks
 * hook_after_op whether the transaction is still good; if a statement
 * failed, or the operation changed rows and then failed (a claim over its
 * goal's limit), the writer rolls back and runs the batch again without
 * it (store/writer.h). BEGIN is owed, not sent, and goes with the batch's
 * first statement in one pipeline (one round trip), with the SET LOCAL
 * below. The state is the writer thread's own (each writer has one
 * thread). */

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
#define GENERIC_PLANS_SQL "SET LOCAL plan_cache_mode = force_generic_plan"

static _Thread_local struct {
    PGconn *conn;       /* the writer's connection, during a batch */
    bool begin_pending; /* BEGIN not yet sent */
    bool failed;        /* BEGIN failed or the connection broke: the batch is lost */
    bool conflict;      /* a statement lost a deadlock or serialization conflict */
    bool changed;       /* the current operation's statements changed rows */
    bool changed_before; /* changed as it was before the last statement */
    int output_count;
    int output_capacity;
    char ***outputs; /* freed if the transaction rolls back; grows, kept */
} batch;

static void batch_reset(PGconn *conn)
{
    batch.conn = conn;
    batch.begin_pending = conn != NULL;
    batch.failed = false;
    batch.conflict = false;
    batch.changed = false;
    batch.changed_before = false;
    batch.output_count = 0; /* committed: the outputs are their callers' */
    free(batch.outputs);    /* per batch: a thread-local would outlive it */
    batch.outputs = NULL;
    batch.output_capacity = 0;
    pg_merge_reset(conn); /* outcomes of another run are not this one's */
}

void pg_writer_output(PGconn *conn, char **slot)
{
    if (conn != batch.conn || *slot == NULL)
        return;
    if (batch.output_count == batch.output_capacity) {
        int capacity = batch.output_capacity > 0 ? 2 * batch.output_capacity : PG_MAX_BATCH;
        char ***grown = realloc(batch.outputs, (size_t)capacity * sizeof *grown);
        if (grown == NULL) {
            /* Untracked, it could leak on a rollback: the op finds no
             * output, as after a failed allocation of its own. */
            free(*slot);
            *slot = NULL;
            return;
        }
        batch.outputs = grown;
        batch.output_capacity = capacity;
    }
    batch.outputs[batch.output_count++] = slot;
}

/* A rolled-back run's outputs: the operation fills them again if it runs
 * again, and its caller finds NULL if it does not. */
static void free_outputs(void)
{
    for (int i = 0; i < batch.output_count; i++) {
        free(*batch.outputs[i]);
        *batch.outputs[i] = NULL;
    }
    batch.output_count = 0;
}

static bool starts_with_word(const char *text, const char *word)
{
    size_t length = strlen(word);
    return strncasecmp(text, word, length) == 0 && !isalnum((unsigned char)text[length]);
}

/* Whether sql has a data-modifying statement in parentheses (a CTE such
 * as "WITH killed AS (UPDATE ...)"), which the command tag does not count. */
static bool writes_in_parentheses(const char *sql)
{
    static const char *const verbs[] = {"INSERT", "UPDATE", "DELETE", "MERGE"};
    for (const char *open = strchr(sql, '('); open != NULL; open = strchr(open + 1, '(')) {
        const char *word = open + 1;
        while (isspace((unsigned char)*word))
            word++;
        for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
            if (starts_with_word(word, verbs[i]))
                return true;
    }
    return false;
}

/* Whether a successful statement may have changed something: an INSERT,
 * UPDATE or DELETE that touched rows, a data-modifying CTE, or any other
 * command but a plain SELECT (whose locks a rollback gives back anyway). */
static bool statement_changed(const char *sql, const PGresult *res)
{
    if (writes_in_parentheses(sql))
        return true;
    const char *tag = PQcmdStatus((PGresult *)res);
    if (starts_with_word(tag, "SELECT"))
        return false;
    bool counted = starts_with_word(tag, "INSERT") || starts_with_word(tag, "UPDATE") ||
                   starts_with_word(tag, "DELETE") || starts_with_word(tag, "MERGE");
    return !counted || strtol(PQcmdTuples((PGresult *)res), NULL, 10) > 0;
}

static void writer_statement_done(PGconn *conn, const char *sql, const PGresult *res)
{
    if (conn != batch.conn)
        return;
    batch.changed_before = batch.changed;
    if (statement_changed(sql, res))
        batch.changed = true;
}

/* A deadlock (40P01) or serialization failure (40001): PostgreSQL chose
 * this transaction to give way to another (a writer of this node or of
 * another); the same statements may well succeed when run again. */
static bool lost_conflict(const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return state != NULL && (strcmp(state, "40P01") == 0 || strcmp(state, "40001") == 0);
}

static void writer_statement_failed(PGconn *conn, const PGresult *res)
{
    if (conn == batch.conn && lost_conflict(res))
        batch.conflict = true;
}

void pg_writer_statement_unchanged(PGconn *conn)
{
    if (conn == batch.conn)
        batch.changed = batch.changed_before;
}

static bool writer_statement(PGconn *conn, const char *sql, int param_count,
                             const char *const *params, PGresult **res)
{
    if (conn != batch.conn)
        return false;
    if (batch.failed) {
        *res = NULL; /* the transaction is lost already: send nothing */
        return true;
    }
    if (!batch.begin_pending)
        return false;
    const char *const control[] = {"BEGIN", GENERIC_PLANS_SQL};
    int count = (int)(sizeof control / sizeof control[0]);
    struct pipelined run = run_pipelined(conn, control, count, sql, param_count, params);
    /* A connection that broke while idle is found out here, before anything
     * of the batch was sent: reconnect and start again, once. */
    if (!run.control_ok && PQstatus(conn) == CONNECTION_BAD && pg_reconnect(conn)) {
        PQclear(run.res);
        run = run_pipelined(conn, control, count, sql, param_count, params);
    }
    batch.begin_pending = false;
    batch.failed = !run.control_ok;
    *res = run.res;
    return true;
}

static int hook_begin(void *connection)
{
    PGconn *conn = connection;
    batch_reset(conn);
    if (!pg_reconnect(conn)) {
        note_lost(conn);
        return -1;
    }
    return 0;
}

static int hook_after_op(void *connection, enum bus_err result)
{
    (void)connection;
    assert(connection == batch.conn);
    bool changed = batch.changed;
    batch.changed = false;
    if (batch.failed)
        return -1;
    if (batch.conflict && PQstatus(batch.conn) == CONNECTION_OK)
        return WRITER_RETRY; /* the whole batch again, this operation too */
    switch (PQtransactionStatus(batch.conn)) {
    case PQTRANS_IDLE: /* nothing sent yet */
    case PQTRANS_INTRANS:
        return result != BUS_OK && changed ? WRITER_REDO : 0;
    case PQTRANS_INERROR: /* a statement failed: the transaction is aborted */
        return WRITER_REDO;
    default: /* the connection broke: what ran is unknown */
        note_lost(batch.conn);
        return -1;
    }
}

/* The batch's merged statements (postgres_merge.c), judged as an
 * operation: a failure that changed nothing leaves every operation to go
 * its own way; one that spoilt the transaction runs the batch again
 * unmerged (WRITER_REDO). */
static int hook_prepare(void *connection, const struct writer_op_ref *ops, int count)
{
    return hook_after_op(connection, pg_merge_batch(connection, ops, count));
}

/* COMMIT of a transaction that an error aborted answers ROLLBACK, with
 * success: only the command tag tells them apart. */
static int hook_commit(void *connection)
{
    PGconn *conn = connection;
    if (batch.failed)
        return -1; /* the writer calls hook_rollback: it frees the outputs */
    int rc = 0;
    if (!batch.begin_pending) {
        PGresult *res = PQexec(conn, "COMMIT");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = lost_conflict(res) ? WRITER_RETRY : (int)map_failure(conn, res, "commit");
        else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
            rc = -1;
        PQclear(res);
    }
    if (rc == 0)
        batch_reset(NULL); /* the outputs are their callers' now */
    return rc;
}

static void hook_rollback(void *connection)
{
    PGconn *conn = connection;
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        PQclear(PQexec(conn, "ROLLBACK"));
    free_outputs();
    batch_reset(NULL);
}

const struct writer_hooks pg_writer_hooks = {
    .begin = hook_begin,
    .commit = hook_commit,
    .rollback = hook_rollback,
    .after_op = hook_after_op,
    .prepare = hook_prepare,
};
