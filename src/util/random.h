/* Bytes from the kernel's CSPRNG, for ids, claim tokens, nonces and jitter. */
#ifndef UTIL_RANDOM_H
#define UTIL_RANDOM_H

#include <stdbool.h>
#include <stddef.h>

/* Fills bytes with count random bytes; false only if the kernel's CSPRNG
 * cannot be read (getrandom blocks until it is seeded, then never fails
 * short of a broken kernel). */
bool random_fill(void *bytes, size_t count);

#endif
