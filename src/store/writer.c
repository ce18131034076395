/* Group commit. Callers queue operations; the writer thread takes all that
 * are waiting, runs them in one BEGIN IMMEDIATE ... COMMIT, and wakes their
 * callers. Under load many requests share one commit (one WAL sync), which is
 * where SQLite's write throughput comes from; with one caller it degrades to
 * a transaction per operation. */
#include "store/writer.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util/clock.h"

struct writer_job {
    writer_op_fn op;
    void *arg;
    enum bus_err result;
    bool done;
    pthread_cond_t done_signal; /* its caller alone waits on it */
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
    bool stopping;
    struct store_write_stats stats;
};

/* Takes up to max_batch jobs off the queue; called with the lock held. */
static struct writer_job *take_batch(struct writer *writer)
{
    struct writer_job *batch = writer->head;
    struct writer_job *last = batch;
    for (int count = 1; count < writer->max_batch && last->next; count++)
        last = last->next;
    writer->head = last->next;
    if (writer->head == NULL)
        writer->tail = NULL;
    last->next = NULL;
    return batch;
}

static void run_job(struct writer *writer, struct writer_job *job)
{
    if (writer->hooks->savepoint(writer->connection) != 0) {
        job->result = BUS_ERR_DATABASE_BUSY;
        return;
    }
    job->result = job->op(writer->connection, job->arg);
    writer->hooks->release(writer->connection, job->result != BUS_OK);
}

static void run_batch(struct writer *writer, struct writer_job *batch)
{
    const struct writer_hooks *hooks = writer->hooks;
    bool committed = false;
    unsigned long operations = 0;
    double started = clock_monotonic();
    if (hooks->begin(writer->connection) == 0) {
        for (struct writer_job *job = batch; job; job = job->next, operations++)
            run_job(writer, job);
        committed = hooks->commit(writer->connection) == 0;
        if (!committed)
            hooks->rollback(writer->connection);
    }
    histogram_observe(&writer->stats.commit_seconds, clock_monotonic() - started);
    atomic_fetch_add(&writer->stats.transactions, 1);
    atomic_fetch_add(&writer->stats.operations, operations);
    if (!committed)
        atomic_fetch_add(&writer->stats.failed_transactions, 1);
    for (struct writer_job *job = batch; job; job = job->next) {
        if (!committed)
            job->result = BUS_ERR_DATABASE_BUSY;
    }
}

static void *writer_main(void *arg)
{
    struct writer *writer = arg;
    pthread_mutex_lock(&writer->lock);
    for (;;) {
        while (writer->head == NULL && !writer->stopping)
            pthread_cond_wait(&writer->work_ready, &writer->lock);
        if (writer->head == NULL)
            break; /* stopping, and every queued job has run */
        struct writer_job *batch = take_batch(writer);
        pthread_mutex_unlock(&writer->lock);
        run_batch(writer, batch);
        pthread_mutex_lock(&writer->lock);
        /* Each caller is woken alone (a broadcast would wake every waiting
         * thread for every batch: perf showed a third of the server's time
         * in those context switches). `next` is read before `done` is set:
         * a caller may return, and its job vanish, once it sees done. */
        for (struct writer_job *job = batch, *next; job; job = next) {
            next = job->next;
            job->done = true;
            pthread_cond_signal(&job->done_signal);
        }
    }
    pthread_mutex_unlock(&writer->lock);
    return NULL;
}

struct writer *writer_start(void *connection, const struct writer_hooks *hooks, int max_batch)
{
    struct writer *writer = calloc(1, sizeof *writer);
    if (writer == NULL)
        return NULL;
    writer->connection = connection;
    writer->hooks = hooks;
    writer->max_batch = max_batch > 0 ? max_batch : 1;
    pthread_mutex_init(&writer->lock, NULL);
    pthread_cond_init(&writer->work_ready, NULL);
    if (pthread_create(&writer->thread, NULL, writer_main, writer) != 0) {
        pthread_cond_destroy(&writer->work_ready);
        pthread_mutex_destroy(&writer->lock);
        free(writer);
        return NULL;
    }
    return writer;
}

enum bus_err writer_run(struct writer *writer, writer_op_fn op, void *arg)
{
    /* The job lives on this stack frame: the queue holds it only until the
     * writer marks it done, and this function returns only after that. */
    struct writer_job job = {.op = op, .arg = arg};
    pthread_cond_init(&job.done_signal, NULL);
    pthread_mutex_lock(&writer->lock);
    if (writer->tail)
        writer->tail->next = &job; // cppcheck-suppress autoVariables
    else
        writer->head = &job; // cppcheck-suppress autoVariables
    writer->tail = &job; // cppcheck-suppress autoVariables
    pthread_cond_signal(&writer->work_ready);
    while (!job.done)
        pthread_cond_wait(&job.done_signal, &writer->lock);
    pthread_mutex_unlock(&writer->lock);
    pthread_cond_destroy(&job.done_signal);
    return job.result;
}

const struct store_write_stats *writer_stats(const struct writer *writer)
{
    return &writer->stats;
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
    free(writer);
}
