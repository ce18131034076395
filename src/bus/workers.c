/* See workers.h. A linear scan of at most WORKERS_MAX entries under a lock,
 * once per claim: the claim itself waits on the single writer for far
 * longer. */
#include "bus/workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct workers *workers_new(void)
{
    struct workers *workers = calloc(1, sizeof *workers);
    if (workers != NULL)
        pthread_mutex_init(&workers->lock, NULL);
    return workers;
}

void workers_free(struct workers *workers)
{
    if (workers == NULL)
        return;
    pthread_mutex_destroy(&workers->lock);
    free(workers);
}

/* Its entry, or a new one (in place of the longest silent when full). */
static struct worker_seen *entry_for(struct workers *workers, const struct claim_request *request)
{
    int oldest = 0;
    for (int i = 0; i < workers->count; i++) {
        struct worker_seen *seen = &workers->seen[i];
        if (strcmp(seen->worker_id, request->worker_id) == 0 &&
            strcmp(seen->principal, request->claimer) == 0)
            return seen;
        if (seen->last_seen < workers->seen[oldest].last_seen)
            oldest = i;
    }
    struct worker_seen *seen =
        &workers->seen[workers->count < WORKERS_MAX ? workers->count++ : oldest];
    memset(seen, 0, sizeof *seen);
    snprintf(seen->worker_id, sizeof seen->worker_id, "%s", request->worker_id);
    snprintf(seen->principal, sizeof seen->principal, "%s", request->claimer);
    seen->first_seen = request->now;
    return seen;
}

void workers_saw_claim(struct workers *workers, const struct claim_request *request, bool got)
{
    if (workers == NULL)
        return;
    pthread_mutex_lock(&workers->lock);
    struct worker_seen *seen = entry_for(workers, request);
    const char *capabilities = request->capabilities_json ? request->capabilities_json : "[]";
    if (strlen(capabilities) > WORKER_CAPABILITIES_MAX)
        capabilities = "[]"; /* too long to keep: the claim still counts */
    snprintf(seen->capabilities_json, sizeof seen->capabilities_json, "%s", capabilities);
    snprintf(seen->namespace_, sizeof seen->namespace_, "%s", request->namespace_);
    seen->last_seen = request->now;
    if (got) {
        seen->last_claim = request->now;
        seen->claims++;
    } else {
        seen->empty_claims++;
    }
    pthread_mutex_unlock(&workers->lock);
}

static int by_last_seen(const void *a, const void *b)
{
    double x = ((const struct worker_seen *)a)->last_seen;
    double y = ((const struct worker_seen *)b)->last_seen;
    return (x < y) - (x > y);
}

bool workers_since(struct workers *workers, double since, struct worker_seen **out, int *count)
{
    *out = NULL;
    *count = 0;
    if (workers == NULL)
        return true;
    pthread_mutex_lock(&workers->lock);
    struct worker_seen *copy = malloc(sizeof *copy * (size_t)(workers->count ? workers->count : 1));
    if (copy != NULL) {
        for (int i = 0; i < workers->count; i++) {
            if (workers->seen[i].last_seen >= since)
                copy[(*count)++] = workers->seen[i];
        }
    }
    pthread_mutex_unlock(&workers->lock);
    if (copy == NULL)
        return false;
    qsort(copy, (size_t)*count, sizeof *copy, by_last_seen);
    *out = copy;
    return true;
}
