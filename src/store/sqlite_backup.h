/* A consistent copy of a live SQLite bus, taken with SQLite's online backup
 * API while the server keeps writing (docs/DEPLOY.md, "Backups"). */
#ifndef STORE_SQLITE_BACKUP_H
#define STORE_SQLITE_BACKUP_H

#include <stddef.h>

/* Copies the database at source_path to dest_path as of one moment: every
 * transaction committed before the copy's read transaction began is in it,
 * none after. The copy is written beside dest_path and renamed into place
 * only once it is complete and passes SQLite's quick_check, in rollback
 * journal mode so it is one self-contained file. The source is opened read
 * only and never blocks the server's writer (WAL readers do not). Returns 0,
 * or -1 with a one-line reason in error. */
int store_sqlite_backup(const char *source_path, const char *dest_path, char *error,
                        size_t error_size);

#endif
