/* The claimer and the job slots of a listener; see listener.h.
 *
 * One lock guards the shared state; one condition variable is broadcast on
 * every change (a job handed to a slot, a slot freed, a stop), as there are
 * few threads. A slot's job is set by the claimer and cleared by the slot
 * when its job is done; `running` counts the slots with a job. */
#include "cli/listener.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

#define IDLE_PAUSE_FIRST 1.0 /* polling (wait 0): pause after an empty claim ... */
#define IDLE_PAUSE_MAX 5.0   /* ... growing to this */
#define EARLY_ANSWER_MARGIN 0.5

struct slot {
    struct listener *listener;
    pthread_t thread;
    bool thread_started;
    struct ib_client *client;       /* fulfil and fail */
    struct ib_client *lease_client; /* the lease keeper's */
    struct ib_job *job;             /* the job to run; NULL when free */
    double claimed_at;
    pid_t pid; /* the running command, 0 when none */
    bool quit;
};

struct listener {
    const struct listen_config *config;
    const struct cli_common *common;
    const struct cli_credentials *credentials;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* on CLOCK_MONOTONIC, for the claimer's pauses */
    bool stopping;
    bool claiming; /* a claim request is on its way or waiting on the bus */
    bool claimer_started;
    int exit_code;
    bool killed; /* listener_kill_jobs: running jobs are left to the bus */
    unsigned running;
    pthread_t claimer;
    struct ib_client *claim_client;
    struct slot *slots;
};

/* ---------------------------------------------------------------- slots */

static bool on_pid(void *context, pid_t pid)
{
    struct slot *slot = context;
    pthread_mutex_lock(&slot->listener->lock);
    slot->pid = pid;
    bool go_on = !slot->listener->killed;
    pthread_mutex_unlock(&slot->listener->lock);
    return go_on;
}

static void *slot_main(void *context)
{
    struct slot *slot = context;
    struct listener *listener = slot->listener;
    pthread_mutex_lock(&listener->lock);
    for (;;) {
        while (slot->job == NULL && !slot->quit)
            pthread_cond_wait(&listener->changed, &listener->lock);
        if (slot->job == NULL)
            break;
        struct ib_job *job = slot->job;
        double claimed_at = slot->claimed_at;
        pthread_mutex_unlock(&listener->lock);
        listen_job_run(listener->config, slot->client, slot->lease_client, job, claimed_at, on_pid,
                       slot);
        ib_job_free(job);
        pthread_mutex_lock(&listener->lock);
        slot->job = NULL;
        listener->running--;
        pthread_cond_broadcast(&listener->changed);
    }
    pthread_mutex_unlock(&listener->lock);
    return NULL;
}

/* ------------------------------------------------------------- claimer */

/* Waits for a free slot; how many are free (at most IB_BATCH_MAX, one
 * batch claim's worth), 0 once stopping. Only the claimer fills slots, so
 * they stay free until it does. */
static unsigned wait_for_slots(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    while (!listener->stopping && listener->running >= listener->config->concurrency)
        pthread_cond_wait(&listener->changed, &listener->lock);
    unsigned free_slots = listener->stopping ? 0 : listener->config->concurrency - listener->running;
    pthread_mutex_unlock(&listener->lock);
    return free_slots < IB_BATCH_MAX ? free_slots : IB_BATCH_MAX;
}

/* Marks a claim as sent (it may wait on the bus up to wait_seconds). */
static void claim_sent(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    listener->claiming = true;
    pthread_mutex_unlock(&listener->lock);
}

/* Marks the claim answered and hands its jobs (taking them) to free
 * slots, in one step so the listener is never seen finished in between. A
 * job claimed after a stop was asked for is run all the same: it is
 * claimed, and there is a free slot for each (wait_for_slots). */
static void claim_returned(struct listener *listener, struct ib_job **jobs, size_t count)
{
    pthread_mutex_lock(&listener->lock);
    listener->claiming = false;
    double claimed_at = clock_monotonic();
    for (unsigned i = 0; i < listener->config->concurrency && count > 0; i++) {
        struct slot *slot = &listener->slots[i];
        if (slot->job != NULL)
            continue;
        slot->job = jobs[--count];
        slot->claimed_at = claimed_at;
        listener->running++;
    }
    assert(count == 0);
    pthread_cond_broadcast(&listener->changed);
    pthread_mutex_unlock(&listener->lock);
}

/* One claim for up to free_slots jobs: a single claim for one (as any bus
 * answers it), a batch claim (POST /claim?max=K) for more. *jobs is an
 * array of *count jobs, the array for free(). */
static enum ib_err claim_jobs(struct listener *listener, const struct ib_claim *claim,
                              unsigned free_slots, struct ib_job ***jobs, size_t *count)
{
    *jobs = NULL;
    *count = 0;
    if (free_slots > 1)
        return ib_claim_many(listener->claim_client, claim, free_slots, jobs, count);
    struct ib_job *job = NULL;
    enum ib_err err = ib_claim(listener->claim_client, claim, &job);
    if (err != IB_OK)
        return err;
    *jobs = malloc(sizeof(struct ib_job *));
    if (*jobs == NULL) { /* the job is claimed: its lease will lapse, and it will be retried */
        ib_job_free(job);
        return IB_ERR_NO_MEMORY;
    }
    (*jobs)[0] = job;
    *count = 1;
    return IB_OK;
}

/* Sleeps seconds, or less when a stop comes. */
static void pause_unless_stopped(struct listener *listener, double seconds)
{
    double at = clock_monotonic() + seconds;
    double whole = floor(at);
    struct timespec deadline = {.tv_sec = (time_t)whole, .tv_nsec = (long)((at - whole) * 1e9)};
    pthread_mutex_lock(&listener->lock);
    while (!listener->stopping &&
           pthread_cond_timedwait(&listener->changed, &listener->lock, &deadline) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&listener->lock);
}

/* Stops the listener after a claim error it cannot get past. */
static void stop_on_error(struct listener *listener, enum ib_err err)
{
    int code =
        cli_report(listener->common, listener->claim_client, listener->credentials->url, err);
    pthread_mutex_lock(&listener->lock);
    listener->exit_code = code;
    listener->stopping = true;
    pthread_cond_broadcast(&listener->changed);
    pthread_mutex_unlock(&listener->lock);
}

/* The pause after an empty claim: none when the server held the claim for
 * the whole wait (long-poll: claim again at once); else the server did not
 * wait (polling, a server without long-poll, or one shutting down), so
 * honour Retry-After, growing while nothing comes, with jitter. */
static double idle_pause(const struct listener *listener, double asked_at, unsigned *idle,
                         unsigned *seed)
{
    unsigned wait = listener->config->wait_seconds;
    if (wait > 0 && clock_monotonic() - asked_at >= wait - EARLY_ANSWER_MARGIN) {
        *idle = 0;
        return 0;
    }
    double pause = IDLE_PAUSE_FIRST;
    for (unsigned i = 0; i < *idle && pause < IDLE_PAUSE_MAX; i++)
        pause *= 2;
    (*idle)++;
    pause = fmin(pause, IDLE_PAUSE_MAX);
    double retry_after = ib_last_retry_after(listener->claim_client);
    return fmax(pause, retry_after) * (1.0 + 0.25 * ((double)rand_r(seed) / RAND_MAX));
}

static void log_claim_error(const struct listener *listener, enum ib_err err, double pause)
{
    const struct ib_client *client = listener->claim_client;
    const char *code = ib_last_error_code(client);
    const char *message = ib_last_error_message(client);
    cli_error(listener->common, "claim failed (%s%s%s); retrying in %.1fs",
              code[0] ? code : ib_strerror(err), message[0] ? ": " : "", message, pause);
}

static void *claimer_main(void *context)
{
    struct listener *listener = context;
    const struct listen_config *config = listener->config;
    struct ib_claim claim = {
        .goal = config->goal,
        .namespace_ = config->namespace_,
        .worker_id = config->worker_id,
        .capabilities = config->capabilities,
        .wait_seconds = config->wait_seconds,
    };
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(size_t)listener;
    unsigned failures = 0;
    unsigned idle = 0;
    unsigned free_slots;
    while ((free_slots = wait_for_slots(listener)) > 0) {
        struct ib_job **jobs = NULL;
        size_t count = 0;
        double asked_at = clock_monotonic();
        claim_sent(listener);
        enum ib_err err = claim_jobs(listener, &claim, free_slots, &jobs, &count);
        claim_returned(listener, jobs, count);
        free(jobs); /* the jobs are the slots' now */
        if (err == IB_OK) {
            failures = idle = 0;
        } else if (err == IB_ERR_ABORTED) {
            /* listener_stop() withdrew it: wait_for_slot() ends the loop. */
        } else if (err == IB_ERR_EMPTY) {
            failures = 0;
            pause_unless_stopped(listener, idle_pause(listener, asked_at, &idle, &seed));
        } else if (cli_is_transient(err)) {
            double pause =
                cli_backoff(++failures, ib_last_retry_after(listener->claim_client), &seed);
            log_claim_error(listener, err, pause);
            pause_unless_stopped(listener, pause);
        } else {
            stop_on_error(listener, err);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

static bool init_sync(struct listener *listener)
{
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    bool ok = pthread_cond_init(&listener->changed, &attributes) == 0;
    pthread_condattr_destroy(&attributes);
    return ok && pthread_mutex_init(&listener->lock, NULL) == 0;
}

/* Every client and thread; false after printing why (what did start is
 * cleaned up by listener_free()). */
static bool start_threads(struct listener *listener)
{
    const struct cli_common *common = listener->common;
    for (unsigned i = 0; i < listener->config->concurrency; i++) {
        struct slot *slot = &listener->slots[i];
        slot->listener = listener;
        slot->client = cli_client_new(common, listener->credentials);
        slot->lease_client = cli_client_new(common, listener->credentials);
        if (slot->client == NULL || slot->lease_client == NULL)
            return false;
        if (pthread_create(&slot->thread, NULL, slot_main, slot) != 0) {
            cli_error(common, "cannot start a thread: %s", strerror(errno));
            return false;
        }
        slot->thread_started = true;
    }
    listener->claim_client = cli_client_new(common, listener->credentials);
    if (listener->claim_client == NULL)
        return false;
    if (pthread_create(&listener->claimer, NULL, claimer_main, listener) != 0) {
        cli_error(common, "cannot start a thread: %s", strerror(errno));
        return false;
    }
    listener->claimer_started = true;
    return true;
}

struct listener *listener_start(const struct listen_config *config, const struct cli_common *common,
                                const struct cli_credentials *credentials)
{
    struct listener *listener = calloc(1, sizeof *listener);
    if (listener == NULL || !init_sync(listener)) {
        free(listener);
        cli_error(common, "out of memory");
        return NULL;
    }
    listener->config = config;
    listener->common = common;
    listener->credentials = credentials;
    listener->slots = calloc(config->concurrency, sizeof *listener->slots);
    if (listener->slots == NULL || !start_threads(listener)) {
        listener_stop(listener);
        listener_free(listener);
        return NULL;
    }
    return listener;
}

void listener_stop(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    listener->stopping = true;
    pthread_cond_broadcast(&listener->changed);
    pthread_mutex_unlock(&listener->lock);
    /* The abort lasts (it is never reset), so a claim the claimer is about
     * to send, having seen no stop yet, is aborted before it leaves too. */
    ib_client_abort(listener->claim_client);
}

bool listener_finished(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    bool finished = listener->stopping && listener->running == 0 && !listener->claiming;
    pthread_mutex_unlock(&listener->lock);
    return finished;
}

bool listener_claiming(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    bool claiming = listener->claiming;
    pthread_mutex_unlock(&listener->lock);
    return claiming;
}

unsigned listener_running(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    unsigned running = listener->running;
    pthread_mutex_unlock(&listener->lock);
    return running;
}

void listener_kill_jobs(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    listener->killed = true;
    for (unsigned i = 0; i < listener->config->concurrency; i++) {
        if (listener->slots[i].pid > 0)
            kill(-listener->slots[i].pid, SIGTERM); /* its process group */
    }
    pthread_mutex_unlock(&listener->lock);
}

int listener_exit_code(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    int code = listener->exit_code;
    pthread_mutex_unlock(&listener->lock);
    return code;
}

void listener_free(struct listener *listener)
{
    pthread_mutex_lock(&listener->lock);
    for (unsigned i = 0; listener->slots && i < listener->config->concurrency; i++)
        listener->slots[i].quit = true;
    pthread_cond_broadcast(&listener->changed);
    pthread_mutex_unlock(&listener->lock);
    if (listener->claimer_started)
        pthread_join(listener->claimer, NULL);
    for (unsigned i = 0; listener->slots && i < listener->config->concurrency; i++) {
        struct slot *slot = &listener->slots[i];
        if (slot->thread_started)
            pthread_join(slot->thread, NULL);
        ib_client_free(slot->client);
        ib_client_free(slot->lease_client);
    }
    ib_client_free(listener->claim_client);
    free(listener->slots);
    pthread_cond_destroy(&listener->changed);
    pthread_mutex_destroy(&listener->lock);
    free(listener);
}
