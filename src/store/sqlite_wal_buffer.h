/* A VFS over SQLite's default one that hands the writer's WAL appends to
 * the kernel in one write per commit instead of two per page (SQLite
 * writes a frame's 24-byte header and its page in separate calls). */
#ifndef STORE_SQLITE_WAL_BUFFER_H
#define STORE_SQLITE_WAL_BUFFER_H

/* Registers the VFS (once per process, not as the default) over whatever
 * VFS is the default at the first call, and returns its name for
 * sqlite3_open_v2; NULL if it could not be registered, in which case the
 * default VFS is the one to use. Thread-safe. */
const char *sql_wal_buffer_vfs(void);

#endif
