/* The lease-extending thread of one job; see lease_keeper.h. */
#include "cli/lease_keeper.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "cli/common.h"
#include "util/clock.h"

#define MIN_EXTEND_SECONDS 10 /* the protocol's bounds for "seconds" */
#define MAX_EXTEND_SECONDS 3600
#define MIN_RETRY_PAUSE 0.5
#define MAX_RETRY_PAUSE 5.0

/* Waits until the monotonic time at, or a stop; true when stopped. */
static bool wait_until(struct lease_keeper *keeper, double at)
{
    double whole = floor(at);
    struct timespec deadline = {.tv_sec = (time_t)whole, .tv_nsec = (long)((at - whole) * 1e9)};
    pthread_mutex_lock(&keeper->lock);
    while (!keeper->stop &&
           pthread_cond_timedwait(&keeper->wake, &keeper->lock, &deadline) != ETIMEDOUT) {
    }
    bool stopped = keeper->stop;
    pthread_mutex_unlock(&keeper->lock);
    return stopped;
}

static void log_line(const struct ib_job *job, const char *what, const struct ib_client *client,
                     enum ib_err err)
{
    const char *message = ib_last_error_message(client);
    fprintf(stderr, "intent-bus: listen: %s: %s: %s\n", job->id, what,
            message[0] ? message : ib_strerror(err));
}

static void *keep(void *context)
{
    struct lease_keeper *keeper = context;
    const struct ib_job *job = keeper->job;
    double lease = job->claim_timeout > 0 ? (double)job->claim_timeout : 60.0;
    double extend_by = fmin(fmax(lease, MIN_EXTEND_SECONDS), MAX_EXTEND_SECONDS);
    double lease_end = keeper->claimed_at + lease;
    double next = keeper->claimed_at + lease / 2;
    while (!wait_until(keeper, next)) {
        double sent_at = clock_monotonic();
        enum ib_err err =
            ib_extend(keeper->client, job->id, job->claim_token, (unsigned)extend_by, NULL);
        if (err == IB_OK) {
            keeper->extensions++;
            lease_end = sent_at + extend_by;
            next = sent_at + extend_by / 2;
            continue;
        }
        if (err == IB_ERR_NOT_FOUND) {
            pthread_mutex_lock(&keeper->lock);
            keeper->lease_lost = true;
            pthread_mutex_unlock(&keeper->lock);
            return NULL;
        }
        if (!cli_is_transient(err)) {
            log_line(job, "cannot extend the lease", keeper->client, err);
            return NULL;
        }
        /* Try again well before the lease ends, sooner as it gets close. */
        double left = lease_end - clock_monotonic();
        double pause = fmin(fmax(left / 3, MIN_RETRY_PAUSE), MAX_RETRY_PAUSE);
        unsigned retry_after = ib_last_retry_after(keeper->client);
        if (retry_after > 0 && retry_after < left)
            pause = fmax(pause, retry_after);
        log_line(job, "extending the lease failed, trying again", keeper->client, err);
        next = clock_monotonic() + pause;
    }
    return NULL;
}

int lease_keeper_start(struct lease_keeper *keeper, struct ib_client *client,
                       const struct ib_job *job, double claimed_at)
{
    keeper->stop = false;
    keeper->lease_lost = false;
    keeper->extensions = 0;
    keeper->client = client;
    keeper->job = job;
    keeper->claimed_at = claimed_at;
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    int error = pthread_cond_init(&keeper->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    if (error != 0)
        return error;
    pthread_mutex_init(&keeper->lock, NULL);
    error = pthread_create(&keeper->thread, NULL, keep, keeper);
    if (error != 0) {
        pthread_cond_destroy(&keeper->wake);
        pthread_mutex_destroy(&keeper->lock);
    }
    return error;
}

bool lease_keeper_stop(struct lease_keeper *keeper)
{
    pthread_mutex_lock(&keeper->lock);
    keeper->stop = true;
    pthread_cond_signal(&keeper->wake);
    pthread_mutex_unlock(&keeper->lock);
    pthread_join(keeper->thread, NULL);
    bool lost = keeper->lease_lost;
    pthread_cond_destroy(&keeper->wake);
    pthread_mutex_destroy(&keeper->lock);
    return lost;
}
