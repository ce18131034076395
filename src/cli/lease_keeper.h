/* Keeping a claimed job's lease alive while its command runs: a thread per
 * job calls ib_extend() half a lease after the claim, asking for
 * claim_timeout seconds (at least the protocol's 10), then again half of
 * that later, until stopped. A 404 means the lease is lost for good: the
 * keeper records it and stops; it never retries it. */
#ifndef CLI_LEASE_KEEPER_H
#define CLI_LEASE_KEEPER_H

#include <pthread.h>
#include <stdbool.h>

#include <intentbus.h>

struct lease_keeper {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* on CLOCK_MONOTONIC */
    bool stop;
    bool lease_lost;
    unsigned extensions;
    struct ib_client *client;
    const struct ib_job *job;
    double claimed_at; /* clock_monotonic() when the claim was answered */
};

/* Starts extending job's lease with client, which the keeper alone uses
 * until lease_keeper_stop(). Returns 0 or an errno value (no thread). */
int lease_keeper_start(struct lease_keeper *keeper, struct ib_client *client,
                       const struct ib_job *job, double claimed_at);

/* Stops the thread (waiting for an extension under way) and returns
 * whether the lease was lost meanwhile. */
bool lease_keeper_stop(struct lease_keeper *keeper);

#endif
