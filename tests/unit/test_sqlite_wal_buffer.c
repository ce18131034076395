/* Unit tests of store/sqlite_wal_buffer.c: a commit reaches the WAL in one
 * write, is in the file before COMMIT returns (another connection, on
 * SQLite's own VFS, reads it at once), a failing write fails the commit
 * and leaves nothing behind, transactions larger than the buffer or the
 * page cache commit whole, and a rolled-back one's frames are never
 * written. Beneath the buffering VFS is a counting one
 * (made the default before the buffering VFS is first asked for, so that
 * it wraps it) that counts the writes to WAL files and can make them fail. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "store/sqlite_wal_buffer.h"

/* ---- a VFS that counts WAL writes and fails them on demand --------------- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs counting_vfs;
#define METHOD_TABLES 4
static const sqlite3_io_methods *real_methods[METHOD_TABLES];
static sqlite3_io_methods counting_methods[METHOD_TABLES];
#define MOST_WALS 16
static sqlite3_file *open_wals[MOST_WALS];
static pthread_mutex_t counts_lock = PTHREAD_MUTEX_INITIALIZER;
static int wal_writes;          /* under counts_lock */
static sqlite3_int64 wal_bytes; /* under counts_lock */
static int injected_fault;      /* what a WAL write returns; SQLITE_OK = none */

static bool is_open_wal(sqlite3_file *file)
{
    for (size_t i = 0; i < MOST_WALS; i++)
        if (open_wals[i] == file)
            return true;
    return false;
}

static size_t table_of(sqlite3_file *file)
{
    size_t table = 0;
    while (file->pMethods != &counting_methods[table])
        table++;
    return table;
}

static int counting_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset)
{
    pthread_mutex_lock(&counts_lock);
    bool wal = is_open_wal(file);
    if (wal) {
        wal_writes++;
        wal_bytes += amount;
    }
    int fault = injected_fault;
    pthread_mutex_unlock(&counts_lock);
    if (wal && fault != SQLITE_OK)
        return fault;
    return real_methods[table_of(file)]->xWrite(file, data, amount, offset);
}

static int counting_close(sqlite3_file *file)
{
    pthread_mutex_lock(&counts_lock);
    for (size_t i = 0; i < MOST_WALS; i++)
        if (open_wals[i] == file)
            open_wals[i] = NULL;
    pthread_mutex_unlock(&counts_lock);
    return real_methods[table_of(file)]->xClose(file);
}

static int counting_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                         int *out_flags)
{
    (void)vfs;
    int rc = real_vfs->xOpen(real_vfs, name, file, flags, out_flags);
    if (file->pMethods == NULL)
        return rc;
    pthread_mutex_lock(&counts_lock);
    size_t table = 0;
    while (table < METHOD_TABLES && real_methods[table] != NULL &&
           real_methods[table] != file->pMethods)
        table++;
    assert_true(table < METHOD_TABLES);
    if (real_methods[table] == NULL) {
        real_methods[table] = file->pMethods;
        counting_methods[table] = *file->pMethods;
        counting_methods[table].xWrite = counting_write;
        counting_methods[table].xClose = counting_close;
    }
    file->pMethods = &counting_methods[table];
    if (flags & SQLITE_OPEN_WAL)
        for (size_t i = 0; i < MOST_WALS; i++)
            if (open_wals[i] == NULL) {
                open_wals[i] = file;
                break;
            }
    pthread_mutex_unlock(&counts_lock);
    return rc;
}

static int register_counting_vfs(void **state)
{
    (void)state;
    real_vfs = sqlite3_vfs_find(NULL);
    counting_vfs = *real_vfs;
    counting_vfs.zName = "counting";
    counting_vfs.xOpen = counting_open;
    return sqlite3_vfs_register(&counting_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static sqlite3_int64 wal_bytes_so_far(void)
{
    pthread_mutex_lock(&counts_lock);
    sqlite3_int64 bytes = wal_bytes;
    pthread_mutex_unlock(&counts_lock);
    return bytes;
}

static int take_wal_writes(void)
{
    pthread_mutex_lock(&counts_lock);
    int writes = wal_writes;
    wal_writes = 0;
    wal_bytes = 0;
    pthread_mutex_unlock(&counts_lock);
    return writes;
}

/* ---- fixture: a database in a directory of its own ---------------------- */

struct fixture {
    struct sqlite_test_files files;
    sqlite3 *writer; /* on the buffering VFS */
    sqlite3 *reader; /* on the default (counting) VFS */
};

static sqlite3 *open_connection(const char *path, const char *vfs)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                                  "PRAGMA wal_autocheckpoint = 0; PRAGMA busy_timeout = 5000;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    return db;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    injected_fault = SQLITE_OK;
    if (!sqlite_test_files_make(&f->files, "walbuf")) {
        free(f);
        return -1;
    }
    const char *vfs = sql_wal_buffer_vfs();
    assert_non_null(vfs);
    f->writer = open_connection(f->files.path, vfs);
    assert_int_equal(sqlite3_exec(f->writer,
                                  "CREATE TABLE t (n INTEGER PRIMARY KEY, body BLOB NOT NULL);"
                                  "CREATE INDEX t_body ON t (body);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    f->reader = open_connection(f->files.path, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    injected_fault = SQLITE_OK;
    sqlite3_close(f->reader);
    sqlite3_close(f->writer);
    sqlite_test_files_remove(&f->files);
    free(f);
    return 0;
}

/* Inserts rows first..first+count-1 with 1 KB bodies; each row's body is
 * its number repeated, so that a reader can tell a torn page. */
static int insert_rows(sqlite3 *db, int first, int count)
{
    sqlite3_stmt *insert = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO t (n, body) VALUES (?1, ?2)", -1, &insert, NULL),
        SQLITE_OK);
    unsigned char body[1024];
    int rc = SQLITE_OK;
    for (int n = first; n < first + count && rc == SQLITE_OK; n++) {
        memset(body, n & 0xff, sizeof body);
        sqlite3_bind_int(insert, 1, n);
        sqlite3_bind_blob(insert, 2, body, sizeof body, SQLITE_STATIC);
        rc = sqlite3_step(insert) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
        sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
    return rc;
}

static sqlite3_int64 query_number(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *statement = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &statement, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(statement), SQLITE_ROW);
    sqlite3_int64 number = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return number;
}

/* Rows whose body is not their own number repeated (see insert_rows). */
static const char torn_rows_sql[] = "SELECT count(*) FROM t WHERE length(body) != 1024"
                                    " OR hex(substr(body, 1, 1)) != printf('%02X', n % 256)"
                                    " OR hex(substr(body, 512, 1)) != printf('%02X', n % 256)"
                                    " OR hex(substr(body, 1024, 1)) != printf('%02X', n % 256)";

/* query_number for another thread, where cmocka cannot fail a test: -1 on
 * any error. */
static sqlite3_int64 query_number_or_fail(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *statement = NULL;
    sqlite3_int64 number = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW)
        number = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return number;
}

/* A connection opened afresh, on SQLite's own VFS, finds rows rows, none
 * torn, and the file sound. */
static void assert_fresh_connection_finds(const char *path, sqlite3_int64 rows)
{
    sqlite3 *fresh = open_connection(path, NULL);
    assert_int_equal(query_number(fresh, "SELECT count(*) FROM t"), rows);
    assert_int_equal(query_number(fresh, torn_rows_sql), 0);
    assert_int_equal(query_number(fresh, "SELECT count(*) FROM pragma_integrity_check"
                                         " WHERE integrity_check != 'ok'"),
                     0);
    sqlite3_close(fresh);
}

static void commit_rows(sqlite3 *db, int first, int count)
{
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert_rows(db, first, count), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
}

/* ---- tests --------------------------------------------------------------- */

static void a_commit_reaches_the_wal_in_one_write(void **state)
{
    struct fixture *f = *state;
    take_wal_writes();
    commit_rows(f->writer, 1, 8); /* 8 KB of rows and their index: several pages */
    assert_int_equal(take_wal_writes(), 1);
    commit_rows(f->writer, 9, 1);
    assert_int_equal(take_wal_writes(), 1);
    /* Past 128 KB (SQLite's most per write), a write per 128 KB, less
     * what a frame (4 KB and its header) that does not fit leaves. */
    commit_rows(f->writer, 10, 100);
    sqlite3_int64 bytes = wal_bytes_so_far();
    int writes = take_wal_writes();
    assert_true(bytes > 131072);
    assert_in_range(writes, 2, bytes / (131071 - 4120) + 1);
    /* The same on SQLite's own VFS: two writes a page (header, page), which
     * is what the count above would be without the buffer. */
    assert_int_equal(sqlite3_exec(f->reader, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert_rows(f->reader, 110, 8), SQLITE_OK);
    assert_int_equal(sqlite3_exec(f->reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_true(take_wal_writes() >= 6);
}

static void a_commit_is_in_the_file_when_it_returns(void **state)
{
    struct fixture *f = *state;
    for (int round = 0; round < 50; round++) {
        commit_rows(f->writer, round * 3 + 1, 3);
        assert_int_equal(query_number(f->reader, "SELECT count(*) FROM t"), round * 3 + 3);
        assert_int_equal(query_number(f->reader, torn_rows_sql), 0);
    }
    assert_fresh_connection_finds(f->files.path, 150);
}

static void a_failing_write_fails_the_commit_and_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    commit_rows(f->writer, 1, 5);
    injected_fault = SQLITE_FULL;
    assert_int_equal(sqlite3_exec(f->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    /* A few pages, all in the page cache and the buffer until the commit. */
    assert_int_equal(insert_rows(f->writer, 6, 3), SQLITE_OK);
    int rc = sqlite3_exec(f->writer, "COMMIT", NULL, NULL, NULL);
    assert_int_equal(rc & 0xff, SQLITE_FULL);
    if (sqlite3_get_autocommit(f->writer) == 0)
        assert_int_equal(sqlite3_exec(f->writer, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(query_number(f->reader, "SELECT count(*) FROM t"), 5);
    assert_int_equal(query_number(f->writer, "SELECT count(*) FROM t"), 5);
    /* The fault over, the same connection writes again. */
    injected_fault = SQLITE_OK;
    commit_rows(f->writer, 6, 3);
    assert_int_equal(query_number(f->reader, "SELECT count(*) FROM t"), 8);
    assert_int_equal(query_number(f->reader, torn_rows_sql), 0);
    assert_int_equal(query_number(f->reader, "SELECT count(*) FROM pragma_integrity_check"
                                             " WHERE integrity_check != 'ok'"),
                     0);
}

static void a_transaction_larger_than_the_cache_and_the_buffer_commits_whole(void **state)
{
    struct fixture *f = *state;
    /* 10 pages of cache: the transaction spills frames to the WAL before
     * its commit, and reads them back; 3,000 rows are over 3 MB, past the
     * buffer's 128 KB. */
    assert_int_equal(sqlite3_exec(f->writer, "PRAGMA cache_size = 10", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(f->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert_rows(f->writer, 1, 3000), SQLITE_OK);
    assert_int_equal(query_number(f->writer, "SELECT count(*) FROM t"), 3000);
    assert_int_equal(query_number(f->reader, "SELECT count(*) FROM t"), 0);
    assert_int_equal(sqlite3_exec(f->writer, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(query_number(f->reader, "SELECT count(*) FROM t"), 3000);
    assert_int_equal(query_number(f->reader, torn_rows_sql), 0);
    /* And one rolled back after spilling leaves the committed rows alone. */
    assert_int_equal(sqlite3_exec(f->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert_rows(f->writer, 3001, 1000), SQLITE_OK);
    assert_int_equal(sqlite3_exec(f->writer, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    commit_rows(f->writer, 3001, 1);
    assert_int_equal(query_number(f->reader, "SELECT count(*) FROM t"), 3001);
    assert_int_equal(sqlite3_exec(f->reader, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_fresh_connection_finds(f->files.path, 3001);
}

/* A transaction that spilled frames and was rolled back leaves nothing
 * to be written later: another connection (another process, say) then
 * writes its frames at the same offsets, and the buffering connection's
 * next read transaction, which passes a shared-memory barrier, must not
 * put the rolled-back frames over them. */
static void a_rolled_back_transactions_frames_are_never_written(void **state)
{
    struct fixture *f = *state;
    commit_rows(f->writer, 1, 10);
    /* An empty WAL: the rollback then reads every page back from the
     * database file, and nothing of the WAL (a read would write first). */
    assert_int_equal(sqlite3_exec(f->reader, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(f->writer, "PRAGMA cache_size = 10", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(f->writer, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(insert_rows(f->writer, 11, 300), SQLITE_OK); /* spills */
    assert_int_equal(sqlite3_exec(f->writer, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    commit_rows(f->reader, 11, 400); /* as many frames as the spill, and more */
    assert_int_equal(query_number(f->writer, "SELECT count(*) FROM t"), 410);
    commit_rows(f->writer, 411, 1);
    assert_fresh_connection_finds(f->files.path, 411);
}

/* A reader on another thread and connection, reading while the writer
 * commits: every snapshot it gets holds whole transactions (each adds 4
 * rows), whole pages, and a sound index. */
struct reading {
    const char *path;
    atomic_bool *stop;
    int snapshots, bad;
};

static void *read_while_writing(void *argument)
{
    struct reading *reading = argument;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(reading->path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        reading->bad++;
        sqlite3_close(db);
        return NULL;
    }
    while (!atomic_load(reading->stop)) {
        /* One read transaction: the three counts see one snapshot. */
        bool began = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
        sqlite3_int64 rows = query_number_or_fail(db, "SELECT count(*) FROM t");
        sqlite3_int64 indexed = query_number_or_fail(db, "SELECT count(*) FROM t INDEXED BY"
                                                         " t_body WHERE body IS NOT NULL");
        sqlite3_int64 torn = query_number_or_fail(db, torn_rows_sql);
        bool ended = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
        if (!began || !ended || rows < 0 || rows % 4 != 0 || torn != 0 || indexed != rows)
            reading->bad++;
        reading->snapshots++;
    }
    sqlite3_close(db);
    return NULL;
}

static void readers_see_whole_commits_only(void **state)
{
    struct fixture *f = *state;
    atomic_bool stop = false;
    struct reading reading = {.path = f->files.path, .stop = &stop};
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, read_while_writing, &reading), 0);
    for (int round = 0; round < 400; round++)
        commit_rows(f->writer, round * 4 + 1, 4);
    atomic_store(&stop, true);
    pthread_join(thread, NULL);
    assert_true(reading.snapshots > 0);
    assert_int_equal(reading.bad, 0);
    assert_int_equal(query_number(f->reader, "SELECT count(*) FROM t"), 1600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_commit_reaches_the_wal_in_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(a_commit_is_in_the_file_when_it_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failing_write_fails_the_commit_and_leaves_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_transaction_larger_than_the_cache_and_the_buffer_commits_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(a_rolled_back_transactions_frames_are_never_written, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(readers_see_whole_commits_only, setup, teardown),
    };
    return cmocka_run_group_tests(tests, register_counting_vfs, NULL);
}
