/* Bench clients; see bench_agent.h. Publishers and health probes live here,
 * workers in bench_worker.c. A request that cannot even be sent counts as
 * a transport failure, as one lost on the wire would. */
#include "bench/bench_agent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_json.h"
#include "bench/bench_worker.h"
#include "util/clock.h"

static int role_url(struct bench_agent *agent, const char *base_url)
{
    int length = 0;
    bool batch = agent->run->batch > 1;
    char max[16] = "";
    if (batch)
        snprintf(max, sizeof max, "&max=%d", agent->run->batch);
    if (agent->role == BENCH_PUBLISHER)
        length = snprintf(agent->url, sizeof agent->url, "%s/intent%s", base_url, batch ? "s" : "");
    else if (agent->role == BENCH_HEALTH)
        length = snprintf(agent->url, sizeof agent->url, "%s/health", base_url);
    else
        length = snprintf(agent->url, sizeof agent->url, "%s/claim?goal=bench%s&namespace=%s%s",
                          base_url, max, agent->run->namespace_,
                          agent->run->long_poll ? "&wait=" BENCH_LONG_POLL_WAIT : "");
    return length > 0 && (size_t)length < sizeof agent->url ? 0 : -1;
}

int bench_agent_open(struct bench_agent *agent, enum bench_role role, struct bench_run *run,
                     const char *base_url, struct curl_slist *headers, struct bench_loop *loop,
                     struct bench_results *results)
{
    memset(agent, 0, sizeof *agent);
    agent->role = role;
    agent->run = run;
    agent->loop = loop;
    agent->results = results;
    agent->base_url = base_url;
    agent->claim_url_set = role == BENCH_WORKER;
    if (role_url(agent, base_url) != 0) {
        fprintf(stderr, "intent-bus bench: the URL is too long\n");
        return -1;
    }
    bool post = role != BENCH_HEALTH;
    if (bench_conn_open(&agent->conn, agent, headers, agent->url, post,
                        post ? run->sign_key : NULL) != 0) {
        fprintf(stderr, "intent-bus bench: libcurl cannot make a handle\n");
        return -1;
    }
    return 0;
}

void bench_agent_close(struct bench_agent *agent)
{
    if (agent->loop != NULL)
        bench_loop_forget(agent->loop, &agent->conn);
    bench_conn_close(&agent->conn);
    free(agent->batch_body);
    free(agent->published_ats);
    agent->batch_body = NULL;
    agent->published_ats = NULL;
}

int bench_agent_send(struct bench_agent *agent, enum bench_step step, const char *url,
                     const char *body, size_t length)
{
    agent->step = step;
    if (bench_conn_prepare(&agent->conn, url, body, length) != 0 ||
        bench_loop_send(agent->loop, &agent->conn) != 0) {
        bench_results_record_status(agent->results, -1);
        return -1;
    }
    return 0;
}

#define BATCH_ITEM_MAX 128 /* bytes of one intent in a batch body */

/* Writes the body of a batch publish of jobs first..first+count-1;
 * returns its length, or -1 when it cannot be made. */
static int batch_body(struct bench_agent *agent, int first, int count)
{
    size_t size = (size_t)agent->run->batch * BATCH_ITEM_MAX + 32;
    if (agent->batch_body == NULL && (agent->batch_body = malloc(size)) == NULL)
        return -1;
    char *at = agent->batch_body;
    at += sprintf(at, "{\"intents\":[");
    for (int i = 0; i < count; i++) {
        int length = snprintf(at, BATCH_ITEM_MAX,
                              "%s{\"goal\":\"bench\",\"namespace\":\"%s\","
                              "\"payload\":{\"job\":%d,\"t\":%.6f}}",
                              i > 0 ? "," : "", agent->run->namespace_, first + i, clock_now());
        if (length < 0 || length >= BATCH_ITEM_MAX)
            return -1;
        at += length;
    }
    at += sprintf(at, "]}");
    return (int)(at - agent->batch_body);
}

/* A batch publisher's next request: up to run->batch of the jobs left. */
static void publish_batch_next(struct bench_agent *agent)
{
    struct bench_run *run = agent->run;
    int first;
    while (!atomic_load(&run->stop) &&
           (first = atomic_fetch_add(&run->next_job, run->batch)) < run->jobs) {
        int count = run->jobs - first < run->batch ? run->jobs - first : run->batch;
        int length = batch_body(agent, first, count);
        if (length < 0)
            bench_results_record_status(agent->results, -1);
        else if (bench_agent_send(agent, BENCH_PUBLISH, NULL, agent->batch_body,
                                  (size_t)length) == 0)
            return;
    }
}

/* Posts the next job, if any is left; the URL never changes. */
static void publish_next(struct bench_agent *agent)
{
    struct bench_run *run = agent->run;
    if (run->batch > 1) {
        publish_batch_next(agent);
        return;
    }
    int job;
    while (!atomic_load(&run->stop) && (job = atomic_fetch_add(&run->next_job, 1)) < run->jobs) {
        int length = snprintf(
            agent->body, sizeof agent->body,
            "{\"goal\":\"bench\",\"namespace\":\"%s\",\"payload\":{\"job\":%d,\"t\":%.6f}}",
            run->namespace_, job, clock_now());
        if (length < 0 || (size_t)length >= sizeof agent->body)
            bench_results_record_status(agent->results, -1);
        else if (bench_agent_send(agent, BENCH_PUBLISH, NULL, agent->body, (size_t)length) == 0)
            return;
    }
}

static void published(struct bench_agent *agent, long status, double seconds)
{
    bench_results_record_status(agent->results, status);
    latency_add(&agent->results->publish, seconds);
    if (agent->run->batch > 1 && status == 200)
        agent->results->published +=
            (long)bench_json_number(bench_json_member(agent->conn.body, "published"));
    else
        agent->results->published += status == 201;
    publish_next(agent);
}

/* Probes until health_until; a probe that cannot be sent waits a pause
 * rather than spin. */
static void probe_next(struct bench_agent *agent)
{
    if (clock_now() >= agent->run->health_until)
        return;
    if (bench_agent_send(agent, BENCH_PROBE, NULL, NULL, 0) != 0)
        bench_loop_pause(agent->loop, agent);
}

static void probed(struct bench_agent *agent, long status, double seconds)
{
    bench_results_record_status(agent->results, status);
    if (status == 200)
        latency_add(&agent->results->health, seconds);
    probe_next(agent);
}

void bench_agent_start(struct bench_agent *agent)
{
    bench_agent_wake(agent);
}

void bench_agent_wake(void *owner)
{
    struct bench_agent *agent = owner;
    if (agent->role == BENCH_PUBLISHER)
        publish_next(agent);
    else if (agent->role == BENCH_HEALTH)
        probe_next(agent);
    else
        bench_worker_claim(agent);
}

void bench_agent_done(void *owner, long status, double seconds)
{
    struct bench_agent *agent = owner;
    switch (agent->step) {
    case BENCH_PUBLISH:
        published(agent, status, seconds);
        break;
    case BENCH_PROBE:
        probed(agent, status, seconds);
        break;
    case BENCH_CLAIM:
        bench_worker_claimed(agent, status, seconds);
        break;
    case BENCH_FULFIL:
        bench_worker_fulfilled(agent, status, seconds);
        break;
    }
}
