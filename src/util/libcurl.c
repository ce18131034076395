/* Loading libcurl at run time; see libcurl.h. */
#include "util/libcurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* The soname of libcurl 7.16 and later (Debian: libcurl4). */
#define LIBCURL_SONAME "libcurl.so.4"

static struct libcurl table;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static bool loaded;

static void load(void)
{
    void *handle = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr,
                "intent-bus: webhooks need libcurl (Debian: apt-get install libcurl4): %s\n",
                dlerror());
        return;
    }
    bool complete = true;
/* A data pointer to a function pointer: what dlsym is for (POSIX). */
#define LIBCURL_RESOLVE(name)                                                                      \
    if ((table.name = (__typeof__(name) *)dlsym(handle, #name)) == NULL) {                         \
        fprintf(stderr, "intent-bus: %s lacks %s\n", LIBCURL_SONAME, #name);                       \
        complete = false;                                                                          \
    }
    LIBCURL_FUNCTIONS(LIBCURL_RESOLVE)
#undef LIBCURL_RESOLVE
    /* curl_global_init is not thread-safe in older libcurl: once, here. */
    if (complete && table.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "intent-bus: curl_global_init failed\n");
        complete = false;
    }
    loaded = complete;
}

const struct libcurl *libcurl_load(void)
{
    pthread_once(&load_once, load);
    return loaded ? &table : NULL;
}
