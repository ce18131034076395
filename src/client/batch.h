/* What the batch calls (batch.c, batch_fulfill.c) share with the single
 * publish, claim and fulfil, so a batch item is built and read exactly as
 * a single one is. */
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

/* The POST /fulfill/<id> body (claim_token, result, result_type) as an
 * object (*out: the caller's, NULL on error). */
enum ib_err fulfill_object(struct ib_client *client, const char *id, const char *claim_token,
                           const char *result, const char *result_type, json_t **out);

/* A batch reply item's "error": *err, code and message from it. */
enum ib_err batch_item_error(struct ib_client *client, const json_t *item, enum ib_err *err,
                             char code[48], char message[160]);

/* POSTs a batch's body (owned: freed here) to path; *reply is the JSON
 * answer (the caller's) on IB_OK. */
enum ib_err batch_post(struct ib_client *client, const char *path, char *body, json_t **reply);

/* The "results" list of a batch reply, checked to hold count items. */
enum ib_err batch_results(struct ib_client *client, const json_t *reply, size_t count,
                          const json_t **list);

#endif
