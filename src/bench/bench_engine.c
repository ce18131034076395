/* The bench's load engine; see bench_engine.h. Each loop thread owns its
 * multi handle, its clients and its results: the threads share only the
 * run's atomic counters and the read-only header list. */
#include "bench/bench_engine.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench_loop_task {
    struct bench_engine *engine;
    int index;
};

static enum bench_role role_of(const struct bench_cast *cast, int agent)
{
    if (agent < cast->workers)
        return BENCH_WORKER;
    return agent < cast->workers + cast->publishers ? BENCH_PUBLISHER : BENCH_HEALTH;
}

/* Clients are dealt to loops round-robin: agent i runs on loop i % loops. */
static void *loop_main(void *arg)
{
    struct bench_loop_task *task = arg;
    struct bench_engine *engine = task->engine;
    for (int i = task->index; i < engine->agent_count; i += engine->loop_count)
        bench_agent_start(&engine->agents[i]);
    bench_loop_run(&engine->loops[task->index]);
    atomic_fetch_sub(&engine->loops_running, 1);
    return NULL;
}

static int allocate(struct bench_engine *engine, const char *api_key)
{
    size_t loops = (size_t)engine->loop_count;
    engine->headers = bench_headers_new(api_key);
    engine->loops = calloc(loops, sizeof *engine->loops);
    engine->results = calloc(loops, sizeof *engine->results);
    engine->threads = calloc(loops, sizeof *engine->threads);
    engine->tasks = calloc(loops, sizeof *engine->tasks);
    engine->agents = calloc((size_t)engine->agent_count, sizeof *engine->agents);
    if (engine->headers != NULL && engine->loops != NULL && engine->results != NULL &&
        engine->threads != NULL && engine->tasks != NULL && engine->agents != NULL)
        return 0;
    fprintf(stderr, "intent-bus bench: out of memory\n");
    return -1;
}

static int open_loops(struct bench_engine *engine)
{
    int per_loop = (engine->agent_count + engine->loop_count - 1) / engine->loop_count;
    for (; engine->loops_ready < engine->loop_count; engine->loops_ready++) {
        if (bench_loop_init(&engine->loops[engine->loops_ready], per_loop, BENCH_EMPTY_CLAIM_PAUSE,
                            bench_agent_done, bench_agent_wake) != 0)
            return -1;
    }
    return 0;
}

/* Agent's place among the clients of its role: workers come first, then
 * publishers, then health probes. */
static int index_in_role(const struct bench_cast *cast, int agent)
{
    switch (role_of(cast, agent)) {
    case BENCH_WORKER:
        return agent;
    case BENCH_PUBLISHER:
        return agent - cast->workers;
    case BENCH_HEALTH:
        break;
    }
    return agent - cast->workers - cast->publishers;
}

/* Each role is dealt to the nodes round-robin on its own, so every node
 * gets its share of publishers and of workers alike. */
static int open_agents(struct bench_engine *engine, const struct bench_cast *cast,
                       struct bench_run *run, const struct bench_targets *targets)
{
    for (; engine->agents_ready < engine->agent_count; engine->agents_ready++) {
        int i = engine->agents_ready;
        int loop = i % engine->loop_count;
        const char *url = targets->urls[index_in_role(cast, i) % targets->count];
        if (bench_agent_open(&engine->agents[i], role_of(cast, i), run, url, engine->headers,
                             &engine->loops[loop], &engine->results[loop]) != 0)
            return -1;
    }
    return 0;
}

static int start_threads(struct bench_engine *engine)
{
    for (; engine->threads_started < engine->loop_count; engine->threads_started++) {
        int i = engine->threads_started;
        engine->tasks[i] = (struct bench_loop_task){engine, i};
        atomic_fetch_add(&engine->loops_running, 1);
        if (pthread_create(&engine->threads[i], NULL, loop_main, &engine->tasks[i]) != 0) {
            atomic_fetch_sub(&engine->loops_running, 1);
            fprintf(stderr, "intent-bus bench: cannot start a loop thread\n");
            return -1;
        }
    }
    return 0;
}

int bench_engine_start(struct bench_engine *engine, const struct bench_cast *cast,
                       struct bench_run *run, const struct bench_targets *targets)
{
    assert(targets->count > 0);
    memset(engine, 0, sizeof *engine);
    atomic_init(&engine->loops_running, 0);
    engine->agent_count = cast->publishers + cast->workers + cast->probes;
    engine->loop_count = cast->loops < engine->agent_count ? cast->loops : engine->agent_count;
    if (engine->loop_count < 1)
        engine->loop_count = 1;
    if (allocate(engine, targets->api_key) != 0 || open_loops(engine) != 0 ||
        open_agents(engine, cast, run, targets) != 0)
        return -1;
    return start_threads(engine);
}

bool bench_engine_running(struct bench_engine *engine)
{
    return atomic_load(&engine->loops_running) > 0;
}

int bench_engine_finish(struct bench_engine *engine, struct bench_results *total)
{
    bool failed = false;
    for (int i = 0; i < engine->threads_started; i++)
        pthread_join(engine->threads[i], NULL);
    /* Handles leave their multi handle before either is cleaned up. */
    for (int i = 0; i < engine->agents_ready; i++)
        bench_agent_close(&engine->agents[i]);
    for (int i = 0; i < engine->loops_ready; i++) {
        failed = failed || engine->loops[i].failed;
        bench_loop_free(&engine->loops[i]);
    }
    for (int i = 0; engine->results != NULL && i < engine->loop_count; i++) {
        bench_results_merge(total, &engine->results[i]);
        bench_results_free(&engine->results[i]);
    }
    curl_slist_free_all(engine->headers);
    free(engine->agents);
    free(engine->tasks);
    free(engine->threads);
    free(engine->results);
    free(engine->loops);
    memset(engine, 0, sizeof *engine);
    return failed ? -1 : 0;
}
