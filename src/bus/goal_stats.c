/* Per-goal series; see goal_stats.h. A series, once added, is never moved
 * or removed, so readers walk series[0..count) without the lock. */
#include "bus/goal_stats.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct goal_stats *goal_stats_new(void)
{
    struct goal_stats *stats = calloc(1, sizeof *stats);
    if (stats == NULL)
        return NULL;
    pthread_mutex_init(&stats->lock, NULL);
    strcpy(stats->other.namespace_, GOAL_OTHER);
    strcpy(stats->other.goal, GOAL_OTHER);
    return stats;
}

void goal_stats_free(struct goal_stats *stats)
{
    if (stats == NULL)
        return;
    pthread_mutex_destroy(&stats->lock);
    free(stats);
}

/* FNV-1a over namespace, a separator and goal. */
static uint32_t pair_hash(const char *namespace_, const char *goal)
{
    uint32_t hash = 2166136261u;
    for (const char *p = namespace_; *p; p++)
        hash = (hash ^ (unsigned char)*p) * 16777619u;
    hash = (hash ^ 0xffu) * 16777619u;
    for (const char *p = goal; *p; p++)
        hash = (hash ^ (unsigned char)*p) * 16777619u;
    return hash;
}

struct goal_series *goal_stats_series(struct goal_stats *stats, const char *namespace_,
                                      const char *goal)
{
    if (stats == NULL)
        return NULL;
    struct goal_series *found = &stats->other;
    pthread_mutex_lock(&stats->lock);
    for (uint32_t slot = pair_hash(namespace_, goal) % GOAL_TABLE_SLOTS;;
         slot = (slot + 1) % GOAL_TABLE_SLOTS) {
        int index = stats->slots[slot] - 1;
        if (index < 0) { /* not seen yet: add it while there is room */
            size_t count = atomic_load(&stats->count);
            if (count < GOAL_SERIES_MAX) {
                found = &stats->series[count];
                snprintf(found->namespace_, sizeof found->namespace_, "%s", namespace_);
                snprintf(found->goal, sizeof found->goal, "%s", goal);
                stats->slots[slot] = (short)(count + 1);
                atomic_store(&stats->count, count + 1);
            }
            break;
        }
        if (strcmp(stats->series[index].namespace_, namespace_) == 0 &&
            strcmp(stats->series[index].goal, goal) == 0) {
            found = &stats->series[index];
            break;
        }
    }
    pthread_mutex_unlock(&stats->lock);
    return found;
}

void goal_series_count(struct goal_series *series, enum goal_counter counter)
{
    if (series != NULL)
        atomic_fetch_add_explicit(&series->counters[counter], 1, memory_order_relaxed);
}

void goal_series_wait(struct goal_series *series, double seconds)
{
    if (series != NULL)
        histogram_observe_in(&series->queue_wait, histogram_job_bounds, seconds);
}

void goal_series_run(struct goal_series *series, double seconds)
{
    if (series != NULL)
        histogram_observe_in(&series->run_time, histogram_job_bounds, seconds);
}

static bool series_used(const struct goal_series *series)
{
    for (int i = 0; i < GOAL_COUNTER_COUNT; i++) {
        if (atomic_load(&series->counters[i]) != 0)
            return true;
    }
    return false;
}

void goal_stats_each(struct goal_stats *stats, void (*each)(void *, const struct goal_series *),
                     void *context)
{
    if (stats == NULL)
        return;
    size_t count = atomic_load(&stats->count);
    for (size_t i = 0; i < count; i++)
        each(context, &stats->series[i]);
    if (series_used(&stats->other))
        each(context, &stats->other);
}
