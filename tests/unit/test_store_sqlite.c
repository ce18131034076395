/* Unit tests of the SQLite store (store/sqlite.c) through store->ops: the
 * intent lifecycle, claim eligibility and order, leases, cleanup, KV and
 * idempotency, all with explicit `now` values (time travel, no sleeping). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/backoff.h"
#include "sqlite_test_files.h"
#include "store/store.h"
#include "util/token.h"

#define T0 1700000000.0
#define LEASE 60.0
#define DAY 86400.0

static const char PUB[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char OTHER[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

struct fixture {
    struct sqlite_test_files files;
    struct store *store;
};

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    if (!sqlite_test_files_make(&f->files, "test")) {
        free(f);
        return -1;
    }
    f->store = store_sqlite_open(f->files.path, 2, false);
    if (f->store == NULL) {
        sqlite_test_files_remove(&f->files);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    sqlite_test_files_remove(&f->files);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* Intent id number n: 32 hex characters, ordered like n. */
static void intent_id(char out[INTENT_ID_LEN + 1], unsigned n)
{
    snprintf(out, INTENT_ID_LEN + 1, "%032x", n);
}

/* A private intent of PUB in "default", claimable from now for a day. */
static void new_intent(struct intent_new *intent, unsigned n, const char *goal, double now)
{
    memset(intent, 0, sizeof *intent);
    intent_id(intent->id, n);
    snprintf(intent->goal, sizeof intent->goal, "%s", goal);
    strcpy(intent->namespace_, DEFAULT_NAMESPACE);
    intent->is_public = false;
    intent->priority = DEFAULT_PRIORITY;
    intent->max_attempts = DEFAULT_MAX_ATTEMPTS;
    intent->backoff_base = DEFAULT_BACKOFF_BASE;
    intent->payload_json = (char *)"{\"n\":1}";
    strcpy(intent->publisher, PUB);
    intent->created_at = now;
    intent->run_at = now;
    intent->expires_at = now + DEFAULT_TTL_SECONDS;
}

static void publish(struct fixture *f, const struct intent_new *intent)
{
    struct stored_response replay = {0};
    assert_int_equal(f->store->ops->publish(f->store->backend, intent, 0, NULL, 0, NULL, &replay),
                     BUS_OK);
    assert_null(replay.body);
}

/* Publishes intent number n with the defaults of new_intent. */
static void publish_simple(struct fixture *f, unsigned n, const char *goal, double now)
{
    struct intent_new intent;
    new_intent(&intent, n, goal, now);
    publish(f, &intent);
}

struct claim_spec {
    const char *claimer;    /* default PUB */
    const char *namespace_; /* default "default" */
    const char *goal;       /* default any */
    const char *worker_id;  /* default anonymous */
    const char *capabilities_json; /* default none */
    double lease_seconds;          /* default LEASE */
};

static enum bus_err claim_with(struct fixture *f, struct claim_spec spec, double now,
                               struct claimed_intent *out)
{
    struct claim_request request;
    memset(&request, 0, sizeof request);
    strcpy(request.namespace_, spec.namespace_ ? spec.namespace_ : DEFAULT_NAMESPACE);
    snprintf(request.goal, sizeof request.goal, "%s", spec.goal ? spec.goal : "");
    snprintf(request.worker_id, sizeof request.worker_id, "%s",
             spec.worker_id ? spec.worker_id : "");
    if (spec.capabilities_json != NULL) {
        request.capabilities_json = strdup(spec.capabilities_json);
        assert_non_null(request.capabilities_json);
    }
    strcpy(request.claimer, spec.claimer ? spec.claimer : PUB);
    assert_true(token_random_hex(request.token, CLAIM_TOKEN_LEN / 2));
    request.lease_seconds = spec.lease_seconds > 0 ? spec.lease_seconds : LEASE;
    request.now = now;
    memset(out, 0, sizeof *out);
    enum bus_err err = f->store->ops->claim(f->store->backend, &request, out);
    if (err == BUS_OK) {
        /* The token is the caller's; keep it with the claim for lease_of(). */
        if (out->token[0] != '\0')
            assert_string_equal(out->token, request.token);
        strcpy(out->token, request.token);
    } else {
        assert_null(out->payload_json);
    }
    claim_request_clear(&request);
    return err;
}

/* Claims as PUB in "default" with no filter. */
static enum bus_err claim_any(struct fixture *f, double now, struct claimed_intent *out)
{
    return claim_with(f, (struct claim_spec){0}, now, out);
}

/* Claims and returns the id claimed, or "" when nothing was eligible. */
static void claim_id(struct fixture *f, struct claim_spec spec, double now,
                     char id[INTENT_ID_LEN + 1])
{
    struct claimed_intent claimed;
    enum bus_err err = claim_with(f, spec, now, &claimed);
    assert_true(err == BUS_OK || err == BUS_ERR_EMPTY);
    strcpy(id, err == BUS_OK ? claimed.id : "");
    claimed_intent_clear(&claimed);
}

static void expect_claim_id(struct fixture *f, struct claim_spec spec, double now, unsigned n)
{
    char want[INTENT_ID_LEN + 1], got[INTENT_ID_LEN + 1];
    intent_id(want, n);
    claim_id(f, spec, now, got);
    assert_string_equal(got, want);
}

static void expect_nothing_to_claim(struct fixture *f, struct claim_spec spec, double now)
{
    struct claimed_intent claimed;
    assert_int_equal(claim_with(f, spec, now, &claimed), BUS_ERR_EMPTY);
}

static struct lease_ref lease_of(const struct claimed_intent *claimed, const char *claimer,
                                 double now)
{
    struct lease_ref ref;
    memset(&ref, 0, sizeof ref);
    strcpy(ref.id, claimed->id);
    strcpy(ref.token, claimed->token);
    strcpy(ref.claimer, claimer);
    ref.now = now;
    return ref;
}

static void get_intent(struct fixture *f, unsigned n, struct intent_record *out)
{
    char id[INTENT_ID_LEN + 1];
    intent_id(id, n);
    memset(out, 0, sizeof *out);
    assert_int_equal(f->store->ops->get_intent(f->store->backend, id, out), BUS_OK);
}

static enum intent_status status_of(struct fixture *f, unsigned n)
{
    struct intent_record record;
    get_intent(f, n, &record);
    intent_record_clear(&record);
    return record.status;
}

static bool intent_exists(struct fixture *f, unsigned n)
{
    char id[INTENT_ID_LEN + 1];
    struct intent_record record;
    intent_id(id, n);
    memset(&record, 0, sizeof record);
    enum bus_err err = f->store->ops->get_intent(f->store->backend, id, &record);
    assert_true(err == BUS_OK || err == BUS_ERR_NOT_FOUND);
    intent_record_clear(&record);
    return err == BUS_OK;
}

static enum bus_err do_extend(struct fixture *f, struct lease_ref ref, double seconds,
                              double *expires)
{
    return f->store->ops->extend(f->store->backend, &ref, seconds, expires);
}

static enum bus_err do_fulfill(struct fixture *f, struct lease_ref ref, const char *result,
                               const char *type)
{
    return f->store->ops->fulfill(f->store->backend, &ref, result, type);
}

static enum bus_err do_fail(struct fixture *f, struct lease_ref ref, const char *error_text,
                            double jitter, struct fail_outcome *out)
{
    /* parenthesised: cmocka defines a fail() macro */
    return (f->store->ops->fail)(f->store->backend, &ref, error_text, jitter, out);
}

static struct cleanup_stats run_cleanup_keeping(struct fixture *f, double now, double retention)
{
    struct cleanup_stats stats;
    memset(&stats, 0xff, sizeof stats);
    memset(&stats.goals, 0, sizeof stats.goals);
    assert_int_equal(f->store->ops->cleanup(f->store->backend, now, retention, &stats), BUS_OK);
    goal_tallies_clear(&stats.goals);
    return stats;
}

static struct cleanup_stats run_cleanup(struct fixture *f, double now)
{
    return run_cleanup_keeping(f, now, RETENTION_SECONDS);
}

/* Claims the only intent as PUB at now; the caller clears *claimed. */
static void claim_one(struct fixture *f, double now, struct claimed_intent *claimed)
{
    assert_int_equal(claim_any(f, now, claimed), BUS_OK);
}

/* ---- publish and read back ---------------------------------------------- */

static void published_intent_reads_back(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "resize", T0);
    strcpy(intent.namespace_, "media");
    intent.is_public = true;
    intent.priority = 7;
    intent.max_attempts = 5;
    intent.backoff_base = 2.5;
    strcpy(intent.target_worker, "w1");
    strcpy(intent.required_capability, "gpu");
    intent.payload_json = (char *)"{\"w\":640}";
    intent.run_at = T0 + 30;
    intent.expires_at = T0 + 30 + DAY;
    publish(f, &intent);

    struct intent_record r;
    get_intent(f, 1, &r);
    assert_string_equal(r.id, intent.id);
    assert_string_equal(r.namespace_, "media");
    assert_string_equal(r.goal, "resize");
    assert_int_equal(r.status, INTENT_OPEN);
    assert_true(r.is_public);
    assert_int_equal(r.priority, 7);
    assert_int_equal(r.claim_attempts, 0);
    assert_int_equal(r.max_attempts, 5);
    assert_float_equal(r.backoff_base, 2.5, 0.0);
    assert_string_equal(r.target_worker, "w1");
    assert_string_equal(r.required_capability, "gpu");
    assert_string_equal(r.publisher, PUB);
    assert_string_equal(r.claimed_by, "");
    assert_float_equal(r.run_at, T0 + 30, 1e-6);
    assert_float_equal(r.created_at, T0, 1e-6);
    assert_float_equal(r.expires_at, T0 + 30 + DAY, 1e-6);
    assert_true(isnan(r.claimed_at));
    assert_true(isnan(r.claim_expires_at));
    assert_true(isnan(r.completed_at));
    assert_string_equal(r.result_type, "");
    assert_string_equal(r.payload_json, "{\"w\":640}");
    assert_null(r.result_json);
    assert_null(r.last_error);
    intent_record_clear(&r);
    assert_null(r.payload_json);
}

static void intent_without_target_or_capability_reads_empty(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_false(r.is_public);
    assert_string_equal(r.target_worker, "");
    assert_string_equal(r.required_capability, "");
    intent_record_clear(&r);
}

static void unknown_intent_is_not_found(void **state)
{
    struct fixture *f = *state;
    char id[INTENT_ID_LEN + 1];
    struct intent_record r;
    memset(&r, 0, sizeof r);
    intent_id(id, 99);
    assert_int_equal(f->store->ops->get_intent(f->store->backend, id, &r), BUS_ERR_NOT_FOUND);
    assert_null(r.payload_json);
}

static void duplicate_id_is_refused(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    struct stored_response replay = {0};
    new_intent(&intent, 1, "g", T0);
    publish(f, &intent);
    assert_int_not_equal(f->store->ops->publish(f->store->backend, &intent, 0, NULL, 0, NULL, &replay),
                         BUS_OK);
    assert_null(replay.body);
}

/* ---- claim -------------------------------------------------------------- */

static void empty_store_has_nothing_to_claim(void **state)
{
    struct fixture *f = *state;
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0);
}

static void claim_hands_out_intent_and_lease(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "resize", T0);
    intent.priority = 42;
    intent.max_attempts = 4;
    intent.payload_json = (char *)"[1,2]";
    publish(f, &intent);

    struct claimed_intent c;
    claim_one(f, T0 + 5, &c);
    assert_string_equal(c.id, intent.id);
    assert_string_equal(c.namespace_, "default");
    assert_string_equal(c.goal, "resize");
    assert_string_equal(c.payload_json, "[1,2]");
    assert_int_equal(c.claim_attempts, 1);
    assert_int_equal(c.max_attempts, 4);
    assert_int_equal(c.priority, 42);
    assert_string_equal(c.target_worker, "");
    assert_string_equal(c.required_capability, "");
    assert_float_equal(c.claim_expires_at, T0 + 5 + LEASE, 1e-6);

    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_CLAIMED);
    assert_int_equal(r.claim_attempts, 1);
    assert_string_equal(r.claimed_by, PUB);
    assert_float_equal(r.claimed_at, T0 + 5, 1e-6);
    assert_float_equal(r.claim_expires_at, T0 + 5 + LEASE, 1e-6);
    intent_record_clear(&r);
    claimed_intent_clear(&c);
    assert_null(c.payload_json);
}

static void claimed_intent_is_not_claimable_while_leased(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 1);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + LEASE - 0.001);
    claimed_intent_clear(&c);
}

static void claim_order_priority_first(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0); /* older, smaller id, lower priority */
    intent.priority = 10;
    publish(f, &intent);
    new_intent(&intent, 2, "g", T0 + 1);
    intent.priority = 1000;
    publish(f, &intent);
    new_intent(&intent, 3, "g", T0 + 2);
    intent.priority = 0;
    publish(f, &intent);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 2);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 1);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 3);
}

static void claim_order_then_run_at(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0); /* older, smaller id, later run_at */
    intent.run_at = T0 + 5;
    publish(f, &intent);
    new_intent(&intent, 2, "g", T0 + 1);
    intent.run_at = T0 + 2;
    publish(f, &intent);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 2);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 1);
}

static void claim_order_then_claim_attempts(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0); /* older, smaller id: claimed first */
    struct claimed_intent c;
    claim_one(f, T0 + 1, &c);
    assert_string_equal(c.id, "00000000000000000000000000000001");
    claimed_intent_clear(&c);
    struct intent_new intent;
    new_intent(&intent, 2, "g", T0 + 2);
    intent.run_at = T0; /* same run_at as intent 1 */
    publish(f, &intent);
    /* Intent 1's lease has expired: it competes again with 1 attempt used. */
    expect_claim_id(f, (struct claim_spec){0}, T0 + 1 + LEASE, 2);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 1 + LEASE, 1);
}

static void claim_order_then_created_at(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0 + 3); /* smaller id, created later */
    intent.run_at = T0 + 5;
    publish(f, &intent);
    new_intent(&intent, 2, "g", T0 + 1);
    intent.run_at = T0 + 5;
    publish(f, &intent);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 2);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 1);
}

static void claim_order_then_id(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 0xb, "g", T0);
    publish_simple(f, 0xa, "g", T0);
    publish_simple(f, 0xc, "g", T0);
    expect_claim_id(f, (struct claim_spec){0}, T0, 0xa);
    expect_claim_id(f, (struct claim_spec){0}, T0, 0xb);
    expect_claim_id(f, (struct claim_spec){0}, T0, 0xc);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0);
}

static void claim_filters_by_goal(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "resize", T0);
    publish_simple(f, 2, "transcribe", T0);
    expect_nothing_to_claim(f, (struct claim_spec){.goal = "other"}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.goal = "Transcribe"}, T0);
    expect_claim_id(f, (struct claim_spec){.goal = "transcribe"}, T0, 2);
    expect_nothing_to_claim(f, (struct claim_spec){.goal = "transcribe"}, T0);
    expect_claim_id(f, (struct claim_spec){.goal = ""}, T0, 1);
}

static void claim_is_limited_to_its_namespace(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    strcpy(intent.namespace_, "team-a");
    intent.is_public = true;
    publish(f, &intent);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.namespace_ = "team-b"}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.namespace_ = "Team-a"}, T0);
    struct claimed_intent c;
    assert_int_equal(claim_with(f, (struct claim_spec){.namespace_ = "team-a"}, T0, &c), BUS_OK);
    assert_string_equal(c.namespace_, "team-a");
    claimed_intent_clear(&c);
}

static void private_intent_is_claimable_by_its_publisher_only(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0); /* private, by PUB */
    expect_nothing_to_claim(f, (struct claim_spec){.claimer = OTHER}, T0);
    expect_claim_id(f, (struct claim_spec){.claimer = PUB}, T0, 1);
}

static void public_intent_is_claimable_by_anyone(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.is_public = true;
    publish(f, &intent);
    expect_claim_id(f, (struct claim_spec){.claimer = OTHER}, T0, 1);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_string_equal(r.claimed_by, OTHER);
    intent_record_clear(&r);
}

static void targeted_intent_goes_to_that_worker_only(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    strcpy(intent.target_worker, "w1");
    publish(f, &intent);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.worker_id = "w2"}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.worker_id = "W1"}, T0);
    struct claimed_intent c;
    assert_int_equal(claim_with(f, (struct claim_spec){.worker_id = "w1"}, T0, &c), BUS_OK);
    assert_string_equal(c.target_worker, "w1");
    claimed_intent_clear(&c);
}

static void untargeted_intent_goes_to_any_worker(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    expect_claim_id(f, (struct claim_spec){.worker_id = "w9"}, T0, 1);
}

static void required_capability_must_be_offered(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    strcpy(intent.required_capability, "whisper");
    publish(f, &intent);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.capabilities_json = "[]"}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.capabilities_json = "[\"gpu\"]"}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.capabilities_json = "[\"Whisper\"]"}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){.capabilities_json = "[\"whisper-large\"]"}, T0);
    struct claimed_intent c;
    assert_int_equal(
        claim_with(f, (struct claim_spec){.capabilities_json = "[\"gpu\",\"whisper\"]"}, T0, &c),
        BUS_OK);
    assert_string_equal(c.required_capability, "whisper");
    claimed_intent_clear(&c);
}

static void intent_without_capability_needs_none(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    expect_claim_id(f, (struct claim_spec){.capabilities_json = "[\"gpu\"]"}, T0, 1);
}

static void delayed_intent_is_claimable_from_run_at(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.run_at = T0 + 100;
    intent.expires_at = T0 + 100 + DAY;
    publish(f, &intent);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 99.9);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 100, 1);
}

static void expired_intent_is_not_claimable(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.expires_at = T0 + 10;
    publish(f, &intent);
    new_intent(&intent, 2, "g", T0 - 2 * DAY);
    intent.expires_at = T0 - DAY;
    publish(f, &intent);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 10);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 11);
}

static void intent_is_claimable_until_it_expires(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.expires_at = T0 + 10;
    publish(f, &intent);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 9.9, 1);
}

static void exhausted_attempts_are_not_claimable(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.max_attempts = 2;
    publish(f, &intent);
    expect_claim_id(f, (struct claim_spec){0}, T0, 1);
    expect_claim_id(f, (struct claim_spec){0}, T0 + LEASE, 1); /* lease 1 expired */
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 3 * LEASE); /* 2 of 2 used */
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.claim_attempts, 2);
    intent_record_clear(&r);
}

/* ---- expired leases ----------------------------------------------------- */

static void expired_lease_is_claimable_again_and_old_token_refused(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.is_public = true;
    publish(f, &intent);
    struct claimed_intent first, second;
    claim_one(f, T0, &first);
    expect_nothing_to_claim(f, (struct claim_spec){.claimer = OTHER}, T0 + LEASE - 0.5);
    assert_int_equal(claim_with(f, (struct claim_spec){.claimer = OTHER}, T0 + LEASE, &second),
                     BUS_OK);
    assert_string_equal(second.id, first.id);
    assert_int_equal(second.claim_attempts, 2);
    assert_string_not_equal(second.token, first.token);
    assert_float_equal(second.claim_expires_at, T0 + 2 * LEASE, 1e-6);

    double expires = 0;
    struct fail_outcome outcome;
    assert_int_equal(do_extend(f, lease_of(&first, PUB, T0 + LEASE + 1), 60, &expires),
                     BUS_ERR_NOT_FOUND);
    assert_int_equal(do_fail(f, lease_of(&first, PUB, T0 + LEASE + 1), "x", 0, &outcome),
                     BUS_ERR_NOT_FOUND);
    assert_int_equal(do_fulfill(f, lease_of(&first, PUB, T0 + LEASE + 1), NULL, NULL),
                     BUS_ERR_NOT_FOUND);
    /* Even the old token presented by the new claimer fails. */
    assert_int_equal(do_fulfill(f, lease_of(&first, OTHER, T0 + LEASE + 1), NULL, NULL),
                     BUS_ERR_NOT_FOUND);
    assert_int_equal(do_fulfill(f, lease_of(&second, OTHER, T0 + LEASE + 1), "1", "json"),
                     BUS_OK);
    assert_int_equal(status_of(f, 1), INTENT_FULFILLED);
    claimed_intent_clear(&first);
    claimed_intent_clear(&second);
}

/* The claim index holds open rows alone; a lapsed lease is found through
 * the lease index and still takes its place in the claim order, ahead of
 * open rows of lower priority and behind those of higher. */
/* Publishes intents 1..count of goal "g", n at T0 + n with priorities[n - 1]. */
static void publish_with_priorities(struct fixture *f, const int *priorities, unsigned count)
{
    for (unsigned n = 1; n <= count; n++) {
        struct intent_new intent;
        new_intent(&intent, n, "g", T0 + n);
        intent.priority = priorities[n - 1];
        publish(f, &intent);
    }
}

static void lapsed_lease_keeps_its_place_in_claim_order(void **state)
{
    struct fixture *f = *state;
    static const int priorities[] = {10, 1000, 0, 2000};
    publish_with_priorities(f, priorities, 4);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 4); /* 2000 */
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 2); /* 1000 */
    /* Both leases lapse at T0 + 10 + LEASE: 4 and 2 come back, by priority,
     * around the open 1 (10) and 3 (0). */
    double lapsed = T0 + 10 + LEASE;
    struct claimed_intent again;
    assert_int_equal(claim_any(f, lapsed, &again), BUS_OK);
    char want[INTENT_ID_LEN + 1];
    intent_id(want, 4);
    assert_string_equal(again.id, want);
    assert_true(again.reclaimed);
    assert_int_equal(again.claim_attempts, 2);
    claimed_intent_clear(&again);
    expect_claim_id(f, (struct claim_spec){0}, lapsed, 2);
    expect_claim_id(f, (struct claim_spec){0}, lapsed, 1);
    expect_claim_id(f, (struct claim_spec){0}, lapsed, 3);
    expect_nothing_to_claim(f, (struct claim_spec){0}, lapsed);
}

/* A lease taken later but shorter ends first: a claim finds it lapsed
 * then, not only once the earlier, longer one ends (the store may skip
 * its look for lapsed leases before the earliest lease end it knows). */
static void a_shorter_lease_taken_later_lapses_first(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    publish_simple(f, 2, "g", T0 + 1);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 2, 1);                  /* ends at T0 + 62 */
    expect_claim_id(f, (struct claim_spec){.lease_seconds = 5}, T0 + 3, 2); /* T0 + 8 */
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 7.5);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 8, 2);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 61);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 62, 1);
}

/* The batch claim reads both sets in one merged order too. */
static void batch_claim_merges_lapsed_leases_in_order(void **state)
{
    struct fixture *f = *state;
    static const int priorities[] = {10, 1000, 0};
    publish_with_priorities(f, priorities, 3);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 10, 2);
    struct claim_request request;
    memset(&request, 0, sizeof request);
    strcpy(request.namespace_, DEFAULT_NAMESPACE);
    strcpy(request.claimer, PUB);
    request.lease_seconds = LEASE;
    request.now = T0 + 10 + LEASE;
    char tokens[4][CLAIM_TOKEN_LEN + 1];
    for (int i = 0; i < 4; i++)
        assert_true(token_random_hex(tokens[i], CLAIM_TOKEN_LEN / 2));
    struct claimed_intent out[4];
    memset(out, 0, sizeof out);
    int claimed = 0;
    struct store_claim_many_call call = {
        NULL, &request, (const char(*)[CLAIM_TOKEN_LEN + 1]) tokens, 4, out, &claimed};
    assert_int_equal(f->store->ops->claim_many(f->store->backend, &call), BUS_OK);
    assert_int_equal(claimed, 3);
    static const unsigned order[] = {2, 1, 3};
    for (int i = 0; i < 3; i++) {
        char want[INTENT_ID_LEN + 1];
        intent_id(want, order[i]);
        assert_string_equal(out[i].id, want);
        assert_int_equal(out[i].reclaimed, i == 0);
        claimed_intent_clear(&out[i]);
    }
    claim_request_clear(&request);
}

/* ---- extend ------------------------------------------------------------- */

static void extend_moves_the_lease_end(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    double expires = 0;
    assert_int_equal(do_extend(f, lease_of(&c, PUB, T0 + 50), 300, &expires), BUS_OK);
    assert_float_equal(expires, T0 + 350, 1e-6);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_CLAIMED);
    assert_float_equal(r.claim_expires_at, T0 + 350, 1e-6);
    assert_int_equal(r.claim_attempts, 1);
    intent_record_clear(&r);
    /* Past the original lease end, the extended lease still holds. */
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 200);
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 349), NULL, NULL), BUS_OK);
    claimed_intent_clear(&c);
}

static void extend_can_shorten_the_lease(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    double expires = 0;
    assert_int_equal(do_extend(f, lease_of(&c, PUB, T0 + 1), 10, &expires), BUS_OK);
    assert_float_equal(expires, T0 + 11, 1e-6);
    expect_claim_id(f, (struct claim_spec){0}, T0 + 11, 1);
    claimed_intent_clear(&c);
}

static void extend_with_wrong_token_claimer_or_expired_lease_is_not_found(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    double expires = -1;
    struct lease_ref ref = lease_of(&c, PUB, T0 + 1);
    ref.token[0] = ref.token[0] == '0' ? '1' : '0';
    assert_int_equal(do_extend(f, ref, 60, &expires), BUS_ERR_NOT_FOUND);
    assert_int_equal(do_extend(f, lease_of(&c, OTHER, T0 + 1), 60, &expires), BUS_ERR_NOT_FOUND);
    assert_int_equal(do_extend(f, lease_of(&c, PUB, T0 + LEASE), 60, &expires), BUS_ERR_NOT_FOUND);
    ref = lease_of(&c, PUB, T0 + 1);
    intent_id(ref.id, 2);
    assert_int_equal(do_extend(f, ref, 60, &expires), BUS_ERR_NOT_FOUND);
    assert_float_equal(expires, -1, 0.0);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_float_equal(r.claim_expires_at, T0 + LEASE, 1e-6);
    intent_record_clear(&r);
    claimed_intent_clear(&c);
}

/* ---- fulfill ------------------------------------------------------------ */

static void fulfill_stores_the_result(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 7), "\"done\"", "text"), BUS_OK);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_FULFILLED);
    assert_string_equal(r.result_json, "\"done\"");
    assert_string_equal(r.result_type, "text");
    assert_float_equal(r.completed_at, T0 + 7, 1e-6);
    assert_string_equal(r.claimed_by, PUB);
    assert_true(isnan(r.claim_expires_at));
    intent_record_clear(&r);
    /* A fulfilled intent is final: no second fulfil, no claim. */
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 8), "1", "json"), BUS_ERR_NOT_FOUND);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 2 * LEASE);
    claimed_intent_clear(&c);
}

static void fulfill_without_result_stores_no_result(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 1), NULL, "json"), BUS_OK);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_FULFILLED);
    assert_null(r.result_json);
    assert_string_equal(r.result_type, "");
    intent_record_clear(&r);
    claimed_intent_clear(&c);
}

static void fulfill_with_wrong_token_claimer_or_expired_lease_is_not_found(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    struct lease_ref ref = lease_of(&c, PUB, T0 + 1);
    ref.token[CLAIM_TOKEN_LEN - 1] = ref.token[CLAIM_TOKEN_LEN - 1] == 'f' ? 'e' : 'f';
    assert_int_equal(do_fulfill(f, ref, "1", "json"), BUS_ERR_NOT_FOUND);
    assert_int_equal(do_fulfill(f, lease_of(&c, OTHER, T0 + 1), "1", "json"), BUS_ERR_NOT_FOUND);
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + LEASE), "1", "json"), BUS_ERR_NOT_FOUND);
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 10 * LEASE), "1", "json"),
                     BUS_ERR_NOT_FOUND);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_CLAIMED);
    assert_null(r.result_json);
    intent_record_clear(&r);
    claimed_intent_clear(&c);
}

static void open_intent_cannot_be_fulfilled(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    memset(&c, 0, sizeof c);
    intent_id(c.id, 1);
    assert_true(token_random_hex(c.token, CLAIM_TOKEN_LEN / 2));
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 1), "1", "json"), BUS_ERR_NOT_FOUND);
    assert_int_equal(status_of(f, 1), INTENT_OPEN);
}

/* ---- fail --------------------------------------------------------------- */

static void fail_with_attempts_left_requeues_with_backoff(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0); /* backoff_base 5, max_attempts 3 */
    struct claimed_intent c;
    claim_one(f, T0, &c);
    struct fail_outcome out;
    assert_int_equal(do_fail(f, lease_of(&c, PUB, T0 + 10), "boom", 0.5, &out), BUS_OK);
    double run_at = T0 + 10 + backoff_delay(5.0, 1, 0.5);
    assert_float_equal(run_at, T0 + 20.5, 1e-6);
    assert_int_equal(out.status, INTENT_OPEN);
    assert_int_equal(out.claim_attempts, 1);
    assert_float_equal(out.run_at, run_at, 1e-6);

    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_OPEN);
    assert_int_equal(r.claim_attempts, 1);
    assert_float_equal(r.run_at, run_at, 1e-6);
    assert_string_equal(r.last_error, "boom");
    assert_string_equal(r.claimed_by, "");
    assert_true(isnan(r.claim_expires_at));
    intent_record_clear(&r);

    /* The old lease is gone and the intent waits for its backoff. */
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 11), NULL, NULL), BUS_ERR_NOT_FOUND);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 20.4);
    struct claimed_intent again;
    claim_one(f, T0 + 20.5, &again);
    assert_int_equal(again.claim_attempts, 2);
    claimed_intent_clear(&again);
    claimed_intent_clear(&c);
}

static void fail_backoff_grows_with_attempts(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.backoff_base = 3.0;
    intent.max_attempts = 5;
    publish(f, &intent);
    double now = T0;
    for (int attempt = 1; attempt <= 4; attempt++) {
        struct claimed_intent c;
        claim_one(f, now, &c);
        assert_int_equal(c.claim_attempts, attempt);
        struct fail_outcome out;
        assert_int_equal(do_fail(f, lease_of(&c, PUB, now + 1), NULL, 1.25, &out), BUS_OK);
        assert_int_equal(out.status, INTENT_OPEN);
        assert_float_equal(out.run_at, now + 1 + 3.0 * (1 << attempt) + 1.25, 1e-6);
        now = out.run_at;
        claimed_intent_clear(&c);
    }
}

static void fail_at_max_attempts_is_dead(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.max_attempts = 2;
    publish(f, &intent);
    struct claimed_intent c;
    struct fail_outcome out;
    claim_one(f, T0, &c);
    assert_int_equal(do_fail(f, lease_of(&c, PUB, T0 + 1), "first", 0, &out), BUS_OK);
    assert_int_equal(out.status, INTENT_OPEN);
    claimed_intent_clear(&c);

    claim_one(f, out.run_at, &c);
    assert_int_equal(c.claim_attempts, 2);
    assert_int_equal(do_fail(f, lease_of(&c, PUB, out.run_at + 1), "second", 0, &out), BUS_OK);
    assert_int_equal(out.status, INTENT_DEAD);
    assert_int_equal(out.claim_attempts, 2);

    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_DEAD);
    assert_string_equal(r.last_error, "second");
    assert_int_equal(r.claim_attempts, 2);
    intent_record_clear(&r);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + DAY / 2);
    assert_int_equal(do_fail(f, lease_of(&c, PUB, out.run_at + 2), "third", 0, &out),
                     BUS_ERR_NOT_FOUND);
    claimed_intent_clear(&c);
}

static void fail_with_wrong_token_claimer_or_expired_lease_is_not_found(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    struct fail_outcome out;
    struct lease_ref ref = lease_of(&c, PUB, T0 + 1);
    ref.token[5] = ref.token[5] == 'a' ? 'b' : 'a';
    assert_int_equal(do_fail(f, ref, "x", 0, &out), BUS_ERR_NOT_FOUND);
    assert_int_equal(do_fail(f, lease_of(&c, OTHER, T0 + 1), "x", 0, &out), BUS_ERR_NOT_FOUND);
    assert_int_equal(do_fail(f, lease_of(&c, PUB, T0 + LEASE), "x", 0, &out), BUS_ERR_NOT_FOUND);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_CLAIMED);
    assert_null(r.last_error);
    intent_record_clear(&r);
    claimed_intent_clear(&c);
}

/* ---- sweep of dead leases ----------------------------------------------- */

/* A done callback's record, waited for by the test thread. */
struct completion {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int calls;
    enum bus_err result;
};

static void completion_init(struct completion *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->changed, NULL);
}

static void completion_done(void *context, enum bus_err result)
{
    struct completion *c = context;
    pthread_mutex_lock(&c->lock);
    c->calls++;
    c->result = result;
    pthread_cond_signal(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

/* Waits for the one done call and returns its result. */
static enum bus_err completion_wait(struct completion *c)
{
    pthread_mutex_lock(&c->lock);
    while (c->calls == 0)
        pthread_cond_wait(&c->changed, &c->lock);
    enum bus_err result = c->result;
    pthread_mutex_unlock(&c->lock);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    return result;
}

/* The lease sweep as the bus queues it (sweep_submit), waited for here. */
static enum bus_err sweep(struct fixture *f, double now, long *dead, struct goal_tallies *goals)
{
    struct completion done;
    completion_init(&done);
    struct store_sweep_call call = {.now = now, .goals = *goals};
    enum bus_err err =
        f->store->ops->sweep_submit(f->store->backend, &call, completion_done, &done);
    if (err == BUS_OK)
        err = completion_wait(&done);
    *goals = call.goals;
    *dead = call.dead_count;
    return err;
}

static void sweep_dead_letters_exhausted_expired_leases(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.max_attempts = 1;
    publish(f, &intent);
    publish_simple(f, 2, "g", T0 + 1); /* attempts left: not the sweep's business */
    struct claimed_intent a, b;
    claim_one(f, T0, &a);
    claim_one(f, T0 + 1, &b);
    assert_string_equal(a.id, "00000000000000000000000000000001");
    assert_string_equal(b.id, "00000000000000000000000000000002");

    long dead = -1;
    struct goal_tallies goals = {0};
    assert_int_equal(sweep(f, T0 + LEASE - 1, &dead, &goals), BUS_OK);
    assert_int_equal(dead, 0);
    assert_int_equal(status_of(f, 1), INTENT_CLAIMED);

    assert_int_equal(sweep(f, T0 + 2 * LEASE, &dead, &goals), BUS_OK);
    assert_int_equal(dead, 1);
    assert_int_equal(goals.count, 1); /* handed back for the per-goal counters */
    assert_string_equal(goals.rows[0].goal, "g");
    assert_int_equal(goals.rows[0].lease_dead, 1);
    assert_int_equal(goals.rows[0].lease_requeued, 0);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_DEAD);
    assert_string_equal(r.last_error, "lease expired");
    intent_record_clear(&r);
    assert_int_equal(status_of(f, 2), INTENT_CLAIMED);

    assert_int_equal(sweep(f, T0 + 3 * LEASE, &dead, &goals), BUS_OK);
    assert_int_equal(dead, 0);
    assert_int_equal(goals.count, 0);
    goal_tallies_clear(&goals);
    claimed_intent_clear(&a);
    claimed_intent_clear(&b);
}

/* ---- attempt history ---------------------------------------------------- */

struct attempt_log {
    int count;
    struct intent_attempt rows[8];
};

static void keep_attempt(void *context, const struct intent_attempt *attempt)
{
    struct attempt_log *log = context;
    assert_true(log->count < 8);
    struct intent_attempt *row = &log->rows[log->count++];
    *row = *attempt;
    row->error_text = attempt->error_text ? strdup(attempt->error_text) : NULL;
}

static void read_attempts(struct fixture *f, unsigned n, struct attempt_log *log)
{
    char id[INTENT_ID_LEN + 1];
    intent_id(id, n);
    for (int i = 0; i < log->count; i++)
        intent_attempt_clear(&log->rows[i]);
    log->count = 0;
    assert_int_equal(f->store->ops->attempt_list(f->store->backend, id, keep_attempt, log),
                     BUS_OK);
}

static void attempts_follow_claims_and_their_outcomes(void **state)
{
    struct fixture *f = *state;
    struct attempt_log log = {0};
    publish_simple(f, 1, "g", T0);
    read_attempts(f, 1, &log);
    assert_int_equal(log.count, 0);

    struct claimed_intent c;
    assert_int_equal(claim_with(f, (struct claim_spec){.worker_id = "w1"}, T0, &c), BUS_OK);
    struct fail_outcome outcome;
    assert_int_equal(do_fail(f, lease_of(&c, PUB, T0 + 1), "boom", 0, &outcome), BUS_OK);
    claimed_intent_clear(&c);
    /* taken again after the backoff, then its lease lapses and a claim takes it back */
    assert_int_equal(claim_with(f, (struct claim_spec){.worker_id = "w2"}, T0 + 100, &c), BUS_OK);
    claimed_intent_clear(&c);
    assert_int_equal(claim_with(f, (struct claim_spec){.worker_id = "w3"}, T0 + 100 + LEASE + 5,
                                &c),
                     BUS_OK);
    double expires = 0;
    assert_int_equal(do_extend(f, lease_of(&c, PUB, T0 + 170), 500, &expires), BUS_OK);
    read_attempts(f, 1, &log);
    assert_int_equal(log.count, 3);
    assert_string_equal(log.rows[2].outcome, "");
    assert_true(isnan(log.rows[2].ended_at));
    assert_true(log.rows[2].lease_expires_at == expires);
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 180), NULL, NULL), BUS_OK);
    claimed_intent_clear(&c);

    read_attempts(f, 1, &log);
    assert_int_equal(log.count, 3);
    const char *outcomes[] = {"failed", "lease_expired", "fulfilled"};
    const char *workers[] = {"w1", "w2", "w3"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(log.rows[i].attempt, i + 1);
        assert_string_equal(log.rows[i].outcome, outcomes[i]);
        assert_string_equal(log.rows[i].worker_id, workers[i]);
        assert_string_equal(log.rows[i].claimer, PUB);
    }
    assert_string_equal(log.rows[0].error_text, "boom");
    assert_true(log.rows[0].ended_at == T0 + 1);
    assert_true(log.rows[1].ended_at == T0 + 100 + LEASE); /* when the lease ran out */
    assert_null(log.rows[2].error_text);
    assert_true(log.rows[2].ended_at == T0 + 180);

    /* they go with their intent */
    run_cleanup(f, T0 + 180 + 8 * DAY);
    assert_false(intent_exists(f, 1));
    read_attempts(f, 1, &log);
    assert_int_equal(log.count, 0);
}

/* ---- cleanup ------------------------------------------------------------ */

static void assert_stats(struct cleanup_stats got, struct cleanup_stats want)
{
    assert_int_equal(got.expired_open_deleted, want.expired_open_deleted);
    assert_int_equal(got.expired_claims_requeued, want.expired_claims_requeued);
    assert_int_equal(got.expired_claims_dead, want.expired_claims_dead);
    assert_int_equal(got.fulfilled_deleted, want.fulfilled_deleted);
    assert_int_equal(got.dead_deleted, want.dead_deleted);
    assert_int_equal(got.dead_letters_deleted, want.dead_letters_deleted);
    assert_int_equal(got.store_deleted, want.store_deleted);
    assert_int_equal(got.idempotency_deleted, want.idempotency_deleted);
}

static void cleanup_of_empty_store_counts_nothing(void **state)
{
    struct fixture *f = *state;
    assert_stats(run_cleanup(f, T0), (struct cleanup_stats){0});
}

static void cleanup_deletes_expired_open_intents(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.expires_at = T0 + 100;
    publish(f, &intent);
    publish_simple(f, 2, "g", T0); /* expires a day later */
    assert_stats(run_cleanup(f, T0 + 99), (struct cleanup_stats){0});
    assert_true(intent_exists(f, 1));
    assert_stats(run_cleanup(f, T0 + 100), (struct cleanup_stats){.expired_open_deleted = 1});
    assert_false(intent_exists(f, 1));
    assert_true(intent_exists(f, 2));
}

static void cleanup_requeues_expired_leases_with_attempts_left(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0); /* backoff_base 5 */
    struct claimed_intent c;
    claim_one(f, T0, &c);
    assert_stats(run_cleanup(f, T0 + LEASE - 1), (struct cleanup_stats){0});
    assert_stats(run_cleanup(f, T0 + LEASE + 1),
                 (struct cleanup_stats){.expired_claims_requeued = 1});
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_OPEN);
    assert_int_equal(r.claim_attempts, 1);
    assert_string_equal(r.last_error, "lease expired");
    /* run_at = now + 5 * 2^1 + jitter in [0, 2) */
    assert_true(r.run_at >= T0 + LEASE + 1 + 10.0);
    assert_true(r.run_at < T0 + LEASE + 1 + 12.0);
    intent_record_clear(&r);
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + LEASE + 2), NULL, NULL),
                     BUS_ERR_NOT_FOUND);
    claimed_intent_clear(&c);
}

static void cleanup_dead_letters_expired_leases_without_attempts(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.max_attempts = 1;
    publish(f, &intent);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    assert_stats(run_cleanup(f, T0 + LEASE), (struct cleanup_stats){.expired_claims_dead = 1});
    assert_int_equal(status_of(f, 1), INTENT_DEAD);
    claimed_intent_clear(&c);
}

static void cleanup_deletes_fulfilled_after_seven_days(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    double done = T0 + 10;
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, done), "1", "json"), BUS_OK);
    assert_stats(run_cleanup(f, done + 7 * DAY - 1), (struct cleanup_stats){0});
    assert_true(intent_exists(f, 1));
    assert_stats(run_cleanup(f, done + 7 * DAY + 1), (struct cleanup_stats){.fulfilled_deleted = 1});
    assert_false(intent_exists(f, 1));
    claimed_intent_clear(&c);
}

static void cleanup_keeps_fulfilled_for_the_retention_it_is_given(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    claim_one(f, T0, &c);
    double done = T0 + 10;
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, done), "1", "json"), BUS_OK);
    assert_stats(run_cleanup_keeping(f, done + 59, 60), (struct cleanup_stats){0});
    assert_stats(run_cleanup_keeping(f, done + 61, 60),
                 (struct cleanup_stats){.fulfilled_deleted = 1});
    assert_false(intent_exists(f, 1));
    claimed_intent_clear(&c);
}

static void cleanup_deletes_dead_and_dead_letters_after_seven_days(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    intent.max_attempts = 1;
    intent.expires_at = T0 + 30 * DAY; /* outlives the retention */
    publish(f, &intent);
    struct claimed_intent c;
    struct fail_outcome out;
    claim_one(f, T0, &c);
    double died = T0 + 5;
    assert_int_equal(do_fail(f, lease_of(&c, PUB, died), "bad input", 0, &out), BUS_OK);
    assert_int_equal(out.status, INTENT_DEAD);
    assert_stats(run_cleanup(f, died + 7 * DAY - 1), (struct cleanup_stats){0});
    assert_int_equal(status_of(f, 1), INTENT_DEAD);
    assert_stats(run_cleanup(f, died + 7 * DAY + 1),
                 (struct cleanup_stats){.dead_deleted = 1, .dead_letters_deleted = 1});
    assert_false(intent_exists(f, 1));
    claimed_intent_clear(&c);
}

static void cleanup_counts_each_kind_in_one_pass(void **state)
{
    struct fixture *f = *state;
    struct intent_new intent;
    struct claimed_intent c;
    /* 1: open, expired. */
    new_intent(&intent, 1, "expire", T0);
    intent.expires_at = T0 + 50;
    publish(f, &intent);
    /* 2: claimed, lease expired, attempts left. */
    new_intent(&intent, 2, "requeue", T0);
    publish(f, &intent);
    assert_int_equal(claim_with(f, (struct claim_spec){.goal = "requeue"}, T0, &c), BUS_OK);
    claimed_intent_clear(&c);
    /* 3 and 4: claimed, lease expired, no attempts left. */
    for (unsigned n = 3; n <= 4; n++) {
        new_intent(&intent, n, "die", T0);
        intent.max_attempts = 1;
        publish(f, &intent);
        assert_int_equal(claim_with(f, (struct claim_spec){.goal = "die"}, T0, &c), BUS_OK);
        claimed_intent_clear(&c);
    }
    /* 5: open, still live. */
    publish_simple(f, 5, "live", T0);
    assert_stats(run_cleanup(f, T0 + 100), (struct cleanup_stats){.expired_open_deleted = 1,
                                                                  .expired_claims_requeued = 1,
                                                                  .expired_claims_dead = 2});
    assert_false(intent_exists(f, 1));
    assert_int_equal(status_of(f, 2), INTENT_OPEN);
    assert_int_equal(status_of(f, 3), INTENT_DEAD);
    assert_int_equal(status_of(f, 4), INTENT_DEAD);
    assert_int_equal(status_of(f, 5), INTENT_OPEN);
}

/* ---- key-value store ---------------------------------------------------- */

static enum bus_err kv_set(struct fixture *f, const char *principal, const char *key,
                           const char *value, double now, double ttl)
{
    struct kv_write write = {.key = key, .value_json = value, .expires_at = now + ttl, .now = now};
    struct stored_response replay = {0};
    strcpy(write.principal, principal);
    enum bus_err err = f->store->ops->kv_set(f->store->backend, &write, NULL, 0, NULL, &replay);
    assert_null(replay.body);
    return err;
}

/* The stored value, or NULL when not found; the caller frees it. */
static char *kv_get(struct fixture *f, const char *principal, const char *key, double now)
{
    char *value = (char *)"sentinel";
    enum bus_err err = f->store->ops->kv_get(f->store->backend, principal, key, now, &value);
    if (err == BUS_ERR_NOT_FOUND) {
        assert_null(value);
        return NULL;
    }
    assert_int_equal(err, BUS_OK);
    assert_non_null(value);
    return value;
}

static void kv_value_reads_back_until_it_expires(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(kv_set(f, PUB, "k", "{\"n\":1}", T0, 600), BUS_OK);
    char *value = kv_get(f, PUB, "k", T0 + 599);
    assert_string_equal(value, "{\"n\":1}");
    free(value);
    assert_null(kv_get(f, PUB, "k", T0 + 600));
}

static void kv_set_overwrites_value_and_expiry(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(kv_set(f, PUB, "k", "1", T0, 10), BUS_OK);
    assert_int_equal(kv_set(f, PUB, "k", "2", T0 + 5, 100), BUS_OK);
    char *value = kv_get(f, PUB, "k", T0 + 50);
    assert_string_equal(value, "2");
    free(value);
}

static void kv_keys_are_per_principal(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(kv_set(f, PUB, "k", "\"mine\"", T0, 600), BUS_OK);
    assert_null(kv_get(f, OTHER, "k", T0));
    assert_null(kv_get(f, PUB, "K", T0));
    assert_int_equal(kv_set(f, OTHER, "k", "\"theirs\"", T0, 600), BUS_OK);
    char *mine = kv_get(f, PUB, "k", T0);
    char *theirs = kv_get(f, OTHER, "k", T0);
    assert_string_equal(mine, "\"mine\"");
    assert_string_equal(theirs, "\"theirs\"");
    free(mine);
    free(theirs);
}

static void cleanup_deletes_expired_kv(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(kv_set(f, PUB, "short", "1", T0, 10), BUS_OK);
    assert_int_equal(kv_set(f, PUB, "long", "2", T0, 1000), BUS_OK);
    assert_stats(run_cleanup(f, T0 + 9), (struct cleanup_stats){0});
    assert_stats(run_cleanup(f, T0 + 10), (struct cleanup_stats){.store_deleted = 1});
    char *value = kv_get(f, PUB, "long", T0 + 10);
    assert_string_equal(value, "2");
    free(value);
}

/* ---- idempotency -------------------------------------------------------- */

static struct idempotency idem_of(const char *principal, const char *key, char fill)
{
    struct idempotency idem;
    memset(&idem, 0, sizeof idem);
    strcpy(idem.principal, principal);
    snprintf(idem.key, sizeof idem.key, "%s", key);
    memset(idem.fingerprint, fill, 64);
    idem.fingerprint[64] = '\0';
    return idem;
}

static enum bus_err publish_idem(struct fixture *f, unsigned n, double now,
                                 const struct idempotency *idem, const char *body,
                                 struct stored_response *replay)
{
    struct intent_new intent;
    new_intent(&intent, n, "g", now);
    intent.expires_at = now + 30 * DAY; /* outlives the idempotency record */
    memset(replay, 0, sizeof *replay);
    return f->store->ops->publish(f->store->backend, &intent, 0, idem, 201, body, replay);
}

static void idempotent_publish_first_time_inserts(void **state)
{
    struct fixture *f = *state;
    struct idempotency idem = idem_of(PUB, "order-1", 'a');
    struct stored_response replay;
    assert_int_equal(publish_idem(f, 1, T0, &idem, "{\"id\":\"one\"}", &replay), BUS_OK);
    assert_null(replay.body);
    assert_true(intent_exists(f, 1));
}

static void idempotent_publish_same_fingerprint_replays(void **state)
{
    struct fixture *f = *state;
    struct idempotency idem = idem_of(PUB, "order-1", 'a');
    struct stored_response replay;
    assert_int_equal(publish_idem(f, 1, T0, &idem, "{\"id\":\"one\"}", &replay), BUS_OK);
    assert_int_equal(publish_idem(f, 2, T0 + 60, &idem, "{\"id\":\"two\"}", &replay), BUS_OK);
    assert_non_null(replay.body);
    assert_string_equal(replay.body, "{\"id\":\"one\"}");
    assert_int_equal(replay.status, 201);
    stored_response_clear(&replay);
    assert_null(replay.body);
    assert_false(intent_exists(f, 2));
    /* Only one intent to claim. */
    expect_claim_id(f, (struct claim_spec){0}, T0 + 60, 1);
    expect_nothing_to_claim(f, (struct claim_spec){0}, T0 + 60);
}

static void idempotent_publish_different_fingerprint_conflicts(void **state)
{
    struct fixture *f = *state;
    struct idempotency first = idem_of(PUB, "order-1", 'a');
    struct idempotency second = idem_of(PUB, "order-1", 'b');
    struct stored_response replay;
    assert_int_equal(publish_idem(f, 1, T0, &first, "{}", &replay), BUS_OK);
    assert_int_equal(publish_idem(f, 2, T0 + 1, &second, "{}", &replay),
                     BUS_ERR_IDEMPOTENCY_CONFLICT);
    assert_null(replay.body);
    assert_false(intent_exists(f, 2));
}

static void idempotency_keys_are_per_principal(void **state)
{
    struct fixture *f = *state;
    struct idempotency mine = idem_of(PUB, "order-1", 'a');
    struct idempotency theirs = idem_of(OTHER, "order-1", 'b');
    struct stored_response replay;
    assert_int_equal(publish_idem(f, 1, T0, &mine, "{}", &replay), BUS_OK);
    assert_int_equal(publish_idem(f, 2, T0, &theirs, "{}", &replay), BUS_OK);
    assert_null(replay.body);
    assert_true(intent_exists(f, 2));
}

static void idempotency_record_lapses_after_24_hours(void **state)
{
    struct fixture *f = *state;
    struct idempotency first = idem_of(PUB, "order-1", 'a');
    struct idempotency second = idem_of(PUB, "order-1", 'b');
    struct stored_response replay;
    assert_int_equal(publish_idem(f, 1, T0, &first, "{\"n\":1}", &replay), BUS_OK);
    assert_int_equal(publish_idem(f, 2, T0 + DAY - 1, &second, "{\"n\":2}", &replay),
                     BUS_ERR_IDEMPOTENCY_CONFLICT);
    assert_int_equal(publish_idem(f, 3, T0 + DAY + 1, &second, "{\"n\":3}", &replay), BUS_OK);
    assert_null(replay.body);
    assert_true(intent_exists(f, 3));
    /* The new record now answers for the key. */
    assert_int_equal(publish_idem(f, 4, T0 + DAY + 2, &second, "{\"n\":4}", &replay), BUS_OK);
    assert_string_equal(replay.body, "{\"n\":3}");
    stored_response_clear(&replay);
}

static void failed_idempotent_publish_is_not_remembered(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct idempotency idem = idem_of(PUB, "retry-me", 'a');
    struct stored_response replay;
    /* Same id as intent 1: the insert fails and must leave no record. */
    assert_int_not_equal(publish_idem(f, 1, T0 + 1, &idem, "{\"first\":1}", &replay), BUS_OK);
    assert_null(replay.body);
    assert_int_equal(publish_idem(f, 2, T0 + 2, &idem, "{\"second\":2}", &replay), BUS_OK);
    assert_null(replay.body);
    assert_true(intent_exists(f, 2));
}

static void cleanup_deletes_idempotency_records_after_24_hours(void **state)
{
    struct fixture *f = *state;
    struct idempotency idem = idem_of(PUB, "order-1", 'a');
    struct stored_response replay;
    assert_int_equal(publish_idem(f, 1, T0, &idem, "{}", &replay), BUS_OK);
    assert_stats(run_cleanup(f, T0 + DAY - 1), (struct cleanup_stats){0});
    assert_stats(run_cleanup(f, T0 + DAY + 1), (struct cleanup_stats){.idempotency_deleted = 1});
}

static void idempotent_kv_set_replays(void **state)
{
    struct fixture *f = *state;
    struct idempotency idem = idem_of(PUB, "set-1", 'c');
    struct idempotency other = idem_of(PUB, "set-1", 'd');
    struct kv_write write = {.key = "k", .value_json = "1", .expires_at = T0 + 600, .now = T0};
    strcpy(write.principal, PUB);
    struct stored_response replay = {0};
    assert_int_equal(f->store->ops->kv_set(f->store->backend, &write, &idem, 200, "{\"ok\":1}",
                                           &replay),
                     BUS_OK);
    assert_null(replay.body);
    write.value_json = "2";
    write.now = T0 + 1;
    assert_int_equal(f->store->ops->kv_set(f->store->backend, &write, &idem, 200, "{\"ok\":2}",
                                           &replay),
                     BUS_OK);
    assert_string_equal(replay.body, "{\"ok\":1}");
    assert_int_equal(replay.status, 200);
    stored_response_clear(&replay);
    char *value = kv_get(f, PUB, "k", T0 + 2);
    assert_string_equal(value, "1"); /* the replay wrote nothing */
    free(value);
    assert_int_equal(f->store->ops->kv_set(f->store->backend, &write, &other, 200, "{}", &replay),
                     BUS_ERR_IDEMPOTENCY_CONFLICT);
    assert_null(replay.body);
}

/* ---- opening ------------------------------------------------------------ */

static void open_in_missing_directory_fails_cleanly(void **state)
{
    (void)state;
    assert_null(store_sqlite_open("/nonexistent-intent-bus-dir/sub/t.db", 2, false));
}

static void data_survives_close_and_reopen(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    assert_int_equal(kv_set(f, PUB, "k", "\"v\"", T0, 600), BUS_OK);
    store_close(f->store);
    f->store = store_sqlite_open(f->files.path, 1, false);
    assert_non_null(f->store);
    assert_int_equal(status_of(f, 1), INTENT_OPEN);
    char *value = kv_get(f, PUB, "k", T0 + 1);
    assert_string_equal(value, "\"v\"");
    free(value);
    expect_claim_id(f, (struct claim_spec){0}, T0, 1);
}

static void zero_readers_still_reads(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    f->store = store_sqlite_open(f->files.path, 0, false);
    assert_non_null(f->store);
    publish_simple(f, 1, "g", T0);
    assert_int_equal(status_of(f, 1), INTENT_OPEN);
}

/* ---- concurrency -------------------------------------------------------- */

#define RACE_INTENTS 64
#define RACE_THREADS 4

struct claim_racer {
    struct fixture *f;
    char ids[RACE_INTENTS][INTENT_ID_LEN + 1];
    int claimed;
    int errors; /* counted here: cmocka asserts only on the main thread */
};

static void *race_claims(void *arg)
{
    struct claim_racer *racer = arg;
    struct store *store = racer->f->store;
    for (;;) {
        struct claim_request request;
        struct claimed_intent out;
        memset(&request, 0, sizeof request);
        memset(&out, 0, sizeof out);
        strcpy(request.namespace_, DEFAULT_NAMESPACE);
        strcpy(request.claimer, PUB);
        if (!token_random_hex(request.token, CLAIM_TOKEN_LEN / 2))
            racer->errors++;
        request.lease_seconds = LEASE;
        request.now = T0 + 1;
        enum bus_err err = store->ops->claim(store->backend, &request, &out);
        if (err == BUS_ERR_EMPTY)
            break;
        if (err != BUS_OK || racer->claimed >= RACE_INTENTS) {
            racer->errors++;
            break;
        }
        strcpy(racer->ids[racer->claimed++], out.id);
        claimed_intent_clear(&out);
        /* More readers than the pool holds: get_intent must wait, not fail. */
        struct intent_record record;
        memset(&record, 0, sizeof record);
        if (store->ops->get_intent(store->backend, racer->ids[racer->claimed - 1], &record) !=
                BUS_OK ||
            record.status != INTENT_CLAIMED)
            racer->errors++;
        intent_record_clear(&record);
    }
    return NULL;
}

static void concurrent_claims_hand_each_intent_out_once(void **state)
{
    struct fixture *f = *state;
    for (unsigned n = 1; n <= RACE_INTENTS; n++)
        publish_simple(f, n, "g", T0);
    static struct claim_racer racers[RACE_THREADS];
    pthread_t threads[RACE_THREADS];
    for (int i = 0; i < RACE_THREADS; i++) {
        memset(&racers[i], 0, sizeof racers[i]);
        racers[i].f = f;
        assert_int_equal(pthread_create(&threads[i], NULL, race_claims, &racers[i]), 0);
    }
    bool seen[RACE_INTENTS + 1] = {false};
    int total = 0;
    for (int i = 0; i < RACE_THREADS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(racers[i].errors, 0);
        for (int j = 0; j < racers[i].claimed; j++) {
            unsigned n = (unsigned)strtoul(racers[i].ids[j], NULL, 16);
            assert_in_range(n, 1, RACE_INTENTS);
            assert_false(seen[n]);
            seen[n] = true;
            total++;
        }
    }
    assert_int_equal(total, RACE_INTENTS);
}

/* ---- the asynchronous publish, claim and fulfill ------------------------ */

static void submitted_publish_claim_and_fulfill_are_committed(void **state)
{
    struct fixture *f = *state;
    const struct store_ops *ops = f->store->ops;
    struct completion done;

    struct intent_new intent;
    new_intent(&intent, 1, "g", T0);
    struct stored_response replay = {0, NULL};
    struct store_publish_call publish = {NULL, &intent, 0, NULL, 201, "{}", &replay};
    completion_init(&done);
    assert_int_equal(ops->publish_submit(f->store->backend, &publish, completion_done, &done),
                     BUS_OK);
    assert_int_equal(completion_wait(&done), BUS_OK);
    assert_null(replay.body);

    struct claim_request request;
    memset(&request, 0, sizeof request);
    strcpy(request.namespace_, DEFAULT_NAMESPACE);
    strcpy(request.claimer, PUB);
    assert_true(token_random_hex(request.token, CLAIM_TOKEN_LEN / 2));
    request.lease_seconds = LEASE;
    request.now = T0;
    struct claimed_intent claimed = {0};
    struct store_claim_call claim = {NULL, &request, &claimed};
    completion_init(&done);
    assert_int_equal(ops->claim_submit(f->store->backend, &claim, completion_done, &done), BUS_OK);
    assert_int_equal(completion_wait(&done), BUS_OK);
    assert_string_equal(claimed.id, intent.id);
    strcpy(claimed.token, request.token);

    struct lease_ref ref = lease_of(&claimed, PUB, T0 + 3);
    struct store_fulfill_call fulfill = {NULL, &ref, "\"ok\"", "text"};
    completion_init(&done);
    assert_int_equal(ops->fulfill_submit(f->store->backend, &fulfill, completion_done, &done),
                     BUS_OK);
    assert_int_equal(completion_wait(&done), BUS_OK);
    struct intent_record r;
    get_intent(f, 1, &r);
    assert_int_equal(r.status, INTENT_FULFILLED);
    assert_string_equal(r.result_json, "\"ok\"");
    intent_record_clear(&r);

    /* A second fulfil is refused, through the callback like a success. */
    completion_init(&done);
    assert_int_equal(ops->fulfill_submit(f->store->backend, &fulfill, completion_done, &done),
                     BUS_OK);
    assert_int_equal(completion_wait(&done), BUS_ERR_NOT_FOUND);
    claimed_intent_clear(&claimed);
}

/* Many writes in flight at once, none waited for until all are queued:
 * each is reported once, and they share transactions. */
static void many_submitted_publishes_share_commits(void **state)
{
    struct fixture *f = *state;
    enum { N = 200 };
    static struct intent_new intents[N];
    static struct stored_response replays[N];
    static struct store_publish_call calls[N];
    static struct completion done[N];
    const struct store_write_stats *stats = f->store->ops->write_stats(f->store->backend);
    unsigned long transactions = stats->transactions;
    for (int i = 0; i < N; i++) {
        new_intent(&intents[i], (unsigned)i + 1, "g", T0);
        replays[i] = (struct stored_response){0, NULL};
        calls[i] = (struct store_publish_call){NULL, &intents[i], 0, NULL, 201, "{}", &replays[i]};
        completion_init(&done[i]);
        assert_int_equal(
            f->store->ops->publish_submit(f->store->backend, &calls[i], completion_done, &done[i]),
            BUS_OK);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(completion_wait(&done[i]), BUS_OK);
    assert_true(stats->transactions - transactions < N);
    struct intent_record r;
    get_intent(f, N, &r);
    assert_int_equal(r.status, INTENT_OPEN);
    intent_record_clear(&r);
}

/* ---- schema upgrade ----------------------------------------------------- */

/* The intents table and claim index as version 2 made them. */
static const char version_2_schema[] =
    "CREATE TABLE intents ("
    " id TEXT PRIMARY KEY, namespace TEXT NOT NULL, goal TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " visibility TEXT NOT NULL CHECK (visibility IN ('private','public')),"
    " publisher TEXT NOT NULL, priority INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('open','claimed','fulfilled','dead')),"
    " claim_attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL,"
    " backoff_base REAL NOT NULL, target_worker TEXT, required_capability TEXT,"
    " claim_token TEXT, claimed_by TEXT, claimed_at REAL, claim_expires_at REAL,"
    " run_at REAL NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,"
    " last_error TEXT, result TEXT, result_type TEXT, completed_at REAL,"
    " updated_at REAL NOT NULL);"
    "CREATE INDEX intents_claim_order ON intents"
    " (namespace, priority DESC, run_at, claim_attempts, created_at, id)"
    " WHERE status IN ('open','claimed');"
    "INSERT INTO intents (id, namespace, goal, payload, visibility, publisher, priority, status,"
    " max_attempts, backoff_base, run_at, created_at, expires_at, updated_at) VALUES"
    " ('00000000000000000000000000000007', 'default', 'old', '{}', 'private',"
    "  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 5, 'open', 3, 2,"
    "  1700000000, 1700000000, 1800000000, 1700000000);"
    "PRAGMA user_version = 2;";

static long long count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    long long count = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return count;
}

static void version_2_database_is_upgraded_in_place(void **state)
{
    struct fixture *f = *state;
    store_close(f->store);
    char wal[128];
    snprintf(wal, sizeof wal, "%s-wal", f->files.path);
    unlink(f->files.path);
    unlink(wal);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->files.path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, version_2_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    f->store = store_sqlite_open(f->files.path, 2, false);
    assert_non_null(f->store);
    expect_claim_id(f, (struct claim_spec){0}, T0, 7); /* the old row, through the new index */

    assert_int_equal(sqlite3_open(f->files.path, &db), SQLITE_OK);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                    " 'intents_claim_order'"), 0);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                    " 'intents_claim_scan'"),
                     0);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                    " 'intents_open_scan' AND instr(sql, 'status = ' || char(39)"
                                    " || 'open') > 0"),
                     1);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'intents'"
                                    " AND instr(sql, 'status IN (') > 0"), 0);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM pragma_integrity_check"
                                    " WHERE integrity_check = 'ok'"), 1);
    /* The rewritten CHECK still refuses a status outside the four. */
    assert_int_equal(sqlite3_exec(db, "UPDATE intents SET status = 'lost'", NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    sqlite3_close(db);
}

/* Schema 11: the claim, an extend and the fulfil write no attempt row (the
 * intent holds the attempt), yet the listing has it, with the lease's last
 * end, and the fulfilled intent shows no lease. */
static void job_done_at_once_writes_no_attempt_row(void **state)
{
    struct fixture *f = *state;
    publish_simple(f, 1, "g", T0);
    struct claimed_intent c;
    assert_int_equal(claim_with(f, (struct claim_spec){.worker_id = "w1"}, T0, &c), BUS_OK);
    double expires = 0;
    assert_int_equal(do_extend(f, lease_of(&c, PUB, T0 + 1), 500, &expires), BUS_OK);
    assert_int_equal(do_fulfill(f, lease_of(&c, PUB, T0 + 2), NULL, NULL), BUS_OK);
    claimed_intent_clear(&c);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->files.path, &db), SQLITE_OK);
    assert_int_equal(count_rows(db, "SELECT count(*) FROM attempts"), 0);
    sqlite3_close(db);
    struct attempt_log log = {0};
    read_attempts(f, 1, &log);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.rows[0].attempt, 1);
    assert_string_equal(log.rows[0].outcome, "fulfilled");
    assert_string_equal(log.rows[0].worker_id, "w1");
    assert_true(log.rows[0].claimed_at == T0);
    assert_true(log.rows[0].lease_expires_at == expires);
    assert_true(log.rows[0].ended_at == T0 + 2);
    intent_attempt_clear(&log.rows[0]);
    struct intent_record record;
    get_intent(f, 1, &record);
    assert_int_equal(record.status, INTENT_FULFILLED);
    assert_true(isnan(record.claim_expires_at));
    intent_record_clear(&record);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(published_intent_reads_back),
        T(version_2_database_is_upgraded_in_place),
        T(intent_without_target_or_capability_reads_empty),
        T(unknown_intent_is_not_found),
        T(duplicate_id_is_refused),
        T(empty_store_has_nothing_to_claim),
        T(claim_hands_out_intent_and_lease),
        T(claimed_intent_is_not_claimable_while_leased),
        T(claim_order_priority_first),
        T(claim_order_then_run_at),
        T(claim_order_then_claim_attempts),
        T(claim_order_then_created_at),
        T(claim_order_then_id),
        T(claim_filters_by_goal),
        T(claim_is_limited_to_its_namespace),
        T(private_intent_is_claimable_by_its_publisher_only),
        T(public_intent_is_claimable_by_anyone),
        T(targeted_intent_goes_to_that_worker_only),
        T(untargeted_intent_goes_to_any_worker),
        T(required_capability_must_be_offered),
        T(intent_without_capability_needs_none),
        T(delayed_intent_is_claimable_from_run_at),
        T(expired_intent_is_not_claimable),
        T(intent_is_claimable_until_it_expires),
        T(exhausted_attempts_are_not_claimable),
        T(expired_lease_is_claimable_again_and_old_token_refused),
        T(lapsed_lease_keeps_its_place_in_claim_order),
        T(a_shorter_lease_taken_later_lapses_first),
        T(batch_claim_merges_lapsed_leases_in_order),
        T(extend_moves_the_lease_end),
        T(extend_can_shorten_the_lease),
        T(extend_with_wrong_token_claimer_or_expired_lease_is_not_found),
        T(fulfill_stores_the_result),
        T(fulfill_without_result_stores_no_result),
        T(fulfill_with_wrong_token_claimer_or_expired_lease_is_not_found),
        T(open_intent_cannot_be_fulfilled),
        T(fail_with_attempts_left_requeues_with_backoff),
        T(fail_backoff_grows_with_attempts),
        T(fail_at_max_attempts_is_dead),
        T(fail_with_wrong_token_claimer_or_expired_lease_is_not_found),
        T(sweep_dead_letters_exhausted_expired_leases),
        T(attempts_follow_claims_and_their_outcomes),
        T(job_done_at_once_writes_no_attempt_row),
        T(cleanup_of_empty_store_counts_nothing),
        T(cleanup_deletes_expired_open_intents),
        T(cleanup_requeues_expired_leases_with_attempts_left),
        T(cleanup_dead_letters_expired_leases_without_attempts),
        T(cleanup_deletes_fulfilled_after_seven_days),
        T(cleanup_keeps_fulfilled_for_the_retention_it_is_given),
        T(cleanup_deletes_dead_and_dead_letters_after_seven_days),
        T(cleanup_counts_each_kind_in_one_pass),
        T(kv_value_reads_back_until_it_expires),
        T(kv_set_overwrites_value_and_expiry),
        T(kv_keys_are_per_principal),
        T(cleanup_deletes_expired_kv),
        T(idempotent_publish_first_time_inserts),
        T(idempotent_publish_same_fingerprint_replays),
        T(idempotent_publish_different_fingerprint_conflicts),
        T(idempotency_keys_are_per_principal),
        T(idempotency_record_lapses_after_24_hours),
        T(failed_idempotent_publish_is_not_remembered),
        T(cleanup_deletes_idempotency_records_after_24_hours),
        T(idempotent_kv_set_replays),
        T(concurrent_claims_hand_each_intent_out_once),
        T(submitted_publish_claim_and_fulfill_are_committed),
        T(many_submitted_publishes_share_commits),
        cmocka_unit_test(open_in_missing_directory_fails_cleanly),
        T(data_survives_close_and_reopen),
        T(zero_readers_still_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
