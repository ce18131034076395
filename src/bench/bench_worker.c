/* Bench workers; see bench_worker.h. What is counted matches the bench's
 * report: a claim's latency only when the bus answered it at once (200,
 * or a polling 204), since a long-poll 204 measures the wait. */
#include "bench/bench_worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_json.h"
#include "util/clock.h"

void bench_worker_claim(struct bench_agent *agent)
{
    struct bench_run *run = agent->run;
    if (atomic_load(&run->stop) || atomic_load(&run->fulfilled) >= run->jobs)
        return;
    const char *url = agent->claim_url_set ? NULL : agent->url;
    agent->claim_url_set = bench_agent_send(agent, BENCH_CLAIM, url, "", 0) == 0;
    if (!agent->claim_url_set)
        bench_loop_pause(agent->loop, agent);
}

/* Writes the fulfil's URL and body for the job the claim response body
 * holds. Returns the body's length, or -1 when the response lacks an id or
 * token or they do not fit. */
static int prepare_fulfil(struct bench_agent *agent, const char *response)
{
    const char *id = NULL;
    const char *token = NULL;
    int id_length = bench_json_string(bench_json_member(response, "id"), &id);
    int token_length = bench_json_string(bench_json_member(response, "claim_token"), &token);
    if (id_length < 0 || token_length < 0)
        return -1;
    const char *payload = bench_json_member(response, "payload");
    agent->published_at = bench_json_number(bench_json_member(payload, "t"));
    int url_length = snprintf(agent->fulfil_url, sizeof agent->fulfil_url, "%s/fulfill/%.*s",
                              agent->base_url, id_length, id);
    int body_length = snprintf(agent->body, sizeof agent->body, "{\"claim_token\":\"%.*s\"}",
                               token_length, token);
    if (url_length < 0 || (size_t)url_length >= sizeof agent->fulfil_url || body_length < 0 ||
        (size_t)body_length >= sizeof agent->body)
        return -1;
    return body_length;
}

/* Where the next job of a batch claim's answer starts ({"id":...), after
 * `after`; NULL when there is none. The bench's payloads hold no "id". */
static const char *next_claimed(const char *after)
{
    return after ? strstr(after, "{\"id\":\"") : NULL;
}

/* Sends the fulfil of the job at job (a claim's answer, or one job of a
 * batch claim's); returns true when it went out. */
static bool fulfil_job(struct bench_agent *agent, const char *job)
{
    int length = prepare_fulfil(agent, job);
    if (length < 0)
        return false;
    agent->claim_url_set = false;
    size_t body_length = (size_t)length;
    return bench_agent_send(agent, BENCH_FULFIL, agent->fulfil_url, agent->body, body_length) == 0;
}

/* A batch claim's answer: keeps it and fulfils its jobs one by one. */
static bool fulfil_batch(struct bench_agent *agent)
{
    free(agent->claimed);
    agent->claimed = strdup(agent->conn.body ? agent->conn.body : "");
    agent->next_job = next_claimed(agent->claimed);
    return agent->next_job != NULL && fulfil_job(agent, agent->next_job);
}

static bool fulfil(struct bench_agent *agent)
{
    if (agent->run->batch > 1)
        return fulfil_batch(agent);
    return fulfil_job(agent, agent->conn.body);
}

void bench_worker_claimed(struct bench_agent *agent, long status, double seconds)
{
    struct bench_results *results = agent->results;
    bench_results_record_status(results, status);
    if (status == 200) {
        latency_add(&results->claim, seconds);
        if (!fulfil(agent))
            bench_worker_claim(agent);
    } else if (status == 204) {
        results->empty_claims++;
        if (agent->run->long_poll) {
            bench_worker_claim(agent);
        } else {
            latency_add(&results->claim, seconds);
            bench_loop_pause(agent->loop, agent);
        }
    } else {
        bench_loop_pause(agent->loop, agent);
    }
}

void bench_worker_fulfilled(struct bench_agent *agent, long status, double seconds)
{
    struct bench_results *results = agent->results;
    bench_results_record_status(results, status);
    latency_add(&results->fulfil, seconds);
    if (status == 200) {
        double now = clock_now();
        latency_add(&results->end_to_end, now - agent->published_at);
        atomic_fetch_add(&agent->run->fulfilled, 1);
        results->last_fulfil = now;
    }
    if (agent->next_job != NULL) {
        agent->next_job = next_claimed(agent->next_job + 1);
        if (agent->next_job != NULL && fulfil_job(agent, agent->next_job))
            return;
        agent->next_job = NULL;
    }
    bench_worker_claim(agent);
}
