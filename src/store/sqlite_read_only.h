/* A database whose file system (or file, or directory) cannot be written:
 * the SQLite backend still opens it, read-only, so that what was
 * acknowledged can be read; writes are refused (storage_read_only) until
 * it is writable again (docs/SECURITY.md "Storage faults"). */
#ifndef STORE_SQLITE_READ_ONLY_H
#define STORE_SQLITE_READ_ONLY_H

#include <stdbool.h>

/* Whether path exists but it, or its directory, cannot be written (a
 * read-only mount, or permissions): SQLite could read it but not write
 * it, nor create the -wal and -shm files that WAL mode needs. */
bool sql_storage_read_only(const char *path);

/* A malloc'd URI (open it with SQLITE_OPEN_URI | SQLITE_OPEN_READONLY)
 * that reads path without writing anything beside it; NULL when out of
 * memory. SQLite reads a WAL database read-only only if its -wal and -shm
 * files exist, or if it is opened immutable. Without a -wal file (a clean
 * shutdown folds it into the database) immutable is exact: there is
 * nothing but the file to read, and on this file system nothing can change
 * it. With one, it is read as is (committed data may be in it). */
char *sql_read_only_uri(const char *path);

#endif
