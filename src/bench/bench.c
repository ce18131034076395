/* `intent-bus bench`; see bench.h. Publishers post `jobs` intents; workers
 * loop claim -> fulfil with the claim token until every job is fulfilled.
 * They are state machines on a couple of event loops (--loops), each on
 * its own keep-alive handle, so the bench takes little of the CPU it
 * shares with the bus it measures. This thread only watches. */
#include "bench/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "bench/bench_agent.h"
#include "bench/bench_cpu.h"
#include "bench/bench_engine.h"
#include "bench/bench_nodes.h"
#include "bench/bench_options.h"
#include "bench/bench_report.h"
#include "util/clock.h"
#include "util/token.h"

/* Prints a progress line on a terminal while the run goes on. */
static void show_progress(struct bench_run *run, double started, double now)
{
    if (!isatty(STDERR_FILENO))
        return;
    int published = atomic_load(&run->next_job);
    fprintf(stderr, "\r[bench] published %d/%d  fulfilled %d/%d  %.1f s ",
            published < run->jobs ? published : run->jobs, run->jobs, atomic_load(&run->fulfilled),
            run->jobs, now - started);
}

/* Waits for the workers to fulfil every job, for the timeout, or for the
 * loops to give up. */
static void watch(struct bench_run *run, struct bench_engine *engine, double started,
                  double timeout)
{
    struct timespec pause = {0, 200 * 1000 * 1000};
    while (atomic_load(&run->fulfilled) < run->jobs && bench_engine_running(engine)) {
        double now = clock_now();
        if (now - started > timeout) {
            fprintf(stderr, "\nintent-bus bench: timed out after %.0f s\n", timeout);
            break;
        }
        show_progress(run, started, now);
        nanosleep(&pause, NULL);
    }
    atomic_store(&run->stop, true);
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\n");
}

static void init_run(struct bench_run *run, int jobs, bool long_poll, int batch)
{
    char suffix[17];
    *run = (struct bench_run){.jobs = jobs, .long_poll = long_poll, .batch = batch};
    atomic_init(&run->next_job, 0);
    atomic_init(&run->fulfilled, 0);
    atomic_init(&run->stop, false);
    token_random_hex(suffix, 8);
    snprintf(run->namespace_, sizeof run->namespace_, "bench-%s", suffix);
}

/* Where a run goes: the nodes' URLs and the key to use on them. */
struct bench_target_set {
    struct bench_targets targets;
    struct bench_nodes *nodes;
    const char *store; /* own servers' backend, NULL with --url */
    const char *shown; /* the URLs, comma-separated, for the report */
    char own_urls[BENCH_MOST_NODES * 32]; /* own servers': what shown points at */
};

/* The bench process's CPU seconds since at (a bench_cpu_seconds reading),
 * or -1 when either reading failed. */
static double cpu_since(double at)
{
    double now = bench_cpu_seconds(getpid());
    return now < 0 || at < 0 ? -1 : now - at;
}

static int run_jobs(const struct bench_options *options, struct bench_target_set *set)
{
    struct bench_run run;
    init_run(&run, options->jobs, options->long_poll, options->batch);
    run.sign_key = options->sign ? set->targets.api_key : NULL;
    struct bench_cast cast = {
        .publishers = options->publishers, .workers = options->workers, .loops = options->loops};
    struct bench_engine engine;
    struct bench_results results = {0};
    bench_nodes_cpu_mark(set->nodes);
    /* The bench's own threads only (its servers are other processes): it
     * shares the machine with them, so its cost is part of the reading. */
    double own_cpu_at_start = bench_cpu_seconds(getpid());
    double started = clock_now();
    if (bench_engine_start(&engine, &cast, &run, &set->targets) == 0)
        watch(&run, &engine, started, options->timeout);
    atomic_store(&run.stop, true);
    bench_engine_finish(&engine, &results);
    struct bench_summary summary = {
        .profile = options->profile,
        .url = set->shown,
        .nodes = set->targets.count,
        .store = set->store,
        .server_cpu_seconds = bench_nodes_cpu_since_mark(set->nodes),
        .bench_cpu_seconds = cpu_since(own_cpu_at_start),
        .workers = options->workers,
        .publishers = options->publishers,
        .jobs = options->jobs,
        .fulfilled = atomic_load(&run.fulfilled),
        .long_poll = options->long_poll,
        .batch = options->batch,
        .signed_requests = options->sign,
        .seconds = results.last_fulfil > 0 ? results.last_fulfil - started : 0};
    bench_report_print(&summary, &results, options->json);
    bench_results_free(&results);
    return summary.fulfilled == options->jobs ? 0 : 1;
}

/* ---- the bench's own ceiling: GET /health as fast as it goes ------------- */

static void print_health(const struct bench_options *options, const char *url,
                         struct latency *samples, long failures)
{
    latency_sort(samples);
    double rate = (double)samples->count / options->health_seconds;
    double p50_ms = 1000 * latency_percentile(samples, 0.5);
    double p99_ms = 1000 * latency_percentile(samples, 0.99);
    if (options->json)
        printf("{\"endpoint\":\"/health\",\"connections\":%d,\"requests_per_second\":%.1f,"
               "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"failures\":%ld}\n",
               options->workers, rate, p50_ms, p99_ms, failures);
    else
        printf("GET /health: %d connections, %.0f requests/s, p50 %.3f ms, p99 %.3f ms, "
               "%ld failures (%s)\n",
               options->workers, rate, p50_ms, p99_ms, failures, url);
}

static int run_health(const struct bench_options *options, struct bench_target_set *set)
{
    const char *url = set->shown;
    struct bench_run run;
    init_run(&run, 0, false, 1);
    run.health_until = clock_now() + options->health_seconds;
    struct bench_cast cast = {.probes = options->workers, .loops = options->loops};
    struct bench_engine engine;
    struct bench_results results = {0};
    struct bench_targets targets = set->targets;
    targets.api_key = "-";
    int rc = bench_engine_start(&engine, &cast, &run, &targets);
    if (bench_engine_finish(&engine, &results) != 0)
        rc = -1;
    long failures = 0;
    for (int status = 0; status < BENCH_STATUS_SLOTS; status++)
        failures += status == 200 ? 0 : results.statuses[status];
    print_health(options, url, &results.health, failures);
    bench_results_free(&results);
    return rc == 0 && failures == 0 ? 0 : 1;
}

/* The nodes given with --url, or the servers started for the run. */
static int prepare_targets(const struct bench_options *options, struct bench_target_set *set)
{
    struct bench_nodes *nodes = set->nodes;
    set->targets.urls = nodes->urls;
    if (options->url != NULL) {
        set->targets.api_key = options->api_key;
        set->targets.count = nodes->count; /* parsed with the options */
        set->shown = options->url;
        return 0;
    }
    struct bench_server_setup setup = {.database = options->database,
                                       .extra_env = options->server_env};
    if (bench_nodes_start(nodes, options->nodes, &setup) != 0)
        return -1;
    set->targets.api_key = nodes->api_key;
    set->targets.count = nodes->count;
    set->store = options->database ? "postgresql" : "sqlite";
    size_t used = 0;
    for (int i = 0; i < nodes->count && used < sizeof set->own_urls; i++)
        used += (size_t)snprintf(set->own_urls + used, sizeof set->own_urls - used, "%s%s",
                                 i ? "," : "", nodes->urls[i]);
    set->shown = set->own_urls;
    return 0;
}

int bench_main(int argc, char **argv)
{
    struct bench_options options;
    int parsed = bench_options_parse(&options, argc, argv);
    if (parsed != 0) {
        bench_options_usage(parsed > 0 ? stdout : stderr);
        return parsed > 0 ? 0 : 2;
    }
    if (options.url != NULL && options.api_key == NULL && options.health_seconds == 0) {
        fprintf(stderr, "intent-bus bench: --url needs --api-key or INTENT_API_KEY\n");
        return 2;
    }
    struct bench_nodes nodes = {0};
    if (options.url != NULL && bench_nodes_parse(&nodes, options.url) != 0) {
        bench_nodes_stop(&nodes);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "intent-bus bench: libcurl cannot start\n");
        bench_nodes_stop(&nodes);
        return 1;
    }
    struct bench_target_set set = {.nodes = &nodes};
    int rc = 1;
    if (prepare_targets(&options, &set) == 0)
        rc = options.health_seconds > 0 ? run_health(&options, &set) : run_jobs(&options, &set);
    bench_nodes_stop(&nodes);
    curl_global_cleanup();
    return rc;
}
