/* ib_client_abort(): another thread withdraws a long-poll claim at once,
 * the bus hands no job to the withdrawn claim (its connection is closed),
 * and an aborted client refuses every call until ib_client_reset_abort(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"

#define ABORT_AFTER_US (200 * 1000)
#define PROMPT_SECONDS 5.0 /* behaviour, not a benchmark: far below the wait */

struct waiter {
    struct ib_client *client;
    const char *namespace_;
    unsigned wait_seconds;
    enum ib_err err;
    struct ib_job *job;
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

/* Starts a long-poll claim of namespace_ in a thread and aborts it from
 * this one once the bus holds it; returns after the claim has returned. */
static void claim_then_abort(struct waiter *waiter)
{
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, wait_for_claim, waiter), 0);
    usleep(ABORT_AFTER_US);
    ib_client_abort(waiter->client);
    pthread_join(thread, NULL);
}

/* The aborted claim returns long before its wait, and a job published
 * afterwards is still open and goes to the next claim: the bus did not
 * hand it to the withdrawn request. */
static void test_abort_withdraws_a_waiting_claim(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "abort");
    struct waiter waiter = {
        .client = helper_client(NULL, NULL, true), .namespace_ = ns, .wait_seconds = 20};
    claim_then_abort(&waiter);
    assert_ib(waiter.client, waiter.err, IB_ERR_ABORTED);
    assert_null(waiter.job);
    assert_true(waiter.seconds < PROMPT_SECONDS);
    assert_int_equal(ib_last_status(waiter.client), 0);
    assert_string_equal(ib_last_error_message(waiter.client), "aborted by ib_client_abort()");

    struct ib_client *other = helper_client(NULL, NULL, true);
    helper_publish(other, ns, "g", id);
    enum ib_intent_status status = IB_STATUS_UNKNOWN;
    char *response = NULL;
    assert_ib(other, ib_status(other, id, &response, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_OPEN);
    ib_free(response);
    struct ib_job *job = helper_claim(other, ns); /* no wait: it is there now or never */
    assert_string_equal(job->id, id);
    ib_job_free(job);
    ib_client_free(other);
    ib_client_free(waiter.client);
}

/* The abort closed the connection: after a reset the client opens a new
 * one rather than reuse it. */
static void test_aborted_connection_is_not_reused(void **state)
{
    (void)state;
    char ns[64];
    helper_unique(ns, sizeof ns, "abort-conn");
    struct waiter waiter = {
        .client = helper_client(NULL, NULL, true), .namespace_ = ns, .wait_seconds = 20};
    claim_then_abort(&waiter);
    assert_ib(waiter.client, waiter.err, IB_ERR_ABORTED);
    assert_int_equal(ib_connections_opened(waiter.client), 1);
    ib_client_reset_abort(waiter.client);
    waiter.wait_seconds = 0;
    wait_for_claim(&waiter);
    assert_ib(waiter.client, waiter.err, IB_ERR_EMPTY);
    assert_int_equal(ib_connections_opened(waiter.client), 2);
    ib_client_free(waiter.client);
}

/* An abort with no call under way is not lost: every call returns
 * IB_ERR_ABORTED at once, sending nothing, until the reset. */
static void test_abort_lasts_until_reset(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "abort-sticky");
    struct ib_client *client = helper_client(NULL, NULL, true);
    ib_client_abort(client);
    struct waiter waiter = {.client = client, .namespace_ = ns, .wait_seconds = 20};
    wait_for_claim(&waiter);
    assert_ib(client, waiter.err, IB_ERR_ABORTED);
    assert_true(waiter.seconds < 1.0);
    struct ib_publish intent = {.goal = "g", .payload = "{}", .namespace_ = ns};
    assert_ib(client, ib_publish(client, &intent, id), IB_ERR_ABORTED);
    assert_int_equal(ib_connections_opened(client), 0);

    ib_client_reset_abort(client);
    helper_publish(client, ns, "g", id);
    struct ib_job *job = helper_claim(client, ns);
    assert_string_equal(job->id, id);
    ib_job_free(job);
    ib_client_free(client);
    ib_client_abort(NULL);
    ib_client_reset_abort(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abort_withdraws_a_waiting_claim),
        cmocka_unit_test(test_aborted_connection_is_not_reused),
        cmocka_unit_test(test_abort_lasts_until_reset),
    };
    return cmocka_run_group_tests_name("libintentbus abort", tests, NULL, NULL);
}
