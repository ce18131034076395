/* Checkpoints of the SQLite backend's WAL on a connection and thread of
 * their own, so that the writer thread does not copy WAL pages into the
 * database and sync it between its batches (docs/BENCHMARKS.md, issue 16). */
#ifndef STORE_SQLITE_CHECKPOINT_H
#define STORE_SQLITE_CHECKPOINT_H

#include <stdbool.h>

#include <sqlite3.h>

struct sqlite_checkpointer;

/* How long the WAL grows, in pages (frames of a page each). */
struct sqlite_checkpoint_sizes {
    int background; /* the thread copies each time the WAL has grown by this much */
    int restart;    /* from here, after a pass of the thread, the writer copies what is
                     * left and the WAL starts over */
    int most;       /* from here the writer waits for the thread's pass (a slow disk),
                     * or copies on its own (the WAL did not start over: a reader held
                     * an old snapshot) */
};

/* 1,000, 8,000 and 16,000 pages: 4, 32 and 64 MB of WAL (docs/BENCHMARKS.md,
 * "The WAL started over less often"). */
extern const struct sqlite_checkpoint_sizes sqlite_checkpoint_default_sizes;

/* Opens a connection to path (synchronous as the writer's) and starts the
 * thread, then installs the writer's WAL hook on writer_db in place of
 * wal_autocheckpoint. Returns NULL (and leaves writer_db as it was) when
 * the connection or thread cannot be had. sizes is copied. */
struct sqlite_checkpointer *sqlite_checkpointer_start(const char *path, bool sync_full,
                                                      sqlite3 *writer_db,
                                                      const struct sqlite_checkpoint_sizes *sizes);

/* Stops the thread (after its checkpoint in progress) and closes its
 * connection; the writer thread must be stopped already. writer_db is left
 * without a WAL hook: closing it checkpoints what is left. */
void sqlite_checkpointer_stop(struct sqlite_checkpointer *checkpointer, sqlite3 *writer_db);

#endif
