/* Latency samples of one kind of request, kept per thread and merged, with
 * the percentiles the bench prints. */
#ifndef BENCH_LATENCY_H
#define BENCH_LATENCY_H

#include <stddef.h>

struct latency {
    double *seconds; /* owned */
    size_t count;
    size_t capacity;
};

/* Appends one sample; a sample that cannot be stored (no memory) is dropped. */
void latency_add(struct latency *latency, double seconds);

/* Moves every sample of from into into. */
void latency_merge(struct latency *into, struct latency *from);

/* Sorts the samples; then latency_percentile(l, 0.99) is the P99. 0 when empty. */
void latency_sort(struct latency *latency);
double latency_percentile(const struct latency *latency, double fraction);

void latency_free(struct latency *latency);

#endif
