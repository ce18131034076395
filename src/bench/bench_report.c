/* Bench reports; see bench_report.h. */
#include "bench/bench_report.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bench_results_record_status(struct bench_results *results, long status)
{
    if (status >= 0 && status < BENCH_STATUS_SLOTS)
        results->statuses[status]++;
    else
        results->statuses[0]++; /* transport failures */
}

void bench_results_merge(struct bench_results *total, struct bench_results *mine)
{
    latency_merge(&total->publish, &mine->publish);
    latency_merge(&total->claim, &mine->claim);
    latency_merge(&total->fulfil, &mine->fulfil);
    latency_merge(&total->end_to_end, &mine->end_to_end);
    latency_merge(&total->health, &mine->health);
    for (int i = 0; i < BENCH_STATUS_SLOTS; i++)
        total->statuses[i] += mine->statuses[i];
    total->published += mine->published;
    total->empty_claims += mine->empty_claims;
    if (mine->last_fulfil > total->last_fulfil)
        total->last_fulfil = mine->last_fulfil;
}

void bench_results_free(struct bench_results *results)
{
    latency_free(&results->publish);
    latency_free(&results->claim);
    latency_free(&results->fulfil);
    latency_free(&results->end_to_end);
    latency_free(&results->health);
}

/* Every request's latency together: the seed's single P99 column, and
 * its P50 beside it. */
struct overall {
    double p50;
    double p99;
};

static struct overall overall_percentiles(struct bench_results *results)
{
    struct latency all = {0};
    struct latency parts[3] = {results->publish, results->claim, results->fulfil};
    for (int i = 0; i < 3; i++) {
        struct latency copy = {0};
        for (size_t j = 0; j < parts[i].count; j++)
            latency_add(&copy, parts[i].seconds[j]);
        latency_merge(&all, &copy);
    }
    latency_sort(&all);
    struct overall overall = {latency_percentile(&all, 0.50), latency_percentile(&all, 0.99)};
    latency_free(&all);
    return overall;
}

static double success_percent(const struct bench_summary *summary)
{
    return summary->jobs ? 100.0 * (double)summary->fulfilled / summary->jobs : 0;
}

static double jobs_per_second(const struct bench_summary *summary)
{
    return summary->seconds > 0 ? (double)summary->fulfilled / summary->seconds : 0;
}

/* CPU milliseconds per 1,000 fulfilled jobs (= microseconds per job), the
 * figure docs/BENCHMARKS.md compares, of seconds (the servers' or the
 * bench's over the run); < 0 when unknown. */
static double cpu_per_1000_jobs(double seconds, const struct bench_summary *summary)
{
    if (seconds < 0 || summary->fulfilled == 0)
        return -1;
    return 1e6 * seconds / (double)summary->fulfilled;
}

static void print_server_cpu(const struct bench_summary *summary)
{
    if (summary->server_cpu_seconds < 0) {
        printf("  server CPU: not measured (%s)\n",
               summary->store == NULL ? "not started by the bench" : "/proc unreadable");
        return;
    }
    printf("  server CPU %.2f s on %d node%s", summary->server_cpu_seconds, summary->nodes,
           summary->nodes == 1 ? "" : "s");
    if (summary->fulfilled > 0)
        printf(": %.0f ms per 1,000 jobs", cpu_per_1000_jobs(summary->server_cpu_seconds, summary));
    printf("\n");
}

/* Beside the servers' figure: on a shared machine the bench's own cost is
 * CPU the servers did not get. */
static void print_bench_cpu(const struct bench_summary *summary)
{
    if (summary->bench_cpu_seconds < 0)
        return;
    printf("  bench CPU %.2f s", summary->bench_cpu_seconds);
    if (summary->fulfilled > 0)
        printf(": %.0f ms per 1,000 jobs", cpu_per_1000_jobs(summary->bench_cpu_seconds, summary));
    printf("\n");
}

/* A CPU reading as JSON: a number, or null when unknown. */
static json_t *cpu_json(double value)
{
    return value >= 0 ? json_real(value) : json_null();
}

static void print_row(const char *kind, const struct latency *latency)
{
    printf("  %-16s %8zu %9.2f %9.2f %9.2f\n", kind, latency->count,
           1000 * latency_percentile(latency, 0.50), 1000 * latency_percentile(latency, 0.99),
           1000 * (latency->count ? latency->seconds[latency->count - 1] : 0));
}

static void print_table(const struct bench_summary *summary, struct bench_results *results,
                        struct overall overall)
{
    char batch[32] = "";
    if (summary->batch > 1)
        snprintf(batch, sizeof batch, ", batches of %d", summary->batch);
    printf("profile %s: %d workers, %d publishers, %d jobs, %s%s%s, %d node%s%s%s: %s\n",
           summary->profile, summary->workers, summary->publishers, summary->jobs,
           summary->long_poll ? "long-poll" : "polling", summary->signed_requests ? ", signed" : "",
           batch,
           summary->nodes, summary->nodes == 1 ? "" : "s", summary->store ? " on " : "",
           summary->store ? summary->store : "", summary->url);
    printf("  success %.2f %%   %.1f jobs/s   P50 %.2f ms   P99 %.2f ms   (%.2f s)\n",
           success_percent(summary), jobs_per_second(summary), 1000 * overall.p50,
           1000 * overall.p99, summary->seconds);
    print_server_cpu(summary);
    print_bench_cpu(summary);
    printf("  %-16s %8s %9s %9s %9s\n", "request", "count", "p50 ms", "p99 ms", "max ms");
    print_row("publish", &results->publish);
    print_row("claim", &results->claim);
    print_row("fulfil", &results->fulfil);
    print_row("publish->fulfil", &results->end_to_end);
    printf("  204 (empty claims): %ld\n  errors:", results->empty_claims);
    bool any = false;
    for (int status = 0; status < BENCH_STATUS_SLOTS; status++) {
        bool error = status == 0 || status >= 400;
        if (error && results->statuses[status] > 0) {
            printf(" %s%d x%ld", status == 0 ? "transport" : "", status, results->statuses[status]);
            any = true;
        }
    }
    printf("%s\n", any ? "" : " none");
}

static json_t *latency_json(const struct latency *latency)
{
    return json_pack("{s:I, s:f, s:f, s:f}", "count", (json_int_t)latency->count, "p50_ms",
                     1000 * latency_percentile(latency, 0.50), "p99_ms",
                     1000 * latency_percentile(latency, 0.99), "max_ms",
                     1000 * (latency->count ? latency->seconds[latency->count - 1] : 0));
}

static void print_json(const struct bench_summary *summary, struct bench_results *results,
                       struct overall overall)
{
    json_t *statuses = json_object();
    for (int status = 0; status < BENCH_STATUS_SLOTS; status++) {
        char name[16];
        snprintf(name, sizeof name, "%d", status);
        if (results->statuses[status] > 0)
            json_object_set_new(statuses, status ? name : "transport",
                                json_integer(results->statuses[status]));
    }
    json_t *report = json_pack(
        "{s:s, s:s, s:i, s:i, s:i, s:I, s:b, s:b, s:f, s:f, s:f, s:f, s:o, s:o, s:o, s:o, s:I, "
        "s:o}",
        "profile", summary->profile, "url", summary->url, "workers", summary->workers, "publishers",
        summary->publishers, "jobs", summary->jobs, "fulfilled", (json_int_t)summary->fulfilled,
        "long_poll", summary->long_poll, "signed", summary->signed_requests, "seconds",
        summary->seconds, "success_percent", success_percent(summary), "jobs_per_second",
        jobs_per_second(summary), "p99_ms", 1000 * overall.p99, "publish",
        latency_json(&results->publish), "claim", latency_json(&results->claim), "fulfil",
        latency_json(&results->fulfil), "publish_to_fulfil", latency_json(&results->end_to_end),
        "empty_claims", (json_int_t)results->empty_claims, "statuses", statuses);
    if (report != NULL) {
        json_object_set_new(report, "p50_ms", json_real(1000 * overall.p50));
        json_object_set_new(report, "nodes", json_integer(summary->nodes));
        json_object_set_new(report, "batch", json_integer(summary->batch > 1 ? summary->batch : 1));
        json_object_set_new(report, "store",
                            summary->store ? json_string(summary->store) : json_null());
        json_object_set_new(report, "server_cpu_seconds", cpu_json(summary->server_cpu_seconds));
        json_object_set_new(report, "server_cpu_ms_per_1000_jobs",
                            cpu_json(cpu_per_1000_jobs(summary->server_cpu_seconds, summary)));
        json_object_set_new(report, "bench_cpu_seconds", cpu_json(summary->bench_cpu_seconds));
        json_object_set_new(report, "bench_cpu_ms_per_1000_jobs",
                            cpu_json(cpu_per_1000_jobs(summary->bench_cpu_seconds, summary)));
    }
    char *text = report ? json_dumps(report, JSON_INDENT(2)) : NULL;
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(report);
}

void bench_report_print(const struct bench_summary *summary, struct bench_results *results,
                        bool json)
{
    latency_sort(&results->publish);
    latency_sort(&results->claim);
    latency_sort(&results->fulfil);
    latency_sort(&results->end_to_end);
    struct overall overall = overall_percentiles(results);
    if (json)
        print_json(summary, results, overall);
    else
        print_table(summary, results, overall);
}
