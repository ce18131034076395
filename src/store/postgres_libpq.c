/* Loading libpq at run time; see postgres_libpq.h. */
#define PG_LIBPQ_LOADER /* the real names, to look them up */
#include "store/postgres_libpq.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* The soname of libpq 10 and later (Debian: libpq5); the writer's pipelines
 * (postgres_conn.c) need libpq 14. */
#define LIBPQ_SONAME "libpq.so.5"

struct pg_libpq pg_libpq;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;

static void load(void)
{
    void *handle = dlopen(LIBPQ_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "intent-bus: PostgreSQL needs libpq (Debian: apt-get install libpq5): %s\n",
                dlerror());
        return;
    }
    bool complete = true;
/* A data pointer to a function pointer: what dlsym is for (POSIX). */
#define PG_LIBPQ_RESOLVE(name)                                                                     \
    if ((pg_libpq.name = (__typeof__(name) *)dlsym(handle, #name)) == NULL) {                      \
        fprintf(stderr, "intent-bus: %s lacks %s: libpq 14 or newer is needed\n", LIBPQ_SONAME,    \
                #name);                                                                            \
        complete = false;                                                                          \
    }
    PG_LIBPQ_FUNCTIONS(PG_LIBPQ_RESOLVE)
#undef PG_LIBPQ_RESOLVE
    /* The handle stays open for the life of the process. */
    loaded = complete;
}

bool pg_libpq_load(void)
{
    pthread_once(&load_once, load);
    return loaded;
}
