/* getrandom(2) rather than a library's generator: no state to seed or lock
 * in this process, and 0.55 us for 16 bytes where OpenSSL's RAND_bytes took
 * 1.35 us; it showed in perf on claim tokens. Each thread keeps the bytes
 * of one larger call and hands them out in order, wiping each as it goes:
 * a job's id and claim token were two system calls per job; 16 bytes cost
 * 0.39 us that way and 0.09 us from the pool, under 1 % of a job's CPU
 * (docs/BENCHMARKS.md), in a system call less per request. The bytes are the
 * kernel's, unchanged; a forked child forgets its copy of them, or it
 * would hand out what its parent does. */
#include "util/random.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#define POOL_BYTES 256

struct random_pool {
    unsigned char bytes[POOL_BYTES];
    size_t next; /* bytes[next..] are unused; POOL_BYTES: empty */
};

static _Thread_local struct random_pool pool = {.next = POOL_BYTES};
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void pool_forget(void)
{
    explicit_bzero(pool.bytes, sizeof pool.bytes);
    pool.next = POOL_BYTES;
}

/* In the child, the thread that forked is the only one left, and its pool
 * is the parent's. */
static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

static bool kernel_fill(unsigned char *out, size_t count)
{
    size_t filled = 0;
    while (filled < count) {
        ssize_t got = getrandom(out + filled, count - filled, 0);
        if (got < 0 && errno != EINTR)
            return false;
        filled += got > 0 ? (size_t)got : 0;
    }
    return true;
}

bool random_fill(void *bytes, size_t count)
{
    unsigned char *out = bytes;
    if (count > POOL_BYTES / 4)
        return kernel_fill(out, count);
    pthread_once(&fork_handler_once, install_fork_handler);
    if (POOL_BYTES - pool.next < count) {
        if (!kernel_fill(pool.bytes, POOL_BYTES))
            return false;
        pool.next = 0;
    }
    memcpy(out, pool.bytes + pool.next, count);
    explicit_bzero(pool.bytes + pool.next, count);
    pool.next += count;
    return true;
}
