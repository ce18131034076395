/* A writer: one thread owns a write connection and runs the write
 * operations given to it, many per transaction (group commit). SQLite has
 * one writer; the PostgreSQL backend may run several, each over its own
 * connection (store/postgres.c). A caller is
 * told (writer_submit) or waits (writer_run) until the transaction holding
 * its operation is committed, so an acknowledged write is durable. No SQL
 * here: the backend supplies the transaction hooks. */
#ifndef STORE_WRITER_H
#define STORE_WRITER_H

#include <stdbool.h>

#include "core/errors.h"
#include "store/store.h"

/* One operation, run on the writer thread inside an open transaction.
 * It must leave the database unchanged when it returns an error (the
 * writer rolls back to a savepoint to make sure, or, for a backend without
 * savepoints, rolls the transaction back and runs the batch again without
 * it). An operation may therefore run more than once before its commit:
 * it writes its outputs anew on every run and keeps no effect outside the
 * transaction before the commit. */
typedef enum bus_err (*writer_op_fn)(void *connection, void *arg);

/* An operation as writer_hooks.prepare sees it, with its prelude (NULL:
 * none; see writer_submit_prelude). */
struct writer_op_ref {
    writer_op_fn op;
    void *arg;
    writer_op_fn prelude;
    void *prelude_arg;
};

/* Transaction control of a backend; each returns 0 (BUS_OK) on success,
 * else the enum bus_err of the failure (a storage fault) or -1 (read as
 * BUS_ERR_DATABASE_BUSY); that is what the batch's callers are told. */
struct writer_hooks {
    int (*begin)(void *connection);
    int (*commit)(void *connection);
    void (*rollback)(void *connection);
    /* A savepoint per operation, undone when it fails. */
    int (*savepoint)(void *connection);
    /* Releases the savepoint, first rolling back to it when undo is set. */
    void (*release)(void *connection, int undo);
    /* Optional, with savepoint and release: whether op (an operation or a
     * prelude) may go without a savepoint of its own because it may run
     * twice (it writes its outputs anew, freeing a first run's). A batch
     * of such operations only runs without savepoints, with changes to
     * tell whether a failed one wrote something; if one did, the writer
     * rolls back and runs the batch again, each one in its savepoint.
     * Savepoints were about 6 of the 15 statements of a job on SQLite. */
    bool (*rerunnable)(writer_op_fn op);
    /* With rerunnable: the rows the connection has changed so far (any
     * count that moves whenever a row is written), or -1 once the
     * transaction is lost (the database rolled it back by itself). */
    long long (*changes)(void *connection);
    /* Instead of savepoint and release (which are then NULL): called after
     * each operation (and prelude) with its result. 0: the transaction
     * goes on (the operation succeeded, or failed having changed nothing).
     * WRITER_REDO: the operation left the transaction unusable (a failed
     * statement aborts it) or changed something and then failed; the
     * writer rolls back and runs the batch again, that operation answered
     * its result and not run again. WRITER_RETRY: the operation lost a
     * conflict with another transaction (a deadlock, a serialization
     * failure) that says nothing of the operation itself; the writer rolls
     * back and runs the whole batch again, that operation included, a few
     * times (WRITER_MAX_RETRIES) before it answers it as for WRITER_REDO.
     * Else the batch is lost, as for a failed hook (the connection
     * broke). commit may return WRITER_RETRY too. */
    int (*after_op)(void *connection, enum bus_err result);
    /* Optional, with after_op only: called on each run of a batch, after
     * begin and before the first operation, with the operations that
     * will run and their preludes (in the batch's order). The backend
     * may run the statements of several of them at once (one multi-row
     * statement instead of one each) and keep each one's outcome for when
     * it runs; each prelude and operation still runs, in order, and
     * answers (an operation only if its prelude answered BUS_OK). 0: go
     * on. WRITER_REDO: the merged work spoilt the transaction (a failed
     * statement); the writer rolls back and runs the batch again without
     * calling prepare for it again. WRITER_RETRY: as from after_op. Else
     * the batch is lost, as for a failed hook. */
    int (*prepare)(void *connection, const struct writer_op_ref *ops, int count);
};

/* after_op: roll back and run the batch again without this operation. */
#define WRITER_REDO (-2)
/* after_op or commit: roll back and run the batch again, all of it. */
#define WRITER_RETRY (-3)
/* How many times a batch is run again for WRITER_RETRY. */
#define WRITER_MAX_RETRIES 4

struct writer;

/* Starts the writer thread over connection (which it then owns until
 * writer_stop). max_batch bounds how many operations share a transaction.
 * Returns NULL when the thread cannot be started. */
struct writer *writer_start(void *connection, const struct writer_hooks *hooks, int max_batch);

/* writer_start counting into stats (the caller's, kept until writer_stop)
 * instead of the writer's own: several writers of one database add up
 * there (every field is atomic). */
struct writer *writer_start_counted(void *connection, const struct writer_hooks *hooks,
                                    int max_batch, struct store_write_stats *stats);

/* Lets writer wait up to microseconds (0: not at all, the default) before
 * a batch smaller than its last, for as many operations as that had: fewer,
 * larger transactions under a steady load, and no wait for a lone client
 * (writer.c, gather). Any thread, any time. */
void writer_gather(struct writer *writer, int microseconds);

/* Operations queued or running on writer: how busy it is, to choose the
 * least busy of several. */
long writer_load(const struct writer *writer);

/* Called on the writer thread once an operation's transaction is over,
 * with op's result, or the hooks' error (BUS_ERR_DATABASE_BUSY, or a
 * storage fault) when the transaction could not be committed (nothing of
 * it was kept). Every later operation waits for
 * it: record the result and wake someone, nothing more. */
typedef void (*writer_done_fn)(void *context, enum bus_err result);

/* Queues op(connection, arg) and returns at once. BUS_OK: done(context,
 * result) will be called exactly once, after the commit; arg must stay
 * valid until then. BUS_ERR_INTERNAL (out of memory): nothing was queued
 * and done will not be called. */
enum bus_err writer_submit(struct writer *writer, writer_op_fn op, void *arg, writer_done_fn done,
                           void *done_context);

/* writer_submit with a prelude: prelude(connection, prelude_arg) runs
 * first, in a savepoint of its own that stays even if op fails, and op
 * runs only if the prelude returned BUS_OK (else the prelude's result is
 * the operation's). A signed request's nonce is recorded so: once, before
 * its write, replays refused, and kept whatever the write does. A NULL
 * prelude is plain writer_submit. */
enum bus_err writer_submit_prelude(struct writer *writer, writer_op_fn prelude, void *prelude_arg,
                                   writer_op_fn op, void *arg, writer_done_fn done,
                                   void *done_context);

/* writer_submit, then waits for done: returns op's result, or
 * BUS_ERR_DATABASE_BUSY when the transaction could not be committed. */
enum bus_err writer_run(struct writer *writer, writer_op_fn op, void *arg);

/* Commit counters and latencies, updated as the writer runs (the shared
 * ones of writer_start_counted). */
const struct store_write_stats *writer_stats(const struct writer *writer);

/* Runs every queued operation, then stops the thread and frees the writer.
 * The connection is the caller's again afterwards. */
void writer_stop(struct writer *writer);

#endif
