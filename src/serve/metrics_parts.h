/* The families of /metrics beyond the spec's, each writer in its own file:
 * metrics_jobs.c (per namespace/goal), metrics_process.c (the process,
 * the build, the database files, long-poll waiters). */
#ifndef SERVE_METRICS_PARTS_H
#define SERVE_METRICS_PARTS_H

#include <stdio.h>

struct server;

/* A Prometheus label value, escaped (backslash, quote, newline). */
void metrics_write_label_value(FILE *out, const char *text);

/* Per-goal counters and histograms, and the oldest open job per goal;
 * -1 when the store could not answer. */
int metrics_write_jobs(FILE *out, struct server *server, double now);

/* process_*, intent_bus_build_info, database and WAL size, long-poll
 * waiters. */
void metrics_write_process(FILE *out, struct server *server);

/* The completion webhooks' counters and pending gauge, while they are on. */
void metrics_write_webhooks(FILE *out, struct server *server);

#endif
