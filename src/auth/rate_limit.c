/* Sliding-window rate limits; see rate_limit.h. Each key keeps the times of
 * its last `limit` requests in a ring: a request is allowed when the oldest
 * of them is more than `period` ago. Keys are few (tester keys), so a flat
 * array searched under one lock is enough. */
#include "auth/rate_limit.h"

#include <stdlib.h>
#include <string.h>

struct rate_window {
    char principal[PRINCIPAL_LEN + 1];
    double *times; /* ring of `limit` request times, owned */
    int used;
    int next;
    double last;
};

void rate_limiter_init(struct rate_limiter *limiter, int limit, double period,
                       struct store *store)
{
    memset(limiter, 0, sizeof *limiter);
    pthread_mutex_init(&limiter->lock, NULL);
    limiter->limit = limit;
    limiter->period = period;
    limiter->store = store;
}

void rate_limiter_destroy(struct rate_limiter *limiter)
{
    for (size_t i = 0; i < limiter->count; i++)
        free(limiter->windows[i].times);
    free(limiter->windows);
    pthread_mutex_destroy(&limiter->lock);
}

static struct rate_window *find_window(struct rate_limiter *limiter, const char *principal)
{
    for (size_t i = 0; i < limiter->count; i++) {
        if (strcmp(limiter->windows[i].principal, principal) == 0)
            return &limiter->windows[i];
    }
    return NULL;
}

static struct rate_window *add_window(struct rate_limiter *limiter, const char *principal)
{
    if (limiter->count == limiter->capacity) {
        size_t capacity = limiter->capacity ? 2 * limiter->capacity : 16;
        struct rate_window *grown = realloc(limiter->windows, capacity * sizeof *grown);
        if (grown == NULL)
            return NULL;
        limiter->windows = grown;
        limiter->capacity = capacity;
    }
    struct rate_window *window = &limiter->windows[limiter->count];
    memset(window, 0, sizeof *window);
    window->times = calloc((size_t)limiter->limit, sizeof *window->times);
    if (window->times == NULL)
        return NULL;
    strcpy(window->principal, principal);
    limiter->count++;
    return window;
}

static bool window_take(struct rate_window *window, int limit, double period, double now,
                        double *retry_after)
{
    if (window->used == limit) {
        double oldest = window->times[window->next];
        if (now - oldest < period) {
            *retry_after = period - (now - oldest);
            return false;
        }
    } else {
        window->used++;
    }
    window->times[window->next] = now;
    window->next = (window->next + 1) % limit;
    window->last = now;
    return true;
}

/* The window kept by a store several nodes share. A store that cannot
 * answer (the database is away) lets the request through: it will meet
 * the same fault in its own work and be answered 503. */
static bool shared_take(struct rate_limiter *limiter, const char *principal, double now,
                        double *retry_after)
{
    bool allowed = true;
    struct store *store = limiter->store;
    if (store->ops->rate_take(store->backend, principal, now, limiter->limit, limiter->period,
                              &allowed, retry_after) != BUS_OK)
        return true;
    return allowed;
}

bool rate_limit_take(struct rate_limiter *limiter, const char *principal, double now,
                     double *retry_after)
{
    if (limiter->store != NULL && limiter->store->ops->rate_take != NULL)
        return shared_take(limiter, principal, now, retry_after);
    pthread_mutex_lock(&limiter->lock);
    struct rate_window *window = find_window(limiter, principal);
    if (window == NULL)
        window = add_window(limiter, principal);
    /* Out of memory: let the request through rather than lock a client out. */
    bool allowed = window == NULL ||
                   window_take(window, limiter->limit, limiter->period, now, retry_after);
    pthread_mutex_unlock(&limiter->lock);
    return allowed;
}

static void remove_at(struct rate_limiter *limiter, size_t index)
{
    free(limiter->windows[index].times);
    limiter->windows[index] = limiter->windows[limiter->count - 1];
    limiter->count--;
}

void rate_limit_forget(struct rate_limiter *limiter, const char *principal)
{
    pthread_mutex_lock(&limiter->lock);
    struct rate_window *window = find_window(limiter, principal);
    if (window != NULL)
        remove_at(limiter, (size_t)(window - limiter->windows));
    pthread_mutex_unlock(&limiter->lock);
}

long rate_limit_prune(struct rate_limiter *limiter, double now)
{
    long removed = 0;
    pthread_mutex_lock(&limiter->lock);
    for (size_t i = limiter->count; i-- > 0;) {
        if (now - limiter->windows[i].last >= limiter->period) {
            remove_at(limiter, i);
            removed++;
        }
    }
    pthread_mutex_unlock(&limiter->lock);
    return removed;
}
