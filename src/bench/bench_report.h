/* What a bench run measured, merged across loops, and how it is printed:
 * the seed's columns (success %, jobs/s, P99) and per-kind latencies, as a
 * table or as JSON. */
#ifndef BENCH_BENCH_REPORT_H
#define BENCH_BENCH_REPORT_H

#include <stdbool.h>

#include "bench/latency.h"

#define BENCH_STATUS_SLOTS 600 /* slot 0 counts transport failures */

struct bench_results {
    struct latency publish;
    struct latency claim;
    struct latency fulfil;
    struct latency end_to_end; /* publish sent -> fulfil acknowledged */
    struct latency health;     /* GET /health answered 200 (--health runs) */
    long statuses[BENCH_STATUS_SLOTS];
    long published;
    long empty_claims;
    double last_fulfil;
};

/* Counts one answer: an HTTP status, or -1 for a transport failure. */
void bench_results_record_status(struct bench_results *results, long status);

/* Moves mine into total (mine is emptied). */
void bench_results_merge(struct bench_results *total, struct bench_results *mine);

struct bench_summary {
    const char *profile;
    const char *url; /* as given: one URL or a comma-separated list */
    int nodes;
    const char *store; /* "sqlite" or "postgresql" for own servers, NULL with --url */
    double server_cpu_seconds; /* own servers' CPU over the run, summed; < 0: unknown */
    double bench_cpu_seconds;  /* the bench's own process over the run; < 0: unknown */
    int workers;
    int publishers;
    int jobs;
    long fulfilled;
    bool long_poll;
    int batch; /* --batch: 1, or intents per publish and jobs per claim */
    bool signed_requests;
    double seconds; /* first publish -> last fulfil */
};

/* Sorts the samples and prints the report on stdout. */
void bench_report_print(const struct bench_summary *summary, struct bench_results *results,
                        bool json);

void bench_results_free(struct bench_results *results);

#endif
