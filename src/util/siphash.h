/* SipHash-2-4 (Aumasson and Bernstein): a 64-bit hash keyed with 128
 * secret bits, so that whoever chooses the input cannot choose collisions.
 * The in-memory nonce set (store/nonce_set.c) keys its table with it. */
#ifndef UTIL_SIPHASH_H
#define UTIL_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_BYTES 16

/* The hash of length bytes at data under key. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_BYTES], const void *data, size_t length);

/* Incremental form, for input in several pieces (same result as one call
 * over the concatenation). */
struct siphash {
    uint64_t v0, v1, v2, v3;
    uint64_t tail; /* up to 7 bytes not yet compressed, little-endian */
    size_t length; /* bytes fed so far */
};

void siphash_init(struct siphash *state, const uint8_t key[SIPHASH_KEY_BYTES]);
void siphash_update(struct siphash *state, const void *data, size_t length);
uint64_t siphash_final(struct siphash *state);

#endif
