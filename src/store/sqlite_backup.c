/* Online backup of the SQLite store; see sqlite_backup.h. */
#include "store/sqlite_backup.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* How long the copy waits for a lock (a checkpoint in progress, a writer
 * switching the journal) before it gives up. */
#define BACKUP_BUSY_TIMEOUT_MS 10000

static int fail(char *error, size_t size, const char *what, sqlite3 *db)
{
    snprintf(error, size, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
    return -1;
}

/* One step of -1 copies every page inside a single read transaction: a
 * snapshot, where stepping in slices would restart whenever the server
 * commits in between. */
static int copy_pages(sqlite3 *source, sqlite3 *dest, char *error, size_t size)
{
    sqlite3_backup *backup = sqlite3_backup_init(dest, "main", source, "main");
    if (backup == NULL)
        return fail(error, size, "cannot start the backup", dest);
    int rc = sqlite3_backup_step(backup, -1);
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE)
        return fail(error, size, "cannot copy the database", dest);
    return 0;
}

/* The copy keeps the source's WAL flag in its header; rollback mode makes
 * it one file that needs no -wal beside it to be whole. */
static int check_copy(sqlite3 *dest, char *error, size_t size)
{
    if (sqlite3_exec(dest, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK)
        return fail(error, size, "cannot set the copy's journal mode", dest);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2(dest, "PRAGMA quick_check", -1, &stmt, NULL) != SQLITE_OK)
        return fail(error, size, "cannot check the copy", dest);
    int rc = sqlite3_step(stmt);
    const char *verdict = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
    int ok = verdict != NULL && strcmp(verdict, "ok") == 0;
    if (!ok)
        snprintf(error, size, "the copy fails quick_check: %s", verdict ? verdict : "no answer");
    sqlite3_finalize(stmt);
    return ok ? 0 : -1;
}

static int backup_to(sqlite3 *source, const char *temp_path, char *error, size_t size)
{
    sqlite3 *dest = NULL;
    int rc = -1;
    if (sqlite3_open_v2(temp_path, &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        fail(error, size, "cannot create the copy", dest);
    else if (copy_pages(source, dest, error, size) == 0)
        rc = check_copy(dest, error, size);
    if (sqlite3_close(dest) != SQLITE_OK && rc == 0)
        rc = fail(error, size, "cannot close the copy", dest);
    return rc;
}

int store_sqlite_backup(const char *source_path, const char *dest_path, char *error,
                        size_t error_size)
{
    if (access(source_path, R_OK) != 0) { /* read-only open would not say which */
        snprintf(error, error_size, "cannot read the database %s", source_path);
        return -1;
    }
    char temp_path[4200];
    if ((size_t)snprintf(temp_path, sizeof temp_path, "%s.partial", dest_path) >=
        sizeof temp_path) {
        snprintf(error, error_size, "the backup's path is too long");
        return -1;
    }
    unlink(temp_path); /* a copy an earlier, interrupted run left */
    sqlite3 *source = NULL;
    int rc = -1;
    if (sqlite3_open_v2(source_path, &source, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail(error, error_size, "cannot open the database", source);
    else {
        sqlite3_busy_timeout(source, BACKUP_BUSY_TIMEOUT_MS);
        rc = backup_to(source, temp_path, error, error_size);
    }
    sqlite3_close(source);
    if (rc == 0 && rename(temp_path, dest_path) != 0) {
        snprintf(error, error_size, "cannot rename the copy to %s", dest_path);
        rc = -1;
    }
    if (rc != 0)
        unlink(temp_path);
    return rc;
}
