/* The simulated clients of a bench run, as state machines that an event
 * loop (bench_loop.h) drives: a publisher posts intents one after another,
 * a worker loops claim -> fulfil, a health probe loops GET /health. Each
 * owns one easy handle, reused request after request; what it measures
 * goes into its loop's results, so measuring takes no lock. */
#ifndef BENCH_BENCH_AGENT_H
#define BENCH_BENCH_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>

#include "bench/bench_http.h"
#include "bench/bench_loop.h"
#include "bench/bench_report.h"

#define BENCH_EMPTY_CLAIM_PAUSE 0.010 /* polling workers: seconds after a 204 */
#define BENCH_LONG_POLL_WAIT "2"      /* seconds a --long-poll claim may wait */
#define BENCH_URL_MAX 512

/* What every client of a run shares, across loop threads. */
struct bench_run {
    int jobs;
    bool long_poll;
    int batch; /* > 1: POST /intents with that many, POST /claim?max= that many, and
                * one POST /fulfill for the jobs of each claim */
    const char *sign_key; /* sign every request with it; NULL = do not */
    double health_until; /* health probes stop at this clock_now() */
    char namespace_[40];
    atomic_int next_job;
    atomic_int fulfilled;
    atomic_bool stop;
};

enum bench_role { BENCH_PUBLISHER, BENCH_WORKER, BENCH_HEALTH };

/* The request in flight, which decides what its answer means. */
enum bench_step { BENCH_PUBLISH, BENCH_CLAIM, BENCH_FULFIL, BENCH_PROBE };

struct bench_agent {
    enum bench_role role;
    enum bench_step step;
    struct bench_conn conn;
    struct bench_run *run;
    struct bench_loop *loop;
    struct bench_results *results; /* the loop's */
    const char *base_url;
    bool claim_url_set;      /* workers: the handle holds url, not fulfil_url */
    double published_at;     /* of the job being fulfilled */
    char url[BENCH_URL_MAX]; /* the role's: /intent, /claim?..., /health */
    char fulfil_url[BENCH_URL_MAX];
    char body[256]; /* the request in flight's: libcurl does not copy it */
    char *batch_body;  /* owned: a batch publish's or fulfil's body, instead of body */
    double *published_ats; /* owned, workers: publish times of the batch being fulfilled */
    int batch_jobs;        /* how many of them */
};

/* Opens agent's handle on base_url. Returns 0, or -1 after printing why. */
int bench_agent_open(struct bench_agent *agent, enum bench_role role, struct bench_run *run,
                     const char *base_url, struct curl_slist *headers, struct bench_loop *loop,
                     struct bench_results *results);

/* Takes agent out of its loop (if a failed loop left it in flight) and
 * closes its handle. */
void bench_agent_close(struct bench_agent *agent);

/* Sends agent's first request; from the loop's thread. */
void bench_agent_start(struct bench_agent *agent);

/* Sends agent's next request: step says what it is, url and body are as
 * for bench_conn_prepare. Returns 0, or -1
 * after counting a transport failure when it could not be sent. */
int bench_agent_send(struct bench_agent *agent, enum bench_step step, const char *url,
                     const char *body, size_t length);

/* The loop's callbacks (bench_done_fn, bench_wake_fn); owner is an agent. */
void bench_agent_done(void *owner, long status, double seconds);
void bench_agent_wake(void *owner);

#endif
