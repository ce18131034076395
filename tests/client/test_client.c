/* libintentbus against a real server started by run_with_server.sh with the
 * default settings (plus BUS_TESTER_RATE_LIMIT=5): every operation, the
 * error each protocol error maps to, keep-alive. Each test works in its own
 * namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
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

/* publish -> claim -> fulfill -> result, every field of the job checked. */
static void test_round_trip(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "round");
    struct ib_publish intent = {.goal = "send_notification",
                                .payload = "{\"message\":\"Hello\",\"list\":[1,2.5,null]}",
                                .namespace_ = ns};
    assert_ib(client, ib_publish(client, &intent, id), IB_OK);
    assert_int_equal(ib_last_status(client), 201);
    assert_string_equal(ib_last_error_code(client), "");

    struct ib_claim claim = {.goal = "send_notification", .namespace_ = ns};
    struct ib_job *job = NULL;
    assert_ib(client, ib_claim(client, &claim, &job), IB_OK);
    assert_string_equal(job->id, id);
    assert_string_equal(job->namespace_, ns);
    assert_string_equal(job->goal, "send_notification");
    assert_true(helper_json_equal(job->payload, intent.payload));
    assert_int_equal(job->claim_attempts, 1);
    assert_int_equal(job->priority, 100);
    assert_null(job->target_worker);
    assert_null(job->required_capability);
    assert_int_equal(strlen(job->claim_token), 32);
    assert_int_equal(job->claim_timeout, 60);
    assert_true(job->claim_expires_at > helper_now() + 50);

    char *text = NULL;
    enum ib_intent_status status = IB_STATUS_UNKNOWN;
    assert_ib(client, ib_status(client, id, &text, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_CLAIMED);
    ib_free(text);

    assert_ib(client, ib_fulfill(client, job->id, job->claim_token, "{\"status\":\"sent\"}", NULL),
              IB_OK);
    ib_job_free(job);

    assert_ib(client, ib_result(client, id, 0, &text, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_FULFILLED);
    json_t *reply = helper_json(text);
    assert_string_equal(json_string_value(json_object_get(reply, "status")), "fulfilled");
    assert_string_equal(json_string_value(json_object_get(reply, "result_type")), "json");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(reply, "result"), "status")), "sent");
    json_decref(reply);
    ib_free(text);
}

/* Every optional field of spec 6.1 reaches the server. */
static void test_publish_every_field(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1], key[64];
    helper_unique(ns, sizeof ns, "fields");
    helper_unique(key, sizeof key, "idem");
    struct ib_publish intent = {
        .goal = "transcribe_audio",
        .payload = "\"meeting.mp3\"",
        .namespace_ = ns,
        .visibility = IB_VISIBILITY_PUBLIC,
        .has_priority = true,
        .priority = 0,
        .delay = 30.5,
        .max_attempts = 7,
        .backoff_base = 2.5,
        .target_worker = "termux-phone-1",
        .required_capability = "whisper",
        .idempotency_key = key,
    };
    double before = helper_now();
    assert_ib(client, ib_publish(client, &intent, id), IB_OK);
    char *text = NULL;
    enum ib_intent_status status;
    assert_ib(client, ib_status(client, id, &text, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_OPEN);
    json_t *reply = helper_json(text);
    assert_string_equal(json_string_value(json_object_get(reply, "visibility")), "public");
    assert_int_equal(json_integer_value(json_object_get(reply, "priority")), 0);
    assert_int_equal(json_integer_value(json_object_get(reply, "max_attempts")), 7);
    assert_string_equal(json_string_value(json_object_get(reply, "target_worker")),
                        "termux-phone-1");
    assert_string_equal(json_string_value(json_object_get(reply, "required_capability")),
                        "whisper");
    double run_at = json_number_value(json_object_get(reply, "run_at"));
    assert_true(run_at >= before + 30 && run_at < helper_now() + 31);
    assert_null(json_object_get(reply, "result"));
    json_decref(reply);
    ib_free(text);
    /* Delayed: nothing to claim yet. */
    struct ib_claim claim = {
        .namespace_ = ns, .worker_id = "termux-phone-1", .capabilities = "whisper"};
    struct ib_job *job = NULL;
    assert_ib(client, ib_claim(client, &claim, &job), IB_ERR_EMPTY);
}

/* notify_url goes with the intent: this test's bus allows no webhook
 * target (no BUS_WEBHOOK_ALLOW), so it refuses the publish, naming why. */
static void test_publish_notify_url(void **state)
{
    (void)state;
    char ns[64];
    char id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "notify");
    struct ib_publish intent = {.goal = "g",
                                .payload = "{}",
                                .namespace_ = ns,
                                .notify_url = "https://hooks.example.com/done"};
    assert_int_not_equal(ib_publish(client, &intent, id), IB_OK);
    assert_string_equal(ib_last_error_code(client), "webhook_not_allowed");
    intent.notify_url = NULL;
    assert_ib(client, ib_publish(client, &intent, id), IB_OK);
}

/* target_worker and required_capability route the claim. */
static void test_claim_routing(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "route");
    struct ib_publish intent = {.goal = "gpu_job",
                                .payload = "{}",
                                .namespace_ = ns,
                                .target_worker = "worker 1",
                                .required_capability = "gpu"};
    assert_ib(client, ib_publish(client, &intent, id), IB_OK);
    struct ib_job *job = NULL;
    struct ib_claim wrong_worker = {
        .namespace_ = ns, .worker_id = "worker 2", .capabilities = "gpu"};
    assert_ib(client, ib_claim(client, &wrong_worker, &job), IB_ERR_EMPTY);
    struct ib_claim no_capability = {
        .namespace_ = ns, .worker_id = "worker 1", .capabilities = "cpu"};
    assert_ib(client, ib_claim(client, &no_capability, &job), IB_ERR_EMPTY);
    struct ib_claim right = {.namespace_ = ns,
                             .worker_id = "worker 1",
                             .capabilities = "cpu, gpu ,x+y",
                             .goal = "gpu_job"};
    assert_ib(client, ib_claim(client, &right, &job), IB_OK);
    assert_string_equal(job->id, id);
    assert_string_equal(job->target_worker, "worker 1");
    assert_string_equal(job->required_capability, "gpu");
    ib_job_free(job);
}

/* A payload holding NUL, non-ASCII and nesting comes back as the same JSON. */
static void test_payload_fidelity(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "payload");
    const char *payloads[] = {"null", "\"a\\u0000b caf\\u00e9 \xe2\x82\xac\"", "[1,-2,3.25e10]",
                              "{\"deep\":{\"er\":[{\"x\":true}]}}", "12345678901234"};
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        struct ib_publish intent = {.goal = "g", .payload = payloads[i], .namespace_ = ns};
        assert_ib(client, ib_publish(client, &intent, id), IB_OK);
        struct ib_job *job = helper_claim(client, ns);
        assert_string_equal(job->id, id);
        if (!helper_json_equal(job->payload, payloads[i]))
            fail_msg("payload %s came back as %s", payloads[i], job->payload);
        ib_job_free(job);
    }
}

/* The same Idempotency-Key replays the first answer; another body is 422. */
static void test_idempotent_replay(void **state)
{
    (void)state;
    char ns[64], key[64], first[IB_ID_MAX + 1], second[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "idem");
    helper_unique(key, sizeof key, "order-9982");
    struct ib_publish intent = {.goal = "charge_user",
                                .payload = "{\"amount\":50}",
                                .namespace_ = ns,
                                .idempotency_key = key};
    assert_ib(client, ib_publish(client, &intent, first), IB_OK);
    assert_ib(client, ib_publish(client, &intent, second), IB_OK);
    assert_string_equal(first, second);
    assert_int_equal(ib_last_status(client), 201);
    /* Only one intent exists. */
    struct ib_job *job = helper_claim(client, ns);
    ib_job_free(job);
    assert_ib(client, ib_claim(client, &(struct ib_claim){.namespace_ = ns}, &job), IB_ERR_EMPTY);

    intent.payload = "{\"amount\":51}";
    assert_ib(client, ib_publish(client, &intent, second), IB_ERR_IDEMPOTENCY_CONFLICT);
    assert_int_equal(ib_last_status(client), 422);
    assert_string_equal(ib_last_error_code(client), "idempotency_conflict");
    assert_true(strlen(ib_last_error_message(client)) > 0);
    assert_string_equal(second, "");
}

/* fail with attempts left requeues with backoff; the old token is dead. */
static void test_fail_requeues(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "fail");
    struct ib_publish intent = {
        .goal = "g", .payload = "{}", .namespace_ = ns, .max_attempts = 2, .backoff_base = 1.0};
    assert_ib(client, ib_publish(client, &intent, id), IB_OK);
    struct ib_job *job = helper_claim(client, ns);
    struct ib_fail_outcome outcome;
    double before = helper_now();
    assert_ib(client, ib_fail(client, id, job->claim_token, "Connection timed out", &outcome),
              IB_OK);
    assert_int_equal(outcome.status, IB_STATUS_OPEN);
    assert_int_equal(outcome.claim_attempts, 1);
    /* backoff_base * 2^1 + jitter in [0, 2) */
    assert_true(outcome.run_at >= before + 2 - 0.5 && outcome.run_at < helper_now() + 4.5);

    char *text = NULL;
    enum ib_intent_status status;
    assert_ib(client, ib_status(client, id, &text, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_OPEN);
    json_t *reply = helper_json(text);
    assert_string_equal(json_string_value(json_object_get(reply, "error")), "Connection timed out");
    json_decref(reply);
    ib_free(text);

    /* Backing off: not claimable yet, and the old lease is gone. */
    struct ib_job *again = NULL;
    assert_ib(client, ib_claim(client, &(struct ib_claim){.namespace_ = ns}, &again), IB_ERR_EMPTY);
    assert_ib(client, ib_fulfill(client, id, job->claim_token, NULL, NULL), IB_ERR_NOT_FOUND);
    ib_job_free(job);
}

/* fail with no attempts left: dead. */
static void test_fail_dead(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "dead");
    struct ib_publish intent = {.goal = "g", .payload = "{}", .namespace_ = ns, .max_attempts = 1};
    assert_ib(client, ib_publish(client, &intent, id), IB_OK);
    struct ib_job *job = helper_claim(client, ns);
    struct ib_fail_outcome outcome;
    assert_ib(client, ib_fail(client, id, job->claim_token, NULL, &outcome), IB_OK);
    assert_int_equal(outcome.status, IB_STATUS_DEAD);
    assert_int_equal(outcome.claim_attempts, 1);
    assert_true(outcome.run_at == 0);
    ib_job_free(job);
    char *text = NULL;
    enum ib_intent_status status;
    assert_ib(client, ib_result(client, id, 0, &text, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_DEAD);
    ib_free(text);
}

static void test_extend(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "extend");
    helper_publish(client, ns, "long_task", id);
    struct ib_job *job = helper_claim(client, ns);
    double expires = 0;
    assert_ib(client, ib_extend(client, id, job->claim_token, 600, &expires), IB_OK);
    assert_true(expires > helper_now() + 590 && expires < helper_now() + 610);
    assert_ib(client, ib_extend(client, id, job->claim_token, 0, &expires), IB_OK);
    assert_true(expires > helper_now() + 50 && expires < helper_now() + 70);
    assert_ib(client, ib_extend(client, id, job->claim_token, 5, NULL), IB_ERR_INVALID_FIELD);
    assert_string_equal(ib_last_error_code(client), "invalid_seconds");
    assert_int_equal(ib_last_status(client), 400);
    assert_ib(client, ib_extend(client, id, job->claim_token, 3601, NULL), IB_ERR_INVALID_FIELD);
    assert_ib(client, ib_fulfill(client, id, job->claim_token, "\"done\"", "text"), IB_OK);
    ib_job_free(job);
}

/* Spec 6.5: a token that is wrong, or whose lease ended, is 404. */
static void test_lease_lost_is_not_found(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "lost");
    helper_publish(client, ns, "g", id);
    struct ib_job *job = helper_claim(client, ns);
    const char *wrong = "00000000000000000000000000000000";
    assert_ib(client, ib_extend(client, id, wrong, 60, NULL), IB_ERR_NOT_FOUND);
    assert_int_equal(ib_last_status(client), 404);
    assert_string_equal(ib_last_error_code(client), "not_found");
    assert_ib(client, ib_fulfill(client, id, wrong, NULL, NULL), IB_ERR_NOT_FOUND);
    assert_ib(client, ib_fail(client, id, wrong, "x", NULL), IB_ERR_NOT_FOUND);
    assert_ib(client, ib_fulfill(client, id, job->claim_token, NULL, NULL), IB_OK);
    /* After fulfil the lease is over: every mutation is a lost lease. */
    assert_ib(client, ib_fulfill(client, id, job->claim_token, NULL, NULL), IB_ERR_NOT_FOUND);
    assert_ib(client, ib_extend(client, id, job->claim_token, 60, NULL), IB_ERR_NOT_FOUND);
    assert_ib(client, ib_fail(client, id, job->claim_token, NULL, NULL), IB_ERR_NOT_FOUND);
    /* An id that never existed. */
    assert_ib(client,
              ib_fulfill(client, "ffffffffffffffffffffffffffffffff", job->claim_token, NULL, NULL),
              IB_ERR_NOT_FOUND);
    ib_job_free(job);
    char *text = (char *)"untouched";
    assert_ib(client, ib_status(client, "ffffffffffffffffffffffffffffffff", &text, NULL),
              IB_ERR_NOT_FOUND);
    assert_null(text);
    assert_ib(client, ib_result(client, "no/such id", 0, &text, NULL), IB_ERR_NOT_FOUND);
}

/* 204 is IB_ERR_EMPTY, with Retry-After: 1. */
static void test_claim_empty(void **state)
{
    (void)state;
    char ns[64];
    helper_unique(ns, sizeof ns, "empty");
    struct ib_job *job = (struct ib_job *)&job;
    assert_ib(client, ib_claim(client, &(struct ib_claim){.namespace_ = ns}, &job), IB_ERR_EMPTY);
    assert_null(job);
    assert_int_equal(ib_last_status(client), 204);
    assert_int_equal(ib_last_retry_after(client), 1);
    assert_string_equal(ib_last_error_code(client), "");
    /* wait=N is sent only when > 0; a server without long-poll ignores it. */
    assert_ib(client,
              ib_claim(client, &(struct ib_claim){.namespace_ = ns, .wait_seconds = 1}, &job),
              IB_ERR_EMPTY);
}

static void test_result_with_wait(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "wait");
    helper_publish(client, ns, "g", id);
    struct ib_job *job = helper_claim(client, ns);
    assert_ib(client, ib_fulfill(client, id, job->claim_token, "\"plain words\"", "text"), IB_OK);
    ib_job_free(job);
    char *text = NULL;
    enum ib_intent_status status;
    assert_ib(client, ib_result(client, id, 2, &text, &status), IB_OK);
    assert_int_equal(status, IB_STATUS_FULFILLED);
    json_t *reply = helper_json(text);
    assert_string_equal(json_string_value(json_object_get(reply, "result")), "plain words");
    assert_string_equal(json_string_value(json_object_get(reply, "result_type")), "text");
    json_decref(reply);
    ib_free(text);
}

static void test_kv(void **state)
{
    (void)state;
    char key[96], idem[64];
    helper_unique(key, sizeof key, "node_01 status/caf\xc3\xa9+%2F");
    helper_unique(idem, sizeof idem, "kv-idem");
    char *value = (char *)"untouched";
    assert_ib(client, ib_get(client, key, &value), IB_ERR_NOT_FOUND);
    assert_null(value);
    assert_int_equal(ib_last_status(client), 404);
    assert_string_equal(ib_last_error_code(client), "not_found");

    assert_ib(client, ib_set(client, key, "\"active\"", 0, NULL), IB_OK);
    assert_ib(client, ib_get(client, key, &value), IB_OK);
    assert_string_equal(value, "\"active\"");
    ib_free(value);

    assert_ib(client, ib_set(client, key, "{\"a\":[1,2],\"b\":null}", 60, idem), IB_OK);
    assert_ib(client, ib_set(client, key, "{\"a\":[1,2],\"b\":null}", 60, idem), IB_OK);
    assert_ib(client, ib_set(client, key, "{\"a\":[1,2,3]}", 60, idem),
              IB_ERR_IDEMPOTENCY_CONFLICT);
    assert_ib(client, ib_get(client, key, &value), IB_OK);
    assert_true(helper_json_equal(value, "{\"a\":[1,2],\"b\":null}"));
    ib_free(value);

    assert_ib(client, ib_set(client, key, "1", 86401, NULL), IB_ERR_INVALID_FIELD);
    assert_string_equal(ib_last_error_code(client), "invalid_ttl");
    assert_ib(client, ib_set(client, "bad\x01key", "1", 0, NULL), IB_ERR_INVALID_FIELD);
    assert_string_equal(ib_last_error_code(client), "invalid_key");
}

static void test_wrong_key_is_unauthorized(void **state)
{
    (void)state;
    bool modes[] = {true, false};
    for (size_t i = 0; i < 2; i++) {
        struct ib_client *stranger = helper_client("not-the-key", NULL, modes[i]);
        char id[IB_ID_MAX + 1];
        struct ib_publish intent = {.goal = "g", .payload = "{}"};
        assert_ib(stranger, ib_publish(stranger, &intent, id), IB_ERR_UNAUTHORIZED);
        assert_int_equal(ib_last_status(stranger), 401);
        assert_string_equal(ib_last_error_code(stranger), "unauthorized");
        assert_true(strlen(ib_last_error_message(stranger)) > 0);
        ib_client_free(stranger);
    }
    struct ib_client *keyless = helper_client("", NULL, true);
    char *value = NULL;
    assert_ib(keyless, ib_get(keyless, "k", &value), IB_ERR_UNAUTHORIZED);
    ib_client_free(keyless);
}

/* Each invalid field comes back as IB_ERR_INVALID_FIELD with its exact code. */
static void test_invalid_field_codes(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "invalid");
    struct {
        struct ib_publish intent;
        const char *code;
    } cases[] = {
        {{.goal = "", .payload = "{}"}, "invalid_goal"},
        {{.goal = "g", .payload = "{}", .namespace_ = "no spaces"}, "invalid_namespace"},
        {{.goal = "g", .payload = "{}", .has_priority = true, .priority = 1001},
         "invalid_priority"},
        {{.goal = "g", .payload = "{}", .has_priority = true, .priority = -1}, "invalid_priority"},
        {{.goal = "g", .payload = "{}", .delay = -1}, "invalid_delay"},
        {{.goal = "g", .payload = "{}", .max_attempts = 21}, "invalid_max_attempts"},
        {{.goal = "g", .payload = "{}", .backoff_base = 0.5}, "invalid_backoff_base"},
        {{.goal = "g", .payload = "{}", .target_worker = ""}, "invalid_target_worker"},
        {{.goal = "g", .payload = "{}", .required_capability = "a,b"},
         "invalid_required_capability"},
        {{.goal = "g", .payload = "{}", .idempotency_key = ""}, "invalid_idempotency_key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum ib_err err = ib_publish(client, &cases[i].intent, id);
        if (err != IB_ERR_INVALID_FIELD || ib_last_status(client) != 400 ||
            strcmp(ib_last_error_code(client), cases[i].code) != 0)
            fail_msg("expected 400 %s, got %s (HTTP %ld \"%s\")", cases[i].code, ib_strerror(err),
                     ib_last_status(client), ib_last_error_code(client));
    }
    struct ib_job *job = NULL;
    assert_ib(client, ib_claim(client, &(struct ib_claim){.namespace_ = "bad ns"}, &job),
              IB_ERR_INVALID_FIELD);
    assert_string_equal(ib_last_error_code(client), "invalid_namespace");

    helper_publish(client, ns, "g", id);
    job = helper_claim(client, ns);
    assert_ib(client, ib_fulfill(client, id, job->claim_token, "{}", "xml"), IB_ERR_INVALID_FIELD);
    assert_string_equal(ib_last_error_code(client), "invalid_result_type");
    assert_ib(client, ib_fulfill(client, id, job->claim_token, "{}", "text"), IB_ERR_INVALID_FIELD);
    assert_string_equal(ib_last_error_code(client), "invalid_result");
    assert_ib(client, ib_fulfill(client, id, job->claim_token, NULL, NULL), IB_OK);
    ib_job_free(job);
}

/* 413 both ways: a payload over 7168 bytes, and a body over 8192. */
static void test_payload_too_large(void **state)
{
    (void)state;
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "large");
    size_t sizes[] = {7300, 9000, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *payload = malloc(sizes[i] + 3);
        assert_non_null(payload);
        payload[0] = '"';
        memset(payload + 1, 'x', sizes[i]);
        strcpy(payload + 1 + sizes[i], "\"");
        struct ib_publish intent = {.goal = "g", .payload = payload, .namespace_ = ns};
        assert_ib(client, ib_publish(client, &intent, id), IB_ERR_PAYLOAD_TOO_LARGE);
        assert_int_equal(ib_last_status(client), 413);
        assert_string_equal(ib_last_error_code(client), "payload_too_large");
        free(payload);
        /* The client is still usable. */
        helper_publish(client, ns, "after", id);
    }
}

/* Refused before anything is sent. */
static void test_invalid_arguments(void **state)
{
    (void)state;
    char id[IB_ID_MAX + 1];
    struct ib_publish no_goal = {.payload = "{}"};
    assert_ib(client, ib_publish(client, &no_goal, id), IB_ERR_INVALID_ARGUMENT);
    assert_int_equal(ib_last_status(client), 0);
    struct ib_publish not_json = {.goal = "g", .payload = "{nope"};
    assert_ib(client, ib_publish(client, &not_json, id), IB_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(ib_last_error_message(client), "payload"));
    struct ib_publish trailing = {.goal = "g", .payload = "1, \"namespace\": \"x\""};
    assert_ib(client, ib_publish(client, &trailing, id), IB_ERR_INVALID_ARGUMENT);
    struct ib_publish not_utf8 = {.goal = "g\xff", .payload = "{}"};
    assert_ib(client, ib_publish(client, &not_utf8, id), IB_ERR_INVALID_ARGUMENT);
    struct ib_publish header_injection = {
        .goal = "g", .payload = "{}", .idempotency_key = "a\r\nX-Admin-Token: x"};
    assert_ib(client, ib_publish(client, &header_injection, id), IB_ERR_INVALID_ARGUMENT);
    assert_int_equal(ib_last_status(client), 0);
    assert_ib(client, ib_fulfill(client, NULL, "t", NULL, NULL), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_fulfill(client, "id", "t", "not json", NULL), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_claim(client, NULL, NULL), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_set(client, "k", NULL, 0, NULL), IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_request(client, "get", "/health", NULL, NULL, NULL),
              IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_request(client, "GET", "health", NULL, NULL, NULL),
              IB_ERR_INVALID_ARGUMENT);
    assert_ib(client, ib_request(client, "GET", "/a b", NULL, NULL, NULL), IB_ERR_INVALID_ARGUMENT);
    assert_int_equal(ib_publish(NULL, &no_goal, id), IB_ERR_INVALID_ARGUMENT);
    assert_null(ib_client_new(NULL));
    struct ib_options options;
    ib_options_init(&options);
    assert_null(ib_client_new(&options));
}

/* One TCP connection for many calls, error answers included. */
static void test_keep_alive(void **state)
{
    (void)state;
    struct ib_client *own = helper_client(NULL, NULL, true);
    assert_int_equal(ib_connections_opened(own), 0);
    char ns[64], id[IB_ID_MAX + 1], *text = NULL;
    helper_unique(ns, sizeof ns, "alive");
    for (int i = 0; i < 10; i++) {
        helper_publish(own, ns, "g", id);
        struct ib_job *job = helper_claim(own, ns);
        assert_ib(own, ib_fulfill(own, id, job->claim_token, "1", NULL), IB_OK);
        ib_job_free(job);
        assert_ib(own, ib_result(own, id, 0, &text, NULL), IB_OK);
        ib_free(text);
        assert_ib(own, ib_get(own, "missing", &text), IB_ERR_NOT_FOUND);
        assert_ib(own, ib_claim(own, &(struct ib_claim){.namespace_ = ns}, &job), IB_ERR_EMPTY);
        assert_ib(own, ib_extend(own, id, "bad", 60, NULL), IB_ERR_NOT_FOUND);
    }
    assert_int_equal(ib_connections_opened(own), 1);
    ib_client_free(own);
}

static void test_transport_error(void **state)
{
    (void)state;
    struct ib_options options;
    ib_options_init(&options);
    options.base_url = "http://127.0.0.1:1/";
    options.api_key = "k";
    options.timeout_ms = 2000;
    struct ib_client *nowhere = ib_client_new(&options);
    assert_non_null(nowhere);
    char *value = NULL;
    assert_ib(nowhere, ib_get(nowhere, "k", &value), IB_ERR_TRANSPORT);
    assert_null(value);
    assert_int_equal(ib_last_status(nowhere), 0);
    assert_string_equal(ib_last_error_code(nowhere), "");
    assert_true(strlen(ib_last_error_message(nowhere)) > 0);
    ib_client_free(nowhere);
}

/* ib_request: admin calls, raw bodies, other statuses. */
static void test_raw_request(void **state)
{
    (void)state;
    long status = 0;
    char *text = NULL;
    assert_ib(client, ib_request(client, "GET", "/health", NULL, &status, &text), IB_OK);
    assert_int_equal(status, 200);
    json_t *reply = helper_json(text);
    assert_true(json_is_true(json_object_get(reply, "ok")));
    json_decref(reply);
    ib_free(text);

    /* Not an admin: the 401 body is handed over all the same. */
    assert_ib(client, ib_request(client, "GET", "/admin/stats", NULL, &status, &text),
              IB_ERR_UNAUTHORIZED);
    assert_int_equal(status, 401);
    assert_non_null(strstr(text, "unauthorized"));
    ib_free(text);

    assert_ib(client, ib_request(client, "GET", "/intent", NULL, &status, NULL),
              IB_ERR_METHOD_NOT_ALLOWED);
    assert_int_equal(status, 405);
    assert_ib(client, ib_request(client, "POST", "/intent", "{\"goal\":", &status, NULL),
              IB_ERR_INVALID_JSON);
    assert_string_equal(ib_last_error_code(client), "invalid_json");
    assert_ib(client, ib_request(client, "POST", "/intent", "[1]", NULL, NULL),
              IB_ERR_INVALID_REQUEST);
    assert_ib(client, ib_request(client, "POST", "/intent", "{\"goal\":\"g\"}", NULL, NULL),
              IB_ERR_INVALID_REQUEST);
    assert_string_equal(ib_last_error_code(client), "invalid_request");
    assert_ib(client, ib_request(client, "GET", "/nowhere?a=1&b=%20", NULL, &status, NULL),
              IB_ERR_NOT_FOUND);

    /* An admin generates a tester key; a client with it works, signed. */
    struct ib_client *admin = helper_client("", helper_env("INTENT_ADMIN_TOKEN"), true);
    assert_ib(admin, ib_request(admin, "GET", "/admin/stats", NULL, &status, &text), IB_OK);
    ib_free(text);
    assert_ib(admin,
              ib_request(admin, "POST", "/admin/generate_key", "{\"owner\":\"c client\"}", &status,
                         &text),
              IB_OK);
    assert_int_equal(status, 201);
    reply = helper_json(text);
    ib_free(text);
    const char *tester_key = json_string_value(json_object_get(reply, "api_key"));
    assert_non_null(tester_key);
    struct ib_client *tester = helper_client(tester_key, NULL, true);
    char id[IB_ID_MAX + 1];
    helper_publish(tester, NULL, "from_tester", id);
    /* The main key has the admin role, as in the original server: it reads
     * the tester's private intent; a tester key cannot claim another key's
     * intents by naming it as publisher... */
    assert_ib(client, ib_status(client, id, &text, NULL), IB_OK);
    ib_free(text);
    struct ib_job *job = NULL;
    struct ib_claim mains = {.goal = "from_tester", .publisher = helper_env("INTENT_API_KEY")};
    assert_ib(tester, ib_claim(tester, &mains, &job), IB_ERR_FORBIDDEN);
    assert_int_equal(ib_last_status(tester), 403);
    assert_string_equal(ib_last_error_code(tester), "forbidden");
    /* ...but the main key has the admin role there, as in the original
     * server (spec 7.3, docs/ADMIN.md). */
    struct ib_claim theirs = {.goal = "from_tester", .publisher = tester_key};
    assert_ib(client, ib_claim(client, &theirs, &job), IB_OK);
    assert_string_equal(job->id, id);
    ib_job_free(job);
    /* BUS_TESTER_RATE_LIMIT=5: the 6th request in a minute is refused. */
    enum ib_err err = IB_OK;
    for (int i = 0; i < 10 && err == IB_OK; i++) {
        err = ib_status(tester, id, &text, NULL);
        ib_free(text);
    }
    assert_ib(tester, err, IB_ERR_RATE_LIMITED);
    assert_int_equal(ib_last_status(tester), 429);
    assert_string_equal(ib_last_error_code(tester), "rate_limited");
    assert_true(ib_last_retry_after(tester) >= 1 && ib_last_retry_after(tester) <= 60);
    ib_client_free(tester);
    json_decref(reply);
    ib_client_free(admin);
}

/* Unsigned requests (sign = false) work on a server that does not require
 * signatures. */
static void test_unsigned_client(void **state)
{
    (void)state;
    struct ib_client *plain = helper_client(NULL, NULL, false);
    char ns[64], id[IB_ID_MAX + 1];
    helper_unique(ns, sizeof ns, "plain");
    helper_publish(plain, ns, "g", id);
    struct ib_job *job = helper_claim(plain, ns);
    assert_ib(plain, ib_fulfill(plain, id, job->claim_token, NULL, NULL), IB_OK);
    ib_job_free(job);
    ib_client_free(plain);
}

static void test_strerror(void **state)
{
    (void)state;
    for (int err = IB_OK; err <= IB_ERR_ABORTED; err++) {
        const char *text = ib_strerror((enum ib_err)err);
        assert_non_null(text);
        assert_string_not_equal(text, "unknown error");
        for (int other = IB_OK; other < err; other++)
            assert_string_not_equal(text, ib_strerror((enum ib_err)other));
    }
    assert_string_equal(ib_strerror((enum ib_err)999), "unknown error");
    assert_string_equal(ib_intent_status_name(IB_STATUS_DEAD), "dead");
    assert_string_equal(ib_intent_status_name((enum ib_intent_status)99), "unknown");
    assert_string_equal(ib_last_error_code(NULL), "");
    ib_client_free(NULL);
    ib_job_free(NULL);
    ib_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_publish_every_field),
        cmocka_unit_test(test_claim_routing),
        cmocka_unit_test(test_payload_fidelity),
        cmocka_unit_test(test_idempotent_replay),
        cmocka_unit_test(test_fail_requeues),
        cmocka_unit_test(test_fail_dead),
        cmocka_unit_test(test_extend),
        cmocka_unit_test(test_lease_lost_is_not_found),
        cmocka_unit_test(test_claim_empty),
        cmocka_unit_test(test_result_with_wait),
        cmocka_unit_test(test_kv),
        cmocka_unit_test(test_wrong_key_is_unauthorized),
        cmocka_unit_test(test_invalid_field_codes),
        cmocka_unit_test(test_payload_too_large),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_transport_error),
        cmocka_unit_test(test_publish_notify_url),
        cmocka_unit_test(test_raw_request),
        cmocka_unit_test(test_unsigned_client),
        cmocka_unit_test(test_strerror),
    };
    return cmocka_run_group_tests_name("libintentbus", tests, open_client, close_client);
}
