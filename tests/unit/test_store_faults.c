/* Unit tests of the SQLite store under storage faults: a wrapping VFS makes
 * every file write fail on demand, as a full disk, an I/O error or a
 * read-only file system would. A write then fails with its own bus error,
 * leaves nothing behind, reads go on, and writes work again as soon as the
 * fault clears, with the same store (no reopening). */
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

#include "sqlite_test_files.h"
#include "store/store.h"
#include "util/token.h"

#define T0 1700000000.0

/* ---- a VFS whose writes fail on demand ----------------------------------- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs faulty_vfs;
/* The real VFS's method tables (the database file and its WAL have
 * different ones), each with a copy whose xWrite is wrapped. */
#define METHOD_TABLES 4
static const sqlite3_io_methods *real_methods[METHOD_TABLES];
static sqlite3_io_methods faulty_methods[METHOD_TABLES];
static int injected_fault; /* what xWrite returns; SQLITE_OK = none */

static int faulty_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset)
{
    if (injected_fault != SQLITE_OK)
        return injected_fault;
    size_t table = 0;
    while (file->pMethods != &faulty_methods[table])
        table++;
    return real_methods[table]->xWrite(file, data, amount, offset);
}

/* Opens the real file in place (same size), then swaps in the methods with
 * the wrapped xWrite: every other method is the real VFS's own. */
static int faulty_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                       int *out_flags)
{
    (void)vfs;
    int rc = real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
    if (rc != SQLITE_OK || file->pMethods == NULL)
        return rc;
    size_t table = 0;
    while (table < METHOD_TABLES && real_methods[table] != NULL &&
           real_methods[table] != file->pMethods)
        table++;
    assert_true(table < METHOD_TABLES);
    if (real_methods[table] == NULL) {
        real_methods[table] = file->pMethods;
        faulty_methods[table] = *file->pMethods;
        faulty_methods[table].xWrite = faulty_write;
    }
    file->pMethods = &faulty_methods[table];
    return rc;
}

static int register_faulty_vfs(void **state)
{
    (void)state;
    real_vfs = sqlite3_vfs_find(NULL);
    faulty_vfs = *real_vfs;
    faulty_vfs.zName = "faulty";
    faulty_vfs.xOpen = faulty_open;
    return sqlite3_vfs_register(&faulty_vfs, 1) == SQLITE_OK ? 0 : -1;
}

/* ---- fixture ------------------------------------------------------------ */

struct fixture {
    struct sqlite_test_files files;
    struct store *store;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    injected_fault = SQLITE_OK;
    if (!sqlite_test_files_make(&f->files, "faults")) {
        free(f);
        return -1;
    }
    f->store = store_sqlite_open(f->files.path, 2, false);
    *state = f;
    return f->store != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    injected_fault = SQLITE_OK;
    store_close(f->store);
    sqlite_test_files_remove(&f->files);
    free(f);
    return 0;
}

static enum bus_err publish_at_priority(struct fixture *f, unsigned n, int priority)
{
    struct intent_new intent;
    struct stored_response replay = {0};
    memset(&intent, 0, sizeof intent);
    snprintf(intent.id, sizeof intent.id, "%032x", n);
    strcpy(intent.goal, "g");
    strcpy(intent.namespace_, DEFAULT_NAMESPACE);
    intent.priority = priority;
    intent.max_attempts = DEFAULT_MAX_ATTEMPTS;
    intent.backoff_base = DEFAULT_BACKOFF_BASE;
    intent.payload_json = (char *)"{\"n\":1}";
    memset(intent.publisher, 'a', PRINCIPAL_LEN);
    intent.created_at = intent.run_at = T0;
    intent.expires_at = T0 + DEFAULT_TTL_SECONDS;
    enum bus_err err = f->store->ops->publish(f->store->backend, &intent, 0, NULL, 0, NULL, &replay);
    free(replay.body);
    return err;
}

static enum bus_err publish(struct fixture *f, unsigned n)
{
    return publish_at_priority(f, n, DEFAULT_PRIORITY);
}

static bool stored(struct fixture *f, unsigned n)
{
    char id[INTENT_ID_LEN + 1];
    struct intent_record record;
    snprintf(id, sizeof id, "%032x", n);
    memset(&record, 0, sizeof record);
    enum bus_err err = f->store->ops->get_intent(f->store->backend, id, &record);
    assert_true(err == BUS_OK || err == BUS_ERR_NOT_FOUND);
    intent_record_clear(&record);
    return err == BUS_OK;
}

/* Under fault, a publish fails with expected and stores nothing while the
 * earlier intent stays readable; once the fault clears, it goes through. */
static void write_fails_then_recovers(struct fixture *f, int fault, enum bus_err expected)
{
    assert_int_equal(publish(f, 1), BUS_OK);
    injected_fault = fault;
    assert_int_equal(publish(f, 2), expected);
    assert_int_equal(publish(f, 2), expected); /* and again: still refused */
    assert_true(stored(f, 1));
    assert_false(stored(f, 2));
    injected_fault = SQLITE_OK;
    assert_int_equal(publish(f, 2), BUS_OK);
    assert_true(stored(f, 2));
    assert_int_equal(publish(f, 3), BUS_OK);
}

static void full_disk_is_storage_full(void **state)
{
    write_fails_then_recovers(*state, SQLITE_FULL, BUS_ERR_STORAGE_FULL);
}

static void io_error_is_storage_io(void **state)
{
    write_fails_then_recovers(*state, SQLITE_IOERR_WRITE, BUS_ERR_STORAGE_IO);
}

static void read_only_is_storage_read_only(void **state)
{
    write_fails_then_recovers(*state, SQLITE_READONLY, BUS_ERR_STORAGE_READ_ONLY);
}

/* ---- a claim batch that cannot commit -------------------------------- */

static void fill_claim(struct claim_request *request, double now, double lease_seconds)
{
    memset(request, 0, sizeof *request);
    strcpy(request->namespace_, DEFAULT_NAMESPACE);
    memset(request->claimer, 'a', PRINCIPAL_LEN); /* the publisher: its private intents */
    request->lease_seconds = lease_seconds;
    request->now = now;
    assert_true(token_random_hex(request->token, CLAIM_TOKEN_LEN / 2));
}

/* The number of the intent a claim at now takes, 0 for none. */
static unsigned claim_at(struct fixture *f, double now, double lease_seconds)
{
    struct claim_request request;
    struct claimed_intent out;
    fill_claim(&request, now, lease_seconds);
    memset(&out, 0, sizeof out);
    enum bus_err err = f->store->ops->claim(f->store->backend, &request, &out);
    assert_true(err == BUS_OK || err == BUS_ERR_EMPTY);
    unsigned n = err == BUS_OK ? (unsigned)strtoul(out.id, NULL, 16) : 0;
    claimed_intent_clear(&out);
    return n;
}

/* A batch claim where a goal has a limit takes one intent after another
 * in one transaction: here the first takes back a lapsed lease, and the
 * second then looks for lapsed leases without it. When that transaction
 * cannot commit, the lease is lapsed again as it was, and the next claims
 * must find it (what the store knows of the earliest lease end goes with
 * the rollback). */
static void a_lapsed_lease_retaken_in_a_failed_commit_is_found_again(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(publish_at_priority(f, 1, DEFAULT_PRIORITY + 1), BUS_OK);
    assert_int_equal(publish(f, 2), BUS_OK);
    struct goal_control_change limit = {DEFAULT_NAMESPACE, "g", GOAL_PAUSE_KEEP, true, 5, T0};
    struct goal_control control;
    assert_int_equal(f->store->ops->goal_control_set(f->store->backend, &limit, &control), BUS_OK);
    assert_int_equal(claim_at(f, T0, 10), 1); /* lapses at T0 + 10 */

    struct claim_request request;
    fill_claim(&request, T0 + 20, 10);
    char tokens[2][CLAIM_TOKEN_LEN + 1];
    for (int i = 0; i < 2; i++)
        assert_true(token_random_hex(tokens[i], CLAIM_TOKEN_LEN / 2));
    struct claimed_intent out[2];
    memset(out, 0, sizeof out);
    int claimed = 0;
    struct store_claim_many_call call = {
        NULL, &request, (const char(*)[CLAIM_TOKEN_LEN + 1]) tokens, 2, out, &claimed};
    injected_fault = SQLITE_FULL;
    assert_int_equal(f->store->ops->claim_many(f->store->backend, &call), BUS_ERR_STORAGE_FULL);
    injected_fault = SQLITE_OK;
    for (int i = 0; i < 2; i++)
        claimed_intent_clear(&out[i]);

    assert_int_equal(claim_at(f, T0 + 20, 10), 1);
    assert_int_equal(claim_at(f, T0 + 20, 10), 2);
    assert_int_equal(claim_at(f, T0 + 20, 10), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(full_disk_is_storage_full, setup, teardown),
        cmocka_unit_test_setup_teardown(io_error_is_storage_io, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_is_storage_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(a_lapsed_lease_retaken_in_a_failed_commit_is_found_again,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, register_faulty_vfs, NULL);
}
