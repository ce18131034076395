/* The WAL-buffering VFS (sqlite_wal_buffer.h).
 *
 * SQLite appends a WAL frame as two writes, the frame's 24-byte header and
 * then its page, so a commit of n pages costs 2n pwrite calls; on the
 * virtual machines this runs on, a system call's entry and exit cost as
 * much as the copy itself (docs/BENCHMARKS.md). Here the appends to a WAL
 * gather in memory and reach the file as one write:
 *  - right after the commit frame's page, so that a failing write (a full
 *    disk) fails the commit itself, as it would without the buffer. The
 *    commit frame is the one whose header holds a non-zero "database size
 *    after commit" (bytes 4-7; zero in every other frame);
 *  - before anything reads, syncs, sizes or truncates the WAL, before a
 *    write that does not append, and when the buffer is full;
 *  - at a shared-memory barrier on the database file, as a safety net:
 *    SQLite publishes a commit in the WAL index behind such a barrier, so
 *    no reader, in this process or another, learns of a frame whose bytes
 *    are not in the file.
 * Bytes are in the kernel before the commit returns, as before, so a
 * killed process loses nothing acknowledged; what reaches the disk and
 * when (synchronous, checkpoints) is unchanged. Bytes a failed write could
 * not hand over are dropped: they belong to the transaction that fails;
 * so are those pending when the write lock is released (a rolled-back
 * transaction's, see buffered_shm_lock).
 *
 * A WAL's buffer is reached from its database file at the barrier: they
 * are paired at the WAL's open, as sqlite3_filename_database() of the name
 * SQLite passes for a WAL is the very pointer it passed for the database. */
#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sqlite_wal_buffer.h"

#define VFS_NAME "intent-bus-wal-buffer"
#define FRAME_HEADER_BYTES 24
#define WAL_WRITE_LOCK 0 /* wal.c's number for the write lock of the WAL index */
/* A commit larger than this goes out in several writes, each this size at
 * most: SQLite's unix VFS writes at most 2^17 - 1 bytes a call (its
 * seekAndWrite keeps the low 17 bits of the size, as no page is larger
 * than 64 KiB), 31 frames of 4 KiB pages; most of the writer's commits are
 * a few frames. */
#define PENDING_MOST (((size_t)1 << 17) - 1)

struct buffered_file {
    sqlite3_file base;  /* its methods: buffered_methods */
    sqlite3_file *real; /* the wrapped VFS's file, in the same allocation */
    /* A database file: the name SQLite opened it by (compared as a
     * pointer), its open WAL if any, and the next open database. */
    const char *database_name;
    struct buffered_file *wal;
    struct buffered_file *next_database;
    /* A WAL: its database file, and the appends not yet written, which
     * start at pending_offset in the file. */
    bool is_wal;
    bool commit_header_seen; /* the last write was a commit frame's header */
    struct buffered_file *database;
    unsigned char *pending;
    size_t pending_bytes, pending_capacity;
    sqlite3_int64 pending_offset;
};

static sqlite3_vfs buffer_vfs;
static pthread_mutex_t databases_lock = PTHREAD_MUTEX_INITIALIZER;
static struct buffered_file *open_databases; /* under databases_lock */

static sqlite3_vfs *wrapped(sqlite3_vfs *vfs)
{
    return vfs->pAppData;
}

static const sqlite3_io_methods *real_methods(const struct buffered_file *self)
{
    return self->real->pMethods;
}

/* ---- the pending appends of a WAL ---------------------------------------- */

/* Writes the pending bytes; they are gone afterwards whether the write
 * worked or not (see the top of the file). */
static int flush_pending(struct buffered_file *wal)
{
    if (wal->pending_bytes == 0)
        return SQLITE_OK;
    int rc = real_methods(wal)->xWrite(wal->real, wal->pending, (int)wal->pending_bytes,
                                       wal->pending_offset);
    wal->pending_bytes = 0;
    return rc;
}

/* Room for `more` bytes after the pending ones; false if it cannot be had. */
static bool reserve_pending(struct buffered_file *wal, size_t more)
{
    size_t needed = wal->pending_bytes + more;
    if (needed > PENDING_MOST)
        return false;
    if (needed <= wal->pending_capacity)
        return true;
    size_t capacity = wal->pending_capacity ? wal->pending_capacity : 32 * 1024;
    while (capacity < needed)
        capacity *= 2;
    if (capacity > PENDING_MOST)
        capacity = PENDING_MOST;
    unsigned char *grown = realloc(wal->pending, capacity);
    if (grown == NULL)
        return false;
    wal->pending = grown;
    wal->pending_capacity = capacity;
    return true;
}

/* Adds data at offset to the pending bytes when it extends them (or they
 * are empty) and fits; otherwise writes what is pending, then data, now. */
static int append_or_write(struct buffered_file *wal, const void *data, int amount,
                           sqlite3_int64 offset)
{
    bool extends = wal->pending_bytes == 0 ||
                   offset == wal->pending_offset + (sqlite3_int64)wal->pending_bytes;
    if (extends && reserve_pending(wal, (size_t)amount)) {
        if (wal->pending_bytes == 0)
            wal->pending_offset = offset;
        memcpy(wal->pending + wal->pending_bytes, data, (size_t)amount);
        wal->pending_bytes += (size_t)amount;
        return SQLITE_OK;
    }
    int rc = flush_pending(wal);
    if (rc != SQLITE_OK)
        return rc;
    if (reserve_pending(wal, (size_t)amount))
        return append_or_write(wal, data, amount, offset);
    return real_methods(wal)->xWrite(wal->real, data, amount, offset);
}

/* True if data is the header of a WAL frame that commits a transaction. */
static bool is_commit_header(const void *data, int amount)
{
    const unsigned char *header = data;
    return amount == FRAME_HEADER_BYTES && (header[4] | header[5] | header[6] | header[7]) != 0;
}

/* ---- the file methods ---------------------------------------------------- */

static int buffered_write(sqlite3_file *file, const void *data, int amount, sqlite3_int64 offset)
{
    struct buffered_file *self = (struct buffered_file *)file;
    if (!self->is_wal)
        return real_methods(self)->xWrite(self->real, data, amount, offset);
    int rc = append_or_write(self, data, amount, offset);
    bool ends_commit = self->commit_header_seen;
    self->commit_header_seen = is_commit_header(data, amount);
    if (rc == SQLITE_OK && ends_commit)
        rc = flush_pending(self);
    return rc;
}

static int buffered_read(sqlite3_file *file, void *data, int amount, sqlite3_int64 offset)
{
    struct buffered_file *self = (struct buffered_file *)file;
    int rc = flush_pending(self);
    return rc != SQLITE_OK ? rc : real_methods(self)->xRead(self->real, data, amount, offset);
}

static int buffered_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct buffered_file *self = (struct buffered_file *)file;
    int rc = flush_pending(self);
    return rc != SQLITE_OK ? rc : real_methods(self)->xTruncate(self->real, size);
}

static int buffered_sync(sqlite3_file *file, int flags)
{
    struct buffered_file *self = (struct buffered_file *)file;
    int rc = flush_pending(self);
    return rc != SQLITE_OK ? rc : real_methods(self)->xSync(self->real, flags);
}

static int buffered_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct buffered_file *self = (struct buffered_file *)file;
    int rc = flush_pending(self);
    return rc != SQLITE_OK ? rc : real_methods(self)->xFileSize(self->real, size);
}

static int buffered_lock(sqlite3_file *file, int level)
{
    struct buffered_file *self = (struct buffered_file *)file;
    return real_methods(self)->xLock(self->real, level);
}

static int buffered_unlock(sqlite3_file *file, int level)
{
    struct buffered_file *self = (struct buffered_file *)file;
    return real_methods(self)->xUnlock(self->real, level);
}

static int buffered_check_reserved_lock(sqlite3_file *file, int *reserved)
{
    struct buffered_file *self = (struct buffered_file *)file;
    return real_methods(self)->xCheckReservedLock(self->real, reserved);
}

static int buffered_file_control(sqlite3_file *file, int op, void *argument)
{
    struct buffered_file *self = (struct buffered_file *)file;
    return real_methods(self)->xFileControl(self->real, op, argument);
}

static int buffered_sector_size(sqlite3_file *file)
{
    struct buffered_file *self = (struct buffered_file *)file;
    return real_methods(self)->xSectorSize(self->real);
}

static int buffered_device_characteristics(sqlite3_file *file)
{
    struct buffered_file *self = (struct buffered_file *)file;
    return real_methods(self)->xDeviceCharacteristics(self->real);
}

/* The shared-memory methods exist from version 2 of the io methods, the
 * memory-mapped ones from version 3 (sqlite3.h); a wrapped VFS without
 * them gets the answers SQLite takes as "not supported". */
static int buffered_shm_map(sqlite3_file *file, int region, int size, int extend,
                            void volatile **memory)
{
    struct buffered_file *self = (struct buffered_file *)file;
    if (real_methods(self)->iVersion < 2)
        return SQLITE_IOERR;
    return real_methods(self)->xShmMap(self->real, region, size, extend, memory);
}

/* Releasing the WAL's write lock (lock 0 of the WAL index) ends a write
 * transaction: a committed one's frames went out with its commit frame, so
 * whatever is still pending belongs to one rolled back (frames it spilled
 * before its end). Those are dropped here, not written later: by then
 * another writer, another process say, may have put its own frames at the
 * same offsets. */
static int buffered_shm_lock(sqlite3_file *file, int offset, int count, int flags)
{
    struct buffered_file *self = (struct buffered_file *)file;
    if (real_methods(self)->iVersion < 2)
        return SQLITE_IOERR;
    int rc = real_methods(self)->xShmLock(self->real, offset, count, flags);
    bool write_lock_released =
        offset == WAL_WRITE_LOCK && (flags & SQLITE_SHM_UNLOCK) && (flags & SQLITE_SHM_EXCLUSIVE);
    if (write_lock_released && self->wal != NULL)
        self->wal->pending_bytes = 0;
    return rc;
}

/* A barrier has no result to give: were the safety-net write to fail,
 * the bytes belonged to no published commit (each commit's frame was
 * written, and its failure reported, before SQLite publishes it). */
static void buffered_shm_barrier(sqlite3_file *file)
{
    struct buffered_file *self = (struct buffered_file *)file;
    if (self->wal != NULL)
        (void)flush_pending(self->wal);
    if (real_methods(self)->iVersion >= 2)
        real_methods(self)->xShmBarrier(self->real);
}

static int buffered_shm_unmap(sqlite3_file *file, int delete_flag)
{
    struct buffered_file *self = (struct buffered_file *)file;
    if (real_methods(self)->iVersion < 2)
        return SQLITE_OK;
    return real_methods(self)->xShmUnmap(self->real, delete_flag);
}

static int buffered_fetch(sqlite3_file *file, sqlite3_int64 offset, int amount, void **page)
{
    struct buffered_file *self = (struct buffered_file *)file;
    if (real_methods(self)->iVersion < 3) {
        *page = NULL;
        return SQLITE_OK;
    }
    return real_methods(self)->xFetch(self->real, offset, amount, page);
}

static int buffered_unfetch(sqlite3_file *file, sqlite3_int64 offset, void *page)
{
    struct buffered_file *self = (struct buffered_file *)file;
    if (real_methods(self)->iVersion < 3)
        return SQLITE_OK;
    return real_methods(self)->xUnfetch(self->real, offset, page);
}

static int buffered_close(sqlite3_file *file);

static const sqlite3_io_methods buffered_methods = {
    .iVersion = 3,
    .xClose = buffered_close,
    .xRead = buffered_read,
    .xWrite = buffered_write,
    .xTruncate = buffered_truncate,
    .xSync = buffered_sync,
    .xFileSize = buffered_file_size,
    .xLock = buffered_lock,
    .xUnlock = buffered_unlock,
    .xCheckReservedLock = buffered_check_reserved_lock,
    .xFileControl = buffered_file_control,
    .xSectorSize = buffered_sector_size,
    .xDeviceCharacteristics = buffered_device_characteristics,
    .xShmMap = buffered_shm_map,
    .xShmLock = buffered_shm_lock,
    .xShmBarrier = buffered_shm_barrier,
    .xShmUnmap = buffered_shm_unmap,
    .xFetch = buffered_fetch,
    .xUnfetch = buffered_unfetch,
};

/* ---- pairing a WAL with its database file -------------------------------- */

static void add_database(struct buffered_file *database)
{
    pthread_mutex_lock(&databases_lock);
    database->next_database = open_databases;
    open_databases = database;
    pthread_mutex_unlock(&databases_lock);
}

static void pair_wal(struct buffered_file *wal, const char *wal_name)
{
    const char *database_name = sqlite3_filename_database(wal_name);
    pthread_mutex_lock(&databases_lock);
    for (struct buffered_file *database = open_databases; database != NULL;
         database = database->next_database) {
        if (database->database_name == database_name) {
            database->wal = wal;
            wal->database = database;
            break;
        }
    }
    pthread_mutex_unlock(&databases_lock);
}

/* Forgets self as a database (dropping its WAL's way back) or as a WAL. */
static void unpair(struct buffered_file *self)
{
    pthread_mutex_lock(&databases_lock);
    if (self->is_wal && self->database != NULL)
        self->database->wal = NULL;
    if (self->database_name != NULL) {
        struct buffered_file **link = &open_databases;
        while (*link != NULL && *link != self)
            link = &(*link)->next_database;
        if (*link == self)
            *link = self->next_database;
        if (self->wal != NULL)
            self->wal->database = NULL;
    }
    pthread_mutex_unlock(&databases_lock);
}

static int buffered_close(sqlite3_file *file)
{
    struct buffered_file *self = (struct buffered_file *)file;
    int rc = flush_pending(self);
    unpair(self);
    free(self->pending);
    int closed = real_methods(self)->xClose(self->real);
    return rc != SQLITE_OK ? rc : closed;
}

/* ---- the VFS ------------------------------------------------------------- */

static int buffered_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags,
                         int *out_flags)
{
    struct buffered_file *self = (struct buffered_file *)file;
    memset(self, 0, sizeof *self);
    self->real = (sqlite3_file *)(self + 1);
    int rc = wrapped(vfs)->xOpen(wrapped(vfs), name, self->real, flags, out_flags);
    if (self->real->pMethods == NULL)
        return rc; /* nothing to close: SQLite sees no methods either */
    self->base.pMethods = &buffered_methods;
    if (rc != SQLITE_OK || name == NULL)
        return rc;
    if (flags & SQLITE_OPEN_MAIN_DB) {
        self->database_name = name;
        add_database(self);
    } else if (flags & SQLITE_OPEN_WAL) {
        self->is_wal = true;
        pair_wal(self, name);
    }
    return SQLITE_OK;
}

static int forward_delete(sqlite3_vfs *vfs, const char *name, int sync_directory)
{
    return wrapped(vfs)->xDelete(wrapped(vfs), name, sync_directory);
}

static int forward_access(sqlite3_vfs *vfs, const char *name, int flags, int *result)
{
    return wrapped(vfs)->xAccess(wrapped(vfs), name, flags, result);
}

static int forward_full_pathname(sqlite3_vfs *vfs, const char *name, int size, char *out)
{
    return wrapped(vfs)->xFullPathname(wrapped(vfs), name, size, out);
}

static void *forward_dl_open(sqlite3_vfs *vfs, const char *name)
{
    return wrapped(vfs)->xDlOpen(wrapped(vfs), name);
}

static void forward_dl_error(sqlite3_vfs *vfs, int size, char *message)
{
    wrapped(vfs)->xDlError(wrapped(vfs), size, message);
}

static void (*forward_dl_sym(sqlite3_vfs *vfs, void *library, const char *symbol))(void)
{
    return wrapped(vfs)->xDlSym(wrapped(vfs), library, symbol);
}

static void forward_dl_close(sqlite3_vfs *vfs, void *library)
{
    wrapped(vfs)->xDlClose(wrapped(vfs), library);
}

static int forward_randomness(sqlite3_vfs *vfs, int size, char *out)
{
    return wrapped(vfs)->xRandomness(wrapped(vfs), size, out);
}

static int forward_sleep(sqlite3_vfs *vfs, int microseconds)
{
    return wrapped(vfs)->xSleep(wrapped(vfs), microseconds);
}

static int forward_current_time(sqlite3_vfs *vfs, double *julian_day)
{
    return wrapped(vfs)->xCurrentTime(wrapped(vfs), julian_day);
}

static int forward_get_last_error(sqlite3_vfs *vfs, int size, char *message)
{
    return wrapped(vfs)->xGetLastError(wrapped(vfs), size, message);
}

static int forward_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *milliseconds)
{
    if (wrapped(vfs)->iVersion >= 2 && wrapped(vfs)->xCurrentTimeInt64 != NULL)
        return wrapped(vfs)->xCurrentTimeInt64(wrapped(vfs), milliseconds);
    double julian_day = 0;
    int rc = wrapped(vfs)->xCurrentTime(wrapped(vfs), &julian_day);
    *milliseconds = (sqlite3_int64)(julian_day * 86400000.0);
    return rc;
}

static const char *registered_name;

static void register_once(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (real == NULL)
        return;
    buffer_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct buffered_file) + real->szOsFile,
        .mxPathname = real->mxPathname,
        .zName = VFS_NAME,
        .pAppData = real,
        .xOpen = buffered_open,
        .xDelete = forward_delete,
        .xAccess = forward_access,
        .xFullPathname = forward_full_pathname,
        .xDlOpen = forward_dl_open,
        .xDlError = forward_dl_error,
        .xDlSym = forward_dl_sym,
        .xDlClose = forward_dl_close,
        .xRandomness = forward_randomness,
        .xSleep = forward_sleep,
        .xCurrentTime = forward_current_time,
        .xGetLastError = forward_get_last_error,
        .xCurrentTimeInt64 = forward_current_time_int64,
    };
    if (sqlite3_vfs_register(&buffer_vfs, 0) == SQLITE_OK)
        registered_name = VFS_NAME;
}

const char *sql_wal_buffer_vfs(void)
{
    static pthread_once_t registered = PTHREAD_ONCE_INIT;
    pthread_once(&registered, register_once);
    return registered_name;
}
