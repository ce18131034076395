/* libintentbus against a server started with BUS_REQUIRE_SIGNATURES=true:
 * every operation, signed, is accepted, including request-targets whose
 * canonical form differs from what a naive client would sign (spaces,
 * "+", "/", UTF-8 in keys and claim parameters); unsigned requests get 403 invalid_signature. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "helpers.h"

/* The whole worker life cycle and the KV store, signed. */
static void test_signed_requests_accepted(void **state)
{
    (void)state;
    struct ib_client *client = helper_client(NULL, NULL, true);
    char ns[64], id[IB_ID_MAX + 1], key[64];
    helper_unique(ns, sizeof ns, "signed");
    helper_unique(key, sizeof key, "idem");
    struct ib_publish intent = {.goal = "a goal with spaces+plus/é",
                                .payload = "{\"text\":\"line\\nbreak \\u00e9\"}",
                                .namespace_ = ns,
                                .required_capability = "gpu+1",
                                .target_worker = "worker/1 é",
                                .idempotency_key = key};
    assert_ib(client, ib_publish(client, &intent, id), IB_OK);
    char replay[IB_ID_MAX + 1];
    assert_ib(client, ib_publish(client, &intent, replay), IB_OK);
    assert_string_equal(id, replay);

    struct ib_claim claim = {.goal = intent.goal,
                             .namespace_ = ns,
                             .worker_id = "worker/1 é",
                             .capabilities = "cpu, gpu+1",
                             .wait_seconds = 1};
    struct ib_job *job = NULL;
    assert_ib(client, ib_claim(client, &claim, &job), IB_OK);
    assert_string_equal(job->id, id);
    assert_ib(client, ib_extend(client, id, job->claim_token, 120, NULL), IB_OK);
    assert_ib(client, ib_fulfill(client, id, job->claim_token, "[\"ok\"]", "json"), IB_OK);
    ib_job_free(job);

    char *text = NULL;
    enum ib_intent_status status;
    assert_ib(client, ib_result(client, id, 1, &text, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_FULFILLED);
    ib_free(text);
    assert_ib(client, ib_status(client, id, &text, &status), IB_OK);
    ib_free(text);

    const char *keys[] = {"plain", "a b", "a+b", "dir/file", "caf\xc3\xa9", "100%", "~._-"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        assert_ib(client, ib_set(client, keys[i], "\"v\"", 30, NULL), IB_OK);
        assert_ib(client, ib_get(client, keys[i], &text), IB_OK);
        assert_string_equal(text, "\"v\"");
        ib_free(text);
    }
    /* A failed claim is signed too, and a 204 keeps working. */
    struct ib_claim nothing = {.namespace_ = ns};
    assert_ib(client, ib_claim(client, &nothing, &job), IB_ERR_EMPTY);
    /* Raw requests with a query string in any order. */
    long http_status = 0;
    char target[160];
    snprintf(target, sizeof target, "/claim?namespace=%s&goal=x%%20y&goal=a+b&c", ns);
    assert_ib(client, ib_request(client, "POST", target, NULL, &http_status, NULL), IB_OK);
    assert_int_equal(http_status, 204);
    /* Many requests in one second: every nonce is fresh. */
    for (int i = 0; i < 20; i++)
        assert_ib(client, ib_request(client, "GET", "/get/none", NULL, NULL, NULL),
                  IB_ERR_NOT_FOUND);
    assert_int_equal(ib_connections_opened(client), 1);
    ib_client_free(client);
}

/* Spec 5.2: with BUS_REQUIRE_SIGNATURES, an unsigned request is refused. */
static void test_unsigned_requests_refused(void **state)
{
    (void)state;
    struct ib_client *client = helper_client(NULL, NULL, false);
    char id[IB_ID_MAX + 1];
    struct ib_publish intent = {.goal = "g", .payload = "{}"};
    assert_ib(client, ib_publish(client, &intent, id), IB_ERR_UNAUTHORIZED);
    assert_int_equal(ib_last_status(client), 403);
    assert_string_equal(ib_last_error_code(client), "invalid_signature");
    assert_string_equal(ib_last_error_message(client), "Missing required signature headers.");
    char *value = NULL;
    assert_ib(client, ib_get(client, "k", &value), IB_ERR_UNAUTHORIZED);
    ib_client_free(client);
}

/* A signature made with another key is refused: the key in X-API-KEY and
 * the HMAC key are the same, so a wrong key fails both ways. */
static void test_wrong_key_signed_refused(void **state)
{
    (void)state;
    struct ib_client *client = helper_client("another-key", NULL, true);
    char *value = NULL;
    assert_ib(client, ib_get(client, "k", &value), IB_ERR_UNAUTHORIZED);
    ib_client_free(client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signed_requests_accepted),
        cmocka_unit_test(test_unsigned_requests_refused),
        cmocka_unit_test(test_wrong_key_signed_refused),
    };
    return cmocka_run_group_tests_name("libintentbus signatures", tests, NULL, NULL);
}
