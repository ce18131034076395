/* Unit tests of store/nonce_set (the in-memory replay set of signed
 * requests' nonces) and of the SQLite store's use of it: replays refused
 * within the window and not after it, the journal (commit, rollback, undo),
 * pruning and growth as time goes on, a full table, a restart that reloads
 * the window, and one process per file. */
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

#include "core/intent.h"
#include "sqlite_test_files.h"
#include "store/nonce_set.h"
#include "store/store.h"
#include "util/clock.h"

#define WINDOW 600.0
#define T0 1700000000.0
#define MOST ((size_t)1 << 16)

static const char ALICE[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char BOB[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* ---- the set ------------------------------------------------------------ */

static bool use(struct nonce_set *set, const char *principal, const char *nonce, double now)
{
    bool fresh = false;
    assert_int_equal(nonce_set_use(set, principal, nonce, now, WINDOW, &fresh), BUS_OK);
    return fresh;
}

static void a_nonce_is_good_once_within_the_window(void **state)
{
    (void)state;
    struct nonce_set *set = nonce_set_new(WINDOW, MOST);
    assert_non_null(set);
    assert_true(use(set, ALICE, "n1", T0));
    assert_false(use(set, ALICE, "n1", T0 + 1));
    assert_false(use(set, ALICE, "n1", T0 + WINDOW - 0.001));
    assert_true(use(set, BOB, "n1", T0 + 2));        /* per principal */
    assert_true(use(set, ALICE, "n10", T0 + 3));     /* not a prefix match */
    assert_true(use(set, ALICE, "n1x", T0 + 3));     /* nor a suffix */
    assert_true(use(set, ALICE, "n1", T0 + WINDOW)); /* the window is over */
    assert_false(use(set, ALICE, "n1", T0 + WINDOW + 1));
    nonce_set_commit(set);
    nonce_set_free(set);
}

/* The hash covers where the principal ends: ("ab", "c") is not ("a", "bc"). */
static void the_principal_and_the_nonce_stay_apart(void **state)
{
    (void)state;
    struct nonce_set *set = nonce_set_new(WINDOW, MOST);
    assert_non_null(set);
    assert_true(use(set, "ab", "c", T0));
    assert_true(use(set, "a", "bc", T0));
    assert_true(use(set, "abc", "", T0));
    assert_false(use(set, "ab", "c", T0 + 1));
    nonce_set_commit(set);
    nonce_set_free(set);
}

static void a_rollback_forgets_and_a_commit_keeps(void **state)
{
    (void)state;
    struct nonce_set *set = nonce_set_new(WINDOW, MOST);
    assert_true(use(set, ALICE, "kept", T0));
    nonce_set_commit(set);
    assert_true(use(set, ALICE, "lost1", T0 + 1));
    assert_true(use(set, ALICE, "lost2", T0 + 1));
    assert_false(use(set, ALICE, "kept", T0 + 1)); /* a replay changes nothing */
    assert_int_equal(nonce_set_used(set), 3);
    nonce_set_rollback(set);
    assert_int_equal(nonce_set_used(set), 1);
    assert_true(use(set, ALICE, "lost1", T0 + 2));
    assert_true(use(set, ALICE, "lost2", T0 + 2));
    assert_false(use(set, ALICE, "kept", T0 + 2));
    nonce_set_undo_last(set); /* lost2's write failed */
    assert_true(use(set, ALICE, "lost2", T0 + 3));
    nonce_set_commit(set);
    nonce_set_rollback(set); /* nothing left to undo */
    assert_false(use(set, ALICE, "lost1", T0 + 4));
    assert_false(use(set, ALICE, "lost2", T0 + 4));
    nonce_set_commit(set);
    nonce_set_free(set);
}

/* A nonce used again after the window takes its old slot; a rollback of
 * that gives the old time back, so it is still past the window. */
static void a_rollback_of_a_reused_nonce_restores_its_old_time(void **state)
{
    (void)state;
    struct nonce_set *set = nonce_set_new(WINDOW, MOST);
    assert_true(use(set, ALICE, "n", T0));
    nonce_set_commit(set);
    assert_true(use(set, ALICE, "n", T0 + WINDOW + 5));
    nonce_set_rollback(set);
    assert_int_equal(nonce_set_used(set), 1);
    assert_true(use(set, ALICE, "n", T0 + WINDOW + 6));
    nonce_set_commit(set);
    nonce_set_free(set);
}

/* Ten windows of traffic at a steady rate: the table is pruned as it goes
 * (it never grows past twice the size the window's nonces need), and
 * every nonce of the last window is still refused. */
static void pruning_keeps_the_table_at_the_rate_times_the_window(void **state)
{
    (void)state;
    struct nonce_set *set = nonce_set_new(WINDOW, MOST);
    const int per_second = 20, seconds = 10 * (int)WINDOW;
    char nonce[32];
    size_t most_used = 0;
    for (int s = 0; s < seconds; s++) {
        assert_true(nonce_set_reserve(set, per_second));
        for (int i = 0; i < per_second; i++) {
            snprintf(nonce, sizeof nonce, "%d-%d", s, i);
            assert_true(use(set, ALICE, nonce, T0 + s));
        }
        nonce_set_commit(set);
        if (nonce_set_used(set) > most_used)
            most_used = nonce_set_used(set);
    }
    size_t window_nonces = (size_t)(per_second * WINDOW);
    assert_true(most_used <= nonce_set_slots(set) / 4 * 3);
    assert_true(nonce_set_slots(set) / 2 < 2 * (window_nonces + per_second));
    for (int s = seconds - (int)WINDOW + 1; s < seconds; s += 7) {
        snprintf(nonce, sizeof nonce, "%d-%d", s, s % per_second);
        assert_false(use(set, ALICE, nonce, T0 + seconds));
    }
    snprintf(nonce, sizeof nonce, "%d-0", seconds - (int)WINDOW - 1);
    assert_true(use(set, ALICE, nonce, T0 + seconds)); /* out of the window */
    nonce_set_commit(set);
    nonce_set_free(set);
}

/* At most_slots, a full table refuses new nonces (503) rather than
 * forget one of the window; once they age out there is room again. */
static void a_full_table_refuses_until_the_window_moves_on(void **state)
{
    (void)state;
    struct nonce_set *set = nonce_set_new(WINDOW, 1024);
    char nonce[32];
    int recorded = 0;
    bool fresh = true;
    enum bus_err err = BUS_OK;
    while (err == BUS_OK) {
        nonce_set_reserve(set, 1);
        snprintf(nonce, sizeof nonce, "n%d", recorded);
        err = nonce_set_use(set, ALICE, nonce, T0, WINDOW, &fresh);
        nonce_set_commit(set);
        recorded += err == BUS_OK;
    }
    assert_int_equal(err, BUS_ERR_DATABASE_BUSY);
    assert_false(fresh);
    assert_int_equal(recorded, 768);
    assert_int_equal(nonce_set_slots(set), 1024);
    assert_false(use(set, ALICE, "n0", T0 + 1)); /* the recorded ones still count */
    /* Once the window has moved on, a new nonce takes an old one's slot
     * if its probe meets one (it depends on where its hash falls), else it
     * is refused too; either way it moves the set's clock, and the next
     * reserve prunes the old ones. */
    assert_false(nonce_set_reserve(set, 1));
    err = nonce_set_use(set, BOB, "late", T0 + WINDOW + 1, WINDOW, &fresh);
    assert_true(err == BUS_OK ? fresh : err == BUS_ERR_DATABASE_BUSY && !fresh);
    nonce_set_commit(set);
    assert_int_equal(nonce_set_used(set), 768);
    assert_true(nonce_set_reserve(set, 1));
    assert_int_equal(nonce_set_used(set), err == BUS_OK ? 1 : 0);
    assert_true(use(set, ALICE, "n0", T0 + WINDOW + 2));
    nonce_set_commit(set);
    nonce_set_free(set);
}

static void clear_forgets_everything(void **state)
{
    (void)state;
    struct nonce_set *set = nonce_set_new(WINDOW, MOST);
    assert_true(use(set, ALICE, "n", T0));
    nonce_set_commit(set);
    nonce_set_clear(set);
    assert_int_equal(nonce_set_used(set), 0);
    assert_true(use(set, ALICE, "n", T0 + 1));
    nonce_set_commit(set);
    nonce_set_free(set);
}

/* ---- the SQLite store --------------------------------------------------- */

static bool store_use(struct store *store, const char *principal, const char *nonce, double now)
{
    bool fresh = false;
    assert_int_equal(store->ops->nonce_use(store->backend, principal, nonce, now,
                                           NONCE_RETENTION_SECONDS, &fresh),
                     BUS_OK);
    return fresh;
}

static void a_restart_reloads_the_window(void **state)
{
    (void)state;
    struct sqlite_test_files files;
    assert_true(sqlite_test_files_make(&files, "nonces"));
    double now = clock_now();
    struct store *store = store_sqlite_open(files.path, 1, false);
    assert_non_null(store);
    assert_true(store_use(store, ALICE, "old", now - NONCE_RETENTION_SECONDS - 5));
    assert_true(store_use(store, ALICE, "recent", now - 100));
    assert_true(store_use(store, BOB, "now", now));
    assert_false(store_use(store, BOB, "now", now));
    store_close(store);
    store = store_sqlite_open(files.path, 1, false);
    assert_non_null(store);
    assert_false(store_use(store, ALICE, "recent", now + 1));
    assert_false(store_use(store, BOB, "now", now + 1));
    assert_true(store_use(store, ALICE, "old", now + 1)); /* past the window */
    store_close(store);
    sqlite_test_files_remove(&files);
}

/* The cleanup deletes the rows past the window, and the ones after. */
static void cleanup_deletes_the_old_rows_only(void **state)
{
    (void)state;
    struct sqlite_test_files files;
    assert_true(sqlite_test_files_make(&files, "nonces"));
    double now = clock_now();
    struct store *store = store_sqlite_open(files.path, 1, false);
    assert_non_null(store);
    for (int i = 0; i < 5; i++) {
        char nonce[16];
        snprintf(nonce, sizeof nonce, "n%d", i);
        assert_true(store_use(store, ALICE, nonce, now - 1000 + 210 * i)); /* 2 old, 3 not */
    }
    struct cleanup_stats stats = {0};
    assert_int_equal(store->ops->cleanup(store->backend, now, 7 * 86400.0, &stats), BUS_OK);
    assert_int_equal(stats.nonces_deleted, 2);
    assert_int_equal(store->ops->cleanup(store->backend, now, 7 * 86400.0, &stats), BUS_OK);
    assert_int_equal(stats.nonces_deleted, 0);
    goal_tallies_clear(&stats.goals);
    store_close(store);
    store = store_sqlite_open(files.path, 1, false);
    assert_false(store_use(store, ALICE, "n2", now));
    assert_true(store_use(store, ALICE, "n1", now));
    store_close(store);
    sqlite_test_files_remove(&files);
}

/* Version 8's keyed table is rewritten, its nonces kept. */
static void a_version_8_table_is_carried_over(void **state)
{
    (void)state;
    struct sqlite_test_files files;
    assert_true(sqlite_test_files_make(&files, "nonces"));
    double now = clock_now();
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(files.path, &db), SQLITE_OK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE nonces (principal TEXT NOT NULL, nonce TEXT NOT NULL,"
             " seen_at REAL NOT NULL, PRIMARY KEY (principal, nonce)) WITHOUT ROWID;"
             "CREATE INDEX nonces_by_time ON nonces (seen_at);"
             "INSERT INTO nonces VALUES ('%s', 'kept', %.17g), ('%s', 'gone', %.17g);"
             "PRAGMA user_version = 8;",
             ALICE, now - 10, ALICE, now - 2 * NONCE_RETENTION_SECONDS);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct store *store = store_sqlite_open(files.path, 1, false);
    assert_non_null(store);
    assert_false(store_use(store, ALICE, "kept", now));
    assert_true(store_use(store, ALICE, "gone", now));
    store_close(store);
    assert_int_equal(sqlite3_open(files.path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*), (SELECT user_version FROM"
                                        " pragma_user_version) FROM nonces",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 3);
    assert_int_equal(sqlite3_column_int(stmt, 1), 12); /* and on to the latest */
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    sqlite_test_files_remove(&files);
}

/* The set is the authority for one process: a second opening of the file
 * is refused while the first is open, and allowed after. */
static void one_process_owns_the_file(void **state)
{
    (void)state;
    struct sqlite_test_files files;
    assert_true(sqlite_test_files_make(&files, "nonces"));
    struct store *first = store_sqlite_open(files.path, 1, false);
    assert_non_null(first);
    assert_null(store_sqlite_open(files.path, 1, false));
    assert_true(store_use(first, ALICE, "still works", clock_now()));
    store_close(first);
    struct store *second = store_sqlite_open(files.path, 1, false);
    assert_non_null(second);
    store_close(second);
    sqlite_test_files_remove(&files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_principal_and_the_nonce_stay_apart),
        cmocka_unit_test(a_nonce_is_good_once_within_the_window),
        cmocka_unit_test(a_rollback_forgets_and_a_commit_keeps),
        cmocka_unit_test(a_rollback_of_a_reused_nonce_restores_its_old_time),
        cmocka_unit_test(pruning_keeps_the_table_at_the_rate_times_the_window),
        cmocka_unit_test(a_full_table_refuses_until_the_window_moves_on),
        cmocka_unit_test(clear_forgets_everything),
        cmocka_unit_test(a_restart_reloads_the_window),
        cmocka_unit_test(cleanup_deletes_the_old_rows_only),
        cmocka_unit_test(a_version_8_table_is_carried_over),
        cmocka_unit_test(one_process_owns_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
