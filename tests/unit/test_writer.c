/* Unit tests of the group-commit writer (store/writer.c) over fake
 * transaction hooks: when done is called and with what, how a failed
 * commit or a failing operation is reported, how queued writes share a
 * transaction, that stopping runs what was queued, how a gathering writer
 * waits for a batch (and when it does not), and that the writer's thread
 * says what it is. */
#define _GNU_SOURCE /* pthread_getname_np */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/writer.h"

/* What the hooks saw; touched by the writer thread only, read by the test
 * after a done callback (whose lock orders the two). */
struct fake_db {
    int begins;
    int commits;
    int savepoints;
    int undone;
    bool fail_commit;
};

static int fake_begin(void *connection)
{
    ((struct fake_db *)connection)->begins++;
    return 0;
}

static int fake_commit(void *connection)
{
    struct fake_db *db = connection;
    if (db->fail_commit)
        return -1;
    db->commits++;
    return 0;
}

static void fake_rollback(void *connection)
{
    (void)connection;
}

static int fake_savepoint(void *connection)
{
    ((struct fake_db *)connection)->savepoints++;
    return 0;
}

static void fake_release(void *connection, int undo)
{
    ((struct fake_db *)connection)->undone += undo != 0;
}

static const struct writer_hooks fake_hooks = {.begin = fake_begin,
                                               .commit = fake_commit,
                                               .rollback = fake_rollback,
                                               .savepoint = fake_savepoint,
                                               .release = fake_release};

/* Counts done callbacks and keeps the last result. */
struct outcome {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int calls;
    enum bus_err result;
    int commits_seen; /* the fake's commits when done was called */
    struct fake_db *db;
};

static void outcome_init(struct outcome *outcome, struct fake_db *db)
{
    *outcome = (struct outcome){.db = db};
    pthread_mutex_init(&outcome->lock, NULL);
    pthread_cond_init(&outcome->changed, NULL);
}

static void outcome_destroy(struct outcome *outcome)
{
    pthread_cond_destroy(&outcome->changed);
    pthread_mutex_destroy(&outcome->lock);
}

static void record(void *context, enum bus_err result)
{
    struct outcome *outcome = context;
    pthread_mutex_lock(&outcome->lock);
    outcome->calls++;
    outcome->result = result;
    outcome->commits_seen = outcome->db->commits;
    pthread_cond_broadcast(&outcome->changed);
    pthread_mutex_unlock(&outcome->lock);
}

static void wait_for_calls(struct outcome *outcome, int calls)
{
    pthread_mutex_lock(&outcome->lock);
    while (outcome->calls < calls)
        pthread_cond_wait(&outcome->changed, &outcome->lock);
    pthread_mutex_unlock(&outcome->lock);
}

static enum bus_err succeed(void *connection, void *arg)
{
    (void)connection;
    if (arg != NULL)
        (*(int *)arg)++;
    return BUS_OK;
}

static enum bus_err not_found(void *connection, void *arg)
{
    (void)connection;
    (void)arg;
    return BUS_ERR_NOT_FOUND;
}

static void done_comes_after_the_commit(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct outcome outcome;
    outcome_init(&outcome, &db);
    struct writer *writer = writer_start(&db, &fake_hooks, 16);
    assert_non_null(writer);
    int ran = 0;
    assert_int_equal(writer_submit(writer, succeed, &ran, record, &outcome), BUS_OK);
    wait_for_calls(&outcome, 1);
    assert_int_equal(outcome.result, BUS_OK);
    assert_int_equal(outcome.commits_seen, 1);
    assert_int_equal(ran, 1);
    writer_stop(writer);
    assert_int_equal(outcome.calls, 1);
    outcome_destroy(&outcome);
}

/* An operation that reads the name of the thread it runs on. */
static enum bus_err read_thread_name(void *connection, void *arg)
{
    (void)connection;
    return pthread_getname_np(pthread_self(), arg, 16) == 0 ? BUS_OK : BUS_ERR_INTERNAL;
}

/* `top -H` and perf tell the writer from the HTTP loops by its name. */
static void the_writer_thread_is_named(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct writer *writer = writer_start(&db, &fake_hooks, 16);
    assert_non_null(writer);
    char name[16] = "";
    assert_int_equal(writer_run(writer, read_thread_name, name), BUS_OK);
    assert_string_equal(name, "bus-writer");
    writer_stop(writer);
}

static void failed_commit_reports_busy(void **state)
{
    (void)state;
    struct fake_db db = {.fail_commit = true};
    struct outcome outcome;
    outcome_init(&outcome, &db);
    struct writer *writer = writer_start(&db, &fake_hooks, 16);
    assert_non_null(writer);
    for (int i = 0; i < 3; i++)
        assert_int_equal(writer_submit(writer, succeed, NULL, record, &outcome), BUS_OK);
    wait_for_calls(&outcome, 3);
    assert_int_equal(outcome.result, BUS_ERR_DATABASE_BUSY);
    assert_int_equal(writer_run(writer, succeed, NULL), BUS_ERR_DATABASE_BUSY);
    assert_true(writer_stats(writer)->failed_transactions >= 1);
    writer_stop(writer);
    outcome_destroy(&outcome);
}

static void failing_operation_is_undone_alone(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct writer *writer = writer_start(&db, &fake_hooks, 16);
    assert_non_null(writer);
    assert_int_equal(writer_run(writer, not_found, NULL), BUS_ERR_NOT_FOUND);
    int ran = 0;
    assert_int_equal(writer_run(writer, succeed, &ran), BUS_OK);
    writer_stop(writer);
    assert_int_equal(ran, 1);
    assert_int_equal(db.savepoints, 2);
    assert_int_equal(db.undone, 1);
    assert_int_equal(db.commits, 2);
}

/* A prelude runs in a savepoint of its own, kept when the operation after
 * it fails; a failing prelude stops the operation and is its result. */
static void prelude_is_kept_and_can_stop_the_operation(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct outcome outcome;
    outcome_init(&outcome, &db);
    struct writer *writer = writer_start(&db, &fake_hooks, 16);
    assert_non_null(writer);
    int preludes = 0;
    assert_int_equal(
        writer_submit_prelude(writer, succeed, &preludes, not_found, NULL, record, &outcome),
        BUS_OK);
    wait_for_calls(&outcome, 1);
    assert_int_equal(outcome.result, BUS_ERR_NOT_FOUND);
    assert_int_equal(preludes, 1);
    assert_int_equal(db.savepoints, 2);
    assert_int_equal(db.undone, 1); /* the operation's, not the prelude's */

    int ran = 0;
    assert_int_equal(writer_submit_prelude(writer, not_found, NULL, succeed, &ran, record, &outcome),
                     BUS_OK);
    wait_for_calls(&outcome, 2);
    assert_int_equal(outcome.result, BUS_ERR_NOT_FOUND);
    assert_int_equal(ran, 0);
    writer_stop(writer);
    outcome_destroy(&outcome);
}

/* Holds the writer thread inside its first operation. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool entered;
    bool open;
};

static enum bus_err wait_at_gate(void *connection, void *arg)
{
    (void)connection;
    struct gate *gate = arg;
    pthread_mutex_lock(&gate->lock);
    gate->entered = true;
    pthread_cond_broadcast(&gate->changed);
    while (!gate->open)
        pthread_cond_wait(&gate->changed, &gate->lock);
    pthread_mutex_unlock(&gate->lock);
    return BUS_OK;
}

/* Queues wait_at_gate (answered to done) and returns once the writer
 * thread is held in it: what is submitted now forms the next batch. */
static void gate_hold(struct writer *writer, struct gate *gate, writer_done_fn done, void *context)
{
    *gate = (struct gate){.entered = false, .open = false};
    pthread_mutex_init(&gate->lock, NULL);
    pthread_cond_init(&gate->changed, NULL);
    assert_int_equal(writer_submit(writer, wait_at_gate, gate, done, context), BUS_OK);
    pthread_mutex_lock(&gate->lock);
    while (!gate->entered)
        pthread_cond_wait(&gate->changed, &gate->lock);
    pthread_mutex_unlock(&gate->lock);
}

/* Lets the held writer go on to what was queued meanwhile. */
static void gate_open(struct gate *gate)
{
    pthread_mutex_lock(&gate->lock);
    gate->open = true;
    pthread_cond_broadcast(&gate->changed);
    pthread_mutex_unlock(&gate->lock);
}

static void gate_destroy(struct gate *gate)
{
    pthread_cond_destroy(&gate->changed);
    pthread_mutex_destroy(&gate->lock);
}

/* Writes queued while the writer is busy share the next transaction, up
 * to max_batch: the reason submit does not block its caller. */
static void queued_writes_share_a_transaction(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct outcome outcome;
    outcome_init(&outcome, &db);
    struct gate gate;
    struct writer *writer = writer_start(&db, &fake_hooks, 8);
    assert_non_null(writer);
    gate_hold(writer, &gate, record, &outcome);
    for (int i = 0; i < 10; i++)
        assert_int_equal(writer_submit(writer, succeed, NULL, record, &outcome), BUS_OK);
    gate_open(&gate);
    wait_for_calls(&outcome, 11);
    assert_int_equal(writer_stats(writer)->operations, 11);
    assert_int_equal(writer_stats(writer)->transactions, 3); /* 1, then 8, then 2 */
    writer_stop(writer);
    gate_destroy(&gate);
    outcome_destroy(&outcome);
}

/* ---- gathering (writer_gather) -------------------------------------------- */

#define GATHER_FOREVER 60000000 /* 60 s: longer than the test may take (TIMEOUT) */

/* Makes the writer's last batch `size` operations long: size queued
 * behind a held writer, then let through. */
static void make_last_batch(struct writer *writer, int size, struct outcome *outcome)
{
    struct gate gate;
    int before = outcome->calls;
    gate_hold(writer, &gate, record, outcome);
    for (int i = 0; i < size; i++)
        assert_int_equal(writer_submit(writer, succeed, NULL, record, outcome), BUS_OK);
    gate_open(&gate);
    wait_for_calls(outcome, before + 1 + size);
    gate_destroy(&gate);
}

/* After a batch of three, three operations submitted one by one, with a
 * pause between them long enough for a writer that does not wait to
 * commit the first alone, share one transaction. */
static void a_gathering_writer_waits_for_a_batch_as_large_as_its_last(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct outcome outcome;
    outcome_init(&outcome, &db);
    struct writer *writer = writer_start(&db, &fake_hooks, 16);
    assert_non_null(writer);
    writer_gather(writer, GATHER_FOREVER);
    make_last_batch(writer, 3, &outcome);
    unsigned long transactions = writer_stats(writer)->transactions;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(writer_submit(writer, succeed, NULL, record, &outcome), BUS_OK);
        usleep(20000);
    }
    wait_for_calls(&outcome, 7);
    assert_int_equal(writer_stats(writer)->transactions, transactions + 1);
    writer_stop(writer);
    outcome_destroy(&outcome);
}

/* A batch smaller than the last is committed once the bound is over. */
static void a_gathering_writer_waits_no_longer_than_its_bound(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct outcome outcome;
    outcome_init(&outcome, &db);
    struct writer *writer = writer_start(&db, &fake_hooks, 16);
    assert_non_null(writer);
    writer_gather(writer, 50000); /* 50 ms */
    make_last_batch(writer, 5, &outcome);
    int ran = 0;
    assert_int_equal(writer_run(writer, succeed, &ran), BUS_OK);
    assert_int_equal(ran, 1);
    writer_stop(writer);
    outcome_destroy(&outcome);
}

/* One caller at a time makes batches of one: it never waits (with a bound
 * of a minute, the test would time out), nor does one stopping the writer. */
static void a_lone_caller_and_a_stop_do_not_wait_for_a_batch(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct outcome outcome;
    outcome_init(&outcome, &db);
    struct writer *writer = writer_start(&db, &fake_hooks, 16);
    assert_non_null(writer);
    writer_gather(writer, GATHER_FOREVER);
    int ran = 0;
    for (int i = 0; i < 20; i++)
        assert_int_equal(writer_run(writer, succeed, &ran), BUS_OK);
    assert_int_equal(ran, 20);
    assert_int_equal(writer_stats(writer)->transactions, 20);
    make_last_batch(writer, 4, &outcome);
    assert_int_equal(writer_submit(writer, succeed, &ran, record, &outcome), BUS_OK);
    writer_stop(writer); /* the writer is gathering for 4: the stop ends it */
    assert_int_equal(outcome.calls, 6);
    assert_int_equal(ran, 21);
    outcome_destroy(&outcome);
}

static void stop_runs_what_was_queued(void **state)
{
    (void)state;
    struct fake_db db = {0};
    struct outcome outcome;
    outcome_init(&outcome, &db);
    struct writer *writer = writer_start(&db, &fake_hooks, 4);
    assert_non_null(writer);
    int ran = 0;
    for (int i = 0; i < 20; i++)
        assert_int_equal(writer_submit(writer, succeed, &ran, record, &outcome), BUS_OK);
    writer_stop(writer);
    assert_int_equal(outcome.calls, 20);
    assert_int_equal(ran, 20);
    outcome_destroy(&outcome);
}

/* ---- without savepoints: after_op and the redo --------------------------- */

/* A fake backend without savepoints: an operation "spoils" the transaction
 * when its arg says so; after_op reports it once per run. */
struct redo_db {
    int begins;
    int rollbacks;
    int commits;
    bool spoilt;          /* set by the last operation */
    bool lost;            /* the last operation lost a conflict (a deadlock) */
    int commit_conflicts; /* commits still to fail with a conflict */
};

static int redo_begin(void *connection)
{
    ((struct redo_db *)connection)->begins++;
    return 0;
}

static int redo_commit(void *connection)
{
    struct redo_db *db = connection;
    if (db->commit_conflicts > 0) {
        db->commit_conflicts--;
        return WRITER_RETRY;
    }
    db->commits++;
    return 0;
}

static void redo_rollback(void *connection)
{
    ((struct redo_db *)connection)->rollbacks++;
}

static int redo_after_op(void *connection, enum bus_err result)
{
    (void)result;
    struct redo_db *db = connection;
    bool spoilt = db->spoilt;
    bool lost = db->lost;
    db->spoilt = false;
    db->lost = false;
    return lost ? WRITER_RETRY : spoilt ? WRITER_REDO : 0;
}

static const struct writer_hooks redo_hooks = {.begin = redo_begin,
                                               .commit = redo_commit,
                                               .rollback = redo_rollback,
                                               .after_op = redo_after_op};

struct redo_op {
    int runs;
    bool spoils;
    enum bus_err result;
    int conflicts; /* its first runs that lose a conflict (answering BUSY) */
};

static enum bus_err redo_op_run(void *connection, void *arg)
{
    struct redo_op *op = arg;
    op->runs++;
    if (op->conflicts > 0) {
        op->conflicts--;
        ((struct redo_db *)connection)->lost = true;
        return BUS_ERR_DATABASE_BUSY;
    }
    if (op->spoils)
        ((struct redo_db *)connection)->spoilt = true;
    return op->result;
}

/* The second of three queued operations spoils the transaction: the batch
 * is rolled back and run again without it; the first ran twice, the third
 * once, one commit, each answered its own result. One that answered
 * BUS_OK yet spoilt it answers BUS_ERR_INTERNAL (nothing of it was kept). */
static void spoilt_batch_is_run_again_without_the_operation(void **state)
{
    (void)state;
    struct redo_db db = {0};
    struct fake_db counts = {0};
    struct outcome first, second, third, gate_done;
    outcome_init(&first, &counts);
    outcome_init(&second, &counts);
    outcome_init(&third, &counts);
    outcome_init(&gate_done, &counts);
    struct gate gate;
    struct writer *writer = writer_start(&db, &redo_hooks, 8);
    assert_non_null(writer);
    gate_hold(writer, &gate, record, &gate_done);
    struct redo_op a = {0, false, BUS_OK, 0}, bad = {0, true, BUS_OK, 0},
                   c = {0, false, BUS_ERR_EMPTY, 0};
    assert_int_equal(writer_submit(writer, redo_op_run, &a, record, &first), BUS_OK);
    assert_int_equal(writer_submit(writer, redo_op_run, &bad, record, &second), BUS_OK);
    assert_int_equal(writer_submit(writer, redo_op_run, &c, record, &third), BUS_OK);
    gate_open(&gate);
    wait_for_calls(&third, 1);
    wait_for_calls(&second, 1);
    wait_for_calls(&first, 1);
    assert_int_equal(first.result, BUS_OK);
    assert_int_equal(second.result, BUS_ERR_INTERNAL);
    assert_int_equal(third.result, BUS_ERR_EMPTY);
    assert_int_equal(a.runs, 2);
    assert_int_equal(bad.runs, 1);
    assert_int_equal(c.runs, 1);
    assert_int_equal(db.rollbacks, 1);
    assert_int_equal(db.commits, 2); /* the gate's and the batch's */
    assert_int_equal(writer_stats(writer)->redone_transactions, 1);
    assert_int_equal(writer_stats(writer)->transactions, 2);
    writer_stop(writer);
    gate_destroy(&gate);
    outcome_destroy(&first);
    outcome_destroy(&second);
    outcome_destroy(&third);
    outcome_destroy(&gate_done);
}

/* A prelude that spoils the transaction takes its whole job out; an
 * operation that does keeps its prelude, which runs again on the redo. */
static void spoilt_prelude_takes_the_job_out(void **state)
{
    (void)state;
    struct redo_db db = {0};
    struct fake_db counts = {0};
    struct outcome outcome;
    outcome_init(&outcome, &counts);
    struct writer *writer = writer_start(&db, &redo_hooks, 8);
    assert_non_null(writer);
    struct redo_op bad_prelude = {0, true, BUS_ERR_INTERNAL, 0}, op = {0, false, BUS_OK, 0};
    assert_int_equal(writer_submit_prelude(writer, redo_op_run, &bad_prelude, redo_op_run, &op,
                                           record, &outcome),
                     BUS_OK);
    wait_for_calls(&outcome, 1);
    assert_int_equal(outcome.result, BUS_ERR_INTERNAL);
    assert_int_equal(bad_prelude.runs, 1);
    assert_int_equal(op.runs, 0);

    struct redo_op prelude = {0, false, BUS_OK, 0}, bad_op = {0, true, BUS_ERR_NOT_FOUND, 0};
    assert_int_equal(writer_submit_prelude(writer, redo_op_run, &prelude, redo_op_run, &bad_op,
                                           record, &outcome),
                     BUS_OK);
    wait_for_calls(&outcome, 2);
    assert_int_equal(outcome.result, BUS_ERR_NOT_FOUND);
    assert_int_equal(prelude.runs, 2); /* kept: run again on the redo */
    assert_int_equal(bad_op.runs, 1);
    writer_stop(writer);
    assert_int_equal(db.rollbacks, 2);
    assert_int_equal(db.commits, 2);
    outcome_destroy(&outcome);
}

/* Queues ops[0..n) (up to 4) behind a gate so they share one batch, and
 * waits for every answer. */
static void run_gated_batch(struct writer *writer, struct redo_op **ops, int n,
                            struct outcome *outcomes)
{
    struct fake_db counts = {0};
    struct outcome gate_done;
    outcome_init(&gate_done, &counts);
    struct gate gate;
    gate_hold(writer, &gate, record, &gate_done);
    for (int i = 0; i < n; i++) {
        outcome_init(&outcomes[i], &counts);
        assert_int_equal(writer_submit(writer, redo_op_run, ops[i], record, &outcomes[i]), BUS_OK);
    }
    gate_open(&gate);
    for (int i = 0; i < n; i++)
        wait_for_calls(&outcomes[i], 1);
    gate_destroy(&gate);
    outcome_destroy(&gate_done);
}

/* An operation that loses a conflict with another transaction (a
 * deadlock) makes the writer run the whole batch again, that operation
 * included: no caller hears of it. */
static void lost_conflict_runs_the_batch_again_whole(void **state)
{
    (void)state;
    struct redo_db db = {0};
    struct writer *writer = writer_start(&db, &redo_hooks, 8);
    assert_non_null(writer);
    struct redo_op a = {0, false, BUS_OK, 0}, loser = {0, false, BUS_OK, 2},
                   c = {0, false, BUS_ERR_EMPTY, 0};
    struct redo_op *ops[] = {&a, &loser, &c};
    struct outcome outcomes[3];
    run_gated_batch(writer, ops, 3, outcomes);
    assert_int_equal(outcomes[0].result, BUS_OK);
    assert_int_equal(outcomes[1].result, BUS_OK);
    assert_int_equal(outcomes[2].result, BUS_ERR_EMPTY);
    assert_int_equal(a.runs, 3);
    assert_int_equal(loser.runs, 3);
    assert_int_equal(c.runs, 1);
    assert_int_equal(db.rollbacks, 2);
    assert_int_equal(db.commits, 2); /* the gate's and the batch's */
    assert_int_equal(writer_stats(writer)->retried_transactions, 2);
    assert_int_equal(writer_stats(writer)->redone_transactions, 0);
    writer_stop(writer);
    for (int i = 0; i < 3; i++)
        outcome_destroy(&outcomes[i]);
}

/* The retries are bounded: an operation that keeps losing is answered its
 * error (BUS_ERR_DATABASE_BUSY) after WRITER_MAX_RETRIES, and the rest of
 * its batch still commits. */
static void endless_conflicts_answer_busy(void **state)
{
    (void)state;
    struct redo_db db = {0};
    struct writer *writer = writer_start(&db, &redo_hooks, 8);
    assert_non_null(writer);
    struct redo_op loser = {0, false, BUS_OK, 1000}, b = {0, false, BUS_OK, 0};
    struct redo_op *ops[] = {&loser, &b};
    struct outcome outcomes[2];
    run_gated_batch(writer, ops, 2, outcomes);
    assert_int_equal(outcomes[0].result, BUS_ERR_DATABASE_BUSY);
    assert_int_equal(outcomes[1].result, BUS_OK);
    assert_int_equal(loser.runs, WRITER_MAX_RETRIES + 1);
    assert_int_equal(b.runs, 1); /* it never ran before: the loser went first */
    assert_int_equal(writer_stats(writer)->retried_transactions, WRITER_MAX_RETRIES);
    assert_int_equal(writer_stats(writer)->redone_transactions, 1);
    assert_int_equal(db.commits, 2);
    writer_stop(writer);
    for (int i = 0; i < 2; i++)
        outcome_destroy(&outcomes[i]);
}

/* A commit that loses a conflict runs the batch again, and a commit that
 * keeps losing fails the batch (BUS_ERR_DATABASE_BUSY for every caller). */
static void lost_commit_runs_the_batch_again(void **state)
{
    (void)state;
    struct redo_db db = {.commit_conflicts = 1};
    struct writer *writer = writer_start(&db, &redo_hooks, 8);
    assert_non_null(writer);
    struct fake_db counts = {0};
    struct outcome outcome;
    outcome_init(&outcome, &counts);
    struct redo_op op = {0, false, BUS_OK, 0};
    assert_int_equal(writer_submit(writer, redo_op_run, &op, record, &outcome), BUS_OK);
    wait_for_calls(&outcome, 1);
    assert_int_equal(outcome.result, BUS_OK);
    assert_int_equal(op.runs, 2);
    assert_int_equal(db.commits, 1);
    assert_int_equal(writer_stats(writer)->retried_transactions, 1);

    db.commit_conflicts = 1000;
    assert_int_equal(writer_submit(writer, redo_op_run, &op, record, &outcome), BUS_OK);
    wait_for_calls(&outcome, 2);
    assert_int_equal(outcome.result, BUS_ERR_DATABASE_BUSY);
    assert_int_equal(op.runs, 2 + WRITER_MAX_RETRIES + 1);
    assert_int_equal(db.commits, 1);
    assert_int_equal(writer_stats(writer)->failed_transactions, 1);
    writer_stop(writer);
    outcome_destroy(&outcome);
}

/* ---- prepare: merged work before a batch's operations ------------------ */

/* redo_db with a prepare hook that notes what it was shown, and may spoil
 * its first run (WRITER_REDO). db first: the redo hooks read it. */
struct prepare_db {
    struct redo_db db;
    int prepares;
    int seen;           /* operations shown to the last prepare */
    void *seen_args[8]; /* their args, in order */
    int preludes_seen;  /* of them, with their prelude shown */
    bool spoil;         /* spoil the next run shown three operations */
};

static int fake_prepare(void *connection, const struct writer_op_ref *ops, int count)
{
    struct prepare_db *db = connection;
    db->prepares++;
    db->seen = count;
    db->preludes_seen = 0;
    for (int i = 0; i < count && i < 8; i++) {
        db->seen_args[i] = ops[i].op == redo_op_run ? ops[i].arg : NULL;
        db->preludes_seen += ops[i].prelude == redo_op_run && ops[i].prelude_arg == ops[i].arg;
    }
    if (db->spoil && count == 3) {
        db->spoil = false;
        return WRITER_REDO;
    }
    return 0;
}

static const struct writer_hooks prepare_hooks = {.begin = redo_begin,
                                                  .commit = redo_commit,
                                                  .rollback = redo_rollback,
                                                  .after_op = redo_after_op,
                                                  .prepare = fake_prepare};

/* Queues a, b (behind a prelude, b again) and c while the writer is held at a
 * gate, then lets it run them as one batch and waits for all three. */
static void run_held_batch(struct writer *writer, struct prepare_db *db, struct redo_op *a,
                           struct redo_op *b, struct redo_op *c)
{
    struct fake_db counts = {0};
    struct outcome gate_done, done;
    outcome_init(&gate_done, &counts);
    outcome_init(&done, &counts);
    struct gate gate;
    gate_hold(writer, &gate, record, &gate_done);
    db->prepares = 0; /* the gate's batch had its own */
    assert_int_equal(writer_submit(writer, redo_op_run, a, record, &done), BUS_OK);
    assert_int_equal(writer_submit_prelude(writer, redo_op_run, b, redo_op_run, b, record, &done),
                     BUS_OK);
    assert_int_equal(writer_submit(writer, redo_op_run, c, record, &done), BUS_OK);
    gate_open(&gate);
    wait_for_calls(&done, 3);
    wait_for_calls(&gate_done, 1);
    gate_destroy(&gate);
    outcome_destroy(&done);
    outcome_destroy(&gate_done);
}

/* prepare is shown the batch's operations with their preludes, in order,
 * once per run; then every prelude and operation runs as before. */
static void prepare_sees_the_operations_and_their_preludes(void **state)
{
    (void)state;
    struct prepare_db db = {0};
    struct writer *writer = writer_start(&db, &prepare_hooks, 8);
    assert_non_null(writer);
    struct redo_op a = {0, false, BUS_OK, 0}, b = {0, false, BUS_OK, 0},
                   c = {0, false, BUS_OK, 0};
    run_held_batch(writer, &db, &a, &b, &c);
    assert_int_equal(db.prepares, 1);
    assert_int_equal(db.seen, 3);
    assert_ptr_equal(db.seen_args[0], &a);
    assert_ptr_equal(db.seen_args[1], &b);
    assert_ptr_equal(db.seen_args[2], &c);
    assert_int_equal(db.preludes_seen, 1); /* b's */
    assert_int_equal(a.runs, 1);
    assert_int_equal(b.runs, 2); /* prelude and op */
    assert_int_equal(c.runs, 1);
    writer_stop(writer);
}

/* A prepare that spoils the transaction: rolled back, and the batch runs
 * again without prepare, every operation once. */
static void spoilt_prepare_runs_the_batch_unmerged(void **state)
{
    (void)state;
    struct prepare_db db = {.spoil = true};
    struct writer *writer = writer_start(&db, &prepare_hooks, 8);
    assert_non_null(writer);
    struct redo_op a = {0, false, BUS_OK, 0}, b = {0, false, BUS_OK, 0},
                   c = {0, false, BUS_ERR_EMPTY, 0};
    run_held_batch(writer, &db, &a, &b, &c);
    assert_false(db.spoil);
    assert_int_equal(db.prepares, 1); /* not called again on the redo */
    assert_int_equal(writer_stats(writer)->redone_transactions, 1);
    assert_int_equal(db.db.rollbacks, 1);
    assert_int_equal(a.runs, 1);
    assert_int_equal(b.runs, 2);
    assert_int_equal(c.runs, 1);
    writer_stop(writer);
}

/* writer_load counts what is queued or running, and writers started with
 * shared counters add up there. */
static void load_and_shared_counters(void **state)
{
    (void)state;
    struct store_write_stats shared = {0};
    struct redo_db db1 = {0}, db2 = {0};
    struct writer *one = writer_start_counted(&db1, &redo_hooks, 8, &shared);
    struct writer *two = writer_start_counted(&db2, &redo_hooks, 8, &shared);
    assert_non_null(one);
    assert_non_null(two);
    assert_int_equal(writer_load(one), 0);
    struct redo_op *none[1];
    struct redo_op a = {0, false, BUS_OK, 0}, b = {0, false, BUS_OK, 0};
    none[0] = &a;
    struct outcome outcomes[1];
    run_gated_batch(one, none, 1, outcomes);
    outcome_destroy(&outcomes[0]);
    none[0] = &b;
    run_gated_batch(two, none, 1, outcomes);
    outcome_destroy(&outcomes[0]);
    assert_ptr_equal(writer_stats(one), &shared);
    assert_int_equal(writer_load(one), 0);
    writer_stop(one);
    writer_stop(two);
    assert_int_equal(atomic_load(&shared.transactions), 4); /* two gates, two batches */
    assert_int_equal(atomic_load(&shared.operations), 4);
}

/* ---- batches without savepoints (writer_hooks.rerunnable) -------------- */

/* A fake database with rows: a savepoint remembers the count, an undo
 * and a rollback put it back; lost stands for a transaction the database
 * rolled back by itself. */
struct bare_db {
    int rows;
    int rows_at_begin;
    int rows_at_savepoint;
    int savepoints;
    int commits;
    bool lost;
};

static int bare_begin(void *connection)
{
    struct bare_db *db = connection;
    db->rows_at_begin = db->rows;
    db->lost = false;
    return 0;
}

static int bare_commit(void *connection)
{
    struct bare_db *db = connection;
    if (db->lost)
        return -1;
    db->commits++;
    return 0;
}

static void bare_rollback(void *connection)
{
    struct bare_db *db = connection;
    db->rows = db->rows_at_begin;
}

static int bare_savepoint(void *connection)
{
    struct bare_db *db = connection;
    db->savepoints++;
    db->rows_at_savepoint = db->rows;
    return 0;
}

static void bare_release(void *connection, int undo)
{
    struct bare_db *db = connection;
    if (undo)
        db->rows = db->rows_at_savepoint;
}

/* Counts its runs in *arg and writes a row. */
static enum bus_err write_row(void *connection, void *arg)
{
    ((struct bare_db *)connection)->rows++;
    (*(int *)arg)++;
    return BUS_OK;
}

static enum bus_err write_then_fail(void *connection, void *arg)
{
    (void)arg;
    ((struct bare_db *)connection)->rows++;
    return BUS_ERR_NOT_FOUND;
}

static enum bus_err lose_transaction(void *connection, void *arg)
{
    (void)arg;
    ((struct bare_db *)connection)->lost = true;
    return BUS_ERR_STORAGE_FULL;
}

static bool bare_rerunnable(writer_op_fn op)
{
    return op == write_row || op == write_then_fail || op == not_found || op == lose_transaction;
}

static long long bare_changes(void *connection)
{
    const struct bare_db *db = connection;
    return db->lost ? -1 : db->rows;
}

static const struct writer_hooks bare_hooks = {.begin = bare_begin,
                                               .commit = bare_commit,
                                               .rollback = bare_rollback,
                                               .savepoint = bare_savepoint,
                                               .release = bare_release,
                                               .rerunnable = bare_rerunnable,
                                               .changes = bare_changes};

/* One result per job, in submission order. */
struct results {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int calls;
    enum bus_err result[4];
};

struct slot {
    struct results *results;
    int index;
};

static void record_slot(void *context, enum bus_err result)
{
    struct slot *slot = context;
    pthread_mutex_lock(&slot->results->lock);
    slot->results->result[slot->index] = result;
    slot->results->calls++;
    pthread_cond_broadcast(&slot->results->changed);
    pthread_mutex_unlock(&slot->results->lock);
}

struct writer_stats_copy {
    unsigned long transactions;
    unsigned long redone;
};

/* Runs ops[0..n) (n <= 3) as one batch, behind a gate held by a first
 * batch of its own; results->result[i] is ops[i]'s. */
static void run_bare_batch(struct bare_db *db, writer_op_fn *ops, void **args, int n,
                           struct results *results, struct writer_stats_copy *stats)
{
    *results = (struct results){.calls = 0};
    pthread_mutex_init(&results->lock, NULL);
    pthread_cond_init(&results->changed, NULL);
    struct gate gate;
    struct writer *writer = writer_start(db, &bare_hooks, 8);
    assert_non_null(writer);
    struct slot slots[4];
    for (int i = 0; i < 4; i++) /* slots[3]: the gate's */
        slots[i] = (struct slot){results, i};
    gate_hold(writer, &gate, record_slot, &slots[3]);
    for (int i = 0; i < n; i++)
        assert_int_equal(writer_submit(writer, ops[i], args[i], record_slot, &slots[i]), BUS_OK);
    gate_open(&gate);
    pthread_mutex_lock(&results->lock);
    while (results->calls < n + 1)
        pthread_cond_wait(&results->changed, &results->lock);
    pthread_mutex_unlock(&results->lock);
    stats->transactions = writer_stats(writer)->transactions;
    stats->redone = writer_stats(writer)->redone_transactions;
    writer_stop(writer);
    gate_destroy(&gate);
    pthread_cond_destroy(&results->changed);
    pthread_mutex_destroy(&results->lock);
}

/* A batch of rerunnable operations takes no savepoints; a failure that
 * wrote nothing is that job's answer alone. */
static void rerunnable_batch_runs_without_savepoints(void **state)
{
    (void)state;
    struct bare_db db = {0};
    int first = 0, last = 0;
    writer_op_fn ops[] = {write_row, not_found, write_row};
    void *args[] = {&first, NULL, &last};
    struct results results;
    struct writer_stats_copy stats;
    run_bare_batch(&db, ops, args, 3, &results, &stats);
    assert_int_equal(db.savepoints, 1); /* the gate's batch only */
    assert_int_equal(results.result[0], BUS_OK);
    assert_int_equal(results.result[1], BUS_ERR_NOT_FOUND);
    assert_int_equal(results.result[2], BUS_OK);
    assert_int_equal(db.rows, 2);
    assert_int_equal(first + last, 2);
    assert_int_equal(db.commits, 2);
    assert_int_equal(stats.redone, 0);
}

/* A failure after a write cannot be undone alone: the batch is rolled
 * back and run again, each job in its savepoint; the others answer as
 * they would have, and the failed one's row is gone. */
static void failure_after_a_write_runs_the_batch_again_with_savepoints(void **state)
{
    (void)state;
    struct bare_db db = {0};
    int first = 0, last = 0;
    writer_op_fn ops[] = {write_row, write_then_fail, write_row};
    void *args[] = {&first, NULL, &last};
    struct results results;
    struct writer_stats_copy stats;
    run_bare_batch(&db, ops, args, 3, &results, &stats);
    assert_int_equal(results.result[0], BUS_OK);
    assert_int_equal(results.result[1], BUS_ERR_NOT_FOUND);
    assert_int_equal(results.result[2], BUS_OK);
    assert_int_equal(db.rows, 2);
    assert_int_equal(first, 2); /* ran bare, then again */
    assert_int_equal(last, 1);  /* the bare run stopped before it */
    assert_int_equal(db.savepoints, 1 + 3);
    assert_int_equal(db.commits, 2);
    assert_int_equal(stats.redone, 1);
}

/* A transaction the database lost stops the batch; its commit fails, and
 * every job of it answers that, as it would with savepoints. */
static void lost_transaction_fails_the_whole_batch(void **state)
{
    (void)state;
    struct bare_db db = {0};
    int first = 0, last = 0;
    writer_op_fn ops[] = {write_row, lose_transaction, write_row};
    void *args[] = {&first, NULL, &last};
    struct results results;
    struct writer_stats_copy stats;
    run_bare_batch(&db, ops, args, 3, &results, &stats);
    for (int i = 0; i < 3; i++)
        assert_int_equal(results.result[i], BUS_ERR_DATABASE_BUSY);
    assert_int_equal(last, 0);
    assert_int_equal(db.commits, 1); /* the gate's */
    assert_int_equal(stats.redone, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(done_comes_after_the_commit),
        cmocka_unit_test(failed_commit_reports_busy),
        cmocka_unit_test(failing_operation_is_undone_alone),
        cmocka_unit_test(prelude_is_kept_and_can_stop_the_operation),
        cmocka_unit_test(queued_writes_share_a_transaction),
        cmocka_unit_test(a_gathering_writer_waits_for_a_batch_as_large_as_its_last),
        cmocka_unit_test(a_gathering_writer_waits_no_longer_than_its_bound),
        cmocka_unit_test(a_lone_caller_and_a_stop_do_not_wait_for_a_batch),
        cmocka_unit_test(stop_runs_what_was_queued),
        cmocka_unit_test(spoilt_batch_is_run_again_without_the_operation),
        cmocka_unit_test(spoilt_prelude_takes_the_job_out),
        cmocka_unit_test(lost_conflict_runs_the_batch_again_whole),
        cmocka_unit_test(endless_conflicts_answer_busy),
        cmocka_unit_test(lost_commit_runs_the_batch_again),
        cmocka_unit_test(prepare_sees_the_operations_and_their_preludes),
        cmocka_unit_test(spoilt_prepare_runs_the_batch_unmerged),
        cmocka_unit_test(load_and_shared_counters),
        cmocka_unit_test(rerunnable_batch_runs_without_savepoints),
        cmocka_unit_test(failure_after_a_write_runs_the_batch_again_with_savepoints),
        cmocka_unit_test(lost_transaction_fails_the_whole_batch),
        cmocka_unit_test(the_writer_thread_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
