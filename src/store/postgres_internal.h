/* Internals shared by the PostgreSQL backend's files (postgres.c: the
 * connection handling and the client API; postgres_schema.c: the numbered
 * migrations; postgres_admin.c: keys and the admin API; postgres_schedules.c:
 * schedules). Not part of store.h: no other layer may see libpq. */
#ifndef STORE_POSTGRES_INTERNAL_H
#define STORE_POSTGRES_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/postgres_libpq.h" /* libpq-fe.h, loaded at run time */

#include "store/store.h"
#include "store/writer.h"

/* The intent columns in the order pg_read_record() reads them; the same
 * names and order as the SQLite backend's INTENT_COLUMNS. */
#define PG_INTENT_COLUMNS                                                                      \
    "id, namespace, goal, status, visibility, priority, claim_attempts, max_attempts,"       \
    " backoff_base, target_worker, required_capability, publisher, claimed_by, run_at,"     \
    " created_at, expires_at, claimed_at, claim_expires_at, completed_at, result_type,"      \
    " payload, result, last_error, worker_id"

/* A connection of the read pool; reconnected (PQreset) when found broken. */
struct pg_reader {
    PGconn *conn;
    struct pg_reader *next_free;
};

/* How many writers a node runs unless told (BUS_PG_WRITERS), and at most.
 * One since a batch's operations run as merged statements
 * (postgres_merge.c): the bigger batches of one writer merge more, and
 * on the bench's 2 shared cores one writer did more jobs per second with
 * less database CPU per job than two (docs/BENCHMARKS.md, "PostgreSQL:
 * fewer statements per job"); a database with cores to spare may take
 * more. */
#define PG_WRITERS_DEFAULT 1
#define PG_WRITERS_MAX 16

struct pg_backend {
    struct store store;
    char *conninfo;       /* owned: the libpq URI or key=value string */
    /* Several writers, each a thread with its own connection and queue
     * (writer ops get it as `connection`): one connection runs its
     * statements one round trip after another, so one writer left the
     * database idle between them (docs/BENCHMARKS.md, "Several writers
     * per node"). Between them, every guarantee is kept by the database,
     * as between nodes. */
    int writer_count;
    PGconn *write_conns[PG_WRITERS_MAX];
    struct writer *writers[PG_WRITERS_MAX];
    struct store_write_stats write_stats; /* all the writers' together */
    atomic_uint next_writer;              /* where the search for the least busy starts */
    pthread_mutex_t readers_lock;
    pthread_cond_t reader_returned;
    struct pg_reader *readers;
    struct pg_reader *free_readers;
    int reader_count;
    struct pg_notifier *notifier; /* events between nodes (postgres_notify.c) */
};

/* ---- goal controls (postgres_goals.c) ------------------------------------ */

/* The goals of namespace $1 (and goal $3, when given) that a claim at time
 * $2 must pass over: paused, or holding max_claimed live leases. The claim
 * statement's snapshot may miss another node's claim committed while it
 * ran, so a claim of a limited goal is checked again (below). */
#define PG_CLAIM_BLOCKED_GOALS_SQL                                                              \
    "SELECT c.goal FROM goal_controls c WHERE c.namespace = $1"                                  \
    " AND ($3::text IS NULL OR c.goal = $3::text)"                                               \
    " AND (c.paused = 1 OR c.max_claimed <= (SELECT count(*) FROM intents l"                     \
    "      WHERE l.status = 'claimed' AND l.claim_expires_at > $2::float8"                       \
    "      AND l.namespace = c.namespace AND l.goal = c.goal))"

/* Inside the claim's transaction, after it took an intent of a goal with a
 * limit: locks the goal's control row (so the nodes check one at a time,
 * each after the previous one's commit) and counts the live leases anew.
 * BUS_ERR_EMPTY when the claim went over the limit: the writer then undoes
 * it. */
enum bus_err pg_goal_limit_check(PGconn *conn, const char *namespace_, const char *goal,
                                 double now);
enum bus_err pg_goal_control_set(void *backend, const struct goal_control_change *change,
                                 struct goal_control *out);
enum bus_err pg_goal_control_list(void *backend, store_each_goal_control each, void *context);

/* ---- completion webhooks (postgres_webhooks.c) --------------------------- */

/* Keeps a new intent's notify_url (nothing without one), in its publish's
 * transaction. */
enum bus_err pg_webhook_insert(PGconn *conn, const struct intent_new *intent);
enum bus_err pg_webhook_take(void *backend, double now, double lease_until,
                             struct webhook_delivery *out);
enum bus_err pg_webhook_record(void *backend, const struct webhook_outcome *outcome);
enum bus_err pg_webhook_get(void *backend, const char *intent_id, struct webhook_record *out);
enum bus_err pg_webhook_pending(void *backend, long *count);

/* The tester keys' request windows, across nodes (postgres_rate.c). */
enum bus_err pg_rate_take(void *backend, const char *principal, double now, int limit,
                          double period, bool *allowed, double *retry_after);

/* ---- running SQL (postgres.c) ------------------------------------------- */

/* Runs sql with text parameters (NULL = SQL NULL) on conn. BUS_OK with
 * *out set (PQclear it) when the command succeeded; otherwise *out is NULL
 * and the result says why: BUS_ERR_DATABASE_BUSY for a lost connection or
 * a serialization/lock failure (the caller retries later: 503), a storage
 * fault for disk-full (53100: BUS_ERR_STORAGE_FULL), BUS_ERR_INTERNAL
 * otherwise (logged to stderr once with `what`). out may be NULL when the
 * rows are not wanted. */
enum bus_err pg_exec(PGconn *conn, const char *what, const char *sql, int param_count,
                     const char *const *params, PGresult **out);

/* pg_exec for a statement that must reach its rows through indexes,
 * whatever the tables' size when it is planned: a join to an array of
 * keys. The writer forces generic plans (postgres_conn.c), made when a
 * connection first runs a statement: made while the tables were nearly
 * empty (a fresh database), a join's was a hash join over sequential
 * scans, kept for the connection's life. So the statement's first run on
 * a connection (when its plan is made) has sequential scans turned off
 * for it (SET LOCAL, then back to the default). */
enum bus_err pg_exec_indexed(PGconn *conn, const char *what, const char *sql, int param_count,
                             const char *const *params, PGresult **out);

/* Parameter text for a double: "%.17g" in buf (size >= 32), or NULL for
 * NAN (SQL NULL). */
const char *pg_double_param(double value, char *buf);
/* Parameter text for a long, in buf (size >= 24). */
const char *pg_long_param(long value, char *buf);
/* NULL for NULL and "" (an absent optional text), else text. */
const char *pg_text_param(const char *text);

/* Column readers of row `row`: NAN / 0 / "" / NULL for SQL NULL. */
double pg_double(const PGresult *res, int row, int column);
long pg_long(const PGresult *res, int row, int column);
void pg_copy(const PGresult *res, int row, int column, char *out, size_t size);
char *pg_dup(const PGresult *res, int row, int column); /* malloc'd, NULL for NULL */

/* lease_is_held (core/intent.h) on a look-up row whose columns from
 * `first` on are status, claim_token, claimed_by, claim_expires_at. */
bool pg_lease_held(const PGresult *res, int row, int first, const struct lease_ref *ref);
/* A held lease's facts into ref->facts (if asked for) from the columns
 * namespace, goal, claimed_at, from `first` on. */
void pg_lease_facts(const PGresult *res, int row, int first, const struct lease_ref *ref);

/* Reads a row selected with PG_INTENT_COLUMNS (column 0 first). */
void pg_read_record(const PGresult *res, int row, struct intent_record *out);

/* A connection of the read pool, waiting for one when all are busy, and
 * giving it back. Reads that must see the newest commit may use it: every
 * pool connection is autocommit. */
PGconn *pg_reader_acquire(struct pg_backend *self);
void pg_reader_release(struct pg_backend *self, PGconn *conn);
/* store_ops.pool_usage: the read pool's size and connections in use. */
void pg_pool_usage(void *backend, long *size, long *in_use);

/* The writer for an operation: for one that takes a lock of principal's
 * (the open-intent cap, an idempotency key, the tester rate window: their
 * advisory locks), always the same writer of this node, so two writers
 * never wait for each other on it, nor deadlock; for any other
 * (principal NULL), the one with the fewest operations queued or running. */
struct writer *pg_writer_pick(struct pg_backend *self, const char *principal);
/* Runs op(connection, arg) on a writer thread inside its transaction
 * (group commit; op may run more than once, see writer.h) and waits for
 * the commit: writer_run(pg_writer_pick(self, NULL), op, arg). */
enum bus_err pg_write(struct pg_backend *self, writer_op_fn op, void *arg);
/* pg_write for an operation that takes principal's locks (pg_writer_pick). */
enum bus_err pg_write_as(struct pg_backend *self, const char *principal, writer_op_fn op,
                         void *arg);

/* Inside a writer op (conn = the op's connection): */
/* Moves an intent to dead and copies it into dead_letters with reason; its
 * open attempt, if any, ends with reason as outcome and error_text. */
enum bus_err pg_kill_intent(PGconn *conn, const char *id, const char *error_text,
                            const char *reason, double now);
enum bus_err pg_insert_intent(PGconn *conn, const struct intent_new *intent);
/* BUS_ERR_LIMIT_EXCEEDED when publisher already has open_limit open
 * intents (open_limit <= 0: no limit); serialised across nodes. */
enum bus_err pg_check_open_limit(PGconn *conn, const char *publisher, long open_limit);
/* The owner of an active tester key: BUS_OK or BUS_ERR_NOT_FOUND. */
enum bus_err pg_key_owner(PGconn *conn, const char *key_hash, char owner[OWNER_MAX_BYTES + 1]);

/* The tail of a statement whose CTE `killed` is an UPDATE to dead
 * RETURNING id, namespace, goal, payload, publisher, claim_attempts,
 * max_attempts, last_error: archives those rows as dead letters with the
 * SQL expressions reason and died_at, replacing an older letter of the same
 * intent (retried by the admin, and dead again). */
#define PG_ARCHIVE_KILLED(reason, died_at)                                                     \
    " INSERT INTO dead_letters (intent_id, namespace, goal, payload, publisher,"              \
    " claim_attempts, max_attempts, last_error, reason, died_at)"                             \
    " SELECT id, namespace, goal, payload, publisher, claim_attempts, max_attempts,"          \
    " last_error, " reason ", " died_at " FROM killed"                                         \
    " ON CONFLICT (intent_id) DO UPDATE SET namespace = excluded.namespace,"                  \
    " goal = excluded.goal, payload = excluded.payload, publisher = excluded.publisher,"      \
    " claim_attempts = excluded.claim_attempts, max_attempts = excluded.max_attempts,"        \
    " last_error = excluded.last_error, reason = excluded.reason, died_at = excluded.died_at"

/* Requeues an intent (open again at run_at, lease cleared); its attempt
 * ends with outcome. */
enum bus_err pg_requeue_intent(PGconn *conn, const char *id, const char *outcome,
                               const char *error_text, double run_at, double now);

/* ---- housekeeping of store_ops (postgres_cleanup.c) --------------------- */
enum bus_err pg_cleanup(void *backend, double now, double retention_seconds,
                        struct cleanup_stats *stats);
/* The lease sweep, and pg_cleanup without waiting (store.h). */
enum bus_err pg_sweep_submit(void *backend, struct store_sweep_call *call, store_done_fn done,
                             void *context);
enum bus_err pg_cleanup_submit(void *backend, struct store_cleanup_call *call, store_done_fn done,
                               void *context);

/* ---- reads of store_ops (postgres_reads.c) ------------------------------- */
enum bus_err pg_get_intent(void *backend, const char *id, struct intent_record *out);
enum bus_err pg_kv_get(void *backend, const char *principal, const char *key, double now,
                       char **value_json);
enum bus_err pg_key_lookup(void *backend, const char *key_hash,
                           char owner[OWNER_MAX_BYTES + 1]);

/* ---- schema (postgres_schema.c) ----------------------------------------- */

/* Applies the migrations the database lacks, each in its own transaction,
 * under a session advisory lock (nodes starting at once wait for each
 * other). 0 with *applied = how many ran, or -1 after saying why on stderr
 * (also when the database is newer than this binary). */
int pg_schema_migrate(PGconn *conn, int *applied);
/* The version the newest migration of this binary makes. */
int pg_schema_latest(void);

/* ---- connections (postgres_conn.c) -------------------------------------- */

/* A new connection with the bus's session settings, or NULL after saying
 * why on stderr. */
PGconn *pg_connect(const char *conninfo);
/* Makes a broken connection usable again (PQreset): true when it is. */
bool pg_reconnect(PGconn *conn);
/* Transaction control of the writer: group commit, no savepoint per
 * operation; a batch that an operation spoilt is rolled back and run again
 * without it (store/writer.h, after_op). */
extern const struct writer_hooks pg_writer_hooks;
/* How many operations share a writer transaction at most. */
#define PG_MAX_BATCH 256
/* Inside a writer op: *slot is an allocated output of the op (NULL: none).
 * If the transaction is rolled back (to run the batch again, or a failed
 * commit), it is freed and *slot set to NULL; the op fills it again if it
 * runs again. An op may have several (a batch claim's payloads). */
void pg_writer_output(PGconn *conn, char **slot);
/* Inside a writer op: the statement just run changed nothing, which its
 * command tag cannot say when its writes are in CTEs (a claim whose every
 * write hangs on the rows it took, and that took none). Without this, an
 * op that then fails costs its batch a redo (store/writer.h, after_op). */
void pg_writer_statement_unchanged(PGconn *conn);

/* ---- merged statements of a batch (postgres_merge.c) -------------------- */

/* The writer ops that a batch may merge (postgres.c). */
enum bus_err pg_publish_op(void *connection, void *arg);
/* A write's prelude: its signed request's nonce (arg: store_nonce_call). */
enum bus_err pg_nonce_gate_op(void *connection, void *arg);
enum bus_err pg_fulfill_op(void *connection, void *arg);
enum bus_err pg_claim_op(void *connection, void *arg);
/* The merged claims' statement and the reader of a claimed row (postgres.c). */
extern const char pg_claim_merged_sql[];
void pg_read_claimed(const PGresult *res, int row, struct claimed_intent *out);
/* writer_hooks.prepare's work: runs the merged statements of the batch's
 * operations ops[0..count) and keeps each merged one's outcome. On an
 * error nothing is kept (every operation then goes its own way, or the
 * writer runs the batch again, store/writer.h). */
enum bus_err pg_merge_batch(PGconn *conn, const struct writer_op_ref *ops, int count);
/* Inside a writer op (or prelude) op: true with *result set when op with
 * arg was merged in this run of the batch: it answers *result and sends
 * nothing. */
bool pg_merged_outcome(PGconn *conn, writer_op_fn op, const void *arg, enum bus_err *result);
/* Forgets the kept outcomes (a new run of a batch, or none: conn NULL). */
void pg_merge_reset(PGconn *conn);

/* ---- the admin and key operations of store_ops (postgres_admin.c) ------- */
/* Same contracts as in store.h; names pg_<op>. */
enum bus_err pg_key_create(void *backend, const char *key_hash, const char *owner, double now);
enum bus_err pg_key_revoke(void *backend, const char *key_hash, double now,
                           char owner[OWNER_MAX_BYTES + 1]);
enum bus_err pg_key_list(void *backend, store_each_key each, void *context);
enum bus_err pg_key_find(void *backend, const char *prefix, char key_hash[PRINCIPAL_LEN + 1]);
enum bus_err pg_goal_counts(void *backend, double now, int limit, store_each_goal_count each,
                            void *context);
enum bus_err pg_worker_leases(void *backend, double now, store_each_worker_leases each,
                              void *context);
enum bus_err pg_audit_add(void *backend, const struct audit_entry *entry);
enum bus_err pg_audit_list(void *backend, int limit, long before, store_each_audit each,
                           void *context);
enum bus_err pg_oldest_open(void *backend, double now, int limit, store_each_oldest each,
                            void *context);
enum bus_err pg_queue_counts(void *backend, double now, store_each_count each, void *context,
                             struct queue_totals *totals);
enum bus_err pg_intent_list(void *backend, const struct intent_filter *filter,
                            store_each_intent each, void *context);
enum bus_err pg_intent_cancel(void *backend, const char *id, double now,
                              struct goal_tallies *goals);
/* The attempt history (postgres_attempts.c). */
enum bus_err pg_attempt_list(void *backend, const char *id, store_each_attempt each,
                             void *context);
enum bus_err pg_intent_retry(void *backend, const char *id, double now);
enum bus_err pg_dead_list(void *backend, const struct dead_filter *filter,
                          store_each_dead_letter each, void *context);
enum bus_err pg_dead_purge(void *backend, const struct dead_filter *filter, long *deleted);
enum bus_err pg_dead_get(void *backend, const char *id, struct dead_letter *out);
enum bus_err pg_purge(void *backend, const char *namespace_, struct purge_stats *stats);

/* ---- schedules (postgres_schedules.c) ----------------------------------- */
enum bus_err pg_schedule_put(void *backend, const struct schedule *schedule, bool *created);
enum bus_err pg_schedule_get(void *backend, const char *name, const char *owner,
                             struct schedule *out);
enum bus_err pg_schedule_list(void *backend, const char *owner, store_each_schedule each,
                              void *context);
enum bus_err pg_schedule_set_paused(void *backend, const char *name, const char *owner,
                                    bool paused, double next_at, double now);
enum bus_err pg_schedule_delete(void *backend, const char *name, const char *owner);
enum bus_err pg_schedule_due(void *backend, double now, store_each_schedule each, void *context);
enum bus_err pg_schedule_step(void *backend, struct store_schedule_step *step);
enum bus_err pg_schedule_fires(void *backend, const char *schedule_id, int limit,
                               store_each_fire each, void *context);

#endif
