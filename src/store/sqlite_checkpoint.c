/* See sqlite_checkpoint.h.
 *
 * Why a background checkpoint alone is not enough: SQLite starts the WAL
 * over only when a write transaction begins while every frame has been
 * copied back. Under steady load the writer commits while a background
 * checkpoint runs, so it never finds the WAL fully copied, and the WAL and
 * its index grow without end (tried before, docs/BENCHMARKS.md). So once
 * the thread's pass is over, the writer runs one of its own after its next
 * commit: it copies only the frames written during the thread's pass, and
 * the WAL starts over at the writer's next transaction. The writer's share
 * of a cycle is then a short copy and its syncs, not the whole copy. */
#include "store/sqlite_checkpoint.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/thread_name.h"

/* The thread is asked to copy once the WAL holds BACKGROUND_PAGES pages
 * (4 MB); 200 and 500 were no better (docs/BENCHMARKS.md, issue 16). At
 * INLINE_PAGES (16 MB) the writer waits for the thread's pass, or copies
 * on its own if the WAL was not started over after a cycle (a reader held
 * an old snapshot). */
#define BACKGROUND_PAGES 1000
#define INLINE_PAGES 4000
#define BUSY_TIMEOUT_MS 5000

/* One cycle: the writer asks (IDLE -> ASKED), the thread copies
 * (-> COPIED), the writer copies the rest and the WAL restarts (-> IDLE).
 * The writer asks for no new pass before it has done its own: a pass
 * running whenever the writer checkpoints would make its checkpoint give
 * up (SQLITE_BUSY), and the WAL would grow. */
enum cycle { IDLE, ASKED, COPIED };

struct sqlite_checkpointer {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;   /* the thread waits for ASKED */
    pthread_cond_t copied; /* the writer waits for COPIED, rarely */
    bool stopping;         /* under lock */
    _Atomic int cycle;     /* enum cycle */
};

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
        pthread_mutex_lock(&self->lock);
        atomic_store(&self->cycle, COPIED);
        pthread_cond_signal(&self->copied);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* The writer connection's WAL hook, after each commit, on the writer
 * thread; pages is the WAL's size in frames. */
static int on_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sqlite_checkpointer *self = arg;
    int cycle = atomic_load(&self->cycle);
    if (cycle == ASKED && pages >= INLINE_PAGES) {
        /* The thread's pass is slower than the writes (a slow or busy
         * disk): the writer waits for it, as it waited for its own
         * checkpoints before, or the WAL would grow while the pass gets
         * longer. */
        pthread_mutex_lock(&self->lock);
        while (atomic_load(&self->cycle) == ASKED)
            pthread_cond_wait(&self->copied, &self->lock);
        pthread_mutex_unlock(&self->lock);
        cycle = COPIED;
    }
    if (cycle == COPIED || (cycle == IDLE && pages >= INLINE_PAGES)) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        atomic_store(&self->cycle, IDLE);
    } else if (cycle == IDLE && pages >= BACKGROUND_PAGES) {
        pthread_mutex_lock(&self->lock);
        atomic_store(&self->cycle, ASKED);
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(&self->lock);
    }
    return SQLITE_OK;
}

struct sqlite_checkpointer *sqlite_checkpointer_start(const char *path, bool sync_full,
                                                      sqlite3 *writer_db)
{
    struct sqlite_checkpointer *self = calloc(1, sizeof *self);
    if (self == NULL)
        return NULL;
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
