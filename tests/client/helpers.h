/* Shared by the client tests: the bus run_with_server.sh started (its URL
 * and keys come in the environment), unique names so tests never see each
 * other's intents, and reading fields back out of JSON texts. Include after
 * <cmocka.h>. */
#ifndef TESTS_CLIENT_HELPERS_H
#define TESTS_CLIENT_HELPERS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "intentbus.h"

/* The value of an environment variable the wrapper sets; fails the test
 * when it is missing. */
const char *helper_env(const char *name);

/* A client of the test bus: key NULL means $INTENT_API_KEY, "" no key;
 * admin_token NULL sends none. Fails the test when creation fails. */
struct ib_client *helper_client(const char *key, const char *admin_token, bool sign);

/* "<prefix>-<pid>-<counter>": valid as a namespace, goal or KV key. */
void helper_unique(char *out, size_t size, const char *prefix);

/* Publishes {"goal":goal,"payload":{"n":1}} in namespace_ and writes the id. */
void helper_publish(struct ib_client *client, const char *namespace_, const char *goal,
                    char id[IB_ID_MAX + 1]);

/* Claims from namespace_, asserting IB_OK; the caller frees the job. */
struct ib_job *helper_claim(struct ib_client *client, const char *namespace_);

/* Parses text as JSON, failing the test if it is not; json_decref() it. */
json_t *helper_json(const char *text);

/* True when the JSON texts a and b hold equal values. */
bool helper_json_equal(const char *a, const char *b);

/* Asserts err == expected, printing both and the last error when not. */
#define assert_ib(client, err, expected)                                                           \
    helper_assert_ib((client), (err), (expected), __FILE__, __LINE__)
void helper_assert_ib(const struct ib_client *client, enum ib_err err, enum ib_err expected,
                      const char *file, int line);

/* Unix time now, with fractions. */
double helper_now(void);

#endif
