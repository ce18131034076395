/* The checkpoint thread and the writer's WAL hook (store/sqlite_checkpoint.c):
 * under writes that never pause, the WAL still starts over, so it stays
 * bounded; and a reader holding an old snapshot only holds the WAL back
 * until it lets go. Small sizes stand in for the defaults' megabytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sqlite_test_files.h"
#include "store/sqlite_checkpoint.h"

#define PAGE_SIZE 4096
#define ROWS 20
#define ROWS_PER_COMMIT 5 /* about a page each, and their b-tree's */
#define COMMITS 2000

static const struct sqlite_checkpoint_sizes small = {.background = 16, .restart = 64, .most = 128};

struct fixture {
    struct sqlite_test_files files;
    sqlite3 *writer;
    struct sqlite_checkpointer *checkpointer;
};

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *message = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &message);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, message ? message : sqlite3_errstr(rc));
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_true(sqlite_test_files_make(&f->files, "checkpoint"));
    assert_int_equal(sqlite3_open(f->files.path, &f->writer), SQLITE_OK);
    exec_ok(f->writer, "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; "
                       "PRAGMA synchronous = NORMAL; "
                       "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)");
    for (int id = 1; id <= ROWS; id++) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO t VALUES (%d, randomblob(3000))", id);
        exec_ok(f->writer, sql);
    }
    f->checkpointer = sqlite_checkpointer_start(f->files.path, false, f->writer, &small);
    assert_non_null(f->checkpointer);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sqlite_checkpointer_stop(f->checkpointer, f->writer);
    sqlite3_close(f->writer);
    sqlite_test_files_remove(&f->files);
    free(f);
    return 0;
}

/* One transaction rewriting ROWS_PER_COMMIT rows, a few pages of WAL. */
static void commit_some(sqlite3 *db, int n)
{
    char sql[160];
    snprintf(sql, sizeof sql, "UPDATE t SET b = randomblob(3000) WHERE id > %d AND id <= %d",
             (n * ROWS_PER_COMMIT) % ROWS, (n * ROWS_PER_COMMIT) % ROWS + ROWS_PER_COMMIT);
    exec_ok(db, sql);
}

/* The WAL file's size in frames: what it has held at most since it was
 * made (SQLite writes a WAL that starts over from its beginning again). */
static long wal_frames_at_most(const struct fixture *f)
{
    char wal[128];
    snprintf(wal, sizeof wal, "%s-wal", f->files.path);
    struct stat st;
    if (stat(wal, &st) != 0)
        return 0;
    return (long)(st.st_size / (24 + PAGE_SIZE));
}

/* Frames in the WAL now, as a passive checkpoint on a connection of its
 * own sees them; it waits its turn while the thread's pass runs. */
static int wal_frames_now(const struct fixture *f)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->files.path, &db), SQLITE_OK);
    exec_ok(db, "SELECT count(*) FROM sqlite_schema"); /* it finds the WAL */
    int frames = -1;
    int rc;
    while ((rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, NULL)) ==
           SQLITE_BUSY)
        usleep(1000);
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return frames;
}

static void the_wal_starts_over_under_writes_that_never_pause(void **state)
{
    struct fixture *f = *state;
    for (int n = 0; n < COMMITS; n++)
        commit_some(f->writer, n);
    /* Some 6 frames a commit, 12,000 in all: without the writer's own
     * pass the thread never finds the WAL fully copied and it holds them
     * all. With it, the WAL never goes past `most` and a few commits. */
    long most = wal_frames_at_most(f);
    assert_true(most > small.background);
    assert_true(most <= small.most + 32);
}

static void a_reader_holds_the_wal_back_only_until_it_lets_go(void **state)
{
    struct fixture *f = *state;
    sqlite3 *reader = NULL;
    assert_int_equal(sqlite3_open(f->files.path, &reader), SQLITE_OK);
    commit_some(f->writer, 0);
    exec_ok(reader, "BEGIN");
    sqlite3_stmt *count = NULL;
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM t", -1, &count, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(count), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(count, 0), ROWS);
    /* The snapshot read above pins the WAL: it cannot start over. */
    for (int n = 1; n <= 100; n++)
        commit_some(f->writer, n);
    assert_true(wal_frames_now(f) > small.most);
    sqlite3_finalize(count);
    exec_ok(reader, "COMMIT");
    /* Once it lets go, the next commits copy it all and start it over:
     * the WAL is back under `most`, where it would hold 800 frames. */
    for (int n = 0; n < 40; n++)
        commit_some(f->writer, n);
    assert_true(wal_frames_now(f) <= small.most + 32);
    assert_int_equal(sqlite3_close(reader), SQLITE_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_wal_starts_over_under_writes_that_never_pause, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_reader_holds_the_wal_back_only_until_it_lets_go, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
