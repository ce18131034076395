/* See sqlite_checkpoint.h.
 *
 * Why a background checkpoint alone is not enough: SQLite starts the WAL
 * over only when a write transaction begins while every frame has been
 * copied back. Under steady load the writer commits while a background
 * checkpoint runs, so it never finds the WAL fully copied, and the WAL and
 * its index grow without end (tried before, docs/BENCHMARKS.md). So once
 * the WAL is long enough and a pass of the thread is over, the writer runs
 * one of its own after its next commit: it copies only the frames written
 * during the thread's last pass, and the WAL starts over at the writer's
 * next transaction.
 *
 * That pass stops every write for its syncs (of the WAL, then of the
 * database: a few ms on a disk), and the requests of those milliseconds
 * were the request P99 of `bench heavy` on disk (docs/BENCHMARKS.md, "The
 * WAL started over less often"). So it is rare: the thread copies each
 * time the WAL has grown by `background` pages, going on from where its
 * last pass stopped, and syncs the database after each pass; the writer's
 * own pass comes once the WAL holds `restart` pages. */
#include "store/sqlite_checkpoint.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/thread_name.h"

const struct sqlite_checkpoint_sizes sqlite_checkpoint_default_sizes = {
    .background = 1000, .restart = 8000, .most = 16000};

#define BUSY_TIMEOUT_MS 5000

/* The thread's part: the writer asks (IDLE -> ASKED), the thread copies
 * (-> COPIED), the writer takes note (-> IDLE), or, past sizes.restart,
 * copies the rest itself. The writer asks for no new pass before it has
 * taken note of the last: a pass running whenever the writer checkpoints
 * would make its checkpoint give up (SQLITE_BUSY), and the WAL would grow. */
enum cycle { IDLE, ASKED, COPIED };

struct sqlite_checkpointer {
    sqlite3 *db;
    struct sqlite_checkpoint_sizes sizes;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* the thread waits for ASKED */
    pthread_cond_t copied; /* the writer waits for COPIED, rarely */
    bool stopping;         /* under lock */
    _Atomic int cycle;     /* enum cycle */
    int asked_at;          /* the writer thread's: the WAL's size at its last ask */
};

/* SQLite syncs the database file only at the end of a pass that copied
 * the whole WAL, which under load only the writer's pass does: it would
 * then sync every page the thread's passes copied since the last restart,
 * with every write waiting. The thread syncs what it copied instead. Its
 * result can go unread: the WAL starts over only after a pass that
 * reached its end, and SQLite syncs the database in that pass again (and
 * fails it, should the sync fail). */
static void sync_database(sqlite3 *db)
{
    sqlite3_file *file = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK &&
        file != NULL && file->pMethods != NULL)
        file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
}

static void *checkpoint_main(void *arg)
{
    struct sqlite_checkpointer *self = arg;
    thread_name_set("bus-checkpoint", -1);
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (atomic_load(&self->cycle) != ASKED && !self->stopping)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->stopping)
            break;
        pthread_mutex_unlock(&self->lock);
        /* PASSIVE never waits for the writer or readers; what it could
         * not copy (or all, on an error) the writer's own pass copies. */
        sqlite3_wal_checkpoint_v2(self->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        sync_database(self->db);
        pthread_mutex_lock(&self->lock);
        atomic_store(&self->cycle, COPIED);
        pthread_cond_signal(&self->copied);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

static void ask_for_pass(struct sqlite_checkpointer *self, int pages)
{
    pthread_mutex_lock(&self->lock);
    atomic_store(&self->cycle, ASKED);
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    self->asked_at = pages;
}

/* The thread's pass is slower than the writes (a slow or busy disk): the
 * writer waits for it, as it waited for its own checkpoints before, or
 * the WAL would grow while the pass gets longer. */
static void wait_for_pass(struct sqlite_checkpointer *self)
{
    pthread_mutex_lock(&self->lock);
    while (atomic_load(&self->cycle) == ASKED)
        pthread_cond_wait(&self->copied, &self->lock);
    pthread_mutex_unlock(&self->lock);
}

/* The writer connection's WAL hook, after each commit, on the writer
 * thread; pages is the WAL's size in frames. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sqlite_checkpointer *self = arg;
    if (pages < self->asked_at)
        self->asked_at = 0; /* the WAL started over */
    int cycle = atomic_load(&self->cycle);
    const struct sqlite_checkpoint_sizes *sizes = &self->sizes;
    if (cycle == ASKED && pages >= sizes->most) {
        wait_for_pass(self);
        cycle = COPIED;
    }
    if ((cycle == COPIED && pages >= sizes->restart) || (cycle == IDLE && pages >= sizes->most)) {
        /* Copies what was written since the thread's pass; the WAL starts
         * over at the next transaction. Should it not (a reader), the
         * thread is asked again and the writer comes back here. */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        atomic_store(&self->cycle, IDLE);
        self->asked_at = 0;
        return SQLITE_OK;
    }
    if (cycle == COPIED) {
        atomic_store(&self->cycle, IDLE);
        cycle = IDLE;
    }
    if (cycle == IDLE && pages - self->asked_at >= sizes->background)
        ask_for_pass(self, pages);
    return SQLITE_OK;
}

struct sqlite_checkpointer *sqlite_checkpointer_start(const char *path, bool sync_full,
                                                      sqlite3 *writer_db,
                                                      const struct sqlite_checkpoint_sizes *sizes)
{
    assert(sizes->background > 0 && sizes->background <= sizes->restart &&
           sizes->restart <= sizes->most);
    struct sqlite_checkpointer *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
    self->sizes = *sizes;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &self->db, flags, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(self->db, BUSY_TIMEOUT_MS) != SQLITE_OK ||
        sqlite3_exec(self->db,
                     sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", NULL,
                     NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "intent-bus: cannot open the checkpoint connection: %s\n",
                sqlite3_errmsg(self->db));
        sqlite3_close(self->db);
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    pthread_cond_init(&self->copied, NULL);
    if (pthread_create(&self->thread, NULL, checkpoint_main, self) != 0) {
        pthread_cond_destroy(&self->copied);
        pthread_cond_destroy(&self->wake);
        pthread_mutex_destroy(&self->lock);
        sqlite3_close(self->db);
        free(self);
        return NULL;
    }
    sqlite3_wal_hook(writer_db, on_commit, self);
    return self;
}

void sqlite_checkpointer_stop(struct sqlite_checkpointer *self, sqlite3 *writer_db)
{
    if (self == NULL)
        return;
    sqlite3_wal_hook(writer_db, NULL, NULL);
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    pthread_cond_destroy(&self->copied);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    sqlite3_close(self->db);
    free(self);
}
