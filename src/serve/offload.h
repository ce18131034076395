/* The thread that runs the requests no HTTP loop should wait for: the
 * admin API, the schedule API and /metrics, whose handlers wait for the
 * writer (writer_run) or scan the database. With one loop (the default on
 * two cores) a purge or a stats page run there would hold up every
 * connection for its length; here it holds up only the requests queued
 * behind it. */
#ifndef SERVE_OFFLOAD_H
#define SERVE_OFFLOAD_H

#include <stdbool.h>

/* A job, kept by its owner until run has been called (on the thread). */
struct offload_job {
    void (*run)(struct offload_job *job);
    struct offload_job *next; /* the queue's */
};

struct offload;

/* Starts the thread; NULL when it cannot be started. */
struct offload *offload_start(void);

/* Queues job to run on the thread, in the order queued. False once the
 * thread is stopping (or offload is NULL): the caller runs it itself. */
bool offload_submit(struct offload *offload, struct offload_job *job);

/* Runs what is queued, then stops the thread and frees offload. */
void offload_stop(struct offload *offload);

#endif
