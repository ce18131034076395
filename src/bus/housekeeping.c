/* Scheduling of lazy housekeeping; see housekeeping.h. */
#include "bus/housekeeping.h"

void housekeeping_init(struct housekeeping *keeping, double cleanup_interval, double now)
{
    pthread_mutex_init(&keeping->lock, NULL);
    pthread_cond_init(&keeping->idle, NULL);
    keeping->cleanup_interval = cleanup_interval;
    keeping->next_sweep = now;
    keeping->next_cleanup = now;
    keeping->sweep_running = false;
    keeping->cleanup_running = false;
}

void housekeeping_destroy(struct housekeeping *keeping)
{
    pthread_cond_destroy(&keeping->idle);
    pthread_mutex_destroy(&keeping->lock);
}

struct housekeeping_due housekeeping_take(struct housekeeping *keeping, double now)
{
    struct housekeeping_due due = {false, false};
    pthread_mutex_lock(&keeping->lock);
    if (now >= keeping->next_sweep && !keeping->sweep_running) {
        due.sweep = true;
        keeping->sweep_running = true;
        keeping->next_sweep = now + HOUSEKEEPING_SWEEP_INTERVAL;
    }
    if (now >= keeping->next_cleanup && !keeping->cleanup_running) {
        due.cleanup = true;
        keeping->cleanup_running = true;
    }
    pthread_mutex_unlock(&keeping->lock);
    return due;
}

void housekeeping_sweep_done(struct housekeeping *keeping)
{
    pthread_mutex_lock(&keeping->lock);
    keeping->sweep_running = false;
    pthread_cond_broadcast(&keeping->idle);
    pthread_mutex_unlock(&keeping->lock);
}

void housekeeping_cleanup_done(struct housekeeping *keeping, bool succeeded, double now)
{
    pthread_mutex_lock(&keeping->lock);
    keeping->cleanup_running = false;
    keeping->next_cleanup =
        now + (succeeded ? keeping->cleanup_interval : HOUSEKEEPING_RETRY_AFTER_FAILURE);
    pthread_cond_broadcast(&keeping->idle);
    pthread_mutex_unlock(&keeping->lock);
}

void housekeeping_wait_idle(struct housekeeping *keeping)
{
    pthread_mutex_lock(&keeping->lock);
    while (keeping->sweep_running || keeping->cleanup_running)
        pthread_cond_wait(&keeping->idle, &keeping->lock);
    pthread_mutex_unlock(&keeping->lock);
}
