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

/* Sends the fulfil of the job a single claim answered; returns true when
 * it went out. */
static bool fulfil_job(struct bench_agent *agent, const char *job)
{
    int length = prepare_fulfil(agent, job);
    if (length < 0)
        return false;
    agent->claim_url_set = false;
    size_t body_length = (size_t)length;
    return bench_agent_send(agent, BENCH_FULFIL, agent->fulfil_url, agent->body, body_length) == 0;
}

#define BATCH_FULFIL_ITEM_MAX 96 /* bytes of {"id":"<32>","claim_token":"<32>"}, */

/* Writes the POST /fulfill body for every job of a batch claim's answer
 * into batch_body, and their publish times into published_ats. Returns
 * its length, or -1 when a job lacks an id or token or it cannot be made. */
static int batch_fulfil_body(struct bench_agent *agent, const char *answer)
{
    int batch = agent->run->batch;
    if (agent->batch_body == NULL &&
        (agent->batch_body = malloc((size_t)batch * BATCH_FULFIL_ITEM_MAX + 32)) == NULL)
        return -1;
    if (agent->published_ats == NULL &&
        (agent->published_ats = calloc((size_t)batch, sizeof *agent->published_ats)) == NULL)
        return -1;
    char *at = agent->batch_body + sprintf(agent->batch_body, "{\"items\":[");
    agent->batch_jobs = 0;
    for (const char *job = next_claimed(answer); job != NULL && agent->batch_jobs < batch;
         job = next_claimed(job + 1)) {
        const char *id = NULL;
        const char *token = NULL;
        int id_length = bench_json_string(bench_json_member(job, "id"), &id);
        int token_length = bench_json_string(bench_json_member(job, "claim_token"), &token);
        const char *payload = bench_json_member(job, "payload");
        int length = snprintf(at, BATCH_FULFIL_ITEM_MAX, "%s{\"id\":\"%.*s\",\"claim_token\":\"%.*s\"}",
                              agent->batch_jobs > 0 ? "," : "", id_length, id, token_length, token);
        if (id_length < 0 || token_length < 0 || length < 0 || length >= BATCH_FULFIL_ITEM_MAX)
            return -1;
        at += length;
        agent->published_ats[agent->batch_jobs++] = bench_json_number(bench_json_member(payload, "t"));
    }
    at += sprintf(at, "]}");
    return agent->batch_jobs > 0 ? (int)(at - agent->batch_body) : -1;
}

/* A batch claim's answer: all its jobs fulfilled in one POST /fulfill. */
static bool fulfil_batch(struct bench_agent *agent)
{
    int length = batch_fulfil_body(agent, agent->conn.body);
    int url_length = snprintf(agent->fulfil_url, sizeof agent->fulfil_url, "%s/fulfill",
                              agent->base_url);
    if (length < 0 || url_length < 0 || (size_t)url_length >= sizeof agent->fulfil_url)
        return false;
    agent->claim_url_set = false;
    return bench_agent_send(agent, BENCH_FULFIL, agent->fulfil_url, agent->batch_body,
                            (size_t)length) == 0;
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

/* A batch fulfil's answer: its "fulfilled" count; each job's end-to-end
 * time only when all of them were (the bench's jobs never fail on their
 * own, so the count is all or, after a lost lease, fewer). */
static void batch_fulfilled(struct bench_agent *agent, long status)
{
    int done = (int)bench_json_number(bench_json_member(agent->conn.body, "fulfilled"));
    double now = clock_now();
    for (int i = 0; done == agent->batch_jobs && i < done; i++)
        latency_add(&agent->results->end_to_end, now - agent->published_ats[i]);
    if (status == 200 && done > 0) {
        atomic_fetch_add(&agent->run->fulfilled, done);
        agent->results->last_fulfil = now;
    }
}

void bench_worker_fulfilled(struct bench_agent *agent, long status, double seconds)
{
    struct bench_results *results = agent->results;
    bench_results_record_status(results, status);
    latency_add(&results->fulfil, seconds);
    if (agent->run->batch > 1 && status == 200) {
        batch_fulfilled(agent, status);
    } else if (status == 200) {
        double now = clock_now();
        latency_add(&results->end_to_end, now - agent->published_at);
        atomic_fetch_add(&agent->run->fulfilled, 1);
        results->last_fulfil = now;
    }
    bench_worker_claim(agent);
}
