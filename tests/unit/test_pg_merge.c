/* Unit tests of the PostgreSQL writer's merged statements
 * (store/postgres_merge.c): operations queued while the one writer is held
 * form one batch, whose publishes, claims and fulfils run as one statement
 * each; every operation must still be answered its own outcome, as one
 * at a time would have (a stale token refused alone, each claim a distinct
 * intent in the claim order, an idempotency key replayed). Needs
 * $INTENT_BUS_DATABASE_URL (a superuser's URL of a throw-away cluster,
 * scripts/pg-cluster.sh); without it every test is skipped. */
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

#include "pg_test_database.h"
#include "store/postgres_internal.h"

#define T0 1700000000.0
#define BATCH 8

static const char OWNER[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

struct fixture {
    char database[32];
    char *conninfo;
    PGconn *side; /* to inspect rows */
    struct store *store;
    struct writer *writer; /* the store's one writer */
};

static int setup(void **state)
{
    const char *url = getenv("INTENT_BUS_DATABASE_URL");
    if (url == NULL || url[0] == '\0') {
        *state = NULL;
        return 0;
    }
    if (!pg_libpq_load())
        return -1;
    struct fixture *f = calloc(1, sizeof *f);
    f->conninfo = pg_test_database_open(url, "bus_pgm", f->database);
    if (f->conninfo == NULL)
        return -1;
    f->store = store_postgres_open(f->conninfo, 2, 1);
    f->side = PQconnectdb(f->conninfo);
    if (f->store == NULL || PQstatus(f->side) != CONNECTION_OK)
        return -1;
    struct pg_backend *backend = (struct pg_backend *)f->store;
    assert_int_equal(backend->writer_count, 1);
    f->writer = backend->writers[0];
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL)
        return 0;
    store_close(f->store);
    PQfinish(f->side);
    pg_test_database_drop(f->database);
    free(f->conninfo);
    free(f);
    return 0;
}

static struct fixture *fixture_or_skip(void **state)
{
    if (*state == NULL)
        skip();
    return *state;
}

/* ---- one batch --------------------------------------------------------------- */

/* Holds the writer thread inside an operation, so that what is queued
 * meanwhile forms the next batch. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool entered;
    bool open;
    int answered;
    enum bus_err result[BATCH];
};

static enum bus_err wait_at_gate(void *connection, void *arg)
{
    (void)connection;
    struct gate *gate = arg;
    pthread_mutex_lock(&gate->lock);
    gate->entered = true;
    pthread_cond_broadcast(&gate->changed);
    while (!gate->open)
        pthread_cond_wait(&gate->changed, &gate->lock);
    pthread_mutex_unlock(&gate->lock);
    return BUS_OK;
}

struct slot {
    struct gate *gate;
    int index;
};

static void record(void *context, enum bus_err result)
{
    struct slot *slot = context;
    pthread_mutex_lock(&slot->gate->lock);
    slot->gate->result[slot->index] = result;
    slot->gate->answered++;
    pthread_cond_broadcast(&slot->gate->changed);
    pthread_mutex_unlock(&slot->gate->lock);
}

static void gate_done(void *context, enum bus_err result)
{
    (void)context;
    assert_int_equal(result, BUS_OK);
}

/* Holds the writer; the caller then submits its batch with `slots`. */
static void hold(struct fixture *f, struct gate *gate, struct slot *slots)
{
    *gate = (struct gate){.entered = false, .open = false};
    pthread_mutex_init(&gate->lock, NULL);
    pthread_cond_init(&gate->changed, NULL);
    for (int i = 0; i < BATCH; i++)
        slots[i] = (struct slot){gate, i};
    assert_int_equal(writer_submit(f->writer, wait_at_gate, gate, gate_done, NULL), BUS_OK);
    pthread_mutex_lock(&gate->lock);
    while (!gate->entered)
        pthread_cond_wait(&gate->changed, &gate->lock);
    pthread_mutex_unlock(&gate->lock);
}

/* Lets the writer run what was queued, as one batch, and waits for its n
 * answers. */
static void release(struct gate *gate, int n)
{
    pthread_mutex_lock(&gate->lock);
    gate->open = true;
    pthread_cond_broadcast(&gate->changed);
    while (gate->answered < n)
        pthread_cond_wait(&gate->changed, &gate->lock);
    pthread_mutex_unlock(&gate->lock);
    pthread_cond_destroy(&gate->changed);
    pthread_mutex_destroy(&gate->lock);
}

/* ---- rows -------------------------------------------------------------------- */

static void make_intent(struct intent_new *intent, unsigned n, int priority)
{
    *intent = (struct intent_new){0};
    snprintf(intent->id, sizeof intent->id, "%032x", n);
    snprintf(intent->namespace_, sizeof intent->namespace_, "default");
    snprintf(intent->goal, sizeof intent->goal, "g");
    snprintf(intent->publisher, sizeof intent->publisher, "%s", OWNER);
    intent->priority = priority;
    intent->max_attempts = 3;
    intent->backoff_base = 5;
    intent->payload_json = "{\"say\":\"a \\\"quoted\\\" \\\\ word\"}";
    intent->created_at = intent->run_at = T0 + n;
    intent->expires_at = T0 + 86400;
}

static void make_claim(struct claim_request *request, int n)
{
    *request = (struct claim_request){0};
    snprintf(request->namespace_, sizeof request->namespace_, "default");
    snprintf(request->claimer, sizeof request->claimer, "%s", OWNER);
    snprintf(request->token, sizeof request->token, "%032x", n + 1);
    request->lease_seconds = 30;
    request->now = T0 + 1000 + n * 0.001;
}

/* The value of a one-row query of the side connection. */
static void query_text(struct fixture *f, const char *sql, char *out, size_t size)
{
    PGresult *res = PQexec(f->side, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    snprintf(out, size, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
}

/* ---- tests ------------------------------------------------------------------- */

/* Publishes in one batch: the plain ones one INSERT, an idempotent pair
 * on its own path (the second a replay of the first); then claims alike
 * in one batch: each a distinct intent, in the claim order (priority
 * first), the ones past the open intents empty. */
static void merged_publishes_and_claims(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    struct gate gate;
    struct slot slots[BATCH];
    struct intent_new intents[5];
    struct store_publish_call publishes[5];
    struct stored_response replays[5] = {{0, NULL}};
    struct idempotency idem = {0};
    snprintf(idem.principal, sizeof idem.principal, "%s", OWNER);
    snprintf(idem.key, sizeof idem.key, "k1");
    snprintf(idem.fingerprint, sizeof idem.fingerprint, "%064x", 7);
    hold(f, &gate, slots);
    for (int i = 0; i < 5; i++) {
        make_intent(&intents[i], (unsigned)i + 1, i == 2 ? 200 : 100);
        publishes[i] = (struct store_publish_call){.intent = &intents[i],
                                                   .response_status = 201,
                                                   .response_body = "{\"id\":\"first\"}",
                                                   .replay = &replays[i]};
    }
    publishes[3].idem = &idem; /* 3 and 4: one key, the same request */
    publishes[4].idem = &idem;
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            f->store->ops->publish_submit(f->store->backend, &publishes[i], record, &slots[i]),
            BUS_OK);
    release(&gate, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(gate.result[i], BUS_OK);
    assert_null(replays[3].body);
    assert_non_null(replays[4].body);
    assert_string_equal(replays[4].body, "{\"id\":\"first\"}");
    stored_response_clear(&replays[4]);
    char text[256];
    query_text(f, "SELECT count(*) FROM intents WHERE status = 'open'", text, sizeof text);
    assert_string_equal(text, "4"); /* 0, 1, 2 and the key's */
    query_text(f, "SELECT payload FROM intents WHERE id = '00000000000000000000000000000002'", text,
               sizeof text);
    assert_string_equal(text, intents[1].payload_json);

    /* Six claims alike for four open intents. */
    struct claim_request requests[6];
    struct claimed_intent claimed[6];
    struct store_claim_call claims[6];
    hold(f, &gate, slots);
    for (int i = 0; i < 6; i++) {
        make_claim(&requests[i], i);
        claimed[i] = (struct claimed_intent){0};
        claims[i] = (struct store_claim_call){NULL, &requests[i], &claimed[i]};
        assert_int_equal(
            f->store->ops->claim_submit(f->store->backend, &claims[i], record, &slots[i]), BUS_OK);
    }
    release(&gate, 6);
    /* The claim order: priority 200 (intent 3), then by run_at: 1, 2, 4. */
    const char *expected[] = {
        "00000000000000000000000000000003", "00000000000000000000000000000001",
        "00000000000000000000000000000002", "00000000000000000000000000000004"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(gate.result[i], BUS_OK);
        assert_string_equal(claimed[i].id, expected[i]);
        assert_non_null(claimed[i].payload_json);
        assert_int_equal(claimed[i].claim_attempts, 1);
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT claim_token FROM intents WHERE id = '%.32s'",
                 claimed[i].id);
        query_text(f, sql, text, sizeof text);
        assert_string_equal(text, requests[i].token);
        claimed_intent_clear(&claimed[i]);
    }
    assert_int_equal(gate.result[4], BUS_ERR_EMPTY);
    assert_int_equal(gate.result[5], BUS_ERR_EMPTY);
    /* The merged statements did not fall back (a redo, one at a time). */
    assert_int_equal(atomic_load(&writer_stats(f->writer)->redone_transactions), 0);
    query_text(f, "SELECT count(*) FROM attempts WHERE outcome IS NULL", text, sizeof text);
    assert_string_equal(text, "4");
}

/* Fulfils in one batch: good ones kept, a stale token refused alone, a
 * second fulfil of the same lease refused as one after the other would. */
static void merged_fulfils_answer_each_its_own(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    struct intent_new intents[3];
    for (int i = 0; i < 3; i++) {
        make_intent(&intents[i], (unsigned)i + 1, 100);
        struct stored_response replay = {0, NULL};
        assert_int_equal(
            f->store->ops->publish(f->store->backend, &intents[i], 0, NULL, 0, NULL, &replay),
            BUS_OK);
    }
    struct claim_request requests[3];
    struct claimed_intent claimed[3];
    for (int i = 0; i < 3; i++) {
        make_claim(&requests[i], i);
        claimed[i] = (struct claimed_intent){0};
        assert_int_equal(f->store->ops->claim(f->store->backend, &requests[i], &claimed[i]),
                         BUS_OK);
    }
    struct gate gate;
    struct slot slots[BATCH];
    struct lease_ref refs[4];
    struct lease_facts facts[4];
    struct store_fulfill_call fulfils[4];
    for (int i = 0; i < 4; i++) {
        int which = i < 3 ? i : 0; /* the 4th: the first lease again */
        refs[i] = (struct lease_ref){.now = T0 + 1001, .facts = &facts[i]};
        facts[i] = (struct lease_facts){0};
        memcpy(refs[i].id, claimed[which].id, sizeof refs[i].id);
        memcpy(refs[i].token, requests[which].token, sizeof refs[i].token);
        snprintf(refs[i].claimer, sizeof refs[i].claimer, "%s", OWNER);
        fulfils[i] = (struct store_fulfill_call){NULL, &refs[i], "{\"n\":1}", "json"};
    }
    refs[1].token[0] = refs[1].token[0] == 'f' ? 'e' : 'f'; /* stale */
    hold(f, &gate, slots);
    for (int i = 0; i < 4; i++)
        assert_int_equal(
            f->store->ops->fulfill_submit(f->store->backend, &fulfils[i], record, &slots[i]),
            BUS_OK);
    release(&gate, 4);
    assert_int_equal(gate.result[0], BUS_OK);
    assert_int_equal(gate.result[1], BUS_ERR_NOT_FOUND);
    assert_int_equal(gate.result[2], BUS_OK);
    assert_int_equal(gate.result[3], BUS_ERR_NOT_FOUND);
    assert_int_equal(atomic_load(&writer_stats(f->writer)->redone_transactions), 0);
    assert_string_equal(facts[0].goal, "g");
    assert_string_equal(facts[2].namespace_, "default");
    char text[256];
    query_text(f,
               "SELECT string_agg(status || ':' || coalesce(result, '-'), ',' ORDER BY id)"
               " FROM intents",
               text, sizeof text);
    /* Claimed in run_at order: the i-th claim took intent i + 1. */
    assert_string_equal(text, "fulfilled:{\"n\":1},claimed:-,fulfilled:{\"n\":1}");
    query_text(f, "SELECT count(*) FROM attempts WHERE outcome = 'fulfilled'", text, sizeof text);
    assert_string_equal(text, "2");
    for (int i = 0; i < 3; i++)
        claimed_intent_clear(&claimed[i]);
}

/* Signed publishes in one batch: their nonces merged into one insert; a
 * nonce used before, and one repeated within the batch, refused alone and
 * their publishes not made; the others published. */
static void merged_nonces_refuse_each_replay_alone(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    struct store_nonce_call used = {OWNER, "n-used", T0, 300};
    bool fresh = false;
    assert_int_equal(f->store->ops->nonce_use(f->store->backend, used.principal, used.nonce,
                                              used.now, used.keep, &fresh),
                     BUS_OK);
    assert_true(fresh);
    const char *nonces[] = {"n-1", "n-used", "n-2", "n-1", "n-3"};
    struct store_nonce_call calls[5];
    struct intent_new intents[5];
    struct store_publish_call publishes[5];
    struct stored_response replays[5] = {{0, NULL}};
    struct gate gate;
    struct slot slots[BATCH];
    hold(f, &gate, slots);
    for (int i = 0; i < 5; i++) {
        calls[i] = (struct store_nonce_call){OWNER, nonces[i], T0 + 10, 300};
        make_intent(&intents[i], (unsigned)i + 1, 100);
        publishes[i] = (struct store_publish_call){.nonce = &calls[i],
                                                   .intent = &intents[i],
                                                   .response_status = 201,
                                                   .replay = &replays[i]};
        assert_int_equal(
            f->store->ops->publish_submit(f->store->backend, &publishes[i], record, &slots[i]),
            BUS_OK);
    }
    release(&gate, 5);
    const enum bus_err expected[] = {BUS_OK, BUS_ERR_INVALID_SIGNATURE, BUS_OK,
                                     BUS_ERR_INVALID_SIGNATURE, BUS_OK};
    for (int i = 0; i < 5; i++)
        assert_int_equal(gate.result[i], expected[i]);
    char text[256];
    query_text(f, "SELECT string_agg(right(id, 1), ',' ORDER BY id) FROM intents", text,
               sizeof text);
    assert_string_equal(text, "1,3,5");
    query_text(f, "SELECT count(*) FROM nonces", text, sizeof text);
    assert_string_equal(text, "4");
    assert_int_equal(atomic_load(&writer_stats(f->writer)->redone_transactions), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(merged_publishes_and_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(merged_fulfils_answer_each_its_own, setup, teardown),
        cmocka_unit_test_setup_teardown(merged_nonces_refuse_each_replay_alone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
