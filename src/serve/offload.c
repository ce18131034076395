/* See offload.h. One thread and a FIFO under one lock: the jobs are few
 * (an operator's requests, a scrape every few seconds) and each one is
 * long next to the queue's cost. */
#include "serve/offload.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/thread_name.h"

struct offload {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t queued; /* a job was queued, or stopping was set */
    struct offload_job *head;
    struct offload_job *tail;
    bool stopping;
};

static void *offload_main(void *arg)
{
    struct offload *offload = arg;
    thread_name_set("bus-offload", -1);
    pthread_mutex_lock(&offload->lock);
    for (;;) {
        while (offload->head == NULL && !offload->stopping)
            pthread_cond_wait(&offload->queued, &offload->lock);
        struct offload_job *job = offload->head;
        if (job == NULL)
            break; /* stopping, and nothing is left */
        offload->head = job->next;
        if (offload->head == NULL)
            offload->tail = NULL;
        pthread_mutex_unlock(&offload->lock);
        job->run(job); /* may free job */
        pthread_mutex_lock(&offload->lock);
    }
    pthread_mutex_unlock(&offload->lock);
    return NULL;
}

struct offload *offload_start(void)
{
    struct offload *offload = calloc(1, sizeof *offload);
    if (offload == NULL)
        return NULL;
    pthread_mutex_init(&offload->lock, NULL);
    pthread_cond_init(&offload->queued, NULL);
    if (pthread_create(&offload->thread, NULL, offload_main, offload) != 0) {
        pthread_cond_destroy(&offload->queued);
        pthread_mutex_destroy(&offload->lock);
        free(offload);
        return NULL;
    }
    return offload;
}

bool offload_submit(struct offload *offload, struct offload_job *job)
{
    if (offload == NULL)
        return false;
    pthread_mutex_lock(&offload->lock);
    bool queued = !offload->stopping;
    if (queued) {
        job->next = NULL;
        if (offload->tail != NULL)
            offload->tail->next = job;
        else
            offload->head = job;
        offload->tail = job;
        pthread_cond_signal(&offload->queued);
    }
    pthread_mutex_unlock(&offload->lock);
    return queued;
}

void offload_stop(struct offload *offload)
{
    if (offload == NULL)
        return;
    pthread_mutex_lock(&offload->lock);
    offload->stopping = true;
    pthread_cond_signal(&offload->queued);
    pthread_mutex_unlock(&offload->lock);
    pthread_join(offload->thread, NULL);
    pthread_cond_destroy(&offload->queued);
    pthread_mutex_destroy(&offload->lock);
    free(offload);
}
