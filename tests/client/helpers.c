/* Test helpers; see helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

const char *helper_env(const char *name)
{
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0')
        fail_msg("%s is not set: run this test through tests/client/run_with_server.sh", name);
    return value;
}

struct ib_client *helper_client(const char *key, const char *admin_token, bool sign)
{
    struct ib_options options;
    ib_options_init(&options);
    options.base_url = helper_env("INTENT_BUS_URL");
    options.api_key = key == NULL ? helper_env("INTENT_API_KEY") : key[0] ? key : NULL;
    options.admin_token = admin_token;
    options.sign = sign;
    options.timeout_ms = 20000;
    struct ib_client *client = ib_client_new(&options);
    assert_non_null(client);
    return client;
}

void helper_unique(char *out, size_t size, const char *prefix)
{
    static unsigned counter;
    snprintf(out, size, "%s-%ld-%u", prefix, (long)getpid(), ++counter);
}

void helper_publish(struct ib_client *client, const char *namespace_, const char *goal,
                    char id[IB_ID_MAX + 1])
{
    struct ib_publish intent = {.goal = goal, .payload = "{\"n\":1}", .namespace_ = namespace_};
    assert_ib(client, ib_publish(client, &intent, id), IB_OK);
    assert_int_equal(strlen(id), 32);
}

struct ib_job *helper_claim(struct ib_client *client, const char *namespace_)
{
    struct ib_claim claim = {.namespace_ = namespace_};
    struct ib_job *job = NULL;
    assert_ib(client, ib_claim(client, &claim, &job), IB_OK);
    assert_non_null(job);
    return job;
}

json_t *helper_json(const char *text)
{
    json_error_t error;
    json_t *value = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (value == NULL)
        fail_msg("not JSON (%s): %s", error.text, text);
    return value;
}

bool helper_json_equal(const char *a, const char *b)
{
    json_t *left = helper_json(a);
    json_t *right = helper_json(b);
    bool equal = json_equal(left, right);
    json_decref(left);
    json_decref(right);
    return equal;
}

void helper_assert_ib(const struct ib_client *client, enum ib_err err, enum ib_err expected,
                      const char *file, int line)
{
    if (err == expected)
        return;
    fail_msg("%s:%d: expected %d (%s), got %d (%s); HTTP %ld, code \"%s\", message \"%s\"", file,
             line, expected, ib_strerror(expected), err, ib_strerror(err), ib_last_status(client),
             ib_last_error_code(client), ib_last_error_message(client));
}

double helper_now(void)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    return (double)now.tv_sec + now.tv_usec / 1e6;
}
