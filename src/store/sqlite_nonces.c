/* The SQLite backend's nonces of signed requests: the table (schema
 * version 9), reading it back into the in-memory set when the file is
 * opened, and the lock that makes one process the owner of the file.
 *
 * The in-memory set (nonce_set.h) decides what is a replay; the table is
 * its journal on disk, appended to in the transaction of the request's
 * own write, so a restart reloads the last window and still refuses a
 * replay. Appending by rowid dirties the table's last page alone, where
 * version 8's WITHOUT ROWID table, keyed (principal, nonce), dirtied a
 * random leaf of a b-tree and of its time index per signed request. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/intent.h"
#include "store/sqlite_internal.h"

/* Rows in the order they were recorded, so the cleanup deletes a prefix
 * (sqlite.c, W_DELETE_NONCES) and the reload reads one range. */
static const char nonces_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS nonces ("
    " id INTEGER PRIMARY KEY, principal TEXT NOT NULL, nonce TEXT NOT NULL,"
    " seen_at REAL NOT NULL);"
    "PRAGMA user_version = 9;";

/* Version 8's table, keyed (principal, nonce), rewritten in time order. */
static const char nonces_upgrade_sql[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE nonces RENAME TO nonces_v8;"
    "CREATE TABLE nonces ("
    " id INTEGER PRIMARY KEY, principal TEXT NOT NULL, nonce TEXT NOT NULL,"
    " seen_at REAL NOT NULL);"
    "INSERT INTO nonces (principal, nonce, seen_at)"
    " SELECT principal, nonce, seen_at FROM nonces_v8 ORDER BY seen_at;"
    "DROP TABLE nonces_v8;"
    "COMMIT;";

/* True when a nonces table without the id column (version 8's) is there. */
static bool keyed_table(sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    bool keyed = sqlite3_prepare_v2(db,
                                    "SELECT count(*) > 0 AND sum(name = 'id') = 0"
                                    " FROM pragma_table_info('nonces')",
                                    -1, &stmt, NULL) == SQLITE_OK &&
                 sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) != 0;
    sqlite3_finalize(stmt);
    return keyed;
}

int sql_nonces_schema(sqlite3 *db, char **message)
{
    if (keyed_table(db)) {
        int rc = sqlite3_exec(db, nonces_upgrade_sql, NULL, NULL, message);
        if (rc != SQLITE_OK) {
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return sqlite3_exec(db, nonces_schema_sql, NULL, NULL, message);
}

int sql_nonces_load(sqlite3 *db, struct nonce_set *set, double now)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT principal, nonce, seen_at FROM nonces WHERE seen_at > ?1"
                                " ORDER BY id",
                                -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_double(stmt, 1, now - NONCE_RETENTION_SECONDS);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *principal = (const char *)sqlite3_column_text(stmt, 0);
        const char *nonce = (const char *)sqlite3_column_text(stmt, 1);
        bool fresh = false;
        nonce_set_reserve(set, 1);
        /* keep 0: a row is never a replay of the one before it. */
        enum bus_err err = nonce_set_use(set, principal ? principal : "", nonce ? nonce : "",
                                         sqlite3_column_double(stmt, 2), 0.0, &fresh);
        nonce_set_commit(set);
        if (err != BUS_OK) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_finalize(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int sql_owner_lock(const char *path)
{
    /* O_CREAT only when needed: a file system mounted read-only is served
     * read-only (sqlite_read_only.h), and its file must still be lockable. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "intent-bus: cannot open %s to lock it: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    if (errno == EWOULDBLOCK)
        fprintf(stderr,
                "intent-bus: %s is in use by another intent-bus process: one process serves a"
                " SQLite file (several nodes need PostgreSQL, docs/SCALING.md)\n",
                path);
    else
        fprintf(stderr, "intent-bus: cannot lock %s: %s\n", path, strerror(errno));
    close(fd);
    return -1;
}
