/* Prometheus histograms; see histogram.h. Counts are kept per bucket and
 * made cumulative when written, so observing touches one counter. */
#include "util/histogram.h"

const double histogram_bounds[HISTOGRAM_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   5.0,
};

const double histogram_job_bounds[HISTOGRAM_BUCKETS] = {
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 21600.0,
};

void histogram_observe(struct histogram *histogram, double seconds)
{
    histogram_observe_in(histogram, histogram_bounds, seconds);
}

void histogram_observe_in(struct histogram *histogram, const double *bounds, double seconds)
{
    if (!(seconds > 0)) /* negative or NaN */
        seconds = 0;
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++) {
        if (seconds <= bounds[i]) {
            atomic_fetch_add_explicit(&histogram->buckets[i], 1, memory_order_relaxed);
            break;
        }
    }
    atomic_fetch_add_explicit(&histogram->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&histogram->sum_nanoseconds, (unsigned long)(seconds * 1e9),
                              memory_order_relaxed);
}

void histogram_write(FILE *out, const char *name, const char *labels,
                     const struct histogram *histogram)
{
    histogram_write_in(out, name, labels, histogram, histogram_bounds);
}

void histogram_write_in(FILE *out, const char *name, const char *labels,
                        const struct histogram *histogram, const double *bounds)
{
    const char *comma = labels[0] ? "," : "";
    unsigned long cumulative = 0;
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++) {
        cumulative += atomic_load_explicit(&histogram->buckets[i], memory_order_relaxed);
        fprintf(out, "%s_bucket{%s%sle=\"%g\"} %lu\n", name, labels, comma, bounds[i],
                cumulative);
    }
    /* The total is read once, so +Inf and _count agree even while other
     * threads observe (it may exceed the buckets read just before). */
    unsigned long count = atomic_load_explicit(&histogram->count, memory_order_relaxed);
    if (count < cumulative)
        count = cumulative;
    fprintf(out, "%s_bucket{%s%sle=\"+Inf\"} %lu\n", name, labels, comma, count);
    const char *open = labels[0] ? "{" : "";
    const char *close = labels[0] ? "}" : "";
    fprintf(out, "%s_sum%s%s%s %.9f\n", name, open, labels, close,
            (double)atomic_load_explicit(&histogram->sum_nanoseconds, memory_order_relaxed) / 1e9);
    fprintf(out, "%s_count%s%s%s %lu\n", name, open, labels, close, count);
}
