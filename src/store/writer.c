/* Group commit. Callers queue operations; the writer thread takes all that
 * are waiting, runs them in one BEGIN IMMEDIATE ... COMMIT, and then tells
 * each caller. Under load many requests share one commit (one WAL sync),
 * which is where SQLite's write throughput comes from; with one caller it
 * degrades to a transaction per operation. Callers that do not block
 * (writer_submit: a suspended HTTP request) let the batches grow past the
 * number of request threads, and a gathering writer (writer_gather) waits
 * a little for them. */
#include "store/writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "util/clock.h"
#include "util/thread_name.h"

/* Owned by the queue from writer_submit until its done has been called. */
struct writer_job {
    writer_op_fn op;
    void *arg;
    writer_done_fn done;
    void *done_context;
    writer_op_fn prelude; /* NULL, or run first; op only if it succeeds */
    void *prelude_arg;
    enum bus_err result;
    /* Without savepoints, after a redo (writer.h, after_op): */
    bool dropped;            /* the prelude spoilt the transaction: run nothing, answer result */
    bool op_answered;        /* op spoilt it: run the prelude only, answer op_answer */
    enum bus_err op_answer;
    struct writer_job *next;
};

struct writer {
    void *connection;
    const struct writer_hooks *hooks;
    int max_batch;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work_ready; /* signalled when a job is queued or on stop */
    struct writer_job *head;
    struct writer_job *tail;
    int queued;                     /* jobs from head to tail */
    int last_batch;                 /* jobs in the batch taken last */
    bool gathering;                 /* waiting for a batch to fill (gather): submits wake
                                     * the writer only once it is as large as last_batch */
    atomic_int gather_microseconds; /* writer_gather's bound; 0 = off */
    bool stopping;
    int retries_left; /* of the batch running: WRITER_RETRY answered as WRITER_REDO at 0 */
    bool unmerged;    /* of the batch running: prepare spoilt a run, not called again */
    struct writer_op_ref *refs; /* max_batch of them: prepare's list */
    atomic_long load; /* operations queued or running (writer_load) */
    struct store_write_stats *stats; /* own_stats, or the caller's */
    struct store_write_stats own_stats;
};

/* Takes up to max_batch jobs off the queue; called with the lock held. */
static struct writer_job *take_batch(struct writer *writer)
{
    struct writer_job *batch = writer->head;
    struct writer_job *last = batch;
    int count = 1;
    for (; count < writer->max_batch && last->next; count++)
        last = last->next;
    writer->queued -= count;
    writer->last_batch = count;
    writer->head = last->next;
    if (writer->head == NULL)
        writer->tail = NULL;
    last->next = NULL;
    return batch;
}

/* A hook's failure as the bus_err its callers are told (writer.h). */
static enum bus_err hook_error(int failure)
{
    return failure > 0 ? (enum bus_err)failure : BUS_ERR_DATABASE_BUSY;
}

/* Runs op in a savepoint of its own, undone if op fails. */
static enum bus_err run_in_savepoint(struct writer *writer, writer_op_fn op, void *arg)
{
    int failure = writer->hooks->savepoint(writer->connection);
    if (failure != 0)
        return hook_error(failure);
    enum bus_err result = op(writer->connection, arg);
    writer->hooks->release(writer->connection, result != BUS_OK);
    return result;
}

static void run_job(struct writer *writer, struct writer_job *job)
{
    job->result = BUS_OK;
    if (job->prelude != NULL)
        job->result = run_in_savepoint(writer, job->prelude, job->prelude_arg);
    if (job->result == BUS_OK)
        job->result = run_in_savepoint(writer, job->op, job->arg);
}

/* Whether every operation and prelude of the batch may go without a
 * savepoint (writer_hooks.rerunnable). */
static bool all_rerunnable(const struct writer *writer, const struct writer_job *batch)
{
    bool (*rerunnable)(writer_op_fn) = writer->hooks->rerunnable;
    if (rerunnable == NULL)
        return false;
    for (const struct writer_job *job = batch; job != NULL; job = job->next) {
        if (!rerunnable(job->op) || (job->prelude != NULL && !rerunnable(job->prelude)))
            return false;
    }
    return true;
}

enum bare_outcome {
    BARE_DONE,   /* every job ran; each one's result is set */
    BARE_SPOILT, /* one failed having written: roll back, run again with savepoints */
    BARE_LOST,   /* the transaction is lost: the commit fails, as with savepoints */
};

/* One operation or prelude without a savepoint, its result into *result. */
static enum bare_outcome run_bare_one(struct writer *writer, writer_op_fn op, void *arg,
                                      enum bus_err *result)
{
    long long before = writer->hooks->changes(writer->connection);
    if (before < 0)
        return BARE_LOST;
    *result = op(writer->connection, arg);
    long long after = writer->hooks->changes(writer->connection);
    if (after < 0)
        return BARE_LOST;
    return *result == BUS_OK || after == before ? BARE_DONE : BARE_SPOILT;
}

/* The batch without savepoints (writer_hooks.rerunnable): a failure that
 * wrote nothing is a job's answer, as it would be with a savepoint. A
 * lost transaction stops the batch, whose commit then fails; with
 * savepoints each following job would have failed to open its own and
 * the commit would have failed the same way. */
static enum bare_outcome run_bare(struct writer *writer, struct writer_job *batch)
{
    for (struct writer_job *job = batch; job != NULL; job = job->next) {
        job->result = BUS_OK;
        enum bare_outcome outcome = BARE_DONE;
        if (job->prelude != NULL)
            outcome = run_bare_one(writer, job->prelude, job->prelude_arg, &job->result);
        if (outcome == BARE_DONE && job->result == BUS_OK)
            outcome = run_bare_one(writer, job->op, job->arg, &job->result);
        if (outcome != BARE_DONE)
            return outcome;
    }
    return BARE_DONE;
}

/* With savepoints: the batch's jobs in one transaction, without a
 * savepoint each when they all allow it. 0 with the transaction open (or
 * lost, for the commit to report), or begin's failure. */
static int run_savepointed(struct writer *writer, struct writer_job *batch)
{
    const struct writer_hooks *hooks = writer->hooks;
    int failure = hooks->begin(writer->connection);
    if (failure != 0)
        return failure;
    if (all_rerunnable(writer, batch)) {
        enum bare_outcome outcome = run_bare(writer, batch);
        if (outcome != BARE_SPOILT)
            return 0;
        hooks->rollback(writer->connection);
        atomic_fetch_add(&writer->stats->redone_transactions, 1);
        failure = hooks->begin(writer->connection);
        if (failure != 0)
            return failure;
    }
    for (struct writer_job *job = batch; job != NULL; job = job->next)
        run_job(writer, job);
    return 0;
}

/* after_op's verdict on an operation's result; a conflict (WRITER_RETRY)
 * once the batch's retries are spent is answered as a spoilt operation:
 * the operation answers its result (BUS_ERR_DATABASE_BUSY), the rest of
 * the batch runs again. */
static int after_op(struct writer *writer, enum bus_err result)
{
    int after = writer->hooks->after_op(writer->connection, result);
    return after == WRITER_RETRY && writer->retries_left <= 0 ? WRITER_REDO : after;
}

/* Without savepoints: runs the job, unless a redo took it out, and says
 * what after_op said of it (0, WRITER_REDO or a failure). */
static int run_job_redoable(struct writer *writer, struct writer_job *job)
{
    if (job->dropped)
        return 0; /* job->result holds its answer */
    if (job->prelude != NULL) {
        enum bus_err result = job->prelude(writer->connection, job->prelude_arg);
        int after = after_op(writer, result);
        job->result = result;
        if (after == WRITER_REDO) {
            job->dropped = true;
            job->result = result == BUS_OK ? BUS_ERR_INTERNAL : result;
        }
        if (after != 0 || result != BUS_OK)
            return after;
    }
    if (job->op_answered) {
        job->result = job->op_answer;
        return 0;
    }
    enum bus_err result = job->op(writer->connection, job->arg);
    int after = after_op(writer, result);
    job->result = result;
    if (after == WRITER_REDO) {
        /* Success that spoilt the transaction (a failed statement the op
         * did not report) was not kept: not an answer to give. */
        job->op_answered = true;
        job->op_answer = result == BUS_OK ? BUS_ERR_INTERNAL : result;
        job->result = job->op_answer;
    }
    return after;
}

/* hooks.prepare over the jobs of the batch whose operation will run
 * (not taken out by a redo), with their preludes: 0, or what prepare said
 * (writer.h). A WRITER_REDO turns prepare off for the rest of this batch,
 * so the next run goes one operation at a time. */
static int prepare_batch(struct writer *writer, struct writer_job *batch)
{
    if (writer->hooks->prepare == NULL || writer->unmerged)
        return 0;
    int count = 0;
    for (struct writer_job *job = batch; job != NULL; job = job->next) {
        if (!job->dropped && !job->op_answered)
            writer->refs[count++] =
                (struct writer_op_ref){job->op, job->arg, job->prelude, job->prelude_arg};
    }
    if (count == 0)
        return 0;
    int after = writer->hooks->prepare(writer->connection, writer->refs, count);
    if (after == WRITER_RETRY && writer->retries_left <= 0)
        after = WRITER_REDO;
    if (after == WRITER_REDO)
        writer->unmerged = true;
    return after;
}

/* Runs the batch in one transaction without a savepoint per operation.
 * When an operation spoils the transaction (WRITER_REDO), rolls back and
 * runs the batch again from the start, that operation out; each redo
 * takes one more operation (or prelude) out, so this ends. A conflict
 * (WRITER_RETRY) runs it again whole, at most retries_left times. 0 with
 * the transaction open and every job's result set, or the failure (the
 * transaction then rolled back, or never begun). */
static int run_redoable(struct writer *writer, struct writer_job *batch)
{
    const struct writer_hooks *hooks = writer->hooks;
    for (;;) {
        int failure = hooks->begin(writer->connection);
        if (failure != 0)
            return failure;
        int after = prepare_batch(writer, batch);
        for (struct writer_job *job = batch; job != NULL && after == 0; job = job->next)
            after = run_job_redoable(writer, job);
        if (after == 0)
            return 0;
        hooks->rollback(writer->connection);
        if (after == WRITER_RETRY) {
            writer->retries_left--;
            atomic_fetch_add(&writer->stats->retried_transactions, 1);
            continue;
        }
        if (after != WRITER_REDO)
            return after;
        atomic_fetch_add(&writer->stats->redone_transactions, 1);
    }
}

/* Without savepoints: the batch and its commit, run again whole when the
 * commit lost a conflict (WRITER_RETRY) and retries are left. 0 once
 * committed, or the failure (rolled back). */
static int run_redoable_committed(struct writer *writer, struct writer_job *batch)
{
    for (;;) {
        int failure = run_redoable(writer, batch);
        if (failure != 0)
            return failure; /* rolled back already */
        failure = writer->hooks->commit(writer->connection);
        if (failure == 0)
            return 0;
        writer->hooks->rollback(writer->connection);
        if (failure != WRITER_RETRY || writer->retries_left <= 0)
            return failure;
        writer->retries_left--;
        atomic_fetch_add(&writer->stats->retried_transactions, 1);
    }
}

static void run_batch(struct writer *writer, struct writer_job *batch)
{
    const struct writer_hooks *hooks = writer->hooks;
    unsigned long operations = 0;
    double started = clock_monotonic();
    int failure = 0;
    if (hooks->after_op != NULL) {
        writer->retries_left = WRITER_MAX_RETRIES;
        writer->unmerged = false;
        failure = run_redoable_committed(writer, batch);
        for (struct writer_job *job = batch; job; job = job->next)
            operations++;
    } else {
        failure = run_savepointed(writer, batch);
        for (struct writer_job *job = batch; failure == 0 && job; job = job->next)
            operations++;
        if (failure == 0) {
            failure = hooks->commit(writer->connection);
            if (failure != 0)
                hooks->rollback(writer->connection);
        }
    }
    bool committed = failure == 0;
    histogram_observe(&writer->stats->commit_seconds, clock_monotonic() - started);
    atomic_fetch_add(&writer->stats->transactions, 1);
    atomic_fetch_add(&writer->stats->operations, operations);
    if (!committed)
        atomic_fetch_add(&writer->stats->failed_transactions, 1);
    for (struct writer_job *job = batch; job; job = job->next) {
        if (!committed)
            job->result = hook_error(failure);
    }
}

/* Tells each caller, outside the lock: a done callback may take its own
 * locks (a loop's mailbox, to resume a request). `next` is read first:
 * the job is freed here, and its arg may vanish once done returns. */
static void finish_batch(struct writer *writer, struct writer_job *batch)
{
    for (struct writer_job *job = batch, *next; job; job = next) {
        next = job->next;
        atomic_fetch_sub(&writer->load, 1); /* before done: its caller may look */
        job->done(job->done_context, job->result);
        free(job);
    }
}

/* Before taking a batch smaller than the last one, waits for as many
 * jobs as that had, for writer_gather's bound at most; called with the
 * lock held and a job queued. Under a steady load of n clients a batch is
 * followed by the same clients' next requests a round trip later: taking
 * the first of them at once made a commit of a few operations, each
 * commit with its fixed cost (its locks, its write, a wake-up). A lone
 * client's batches are of one, so it never waits. */
static void gather(struct writer *writer)
{
    int bound = atomic_load_explicit(&writer->gather_microseconds, memory_order_relaxed);
    if (bound <= 0 || writer->queued >= writer->last_batch || writer->stopping)
        return;
    struct timespec until = clock_monotonic_deadline(bound / 1e6);
    writer->gathering = true;
    while (writer->queued < writer->last_batch && !writer->stopping) {
        if (pthread_cond_timedwait(&writer->work_ready, &writer->lock, &until) == ETIMEDOUT)
            break;
    }
    writer->gathering = false;
}

static void *writer_main(void *arg)
{
    struct writer *writer = arg;
    thread_name_set("bus-writer", -1);
    pthread_mutex_lock(&writer->lock);
    for (;;) {
        while (writer->head == NULL && !writer->stopping)
            pthread_cond_wait(&writer->work_ready, &writer->lock);
        if (writer->head == NULL)
            break; /* stopping, and every queued job has run */
        gather(writer);
        struct writer_job *batch = take_batch(writer);
        pthread_mutex_unlock(&writer->lock);
        run_batch(writer, batch);
        finish_batch(writer, batch);
        pthread_mutex_lock(&writer->lock);
    }
    pthread_mutex_unlock(&writer->lock);
    return NULL;
}

struct writer *writer_start_counted(void *connection, const struct writer_hooks *hooks,
                                    int max_batch, struct store_write_stats *stats)
{
    struct writer *writer = calloc(1, sizeof *writer);
    if (writer == NULL)
        return NULL;
    writer->stats = stats != NULL ? stats : &writer->own_stats;
    writer->connection = connection;
    writer->hooks = hooks;
    writer->max_batch = max_batch > 0 ? max_batch : 1;
    if (hooks->prepare != NULL) {
        writer->refs = calloc((size_t)writer->max_batch, sizeof *writer->refs);
        if (writer->refs == NULL) {
            free(writer);
            return NULL;
        }
    }
    pthread_mutex_init(&writer->lock, NULL);
    /* gather's deadline is on the monotonic clock, which no one sets. */
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&writer->work_ready, &monotonic);
    pthread_condattr_destroy(&monotonic);
    if (pthread_create(&writer->thread, NULL, writer_main, writer) != 0) {
        pthread_cond_destroy(&writer->work_ready);
        pthread_mutex_destroy(&writer->lock);
        free(writer->refs);
        free(writer);
        return NULL;
    }
    return writer;
}

struct writer *writer_start(void *connection, const struct writer_hooks *hooks, int max_batch)
{
    return writer_start_counted(connection, hooks, max_batch, NULL);
}

long writer_load(const struct writer *writer)
{
    return atomic_load(&writer->load);
}

enum bus_err writer_submit_prelude(struct writer *writer, writer_op_fn prelude, void *prelude_arg,
                                   writer_op_fn op, void *arg, writer_done_fn done,
                                   void *done_context)
{
    struct writer_job *job = malloc(sizeof *job);
    if (job == NULL)
        return BUS_ERR_INTERNAL;
    *job = (struct writer_job){.prelude = prelude,
                               .prelude_arg = prelude_arg,
                               .op = op,
                               .arg = arg,
                               .done = done,
                               .done_context = done_context};
    atomic_fetch_add(&writer->load, 1);
    pthread_mutex_lock(&writer->lock);
    if (writer->tail)
        writer->tail->next = job;
    else
        writer->head = job;
    writer->tail = job;
    writer->queued++;
    if (!writer->gathering || writer->queued >= writer->last_batch)
        pthread_cond_signal(&writer->work_ready);
    pthread_mutex_unlock(&writer->lock);
    return BUS_OK;
}

enum bus_err writer_submit(struct writer *writer, writer_op_fn op, void *arg, writer_done_fn done,
                           void *done_context)
{
    return writer_submit_prelude(writer, NULL, NULL, op, arg, done, done_context);
}

/* A blocked writer_run caller, on its stack until done has been called. */
struct waiting_caller {
    pthread_mutex_t lock;
    pthread_cond_t signal;
    bool done;
    enum bus_err result;
};

/* Each caller is woken alone (a broadcast would wake every waiting thread
 * for every batch: perf showed a third of the server's time in those
 * context switches). Nothing of `caller` is touched after the unlock: the
 * caller may return, and its frame vanish, at once. */
static void wake_caller(void *context, enum bus_err result)
{
    struct waiting_caller *caller = context;
    pthread_mutex_lock(&caller->lock);
    caller->result = result;
    caller->done = true;
    pthread_cond_signal(&caller->signal);
    pthread_mutex_unlock(&caller->lock);
}

enum bus_err writer_run(struct writer *writer, writer_op_fn op, void *arg)
{
    struct waiting_caller caller = {.done = false};
    pthread_mutex_init(&caller.lock, NULL);
    pthread_cond_init(&caller.signal, NULL);
    enum bus_err err = writer_submit(writer, op, arg, wake_caller, &caller);
    if (err == BUS_OK) {
        pthread_mutex_lock(&caller.lock);
        while (!caller.done)
            pthread_cond_wait(&caller.signal, &caller.lock);
        err = caller.result;
        pthread_mutex_unlock(&caller.lock);
    }
    pthread_cond_destroy(&caller.signal);
    pthread_mutex_destroy(&caller.lock);
    return err;
}

void writer_gather(struct writer *writer, int microseconds)
{
    atomic_store(&writer->gather_microseconds, microseconds > 0 ? microseconds : 0);
}

const struct store_write_stats *writer_stats(const struct writer *writer)
{
    return writer->stats;
}

void writer_stop(struct writer *writer)
{
    if (writer == NULL)
        return;
    pthread_mutex_lock(&writer->lock);
    writer->stopping = true;
    pthread_cond_signal(&writer->work_ready);
    pthread_mutex_unlock(&writer->lock);
    pthread_join(writer->thread, NULL);
    pthread_cond_destroy(&writer->work_ready);
    pthread_mutex_destroy(&writer->lock);
    free(writer->refs);
    free(writer);
}
