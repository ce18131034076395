/* The scheduler thread (see scheduler.h). Store failures are logged at
 * most once a minute and retried at the next tick. */
#include "serve/scheduler.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bus/schedules.h"
#include "util/clock.h"
#include "util/thread_name.h"

#define TICK_SECONDS 1.0
#define TICK_OFFSET 0.005
#define FAILURE_LOG_INTERVAL 60.0

struct scheduler {
    struct bus *bus;
    double watching_since;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
};

/* Waits until just after the next whole second (occurrences fall on whole
 * seconds, so they are published within milliseconds); false once asked
 * to stop. */
static bool wait_tick(struct scheduler *scheduler)
{
    double now = clock_now();
    double delay = TICK_SECONDS - (now - floor(now)) + TICK_OFFSET;
    struct timespec until = clock_monotonic_deadline(delay);
    pthread_mutex_lock(&scheduler->lock);
    while (!scheduler->stopping &&
           pthread_cond_timedwait(&scheduler->wake, &scheduler->lock, &until) != ETIMEDOUT)
        ;
    bool going = !scheduler->stopping;
    pthread_mutex_unlock(&scheduler->lock);
    return going;
}

static void *scheduler_main(void *arg)
{
    struct scheduler *scheduler = arg;
    thread_name_set("bus-scheduler", -1);
    double last_logged = -FAILURE_LOG_INTERVAL;
    do {
        enum bus_err err =
            bus_schedules_tick(scheduler->bus, clock_now(), scheduler->watching_since);
        if (err != BUS_OK && clock_monotonic() - last_logged >= FAILURE_LOG_INTERVAL) {
            fprintf(stderr, "intent-bus: publishing due schedules failed (%s); retrying\n",
                    bus_err_code(err));
            last_logged = clock_monotonic();
        }
    } while (wait_tick(scheduler));
    return NULL;
}

struct scheduler *scheduler_start(struct bus *bus)
{
    struct scheduler *scheduler = calloc(1, sizeof *scheduler);
    if (scheduler == NULL)
        return NULL;
    scheduler->bus = bus;
    scheduler->watching_since = clock_now();
    pthread_mutex_init(&scheduler->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&scheduler->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    if (pthread_create(&scheduler->thread, NULL, scheduler_main, scheduler) != 0) {
        pthread_cond_destroy(&scheduler->wake);
        pthread_mutex_destroy(&scheduler->lock);
        free(scheduler);
        return NULL;
    }
    return scheduler;
}

void scheduler_stop(struct scheduler *scheduler)
{
    if (scheduler == NULL)
        return;
    pthread_mutex_lock(&scheduler->lock);
    scheduler->stopping = true;
    pthread_cond_signal(&scheduler->wake);
    pthread_mutex_unlock(&scheduler->lock);
    pthread_join(scheduler->thread, NULL);
    pthread_cond_destroy(&scheduler->wake);
    pthread_mutex_destroy(&scheduler->lock);
    free(scheduler);
}
