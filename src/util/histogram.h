/* A lock-free latency histogram with Prometheus's cumulative buckets, for
 * request durations and database commit times. Many threads observe; one
 * reader renders a snapshot. */
#ifndef UTIL_HISTOGRAM_H
#define UTIL_HISTOGRAM_H

#include <stdatomic.h>
#include <stdio.h>

#define HISTOGRAM_BUCKETS 14

/* Upper bounds in seconds, from 100 µs to 5 s; +Inf is implied. */
extern const double histogram_bounds[HISTOGRAM_BUCKETS];
/* The same number of bounds for how long jobs wait and run, and long-poll
 * waits: from 10 ms to 6 hours. */
extern const double histogram_job_bounds[HISTOGRAM_BUCKETS];

struct histogram {
    atomic_ulong buckets[HISTOGRAM_BUCKETS]; /* not cumulative: one per bound */
    atomic_ulong count;
    atomic_ulong sum_nanoseconds;
};

void histogram_observe(struct histogram *histogram, double seconds);
/* The same with other bounds; a histogram always uses the same ones. */
void histogram_observe_in(struct histogram *histogram, const double *bounds, double seconds);

/* Writes `<name>_bucket{<labels>,le="..."}`, `_sum` and `_count` lines.
 * labels is "" or a label list without braces, e.g. `route="/claim"`. */
void histogram_write(FILE *out, const char *name, const char *labels,
                     const struct histogram *histogram);
void histogram_write_in(FILE *out, const char *name, const char *labels,
                        const struct histogram *histogram, const double *bounds);

#endif
