/* `intent-bus bench`; see bench.h. Publishers post `jobs` intents; workers
 * loop claim -> fulfil with the claim token until every job is fulfilled.
 * Each thread owns one keep-alive connection and its own latency samples,
 * merged at the end, so measuring takes no locks on the hot path. */
#include "cli/bench.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus/token.h"
#include "cli/bench_http.h"
#include "cli/bench_report.h"
#include "cli/bench_server.h"
#include "util/clock.h"

#define EMPTY_CLAIM_PAUSE_NS (10 * 1000 * 1000) /* polling workers: 10 ms after a 204 */
#define LONG_POLL_WAIT "2"

struct profile {
    const char *name;
    int workers;
    int jobs;
};

/* The seed's table: light, medium, heavy, extreme. */
static const struct profile profiles[] = {
    {"light", 5, 50}, {"medium", 15, 500}, {"heavy", 40, 2000}, {"extreme", 100, 5000}};

struct bench_options {
    const char *profile;
    int workers;
    int jobs;
    int publishers;
    int health_seconds; /* > 0: measure GET /health instead */
    const char *url;
    const char *api_key;
    const char *server_env;
    bool long_poll;
    bool json;
    double timeout;
};

struct bench_run {
    const struct bench_options *options;
    const char *url;
    const char *api_key;
    char namespace_[40];
    atomic_int next_job;
    atomic_int fulfilled;
    atomic_bool stop;
    double started;
    pthread_mutex_t lock; /* merging results */
    struct bench_results results;
};

static void record_status(struct bench_results *results, long status)
{
    if (status >= 0 && status < BENCH_STATUS_SLOTS)
        results->statuses[status]++;
    else
        results->statuses[0]++; /* transport failures */
}

static void merge(struct bench_run *run, struct bench_results *mine)
{
    pthread_mutex_lock(&run->lock);
    bench_results_merge(&run->results, mine);
    pthread_mutex_unlock(&run->lock);
}

static void *publisher_main(void *arg)
{
    struct bench_run *run = arg;
    struct bench_conn conn;
    struct bench_results mine = {0};
    char body[256];
    double seconds = 0;
    if (bench_conn_open(&conn, run->url, run->api_key) != 0)
        return NULL;
    int job;
    while (!atomic_load(&run->stop) &&
           (job = atomic_fetch_add(&run->next_job, 1)) < run->options->jobs) {
        snprintf(body, sizeof body,
                 "{\"goal\":\"bench\",\"namespace\":\"%s\",\"payload\":{\"job\":%d,\"t\":%.6f}}",
                 run->namespace_, job, clock_now());
        long status = bench_conn_request(&conn, "POST", "/intent", body, &seconds);
        record_status(&mine, status);
        latency_add(&mine.publish, seconds);
        mine.published += status == 201;
    }
    bench_conn_close(&conn);
    merge(run, &mine);
    return NULL;
}

/* Fulfils a claimed job; returns true when the bus accepted it. */
static bool fulfil(struct bench_conn *conn, struct bench_results *mine)
{
    json_t *job = json_loads(conn->body, 0, NULL);
    const char *id = json_string_value(json_object_get(job, "id"));
    const char *token = json_string_value(json_object_get(job, "claim_token"));
    double published_at = json_number_value(json_object_get(json_object_get(job, "payload"), "t"));
    char path[64];
    char body[96];
    double seconds = 0;
    bool done = false;
    if (id != NULL && token != NULL) {
        snprintf(path, sizeof path, "/fulfill/%s", id);
        snprintf(body, sizeof body, "{\"claim_token\":\"%s\"}", token);
        long status = bench_conn_request(conn, "POST", path, body, &seconds);
        record_status(mine, status);
        latency_add(&mine->fulfil, seconds);
        done = status == 200;
        if (done)
            latency_add(&mine->end_to_end, clock_now() - published_at);
    }
    json_decref(job);
    return done;
}

static void *worker_main(void *arg)
{
    struct bench_run *run = arg;
    struct bench_conn conn;
    struct bench_results mine = {0};
    char path[128];
    double seconds = 0;
    struct timespec pause = {0, EMPTY_CLAIM_PAUSE_NS};
    if (bench_conn_open(&conn, run->url, run->api_key) != 0)
        return NULL;
    snprintf(path, sizeof path, "/claim?goal=bench&namespace=%s%s", run->namespace_,
             run->options->long_poll ? "&wait=" LONG_POLL_WAIT : "");
    while (!atomic_load(&run->stop) && atomic_load(&run->fulfilled) < run->options->jobs) {
        long status = bench_conn_request(&conn, "POST", path, NULL, &seconds);
        record_status(&mine, status);
        if (status == 200) {
            latency_add(&mine.claim, seconds);
            if (fulfil(&conn, &mine)) {
                atomic_fetch_add(&run->fulfilled, 1);
                mine.last_fulfil = clock_now();
            }
        } else if (status == 204) {
            mine.empty_claims++;
            if (!run->options->long_poll) { /* a long-poll 204 measures the wait, not the bus */
                latency_add(&mine.claim, seconds);
                nanosleep(&pause, NULL);
            }
        } else {
            nanosleep(&pause, NULL);
        }
    }
    bench_conn_close(&conn);
    merge(run, &mine);
    return NULL;
}

/* Prints a progress line on a terminal while the run goes on. */
static void show_progress(struct bench_run *run, int published, double now)
{
    if (!isatty(STDERR_FILENO))
        return;
    fprintf(stderr, "\r[bench] published %d/%d  fulfilled %d/%d  %.1f s ", published,
            run->options->jobs, atomic_load(&run->fulfilled), run->options->jobs,
            now - run->started);
}

/* Waits for the workers to fulfil every job, or for the timeout. */
static void watch(struct bench_run *run)
{
    struct timespec pause = {0, 200 * 1000 * 1000};
    while (atomic_load(&run->fulfilled) < run->options->jobs) {
        double now = clock_now();
        if (now - run->started > run->options->timeout) {
            fprintf(stderr, "\nintent-bus bench: timed out after %.0f s\n", run->options->timeout);
            break;
        }
        int published = atomic_load(&run->next_job);
        show_progress(run, published < run->options->jobs ? published : run->options->jobs, now);
        nanosleep(&pause, NULL);
    }
    atomic_store(&run->stop, true);
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\n");
}

static int start_threads(pthread_t *threads, int count, void *(*main_function)(void *),
                         struct bench_run *run)
{
    for (int i = 0; i < count; i++) {
        if (pthread_create(&threads[i], NULL, main_function, run) != 0)
            return i;
    }
    return count;
}

static int run_jobs(const struct bench_options *options, const char *url, const char *api_key)
{
    struct bench_run run = {.options = options, .url = url, .api_key = api_key};
    char suffix[17];
    token_random_hex(suffix, 8);
    snprintf(run.namespace_, sizeof run.namespace_, "bench-%s", suffix);
    pthread_mutex_init(&run.lock, NULL);
    pthread_t *threads = calloc((size_t)(options->workers + options->publishers), sizeof *threads);
    if (threads == NULL)
        return 2;
    run.started = clock_now();
    int workers = start_threads(threads, options->workers, worker_main, &run);
    int publishers = start_threads(threads + workers, options->publishers, publisher_main, &run);
    watch(&run);
    for (int i = 0; i < workers + publishers; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    struct bench_summary summary = {
        .profile = options->profile, .url = url, .workers = options->workers,
        .publishers = options->publishers, .jobs = options->jobs,
        .fulfilled = atomic_load(&run.fulfilled), .long_poll = options->long_poll,
        .seconds = run.results.last_fulfil > 0 ? run.results.last_fulfil - run.started : 0};
    bench_report_print(&summary, &run.results, options->json);
    bench_results_free(&run.results);
    pthread_mutex_destroy(&run.lock);
    return summary.fulfilled == options->jobs ? 0 : 1;
}

/* ---- the bench's own ceiling: GET /health as fast as it goes ------------- */

struct health_run {
    const char *url;
    double until;
    pthread_mutex_t lock;
    struct latency samples;
    long failures;
};

static void *health_main(void *arg)
{
    struct health_run *run = arg;
    struct bench_conn conn;
    struct latency mine = {0};
    long failures = 0;
    double seconds = 0;
    if (bench_conn_open(&conn, run->url, "-") != 0)
        return NULL;
    while (clock_now() < run->until) {
        if (bench_conn_request(&conn, "GET", "/health", NULL, &seconds) == 200)
            latency_add(&mine, seconds);
        else
            failures++;
    }
    bench_conn_close(&conn);
    pthread_mutex_lock(&run->lock);
    latency_merge(&run->samples, &mine);
    run->failures += failures;
    pthread_mutex_unlock(&run->lock);
    return NULL;
}

static int run_health(const struct bench_options *options, const char *url)
{
    struct health_run run = {.url = url, .until = clock_now() + options->health_seconds};
    pthread_mutex_init(&run.lock, NULL);
    pthread_t *threads = calloc((size_t)options->workers, sizeof *threads);
    if (threads == NULL)
        return 2;
    int started = start_threads(threads, options->workers, health_main, (struct bench_run *)&run);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    latency_sort(&run.samples);
    double rate = (double)run.samples.count / options->health_seconds;
    if (options->json)
        printf("{\"endpoint\":\"/health\",\"connections\":%d,\"requests_per_second\":%.1f,"
               "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"failures\":%ld}\n",
               options->workers, rate, 1000 * latency_percentile(&run.samples, 0.5),
               1000 * latency_percentile(&run.samples, 0.99), run.failures);
    else
        printf("GET /health: %d connections, %.0f requests/s, p50 %.3f ms, p99 %.3f ms, "
               "%ld failures (%s)\n",
               options->workers, rate, 1000 * latency_percentile(&run.samples, 0.5),
               1000 * latency_percentile(&run.samples, 0.99), run.failures, url);
    latency_free(&run.samples);
    pthread_mutex_destroy(&run.lock);
    return run.failures == 0 ? 0 : 1;
}

/* ---- options -------------------------------------------------------------- */

static void print_usage(void)
{
    fprintf(stderr,
            "usage: intent-bus bench [light|medium|heavy|extreme] [options]\n"
            "  --workers N       workers looping claim -> fulfil (profile's, or 10)\n"
            "  --jobs N          intents to publish and fulfil (profile's, or 1000)\n"
            "  --publishers N    publishing threads (default 4)\n"
            "  --long-poll       claim with wait= instead of polling (10 ms pause after a 204)\n"
            "  --url URL         a running bus (default: start one on a temporary database;\n"
            "                    then --server-env NAME=value is passed to it, e.g. BUS_SYNC=full)\n"
            "  --api-key KEY     key for --url (default $INTENT_API_KEY)\n"
            "  --health SECONDS  measure the bench's own ceiling: GET /health for SECONDS\n"
            "  --timeout SECONDS give up after this long (default 300)\n"
            "  --json            print the results as JSON\n");
}

static const struct profile *find_profile(const char *name)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    }
    return NULL;
}

static int positive(const char *text, int *out)
{
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (end == text || *end != '\0' || value < 1 || value > 1000000)
        return -1;
    *out = (int)value;
    return 0;
}

static int parse_flag(struct bench_options *options, int flag, const char *value)
{
    switch (flag) {
    case 'w': return positive(value, &options->workers);
    case 'j': return positive(value, &options->jobs);
    case 'p': return positive(value, &options->publishers);
    case 'H': return positive(value, &options->health_seconds);
    case 'u': options->url = value; return 0;
    case 'k': options->api_key = value; return 0;
    case 'e': options->server_env = value; return 0;
    case 'l': options->long_poll = true; return 0;
    case 'J': options->json = true; return 0;
    case 't': {
        int seconds = 0;
        int rc = positive(value, &seconds);
        options->timeout = seconds;
        return rc;
    }
    }
    return -1;
}

static int parse_options(struct bench_options *options, int argc, char **argv)
{
    static const struct option flags[] = {
        {"workers", required_argument, NULL, 'w'}, {"jobs", required_argument, NULL, 'j'},
        {"publishers", required_argument, NULL, 'p'}, {"health", required_argument, NULL, 'H'},
        {"url", required_argument, NULL, 'u'}, {"api-key", required_argument, NULL, 'k'},
        {"server-env", required_argument, NULL, 'e'}, {"long-poll", no_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'J'}, {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    *options = (struct bench_options){.profile = "custom", .workers = 10, .jobs = 1000,
                                      .publishers = 4, .timeout = 300,
                                      .api_key = getenv("INTENT_API_KEY")};
    if (argc > 1 && argv[1][0] != '-') {
        const struct profile *profile = find_profile(argv[1]);
        if (profile == NULL)
            return -1;
        *options = (struct bench_options){.profile = profile->name, .workers = profile->workers,
                                          .jobs = profile->jobs, .publishers = 4, .timeout = 300,
                                          .api_key = getenv("INTENT_API_KEY")};
        argv++;
        argc--;
    }
    optind = 1;
    int flag;
    while ((flag = getopt_long(argc, argv, "", flags, NULL)) != -1) {
        if (flag == 'h' || flag == '?' || parse_flag(options, flag, optarg) != 0)
            return -1;
    }
    return optind == argc ? 0 : -1;
}

int bench_main(int argc, char **argv)
{
    struct bench_options options;
    if (parse_options(&options, argc, argv) != 0) {
        print_usage();
        return 2;
    }
    if (options.url != NULL && options.api_key == NULL && options.health_seconds == 0) {
        fprintf(stderr, "intent-bus bench: --url needs --api-key or INTENT_API_KEY\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct bench_server server = {0};
    const char *url = options.url;
    const char *api_key = options.api_key;
    int rc = 1;
    if (url == NULL && bench_server_start(&server, options.server_env) == 0) {
        url = server.url;
        api_key = server.api_key;
    }
    if (url != NULL)
        rc = options.health_seconds > 0 ? run_health(&options, url)
                                         : run_jobs(&options, url, api_key);
    bench_server_stop(&server);
    curl_global_cleanup();
    return rc;
}
