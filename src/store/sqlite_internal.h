/* Internals shared by the SQLite backend's files (sqlite.c: the client
 * API; sqlite_admin.c: keys and the admin API). Not part of store.h: no
 * other layer may see SQLite. */
#ifndef STORE_SQLITE_INTERNAL_H
#define STORE_SQLITE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include <sqlite3.h>

#include "store/nonce_set.h"
#include "store/store.h"
#include "store/writer.h"

struct sqlite_checkpointer;

/* claim_expires_at is a lease only while the intent is claimed: a fulfil
 * keeps it as its last attempt's (the view running_attempts,
 * sqlite_attempts.c). */
#define INTENT_COLUMNS                                                                             \
    "id, namespace, goal, status, visibility, priority, claim_attempts, max_attempts,"             \
    " backoff_base, target_worker, required_capability, publisher, claimed_by, run_at,"            \
    " created_at, expires_at, claimed_at,"                                                         \
    " CASE WHEN status = 'claimed' THEN claim_expires_at END, completed_at, result_type,"          \
    " payload, result, last_error, worker_id"

/* The writer's prepared statements; their SQL is in sqlite.c. */
enum writer_statement {
    W_BEGIN,
    W_COMMIT,
    W_ROLLBACK,
    W_SAVEPOINT,
    W_RELEASE,
    W_ROLLBACK_TO,
    W_INSERT_INTENT,
    W_IDEMPOTENCY_GET,
    W_IDEMPOTENCY_PUT,
    W_CLAIM_FIND,
    W_CLAIM_FIND_LAPSED,
    W_CLAIM_TAKE,
    W_CLAIM_FIND_MANY,
    W_CLAIM_FIND_MANY_LAPSED,
    W_FIRST_LEASE_END,
    W_GOAL_LIMITS,
    W_LEASE_GET,
    W_EXTEND,
    W_FULFILL,
    W_REQUEUE,
    W_KILL,
    W_ARCHIVE,
    W_KV_SET,
    W_EXPIRED_LEASES,
    W_EXHAUSTED_LEASES,
    W_DELETE_EXPIRED_OPEN,
    W_DELETE_FULFILLED,
    W_DELETE_DEAD,
    W_DELETE_DEAD_LETTERS,
    W_DELETE_KV,
    W_DELETE_IDEMPOTENCY,
    W_COUNT_OPEN,
    W_ATTEMPT_END,
    W_WEBHOOK_ARM,
    W_NONCE_APPEND,
    W_DELETE_NONCES,
    W_STATEMENT_COUNT
};

struct write_connection {
    sqlite3 *db;
    sqlite3_stmt *statements[W_STATEMENT_COUNT];
    const char *path; /* the database file (the backend's copy) */
    bool sync_full;
    /* Opened read-only, as its storage could not be written at start
     * (sqlite_read_only.h): every write is refused, and the writer tries to
     * open it again read-write, at most once a second (next_reopen,
     * monotonic), until it can. */
    bool read_only;
    double next_reopen;
    struct sqlite_backend *backend; /* whose read connections reopen too */
    /* The replay authority for signed requests' nonces (sqlite_nonces.c);
     * nonces_cleared: an admin purge emptied it in the open transaction,
     * so a rollback reloads it from the table. */
    struct nonce_set *nonces;
    bool nonces_cleared;
    /* No lease in the database ends before this time, so until then a
     * claim's find needs no lapsed arm (lease_lapsed, sqlite.c): the
     * earliest lease end last read, lowered by each claim and extend
     * written since (only this connection writes intents: one process per
     * file); 0, unknown, at the start and after any rollback. */
    double leases_end_from;
    /* Whether the webhooks table may hold a row: false only while it has
     * been empty since the connection opened, so that a bus whose intents
     * never name a notify_url arms nothing at a fulfil (arm_webhook). */
    bool webhooks_possible;
};

struct read_connection {
    sqlite3 *db;
    sqlite3_stmt *get_intent;
    sqlite3_stmt *kv_get;
    sqlite3_stmt *key_lookup;
    struct read_connection *next_free;
};

struct sqlite_backend {
    struct store store;
    struct write_connection writes;
    struct writer *writer;
    /* NULL when checkpoints stay on the writer (SQLite's autocheckpoint). */
    struct sqlite_checkpointer *checkpointer;
    pthread_mutex_t readers_lock;
    pthread_cond_t reader_returned;
    struct read_connection *readers;
    struct read_connection *free_readers;
    int reader_count;
    bool reopening; /* the writer holds every read connection to reopen it */
    char *path;     /* owned; writes.path points here */
    int owner_fd; /* holds the file's lock (sql_owner_lock); -1 when not */
};

/* The nonces' table, version 9 of the schema (sqlite_nonces.c): created,
 * or rewritten from version 8's keyed table. */
int sql_nonces_schema(sqlite3 *db, char **message);
/* Reads the nonces of the last NONCE_RETENTION_SECONDS before now into
 * set: what makes a replay across a restart still one. */
int sql_nonces_load(sqlite3 *db, struct nonce_set *set, double now);
/* Takes an exclusive flock on the database file, held until the returned
 * descriptor is closed (after every connection to the file is: closing a
 * descriptor of the file drops the process's POSIX locks, SQLite's too).
 * -1 with a message when another process holds it: the in-memory nonce
 * set is the authority for one process only. */
int sql_owner_lock(const char *path);


/* Maps a failed step to BUS_ERR_DATABASE_BUSY or BUS_ERR_INTERNAL (logged). */
enum bus_err sql_map_error(sqlite3 *db, int rc, const char *what);

/* Binds text, or NULL for NULL and "". */
void sql_bind_text(sqlite3_stmt *stmt, int index, const char *text);
void sql_copy_column(sqlite3_stmt *stmt, int column, char *out, size_t size);
/* A malloc'd copy of a text column, NULL for SQL NULL. */
char *sql_dup_column(sqlite3_stmt *stmt, int column);
/* NAN for SQL NULL. */
double sql_double_column(sqlite3_stmt *stmt, int column);

/* Reads a row selected with INTENT_COLUMNS. */
void sql_read_record(sqlite3_stmt *stmt, struct intent_record *out);

/* Writes the row of the attempt id's intent holds (running_attempts), if
 * it holds one, before the intent changes state: a claimed intent's
 * ends at now with outcome and error_text (a lapsed lease's when it ran
 * out, if earlier), a fulfilled one's as its fulfil did. */
enum bus_err sql_end_attempt(struct write_connection *conn, const char *id, const char *outcome,
                             const char *error_text, double now);

/* Moves an intent to dead and copies it into the dead-letter table; its
 * running attempt, if any, ends with reason as outcome and error_text. */
enum bus_err sql_kill_intent(struct write_connection *conn, const char *id,
                             const char *error_text, const char *reason, double now);

/* The owner of an active tester key, by digest: BUS_OK, or
 * BUS_ERR_NOT_FOUND for an unknown or revoked key. stmt is a prepared
 * sql_key_owner_query, reset afterwards. */
extern const char sql_key_owner_query[];
enum bus_err sql_key_owner(sqlite3 *db, sqlite3_stmt *stmt, const char *key_hash,
                           char owner[OWNER_MAX_BYTES + 1]);

/* A read-only connection from the pool, waiting for one if all are busy
 * (or while the writer reopens them all, see reopen_if_writable). Held
 * for one read, never across a write: the writer may wait for it. */
struct read_connection *sql_reader_acquire(struct sqlite_backend *self);
void sql_reader_release(struct sqlite_backend *self, struct read_connection *reader);

/* The admin and key operations of store_ops, in sqlite_admin.c. */
enum bus_err sql_key_create(void *backend, const char *key_hash, const char *owner, double now);
enum bus_err sql_key_revoke(void *backend, const char *key_hash, double now,
                            char owner[OWNER_MAX_BYTES + 1]);
enum bus_err sql_key_list(void *backend, store_each_key each, void *context);
enum bus_err sql_goal_counts(void *backend, double now, int limit, store_each_goal_count each,
                             void *context);
enum bus_err sql_key_find(void *backend, const char *prefix, char key_hash[PRINCIPAL_LEN + 1]);
enum bus_err sql_worker_leases(void *backend, double now, store_each_worker_leases each,
                               void *context);
enum bus_err sql_audit_add(void *backend, const struct audit_entry *entry);
enum bus_err sql_audit_list(void *backend, int limit, long before, store_each_audit each,
                            void *context);
enum bus_err sql_oldest_open(void *backend, double now, int limit, store_each_oldest each,
                             void *context);
enum bus_err sql_queue_counts(void *backend, double now, store_each_count each, void *context,
                              struct queue_totals *totals);
enum bus_err sql_intent_list(void *backend, const struct intent_filter *filter,
                             store_each_intent each, void *context);
enum bus_err sql_intent_cancel(void *backend, const char *id, double now,
                               struct goal_tallies *goals);
enum bus_err sql_intent_retry(void *backend, const char *id, double now);
enum bus_err sql_dead_list(void *backend, const struct dead_filter *filter,
                           store_each_dead_letter each, void *context);
enum bus_err sql_dead_purge(void *backend, const struct dead_filter *filter, long *deleted);
enum bus_err sql_dead_get(void *backend, const char *id, struct dead_letter *out);
enum bus_err sql_purge(void *backend, const char *namespace_, struct purge_stats *stats);

/* Used by the schedules' step (sqlite_schedules.c), in its transaction. */
/* Under an open-intent cap (open_limit > 0) the intent is one the cap
 * counts; the cap itself is sql_check_open_limit's. */
enum bus_err sql_insert_intent(struct write_connection *conn, const struct intent_new *intent,
                               long open_limit);
enum bus_err sql_check_open_limit(struct write_connection *conn, const char *publisher,
                                  long open_limit);

/* The schedules' tables (schema version 5) and operations, in sqlite_schedules.c. */
int sql_schedules_schema(sqlite3 *db, char **message);
enum bus_err sql_schedule_put(void *backend, const struct schedule *schedule, bool *created);
enum bus_err sql_schedule_get(void *backend, const char *name, const char *owner,
                              struct schedule *out);
enum bus_err sql_schedule_list(void *backend, const char *owner, store_each_schedule each,
                               void *context);
enum bus_err sql_schedule_set_paused(void *backend, const char *name, const char *owner,
                                     bool paused, double next_at, double now);
enum bus_err sql_schedule_delete(void *backend, const char *name, const char *owner);
enum bus_err sql_schedule_due(void *backend, double now, store_each_schedule each, void *context);
enum bus_err sql_schedule_step(void *backend, struct store_schedule_step *step);
enum bus_err sql_schedule_fires(void *backend, const char *schedule_id, int limit,
                                store_each_fire each, void *context);

/* The attempts' table (schema version 7), its views (version 11) and its
 * listing, in sqlite_attempts.c. */
int sql_attempts_schema(sqlite3 *db, char **message);
int sql_attempt_history_schema(sqlite3 *db, char **message);
enum bus_err sql_attempt_list(void *backend, const char *id, store_each_attempt each,
                              void *context);

/* The goal controls' table (schema version 6) and operations, in sqlite_goals.c. */
int sql_goals_schema(sqlite3 *db, char **message);
enum bus_err sql_goal_control_set(void *backend, const struct goal_control_change *change,
                                  struct goal_control *out);
enum bus_err sql_goal_control_list(void *backend, store_each_goal_control each, void *context);

/* The completion webhooks' table (schema version 8) and operations, in
 * sqlite_webhooks.c. sql_webhook_insert keeps a new intent's notify_url
 * (nothing without one), in the publish's transaction. */
int sql_webhooks_schema(sqlite3 *db, char **message);
/* Whether the webhooks table has a row (true when it cannot tell). */
bool sql_webhooks_any(sqlite3 *db);
enum bus_err sql_webhook_insert(struct write_connection *conn, const struct intent_new *intent);
enum bus_err sql_webhook_take(void *backend, double now, double lease_until,
                              struct webhook_delivery *out);
enum bus_err sql_webhook_record(void *backend, const struct webhook_outcome *outcome);
enum bus_err sql_webhook_get(void *backend, const char *intent_id, struct webhook_record *out);
enum bus_err sql_webhook_pending(void *backend, long *count);

#endif
