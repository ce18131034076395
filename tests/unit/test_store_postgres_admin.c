/* Unit tests of the PostgreSQL store's admin and schedule operations
 * (store/postgres_admin.c, postgres_dead.c, postgres_schedules.c) through
 * store->ops, where PostgreSQL differs from SQLite: filters whose text
 * holds LIKE wildcards, the byte order of listings under a database
 * collation that is not, the audit log's trimming, and two nodes (two
 * stores on one database) stepping one schedule or creating one name at
 * once. Each test gets a database of its own on the cluster named by
 * $INTENT_BUS_DATABASE_URL (a superuser's URL of a throw-away cluster,
 * scripts/pg-cluster.sh); without it every test is skipped. */
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
#include <libpq-fe.h>

#include "pg_test_database.h"
#include "store/store.h"

#define T0 1700000000.0

static const char KEY_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char KEY_AB[] = "abaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

struct fixture {
    char database[32];
    char *conninfo; /* the test's own database */
    PGconn *side;   /* a plain connection to it, to arrange and inspect rows */
    struct store *store;
};

/* ---- fixture ------------------------------------------------------------ */

static int setup(void **state)
{
    const char *url = getenv("INTENT_BUS_DATABASE_URL");
    if (url == NULL || url[0] == '\0') {
        *state = NULL;
        return 0;
    }
    struct fixture *f = calloc(1, sizeof *f);
    f->conninfo = pg_test_database_open(url, "bus_unit", f->database);
    if (f->conninfo == NULL)
        return -1;
    f->store = store_postgres_open(f->conninfo, 2, 0);
    f->side = PQconnectdb(f->conninfo);
    if (f->store == NULL || PQstatus(f->side) != CONNECTION_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f == NULL)
        return 0;
    if (f->store != NULL)
        store_close(f->store);
    PQfinish(f->side);
    pg_test_database_drop(f->database);
    free(f->conninfo);
    free(f);
    return 0;
}

/* The fixture, or a skipped test when no cluster is given. */
static struct fixture *fixture_or_skip(void **state)
{
    if (*state == NULL)
        skip();
    return *state;
}

/* ---- helpers ------------------------------------------------------------ */

static void publish(struct fixture *f, unsigned n, const char *namespace_, const char *goal,
                    const char *publisher)
{
    struct intent_new intent = {0};
    snprintf(intent.id, sizeof intent.id, "%032x", n);
    snprintf(intent.namespace_, sizeof intent.namespace_, "%s", namespace_);
    snprintf(intent.goal, sizeof intent.goal, "%s", goal);
    snprintf(intent.publisher, sizeof intent.publisher, "%s", publisher);
    intent.priority = 100;
    intent.max_attempts = 3;
    intent.backoff_base = 5;
    intent.payload_json = "{}";
    intent.created_at = intent.run_at = T0 + n;
    intent.expires_at = T0 + 86400;
    struct stored_response replay = {0, NULL};
    assert_int_equal(f->store->ops->publish(f->store->backend, &intent, 0, NULL, 0, NULL, &replay),
                     BUS_OK);
}

struct names {
    int count;
    char text[16][400];
};

static void keep_intent(void *context, const struct intent_record *record)
{
    struct names *names = context;
    snprintf(names->text[names->count++], sizeof names->text[0], "%s", record->id + 24);
}

static void keep_count(void *context, const char *namespace_, const char *status, long count)
{
    struct names *names = context;
    snprintf(names->text[names->count++], sizeof names->text[0], "%s/%s=%ld", namespace_, status,
             count);
}

static void keep_goal(void *context, const char *namespace_, const char *goal, const char *state,
                      long count, double oldest_open)
{
    (void)oldest_open;
    struct names *names = context;
    snprintf(names->text[names->count++], sizeof names->text[0], "%s/%s/%s=%ld", namespace_, goal,
             state, count);
}

static void keep_dead(void *context, const struct dead_letter *letter)
{
    struct names *names = context;
    snprintf(names->text[names->count++], sizeof names->text[0], "%s", letter->intent_id + 24);
}

static void keep_schedule_name(void *context, const struct schedule *schedule)
{
    struct names *names = context;
    snprintf(names->text[names->count++], sizeof names->text[0], "%s", schedule->name);
}

static struct schedule every_minute(const char *id, const char *name, const char *owner)
{
    struct schedule s = {0};
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.name, sizeof s.name, "%s", name);
    snprintf(s.owner, sizeof s.owner, "%s", owner);
    s.every = 60;
    strcpy(s.timezone, "UTC");
    s.intent_json = "{\"goal\":\"tick\"}";
    s.next_at = T0 + 60;
    s.updated_at = T0;
    return s;
}

/* ---- filters take their text literally ---------------------------------- */

static void error_text_filters_hold_no_wildcards(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    publish(f, 1, "default", "g", KEY_A);
    publish(f, 2, "default", "g", KEY_A);
    assert_true(pg_test_run(f->side, "UPDATE intents SET last_error = 'disk 50% full_now'"
                             " WHERE id LIKE '%1'"));
    assert_true(pg_test_run(f->side, "UPDATE intents SET last_error = 'disk 5 full' WHERE id LIKE '%2'"));
    struct intent_filter filter = {.limit = 10, .now = T0 + 10};
    struct names found = {0};
    strcpy(filter.error_text, "50% full_");
    assert_int_equal(f->store->ops->intent_list(f->store->backend, &filter, keep_intent, &found),
                     BUS_OK);
    assert_int_equal(found.count, 1);
    assert_string_equal(found.text[0], "00000001");
    found.count = 0;
    strcpy(filter.error_text, "5% full"); /* as LIKE, this would match both */
    assert_int_equal(f->store->ops->intent_list(f->store->backend, &filter, keep_intent, &found),
                     BUS_OK);
    assert_int_equal(found.count, 0);

    struct goal_tallies goals = {0};
    assert_int_equal(f->store->ops->intent_cancel(f->store->backend,
                                                  "00000000000000000000000000000001", T0 + 20,
                                                  &goals),
                     BUS_OK);
    assert_int_equal(f->store->ops->intent_cancel(f->store->backend,
                                                  "00000000000000000000000000000002", T0 + 21,
                                                  &goals),
                     BUS_OK);
    assert_int_equal(goals.count, 1);
    assert_int_equal(goals.rows[0].cancelled, 1);
    goal_tallies_clear(&goals);
    struct dead_filter dead = {.limit = 10};
    strcpy(dead.error_text, "_by admin");
    found.count = 0;
    assert_int_equal(f->store->ops->dead_list(f->store->backend, &dead, keep_dead, &found), BUS_OK);
    assert_int_equal(found.count, 0);
    strcpy(dead.error_text, "by admin");
    assert_int_equal(f->store->ops->dead_list(f->store->backend, &dead, keep_dead, &found), BUS_OK);
    assert_int_equal(found.count, 2);
    assert_string_equal(found.text[0], "00000002"); /* newest death first */
}

static void key_prefixes_match_literally_and_once(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const struct store_ops *ops = f->store->ops;
    assert_int_equal(ops->key_create(f->store->backend, KEY_A, "alice", T0), BUS_OK);
    assert_int_equal(ops->key_create(f->store->backend, KEY_AB, "bob", T0 + 1), BUS_OK);
    char found[PRINCIPAL_LEN + 1];
    assert_int_equal(ops->key_find(f->store->backend, "a", found), BUS_ERR_NOT_FOUND); /* two */
    assert_int_equal(ops->key_find(f->store->backend, "ab", found), BUS_OK);
    assert_string_equal(found, KEY_AB);
    assert_int_equal(ops->key_find(f->store->backend, "_", found), BUS_ERR_NOT_FOUND);
    assert_int_equal(ops->key_find(f->store->backend, "%", found), BUS_ERR_NOT_FOUND);
    char owner[OWNER_MAX_BYTES + 1];
    assert_int_equal(ops->key_revoke(f->store->backend, KEY_AB, T0 + 2, owner), BUS_OK);
    assert_string_equal(owner, "bob");
    assert_int_equal(ops->key_revoke(f->store->backend, KEY_AB, T0 + 3, owner), BUS_ERR_NOT_FOUND);
    assert_int_equal(ops->key_find(f->store->backend, "a", found), BUS_OK);
    assert_string_equal(found, KEY_A);
}

/* ---- listings in byte order --------------------------------------------- */

static void listings_order_by_bytes_whatever_the_collation(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const struct store_ops *ops = f->store->ops;
    publish(f, 1, "b", "g", KEY_A);
    publish(f, 2, "_x", "g", KEY_A);
    publish(f, 3, "NS", "a", KEY_A);
    publish(f, 4, "NS", "Z", KEY_A);
    struct names found = {0};
    struct queue_totals totals;
    assert_int_equal(ops->queue_counts(f->store->backend, T0 + 10, keep_count, &found, &totals),
                     BUS_OK);
    assert_int_equal(found.count, 3);
    assert_string_equal(found.text[0], "NS/open=2");
    assert_string_equal(found.text[1], "_x/open=1");
    assert_string_equal(found.text[2], "b/open=1");
    found.count = 0;
    assert_int_equal(ops->goal_counts(f->store->backend, T0 + 10, 2, keep_goal, &found), BUS_OK);
    assert_int_equal(found.count, 2); /* the limit keeps the first two in byte order */
    assert_string_equal(found.text[0], "NS/Z/open=1");
    assert_string_equal(found.text[1], "NS/a/open=1");

    struct schedule lower = every_minute("00000000000000000000000000000001", "b.job", KEY_A);
    struct schedule upper = every_minute("00000000000000000000000000000002", "B.job", KEY_A);
    bool created;
    assert_int_equal(ops->schedule_put(f->store->backend, &lower, &created), BUS_OK);
    assert_int_equal(ops->schedule_put(f->store->backend, &upper, &created), BUS_OK);
    found.count = 0;
    assert_int_equal(ops->schedule_list(f->store->backend, NULL, keep_schedule_name, &found),
                     BUS_OK);
    assert_int_equal(found.count, 2);
    assert_string_equal(found.text[0], "B.job");
}

/* ---- the audit log ------------------------------------------------------ */

static void keep_audit(void *context, const struct audit_entry *entry)
{
    struct names *names = context;
    snprintf(names->text[names->count++], sizeof names->text[0], "%ld %s %s", entry->id,
             entry->target, entry->detail_json ? entry->detail_json : "null");
}

static void audit_log_keeps_the_newest_entries(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    const struct store_ops *ops = f->store->ops;
    struct audit_entry entry = {
        .at = T0, .who = "admin", .address = "127.0.0.1", .action = "purge"};
    assert_int_equal(ops->audit_add(f->store->backend, &entry), BUS_OK);
    strcpy(entry.target, "ns");
    entry.detail_json = "{\"n\":1}";
    assert_int_equal(ops->audit_add(f->store->backend, &entry), BUS_OK);
    struct names found = {0};
    assert_int_equal(ops->audit_list(f->store->backend, 10, 0, keep_audit, &found), BUS_OK);
    assert_int_equal(found.count, 2);
    assert_string_equal(found.text[0], "2 ns {\"n\":1}");
    assert_string_equal(found.text[1], "1  null");
    found.count = 0;
    assert_int_equal(ops->audit_list(f->store->backend, 10, 2, keep_audit, &found), BUS_OK);
    assert_int_equal(found.count, 1);
    /* AUDIT_KEEP_ROWS entries later, the first two are gone. */
    assert_true(pg_test_run(f->side, "SELECT setval(pg_get_serial_sequence('audit_log', 'id'), 10001)"));
    assert_int_equal(ops->audit_add(f->store->backend, &entry), BUS_OK);
    found.count = 0;
    assert_int_equal(ops->audit_list(f->store->backend, 10, 0, keep_audit, &found), BUS_OK);
    assert_int_equal(found.count, 1);
    assert_string_equal(found.text[0], "10002 ns {\"n\":1}");
}

/* ---- two nodes ---------------------------------------------------------- */

#define OCCURRENCES 100

struct node {
    struct store *store;
    pthread_barrier_t *barrier;
    int index;
    int fired, handled, created, forbidden, errors; /* cmocka asserts only on the main thread */
};

static void *step_every_occurrence(void *arg)
{
    struct node *node = arg;
    for (int i = 0; i < OCCURRENCES; i++) {
        struct intent_new intent = {0};
        snprintf(intent.id, sizeof intent.id, "%08x%024x", node->index, i);
        strcpy(intent.namespace_, "default");
        strcpy(intent.goal, "tick");
        strcpy(intent.publisher, KEY_A);
        intent.priority = 100;
        intent.max_attempts = 3;
        intent.payload_json = "{}";
        intent.created_at = intent.run_at = T0 + 60.0 * (i + 1);
        intent.expires_at = intent.created_at + 86400;
        struct store_schedule_step step = {.name = "tick",
                                           .revision = 1,
                                           .expected_next_at = T0 + 60.0 * (i + 1),
                                           .fire_at = T0 + 60.0 * (i + 1),
                                           .intent = &intent,
                                           .next_at = T0 + 60.0 * (i + 2),
                                           .now = T0 + 60.0 * (i + 1)};
        pthread_barrier_wait(node->barrier);
        if (node->store->ops->schedule_step(node->store->backend, &step) != BUS_OK)
            node->errors++;
        else if (step.outcome == SCHEDULE_FIRED)
            node->fired++;
        else if (step.outcome == SCHEDULE_ALREADY_HANDLED)
            node->handled++;
    }
    return NULL;
}

static void *create_every_name(void *arg)
{
    struct node *node = arg;
    char owner[PRINCIPAL_LEN + 1];
    memset(owner, 'a' + node->index, PRINCIPAL_LEN);
    owner[PRINCIPAL_LEN] = '\0';
    for (int i = 0; i < OCCURRENCES; i++) {
        char id[SCHEDULE_ID_LEN + 1], name[32];
        snprintf(id, sizeof id, "%08x%024x", node->index, i);
        snprintf(name, sizeof name, "name-%d", i);
        struct schedule s = every_minute(id, name, owner);
        bool created = false;
        pthread_barrier_wait(node->barrier);
        enum bus_err err = node->store->ops->schedule_put(node->store->backend, &s, &created);
        if (err == BUS_OK && created)
            node->created++;
        else if (err == BUS_ERR_FORBIDDEN)
            node->forbidden++;
        else
            node->errors++;
    }
    return NULL;
}

/* Two stores on one database, each stepping or writing at the same moment. */
static void run_two_nodes(struct fixture *f, void *(*work)(void *), struct node nodes[2])
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    struct store *second = store_postgres_open(f->conninfo, 1, 0);
    assert_non_null(second);
    nodes[0] = (struct node){.store = f->store, .barrier = &barrier, .index = 0};
    nodes[1] = (struct node){.store = second, .barrier = &barrier, .index = 1};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, work, &nodes[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    store_close(second);
    pthread_barrier_destroy(&barrier);
}

static long count_rows(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    long count = PQresultStatus(res) == PGRES_TUPLES_OK ? atol(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return count;
}

static void two_nodes_publish_each_occurrence_once(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    struct schedule s = every_minute("00000000000000000000000000000001", "tick", KEY_A);
    bool created;
    assert_int_equal(f->store->ops->schedule_put(f->store->backend, &s, &created), BUS_OK);
    struct node nodes[2];
    run_two_nodes(f, step_every_occurrence, nodes);
    assert_int_equal(nodes[0].errors + nodes[1].errors, 0);
    assert_int_equal(nodes[0].fired + nodes[1].fired, OCCURRENCES);
    assert_int_equal(nodes[0].handled + nodes[1].handled, OCCURRENCES);
    assert_int_equal(count_rows(f->side, "SELECT COUNT(*) FROM intents"), OCCURRENCES);
    assert_int_equal(count_rows(f->side, "SELECT fires FROM schedules"), OCCURRENCES);
}

static void two_nodes_creating_one_name_make_one_schedule(void **state)
{
    struct fixture *f = fixture_or_skip(state);
    struct node nodes[2];
    run_two_nodes(f, create_every_name, nodes);
    assert_int_equal(nodes[0].errors + nodes[1].errors, 0);
    assert_int_equal(nodes[0].created + nodes[1].created, OCCURRENCES);
    assert_int_equal(nodes[0].forbidden + nodes[1].forbidden, OCCURRENCES);
    assert_int_equal(count_rows(f->side, "SELECT COUNT(*) FROM schedules"), OCCURRENCES);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(error_text_filters_hold_no_wildcards),
        T(key_prefixes_match_literally_and_once),
        T(listings_order_by_bytes_whatever_the_collation),
        T(audit_log_keeps_the_newest_entries),
        T(two_nodes_publish_each_occurrence_once),
        T(two_nodes_creating_one_name_make_one_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
