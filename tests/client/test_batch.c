/* libintentbus' ib_publish_many(), ib_claim_many() and ib_fulfill_many()
 * against a real server started by run_with_server.sh: per-item results and
 * errors, replays by idempotency key, batch claims with their own tokens,
 * wait, batch fulfils with lost leases, bad arguments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

static struct ib_client *client;

static int open_client(void **state)
{
    (void)state;
    client = helper_client(NULL, NULL, true);
    return 0;
}

static int close_client(void **state)
{
    (void)state;
    ib_client_free(client);
    client = NULL;
    return 0;
}

static void test_publish_many_with_a_bad_item(void **state)
{
    (void)state;
    char ns[96];
    helper_unique(ns, sizeof ns, "c-batch");
    struct ib_publish intents[IB_BATCH_MAX];
    for (int i = 0; i < IB_BATCH_MAX; i++)
        intents[i] = (struct ib_publish){.goal = "job", .payload = "{\"n\":1}", .namespace_ = ns};
    intents[7].goal = ""; /* refused by the server, alone */
    struct ib_publish_result results[IB_BATCH_MAX];
    assert_ib(client, ib_publish_many(client, intents, IB_BATCH_MAX, results), IB_OK);
    for (int i = 0; i < IB_BATCH_MAX; i++) {
        if (i == 7) {
            assert_int_equal(results[i].err, IB_ERR_INVALID_FIELD);
            assert_string_equal(results[i].code, "invalid_goal");
        } else {
            assert_int_equal(results[i].err, IB_OK);
            assert_int_equal(strlen(results[i].id), 32);
        }
    }
    struct ib_claim claim = {.namespace_ = ns};
    struct ib_job **jobs = NULL;
    size_t count = 0, total = 0;
    while (ib_claim_many(client, &claim, 40, &jobs, &count) == IB_OK) {
        assert_true(count >= 1 && count <= 40);
        for (size_t i = 0; i < count; i++)
            assert_ib(client, ib_fulfill(client, jobs[i]->id, jobs[i]->claim_token, "1", NULL),
                      IB_OK);
        total += count;
        ib_jobs_free(jobs, count);
    }
    assert_int_equal(ib_last_status(client), 204);
    assert_int_equal(total, IB_BATCH_MAX - 1);
}

static void test_publish_many_replays_by_key(void **state)
{
    (void)state;
    char ns[96], key[96];
    helper_unique(ns, sizeof ns, "c-batch-idem");
    helper_unique(key, sizeof key, "k");
    struct ib_publish intents[2] = {
        {.goal = "job", .payload = "1", .namespace_ = ns, .idempotency_key = key},
        {.goal = "job", .payload = "2", .namespace_ = ns},
    };
    struct ib_publish_result first[2], again[2];
    assert_ib(client, ib_publish_many(client, intents, 2, first), IB_OK);
    assert_ib(client, ib_publish_many(client, intents, 2, again), IB_OK);
    assert_string_equal(first[0].id, again[0].id);
    assert_true(again[0].replayed && !first[0].replayed);
    assert_string_not_equal(first[1].id, again[1].id);
    intents[0].payload = "3"; /* the same key, another payload */
    assert_ib(client, ib_publish_many(client, intents, 1, again), IB_OK);
    assert_int_equal(again[0].err, IB_ERR_IDEMPOTENCY_CONFLICT);
}

static void test_claim_many_wait_and_arguments(void **state)
{
    (void)state;
    char ns[96];
    helper_unique(ns, sizeof ns, "c-batch-claim");
    struct ib_claim claim = {.namespace_ = ns, .wait_seconds = 1};
    struct ib_job **jobs = NULL;
    size_t count = 0;
    assert_ib(client, ib_claim_many(client, &claim, 5, &jobs, &count), IB_ERR_EMPTY);
    assert_null(jobs);
    char id[IB_ID_MAX + 1];
    helper_publish(client, ns, "a", id);
    helper_publish(client, ns, "b", id);
    assert_ib(client, ib_claim_many(client, &claim, 5, &jobs, &count), IB_OK);
    assert_int_equal(count, 2);
    assert_string_not_equal(jobs[0]->claim_token, jobs[1]->claim_token);
    ib_jobs_free(jobs, count);
    assert_ib(client, ib_claim_many(client, &claim, 0, &jobs, &count), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_claim_many(client, &claim, 101, &jobs, &count), IB_ERR_INVALID_ARGUMENT);
    struct ib_publish_result result;
    assert_ib(client, ib_publish_many(client, NULL, 1, &result), IB_ERR_INVALID_ARGUMENT);
}

static void test_fulfill_many_with_lost_leases(void **state)
{
    (void)state;
    char ns[96];
    helper_unique(ns, sizeof ns, "c-batch-ack");
    struct ib_publish intents[IB_BATCH_MAX];
    struct ib_publish_result published[IB_BATCH_MAX];
    for (int i = 0; i < IB_BATCH_MAX; i++)
        intents[i] = (struct ib_publish){.goal = "job", .payload = "{}", .namespace_ = ns};
    assert_ib(client, ib_publish_many(client, intents, IB_BATCH_MAX, published), IB_OK);
    struct ib_claim claim = {.namespace_ = ns};
    struct ib_job **jobs = NULL;
    size_t count = 0;
    assert_ib(client, ib_claim_many(client, &claim, IB_BATCH_MAX, &jobs, &count), IB_OK);
    assert_int_equal(count, IB_BATCH_MAX);
    struct ib_fulfill_item items[IB_BATCH_MAX];
    struct ib_fulfill_result results[IB_BATCH_MAX];
    for (size_t i = 0; i < count; i++)
        items[i] = (struct ib_fulfill_item){
            .id = jobs[i]->id, .claim_token = jobs[i]->claim_token, .result = "{\"ok\":1}"};
    items[3].claim_token = "00000000000000000000000000000000"; /* not its token */
    items[9].result = "\"done\"";
    items[9].result_type = "text";
    assert_ib(client, ib_fulfill_many(client, items, count, results), IB_OK);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(results[i].err, i == 3 ? IB_ERR_NOT_FOUND : IB_OK);
    assert_string_equal(results[3].code, "not_found");
    char *response = NULL;
    enum ib_intent_status status = IB_STATUS_UNKNOWN;
    assert_ib(client, ib_result(client, jobs[9]->id, 0, &response, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_FULFILLED);
    assert_non_null(strstr(response, "\"done\""));
    ib_free(response);
    /* the whole batch again: every lease is spent now, but item 3's */
    items[3].claim_token = jobs[3]->claim_token;
    assert_ib(client, ib_fulfill_many(client, items, count, results), IB_OK);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(results[i].err, i == 3 ? IB_OK : IB_ERR_NOT_FOUND);
    ib_jobs_free(jobs, count);
    assert_ib(client, ib_fulfill_many(client, items, 0, results), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_fulfill_many(client, items, IB_BATCH_MAX + 1, results),
              IB_ERR_INVALID_ARGUMENT);
    struct ib_fulfill_item no_id = {.claim_token = "x"};
    assert_ib(client, ib_fulfill_many(client, &no_id, 1, results), IB_ERR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_many_with_a_bad_item, open_client,
                                        close_client),
        cmocka_unit_test_setup_teardown(test_publish_many_replays_by_key, open_client,
                                        close_client),
        cmocka_unit_test_setup_teardown(test_claim_many_wait_and_arguments, open_client,
                                        close_client),
        cmocka_unit_test_setup_teardown(test_fulfill_many_with_lost_leases, open_client,
                                        close_client),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
