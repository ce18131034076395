/* The bench's simulated worker: claim -> (200) fulfil -> claim; after a
 * 204 it claims again at once with --long-poll, else after a 10 ms pause.
 * A state machine on struct bench_agent (bench_agent.h). */
#ifndef BENCH_BENCH_WORKER_H
#define BENCH_BENCH_WORKER_H

#include "bench/bench_agent.h"

/* Claims the next job, or stops when every job is fulfilled or the run is
 * stopped. */
void bench_worker_claim(struct bench_agent *agent);

/* The answers to the claim and to the fulfil in flight. */
void bench_worker_claimed(struct bench_agent *agent, long status, double seconds);
void bench_worker_fulfilled(struct bench_agent *agent, long status, double seconds);

#endif
