/* Checkpoints of the SQLite backend's WAL on a connection and thread of
 * their own, so that the writer thread does not copy WAL pages into the
 * database and sync it between its batches (docs/BENCHMARKS.md, issue 16). */
#ifndef STORE_SQLITE_CHECKPOINT_H
#define STORE_SQLITE_CHECKPOINT_H

#include <stdbool.h>

#include <sqlite3.h>

struct sqlite_checkpointer;

/* Opens a connection to path (synchronous as the writer's) and starts the
 * thread, then installs the writer's WAL hook on writer_db in place of
 * wal_autocheckpoint. Returns NULL (and leaves writer_db as it was) when
 * the connection or thread cannot be had. */
struct sqlite_checkpointer *sqlite_checkpointer_start(const char *path, bool sync_full,
                                                      sqlite3 *writer_db);

/* Stops the thread (after its checkpoint in progress) and closes its
 * connection; the writer thread must be stopped already. writer_db is left
 * without a WAL hook: closing it checkpoints what is left. */
void sqlite_checkpointer_stop(struct sqlite_checkpointer *checkpointer, sqlite3 *writer_db);

#endif
