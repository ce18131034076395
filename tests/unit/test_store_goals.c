/* Unit tests of goal controls (pause, max_claimed) through store->ops: the
 * contract of goal_control_set, goal_control_list and the claim's
 * honouring of them (store.h), with explicit `now` values. Written against
 * the interface only, so a second backend can run the same cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sqlite_test_files.h"
#include "store/store.h"
#include "util/token.h"

#define T0 1700000000.0
#define LEASE 60.0

static const char PUB[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

struct fixture {
    struct sqlite_test_files files;
    struct store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    if (!sqlite_test_files_make(&f->files, "goals")) {
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

/* Publishes intent number n of goal in namespace ns, claimable from now. */
static void publish(struct fixture *f, unsigned n, const char *ns, const char *goal, double now)
{
    struct intent_new intent;
    memset(&intent, 0, sizeof intent);
    snprintf(intent.id, sizeof intent.id, "%032x", n);
    snprintf(intent.goal, sizeof intent.goal, "%s", goal);
    snprintf(intent.namespace_, sizeof intent.namespace_, "%s", ns);
    intent.is_public = true;
    intent.priority = DEFAULT_PRIORITY;
    intent.max_attempts = DEFAULT_MAX_ATTEMPTS;
    intent.backoff_base = DEFAULT_BACKOFF_BASE;
    intent.payload_json = (char *)"{}";
    strcpy(intent.publisher, PUB);
    intent.created_at = now;
    intent.run_at = now;
    intent.expires_at = now + DEFAULT_TTL_SECONDS;
    struct stored_response replay = {0};
    assert_int_equal(f->store->ops->publish(f->store->backend, &intent, 0, NULL, 0, NULL, &replay),
                     BUS_OK);
}

/* Claims in ns (goal NULL = any): the intent's number, or -1 for none. */
static int claim(struct fixture *f, const char *ns, const char *goal, double now,
                 struct claimed_intent *out)
{
    struct claim_request request;
    memset(&request, 0, sizeof request);
    snprintf(request.namespace_, sizeof request.namespace_, "%s", ns);
    snprintf(request.goal, sizeof request.goal, "%s", goal ? goal : "");
    strcpy(request.claimer, PUB);
    assert_true(token_random_hex(request.token, CLAIM_TOKEN_LEN / 2));
    request.lease_seconds = LEASE;
    request.now = now;
    struct claimed_intent local;
    struct claimed_intent *claimed = out ? out : &local;
    memset(claimed, 0, sizeof *claimed);
    enum bus_err err = f->store->ops->claim(f->store->backend, &request, claimed);
    assert_true(err == BUS_OK || err == BUS_ERR_EMPTY);
    int number = err == BUS_OK ? (int)strtol(claimed->id, NULL, 16) : -1;
    if (err == BUS_OK)
        strcpy(claimed->token, request.token);
    if (claimed == &local)
        claimed_intent_clear(&local);
    return number;
}

static struct goal_control set(struct fixture *f, const char *ns, const char *goal,
                               enum goal_pause_change pause, long limit, double now)
{
    struct goal_control_change change = {ns, goal, pause, limit >= 0, limit > 0 ? limit : 0, now};
    struct goal_control out;
    assert_int_equal(f->store->ops->goal_control_set(f->store->backend, &change, &out), BUS_OK);
    assert_string_equal(out.namespace_, ns);
    assert_string_equal(out.goal, goal);
    return out;
}

#define KEEP_LIMIT (-1)

static void pausing_skips_the_goal_for_named_and_any_goal_claims(void **state)
{
    struct fixture *f = *state;
    publish(f, 1, "ns", "held", T0);
    publish(f, 2, "ns", "other", T0 + 1); /* later: a claim of any goal meets 1 first */
    publish(f, 3, "elsewhere", "held", T0);
    struct goal_control after = set(f, "ns", "held", GOAL_PAUSE_SET, KEEP_LIMIT, T0 + 2);
    assert_true(after.paused);
    assert_int_equal(after.max_claimed, 0);
    assert_int_equal(claim(f, "ns", "held", T0 + 3, NULL), -1);
    assert_int_equal(claim(f, "ns", NULL, T0 + 3, NULL), 2);
    assert_int_equal(claim(f, "ns", NULL, T0 + 3, NULL), -1);
    assert_int_equal(claim(f, "elsewhere", "held", T0 + 3, NULL), 3); /* per namespace */
    /* publishing is untouched */
    publish(f, 4, "ns", "held", T0 + 4);
    after = set(f, "ns", "held", GOAL_PAUSE_CLEAR, KEEP_LIMIT, T0 + 5);
    assert_false(after.paused);
    assert_int_equal(claim(f, "ns", NULL, T0 + 6, NULL), 1);
    assert_int_equal(claim(f, "ns", "held", T0 + 6, NULL), 4);
}

static void the_limit_counts_live_leases_only(void **state)
{
    struct fixture *f = *state;
    for (unsigned n = 1; n <= 4; n++)
        publish(f, n, "ns", "capped", T0);
    publish(f, 9, "ns", "free", T0 + 1);
    assert_int_equal(set(f, "ns", "capped", GOAL_PAUSE_KEEP, 2, T0).max_claimed, 2);
    struct claimed_intent first;
    assert_int_equal(claim(f, "ns", "capped", T0 + 2, &first), 1);
    assert_int_equal(claim(f, "ns", NULL, T0 + 2, NULL), 2);
    assert_int_equal(claim(f, "ns", "capped", T0 + 2, NULL), -1);
    assert_int_equal(claim(f, "ns", NULL, T0 + 2, NULL), 9); /* other goals go on */
    /* a fulfilled lease frees its place */
    struct lease_ref ref;
    memset(&ref, 0, sizeof ref);
    strcpy(ref.id, first.id);
    strcpy(ref.token, first.token);
    strcpy(ref.claimer, PUB);
    ref.now = T0 + 3;
    assert_int_equal(f->store->ops->fulfill(f->store->backend, &ref, "null", NULL), BUS_OK);
    claimed_intent_clear(&first);
    assert_int_equal(claim(f, "ns", "capped", T0 + 3, NULL), 3);
    assert_int_equal(claim(f, "ns", "capped", T0 + 3, NULL), -1);
    /* lapsed leases (2 at T0+2+LEASE, 3 at T0+3+LEASE) no longer count:
     * two places again, taken in spec order (fewest attempts first) */
    double later = T0 + 3 + LEASE;
    assert_int_equal(claim(f, "ns", "capped", later, NULL), 4);
    assert_int_equal(claim(f, "ns", "capped", later, NULL), 2);
    assert_int_equal(claim(f, "ns", "capped", later, NULL), -1);
    /* removing the limit */
    assert_int_equal(set(f, "ns", "capped", GOAL_PAUSE_KEEP, 0, later).max_claimed, 0);
    assert_int_equal(claim(f, "ns", "capped", later, NULL), 3);
}

struct listing {
    int count;
    struct goal_control controls[4];
};

static void collect(void *context, const struct goal_control *control)
{
    struct listing *listing = context;
    if (listing->count < 4)
        listing->controls[listing->count] = *control;
    listing->count++;
}

static void controls_are_independent_and_listed_until_both_are_off(void **state)
{
    struct fixture *f = *state;
    set(f, "b", "g", GOAL_PAUSE_SET, KEEP_LIMIT, T0);
    struct goal_control both = set(f, "b", "g", GOAL_PAUSE_KEEP, 5, T0 + 1);
    assert_true(both.paused);
    assert_int_equal(both.max_claimed, 5);
    set(f, "a", "no intents needed", GOAL_PAUSE_KEEP, 1, T0 + 2);
    struct listing listing = {0};
    assert_int_equal(f->store->ops->goal_control_list(f->store->backend, collect, &listing),
                     BUS_OK);
    assert_int_equal(listing.count, 2);
    assert_string_equal(listing.controls[0].namespace_, "a"); /* by namespace, then goal */
    assert_int_equal(listing.controls[0].max_claimed, 1);
    assert_false(listing.controls[0].paused);
    assert_true(listing.controls[1].paused);
    assert_int_equal(listing.controls[1].max_claimed, 5);
    /* resume keeps the limit; removing the limit then leaves nothing */
    struct goal_control after = set(f, "b", "g", GOAL_PAUSE_CLEAR, KEEP_LIMIT, T0 + 3);
    assert_false(after.paused);
    assert_int_equal(after.max_claimed, 5);
    after = set(f, "b", "g", GOAL_PAUSE_KEEP, 0, T0 + 4);
    assert_false(after.paused);
    assert_int_equal(after.max_claimed, 0);
    set(f, "a", "no intents needed", GOAL_PAUSE_CLEAR, 0, T0 + 5); /* both at once */
    listing.count = 0;
    assert_int_equal(f->store->ops->goal_control_list(f->store->backend, collect, &listing),
                     BUS_OK);
    assert_int_equal(listing.count, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(pausing_skips_the_goal_for_named_and_any_goal_claims),
        T(the_limit_counts_live_leases_only),
        T(controls_are_independent_and_listed_until_both_are_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
