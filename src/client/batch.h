/* What the batch calls (batch.c) share with the single publish and claim,
 * so a batch item is built and read exactly as a single one is. */
#ifndef CLIENT_BATCH_H
#define CLIENT_BATCH_H

#include <jansson.h>

#include "intentbus.h"

/* The POST /intent body of intent as an object (*out: the caller's). */
enum ib_err publish_object(struct ib_client *client, const struct ib_publish *intent, json_t **out);

/* A job from one claim reply object. */
enum ib_err claim_read_job(struct ib_client *client, const json_t *reply, struct ib_job **out);

/* The /claim request-target with claim's parameters and ?max= (0: none);
 * malloc'd, NULL when out of memory. */
char *claim_target(const struct ib_claim *claim, unsigned max);

#endif
