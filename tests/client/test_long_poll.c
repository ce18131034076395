/* libintentbus and the server's long-poll extension
 * (docs/PROTOCOL-EXTENSIONS.md): ib_claim() with wait_seconds returns the
 * moment an intent is published, ib_result() with wait_seconds the moment
 * the intent settles. Clients are not thread-safe, so the waiting side and
 * the acting side each have their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

struct waiter {
    struct ib_client *client;
    const char *namespace_;
    const char *id; /* for a result wait */
    unsigned wait_seconds;
    enum ib_err err;
    struct ib_job *job;
    char *response;
    enum ib_intent_status status;
    double seconds; /* how long the call took */
};

static void *wait_for_claim(void *context)
{
    struct waiter *waiter = context;
    struct ib_claim claim = {.namespace_ = waiter->namespace_,
                             .wait_seconds = waiter->wait_seconds};
    double start = helper_now();
    waiter->err = ib_claim(waiter->client, &claim, &waiter->job);
    waiter->seconds = helper_now() - start;
    return NULL;
}

static void *wait_for_result(void *context)
{
    struct waiter *waiter = context;
    double start = helper_now();
    waiter->err = ib_result(waiter->client, waiter->id, waiter->wait_seconds, &waiter->response,
                            &waiter->status);
    waiter->seconds = helper_now() - start;
    return NULL;
}

/* A publish wakes the waiting claim long before its wait runs out. */
static void test_claim_waits_for_a_publish(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "poll");
    struct waiter waiter = {
        .client = helper_client(NULL, NULL, true), .namespace_ = ns, .wait_seconds = 20};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, wait_for_claim, &waiter), 0);
    usleep(500 * 1000);
    struct ib_client *publisher = helper_client(NULL, NULL, true);
    helper_publish(publisher, ns, "g", id);
    pthread_join(thread, NULL);
    assert_ib(waiter.client, waiter.err, IB_OK);
    assert_string_equal(waiter.job->id, id);
    assert_true(waiter.seconds >= 0.4 && waiter.seconds < 10);
    ib_job_free(waiter.job);
    ib_client_free(waiter.client);
    ib_client_free(publisher);
}

/* With nothing published the claim is answered 204 when the wait runs out. */
static void test_claim_wait_runs_out(void **state)
{
    (void)state;
    char ns[64];
    helper_unique(ns, sizeof ns, "poll-empty");
    struct waiter waiter = {
        .client = helper_client(NULL, NULL, true), .namespace_ = ns, .wait_seconds = 1};
    wait_for_claim(&waiter);
    assert_ib(waiter.client, waiter.err, IB_ERR_EMPTY);
    assert_null(waiter.job);
    assert_int_equal(ib_last_retry_after(waiter.client), 1);
    assert_true(waiter.seconds >= 0.9);
    /* Outside 0-60: the server's invalid_wait, not a hang. */
    waiter.wait_seconds = 61;
    wait_for_claim(&waiter);
    assert_ib(waiter.client, waiter.err, IB_ERR_INVALID_FIELD);
    assert_string_equal(ib_last_error_code(waiter.client), "invalid_wait");
    ib_client_free(waiter.client);
}

/* A fulfil wakes the waiting result. */
static void test_result_waits_for_fulfil(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "poll-result");
    struct ib_client *worker = helper_client(NULL, NULL, true);
    helper_publish(worker, ns, "g", id);
    struct waiter waiter = {
        .client = helper_client(NULL, NULL, true), .id = id, .wait_seconds = 20};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, wait_for_result, &waiter), 0);
    usleep(500 * 1000);
    struct ib_job *job = helper_claim(worker, ns);
    assert_ib(worker, ib_fulfill(worker, id, job->claim_token, "{\"done\":true}", NULL), IB_OK);
    pthread_join(thread, NULL);
    assert_ib(waiter.client, waiter.err, IB_OK);
    assert_int_equal(waiter.status, IB_STATUS_FULFILLED);
    assert_true(waiter.seconds < 10);
    json_t *reply = helper_json(waiter.response);
    assert_true(json_is_true(json_object_get(json_object_get(reply, "result"), "done")));
    json_decref(reply);
    ib_free(waiter.response);
    ib_job_free(job);
    ib_client_free(waiter.client);
    ib_client_free(worker);
}

/* At the deadline the result is the intent's current, unsettled state. */
static void test_result_wait_runs_out(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "poll-open");
    struct ib_client *client = helper_client(NULL, NULL, true);
    helper_publish(client, ns, "g", id);
    struct waiter waiter = {.client = client, .id = id, .wait_seconds = 1};
    wait_for_result(&waiter);
    assert_ib(client, waiter.err, IB_OK);
    assert_int_equal(waiter.status, IB_STATUS_OPEN);
    assert_true(waiter.seconds >= 0.9);
    ib_free(waiter.response);
    ib_client_free(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_waits_for_a_publish),
        cmocka_unit_test(test_claim_wait_runs_out),
        cmocka_unit_test(test_result_waits_for_fulfil),
        cmocka_unit_test(test_result_wait_runs_out),
    };
    return cmocka_run_group_tests_name("libintentbus long-poll", tests, NULL, NULL);
}
