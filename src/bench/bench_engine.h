/* The bench's load engine: a few event-loop threads (bench_loop.h), each
 * driving its share of the simulated clients (bench_agent.h), dealt out
 * round-robin. The caller watches the run meanwhile and collects the
 * merged results at the end. */
#ifndef BENCH_BENCH_ENGINE_H
#define BENCH_BENCH_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <curl/curl.h>

#include "bench/bench_agent.h"
#include "bench/bench_loop.h"
#include "bench/bench_report.h"

/* How many clients of each role, on how many loops. */
struct bench_cast {
    int publishers;
    int workers;
    int probes; /* health probes */
    int loops;
};

/* Where the clients go: count base URLs (nodes of one bus) and the key. */
struct bench_targets {
    const char *const *urls;
    int count;
    const char *api_key;
};

struct bench_loop_task;

struct bench_engine {
    int loop_count;
    int loops_ready; /* initialised, to be freed */
    struct bench_loop *loops;
    struct bench_results *results; /* one per loop */
    struct bench_loop_task *tasks; /* each thread's argument */
    pthread_t *threads;
    int threads_started;
    atomic_int loops_running; /* threads whose loop still has work */
    int agent_count;
    int agents_ready; /* opened, to be closed */
    struct bench_agent *agents;
    struct curl_slist *headers;
};

/* Opens every client with the targets' key, the clients of each role
 * spread round-robin over the targets' URLs, and starts the loop threads
 * (fewer loops than asked when there are fewer clients). The URLs must
 * outlive the engine. Returns 0, or -1 after printing why; either way call
 * bench_engine_finish. */
int bench_engine_start(struct bench_engine *engine, const struct bench_cast *cast,
                       struct bench_run *run, const struct bench_targets *targets);

/* Whether a loop thread still has work: false once every client stopped. */
bool bench_engine_running(struct bench_engine *engine);

/* Waits for every loop to run out of work, moves their results into total
 * and frees the engine. Returns 0, or -1 when a loop failed. */
int bench_engine_finish(struct bench_engine *engine, struct bench_results *total);

#endif
