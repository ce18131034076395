/* Prometheus exposition; see metrics.h. Names follow the conventions:
 * intent_bus_ prefix, _total for counters, _seconds for durations. The
 * three gauges the spec names keep the spec's names, _total included. */
#include "serve/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/handlers.h"
#include "bus/queue_view.h"
#include "serve/metrics_parts.h"
#include "serve/router.h"
#include "serve/server.h"
#include "util/clock.h"

static const unsigned status_codes[METRICS_STATUS_SLOTS] = {
    200, 201, 204, 400, 401, 403, 404, 405, 413, 422, 429, 500, 503, 0 /* other */};

void http_metrics_init(struct http_metrics *metrics, double now)
{
    memset(metrics, 0, sizeof *metrics);
    metrics->started_at = now;
}

static int status_slot(unsigned status)
{
    for (int i = 0; i < METRICS_STATUS_SLOTS - 1; i++) {
        if (status_codes[i] == status)
            return i;
    }
    return METRICS_STATUS_SLOTS - 1;
}

void http_metrics_record(struct http_metrics *metrics, int route, unsigned status, double seconds,
                         bool waited)
{
    int slot = route < 0 || route >= METRICS_ROUTE_SLOTS - 1 ? METRICS_ROUTE_SLOTS - 1 : route;
    atomic_fetch_add_explicit(&metrics->requests[slot][status_slot(status)], 1,
                              memory_order_relaxed);
    if (waited)
        histogram_observe_in(&metrics->waits[slot], histogram_job_bounds, seconds);
    else
        histogram_observe(&metrics->durations[slot], seconds);
}

/* `route="/fulfill/{id}",method="POST"` for a route slot. */
static void route_labels(int slot, char *out, size_t size)
{
    char path[96];
    const char *method = "";
    if (slot < router_route_count()) {
        router_route_label(slot, path, sizeof path);
        method = router_route_method(slot);
    } else {
        snprintf(path, sizeof path, "unmatched");
    }
    snprintf(out, size, "route=\"%s\",method=\"%s\"", path, method);
}

static void write_http(FILE *out, const struct http_metrics *metrics)
{
    char labels[160];
    fputs("# HELP intent_bus_http_requests_total HTTP requests answered, by route and status\n"
          "# TYPE intent_bus_http_requests_total counter\n",
          out);
    for (int slot = 0; slot < METRICS_ROUTE_SLOTS; slot++) {
        route_labels(slot, labels, sizeof labels);
        for (int status = 0; status < METRICS_STATUS_SLOTS; status++) {
            unsigned long count = atomic_load(&metrics->requests[slot][status]);
            if (count == 0)
                continue;
            if (status_codes[status] == 0)
                fprintf(out, "intent_bus_http_requests_total{%s,status=\"other\"} %lu\n", labels,
                        count);
            else
                fprintf(out, "intent_bus_http_requests_total{%s,status=\"%u\"} %lu\n", labels,
                        status_codes[status], count);
        }
    }
    fputs("# HELP intent_bus_http_request_duration_seconds Time from a request's body to its "
          "response\n# TYPE intent_bus_http_request_duration_seconds histogram\n",
          out);
    for (int slot = 0; slot < METRICS_ROUTE_SLOTS; slot++) {
        if (atomic_load(&metrics->durations[slot].count) == 0)
            continue;
        route_labels(slot, labels, sizeof labels);
        histogram_write(out, "intent_bus_http_request_duration_seconds", labels,
                        &metrics->durations[slot]);
    }
    fputs("# HELP intent_bus_http_long_poll_wait_seconds How long answered long-polls were "
          "parked (not in the request duration)\n"
          "# TYPE intent_bus_http_long_poll_wait_seconds histogram\n",
          out);
    for (int slot = 0; slot < METRICS_ROUTE_SLOTS; slot++) {
        if (atomic_load(&metrics->waits[slot].count) == 0)
            continue;
        route_labels(slot, labels, sizeof labels);
        histogram_write_in(out, "intent_bus_http_long_poll_wait_seconds", labels,
                           &metrics->waits[slot], histogram_job_bounds);
    }
}

static void write_counter(FILE *out, const char *name, const char *help, unsigned long value)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n", name, help, name, name, value);
}

static void write_bus(FILE *out, struct bus_counters *counters)
{
    static const char *const reasons[DEAD_REASON_COUNT] = {"failed", "lease_expired",
                                                           "cancelled"};
    write_counter(out, "intent_bus_published_total", "Intents published",
                  atomic_load(&counters->published));
    write_counter(out, "intent_bus_claims_total", "Intents handed to workers",
                  atomic_load(&counters->claims));
    write_counter(out, "intent_bus_empty_claims_total", "Claims answered 204",
                  atomic_load(&counters->empty_claims));
    write_counter(out, "intent_bus_fulfills_total", "Intents fulfilled",
                  atomic_load(&counters->fulfills));
    write_counter(out, "intent_bus_failures_total", "Intents failed by workers",
                  atomic_load(&counters->failures));
    write_counter(out, "intent_bus_retries_total", "Intents put back in the queue with backoff",
                  atomic_load(&counters->retries));
    write_counter(out, "intent_bus_lease_expiries_total", "Leases found expired",
                  atomic_load(&counters->lease_expiries));
    fputs("# HELP intent_bus_dead_lettered_total Intents moved to the dead-letter table\n"
          "# TYPE intent_bus_dead_lettered_total counter\n",
          out);
    for (int i = 0; i < DEAD_REASON_COUNT; i++)
        fprintf(out, "intent_bus_dead_lettered_total{reason=\"%s\"} %lu\n", reasons[i],
                atomic_load(&counters->dead_letters[i]));
    write_counter(out, "intent_bus_cleanup_runs_total", "Cleanup passes run",
                  atomic_load(&counters->cleanup_runs));
    write_counter(out, "intent_bus_cleanup_failures_total", "Cleanup passes that failed",
                  atomic_load(&counters->cleanup_failures));
    write_counter(out, "intent_bus_schedule_fires_total", "Schedule occurrences published",
                  atomic_load(&counters->schedule_fires));
    write_counter(out, "intent_bus_schedule_skips_total",
                  "Schedule occurrences not published (overlap, open-intent cap, missed)",
                  atomic_load(&counters->schedule_skips));
}

static void write_database(FILE *out, const struct store_write_stats *stats)
{
    fputs("# HELP intent_bus_db_commit_duration_seconds Time of one write transaction, "
          "commit included\n# TYPE intent_bus_db_commit_duration_seconds histogram\n",
          out);
    histogram_write(out, "intent_bus_db_commit_duration_seconds", "", &stats->commit_seconds);
    write_counter(out, "intent_bus_db_transactions_total", "Write transactions",
                  atomic_load(&stats->transactions));
    write_counter(out, "intent_bus_db_operations_total",
                  "Request writes, several per transaction under load",
                  atomic_load(&stats->operations));
    write_counter(out, "intent_bus_db_failed_transactions_total", "Write transactions rolled back",
                  atomic_load(&stats->failed_transactions));
    write_counter(out, "intent_bus_db_redone_transactions_total",
                  "Write transactions run again without an operation whose statement failed"
                  " (PostgreSQL)",
                  atomic_load(&stats->redone_transactions));
    write_counter(out, "intent_bus_db_retried_transactions_total",
                  "Write transactions run again whole after a deadlock or serialization failure"
                  " (PostgreSQL)",
                  atomic_load(&stats->retried_transactions));
}

struct intent_counts {
    FILE *out;
    long expired; /* claimed, lease lapsed, not taken back */
};

static void write_intent_count(void *context, const char *namespace_, const char *status,
                               long count)
{
    struct intent_counts *counts = context;
    fprintf(counts->out, "intent_bus_intents_total{status=\"%s\",namespace=\"%s\"} %ld\n",
            status, namespace_, count);
    if (strcmp(status, "expired") == 0)
        counts->expired += count;
}

static int write_queue(FILE *out, struct bus *bus, double now)
{
    struct queue_totals totals;
    struct intent_counts counts = {out, 0};
    fputs("# HELP intent_bus_intents_total Total intents by status and namespace\n"
          "# TYPE intent_bus_intents_total gauge\n",
          out);
    if (bus_queue_counts(bus, now, write_intent_count, &counts, &totals) != BUS_OK)
        return -1;
    fprintf(out,
            "# HELP intent_bus_expired_leases Claimed intents whose lease has lapsed and that no "
            "claim or sweep has taken back yet\n"
            "# TYPE intent_bus_expired_leases gauge\nintent_bus_expired_leases %ld\n",
            counts.expired);
    fprintf(out,
            "# HELP intent_bus_dead_letters_total Total dead-letter intents\n"
            "# TYPE intent_bus_dead_letters_total gauge\nintent_bus_dead_letters_total %ld\n"
            "# HELP intent_bus_tester_keys_total Total active tester keys\n"
            "# TYPE intent_bus_tester_keys_total gauge\nintent_bus_tester_keys_total %ld\n",
            totals.dead_letters, totals.active_keys);
    return 0;
}

void handle_metrics(struct http_request *request, struct http_response *response)
{
    struct server *server = request->server;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (out == NULL)
        return; /* body NULL: the glue answers 500 */
    double now = clock_now();
    int rc = write_queue(out, &server->bus, now);
    if (rc == 0)
        rc = metrics_write_jobs(out, server, now);
    write_bus(out, &server->bus.counters);
    write_database(out, bus_write_stats(&server->bus));
    write_http(out, &server->metrics);
    fprintf(out,
            "# HELP intent_bus_start_time_seconds When this server started, Unix time\n"
            "# TYPE intent_bus_start_time_seconds gauge\nintent_bus_start_time_seconds %.3f\n",
            server->metrics.started_at);
    metrics_write_process(out, server);
    metrics_write_webhooks(out, server);
    fclose(out);
    if (rc != 0) {
        free(text);
        struct bus_error error;
        bus_error_set(&error, BUS_ERR_DATABASE_BUSY, NULL, "queue counts unavailable");
        response_error(response, &error);
        return;
    }
    response->status = 200;
    response->body = text;
    response->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
