/* The workers the bus has seen (issue 19's Workers page): each worker id
 * per API key, the capabilities it last claimed with, when it last asked
 * and last got a job. Kept in memory, at most WORKERS_MAX (the longest
 * silent is forgotten first); a restart forgets them all. */
#ifndef BUS_WORKERS_H
#define BUS_WORKERS_H

#include <pthread.h>
#include <stdbool.h>

#include "core/intent.h"

#define WORKERS_MAX 500
#define WORKER_CAPABILITIES_MAX 512 /* bytes of the capabilities JSON kept */

struct worker_seen {
    char worker_id[WORKER_NAME_MAX_BYTES + 1]; /* "" = claims without a worker id */
    char principal[PRINCIPAL_LEN + 1];
    char namespace_[NAMESPACE_MAX + 1]; /* of its last claim */
    char capabilities_json[WORKER_CAPABILITIES_MAX + 1];
    double first_seen;
    double last_seen;  /* its last claim, answered or not */
    double last_claim; /* its last claim that got a job; 0 = none */
    unsigned long claims;
    unsigned long empty_claims;
};

struct workers {
    pthread_mutex_t lock;
    int count;
    struct worker_seen seen[WORKERS_MAX];
};

/* NULL when out of memory (then nothing is kept). */
struct workers *workers_new(void);
void workers_free(struct workers *workers);

/* A claim by principal's worker_id at now, which got a job or not.
 * workers may be NULL. */
void workers_saw_claim(struct workers *workers, const struct claim_request *request, bool got);

/* Copies the workers seen since `since` into out (malloc'd, *count of
 * them), most recently seen first; false when out of memory. */
bool workers_since(struct workers *workers, double since, struct worker_seen **out, int *count);

#endif
