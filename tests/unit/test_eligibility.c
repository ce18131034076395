/* The claim query of a store against the eligibility predicate
 * (core/eligibility.c), over every combination of an intent's routing
 * attributes and a claim's filters: one intent alone in a namespace, one
 * claim, and the store must take it exactly when the predicate says so.
 * On SQLite always; on PostgreSQL too when $INTENT_BUS_DATABASE_URL names
 * a throw-away cluster (`make test-postgres`), in a database of its own. */
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

#include "bus/validate.h"
#include "core/eligibility.h"
#include "pg_test_database.h"
#include "sqlite_test_files.h"
#include "store/store.h"
#include "util/token.h"

#define T0 1700000000.0

static const char PUB[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char OTHER[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* The values each attribute takes; NULL = not given. */
static const char *const callers[] = {PUB, OTHER};
static const char *const goals[] = {NULL, "g1", "g2"};
static const char *const workers[] = {NULL, "w1", "w2"};
static const char *const capability_lists[] = {NULL, "gpu", " cpu , gpu ", "gpus"};
static const char *const publishers[] = {NULL, PUB, OTHER};
static const bool visibilities[] = {false, true};
static const char *const targets[] = {"", "w1"};
static const char *const required[] = {"", "gpu"};

#define COUNT(array) (sizeof(array) / sizeof(array)[0])

struct run {
    struct store *store;
    unsigned serial; /* one namespace and id per case */
    unsigned claims;
};

static void publish_offer(struct run *run, const struct claim_offer *offer)
{
    struct intent_new intent;
    memset(&intent, 0, sizeof intent);
    snprintf(intent.id, sizeof intent.id, "%032x", run->serial);
    snprintf(intent.namespace_, sizeof intent.namespace_, "%s", offer->namespace_);
    snprintf(intent.goal, sizeof intent.goal, "%s", offer->goal);
    intent.is_public = offer->is_public;
    intent.priority = DEFAULT_PRIORITY;
    intent.max_attempts = DEFAULT_MAX_ATTEMPTS;
    intent.backoff_base = DEFAULT_BACKOFF_BASE;
    snprintf(intent.target_worker, sizeof intent.target_worker, "%s", offer->target_worker);
    snprintf(intent.required_capability, sizeof intent.required_capability, "%s",
             offer->required_capability);
    intent.payload_json = (char *)"{}";
    strcpy(intent.publisher, offer->publisher);
    intent.created_at = T0;
    intent.run_at = T0;
    intent.expires_at = T0 + DEFAULT_TTL_SECONDS;
    struct stored_response replay = {0};
    assert_int_equal(run->store->ops->publish(run->store->backend, &intent, 0, NULL, 0, NULL,
                                              &replay),
                     BUS_OK);
}

static bool store_claims(struct run *run, const struct claim_seeker *seeker)
{
    struct claim_request request;
    memset(&request, 0, sizeof request);
    strcpy(request.namespace_, seeker->namespace_);
    snprintf(request.goal, sizeof request.goal, "%s", seeker->goal ? seeker->goal : "");
    snprintf(request.worker_id, sizeof request.worker_id, "%s",
             seeker->worker_id ? seeker->worker_id : "");
    struct bus_error error;
    assert_int_equal(validate_capabilities(seeker->capabilities, &request.capabilities_json,
                                           &error),
                     BUS_OK);
    strcpy(request.claimer, seeker->caller);
    snprintf(request.publisher, sizeof request.publisher, "%s",
             seeker->publisher ? seeker->publisher : "");
    assert_true(token_random_hex(request.token, CLAIM_TOKEN_LEN / 2));
    request.lease_seconds = 60;
    request.now = T0 + 1;
    struct claimed_intent claimed;
    memset(&claimed, 0, sizeof claimed);
    enum bus_err err = run->store->ops->claim(run->store->backend, &request, &claimed);
    assert_true(err == BUS_OK || err == BUS_ERR_EMPTY);
    claimed_intent_clear(&claimed);
    claim_request_clear(&request);
    return err == BUS_OK;
}

/* One intent with the offer's attributes, one claim with the seeker's. */
static void check_case(struct run *run, struct claim_offer offer, struct claim_seeker seeker)
{
    char namespace_[32];
    snprintf(namespace_, sizeof namespace_, "elig-%u", ++run->serial);
    offer.namespace_ = namespace_;
    seeker.namespace_ = namespace_;
    publish_offer(run, &offer);
    bool expected = claim_offer_matches(&seeker, &offer);
    bool claimed = store_claims(run, &seeker);
    if (claimed != expected)
        fail_msg("case %u: public=%d target='%s' capability='%s' publisher=%.4s | caller=%.4s "
                 "goal=%s worker=%s capabilities=%s publisher=%.4s: store %s, predicate %s",
                 run->serial, offer.is_public, offer.target_worker, offer.required_capability,
                 offer.publisher, seeker.caller, seeker.goal ? seeker.goal : "-",
                 seeker.worker_id ? seeker.worker_id : "-",
                 seeker.capabilities ? seeker.capabilities : "-",
                 seeker.publisher ? seeker.publisher : "-", claimed ? "claims" : "does not",
                 expected ? "does" : "does not");
    run->claims += claimed;
}

/* Every seeker against one offer. */
static void check_offer(struct run *run, const struct claim_offer *offer)
{
    for (size_t c = 0; c < COUNT(callers); c++)
        for (size_t g = 0; g < COUNT(goals); g++)
            for (size_t w = 0; w < COUNT(workers); w++)
                for (size_t k = 0; k < COUNT(capability_lists); k++)
                    for (size_t p = 0; p < COUNT(publishers); p++) {
                        struct claim_seeker seeker = {NULL,          goals[g],
                                                      callers[c],    workers[w],
                                                      capability_lists[k], publishers[p]};
                        check_case(run, *offer, seeker);
                    }
}

static void check_store(struct store *store)
{
    struct run run = {store, 0, 0};
    for (size_t v = 0; v < COUNT(visibilities); v++)
        for (size_t t = 0; t < COUNT(targets); t++)
            for (size_t r = 0; r < COUNT(required); r++) {
                struct claim_offer offer = {NULL, "g1", PUB, visibilities[v], targets[t],
                                            required[r]};
                check_offer(&run, &offer);
            }
    /* Both answers occurred: the grid is not trivially one-sided. */
    assert_true(run.claims > 0 && run.claims < run.serial);
}

static void sqlite_claims_as_the_predicate_says(void **state)
{
    (void)state;
    struct sqlite_test_files files;
    assert_true(sqlite_test_files_make(&files, "eligibility"));
    struct store *store = store_sqlite_open(files.path, 1, false);
    assert_non_null(store);
    check_store(store);
    store_close(store);
    sqlite_test_files_remove(&files);
}

static void postgresql_claims_as_the_predicate_says(void **state)
{
    (void)state;
    const char *url = getenv("INTENT_BUS_DATABASE_URL");
    if (url == NULL || url[0] == '\0')
        skip();
    char database[48];
    snprintf(database, sizeof database, "bus_eligibility_%d", (int)getpid());
    PGconn *admin = PQconnectdb(url);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    assert_true(pg_test_create_database(admin, database));
    char *conninfo = pg_test_conninfo(url, database);
    assert_non_null(conninfo);
    struct store *store = store_postgres_open(conninfo, 1, 0);
    assert_non_null(store);
    check_store(store);
    store_close(store);
    char drop[96];
    snprintf(drop, sizeof drop, "DROP DATABASE %s", database);
    assert_true(pg_test_run(admin, drop));
    PQfinish(admin);
    free(conninfo);
}

static void capability_lists_are_matched_by_whole_names(void **state)
{
    (void)state;
    assert_true(capability_listed("gpu", "gpu"));
    assert_true(capability_listed(" cpu ,\tgpu ", "gpu"));
    assert_false(capability_listed("gpus", "gpu"));
    assert_false(capability_listed("g pu", "gpu"));
    assert_false(capability_listed(NULL, "gpu"));
    assert_false(capability_listed("", "gpu"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(capability_lists_are_matched_by_whole_names),
        cmocka_unit_test(sqlite_claims_as_the_predicate_says),
        cmocka_unit_test(postgresql_claims_as_the_predicate_says),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
