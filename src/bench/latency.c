/* Latency samples; see latency.h. Exact percentiles from sorted samples:
 * a bench run holds at most a few hundred thousand of them. */
#include "bench/latency.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct latency *latency, size_t wanted)
{
    if (wanted <= latency->capacity)
        return 0;
    size_t capacity = latency->capacity ? latency->capacity : 1024;
    while (capacity < wanted)
        capacity *= 2;
    double *grown = realloc(latency->seconds, capacity * sizeof *grown);
    if (grown == NULL)
        return -1;
    latency->seconds = grown;
    latency->capacity = capacity;
    return 0;
}

void latency_add(struct latency *latency, double seconds)
{
    if (grow(latency, latency->count + 1) == 0)
        latency->seconds[latency->count++] = seconds;
}

void latency_merge(struct latency *into, struct latency *from)
{
    if (from->count > 0 && grow(into, into->count + from->count) == 0) {
        memcpy(into->seconds + into->count, from->seconds, from->count * sizeof *from->seconds);
        into->count += from->count;
    }
    latency_free(from);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

void latency_sort(struct latency *latency)
{
    if (latency->count > 1)
        qsort(latency->seconds, latency->count, sizeof *latency->seconds, compare_doubles);
}

double latency_percentile(const struct latency *latency, double fraction)
{
    if (latency->count == 0)
        return 0;
    size_t rank = (size_t)ceil(fraction * (double)latency->count);
    if (rank < 1)
        rank = 1;
    return latency->seconds[rank > latency->count ? latency->count - 1 : rank - 1];
}

void latency_free(struct latency *latency)
{
    free(latency->seconds);
    memset(latency, 0, sizeof *latency);
}
